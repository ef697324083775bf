"""The markdown of bench/promoter.py (issue 16): the tables docs/benchmarks.md quotes, from the figures
in promoter-results.json (`python3 bench/render_promoter.py WORKDIR/promoter-results.json` renders
them again)."""

import json
import statistics
import sys

MIB = 1 << 20
STEPS = ["cold", "rerun", "newlabel"]
STEP_TITLE = {"cold": "cold", "rerun": "rerun (nothing to do)", "newlabel": "new label, all present"}
TITLE = {"skopeo-loop": "skopeo copy loop", "playbook": "copy-containers via the playbook"}
REG = {"src": "source", "t1": "target-1", "t2": "target-2"}


def runs(res, scenario, tool=None, step=None):
    return [r for r in res["runs"] if r["scenario"] == scenario and (tool is None or r["tool"] == tool)
            and (step is None or r["step"] == step)]


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def f(x, fmt="{:.2f}"):
    return "–" if x is None else fmt.format(x)


def wall(res, scenario, tool, step):
    return med([r["wall"] for r in runs(res, scenario, tool, step) if not r["problems"]])


def speedup(res, scenario, step, module_alone=False):
    a, c = wall(res, scenario, "skopeo-loop", step), wall(res, scenario, "playbook", step)
    if module_alone:
        c = med([r.get("module_wall") for r in runs(res, scenario, "playbook", step) if not r["problems"]])
    return a / c if a and c else None


def per_image(r):
    p = r.get("proxy")
    return " · ".join(f"{p[k]['per_image']:.1f}" for k in ("src", "t1", "t2")) if p else "–"


def comparison(res, scenario, L):
    w = L.append
    w("| | skopeo copy loop s | copy-containers via the playbook s | speed-up | the module alone s "
      "| speed-up of the module alone | tool peak RSS MiB | tool CPU s | skopeo CPU s | registries CPU s (loop · cc) |"
      + (" requests/image src · t1 · t2 (loop) | (cc) |" if scenario == "wan" else ""))
    w("|---|---|---|---|---|---|---|---|---|---|" + ("---|---|" if scenario == "wan" else ""))
    for step in STEPS:
        cc = runs(res, scenario, "playbook", step)
        sk = runs(res, scenario, "skopeo-loop", step)
        if not cc and not sk:
            continue
        bad = any(r["problems"] for r in cc + sk)
        rcpu = lambda rs: med([sum(r["registry_cpu"].values()) for r in rs])
        mod = med([r.get("module_wall") for r in cc if not r["problems"]])
        sk_wall = wall(res, scenario, "skopeo-loop", step)
        row = (f"| {STEP_TITLE[step]}{' **CHECK FAILED**' if bad else ''} | {f(wall(res, scenario, 'skopeo-loop', step))}"
               f" | {f(wall(res, scenario, 'playbook', step))} | {f(speedup(res, scenario, step), '{:.1f}×')}"
               f" | {f(mod)} | {f(sk_wall / mod if sk_wall and mod else None, '{:.1f}×')}"
               f" | {f(med([r.get('max_rss_kb') and r['max_rss_kb'] / 1024 for r in cc]), '{:.1f}')}"
               f" | {f(med([r.get('tool_cpu') for r in cc]))}"
               f" | {f(med([r['cpu_user'] + r['cpu_sys'] for r in sk]), '{:.1f}')}"
               f" | {f(rcpu(sk), '{:.1f}')} · {f(rcpu(cc), '{:.1f}')} |")
        if scenario == "wan":
            row += f" {per_image(sk[0]) if sk else '–'} | {per_image(cc[0]) if cc else '–'} |"
        w(row)
    w("")


def mix(p, n=6):
    kinds = sorted(p["by_kind"].items(), key=lambda kv: -kv[1])
    return ", ".join(f"{v} {k}" for k, v in kinds[:n])


def where(res, scenarios, L):
    w = L.append
    w("| scenario | step | tool | wall s | registry | requests | connections | busy s / span s | request mix | median ms by kind |")
    w("|---|---|---|---|---|---|---|---|---|---|")
    for r in res["runs"]:
        if r["scenario"] not in scenarios or not r.get("proxy"):
            continue
        for k in ("src", "t1", "t2"):
            p = r["proxy"][k]
            lat = sorted(p["latency_ms"].items(), key=lambda kv: -kv[1]["n"])[:4]
            lat = ", ".join(f"{kk} {v['median']:.0f}" for kk, v in lat)
            w(f"| {r['scenario']} | {r['step']} | {TITLE[r['tool']]} | {r['wall']:.2f} | {REG[k]} | {p['requests']}"
              f" | {p['connections']} | {p['busy_s']:.2f} / {p['span_s']:.2f} | {mix(p)} | {lat} |")
    w("")


def full(res, L):
    w = L.append
    rel, floor = res["releases"].get("full"), res.get("floor")
    if not rel or not floor:
        return
    cold = [r for r in runs(res, "full", "playbook", "cold") if not r["problems"]]
    w(f"Full-size release: {rel['images']} images ({rel['with_ppc64le']} with ppc64le), {rel['unique_blobs']} unique "
      f"blobs, **{rel['unique_bytes'] / MIB:.0f} MiB unique** (what each empty target needs, ppc64le included).\n")
    w("| | wall s (playbook) | × ingest floor | the module alone s | × ingest floor | tool peak RSS MiB "
      "| tool CPU s | registries CPU s |")
    w("|---|---|---|---|---|---|---|---|")
    w(f"| ingest floor (bench/ingest.py: one GET per blob teed into one upload per target, "
      f"{floor['parallel']} in flight) | {floor['wall']:.2f} | 1.00× | – | – | – "
      f"| {f(floor.get('uploader_cpu'))} (the uploader) "
      f"| {f(floor.get('registry_cpu') and sum(floor['registry_cpu'].values()), '{:.1f}')} |")
    fl = floor["wall"]
    for sc, step in [("full", s) for s in STEPS] + [("full-counted", "cold")]:
        for r in runs(res, sc, "playbook", step):
            what = STEP_TITLE[step] if sc == "full" else "cold, counted through the proxies"
            mod = r.get("module_wall")
            w(f"| copy-containers via the playbook, {what}{' **CHECK FAILED**' if r['problems'] else ''}"
              f" | {r['wall']:.2f} | {f(r['wall'] / fl if step == 'cold' else None, '{:.2f}×')} | {f(mod)}"
              f" | {f(mod / fl if mod and step == 'cold' else None, '{:.2f}×')}"
              f" | {f(r.get('max_rss_kb') and r['max_rss_kb'] / 1024, '{:.1f}')}"
              f" | {f(r.get('tool_cpu'))} | {sum(r['registry_cpu'].values()):.1f} |")
    for r in runs(res, "full-counted", "playbook", "cold"):
        p = r["proxy"]
        n = r["images"]
        w("")
        w("| registry | requests/image | connections | MiB read (GET blob) / unique | MiB received / unique | busy s / span s |")
        w("|---|---|---|---|---|---|")
        u = rel["unique_bytes"]
        for k in ("src", "t1", "t2"):
            q = p[k]
            w(f"| {REG[k]} | {q['requests'] / n:.1f} | {q['connections']} | {q['blob_get_bytes'] / MIB:.0f} "
              f"({q['blob_get_bytes'] / u:.2f}×) | {q['bytes_in'] / MIB:.0f} ({q['bytes_in'] / u:.2f}×) "
              f"| {q['busy_s']:.1f} / {q['span_s']:.1f} |")
    w("")
    if not cold:
        w("(the cold run failed its check)\n")


def goals(res, L):
    w = L.append
    w("| goal | measured | met |")
    w("|---|---|---|")

    def row(goal, x, target, fmt="{:.1f}×", higher=True):
        ok = None if x is None else (x >= target if higher else x <= target)
        w(f"| {goal} | {f(x, fmt)} | {'–' if ok is None else 'yes' if ok else '**no**'} |")
    row("promoter's path, cold: ≥4× the skopeo loop", speedup(res, "promoter", "cold"), 4)
    row("promoter's path, cold, the module alone (Ansible's start left out): ≥4×", speedup(res, "promoter", "cold", True), 4)
    row("WAN (+30 ms per request), cold: ≥10× the skopeo loop", speedup(res, "wan", "cold"), 10)
    row("WAN, cold, the module alone: ≥10×", speedup(res, "wan", "cold", True), 10)
    row("new label: ≥10× the skopeo loop (promoter's path)", speedup(res, "promoter", "newlabel"), 10)
    row("new label, the module alone: ≥10× (promoter's path)", speedup(res, "promoter", "newlabel", True), 10)
    row("new label: ≥10× the skopeo loop (WAN)", speedup(res, "wan", "newlabel"), 10)
    fl = res.get("floor")
    cold = [r for r in runs(res, "full", "playbook", "cold") if not r["problems"]]
    row("full size, cold: within 1.5× of the ingest floor (the playbook)", cold[0]["wall"] / fl["wall"]
        if fl and cold else None, 1.5, "{:.2f}×", higher=False)
    row("full size, cold: within 1.5× of the ingest floor (the module alone)", cold[0]["module_wall"] / fl["wall"]
        if fl and cold and cold[0].get("module_wall") else None, 1.5, "{:.2f}×", higher=False)
    rss = [r["max_rss_kb"] / 1024 for r in res["runs"] if r["tool"] == "playbook" and r.get("max_rss_kb")]
    row("peak RSS of the tool ≤ 64 MiB, every run", max(rss) if rss else None, 64, "{:.1f} MiB", higher=False)
    for sc in ("promoter", "wan"):
        nl = runs(res, sc, "playbook", "newlabel")
        if nl and nl[0].get("proxy") is None:
            continue
        if nl:
            w(f"| new label: 3 requests per image per registry ({sc}; lists included) | {per_image(nl[0])} "
              f"(src · t1 · t2) | {'yes' if all(nl[0]['proxy'][k]['per_image'] <= 3.0 for k in REG) else '**no**'} |")
    w("")


def render(res, a=None):
    L = []
    w = L.append
    m = res["machine"]
    loads = [s for _, s in res.get("load_samples", [])] or [res["load_start"][0]]
    w("## Results: the promoter's path, WAN, full size\n")
    w(f"Machine: {m['nproc']} cores ({m['cpu']}), {m['memory_gib']} GiB, Linux {m['kernel']}, {m['os']}; {m['skopeo']}; "
      f"docker-registry {m['docker_registry']}; {m['copy_containers']} (git {m['git']}).  ")
    w(f"Load average (1 min) during the run: start {res['load_start'][0]:.2f}, min {min(loads):.2f}, "
      f"median {statistics.median(loads):.2f}, max {max(loads):.2f}.\n")
    rel = res["releases"].get("headline")
    if rel:
        w(f"Headline release: {rel['images']} images ({rel['with_ppc64le']} with ppc64le), {rel['unique_blobs']} unique "
          f"blobs, {rel['unique_bytes'] / MIB:.1f} MiB unique (ppc64le included); two targets.\n")
    if runs(res, "promoter"):
        w("### The promoter's path (loopback)\n")
        comparison(res, "promoter", L)
    if runs(res, "wan"):
        n = runs(res, "wan")[0]["images"]
        w(f"### WAN: +{runs(res, 'wan')[0]['delay_ms']:.0f} ms per request and per connection on every registry "
          f"({n} images)\n")
        comparison(res, "wan", L)
    if res.get("floor"):
        w("### Full size\n")
        full(res, L)
    if any(r.get("proxy") for r in res["runs"]):
        w("### Where the time goes (runs through the proxies)\n")
        where(res, {"wan", "full-counted"}, L)
    cost = res.get("request_cost")
    if cost:
        w("### What a request costs a registry here (bench/request_cost.py, target-1, 8 in flight)\n")
        w("| request | registry CPU ms | wall ms |")
        w("|---|---|---|")
        for k, v in cost.items():
            w(f"| {k} | {v['cpu_ms']:.2f} | {v['wall_ms']:.2f} |")
        w("")
    w("### Goals\n")
    goals(res, L)
    return "\n".join(L) + "\n"


if __name__ == "__main__":
    with open(sys.argv[1]) as fh:
        print(render(json.load(fh)))
