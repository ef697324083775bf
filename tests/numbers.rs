//! One set of numbers: what the summary line, the JSON report and the HTML report say about requests
//! and bytes is what went over the wire, counted by a proxy in front of each registry, and the three
//! agree with each other; each entry's time is its own. A promotion to two targets with manifest lists (the promoter's shape), then
//! a rerun that has nothing to copy.

mod common;

use copy_containers::report::human_bytes;
use copy_containers_testkit::{self as tk, PathKind, Proxy};
use serde_json::Value;

use common::*;

const NAMES: [&str; 4] = ["base", "nova-compute", "neutron-server", "heat-api"];

struct Run {
    stdout: String,
    json: Value,
    html: String,
}

fn promote(src: &Proxy, targets: &[&Proxy], tmp: &std::path::Path) -> Run {
    let mut c = bin();
    c.args([
        "promote",
        "--full-hash",
        FH,
        "--named-label",
        "current-tripleo",
        "--manifest-push",
        "true",
        "--source",
        &format!("host={},namespace={NS},insecure=true", src.host()),
    ]);
    for t in targets {
        c.args([
            "--target",
            &format!("host={},namespace={NS},insecure=true", t.host()),
        ]);
    }
    let out = c
        .args(["--containers", &NAMES.join(",")])
        .args(["--ppc-containers", &NAMES[..3].join(",")])
        .args(["--tmp-file-root", tmp.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read = |ext: &str| {
        std::fs::read_to_string(tmp.join(format!("copy-containers-promote-latest.{ext}"))).unwrap()
    };
    Run {
        stdout,
        json: serde_json::from_str(&read("json")).unwrap(),
        html: read("html"),
    }
}

/// The registry entry of the JSON report for `host`.
fn registry<'a>(json: &'a Value, host: &str) -> &'a Value {
    json["registries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["host"] == host)
        .unwrap_or_else(|| panic!("no registry {host}: {}", json["registries"]))
}

fn counter(r: &Value, name: &str) -> u64 {
    r.get("counters")
        .and_then(|c| c.get(name))
        .or_else(|| r.get(name))
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("no counter {name}: {r}"))
}

/// Check one run: each registry's counters against its proxy, then the summary and the HTML against
/// the JSON.
fn check(run: &Run, src: &Proxy, targets: &[&Proxy]) {
    for (p, role) in std::iter::once((src, "source")).chain(targets.iter().map(|t| (*t, "target"))) {
        let r = registry(&run.json, &p.host());
        assert_eq!(r["role"], role, "{r}");
        assert_eq!(
            counter(r, "requests"),
            p.total() as u64,
            "{role} {}: requests",
            p.host()
        );
        assert_eq!(
            counter(r, "bytes_sent"),
            p.bytes_from_clients(None),
            "{role} {}: bytes sent",
            p.host()
        );
        assert_eq!(
            counter(r, "bytes_received"),
            p.bytes_to_clients(None),
            "{role} {}: bytes received",
            p.host()
        );
        assert_eq!(counter(r, "retries"), 0, "{r}");
    }
    // "N sent": the targets' bytes as the wire saw them, in the outcome line, and each target's in the HTML's
    // summary of registries.
    let sent: u64 = targets.iter().map(|t| t.bytes_from_clients(None)).sum();
    let sent_text = human_bytes(sent);
    // Nothing sent is not said at all.
    let said = run.stdout.contains(&format!(", {sent_text} sent, "));
    assert!(
        said == (sent > 0) && (sent > 0 || !run.stdout.contains(" sent, ")),
        "the outcome says otherwise than {sent_text}:\n{}",
        run.stdout
    );
    for t in targets {
        let head = format!("<tr><td>{}</td><td>target</td>", t.host());
        let row = run
            .html
            .lines()
            .find(|l| l.starts_with(&head))
            .unwrap_or_else(|| panic!("no summary row for {}", t.host()));
        let cell = format!("<td>{}</td></tr>", human_bytes(t.bytes_from_clients(None)));
        assert!(
            row.ends_with(&cell),
            "the HTML's summary says otherwise than {cell}: {row}"
        );
    }
    for t in targets {
        let r = registry(&run.json, &t.host());
        let row = format!(
            "<td>{}</td><td>{}</td><td>{}</td>",
            counter(r, "requests"),
            counter(r, "retries"),
            human_bytes(counter(r, "bytes_sent"))
        );
        assert!(
            run.html.contains(&row),
            "the HTML's row for {} lacks {row}",
            t.host()
        );
    }
    // The blob bytes the containers' entries count are the upload bodies the targets received, once each (an
    // image under several tags is not counted again), and never more than everything sent.
    let uploaded: u64 = run.json["containers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["entries"].as_array().unwrap())
        .map(|e| e["bytes_uploaded"].as_u64().unwrap())
        .sum();
    let upload_bodies: u64 = targets
        .iter()
        .map(|t| t.bytes_from_clients(Some(PathKind::Uploads)))
        .sum();
    assert_eq!(
        uploaded, upload_bodies,
        "entries' bytes_uploaded against the wire"
    );
    assert!(uploaded <= sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_json_and_html_agree_with_the_wire() {
    let src = tk::Registry::plain().unwrap();
    stage(&client(&src), &NAMES, &[]).await;
    let (t1, t2) = (tk::Registry::plain().unwrap(), tk::Registry::plain().unwrap());
    let src_p = Proxy::for_registry(&src).unwrap();
    let (p1, p2) = (
        Proxy::for_registry(&t1).unwrap(),
        Proxy::for_registry(&t2).unwrap(),
    );
    let tmp = tempfile::tempdir().unwrap();

    let cold = promote(&src_p, &[&p1, &p2], tmp.path());
    check(&cold, &src_p, &[&p1, &p2]);
    assert!(
        p1.bytes_from_clients(Some(PathKind::Uploads)) > 0,
        "the cold run uploads"
    );
    assert_eq!(cold.json["changed"], true);
    // Each entry's time is its own (when its image was done with on that registry), not the batch's.
    let times: Vec<f64> = cold.json["containers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["entries"].as_array().unwrap())
        // The copied tags (lists and labels have always had their own times).
        .filter(|e| e["tag"] != "current-tripleo" && !e["tag"].as_str().unwrap().ends_with("_manifest"))
        .map(|e| e["seconds"].as_f64().unwrap())
        .collect();
    let total = cold.json["seconds"].as_f64().unwrap();
    assert!(
        times.iter().all(|&t| t > 0.0 && t <= total),
        "{times:?} of {total}"
    );
    let distinct: std::collections::BTreeSet<u64> = times.iter().map(|t| t.to_bits()).collect();
    assert!(distinct.len() > 1, "every entry has one time: {times:?}");

    // A rerun: nothing to copy; its numbers are its own (not carried over).
    for p in [&src_p, &p1, &p2] {
        p.reset();
    }
    let rerun = promote(&src_p, &[&p1, &p2], tmp.path());
    check(&rerun, &src_p, &[&p1, &p2]);
    assert_eq!(
        p1.bytes_from_clients(Some(PathKind::Uploads)),
        0,
        "the rerun uploads nothing"
    );
    assert!(rerun.stdout.contains("(nothing changed)"), "{}", rerun.stdout);
}
