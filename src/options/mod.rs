//! Every option, declared once. An option's entry says all there is to say about it: its name (the
//! module's key, the config files' key), its aliases, its command-line flag, its type, its default
//! and limits, which actions require it, its help on the command line (and how each verb describes
//! it), and its Ansible documentation. Everything else is derived from the entries:
//!
//! - [`PromoteArgs`] (the struct every face fills: flags, config files, releases files, the module)
//!   and its `or` merge are generated from [`promotion`]'s list by `promote_options!`;
//!   [`RegistryArgs`] (a registry's keys) from [`registry`]'s by `registry_keys!`;
//! - [`PromoteArgs::resolve`] applies the defaults and limits read
//!   from the entries ([`Field::opt`]);
//! - the command line builds its flags and its `--help` from them (`cli::flags`): headings, the
//!   `[default: …]` and `[possible values: …]` shown, `[required]` marked, each verb's own words;
//! - the module validates its arguments against [`MODULE_SPEC`] and names what is missing with
//!   [`missing`], as the command line does (by flag there);
//! - the options of `src/module/copy_containers.yml` (the module's documentation, copied into the
//!   launcher `library/copy_containers.py`) are rendered by [`doc`]; they are checked in,
//!   `tests/module_doc.rs` fails when they are stale and `scripts/regenerate` rewrites them.
//!
//! The idea is ripgrep's (one definition per flag, carrying its names, docs and parsing; help and
//! documents generated), written as one table of constant records rather than a type per flag:
//! sixty-odd entries read better as data, and `const` builders keep them checked at compile time.
//!
//! # Adding an option (a worked example)
//!
//! Say promotions get a `request_timeout` (seconds a request may take). Add one entry to
//! [`promotion`]'s list:
//!
//! ```text
//! /// Seconds a request may take before it is retried.
//! #[serde(default, deserialize_with = "opt_count")]
//! request_timeout: Option<u64> => opt("request_timeout", Int)
//!     .flag("request-timeout").value("SECS").group(Run)
//!     .default(D::Int(60)).limits(1, 3600)
//!     .help("Seconds a request may take before it is retried")
//!     .doc(&["Seconds a request may take before it is retried."]),
//! ```
//!
//! then use it where it acts (`resolve`: `Field::request_timeout.opt().count(self.request_timeout)`
//! into a field of `Promotion`, and the code that reads that field), and run `scripts/regenerate` to
//! rewrite the module's documentation and the launcher's copy of it. Nothing else: the flag appears on `promote`, `verify`, `tag`
//! and `rollback` (`.tag(Unused)` would hide it there, `.verify(Says("…"))` would describe it in
//! verify's words), the module accepts it with Ansible's coercions, config and releases files take
//! it, and `--help` and the Ansible documentation show its default and limits. `tests/one_schema.rs`
//! checks that every face takes every option, that each flag reaches its field and that the
//! declared defaults are the applied ones; `tests/module_doc.rs` and `tests/launcher_doc.rs` that
//! the documentation was regenerated.

mod faces;
mod promotion;
mod registry;

pub mod ansible;
pub mod doc;
pub mod flexible;
pub mod help;

pub use faces::{missing, Action, Missing, Scope, ACTIONS, CLI_OPTIONS, MODULE_OPTIONS, SCOPES};
pub use promotion::{Field, KeepLocal, PromoteArgs, KEEP_LOCAL, PROMOTE_SPEC};
pub use registry::{RegistryArgs, REGISTRY_KEYS};

/// Every option of the module: its own ([`MODULE_OPTIONS`]), then the promotion's.
pub const MODULE_SPEC: &[Opt] = &MODULE_SPEC_ARRAY;
const MODULE_SPEC_ARRAY: [Opt; MODULE_OPTIONS.len() + PROMOTE_SPEC.len()] =
    join(MODULE_OPTIONS, PROMOTE_SPEC);

/// Value types of an option, as Ansible's argument spec names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Str,
    Bool,
    Int,
    List,
    Dict,
    ListOfDicts,
    Path,
    /// A command-line switch (`--dry-run`): present or not, no value.
    Switch,
}

impl Kind {
    /// Ansible's name of the type (`list` for a list of dictionaries too).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Str => "str",
            Kind::Bool | Kind::Switch => "bool",
            Kind::Int => "int",
            Kind::List | Kind::ListOfDicts => "list",
            Kind::Dict => "dict",
            Kind::Path => "path",
        }
    }
}

/// An option's default: applied by the code that uses it (from here), and documented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultValue {
    /// None: not given means not set.
    None,
    Str(&'static str),
    Int(u64),
    Bool(bool),
    List(&'static [&'static str]),
    /// Worked out where it is used; said in words (`--help` only: Ansible documents values).
    Described(&'static str),
}

/// How a verb's help describes an option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Help {
    /// The option's own help (`promote`'s words) holds.
    Same,
    /// The verb's own description.
    Says(&'static str),
    /// The verb does not use the option: not shown in its help.
    Unused,
}

/// The headings options are grouped under in `--help`, in this order; the options a verb requires
/// are listed under [`Group::Required`] whatever their own group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Group {
    Required,
    What,
    Registries,
    LocalStore,
    Reports,
    Run,
}

impl Group {
    pub const ALL: [Group; 6] = [
        Group::Required,
        Group::What,
        Group::Registries,
        Group::LocalStore,
        Group::Reports,
        Group::Run,
    ];

    pub fn heading(self) -> &'static str {
        match self {
            Group::Required => "Required (as flags, or keys of --config FILE)",
            Group::What => "What",
            Group::Registries => "Registries",
            Group::LocalStore => "Local store",
            Group::Reports => "Reports and list files",
            Group::Run => "Run",
        }
    }
}

/// An option's command-line flag.
#[derive(Clone, Copy, Debug)]
pub struct Flag {
    /// `--<long>`.
    pub long: &'static str,
    /// A second, visible name (`--hash` for `--full-hash`).
    pub alias: Option<&'static str>,
}

/// One option.
#[derive(Clone, Copy, Debug)]
pub struct Opt {
    /// Its key in the module's arguments and in config files.
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub kind: Kind,
    pub choices: &'static [&'static str],
    /// A secret: never shown (Ansible's `no_log`).
    pub no_log: bool,
    pub default: DefaultValue,
    /// For counts: the range a value is brought into (`(1, 256)`).
    pub limits: Option<(u64, u64)>,
    /// Where `local` (a person at a terminal) defaults otherwise (`lock_timeout`: do not wait).
    pub local_default: Option<u64>,
    /// The actions that need it, and the options that stand in for it (`containers_list_file`).
    pub required: &'static [Action],
    pub or_given: &'static [&'static str],
    /// On the command line (none: config files and the module only).
    pub flag: Option<Flag>,
    /// The value's name in help (`SECS`).
    pub value: &'static str,
    /// Its heading in `--help`, where the verb does not require it.
    pub group: Group,
    /// The help of `promote` (and of every verb that says [`Help::Same`]).
    pub help: &'static str,
    /// How each action describes it, by [`Action`] (`promote` is [`Help::Same`] unless told).
    pub says: [Help; 5],
    /// Its Ansible documentation, one paragraph each (Ansible's markup: `O()`, `V()`, `C()`).
    pub doc: &'static [&'static str],
}

/// An option named `name` of type `kind`; the builders below say the rest.
pub const fn opt(name: &'static str, kind: Kind) -> Opt {
    Opt {
        name,
        aliases: &[],
        kind,
        choices: &[],
        no_log: false,
        default: DefaultValue::None,
        limits: None,
        local_default: None,
        required: &[],
        or_given: &[],
        flag: None,
        value: "",
        group: Group::What,
        help: "",
        says: [Help::Same, Help::Same, Help::Same, Help::Same, Help::Unused],
        doc: &[],
    }
}

impl Opt {
    pub const fn aliases(self, aliases: &'static [&'static str]) -> Opt {
        Opt { aliases, ..self }
    }
    pub const fn choices(self, choices: &'static [&'static str]) -> Opt {
        Opt { choices, ..self }
    }
    pub const fn no_log(self) -> Opt {
        Opt { no_log: true, ..self }
    }
    pub const fn default(self, default: DefaultValue) -> Opt {
        Opt { default, ..self }
    }
    pub const fn limits(self, low: u64, high: u64) -> Opt {
        Opt {
            limits: Some((low, high)),
            ..self
        }
    }
    pub const fn local_default(self, v: u64) -> Opt {
        Opt {
            local_default: Some(v),
            ..self
        }
    }
    /// Required by `actions`, unless one of `or_given` is given.
    pub const fn required(self, required: &'static [Action], or_given: &'static [&'static str]) -> Opt {
        Opt {
            required,
            or_given,
            ..self
        }
    }
    pub const fn flag(self, long: &'static str) -> Opt {
        Opt {
            flag: Some(Flag { long, alias: None }),
            ..self
        }
    }
    pub const fn flag_alias(self, long: &'static str, alias: &'static str) -> Opt {
        Opt {
            flag: Some(Flag {
                long,
                alias: Some(alias),
            }),
            ..self
        }
    }
    pub const fn value(self, value: &'static str) -> Opt {
        Opt { value, ..self }
    }
    pub const fn group(self, group: Group) -> Opt {
        Opt { group, ..self }
    }
    pub const fn help(self, help: &'static str) -> Opt {
        Opt { help, ..self }
    }
    pub const fn doc(self, doc: &'static [&'static str]) -> Opt {
        Opt { doc, ..self }
    }
    const fn say(mut self, action: Action, h: Help) -> Opt {
        self.says[action as usize] = h;
        self
    }
    pub const fn promote(self, h: Help) -> Opt {
        self.say(Action::Promote, h)
    }
    pub const fn verify(self, h: Help) -> Opt {
        self.say(Action::Verify, h)
    }
    pub const fn tag(self, h: Help) -> Opt {
        self.say(Action::Tag, h)
    }
    pub const fn rollback(self, h: Help) -> Opt {
        self.say(Action::Rollback, h)
    }
    /// How `local` (the command line's `delete_local`) describes it.
    pub const fn local(self, h: Help) -> Opt {
        self.say(Action::DeleteLocal, h)
    }

    /// What `action`'s help says about it (`None`: the action does not use it).
    pub fn help_for(&self, action: Action) -> Option<&'static str> {
        match self.says[action as usize] {
            Help::Same => Some(self.help),
            Help::Says(s) => Some(s),
            Help::Unused => None,
        }
    }

    /// Is it required by `action` (whatever stands in for it)?
    pub fn required_by(&self, action: Action) -> bool {
        self.required.contains(&action)
    }

    /// Its heading in `action`'s help.
    pub fn group_for(&self, action: Action) -> Group {
        match self.required_by(action) {
            true => Group::Required,
            false => self.group,
        }
    }

    /// A count: the value given, else the default, brought within the limits.
    pub fn count(&self, given: Option<u64>) -> u64 {
        let v = given.unwrap_or(match self.default {
            DefaultValue::Int(d) => d,
            _ => 0,
        });
        match self.limits {
            Some((low, high)) => v.clamp(low, high),
            None => v,
        }
    }

    /// A boolean: the value given, else the default.
    pub fn flag_value(&self, given: Option<bool>) -> bool {
        given.unwrap_or(matches!(self.default, DefaultValue::Bool(true)))
    }

    /// A string: the value given, else the default (empty when it has none).
    pub fn text<'a>(&self, given: Option<&'a str>) -> &'a str {
        match (given, self.default) {
            (Some(v), _) => v,
            (None, DefaultValue::Str(d)) => d,
            _ => "",
        }
    }

    /// A list: the value given, else the default.
    pub fn names(&self, given: Option<&[String]>) -> Vec<String> {
        match (given, self.default) {
            (Some(v), _) => v.to_vec(),
            (None, DefaultValue::List(d)) => d.iter().map(|s| s.to_string()).collect(),
            _ => Vec::new(),
        }
    }

    /// The default as `--help` shows it (`None`: it has none).
    pub fn default_text(&self) -> Option<String> {
        Some(match self.default {
            DefaultValue::None => return None,
            DefaultValue::Str(s) | DefaultValue::Described(s) => s.to_string(),
            DefaultValue::Int(i) => i.to_string(),
            DefaultValue::Bool(b) => b.to_string(),
            DefaultValue::List(l) => l.join(","),
        })
    }
}

/// `a` then `b`, in a constant (`N` is their total length).
pub const fn join<const N: usize>(a: &[Opt], b: &[Opt]) -> [Opt; N] {
    let mut out = [opt("", Kind::Str); N];
    let mut i = 0;
    while i < a.len() {
        out[i] = a[i];
        i += 1;
    }
    while i < N {
        out[i] = b[i - a.len()];
        i += 1;
    }
    out
}

/// The options struct (each field `Option<_>`, with its docs and serde attributes), its `or` merge,
/// its fields by name ([`Field`]) and the options' entries, from one list of
/// `field: Type => entry`.
macro_rules! promote_options {
    (
        $(#[$sm:meta])*
        pub struct $name:ident;
        $(#[$specm:meta])*
        pub const $spec:ident;
        $( $(#[$m:meta])* $f:ident : $t:ty => $o:expr ),+ $(,)?
    ) => {
        $(#[$sm])*
        pub struct $name {
            $( $(#[$m])* pub $f: $t, )+
        }

        impl $name {
            /// Fill unset fields from `other` (flags override config: `flags.or(config)`).
            pub fn or(self, other: $name) -> $name {
                $name { $( $f: self.$f.or(other.$f) ),+ }
            }

            /// The fields' names, in the order of the entries.
            pub const FIELDS: &[&str] = &[$(stringify!($f)),+];
        }

        $(#[$specm])*
        pub const $spec: &[$crate::options::Opt] = &[$($o),+];

        /// The fields by name, to reach their entries ([`Field::opt`]).
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Field {
            $($f),+
        }

        impl Field {
            /// The field's entry.
            pub const fn opt(self) -> &'static $crate::options::Opt {
                &$spec[self as usize]
            }
        }
    };
}

pub(crate) use promote_options;

/// A registry's keys (a struct of them, serde attributes on each) and their entries, from one list
/// of `field: Type => entry`.
macro_rules! registry_keys {
    (
        $(#[$sm:meta])*
        pub struct $name:ident;
        $(#[$specm:meta])*
        pub const $spec:ident;
        $( $(#[$m:meta])* $f:ident : $t:ty => $o:expr ),+ $(,)?
    ) => {
        $(#[$sm])*
        pub struct $name {
            $( $(#[$m])* pub $f: $t, )+
        }

        $(#[$specm])*
        pub const $spec: &[$crate::options::Opt] = &[$($o),+];
    };
}

pub(crate) use registry_keys;

/// Every option's entry is complete: documented for Ansible and described for the command line,
/// defaults of its own type and within its limits and choices.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_complete() {
        let all = MODULE_SPEC.iter().chain(CLI_OPTIONS).chain(REGISTRY_KEYS);
        for o in all {
            let module = MODULE_SPEC.iter().any(|m| m.name == o.name)
                || REGISTRY_KEYS.iter().any(|m| m.name == o.name);
            assert!(!module || !o.doc.is_empty(), "{}: no Ansible doc", o.name);
            assert!(
                o.flag.is_none() || !o.help.is_empty(),
                "{}: a flag without help",
                o.name
            );
            assert!(
                !o.help.ends_with('.'),
                "{}: help ends without a period, as clap shows it",
                o.name
            );
            match o.default {
                DefaultValue::Int(d) => {
                    assert_eq!(o.kind, Kind::Int, "{}", o.name);
                    if let Some((low, high)) = o.limits {
                        assert!((low..=high).contains(&d), "{}: default out of its limits", o.name);
                    }
                }
                DefaultValue::Bool(_) => assert_eq!(o.kind, Kind::Bool, "{}", o.name),
                DefaultValue::List(_) => assert_eq!(o.kind, Kind::List, "{}", o.name),
                DefaultValue::Str(s) if !o.choices.is_empty() => {
                    assert!(o.choices.contains(&s), "{}: default not a choice", o.name)
                }
                _ => {}
            }
            assert!(o.limits.is_none() || o.kind == Kind::Int, "{}", o.name);
        }
        assert_eq!(PromoteArgs::FIELDS.len(), PROMOTE_SPEC.len());
        assert_eq!(Field::lock_timeout.opt().name, "lock_timeout");
    }
}
