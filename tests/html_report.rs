//! The HTML report as people see it: real promotions (one that succeeds, one with a target down, and
//! one of 150 images with a target down) write their reports, and Debian's headless Chromium lays
//! them out at 1280 × 800. Checked: no horizontal scrolling; the failures above the fold; the text a
//! person reads first (the outcome, the label's fate, the cause with what followed and what to do);
//! failed and done cells coloured differently; healthy images folded into one summary row, opened
//! without JavaScript; the 150-image failure report within a few screens (its height measured). Runs
//! when Chromium is installed (`scripts/install-deps` installs it; `CC_REQUIRE_CHROMIUM=1`, set by
//! `scripts/test`, makes its absence a failure).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use copy_containers::promote::{self, RunOptions};
use copy_containers::report::{html, Report};
use copy_containers_testkit::{self as tk, Proxy};

use common::*;

fn chromium() -> Option<PathBuf> {
    for name in ["chromium-headless-shell", "chromium", "chromium-browser"] {
        for dir in std::env::var("PATH").unwrap_or_default().split(':') {
            let p = Path::new(dir).join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    if std::env::var("CC_REQUIRE_CHROMIUM").as_deref() == Ok("1") {
        panic!("CC_REQUIRE_CHROMIUM=1 but no chromium-headless-shell/chromium on PATH");
    }
    None
}

/// Measurements the page reports about itself once laid out: with every `<details>` closed (as a
/// person first sees it), then with every one opened (what the folded rows hold).
const MEASURE: &str = r#"<script>
(function () {
  const m = {};
  const de = document.documentElement;
  m.scrollWidth = de.scrollWidth;
  m.clientWidth = de.clientWidth;
  m.height = de.scrollHeight;
  const f = document.getElementById('failures');
  m.failuresTop = f ? f.getBoundingClientRect().top : -1;
  const t = document.getElementById('matrix');
  m.matrixRows = t ? t.rows.length : 0;
  m.folded = document.querySelectorAll('#matrix tr.folded').length;
  m.matrixRight = t ? t.getBoundingClientRect().right : 0;
  const bg = (sel) => { const e = document.querySelector(sel); return e ? getComputedStyle(e).backgroundColor : ''; };
  m.bad = bg('td.c-bad');
  m.done = bg('td.c-changed') || bg('td.c-ok');
  m.text = document.body.innerText.slice(0, 1500);
  document.querySelectorAll('details').forEach((d) => { d.open = true; });
  m.openRows = document.querySelectorAll('#matrix td.fold tr').length;
  m.openRowHeight = 0;
  const r = document.querySelector('#matrix td.fold tr');
  if (r) { m.openRowHeight = r.getBoundingClientRect().height; }
  m.openScrollWidth = de.scrollWidth;
  const pre = document.createElement('pre');
  pre.id = 'layout';
  pre.textContent = JSON.stringify(m);
  document.body.appendChild(pre);
})();
</script>"#;

/// Lay the report out in Chromium at 1280 × 800 and return what the page measured.
fn layout(browser: &Path, report: &Report, dir: &Path, name: &str) -> serde_json::Value {
    let page = html::render(report);
    assert!(!page.contains("<script"), "the report itself is script-free");
    let path = dir.join(format!("{name}.html"));
    std::fs::write(&path, page.replace("</body>", &format!("{MEASURE}</body>"))).unwrap();
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1280,800",
            "--dump-dom",
        ])
        .arg(format!("file://{}", path.display()))
        .output()
        .expect("run chromium");
    let dom = String::from_utf8_lossy(&out.stdout);
    let start = dom
        .find("<pre id=\"layout\">")
        .unwrap_or_else(|| panic!("no measurements: {}", String::from_utf8_lossy(&out.stderr)))
        + "<pre id=\"layout\">".len();
    let end = start + dom[start..].find("</pre>").unwrap();
    let json = dom[start..end]
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    serde_json::from_str(&json).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_read_at_1280_pixels_with_the_failures_on_top() {
    let Some(browser) = chromium() else {
        eprintln!("chromium not installed: layout not checked");
        return;
    };
    let names: Vec<String> = (0..14)
        .map(|i| format!("openstack-service-with-a-long-name-{i:02}"))
        .chain(["base".to_string()])
        .collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let src = tk::Registry::plain().unwrap();
    let good = tk::Registry::plain().unwrap();
    let bad = tk::Registry::plain().unwrap();
    stage(&client(&src), &refs, &[]).await;
    let down = Proxy::for_registry(&bad).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut a = promote_args(
        registry_args(&src, NS),
        vec![registry_args(&good, NS)],
        &refs,
        tmp.path(),
    );
    a.manifest_push = Some(true);
    a.ppc_containers = Some(names.clone());
    a.retries = Some(1);
    let p = a.resolve(promote::model::read_list_file).unwrap();
    let ok = promote::run(&p, &RunOptions::default()).await;
    assert!(ok.ok, "{:#?}", ok.errors);
    down.down();
    a.target_registries = Some(vec![registry_args(&good, NS), proxy_args(&down.host(), NS)]);
    a.named_label = Some("tripleo-ci-testing".into());
    let p = a.resolve(promote::model::read_list_file).unwrap();
    let failed = promote::run(&p, &RunOptions::default()).await;
    assert!(!failed.ok);

    for (name, r) in [("success", &ok), ("failure", &failed)] {
        let m = layout(&browser, r, tmp.path(), name);
        for width in ["scrollWidth", "openScrollWidth"] {
            assert!(
                m[width].as_u64().unwrap() <= m["clientWidth"].as_u64().unwrap(),
                "{name}: wider than the window ({width}): {m}"
            );
        }
        assert!(m["matrixRight"].as_f64().unwrap() <= 1280.0, "{name}: {m}");
        // Every image is one line in its folded row, once opened (no JavaScript in the page).
        assert_eq!(
            m["openRows"].as_u64().unwrap() as usize,
            names.len(),
            "{name}: {m}"
        );
        assert!(
            m["openRowHeight"].as_f64().unwrap() < 30.0,
            "one line per image: {m}"
        );
    }
    let m = layout(&browser, &ok, tmp.path(), "success");
    assert_eq!(m["failuresTop"], -1, "no failures section on success: {m}");
    assert!(!m["done"].as_str().unwrap().is_empty(), "{m}");
    // Healthy images: one summary row under the header.
    assert_eq!(
        (m["matrixRows"].as_u64(), m["folded"].as_u64()),
        (Some(2), Some(1)),
        "{m}"
    );
    let text = m["text"].as_str().unwrap();
    assert!(text.contains("OK: 15 images promoted to 1 target"), "{text}");
    assert!(
        text.contains("current-tripleo: moved on both registries"),
        "{text}"
    );
    let m = layout(&browser, &failed, tmp.path(), "failure");
    let top = m["failuresTop"].as_f64().unwrap();
    assert!((0.0..800.0).contains(&top), "failures above the fold: {m}");
    assert_ne!(m["bad"], m["done"], "failed and done cells look different: {m}");
    assert!(!m["bad"].as_str().unwrap().is_empty(), "{m}");
}

/// A release-size failure (150 images, one target down) reads in a few screens: the outcome, the
/// label's fate, the one cause with what followed and what to do come first; the 150 images are
/// one folded row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_150_image_failure_fits_a_few_screens_cause_first() {
    let Some(browser) = chromium() else {
        eprintln!("chromium not installed: layout not checked");
        return;
    };
    let names: Vec<String> = (0..149).map(|i| format!("service-{i:03}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let src = tk::Registry::plain().unwrap();
    let good = tk::Registry::plain().unwrap();
    let gone = tk::Registry::plain().unwrap();
    let opts = copy_containers::stage::StageOptions {
        names: [&refs[..], &["base"]]
            .concat()
            .iter()
            .map(|s| s.to_string())
            .collect(),
        no_ppc: true,
        base_layer_size: 32 << 10,
        unique_layer_size: 8 << 10,
        ..Default::default()
    };
    copy_containers::stage::stage(&client(&src), &opts)
        .await
        .expect("stage");
    let down = Proxy::for_registry(&gone).unwrap();
    down.down();
    let tmp = tempfile::tempdir().unwrap();
    let mut a = promote_args(
        registry_args(&src, NS),
        vec![registry_args(&good, NS), proxy_args(&down.host(), NS)],
        &refs,
        tmp.path(),
    );
    a.retries = Some(1);
    a.keep_local = Some("never".into());
    let p = a.resolve(promote::model::read_list_file).unwrap();
    let r = promote::run(&p, &RunOptions::default()).await;
    assert!(!r.ok);
    assert_eq!(r.found.len(), 150);
    let m = layout(&browser, &r, tmp.path(), "release");
    let height = m["height"].as_u64().unwrap();
    assert!(
        height <= 3 * 800,
        "within a few screens of 800 px: {height} px: {m}"
    );
    assert!(
        m["scrollWidth"].as_u64().unwrap() <= m["clientWidth"].as_u64().unwrap(),
        "{m}"
    );
    // Failures first: the 150 images failed alike, one folded row; nothing healthy.
    assert_eq!(
        (m["matrixRows"].as_u64(), m["folded"].as_u64()),
        (Some(2), Some(1)),
        "{m}"
    );
    assert_eq!(m["openRows"].as_u64(), Some(150), "{m}");
    // What a person reads first, in this order.
    let text = m["text"].as_str().unwrap();
    let first: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).take(16).collect();
    let want = [
        "FAILED: 150 of 150 images not verified on every target (0 promoted)",
        "current-tripleo: moved on 1 of 3 registries; ",
        "What went wrong",
        &format!("{}: ", down.host()),
        "so 150 images were not verified there: service-000, service-001, service-002, service-003 and 146 more",
        &format!("to do: rerun once {} answers", down.host()),
    ];
    let mut at = 0;
    for w in want {
        let found = first[at..].iter().position(|l| l.contains(w));
        let Some(i) = found else {
            panic!("{w:?} not among the first lines after line {at}: {first:#?}")
        };
        at += i + 1;
    }
    assert!(!text.contains("service-100"), "the images are folded: {text}");
}
