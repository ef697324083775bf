//! The module's argument spec and Ansible-style validation: types converted the way Ansible does
//! (booleans from `yes`/`"true"`/`1`, ints from strings, lists from comma-separated strings, dicts
//! from JSON strings), unknown parameters, missing required ones and bad choices reported with the
//! wording Ansible users know. Written here because no crate implements Ansible's argument spec.
//! The conversions use the parsers of [`crate::promote::flexible`] (one place for the coercions);
//! the promotion's options come with [`PromoteArgs`]' fields ([`PROMOTE_SPEC`], declared with them;
//! a test checks the names against serde's), and [`Params::typed`] turns the checked values into [`ModuleArgs`]: the `action`,
//! `scope` and `registries` typed, the rest a [`PromoteArgs`].

use serde_json::{Map, Value};

use crate::promote::flexible;
use crate::promote::model::PROMOTE_SPEC;
use crate::promote::options::join;
use crate::promote::{PromoteArgs, RegistryArgs};

pub use crate::promote::model::KEEP_LOCAL;
pub use crate::promote::options::{opt, Kind, Opt};

/// A closed set of string values: the enum, its names in the arguments (for the spec's `choices`)
/// and the parsing, from one list.
macro_rules! choices {
    ($(#[$m:meta])* $name:ident, $all:ident { $($v:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name {
            $($v),+
        }

        #[doc = concat!("The names of [`", stringify!($name), "`], as the arguments give them.")]
        pub const $all: &[&str] = &[$($s),+];

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$v => $s),+
                }
            }

            /// `None` when `s` is not one of the names.
            pub fn parse(s: &str) -> Option<$name> {
                match s {
                    $($s => Some($name::$v),)+
                    _ => None,
                }
            }
        }
    };
}

choices!(
    /// The actions the module performs.
    Action, ACTIONS {
        Promote = "promote",
        Verify = "verify",
        Tag = "tag",
        Rollback = "rollback",
        DeleteLocal = "delete_local",
    }
);

choices!(
    /// What `delete_local` removes.
    Scope, SCOPES {
        Container = "container",
        Release = "release",
        All = "all",
    }
);

/// The module's own options (the promotion's come from [`PROMOTE_SPEC`]).
const MODULE_OPTIONS: &[Opt] = &[
    opt("action", Kind::Str).choices(ACTIONS),
    opt("registries", Kind::ListOfDicts),
    opt("stage_info", Kind::Path),
    opt("scope", Kind::Str).choices(SCOPES),
    opt("full_result", Kind::Bool),
];

const SPEC_ARRAY: [Opt; MODULE_OPTIONS.len() + PROMOTE_SPEC.len()] = join(MODULE_OPTIONS, PROMOTE_SPEC);

/// Every option of the module: its own, then the promotion's, declared with [`PromoteArgs`]' fields
/// (kept identical to `src/module/copy_containers.yml` by a test).
pub const SPEC: &[Opt] = &SPEC_ARRAY;

/// Keys of a registry dictionary whose values are secrets.
pub use crate::input::SECRET_KEYS;

/// Parameters after validation: canonical names, converted values, `null`s dropped.
#[derive(Debug, Default)]
pub struct Params {
    pub values: Map<String, Value>,
    pub check_mode: bool,
    pub diff: bool,
    pub verbosity: u64,
    pub no_log: bool,
}

/// The module's arguments, typed: its own options, and the promotion's as [`PromoteArgs`] — the
/// struct the CLI's config files and the releases file feed too.
#[derive(Debug)]
pub struct ModuleArgs {
    pub action: Action,
    /// `delete_local`'s scope (required with it).
    pub scope: Option<Scope>,
    /// `tag`'s registries (empty: the source).
    pub registries: Vec<RegistryArgs>,
    /// The result with every per-image detail (default: the outcome, counts and causes).
    pub full_result: bool,
    pub promote: PromoteArgs,
}

impl Params {
    /// The typed arguments. A stage-info file (the promoter's staging switch) gives the registries
    /// and the hash, replacing the production ones (not for `delete_local`, which reads no registry).
    /// Errors are the module's messages.
    pub fn typed(&self) -> Result<ModuleArgs, String> {
        let mut values = self.values.clone();
        let name = |v: Option<Value>| v.and_then(|v| v.as_str().map(str::to_string));
        // `validate` checked the choices.
        let action = name(values.remove("action"))
            .and_then(|a| Action::parse(&a))
            .unwrap_or(Action::Promote);
        let scope = name(values.remove("scope")).and_then(|s| Scope::parse(&s));
        let registries = values.remove("registries");
        let stage_info = values.remove("stage_info");
        let full_result = values.remove("full_result").and_then(|v| v.as_bool()) == Some(true);
        if let (Some(path), false) = (stage_info, action == Action::DeleteLocal) {
            super::stage_info::apply(
                &mut values,
                std::path::Path::new(path.as_str().unwrap_or_default()),
            )?;
        }
        let promote: PromoteArgs =
            serde_json::from_value(Value::Object(values)).map_err(|e| format!("bad arguments: {e}"))?;
        let registries = match (action, registries) {
            (Action::Tag, Some(r)) => {
                serde_json::from_value::<Vec<RegistryArgs>>(r).map_err(|e| format!("registries: {e}"))?
            }
            _ => Vec::new(),
        };
        Ok(ModuleArgs {
            action,
            scope,
            registries,
            full_result,
            promote,
        })
    }
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
            Value::String(s) => flexible::parse_bool(s).map(Value::Bool).ok_or_else(|| {
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
                flexible::split_names(&s)
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
    check_required(&p)?;
    Ok(p)
}

/// Ansible's `required` and `required_if`: what each action needs.
fn check_required(p: &Params) -> Result<(), String> {
    let action = p
        .values
        .get("action")
        .and_then(|v| v.as_str())
        .and_then(Action::parse)
        .unwrap_or(Action::Promote);
    let mut required = match action {
        Action::DeleteLocal => vec!["scope"],
        _ => vec!["full_hash", "named_label"],
    };
    if matches!(action, Action::Promote | Action::Verify | Action::Rollback) {
        required.push("source_registry");
    }
    // A stage-info file gives the hash and the registries.
    if p.values.contains_key("stage_info") {
        required.retain(|r| !matches!(*r, "full_hash" | "source_registry"));
    }
    if action == Action::DeleteLocal {
        match p
            .values
            .get("scope")
            .and_then(|v| v.as_str())
            .and_then(Scope::parse)
        {
            Some(Scope::Container) if !p.values.contains_key("containers_list") => {
                return Err("scope is container but the following are missing: containers_list".into())
            }
            Some(Scope::Release) if !p.values.contains_key("release") => {
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promote::model::KeepLocal;
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

    /// The spec's promotion options are [`PromoteArgs`]' fields: each one it accepts is an option
    /// (by name or alias), each option other than the module's own is one of its keys, and a value
    /// the spec refuses for a bool or an int is refused by it too.
    #[test]
    fn spec_is_promote_args() {
        const MODULE_ONLY: &[&str] = &["action", "registries", "stage_info", "scope", "full_result"];
        let e = serde_json::from_value::<PromoteArgs>(json!({"zz_not_a_key": 1}))
            .unwrap_err()
            .to_string();
        let fields: Vec<String> = e
            .split("expected one of ")
            .nth(1)
            .expect("serde names the fields")
            .split(", ")
            .map(|k| k.trim().trim_matches('`').to_string())
            .collect();
        for f in &fields {
            assert!(
                SPEC.iter()
                    .any(|o| o.name == f || o.aliases.contains(&f.as_str())),
                "PromoteArgs field {f} is not in SPEC"
            );
        }
        for o in SPEC.iter().filter(|o| !MODULE_ONLY.contains(&o.name)) {
            let known = std::iter::once(&o.name)
                .chain(o.aliases)
                .any(|n| fields.iter().any(|f| f == n));
            assert!(known, "SPEC option {} is not a PromoteArgs field", o.name);
            let bad = match o.kind {
                Kind::Bool => json!("maybe"),
                Kind::Int => json!("many"),
                _ => continue,
            };
            let r = serde_json::from_value::<PromoteArgs>(json!({ o.name: bad }));
            assert!(r.is_err(), "PromoteArgs accepts {} = {bad}", o.name);
        }
        for k in KEEP_LOCAL {
            assert_eq!(k.parse::<KeepLocal>().unwrap().as_str(), *k);
        }
    }

    #[test]
    fn typed_arguments() {
        let mut a = base();
        a["action"] = json!("tag");
        a["registries"] = json!([{"host": "r", "namespace": "n"}]);
        a["keep_local"] = json!("always");
        let t = v(a).unwrap().typed().unwrap();
        assert_eq!(t.action, Action::Tag);
        assert_eq!(t.registries.len(), 1);
        assert_eq!(t.promote.keep_local.as_deref(), Some("always"));
        let mut a = base();
        a["action"] = json!("tag");
        a["registries"] = json!([{"host": "r", "bogus": 1}]);
        assert!(v(a)
            .unwrap()
            .typed()
            .unwrap_err()
            .starts_with("registries: unknown field `bogus`"));
        let t = v(json!({"action": "delete_local", "scope": "all"}))
            .unwrap()
            .typed()
            .unwrap();
        assert_eq!((t.action, t.scope), (Action::DeleteLocal, Some(Scope::All)));
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
