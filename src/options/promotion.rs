//! The promotion's options: [`PromoteArgs`], what every face gives (promoter names, every field
//! optional, lenient types; defaults applied by `PromoteArgs::resolve` from the entries here), and
//! [`KeepLocal`], the one local-copy policy type of every face.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::faces::{Action, PROMOTION};
use super::DefaultValue as D;
use super::Group::{LocalStore, Registries, Reports, Run};
use super::Help::{Says, Unused};
use super::Kind::*;
use super::{opt, promote_options, RegistryArgs};
use crate::error::{Error, Result};
use crate::options::flexible::{self, opt_bool, opt_count, opt_string};

/// Said of the store's root wherever it is not given.
const STORE_ROOT: &str =
    "config `local_store`, else $COPY_CONTAINERS_LOCAL_ROOT, else $XDG_DATA_HOME/copy-containers or ~/.local/share/copy-containers";

promote_options! {
    /// What callers give (promoter names; all optional here, defaults applied by
    /// `PromoteArgs::resolve`); each option declared once, with everything about it.
    #[derive(Clone, Debug, Default, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct PromoteArgs;
    /// The entries of [`PromoteArgs`]' fields, in their order.
    pub const PROMOTE_SPEC;
    #[serde(default)]
    full_hash: Option<String> => opt("full_hash", Str)
        .flag_alias("full-hash", "hash").value("HASH")
        .required(PROMOTION, &["stage_info"])
        .help("The tag to promote: <commit>_<distro8>, or a 32-hex aggregate hash (`--hash`: with a releases file, forces the hash)")
        .verify(Says("The hash whose images are checked on every target: <commit>_<distro8>, or a 32-hex aggregate hash (`--hash`: with a releases file, forces the hash)"))
        .tag(Says("The hash whose images get the label: <commit>_<distro8>, or a 32-hex aggregate hash"))
        .rollback(Says("The hash wrongly promoted: the label moves back only where it still points at its images"))
        .doc(&[
            "The DLRN hash, the tag to promote. C(<commit_hash>_<distro_hash[:8]>), the extended form \
             C(<commit>_<distro8>_<a8>_<b8>), or a 32-hex aggregate hash.",
            "Required unless O(action=delete_local).",
        ]),
    #[serde(default)]
    named_label: Option<String> => opt("named_label", Str)
        .flag("named-label").value("LABEL")
        .required(PROMOTION, &[])
        .help("The label to apply, e.g. current-tripleo")
        .verify(Says("The label checked: on every target it must point at the hash's images"))
        .tag(Says("The label to put on the hash's images, e.g. current-tripleo"))
        .rollback(Says("The label to move back to where it pointed before the promotion (its previous-<label> tag, else the local store's history)"))
        .doc(&[
            "The promotion label to apply, for example C(current-tripleo).",
            "Required unless O(action=delete_local).",
        ]),
    /// Push under this tag on the targets instead of `full_hash` (copy-quay's `--push-hash`); the
    /// source is still read at `full_hash`.
    #[serde(default)]
    push_hash: Option<String> => opt("push_hash", Str)
        .flag("push-hash").value("TAG")
        .help("The targets get the images under this tag instead of the hash (copy-quay's --push-hash; also `<tag>_x86_64`, `_ppc64le`, `_manifest`); the source is read at the hash. `verify`, `rollback` and `tag --registry` read the targets at it")
        .verify(Says("The tag the targets hold the images under, when the promotion pushed them under it instead of the hash; the source is read at the hash"))
        .tag(Says("With --registry, the tag the images are read under there (a promotion pushed them under it instead of the hash); the source is read at the hash"))
        .rollback(Says("The tag the targets hold the images under, when the promotion pushed them under it instead of the hash"))
        .doc(&[
            "Tag the images get on the targets instead of O(full_hash), like copy-quay's C(--push-hash); the source \
             is still read (and labelled) at O(full_hash).",
            "The targets get C(<push_hash>), C(<push_hash>_x86_64), C(<push_hash>_ppc64le) and \
             C(<push_hash>_manifest); O(named_label) points at the same image. O(action=verify), O(action=rollback) \
             and O(action=tag) on O(registries) read the targets at O(push_hash).",
            "Equal to O(full_hash) means no change; it must be a valid tag with room for the C(_manifest) suffix.",
        ]),
    #[serde(default)]
    candidate_label: Option<String> => opt("candidate_label", Str)
        .doc(&["The label the hash has now (for example C(tripleo-ci-testing)); recorded in the reports."]),
    #[serde(default, deserialize_with = "opt_string")]
    release: Option<String> => opt("release", Str)
        .flag("release").value("NAME").default(D::Str("master"))
        .help("The release (`master`); with a releases file, the entry to run (`NAME` or `all`)")
        .verify(Says("The release (`master`), shown in the reports; with a releases file, the entry to verify (`NAME` or `all`)"))
        .tag(Says("The release (`master`), shown in the reports"))
        .rollback(Says("The release (`master`), shown in the reports; selects the local store's label history"))
        .doc(&["The release (C(master), C(wallaby), ...), used in the list file names."]),
    #[serde(default, deserialize_with = "opt_string")]
    distro_name: Option<String> => opt("distro_name", Str)
        .flag("distro-name").value("NAME").default(D::Str("centos"))
        .help("The distribution's name; with the version and the release it names the list files (`<distro>-<version>-<release>`)")
        .verify(Says("The distribution's name, shown in the reports"))
        .tag(Says("The distribution's name, shown in the reports"))
        .rollback(Says("The distribution's name, shown in the reports"))
        .doc(&["Distribution name, used in the list file names."]),
    #[serde(default, deserialize_with = "opt_string")]
    distro_version: Option<String> => opt("distro_version", Str)
        .flag("distro-version").value("VERSION").default(D::Str("9"))
        .help("The distribution's version")
        .verify(Says("The distribution's version, shown in the reports"))
        .tag(Says("The distribution's version, shown in the reports"))
        .rollback(Says("The distribution's version, shown in the reports"))
        .doc(&["Distribution version, used in the list file names. An integer is accepted."]),
    #[serde(default, alias = "containers_list", deserialize_with = "flexible::containers_list")]
    containers: Option<Vec<String>> => opt("containers_list", List).aliases(&["containers"])
        .flag("containers").value("NAMES")
        .required(PROMOTION, &["containers_list_file"])
        .help("Container names without prefix, comma-separated")
        .verify(Says("Container names without prefix to check, comma-separated"))
        .tag(Says("Container names without prefix to label, comma-separated"))
        .rollback(Says("Container names without prefix whose label moves back, comma-separated"))
        .doc(&[
            "The container names, without prefix (C(nova-compute), not C(openstack-nova-compute)).",
            "A comma-separated string is accepted. Required unless O(containers_list_file) is given.",
        ]),
    #[serde(default, alias = "ppc_containers_list", deserialize_with = "flexible::ppc_containers_list")]
    ppc_containers: Option<Vec<String>> => opt("ppc_containers_list", List).aliases(&["ppc_containers"])
        .flag("ppc-containers").value("NAMES")
        .help("Names that have ppc64le images, comma-separated")
        .verify(Says("Names that have ppc64le images, comma-separated (their lists are checked for them)"))
        .tag(Unused)
        .rollback(Unused)
        .doc(&["The containers that should have a C(ppc64le) image (C(<full_hash>_ppc64le))."]),
    /// A file with the list: the promoter's extra-vars YAML or one name per line.
    #[serde(default)]
    containers_list_file: Option<PathBuf> => opt("containers_list_file", Path)
        .flag("containers-file").value("FILE")
        .help("File with the list: the promoter's extra-vars YAML, or one name per line")
        .doc(&["A file to take O(containers_list) (and O(ppc_containers_list)) from when they are not given - the \
                promoter's extra-vars YAML file, or one name per line."]),
    #[serde(default)]
    container_name_prefix: Option<String> => opt("container_name_prefix", Str)
        .flag("prefix").value("PREFIX").default(D::Str("openstack"))
        .help("Image name prefix: `<prefix>-<name>`")
        .doc(&["Prefix of the image names, C(<prefix>-<name>). C(centos-binary) for the old releases."]),
    #[serde(default, deserialize_with = "flexible::base_container_images")]
    base_container_images: Option<Vec<String>> => opt("base_container_images", List)
        .default(D::List(&["base"]))
        .doc(&["Images always added to O(containers_list) (once)."]),
    #[serde(default)]
    source_namespace: Option<String> => opt("source_namespace", Str)
        .doc(&["Namespace of O(source_registry) when its dictionary has none."]),
    #[serde(default)]
    target_namespace: Option<String> => opt("target_namespace", Str)
        .doc(&["Namespace of the target registries whose dictionary has none."]),
    #[serde(default)]
    source_registry: Option<RegistryArgs> => opt("source_registry", Dict)
        .flag("source").value("REGISTRY").group(Registries)
        .required(&[Action::Promote, Action::Verify, Action::Rollback], &["stage_info"])
        .help("Source registry: `host/namespace`, or key=value pairs separated by commas")
        .verify(Says("Source registry, read for the digests the targets must hold: `host/namespace`, or key=value pairs separated by commas"))
        .tag(Says("The registry labelled when no --registry is given (`host/namespace` or key=value pairs as for promote); its namespace is the default of the --registry ones"))
        .rollback(Says("Source registry, as for promote (`host/namespace` or key=value pairs); its label moves back too when the config sets label_source"))
        .doc(&[
            "The registry the images are promoted from. Required for O(action=promote), V(verify) and V(rollback).",
            "A JSON string is accepted (ad-hoc use).",
        ]),
    #[serde(default)]
    target_registries: Option<Vec<RegistryArgs>> => opt("target_registries", ListOfDicts)
        .flag("target").value("REGISTRY").group(Registries)
        .help("A target registry (repeatable), same forms as --source")
        .verify(Says("A target registry to verify (repeatable), same forms as --source"))
        .tag(Unused)
        .rollback(Says("A target registry whose label moves back (repeatable), same forms as --source"))
        .doc(&[
            "The registries to promote to (a single dictionary is accepted as a list of one).",
            "A JSON string is accepted (ad-hoc use).",
            "Each takes the same keys as O(source_registry).",
        ]),
    #[serde(default, deserialize_with = "opt_bool")]
    target_registries_push: Option<bool> => opt("target_registries_push", Bool)
        .flag("push").value("BOOL").group(Registries).default(D::Bool(true))
        .help("Push to the targets")
        .verify(Says("Whether the promotion pushed to the targets; false checks the source only"))
        .tag(Unused)
        .rollback(Unused)
        .doc(&[
            "Push to O(target_registries). When false only the source is checked and labelled.",
            "Booleans are accepted the Ansible way (V(true), V(\"true\"), V(yes), V(1), ...).",
        ]),
    #[serde(default, deserialize_with = "opt_bool")]
    manifest_push: Option<bool> => opt("manifest_push", Bool)
        .flag("manifest-push").value("BOOL").group(Registries).default(D::Bool(false))
        .help("Build <fh>_manifest lists on v2_s2 targets")
        .verify(Says("Expect <fh>_manifest lists on v2_s2 targets, as the promotion built them"))
        .tag(Unused)
        .rollback(Unused)
        .doc(&["Copy C(<full_hash>_x86_64) (and C(_ppc64le)) and build C(<full_hash>_manifest) lists on the V(v2_s2) \
                targets."]),
    #[serde(default, deserialize_with = "opt_bool")]
    ppc_manifests: Option<bool> => opt("ppc_manifests", Bool)
        .flag("ppc-manifests").value("BOOL").group(Registries).default(D::Bool(true))
        .help("Include ppc64le images in the lists")
        .verify(Says("Expect ppc64le images in the lists"))
        .tag(Unused)
        .rollback(Unused)
        .doc(&["Put the C(ppc64le) images in the manifest lists (for the containers that have one)."]),
    #[serde(default)]
    tmp_file_root: Option<PathBuf> => opt("tmp_file_root", Path)
        .flag("tmp-file-root").value("DIR").group(Reports).default(D::Str("/var/tmp/promoter_logs"))
        .help("Folder for the six list files, and of the reports")
        .verify(Says("Folder of the reports; verify writes no list files"))
        .tag(Says("Folder of the reports"))
        .rollback(Says("Folder of the reports"))
        .doc(&["Folder of the old role's six list files (C(parsed_containers-<distro>-<version>-<release>.txt), \
                ...), written as the role wrote them (the differences are listed in the project's \
                C(docs/promoter.md)). Not written in check mode."]),
    #[serde(default)]
    x86_tag: Option<String> => opt("x86_tag", Str).default(D::Str("x86_64"))
        .doc(&["Suffix of the x86 tag, C(<full_hash>_<x86_tag>)."]),
    #[serde(default)]
    ppc_tag: Option<String> => opt("ppc_tag", Str).default(D::Str("ppc64le"))
        .doc(&["Suffix of the ppc tag, C(<full_hash>_<ppc_tag>)."]),
    #[serde(default)]
    manifest_tag: Option<String> => opt("manifest_tag", Str).default(D::Str("_manifest"))
        .doc(&["Suffix of the manifest list tag, C(<full_hash><manifest_tag>)."]),
    /// Requests in flight per registry.
    #[serde(default, deserialize_with = "opt_count")]
    per_registry_concurrency: Option<u64> => opt("per_registry_concurrency", Int)
        .flag("per-registry").value("N").group(Run).default(D::Int(16)).limits(1, 256)
        .help("Requests in flight per registry")
        .doc(&["Requests in flight per registry."]),
    /// Blob transfers in flight.
    #[serde(default, deserialize_with = "opt_count")]
    blob_concurrency: Option<u64> => opt("blob_concurrency", Int).default(D::Int(8)).limits(1, 256)
        .doc(&["Blob transfers in flight."]),
    /// Attempts per request.
    #[serde(default, deserialize_with = "opt_count")]
    retries: Option<u64> => opt("retries", Int)
        .flag("retries").value("N").group(Run).default(D::Int(5))
        .limits(1, crate::transport::retry::MAX_ATTEMPTS as u64)
        .help("Attempts per request (retries on 408/429/5xx, timeouts and resets)")
        .doc(&["Attempts per request, with backoff; C(Retry-After) is honoured."]),
    /// Seconds one registry request may take in all, from its first attempt to the end of its
    /// answer: headers and body, retries and their waits included (layers go at the copy's pace,
    /// held to a minimum rate instead).
    #[serde(default, deserialize_with = "opt_count")]
    request_timeout: Option<u64> => opt("request_timeout", Int)
        .flag("request-timeout").value("SECS").group(Run)
        .default(D::Int(crate::transport::REQUEST_TIMEOUT.as_secs())).limits(1, 86_400)
        .help("Seconds one registry request may take in all, its retries and their waits included, headers and body (layers are held to a minimum rate instead)")
        .doc(&[
            "Seconds one registry request may take in all, from its first attempt to the end of its answer - \
             headers and body, its retries and their waits included. A registry that keeps the connection open and \
             trickles its answer, or never answers, costs this once, not once per attempt.",
            "Layers are exempt (they go at the copy's pace and must keep a minimum transfer rate instead).",
        ]),
    /// Seconds a token exchange with a registry's token server may take, its retries included.
    #[serde(default, deserialize_with = "opt_count")]
    token_timeout: Option<u64> => opt("token_timeout", Int)
        .flag("token-timeout").value("SECS").group(Run)
        .default(D::Int(crate::transport::TOKEN_TIMEOUT.as_secs())).limits(1, 86_400)
        .help("Seconds a token exchange with a registry's token server may take, its retries included")
        .doc(&["Seconds a token exchange with a registry's token server may take, its retries included."]),
    #[serde(default)]
    report_json: Option<PathBuf> => opt("report_json", Path)
        .flag("report-json").value("FILE").group(Reports)
        .default(D::Described("a file named by action, release, hash and time in --tmp-file-root, plus a `latest` copy"))
        .help("Write the JSON report here")
        .doc(&["Write the JSON report of the run here. Not written in check mode."]),
    #[serde(default)]
    report_html: Option<PathBuf> => opt("report_html", Path)
        .flag("report-html").value("FILE").group(Reports)
        .default(D::Described("as for --report-json"))
        .help("Write the HTML report here")
        .doc(&["Write a self-contained HTML report of the run here. Not written in check mode."]),
    /// Put the label on the source registry too (the role always did).
    #[serde(default, deserialize_with = "opt_bool")]
    label_source: Option<bool> => opt("label_source", Bool).default(D::Bool(true))
        .doc(&["Move O(named_label) on the source registry too (after everything else succeeded), as the old role \
                did."]),
    /// Before moving the label, tag what it pointed at as `previous-<label>` (for `rollback`, and so
    /// registries that prune untagged images keep it).
    #[serde(default, deserialize_with = "opt_bool")]
    keep_previous_label: Option<bool> => opt("keep_previous_label", Bool).default(D::Bool(true))
        .doc(&["Before moving O(named_label), tag what it pointed at as C(previous-<named_label>), for \
                O(action=rollback) (and so that registries pruning untagged images keep it)."]),
    /// Local copies (an OCI layout per release): `never`, `on_failure` (default) or `always`.
    #[serde(default)]
    keep_local: Option<String> => opt("keep_local", Str)
        .flag("keep-local").value("POLICY").group(LocalStore)
        .choices(KEEP_LOCAL).default(D::Str("on_failure"))
        .help("Local copies: `on_failure` keeps them when a push fails and removes them after the promotion's verified success; `always`; `never`")
        .verify(Says("`never`: do not look at the local store; otherwise an image kept there stands in for one missing at the source. Verify keeps and removes nothing"))
        .tag(Unused)
        .rollback(Says("`never`: ignore the local store's label history; otherwise it says where the label pointed when no previous-<label> tag does"))
        .doc(&["Local copies of the promoted images (the local store) - V(on_failure) keeps them when the promotion \
                fails (a rerun reads them, even if the source is down or pruned) and removes them after a verified \
                success; V(never) keeps none; V(always) keeps them."]),
    /// Root of the local store (default `~/.local/share/copy-containers`).
    #[serde(default)]
    local_store: Option<PathBuf> => opt("local_store", Path)
        .flag("local-store").value("DIR").group(LocalStore).default(D::Described(STORE_ROOT))
        .help("Root of the local store")
        .verify(Says("Root of the local store read for kept images"))
        .tag(Unused)
        .rollback(Says("Root of the local store whose label history is read"))
        .local(Says("Local store root"))
        .doc(&[
            "Root of the local store. When not given, C($COPY_CONTAINERS_LOCAL_ROOT), else \
             C($XDG_DATA_HOME/copy-containers), else C(~/.local/share/copy-containers) (the same order as the \
             command line's C(promote), C(rollback) and C(local)).",
            "The store only ever deletes what it wrote. A folder that holds other files and lacks the store's \
             marker (C(.copy-containers-store)) is refused with an error, nothing touched, for every action.",
        ]),
    /// Seconds to wait for another run's lock on the local store (0: fail at once).
    #[serde(default, deserialize_with = "opt_count")]
    lock_timeout: Option<u64> => opt("lock_timeout", Int)
        .flag("lock-timeout").value("SECS").group(LocalStore).default(D::Int(600)).limits(0, 86_400)
        .local_default(0)
        .help("Seconds to wait while another run holds the local store")
        .tag(Unused)
        .rollback(Unused)
        .local(Says("Seconds to wait while another run holds the store (a person at a terminal is told at once by default; promotions and the module wait)"))
        .doc(&["Seconds to wait when another run holds the local store's lock (another release promoted on the \
                same host); V(0) fails at once."]),
    /// Reports kept per action and release in `tmp_file_root`: after each run the older ones go,
    /// the newest this many stay (the `latest` copies aside). 0 keeps every report.
    #[serde(default, deserialize_with = "opt_count")]
    report_keep: Option<u64> => opt("report_keep", Int)
        .flag("report-keep").value("N").group(Reports).default(D::Int(10)).limits(0, 100_000)
        .help("Reports kept per action and release in --tmp-file-root: older ones are removed after each run; 0 keeps all")
        .doc(&[
            "Reports kept per action and release in O(tmp_file_root) - after each run the older runs' reports are \
             removed and the newest this many stay (the C(latest) copies aside). V(0) keeps every report.",
            "Only the default report names are pruned; O(report_json) and O(report_html) are left as they are.",
        ]),
    /// Reports readable by the group too (0640); else 0600, this user's only (they name registry
    /// users and hosts).
    #[serde(default, deserialize_with = "opt_bool")]
    report_group_readable: Option<bool> => opt("report_group_readable", Bool)
        .flag("report-group-readable").value("BOOL").group(Reports).default(D::Bool(false))
        .help("Reports readable by the group (0640) instead of this user only (0600)")
        .doc(&["Reports are this user's only (mode 0600, as they name registry users and hosts); V(true) makes them \
                readable by the group too (0640)."]),
    /// Kept local copies older than this many days are removed by every run that uses the local
    /// store (0: no age limit).
    #[serde(default, deserialize_with = "opt_count")]
    local_max_age_days: Option<u64> => opt("local_max_age_days", Int)
        .flag("local-max-age-days").value("DAYS").group(LocalStore)
        .default(D::Int(crate::store::Retention::DEFAULT_MAX_AGE_DAYS))
        .help("Kept local copies older than this are removed by every run that uses the store; 0: no age limit")
        .verify(Unused)
        .tag(Unused)
        .rollback(Unused)
        .doc(&["Kept local copies older than this many days are removed by every run that uses the local store \
                (through the same verified delete as O(action=delete_local)); the hash the run promotes is spared. \
                V(0) means no age limit."]),
    /// When the local store holds more than this many GiB, every run that uses it removes the
    /// oldest kept copies until it does not (0: no size limit).
    #[serde(default, deserialize_with = "opt_count")]
    local_max_size_gib: Option<u64> => opt("local_max_size_gib", Int)
        .flag("local-max-size-gib").value("GIB").group(LocalStore)
        .default(D::Int(crate::store::Retention::DEFAULT_MAX_SIZE_GIB))
        .help("Past this size the local store's oldest kept copies are removed by every run that uses it; 0: no size limit")
        .verify(Unused)
        .tag(Unused)
        .rollback(Unused)
        .doc(&["When the local store holds more than this many GiB, every run that uses it removes the oldest kept \
                copies until it does not; the hash the run promotes is spared. V(0) means no size limit."]),
    /// Seconds each phase of a run (source check, architectures, copies and lists, verification
    /// and labels, the source label) may take; one that runs over stops the run there, with an error
    /// naming it, and nothing after it is done (no label moves). 0: no limit.
    #[serde(default, deserialize_with = "opt_count")]
    phase_timeout: Option<u64> => opt("phase_timeout", Int)
        .flag("phase-timeout").value("SECS").group(Run).default(D::Int(0)).limits(0, 7 * 86_400)
        .help("Seconds each phase of the run may take (source check, architectures, copies, verification and labels, source label); one that runs over stops the run there with an error, no label moved after it; 0: no limit")
        .verify(Says("Seconds the source check and the verification may each take; one that runs over stops with an error; 0: no limit"))
        .tag(Unused)
        .rollback(Unused)
        .doc(&[
            "Seconds each phase of the run (source check, architectures, copies and lists, verification and labels, \
             the source label) may take. A phase that runs over stops the run there with an error naming it; \
             nothing after it is done, so no label moves onto anything not verified. Set it below the caller's own \
             limit (the promoter kills its run after 115 minutes) to get a report instead of a killed process.",
            "V(0) means no limit of its own (the run's O(deadline) bounds every phase). A value not shorter \
             than O(deadline) is ignored, with a warning (the deadline comes first).",
        ]),
    /// Seconds the whole run may take from its start; a run that reaches it stops as on SIGTERM:
    /// no label moves after it, kept local copies stay, the report says `interrupted`. Default 5400
    /// (90 minutes, below the promoter's 115-minute kill: a full-size release takes minutes,
    /// docs/benchmarks.md, so a push that has not ended by then stops itself first, with a report,
    /// its kept copies and no label moved, instead of being killed); 0: no limit.
    #[serde(default, deserialize_with = "opt_count")]
    deadline: Option<u64> => opt("deadline", Int)
        .flag("deadline").value("SECS").group(Run).default(D::Int(5400)).limits(0, 7 * 86_400)
        .help("Seconds the whole run may take; one that reaches it stops as on SIGTERM: no label moved after it, kept local copies stay, the report says interrupted; 0: no limit")
        .verify(Says("Seconds the whole verification may take; one that reaches it stops, its report interrupted; 0: no limit"))
        .tag(Unused)
        .rollback(Unused)
        .doc(&[
            "Seconds the whole run may take, from its start. A run that reaches it stops as on SIGTERM - work in \
             flight is ended or abandoned within seconds, no label moves after it, kept local copies stay, the \
             list files it knows are written (the others removed, never left empty or partial) and its report \
             says C(interrupted) - and the task fails, naming the deadline. Rerunning resumes the promotion.",
            "The default, 90 minutes, is below the promoter's 115-minute C(timeout), so a push that has not ended \
             by then stops itself with a report instead of being killed. A phase that never ends is cut sooner \
             by O(phase_timeout), when set.",
            "SIGTERM, SIGINT and SIGHUP stop the run the same way (the result names the signal); a second signal \
             ends it at once.",
            "V(0) means no limit.",
        ]),
}

impl PromoteArgs {
    /// The options set, by their names (the module's keys): what [`super::missing`] asks about.
    pub fn given(&self) -> Vec<&'static str> {
        let set = match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => return Vec::new(),
        };
        PromoteArgs::FIELDS
            .iter()
            .zip(PROMOTE_SPEC)
            .filter(|(f, _)| set.get(**f).is_some_and(|v| !v.is_null()))
            .map(|(_, o)| o.name)
            .collect()
    }
}

/// When to keep local copies of the images (one type for every face: typed in a releases file,
/// parsed from the module's and the flags' strings by [`std::str::FromStr`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeepLocal {
    Never,
    OnFailure,
    Always,
}

impl KeepLocal {
    pub const fn as_str(self) -> &'static str {
        match self {
            KeepLocal::Never => "never",
            KeepLocal::OnFailure => "on_failure",
            KeepLocal::Always => "always",
        }
    }
}

/// Local-copy policies ([`KeepLocal`]'s names, the option's choices).
pub const KEEP_LOCAL: &[&str] = &[
    KeepLocal::Never.as_str(),
    KeepLocal::OnFailure.as_str(),
    KeepLocal::Always.as_str(),
];

impl std::str::FromStr for KeepLocal {
    type Err = Error;
    fn from_str(s: &str) -> Result<KeepLocal> {
        match s {
            "never" => Ok(KeepLocal::Never),
            "on_failure" => Ok(KeepLocal::OnFailure),
            "always" => Ok(KeepLocal::Always),
            _ => Err(Error::invalid(
                "keep_local",
                s,
                "expected never, on_failure or always",
            )),
        }
    }
}
