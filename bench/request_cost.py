#!/usr/bin/env python3
"""What one request costs a registry, in its own CPU time (issue 16; Python 3 stdlib only).

On a machine where the registries and the tools share a few cores, a promotion's wall time is
bounded by the CPU the registries burn, and that is per request as much as per byte. This measures
it: N requests of each kind a promotion makes (blob and manifest HEADs, a manifest GET, a blob
mount into another repository, a manifest PUT, a small blob's upload: POST + PUT), 8 in flight over
kept-alive connections, against one registry whose process id is known; the figure is the
registry's user + system CPU over the requests, from /proc/<pid>/stat.

    request_cost.py --registry HOST:PORT --pid PID [--requests 300]

It pushes one small image into `request-cost/…` repositories of that registry first. Prints one
JSON object: kind → {"cpu_ms": per request, "wall_ms": per request}.
"""

import argparse
import concurrent.futures
import hashlib
import http.client
import json
import os
import threading
import time
import urllib.parse

MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG = "application/vnd.docker.container.image.v1+json"
LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Client:
    """One kept-alive connection per thread."""

    def __init__(self, host):
        self.host, self.local = host, threading.local()

    def request(self, method, path, headers=None, body=None):
        if not hasattr(self.local, "c"):
            h, _, p = self.host.rpartition(":")
            self.local.c = http.client.HTTPConnection(h, int(p), timeout=60)
        c = self.local.c
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        r.read()
        return r


def upload(c, repo, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    r = c.request("POST", f"/v2/{repo}/blobs/uploads/", {"Content-Length": "0"})
    if r.status != 202:
        raise RuntimeError(f"POST upload: {r.status}")
    loc = urllib.parse.urlsplit(r.getheader("Location"))
    query = (loc.query + "&" if loc.query else "") + "digest=" + urllib.parse.quote(digest)
    r = c.request("PUT", f"{loc.path}?{query}",
                  {"Content-Type": "application/octet-stream", "Content-Length": str(len(data))}, data)
    if r.status != 201:
        raise RuntimeError(f"PUT upload: {r.status}")
    return digest


def seed(c, repo):
    """One image: a config, one 64 KiB layer, its manifest under `t`. Returns (layer digest, manifest)."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}}).encode()
    layer = os.urandom(64 << 10)
    cd, ld = upload(c, repo, config), upload(c, repo, layer)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": MANIFEST,
        "config": {"mediaType": CONFIG, "size": len(config), "digest": cd},
        "layers": [{"mediaType": LAYER, "size": len(layer), "digest": ld}]}).encode()
    r = c.request("PUT", f"/v2/{repo}/manifests/t", {"Content-Type": MANIFEST}, manifest)
    if r.status != 201:
        raise RuntimeError(f"PUT manifest: {r.status}")
    return ld, manifest


def measure(host, pid, n=300, parallel=8):
    c = Client(host)
    run = "%x" % int(time.time() * 1000)
    repo = f"request-cost/{run}"
    layer, manifest = seed(c, repo)
    mdigest = "sha256:" + hashlib.sha256(manifest).hexdigest()
    kinds = {
        "HEAD blob": lambda i: c.request("HEAD", f"/v2/{repo}/blobs/{layer}"),
        "HEAD manifest (tag)": lambda i: c.request("HEAD", f"/v2/{repo}/manifests/t", {"Accept": MANIFEST}),
        "HEAD manifest (absent tag)": lambda i: c.request("HEAD", f"/v2/{repo}/manifests/absent{i}",
                                                          {"Accept": MANIFEST}),
        "GET manifest (digest)": lambda i: c.request("GET", f"/v2/{repo}/manifests/{mdigest}", {"Accept": MANIFEST}),
        "POST mount into another repository": lambda i: c.request(
            "POST", f"/v2/request-cost/{run}-m{i}/blobs/uploads/?mount={layer}&from={repo}", {"Content-Length": "0"}),
        "PUT manifest (new tag)": lambda i: c.request("PUT", f"/v2/{repo}/manifests/t{i}",
                                                      {"Content-Type": MANIFEST}, manifest),
        "upload of a small blob (POST + PUT)": lambda i: upload(c, repo, b"%s-%d" % (run.encode(), i)),
    }
    out = {}
    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
        for name, fn in kinds.items():
            c0, t0 = cpu_seconds(pid), time.monotonic()
            list(pool.map(fn, range(n)))
            out[name] = {"cpu_ms": 1000 * (cpu_seconds(pid) - c0) / n, "wall_ms": 1000 * (time.monotonic() - t0) / n}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--registry", required=True, help="HOST:PORT (plain HTTP)")
    ap.add_argument("--pid", type=int, required=True, help="the registry's process id")
    ap.add_argument("--requests", type=int, default=300, help="per kind (300)")
    a = ap.parse_args()
    print(json.dumps(measure(a.registry, a.pid, a.requests)))


if __name__ == "__main__":
    main()
