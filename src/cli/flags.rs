//! The promotion verbs' flags, built from the options' entries ([`crate::options`]): each
//! verb (`promote`, `verify`, `tag`, `rollback`) gets every option that has a flag, grouped under
//! headings, described in that verb's words, its default, limits, possible values and whether it is
//! required shown; an option the verb does not use is hidden (and still accepted, as the module
//! accepts it). The values given are read into [`PromoteArgs`] the way a config file's are (the
//! options' keys, the same lenient parsers), so flags and files cannot differ.

use std::path::PathBuf;

use clap::{value_parser, Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches};
use serde_json::{Map, Value};

use crate::options::help::{self, flagged};
use crate::options::{flexible, Action, Group, Kind, Opt, PromoteArgs, RegistryArgs};

/// The flags a promotion verb was given.
#[derive(Debug, Clone, Default)]
pub struct PromoteFlags {
    pub config: Option<PathBuf>,
    pub dry_run: bool,
    pub json: bool,
    /// `--table`: one row per image whatever their number.
    pub table: bool,
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
        for group in Group::ALL {
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

/// The option's argument for `action` (`None`: the verb does not take it).
fn arg(o: &'static Opt, action: Action) -> Option<Arg> {
    let flag = o.flag.filter(|_| o.on_command_line(action))?;
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
    let short = o.help_line(action, text.unwrap_or_default());
    let long = match o.kind {
        Kind::Dict => format!("{short}\n{}", help::registry_keys()),
        _ => short.clone(),
    };
    Some(arg.help(short).long_help(long))
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
        for o in flagged().filter(|o| o.on_command_line(action)) {
            let value = match o.kind {
                Kind::Switch => {
                    let on = m.get_flag(o.name);
                    match o.name {
                        "dry_run" => f.dry_run = on,
                        "table" => f.table = on,
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
            let o = help::entry(name);
            let v = match (o.kind, v) {
                (Kind::Bool, Value::String(s)) => Value::Bool(flexible::parse_bool(s).ok_or_else(|| {
                    usage!(
                        "{}: {s:?} is not a boolean (true or false; yes/no, on/off, 1/0 also do)",
                        o.flag_name()
                    )
                })?),
                (Kind::Dict, Value::String(s)) => {
                    Value::Object(RegistryArgs::line_keys(s).map_err(super::usage_err)?)
                }
                (Kind::ListOfDicts, Value::Array(specs)) => Value::Array(
                    specs
                        .iter()
                        .map(|s| RegistryArgs::line_keys(s.as_str().unwrap_or_default()).map(Value::Object))
                        .collect::<crate::Result<_>>()
                        .map_err(super::usage_err)?,
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
        match help::missing_flags(action, &has) {
            Some(m) => Err(usage!("{m}")),
            None => Ok(()),
        }
    }
}

/// `key=value,…` or `host/namespace` → registry args (a usage error otherwise).
pub fn parse_registry_spec(s: &str) -> anyhow::Result<RegistryArgs> {
    RegistryArgs::from_line(s).map_err(super::usage_err)
}
