#!/usr/bin/env python3
"""The promoter's path, WAN latency and a full-size release: the headline benchmark (issue 16).

Run it through `bench/run` (installs what it needs, builds the release binaries); Python 3 stdlib
only, plus Ansible (ansible-playbook from the project's .venv, see --ansible-playbook). It reuses
bench/bench.py's registries, runner and proxy-log summaries, and promotes a `copy-containers stage`d
release the way the promoter does:

  playbook:    `ansible-playbook -e @extra-vars.json -e @registries.json ansible/container-push.yml`
               with the promoter's extra-vars (`manifest_push: "true"`, containers_list,
               ppc_containers_list, …): per image `<fh>`, `<fh>_x86_64`, `<fh>_ppc64le`, the list
               `<fh>_manifest` and the label on both targets, verification, then the source label;
  skopeo-loop: `skopeo copy --all` per image, per target, per tag (`<fh>`, `<fh>_x86_64`,
               `<fh>_ppc64le` where staged, the label), then the source label (no lists: skopeo
               cannot build one).

Scenarios (each tool starts from empty targets, then runs three times in a row):
  cold      targets empty;
  rerun     the same promotion again: nothing to do;
  newlabel  everything present, a label never used before.

  promoter  the three, timed, straight to the registries (loopback);
  wan       the three through bench/countproxy.py --delay-ms 30 in front of every registry (a
            registry 30 ms away), which also counts every request;
  full      a full-size release (≥150 images, ≥1.5 GiB unique): the registries' ingest floor (the
            same unique blobs copied by a minimal parallel uploader, bench/ingest.py), then the
            playbook cold / rerun / newlabel timed, then a counted cold run through the proxies.

The tool's peak RSS and CPU are those of the copy-containers binary that the module runs
(COPY_CONTAINERS_BIN is a wrapper running it under /usr/bin/time -v), not Ansible's. Markdown on
stdout (also WORKDIR/promoter-results.md), raw figures in WORKDIR/promoter-results.json.
"""

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no bench/__pycache__ in the checkout

import bench as B  # noqa: E402  (bench/bench.py: registries, runner, summaries)
import ingest  # noqa: E402  (bench/ingest.py: the ingest floor)
import request_cost  # noqa: E402  (bench/request_cost.py: a registry's CPU per request)
from render_promoter import render  # noqa: E402  (the markdown)

FH = B.FH
PREFIX = B.PREFIX
MIB = B.MIB
GIB = 1 << 30
PPC_MISSING = ["aodh-notifier", "cinder-backup", "collectd"]
TOOLS = ["skopeo-loop", "playbook"]
TITLE = {"skopeo-loop": "skopeo copy loop", "playbook": "copy-containers via the playbook"}
STEPS = ["cold", "rerun", "newlabel"]
STEP_TITLE = {"cold": "cold", "rerun": "rerun (nothing to do)", "newlabel": "new label, all present"}
SCENARIOS = ["promoter", "wan", "full"]
log, die = B.log, B.die


class Release:
    """A staged release: names, which have ppc64le, the blobs every target needs."""

    def __init__(self, ns, names, staged):
        self.ns, self.names = ns, names
        by_name = {s["name"]: s for s in staged}
        self.ppc = [n for n in names if by_name[n].get("ppc_digest")]
        self.digest = {n: by_name[n]["x86_digest"] for n in names}
        self.ppc_digest = {n: by_name[n]["ppc_digest"] for n in self.ppc}
        self.blobs = {}  # digest -> (repository, size): every blob of <fh> and <fh>_ppc64le
        self.per_image_layers = []

    def read_blobs(self, host):
        for n in self.names:
            repo = f"{self.ns}/{PREFIX}-{n}"
            for tag in [FH] + ([f"{FH}_ppc64le"] if n in self.ppc else []):
                st, _, body = B.http("GET", f"http://{host}/v2/{repo}/manifests/{tag}", {"Accept": B.ACCEPT})
                if st != 200:
                    die(f"cannot read the staged manifest {repo}:{tag}: {st}")
                m = json.loads(body)
                for d in [m["config"]] + m["layers"]:
                    self.blobs.setdefault(d["digest"], (repo, d["size"]))

    @property
    def unique_bytes(self):
        return sum(s for _, s in self.blobs.values())

    def describe(self):
        return {"namespace": self.ns, "images": len(self.names), "with_ppc64le": len(self.ppc),
                "unique_blobs": len(self.blobs), "unique_bytes": self.unique_bytes}


class PBench(B.Bench):
    def __init__(self, a):
        a.cc_args = []
        super().__init__(a)
        self.results = {"params": {k: v for k, v in vars(a).items()}, "workdir": self.work,
                        "runs": [], "floor": None, "releases": {}}
        self.rss_file = os.path.join(self.work, "module-time-v.txt")
        self.wrapper = os.path.join(self.work, "bin", "copy-containers-timed")
        with open(self.wrapper, "w") as f:
            f.write("#!/bin/sh\n# the module's binary under /usr/bin/time -v (peak RSS and CPU of the tool)\n"
                    f"exec /usr/bin/time -v -a -o {shlex.quote(self.rss_file)} {shlex.quote(self.cc)} \"$@\"\n")
        os.chmod(self.wrapper, 0o755)
        self.rel = None

    # -- staging ----------------------------------------------------------------------------------
    def stage_release(self, ns, images, base_layers, base_size, unique_size):
        src = self.regs["src"]
        log(f"staging {images} images in {ns} (base {base_layers}×{base_size / MIB:.0f} MiB per arch, "
            f"unique {unique_size / MIB:.2f} MiB, 1-2 per image and arch)")
        t0 = time.monotonic()
        r = subprocess.run([self.cc, "-q", "stage", "--registry", f"host={src.host},namespace={ns},insecure=true",
                            "--full-hash", FH, "--images", str(images), "--base-layers", str(base_layers),
                            "--base-layer-size", str(base_size), "--unique-layer-size", str(unique_size),
                            "--ppc-missing", ",".join(PPC_MISSING), "--json"], capture_output=True, text=True)
        if r.returncode != 0:
            die("stage failed: " + r.stderr[-3000:])
        staged = json.loads(r.stdout)
        names = [n for n in B.default_names(images) if n in {s["name"] for s in staged}]
        rel = Release(ns, names, staged)
        rel.read_blobs(src.host)
        rel.stage_seconds = time.monotonic() - t0
        log(f"staged in {rel.stage_seconds:.0f}s: {len(rel.names)} images ({len(rel.ppc)} with ppc64le), "
            f"{len(rel.blobs)} unique blobs, {rel.unique_bytes / MIB:.1f} MiB unique")
        return rel

    # -- the tools ------------------------------------------------------------------------------
    def cmds(self, tool, hosts, names, label, ns=None):
        rel = self.rel
        src, targets = hosts["src"], [hosts["t1"], hosts["t2"]]
        tls = ["--src-tls-verify=false", "--dest-tls-verify=false"]
        img = lambda h, n, t: f"docker://{h}/{rel.ns}/{PREFIX}-{n}:{t}"
        if tool == "skopeo-loop":
            out = []
            for n in names:
                tags = [FH, f"{FH}_x86_64"] + ([f"{FH}_ppc64le"] if n in rel.ppc else [])
                for t in targets:
                    for tag in tags:
                        out.append(["skopeo", "copy", "--all", "-q", *tls, img(src, n, tag), img(t, n, tag)])
                    out.append(["skopeo", "copy", "--all", "-q", *tls, img(src, n, FH), img(t, n, label)])
            return out + [["skopeo", "copy", "--all", "-q", *tls, img(src, n, FH), img(src, n, label)]
                          for n in names]
        if tool == "playbook":
            return [[self.a.ansible_playbook, "-e", "@" + self.extra_vars(hosts, names, label),
                     "-e", "@" + self.registries_vars(hosts), os.path.join(B.ROOT, "ansible", "container-push.yml")]]
        raise ValueError(tool)

    def extra_vars(self, hosts, names, label):
        """The file the promoter writes (its keys and value types: booleans as strings)."""
        rel = self.rel
        path = os.path.join(self.work, "runs", f"extra-vars-{self.run_no:03d}.json")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = os.path.join(self.work, "runs", f"promoter-logs-{self.run_no:03d}")
        v = {"candidate_label": "tripleo-ci-testing", "named_label": label, "commit_hash": FH[:16],
             "distro_hash": FH[16:], "full_hash": FH, "containers_list": list(names),
             "ppc_containers_list": [n for n in names if n in rel.ppc], "source_namespace": rel.ns,
             "target_namespace": rel.ns, "release": "master", "script_root": B.ROOT, "distro_name": "centos",
             "distro_version": "9", "manifest_push": "true", "target_registries_push": "true",
             # not the promoter's: where the bench wants the files, and no staging file
             "tmp_file_root": tmp, "report_json": os.path.join(tmp, "report.json"),
             "stage_info_path": os.path.join(self.work, "no-stage-info.yaml"),
             "copy_containers_bin": self.wrapper}
        with open(path, "w") as f:
            json.dump(v, f)
        return path

    def registries_vars(self, hosts):
        path = os.path.join(self.work, "runs", f"registries-{self.run_no:03d}.json")
        reg = lambda h: {"host": h, "namespace": self.rel.ns, "insecure": True}
        with open(path, "w") as f:
            json.dump({"source_registry": reg(hosts["src"]),
                       "target_registries": [reg(hosts["t1"]), reg(hosts["t2"])]}, f)
        return path

    def run_tool(self, tool, hosts, names, label, ns=None, rss=False):
        if os.path.exists(self.rss_file):
            os.remove(self.rss_file)
        env_backup = dict(os.environ)
        os.environ.update({"ANSIBLE_LOCAL_TEMP": os.path.join(self.work, "ansible-tmp"), "ANSIBLE_NOCOLOR": "1",
                           "ANSIBLE_CONFIG": os.path.join(B.ROOT, "ansible", "ansible.cfg")})
        try:
            fig = super().run_tool(tool, hosts, names, label, rss=rss)
        finally:
            os.environ.clear()
            os.environ.update(env_backup)
        if tool == "playbook":
            fig.update(module_time(self.rss_file))
            rep = os.path.join(self.work, "runs", f"promoter-logs-{self.run_no:03d}", "report.json")
            try:
                with open(rep) as f:
                    fig["report_seconds"] = json.load(f).get("seconds")
            except (OSError, ValueError):
                pass
        return fig

    def check(self, names, label, tool):
        """Every target: <fh>, <fh>_x86_64 at the staged digest, <fh>_ppc64le where staged, the
        label at <fh>'s digest, and (playbook) the list <fh>_manifest; the source: the label."""
        rel, bad = self.rel, []
        for n in names:
            repo = f"{rel.ns}/{PREFIX}-{n}"
            want = {FH: rel.digest[n], f"{FH}_x86_64": rel.digest[n], label: rel.digest[n]}
            if n in rel.ppc:
                want[f"{FH}_ppc64le"] = rel.ppc_digest[n]
            for key in ("t1", "t2"):
                host = self.regs[key].host
                for tag, d in want.items():
                    got = B.manifest_digest(host, repo, tag)
                    if got != d:
                        bad.append(f"{key} {repo}:{tag} = {got}")
                if tool == "playbook" and B.manifest_digest(host, repo, f"{FH}_manifest") is None:
                    bad.append(f"{key} {repo}:{FH}_manifest missing")
            if B.manifest_digest(self.regs["src"].host, repo, label) != rel.digest[n]:
                bad.append(f"source {repo}:{label}")
        return bad

    # -- one tool, cold → rerun → new label ------------------------------------------------------
    def sequence(self, scenario, tool, names, delay_ms=None, steps=STEPS):
        self.reset_targets("cold")
        label = f"{scenario}-{tool}-{self.run_no + 1}"
        for step in steps:
            if step == "newlabel":
                label = f"{label}-new"
            px = None
            hosts = {k: r.host for k, r in self.regs.items()}
            if delay_ms is not None:
                px = DelayProxies(self.work, self.regs, f"{scenario}-{tool}-{step}", delay_ms)
                hosts = px.hosts
            fig = self.run_tool(tool, hosts, names, label, rss=(delay_ms is not None and tool != "playbook"))
            if px:
                logs = px.stop()
                unique = {d: s for d, (_, s) in self.rel.blobs.items()}
                fig["proxy"] = {k: B.summarise_log(v, len(names), unique) for k, v in logs.items()}
            fig["problems"] = self.check(names, label, tool) if fig["rc"] == 0 else ["failed"]
            fig.update({"scenario": scenario, "step": step, "images": len(names), "delay_ms": delay_ms,
                        "release": self.rel.ns})
            self.results["runs"].append(fig)
            rss = f" rss {fig['max_rss_kb'] / 1024:.1f} MiB" if fig.get("max_rss_kb") else ""
            cnt = ""
            if px:
                p = fig["proxy"]
                cnt = f" req/img {p['src']['per_image']:.1f}·{p['t1']['per_image']:.1f}·{p['t2']['per_image']:.1f}"
            log(f"  {scenario:8s} {step:8s} {tool:12s} {fig['wall']:7.2f}s{rss}{cnt} load {fig['load_before'][0]:.2f}"
                + (f"  CHECK FAILED: {fig['problems'][:3]}" if fig["problems"] else ""))
            self.save()  # the figures so far survive an interrupted run
            if fig["rc"] != 0:
                break

    def save(self):
        with open(os.path.join(self.work, "promoter-results.json"), "w") as f:
            json.dump(self.results, f, indent=1, default=str)

    def scenario(self, name):
        a = self.a
        if name == "promoter":
            self.rel = self.headline
            for rep in range(a.repeats):
                order = TOOLS[rep % 2:] + TOOLS[: rep % 2]
                for tool in order:
                    self.sequence("promoter", tool, self.rel.names)
        elif name == "wan":
            self.rel = self.headline
            names = self.rel.names[: a.wan_images]
            for tool in TOOLS:
                self.sequence("wan", tool, names, delay_ms=a.delay_ms)
        elif name == "full":
            self.rel = self.stage_release("tripleofull", a.full_images, a.full_base_layers, a.full_base_layer_size,
                                          a.full_unique_layer_size)
            self.results["releases"]["full"] = self.rel.describe()
            self.reset_targets("cold")
            log(f"  full     ingest floor: {len(self.rel.blobs)} blobs, {self.rel.unique_bytes / MIB:.0f} MiB "
                f"to 2 targets, {a.floor_parallel} in parallel")
            reg_cpu0 = {k: B.proc_cpu_seconds(r.pid) for k, r in self.regs.items()}
            own0 = os.times()
            floor = ingest.copy_blobs(self.regs["src"].host, [self.regs["t1"].host, self.regs["t2"].host],
                                      self.rel.blobs, a.floor_parallel)
            own1 = os.times()
            # what the registries and the uploader itself burnt: on a CPU-bound machine the floor's
            # wall time is mostly the registries' work for the bytes, the promotion's adds its requests'
            floor["registry_cpu"] = {k: B.proc_cpu_seconds(r.pid) - reg_cpu0[k] for k, r in self.regs.items()}
            floor["uploader_cpu"] = (own1.user - own0.user) + (own1.system - own0.system)
            self.results["floor"] = floor
            log(f"  full     ingest floor {floor['wall']:.2f}s ({floor['bytes'] / MIB / floor['wall']:.0f} MiB/s "
                f"from the source, ×2 to the targets), registries CPU "
                f"{sum(floor['registry_cpu'].values()):.1f}s, uploader CPU {floor['uploader_cpu']:.1f}s")
            self.sequence("full", "playbook", self.rel.names)
            if not a.no_count:
                self.sequence("full-counted", "playbook", self.rel.names, delay_ms=0, steps=["cold"])

    def run(self):
        a = self.a
        self.start()
        rc = 0
        try:
            self.results["machine"] = B.machine_facts(self.cc)
            self.results["load_start"] = B.loadavg()
            if {"promoter", "wan"} & set(a.scenarios):
                self.headline = self.stage_release(B.NS, a.images, a.base_layers, a.base_layer_size,
                                                   a.unique_layer_size)
                self.results["releases"]["headline"] = self.headline.describe()
            # what a request costs a registry here (its own CPU), before the scenarios
            t1 = self.regs["t1"]
            self.results["request_cost"] = request_cost.measure(t1.host, t1.pid)
            log("registry CPU per request: " + ", ".join(
                f"{k} {v['cpu_ms']:.1f} ms" for k, v in self.results["request_cost"].items()))
            for s in a.scenarios:
                log(f"scenario {s}")
                self.scenario(s)
        finally:
            self.results["load_samples"] = self.load_samples
            self.stop()
        self.save()
        md = render(self.results, a)
        with open(os.path.join(self.work, "promoter-results.md"), "w") as f:
            f.write(md)
        print(md)
        if any(r["problems"] for r in self.results["runs"]):
            log("some runs failed their check (see the tables)")
            rc = 1
        return rc


class DelayProxies(B.Proxies):
    """A countproxy (with --delay-ms) in front of each registry."""

    def __init__(self, workdir, regs, tag, delay_ms):
        self.procs, self.hosts, self.logs = {}, {}, {}
        for key, reg in regs.items():
            port = B.free_port()
            path = os.path.join(workdir, "proxy", f"{tag}-{key}.jsonl")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            p = subprocess.Popen([sys.executable, os.path.join(HERE, "countproxy.py"), "--listen",
                                  f"127.0.0.1:{port}", "--upstream", reg.host, "--log", path,
                                  "--delay-ms", str(delay_ms)],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            if p.stdout.readline().strip() != "ready":
                die(f"countproxy for {key} did not start")
            self.procs[key], self.hosts[key], self.logs[key] = p, f"127.0.0.1:{port}", path


def module_time(path):
    """Peak RSS (KiB), CPU and wall seconds of the module's binary, from the wrapper's time -v output."""
    rss, cpu, wall = 0, 0.0, 0.0
    try:
        with open(path) as f:
            for line in f:
                k, _, v = line.strip().rpartition(": ")
                if k == "Maximum resident set size (kbytes)":
                    rss = max(rss, int(v))
                elif k in ("User time (seconds)", "System time (seconds)"):
                    cpu += float(v)
                elif k.startswith("Elapsed (wall clock) time"):
                    parts = [float(x) for x in v.split(":")]
                    wall += sum(x * 60 ** i for i, x in enumerate(reversed(parts)))
    except (OSError, ValueError):
        return {"max_rss_kb": None, "tool_cpu": None, "module_wall": None}
    return {"max_rss_kb": rss, "tool_cpu": cpu, "module_wall": wall}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated: " + ",".join(SCENARIOS))
    ap.add_argument("--images", type=int, default=50, help="headline release images (default 50)")
    ap.add_argument("--base-layers", type=int, default=3, help="shared base layers per arch (default 3)")
    ap.add_argument("--base-layer-size", type=B.parse_size, default=8 * MIB, help="before gzip (default 8MiB)")
    ap.add_argument("--unique-layer-size", type=B.parse_size, default=1 * MIB, help="(default 1MiB)")
    ap.add_argument("--repeats", type=int, default=1, help="promoter scenario: sequences per tool (default 1)")
    ap.add_argument("--wan-images", type=int, default=16, help="images of the headline release in the WAN "
                    "scenario (default 16: the skopeo loop pays the latency ~15 times per process)")
    ap.add_argument("--delay-ms", type=float, default=30.0, help="WAN: added per request and connection (30)")
    ap.add_argument("--full-images", type=int, default=150, help="full-size release images (default 150)")
    ap.add_argument("--full-base-layers", type=int, default=3, help="full-size shared base layers per arch (3)")
    ap.add_argument("--full-base-layer-size", type=B.parse_size, default=200 * MIB, help="(default 200MiB)")
    ap.add_argument("--full-unique-layer-size", type=B.parse_size, default=MIB, help="(default 1MiB)")
    ap.add_argument("--floor-parallel", type=int, default=16, help="ingest floor: blobs in flight (16)")
    ap.add_argument("--no-count", action="store_true", help="full: skip the counted run through the proxies")
    ap.add_argument("--ansible-playbook", default=None,
                    help="default: .venv/bin/ansible-playbook of this checkout (scripts/ansible-tests makes it), else PATH")
    ap.add_argument("--bin-dir", default=os.path.join(B.ROOT, "target", "release"))
    ap.add_argument("--workdir", help="default: a new /var/tmp/copy-containers-bench.* (kept)")
    ap.add_argument("--quick", action="store_true", help="development sizes: every scenario in a few minutes")
    a = ap.parse_args()
    if a.quick:
        a.images, a.base_layer_size, a.unique_layer_size, a.wan_images = 8, MIB, 256 << 10, 6
        a.full_images, a.full_base_layer_size, a.full_unique_layer_size = 12, 8 * MIB, 256 << 10
    a.scenarios = [s for s in a.scenarios.split(",") if s]
    for s in a.scenarios:
        if s not in SCENARIOS:
            ap.error(f"unknown scenario {s}")
    a.wan_images = min(a.wan_images, a.images)
    if not a.ansible_playbook:
        c = os.path.join(B.ROOT, ".venv", "bin", "ansible-playbook")
        a.ansible_playbook = c if os.access(c, os.X_OK) else "ansible-playbook"
    if os.geteuid() == 0 and os.environ.get("BENCH_MOUNT_NS") != str(os.getpid()) and \
            not os.environ.get("BENCH_NO_UNSHARE"):
        # as bench.py: a private mount namespace, where each skopeo run gets an empty blob-info cache
        os.makedirs(B.SKOPEO_CACHE, exist_ok=True)
        os.environ["BENCH_MOUNT_NS"] = str(os.getpid())
        os.execvp("unshare", ["unshare", "--mount", "--propagation", "private", sys.executable, *sys.argv])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    sys.exit(PBench(a).run())


if __name__ == "__main__":
    main()
