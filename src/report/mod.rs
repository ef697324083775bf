//! What a run did, for people and machines: the JSON report (per container × registry × tag: digest,
//! previous digest, action, verification, bytes, time), its failures grouped by root cause with what
//! to do ([`problem`]), the outcome and the label's fate in the words every face prints
//! ([`outcome`]), the self-contained HTML page, and the promoter's six list files with the old
//! role's exact names.

pub mod folder;
pub mod html;
pub mod listfiles;
pub mod outcome;
pub mod problem;
pub mod result;
pub mod text;

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::transport::StatsSnapshot;

pub use html::human_bytes;
pub use outcome::{Built, LabelFate};
pub use problem::{Kind, Phase, Problem, ProblemGroup, Reason};
// The scrubber, the run's warnings and the loopback test live below the engines (every layer masks
// secrets and warns); they are named here too, where the faces look for what goes into outputs.
pub use crate::logging::{warn_once, warnings};
pub use crate::reference::is_loopback_host;
pub use crate::scrub::{remember_secret, scrub};

/// What happened to one tag on one registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TagAction {
    /// Blobs and manifests uploaded.
    Copied,
    /// Every blob was mounted or already there; only manifests were pushed.
    Mounted,
    /// Only the tag moved (the manifest was already there under its digest).
    Tagged,
    /// Already pointed at the right digest.
    AlreadyPresent,
    /// Dry run / check mode: would be copied or moved.
    WouldChange,
    /// Not attempted (an earlier step failed, or the label was withheld).
    Skipped,
    Failed,
}

impl TagAction {
    pub fn changed(self) -> bool {
        matches!(
            self,
            TagAction::Copied | TagAction::Mounted | TagAction::Tagged | TagAction::WouldChange
        )
    }
}

/// One tag on one registry.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TagEntry {
    pub registry: String,
    pub repository: String,
    pub tag: String,
    /// Digest the tag should point at (and does, when verified).
    pub digest: Option<String>,
    /// Digest the tag pointed at before the run (None: absent).
    pub previous: Option<String>,
    pub action: TagAction,
    /// Verification result: None when not verified (dry run, skipped).
    pub verified: Option<bool>,
    pub blobs_uploaded: usize,
    pub blobs_mounted: usize,
    pub blobs_present: usize,
    pub bytes_uploaded: u64,
    pub seconds: f64,
    pub error: Option<String>,
}

impl TagEntry {
    /// One tag on one registry, nothing done or verified yet.
    pub fn new(
        registry: &str,
        repository: &str,
        tag: &str,
        digest: Option<&crate::digest::Digest>,
        action: TagAction,
    ) -> TagEntry {
        TagEntry {
            registry: registry.to_string(),
            repository: repository.to_string(),
            tag: tag.to_string(),
            digest: digest.map(|d| d.to_string()),
            previous: None,
            action,
            verified: None,
            blobs_uploaded: 0,
            blobs_mounted: 0,
            blobs_present: 0,
            bytes_uploaded: 0,
            seconds: 0.0,
            error: None,
        }
    }
}

/// One container.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ContainerReport {
    pub name: String,
    pub source_image: String,
    pub source_digest: Option<String>,
    /// Architectures put in `<fh>_manifest` (empty when no list was built).
    pub manifest_architectures: Vec<String>,
    pub entries: Vec<TagEntry>,
    /// Verified on every target.
    pub pushed: bool,
}

/// What a promotion planned for one target (before anything was read there).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TargetPlan {
    pub registry: String,
    /// Images copied there (the hash image and, for lists, its per-architecture images).
    pub images: usize,
    /// Tags those copies put there.
    pub tags: usize,
    /// `<hash>_manifest` lists pushed there.
    pub lists: usize,
    /// Tags read back after the push.
    pub checks: usize,
    /// Containers whose label moves there once verified.
    pub labels: usize,
}

/// The plan of a promotion, as the dry run and check mode show it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PlanSummary {
    pub containers: usize,
    pub targets: Vec<TargetPlan>,
    /// The source's label moves last (`label_source`).
    pub source_label: bool,
}

/// A registry of the run (name, host, role) with its request counters, counted at the transport.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RegistryStats {
    /// The registry's configured name (the host unless named).
    #[serde(alias = "registry")]
    pub name: String,
    /// Its host (`name[:port]`).
    #[serde(default)]
    pub host: String,
    /// `source` or `target`.
    pub role: String,
    pub requests: u64,
    pub retries: u64,
    pub token_fetches: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Where its password comes from (`password_env=QUAYDOTIO_PASSWORD`,
    /// `target_registries[1].password`, an auth file), never the password; absent: anonymous.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_from: Option<String>,
}

impl RegistryStats {
    pub fn new(name: &str, host: &str, role: &str, s: StatsSnapshot) -> RegistryStats {
        RegistryStats {
            name: name.to_string(),
            host: host.to_string(),
            role: role.to_string(),
            requests: s.requests,
            retries: s.retries,
            token_fetches: s.token_fetches,
            bytes_sent: s.bytes_sent,
            bytes_received: s.bytes_received,
            password_from: None,
        }
    }
}

/// How a run ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Everything asked was done (and verified).
    #[default]
    Ok,
    /// The run went to its end with failures (`errors`).
    Failed,
    /// The run was stopped before its end (a signal, its deadline): see `interrupted`.
    Interrupted,
}

/// Why and where a run stopped before its end, what it had done and what it left.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interruption {
    /// `SIGTERM`, `SIGINT`, `SIGHUP` or `deadline`.
    pub by: String,
    /// The phase the run was in.
    pub phase: Phase,
    /// The phases it finished.
    pub done: Vec<Phase>,
    /// The phases it did not finish (the first is `phase`).
    pub left: Vec<Phase>,
    /// List files not written because the run did not learn what they hold (removed, not left
    /// empty or partial).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub list_files_unknown: Vec<String>,
}

/// The version of the report's JSON shape; raised when a field changes meaning or goes away.
pub const SCHEMA_VERSION: u32 = 2;

/// The whole run.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Report {
    /// [`SCHEMA_VERSION`]: 2 (registries as `{name, host, role, …}`, problems, groups, plan).
    #[serde(default)]
    pub schema_version: u32,
    pub tool: String,
    pub action: String,
    pub started_at: String,
    pub seconds: f64,
    pub dry_run: bool,
    pub ok: bool,
    /// `ok`, `failed` or `interrupted`.
    #[serde(default)]
    pub status: Status,
    /// Set when the run was stopped before its end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<Interruption>,
    pub changed: bool,
    pub full_hash: String,
    pub named_label: String,
    pub release: String,
    pub distro: String,
    pub source: String,
    pub targets: Vec<String>,
    pub push: bool,
    pub manifest_push: bool,
    /// Containers found at the source with `<full_hash>`.
    pub found: Vec<String>,
    /// Containers missing at the source.
    pub missing: Vec<String>,
    /// ppc decision per container: found / missing `<fh>_ppc64le`.
    pub ppc_found: Vec<String>,
    pub ppc_missing: Vec<String>,
    /// Verified on every target / not.
    pub pushed: Vec<String>,
    pub missed: Vec<String>,
    pub containers: Vec<ContainerReport>,
    pub errors: Vec<String>,
    /// The same failures, typed: phase, kind (and a verification's reason), container, registry,
    /// tag (one per line of `errors`).
    #[serde(default)]
    pub problems: Vec<Problem>,
    /// What the run planned (promotions that reached planning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<PlanSummary>,
    /// The failures grouped by cause (registry, kind, message without per-image parts).
    #[serde(default)]
    pub problem_groups: Vec<ProblemGroup>,
    pub registries: Vec<RegistryStats>,
    /// Files written (list files, reports).
    pub files: Vec<String>,
    /// Containers read from local copies an earlier run kept (instead of the source registry).
    #[serde(default)]
    pub local_reused: Vec<String>,
    /// Containers whose images this run kept in the local store.
    #[serde(default)]
    pub local_kept: Vec<String>,
    /// Containers whose local copies this run removed (after a verified success).
    #[serde(default)]
    pub local_removed: Vec<String>,
    /// The local store, when one was used.
    #[serde(default)]
    pub local_root: Option<String>,
    /// Bytes of this release's local copies after the run.
    #[serde(default)]
    pub local_bytes: u64,
    /// Kept copies the retention policy removed after this run (`<hash> of <release> (age|size)`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub local_pruned: Vec<String>,
    /// Quay repositories created (or found) before pushing, per registry.
    #[serde(default)]
    pub quay: Vec<crate::quay::EnsureOutcome>,
    /// The label's fate on each registry (moved, already in place, not moved and why; whether it
    /// moved to an image built earlier than the one it replaced).
    #[serde(default)]
    pub label: Vec<LabelFate>,
}

impl Report {
    /// What `pushed` and `missed` count for this report's action, in words (the CLI summary and the
    /// HTML report say the same): `verify`, `tag` and `rollback` push nothing. "missing" is only
    /// ever said of the source; a promotion's `missed` are "not verified on every target".
    pub fn outcome_words(&self) -> (&'static str, &'static str) {
        match (self.action.as_str(), self.dry_run) {
            ("verify", _) => ("verified", "not verified"),
            ("tag", false) => ("labelled", "not labelled"),
            ("tag", true) => ("would be labelled", "could not be"),
            ("rollback", false) => ("rolled back", "not rolled back"),
            ("rollback", true) => ("would be rolled back", "could not be"),
            ("copy", false) => ("copied", "not verified on every target"),
            ("copy", true) => ("would be copied", "could not be"),
            _ => ("promoted", "not verified on every target"),
        }
    }

    /// Add a failure found after the run (writing the report, say): a line and its problem.
    pub fn push_error(&mut self, phase: Phase, kind: Kind, text: String) {
        self.problems
            .push(Problem::new(phase, kind, text.clone(), text.clone()));
        self.errors.push(text);
        self.problem_groups = self.groups();
        self.settle();
    }

    /// The signal that interrupted this run, when one did.
    pub fn signal(&self) -> Option<crate::stop::Signal> {
        let by = &self.interrupted.as_ref()?.by;
        crate::stop::Signal::from_name(by)
    }

    /// The exit status of a command whose outcome this report is: 0 when it is ok; a signal's
    /// conventional status (143 for SIGTERM, 130 for SIGINT, 129 for SIGHUP) when one interrupted
    /// it; 1 otherwise (a deadline reached is a failure).
    pub fn exit_status(&self) -> i32 {
        match (self.signal(), self.errors.is_empty()) {
            (Some(s), _) => s.exit_status(),
            (None, true) => 0,
            (None, false) => 1,
        }
    }

    /// `ok` and `status` from the errors and the interruption.
    pub fn settle(&mut self) {
        self.ok = self.errors.is_empty();
        self.status = match (&self.interrupted, self.ok) {
            (Some(_), _) => Status::Interrupted,
            (None, true) => Status::Ok,
            (None, false) => Status::Failed,
        };
    }

    /// The failures grouped by cause, consequences folded in, each with what to do (see
    /// [`problem::group`], [`problem::todo`]); lines without a typed problem (from older reports)
    /// each make their own group.
    pub fn groups(&self) -> Vec<ProblemGroup> {
        let mut problems = self.problems.clone();
        for e in &self.errors {
            if !problems.iter().any(|p| &p.text == e) {
                problems.push(Problem::new(Phase::Setup, Kind::Other, e.clone(), e.clone()));
            }
        }
        let setting = problem::Setting {
            action: &self.action,
            registries: &self.registries,
            local_root: self.local_root.as_deref(),
            local_kept: self.local_kept.len(),
        };
        let mut groups = problem::group(&problems);
        for g in &mut groups {
            g.todo = problem::todo(g, &setting);
        }
        groups
    }

    /// The failures for people: per cause, its line, then indented lines for what followed from it
    /// (`  so …`), an example where the cause was generalised (`  e.g. …`) and what to do
    /// (`  to do: …`).
    pub fn failure_lines(&self) -> Vec<String> {
        self.groups().iter().flat_map(ProblemGroup::lines).collect()
    }

    /// Total bytes uploaded to targets.
    pub fn bytes_uploaded(&self) -> u64 {
        self.containers
            .iter()
            .flat_map(|c| c.entries.iter())
            .map(|e| e.bytes_uploaded)
            .sum()
    }

    /// Mask every secret (those given, and every one remembered in this run) in every string of the
    /// report, whatever field holds it: the report goes through its JSON form, so a field added
    /// later is covered without a word here.
    pub fn scrub(&mut self, secrets: &[String]) {
        let Ok(mut v) = serde_json::to_value(&*self) else {
            return;
        };
        crate::scrub::scrub_json(&mut v, secrets);
        match serde_json::from_value(v) {
            Ok(r) => *self = r,
            // A report whose JSON form does not read back is a bug of this file's types; the
            // round-trip test below catches it.
            Err(e) => tracing::error!(error = %e, "the report could not be masked"),
        }
    }

    /// Write the JSON report, this user's only (0600: it names registry users and hosts).
    pub fn write_json(&self, path: &Path) -> Result<()> {
        self.write_json_mode(path, folder::REPORT_MODE)
    }

    /// Write the JSON report with this file mode.
    pub fn write_json_mode(&self, path: &Path, mode: u32) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| Error::Config(e.to_string()))?;
        folder::write_file(path, &bytes, mode)
    }
}

/// Now, as RFC 3339 in UTC (`2026-11-29T04:57:08Z`): what JSON consumers and people sort by.
pub fn now_string() -> String {
    rfc3339(std::time::SystemTime::now())
}

/// A time as RFC 3339 in UTC, to the second.
pub fn rfc3339(t: std::time::SystemTime) -> String {
    let t = time::OffsetDateTime::from(t)
        .replace_nanosecond(0)
        .unwrap_or_else(|_| t.into());
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| httpdate::fmt_http_date(t.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_795_928_228_750);
        assert_eq!(rfc3339(t), "2026-11-29T04:57:08Z");
        let now = now_string();
        assert!(
            now.len() == 20 && now.ends_with('Z') && now.as_bytes()[10] == b'T',
            "{now}"
        );
    }

    #[test]
    fn scrubs_secrets() {
        assert_eq!(
            scrub("login hunter22 failed", &["hunter22".into()]),
            "login ******** failed"
        );
        assert_eq!(scrub("abc", &["ab".into()]), "abc");
        // Remembered secrets are masked without being passed, longest first.
        remember_secret("tok-remembered-1234");
        remember_secret("tok-remembered-1234-longer");
        assert_eq!(
            scrub("a tok-remembered-1234-longer b tok-remembered-1234", &[]),
            "a ******** b ********"
        );
        let stats = StatsSnapshot::default();
        let mut r = Report {
            errors: vec!["x s3cr3tpw y".into()],
            registries: vec![RegistryStats {
                password_from: Some("the auth file /home/s3cr3tpw/auth.json".into()),
                ..RegistryStats::new("r", "r", "target", stats)
            }],
            ..Default::default()
        };
        r.scrub(&["s3cr3tpw".into()]);
        assert!(!serde_json::to_string(&r).unwrap().contains("s3cr3tpw"));
    }

    /// Every field is masked, a secret only remembered too (no secrets given), and masking keeps
    /// everything else as it was (the report's JSON form reads back whole).
    #[test]
    fn every_field_is_masked_and_nothing_else_changes() {
        remember_secret("remembered-only-5150");
        let secret = "remembered-only-5150";
        let mut r = Report {
            errors: vec![format!("e {secret}")],
            files: vec![format!("/tmp/{secret}.json")],
            label: vec![outcome::LabelFate {
                registry: "r".into(),
                role: "target".into(),
                images: 3,
                moved: 1,
                in_place: 1,
                would_move: 0,
                not_moved: 1,
                why: Some(format!("refused {secret}")),
                built: None,
            }],
            quay: vec![crate::quay::EnsureOutcome {
                registry: "q".into(),
                namespace: "ns".into(),
                created: vec![format!("app-{secret}")],
                existing: vec![],
                would_create: vec![],
            }],
            seconds: 1.25,
            plan: Some(PlanSummary {
                containers: 7,
                ..Default::default()
            }),
            ..Default::default()
        };
        let before = serde_json::to_value(&r).unwrap();
        r.scrub(&[]);
        let after = serde_json::to_value(&r).unwrap();
        assert!(!after.to_string().contains(secret), "{after}");
        // only the masked strings differ
        let unmasked = before.to_string().replace(secret, crate::scrub::MASK);
        assert_eq!(
            after,
            serde_json::from_str::<serde_json::Value>(&unmasked).unwrap()
        );
    }

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:5000",
            "127.0.0.2",
            "[::1]:5000",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in ["quay.io", "10.0.0.1:5000", "localhost.example.org"] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }
}
