#!/usr/bin/env python3
"""The registries' ingest floor for the full-size benchmark (issue 16; Python 3 stdlib only).

What is the least time the three registries need to move a release's unique bytes? This copier does
only that: for each unique blob, one streamed GET at the source, teed into one monolithic upload
(`POST /blobs/uploads/` then `PUT ?digest=` with the whole body) on each target, N blobs in flight.
No HEADs, no mounts, no manifests, no verification, no retries: a promotion cannot move the same
bytes with fewer requests, so its wall time against this one is the engine's overhead. Written here
(a few dozen lines) because no tool does exactly this: skopeo and crane copy images, not bare blobs.

    ingest.py --source HOST:PORT --target HOST:PORT --target HOST:PORT --blobs blobs.json [--parallel 16]

blobs.json: {"sha256:…": ["namespace/repository", size], …}. Prints one JSON line of figures.
"""

import argparse
import concurrent.futures
import http.client
import json
import time
import urllib.parse

CHUNK = 1 << 20


def _conn(host):
    h, _, p = host.rpartition(":")
    return http.client.HTTPConnection(h, int(p), timeout=600)


def _open_upload(host, repo, digest, size):
    """POST an upload session, start the PUT of the whole blob; returns the connection to finish."""
    c = _conn(host)
    c.request("POST", f"/v2/{repo}/blobs/uploads/", headers={"Content-Length": "0"})
    r = c.getresponse()
    r.read()
    if r.status != 202:
        raise RuntimeError(f"{host} {repo}: POST upload answered {r.status}")
    loc = urllib.parse.urlsplit(r.getheader("Location"))
    query = (loc.query + "&" if loc.query else "") + "digest=" + urllib.parse.quote(digest)
    c.putrequest("PUT", f"{loc.path}?{query}", skip_accept_encoding=True)
    c.putheader("Content-Type", "application/octet-stream")
    c.putheader("Content-Length", str(size))
    c.endheaders()
    return c


def copy_blob(source, targets, digest, repo, size):
    src = _conn(source)
    src.request("GET", f"/v2/{repo}/blobs/{digest}")
    r = src.getresponse()
    if r.status != 200:
        raise RuntimeError(f"source {repo}@{digest}: GET answered {r.status}")
    ups = [_open_upload(t, repo, digest, size) for t in targets]
    n = 0
    while True:
        chunk = r.read(CHUNK)
        if not chunk:
            break
        n += len(chunk)
        for u in ups:
            u.send(chunk)
    if n != size:
        raise RuntimeError(f"{digest}: read {n} bytes, expected {size}")
    for u, t in zip(ups, targets):
        resp = u.getresponse()
        resp.read()
        if resp.status != 201:
            raise RuntimeError(f"{t} {repo}@{digest}: PUT answered {resp.status}")
        u.close()
    src.close()
    return n


def copy_blobs(source, targets, blobs, parallel=16):
    """Copy every blob of {digest: (repo, size)}; returns figures (wall s, bytes, blobs, requests)."""
    t0 = time.monotonic()
    total = 0
    # biggest first: the big shared layers do not end up alone at the tail
    order = sorted(blobs.items(), key=lambda kv: -kv[1][1])
    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
        futs = [pool.submit(copy_blob, source, targets, d, repo, size) for d, (repo, size) in order]
        for f in concurrent.futures.as_completed(futs):
            total += f.result()
    wall = time.monotonic() - t0
    return {"wall": wall, "bytes": total, "blobs": len(blobs), "parallel": parallel, "targets": len(targets),
            "requests": {"source": len(blobs), "per_target": 2 * len(blobs)}}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", required=True)
    ap.add_argument("--target", action="append", required=True)
    ap.add_argument("--blobs", required=True)
    ap.add_argument("--parallel", type=int, default=16)
    a = ap.parse_args()
    with open(a.blobs) as f:
        blobs = {d: tuple(v) for d, v in json.load(f).items()}
    print(json.dumps(copy_blobs(a.source, a.target, blobs, a.parallel)))


if __name__ == "__main__":
    main()
