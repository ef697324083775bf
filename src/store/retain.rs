//! The retention policy of kept copies: what a promotion keeps (a failed push's images, `always`'s)
//! must not stay forever when its hash is never retried. Every promotion that uses the store ends
//! with a pass ([`Store::retain`]) that removes, a hash at a time (every copy of one hash from one
//! source in one release: [`DeleteScope::Hash`], through the one verified delete):
//!
//! - the copies older than `max_age` (by their newest reference's creation time);
//! - then, while the store holds more than `max_bytes`, the oldest copies.
//!
//! Never pruned: the copies named as spared (the run's own hash: what it just kept is what its
//! rerun needs), and the releases another run is using (their lock is busy: the pass does not wait,
//! the next run's pass gets them). The pass holds one release's lock at a time, never two (so no
//! order of taking them can deadlock with another run), and looks at a copy again under its lock
//! before removing it for size. The bytes freed are measured on disk: a copy that could not be
//! removed frees nothing and the next oldest is tried. What went is logged in one line and
//! returned.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::root::{self, RootState};
use super::{is_lock_conflict, DeleteScope, Store};
use crate::error::Result;
use crate::oci::fsutil::parse_rfc3339;

/// How long and how much the store keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Copies older than this go (`None`: no age limit).
    pub max_age: Option<Duration>,
    /// Past this many bytes the oldest copies go (`None`: no size limit).
    pub max_bytes: Option<u64>,
}

impl Retention {
    /// Default age limit, in days: longer than the RDO registry keeps an image (about 5 days), so a
    /// kept copy outlives its source by a weekend; the promoter retries a failed hash every cycle
    /// until a newer one replaces it, so a week-old copy belongs to a hash nobody retries.
    pub const DEFAULT_MAX_AGE_DAYS: u64 = 7;
    /// Default size limit, in GiB: a full release is about 1.5 GiB, so this holds a failed hash of
    /// every release a promoter host runs (about six) with room for a second each.
    pub const DEFAULT_MAX_SIZE_GIB: u64 = 20;

    /// From the settings' units (days, GiB); 0 turns a limit off.
    pub fn from_settings(max_age_days: u64, max_size_gib: u64) -> Retention {
        Retention {
            max_age: (max_age_days > 0).then(|| Duration::from_secs(max_age_days.min(36_500) * 86_400)),
            max_bytes: (max_size_gib > 0).then(|| max_size_gib.min(1 << 20) << 30),
        }
    }

    /// The limits in words (`7 days, 20 GiB`).
    pub fn describe(&self) -> String {
        let age = self
            .max_age
            .map(|d| format!("older than {} days", d.as_secs() / 86_400));
        let size = self.max_bytes.map(|b| format!("past {} GiB in all", b >> 30));
        [age, size].into_iter().flatten().collect::<Vec<_>>().join(", ")
    }
}

impl Default for Retention {
    fn default() -> Retention {
        Retention::from_settings(Self::DEFAULT_MAX_AGE_DAYS, Self::DEFAULT_MAX_SIZE_GIB)
    }
}

/// One hash's copies removed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Pruned {
    pub release: String,
    pub source: Option<String>,
    pub hash: String,
    /// References removed.
    pub references: usize,
    pub freed_bytes: u64,
    /// When the newest of them was written (RFC 3339), when known.
    pub created: Option<String>,
    /// `age` or `size`.
    pub reason: &'static str,
}

/// What a retention pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RetainReport {
    pub pruned: Vec<Pruned>,
    /// Releases another run held: not looked at this time.
    pub skipped: Vec<String>,
    /// Deletes that failed or did not verify.
    pub problems: Vec<String>,
}

/// (release, source, hash): one promotion's copies.
type Group = (String, Option<String>, String);

impl Store {
    /// Apply `policy` (see the module doc); `spare`: copies never removed (the caller's own).
    /// `now` is the time ages are measured from.
    pub fn retain(&self, policy: &Retention, spare: &[Group], now: SystemTime) -> Result<RetainReport> {
        let mut rep = RetainReport::default();
        if policy.max_age.is_none() && policy.max_bytes.is_none() {
            return Ok(rep);
        }
        if root::check_ours(self.root())? == RootState::Fresh {
            return Ok(rep);
        }
        // One release at a time, under its lock alone (never two release locks at once, so no
        // order of taking them can deadlock with another run): the releases another run is using
        // wait for a later pass.
        let mut left = Vec::new();
        for r in self.releases()? {
            let _lock = match self.lock_release(&r, true) {
                Ok(l) => l,
                Err(e) if is_lock_conflict(&e) => {
                    rep.skipped.push(r);
                    continue;
                }
                Err(e) => {
                    rep.problems.push(e.to_string());
                    continue;
                }
            };
            for (g, t) in self.groups(&r)? {
                if spare.contains(&g) {
                    continue;
                }
                let old = match (policy.max_age, t) {
                    (Some(max), Some(t)) => now.duration_since(t).is_ok_and(|age| age > max),
                    _ => false,
                };
                if old {
                    self.prune(&g, t, "age", &mut rep);
                } else {
                    left.push((t, g));
                }
            }
        }
        if let Some(max) = policy.max_bytes {
            left.sort();
            let mut total = self.total_size()?;
            for (t, g) in left {
                if total <= max {
                    break;
                }
                let _lock = match self.lock_release(&g.0, true) {
                    Ok(l) => l,
                    Err(e) if is_lock_conflict(&e) => {
                        if !rep.skipped.contains(&g.0) {
                            rep.skipped.push(g.0.clone());
                        }
                        continue;
                    }
                    Err(e) => {
                        rep.problems.push(e.to_string());
                        continue;
                    }
                };
                // Another run may have kept this hash again since the release was looked at:
                // then it is not the oldest any more.
                if self.groups(&g.0)?.get(&g) != Some(&t) {
                    continue;
                }
                // Only what the delete freed counts: a copy that could not be removed frees
                // nothing, and the next oldest is tried.
                total = total.saturating_sub(self.prune(&g, t, "size", &mut rep));
            }
        }
        if !rep.pruned.is_empty() {
            let freed: u64 = rep.pruned.iter().map(|p| p.freed_bytes).sum();
            let what: Vec<String> = rep
                .pruned
                .iter()
                .map(|p| format!("{} of {} ({})", p.hash, p.release, p.reason))
                .collect();
            tracing::info!(
                store = %self.root().display(),
                freed_bytes = freed,
                policy = %policy.describe(),
                "local store retention removed {} kept cop{}: {}",
                what.len(),
                if what.len() == 1 { "y" } else { "ies" },
                what.join(", ")
            );
        }
        Ok(rep)
    }

    /// Each group of `release` with its newest creation time (the manifest file's time when none
    /// was recorded).
    fn groups(&self, release: &str) -> Result<BTreeMap<Group, Option<SystemTime>>> {
        let mut groups: BTreeMap<Group, Option<SystemTime>> = BTreeMap::new();
        for i in self.list_release(release)? {
            let Some(hash) = i.hash.clone() else { continue };
            let written = i.created.as_deref().and_then(parse_rfc3339).or_else(|| {
                let blob = super::maint::blob_path(&self.release_dir(release), &i.digest);
                std::fs::metadata(blob).and_then(|m| m.modified()).ok()
            });
            let t = groups
                .entry((release.to_string(), i.source.clone(), hash))
                .or_default();
            *t = (*t).max(written);
        }
        Ok(groups)
    }

    /// Remove one group's copies (verified), recording it when references went. Returns the bytes
    /// freed, measured on disk (the release's blob files before and after).
    fn prune(&self, g: &Group, t: Option<SystemTime>, reason: &'static str, rep: &mut RetainReport) -> u64 {
        let (release, source, hash) = g.clone();
        let before = self.release_size(&release).unwrap_or(0);
        let scope = DeleteScope::Hash {
            release: release.clone(),
            source: source.clone(),
            hash: hash.clone(),
        };
        match self.delete(&scope, false) {
            Ok(d) => {
                if !d.ok() {
                    rep.problems.push(format!(
                        "retention: deleting {scope}: verification failed: {}",
                        d.verification.problems.join("; ")
                    ));
                }
                let freed = before.saturating_sub(self.release_size(&release).unwrap_or(before));
                if d.removed.is_empty() {
                    return freed;
                }
                rep.pruned.push(Pruned {
                    release,
                    source,
                    hash,
                    references: d.removed.len(),
                    freed_bytes: freed,
                    created: t.map(crate::oci::fsutil::rfc3339),
                    reason,
                });
                freed
            }
            Err(e) => {
                rep.problems.push(format!("retention: deleting {scope}: {e}"));
                0
            }
        }
    }
}
