#!/usr/bin/env python3
"""What skopeo sees on the scenario's registries, as one JSON object (one Ansible task instead of
one task per image: Ansible's per-item overhead dominated the verify steps).

Argument: a JSON object
  {"registries": <registries.json of cc-testkit>, "authfile": path, "namespace": ns,
   "tags": [[registry, container], ...], "raw": [[registry, container, tag], ...]}
Output:
  {"tags": {registry: {container: [sorted tags] ([] when the repository is absent)}},
   "raw": {"<registry> <container>:<tag>": manifest text, or null when absent}}
Any other skopeo failure (refused, unauthorized, TLS) exits 1 with skopeo's message.
"""
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

ABSENT = ("manifest unknown", "name unknown", "404 (not found)")


def skopeo(req, reg, args, ref):
    r = req["registries"][reg]
    tls = [f"--cert-dir={r['cert_dir']}"] if r.get("cert_dir") else ["--tls-verify=false"]
    cmd = ["skopeo", *args, f"--authfile={req['authfile']}", *tls,
           f"docker://{r['host']}/{req['namespace']}/openstack-{ref}"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if p.returncode == 0:
        return p.stdout
    if any(a in p.stderr.lower() for a in ABSENT):
        return None
    raise SystemExit(f"{' '.join(cmd)}: exit {p.returncode}: {p.stderr.strip()}")


def main():
    req = json.loads(sys.argv[1])
    out = {"tags": {}, "raw": {}}
    with ThreadPoolExecutor(max_workers=8) as pool:
        tags = [(reg, c, pool.submit(skopeo, req, reg, ["list-tags"], c)) for reg, c in req.get("tags", [])]
        raws = [(reg, c, t, pool.submit(skopeo, req, reg, ["inspect", "--raw"], f"{c}:{t}"))
                for reg, c, t in req.get("raw", [])]
        for reg, c, f in tags:
            text = f.result()
            out["tags"].setdefault(reg, {})[c] = sorted(json.loads(text)["Tags"]) if text else []
        for reg, c, t, f in raws:
            text = f.result()
            # skopeo prints the manifest bytes as they are; only a newline it may add is not ours
            out["raw"][f"{reg} {c}:{t}"] = text
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
