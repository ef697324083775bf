//! The module's argument spec and Ansible-style validation: types converted the way Ansible does
//! (booleans from `yes`/`"true"`/`1`, ints from strings, lists from comma-separated strings, dicts
//! from JSON strings), unknown parameters, missing required ones and bad choices reported with the
//! wording Ansible users know. Written here because no crate implements Ansible's argument spec.

use serde_json::{Map, Value};

/// Value types of the spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Str,
    Bool,
    Int,
    List,
    Dict,
    ListOfDicts,
    Path,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Str => "str",
            Kind::Bool => "bool",
            Kind::Int => "int",
            Kind::List => "list",
            Kind::Dict => "dict",
            Kind::ListOfDicts => "list",
            Kind::Path => "path",
        }
    }
}

/// One option.
#[derive(Clone, Copy, Debug)]
pub struct Opt {
    pub name: &'static str,
    pub kind: Kind,
    pub aliases: &'static [&'static str],
    pub choices: &'static [&'static str],
    pub no_log: bool,
}

const fn opt(name: &'static str, kind: Kind) -> Opt {
    Opt {
        name,
        kind,
        aliases: &[],
        choices: &[],
        no_log: false,
    }
}

/// The actions the module performs.
pub const ACTIONS: &[&str] = &["promote", "verify", "tag", "rollback", "delete_local"];

/// What `delete_local` removes.
pub const SCOPES: &[&str] = &["container", "release", "all"];

/// Local-copy policies.
pub const KEEP_LOCAL: &[&str] = &["never", "on_failure", "always"];

/// Every option of the module (kept identical to `library/copy_containers.yml` by a test).
pub const SPEC: &[Opt] = &[
    Opt {
        choices: ACTIONS,
        ..opt("action", Kind::Str)
    },
    opt("full_hash", Kind::Str),
    opt("named_label", Kind::Str),
    opt("push_hash", Kind::Str),
    opt("candidate_label", Kind::Str),
    opt("release", Kind::Str),
    opt("distro_name", Kind::Str),
    opt("distro_version", Kind::Str),
    Opt {
        aliases: &["containers"],
        ..opt("containers_list", Kind::List)
    },
    Opt {
        aliases: &["ppc_containers"],
        ..opt("ppc_containers_list", Kind::List)
    },
    opt("containers_list_file", Kind::Path),
    opt("container_name_prefix", Kind::Str),
    opt("base_container_images", Kind::List),
    opt("source_namespace", Kind::Str),
    opt("target_namespace", Kind::Str),
    opt("source_registry", Kind::Dict),
    opt("target_registries", Kind::ListOfDicts),
    opt("registries", Kind::ListOfDicts),
    opt("target_registries_push", Kind::Bool),
    opt("manifest_push", Kind::Bool),
    opt("ppc_manifests", Kind::Bool),
    opt("label_source", Kind::Bool),
    opt("stage_info", Kind::Path),
    opt("tmp_file_root", Kind::Path),
    opt("x86_tag", Kind::Str),
    opt("ppc_tag", Kind::Str),
    opt("manifest_tag", Kind::Str),
    opt("per_registry_concurrency", Kind::Int),
    opt("blob_concurrency", Kind::Int),
    opt("retries", Kind::Int),
    opt("report_json", Kind::Path),
    opt("report_html", Kind::Path),
    opt("keep_previous_label", Kind::Bool),
    Opt {
        choices: KEEP_LOCAL,
        ..opt("keep_local", Kind::Str)
    },
    opt("local_store", Kind::Path),
    opt("lock_timeout", Kind::Int),
    Opt {
        choices: SCOPES,
        ..opt("scope", Kind::Str)
    },
];

/// Keys of a registry dictionary whose values are secrets.
pub const SECRET_KEYS: &[&str] = &["password", "token"];

/// Parameters after validation: canonical names, converted values, `null`s dropped.
#[derive(Debug, Default)]
pub struct Params {
    pub values: Map<String, Value>,
    pub check_mode: bool,
    pub diff: bool,
    pub verbosity: u64,
    pub no_log: bool,
}

fn type_error(name: &str, v: &Value, want: Kind, detail: &str) -> String {
    let have = match v {
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
        Value::Null => "NoneType",
    };
    let mut m = format!(
        "argument '{name}' is of type {have} and we were unable to convert to {}",
        want.name()
    );
    if !detail.is_empty() {
        m.push_str(": ");
        m.push_str(detail);
    }
    m
}

fn convert(name: &str, v: Value, kind: Kind) -> Result<Value, String> {
    match kind {
        Kind::Str | Kind::Path => match v {
            Value::String(s) => Ok(Value::String(if kind == Kind::Path { expand_user(&s) } else { s })),
            Value::Number(n) => Ok(Value::String(n.to_string())),
            other => Err(type_error(name, &other, kind, "")),
        },
        Kind::Bool => match &v {
            Value::Bool(_) => Ok(v),
            Value::String(s) => crate::promote::flexible::parse_bool(s).map(Value::Bool).ok_or_else(|| {
                type_error(
                    name,
                    &v,
                    kind,
                    &format!("The value '{s}' is not a valid boolean.  Valid booleans include: 0, 'on', 'f', 'false', 1, 'no', 'n', '1', '0', 't', 'y', 'off', 'yes', 'true'"),
                )
            }),
            Value::Number(n) if n.as_f64() == Some(0.0) || n.as_f64() == Some(1.0) => Ok(Value::Bool(n.as_f64() == Some(1.0))),
            _ => Err(type_error(name, &v, kind, "")),
        },
        // Every integer option is a count: negative ones are refused here, naming the option.
        Kind::Int => match &v {
            Value::Number(n) if n.is_u64() => Ok(v),
            Value::Number(n) if n.is_i64() => Err(format!("argument '{name}' must be 0 or more, got {n}")),
            Value::String(s) => match s.trim().parse::<i64>() {
                Ok(i) if i >= 0 => Ok(Value::Number(i.into())),
                Ok(i) => Err(format!("argument '{name}' must be 0 or more, got {i}")),
                Err(_) => Err(type_error(name, &v, kind, "")),
            },
            _ => Err(type_error(name, &v, kind, "")),
        },
        Kind::List => match v {
            Value::Array(items) => items
                .into_iter()
                .map(|i| match i {
                    Value::String(s) => Ok(Value::String(s)),
                    Value::Number(n) => Ok(Value::String(n.to_string())),
                    other => Err(format!(
                        "Elements value for option '{name}' is of type {} and we were unable to convert to str",
                        if other.is_object() { "dict" } else { "list" }
                    )),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            Value::String(s) => Ok(Value::Array(
                s.split(',')
                    .map(|p| p.trim())
                    .filter(|p| !p.is_empty())
                    .map(|p| Value::String(p.to_string()))
                    .collect(),
            )),
            other => Err(type_error(name, &other, kind, "")),
        },
        Kind::Dict => match v {
            Value::Object(_) => Ok(v),
            Value::String(s) => match serde_json::from_str::<Value>(&s) {
                Ok(o @ Value::Object(_)) => Ok(o),
                _ => Err(type_error(name, &Value::String(String::new()), kind, "a dictionary (JSON object) is expected")),
            },
            other => Err(type_error(name, &other, kind, "")),
        },
        Kind::ListOfDicts => {
            let v = match v {
                Value::String(s) => serde_json::from_str::<Value>(&s)
                    .map_err(|_| type_error(name, &Value::String(String::new()), kind, "a list of dictionaries is expected"))?,
                v => v,
            };
            match v {
                Value::Array(items) => {
                    for i in &items {
                        if !i.is_object() {
                            return Err(format!(
                                "Elements value for option '{name}' is of type {} and we were unable to convert to dict",
                                match i {
                                    Value::String(_) => "str",
                                    Value::Array(_) => "list",
                                    _ => "scalar",
                                }
                            ));
                        }
                    }
                    Ok(Value::Array(items))
                }
                Value::Object(_) => Ok(Value::Array(vec![v])),
                other => Err(type_error(name, &other, kind, "")),
            }
        }
    }
}

fn expand_user(s: &str) -> String {
    match (s.strip_prefix("~/"), std::env::var("HOME")) {
        (Some(rest), Ok(home)) => format!("{home}/{rest}"),
        _ => s.to_string(),
    }
}

/// Validate the raw argument object the way Ansible's argument spec would.
pub fn validate(raw: Map<String, Value>) -> Result<Params, String> {
    let mut p = Params::default();
    let mut unknown = Vec::new();
    for (k, v) in raw {
        if let Some(internal) = k.strip_prefix("_ansible_") {
            match internal {
                "check_mode" => p.check_mode = matches!(v, Value::Bool(true)),
                "diff" => p.diff = matches!(v, Value::Bool(true)),
                "no_log" => p.no_log = matches!(v, Value::Bool(true)),
                "verbosity" => p.verbosity = v.as_u64().unwrap_or(0),
                _ => {}
            }
            continue;
        }
        if v.is_null() {
            continue;
        }
        let Some(o) = SPEC
            .iter()
            .find(|o| o.name == k || o.aliases.contains(&k.as_str()))
        else {
            unknown.push(k);
            continue;
        };
        if p.values.contains_key(o.name) {
            return Err(format!(
                "parameters are mutually exclusive: {}|{}",
                o.name,
                o.aliases.join("|")
            ));
        }
        let v = convert(&k, v, o.kind)?;
        if !o.choices.is_empty() {
            let s = v.as_str().unwrap_or_default();
            if !o.choices.contains(&s) {
                return Err(format!(
                    "value of {} must be one of: {}, got: {s}",
                    o.name,
                    o.choices.join(", ")
                ));
            }
        }
        p.values.insert(o.name.to_string(), v);
    }
    if !unknown.is_empty() {
        unknown.sort();
        let mut supported: Vec<String> = SPEC
            .iter()
            .map(|o| {
                if o.aliases.is_empty() {
                    o.name.to_string()
                } else {
                    format!("{} ({})", o.name, o.aliases.join(", "))
                }
            })
            .collect();
        supported.sort();
        return Err(format!(
            "Unsupported parameters for (copy_containers) module: {}. Supported parameters include: {}.",
            unknown.join(", "),
            supported.join(", ")
        ));
    }
    let action = p
        .values
        .get("action")
        .and_then(|v| v.as_str())
        .unwrap_or("promote")
        .to_string();
    let mut required = match action.as_str() {
        "delete_local" => vec!["scope"],
        _ => vec!["full_hash", "named_label"],
    };
    if matches!(action.as_str(), "promote" | "verify" | "rollback") {
        required.push("source_registry");
    }
    // A stage-info file gives the hash and the registries.
    if p.values.contains_key("stage_info") {
        required.retain(|r| !matches!(*r, "full_hash" | "source_registry"));
    }
    if action == "delete_local" {
        match p.values.get("scope").and_then(|v| v.as_str()) {
            Some("container") if !p.values.contains_key("containers_list") => {
                return Err("scope is container but the following are missing: containers_list".into())
            }
            Some("release") if !p.values.contains_key("release") => {
                return Err("scope is release but the following are missing: release".into())
            }
            _ => {}
        }
    }
    let missing: Vec<&str> = required
        .into_iter()
        .filter(|r| !p.values.contains_key(*r))
        .collect();
    if !missing.is_empty() {
        return Err(format!("missing required arguments: {}", missing.join(", ")));
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn v(x: Value) -> Result<Params, String> {
        validate(x.as_object().unwrap().clone())
    }

    fn base() -> Value {
        json!({"full_hash": "d7c3cd922f91d83aacb5d7555de9d5bc", "named_label": "current-tripleo", "source_registry": {"host": "h", "namespace": "n"}})
    }

    #[test]
    fn ansible_wording() {
        let mut a = base();
        a["bogus"] = json!(1);
        let e = v(a).unwrap_err();
        assert!(e.starts_with("Unsupported parameters for (copy_containers) module: bogus. Supported parameters include: action,"), "{e}");
        assert!(e.contains("containers_list (containers)"));
        let e = v(json!({"named_label": "x"})).unwrap_err();
        assert_eq!(e, "missing required arguments: full_hash, source_registry");
        let mut a = base();
        a["action"] = json!("foo");
        assert_eq!(
            v(a).unwrap_err(),
            "value of action must be one of: promote, verify, tag, rollback, delete_local, got: foo"
        );
        let mut a = base();
        a["manifest_push"] = json!("maybe");
        let e = v(a).unwrap_err();
        assert!(
            e.starts_with("argument 'manifest_push' is of type str and we were unable to convert to bool"),
            "{e}"
        );
        let mut a = base();
        a["retries"] = json!("three");
        assert!(v(a).unwrap_err().contains("unable to convert to int"));
        let mut a = base();
        a["target_registries"] = json!(["x"]);
        assert!(v(a).unwrap_err().contains("unable to convert to dict"));
    }

    #[test]
    fn conversions_like_ad_hoc() {
        let mut a = base();
        a["manifest_push"] = json!("yes");
        a["target_registries_push"] = json!("False");
        a["retries"] = json!("3");
        a["containers"] = json!("a, b,c");
        a["distro_version"] = json!(9);
        a["source_registry"] = json!("{\"host\": \"h\", \"namespace\": \"n\"}");
        a["release"] = Value::Null;
        a["_ansible_check_mode"] = json!(true);
        a["_ansible_diff"] = json!(true);
        a["_ansible_future_key"] = json!("ignored");
        let p = v(a).unwrap();
        assert!(p.check_mode && p.diff);
        assert_eq!(p.values["manifest_push"], json!(true));
        assert_eq!(p.values["target_registries_push"], json!(false));
        assert_eq!(p.values["retries"], json!(3));
        assert_eq!(p.values["containers_list"], json!(["a", "b", "c"]));
        assert_eq!(p.values["distro_version"], json!("9"));
        assert!(p.values["source_registry"].is_object());
        assert!(!p.values.contains_key("release"));
        // tag needs no source
        let p = v(json!({"action": "tag", "full_hash": "x", "named_label": "y"})).unwrap();
        assert_eq!(p.values["action"], json!("tag"));
    }
}
