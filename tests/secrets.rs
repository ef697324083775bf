//! Secret audit: promotions with recognisable passwords and tokens — success, auth failure, network
//! failure, check mode, module and CLI, trace-level logs in both formats — then every output is
//! searched: stdout, stderr, JSON/HTML reports, list files, the module result. Also: credentials never
//! follow a redirect (see registry_client.rs) and switching TLS verification off is logged.

mod common;

use std::path::Path;

use base64::Engine;
use copy_containers_testkit::{self as tk, Proxy};
use serde_json::json;

use common::*;

const TLS_PW: &str = "HtPass-Zq8-secret-7731";
const TOKEN_PW: &str = "TokPass-Kw2-secret-9902";

struct Outputs {
    text: String,
}

impl Outputs {
    fn new() -> Outputs {
        Outputs { text: String::new() }
    }
    fn add(&mut self, what: &str, bytes: &[u8]) {
        self.text.push_str(&format!("\n==== {what}\n"));
        self.text.push_str(&String::from_utf8_lossy(bytes));
    }
    fn add_dir(&mut self, dir: &Path) {
        for e in walk(dir) {
            if let Ok(b) = std::fs::read(&e) {
                self.add(&e.display().to_string(), &b);
            }
        }
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn forbidden() -> Vec<String> {
    let mut v = vec![TLS_PW.to_string(), TOKEN_PW.to_string()];
    for (u, p) in [("robot", TLS_PW), ("tokenuser", TOKEN_PW)] {
        v.push(base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}")));
    }
    // any JWT (the token server's tokens start with a base64url JSON header)
    v.push("eyJ".into());
    v
}

fn reg_spec(r: &tk::Registry, pw_env: &str) -> String {
    let mut s = format!("host={},namespace={NS}", r.host());
    if r.is_tls() {
        s.push_str(&format!(",ca_file={}", r.ca_pem_path().unwrap().display()));
        s.push_str(&format!(
            ",username={},password_env={pw_env}",
            r.credentials().unwrap().0
        ));
    } else {
        s.push_str(",insecure=true");
    }
    s
}

fn cli(out: &mut Outputs, args: &[String], envs: &[(&str, &str)]) -> i32 {
    let o = bin().args(args).envs(envs.iter().cloned()).output().unwrap();
    out.add(&format!("stdout of {args:?}"), &o.stdout);
    out.add(&format!("stderr of {args:?}"), &o.stderr);
    o.status.code().unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_any_output() {
    let src = tk::Registry::plain().unwrap();
    let tls = tk::Registry::tls_htpasswd("robot", TLS_PW).unwrap();
    let tok = tk::Registry::token("tokenuser", TOKEN_PW).unwrap();
    stage(&client(&src), &["base", "nova-compute"], &[]).await;
    let tmp = tempfile::tempdir().unwrap();
    let mut out = Outputs::new();
    // The local store (kept copies, label history) is an output too: keep it in the searched folder,
    // and away from the user's home.
    let data = tmp.path().join("local-store-home");
    let data_s = data.display().to_string();
    let envs = [
        ("TLS_PW", TLS_PW),
        ("TOK_PW", TOKEN_PW),
        ("XDG_DATA_HOME", data_s.as_str()),
    ];
    let common_args = |label: &str, dir: &Path| -> Vec<String> {
        vec![
            "promote".into(),
            "--full-hash".into(),
            FH.into(),
            "--named-label".into(),
            label.into(),
            "--containers".into(),
            "nova-compute".into(),
            "--source".into(),
            reg_spec(&src, ""),
            "--target".into(),
            reg_spec(&tls, "TLS_PW"),
            "--target".into(),
            reg_spec(&tok, "TOK_PW"),
            "--tmp-file-root".into(),
            dir.display().to_string(),
            "--retries".into(),
            "2".into(),
        ]
    };
    // success, trace logs, human and JSON formats, then check mode
    let d = tmp.path().join("ok");
    let mut a = common_args("current-tripleo", &d);
    a.push("-vv".into());
    assert_eq!(cli(&mut out, &a, &envs), 0, "{}", out.text);
    let mut a = common_args("current-tripleo", &d);
    a.extend([
        "-vv".into(),
        "--log-format".into(),
        "json".into(),
        "--json".into(),
    ]);
    assert_eq!(cli(&mut out, &a, &envs), 0);
    let mut a = common_args("next-label", &d);
    a.extend(["--dry-run".into(), "-vv".into()]);
    assert_eq!(cli(&mut out, &a, &envs), 0);
    // auth failure on both secured targets (wrong passwords that are secrets too)
    let d2 = tmp.path().join("authfail");
    let mut a = common_args("current-tripleo", &d2);
    a.push("-vv".into());
    let wrong = [
        ("TLS_PW", "Wrong-HtPass-0001-xx"),
        ("TOK_PW", "Wrong-TokPass-0002-yy"),
        ("XDG_DATA_HOME", data_s.as_str()),
    ];
    assert_eq!(cli(&mut out, &a, &wrong), 1);
    assert!(!out.text.contains("Wrong-HtPass-0001-xx") && !out.text.contains("Wrong-TokPass-0002-yy"));
    // network failure: the TLS target behind a proxy that is down
    let p = Proxy::for_registry(&src).unwrap();
    p.down();
    let d3 = tmp.path().join("netfail");
    let mut a = common_args("current-tripleo", &d3);
    a[8] = format!("host={},namespace={NS},insecure=true", p.host());
    a.push("-vv".into());
    assert_eq!(cli(&mut out, &a, &envs), 1);
    // the module, success and failure, at high verbosity
    let margs = json!({
        "full_hash": FH, "named_label": "module-label", "containers_list": ["nova-compute"],
        "source_registry": {"host": src.host(), "namespace": NS, "secure": false, "username": "unused", "password": "unused"},
        "target_registries": [
            {"host": tls.host(), "namespace": NS, "username": "robot", "password": TLS_PW, "ca_file": tls.ca_pem_path().unwrap()},
            {"host": tok.host(), "namespace": NS, "username": "tokenuser", "password": TOKEN_PW, "ca_file": tok.ca_pem_path().unwrap()},
        ],
        "tmp_file_root": tmp.path().join("module"),
        "_ansible_verbosity": 4, "_ansible_diff": true,
    });
    for (i, args) in [margs.clone(), {
        let mut m = margs.clone();
        m["target_registries"][1]["password"] = json!("Wrong-Module-Tok-77");
        m
    }]
    .iter()
    .enumerate()
    {
        let f = tmp.path().join(format!("module-args-{i}.json"));
        std::fs::write(&f, serde_json::to_vec(args).unwrap()).unwrap();
        let o = bin().arg(&f).env("XDG_DATA_HOME", &data).output().unwrap();
        out.add("module stdout", &o.stdout);
        out.add("module stderr", &o.stderr);
        std::fs::remove_file(&f).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["failed"], json!(i == 1), "{v}");
        assert!(!String::from_utf8_lossy(&o.stdout).contains("Wrong-Module-Tok-77"));
    }
    // reports and list files from every run
    out.add_dir(tmp.path());
    assert!(
        out.text.contains("containers_pushed_list.txt"),
        "the outputs were collected"
    );
    assert!(
        out.text.contains("local-store-home/copy-containers"),
        "the local store was collected"
    );
    for f in forbidden() {
        if let Some(i) = out.text.find(&f) {
            let start = i.saturating_sub(300);
            panic!(
                "secret {f:?} found in output:\n{}",
                &out.text[start..(i + 200).min(out.text.len())]
            );
        }
    }
}

#[test]
fn switching_tls_verification_off_is_logged() {
    let tls = tk::Registry::tls_htpasswd("robot", TLS_PW).unwrap();
    let o = bin()
        .args([
            "inspect",
            "--no-tls-verify",
            "--username",
            "robot",
            "--password-env",
            "TLS_PW",
        ])
        .arg(format!("{}/none/such:tag", tls.host()))
        .env("TLS_PW", TLS_PW)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("TLS certificate verification is switched off"),
        "{err}"
    );
    assert!(!err.contains(TLS_PW));
}

/// `tls_verify=false` in a registry spec, a config file or the module switches verification off for
/// that registry only, and says so on stderr; the password never appears.
#[test]
fn switching_tls_verification_off_in_a_registry_spec_is_logged() {
    let src = tk::Registry::plain().unwrap();
    let tls = tk::Registry::tls_htpasswd("robot", TLS_PW).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let o = bin()
        .args(["promote", "--dry-run", "--full-hash", FH, "--named-label", "x"])
        .args(["--containers", "nova-compute", "--retries", "1"])
        .args(["--source", &reg_spec(&src, "")])
        .args([
            "--target",
            &format!(
                "host={},namespace={NS},tls_verify=false,username=robot,password_env=TLS_PW",
                tls.host()
            ),
        ])
        .arg("--tmp-file-root")
        .arg(tmp.path())
        .env("TLS_PW", TLS_PW)
        .env("XDG_DATA_HOME", tmp.path().join("data"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains(TLS_PW) && !String::from_utf8_lossy(&o.stdout).contains(TLS_PW));
    assert!(
        err.contains("TLS certificate verification is switched off") && err.contains(&tls.host()),
        "{err}"
    );
}

/// `inspect --insecure` and `copy --dest-insecure` with credentials (given, or found in an auth file)
/// for a registry off this machine: they would go over plain HTTP, and stderr says so, as a
/// promotion's registry spec does. Loopback registries (tests, tunnels) are not warned about.
#[test]
fn plain_http_credentials_are_warned_about_in_copy_and_inspect() {
    let dir = tempfile::tempdir().unwrap();
    let auth = dir.path().join("auth.json");
    std::fs::write(
        &auth,
        r#"{"auths": {"registry.invalid:5000": {"auth": "cm9ib3Q6cGxhaW4tcHctOTk="}}}"#,
    )
    .unwrap();
    let runs: Vec<Vec<&str>> = vec![
        vec![
            "inspect",
            "--insecure",
            "--username",
            "robot",
            "--password-env",
            "PLAIN_PW",
        ],
        vec!["inspect", "--insecure", "--authfile", auth.to_str().unwrap()],
        vec![
            "copy",
            "--src-insecure",
            "--dest-insecure",
            "--retries",
            "1",
            "--dest-username",
            "robot",
            "--dest-password-env",
            "PLAIN_PW",
            "127.0.0.1:9/ns/app:v1",
        ],
    ];
    for mut args in runs {
        args.push("registry.invalid:5000/ns/app:v1");
        let o = bin().args(&args).env("PLAIN_PW", "plain-pw-99").output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?}");
        assert!(
            err.contains("credentials are sent over plain HTTP") && err.contains("registry.invalid:5000"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("plain-pw-99"), "{err}");
    }
    // The same to a loopback registry: no warning.
    let o = bin()
        .args([
            "inspect",
            "--insecure",
            "--username",
            "robot",
            "--password-env",
            "PLAIN_PW",
        ])
        .arg("127.0.0.1:9/ns/app:v1")
        .env("PLAIN_PW", "plain-pw-99")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&o.stderr).contains("plain HTTP"));
}

/// A promotion without credentials for a registry reads the default auth file, as `copy` and
/// `inspect` do and the README says (`podman login` then `promote`); before, it went anonymous and
/// failed with "anonymous access refused".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_reads_the_default_auth_file() {
    let src = tk::Registry::plain().unwrap();
    stage(&client(&src), &["base"], &[]).await;
    let tgt = tk::Registry::tls_htpasswd("robot", "authfile-pw-77").unwrap();
    let home = tempfile::tempdir().unwrap();
    let auth = home.path().join("auth.json");
    let b64 = base64::engine::general_purpose::STANDARD.encode("robot:authfile-pw-77");
    std::fs::write(
        &auth,
        format!(r#"{{"auths": {{"{}": {{"auth": "{b64}"}}}}}}"#, tgt.host()),
    )
    .unwrap();
    let out = bin()
        .env("REGISTRY_AUTH_FILE", &auth)
        .args([
            "promote",
            "--full-hash",
            FH,
            "--named-label",
            "current-tripleo",
            "--containers",
            "base",
        ])
        .args([
            "--source",
            &format!("host={},namespace={NS},insecure=true", src.host()),
        ])
        .args([
            "--target",
            &format!(
                "host={},namespace={NS},ca_file={}",
                tgt.host(),
                tgt.ca_pem_path().unwrap().display()
            ),
        ])
        .args(["--tmp-file-root", home.path().to_str().unwrap()])
        .output()
        .unwrap();
    let (so, se) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{so}\n{se}");
    assert!(!so.contains("authfile-pw-77") && !se.contains("authfile-pw-77") && !se.contains(&b64));
}

/// A password with a space, quotes, `%`, `\`, `+`, `:` and a non-ASCII character, echoed back by a
/// registry raw, inside `user:password`, URL-encoded, and alone in base64 (the testkit's echo), is
/// masked in every output and in every encoding an output may give it: CLI stdout and stderr
/// (human logs quote it Rust-style, JSON logs JSON-escape it), the module's result, the JSON and
/// HTML reports and the list files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encoded_echoes_of_a_password_never_reach_an_output() {
    const PW: &str = "Ec\"ho w'%€\\+:pw-4242";
    // The echo is the source: the source check GETs the manifests and shows the registry's error.
    let tgt = tk::Registry::plain().unwrap();
    let echo = tk::HostileHttp::start(tk::Misbehaviour::EchoAuth { bearer_realm: None }).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut out = Outputs::new();
    let data = tmp.path().join("store-home");
    let envs = [("ECHO_PW", PW), ("XDG_DATA_HOME", data.to_str().unwrap())];
    for extra in [&["-vv"][..], &["-vv", "--log-format", "json", "--json"][..]] {
        let mut a: Vec<String> = [
            "promote",
            "--full-hash",
            FH,
            "--named-label",
            "current-tripleo",
            "--containers",
            "nova-compute",
            "--retries",
            "1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend([
            "--source".into(),
            format!(
                "host={},namespace={NS},insecure=true,username=alice,password_env=ECHO_PW",
                echo.host()
            ),
            "--target".into(),
            format!("host={},namespace={NS},insecure=true", tgt.host()),
            "--tmp-file-root".into(),
            tmp.path().join("cli").display().to_string(),
        ]);
        a.extend(extra.iter().map(|s| s.to_string()));
        assert_eq!(cli(&mut out, &a, &envs), 1, "{}", out.text);
    }
    let margs = json!({
        "full_hash": FH, "named_label": "current-tripleo", "containers_list": ["nova-compute"],
        "retries": 1,
        "source_registry": {"host": echo.host(), "namespace": NS, "secure": false,
                            "username": "alice", "password": PW},
        "target_registries": [{"host": tgt.host(), "namespace": NS, "secure": false}],
        "tmp_file_root": tmp.path().join("module"),
        "_ansible_verbosity": 4,
    });
    let f = tmp.path().join("module-args.json");
    std::fs::write(&f, serde_json::to_vec(&margs).unwrap()).unwrap();
    let o = bin().arg(&f).env("XDG_DATA_HOME", &data).output().unwrap();
    std::fs::remove_file(&f).unwrap();
    out.add("module stdout", &o.stdout);
    out.add("module stderr", &o.stderr);
    out.add_dir(tmp.path());
    assert!(
        out.text.contains("denied: you sent Basic"),
        "the echo came through: {}",
        out.text
    );
    assert!(out.text.contains(".html") && out.text.contains("containers_missed_list.txt"));
    // The forms, made here independently of the tool's own list.
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let url: String = PW
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect();
    let forms = [
        PW.to_string(),
        serde_json::to_string(PW).unwrap().trim_matches('"').to_string(),
        format!("{PW:?}").trim_matches('"').to_string(),
        r#"Ec\"ho w'%\u20ac\\+:pw-4242"#.to_string(),
        url.clone(),
        url.to_lowercase(),
        b64(PW).trim_end_matches('=').to_string(),
        b64(&format!("alice:{PW}")).trim_end_matches('=').to_string(),
        // pieces that only a partial mask would leave
        "Ec\"ho".to_string(),
        "pw-4242".to_string(),
    ];
    for f in forms {
        if let Some(i) = out.text.find(&f) {
            let start = out.text.floor_char_boundary(i.saturating_sub(200));
            let end = out.text.floor_char_boundary((i + 200).min(out.text.len()));
            panic!("form {f:?} found:\n{}", &out.text[start..end]);
        }
    }
}
