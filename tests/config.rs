//! The releases config: parsing (the full shape, copy-quay's shape, bad files with the key named),
//! resolving entries against local servers (testkit's `FakeHttp` serving Zuul, DLRN, versions.csv,
//! tripleo-common and exclude files in their real formats, failures included), and end to end: the
//! binary promoting releases from a config file into real registries.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use copy_containers::config::{
    self, ConfigFile, ContainersSource, HashCandidate, HashOrigin, KeepLocal, ListCandidate, ListOrigin,
    Overrides, ReleasesConfig,
};
use copy_containers::sources::http::{Fetcher, HttpOptions};
use copy_containers::transport::RetryPolicy;
use copy_containers_testkit::{self as tk, FakeHttp, Route};

use common::*;

const BUILDS: &str = include_str!("fixtures/zuul/builds.json");
const PODMAN_LOG: &str = include_str!("fixtures/zuul/containers-successfully-built.log");
const PROMOTIONS: &str = include_str!("fixtures/dlrn/promotions.json");
const VERSIONS: &str = include_str!("fixtures/dlrn/versions.csv");
const CONTAINERS: &str = include_str!("fixtures/tripleo-common/tripleo_containers.yaml");
const EXCLUDES: &str = include_str!("fixtures/tripleo-ci/build-containers-vars-main.yaml");
const OVERCLOUD_CONTAINERS: &str = include_str!("fixtures/tripleo-common/overcloud_containers.yaml");

const JOB: &str = "periodic-tripleo-ci-build-containers-ubi-9-quay-push-master";
const AGG: &str = "d7c3cd922f91d83aacb5d7555de9d5bc";
const TC_SHA: &str = "9fca209d49497c11558b2537eddba1750c38ad94";
const LOG_DIR: &str = "/logs/737b6ed/";

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

fn parse(text: &str) -> Result<ConfigFile, String> {
    config::parse("test.yaml", text, None).map_err(|e| e.to_string())
}

fn releases(text: &str) -> ReleasesConfig {
    match parse(text).unwrap_or_else(|e| panic!("{e}")) {
        ConfigFile::Releases(c) => *c,
        ConfigFile::Promote(_) => panic!("not a releases file"),
    }
}

fn fetcher() -> Fetcher {
    Fetcher::new(HttpOptions {
        connect_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(20),
        retry: RetryPolicy {
            attempts: 2,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(20),
            max_retry_after: Duration::from_secs(1),
        },
        ..HttpOptions::default()
    })
    .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Parsing

#[test]
fn full_releases_file() {
    let c = config::load_releases(&fixture("config/releases.yaml")).unwrap();
    assert_eq!(c.names(), ["mastercentos9", "wallabycentos9", "promoter-list"]);
    assert!(c.file.ends_with("releases.yaml"));

    let (i, m) = c.entry("mastercentos9").unwrap();
    assert_eq!(i, 0);
    let a = c.entry_args(m);
    assert_eq!(a.named_label.as_deref(), Some("current-tripleo"));
    assert_eq!(a.distro_version.as_deref(), Some("9"));
    assert_eq!(a.manifest_push, Some(true));
    assert_eq!(a.retries, Some(5));
    assert_eq!(
        a.report_json.as_deref(),
        Some(Path::new("/var/tmp/promoter_logs/mastercentos9.json"))
    );
    let t = &a.target_registries.as_ref().unwrap()[0];
    assert_eq!(t.token_env.as_deref(), Some("QUAY_IO_TOKEN"));
    assert_eq!(t.create_repo, Some(true));
    // Relative paths are taken from the config file's folder.
    assert_eq!(
        t.authfile.as_deref(),
        Some(fixture("config/auth/quay-io.json").as_path())
    );
    assert_eq!(c.keep_local(m), Some(KeepLocal::OnFailure));
    assert_eq!(a.keep_local.as_deref(), Some("on_failure"));

    let (_, w) = c.entry("wallabycentos9").unwrap();
    let a = c.entry_args(w);
    assert_eq!(w.containers_source, Some(ContainersSource::TripleoCommon));
    assert_eq!(
        a.source_registry.as_ref().unwrap().namespace.as_deref(),
        Some("tripleowallabycentos9")
    );
    assert_eq!(
        a.target_registries.as_ref().unwrap()[0].namespace.as_deref(),
        Some("tripleowallabycentos9"),
        "to_namespace overrides the file's target namespace"
    );
    assert_eq!(a.manifest_push, Some(false));
    assert_eq!(c.keep_local(w), Some(KeepLocal::Always));
    assert_eq!(a.keep_local.as_deref(), Some("always"));
    let plan = c.plan(w, &Overrides::default());
    assert_eq!(
        plan.list_text(),
        "tripleo_common (container-images/tripleo_containers.yaml at the commit from versions.csv)"
    );
    assert!(
        plan.hash_text()
            .starts_with("DLRN https://trunk.rdoproject.org/api-centos9-wallaby"),
        "{}",
        plan.hash_text()
    );
    assert_eq!(
        plan.list,
        [ListCandidate::TripleoCommon {
            path: "container-images/tripleo_containers.yaml".into(),
            at_versions_csv_commit: true
        }]
    );
    assert!(
        matches!(&plan.hash[..], [HashCandidate::Dlrn { label, .. }] if label == "current-tripleo"),
        "{:?}",
        plan.hash
    );
    assert_eq!(
        (plan.release.as_str(), plan.distro.as_str()),
        ("wallaby", "centos9")
    );

    let (_, p) = c.entry("promoter-list").unwrap();
    let a = c.entry_args(p);
    assert_eq!(
        a.containers_list_file.as_deref(),
        Some(fixture("config/../promoter/extra-vars.yaml").as_path())
    );
    assert_eq!(
        a.target_registries.as_ref().unwrap()[0].host,
        "registry.example.org:5000"
    );
    assert_eq!(a.named_label.as_deref(), Some("tripleo-ci-testing"));

    let plan = c.plan(&c.releases[0], &Overrides::default());
    assert_eq!(
        plan.list_text(),
        format!(
            "zuul (latest SUCCESS of {JOB}), else \
             tripleo_common (container-images/tripleo_containers.yaml at the commit from versions.csv)"
        )
    );
    assert!(
        plan.hash_text().starts_with("the build log"),
        "{}",
        plan.hash_text()
    );
    let forced = Overrides {
        full_hash: Some(AGG.into()),
        ..Default::default()
    };
    assert_eq!(
        c.plan(&c.releases[0], &forced).hash_text(),
        format!("forced {AGG}")
    );

    let e = c.entry("nope").unwrap_err().to_string();
    assert!(
        e.contains("releases.yaml")
            && e.contains("no release named \"nope\"")
            && e.contains("mastercentos9, wallabycentos9, promoter-list"),
        "{e}"
    );
    assert_eq!(c.select("all").unwrap().len(), 3);
}

#[test]
fn copy_quay_shape_is_mapped() {
    let c = config::load_releases(&fixture("config/copy-quay.yaml")).unwrap();
    assert_eq!(c.names(), ["mastercentos9", "wallabycentos9"]);
    assert_eq!(
        c.zuul_api.as_deref(),
        Some("https://review.rdoproject.org/zuul/api/")
    );
    let a = c.entry_args(&c.releases[1]);
    assert_eq!(a.release.as_deref(), Some("wallaby"));
    assert_eq!(a.distro_name.as_deref(), Some("centos"));
    assert_eq!(a.distro_version.as_deref(), Some("9"));
    let s = a.source_registry.unwrap();
    assert_eq!(s.host, "quay.rdoproject.org");
    assert_eq!(s.namespace.as_deref(), Some("tripleowallabycentos9"));
    let t = &a.target_registries.unwrap()[0];
    assert_eq!(t.host, "quay.io");
    assert_eq!(t.namespace.as_deref(), Some("tripleowallabycentos9"));
    assert_eq!(
        c.releases[1].api_entry.as_deref(),
        Some("https://trunk.rdoproject.org/api-centos9-wallaby")
    );
}

#[test]
fn plain_promotion_files_are_left_alone() {
    let y = format!("full_hash: {AGG}\nnamed_label: current-tripleo\ncontainers_list: [a]\n");
    assert!(matches!(parse(&y).unwrap(), ConfigFile::Promote(_)));
    assert_eq!(
        config::shape_of("x", "full_hash: x\n").unwrap(),
        config::Shape::Promote
    );
    let e = config::load_releases(&fixture("promoter/extra-vars.yaml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("extra-vars.yaml") && e.contains("releases"), "{e}");
}

/// The old releases' list is overcloud_containers.yaml and their images `centos-binary-*`.
#[test]
fn old_releases_plan_overcloud_containers_and_centos_binary() {
    let c = releases(&format!(
        "{BASE}releases:\n  - {{name: t, release: train, distro_version: 8, containers_source: tripleo_common}}\n\
         \x20 - {{name: o, release: osp16-2, prefix: custom}}\n  - {{name: m}}\n"
    ));
    let (_, t) = c.entry("t").unwrap();
    assert_eq!(
        c.plan(t, &Overrides::default()).list_text(),
        "tripleo_common (container-images/overcloud_containers.yaml at the commit from versions.csv)"
    );
    assert_eq!(
        c.entry_args(t).container_name_prefix.as_deref(),
        Some("centos-binary")
    );
    let (_, o) = c.entry("o").unwrap();
    assert_eq!(c.entry_args(o).container_name_prefix.as_deref(), Some("custom"));
    let (_, m) = c.entry("m").unwrap();
    assert_eq!(c.entry_args(m).container_name_prefix, None);
}

const BASE: &str = "source_registry: {host: src.example.org, namespace: ns}
target_registries: [{host: dst.example.org}]
";

fn one(extra_entry: &str) -> String {
    format!(
        "{BASE}releases:\n  - name: a\n    containers: [nova-compute]\n    full_hash: {AGG}\n{extra_entry}"
    )
}

#[test]
fn bad_configs_name_the_file_and_the_key() {
    let cases: Vec<(String, Vec<&str>)> = vec![
        ("releases: [\n".into(), vec!["line"]),
        ("- a\n- b\n".into(), vec!["expected a YAML mapping"]),
        ("".into(), vec!["empty"]),
        (
            format!("{}bogus_global: 1\n", one("")),
            vec!["test.yaml: bogus_global: unknown field `bogus_global`, expected one of"],
        ),
        (
            format!(
                "{BASE}releases:\n  - {{name: a, containers: [x], full_hash: {AGG}}}\n  - {{name: b, containers: [x], full_hash: {AGG}}}\n  - name: c\n    bogus: 1\n"
            ),
            vec!["test.yaml: releases[2].bogus: unknown field `bogus`, expected one of `name`", "line 7"],
        ),
        (
            one("    containers_list: [y]\n"),
            vec!["releases[0]: duplicate field `containers`", "line 7"],
        ),
        (
            format!("full_hash: {AGG}\n{}", one("")),
            vec!["test.yaml: full_hash: unknown field `full_hash`, expected one of `zuul_api`", "line 1"],
        ),
        (
            one("    manifest_push: maybe\n"),
            vec!["releases[0].manifest_push: ", "not a boolean"],
        ),
        (format!("retries: many\n{}", one("")), vec!["retries: ", "not a whole number"]),
        (
            format!("{BASE}releases: 5\n"),
            vec!["test.yaml: releases: invalid type: integer `5`, expected a sequence"],
        ),
        (
            one("    keep_local: sometimes\n"),
            vec!["releases[0].keep_local: unknown variant `sometimes`, expected one of `never`, `on_failure`, `always`"],
        ),
        (
            one("    containers_source: jenkins\n"),
            vec!["releases[0].containers_source: unknown variant `jenkins`"],
        ),
        (
            one("    distro_version: [9]\n"),
            vec!["releases[0].distro_version: invalid type: sequence"],
        ),
        (
            format!("{}  - {{name: a, containers: [x]}}\n", one("")),
            vec!["releases[1].name: \"a\" is used twice (also releases[0])"],
        ),
        (
            format!("{BASE}releases:\n  - {{name: all, containers: [x]}}\n"),
            vec!["releases[0].name: \"all\""],
        ),
        (
            format!("{BASE}releases:\n  - {{containers: [x]}}\n"),
            vec!["releases[0]: missing field `name`"],
        ),
        (format!("{BASE}releases: []\n"), vec!["releases: expected at least one release entry"]),
        (
            "releases:\n  - {name: a, containers: [x]}\n".into(),
            vec!["releases[0]: a has no source_registry"],
        ),
        (
            "source_registry: {host: s.org}\nreleases:\n  - {name: a, containers: [x]}\n".into(),
            vec!["releases[0]: a has no target_registries"],
        ),
        (
            one("    job_name: periodic-x\n"),
            vec!["test.yaml: zuul_api: missing; releases[0] (a)"],
        ),
        (
            format!(
                "report_json: /tmp/r.json\n{}  - {{name: b, containers: [x]}}\n",
                one("")
            ),
            vec!["test.yaml: report_json: ", "{name}"],
        ),
        (
            format!("{BASE}releases:\n  - {{name: a, containers: [x], full_hash: current-tripleo}}\n"),
            vec!["releases[0].full_hash: invalid DLRN hash \"current-tripleo\""],
        ),
        (
            format!("{BASE}releases:\n  - {{name: a, containers: [x], push_hash: 'a b'}}\n"),
            vec!["releases[0].push_hash:"],
        ),
        (
            format!(
                "source_registry: {{host: s.org, username: robot}}\ntarget_registries: [{{host: d.org}}]\n{}",
                "releases:\n  - {name: a, containers: [x]}\n"
            ),
            vec!["source_registry: username is given without password_env"],
        ),
        (
            format!(
                "source_registry: {{host: s.org}}\ntarget_registries: [{{host: d.org, create_repo: true}}]\n{}",
                "releases:\n  - {name: a, containers: [x]}\n"
            ),
            vec!["target_registries[0]: create_repo is true but no token_env or token_file"],
        ),
        (
            format!(
                "source_registry: {{host: s.org}}\ntarget_registries: [{{host: d.org, bogus: 1}}]\n{}",
                "releases:\n  - {name: a, containers: [x]}\n"
            ),
            vec!["target_registries[0].bogus: unknown field `bogus`"],
        ),
        (
            format!("{BASE}releases:\n  - name: a\n    target_registries: [{{host: 'bad host'}}]\n    containers: [x]\n"),
            vec!["releases[0].target_registries[0].host:"],
        ),
        (
            format!("zuul_api: ftp://zuul.example.org/\n{}", one("")),
            vec!["test.yaml: zuul_api: ", "http(s)://"],
        ),
        (
            format!("{BASE}releases:\n  - {{name: a, containers_source: given}}\n"),
            vec!["releases[0].containers_source: is given but the entry has no containers"],
        ),
        (
            one("    hash_source: dlrn\n"),
            vec!["releases[0].hash_source: is dlrn but neither"],
        ),
        (
            one("    tripleo_common_commit: master\n"),
            vec!["releases[0].tripleo_common_commit: "],
        ),
        (
            "pull_registry: quay.rdoproject.org\nentries:\n  - {name: a, tag: current-tripleo}\n".into(),
            vec!["test.yaml: entries[0].tag: unknown field `tag`"],
        ),
        (
            "zuul_api: https://z.example.org/api/\npull_registry: q\npush_registry: p\nentries: {a: 1}\n"
                .into(),
            vec!["test.yaml: entries: invalid type: map, expected a sequence"],
        ),
    ];
    for (yaml, wants) in &cases {
        let e = match parse(yaml) {
            Ok(_) => panic!("accepted:\n{yaml}"),
            Err(e) => e.to_string(),
        };
        assert!(e.starts_with("test.yaml: "), "{yaml}\n→ {e}");
        for w in wants {
            assert!(e.contains(w), "{yaml}\n→ {e}\nwanted: {w}");
        }
    }
    let e = config::load(Path::new("/nonexistent/releases.yaml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("/nonexistent/releases.yaml: cannot read it"), "{e}");
}

#[test]
fn secrets_are_not_repeated() {
    let y = "source_registry: {host: s.org, username: u, password: [hunter2-secret]}\n\
         target_registries: [{host: d.org}]\nreleases:\n  - {name: a, containers: [x]}\n";
    let e = parse(y).unwrap_err().to_string();
    assert!(
        e.contains("source_registry.password") && !e.contains("hunter2"),
        "{e}"
    );
    let y = "source_registry: {host: s.org}\ntarget_registries: [{host: d.org, create_repo: true, token: {t: tok-secret-99}}]\nreleases:\n  - {name: a, containers: [x]}\n";
    let e = parse(y).unwrap_err().to_string();
    assert!(
        e.contains("target_registries[0].token") && !e.contains("tok-secret-99"),
        "{e}"
    );
}

// ---------------------------------------------------------------------------------------------
// Resolution against local servers

/// A fake Zuul + DLRN + opendev on one server.
struct Services {
    f: FakeHttp,
}

impl Services {
    fn start() -> Services {
        Services {
            f: FakeHttp::start().unwrap(),
        }
    }

    fn url(&self) -> String {
        self.f.url()
    }

    /// builds.json with every log_url on this server; `log` under the SUCCESS build's folder.
    fn zuul(&self, job: &str, log: Option<&str>) {
        let mut v: serde_json::Value = serde_json::from_str(BUILDS).unwrap();
        for b in v.as_array_mut().unwrap() {
            let uuid = b["uuid"].as_str().unwrap()[..7].to_string();
            b["log_url"] = serde_json::Value::String(format!("{}/logs/{uuid}/", self.url()));
        }
        self.f
            .set(&format!("/zuul/api/builds?job_name={job}"), Route::json(&v));
        if let Some(l) = log {
            self.f.set(
                &format!("{LOG_DIR}logs/containers-successfully-built.log"),
                Route::text(l),
            );
        }
    }

    /// DLRN's promotions answer with the hash's repo_url on this server, its versions.csv, and
    /// tripleo-common + tripleo-ci files.
    fn dlrn_and_opendev(&self) {
        let mut v: serde_json::Value = serde_json::from_str(PROMOTIONS).unwrap();
        v[0]["repo_url"] = serde_json::Value::String(format!("{}/trunk/d7/c3/{AGG}", self.url()));
        self.f.set(
            "/dlrn/api/promotions?promote_name=current-tripleo&limit=1",
            Route::json(&v),
        );
        self.f
            .set(&format!("/trunk/d7/c3/{AGG}/versions.csv"), Route::text(VERSIONS));
        self.f.set(
            &format!("/opendev/tripleo-common/raw/commit/{TC_SHA}/container-images/tripleo_containers.yaml"),
            Route::text(CONTAINERS),
        );
        self.f
            .set("/opendev/tripleo-ci/vars/main.yaml", Route::text(EXCLUDES));
    }

    fn globals(&self) -> String {
        format!(
            "zuul_api: {u}/zuul/api/\ndlrn_api: {u}/dlrn\ntripleo_common_url: {u}/opendev/tripleo-common\n\
             excludes_yaml: {u}/opendev/tripleo-ci/vars/main.yaml\n\
             source_registry: {{host: src.example.org, namespace: ns}}\n\
             target_registries: [{{host: dst.example.org, namespace: ns}}]\n",
            u = self.url()
        )
    }

    fn paths(&self) -> Vec<String> {
        self.f
            .requests()
            .iter()
            .map(|r| match &r.query {
                Some(q) => format!("{}?{q}", r.path),
                None => r.path.clone(),
            })
            .collect()
    }
}

async fn resolve(
    c: &ReleasesConfig,
    name: &str,
    ov: &Overrides,
) -> copy_containers::Result<config::ResolvedRelease> {
    let (i, _) = c.entry(name).unwrap();
    config::resolve_release(c, i, ov, &fetcher()).await
}

#[tokio::test]
async fn list_and_hash_from_the_latest_build() {
    let s = Services::start();
    s.zuul(JOB, Some(PODMAN_LOG));
    s.dlrn_and_opendev();
    let c = releases(&format!(
        "{}releases:\n  - {{name: m, job_name: {JOB}}}\n",
        s.globals()
    ));
    let r = resolve(&c, "m", &Overrides::default()).await.unwrap();
    assert_eq!(r.containers.len(), PODMAN_LOG.lines().count());
    assert_eq!(r.containers[0], "aodh-api");
    assert_eq!(r.full_hash, AGG);
    assert!(matches!(r.hash_from, HashOrigin::BuildLog { .. }));
    match &r.list_from {
        ListOrigin::Zuul {
            build_uuid, log_file, ..
        } => {
            assert_eq!(build_uuid.as_deref(), Some("737b6ed79182c3c8e288b16437d02410"));
            assert!(log_file.ends_with("containers-successfully-built.log"));
        }
        o => panic!("{o:?}"),
    }
    assert_eq!(r.args.full_hash.as_deref(), Some(AGG));
    assert!(r.args.containers_list_file.is_none());
    // No DLRN query was needed.
    assert_eq!(
        s.paths(),
        [
            format!("/zuul/api/builds?job_name={JOB}"),
            format!("{LOG_DIR}logs/containers-successfully-built.log")
        ]
    );
    // The promotion model accepts it.
    let p = r
        .args
        .resolve(copy_containers::promote::model::read_list_file)
        .unwrap();
    assert_eq!(p.full_hash, AGG);
    assert_eq!(p.source.namespace, "ns");

    // A forced hash wins, and the disagreement is reported.
    let forced = "360d335e94246d7095672c5aa92b59afa380a059_9e598812";
    let r = resolve(
        &c,
        "m",
        &Overrides {
            full_hash: Some(forced.into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(r.full_hash, forced);
    assert!(matches!(r.hash_from, HashOrigin::Forced));
    assert!(
        r.warnings.iter().any(|w| w.contains(AGG) && w.contains(forced)),
        "{:?}",
        r.warnings
    );

    // hash_source: dlrn asks DLRN instead.
    let c = releases(&format!(
        "{}releases:\n  - {{name: m, job_name: {JOB}, hash_source: dlrn}}\n",
        s.globals()
    ));
    let r = resolve(&c, "m", &Overrides::default()).await.unwrap();
    assert!(matches!(r.hash_from, HashOrigin::Dlrn { .. }));
    assert_eq!(r.full_hash, AGG);
}

#[tokio::test]
async fn each_log_file_in_turn_then_none() {
    for (i, file) in copy_containers::sources::zuul::LOG_CANDIDATES.iter().enumerate() {
        let s = Services::start();
        s.zuul(JOB, None);
        let body = if file.ends_with(".txt") {
            include_str!("fixtures/zuul/job-output.txt")
        } else {
            PODMAN_LOG
        };
        s.f.set(&format!("{LOG_DIR}{file}"), Route::text(body));
        let c = releases(&format!(
            "{}releases:\n  - {{name: m, job_name: {JOB}, containers_source: zuul}}\n",
            s.globals()
        ));
        let r = resolve(&c, "m", &Overrides::default()).await.unwrap();
        match &r.list_from {
            ListOrigin::Zuul { log_file, .. } => assert!(log_file.ends_with(file), "{log_file}"),
            o => panic!("{o:?}"),
        }
        assert_eq!(s.paths().len(), 2 + i, "404s before {file}");
        if file.ends_with(".txt") {
            assert!(
                r.warnings.iter().any(|w| w.contains("aodh-listener")),
                "{:?}",
                r.warnings
            );
        }
    }
    // Every log missing: the error names the file, the release and every log tried.
    let s = Services::start();
    s.zuul(JOB, None);
    let c = releases(&format!(
        "{}releases:\n  - {{name: m, job_name: {JOB}, containers_source: zuul}}\n",
        s.globals()
    ));
    let e = resolve(&c, "m", &Overrides::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("test.yaml: releases[0] (m): "), "{e}");
    for f in copy_containers::sources::zuul::LOG_CANDIDATES {
        assert!(e.contains(f), "{e}");
    }
}

#[tokio::test]
async fn zuul_failures_are_clear() {
    for (body, want) in [
        (
            r#"[{"result":"FAILURE","log_url":"http://x/1/"},{"result":null}]"#,
            "no build with result SUCCESS",
        ),
        ("[{", "not valid JSON"),
        (r#"{"message":"tenant not found"}"#, "expected a JSON array"),
    ] {
        let s = Services::start();
        s.f.set(
            &format!("/zuul/api/builds?job_name={JOB}"),
            Route::new(200, "application/json", body),
        );
        let c = releases(&format!(
            "{}releases:\n  - {{name: m, job_name: {JOB}, containers_source: zuul}}\n",
            s.globals()
        ));
        let e = resolve(&c, "m", &Overrides::default())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("test.yaml: releases[0] (m)") && e.contains(want) && e.contains("/zuul/api/builds"),
            "{e}"
        );
    }
    // Zuul's API itself missing (404).
    let s = Services::start();
    let c = releases(&format!(
        "{}releases:\n  - {{name: m, job_name: {JOB}, containers_source: zuul}}\n",
        s.globals()
    ));
    let e = resolve(&c, "m", &Overrides::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("not found") && e.contains("builds"), "{e}");
}

/// A Zuul that cannot be reached is a network failure, not invalid input: the error keeps its kind
/// through the file's and the entry's context (and so the exit status and the reports say so), also
/// when the build is asked for again and when every list source failed.
#[tokio::test]
async fn an_unreachable_zuul_keeps_its_kind() {
    use copy_containers::error::Kind;
    let text = format!(
        "zuul_api: http://127.0.0.1:9/zuul/api/\ndlrn_api: http://127.0.0.1:9/dlrn\n\
         source_registry: {{host: src.example.org, namespace: ns}}\n\
         target_registries: [{{host: dst.example.org, namespace: ns}}]\n\
         releases:\n  - {{name: m, job_name: {JOB}, containers_source: zuul}}\n  - {{name: a, job_name: {JOB}}}\n"
    );
    let c = releases(&text);
    for name in ["m", "a"] {
        let e = resolve(&c, name, &Overrides::default()).await.unwrap_err();
        assert_eq!(Kind::of(&e), Kind::Unreachable, "{name}: {e}");
        assert!(e.to_string().starts_with("test.yaml: releases["), "{e}");
        assert_eq!(Kind::of(&e).exit_status(), 1);
    }
}

#[tokio::test]
async fn tripleo_common_through_dlrn_and_versions_csv() {
    let s = Services::start();
    s.dlrn_and_opendev();
    let c = releases(&format!("{}releases:\n  - {{name: m}}\n", s.globals()));
    let r = resolve(&c, "m", &Overrides::default()).await.unwrap();
    assert_eq!(r.full_hash, AGG);
    assert!(matches!(r.hash_from, HashOrigin::Dlrn { .. }));
    assert_eq!(r.containers.len(), 85);
    assert!(!r.containers.contains(&"neutron-mlnx-agent".to_string()));
    assert!(!r.containers.contains(&"tripleo-ansible-ee".to_string()));
    assert_eq!(r.ppc_containers.as_ref().unwrap().len(), 85);
    match &r.list_from {
        ListOrigin::TripleoCommon {
            commit,
            versions_csv,
            listed,
            excludes,
            without_prefix,
            promoter_ppc_containers,
            ..
        } => {
            assert_eq!(without_prefix, &["tripleo-ansible-ee"]);
            // master/centos9 has no ppc excludes: the promoter would pass an empty ppc list.
            assert!(promoter_ppc_containers.is_empty());
            assert_eq!(commit.as_deref(), Some(TC_SHA));
            assert!(versions_csv
                .as_deref()
                .unwrap()
                .ends_with(&format!("/trunk/d7/c3/{AGG}/versions.csv")));
            assert_eq!(*listed, 86);
            assert!(excludes.as_deref().unwrap().ends_with("/vars/main.yaml"));
        }
        o => panic!("{o:?}"),
    }
    assert_eq!(
        s.paths(),
        [
            "/dlrn/api/promotions?promote_name=current-tripleo&limit=1".to_string(),
            format!("/trunk/d7/c3/{AGG}/versions.csv"),
            format!("/opendev/tripleo-common/raw/commit/{TC_SHA}/container-images/tripleo_containers.yaml"),
            "/opendev/tripleo-ci/vars/main.yaml".to_string(),
        ]
    );

    // A forced hash finds its versions.csv under dlrn_repo_url.
    let c = releases(&format!(
        "{}dlrn_repo_url: {}/trunk\nreleases:\n  - {{name: m, full_hash: {AGG}, distro_version: 8}}\n",
        s.globals(),
        s.url()
    ));
    let r = resolve(&c, "m", &Overrides::default()).await.unwrap();
    assert!(matches!(r.hash_from, HashOrigin::Forced));
    // centos8 has ppc excludes on master.
    assert_eq!(r.ppc_containers.as_ref().unwrap().len(), 84);

    // Without dlrn_repo_url a forced hash cannot find tripleo-common's commit: say what to set.
    let c = releases(&format!(
        "{}releases:\n  - {{name: m, full_hash: {AGG}, containers_source: tripleo_common}}\n",
        s.globals()
    ));
    let e = resolve(&c, "m", &Overrides::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("dlrn_repo_url") && e.contains("tripleo_common_commit"),
        "{e}"
    );

    // Local files (relative to the config's folder) and a fixed commit work too; train is an old
    // release: its list is overcloud_containers.yaml, `centos-binary-` images.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tc.yaml"), OVERCLOUD_CONTAINERS).unwrap();
    std::fs::write(dir.path().join("ex.yaml"), EXCLUDES).unwrap();
    let y = format!(
        "source_registry: {{host: s.org, namespace: ns}}\ntarget_registries: [{{host: d.org, namespace: ns}}]\n\
         tripleo_containers_yaml: tc.yaml\nexcludes_yaml: ex.yaml\n\
         releases:\n  - {{name: m, full_hash: {AGG}, release: train, distro_version: 7}}\n"
    );
    let path = dir.path().join("releases.yaml");
    std::fs::write(&path, y).unwrap();
    let c = config::load_releases(&path).unwrap();
    let r = resolve(&c, "m", &Overrides::default()).await.unwrap();
    // 50 kolla images, minus train/centos7's 7 excludes.
    assert_eq!(r.containers.len(), 43);
    for gone in [
        "opendaylight",
        "sensu-client",
        "sahara-api",
        "daemon",
        "prometheus",
    ] {
        assert!(!r.containers.contains(&gone.to_string()), "{gone}");
    }
    assert!(r.containers.contains(&"nova-compute".to_string()));
    assert_eq!(r.args.container_name_prefix.as_deref(), Some("centos-binary"));
    let p = r
        .args
        .resolve(copy_containers::promote::model::read_list_file)
        .unwrap();
    assert_eq!(p.prefix, "centos-binary");
    // The same file read as a current release finds no openstack- images: a clear error.
    let y = std::fs::read_to_string(&path)
        .unwrap()
        .replace("release: train", "release: wallaby");
    std::fs::write(&path, y).unwrap();
    let c = config::load_releases(&path).unwrap();
    let e = resolve(&c, "m", &Overrides::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("*openstack-*") && e.contains("tc.yaml"), "{e}");
}

/// `releases` shows this project's ppc list (the one written to the list files) and the promoter's.
#[test]
fn releases_shows_both_ppc_lists() {
    let s = Services::start();
    s.dlrn_and_opendev();
    let dir = tempfile::tempdir().unwrap();
    // x86 excludes that are not ppc excludes: the promoter's ppc list keeps them.
    std::fs::write(
        dir.path().join("ex.yaml"),
        "exclude_containers: {master: {centos8: [neutron-mlnx-agent]}}\n\
         exclude_ppc_containers: {master: {centos8: [ironic-pxe]}}\n",
    )
    .unwrap();
    let y = format!(
        "{}releases:\n  - {{name: m9}}\n  - {{name: w8, release: wallaby, distro_version: 8}}\n\
         \x20 - {{name: x8, distro_version: 8, excludes_yaml: ex.yaml}}\n",
        s.globals()
    );
    let path = dir.path().join("releases.yaml");
    std::fs::write(&path, y).unwrap();
    let (code, so, se) = run(&["releases", "--config", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{so}\n{se}");
    // An entry's header line, then its indented lines.
    let section = |name: &str| {
        let mut lines = so.lines().skip_while(|l| !l.starts_with(&format!("{name}: ")));
        let head = lines.next().unwrap_or_else(|| panic!("{so}"));
        let body: Vec<&str> = lines.take_while(|l| l.starts_with(' ')).collect();
        format!("{head}\n{}", body.join("\n"))
    };
    let m9 = section("m9");
    assert!(m9.contains("list: 85 containers (85 with ppc64le)"), "{m9}");
    assert!(m9.contains("excludes: exclude_containers.master.centos9"), "{m9}");
    assert!(
        m9.contains("left out (no prefix, as the promoter does): tripleo-ansible-ee"),
        "{m9}"
    );
    assert!(
        m9.contains("ppc64le list: 85 (containers_list minus the ppc excludes; written to the list files)"),
        "{m9}"
    );
    assert!(
        m9.contains("promoter's ppc64le list: 0 (empty: this release has no ppc excludes)"),
        "{m9}"
    );
    // wallaby has no ppc excludes of its own: master's apply here, the promoter has none.
    let w8 = section("w8");
    assert!(w8.contains("ppc64le list: 84 "), "{w8}");
    assert!(w8.contains("promoter's ppc64le list: 0 "), "{w8}");
    let x8 = section("x8");
    assert!(x8.contains("ppc64le list: 84 "), "{x8}");
    assert!(
        x8.contains("promoter's ppc64le list: 85 (the full list minus the ppc excludes)"),
        "{x8}"
    );
    assert!(x8.contains("only in the promoter's: neutron-mlnx-agent"), "{x8}");
    // The JSON carries both lists too.
    let (code, so, _) = run(&["releases", "--config", path.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&so).unwrap();
    let x8 = &v[2]["resolution"];
    assert_eq!(x8["ppc_containers"].as_array().unwrap().len(), 84);
    let promoter = x8["list_from"]["promoter_ppc_containers"].as_array().unwrap();
    assert_eq!(promoter.len(), 85);
    assert!(promoter.contains(&serde_json::json!("neutron-mlnx-agent")));
}

/// Zuul and DLRN unreachable (a closed loopback port), as when `releases --config` runs offline: each
/// source is one INFO line when it is tried again and one WARN when it fails, and every line and the
/// final error say each URL once (reqwest's "error sending request for url (…)" repeats it).
#[test]
fn unreachable_services_say_each_url_once() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let u = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("releases.yaml");
    std::fs::write(
        &path,
        format!(
            "zuul_api: {u}/zuul/api/\ndlrn_api: {u}/dlrn\ntripleo_common_url: {u}/opendev/tripleo-common\n\
             excludes_yaml: {u}/opendev/tripleo-ci/vars/main.yaml\n\
             source_registry: {{host: src.example.org, namespace: ns}}\n\
             target_registries: [{{host: dst.example.org, namespace: ns}}]\n\
             releases:\n  - {{name: m, job_name: {JOB}}}\n"
        ),
    )
    .unwrap();
    let (code, so, se) = run(&["releases", "--config", path.to_str().unwrap()]);
    assert_ne!(code, 0, "{so}\n{se}");
    let all = format!("{so}{se}");
    for line in all.lines() {
        assert!(
            line.matches(&u).count() <= 1 || line.contains("error:"),
            "a URL said twice in: {line}"
        );
        assert!(!line.contains("error sending request"), "{line}");
    }
    // The entry's error names both sources, each URL once.
    let err = all
        .lines()
        .find(|l| l.contains("error:"))
        .unwrap_or_else(|| panic!("{all}"));
    assert!(err.contains("zuul") && err.contains("tripleo_common"), "{err}");
    assert_eq!(err.matches("/zuul/api/builds").count(), 1, "{err}");
    let logs: Vec<&str> = se
        .lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" INFO "))
        .collect();
    assert!(
        logs.iter().filter(|l| l.contains("trying again")).count() == 2,
        "one line per source tried again: {se}"
    );
    assert!(logs.len() <= 4, "{} log lines: {se}", logs.len());
}

#[tokio::test]
async fn fallback_from_zuul_to_tripleo_common() {
    let s = Services::start();
    s.dlrn_and_opendev();
    s.f.set(
        &format!("/zuul/api/builds?job_name={JOB}"),
        Route::json(&serde_json::json!([{"result": "FAILURE", "log_url": "http://x/"}])),
    );
    let c = releases(&format!(
        "{}releases:\n  - {{name: m, job_name: {JOB}}}\n",
        s.globals()
    ));
    let r = resolve(&c, "m", &Overrides::default()).await.unwrap();
    assert!(matches!(r.list_from, ListOrigin::TripleoCommon { .. }));
    assert!(matches!(r.hash_from, HashOrigin::Dlrn { .. }));
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("zuul") && w.contains("no build with result SUCCESS")),
        "{:?}",
        r.warnings
    );

    // Everything failing: every attempt is listed.
    let s2 = Services::start();
    s2.f.set(
        &format!("/zuul/api/builds?job_name={JOB}"),
        Route::json(&serde_json::json!([])),
    );
    let c = releases(&format!(
        "{}releases:\n  - {{name: m, job_name: {JOB}}}\n",
        s2.globals()
    ));
    let e = resolve(&c, "m", &Overrides::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no container list") && e.contains("zuul: ") && e.contains("tripleo_common: "),
        "{e}"
    );
}

#[tokio::test]
async fn given_lists_and_empty_lists() {
    let s = Services::start();
    s.dlrn_and_opendev();
    // The promoter's extra-vars file, relative to the config's folder; hash from DLRN.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture("promoter/extra-vars.yaml"), dir.path().join("vars.yaml")).unwrap();
    let path = dir.path().join("r.yaml");
    std::fs::write(
        &path,
        format!(
            "{}releases:\n  - {{name: m, containers_list_file: vars.yaml}}\n",
            s.globals()
        ),
    )
    .unwrap();
    let c = config::load_releases(&path).unwrap();
    let r = resolve(&c, "m", &Overrides::default()).await.unwrap();
    assert!(matches!(r.list_from, ListOrigin::Given { file: Some(_) }));
    assert!(!r.containers.is_empty());
    assert!(matches!(r.hash_from, HashOrigin::Dlrn { .. }));

    // Flags override the entry: --containers.
    let r = resolve(
        &c,
        "m",
        &Overrides {
            args: copy_containers::promote::PromoteArgs {
                containers: Some(vec!["cron".into()]),
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(r.containers, ["cron"]);

    // An empty given list is an error.
    let c = releases(&format!(
        "{}releases:\n  - {{name: m, containers: [], containers_source: given, full_hash: {AGG}}}\n",
        s.globals()
    ));
    let e = resolve(&c, "m", &Overrides::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("releases[0] (m)") && e.contains("empty"), "{e}");

    // Everything excluded is an error.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("tc.yaml"),
        "container_images:\n- {image_source: tripleo, imagename: 'q/ns/openstack-cron:t'}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("ex.yaml"),
        "exclude_containers:\n  master:\n    centos9: [cron]\n",
    )
    .unwrap();
    let path = dir.path().join("r.yaml");
    std::fs::write(
        &path,
        format!(
            "source_registry: {{host: s.org, namespace: ns}}\ntarget_registries: [{{host: d.org}}]\n\
             tripleo_containers_yaml: tc.yaml\nexcludes_yaml: ex.yaml\n\
             releases:\n  - {{name: m, full_hash: {AGG}, containers_source: tripleo_common}}\n"
        ),
    )
    .unwrap();
    let c = config::load_releases(&path).unwrap();
    let e = resolve(&c, "m", &Overrides::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("nothing left after the excludes"), "{e}");

    // No way to find a hash.
    let c = releases(&one("").replace(&format!("    full_hash: {AGG}\n"), ""));
    let e = resolve(&c, "a", &Overrides::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("no way to find the hash"), "{e}");
}

#[tokio::test]
async fn dlrn_failures_are_clear() {
    for (status, body, want) in [
        (200, "[", "not valid JSON"),
        (200, "[]", "empty list"),
        (404, "", "not found"),
        (200, r#"[{"aggregate_hash": "D7C3"}]"#, "aggregate_hash"),
    ] {
        let s = Services::start();
        s.f.set(
            "/dlrn/api/promotions?promote_name=current-tripleo&limit=1",
            Route::new(status, "application/json", body),
        );
        let c = releases(&format!(
            "{}releases:\n  - {{name: m, containers: [cron]}}\n",
            s.globals()
        ));
        let e = resolve(&c, "m", &Overrides::default())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("releases[0] (m)") && e.contains(want) && e.contains("/dlrn/"),
            "{e}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// End to end: the binary, a config file, fake Zuul/DLRN/Quay, real registries.

const QUAY_TOKEN: &str = "e2e-quay-token-5c1d0b";

fn podman_log(ns: &str, names: &[&str]) -> String {
    names
        .iter()
        .map(|n| {
            format!("quay.rdoproject.org/{ns}/openstack-{n}   {AGG}   97b73ceb3ffd  3 hours ago  1157 MB\n")
        })
        .collect()
}

async fn stage_ns(reg: &tk::Registry, ns: &str, names: &[&str]) {
    let opts = copy_containers::stage::StageOptions {
        namespace: ns.into(),
        names: names.iter().map(|s| s.to_string()).collect(),
        base_layers: 1,
        base_layer_size: 16 << 10,
        unique_layer_size: 4 << 10,
        ..Default::default()
    };
    copy_containers::stage::stage(&client(reg), &opts)
        .await
        .expect("stage");
}

struct E2e {
    src: tk::Registry,
    dst: tk::Registry,
    services: Services,
    dir: tempfile::TempDir,
}

impl E2e {
    async fn start() -> E2e {
        let src = tk::Registry::plain().unwrap();
        let dst = tk::Registry::plain().unwrap();
        stage_ns(&src, "nsa", &["base", "nova-compute", "aodh-api"]).await;
        stage_ns(&src, "nsb", &["base", "cron"]).await;
        let services = Services::start();
        services.zuul(
            JOB,
            Some(&podman_log("nsa", &["nova-compute", "aodh-api", "base"])),
        );
        services.dlrn_and_opendev();
        // Quay: openstack-base exists, creations answer 201.
        services.f.set(
            "/api/v1/repository?namespace=nsb&public=true",
            Route::json(
                &serde_json::json!({"repositories": [{"namespace": "nsb", "name": "openstack-base"}]}),
            ),
        );
        services.f.set(
            "/api/v1/repository",
            Route::new(
                201,
                "application/json",
                r#"{"namespace": "nsb", "name": "x", "kind": "image"}"#,
            ),
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("tc.yaml"),
            "container_images:\n\
             - {image_source: tripleo, imagename: 'quay.io/tripleomaster/openstack-cron:current-tripleo'}\n\
             - {image_source: kolla, imagename: 'quay.io/tripleomaster/openstack-heat-api:current-tripleo'}\n\
             - {image_source: prom, imagename: 'quay.io/prometheus/pushgateway:v1.4.2'}\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("excludes.yaml"),
            "exclude_containers:\n  master:\n    centos9: [heat-api]\n",
        )
        .unwrap();
        E2e {
            src,
            dst,
            services,
            dir,
        }
    }

    fn write_config(&self, name: &str, releases: &str) -> PathBuf {
        let u = self.services.url();
        let text = format!(
            "zuul_api: {u}/zuul/api/\ndlrn_api: {u}/dlrn\n\
             tripleo_containers_yaml: tc.yaml\nexcludes_yaml: excludes.yaml\n\
             source_registry: {{host: {src}, insecure: true}}\n\
             target_registries: [{{host: {dst}, insecure: true}}]\n\
             tmp_file_root: {tmp}\nreport_json: {tmp}/{{name}}.json\nreport_html: {tmp}/{{name}}.html\n\
             retries: 2\nkeep_local: on_failure\nreleases:\n{releases}",
            src = self.src.host(),
            dst = self.dst.host(),
            tmp = self.dir.path().join("logs").display(),
        );
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn entry_a(&self) -> String {
        format!("  - {{name: master, job_name: {JOB}, from_namespace: nsa, to_namespace: nsa}}\n")
    }

    fn entry_b(&self) -> String {
        format!(
            "  - name: tc\n    containers_source: tripleo_common\n    from_namespace: nsb\n    to_namespace: nsb\n    \
             target_registries:\n      - {{host: {dst}, insecure: true, create_repo: true, token_env: CC_E2E_QUAY_TOKEN, \
             quay_api: '{u}/api/v1/'}}\n",
            dst = self.dst.host(),
            u = self.services.url()
        )
    }

    fn same_digest(&self, repo_tag: &str) {
        let a = tk::skopeo_inspect_digest(&self.src, repo_tag).unwrap();
        let b = tk::skopeo_inspect_digest(&self.dst, repo_tag)
            .unwrap_or_else(|e| panic!("{repo_tag} at the target: {e}"));
        assert_eq!(a, b, "{repo_tag}");
    }
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = bin()
        .args(args)
        .env("CC_E2E_QUAY_TOKEN", QUAY_TOKEN)
        .output()
        .expect("run the binary");
    let so = String::from_utf8_lossy(&out.stdout).into_owned();
    let se = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !so.contains(QUAY_TOKEN) && !se.contains(QUAY_TOKEN),
        "token leaked"
    );
    (out.status.code().unwrap_or(-1), so, se)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_one_release_then_all() {
    let e = E2e::start().await;
    let cfg = e.write_config("releases.yaml", &(e.entry_a() + &e.entry_b()));
    let cfg_s = cfg.to_str().unwrap();

    // --push-hash: the targets get that tag instead of the hash (the source is read at the hash).
    let (code, so, se) = run(&[
        "promote",
        "--config",
        cfg_s,
        "--release",
        "master",
        "--push-hash",
        "pushed-tag",
    ]);
    assert_eq!(code, 0, "{so}\n{se}");
    let tags = tk::skopeo_list_tags(&e.dst, "nsa/openstack-base").unwrap();
    assert!(tags.contains(&"pushed-tag".to_string()), "{tags:?}");
    assert!(!tags.contains(&AGG.to_string()), "{tags:?}");

    // One release: the list and the hash from the latest build job.
    let (code, so, se) = run(&["promote", "--config", cfg_s, "--release", "master"]);
    assert_eq!(code, 0, "{so}\n{se}");
    assert!(so.contains("== release master: OK"), "{so}");
    assert!(so.contains("list: 3 containers from zuul"), "{so}");
    assert!(so.contains(&format!("hash: {AGG} (build log")), "{so}");
    for n in ["base", "nova-compute", "aodh-api"] {
        e.same_digest(&format!("nsa/openstack-{n}:{AGG}"));
        e.same_digest(&format!("nsa/openstack-{n}:current-tripleo"));
    }
    assert!(e.dir.path().join("logs/master.json").is_file());
    // Quay was not involved for this entry.
    assert!(e.services.f.requests_to("/api/v1/repository").is_empty());

    // All releases, as JSON: the second one from tripleo-common + DLRN, Quay repositories first.
    let (code, so, se) = run(&["promote", "--config", cfg_s, "--release", "all", "--json"]);
    assert_eq!(code, 0, "{so}\n{se}");
    let v: serde_json::Value = serde_json::from_str(&so).unwrap();
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 2);
    assert!(arr.iter().all(|o| o["ok"] == true), "{so}");
    assert_eq!(arr[1]["resolution"]["list_from"]["source"], "tripleo_common");
    assert_eq!(arr[1]["resolution"]["hash_from"]["source"], "dlrn");
    assert_eq!(arr[1]["resolution"]["keep_local"], "on_failure");
    assert_eq!(
        arr[1]["quay"][0]["created"],
        serde_json::json!(["openstack-cron"])
    );
    assert_eq!(
        arr[1]["quay"][0]["existing"],
        serde_json::json!(["openstack-base"])
    );
    assert_eq!(arr[0]["report"]["ok"], true);
    for n in ["base", "cron"] {
        e.same_digest(&format!("nsb/openstack-{n}:{AGG}"));
        e.same_digest(&format!("nsb/openstack-{n}:current-tripleo"));
    }
    let posts: Vec<_> = e
        .services
        .f
        .requests_to("/api/v1/repository")
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(posts.len(), 1);
    assert_eq!(
        posts[0].header("authorization"),
        Some(format!("Bearer {QUAY_TOKEN}").as_str())
    );
    let body: serde_json::Value = serde_json::from_slice(&posts[0].body).unwrap();
    assert_eq!(body["repository"], "openstack-cron");
    assert_eq!(body["visibility"], "public");

    // verify --release all agrees.
    let (code, so, se) = run(&["verify", "--config", cfg_s, "--release", "all"]);
    assert_eq!(code, 0, "{so}\n{se}");
    assert!(so.contains("releases: 2 ok, 0 failed"), "{so}");

    // `releases`: where each list and hash come from.
    let (code, so, se) = run(&["releases", "--config", cfg_s, "--json"]);
    assert_eq!(code, 0, "{so}\n{se}");
    let v: serde_json::Value = serde_json::from_str(&so).unwrap();
    assert_eq!(v[0]["resolution"]["list_from"]["source"], "zuul");
    assert_eq!(v[0]["resolution"]["hash_from"]["source"], "build_log");
    assert_eq!(
        v[0]["plan"]["list"][0],
        serde_json::json!({"source": "zuul", "job": JOB})
    );
    // Without fetching, the JSON is the plan as fields, not prose.
    let (code, so, se) = run(&["releases", "--config", cfg_s, "--no-fetch", "--json"]);
    assert_eq!(code, 0, "{so}\n{se}");
    let v: serde_json::Value = serde_json::from_str(&so).unwrap();
    let plan = &v[0]["plan"];
    assert_eq!(plan["release"], "master");
    assert_eq!(plan["distro"], "centos9");
    assert!(plan["source"].as_str().unwrap().contains('/'), "{plan}");
    assert!(plan["targets"].is_array(), "{plan}");
    assert!(v[0].get("resolution").is_none(), "{}", v[0]);
    let hash_sources: Vec<&str> = plan["hash"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["source"].as_str().unwrap())
        .collect();
    assert_eq!(hash_sources, ["build_log", "dlrn"], "{plan}");
    assert!(
        plan["hash"][1]["api"].as_str().unwrap().starts_with("http"),
        "{plan}"
    );
    let (code, so, _) = run(&["releases", "--config", cfg_s, "--no-fetch"]);
    assert_eq!(code, 0);
    assert!(
        so.contains("master: master centos9") && so.contains("list from: zuul"),
        "{so}"
    );
    assert!(so.contains("tc: ") && so.contains("hash from: DLRN"), "{so}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_reports_each_and_fails_when_one_fails() {
    let e = E2e::start().await;
    e.services.f.set(
        "/zuul/api/builds?job_name=periodic-broken",
        Route::json(&serde_json::json!([{"result": "FAILURE", "log_url": "http://x/"}])),
    );
    let broken = "  - {name: broken, job_name: periodic-broken, containers_source: zuul, from_namespace: nsa, to_namespace: nsc}\n";
    let cfg = e.write_config("releases.yaml", &(broken.to_string() + &e.entry_a()));
    let cfg_s = cfg.to_str().unwrap();
    let (code, so, se) = run(&["promote", "--config", cfg_s, "--release", "all"]);
    assert_eq!(code, 1, "{so}\n{se}");
    assert!(so.contains("== release broken: FAILED"), "{so}");
    assert!(
        so.contains("no build with result SUCCESS") && so.contains("releases[0] (broken)"),
        "{so}"
    );
    assert!(so.contains("== release master: OK"), "{so}");
    assert!(so.contains("releases: 1 ok, 1 failed (broken)"), "{so}");
    e.same_digest(&format!("nsa/openstack-nova-compute:{AGG}"));

    // Missing images at the source fail that release with the promotion's own message.
    let cfg = e.write_config(
        "missing.yaml",
        &format!("  - {{name: m, containers: [base, not-there], full_hash: {AGG}, from_namespace: nsa, to_namespace: nsa}}\n"),
    );
    let (code, so, _) = run(&["promote", "--config", cfg.to_str().unwrap(), "--release", "m"]);
    assert_eq!(code, 1);
    assert!(so.contains("not-there") && so.contains("missing"), "{so}");

    // Unknown release; a releases file without --release.
    let (code, so, se) = run(&["promote", "--config", cfg_s, "--release", "nope"]);
    assert_ne!(code, 0, "{so}");
    assert!(
        se.contains("releases.yaml")
            && se.contains("no release named \"nope\"")
            && se.contains("broken, master"),
        "{se}"
    );
    let (code, _, se) = run(&["promote", "--config", cfg_s]);
    assert_ne!(code, 0);
    assert!(se.contains("give --release NAME or --release all"), "{se}");

    // A broken file: the key is named.
    let bad = e.dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        format!(
            "{}  - {{name: x, containers: [a], colour: blue}}\n",
            "releases:\n"
        ),
    )
    .unwrap();
    let (code, _, se) = run(&["promote", "--config", bad.to_str().unwrap(), "--release", "x"]);
    assert_ne!(code, 0);
    assert!(
        se.contains("bad.yaml: releases[0].colour: unknown field `colour`"),
        "{se}"
    );

    // Plain promotion files still work through --config (the existing path).
    let plain = e.dir.path().join("plain.yaml");
    std::fs::write(
        &plain,
        format!(
            "full_hash: {AGG}\nnamed_label: current-tripleo\ncontainers_list: [base]\n\
             source_registry: {{host: {}, namespace: nsa, insecure: true}}\n\
             target_registries: [{{host: {}, namespace: nsp, insecure: true}}]\ntmp_file_root: {}\n",
            e.src.host(),
            e.dst.host(),
            e.dir.path().join("plain-logs").display()
        ),
    )
    .unwrap();
    let (code, so, se) = run(&[
        "promote",
        "--config",
        plain.to_str().unwrap(),
        "--release",
        "master",
    ]);
    assert_eq!(code, 0, "{so}\n{se}");
    let a = tk::skopeo_inspect_digest(&e.src, &format!("nsa/openstack-base:{AGG}")).unwrap();
    let b = tk::skopeo_inspect_digest(&e.dst, &format!("nsp/openstack-base:{AGG}")).unwrap();
    assert_eq!(a, b);
}

/// A releases file whose entries name no report: each run of an entry keeps its own pair, named by
/// action, entry, hash and time, beside a `latest` copy per entry, as a plain promotion's do (before:
/// one fixed `copy-containers-promote-<entry>.json` that every run overwrote).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn releases_runs_keep_their_own_reports() {
    let src = tk::Registry::plain().unwrap();
    let dst = tk::Registry::plain().unwrap();
    let staged = stage(&client(&src), &["base"], &[]).await;
    assert_eq!(staged.len(), 1);
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let cfg = dir.path().join("releases.yaml");
    std::fs::write(
        &cfg,
        format!(
            "source_registry: {{host: \"{}\", insecure: true}}\n\
             target_registries: [{{host: \"{}\", insecure: true}}]\n\
             tmp_file_root: {}\n\
             releases:\n\
             - {{name: mastercentos9, release: master, from_namespace: tripleomaster, \
                 to_namespace: tripleomaster, containers_list: [base]}}\n",
            src.host(),
            dst.host(),
            logs.display()
        ),
    )
    .unwrap();
    for _ in 0..2 {
        let out = bin()
            .args(["-q", "promote", "--config", cfg.to_str().unwrap()])
            .args(["--release", "mastercentos9", "--hash", AGG])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    let names: Vec<String> = std::fs::read_dir(&logs)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let runs = names
        .iter()
        .filter(|n| {
            n.starts_with(&format!("copy-containers-promote-mastercentos9-{AGG}-")) && n.ends_with(".json")
        })
        .count();
    assert_eq!(runs, 2, "{names:?}");
    let latest = logs.join("copy-containers-promote-mastercentos9-latest.json");
    assert!(latest.is_file(), "{names:?}");
}

/// A releases entry that cannot run as written (no namespace anywhere), or a `--hash` that is no
/// DLRN hash: nothing is attempted, and the exit status says the input is wrong (2), as for a plain
/// promotion's config errors; a run that fails stays 1.
#[test]
fn an_entry_that_cannot_run_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("releases.yaml");
    std::fs::write(
        &cfg,
        format!(
            "source_registry: {{host: \"127.0.0.1:9\", insecure: true}}\n\
             target_registries: [{{host: \"127.0.0.1:9\", insecure: true}}]\n\
             tmp_file_root: {}\n\
             releases:\n\
             - {{name: nons, release: master, containers_list: [base]}}\n\
             - {{name: ok, release: master, from_namespace: a, to_namespace: b, containers_list: [base], \
                 retries: 1}}\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();
    let code = |args: &[&str]| bin().args(args).output().unwrap().status.code();
    assert_eq!(
        code(&["promote", "--config", cfg, "--release", "nons", "--hash", AGG]),
        Some(2)
    );
    assert_eq!(
        code(&["promote", "--config", cfg, "--release", "ok", "--hash", "abc"]),
        Some(2)
    );
    // Nothing listens on port 9: a failed run.
    assert_eq!(
        code(&["promote", "--config", cfg, "--release", "ok", "--hash", AGG]),
        Some(1)
    );
    assert_eq!(
        code(&["promote", "--config", cfg, "--release", "all", "--hash", AGG]),
        Some(1)
    );
    // `releases` says so too, per entry, instead of listing `host/?` as fine.
    let out = bin()
        .args(["releases", "--no-fetch", "--config", cfg])
        .output()
        .unwrap();
    let so = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{so}");
    assert!(!so.contains("/?"), "{so}");
    assert!(
        so.contains("127.0.0.1:9 (no namespace)")
            && so.contains("error: the source registry has no namespace"),
        "{so}"
    );
    let out = bin()
        .args(["releases", "--no-fetch", "--json", "--config", cfg])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["ok"], false, "{v}");
    assert_eq!(v[0]["plan"]["cannot_run"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(v[1]["ok"], true, "{v}");
}
