//! `cc-testkit`: start/stop testkit registries and proxies from shell scripts
//! (demo, molecule, benchmarks).
//!
//! ```text
//! cc-testkit up --state-dir DIR [--plain NAME[:PORT]]... [--tls-htpasswd NAME[:PORT]:USER:PASS]...
//!               [--token NAME[:PORT]:USER:PASS]... [--foreground] [--timeout SECS]
//! cc-testkit down --state-dir DIR
//! cc-testkit proxy --listen 127.0.0.1:PORT --upstream URL [--upstream-ca FILE]
//!                  [--fail-rate P] [--seed N] [--fault status|reset|midbody] [--fail-status CODE]
//!                  [--path-contains S] [--stats FILE]
//! ```
//!
//! `up` writes `DIR/registries.json` (name → kind, host, url, ca, cert_dir,
//! user, password, storage_dir, pid, token_realm) once every registry answers,
//! and `DIR/pid` (the supervisor holding them). Without `--foreground` it
//! returns as soon as everything is ready, leaving the supervisor running in
//! its own session (log: `DIR/supervisor.log`).

use anyhow::{anyhow, bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use copy_containers_testkit::{
    Auth, FaultAction, FaultRule, Proxy, ProxyOptions, Registry, RegistryOptions, TestCa, TokenServerOptions,
};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    name = "cc-testkit",
    about = "copy-containers test registries and fault-injecting proxies"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start registries and write DIR/registries.json.
    Up {
        /// State directory (created if missing).
        #[arg(long)]
        state_dir: PathBuf,
        /// Plain-HTTP anonymous registry: NAME or NAME:PORT.
        #[arg(long, value_name = "NAME[:PORT]")]
        plain: Vec<String>,
        /// HTTPS + htpasswd registry: NAME:USER:PASS or NAME:PORT:USER:PASS.
        #[arg(long = "tls-htpasswd", value_name = "NAME[:PORT]:USER:PASS")]
        tls_htpasswd: Vec<String>,
        /// HTTPS + token-auth registry: NAME:USER:PASS or NAME:PORT:USER:PASS.
        #[arg(long, value_name = "NAME[:PORT]:USER:PASS")]
        token: Vec<String>,
        /// Stay in the foreground until SIGTERM/SIGINT.
        #[arg(long)]
        foreground: bool,
        /// Seconds to wait for readiness (daemon mode).
        #[arg(long, default_value_t = 90)]
        timeout: u64,
    },
    /// Stop the registries of DIR and remove its state.
    Down {
        /// State directory given to `up`.
        #[arg(long)]
        state_dir: PathBuf,
    },
    /// Run a fault-injecting proxy in the foreground until SIGTERM/SIGINT.
    Proxy {
        /// Listen address (loopback).
        #[arg(long)]
        listen: SocketAddr,
        /// Upstream base URL.
        #[arg(long)]
        upstream: String,
        /// CA PEM for an https upstream.
        #[arg(long)]
        upstream_ca: Option<PathBuf>,
        /// Probability of injecting the fault on a matching request.
        #[arg(long, default_value_t = 0.0)]
        fail_rate: f64,
        /// PRNG seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Fault to inject.
        #[arg(long, value_enum, default_value_t = FaultArg::Status)]
        fault: FaultArg,
        /// Status for `--fault status`.
        #[arg(long, default_value_t = 503)]
        fail_status: u16,
        /// Only inject on paths containing this.
        #[arg(long)]
        path_contains: Option<String>,
        /// Seconds a matching request is held for `--fault delay` (then forwarded).
        #[arg(long, default_value_t = 600)]
        delay_secs: u64,
        /// Write how many times the fault fired to this file, each time it fires (a script waits
        /// for it to hold a run at a chosen request).
        #[arg(long)]
        fired: Option<PathBuf>,
        /// Write counters as JSON here on exit.
        #[arg(long)]
        stats: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum FaultArg {
    Status,
    Reset,
    Midbody,
    /// Hold the request `--delay-secs`, then forward it.
    Delay,
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("cc-testkit: error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Up {
            state_dir,
            plain,
            tls_htpasswd,
            token,
            foreground,
            timeout,
        } => {
            let specs = parse_specs(&plain, &tls_htpasswd, &token)?;
            if specs.is_empty() {
                bail!("nothing to start: give --plain, --tls-htpasswd or --token");
            }
            std::fs::create_dir_all(&state_dir)?;
            let state_dir = state_dir.canonicalize()?;
            if let Some(pid) = read_pid(&state_dir) {
                if alive(pid) {
                    bail!(
                        "{} is already up (supervisor pid {pid}); run `cc-testkit down` first",
                        state_dir.display()
                    );
                }
            }
            if foreground {
                supervise(&state_dir, &specs)
            } else {
                daemonize(&state_dir, Duration::from_secs(timeout))
            }
        }
        Cmd::Down { state_dir } => down(&state_dir),
        Cmd::Proxy {
            listen,
            upstream,
            upstream_ca,
            fail_rate,
            seed,
            fault,
            fail_status,
            path_contains,
            delay_secs,
            fired,
            stats,
        } => run_proxy(
            listen,
            upstream,
            upstream_ca,
            (fail_rate, seed),
            (fault, fail_status, delay_secs),
            path_contains,
            fired,
            stats,
        ),
    }
}

#[derive(Debug, Clone)]
enum Kind {
    Plain,
    TlsHtpasswd,
    Token,
}

#[derive(Debug, Clone)]
struct Spec {
    name: String,
    kind: Kind,
    port: Option<u16>,
    user: Option<(String, String)>,
}

fn parse_specs(plain: &[String], tls: &[String], token: &[String]) -> Result<Vec<Spec>> {
    let mut out = Vec::new();
    for s in plain {
        let parts: Vec<&str> = s.split(':').collect();
        let (name, port) = match parts.as_slice() {
            [n] => (*n, None),
            [n, p] => (*n, Some(p.parse().with_context(|| format!("bad port in {s:?}"))?)),
            _ => bail!("--plain wants NAME or NAME:PORT, got {s:?}"),
        };
        out.push(Spec {
            name: name.into(),
            kind: Kind::Plain,
            port,
            user: None,
        });
    }
    for (list, kind, flag) in [
        (tls, Kind::TlsHtpasswd, "--tls-htpasswd"),
        (token, Kind::Token, "--token"),
    ] {
        for s in list {
            let parts: Vec<&str> = s.split(':').collect();
            let (name, port, u, p) = match parts.as_slice() {
                [n, u, p] => (*n, None, *u, *p),
                [n, port, u, p] => (
                    *n,
                    Some(port.parse().with_context(|| format!("bad port in {s:?}"))?),
                    *u,
                    *p,
                ),
                _ => bail!("{flag} wants NAME[:PORT]:USER:PASS, got {s:?}"),
            };
            out.push(Spec {
                name: name.into(),
                kind: kind.clone(),
                port,
                user: Some((u.into(), p.into())),
            });
        }
    }
    let mut names = std::collections::HashSet::new();
    for s in &out {
        if s.name.is_empty()
            || !s
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            bail!("registry name {:?} must be [A-Za-z0-9_-]+", s.name);
        }
        if !names.insert(s.name.clone()) {
            bail!("duplicate registry name {:?}", s.name);
        }
    }
    Ok(out)
}

fn pid_path(dir: &Path) -> PathBuf {
    dir.join("pid")
}

fn json_path(dir: &Path) -> PathBuf {
    dir.join("registries.json")
}

fn read_pid(dir: &Path) -> Option<i32> {
    std::fs::read_to_string(pid_path(dir)).ok()?.trim().parse().ok()
}

/// Alive, not a zombie, and still a cc-testkit process (pids get reused).
fn alive(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, r)| r.trim_start().chars().next());
    if matches!(state, Some('Z') | Some('X') | None) {
        return false;
    }
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains("cc-testkit"))
        .unwrap_or(false)
}

fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn supervise(dir: &Path, specs: &[Spec]) -> Result<()> {
    let _ = std::fs::remove_file(json_path(dir));
    write_atomic(&pid_path(dir), format!("{}\n", std::process::id()).as_bytes())?;
    let ca = Arc::new(TestCa::new()?);
    ca.write_ca(&dir.join("ca.crt"))?;
    let mut regs: Vec<(Spec, Registry)> = Vec::new();
    let mut doc = BTreeMap::new();
    for spec in specs {
        let (tls, auth) = match (&spec.kind, &spec.user) {
            (Kind::Plain, _) => (false, Auth::None),
            (Kind::TlsHtpasswd, Some((u, p))) => (true, Auth::Htpasswd(vec![(u.clone(), p.clone())])),
            (Kind::Token, Some((u, p))) => (true, Auth::Token(TokenServerOptions::with_user(u, p))),
            _ => unreachable!("specs with auth carry a user"),
        };
        let reg = Registry::with_options(RegistryOptions {
            tls,
            auth,
            port: spec.port,
            dir: Some(dir.join(&spec.name)),
            ca: Some(ca.clone()),
            ..Default::default()
        })
        .with_context(|| format!("starting registry {:?}", spec.name))?;
        let kind = match spec.kind {
            Kind::Plain => "plain",
            Kind::TlsHtpasswd => "tls-htpasswd",
            Kind::Token => "token",
        };
        let creds = reg.credentials();
        doc.insert(
            spec.name.clone(),
            serde_json::json!({
                "kind": kind,
                "host": reg.host(),
                "url": reg.url(),
                "ca": reg.ca_pem_path(),
                "cert_dir": reg.cert_dir(),
                "user": creds.as_ref().map(|c| c.0.clone()),
                "password": creds.as_ref().map(|c| c.1.clone()),
                "storage_dir": reg.storage_dir(),
                "dir": reg.dir(),
                "pid": reg.pid(),
                "token_realm": reg.token_server().map(|t| t.realm()),
            }),
        );
        eprintln!("cc-testkit: {} ({kind}) ready at {}", spec.name, reg.url());
        regs.push((spec.clone(), reg));
    }
    let json = serde_json::to_string_pretty(&doc)? + "\n";
    write_atomic(&json_path(dir), json.as_bytes())?;
    println!("{}", json_path(dir).display());

    wait_for_signal()?;
    eprintln!("cc-testkit: stopping {} registries", regs.len());
    drop(regs);
    let _ = std::fs::remove_file(json_path(dir));
    let _ = std::fs::remove_file(pid_path(dir));
    Ok(())
}

fn wait_for_signal() -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut hup = signal(SignalKind::hangup())?;
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
            _ = hup.recv() => {}
        }
        Ok::<_, anyhow::Error>(())
    })
}

fn daemonize(dir: &Path, timeout: Duration) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let _ = std::fs::remove_file(json_path(dir));
    let log_path = dir.join("supervisor.log");
    let log = std::fs::File::create(&log_path)?;
    let exe = std::env::current_exe()?;
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    args.push("--foreground".into());
    let mut cmd = Command::new(exe);
    cmd.args(&args)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // SAFETY: setsid is async-signal-safe; it detaches the supervisor from
    // our session so it outlives this process and the calling shell.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().context("starting the supervisor")?;
    let deadline = Instant::now() + timeout;
    loop {
        if json_path(dir).exists() {
            println!("{}", json_path(dir).display());
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            bail!(
                "supervisor exited ({status}) before the registries were ready; {}:\n{}",
                log_path.display(),
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "registries not ready after {timeout:?}; {}:\n{}",
                log_path.display(),
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn down(dir: &Path) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    let mut reg_dirs: Vec<PathBuf> = Vec::new();
    if let Ok(text) = std::fs::read_to_string(json_path(dir)) {
        if let Ok(serde_json::Value::Object(m)) = serde_json::from_str::<serde_json::Value>(&text) {
            for (_, v) in m {
                if let Some(d) = v["dir"].as_str() {
                    reg_dirs.push(PathBuf::from(d));
                }
            }
        }
    }
    if let Some(pid) = read_pid(dir) {
        if alive(pid) {
            // SAFETY: plain kill(2) on a pid we verified is a cc-testkit process.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(15);
            while alive(pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            if alive(pid) {
                // SAFETY: as above.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
    // Registry directories: the ones listed, plus any leftover that looks
    // like one (config.yml + storage/).
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() && p.join("config.yml").exists() && p.join("storage").is_dir() {
                reg_dirs.push(p);
            }
        }
    }
    for d in reg_dirs {
        if d.starts_with(dir) {
            let _ = std::fs::remove_dir_all(&d);
        }
    }
    for f in [
        "registries.json",
        "registries.tmp",
        "pid",
        "pid.tmp",
        "supervisor.log",
        "ca.crt",
    ] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    let _ = std::fs::remove_dir(dir);
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn run_proxy(
    listen: SocketAddr,
    upstream: String,
    upstream_ca: Option<PathBuf>,
    (fail_rate, seed): (f64, u64),
    (fault, fail_status, delay_secs): (FaultArg, u16, u64),
    path_contains: Option<String>,
    fired: Option<PathBuf>,
    stats: Option<PathBuf>,
) -> Result<()> {
    if !listen.ip().is_loopback() {
        return Err(anyhow!("--listen must be a loopback address, got {listen}"));
    }
    let proxy = Proxy::start_with(ProxyOptions {
        upstream,
        upstream_ca,
        listen: Some(listen),
        tls: None,
        local: None,
    })?;
    if fail_rate > 0.0 {
        let action = match fault {
            FaultArg::Status => FaultAction::Status {
                code: fail_status,
                retry_after: None,
            },
            FaultArg::Reset => FaultAction::ResetConnection,
            FaultArg::Midbody => FaultAction::ResetMidBody,
            FaultArg::Delay => FaultAction::Delay(Duration::from_secs(delay_secs)),
        };
        let mut rule = FaultRule::new(action).probability(fail_rate, seed);
        if let Some(p) = &path_contains {
            rule = rule.path_contains(p);
        }
        proxy.add_rule(rule);
    }
    println!("{}", proxy.url());
    eprintln!("cc-testkit: proxy {} -> {}", proxy.url(), proxy.upstream());
    let over = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        if let Some(path) = &fired {
            let (proxy, over) = (&proxy, &over);
            s.spawn(move || {
                let mut last = 0;
                while !over.load(std::sync::atomic::Ordering::Relaxed) {
                    let now = proxy.rule_fired(0);
                    if now != last && write_atomic(path, format!("{now}\n").as_bytes()).is_ok() {
                        last = now;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            });
        }
        let r = wait_for_signal();
        over.store(true, std::sync::atomic::Ordering::Relaxed);
        r
    })?;
    let json = serde_json::to_string_pretty(&proxy.stats_json())? + "\n";
    match stats {
        Some(path) => write_atomic(&path, json.as_bytes())?,
        None => print!("{json}"),
    }
    Ok(())
}
