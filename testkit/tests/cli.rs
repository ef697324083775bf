//! The `cc-testkit` binary: up/down round trips and the proxy subcommand.

use base64::Engine;
use copy_containers_testkit::http::request_blocking;
use copy_containers_testkit::{client_config_from_file, free_port, Registry};
use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_cc-testkit");

fn pid_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, r)| r.trim_start().chars().next());
            !matches!(state, Some('Z') | Some('X') | None)
        }
        Err(_) => false,
    }
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn v2_status(entry: &serde_json::Value, auth: bool) -> u16 {
    let tls = entry["ca"]
        .as_str()
        .map(|ca| client_config_from_file(Path::new(ca)).unwrap());
    let b;
    let mut h = Vec::new();
    if auth {
        b = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                entry["user"].as_str().unwrap(),
                entry["password"].as_str().unwrap()
            ))
        );
        h.push(("authorization", b.as_str()));
    }
    let url = format!("{}/v2/", entry["url"].as_str().unwrap());
    request_blocking("GET", &url, &h, Vec::new(), tls).unwrap().status
}

/// Runs `cc-testkit down` on drop, so a failing test leaves nothing running.
struct DownOnDrop(std::path::PathBuf);

impl Drop for DownOnDrop {
    fn drop(&mut self) {
        let _ = Command::new(BIN)
            .args(["down", "--state-dir"])
            .arg(&self.0)
            .output();
    }
}

/// Kills a child on drop.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn up_down_round_trip_daemon() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let port = free_port().unwrap();
    let _guard = DownOnDrop(state.clone());
    let out = Command::new(BIN)
        .args(["up", "--state-dir"])
        .arg(&state)
        .args(["--plain", &format!("src:{port}")])
        .args(["--tls-htpasswd", "dst:alice:pw1"])
        .args(["--token", "tok:bob:pw2"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "up failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state.join("registries.json")).unwrap()).unwrap();
    let supervisor: i32 = std::fs::read_to_string(state.join("pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(pid_alive(supervisor));

    let src = &doc["src"];
    assert_eq!(src["host"], format!("127.0.0.1:{port}"));
    assert_eq!(src["kind"], "plain");
    assert!(src["ca"].is_null());
    assert_eq!(v2_status(src, false), 200);

    let dst = &doc["dst"];
    assert_eq!(dst["kind"], "tls-htpasswd");
    assert_eq!(dst["user"], "alice");
    assert!(Path::new(dst["cert_dir"].as_str().unwrap())
        .join("ca.crt")
        .is_file());
    assert!(Path::new(dst["storage_dir"].as_str().unwrap()).is_dir());
    assert_eq!(v2_status(dst, false), 401);
    assert_eq!(v2_status(dst, true), 200);

    let tok = &doc["tok"];
    assert_eq!(tok["kind"], "token");
    assert!(tok["token_realm"]
        .as_str()
        .unwrap()
        .starts_with("https://127.0.0.1:"));
    assert_eq!(v2_status(tok, false), 401);

    // A second `up` on the same state dir is refused while it runs.
    let again = Command::new(BIN)
        .args(["up", "--state-dir"])
        .arg(&state)
        .args(["--plain", "x"])
        .output()
        .unwrap();
    assert!(!again.status.success());

    let pids: Vec<i32> = ["src", "dst", "tok"]
        .iter()
        .map(|n| doc[n]["pid"].as_i64().unwrap() as i32)
        .collect();
    assert!(pids.iter().all(|p| pid_alive(*p)));

    let out = Command::new(BIN)
        .args(["down", "--state-dir"])
        .arg(&state)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "down failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!pid_alive(supervisor));
    wait_until("registries to exit", || pids.iter().all(|p| !pid_alive(*p)));
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    assert!(!state.exists(), "down removes the state dir");
}

#[test]
fn up_foreground_stops_on_sigterm() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("fg");
    let _guard = DownOnDrop(state.clone());
    let child = Command::new(BIN)
        .args(["up", "--foreground", "--state-dir"])
        .arg(&state)
        .args(["--plain", "one"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let json = state.join("registries.json");
    wait_until("registries.json", || json.exists());
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let reg_pid = doc["one"]["pid"].as_i64().unwrap() as i32;
    assert_eq!(v2_status(&doc["one"], false), 200);
    // SAFETY: signalling the child we spawned.
    unsafe { libc::kill(child.0.id() as i32, libc::SIGTERM) };
    let status = child.0.wait().unwrap();
    assert!(status.success());
    wait_until("registry exit", || !pid_alive(reg_pid));
    assert!(!json.exists());
    let out = Command::new(BIN)
        .args(["down", "--state-dir"])
        .arg(&state)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!state.exists());
}

#[test]
fn missing_registry_binary_is_an_error_with_install_hint() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["up", "--foreground", "--state-dir"])
        .arg(tmp.path().join("s"))
        .args(["--plain", "a"])
        .env("PATH", tmp.path())
        .env_remove("CC_TESTKIT_REGISTRY_BIN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("apt-get install -y docker-registry"), "{err}");
}

#[test]
fn proxy_subcommand_injects_and_reports_stats() {
    let reg = Registry::plain().unwrap();
    copy_containers_testkit::seed::blocking::seed_image(&reg, "s/t", "v", "amd64", 1).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let stats = tmp.path().join("stats.json");
    let port = free_port().unwrap();
    let child = Command::new(BIN)
        .args([
            "proxy",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--upstream",
            &reg.url(),
        ])
        .args([
            "--fail-rate",
            "1.0",
            "--seed",
            "3",
            "--fault",
            "status",
            "--fail-status",
            "418",
        ])
        .args(["--path-contains", "/manifests/", "--stats"])
        .arg(&stats)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let mut line = String::new();
    std::io::BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), format!("http://127.0.0.1:{port}"));
    let base = line.trim().to_string();
    let get = |p: &str| {
        request_blocking("GET", &format!("{base}{p}"), &[], Vec::new(), None)
            .unwrap()
            .status
    };
    assert_eq!(get("/v2/"), 200);
    assert_eq!(get("/v2/s/t/manifests/v"), 418);
    assert_eq!(get("/v2/s/t/tags/list"), 200);
    // SAFETY: signalling the child we spawned.
    unsafe { libc::kill(child.0.id() as i32, libc::SIGTERM) };
    assert!(child.0.wait().unwrap().success());
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&stats).unwrap()).unwrap();
    assert_eq!(v["requests"], 3);
    assert_eq!(v["faults"]["status"], 1);
    assert_eq!(v["by_status"]["418"], 1);
    assert_eq!(v["by_kind"]["tags"], 1);
}
