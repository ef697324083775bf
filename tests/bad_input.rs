//! Bad-input suite: module arguments, hashes, container names, registry hosts, config files, list
//! files, malformed manifests and token responses. Every case runs the binary (as the CLI or as the
//! Ansible module) and must give a clear failure naming the problem: exit non-zero, a `failed`
//! module result, no panic, and nothing changed (the target registry stays empty, the source gets no
//! label, fake registries see no write).
//!
//! Cases are collected and checked together, so one run lists every case that misbehaves.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use copy_containers::digest::Digest;
use copy_containers::manifest::media;
use copy_containers_testkit::{self as tk, FakeHttp, Route};
use serde_json::{json, Value};

use common::*;

const LABEL: &str = "current-tripleo";

/// What the binary gave back.
struct Outcome {
    code: Option<i32>,
    text: String,
    module: Option<Value>,
    seconds: f64,
}

/// Run with a time limit (a case that hangs is a failure, not a stuck suite).
fn run(mut cmd: Command, home: &Path) -> Outcome {
    cmd.env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("REGISTRY_AUTH_FILE", home.join("auth.json"))
        .env_remove("DOCKER_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd.spawn().expect("spawn");
    let deadline = started + Duration::from_secs(90);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let module = serde_json::from_str::<Value>(stdout.trim()).ok();
    Outcome {
        code: out.status.code(),
        text: format!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr)),
        module,
        seconds: started.elapsed().as_secs_f64(),
    }
}

struct Env {
    src: tk::Registry,
    tgt: tk::Registry,
    tmp: tempfile::TempDir,
    n: std::cell::Cell<usize>,
}

impl Env {
    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let i = self.n.get();
        self.n.set(i + 1);
        let p = self.tmp.path().join(format!("{i}-{name}"));
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn reg(&self, r: &tk::Registry) -> String {
        format!("host={},namespace={NS},insecure=true", r.host())
    }

    /// `promote` with valid flags, `source`/`target` replacing the registries, then `extra`
    /// (`--full-hash…`/`--containers…` in `extra` replace the valid ones).
    fn promote(&self, source: Option<&str>, target: Option<&str>, extra: &[&str]) -> Command {
        let mut c = bin();
        c.args(["promote", "--named-label", LABEL, "--retries", "1"])
            .arg("--tmp-file-root")
            .arg(self.tmp.path().join("lists"));
        if !extra.iter().any(|a| a.starts_with("--full-hash")) {
            c.args(["--full-hash", FH]);
        }
        if !extra.iter().any(|a| a.starts_with("--containers")) {
            c.args(["--containers", "nova-compute"]);
        }
        let src = self.reg(&self.src);
        c.args(["--source", source.unwrap_or(&src)]);
        let tgt = self.reg(&self.tgt);
        c.args(["--target", target.unwrap_or(&tgt)]);
        c.args(extra);
        c
    }

    fn module_args(&self) -> Value {
        json!({
            "full_hash": FH,
            "named_label": LABEL,
            "containers_list": ["nova-compute"],
            "source_registry": {"host": self.src.host(), "namespace": NS, "secure": false, "username": "unused", "password": "unused"},
            "target_registries": [{"host": self.tgt.host(), "namespace": NS, "secure": false}],
            "tmp_file_root": self.tmp.path().join("module-lists"),
            "retries": 1,
        })
    }

    /// The module with `patch` applied to valid arguments (`null` removes a key; a key `a.b`
    /// patches inside `a`, `a.0.b` inside the first element of list `a`).
    fn module(&self, patch: Value) -> Command {
        let mut a = self.module_args();
        for (k, v) in patch.as_object().unwrap() {
            let path: Vec<&str> = k.split('.').collect();
            let mut cur = &mut a;
            for p in &path[..path.len() - 1] {
                cur = match p.parse::<usize>() {
                    Ok(i) => &mut cur[i],
                    Err(_) => &mut cur[*p],
                };
            }
            let last = path[path.len() - 1];
            if v.is_null() {
                cur.as_object_mut().unwrap().remove(last);
            } else {
                cur[last] = v.clone();
            }
        }
        let f = self.file("args.json", &serde_json::to_vec(&a).unwrap());
        let mut c = bin();
        c.arg(f);
        c
    }
}

/// A fake registry serving `route` for every path, and whatever `routes` say for some.
fn fake_registry(fallback: Route, routes: &[(&str, Route)]) -> FakeHttp {
    let f = FakeHttp::start().unwrap();
    f.set_fallback(Some(fallback));
    for (p, r) in routes {
        f.set(p, r.clone());
    }
    f
}

fn fake_spec(f: &FakeHttp) -> String {
    format!(
        "host={},namespace={NS},insecure=true",
        f.url().trim_start_matches("http://")
    )
}

/// A fake registry behind Bearer auth whose token endpoint answers `token`.
fn fake_token_registry(token: Route) -> FakeHttp {
    let f = FakeHttp::start().unwrap();
    let realm = format!("{}/token", f.url());
    f.set_fallback(Some(
        Route::new(
            401,
            "application/json",
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
        )
        .header(
            "WWW-Authenticate",
            &format!("Bearer realm=\"{realm}\",service=\"fake\""),
        ),
    ));
    f.set("/token", token);
    f
}

fn manifest_route(content_type: &str, body: impl Into<Vec<u8>>) -> Route {
    Route::new(200, content_type, body)
}

/// Cases that show a bug in the tool (case name → what is wrong). They run in the ignored test
/// `known_bugs`; once fixed, remove the line and the case joins the main test.
const KNOWN_BUGS: &[(&str, &str)] = &[
    (
        "module: negative retries",
        "the message is `bad arguments: \"-1\" is not a whole number`: it does not name `retries`",
    ),
    (
        "config: wrong type",
        "`containers_list: {a: 1}` in a config file gives `data did not match any variant of untagged enum L`: \
         neither the field nor the expected type is named",
    ),
    (
        "manifest: not JSON",
        "a manifest body that is not JSON is reported as `invalid manifest \"(content)\": serde failed`: the \
         parser's own message (line, column, what was expected) is dropped",
    ),
    (
        "manifest: a layer digest that is not a digest",
        "`invalid manifest \"(content)\": serde failed`: does not say which digest is bad",
    ),
    (
        "manifest: JSON null",
        "`invalid manifest \"(content)\": serde failed`: does not say the body is null",
    ),
    (
        "manifest: an index media type on an image body",
        "`invalid manifest \"(content)\": serde failed`: does not say that `manifests` is missing",
    ),
    (
        "token: huge token (16 MiB)",
        "the token response body is read without a size limit and a 16 MiB token is accepted and sent as a \
         header: the registry answers 431 and the error is `HTTP 431: (no message)` on the manifest GET, \
         not a refusal of the token server's answer",
    ),
];

#[test]
fn bad_input_fails_clearly_without_panics_or_changes() {
    suite(false);
}

#[test]
/// The cases that were bugs when this suite was written (now fixed; kept apart for their history).
fn formerly_known_bugs() {
    suite(true);
}

fn suite(bugs: bool) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let env = Env {
        src: tk::Registry::plain().unwrap(),
        tgt: tk::Registry::plain().unwrap(),
        tmp: tempfile::tempdir().unwrap(),
        n: Default::default(),
    };
    let staged = rt.block_on(stage(&client(&env.src), &["base", "nova-compute"], &[]));

    // Controls: the valid inputs the cases start from do work (in check mode: nothing changes).
    let ok = run(env.promote(None, None, &["--dry-run"]), env.tmp.path());
    assert_eq!(ok.code, Some(0), "control CLI run: {}", ok.text);
    let mut control = env.module_args();
    control["_ansible_check_mode"] = json!(true);
    let f = env.file("control.json", &serde_json::to_vec(&control).unwrap());
    let ok = run(
        {
            let mut c = bin();
            c.arg(f);
            c
        },
        env.tmp.path(),
    );
    assert_eq!(
        ok.module.as_ref().unwrap()["failed"],
        json!(false),
        "control module run: {}",
        ok.text
    );

    let h = FH;
    let long_name = "a".repeat(200);
    let huge_list = {
        let mut s = String::new();
        while s.len() <= (1 << 20) + 10 {
            s.push_str("nova-compute\n");
        }
        s
    };
    let yaml_bomb = "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n\
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n\
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n\
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\ni: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\ncontainers_list: *i\n";

    // Fake registries for the manifest and token cases.
    let cfg = Digest::sha256(b"{}");
    let image = |layer: &str| {
        json!({"schemaVersion": 2, "mediaType": media::DOCKER_V2S2,
               "config": {"mediaType": media::DOCKER_CONFIG, "size": 2, "digest": cfg.as_str()},
               "layers": [{"mediaType": media::DOCKER_LAYER_GZIP, "size": 3, "digest": layer}]})
        .to_string()
    };
    let list_with_missing_child = json!({"schemaVersion": 2, "mediaType": media::DOCKER_LIST, "manifests": [
        {"mediaType": media::DOCKER_V2S2, "size": 10, "digest": Digest::sha256(b"child").as_str(),
         "platform": {"architecture": "amd64", "os": "linux"}}]})
    .to_string();
    let fakes: Vec<(&str, FakeHttp, &str)> = vec![
        (
            "manifest: not JSON",
            fake_registry(manifest_route(media::DOCKER_V2S2, "{{{ not json"), &[]),
            "line 1",
        ),
        (
            "manifest: no media type anywhere",
            fake_registry(
                manifest_route("application/json", r#"{"schemaVersion": 2, "hello": "world"}"#),
                &[],
            ),
            "no recognisable media type",
        ),
        (
            "manifest: schema 1",
            fake_registry(
                manifest_route(
                    media::DOCKER_V2S1_SIGNED,
                    r#"{"schemaVersion":1,"name":"a","tag":"b","fsLayers":[]}"#,
                ),
                &[],
            ),
            "schema 1",
        ),
        (
            "manifest: a layer digest that is not a digest",
            fake_registry(manifest_route(media::DOCKER_V2S2, image("sha256:xyz")), &[]),
            "sha256:xyz",
        ),
        (
            "manifest: JSON null",
            fake_registry(manifest_route(media::DOCKER_V2S2, "null"), &[]),
            "null",
        ),
        (
            "manifest: an index media type on an image body",
            fake_registry(
                manifest_route(media::OCI_INDEX, image(Digest::sha256(b"x").as_str())),
                &[],
            ),
            "manifests",
        ),
        (
            "manifest: unknown media type",
            fake_registry(
                manifest_route("application/vnd.example.thing+json", image(cfg.as_str())),
                &[],
            ),
            "media type",
        ),
        (
            "manifest: huge body (5 MiB)",
            fake_registry(
                manifest_route(
                    media::DOCKER_V2S2,
                    format!("{{\"pad\": \"{}\"}}", "x".repeat(5 << 20)),
                ),
                &[],
            ),
            "larger than",
        ),
        (
            "manifest: a list whose child is not there (the registry answers with other bytes)",
            fake_registry(manifest_route(media::DOCKER_LIST, list_with_missing_child), &[]),
            "digest mismatch",
        ),
        (
            "token: garbage JSON",
            fake_token_registry(Route::new(200, "application/json", "<html>not a token</html>")),
            "not a token response",
        ),
        (
            "token: JSON without a token field",
            fake_token_registry(Route::json(
                &json!({"expires_in": 300, "issued_at": "2025-01-01T00:00:00Z"}),
            )),
            "gave no token",
        ),
        (
            "token: empty token",
            fake_token_registry(Route::json(&json!({"token": "", "access_token": ""}))),
            "gave no token",
        ),
        (
            "token: control characters in the token",
            fake_token_registry(Route::json(&json!({"token": "abc\r\nX-Injected: 1"}))),
            "invalid characters",
        ),
        (
            "token: server error",
            fake_token_registry(Route::new(500, "text/plain", "boom")),
            "HTTP 500",
        ),
        (
            "token: huge garbage body (16 MiB)",
            fake_token_registry(Route::new(200, "application/json", vec![b'['; 16 << 20])),
            "token server",
        ),
        (
            "token: huge token (16 MiB)",
            fake_token_registry(Route::json(&json!({"token": "a".repeat(16 << 20)}))),
            "token server",
        ),
    ];

    type Case = (String, Command, &'static str);
    let mut cases: Vec<Case> = Vec::new();
    let mut add =
        |name: &str, cmd: Command, needle: &'static str| cases.push((name.to_string(), cmd, needle));

    // ---- module arguments
    add(
        "module: full_hash is a list",
        env.module(json!({"full_hash": ["a"]})),
        "argument 'full_hash' is of type list",
    );
    add(
        "module: full_hash is a dict",
        env.module(json!({"full_hash": {"a": 1}})),
        "argument 'full_hash' is of type dict",
    );
    add(
        "module: containers_list is a dict",
        env.module(json!({"containers_list": {"a": 1}})),
        "containers_list",
    );
    add(
        "module: containers_list holds a list",
        env.module(json!({"containers_list": [["a"]]})),
        "Elements value for option 'containers_list'",
    );
    add(
        "module: target_registries is a number",
        env.module(json!({"target_registries": 5})),
        "target_registries",
    );
    add(
        "module: source_registry is a list",
        env.module(json!({"source_registry": [1, 2]})),
        "source_registry",
    );
    add(
        "module: unknown key (typo)",
        env.module(json!({"containers_lst": ["a"]})),
        "Unsupported parameters for (copy_containers) module: containers_lst",
    );
    add(
        "module: unknown key in a target registry",
        env.module(json!({"target_registries.0.passwd": "x"})),
        "passwd",
    );
    add(
        "module: named_label missing",
        env.module(json!({"named_label": null})),
        "missing required arguments: named_label",
    );
    add(
        "module: source_registry missing",
        env.module(json!({"source_registry": null})),
        "missing required arguments: source_registry",
    );
    add(
        "module: registry without host",
        env.module(json!({"target_registries.0.host": null})),
        "host",
    );
    add(
        "module: empty target list while pushing",
        env.module(json!({"target_registries": []})),
        "target_registries is empty",
    );
    add(
        "module: empty container list (empty string)",
        env.module(json!({"containers_list": ""})),
        "empty",
    );
    add(
        "module: bad boolean word",
        env.module(json!({"label_source": "sometimes"})),
        "argument 'label_source' is of type str and we were unable to convert to bool",
    );
    add(
        "module: bad boolean number",
        env.module(json!({"target_registries_push": 2})),
        "target_registries_push",
    );
    add(
        "module: bad boolean in a registry",
        env.module(json!({"target_registries.0.insecure": "perhaps"})),
        "perhaps",
    );
    add(
        "module: negative retries",
        env.module(json!({"retries": -1})),
        "retries",
    );
    add(
        "module: fractional retries",
        env.module(json!({"retries": 1.5})),
        "argument 'retries' is of type float",
    );
    add(
        "module: empty action",
        env.module(json!({"action": ""})),
        "value of action must be one of",
    );
    add(
        "module: tmp_file_root is a list",
        env.module(json!({"tmp_file_root": ["/tmp"]})),
        "tmp_file_root",
    );
    add(
        "module: shell in a label",
        env.module(json!({"named_label": "x; reboot"})),
        "named_label",
    );
    add(
        "module: path traversal in a prefix",
        env.module(json!({"container_name_prefix": "../../etc"})),
        "container_name_prefix",
    );

    // ---- hashes
    for (name, bad) in [
        ("hash: non-hex", "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz".to_string()),
        ("hash: 31 hex digits", h[..31].to_string()),
        ("hash: 33 hex digits", format!("{h}0")),
        ("hash: uppercase", h.to_uppercase()),
        (
            "hash: commit_distro with a short distro",
            format!("{}_{}", "a".repeat(40), "b".repeat(7)),
        ),
        ("hash: shell metacharacters", format!("{h};rm -rf ~")),
        ("hash: command substitution", "$(reboot)".to_string()),
        ("hash: backticks", format!("`id`{}", &h[4..])),
        ("hash: newline injection", format!("{h}\ncurrent-tripleo")),
        ("hash: path traversal", "../../../../etc/passwd".to_string()),
        ("hash: empty", String::new()),
    ] {
        let arg = format!("--full-hash={bad}");
        add(name, env.promote(None, None, &[&arg]), "full_hash");
    }

    // ---- container names
    for (name, bad, needle) in [
        ("name: ../x", "../x", "../x"),
        ("name: uppercase", "Nova", "Nova"),
        ("name: space", "nova compute", "nova compute"),
        ("name: over-long", long_name.as_str(), "longer than 128"),
        ("name: slash", "nova/compute", "nova/compute"),
        ("name: leading dash", "-x", "must start and end"),
        ("name: shell", "x;rm", ";"),
        ("name: empty element", "nova-compute,,keystone", "empty"),
    ] {
        let arg = format!("--containers={bad}");
        add(name, env.promote(None, None, &[&arg]), needle);
    }

    // ---- registry hosts
    let tgt_ns = format!("namespace={NS},insecure=true");
    for (name, spec, needle) in [
        ("host: port 0", format!("host=127.0.0.1:0,{tgt_ns}"), "port"),
        (
            "host: port 99999",
            format!("host=127.0.0.1:99999,{tgt_ns}"),
            "port",
        ),
        (
            "host: port not a number",
            format!("host=127.0.0.1:http,{tgt_ns}"),
            "port",
        ),
        (
            "host: ftp scheme",
            format!("host=ftp://127.0.0.1:5000,{tgt_ns}"),
            "scheme",
        ),
        (
            "host: URL with a path",
            format!("host=https://127.0.0.1:5000/v2/x,{tgt_ns}"),
            "target_registries[0]",
        ),
        (
            "host: user@host",
            format!("host=robot@127.0.0.1:5000,{tgt_ns}"),
            "registry host",
        ),
        ("host: empty", format!("host=,{tgt_ns}"), "empty"),
        (
            "host: bare host without namespace",
            "quay.io".to_string(),
            "host/namespace",
        ),
        (
            "host: namespace traversal",
            "host=127.0.0.1:5000,namespace=../etc,insecure=true".to_string(),
            "../etc",
        ),
        (
            "host: password on the command line",
            format!("host=127.0.0.1:5000,{tgt_ns},username=u,password=hunter2"),
            "password_env",
        ),
        (
            "host: password_env not set",
            format!("host=127.0.0.1:5000,{tgt_ns},username=u,password_env=CC_SURELY_UNSET_VAR"),
            "CC_SURELY_UNSET_VAR",
        ),
        (
            "host: not key=value",
            format!("host=127.0.0.1:5000,{tgt_ns},insecure"),
            "not key=value",
        ),
        (
            "host: bad schema",
            format!("host=127.0.0.1:5000,{tgt_ns},schema=v3"),
            "schema",
        ),
    ] {
        add(name, env.promote(None, Some(&spec), &[]), needle);
    }

    // ---- config files
    let cfg_file = |name: &str, text: &[u8]| env.file(name, text);
    for (name, body, needle) in [
        (
            "config: broken YAML",
            b"full_hash: [unclosed\nnamed_label: x\n".to_vec(),
            "config.yaml",
        ),
        ("config: unknown key", b"full_hsh: abc\n".to_vec(), "full_hsh"),
        (
            "config: wrong type",
            b"containers_list: {a: 1}\n".to_vec(),
            "containers_list",
        ),
        (
            "config: unknown key in a registry",
            b"source_registry: {host: h, namespace: n, passwrd: x}\n".to_vec(),
            "passwrd",
        ),
        ("config: a list at the top", b"- a\n- b\n".to_vec(), "config.yaml"),
        (
            "config: binary",
            vec![0u8, 159, 146, 150, 255, 0, 1, 2],
            "config.yaml",
        ),
        ("config: alias bomb", yaml_bomb.as_bytes().to_vec(), "config.yaml"),
    ] {
        let p = cfg_file("config.yaml", &body);
        let mut c = bin();
        c.args(["promote", "--config"])
            .arg(p)
            .arg("--tmp-file-root")
            .arg(env.tmp.path().join("lists"));
        add(name, c, needle);
    }
    {
        // an empty config: everything required is missing
        let p = cfg_file("empty.yaml", b"");
        let mut c = bin();
        c.args(["promote", "--config"]).arg(p);
        add("config: empty file", c, "empty");
        let mut c = bin();
        c.args(["promote", "--config"])
            .arg(env.tmp.path().join("no-such-config.yaml"));
        add("config: missing file", c, "no-such-config.yaml");
        let mut c = bin();
        c.args(["promote", "--config"]).arg(env.tmp.path());
        add("config: a directory", c, "directory");
    }

    // ---- list files
    for (name, body, needle) in [
        ("list: empty", Vec::new(), "list"),
        ("list: only comments", b"# nothing\n\n".to_vec(), "list"),
        (
            "list: binary",
            vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0],
            "list",
        ),
        ("list: invalid UTF-8", vec![b'n', 0xff, 0xfe, b'\n'], "UTF-8"),
        (
            "list: huge (> 1 MiB)",
            huge_list.as_bytes().to_vec(),
            "larger than",
        ),
        (
            "list: YAML without containers_list",
            b"ppc_containers_list: [a]\nother: 1\n".to_vec(),
            "containers_list",
        ),
        (
            "list: bad name inside",
            b"nova-compute\n../../etc\n".to_vec(),
            "../../etc",
        ),
        ("list: alias bomb", yaml_bomb.as_bytes().to_vec(), "list"),
    ] {
        let p = env.file("containers.txt", &body);
        let arg = format!("--containers-file={}", p.display());
        // (promote() leaves --containers out when a flag starts with it)
        add(name, env.promote(None, None, &[&arg]), needle);
    }
    {
        let arg = format!(
            "--containers-file={}",
            env.tmp.path().join("absent.txt").display()
        );
        add(
            "list: missing file",
            env.promote(None, None, &[&arg]),
            "absent.txt",
        );
    }

    // ---- malformed manifests and token responses (fake registries as the source)
    for (name, f, needle) in &fakes {
        add(
            name,
            env.promote(
                Some(&fake_spec(f)),
                None,
                &["--manifest-push=true", "--ppc-containers=nova-compute"],
            ),
            needle,
        );
    }

    // ---- run every case
    let mut failures = Vec::new();
    let mut rows = Vec::new();
    cases.retain(|(name, _, _)| KNOWN_BUGS.iter().any(|(b, _)| b == name) == bugs);
    let n_cases = cases.len();
    for (name, cmd, needle) in cases {
        let o = run(cmd, env.tmp.path());
        let mut problems = Vec::new();
        match o.code {
            Some(1) | Some(2) => {}
            other => problems.push(format!("exit status {other:?} (want 1 or 2)")),
        }
        if o.text.contains("panicked") || o.text.contains("RUST_BACKTRACE") {
            problems.push("panicked".into());
        }
        let msg = match &o.module {
            Some(v) if v.get("failed").is_some() => {
                if v["failed"] != json!(true) {
                    problems.push("module result is not failed".into());
                }
                v["msg"].as_str().unwrap_or_default().to_string()
            }
            // the CLI: its error lines (the summary table above them names every column)
            _ => {
                let errors: Vec<&str> = o.text.lines().filter(|l| l.starts_with("error")).collect();
                if errors.is_empty() {
                    o.text.clone()
                } else {
                    errors.join("\n")
                }
            }
        };
        if !msg.contains(needle) {
            problems.push(format!("message does not name the problem ({needle:?})"));
        }
        if o.seconds > 60.0 {
            problems.push(format!("took {:.0}s", o.seconds));
        }
        // nothing changed
        let cat = rt.block_on(client(&env.tgt).catalog(100)).unwrap();
        if !cat.is_empty() {
            problems.push(format!("the target registry was written: {cat:?}"));
        }
        for s in &staged {
            if rt
                .block_on(client(&env.src).head_manifest(&s.repository, LABEL))
                .unwrap()
                .is_some()
            {
                problems.push(format!("the source was labelled: {}", s.repository));
            }
        }
        let first_line: String = msg
            .lines()
            .find(|l| l.starts_with("error"))
            .or_else(|| msg.lines().find(|l| !l.trim().is_empty()))
            .unwrap_or("")
            .chars()
            .take(400)
            .collect();
        rows.push(json!({"case": name, "exit": o.code, "seconds": o.seconds, "message": first_line}));
        if !problems.is_empty() {
            failures.push(format!(
                "{name}: {}\n    output: {}",
                problems.join("; "),
                o.text.chars().take(600).collect::<String>()
            ));
        }
    }
    for (name, f, _) in fakes
        .iter()
        .filter(|(n, _, _)| KNOWN_BUGS.iter().any(|(b, _)| b == n) == bugs)
    {
        let writes: Vec<String> = f
            .requests()
            .iter()
            .filter(|r| !matches!(r.method.as_str(), "GET" | "HEAD"))
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        if !writes.is_empty() {
            failures.push(format!("{name}: the fake source was written: {writes:?}"));
        }
    }
    println!(
        "FIGURES {}",
        json!({"scenario": if bugs { "bad_input_known_bugs" } else { "bad_input" }, "figures": {"cases": n_cases, "failures": failures.len(), "rows": rows}})
    );
    if bugs {
        for (name, why) in KNOWN_BUGS {
            println!("known bug: {name}: {why}");
        }
    } else {
        assert!(n_cases >= 30, "{n_cases} cases");
    }
    assert!(
        failures.is_empty(),
        "{} of {n_cases} cases misbehave:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
