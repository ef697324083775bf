//! Label history for rollback: every move of a named label (e.g. `current-tripleo`) with the digest it
//! pointed at before, in `<root>/<release>/labels.json` (rewritten atomically). Deleting images never
//! removes it.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{validate_release, Store};
use crate::digest::Digest;
use crate::error::Result;
use crate::oci::fsutil::{corrupt, read_small, write_atomic};
use crate::oci::index::ensure_layout;

pub(crate) const LABELS_JSON: &str = "labels.json";

/// One label move.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelRecord {
    /// Registry host as configured (`quay.io`).
    pub registry: String,
    /// Repository path (`tripleomaster/openstack-nova-compute`).
    pub repository: String,
    /// The label moved (`current-tripleo`).
    pub label: String,
    /// What it pointed at before (`None`: it did not exist).
    pub previous_digest: Option<Digest>,
    /// What it points at now.
    pub new_digest: Digest,
    /// When (RFC 3339, UTC).
    pub recorded_at: String,
}

#[derive(Default, Serialize, Deserialize)]
struct LabelsFile {
    records: Vec<LabelRecord>,
}

pub(crate) fn load(dir: &Path) -> Result<Vec<LabelRecord>> {
    let path = dir.join(LABELS_JSON);
    match read_small(&path, 256 << 20)? {
        None => Ok(vec![]),
        Some(b) => serde_json::from_slice::<LabelsFile>(&b)
            .map(|f| f.records)
            .map_err(|e| corrupt(&path, format!("not a valid label history: {e}"))),
    }
}

/// A label move to record: [`LabelRecord`] without its time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelMove {
    pub registry: String,
    pub repository: String,
    pub label: String,
    pub previous_digest: Option<Digest>,
    pub new_digest: Digest,
}

impl Store {
    /// Append a label move to the release's history (creating the release layout if needed).
    pub fn record_label(
        &self,
        release: &str,
        registry: &str,
        repository: &str,
        label: &str,
        previous_digest: Option<Digest>,
        new_digest: Digest,
    ) -> Result<LabelRecord> {
        let m = LabelMove {
            registry: registry.to_string(),
            repository: repository.to_string(),
            label: label.to_string(),
            previous_digest,
            new_digest,
        };
        let mut recorded = self.record_labels(release, vec![m])?;
        Ok(recorded.remove(0))
    }

    /// Append label moves to the release's history, in order, with one read and one atomic write of
    /// the file whatever their number (a promotion's moves are recorded together: the file grows
    /// with every run, and each rewrite is synced).
    pub fn record_labels(&self, release: &str, moves: Vec<LabelMove>) -> Result<Vec<LabelRecord>> {
        validate_release(release)?;
        self.check_release_dir(release)?;
        let _lock = self.lock_release(release, true)?;
        let mutex = self.meta_mutex(release);
        let _g = mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let dir = self.release_dir(release);
        ensure_layout(&dir)?;
        let mut records = load(&dir)?;
        let recorded_at = crate::oci::fsutil::now_rfc3339();
        let new: Vec<LabelRecord> = moves
            .into_iter()
            .map(|m| LabelRecord {
                registry: m.registry,
                repository: m.repository,
                label: m.label,
                previous_digest: m.previous_digest,
                new_digest: m.new_digest,
                recorded_at: recorded_at.clone(),
            })
            .collect();
        records.extend(new.iter().cloned());
        let mut bytes =
            serde_json::to_vec_pretty(&LabelsFile { records }).map_err(|e| corrupt(&dir, e.to_string()))?;
        bytes.push(b'\n');
        write_atomic(&dir.join(LABELS_JSON), &bytes)?;
        Ok(new)
    }

    /// The release's label moves, oldest first (empty when none were recorded).
    pub fn label_history(&self, release: &str) -> Result<Vec<LabelRecord>> {
        validate_release(release)?;
        self.check_release_dir(release)?;
        load(&self.release_dir(release))
    }
}
