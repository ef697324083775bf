//! Each promotion verb's own description of the flags it takes. `promote`, `verify`, `tag` and
//! `rollback` parse the same [`PromoteFlags`] (one mapping to [`crate::promote::PromoteArgs`]), but
//! a flag does not mean the same to each: `--full-hash` is what `promote` copies, what `verify`
//! checks, what `tag` labels and what `rollback` moves the label off. The tables here say, for every
//! flag and verb, whether promote's description holds, what the flag does for that verb instead, or
//! that the verb does not use it (then it is hidden from the verb's help and still accepted, as
//! before). A test keeps each table complete, so a new flag needs a decision for every verb; another
//! checks that each flag reaches a field of [`crate::promote::PromoteArgs`] and each field has a flag
//! or is listed as config-only, so the flags stay in step with the one declaration of the options.

use clap::{ArgMatches, Args, Command, FromArgMatches};

use super::promote::PromoteFlags;

/// What a verb's help says about one flag.
#[derive(Clone, Copy, Debug)]
pub enum Help {
    /// `promote`'s description holds.
    Same,
    /// The verb's own description.
    Says(&'static str),
    /// The verb does not use the flag: not shown in its help.
    Unused,
}

use Help::{Same, Says, Unused};

/// One verb's description of every flag of [`PromoteFlags`], by the flag's id (its field name).
pub type Table = &'static [(&'static str, Help)];

/// A local-store description with the store's default root.
macro_rules! with_store_root {
    ($s:literal) => {
        concat!(
            $s,
            " [default: config `local_store`, else $COPY_CONTAINERS_LOCAL_ROOT, else \
             $XDG_DATA_HOME/copy-containers or ~/.local/share/copy-containers]"
        )
    };
}

/// `verify`: reads the source and the targets, changes nothing.
pub const VERIFY: Table = &[
    ("config", Says("YAML file with the promotion's fields (flags override it), or a releases file whose entries `--release NAME|all` verifies.")),
    ("full_hash", Says("The hash whose images are checked on every target: <commit>_<distro8>, or a 32-hex aggregate hash (`--hash`: with a releases file, forces the hash).")),
    ("push_hash", Says("The tag the targets hold the images under, when the promotion pushed them under it instead of the hash; the source is read at the hash.")),
    ("named_label", Says("The label checked: on every target it must point at the hash's images.")),
    ("release", Says("The release (`master`), shown in the reports; with a releases file, the entry to verify (`NAME` or `all`).")),
    ("distro_name", Says("The distribution's name (default centos), shown in the reports.")),
    ("distro_version", Says("The distribution's version (default 9), shown in the reports.")),
    ("containers", Says("Container names without prefix to check, comma-separated.")),
    ("ppc_containers", Says("Names that have ppc64le images, comma-separated (their lists are checked for them).")),
    ("containers_file", Same),
    ("prefix", Same),
    ("source", Says("Source registry, read for the digests the targets must hold: `host/namespace` or `host=…,namespace=…,insecure=true,ca_file=…,username=…,password_env=…`.")),
    ("targets", Says("A target registry to verify (repeatable), same forms as --source (plus `schema=v2_s1|v2_s2`).")),
    ("push", Says("Whether the promotion pushed to the targets (default true); false checks the source only.")),
    ("manifest_push", Says("Expect <fh>_manifest lists on v2_s2 targets, as the promotion built them.")),
    ("ppc_manifests", Says("Expect ppc64le images in the lists (default true).")),
    ("tmp_file_root", Says("Folder of the reports (default /var/tmp/promoter_logs); verify writes no list files.")),
    ("report_json", Same),
    ("report_html", Same),
    ("per_registry", Same),
    ("retries", Same),
    ("request_timeout", Same),
    ("token_timeout", Same),
    ("keep_local", Says("`never`: do not look at the local store; otherwise an image kept there stands in for one missing at the source. Verify keeps and removes nothing.")),
    ("local_store", Says(with_store_root!("Root of the local store read for kept images."))),
    ("lock_timeout", Same),
    ("report_keep", Same),
    ("report_group_readable", Same),
    ("local_max_age_days", Unused),
    ("local_max_size_gib", Unused),
    ("phase_timeout", Says("Seconds the source check and the verification may each take; one that runs over stops with an error [default: 0, no limit].")),
    ("deadline", Says("Seconds the whole verification may take; one that reaches it stops, its report interrupted [default: 5400; 0: no limit].")),
    ("dry_run", Says("Check the source and show what would be verified; the targets are not verified.")),
    ("json", Same),
];

/// `tag`: moves a label on chosen registries; no lists, no local store.
pub const TAG: Table = &[
    ("config", Says("YAML file with the promotion's fields (flags override it); not a releases file.")),
    ("full_hash", Says("The hash whose images get the label: <commit>_<distro8>, or a 32-hex aggregate hash.")),
    ("push_hash", Says("With --registry, the tag the images are read under there (a promotion pushed them under it instead of the hash); the source is read at the hash.")),
    ("named_label", Says("The label to put on the hash's images, e.g. current-tripleo.")),
    ("release", Says("The release (`master`), shown in the reports.")),
    ("distro_name", Says("The distribution's name (default centos), shown in the reports.")),
    ("distro_version", Says("The distribution's version (default 9), shown in the reports.")),
    ("containers", Says("Container names without prefix to label, comma-separated.")),
    ("ppc_containers", Unused),
    ("containers_file", Same),
    ("prefix", Same),
    ("source", Says("The registry labelled when no --registry is given (`host/namespace` or key=value pairs as for promote); its namespace is the default of the --registry ones.")),
    ("targets", Unused),
    ("push", Unused),
    ("manifest_push", Unused),
    ("ppc_manifests", Unused),
    ("tmp_file_root", Says("Folder of the reports (default /var/tmp/promoter_logs).")),
    ("report_json", Same),
    ("report_html", Same),
    ("per_registry", Same),
    ("retries", Same),
    ("request_timeout", Same),
    ("token_timeout", Same),
    ("keep_local", Unused),
    ("local_store", Unused),
    ("lock_timeout", Unused),
    ("report_keep", Same),
    ("report_group_readable", Same),
    ("local_max_age_days", Unused),
    ("local_max_size_gib", Unused),
    ("phase_timeout", Unused),
    ("deadline", Unused),
    ("dry_run", Says("Read where the label points now and show the moves; change nothing.")),
    ("json", Same),
];

/// `rollback`: moves the label back on the targets (and the source with `label_source`).
pub const ROLLBACK: Table = &[
    ("config", Says("YAML file with the promotion's fields (flags override it); not a releases file.")),
    ("full_hash", Says("The hash wrongly promoted: the label moves back only where it still points at its images.")),
    ("push_hash", Says("The tag the targets hold the images under, when the promotion pushed them under it instead of the hash.")),
    ("named_label", Says("The label to move back to where it pointed before the promotion (its previous-<label> tag, else the local store's history).")),
    ("release", Says("The release (`master`), shown in the reports; selects the local store's label history.")),
    ("distro_name", Says("The distribution's name (default centos), shown in the reports.")),
    ("distro_version", Says("The distribution's version (default 9), shown in the reports.")),
    ("containers", Says("Container names without prefix whose label moves back, comma-separated.")),
    ("ppc_containers", Unused),
    ("containers_file", Same),
    ("prefix", Same),
    ("source", Says("Source registry, as for promote (`host/namespace` or key=value pairs); its label moves back too when the config sets label_source.")),
    ("targets", Says("A target registry whose label moves back (repeatable), same forms as --source.")),
    ("push", Unused),
    ("manifest_push", Unused),
    ("ppc_manifests", Unused),
    ("tmp_file_root", Says("Folder of the reports (default /var/tmp/promoter_logs).")),
    ("report_json", Same),
    ("report_html", Same),
    ("per_registry", Same),
    ("retries", Same),
    ("request_timeout", Same),
    ("token_timeout", Same),
    ("keep_local", Says("`never`: ignore the local store's label history; otherwise it says where the label pointed when no previous-<label> tag does.")),
    ("local_store", Says(with_store_root!("Root of the local store whose label history is read."))),
    ("lock_timeout", Unused),
    ("report_keep", Same),
    ("report_group_readable", Same),
    ("local_max_age_days", Unused),
    ("local_max_size_gib", Unused),
    ("phase_timeout", Unused),
    ("deadline", Unused),
    ("dry_run", Says("Show where each label would move back; change nothing.")),
    ("json", Same),
];

/// The flags' arguments with a verb's descriptions.
pub fn describe(mut cmd: Command, table: Table) -> Command {
    for (id, help) in table {
        cmd = match help {
            Same => cmd,
            // Without the final period, as clap shows doc comments.
            Says(text) => cmd.mut_arg(*id, |a| {
                a.help(text.strip_suffix('.').unwrap_or(text)).long_help(None)
            }),
            Unused => cmd.mut_arg(*id, |a| a.hide(true)),
        };
    }
    cmd
}

/// [`PromoteFlags`] as one verb describes them (parsed the same way; derefs to the flags).
macro_rules! described_flags {
    ($(#[$m:meta])* $name:ident, $table:expr) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default)]
        pub struct $name(pub PromoteFlags);

        impl std::ops::Deref for $name {
            type Target = PromoteFlags;
            fn deref(&self) -> &PromoteFlags {
                &self.0
            }
        }

        impl FromArgMatches for $name {
            fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
                PromoteFlags::from_arg_matches(m).map($name)
            }
            fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
                self.0.update_from_arg_matches(m)
            }
        }

        impl Args for $name {
            fn group_id() -> Option<clap::Id> {
                PromoteFlags::group_id()
            }
            fn augment_args(cmd: Command) -> Command {
                describe(PromoteFlags::augment_args(cmd), $table)
            }
            fn augment_args_for_update(cmd: Command) -> Command {
                describe(PromoteFlags::augment_args_for_update(cmd), $table)
            }
        }
    };
}

described_flags!(
    /// `verify`'s flags.
    VerifyFlags,
    VERIFY
);
described_flags!(
    /// `tag`'s promotion flags.
    TagFlags,
    TAG
);
described_flags!(
    /// `rollback`'s flags.
    RollbackFlags,
    ROLLBACK
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promote::PromoteArgs;
    use std::collections::BTreeSet;

    /// Promotion fields no flag sets (`--config FILE` gives them).
    const NO_FLAG: &[&str] = &[
        "candidate_label",
        "base_container_images",
        "source_namespace",
        "target_namespace",
        "x86_tag",
        "ppc_tag",
        "manifest_tag",
        "blob_concurrency",
        "label_source",
        "keep_previous_label",
    ];

    /// Flags that are not promotion fields.
    const NOT_FIELDS: &[&str] = &["config", "dry_run", "json"];

    /// Each flag sets a promotion field through [`PromoteFlags::flag_args`] (the one mapping), and
    /// every field of [`PromoteArgs`] has a flag or is listed in [`NO_FLAG`]: a field added to the
    /// options without a flag, or a flag that reaches no field, fails here.
    #[test]
    fn flags_reach_every_promote_field() {
        let cmd = PromoteFlags::augment_args(Command::new("promote"));
        let mut covered = BTreeSet::new();
        for a in cmd.get_arguments() {
            let id = a.get_id().as_str();
            let flag = format!("--{}", a.get_long().expect("a long flag"));
            let values: &[&[&str]] = if a.get_action().takes_values() {
                &[&["1"], &["h/n"]]
            } else {
                &[&[]]
            };
            let args = values.iter().find_map(|v| {
                let argv = ["promote", flag.as_str()].into_iter().chain(v.iter().copied());
                let m = cmd.clone().try_get_matches_from(argv).ok()?;
                PromoteFlags::from_arg_matches(&m).ok()?.flag_args().ok()
            });
            let args = args.unwrap_or_else(|| panic!("{flag}: no sample value parses"));
            let set: Vec<String> = match serde_json::to_value(&args).unwrap() {
                serde_json::Value::Object(m) => m
                    .into_iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, _)| k)
                    .collect(),
                _ => unreachable!(),
            };
            if NOT_FIELDS.contains(&id) {
                assert!(set.is_empty(), "{flag} sets {set:?}");
            } else {
                assert!(!set.is_empty(), "{flag} sets no promotion field");
            }
            covered.extend(set);
        }
        for f in PromoteArgs::FIELDS {
            assert!(
                covered.contains(*f) != NO_FLAG.contains(f),
                "{f}: a flag sets it: {}, listed in NO_FLAG: {}",
                covered.contains(*f),
                NO_FLAG.contains(f)
            );
        }
    }

    /// Every table names each flag of [`PromoteFlags`] once, in their order, so a new flag needs a
    /// decision for every verb (and a removed one leaves no stale entry).
    #[test]
    fn tables_cover_every_flag() {
        let ids: Vec<String> = PromoteFlags::augment_args(Command::new("x"))
            .get_arguments()
            .map(|a| a.get_id().to_string())
            .collect();
        for (verb, table) in [("verify", VERIFY), ("tag", TAG), ("rollback", ROLLBACK)] {
            let named: Vec<String> = table.iter().map(|(id, _)| id.to_string()).collect();
            assert_eq!(named, ids, "{verb}'s table against PromoteFlags");
        }
    }
}
