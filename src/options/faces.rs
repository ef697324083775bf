//! The options of one face only: the module's (`action`, `registries`, `stage_info`, `scope`) and
//! the command line's (`--config`, `--dry-run`, `--json`, `--table`), the actions, and what each action requires.

use super::Help::{Says, Unused};
use super::Kind::*;
use super::{opt, Group, Opt, MODULE_SPEC};

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
    /// What a run does: the module's `action`, the command line's verb (`local delete` is
    /// `delete_local`).
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

/// Every action.
pub const ALL: &[Action] = &[
    Action::Promote,
    Action::Verify,
    Action::Tag,
    Action::Rollback,
    Action::DeleteLocal,
];

/// The actions that run a promotion's verbs (every one but `delete_local`).
pub const PROMOTION: &[Action] = &[Action::Promote, Action::Verify, Action::Tag, Action::Rollback];

/// The module's own options (the promotion's are [`super::PROMOTE_SPEC`]).
pub const MODULE_OPTIONS: &[Opt] = &[
    opt("action", Str)
        .choices(ACTIONS)
        .default(super::DefaultValue::Str("promote"))
        .doc(&["What to do. V(promote) copies, builds manifest lists, verifies and labels; V(verify) only checks; \
                V(tag) only moves O(named_label); V(rollback) moves O(named_label) back; V(delete_local) removes \
                local copies."]),
    opt("registries", ListOfDicts)
        .flag("registry")
        .value("REGISTRY")
        .group(Group::Registries)
        .required(&[Action::Tag], &["source_registry", "stage_info"])
        .help("Registries to label on (repeatable; same forms as --target). Default: the source")
        .promote(Unused)
        .verify(Unused)
        .rollback(Unused)
        .doc(&[
            "For O(action=tag) - the registries to move O(named_label) on; default O(source_registry).",
            "Each takes the same keys as O(source_registry).",
        ]),
    opt("stage_info", Path).doc(&[
        "The promoter's staging switch, the path of its C(stage-info.yaml) file (the playbook passes \
         C(/tmp/stage-info.yaml) when it exists). Its C(registries.source), C(registries.targets) and \
         C(dlrn.promotions.promotion_candidate.full_hash) replace O(source_registry), O(target_registries) and \
         O(full_hash), which it then makes optional.",
        "A O(full_hash) given that is not the file's candidate fails the task before any registry is asked \
         anything, naming both hashes, the file and its age (a file left behind by a staging run would \
         otherwise take a production run to the staging registries); a file older than a day is a warning.",
        "Read by the module only, so the staging registries' passwords never go through Ansible variables or \
         templating.",
    ]),
    opt("full_result", Bool).default(super::DefaultValue::Bool(false)).doc(&[
        "Return every per-image detail (RV(found), RV(pushed), RV(containers), RV(problems), ...), as the \
         JSON report has them.",
        "By default the result holds the outcome, the counts, each cause of failure once with a few of its \
         images, and the report files - C(ansible-playbook -v) prints the whole result into the log the \
         promoter publishes, and the per-image details would make most of it; they are in the JSON report.",
    ]),
    opt("scope", Str)
        .choices(SCOPES)
        .required(&[Action::DeleteLocal], &[])
        .doc(&[
            "For O(action=delete_local) (required there) - what to remove. V(container) the images of \
             O(containers_list) (of O(release) when given), V(release) everything of O(release), V(all) everything.",
            "A scope that matches nothing changes nothing and is reported in RV(ignore:warnings) (a rerun stays a \
             harmless no-op). Only what the store wrote is removed; a release folder that is not a layout of its \
             own is reported and left alone.",
        ]),
];

/// The command line's own options of the promotion verbs.
pub const CLI_OPTIONS: &[Opt] = &[
    opt("config", Path)
        .flag("config")
        .value("FILE")
        .help("YAML file with the promotion's fields (flags override it), or a releases file whose entries `--release NAME|all` runs")
        .verify(Says("YAML file with the promotion's fields (flags override it), or a releases file whose entries `--release NAME|all` verifies"))
        .tag(Says("YAML file with the promotion's fields (flags override it); not a releases file"))
        .rollback(Says("YAML file with the promotion's fields (flags override it); not a releases file")),
    opt("dry_run", Switch)
        .flag("dry-run")
        .group(Group::Run)
        .help("Plan and read only; change nothing")
        .verify(Says("Check the source and show what would be verified; the targets are not verified"))
        .tag(Says("Read where the label points now and show the moves; change nothing"))
        .rollback(Says("Show where each label would move back; change nothing")),
    opt("json", Switch)
        .flag("json")
        .group(Group::Reports)
        .help("Print the report as JSON on stdout instead of the table"),
    opt("table", Switch)
        .flag("table")
        .group(Group::Reports)
        .help("Print one row per image however many there are (by default only for runs of up to 10 images; the HTML report has them all)"),
];

/// The options `action` requires that `given` (by name) does not have, nor anything standing in for
/// them: every one at once, each face naming them its way (the module by key, the command line by
/// flag).
pub fn missing(action: Action, given: &dyn Fn(&str) -> bool) -> Vec<&'static Opt> {
    MODULE_SPEC
        .iter()
        .filter(|o| o.required_by(action))
        .filter(|o| !given(o.name) && !o.or_given.iter().any(|g| given(g)))
        .collect()
}

/// What [`missing`] returns.
pub type Missing = &'static Opt;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_each_action_requires() {
        let none = |_: &str| false;
        let names = |a| missing(a, &none).iter().map(|o| o.name).collect::<Vec<_>>();
        assert_eq!(
            names(Action::Promote),
            ["full_hash", "named_label", "containers_list", "source_registry"]
        );
        assert_eq!(names(Action::DeleteLocal), ["scope"]);
        let staged = |k: &str| k == "stage_info" || k == "containers_list_file";
        let left: Vec<_> = missing(Action::Tag, &staged).iter().map(|o| o.name).collect();
        assert_eq!(left, ["named_label"]);
        let tag: Vec<_> = missing(Action::Tag, &none).iter().map(|o| o.name).collect();
        assert_eq!(tag, ["registries", "full_hash", "named_label", "containers_list"]);
    }
}
