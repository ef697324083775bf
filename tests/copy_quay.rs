//! `copy-quay`, the migration aid: ci-config's three cron lines (`ci-scripts/copy-containers/
//! copy-quay.sh`, `copy-rdo.sh`, `tag-quay.sh`) run as they are written, through bash, with only
//! `/usr/local/bin/copy-quay` changed to this tool (and the machine's paths and registry host names
//! mapped to the test's), against real registries: a TLS `docker-registry` as quay.rdoproject.org,
//! another behind the testkit's Quay (registry and API on one host) as quay.io, credentials in an
//! auth file as `podman login` leaves them, CAs in a certs.d folder; Zuul and DLRN are the testkit's
//! fake servers answering in their real formats. Success, a failed image, a missing build log and
//! an unreachable Zuul; and every entry of copy-quay's real config file.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use copy_containers::config::{self, ContainersSource, HashSource};
use copy_containers_testkit::{self as tk, FakeHttp, Route};

use common::client;

/// The lines of ci-config's cron scripts, as written there (copy-rdo.sh's inside its function).
const COPY_QUAY_SH: &str = "/usr/local/bin/copy-quay --config /root/copy-quay/config.yaml --token $TOKEN --release mastercentos9 --html /root/logs/master-centos9-report.html copy &>>/root/logs/mastercentos9.txt";
const TAG_QUAY_SH: &str = "/usr/local/bin/copy-quay --config /root/copy-quay/config.yaml --token \"$TOKEN\" --release mastercentos9 --html /root/logs/tag/master-centos9-report.html tag &>>/root/logs/tag/mastercentos9.txt";
const COPY_RDO_SH: &str = "/usr/local/bin/copy-quay --config /root/copy-quay/config.yaml --pull-registry quay.io --push-registry quay.rdoproject.org --token \"$TOKEN\" --push-hash \"$HASH\" --hash \"$HASH\" --release \"$2\" copy";

const BUILDS: &str = include_str!("fixtures/zuul/builds.json");
const PROMOTIONS: &str = include_str!("fixtures/dlrn/promotions.json");
const REAL_CONFIG: &str = "fixtures/copy-quay/config.yaml";

const AGG: &str = "d7c3cd922f91d83aacb5d7555de9d5bc";
const NS: &str = "tripleomastercentos9";
const JOB: &str = "periodic-tripleo-ci-build-containers-ubi-9-quay-push-master";
const TOKEN: &str = "quay-cron-token-91c2e7";
const NAMES: [&str; 3] = ["base", "nova-compute", "aodh-api"];

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join(rel)
}

/// Everything copy-quay's jobs talk to, on loopback.
struct World {
    /// quay.rdoproject.org: where the build jobs push.
    rdo: tk::Registry,
    /// quay.io: a registry and Quay's API on one host.
    quay_registry: tk::Registry,
    quay: tk::Quay,
    /// Zuul and DLRN.
    services: FakeHttp,
    dir: tempfile::TempDir,
}

impl World {
    async fn start() -> World {
        let rdo = tk::Registry::tls_htpasswd("rdo-bot", "rdo-secret-5521").unwrap();
        let quay_registry = tk::Registry::tls_htpasswd("quay-bot", "quay-secret-8830").unwrap();
        let quay = tk::Quay::start(&quay_registry, TOKEN).unwrap();
        stage(&rdo, &NAMES).await;
        let services = FakeHttp::start().unwrap();
        let dir = tempfile::tempdir().unwrap();
        for d in ["root/logs/tag", "certs.d"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        let w = World {
            rdo,
            quay_registry,
            quay,
            services,
            dir,
        };
        w.podman_login();
        w.zuul(JOB, Some(&podman_log(&NAMES)));
        w.services.set(
            "/api-centos9-master-uc/api/promotions?promote_name=current-tripleo&limit=1",
            Route::json(&serde_json::from_str(PROMOTIONS).unwrap()),
        );
        w.write_config("config.yaml", &w.services.url());
        w
    }

    /// What `podman login` leaves (an auth file) and where podman finds the registries' CAs.
    fn podman_login(&self) {
        let b64 = |u: &str, p: &str| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
        };
        let (ru, rp) = self.rdo.credentials().unwrap();
        let (qu, qp) = self.quay_registry.credentials().unwrap();
        let auth = serde_json::json!({"auths": {
            self.rdo.host(): {"auth": b64(&ru, &rp)},
            self.quay.host(): {"auth": b64(&qu, &qp)},
        }});
        std::fs::write(self.dir.path().join("auth.json"), auth.to_string()).unwrap();
        for (host, reg) in [
            (self.rdo.host(), &self.rdo),
            (self.quay.host(), &self.quay_registry),
        ] {
            let d = self.dir.path().join("certs.d").join(host);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::copy(reg.ca_pem_path().unwrap(), d.join("ca.crt")).unwrap();
        }
    }

    /// Zuul's builds of `job` (newest first, the latest SUCCESS second), `log` its build log.
    fn zuul(&self, job: &str, log: Option<&str>) {
        let mut v: serde_json::Value = serde_json::from_str(BUILDS).unwrap();
        for b in v.as_array_mut().unwrap() {
            let uuid = b["uuid"].as_str().unwrap()[..7].to_string();
            b["job_name"] = serde_json::json!(job);
            b["log_url"] = serde_json::json!(format!("{}/{job}/{uuid}/", self.services.url()));
        }
        let ok = v
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["result"] == "SUCCESS")
            .unwrap();
        let log_url = ok["log_url"].as_str().unwrap().replace(&self.services.url(), "");
        self.services
            .set(&format!("/zuul/api/builds?job_name={job}"), Route::json(&v));
        let at = format!("{log_url}logs/containers-successfully-built.log");
        match log {
            Some(l) => self.services.set(&at, Route::text(l)),
            None => self.services.remove(&at),
        }
    }

    /// copy-quay's config file in its real shape, for the test's hosts (and ours: `quay_api`).
    fn write_config(&self, name: &str, services: &str) -> PathBuf {
        let text = format!(
            "---\nzuul_api: \"{services}/zuul/api/\"\npull_registry: \"{rdo}\"\npush_registry: \"{quay}\"\n\
             quay_api: \"{api}\"\nentries:\n  - name: \"mastercentos9\"\n    release: \"mastercentos9\"\n    \
             job_name: \"{JOB}\"\n    api_entry: \"{services}/api-centos9-master-uc\"\n    \
             from_namespace: \"{NS}\"\n    to_namespace: \"{NS}\"\n",
            rdo = self.rdo.host(),
            quay = self.quay.host(),
            api = self.quay.api_url(),
        );
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// Run a cron line through bash as the script does, `/usr/local/bin/copy-quay` being this
    /// tool, the machine's paths the test's, and copy-rdo.sh's host names this world's.
    fn cron(&self, line: &str, config: &str, prelude: &str) -> (i32, String) {
        let bin = env!("CARGO_BIN_EXE_copy-containers");
        let line = line
            .replace("/usr/local/bin/copy-quay", &format!("{bin} copy-quay"))
            .replace(
                "/root/copy-quay/config.yaml",
                &self.dir.path().join(config).display().to_string(),
            )
            .replace("/root/", &format!("{}/", self.root().display()))
            .replace(
                "--pull-registry quay.io",
                &format!("--pull-registry {}", self.quay.host()),
            )
            .replace(
                "--push-registry quay.rdoproject.org",
                &format!("--push-registry {}", self.rdo.host()),
            );
        let out = Command::new("bash")
            .args(["-c", &format!("{prelude}\n{line}")])
            .env("TOKEN", TOKEN)
            .env("REGISTRY_AUTH_FILE", self.dir.path().join("auth.json"))
            .env("COPY_CONTAINERS_CERTS_D", self.dir.path().join("certs.d"))
            .env("XDG_DATA_HOME", self.dir.path().join("data"))
            .env("HOME", self.dir.path())
            .env("COPY_CONTAINERS_PROGRESS_INTERVAL", "0")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        assert!(!text.contains(TOKEN), "the token leaked: {text}");
        (out.status.code().unwrap_or(-1), text)
    }

    fn log(&self, rel: &str) -> String {
        let text = std::fs::read_to_string(self.root().join(rel)).unwrap_or_default();
        assert!(!text.contains(TOKEN), "the token leaked into {rel}");
        text
    }

    fn report(&self, rel: &str) -> serde_json::Value {
        let text = std::fs::read_to_string(self.root().join(rel)).unwrap();
        assert!(!text.contains(TOKEN));
        serde_json::from_str(&text).unwrap()
    }

    fn digest(reg: &tk::Registry, repo_tag: &str) -> Option<String> {
        tk::skopeo_inspect_digest(reg, repo_tag).ok()
    }
}

fn podman_log(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| {
            format!("quay.rdoproject.org/{NS}/openstack-{n}   {AGG}   97b73ceb3ffd  3 hours ago  1157 MB\n")
        })
        .collect()
}

async fn stage(reg: &tk::Registry, names: &[&str]) {
    let opts = copy_containers::stage::StageOptions {
        namespace: NS.into(),
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

/// The lines of `text` that say `needle` (a result line starts with it; a log line has it between
/// its time and its message).
fn count(text: &str, needle: &str) -> usize {
    text.lines()
        .filter(|l| match needle.starts_with(' ') {
            true => l.contains(needle),
            false => l.starts_with(needle),
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_three_cron_lines_copy_tag_and_copy_back() {
    let w = World::start().await;
    // A dry run first: it says what it would do, changes nothing, writes no report.
    let dry = COPY_QUAY_SH.replace(" copy &>>", " --dry-run copy &>>");
    let (code, out) = w.cron(&dry, "config.yaml", "");
    assert_eq!(code, 0, "{out}{}", w.log("logs/mastercentos9.txt"));
    assert!(w.quay.created().is_empty() && !w.root().join("logs/master-centos9-report.html").exists());
    assert!(tk::skopeo_list_tags(&w.quay_registry, &format!("{NS}/openstack-base")).is_err());
    // A flag of the other step is refused before anything runs.
    let wrong = COPY_QUAY_SH.replace(" copy &>>", " --force-hash x copy &>>");
    assert_eq!(w.cron(&wrong, "config.yaml", "").0, 2);
    std::fs::remove_file(w.root().join("logs/mastercentos9.txt")).unwrap();

    // copy-quay.sh: the latest build's images to quay.io, missing repositories created public.
    let (code, out) = w.cron(COPY_QUAY_SH, "config.yaml", "");
    let log = w.log("logs/mastercentos9.txt");
    assert_eq!(code, 0, "{out}{log}");
    assert!(log.contains("== release mastercentos9: OK"), "{log}");
    for n in NAMES {
        let at = format!("{NS}/openstack-{n}:{AGG}");
        let src = World::digest(&w.rdo, &at).unwrap();
        assert_eq!(World::digest(&w.quay_registry, &at), Some(src), "{at}");
        // A copy moves no label, there nor at the source.
        assert_eq!(
            World::digest(&w.quay_registry, &format!("{NS}/openstack-{n}:current-tripleo")),
            None
        );
        assert_eq!(
            World::digest(&w.rdo, &format!("{NS}/openstack-{n}:current-tripleo")),
            None
        );
        assert_eq!(
            w.quay
                .created()
                .get(&format!("{NS}/openstack-{n}"))
                .map(String::as_str),
            Some("public")
        );
    }
    let posts: Vec<_> = w
        .quay
        .api_requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(posts.len(), NAMES.len());
    assert!(posts
        .iter()
        .all(|r| r.authorization.as_deref() == Some(&format!("Bearer {TOKEN}")[..])));
    let report = w.report("logs/master-centos9-report.json");
    assert_eq!(
        (report["action"].as_str(), report["ok"].as_bool()),
        (Some("copy"), Some(true))
    );
    assert_eq!(report["pushed"].as_array().unwrap().len(), NAMES.len());
    let html = std::fs::read_to_string(w.root().join("logs/master-centos9-report.html")).unwrap();
    assert!(html.contains("<title>copy-containers copy d7c3cd922f91d83aacb5d7555de9d5bc</title>"));
    assert!(
        html.contains("nova-compute") && html.contains("OK: 3 images copied"),
        "{html}"
    );

    // tag-quay.sh: current-tripleo through the Quay API at DLRN's hash, each read back.
    let before = w.quay.api_requests().len();
    let (code, out) = w.cron(TAG_QUAY_SH, "config.yaml", "");
    let log = w.log("logs/tag/mastercentos9.txt");
    assert_eq!(code, 0, "{out}{log}");
    for n in NAMES {
        let at = format!("{NS}/openstack-{n}");
        assert_eq!(
            World::digest(&w.quay_registry, &format!("{at}:current-tripleo")),
            World::digest(&w.rdo, &format!("{at}:{AGG}")),
            "{at}"
        );
    }
    let puts: Vec<_> = w.quay.api_requests()[before..]
        .iter()
        .filter(|r| r.method == "PUT" && r.path.ends_with("/tag/current-tripleo"))
        .cloned()
        .collect();
    assert_eq!(puts.len(), NAMES.len(), "{puts:?}");
    let body: serde_json::Value = serde_json::from_slice(&puts[0].body).unwrap();
    assert!(body["manifest_digest"].as_str().unwrap().starts_with("sha256:"));
    let report = w.report("logs/tag/master-centos9-report.json");
    assert_eq!(
        (report["action"].as_str(), report["ok"].as_bool()),
        (Some("tag"), Some(true))
    );
    assert!(
        report["containers"][0]["entries"][0]["verified"] == true,
        "{report}"
    );

    // Without a token, a label moves through the registry API; with one from a file or a
    // variable (not on the command line), through Quay's.
    let before = w.quay.api_requests().len();
    let line = "/usr/local/bin/copy-quay --config /root/copy-quay/config.yaml --release mastercentos9 --tag tripleo-ci-testing tag";
    let (code, out) = w.cron(line, "config.yaml", "");
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        w.quay.api_requests().len(),
        before,
        "no Quay API call without a token"
    );
    let testing = |n: &str| {
        World::digest(
            &w.quay_registry,
            &format!("{NS}/openstack-{n}:tripleo-ci-testing"),
        )
    };
    assert_eq!(
        testing("base"),
        World::digest(&w.rdo, &format!("{NS}/openstack-base:{AGG}"))
    );
    std::fs::write(w.dir.path().join("token"), format!("{TOKEN}\n")).unwrap();
    let token_file = w.dir.path().join("token").display().to_string();
    for (flag, label) in [("--token-file", "ci-a"), ("--token-env", "ci-b")] {
        let value = if flag == "--token-file" {
            token_file.as_str()
        } else {
            "TOKEN"
        };
        let line = format!(
            "/usr/local/bin/copy-quay --config /root/copy-quay/config.yaml {flag} {value} --release mastercentos9 --tag {label} tag"
        );
        let (code, out) = w.cron(&line, "config.yaml", "");
        assert_eq!(code, 0, "{out}");
        let puts = w
            .quay
            .api_requests()
            .iter()
            .filter(|r| r.path.ends_with(&format!("/tag/{label}")))
            .count();
        assert_eq!(puts, NAMES.len(), "{flag}: {out}");
    }

    // copy-rdo.sh: back into the RDO registry, which pruned them, at DLRN's hash; the token is
    // quay.io's: no Quay API call for the RDO registry.
    for n in NAMES {
        let repo = format!("{NS}/openstack-{n}");
        let d = World::digest(&w.rdo, &format!("{repo}:{AGG}")).unwrap();
        tk::seed::blocking::delete_manifest(&w.rdo, &repo, &d).unwrap();
    }
    let before = w.quay.api_requests().len();
    let prelude = format!("set -- centos9-master-uc mastercentos9\nHASH={AGG}");
    let (code, out) = w.cron(COPY_RDO_SH, "config.yaml", &prelude);
    assert_eq!(code, 0, "{out}");
    for n in NAMES {
        let at = format!("{NS}/openstack-{n}:{AGG}");
        assert_eq!(
            World::digest(&w.rdo, &at),
            World::digest(&w.quay_registry, &at),
            "{at}"
        );
    }
    assert_eq!(
        w.quay.api_requests().len(),
        before,
        "no Quay API call for the RDO registry"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_image_fails_the_run_and_not_the_others() {
    let w = World::start().await;
    let listed = ["base", "nova-compute", "aodh-api", "not-built"];
    w.zuul(JOB, Some(&podman_log(&listed)));
    let (code, out) = w.cron(COPY_QUAY_SH, "config.yaml", "");
    let log = w.log("logs/mastercentos9.txt");
    assert_eq!(code, 1, "{out}{log}");
    for n in NAMES {
        let at = format!("{NS}/openstack-{n}:{AGG}");
        assert!(
            World::digest(&w.quay_registry, &at).is_some(),
            "{at} was not copied: {log}"
        );
    }
    let report = w.report("logs/master-centos9-report.json");
    assert_eq!(report["ok"], false);
    assert_eq!(report["missing"], serde_json::json!(["not-built"]));
    assert_eq!(report["pushed"].as_array().unwrap().len(), NAMES.len());
    // One cause, one line: in the results and in the logs (both in the cron's file).
    assert_eq!(count(&log, "error: There are missing containers"), 1, "{log}");
    assert_eq!(count(&log, " ERROR "), 1, "{log}");
    let html = std::fs::read_to_string(w.root().join("logs/master-centos9-report.html")).unwrap();
    assert!(html.contains("not-built"));

    // tag: the others labelled, the run failed.
    let (code, out) = w.cron(TAG_QUAY_SH, "config.yaml", "");
    let log = w.log("logs/tag/mastercentos9.txt");
    assert_eq!(code, 1, "{out}{log}");
    assert!(World::digest(&w.quay_registry, &format!("{NS}/openstack-base:current-tripleo")).is_some());
    assert!(log.contains("not-built"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_build_log_and_an_unreachable_zuul_are_one_clear_failure() {
    let w = World::start().await;
    // The latest successful build has none of the log files copy-quay read.
    w.zuul(JOB, None);
    let (code, out) = w.cron(COPY_QUAY_SH, "config.yaml", "");
    let log = w.log("logs/mastercentos9.txt");
    assert_eq!(code, 1, "{out}{log}");
    assert!(
        log.contains("containers-successfully-built.log") && log.contains("job-output.txt"),
        "{log}"
    );
    assert_eq!(count(&log, "error: "), 1, "{log}");
    assert_eq!(count(&log, " ERROR "), 1, "{log}");
    let report = w.report("logs/master-centos9-report.json");
    assert_eq!(report["ok"], false);
    assert!(
        report["errors"][0].as_str().unwrap().contains("job-output.txt"),
        "{report}"
    );
    assert!(w.quay.api_requests().is_empty(), "nothing was asked of Quay");
    assert!(tk::skopeo_list_tags(&w.quay_registry, &format!("{NS}/openstack-base")).is_err());

    // Zuul does not answer: the same, its cause named.
    let closed = format!("http://127.0.0.1:{}", tk::free_port().unwrap());
    w.write_config("unreachable.yaml", &closed);
    let (code, out) = w.cron(TAG_QUAY_SH, "unreachable.yaml", "");
    let log = w.log("logs/tag/mastercentos9.txt");
    assert_eq!(code, 1, "{out}{log}");
    assert_eq!(count(&log, "error: "), 1, "{log}");
    assert_eq!(count(&log, " ERROR "), 1, "{log}");
    assert!(log.contains(&closed), "{log}");
    // Zuul down is not invalid input: its kind kept through the entry's context, what to do said.
    assert!(log.contains("to do: rerun once it answers"), "{log}");
    let report = w.report("logs/tag/master-centos9-report.json");
    assert_eq!(
        (report["action"].as_str(), report["ok"].as_bool()),
        (Some("tag"), Some(false))
    );
    assert_eq!(report["problems"][0]["kind"], "unreachable", "{report}");
}

/// Every entry of ci-config's copy-quay config: its release, distribution and version, whatever
/// the entry's name says or does not, and what it takes to run as copy-quay's two steps.
#[test]
fn every_entry_of_the_real_config_gets_its_distribution() {
    let c = config::load_releases(&fixture(REAL_CONFIG)).unwrap();
    let want = [
        ("mastercentos9", "master", "centos", "9"),
        ("wallaby", "wallaby", "centos", "8"),
        ("wallabycentos9", "wallaby", "centos", "9"),
        ("zedcentos9", "zed", "centos", "9"),
        ("train8", "train", "centos", "8"),
    ];
    assert_eq!(c.names(), want.map(|w| w.0));
    for (name, release, distro, version) in want {
        let (_, e) = c.entry(name).unwrap();
        let a = c.entry_args(e);
        let got = (
            a.release.as_deref(),
            a.distro_name.as_deref(),
            a.distro_version.as_deref(),
        );
        assert_eq!(got, (Some(release), Some(distro), Some(version)), "{name}");
        let plan = c.plan(e, &config::Overrides::default());
        assert_eq!(plan.distro, format!("{distro}{version}"), "{name}");
    }
    // train is an old release: its images are centos-binary-*, its list overcloud_containers.yaml.
    let (_, train) = c.entry("train8").unwrap();
    assert_eq!(
        c.entry_args(train).container_name_prefix.as_deref(),
        Some("centos-binary")
    );
    assert!(c
        .plan(train, &config::Overrides::default())
        .list_text()
        .contains("overcloud_containers.yaml"));

    // The two steps: the list from the build job (never another source), the hash from its log
    // (copy) or DLRN (tag); the Quay API only with a token, for the registry on its host.
    use copy_containers::config::copy_quay::{CopyQuayJob, Step, Token, QUAY_API};
    let job = |release: &str| CopyQuayJob {
        release: release.into(),
        token: Some(Token::Env("TOKEN".into())),
        ..Default::default()
    };
    let run = job("wallaby").run(&c, &Step::Copy).unwrap();
    let e = &run.config.releases[run.index];
    assert_eq!(e.containers_source, Some(ContainersSource::Zuul));
    assert_eq!(e.hash_source, Some(HashSource::BuildLog));
    assert!(run.quay_api, "quay.io is the Quay API's host");
    let t = &run.config.options.target_registries.as_ref().unwrap()[0];
    assert_eq!(
        (t.create_repo, t.quay_api.as_deref()),
        (Some(true), Some(QUAY_API))
    );
    let tag = Step::Tag {
        label: "current-tripleo".into(),
    };
    let run = job("zedcentos9")
        .run(&c, &Step::Tag { label: "ci".into() })
        .unwrap();
    let e = &run.config.releases[run.index];
    assert_eq!(e.hash_source, Some(HashSource::Dlrn));
    // DLRN's current-tripleo hash, whatever label is put.
    assert_eq!(e.dlrn_label.as_deref(), Some("current-tripleo"));
    assert_eq!(run.overrides.args.named_label.as_deref(), Some("ci"));
    assert!(job("zedcentos9").run(&c, &tag).is_ok());
    // copy-rdo.sh: pushing to the RDO registry, the quay.io token is not sent there.
    let rdo = CopyQuayJob {
        pull_registry: Some("quay.io".into()),
        push_registry: Some("quay.rdoproject.org".into()),
        hash: Some(AGG.into()),
        push_hash: Some(AGG.into()),
        ..job("train8")
    };
    let run = rdo.run(&c, &Step::Copy).unwrap();
    assert!(!run.quay_api);
    let t = &run.config.options.target_registries.as_ref().unwrap()[0];
    assert_eq!((t.host.as_str(), t.create_repo), ("quay.rdoproject.org", None));
    assert_eq!(run.overrides.full_hash.as_deref(), Some(AGG));
    // Images given are the release's repositories, copied alone at --hash.
    let one = CopyQuayJob {
        images: vec!["openstack-nova-compute".into()],
        ..job("mastercentos9")
    };
    let e = one.run(&c, &Step::Copy).unwrap_err().to_string();
    assert!(e.contains("--hash"), "{e}");
    let one = CopyQuayJob {
        hash: Some(AGG.into()),
        ..one
    };
    let run = one.run(&c, &Step::Copy).unwrap();
    let e = &run.config.releases[run.index];
    assert_eq!(e.options.containers, Some(vec!["nova-compute".to_string()]));
    let other = CopyQuayJob {
        images: vec!["daemon".into()],
        ..one
    };
    let e = other.run(&c, &Step::Copy).unwrap_err().to_string();
    assert!(e.contains("daemon") && e.contains("openstack-<name>"), "{e}");
    let e = job("victoria").run(&c, &Step::Copy).unwrap_err().to_string();
    assert!(e.contains("no release named \"victoria\""), "{e}");
}

/// SIGTERM while copy-quay.sh's copy reads a blob from quay.rdoproject.org (held by a proxy in front
/// of it): the copy step stops as a promotion does, exit 143, its report says interrupted by
/// SIGTERM, one line says how to resume, and the same line run again copies everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_copy_step_cleanly_and_a_rerun_finishes_it() {
    use copy_containers_testkit::{FaultAction, FaultRule, Proxy, ProxyOptions};
    let w = World::start().await;
    let proxy = Proxy::start_with(ProxyOptions {
        upstream: w.rdo.url(),
        upstream_ca: w.rdo.ca_pem_path(),
        tls: w.rdo.ca().cloned(),
        ..Default::default()
    })
    .unwrap();
    // The proxy is quay.rdoproject.org for this run: its CA, the same login.
    let d = w.dir.path().join("certs.d").join(proxy.host());
    std::fs::create_dir_all(&d).unwrap();
    std::fs::copy(w.rdo.ca_pem_path().unwrap(), d.join("ca.crt")).unwrap();
    let auth_file = w.dir.path().join("auth.json");
    let mut auth: serde_json::Value = serde_json::from_slice(&std::fs::read(&auth_file).unwrap()).unwrap();
    auth["auths"][proxy.host()] = auth["auths"][w.rdo.host()].clone();
    std::fs::write(&auth_file, auth.to_string()).unwrap();
    let text = std::fs::read_to_string(w.dir.path().join("config.yaml")).unwrap();
    let text = text.replace(
        &format!("pull_registry: \"{}\"", w.rdo.host()),
        &format!("pull_registry: \"{}\"", proxy.host()),
    );
    std::fs::write(w.dir.path().join("config-proxy.yaml"), text).unwrap();
    proxy.add_rule(
        FaultRule::new(FaultAction::Delay(std::time::Duration::from_secs(600)))
            .method("GET")
            .path_contains("/blobs/sha256:")
            .first(1),
    );

    let html = w.root().join("logs/master-centos9-report.html");
    let log = w.root().join("logs/mastercentos9.txt");
    let out = std::fs::File::create(&log).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_copy-containers"))
        .arg("copy-quay")
        .arg("--config")
        .arg(w.dir.path().join("config-proxy.yaml"))
        .args(["--token", TOKEN, "--release", "mastercentos9", "--html"])
        .arg(&html)
        .arg("copy")
        .env("REGISTRY_AUTH_FILE", &auth_file)
        .env("COPY_CONTAINERS_CERTS_D", w.dir.path().join("certs.d"))
        .env("XDG_DATA_HOME", w.dir.path().join("data"))
        .env("HOME", w.dir.path())
        .env("COPY_CONTAINERS_PROGRESS_INTERVAL", "0")
        .stdin(std::process::Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    // Bounded waits: a run that never reaches the held read or never stops fails the test.
    let patience = std::time::Duration::from_secs(90);
    let start = std::time::Instant::now();
    while proxy.rule_fired(0) == 0 {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "ended ({status}) before the held read: {}",
                w.log("logs/mastercentos9.txt")
            );
        }
        assert!(start.elapsed() < patience, "the copy never read a blob");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > patience {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the copy did not stop: {}", w.log("logs/mastercentos9.txt"));
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let text = w.log("logs/mastercentos9.txt");
    assert_eq!(status.code(), Some(143), "{text}");
    let report = w.report("logs/master-centos9-report.json");
    assert_eq!(report["status"], "interrupted", "{report:#}");
    assert_eq!(report["interrupted"]["by"], "SIGTERM", "{report:#}");
    // One cause, one line: in the result and in the logs (both in the cron's file).
    assert_eq!(count(&text, "error: interrupted by SIGTERM"), 1, "{text}");
    assert_eq!(count(&text, " ERROR "), 1, "{text}");
    assert!(text.contains("run it again to resume"), "{text}");
    assert!(html.exists(), "no HTML report");
    // No label anywhere (a copy moves none, and a stopped one nothing more).
    for n in NAMES {
        let at = format!("{NS}/openstack-{n}:current-tripleo");
        assert_eq!(World::digest(&w.quay_registry, &at), None, "{at}");
    }

    // The same line again, nothing held: everything copied.
    proxy.clear_rules();
    let (code, out) = w.cron(COPY_QUAY_SH, "config-proxy.yaml", "");
    assert_eq!(code, 0, "{out}{}", w.log("logs/mastercentos9.txt"));
    for n in NAMES {
        let at = format!("{NS}/openstack-{n}:{AGG}");
        assert_eq!(
            World::digest(&w.quay_registry, &at),
            World::digest(&w.rdo, &at),
            "{at}"
        );
    }
}
