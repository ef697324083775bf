//! The module's documentation (`src/module/copy_containers.yml`; `ansible-doc` reads its copy in the
//! launcher, `library/copy_containers.py`, kept identical by `tests/launcher_doc.rs`) against the
//! module itself: nothing in Ansible checks a binary module against its docs, so this test does.
//!
//! - the options' part is the rendering of their declaration (`src/options`): stale, it
//!   fails here; `scripts/regenerate` rewrites it;
//! - every option of `args::SPEC` is documented with the same type, elements, aliases, choices and
//!   no_log, and nothing else is; `required` matches what the validation requires;
//! - the registry dictionaries' `suboptions` are exactly the keys `RegistryArgs` accepts, the secret
//!   ones `no_log`;
//! - the documented defaults are the ones the promotion model applies;
//! - `RETURN` documents every key the module returns (top level, `containers[]`, their `entries[]`,
//!   `registries[]`, `diff`) and nothing it never returns: the binary runs on argument files (bad
//!   ones, and a real promotion between two local registries in check mode, for real, and again).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use copy_containers::module::args::{self, Kind, SECRET_KEYS, SPEC};
use copy_containers::promote::{PromoteArgs, RegistryArgs};
use copy_containers_testkit as tk;
use serde_json::{json, Map, Value};

const BIN: &str = env!("CARGO_BIN_EXE_copy-containers");
const FH: &str = "d7c3cd922f91d83aacb5d7555de9d5bc";
const NS: &str = "tripleomaster";

/// Keys every Ansible module may return that modules do not document (`warnings`: Ansible's common
/// return value, shown as `[WARNING]`).
const STANDARD_KEYS: &[&str] = &["failed", "invocation", "warnings"];

fn sidecar() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/module/copy_containers.yml");
    let text = std::fs::read_to_string(&path).expect("src/module/copy_containers.yml");
    serde_norway::from_str(&text).expect("the sidecar is valid YAML")
}

fn options(doc: &Value) -> &Map<String, Value> {
    doc["DOCUMENTATION"]["options"]
        .as_object()
        .expect("DOCUMENTATION.options is a mapping")
}

fn str_list(v: Option<&Value>) -> Vec<String> {
    match v {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| x.as_str().expect("a list of strings").to_string())
            .collect(),
        Some(other) => panic!("expected a list, got {other}"),
    }
}

fn flag(v: Option<&Value>) -> bool {
    v.and_then(Value::as_bool).unwrap_or(false)
}

/// (type, elements) as documented for a spec kind.
fn doc_type(kind: Kind) -> (&'static str, Option<&'static str>) {
    match kind {
        Kind::Str => ("str", None),
        Kind::Bool => ("bool", None),
        Kind::Int => ("int", None),
        Kind::Path => ("path", None),
        Kind::Dict => ("dict", None),
        Kind::List => ("list", Some("str")),
        Kind::ListOfDicts => ("list", Some("dict")),
        Kind::Switch => unreachable!("the module has no switches"),
    }
}

/// Options the validation requires whatever the action: the intersection of what it reports missing
/// for each action given alone.
fn always_required() -> BTreeSet<String> {
    let mut common: Option<BTreeSet<String>> = None;
    for action in args::ACTIONS {
        let mut raw = Map::new();
        raw.insert("action".into(), json!(action));
        let e = args::validate(raw).expect_err("an action alone must fail").0;
        let list = e
            .strip_prefix("missing required arguments: ")
            .unwrap_or_else(|| panic!("unexpected message for {action}: {e}"));
        // `name (or what stands in for it)`: the name.
        let set: BTreeSet<String> = list
            .split(", ")
            .map(|m| m.split(' ').next().unwrap_or(m).to_string())
            .collect();
        common = Some(match common {
            None => set,
            Some(c) => c.intersection(&set).cloned().collect(),
        });
    }
    common.unwrap_or_default()
}

/// The keys `RegistryArgs` accepts, from serde's own "expected one of" message.
fn registry_keys() -> BTreeSet<String> {
    let e = serde_json::from_value::<RegistryArgs>(json!({"host": "h", "zz_not_a_key": 1}))
        .expect_err("unknown keys are refused")
        .to_string();
    let expected = e
        .split("expected one of ")
        .nth(1)
        .unwrap_or_else(|| panic!("unexpected serde message: {e}"));
    expected
        .split(", ")
        .map(|k| k.trim().trim_matches('`').to_string())
        .filter(|k| !k.is_empty())
        .collect()
}

/// The options' documentation is rendered from their declaration; `COPY_CONTAINERS_REGENERATE=1`
/// (`scripts/regenerate`) rewrites it instead of failing.
#[test]
fn options_documentation_is_generated() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/module/copy_containers.yml");
    let text = std::fs::read_to_string(&path).unwrap();
    let fresh = copy_containers::options::doc::splice(&text)
        .expect("src/module/copy_containers.yml has the generated options' mark");
    if std::env::var_os("COPY_CONTAINERS_REGENERATE").is_some() {
        std::fs::write(&path, &fresh).unwrap();
        return;
    }
    let stale = text.lines().zip(fresh.lines()).position(|(a, b)| a != b);
    assert!(
        text == fresh,
        "src/module/copy_containers.yml is stale (first difference at line {}): run scripts/regenerate",
        stale.map_or(text.lines().count().min(fresh.lines().count()), |i| i) + 1
    );
}

#[test]
fn options_match_the_argument_spec() {
    let doc = sidecar();
    let opts = options(&doc);
    let spec_names: BTreeSet<&str> = SPEC.iter().map(|o| o.name).collect();
    let doc_names: BTreeSet<&str> = opts.keys().map(String::as_str).collect();
    assert_eq!(doc_names, spec_names, "documented options != SPEC");
    let required = always_required();
    for o in SPEC {
        let d = &opts[o.name];
        let (ty, elements) = doc_type(o.kind);
        assert_eq!(d["type"].as_str(), Some(ty), "type of {}", o.name);
        assert_eq!(
            d.get("elements").and_then(Value::as_str),
            elements,
            "elements of {}",
            o.name
        );
        assert_eq!(
            str_list(d.get("aliases")),
            o.aliases.to_vec(),
            "aliases of {}",
            o.name
        );
        assert_eq!(
            str_list(d.get("choices")),
            o.choices.to_vec(),
            "choices of {}",
            o.name
        );
        assert_eq!(flag(d.get("no_log")), o.no_log, "no_log of {}", o.name);
        assert_eq!(
            flag(d.get("required")),
            required.contains(o.name),
            "required of {} (the validation requires {required:?})",
            o.name
        );
        assert!(
            d["description"].is_string() || d["description"].is_array(),
            "{} has a description",
            o.name
        );
        if let (Some(default), false) = (d.get("default"), o.choices.is_empty()) {
            let s = default.as_str().expect("a string default");
            assert!(
                o.choices.contains(&s),
                "default of {} is one of its choices",
                o.name
            );
        }
    }
    for key in ["module", "short_description", "description", "author"] {
        assert!(doc["DOCUMENTATION"].get(key).is_some(), "DOCUMENTATION.{key}");
    }
    assert_eq!(doc["DOCUMENTATION"]["module"], json!("copy_containers"));
    assert!(
        doc["EXAMPLES"].is_string(),
        "EXAMPLES is a string (`EXAMPLES: |`)"
    );
    assert!(doc["RETURN"].is_object(), "RETURN is a mapping");
}

#[test]
fn registry_suboptions_match_registry_args() {
    let doc = sidecar();
    let opts = options(&doc);
    let keys = registry_keys();
    assert!(keys.contains("host") && keys.contains("password"), "{keys:?}");
    for o in SPEC
        .iter()
        .filter(|o| matches!(o.kind, Kind::Dict | Kind::ListOfDicts))
    {
        let sub = opts[o.name]["suboptions"]
            .as_object()
            .unwrap_or_else(|| panic!("{} documents its suboptions", o.name));
        let names: BTreeSet<String> = sub.keys().cloned().collect();
        assert_eq!(names, keys, "suboptions of {} != RegistryArgs keys", o.name);
        for (k, d) in sub {
            assert_eq!(
                flag(d.get("no_log")),
                SECRET_KEYS.contains(&k.as_str()),
                "no_log of {}.{k}",
                o.name
            );
            assert_eq!(flag(d.get("required")), k == "host", "required of {}.{k}", o.name);
            assert!(d["type"].is_string(), "type of {}.{k}", o.name);
        }
        // The types given to serde: a string where a bool is documented must be refused, and so on.
        for (k, d) in sub {
            let bad = match d["type"].as_str() {
                Some("bool") => json!("maybe"),
                Some("str") | Some("path") => json!({"a": 1}),
                Some("int") => json!("many"),
                other => panic!("{}.{k}: unexpected type {other:?}", o.name),
            };
            let mut v = json!({"host": "h"});
            v[k.as_str()] = bad;
            if k != "host" {
                assert!(
                    serde_json::from_value::<RegistryArgs>(v).is_err(),
                    "{}.{k} accepts a value its documented type does not allow",
                    o.name
                );
            }
        }
        let schema = &sub["schema"];
        assert_eq!(str_list(schema.get("choices")), vec!["v2_s1", "v2_s2"]);
    }
}

#[test]
fn documented_defaults_are_the_models() {
    let doc = sidecar();
    let opts = options(&doc);
    let args: PromoteArgs = serde_json::from_value(json!({
        "full_hash": FH,
        "named_label": "current-tripleo",
        "containers_list": ["nova-compute"],
        "source_registry": {"host": "localhost:6000", "namespace": NS},
        "target_registries": [{"host": "localhost:6500", "namespace": NS}],
    }))
    .unwrap();
    let p = args
        .resolve(copy_containers::promote::model::read_list_file)
        .expect("minimal arguments resolve");
    let minimal = json!({"full_hash": FH, "named_label": "l", "containers_list": ["a"],
                         "source_registry": {"host": "localhost:6000"}});
    let params = args::validate(minimal.as_object().unwrap().clone()).expect("valid");
    let full_result = params.typed().expect("typed").full_result;
    let applied: BTreeMap<&str, Value> = BTreeMap::from([
        ("release", json!(p.release)),
        ("distro_name", json!(p.distro_name)),
        ("distro_version", json!(p.distro_version)),
        ("container_name_prefix", json!(p.prefix)),
        ("base_container_images", json!(p.containers[1..].to_vec())),
        ("target_registries_push", json!(p.push)),
        ("manifest_push", json!(p.manifest_push)),
        ("ppc_manifests", json!(p.ppc_manifests)),
        ("label_source", json!(p.label_source)),
        ("tmp_file_root", json!(p.tmp_file_root)),
        ("x86_tag", json!(p.x86_tag)),
        ("ppc_tag", json!(p.ppc_tag)),
        ("manifest_tag", json!(p.manifest_tag)),
        ("per_registry_concurrency", json!(p.per_registry)),
        ("blob_concurrency", json!(p.blob_jobs)),
        ("retries", json!(p.source.config.retry.attempts)),
        (
            "request_timeout",
            json!(p.source.config.request_timeout.as_secs()),
        ),
        ("token_timeout", json!(p.source.config.token_timeout.as_secs())),
        ("keep_previous_label", json!(p.keep_previous_label)),
        ("keep_local", json!(p.keep_local)),
        ("lock_timeout", json!(p.lock_timeout.as_secs())),
        ("report_keep", json!(p.report_keep)),
        ("report_group_readable", json!(p.report_group_readable)),
        (
            "local_max_age_days",
            json!(p.local_retention.max_age.map_or(0, |d| d.as_secs() / 86_400)),
        ),
        (
            "local_max_size_gib",
            json!(p.local_retention.max_bytes.map_or(0, |b| b >> 30)),
        ),
        ("phase_timeout", json!(p.phase_timeout.map_or(0, |d| d.as_secs()))),
        ("deadline", json!(p.deadline.map_or(0, |d| d.as_secs()))),
        ("full_result", json!(full_result)),
    ]);
    for (name, value) in &applied {
        assert_eq!(
            opts[*name].get("default"),
            Some(value),
            "documented default of {name}"
        );
    }
    assert_eq!(opts["action"]["default"], json!("promote"));
    let sub = &opts["source_registry"]["suboptions"];
    assert_eq!(sub["schema"]["default"], json!("v2_s2"));
    assert_eq!(p.targets[0].schema, copy_containers::promote::model::Schema::V2S2);
    assert_eq!(
        sub["tls_verify"]["default"],
        json!(p.targets[0].config.tls_verify)
    );
    // Every documented default is the declared one (the documentation is rendered from the
    // declaration), and every declared default is the applied one: `one_schema`'s
    // `declared_defaults_are_the_applied_ones` checks that for every option, so a new option needs
    // no line here.
    for o in SPEC {
        let documented = opts[o.name].get("default").is_some();
        let declared = !matches!(
            o.default,
            copy_containers::options::DefaultValue::None
                | copy_containers::options::DefaultValue::Described(_)
        );
        assert_eq!(documented, declared, "default of {}", o.name);
    }
}

// ---- RETURN against what the binary returns ------------------------------------------------------

/// Run the binary as Ansible does (one argument: a JSON file) and parse its one JSON object.
fn run_module(dir: &Path, name: &str, args: &Value) -> Value {
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_vec(args).unwrap()).unwrap();
    let out = Command::new(BIN).arg(&path).output().expect("run the module");
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "{name}: stdout is not one JSON object ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The documented keys: top level, and under each `contains` path (`containers[].entries[]`, ...).
/// A key documented without `contains` is opaque: what is inside is not checked (`opaque` gets the
/// paths under it).
fn documented(
    ret: &Map<String, Value>,
    prefix: &str,
    out: &mut BTreeMap<String, BTreeSet<String>>,
    opaque: &mut BTreeSet<String>,
) {
    let keys = out.entry(prefix.to_string()).or_default();
    keys.extend(ret.keys().cloned());
    for (k, d) in ret {
        assert!(
            d["description"].is_string() || d["description"].is_array(),
            "RETURN {prefix}{k}: description"
        );
        assert!(d["type"].is_string(), "RETURN {prefix}{k}: type");
        if prefix.is_empty() {
            assert!(d["returned"].is_string(), "RETURN {k}: returned");
        }
        let sep = if d["type"] == json!("list") { "[]." } else { "." };
        match d.get("contains").and_then(Value::as_object) {
            Some(c) => documented(c, &format!("{prefix}{k}{sep}"), out, opaque),
            None => {
                opaque.insert(format!("{prefix}{k}{sep}"));
            }
        }
    }
}

/// The keys returned, by the same paths (objects inside lists merged).
fn returned(v: &Map<String, Value>, prefix: &str, out: &mut BTreeMap<String, BTreeSet<String>>) {
    out.entry(prefix.to_string()).or_default().extend(
        v.keys()
            .filter(|k| !(prefix.is_empty() && STANDARD_KEYS.contains(&k.as_str())))
            .cloned(),
    );
    for (k, x) in v {
        if prefix.is_empty() && STANDARD_KEYS.contains(&k.as_str()) {
            continue;
        }
        match x {
            Value::Object(m) => returned(m, &format!("{prefix}{k}."), out),
            Value::Array(a) => {
                for item in a {
                    if let Value::Object(m) = item {
                        returned(m, &format!("{prefix}{k}[]."), out);
                    }
                }
            }
            _ => {}
        }
    }
}

fn registry(r: &tk::Registry) -> Value {
    json!({"name": r.host(), "host": r.host(), "namespace": NS, "insecure": true})
}

#[test]
fn return_documents_every_key_the_module_returns() {
    let doc = sidecar();
    let mut docs = BTreeMap::new();
    let mut opaque = BTreeSet::new();
    documented(
        doc["RETURN"].as_object().expect("RETURN mapping"),
        "",
        &mut docs,
        &mut opaque,
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut check = |name: &str, r: &Value| {
        let m = r.as_object().unwrap_or_else(|| panic!("{name}: not an object"));
        let mut keys = BTreeMap::new();
        returned(m, "", &mut keys);
        for (path, ks) in &keys {
            // Inside a key documented without `contains`: free form, not checked.
            if opaque.iter().any(|o| path.starts_with(o.as_str())) {
                continue;
            }
            let documented = docs
                .get(path)
                .unwrap_or_else(|| panic!("{name}: RETURN documents nothing under {path:?} ({ks:?})"));
            let undocumented: Vec<_> = ks.difference(documented).collect();
            assert!(
                undocumented.is_empty(),
                "{name}: undocumented keys under {path:?}: {undocumented:?}"
            );
            seen.entry(path.clone()).or_default().extend(ks.iter().cloned());
        }
        assert!(r.get("msg").is_some_and(Value::is_string), "{name}: msg");
        assert!(r.get("changed").is_some_and(Value::is_boolean), "{name}: changed");
    };

    // Bad arguments: the short failure result.
    let bad = run_module(d, "bad", &json!({"bogus": 1, "_ansible_check_mode": false}));
    assert_eq!(bad["failed"], json!(true), "{bad}");
    assert!(bad["msg"]
        .as_str()
        .unwrap()
        .starts_with("Unsupported parameters for (copy_containers) module: bogus"));
    check("bad", &bad);
    let missing = run_module(d, "missing", &json!({"named_label": "x"}));
    assert_eq!(
        missing["msg"],
        json!(
            "missing required arguments: full_hash (or stage_info), containers_list (or containers_list_file), \
             source_registry (or stage_info)"
        )
    );
    check("missing", &missing);

    // A real promotion between two local registries: check mode with diff, then for real (diff), then
    // verify, then tag; and a run whose source has nothing.
    let source = tk::Registry::plain().expect("start a source registry (needs docker-registry)");
    let target = tk::Registry::plain().expect("start a target registry");
    let st = Command::new(BIN)
        .args(["-q", "stage", "--registry"])
        .arg(format!("host={},namespace={NS},insecure=true", source.host()))
        .args([
            "--full-hash",
            FH,
            "--names",
            "base,nova-compute,neutron-server",
            "--ppc-missing",
            "neutron-server",
        ])
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "stage: {}",
        String::from_utf8_lossy(&st.stderr)
    );
    let logs: PathBuf = d.join("logs");
    let base = json!({
        "full_hash": FH,
        "named_label": "current-tripleo",
        "containers_list": "nova-compute,neutron-server",
        "ppc_containers_list": ["base", "nova-compute", "neutron-server"],
        "manifest_push": "true",
        "tmp_file_root": logs,
        "source_registry": registry(&source),
        "target_registries": [registry(&target)],
        "report_json": d.join("report.json"),
        "local_store": d.join("store"),
        "_ansible_diff": true,
        "_ansible_verbosity": 0,
        "_ansible_some_future_key": "ignored",
    });
    let with = |extra: Value| {
        let mut a = base.clone();
        for (k, v) in extra.as_object().unwrap() {
            a[k.as_str()] = v.clone();
        }
        a
    };

    let plan = run_module(d, "plan", &with(json!({"_ansible_check_mode": true})));
    assert_eq!(plan["failed"], json!(false), "{plan}");
    assert_eq!(plan["changed"], json!(true), "{plan}");
    check("plan", &plan);

    let run = run_module(d, "run", &with(json!({"full_result": true})));
    assert_eq!(run["failed"], json!(false), "{run}");
    assert_eq!(run["changed"], json!(true));
    assert_eq!(run["ppc_manifests"], json!(false));
    assert_eq!(run["ppc_missing"], json!(["neutron-server"]));
    check("run", &run);

    let again = run_module(d, "again", &with(json!({"_ansible_check_mode": true})));
    assert_eq!(again["changed"], json!(false), "{again}");
    check("again", &again);

    let verify = run_module(d, "verify", &with(json!({"action": "verify"})));
    assert_eq!(verify["failed"], json!(false), "{verify}");
    assert!(verify.get("containers").is_none(), "the short result: {verify}");
    check("verify", &verify);

    // A run stopped by its deadline (the target holds every answer), as one stopped by a signal.
    let slow = tk::Proxy::for_registry(&target).unwrap();
    slow.add_rule(tk::FaultRule::new(tk::FaultAction::Delay(
        std::time::Duration::from_secs(120),
    )));
    let mut held = registry(&target);
    held["host"] = json!(slow.host());
    held["name"] = json!(slow.host());
    let stopped = run_module(
        d,
        "stopped",
        &with(json!({"deadline": 1, "named_label": "current-stopped", "target_registries": [held]})),
    );
    assert_eq!(stopped["status"], json!("interrupted"), "{stopped}");
    check("stopped", &stopped);

    let tag = run_module(
        d,
        "tag",
        &json!({"action": "tag", "full_hash": FH, "named_label": "tripleo-ci-testing",
                "containers_list": ["nova-compute"], "registries": [registry(&target)],
                "tmp_file_root": logs, "local_store": d.join("store")}),
    );
    assert_eq!(tag["failed"], json!(false), "{tag}");
    check("tag", &tag);

    let absent = run_module(
        d,
        "absent",
        &with(json!({"containers_list": ["not-staged"], "full_result": true})),
    );
    assert_eq!(absent["failed"], json!(true), "{absent}");
    check("absent", &absent);

    // rollback (in check mode: its keys, whatever it finds) and delete_local (its own result).
    let rollback = run_module(
        d,
        "rollback",
        &with(json!({"action": "rollback", "_ansible_check_mode": true})),
    );
    check("rollback", &rollback);
    let delete = run_module(
        d,
        "delete_local",
        &json!({"action": "delete_local", "scope": "all", "local_store": d.join("store"),
                "_ansible_check_mode": true}),
    );
    assert_eq!(delete["failed"], json!(false), "{delete}");
    check("delete_local", &delete);

    // Every documented path and key is returned by some run (no stale documentation).
    for (path, ks) in &docs {
        let got = seen.get(path).cloned().unwrap_or_default();
        let stale: Vec<_> = ks.difference(&got).collect();
        assert!(
            stale.is_empty(),
            "RETURN documents keys under {path:?} that no run returned: {stale:?}"
        );
    }
}
