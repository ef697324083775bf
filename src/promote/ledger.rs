//! What the steps of a run did, keyed by container and registry: the typed state passed from one step
//! to the next (lists are built where their images copied, labels move where everything verified)
//! and, at the end, the source of the report's per-container entries.
//! Containers and targets are named by typed identifiers ([`super::ids`]); every step hands its
//! results over as [`Outcome`]s.

pub(crate) use super::ids::{ContainerId, TargetId};
use super::plan::{Expectation, PlannedCheck};
use crate::copy::Proven;
use crate::digest::Digest;
use crate::report::{Kind, Reason, TagAction, TagEntry};

/// Which registry of the run: the source, or a target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum At {
    Source,
    Target(TargetId),
}

/// What a step did to one tag of one container on one registry: its report entry, the kind of its
/// failure (meaningful when the entry failed) and, when a read-back said why it did not verify, the
/// reason (its error is then the verification's).
#[derive(Clone, Debug)]
pub(crate) struct Outcome {
    pub container: ContainerId,
    pub at: At,
    pub entry: TagEntry,
    pub kind: Kind,
    pub reason: Option<Reason>,
}

impl Outcome {
    pub fn new(container: ContainerId, at: At, entry: TagEntry, kind: Kind) -> Outcome {
        Outcome {
            container,
            at,
            entry,
            kind,
            reason: None,
        }
    }
}

/// A check that did not pass: why (typed, carried to the report's problem), and the line saying so.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub reason: Reason,
    pub message: String,
}

impl Failure {
    pub(crate) fn new(reason: Reason, message: impl Into<String>) -> Failure {
        Failure {
            reason,
            message: message.into(),
        }
    }

    /// What could not be read, `context: error`.
    pub(crate) fn unreadable(context: &str, e: &crate::Error) -> Failure {
        let message = if context.is_empty() {
            e.to_string()
        } else {
            format!("{context}: {e}")
        };
        Failure::new(Reason::Unreadable, message)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A verification result for one planned check.
#[derive(Clone, Debug)]
pub(crate) struct Verdict {
    pub container: ContainerId,
    pub target: TargetId,
    pub expect: Expectation,
    pub result: Result<(), Failure>,
}

/// The outcomes of a run so far.
#[derive(Clone, Debug, Default)]
pub(crate) struct Ledger {
    items: Vec<Outcome>,
    /// The blobs the copy saw at the targets and the tags they acknowledged (their read-back need
    /// not ask again).
    pub proven: Proven,
}

impl Ledger {
    pub fn record(&mut self, o: Outcome) {
        self.items.push(o);
    }

    pub fn record_all(&mut self, outcomes: impl IntoIterator<Item = Outcome>) {
        self.items.extend(outcomes);
    }

    /// The entries of one container on one registry, each with why it did not verify (when a
    /// read-back said so).
    pub fn checked_at(
        &self,
        container: ContainerId,
        at: At,
    ) -> impl Iterator<Item = (&TagEntry, Option<Reason>)> {
        self.items
            .iter()
            .filter(move |i| i.container == container && i.at == at)
            .map(|i| (&i.entry, i.reason))
    }

    /// The entries of one container on one registry.
    pub fn at(&self, container: ContainerId, at: At) -> impl Iterator<Item = &TagEntry> {
        self.items
            .iter()
            .filter(move |i| i.container == container && i.at == at)
            .map(|i| &i.entry)
    }

    /// Did every copy of this container to this target succeed?
    pub fn copied(&self, container: ContainerId, target: TargetId) -> bool {
        self.at(container, At::Target(target))
            .all(|e| e.action != TagAction::Failed && e.error.is_none())
    }

    /// Did every tag this run holds for this container on this target verify? (The label's gate.)
    pub fn verified(&self, container: ContainerId, target: TargetId) -> bool {
        self.at(container, At::Target(target))
            .all(|e| e.verified == Some(true))
    }

    /// Is this container promoted on this target: tags there, every one verified?
    pub fn pushed(&self, container: ContainerId, target: TargetId) -> bool {
        self.at(container, At::Target(target)).next().is_some() && self.verified(container, target)
    }

    /// Did this run find `tag` already pointing at `digest` (and leave it alone)?
    pub fn found_in_place(
        &self,
        container: ContainerId,
        target: TargetId,
        tag: &str,
        digest: &Digest,
    ) -> bool {
        self.at(container, At::Target(target)).any(|x| {
            x.tag == tag
                && x.action == TagAction::AlreadyPresent
                && x.digest.as_deref() == Some(digest.as_str())
        })
    }

    /// Is a planned check already answered by this run: the tag found pointing at the digest, or
    /// (for a check that reads no content) its push acknowledged with the digest by `registry`?
    pub fn answered(&self, c: &PlannedCheck, registry: &str) -> bool {
        let e = &c.expect;
        self.found_in_place(c.container, c.target, &e.tag, &e.digest)
            || (!e.deep
                && e.architectures.is_none()
                && self.proven.tag_acked(registry, &e.repo, &e.tag, &e.digest))
    }

    /// Put a verification result on the tag's entry (one that was only read gets an entry now).
    pub fn apply(&mut self, v: &Verdict, registry: &str) {
        let at = At::Target(v.target);
        let found = self
            .items
            .iter()
            .position(|i| i.container == v.container && i.at == at && i.entry.tag == v.expect.tag);
        let idx = found.unwrap_or_else(|| {
            // A tag this run did not write: found in place when it verified; failed when it did
            // not (never "already present" on a registry it could not read).
            let e = &v.expect;
            let action = match v.result {
                Ok(()) => TagAction::AlreadyPresent,
                Err(_) => TagAction::Failed,
            };
            let en = TagEntry::new(registry, &e.repo, &e.tag, Some(&e.digest), action);
            self.record(Outcome::new(v.container, at, en, Kind::Verification));
            self.items.len() - 1
        });
        let item = &mut self.items[idx];
        let en = &mut item.entry;
        en.digest = Some(v.expect.digest.to_string());
        match &v.result {
            Ok(()) => en.verified = Some(true),
            Err(f) => {
                en.verified = Some(false);
                if en.error.is_none() {
                    en.error = Some(format!("verification: {f}"));
                    item.reason = Some(f.reason);
                }
            }
        }
    }

    /// Every entry of every container, in the order recorded, per container (in the order of their
    /// identifiers).
    pub fn into_entries(self, containers: usize) -> Vec<Vec<TagEntry>> {
        let mut out = vec![Vec::new(); containers];
        for i in self.items {
            if let Some(v) = out.get_mut(i.container.0) {
                v.push(i.entry);
            }
        }
        out
    }

    /// Every entry, in the order recorded.
    pub fn entries(&self) -> impl Iterator<Item = &TagEntry> {
        self.items.iter().map(|i| &i.entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> Digest {
        format!("sha256:{}", c.to_string().repeat(64)).parse().unwrap()
    }

    #[test]
    fn gates_follow_the_outcomes() {
        let (c0, c1, c2) = (ContainerId(0), ContainerId(1), ContainerId(2));
        let (t0, t1) = (TargetId(0), TargetId(1));
        let mut l = Ledger::default();
        let record = |l: &mut Ledger, c, t, en| l.record(Outcome::new(c, At::Target(t), en, Kind::Other));
        record(
            &mut l,
            c0,
            t0,
            TagEntry::new("t", "r", "fh", Some(&d('a')), TagAction::Copied),
        );
        record(
            &mut l,
            c0,
            t1,
            TagEntry::new("u", "r", "fh", Some(&d('a')), TagAction::AlreadyPresent),
        );
        let mut failed = TagEntry::new("t", "r", "fh_x86_64", None, TagAction::Failed);
        failed.error = Some("boom".into());
        record(&mut l, c1, t0, failed);
        assert!(l.copied(c0, t0) && l.copied(c0, t1) && !l.copied(c1, t0));
        assert!(l.found_in_place(c0, t1, "fh", &d('a')));
        assert!(
            !l.found_in_place(c0, t0, "fh", &d('a')),
            "copied, not found in place"
        );
        assert!(!l.verified(c0, t0) && !l.pushed(c0, t0), "nothing verified yet");
        let expect = Expectation {
            repo: crate::reference::RepoPath::parse("ns/r").unwrap(),
            tag: "fh".into(),
            digest: d('a'),
            architectures: None,
            deep: false,
        };
        l.apply(
            &Verdict {
                container: c0,
                target: t0,
                expect: expect.clone(),
                result: Ok(()),
            },
            "t",
        );
        assert!(l.verified(c0, t0) && l.pushed(c0, t0));
        // A tag only read (no entry yet) gets one; a failed check keeps the first error.
        let label = Expectation {
            tag: "current".into(),
            ..expect
        };
        l.apply(
            &Verdict {
                container: c0,
                target: t0,
                expect: label,
                result: Err(Failure {
                    reason: Reason::MissingTag,
                    message: "missing".into(),
                }),
            },
            "t",
        );
        assert!(!l.verified(c0, t0));
        assert!(
            l.verified(c2, t0) && !l.pushed(c2, t0),
            "no entries: nothing to gate, nothing pushed"
        );
        let reasons: Vec<_> = l
            .checked_at(c0, At::Target(t0))
            .map(|(e, r)| (e.tag.as_str(), r))
            .collect();
        assert_eq!(
            reasons,
            [("fh", None), ("current", Some(Reason::MissingTag))],
            "the reason is the read-back's, kept with its entry"
        );
        let all = l.into_entries(3);
        assert_eq!(all[0].len(), 3);
        assert_eq!(all[0][2].error.as_deref(), Some("verification: missing"));
        assert_eq!(
            all[0][2].action,
            TagAction::Failed,
            "not 'already present' where it failed"
        );
        assert!(all[2].is_empty());
    }
}
