//! What a run came to, in the words every face uses: the outcome line ("20 images promoted to 2
//! targets", "already in place", "none of the 20 images found at the source") and the label's fate,
//! one line over every registry ("current-tripleo: moved on 2 of 3 registries; not on quay.io
//! (unreachable)"), with a warning when it moved to images built earlier than those it replaced.
//! The data ([`LabelFate`]) is in the report's JSON; the faces call the renderers here.
//!
//! Words kept apart: "missing" is said only of the source (not there under the hash); an image "not
//! verified on every target" is what the promoter's files call missed; "promoted" means verified on
//! every target, and a rerun that changed nothing says "already in place".

use serde::{Deserialize, Serialize};

use super::problem::{images, Kind, ProblemGroup};
use super::{human_bytes, Report, TagAction, TagEntry};

/// When the images the label left and now points at were built (their configs' `created`), on one
/// registry, for the first image whose label moved there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Built {
    pub registry: String,
    pub container: String,
    /// The replaced image's `created` (RFC 3339, as its config says).
    pub replaced: String,
    /// The new image's `created`.
    pub now: String,
    /// The label moved to an image built earlier than the one it replaced.
    pub backwards: bool,
}

/// The label on one registry after the run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelFate {
    pub registry: String,
    /// `source` or `target`.
    pub role: String,
    /// Images the label was to be put on there.
    pub images: usize,
    /// Moved by this run (rollback: moved back).
    pub moved: usize,
    /// Already pointing at the right image.
    pub in_place: usize,
    /// Dry run: would move.
    pub would_move: usize,
    /// Not moved (not attempted, withheld or failed).
    pub not_moved: usize,
    /// Why it did not move everywhere there, in a few words (`unreachable`, `credentials refused`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// The built dates compared there, when the label moved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub built: Option<Built>,
}

impl LabelFate {
    /// The label points at the right image on every image there (moved, in place, or would move).
    fn on(&self) -> bool {
        self.images > 0 && self.not_moved == 0
    }

    fn labelled(&self) -> usize {
        self.moved + self.in_place + self.would_move
    }
}

/// A group's cause in a few words, for the label line.
fn why_words(g: &ProblemGroup) -> String {
    match g.kind {
        Kind::Unreachable => "unreachable".into(),
        Kind::Auth => "credentials refused".into(),
        Kind::Tls => "TLS failed".into(),
        Kind::Verification | Kind::NotAttempted => "not verified there".into(),
        Kind::Busy => "too busy".into(),
        Kind::Deadline => "phase_timeout".into(),
        Kind::Interrupted => "interrupted".into(),
        Kind::NotFound => "not found".into(),
        _ => "failed".into(),
    }
}

/// The label's fate per registry (in the report's order of registries), from the label's entries,
/// the run's groups of problems (why it did not move) and the built dates the engine compared.
pub fn label_fates(r: &Report, groups: &[ProblemGroup], built: &[Built]) -> Vec<LabelFate> {
    let mut out: Vec<LabelFate> = Vec::new();
    let label = |e: &&TagEntry| e.tag == r.named_label;
    let entries = r.containers.iter().flat_map(|c| c.entries.iter().filter(label));
    for e in entries {
        let i = match out.iter().position(|f| f.registry == e.registry) {
            Some(i) => i,
            None => {
                let role = r.registries.iter().find(|s| s.name == e.registry);
                out.push(LabelFate {
                    registry: e.registry.clone(),
                    role: role.map(|s| s.role.clone()).unwrap_or_default(),
                    ..Default::default()
                });
                out.len() - 1
            }
        };
        let f = &mut out[i];
        f.images += 1;
        match (e.action, &e.error) {
            (TagAction::Tagged, None) => f.moved += 1,
            (TagAction::AlreadyPresent, None) => f.in_place += 1,
            (TagAction::WouldChange, None) => f.would_move += 1,
            _ => {
                f.not_moved += 1;
                if f.why.is_none() {
                    f.why = Some(why_not(e, groups));
                }
            }
        }
    }
    for f in &mut out {
        f.built = built.iter().find(|b| b.registry == f.registry).cloned();
    }
    let order = |f: &LabelFate| r.registries.iter().position(|s| s.name == f.registry);
    out.sort_by_key(|f| order(f).unwrap_or(usize::MAX));
    out
}

/// Why the label did not move for this entry: the cause met on its registry, else what the entry
/// says.
fn why_not(e: &TagEntry, groups: &[ProblemGroup]) -> String {
    if let Some(g) = groups.iter().find(|g| g.registry.as_deref() == Some(&e.registry)) {
        return why_words(g);
    }
    match e.error.as_deref() {
        Some(err) if err.starts_with("label withheld") => "withheld: the promotion had errors".into(),
        Some(err) if err.starts_with("label not moved") => "not verified there".into(),
        _ => "failed".into(),
    }
}

/// `all 3 registries`, `2 of 3 registries`, or the one registry's name.
fn registries_phrase(k: usize, n: usize, only: Option<&str>) -> String {
    match (k == n, n, only) {
        (true, 1, Some(name)) => name.to_string(),
        (true, 2, _) => "both registries".to_string(),
        (true, _, _) => format!("all {n} registries"),
        _ => format!("{k} of {n} registr{}", if n == 1 { "y" } else { "ies" }),
    }
}

impl Report {
    /// The label's fate in one line over every registry, then a warning line when it moved to
    /// images built earlier than those it replaced (with how to roll back). Empty when the run put
    /// no label anywhere.
    pub fn label_lines(&self) -> Vec<String> {
        let fates = &self.label;
        if fates.is_empty() {
            return vec![];
        }
        let n = fates.len();
        let only = (n == 1).then(|| fates[0].registry.as_str());
        let on: Vec<&LabelFate> = fates.iter().filter(|f| f.on()).collect();
        let moving = on.iter().filter(|f| f.moved + f.would_move > 0).count();
        let in_place = on.len() - moving;
        let verb = match (self.action.as_str(), self.dry_run) {
            ("rollback", true) => "would move back",
            ("rollback", false) => "moved back",
            (_, true) => "would move",
            _ => "moved",
        };
        if on.is_empty() && fates.iter().all(|f| f.labelled() == 0) {
            let not: Vec<String> = fates
                .iter()
                .map(|f| {
                    format!(
                        "{} ({})",
                        f.registry,
                        f.why.as_deref().unwrap_or("not verified there")
                    )
                })
                .collect();
            let any = if n == 1 {
                "its registry".to_string()
            } else if n == 2 {
                "either registry".to_string()
            } else {
                format!("any of the {n} registries")
            };
            return vec![format!(
                "{}: not moved on {any}: {}",
                self.named_label,
                not.join(", ")
            )];
        }
        let mut parts = vec![match (moving, in_place) {
            (0, 0) => "not moved".to_string(),
            (0, k) => format!("already in place on {}", registries_phrase(k, n, only)),
            (k, 0) => format!("{verb} on {}", registries_phrase(k, n, only)),
            (k, j) => format!("{verb} on {k} and already in place on {j} of {n} registries"),
        }];
        for f in fates.iter().filter(|f| !f.on()) {
            let why = f.why.as_deref().unwrap_or("not verified there");
            parts.push(match f.labelled() {
                0 => format!("not moved on {} ({why})", f.registry),
                x => format!(
                    "{verb} on {} for {x} of {} only ({why})",
                    f.registry,
                    images(f.images)
                ),
            });
        }
        let mut out = vec![format!("{}: {}", self.named_label, parts.join("; "))];
        let back: Vec<&Built> = fates
            .iter()
            .filter_map(|f| f.built.as_ref())
            .filter(|b| b.backwards)
            .collect();
        if let Some(b) = back.first() {
            let on: Vec<&str> = back.iter().map(|b| b.registry.as_str()).collect();
            out.push(format!(
                "warning: {} now points at images built earlier than those it replaced, on {} \
                 (e.g. {}: built {}, the one replaced {}); if that is not what you meant, run \
                 rollback with the same arguments (copy-containers rollback, or action: rollback)",
                self.named_label,
                on.join(", "),
                b.container,
                b.now,
                b.replaced
            ));
        }
        out
    }

    /// The run's outcome in one line: `OK: 20 images promoted to 2 targets (5 copied, 15 already in
    /// place), 1.2 GiB sent, 12.3 s`; `OK: 20 images already in place on 2 targets (nothing
    /// changed), 1.0 s`; `FAILED: 0 of 20 images promoted to every target, 20 not verified on every
    /// target, …`; `FAILED: none of the 20 images found at the source, nothing pushed, …`.
    pub fn outcome_line(&self) -> String {
        let status = match (self.ok, self.dry_run) {
            (true, true) => "OK (dry run: nothing changed)",
            (true, false) => "OK",
            (false, _) => "FAILED",
        };
        let n = self.found.len() + self.missing.len();
        let (done, not_done) = self.outcome_words();
        let none = [&self.found, &self.missing, &self.pushed, &self.missed]
            .iter()
            .all(|v| v.is_empty())
            && self.containers.is_empty();
        let what = if none {
            format!(
                "nothing to {}: no images in the list, nothing changed",
                self.action
            )
        } else if !self.missing.is_empty() {
            let pushed = if self.found.is_empty() || !self.push {
                ""
            } else {
                ", nothing pushed"
            };
            match self.found.len() {
                0 => format!("none of the {} found at the source{pushed}", images(n)),
                _ => format!(
                    "{} of {} missing at the source{pushed}",
                    self.missing.len(),
                    images(n)
                ),
            }
        } else if self.action == "promote" && self.push {
            self.promotion_words(done, not_done)
        } else if self.action == "promote" {
            format!("{} found at the source", images(self.found.len()))
        } else if self.missed.is_empty() {
            format!("{} {done}", images(self.pushed.len()))
        } else {
            self.missed_words(done, not_done)
        };
        let sent: u64 = self
            .registries
            .iter()
            .filter(|s| s.role == "target")
            .map(|s| s.bytes_sent)
            .sum();
        let sent = match sent {
            0 => String::new(),
            b => format!(", {} sent", human_bytes(b)),
        };
        format!("{status}: {what}{sent}, {:.1} s", self.seconds)
    }

    /// A promotion's count of images: how many were promoted (copied, or already in place), or not.
    fn promotion_words(&self, done: &str, not_done: &str) -> String {
        let t = self.targets.len();
        let targets = format!("{t} target{}", if t == 1 { "" } else { "s" });
        let (mut copied, mut would, mut in_place) = (0, 0, 0);
        for c in &self.containers {
            let mine = || {
                c.entries
                    .iter()
                    .filter(|e| e.tag != self.named_label && self.is_target(&e.registry))
            };
            if mine().any(|e| e.action == TagAction::WouldChange) {
                would += 1;
            } else if mine().any(|e| e.action.changed()) {
                copied += 1;
            } else if mine().all(|e| e.action == TagAction::AlreadyPresent) {
                in_place += 1;
            }
        }
        let total = self.found.len();
        if self.dry_run {
            return format!(
                "{}: {would} would be copied to {targets}, {in_place} already in place",
                images(total)
            );
        }
        if !self.missed.is_empty() {
            return self.missed_words(done, not_done);
        }
        match (copied, in_place) {
            (0, _) if !self.changed => {
                format!(
                    "{} already in place on {targets} (nothing changed)",
                    images(total)
                )
            }
            (c, p) if c > 0 && p > 0 => format!(
                "{} {done} to {targets} ({c} copied, {p} already in place)",
                images(total)
            ),
            _ => format!("{} {done} to {targets}", images(total)),
        }
    }

    /// `5 of 20 images not verified on every target (15 promoted)`.
    fn missed_words(&self, done: &str, not_done: &str) -> String {
        let total = self.pushed.len() + self.missed.len();
        format!(
            "{} of {} {not_done} ({} {done})",
            self.missed.len(),
            images(total),
            self.pushed.len()
        )
    }

    fn is_target(&self, registry: &str) -> bool {
        self.registries
            .iter()
            .find(|s| s.name == registry)
            .is_none_or(|s| s.role == "target")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{ContainerReport, RegistryStats};

    fn stats(name: &str, role: &str) -> RegistryStats {
        RegistryStats {
            name: name.into(),
            host: name.into(),
            role: role.into(),
            requests: 0,
            retries: 0,
            token_fetches: 0,
            bytes_sent: 0,
            bytes_received: 0,
            password_from: None,
        }
    }

    fn entry(registry: &str, tag: &str, action: TagAction, error: Option<&str>) -> TagEntry {
        let mut e = TagEntry::new(registry, "ns/openstack-nova", tag, None, action);
        e.error = error.map(str::to_string);
        e
    }

    fn report(entries: Vec<TagEntry>) -> Report {
        Report {
            action: "promote".into(),
            push: true,
            named_label: "current-tripleo".into(),
            targets: vec!["a/ns".into(), "b/ns".into()],
            found: vec!["nova".into()],
            registries: vec![stats("src", "source"), stats("a", "target"), stats("b", "target")],
            containers: vec![ContainerReport {
                name: "nova".into(),
                source_image: String::new(),
                source_digest: None,
                manifest_architectures: vec![],
                entries,
                pushed: true,
            }],
            ..Default::default()
        }
    }

    /// One registry down: the line says where the label moved and where not, and why.
    #[test]
    fn the_label_line_names_where_it_did_not_move_and_why() {
        let mut r = report(vec![
            entry("a", "fh", TagAction::Copied, None),
            entry("a", "current-tripleo", TagAction::Tagged, None),
            entry("b", "fh", TagAction::Failed, Some("b: unreachable")),
            entry(
                "b",
                "current-tripleo",
                TagAction::Skipped,
                Some("label not moved: …"),
            ),
            entry("src", "current-tripleo", TagAction::Tagged, None),
        ]);
        let group = ProblemGroup {
            phase: super::super::Phase::Copy,
            kind: Kind::Unreachable,
            reason: None,
            registry: Some("b".into()),
            cause: "b: unreachable".into(),
            containers: vec!["nova".into()],
            count: 1,
            not_verified: vec![],
            not_verified_on: vec![],
            example: None,
            todo: None,
        };
        r.label = label_fates(&r, &[group], &[]);
        let got: Vec<(&str, &str, usize, usize)> = r
            .label
            .iter()
            .map(|f| (f.registry.as_str(), f.role.as_str(), f.moved, f.not_moved))
            .collect();
        assert_eq!(
            got,
            [
                ("src", "source", 1, 0),
                ("a", "target", 1, 0),
                ("b", "target", 0, 1)
            ]
        );
        assert_eq!(
            r.label_lines(),
            ["current-tripleo: moved on 2 of 3 registries; not moved on b (unreachable)"]
        );
    }

    /// A rerun that changed nothing says "already in place", never "promoted"; a label moved to
    /// an older image warns, with how to roll back.
    #[test]
    fn a_rerun_is_already_in_place_and_a_backwards_move_warns() {
        let mut r = report(vec![
            entry("a", "fh", TagAction::AlreadyPresent, None),
            entry("a", "current-tripleo", TagAction::AlreadyPresent, None),
            entry("b", "fh", TagAction::AlreadyPresent, None),
            entry("b", "current-tripleo", TagAction::AlreadyPresent, None),
        ]);
        r.ok = true;
        r.pushed = vec!["nova".into()];
        r.label = label_fates(&r, &[], &[]);
        assert_eq!(
            r.outcome_line(),
            "OK: 1 image already in place on 2 targets (nothing changed), 0.0 s"
        );
        assert_eq!(
            r.label_lines(),
            ["current-tripleo: already in place on both registries"]
        );
        let mut moved = report(vec![
            entry("a", "fh", TagAction::Copied, None),
            entry("a", "current-tripleo", TagAction::Tagged, None),
        ]);
        moved.ok = true;
        moved.changed = true;
        moved.targets.pop();
        moved.pushed = vec!["nova".into()];
        let built = Built {
            registry: "a".into(),
            container: "nova".into(),
            replaced: "2026-11-03T00:00:00Z".into(),
            now: "2026-11-01T00:00:00Z".into(),
            backwards: true,
        };
        moved.label = label_fates(&moved, &[], &[built]);
        assert_eq!(moved.outcome_line(), "OK: 1 image promoted to 1 target, 0.0 s");
        let lines = moved.label_lines();
        assert_eq!(lines[0], "current-tripleo: moved on a");
        assert!(
            lines[1].starts_with("warning: current-tripleo now points at images built earlier")
                && lines[1].contains(
                    "on a (e.g. nova: built 2026-11-01T00:00:00Z, the one replaced 2026-11-03T00:00:00Z)"
                )
                && lines[1].contains("rollback"),
            "{lines:#?}"
        );
    }

    /// A run of no images says so, not "already in place".
    #[test]
    fn a_run_of_no_images_says_there_was_nothing_to_promote() {
        let r = Report {
            action: "promote".into(),
            push: true,
            ok: true,
            targets: vec!["a/ns".into()],
            ..Default::default()
        };
        assert_eq!(
            r.outcome_line(),
            "OK: nothing to promote: no images in the list, nothing changed, 0.0 s"
        );
    }

    /// "missing" is the source's word; none found is said as such.
    #[test]
    fn missing_and_none_found_read_apart() {
        let mut r = Report {
            action: "promote".into(),
            push: true,
            missing: vec!["a".into(), "b".into()],
            found: vec!["c".into()],
            ..Default::default()
        };
        assert_eq!(
            r.outcome_line(),
            "FAILED: 2 of 3 images missing at the source, nothing pushed, 0.0 s"
        );
        r.found.clear();
        assert_eq!(
            r.outcome_line(),
            "FAILED: none of the 2 images found at the source, 0.0 s"
        );
    }
}
