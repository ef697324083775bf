//! The Ansible binary-module face of the same binary. Ansible copies the binary to the target and
//! runs it with one argument, the path of a JSON file holding the task's parameters (plus internal
//! `_ansible_*` keys). We validate them like Ansible's argument spec would, run the promotion (or
//! plan it in check mode), and print exactly one JSON result — scrubbed of every secret, even when
//! something panics or a second signal ends the process ([`emit`]).
//!
//! The result is short by default ([`crate::report::result`]): the outcome, the counts, each cause
//! of failure once with a few of its images, and the report files; the per-image details are in the
//! JSON report, or in the result with `full_result: true`.

pub mod args;

use std::path::Path;
use std::sync::OnceLock;

use serde_json::{json, Map, Value};

use crate::error::Kind;
use crate::options::{Action, Scope};
use crate::progress::Progress;
use crate::report::result::module_result;
use crate::verbs::{self, local};

/// The secrets seen in the arguments, for the panic hook.
static SECRETS: OnceLock<Vec<String>> = OnceLock::new();

/// Print the module's result on stdout: the first call prints (a reader gone away is not an error:
/// there is nobody left to tell), later ones print nothing, so stdout holds one JSON object whoever
/// prints first (the run, the panic hook, a second signal). True when this call printed.
pub fn emit(text: &str) -> bool {
    use std::io::Write;
    static PRINTED: std::sync::Mutex<bool> = std::sync::Mutex::new(false);
    let mut printed = PRINTED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if *printed {
        return false;
    }
    *printed = true;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}").and_then(|_| out.flush());
    true
}

/// Run as a module: returns the JSON text to print (exactly one object, see [`emit`]) and the exit
/// status: 0, 1 when it failed, or a signal's conventional status (143, 130, 129) when one
/// interrupted the run (Ansible reads the result, not the status).
pub fn main_with_file(path: &Path) -> (String, i32) {
    install_panic_hook();
    let result = match crate::input::read(path, "module arguments file") {
        Ok(bytes) => run_bytes(&bytes),
        Err(e) => failed_with(
            &e.context(format!("cannot read the module arguments {}", path.display())),
            &[],
        ),
    };
    let failed = result.get("failed").and_then(Value::as_bool).unwrap_or(false);
    let text = serde_json::to_string(&result)
        .unwrap_or_else(|_| r#"{"failed": true, "msg": "result serialisation failed"}"#.into());
    let signal = match crate::stop::process().cause() {
        Some(crate::stop::Cause::Signal(s)) if failed => Some(s.exit_status()),
        _ => None,
    };
    (text, signal.unwrap_or(i32::from(failed)))
}

fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let secrets = SECRETS.get().cloned().unwrap_or_default();
        let msg = crate::report::scrub(
            &format!("copy-containers crashed (a bug; please report it): {info}"),
            &secrets,
        );
        emit(&failed(Kind::Other, &msg, &[]).to_string());
    }));
}

/// From here on SIGTERM, SIGINT and SIGHUP stop the run cleanly: its report is written and the
/// result is `failed`, naming the signal. Under the promoter's `timeout`, Ansible gets the signal
/// too and may be gone by then: the result is printed all the same, once ([`emit`]), for whoever
/// still reads it, and the report stays.
fn handle_signals() {
    if let Err(e) = crate::stop::handle_signals(stopped_at_once) {
        crate::report::warn_once(&format!(
            "cannot handle signals ({e}): a signal ends the run without a report"
        ));
    }
}

/// A second signal ends the process at once: the one result says so (unless it was printed).
fn stopped_at_once(signal: crate::stop::Signal) {
    let msg = format!(
        "interrupted by {} twice: stopped at once, without a report (the labels moved so far \
         stay); run the task again to resume",
        signal.name()
    );
    emit(&json!({"failed": true, "changed": false, "msg": msg, "status": "interrupted"}).to_string());
}

/// The module's one failed shape, whatever the kind: `failed`, nothing changed, the message (secrets
/// masked) and the kind of its cause (as the report's problems name kinds).
fn failed(kind: Kind, msg: &str, secrets: &[String]) -> Value {
    json!({"failed": true, "changed": false, "msg": crate::report::scrub(msg, secrets), "kind": kind})
}

/// [`failed`] for an error: its message, its kind.
fn failed_with(e: &crate::Error, secrets: &[String]) -> Value {
    failed(Kind::of(e), &e.to_string(), secrets)
}

/// Every secret value in the arguments (see [`crate::scrub::secrets_in`]), and those of the stage-info file.
fn secrets_of(raw: &Map<String, Value>) -> Vec<String> {
    let mut secrets = Vec::new();
    if let Some(info) = raw
        .get("stage_info")
        .and_then(Value::as_str)
        .and_then(|p| verbs::stage_info::load(Path::new(p)).ok())
    {
        crate::scrub::secrets_in(&json!({"s": info.source, "t": info.targets}), &mut secrets);
    }
    crate::scrub::secrets_in(&Value::Object(raw.clone()), &mut secrets);
    secrets.sort();
    secrets.dedup();
    secrets
}

/// Validate and run; never panics on bad input.
pub fn run_bytes(bytes: &[u8]) -> Value {
    let raw: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            let (line, column) = (e.line(), e.column());
            let msg = format!("the module arguments are not valid JSON (line {line}, column {column})");
            return failed(Kind::Invalid, &msg, &[]);
        }
    };
    let Value::Object(raw) = raw else {
        return failed(Kind::Invalid, "the module arguments must be a JSON object", &[]);
    };
    let secrets = secrets_of(&raw);
    let _ = SECRETS.set(secrets.clone());
    let user_args: Map<String, Value> = raw
        .iter()
        .filter(|(k, _)| !k.starts_with("_ansible_"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let (mut result, shown_args) = match args::validate(raw) {
        Err(msg) => (failed(Kind::Invalid, &msg.0, &secrets), Value::Object(user_args)),
        Ok(params) => {
            // Shown as converted (dictionaries given as JSON strings are dictionaries by now), so
            // their `password` keys are censored like top-level ones.
            let shown = Value::Object(params.values.clone());
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build();
            let result = match rt {
                Ok(rt) => rt.block_on(run_params(params, &secrets)),
                Err(e) => failed(
                    Kind::Other,
                    &format!("cannot start the async runtime: {e}"),
                    &secrets,
                ),
            };
            (result, shown)
        }
    };
    let invocation = json!({"module_args": crate::scrub::censored(&shown_args, &secrets)});
    if let Value::Object(m) = &mut result {
        m.insert("invocation".into(), invocation);
        let warnings = crate::report::warnings();
        if !warnings.is_empty() {
            m.insert("warnings".into(), json!(warnings));
        }
    }
    crate::scrub::scrub_json(&mut result, &secrets);
    result
}

async fn run_params(params: args::Params, secrets: &[String]) -> Value {
    match run_action(&params).await {
        Ok(v) => v,
        Err(e) => failed_with(&e, secrets),
    }
}

/// The action the arguments ask for, through its verb; the result for Ansible.
async fn run_action(params: &args::Params) -> crate::Result<Value> {
    let a = params.typed()?;
    // Check mode changes nothing; `verify` changes nothing anyway, so it really verifies.
    let dry_run = params.check_mode && a.action != Action::Verify;
    // Never any progress: stdout is the JSON result and nobody watches a module's stderr.
    let none = Progress::none();
    let report = match a.action {
        Action::DeleteLocal => return delete_local(&a, params.check_mode),
        Action::Rollback => verbs::rollback(&verbs::promotion(&a.promote)?, dry_run).await,
        Action::Tag => {
            let req = verbs::TagRequest {
                args: a.promote,
                registries: a.registries,
                what: "registries",
                dry_run,
            };
            verbs::tag(req).await?
        }
        Action::Promote | Action::Verify => {
            let p = verbs::promotion(&a.promote)?;
            handle_signals();
            // Check mode writes nothing, not even the reports of a `verify` it really ran.
            let r = match a.action {
                Action::Verify => verbs::verify(&p, false, !params.check_mode, &none).await,
                _ => verbs::promote(&p, params.check_mode, &none).await,
            };
            // Whether the lists got ppc64le images (the staging playbook records it).
            let mut v = module_result(&r, params.diff, a.full_result);
            v["ppc_manifests"] = json!(p.ppc_manifests && r.ppc_missing.is_empty());
            v["ppc_checked"] = json!(verbs::ppc_checked(&p, &r));
            return Ok(v);
        }
    };
    Ok(module_result(&report, params.diff, a.full_result))
}

/// `action: delete_local`: remove local copies by scope, verify, report freed bytes. A scope matching
/// nothing is a warning naming what the store holds (a rerun deletes nothing and is fine).
fn delete_local(a: &args::ModuleArgs, dry_run: bool) -> crate::Result<Value> {
    let scope = a.scope.unwrap_or(Scope::Container);
    let at = local::StoreAt::find(a.promote.local_store.clone(), None)?;
    let req = local::DeleteRequest {
        scope,
        containers: a.promote.containers.clone().unwrap_or_default(),
        release: a.promote.release.clone(),
        dry_run,
        require_match: false,
        wait: local::lock_wait(a.promote.lock_timeout, false),
    };
    let d = local::delete(at.root(), &req)
        .map_err(|e| e.context(format!("delete_local ({})", scope.as_str())))?;
    let (ok, removed, freed) = (d.ok(), d.removed(), d.freed_bytes());
    let would = |done: &'static str, will: &'static str| if dry_run { will } else { done };
    Ok(json!({
        "changed": d.changed(),
        "failed": !ok,
        "msg": format!(
            "{}{removed} local image reference(s) {}, {freed} bytes {}; verification {}",
            would("", "check mode: "),
            would("removed", "would be removed"),
            would("freed", "would be freed"),
            if ok { "passed" } else { "FAILED" }
        ),
        "freed_bytes": freed,
        "warnings": d.warnings(),
        "deleted": d.reports,
        "local_store": d.root,
    }))
}
