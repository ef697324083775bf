//! The promotion verbs' flags, built from the options' entries ([`crate::promote::options`]): each
//! verb (`promote`, `verify`, `tag`, `rollback`) gets every option that has a flag, grouped under
//! headings, described in that verb's words, its default, limits, possible values and whether it is
//! required shown; an option the verb does not use is hidden (and still accepted, as the module
//! accepts it). The values given are read into [`PromoteArgs`] the way a config file's are (the
//! options' keys, the same lenient parsers), so flags and files cannot differ.

use std::path::PathBuf;

use clap::{value_parser, Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches};
use serde_json::{Map, Value};

use crate::promote::options::{
    self, Action, DefaultValue, Kind, Opt, CLI_OPTIONS, MODULE_OPTIONS, PROMOTE_SPEC, REGISTRY_KEYS,
};
use crate::promote::options::{flexible, PromoteArgs, RegistryArgs};

/// The flags a promotion verb was given.
#[derive(Debug, Clone, Default)]
pub struct PromoteFlags {
    pub config: Option<PathBuf>,
    pub dry_run: bool,
    pub json: bool,
    /// `tag --registry` (the module's `registries`), as given.
    pub registries: Vec<String>,
    /// The promotion's options given, by key, as given (`--push yes` stays `"yes"` until read).
    values: Map<String, Value>,
}

/// [`PromoteFlags`] as verb `A` ([`Action`] as a number) takes and describes them.
#[derive(Debug, Clone, Default)]
pub struct VerbFlags<const A: usize>(pub PromoteFlags);

pub const PROMOTE: usize = Action::Promote as usize;
pub const VERIFY: usize = Action::Verify as usize;
pub const TAG: usize = Action::Tag as usize;
pub const ROLLBACK: usize = Action::Rollback as usize;

const fn action(a: usize) -> Action {
    match a {
        VERIFY => Action::Verify,
        TAG => Action::Tag,
        ROLLBACK => Action::Rollback,
        _ => Action::Promote,
    }
}

impl<const A: usize> std::ops::Deref for VerbFlags<A> {
    type Target = PromoteFlags;
    fn deref(&self) -> &PromoteFlags {
        &self.0
    }
}

impl<const A: usize> FromArgMatches for VerbFlags<A> {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        Ok(VerbFlags(PromoteFlags::read(m, action(A))))
    }
    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        self.0 = PromoteFlags::read(m, action(A));
        Ok(())
    }
}

impl<const A: usize> Args for VerbFlags<A> {
    fn augment_args(cmd: Command) -> Command {
        let a = action(A);
        let mut cmd = cmd;
        for group in options::Group::ALL {
            let args = flagged()
                .filter(|o| o.group_for(a) == group)
                .filter_map(|o| arg(o, a));
            cmd = cmd
                .next_help_heading(group.heading())
                .args(args.collect::<Vec<_>>());
        }
        cmd.next_help_heading(None)
    }
    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

/// Every option with a flag: the command line's own, the promotion's, then the module's.
fn flagged() -> impl Iterator<Item = &'static Opt> {
    CLI_OPTIONS
        .iter()
        .take(1)
        .chain(PROMOTE_SPEC)
        .chain(MODULE_OPTIONS)
        .chain(&CLI_OPTIONS[1..])
        .filter(|o| o.flag.is_some())
}

/// The entry of the option `name`.
pub fn entry(name: &str) -> &'static Opt {
    flagged()
        .chain(PROMOTE_SPEC)
        .find(|o| o.name == name)
        .expect("an option's name")
}

/// `--flag` of an option (its key when it has none).
pub fn flag_of(o: &Opt) -> String {
    o.flag.map_or(o.name.to_string(), |f| format!("--{}", f.long))
}

/// Does `action` take the option's flag? An unused promotion option is hidden but taken (as
/// before, and as the module takes it); one of another face's options (`--registry` on promote) is
/// not taken.
fn takes(o: &Opt, action: Action) -> bool {
    o.flag.is_some() && (o.help_for(action).is_some() || PROMOTE_SPEC.iter().any(|p| p.name == o.name))
}

/// The option's argument for `action` (`None`: the verb does not take it).
fn arg(o: &'static Opt, action: Action) -> Option<Arg> {
    let flag = o.flag.filter(|_| takes(o, action))?;
    let text = o.help_for(action);
    let mut arg = Arg::new(o.name).long(flag.long).hide(text.is_none());
    if let Some(alias) = flag.alias {
        arg = arg.visible_alias(alias);
    }
    arg = match o.kind {
        Kind::Switch => arg.action(ArgAction::SetTrue),
        Kind::List => arg.action(ArgAction::Append).value_delimiter(','),
        Kind::ListOfDicts => arg.action(ArgAction::Append),
        Kind::Int => arg.value_parser(value_parser!(u64)),
        Kind::Path => arg.value_parser(value_parser!(PathBuf)),
        _ => arg,
    };
    if o.kind != Kind::Switch {
        arg = arg.value_name(o.value);
    }
    let short = describe(o, action, text.unwrap_or_default());
    let long = match o.kind {
        Kind::Dict => format!("{short}\n{}", registry_keys()),
        _ => short.clone(),
    };
    Some(arg.help(short).long_help(long))
}

/// An option's help for `action`: its words, then whether it is required, its default, limits and
/// possible values.
pub fn describe(o: &Opt, action: Action, text: &str) -> String {
    let mut out = text.to_string();
    if o.required_by(action) {
        let alternatives: Vec<String> = o
            .or_given
            .iter()
            .map(|g| entry_any(g))
            .filter(|g| g.flag.is_some() && g.help_for(action).is_some())
            .map(flag_of)
            .collect();
        out.push_str(&match alternatives.is_empty() {
            true => " [required]".to_string(),
            false => format!(" [required, or {}]", alternatives.join(" or ")),
        });
    }
    let default = match (action, o.local_default) {
        (Action::DeleteLocal, Some(d)) => Some(d.to_string()),
        _ => o.default_text(),
    };
    let limits = o.limits.map(|(low, high)| match low {
        0 => format!("at most {high}"),
        _ => format!("{low} to {high}"),
    });
    match (default, limits) {
        (Some(d), Some(l)) => out.push_str(&format!(" [default: {d}; {l}]")),
        (Some(d), None) => out.push_str(&format!(" [default: {d}]")),
        (None, Some(l)) => out.push_str(&format!(" [{l}]")),
        (None, None) => {}
    }
    let values: Vec<&str> = match o.kind {
        Kind::Bool => vec!["true", "false"],
        _ => o.choices.to_vec(),
    };
    if !values.is_empty() {
        out.push_str(&format!(" [possible values: {}]", values.join(", ")));
    }
    out
}

/// Any option's entry by name (the module's too).
fn entry_any(name: &str) -> &'static Opt {
    options::MODULE_SPEC
        .iter()
        .chain(CLI_OPTIONS)
        .find(|o| o.name == name)
        .expect("an option's name")
}

/// The keys a registry takes on the command line, one per line (secrets are refused there).
pub fn registry_keys() -> String {
    let keys = || REGISTRY_KEYS.iter().filter(|k| !k.no_log);
    let width = keys()
        .map(|k| k.name.len() + 1 + k.value.len())
        .max()
        .unwrap_or(0);
    let mut out = String::from("Keys:");
    for k in keys() {
        let default = match k.default {
            DefaultValue::None => String::new(),
            _ => format!(" [default: {}]", k.default_text().unwrap_or_default()),
        };
        let key = format!("{}={}", k.name, k.value);
        out.push_str(&format!("\n  {key:<width$}  {}{default}", k.help));
    }
    out
}

impl PromoteFlags {
    /// The values of `m` for `action`'s flags.
    fn read(m: &ArgMatches, action: Action) -> PromoteFlags {
        let mut f = PromoteFlags::default();
        let strings = |name: &str| -> Vec<String> {
            match m.try_get_raw(name) {
                Ok(Some(raw)) => raw.map(|v| v.to_string_lossy().into_owned()).collect(),
                _ => Vec::new(),
            }
        };
        for o in flagged().filter(|o| takes(o, action)) {
            let value = match o.kind {
                Kind::Switch => {
                    let on = m.get_flag(o.name);
                    match o.name {
                        "dry_run" => f.dry_run = on,
                        _ => f.json = on,
                    }
                    continue;
                }
                Kind::Path if o.name == "config" => {
                    f.config = m.get_one::<PathBuf>(o.name).cloned();
                    continue;
                }
                Kind::ListOfDicts if o.name == "registries" => {
                    f.registries = strings(o.name);
                    continue;
                }
                Kind::Int => match m.get_one::<u64>(o.name) {
                    Some(n) => Value::from(*n),
                    None => continue,
                },
                Kind::List | Kind::ListOfDicts => match strings(o.name) {
                    v if v.is_empty() => continue,
                    v => Value::from(v),
                },
                _ => match strings(o.name).pop() {
                    Some(s) => Value::String(s),
                    None => continue,
                },
            };
            f.values.insert(o.name.to_string(), value);
        }
        f
    }

    /// The value given for the option `name`, as given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).and_then(Value::as_str)
    }

    /// These flags without the options named.
    pub fn without(&self, names: &[&str]) -> PromoteFlags {
        let mut f = self.clone();
        f.values.retain(|k, _| !names.contains(&k.as_str()));
        f.config = None;
        f
    }

    /// The promotion fields the flags give (no config file): read as a config file's keys are.
    pub fn flag_args(&self) -> anyhow::Result<PromoteArgs> {
        let mut map = Map::new();
        for (name, v) in &self.values {
            let o = entry(name);
            let v = match (o.kind, v) {
                (Kind::Bool, Value::String(s)) => Value::Bool(flexible::parse_bool(s).ok_or_else(|| {
                    usage!(
                        "{}: {s:?} is not a boolean (true or false; yes/no, on/off, 1/0 also do)",
                        flag_of(o)
                    )
                })?),
                (Kind::Dict, Value::String(s)) => Value::Object(registry_spec(s)?),
                (Kind::ListOfDicts, Value::Array(specs)) => Value::Array(
                    specs
                        .iter()
                        .map(|s| registry_spec(s.as_str().unwrap_or_default()).map(Value::Object))
                        .collect::<anyhow::Result<_>>()?,
                ),
                _ => v.clone(),
            };
            map.insert(name.clone(), v);
        }
        serde_json::from_value(Value::Object(map)).map_err(super::usage_err)
    }

    /// The registries of `tag --registry`.
    pub fn registries(&self) -> anyhow::Result<Vec<RegistryArgs>> {
        self.registries.iter().map(|r| parse_registry_spec(r)).collect()
    }

    /// What `action` requires that neither the flags nor `args` (flags over config) give, named by
    /// flag (and by key, for the config file), every one at once.
    pub fn check_required(&self, action: Action, args: &PromoteArgs) -> anyhow::Result<()> {
        let given = args.given();
        let has = |k: &str| given.contains(&k) || (k == "registries" && !self.registries.is_empty());
        let missing = options::missing(action, &has);
        if missing.is_empty() {
            return Ok(());
        }
        // In the order of the help.
        let missing: Vec<&Opt> = flagged()
            .filter(|o| missing.iter().any(|m| m.name == o.name))
            .collect();
        let flags: Vec<String> = missing
            .iter()
            .map(|o| {
                let or: Vec<String> = o
                    .or_given
                    .iter()
                    .map(|g| entry_any(g))
                    .filter(|g| g.flag.is_some() && g.help_for(action).is_some())
                    .map(flag_of)
                    .collect();
                match or.is_empty() {
                    true => flag_of(o),
                    false => format!("{} (or {})", flag_of(o), or.join(" or ")),
                }
            })
            .collect();
        let keys: Vec<&str> = missing
            .iter()
            .filter(|o| PROMOTE_SPEC.iter().any(|p| p.name == o.name))
            .map(|o| o.name)
            .collect();
        Err(usage!(
            "missing required options: {} (in --config FILE: {})",
            flags.join(", "),
            keys.join(", ")
        ))
    }
}

/// `host/namespace` or `key=value,…` → a registry's keys, checked as [`RegistryArgs`] (a value is
/// never echoed: it may be a secret).
fn registry_spec(s: &str) -> anyhow::Result<Map<String, Value>> {
    let mut map = Map::new();
    if !s.contains('=') {
        let s = s.trim_start_matches("https://").trim_start_matches("http://");
        let (host, ns) = s.split_once('/').ok_or_else(|| {
            usage!("registry {s:?}: give host/namespace or key=value pairs (host=…,namespace=…)")
        })?;
        map.insert("host".into(), host.into());
        map.insert("namespace".into(), ns.into());
        return Ok(map);
    }
    for part in s.split(',') {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| usage!("registry spec: {part:?} is not key=value"))?;
        map.insert(k.trim().to_string(), Value::String(v.trim().to_string()));
    }
    if map.contains_key("password") {
        return Err(usage!(
            "registry spec: give password_env=VARIABLE, not a password on the command line"
        ));
    }
    if let Err(e) = serde_json::from_value::<RegistryArgs>(Value::Object(map.clone())) {
        let keys: Vec<&str> = s.split(',').map(|p| p.split('=').next().unwrap_or("")).collect();
        return Err(usage!("registry spec {:?}: {e}", keys.join(",")));
    }
    Ok(map)
}

/// `key=value,…` or `host/namespace` → registry args.
pub fn parse_registry_spec(s: &str) -> anyhow::Result<RegistryArgs> {
    serde_json::from_value(Value::Object(registry_spec(s)?)).map_err(super::usage_err)
}
