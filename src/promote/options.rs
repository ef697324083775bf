//! The promotion's options declared once. `promote_options!` takes each option's field (doc,
//! serde attributes: names, aliases, the lenient parser of [`super::flexible`]) together with how the
//! Ansible module takes it (an [`Opt`]: its name in the arguments, aliases, type, choices), and
//! expands into [`super::PromoteArgs`], its `or` merge, its field names (`PromoteArgs::FIELDS`) and
//! [`super::model::PROMOTE_SPEC`]. A field cannot be added without its module option; a unit test
//! in `module::args` checks that the names agree with serde's.
//!
//! A releases file's entries and defaults embed [`super::PromoteArgs`] itself ([`super::embed`]:
//! their own keys beside the options, a few options spelled their own way, unknown keys still named
//! at their line). The CLI's flags stay a declaration of their own (`--target`, `--hash`: other
//! names, other shapes); `cli::help`'s tests check them against the options.

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
}

impl Kind {
    /// Ansible's name of the type (`list` for a list of dictionaries too).
    pub fn name(self) -> &'static str {
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

/// One option as the module takes it.
#[derive(Clone, Copy, Debug)]
pub struct Opt {
    pub name: &'static str,
    pub kind: Kind,
    pub aliases: &'static [&'static str],
    pub choices: &'static [&'static str],
    pub no_log: bool,
}

/// An option without aliases or choices.
pub const fn opt(name: &'static str, kind: Kind) -> Opt {
    Opt {
        name,
        kind,
        aliases: &[],
        choices: &[],
        no_log: false,
    }
}

impl Opt {
    pub const fn aliases(self, aliases: &'static [&'static str]) -> Opt {
        Opt { aliases, ..self }
    }

    pub const fn choices(self, choices: &'static [&'static str]) -> Opt {
        Opt { choices, ..self }
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

/// The options struct (each field `Option<_>`, with its docs and serde attributes), its `or` merge
/// and the module spec of its fields, from one list of `field: Type => module option`.
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
        }

        $(#[$specm])*
        pub const $spec: &[$crate::promote::options::Opt] = &[$($o),+];

        impl $name {
            /// The fields' names, in the order of the module's options.
            pub const FIELDS: &[&str] = &[$(stringify!($f)),+];
        }
    };
}

pub(crate) use promote_options;
