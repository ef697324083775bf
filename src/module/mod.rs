//! The Ansible binary-module face of the same binary. Ansible copies the binary to the target and
//! runs it with one argument, the path of a JSON file holding the task's parameters (plus internal
//! `_ansible_*` keys). We validate them like Ansible's argument spec would, run the promotion (or
//! plan it in check mode), and print exactly one JSON result — scrubbed of every secret, even when
//! something panics or a second signal ends the process ([`emit`]).
//!
//! The result is short by default ([`result_of`]): `ansible-playbook -v` prints it whole, as one
//! line, into `ANSIBLE_LOG_PATH`, which the promoter publishes. It holds the outcome, the counts,
//! each cause of failure once with a few of its images, and the report files; the per-image details
//! are in the JSON report, or in the result with `full_result: true`.

pub mod args;
pub mod stage_info;

use std::path::Path;
use std::sync::OnceLock;

use serde_json::{json, Map, Value};

use crate::progress::Progress;
use crate::promote::{self, PromoteArgs, RegistryArgs};
use crate::report::{Report, TagAction};
use crate::verbs;
use args::Action;

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
    let read = crate::input::read(path, "module arguments file").map_err(|e| e.to_string());
    let result = match read {
        Ok(bytes) => run_bytes(&bytes),
        Err(e) => failed(
            &format!("cannot read the module arguments {}: {e}", path.display()),
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
        emit(&json!({"failed": true, "changed": false, "msg": msg}).to_string());
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

fn failed(msg: &str, secrets: &[String]) -> Value {
    json!({"failed": true, "changed": false, "msg": crate::report::scrub(msg, secrets)})
}

/// Collect secret values from the parameters (registry passwords and tokens): whatever shape a
/// secret-named key holds (a string, a number as YAML gives an all-digit password, or by mistake a
/// list or a dictionary: every string and number inside), at any depth, also inside string values
/// that hold JSON (ad hoc `-a 'target_registries=[{"password": …}]'`, or a list of such strings).
fn collect_secrets(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if args::SECRET_KEYS.contains(&k.as_str()) {
                    every_scalar(x, out);
                }
                collect_secrets(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_secrets(x, out)),
        Value::String(s) => {
            if let Some(parsed) = as_json_container(s) {
                collect_secrets(&parsed, out);
            }
            // a host given as `https://user:password@host`
            if let Some((_, password)) = crate::error::userinfo_of(s).and_then(|i| i.split_once(':')) {
                out.push(password.to_string());
            }
        }
        _ => {}
    }
}

/// Every string and number in a value given under a secret-named key.
fn every_scalar(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) if !s.is_empty() && s != "unused" => out.push(s.clone()),
        Value::Number(n) => out.push(n.to_string()),
        Value::Array(a) => a.iter().for_each(|x| every_scalar(x, out)),
        Value::Object(m) => m.values().for_each(|x| every_scalar(x, out)),
        _ => {}
    }
}

/// A string holding a JSON dictionary or list, parsed.
fn as_json_container(s: &str) -> Option<Value> {
    looks_like_json(s)
        .then(|| serde_json::from_str::<Value>(s).ok())
        .flatten()
}

/// Every secret value in the arguments (see [`collect_secrets`]), and those of the stage-info file.
fn secrets_of(raw: &Map<String, Value>) -> Vec<String> {
    let mut secrets = Vec::new();
    if let Some(info) = raw
        .get("stage_info")
        .and_then(Value::as_str)
        .and_then(|p| stage_info::load(Path::new(p)).ok())
    {
        collect_secrets(&json!({"s": info.source, "t": info.targets}), &mut secrets);
    }
    collect_secrets(&Value::Object(raw.clone()), &mut secrets);
    secrets.sort();
    secrets.dedup();
    secrets
}

/// `invocation.module_args` with secrets replaced the way Ansible does: the value of a
/// secret-named key, whatever its shape, is `VALUE_SPECIFIED_IN_NO_LOG_PARAMETER` (`unused` and
/// nothing stay as given). A string holding a JSON dictionary or list is shown parsed and censored
/// alike, at any depth (so its secrets are censored whatever escapes it used, `\u0050`, `\"`); one
/// that cannot be parsed but names a secret key is hidden whole; every other string is scrubbed.
fn censor(v: &Value, secrets: &[String]) -> Value {
    const HIDDEN: &str = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER";
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| {
                    let hide = args::SECRET_KEYS.contains(&k.as_str())
                        && !x.is_null()
                        && x.as_str() != Some("unused");
                    let x = if hide {
                        Value::String(HIDDEN.into())
                    } else {
                        censor(x, secrets)
                    };
                    (k.clone(), x)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|x| censor(x, secrets)).collect()),
        Value::String(s) => match as_json_container(s) {
            Some(parsed) => censor(&parsed, secrets),
            None if looks_like_json(s) && args::SECRET_KEYS.iter().any(|k| s.contains(k)) => {
                Value::String(HIDDEN.into())
            }
            None => Value::String(crate::report::scrub(s, secrets)),
        },
        other => other.clone(),
    }
}

/// A string that starts like a JSON dictionary or list (whether or not it parses).
fn looks_like_json(s: &str) -> bool {
    let t = s.trim_start();
    t.starts_with('{') || t.starts_with('[')
}

/// Validate and run; never panics on bad input.
pub fn run_bytes(bytes: &[u8]) -> Value {
    let raw: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            return failed(
                &format!(
                    "the module arguments are not valid JSON (line {}, column {})",
                    e.line(),
                    e.column()
                ),
                &[],
            )
        }
    };
    let Value::Object(raw) = raw else {
        return failed("the module arguments must be a JSON object", &[]);
    };
    let secrets = secrets_of(&raw);
    let _ = SECRETS.set(secrets.clone());
    let user_args: Map<String, Value> = raw
        .iter()
        .filter(|(k, _)| !k.starts_with("_ansible_"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let (mut result, shown_args) = match args::validate(raw) {
        Err(msg) => (failed(&msg, &secrets), Value::Object(user_args)),
        Ok(params) => {
            // Shown as converted (dictionaries given as JSON strings are dictionaries by now), so
            // their `password` keys are censored like top-level ones.
            let shown = Value::Object(params.values.clone());
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build();
            let result = match rt {
                Ok(rt) => rt.block_on(run_params(params, &secrets)),
                Err(e) => failed(&format!("cannot start the async runtime: {e}"), &secrets),
            };
            (result, shown)
        }
    };
    let invocation = json!({"module_args": censor(&shown_args, &secrets)});
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
    let a = match params.typed() {
        Ok(a) => a,
        Err(msg) => return failed(&msg, secrets),
    };
    if a.action == Action::DeleteLocal {
        let scope = a.scope.unwrap_or(args::Scope::Container);
        return delete_local(&a.promote, scope, params.check_mode, secrets);
    }
    // Check mode changes nothing; `verify` changes nothing anyway, so it really verifies.
    let dry_run = params.check_mode && a.action != Action::Verify;
    let report = match a.action {
        Action::Rollback => run_rollback(&a.promote, dry_run).await,
        Action::Tag => run_tag(a.promote, a.registries, dry_run).await,
        _ => return run_promote(&a.promote, a.action, &params, a.full_result, secrets).await,
    };
    match report {
        Ok(r) => result_of(&r, params.diff, a.full_result),
        Err(msg) => failed(&msg, secrets),
    }
}

/// `action: rollback`.
async fn run_rollback(pa: &PromoteArgs, dry_run: bool) -> Result<Report, String> {
    let p = pa
        .resolve(promote::model::read_list_file)
        .map_err(|e| e.to_string())?;
    Ok(verbs::rollback(&p, dry_run).await)
}

/// `action: tag`: the label on `registries` (default: the source).
async fn run_tag(pa: PromoteArgs, registries: Vec<RegistryArgs>, dry_run: bool) -> Result<Report, String> {
    if registries.is_empty() && pa.source_registry.is_none() {
        return Err("action tag needs registries (or source_registry)".into());
    }
    let req = verbs::TagRequest {
        args: pa,
        registries,
        what: "registries",
        dry_run,
    };
    verbs::tag(req).await.map_err(|e| e.to_string())
}

/// `action: promote` or `verify`: the result carries whether the lists got ppc64le images.
async fn run_promote(
    pa: &PromoteArgs,
    action: Action,
    params: &args::Params,
    full: bool,
    secrets: &[String],
) -> Value {
    let p = match pa.resolve(promote::model::read_list_file) {
        Ok(p) => p,
        Err(e) => return failed(&e.to_string(), secrets),
    };
    handle_signals();
    // Check mode writes nothing, not even the reports of a `verify` it really ran.
    // Never any progress: stdout is the JSON result and nobody watches a module's stderr.
    let none = Progress::none();
    let r = if action == Action::Verify {
        verbs::verify(&p, false, !params.check_mode, &none).await
    } else {
        verbs::promote(&p, params.check_mode, &none).await
    };
    let ppc = p.ppc_manifests && r.ppc_missing.is_empty();
    let mut v = result_of(&r, params.diff, full);
    v["ppc_manifests"] = json!(ppc);
    v["ppc_checked"] = json!(stage_info::ppc_checked(&p, &r));
    v
}

/// `action: delete_local`: remove local copies by scope, verify, report freed bytes.
fn delete_local(pa: &PromoteArgs, scope: args::Scope, dry_run: bool, secrets: &[String]) -> Value {
    use crate::store::{DeleteOptions, DeleteScope};
    let root = match crate::store::resolve_root(pa.local_store.as_deref()) {
        Ok(r) => r,
        Err(e) => return failed(&e.to_string(), secrets),
    };
    let wait = std::time::Duration::from_secs(pa.lock_timeout.unwrap_or(600).min(86_400));
    let release = pa.release.clone();
    let scopes: Vec<DeleteScope> = match scope {
        args::Scope::All => vec![DeleteScope::All],
        args::Scope::Release => vec![DeleteScope::Release(release.clone().unwrap_or_default())],
        args::Scope::Container => pa
            .containers
            .iter()
            .flatten()
            .map(|n| DeleteScope::container(n, release.clone()))
            .collect(),
    };
    // Not `require_match`: a re-run deletes nothing and is fine; a scope matching nothing gets a
    // warning naming what the store holds (Ansible shows `warnings`).
    let opts = DeleteOptions {
        dry_run,
        require_match: false,
    };
    let mut reports = Vec::new();
    for sc in &scopes {
        match crate::store::delete_verified(&root, sc, opts, wait) {
            Ok(r) => reports.push(r),
            Err(e) => return failed(&format!("delete_local ({}): {e}", scope.as_str()), secrets),
        }
    }
    let warnings: Vec<&String> = reports.iter().flat_map(|r| &r.warnings).collect();
    let changed = reports.iter().any(|r| r.changed);
    let ok = reports.iter().all(|r| r.ok());
    let freed: u64 = reports.iter().map(|r| r.freed_bytes).sum();
    let removed: usize = reports.iter().map(|r| r.removed.len()).sum();
    json!({
        "changed": changed,
        "failed": !ok,
        "msg": format!(
            "{}{} local image reference(s) {}, {} bytes {}; verification {}",
            if dry_run { "check mode: " } else { "" },
            removed,
            if dry_run { "would be removed" } else { "removed" },
            freed,
            if dry_run { "would be freed" } else { "freed" },
            if ok { "passed" } else { "FAILED" }
        ),
        "freed_bytes": freed,
        "warnings": warnings,
        "deleted": reports,
        "local_store": root,
    })
}

/// Images named per cause in the short result (the report names them all).
pub const EXAMPLES: usize = 3;

/// The module result for a report. Short unless `full` (what `ansible-playbook -v` prints into the
/// published log): `changed`, `failed`, `msg`, `status`, the hash and label, `counts`, `causes` (each
/// cause of failure once: its phase, kind, registry and words, how often, how many images and a few of
/// them), `report_files`, `local` (its root and size), `seconds`, the `plan` in check mode and
/// `interrupted` when the run was stopped. `full` adds the per-image details as the JSON report has
/// them: the name lists (`found` … `missed`), `errors`, `problems`, `problem_groups`, `containers`,
/// `registries` and the local store's lists.
pub fn result_of(r: &Report, diff: bool, full: bool) -> Value {
    let ok = r.errors.is_empty();
    let changed = r.changed && !(r.dry_run && !ok && r.containers.is_empty());
    let counts = |pred: fn(TagAction) -> bool| {
        r.containers
            .iter()
            .flat_map(|c| c.entries.iter())
            .filter(|e| pred(e.action))
            .count()
    };
    let (changed_tags, in_place) = (
        counts(TagAction::changed),
        counts(|a| a == TagAction::AlreadyPresent),
    );
    // Registries this run touched: the ones with entries in the report.
    let mut touched: Vec<&str> = r
        .containers
        .iter()
        .flat_map(|c| c.entries.iter())
        .map(|e| e.registry.as_str())
        .collect();
    touched.sort();
    touched.dedup();
    let n = touched.len();
    let msg = if ok {
        format!(
            "{} {} as {} on {} registr{}: {} containers, {} tags changed, {} already in place{}",
            match (r.action.as_str(), r.dry_run) {
                ("verify", _) => "verified",
                ("tag", false) => "labelled",
                ("tag", true) => "would label",
                ("rollback", false) => "rolled back",
                ("rollback", true) => "would roll back",
                (_, false) => "promoted",
                (_, true) => "would promote",
            },
            r.full_hash,
            r.named_label,
            n,
            if n == 1 { "y" } else { "ies" },
            r.found.len(),
            changed_tags,
            in_place,
            if r.dry_run {
                " (check mode: nothing changed)"
            } else {
                ""
            }
        )
    } else {
        // One cause, one phrase: the full per-tag list stays in the report (and `full_result`).
        let lines: Vec<String> = r
            .failure_lines()
            .iter()
            .map(|l| l.trim_start().to_string())
            .collect();
        format!("{} failed: {}", r.action, lines.join("; "))
    };
    let msg = std::iter::once(msg)
        .chain(r.label_lines())
        .collect::<Vec<_>>()
        .join("; ");
    let causes: Vec<Value> = r
        .problem_groups
        .iter()
        .map(|g| {
            let mut c = json!({
                "phase": g.phase,
                "kind": g.kind,
                "registry": g.registry,
                "cause": g.cause,
                "count": g.count,
                "images": g.containers.len(),
                "examples": g.containers.iter().take(EXAMPLES).collect::<Vec<_>>(),
            });
            if let Some(todo) = &g.todo {
                c["todo"] = json!(todo);
            }
            c
        })
        .collect();
    let mut v = json!({
        "changed": changed,
        "failed": !ok,
        "msg": msg,
        "status": r.status,
        "full_hash": r.full_hash,
        "named_label": r.named_label,
        "counts": {
            "found": r.found.len(),
            "missing": r.missing.len(),
            "ppc_found": r.ppc_found.len(),
            "ppc_missing": r.ppc_missing.len(),
            "pushed": r.pushed.len(),
            "missed": r.missed.len(),
            "tags_changed": changed_tags,
            "tags_in_place": in_place,
            "local_reused": r.local_reused.len(),
            "local_kept": r.local_kept.len(),
            "local_removed": r.local_removed.len(),
        },
        "causes": causes,
        "report_files": r.files,
        "local": {"root": r.local_root, "bytes": r.local_bytes},
        "seconds": r.seconds,
    });
    if let Some(plan) = &r.plan {
        if r.dry_run || full {
            v["plan"] = json!(plan);
        }
    }
    if let Some(i) = &r.interrupted {
        v["interrupted"] = json!(i);
    }
    if full {
        for (k, x) in [
            ("found", json!(r.found)),
            ("missing", json!(r.missing)),
            ("ppc_found", json!(r.ppc_found)),
            ("ppc_missing", json!(r.ppc_missing)),
            ("pushed", json!(r.pushed)),
            ("missed", json!(r.missed)),
            ("errors", json!(r.errors)),
            ("problems", json!(r.problems)),
            ("problem_groups", json!(r.problem_groups)),
            ("containers", json!(r.containers)),
            ("registries", json!(r.registries)),
        ] {
            v[k] = x;
        }
        v["local"]["reused"] = json!(r.local_reused);
        v["local"]["kept"] = json!(r.local_kept);
        v["local"]["removed"] = json!(r.local_removed);
    }
    if diff {
        let mut before = String::new();
        let mut after = String::new();
        for c in &r.containers {
            for e in &c.entries {
                if e.action.changed() {
                    before.push_str(&format!(
                        "{}/{}:{} {}\n",
                        e.registry,
                        e.repository,
                        e.tag,
                        e.previous.as_deref().unwrap_or("(absent)")
                    ));
                    after.push_str(&format!(
                        "{}/{}:{} {}\n",
                        e.registry,
                        e.repository,
                        e.tag,
                        e.digest.as_deref().unwrap_or("?")
                    ));
                }
            }
        }
        v["diff"] = json!({"before": before, "after": after, "before_header": "tags before", "after_header": "tags after"});
    }
    v
}
