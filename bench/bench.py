#!/usr/bin/env python3
"""copy-containers against skopeo: the benchmark behind docs/benchmarks.md (Python 3 stdlib only).

Run it through `bench/run` (installs what it needs, builds the release binaries). It starts a source
and two target docker-registry processes on loopback with cc-testkit, stages a TripleO-like release
with `copy-containers stage`, then promotes it with

  (a) skopeo-loop: `skopeo copy --all` per image, per tag (<fh>, <label>), per target, then the
      source label — what a podman/skopeo rewrite of the old Ansible role does;
  (b) skopeo-sync: the source label with `skopeo copy` (sync cannot retag), then one
      `skopeo sync --src yaml` per target carrying both tags;
  (c) copy-containers: one `copy-containers promote --manifest-push false`;

in three scenarios (cold, warm re-label, partial), with fresh target registries (storage restored
from a snapshot) before every run, a fresh label per run, and a check afterwards that every tag is
where it should be. Timed runs go straight to the registries; one more run per tool and scenario
goes through counting proxies (bench/countproxy.py) for requests and bytes. Then the 512 MiB-layer
memory run. The result is a markdown table on stdout (also in WORKDIR/results.md, raw figures in
WORKDIR/results.json); progress goes to stderr.
"""

import argparse
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FH = "d7c3cd922f91d83aacb5d7555de9d5bc"
NS = "tripleomaster"
BIG_NS = "bigimage"
PREFIX = "openstack"
MIB = 1 << 20
TOOLS = ["skopeo-loop", "skopeo-sync", "copy-containers"]
TOOL_TITLE = {
    "skopeo-loop": "(a) skopeo copy loop",
    "skopeo-sync": "(b) skopeo sync",
    "copy-containers": "(c) copy-containers",
}
SCENARIOS = ["cold", "warm", "partial"]
SCENARIO_TITLE = {
    "cold": "cold (targets empty)",
    "warm": "warm re-label (everything present, a new label)",
    "partial": "partial (target-1 already holds the first half)",
}
ACCEPT = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
])
SKOPEO_CACHE = "/var/lib/containers/cache"


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def die(msg):
    log("error: " + msg)
    sys.exit(1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def pressure():
    """Stall seconds so far from Linux PSI ("some" line of /proc/pressure/cpu and io), or None."""
    out = {}
    for k in ("cpu", "io"):
        try:
            with open(f"/proc/pressure/{k}") as f:
                out[k] = int(f.readline().rsplit("total=", 1)[1]) / 1e6
        except (OSError, IndexError, ValueError):
            return None
    return out


def proc_cpu_seconds(pid):
    """utime + stime of a live process, seconds (0 when gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def spawn(argv, stdout_path, stderr_path, env=None, rss_file=None):
    """Run argv; return (exit code, wall seconds, rusage, peak RSS KiB or None).

    With rss_file the command runs under `/usr/bin/time -v -o rss_file` and the peak RSS is its
    "Maximum resident set size". (Not wait4() of our own child: Linux carries the pre-exec memory
    high-water mark across exec, so a child spawned from Python never reports less than Python's
    ~25 MiB; /usr/bin/time is small.) The rusage CPU times include the command either way."""
    if rss_file:
        argv = ["/usr/bin/time", "-v", "-o", rss_file, *argv]
    fa = [
        (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, stdout_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
        (os.POSIX_SPAWN_OPEN, 2, stderr_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
    ]
    t0 = time.monotonic()
    pid = os.posix_spawnp(argv[0], argv, env if env is not None else os.environ, file_actions=fa)
    _, status, ru = os.wait4(pid, 0)
    wall = time.monotonic() - t0
    peak = None
    if rss_file:
        try:
            with open(rss_file) as f:
                m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", f.read())
            peak = int(m.group(1)) if m else None
        except OSError:
            pass
    return os.waitstatus_to_exitcode(status), wall, ru, peak


def tail(path, n=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


# ---------------------------------------------------------------------------------------------
# registries

class Registry:
    """One docker-registry process under its own cc-testkit supervisor, on a fixed port, so that it
    can be stopped and started again fresh (empty storage) between runs."""

    def __init__(self, kit, workdir, name, port):
        self.kit, self.name, self.port = kit, name, port
        self.state = os.path.join(workdir, "registries", name)
        self.info = None

    @property
    def host(self):
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self):
        return self.info["pid"] if self.info else None

    @property
    def storage(self):
        return self.info["storage_dir"]

    def up(self):
        os.makedirs(os.path.dirname(self.state), exist_ok=True)
        for attempt in range(5):
            r = subprocess.run([self.kit, "up", "--state-dir", self.state, "--plain", f"{self.name}:{self.port}"],
                               capture_output=True, text=True)
            if r.returncode == 0:
                break
            time.sleep(0.5 * (attempt + 1))  # the port may still be held by the previous process
        else:
            die(f"cc-testkit up {self.name}: {r.stderr.strip()}")
        with open(os.path.join(self.state, "registries.json")) as f:
            self.info = json.load(f)[self.name]

    def down(self):
        subprocess.run([self.kit, "down", "--state-dir", self.state], capture_output=True)
        self.info = None

    def reset(self, snapshot=None):
        """Stop, start with empty storage, optionally fill the storage from a snapshot before any
        request (the registry is configured without a blob-descriptor cache: it reads the disk)."""
        self.down()
        self.up()
        if snapshot:
            shutil.rmtree(self.storage)
            shutil.copytree(snapshot, self.storage, symlinks=True)

    def snapshot(self, dest):
        if os.path.exists(dest):
            shutil.rmtree(dest)
        shutil.copytree(self.storage, dest, symlinks=True)


def http(method, url, headers=None, data=None, timeout=30):
    req = urllib.request.Request(url, method=method, headers=headers or {}, data=data)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def manifest_digest(host, repo, ref):
    status, headers, _ = http("HEAD", f"http://{host}/v2/{repo}/manifests/{ref}", {"Accept": ACCEPT})
    if status != 200:
        return None
    return {k.lower(): v for k, v in headers.items()}.get("docker-content-digest")


# ---------------------------------------------------------------------------------------------
# the counting proxies

class Proxies:
    """A countproxy in front of each registry, for one instrumented run."""

    def __init__(self, workdir, regs, tag):
        self.procs, self.hosts, self.logs = {}, {}, {}
        for key, reg in regs.items():
            port = free_port()
            path = os.path.join(workdir, "proxy", f"{tag}-{key}.jsonl")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            p = subprocess.Popen([sys.executable, os.path.join(HERE, "countproxy.py"), "--listen",
                                  f"127.0.0.1:{port}", "--upstream", reg.host, "--log", path],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            if p.stdout.readline().strip() != "ready":
                die(f"countproxy for {key} did not start")
            self.procs[key], self.hosts[key], self.logs[key] = p, f"127.0.0.1:{port}", path

    def stop(self):
        out = {}
        for key, p in self.procs.items():
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=60)
            with open(self.logs[key]) as f:
                out[key] = [json.loads(line) for line in f if line.strip()]
        return out


def summarise_log(records, n_images, unique_blobs):
    """Requests, bytes and per-blob source fetches from one proxy log."""
    s = {"requests": len(records), "per_image": len(records) / n_images, "by_method": {}, "by_kind": {},
         "bytes_in": 0, "bytes_out": 0, "blob_get_bytes": 0, "blob_gets": {}, "statuses": {}}
    for r in records:
        path = r["p"].split("?", 1)[0]
        if path.rstrip("/") == "/v2":
            kind = "base"
        elif "/blobs/uploads" in path:
            kind = "uploads"
        elif "/manifests/" in path:
            kind = "manifests"
        elif "/blobs/" in path:
            kind = "blobs"
        elif path.endswith("/tags/list"):
            kind = "tags"
        else:
            kind = "other"
        key = f"{r['m']} {kind}"
        s["by_kind"][key] = s["by_kind"].get(key, 0) + 1
        s["by_method"][r["m"]] = s["by_method"].get(r["m"], 0) + 1
        s["statuses"][str(r["s"])] = s["statuses"].get(str(r["s"]), 0) + 1
        s["bytes_in"] += r["qb"]
        s["bytes_out"] += r["rb"]
        if kind == "blobs" and r["m"] == "GET" and r["s"] in (200, 206):
            d = path.rsplit("/", 1)[1]
            s["blob_gets"][d] = s["blob_gets"].get(d, 0) + 1
            s["blob_get_bytes"] += r["rb"]
    # where the time goes: latency per kind, connections, how busy the registry was
    lat = {}
    for r in records:
        if r.get("t1") is not None:
            path = r["p"].split("?", 1)[0]
            k = f"{r['m']} " + ("uploads" if "/blobs/uploads" in path else "manifests" if "/manifests/" in path
                                 else "blobs" if "/blobs/" in path else "other")
            lat.setdefault(k, []).append(r["t1"] - r["t0"])
    s["latency_ms"] = {k: {"n": len(v), "median": 1000 * statistics.median(v), "max": 1000 * max(v),
                           "sum": 1000 * sum(v)} for k, v in lat.items()}
    iv = sorted((r["t0"], r["t1"]) for r in records if r.get("t1") is not None)
    busy, cur = 0.0, None
    for a, b in iv:
        if cur is None or a > cur[1]:
            if cur:
                busy += cur[1] - cur[0]
            cur = [a, b]
        else:
            cur[1] = max(cur[1], b)
    if cur:
        busy += cur[1] - cur[0]
    s["span_s"] = (iv[-1][1] - iv[0][0]) if iv else 0.0
    s["busy_s"] = busy
    s["sum_latency_s"] = sum(b - a for a, b in iv)
    s["connections"] = len({r.get("c") for r in records})
    gets = s["blob_gets"]
    s["distinct_blobs_fetched"] = len(gets)
    s["max_fetches_per_blob"] = max(gets.values(), default=0)
    s["blobs_fetched_more_than_once"] = sum(1 for v in gets.values() if v > 1)
    s["unique_blobs_fetched"] = sum(1 for d in unique_blobs if d in gets)
    return s


# ---------------------------------------------------------------------------------------------
# the benchmark

class Bench:
    def __init__(self, a):
        self.a = a
        self.work = a.workdir or tempfile.mkdtemp(prefix="copy-containers-bench.", dir="/var/tmp")
        os.makedirs(os.path.join(self.work, "bin"), exist_ok=True)
        # private copies: a cargo build elsewhere during the run cannot swap the binaries under us
        for b in ("cc-testkit", "copy-containers"):
            path = os.path.join(a.bin_dir, b)
            if not os.access(path, os.X_OK):
                die(f"{path} missing: build it (bench/run does) or pass --bin-dir")
            shutil.copy2(path, os.path.join(self.work, "bin", b))
        self.kit = os.path.join(self.work, "bin", "cc-testkit")
        self.cc = os.path.join(self.work, "bin", "copy-containers")
        self.regs = {
            "src": Registry(self.kit, self.work, "source", free_port()),
            "t1": Registry(self.kit, self.work, "target-1", free_port()),
            "t2": Registry(self.kit, self.work, "target-2", free_port()),
        }
        self.results = {"runs": [], "counted": [], "memory": [], "params": vars(a).copy(), "workdir": self.work}
        self.load_samples = []
        self._stop_sampler = threading.Event()
        self.run_no = 0
        self.snapshots = {}

    # -- setup ----------------------------------------------------------------------------------
    def start(self):
        log(f"work dir {self.work}")
        for r in self.regs.values():
            r.up()
        log("registries: " + ", ".join(f"{k}={r.host}" for k, r in self.regs.items()))
        threading.Thread(target=self._sampler, daemon=True).start()

    def _sampler(self):
        while not self._stop_sampler.wait(5):
            self.load_samples.append((time.time(), loadavg()[0]))

    def stop(self):
        self._stop_sampler.set()
        for r in self.regs.values():
            r.down()

    def stage(self):
        a = self.a
        src = self.regs["src"]
        log(f"staging {a.images} images on the source (base {a.base_layers}×{a.base_layer_size} B, "
            f"unique {a.unique_layer_size} B, 1-2 per image)")
        t0 = time.monotonic()
        r = subprocess.run([self.cc, "-q", "stage", "--registry", f"host={src.host},namespace={NS},insecure=true",
                            "--full-hash", FH, "--images", str(a.images), "--base-layers", str(a.base_layers),
                            "--base-layer-size", str(a.base_layer_size), "--unique-layer-size",
                            str(a.unique_layer_size), "--ppc-missing", "aodh-notifier,cinder-backup,collectd",
                            "--json"], capture_output=True, text=True)
        if r.returncode != 0:
            die("stage failed: " + r.stderr[-3000:])
        staged = json.loads(r.stdout)
        log(f"staged in {time.monotonic() - t0:.1f}s")
        by_name = {s["name"]: s for s in staged}
        # the containers list, in the order stage used
        self.names = [n for n in default_names(a.images) if n in by_name]
        self.digests = {n: by_name[n]["x86_digest"] for n in self.names}
        self.blobs = {}  # name -> {digest: size} of the <fh> image (config + layers)
        for n in self.names:
            st, _, body = http("GET", f"http://{src.host}/v2/{NS}/{PREFIX}-{n}/manifests/{FH}", {"Accept": ACCEPT})
            if st != 200:
                die(f"cannot read the staged manifest of {n}: {st}")
            m = json.loads(body)
            self.blobs[n] = {m["config"]["digest"]: m["config"]["size"]}
            self.blobs[n].update({l["digest"]: l["size"] for l in m["layers"]})
        self.unique = {}
        for b in self.blobs.values():
            self.unique.update(b)
        half = self.names[: len(self.names) // 2]
        have = {}
        for n in half:
            have.update(self.blobs[n])
        self.partial_needed_t1 = {d: s for d, s in self.unique.items() if d not in have}
        self.results["release"] = {
            "images": len(self.names),
            "unique_blobs": len(self.unique),
            "unique_bytes": sum(self.unique.values()),
            "layer_bytes_per_image_sum": sum(sum(b.values()) for b in self.blobs.values()),
            "partial_needed_t1_bytes": sum(self.partial_needed_t1.values()),
            "partial_needed_t1_blobs": len(self.partial_needed_t1),
            "staged_bytes_total_incl_ppc": sum(s["bytes"] for s in staged),
        }
        rel = self.results["release"]
        log(f"release: {rel['images']} images, {rel['unique_blobs']} unique blobs, "
            f"{rel['unique_bytes'] / MIB:.1f} MiB unique")

    # -- tools ------------------------------------------------------------------------------------
    def cmds(self, tool, hosts, names, label, ns=NS):
        src, targets = hosts["src"], [hosts["t1"], hosts["t2"]]
        tls = ["--src-tls-verify=false", "--dest-tls-verify=false"]
        img = lambda h, n, t: f"docker://{h}/{ns}/{PREFIX}-{n}:{t}"
        source_labels = [["skopeo", "copy", "--all", "-q", *tls, img(src, n, FH), img(src, n, label)] for n in names]
        if tool == "skopeo-loop":
            out = []
            for n in names:
                for t in targets:
                    for tag in (FH, label):
                        out.append(["skopeo", "copy", "--all", "-q", *tls, img(src, n, FH), img(t, n, tag)])
            return out + source_labels
        if tool == "skopeo-sync":
            path = os.path.join(self.work, "runs", f"sync-{label}.yaml")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(f"'{src}':\n  tls-verify: false\n  images:\n")
                for n in names:
                    f.write(f"    {ns}/{PREFIX}-{n}: ['{FH}', '{label}']\n")
            return source_labels + [["skopeo", "sync", "--all", "--src", "yaml", "--dest", "docker",
                                     "--dest-tls-verify=false", path, f"{t}/{ns}"] for t in targets]
        if tool == "copy-containers":
            logs = os.path.join(self.work, "runs", f"promoter-logs-{label}")
            return [[self.cc, "-q", "promote", "--full-hash", FH, "--named-label", label,
                     "--containers", ",".join(names), "--source", f"host={src},namespace={ns},insecure=true",
                     "--target", f"host={targets[0]},namespace={ns},insecure=true",
                     "--target", f"host={targets[1]},namespace={ns},insecure=true",
                     "--manifest-push", "false", "--tmp-file-root", logs, "--json", *self.a.cc_args]]
        raise ValueError(tool)

    def run_tool(self, tool, hosts, names, label, ns=NS, rss=True):
        """Run one tool's commands in sequence with a fresh skopeo blob-info cache. Returns figures.
        rss: measure peak RSS with /usr/bin/time -v (a few ms per process: the timed skopeo runs,
        hundreds of processes, go without it; their RSS comes from the counted and memory runs)."""
        self.run_no += 1
        rundir = os.path.join(self.work, "runs", f"{self.run_no:03d}-{tool}-{label}")
        os.makedirs(rundir, exist_ok=True)
        out, err = os.path.join(rundir, "stdout"), os.path.join(rundir, "stderr")
        env = dict(os.environ)
        cache = os.path.join(rundir, "skopeo-cache")
        os.makedirs(cache, exist_ok=True)
        mounted = False
        if tool.startswith("skopeo"):
            if os.geteuid() == 0:
                # private mount namespace (see main): this hides the machine's cache from this run only
                subprocess.run(["mount", "--bind", cache, SKOPEO_CACHE], check=True)
                mounted = True
            else:
                env["XDG_DATA_HOME"] = cache
        cmds = self.cmds(tool, hosts, names, label, ns)
        reg_cpu0 = {k: proc_cpu_seconds(r.pid) for k, r in self.regs.items()}
        load0 = loadavg()
        psi0 = pressure()
        fig = {"tool": tool, "label": label, "commands": len(cmds), "rc": 0, "wall": 0.0,
               "max_rss_kb": 0 if rss else None,
               "cpu_user": 0.0, "cpu_sys": 0.0, "load_before": load0}
        try:
            t0 = time.monotonic()
            tfile = os.path.join(rundir, "time-v.txt") if rss else None
            for argv in cmds:
                rc, _, ru, peak = spawn(argv, out, err, env, tfile)
                if rss:
                    fig["max_rss_kb"] = max(fig["max_rss_kb"], peak or 0)
                fig["cpu_user"] += ru.ru_utime
                fig["cpu_sys"] += ru.ru_stime
                if rc != 0:
                    fig["rc"] = rc
                    fig["failed_command"] = " ".join(argv)
                    break
            fig["wall"] = time.monotonic() - t0
        finally:
            if mounted:
                subprocess.run(["umount", SKOPEO_CACHE], check=False)
        fig["registry_cpu"] = {k: proc_cpu_seconds(r.pid) - reg_cpu0[k] for k, r in self.regs.items()}
        psi1 = pressure()
        # share of the run's wall time during which some task on the machine waited for a CPU / for I/O
        fig["pressure"] = {k: (psi1[k] - psi0[k]) / fig["wall"] for k in psi0} if psi0 and psi1 and fig["wall"] else None
        fig["rundir"] = rundir
        if fig["rc"] != 0:
            log(f"  {tool} FAILED (exit {fig['rc']}): {fig['failed_command']}\n{tail(err)}")
        if tool == "copy-containers":
            try:
                with open(out) as f:
                    rep = json.load(f)
                fig["report_registries"] = rep.get("registries")
                fig["report_seconds"] = rep.get("seconds")
            except (OSError, ValueError):
                pass
        return fig

    def check(self, names, label, ns, t1_too=True):
        """Every target holds <fh> and <label> at the staged digest; the source holds <label>."""
        bad = []
        for n in names:
            repo = f"{ns}/{PREFIX}-{n}"
            want = self.digests.get(n) if ns == NS else self.big_digest
            for key in ("t1", "t2"):
                for tag in (FH, label):
                    got = manifest_digest(self.regs[key].host, repo, tag)
                    if got != want:
                        bad.append(f"{key} {repo}:{tag} = {got}")
            got = manifest_digest(self.regs["src"].host, repo, label)
            if got != want:
                bad.append(f"source {repo}:{label} = {got}")
        return bad

    # -- scenarios ----------------------------------------------------------------------------
    def prepare(self, scenario):
        """Build (once) the target snapshots a scenario starts from."""
        if scenario == "cold" or scenario in self.snapshots:
            return
        log(f"preparing the '{scenario}' starting state")
        for r in (self.regs["t1"], self.regs["t2"]):
            r.reset()
        names = self.names if scenario == "warm" else self.names[: len(self.names) // 2]
        targets = ["t1", "t2"] if scenario == "warm" else ["t1"]
        argv = [self.cc, "-q", "promote", "--full-hash", FH, "--named-label", f"previous-{scenario}",
                "--containers", ",".join(names), "--source", f"host={self.regs['src'].host},namespace={NS},insecure=true",
                "--manifest-push", "false", "--tmp-file-root", os.path.join(self.work, "runs", f"prep-{scenario}")]
        for t in targets:
            argv += ["--target", f"host={self.regs[t].host},namespace={NS},insecure=true"]
        r = subprocess.run(argv, capture_output=True, text=True)
        if r.returncode != 0:
            die(f"preparing {scenario}: {r.stderr[-2000:]}")
        snaps = {}
        for t in ("t1", "t2"):
            if t in targets:
                d = os.path.join(self.work, "snapshots", scenario, t)
                self.regs[t].snapshot(d)
                snaps[t] = d
        self.snapshots[scenario] = snaps

    def reset_targets(self, scenario):
        snaps = self.snapshots.get(scenario, {})
        for t in ("t1", "t2"):
            self.regs[t].reset(snaps.get(t))
        os.sync()  # start each run with no dirty pages of the previous one

    def timed(self, scenario, tools):
        hosts = {k: r.host for k, r in self.regs.items()}
        for rep in range(self.a.repeats):
            order = tools[rep % len(tools):] + tools[: rep % len(tools)]  # rotate: spread the noise
            for tool in order:
                self.reset_targets(scenario)
                label = f"{scenario}-{tool}-{rep + 1}"
                fig = self.run_tool(tool, hosts, self.names, label, rss=(tool == "copy-containers"))
                fig["problems"] = self.check(self.names, label, NS) if fig["rc"] == 0 else ["failed"]
                fig.update({"scenario": scenario, "repeat": rep + 1})
                self.results["runs"].append(fig)
                rss = f"{fig['max_rss_kb'] / 1024:6.1f} MiB" if fig["max_rss_kb"] is not None else "   (not measured)"
                psi = fig["pressure"]
                psi = f"  stall cpu {psi['cpu']:.0%} io {psi['io']:.0%}" if psi else ""
                log(f"  {scenario:8s} #{rep + 1} {tool:16s} {fig['wall']:7.2f}s  rss {rss}"
                    f"  load {fig['load_before'][0]:.2f}{psi}" + (f"  CHECK FAILED: {fig['problems'][:3]}" if fig["problems"] else ""))

    def counted(self, scenario, tools):
        for tool in tools:
            self.reset_targets(scenario)
            px = Proxies(self.work, self.regs, f"{scenario}-{tool}")
            label = f"{scenario}-{tool}-counted"
            fig = self.run_tool(tool, px.hosts, self.names, label)
            logs = px.stop()
            fig["problems"] = self.check(self.names, label, NS) if fig["rc"] == 0 else ["failed"]
            fig["scenario"] = scenario
            fig["proxy"] = {k: summarise_log(v, len(self.names), self.unique) for k, v in logs.items()}
            self.results["counted"].append(fig)
            p = fig["proxy"]
            log(f"  {scenario:8s} counted {tool:16s} requests/image src {p['src']['per_image']:.1f} "
                f"t1 {p['t1']['per_image']:.1f} t2 {p['t2']['per_image']:.1f}; source blob bytes "
                f"{p['src']['blob_get_bytes'] / MIB:.1f} MiB, max fetches/blob {p['src']['max_fetches_per_blob']}")

    def memory(self):
        a = self.a
        if a.big_layer_mib <= 0:
            return
        src = self.regs["src"]
        log(f"memory: staging one image with a {a.big_layer_mib} MiB layer")
        r = subprocess.run([self.cc, "-q", "stage", "--registry", f"host={src.host},namespace={BIG_NS},insecure=true",
                            "--full-hash", FH, "--names", "base", "--no-ppc", "--base-layers", "1",
                            "--base-layer-size", str(MIB), "--unique-layer-size", str(MIB),
                            "--big-layer-size", str(a.big_layer_mib * MIB), "--json"], capture_output=True, text=True)
        if r.returncode != 0:
            die("staging the big image failed: " + r.stderr[-2000:])
        self.big_digest = json.loads(r.stdout)[0]["x86_digest"]
        st, _, body = http("GET", f"http://{src.host}/v2/{BIG_NS}/{PREFIX}-base/manifests/{FH}", {"Accept": ACCEPT})
        m = json.loads(body)
        biggest = max(l["size"] for l in m["layers"])
        hosts = {k: r.host for k, r in self.regs.items()}
        for tool in ("copy-containers", "skopeo-loop"):
            self.reset_targets("cold")
            fig = self.run_tool(tool, hosts, ["base"], f"memory-{tool}", ns=BIG_NS)
            fig["problems"] = self.check(["base"], f"memory-{tool}", BIG_NS) if fig["rc"] == 0 else ["failed"]
            fig["biggest_blob_bytes"] = biggest
            self.results["memory"].append(fig)
            log(f"  memory {tool:16s} {fig['wall']:6.2f}s rss {fig['max_rss_kb'] / 1024:.1f} MiB"
                + (f" CHECK FAILED {fig['problems'][:3]}" if fig["problems"] else ""))

    def run(self):
        a = self.a
        self.results["machine"] = machine_facts(self.cc)
        self.results["load_start"] = loadavg()
        self.start()
        try:
            self.stage()
            for sc in a.scenarios:
                log(f"scenario {sc}")
                self.prepare(sc)
                self.timed(sc, a.tools)
                if not a.no_count:
                    self.counted(sc, a.tools)
            self.memory()
        finally:
            self.results["load_end"] = loadavg()
            self.results["load_samples"] = self.load_samples
            self.stop()
            shutil.rmtree(os.path.join(self.work, "snapshots"), ignore_errors=True)
        with open(os.path.join(self.work, "results.json"), "w") as f:
            json.dump(self.results, f, indent=1)
        md = render(self.results, a)
        with open(os.path.join(self.work, "results.md"), "w") as f:
            f.write(md)
        print(md)
        log(f"results: {self.work}/results.md and results.json")
        bad = [r for r in self.results["runs"] + self.results["counted"] + self.results["memory"] if r["problems"]]
        return 1 if bad else 0


TRIPLEO_HEAD = ["base", "os", "aodh-api", "aodh-evaluator", "aodh-listener", "aodh-notifier", "barbican-api",
                "barbican-keystone-listener", "barbican-worker", "ceilometer-central", "ceilometer-compute",
                "ceilometer-notification", "ceilometer-ipmi", "cinder-api", "cinder-backup", "cinder-scheduler",
                "cinder-volume", "collectd", "cron", "designate-api", "designate-backend-bind9",
                "designate-central", "designate-mdns", "designate-producer", "designate-sink",
                "designate-worker", "etcd", "frr", "glance-api", "gnocchi-api", "gnocchi-metricd",
                "gnocchi-statsd", "heat-api", "heat-api-cfn", "heat-engine", "horizon", "ironic-api",
                "ironic-conductor", "ironic-inspector", "ironic-neutron-agent", "ironic-pxe", "iscsid",
                "keystone", "manila-api", "manila-scheduler", "manila-share", "mariadb", "memcached",
                "multipathd", "neutron-dhcp-agent", "neutron-l3-agent", "neutron-metadata-agent",
                "neutron-openvswitch-agent", "neutron-server", "neutron-sriov-agent", "nova-api",
                "nova-compute", "nova-conductor", "nova-libvirt", "nova-novncproxy", "nova-scheduler",
                "octavia-api", "octavia-health-manager", "octavia-housekeeping", "octavia-worker",
                "ovn-controller", "ovn-nb-db-server", "ovn-northd", "ovn-sb-db-server", "placement-api",
                "qdrouterd", "rabbitmq", "redis", "rsyslog", "swift-account", "swift-container",
                "swift-object", "swift-proxy-server", "tempest", "unbound"]


def default_names(n):
    """The names `copy-containers stage --images n` uses (src/stage.rs default_names)."""
    return [TRIPLEO_HEAD[i] if i < len(TRIPLEO_HEAD) else f"image-{i}" for i in range(n)]


def machine_facts(cc):
    def out(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return "?"
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            mem_kb = int(f.readline().split()[1])
    except OSError:
        mem_kb = 0
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem_kb / (1 << 20), 1),
        "kernel": platform.release(),
        "os": out(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "skopeo": out(["skopeo", "--version"]),
        "docker_registry": out(["docker-registry", "--version"]),
        "copy_containers": out([cc, "--version"]),
        "git": out(["git", "-C", ROOT, "describe", "--always", "--dirty"]),
        "python": platform.python_version(),
    }


# ---------------------------------------------------------------------------------------------
# the markdown

def med(xs):
    return statistics.median(xs) if xs else float("nan")


def fmt_mib(b):
    return f"{b / MIB:.1f}"


def render(res, a):
    rel = res["release"]
    m = res["machine"]
    L = []
    w = L.append
    samples = [s for _, s in res["load_samples"]] or [res["load_start"][0]]
    w("## Results\n")
    w(f"Machine: {m['nproc']} cores ({m['cpu']}), {m['memory_gib']} GiB, Linux {m['kernel']}, {m['os']}; "
      f"{m['skopeo']}; docker-registry {m['docker_registry'].split()[-1] if m['docker_registry'] else '?'}; "
      f"{m['copy_containers']} (git {m['git']}).  ")
    w(f"Load average (1 min) during the run: start {res['load_start'][0]:.2f}, min {min(samples):.2f}, "
      f"median {med(samples):.2f}, max {max(samples):.2f}, end {res['load_end'][0]:.2f}.  ")
    psis = [r["pressure"] for r in res["runs"] if r.get("pressure")]
    if psis:
        w("Contention during the timed runs (Linux PSI: share of the wall time during which some task waited; "
          "the tools and three registries on 2 cores count too): CPU median "
          f"{med([p['cpu'] for p in psis]):.0%} (max {max(p['cpu'] for p in psis):.0%}), I/O median "
          f"{med([p['io'] for p in psis]):.0%} (max {max(p['io'] for p in psis):.0%}).\n")
    else:
        w("")
    w(f"Release: {rel['images']} images, tags `<fh>`, `<fh>_x86_64`, `<fh>_ppc64le`; {a.base_layers} shared base "
      f"layers of {a.base_layer_size / MIB:g} MiB and 1-2 unique layers of {a.unique_layer_size / MIB:g} MiB per image "
      f"(sizes before gzip). Promoted: `<fh>` and a new label on 2 targets, the label on the source "
      f"(`manifest_push` off). Unique blobs of the `<fh>` images: {rel['unique_blobs']}, "
      f"{fmt_mib(rel['unique_bytes'])} MiB (what each target needs when cold; partial: target-1 needs "
      f"{fmt_mib(rel['partial_needed_t1_bytes'])} MiB).\n")
    by = {}
    for r in res["runs"]:
        by.setdefault((r["scenario"], r["tool"]), []).append(r)
    cnt = {(r["scenario"], r["tool"]): r for r in res["counted"]}
    for sc in a.scenarios:
        w(f"### {SCENARIO_TITLE[sc]}\n")
        w("| tool | wall s, median (min–max) | speed-up vs (a) | vs (b) | peak RSS MiB | tool CPU s | registries CPU s "
          "| requests/image src · t1 · t2 | blob MiB from source (× unique) | max GETs of one blob | MiB sent t1 · t2 |")
        w("|---|---|---|---|---|---|---|---|---|---|---|")
        meds = {t: med([r["wall"] for r in by.get((sc, t), []) if r["rc"] == 0]) for t in a.tools}
        for t in a.tools:
            runs = by.get((sc, t), [])
            ok = [r for r in runs if r["rc"] == 0 and not r["problems"]]
            walls = [r["wall"] for r in runs if r["rc"] == 0]
            status = "" if len(ok) == len(runs) else f" **{len(runs) - len(ok)} run(s) failed the check**"
            wall = f"{meds[t]:.2f} ({min(walls):.2f}–{max(walls):.2f})" if walls else "failed"
            va = f"{meds['skopeo-loop'] / meds[t]:.1f}×" if "skopeo-loop" in meds and walls else "–"
            vb = f"{meds['skopeo-sync'] / meds[t]:.1f}×" if "skopeo-sync" in meds and walls else "–"
            c = cnt.get((sc, t))
            rss_all = [r["max_rss_kb"] for r in runs + ([c] if c else []) if r.get("max_rss_kb")]
            rss = f"{max(rss_all) / 1024:.1f}" if rss_all else "–"
            cpu = med([r["cpu_user"] + r["cpu_sys"] for r in runs])
            rcpu = med([sum(r["registry_cpu"].values()) for r in runs])
            c = cnt.get((sc, t))
            if c:
                p = c["proxy"]
                reqs = f"{p['src']['per_image']:.1f} · {p['t1']['per_image']:.1f} · {p['t2']['per_image']:.1f}"
                fetched = p["src"]["blob_get_bytes"]
                fx = f"{fmt_mib(fetched)} ({fetched / rel['unique_bytes']:.2f}×)"
                mx = str(p["src"]["max_fetches_per_blob"])
                sent = f"{fmt_mib(p['t1']['bytes_in'])} · {fmt_mib(p['t2']['bytes_in'])}"
            else:
                reqs = fx = mx = sent = "–"
            w(f"| {TOOL_TITLE[t]}{status} | {wall} | {va} | {vb} | {rss} | {cpu:.1f} | {rcpu:.1f} | {reqs} | {fx} | {mx} | {sent} |")
        w("")
    # request mix of copy-containers, per registry, per scenario
    if res["counted"]:
        w("### Request mix per registry (counted run)\n")
        w("| scenario | tool | source | target-1 | target-2 |")
        w("|---|---|---|---|---|")
        for c in res["counted"]:
            cells = []
            for k in ("src", "t1", "t2"):
                bk = c["proxy"][k]["by_kind"]
                cells.append(", ".join(f"{v} {kk}" for kk, v in sorted(bk.items(), key=lambda x: -x[1])))
            w(f"| {c['scenario']} | {TOOL_TITLE[c['tool']]} | {cells[0]} | {cells[1]} | {cells[2]} |")
        w("")
    if res["counted"]:
        w("### Where the time goes (counted run, through the proxies)\n")
        w("Per registry: requests, connections opened, busy time (some request in flight) over the span of "
          "the run, and median latency of the main request kinds in ms (the proxy adds its own share).\n")
        w("| scenario | tool | wall s (proxied) | registry | requests | connections | busy s / span s | median ms by kind |")
        w("|---|---|---|---|---|---|---|---|")
        for c in res["counted"]:
            for k, name in (("src", "source"), ("t1", "target-1"), ("t2", "target-2")):
                p = c["proxy"][k]
                lat = sorted(p["latency_ms"].items(), key=lambda x: -x[1]["n"])[:4]
                lats = ", ".join(f"{kk} {v['median']:.0f} (×{v['n']})" for kk, v in lat)
                w(f"| {c['scenario']} | {TOOL_TITLE[c['tool']]} | {c['wall']:.2f} | {name} | {p['requests']} | "
                  f"{p['connections']} | {p['busy_s']:.2f} / {p['span_s']:.2f} | {lats} |")
        w("")
    if res["memory"]:
        w("### Memory: one image with a big layer\n")
        w("| tool | biggest blob MiB (gzip) | wall s | peak RSS MiB | tool CPU s |")
        w("|---|---|---|---|---|")
        for r in res["memory"]:
            w(f"| {TOOL_TITLE[r['tool']]}{' **check failed**' if r['problems'] else ''} | {fmt_mib(r['biggest_blob_bytes'])} | "
              f"{r['wall']:.2f} | {r['max_rss_kb'] / 1024:.1f} | {r['cpu_user'] + r['cpu_sys']:.1f} |")
        w("")
    w(goals(res, a))
    return "\n".join(L) + "\n"


def goals(res, a):
    L = ["### Goals\n", "| goal | measured | met |", "|---|---|---|"]
    by = {}
    for r in res["runs"]:
        if r["rc"] == 0:
            by.setdefault((r["scenario"], r["tool"]), []).append(r["wall"])
    cnt = {(r["scenario"], r["tool"]): r for r in res["counted"]}
    cc = "copy-containers"

    def ratio(sc, other):
        if (sc, cc) in by and (sc, other) in by:
            return med(by[(sc, other)]) / med(by[(sc, cc)])
        return None

    def row(goal, measured, ok):
        L.append(f"| {goal} | {measured} | {'yes' if ok else ('**no**' if ok is not None else '–')} |")

    ra, rb = ratio("cold", "skopeo-loop"), ratio("cold", "skopeo-sync")
    row("cold: ≥3× faster than (a)", f"{ra:.1f}×" if ra else "not run", ra >= 3 if ra else None)
    row("cold: faster than (b)", f"{rb:.1f}×" if rb else "not run", rb > 1 if rb else None)
    rw = ratio("warm", "skopeo-loop")
    row("warm re-label: ≥10× faster than (a)", f"{rw:.1f}×" if rw else "not run", rw >= 10 if rw else None)
    c = cnt.get(("warm", cc))
    if c:
        worst = max(c["proxy"][k]["per_image"] for k in ("src", "t1", "t2"))
        row("warm re-label: ≤3 requests per image per registry",
            " · ".join(f"{c['proxy'][k]['per_image']:.2f}" for k in ("src", "t1", "t2")) + " (src · t1 · t2)", worst <= 3)
    else:
        row("warm re-label: ≤3 requests per image per registry", "not counted", None)
    parts, ok = [], True
    for sc in a.scenarios:
        c = cnt.get((sc, cc))
        if not c:
            continue
        s = c["proxy"]["src"]
        # warm: nothing to fetch; cold and partial (target-2 is empty): every unique blob, once
        need = 0 if sc == "warm" else res["release"]["unique_blobs"]
        parts.append(f"{sc}: {s['distinct_blobs_fetched']}/{need} blobs, max {s['max_fetches_per_blob']} GET(s) each")
        ok = ok and s["max_fetches_per_blob"] <= 1 and s["distinct_blobs_fetched"] == need
    row("each unique blob fetched from the source exactly once per run", "; ".join(parts) or "not counted",
        ok if parts else None)
    rss = [r["max_rss_kb"] for r in res["runs"] + res["counted"] + res["memory"] if r["tool"] == cc and r["max_rss_kb"]]
    big = [r["max_rss_kb"] for r in res["memory"] if r["tool"] == cc]
    if rss:
        row("peak RSS ≤64 MiB, also with the big layer",
            f"max {max(rss) / 1024:.1f} MiB" + (f" (big layer: {big[0] / 1024:.1f} MiB)" if big else " (big layer not run)"),
            max(rss) <= 64 * 1024)
    L.append("")
    return "\n".join(L)


def parse_size(s):
    m = re.fullmatch(r"(\d+)\s*([KkMmGg]?)(i?[Bb])?", s.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"bad size {s!r}")
    return int(m.group(1)) << {"": 0, "k": 10, "m": 20, "g": 30}[m.group(2).lower()]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=50, help="images in the release (default 50)")
    ap.add_argument("--base-layers", type=int, default=3, help="shared base layers (default 3)")
    ap.add_argument("--base-layer-size", type=parse_size, default=8 * MIB, help="before gzip (default 8MiB)")
    ap.add_argument("--unique-layer-size", type=parse_size, default=1 * MIB, help="before gzip (default 1MiB)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per tool and scenario (median)")
    ap.add_argument("--big-layer-mib", type=int, default=512, help="memory run layer size, 0 to skip")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated: " + ",".join(SCENARIOS))
    ap.add_argument("--tools", default=",".join(TOOLS), help="comma-separated: " + ",".join(TOOLS))
    ap.add_argument("--no-count", action="store_true", help="skip the runs through the counting proxies")
    ap.add_argument("--cc-args", type=shlex.split, default=[],
                    help="extra arguments for copy-containers promote, e.g. '--per-registry 32'")
    ap.add_argument("--bin-dir", default=os.path.join(ROOT, "target", "release"))
    ap.add_argument("--workdir", help="default: a new /var/tmp/copy-containers-bench.* (kept)")
    ap.add_argument("--quick", action="store_true",
                    help="development sizes: 8 images, 1 repeat, small layers, 16 MiB big layer")
    a = ap.parse_args()
    if a.quick:
        a.images, a.repeats, a.base_layer_size, a.unique_layer_size, a.big_layer_mib = 8, 1, MIB, 256 << 10, 16
    a.scenarios = [s for s in a.scenarios.split(",") if s]
    a.tools = [t for t in a.tools.split(",") if t]
    for s in a.scenarios:
        if s not in SCENARIOS:
            ap.error(f"unknown scenario {s}")
    for t in a.tools:
        if t not in TOOLS:
            ap.error(f"unknown tool {t}")
    if a.images < 2:
        ap.error("--images must be ≥ 2")
    if os.geteuid() == 0 and os.environ.get("BENCH_MOUNT_NS") != str(os.getpid()) and \
            not os.environ.get("BENCH_NO_UNSHARE"):
        # As root skopeo keeps its blob-info cache in /var/lib/containers/cache, shared with every
        # other skopeo on the machine. Re-run in a private mount namespace, where each skopeo run
        # gets a fresh, empty cache bind-mounted there (what the run itself learns it keeps).
        # (unshare execs python in place: the same pid comes back with the marker set.)
        os.makedirs(SKOPEO_CACHE, exist_ok=True)
        os.environ["BENCH_MOUNT_NS"] = str(os.getpid())
        os.execvp("unshare", ["unshare", "--mount", "--propagation", "private", sys.executable, *sys.argv])
    sys.exit(Bench(a).run())


if __name__ == "__main__":
    main()
