//! Ansible's argument spec over the options' declaration: the module's arguments checked as Ansible
//! checks a module's ([`validate`]: unknown parameters, aliases, choices, what each action requires,
//! every missing one at once) and converted by their kind ([`Kind::coerce`]: booleans from
//! `yes`/`"true"`/`1`, ints from strings, lists from comma-separated strings, dictionaries from JSON
//! strings), refused in the wording Ansible users know (`argument 'x' is of type str and we were
//! unable to convert to bool`). Written here because no crate implements Ansible's argument spec;
//! the lenient parsers are [`super::flexible`]'s, the ones config files go through.

use serde_json::{Map, Value};

use super::{flexible, Action, Kind, Scope, MODULE_SPEC};

/// Arguments refused, in Ansible's words (kind `invalid`).
#[derive(Debug)]
pub struct Refused(pub String);

impl<S: Into<String>> From<S> for Refused {
    fn from(s: S) -> Refused {
        Refused(s.into())
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn type_error(name: &str, v: &Value, want: Kind, detail: &str) -> Refused {
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
    Refused(m)
}

impl Kind {
    /// `v` as an option of this kind named `name`, converted the way Ansible converts arguments
    /// (booleans from `yes`/`"true"`/`1`, ints from strings, lists from comma-separated strings,
    /// dictionaries from JSON strings, `~/` expanded in paths); refused in Ansible's words.
    pub fn coerce(self, name: &str, v: Value) -> Result<Value, Refused> {
        let kind = self;
        match kind {
            Kind::Str | Kind::Path => match v {
                Value::String(s) => Ok(Value::String(if kind == Kind::Path { expand_user(&s) } else { s })),
                Value::Number(n) => Ok(Value::String(n.to_string())),
                other => Err(type_error(name, &other, kind, "")),
            },
            Kind::Bool | Kind::Switch => match &v {
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
                Value::Number(n) if n.is_i64() => Err(format!("argument '{name}' must be 0 or more, got {n}").into()),
                Value::String(s) => match s.trim().parse::<i64>() {
                    Ok(i) if i >= 0 => Ok(Value::Number(i.into())),
                    Ok(i) => Err(format!("argument '{name}' must be 0 or more, got {i}").into()),
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
                        ).into()),
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
                                ).into());
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
}

fn expand_user(s: &str) -> String {
    match (s.strip_prefix("~/"), std::env::var("HOME")) {
        (Some(rest), Ok(home)) => format!("{home}/{rest}"),
        _ => s.to_string(),
    }
}

/// Parameters after validation: canonical names, converted values, `null`s dropped.
#[derive(Debug, Default)]
pub struct Params {
    pub values: Map<String, Value>,
    pub check_mode: bool,
    pub diff: bool,
    pub verbosity: u64,
    pub no_log: bool,
}

/// Validate the raw argument object the way Ansible's argument spec would.
pub fn validate(raw: Map<String, Value>) -> Result<Params, Refused> {
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
        let Some(o) = MODULE_SPEC
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
            )
            .into());
        }
        let v = o.kind.coerce(&k, v)?;
        if !o.choices.is_empty() {
            let s = v.as_str().unwrap_or_default();
            if !o.choices.contains(&s) {
                return Err(format!(
                    "value of {} must be one of: {}, got: {s}",
                    o.name,
                    o.choices.join(", ")
                )
                .into());
            }
        }
        p.values.insert(o.name.to_string(), v);
    }
    if !unknown.is_empty() {
        unknown.sort();
        let mut supported: Vec<String> = MODULE_SPEC
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
        )
        .into());
    }
    check_required(&p)?;
    Ok(p)
}

/// Ansible's `required` and `required_if`: what each action needs (the options' entries say).
fn check_required(p: &Params) -> Result<(), Refused> {
    let action = p
        .values
        .get("action")
        .and_then(|v| v.as_str())
        .and_then(Action::parse)
        .unwrap_or(Action::Promote);
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
    // Every argument the action needs at once, with what stands in for it.
    let missing: Vec<String> = super::missing(action, &|k| p.values.contains_key(k))
        .iter()
        .map(|o| match o.or_given {
            [] => o.name.to_string(),
            alternatives => format!("{} (or {})", o.name, alternatives.join(" or ")),
        })
        .collect();
    if !missing.is_empty() {
        return Err(format!("missing required arguments: {}", missing.join(", ")).into());
    }
    Ok(())
}
