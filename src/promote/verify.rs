//! The verification pass: after pushing, every registry × image × tag is read back. A tag must point
//! at the expected digest; a manifest list must hold exactly the expected architectures, and every
//! child manifest, config and layer it refers to must be present on that registry. Blob checks are
//! shared within a pass (one HEAD per repository and digest).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use crate::digest::Digest;
use crate::manifest::{Content, Manifest};
use crate::registry::Registry;

/// What a tag must look like.
#[derive(Clone, Debug)]
pub struct Expectation {
    pub repo: String,
    pub tag: String,
    pub digest: Digest,
    /// For lists: the architectures it must hold (any order).
    pub architectures: Option<Vec<String>>,
    /// Check the image's blobs (config and layers) too.
    pub deep: bool,
}

/// Memo of blob HEADs within one pass.
#[derive(Clone, Default)]
pub struct BlobMemo(Arc<Mutex<HashMap<BlobKey, bool>>>);

/// (registry, repository, digest).
type BlobKey = (String, String, Digest);

impl BlobMemo {
    async fn present(&self, reg: &Registry, repo: &str, digest: &Digest) -> Result<bool, String> {
        let key = (reg.name().to_string(), repo.to_string(), digest.clone());
        if let Some(v) = self.0.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(*v);
        }
        let v = reg
            .blob_exists(repo, digest)
            .await
            .map_err(|e| e.to_string())?
            .is_some();
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(key, v);
        Ok(v)
    }
}

/// Check one expectation; `Err` says what is wrong.
pub async fn check(reg: &Registry, e: &Expectation, memo: &BlobMemo) -> Result<(), String> {
    let where_ = format!("{}/{}:{}", reg.name(), e.repo, e.tag);
    let head = reg
        .head_manifest(&e.repo, &e.tag)
        .await
        .map_err(|x| x.to_string())?;
    let Some(head) = head else {
        return Err(format!("{where_} is missing"));
    };
    if head.digest != e.digest {
        return Err(format!(
            "{where_} points at {}, expected {}",
            head.digest, e.digest
        ));
    }
    if e.architectures.is_none() && !e.deep {
        return Ok(());
    }
    let m = reg
        .get_manifest(&e.repo, e.digest.as_str())
        .await
        .map_err(|x| format!("{where_}: {x}"))?;
    match m.content().map_err(|x| format!("{where_}: {x}"))? {
        Content::Index { children } => {
            if let Some(want) = &e.architectures {
                let have: BTreeSet<String> = children.iter().filter_map(|c| c.architecture.clone()).collect();
                let want: BTreeSet<String> = want.iter().cloned().collect();
                if have != want {
                    return Err(format!(
                        "{where_} holds architectures {:?}, expected {:?}",
                        have.into_iter().collect::<Vec<_>>(),
                        want.into_iter().collect::<Vec<_>>()
                    ));
                }
            }
            for c in children {
                let child = reg
                    .get_manifest_opt(&e.repo, c.descriptor.digest.as_str())
                    .await
                    .map_err(|x| format!("{where_}: child {}: {x}", c.descriptor.digest))?
                    .ok_or_else(|| {
                        format!(
                            "{where_}: child manifest {} ({}) is missing (dangling list)",
                            c.descriptor.digest,
                            c.architecture.as_deref().unwrap_or("?")
                        )
                    })?;
                check_blobs(reg, &e.repo, &child, memo, &where_).await?;
            }
        }
        Content::Image { .. } => {
            if e.architectures.is_some() {
                return Err(format!("{where_} is a single image, expected a manifest list"));
            }
            check_blobs(reg, &e.repo, &m, memo, &where_).await?;
        }
    }
    Ok(())
}

async fn check_blobs(
    reg: &Registry,
    repo: &str,
    m: &Manifest,
    memo: &BlobMemo,
    where_: &str,
) -> Result<(), String> {
    if let Content::Image { config, layers } = m.content().map_err(|x| format!("{where_}: {x}"))? {
        for d in std::iter::once(&config).chain(layers.iter()) {
            if !memo.present(reg, repo, &d.digest).await? {
                return Err(format!("{where_}: blob {} of {} is missing", d.digest, m.digest));
            }
        }
    }
    Ok(())
}
