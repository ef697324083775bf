//! A place images live: a registry, or an OCI layout (a release's in the local store, or any folder).
//! The copy engine and the verification talk to both through this one type (same operations, same
//! meaning), so a local copy can be the source of a push, the destination of a keep, and be verified
//! like a registry. It sits above what it wraps (the registry client, [`crate::oci`]) and below the
//! copy engine, the local store and anything else that works on either place.

use bytes::Bytes;
use url::Url;

use crate::digest::Digest;
use crate::error::Result;
use crate::manifest::{BlobStream, Descriptor, Manifest};
use crate::oci::Layout;
use crate::registry::{MountResult, Registry};
use crate::transport::{RetryPolicy, StatsSnapshot};

/// A registry or a local layout.
#[derive(Clone, Debug)]
pub enum Place {
    Registry(Registry),
    Layout(Layout),
}

/// An upload in progress.
#[derive(Clone, Debug)]
pub enum Session {
    Registry(Url),
    Layout,
}

/// What a mount request gave.
#[derive(Debug)]
pub enum Mount {
    Mounted,
    /// Upload instead (the session the registry opened, or a local write).
    Upload(Session),
}

impl From<&Registry> for Place {
    fn from(r: &Registry) -> Place {
        Place::Registry(r.clone())
    }
}

impl From<Registry> for Place {
    fn from(r: Registry) -> Place {
        Place::Registry(r)
    }
}

impl From<&Layout> for Place {
    fn from(l: &Layout) -> Place {
        Place::Layout(l.clone())
    }
}

impl From<&Place> for Place {
    fn from(p: &Place) -> Place {
        p.clone()
    }
}

impl Place {
    /// The name in messages (registry host, or `oci:<dir>`).
    pub fn name(&self) -> &str {
        match self {
            Place::Registry(r) => r.name(),
            Place::Layout(l) => l.name(),
        }
    }

    pub fn is_local(&self) -> bool {
        matches!(self, Place::Layout(_))
    }

    /// Retry settings (a local layout does not need retries).
    pub fn retry(&self) -> RetryPolicy {
        match self {
            Place::Registry(r) => r.transport().config().retry.clone(),
            Place::Layout(_) => RetryPolicy {
                attempts: 1,
                ..RetryPolicy::default()
            },
        }
    }

    pub fn stats(&self) -> StatsSnapshot {
        match self {
            Place::Registry(r) => r.transport().stats(),
            Place::Layout(_) => StatsSnapshot::default(),
        }
    }

    pub async fn head_manifest(&self, repo: &str, reference: &str) -> Result<Option<Descriptor>> {
        match self {
            Place::Registry(r) => r.head_manifest(repo, reference).await,
            Place::Layout(l) => l.head_manifest(repo, reference).await,
        }
    }

    pub async fn get_manifest(&self, repo: &str, reference: &str) -> Result<Manifest> {
        match self {
            Place::Registry(r) => r.get_manifest(repo, reference).await,
            Place::Layout(l) => l.get_manifest(repo, reference).await,
        }
    }

    pub async fn get_manifest_opt(&self, repo: &str, reference: &str) -> Result<Option<Manifest>> {
        match self {
            Place::Registry(r) => r.get_manifest_opt(repo, reference).await,
            Place::Layout(l) => l.get_manifest_opt(repo, reference).await,
        }
    }

    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: Bytes,
    ) -> Result<Digest> {
        match self {
            Place::Registry(r) => r.put_manifest(repo, reference, media_type, bytes).await,
            Place::Layout(l) => l.put_manifest(repo, reference, media_type, bytes).await,
        }
    }

    pub async fn blob_exists(&self, repo: &str, digest: &Digest) -> Result<Option<u64>> {
        match self {
            Place::Registry(r) => r.blob_exists(repo, digest).await,
            Place::Layout(l) => l.blob_exists(repo, digest).await,
        }
    }

    /// A (small) blob into memory, verified.
    pub async fn get_blob_bytes(&self, repo: &str, digest: &Digest, limit: usize) -> Result<Bytes> {
        match self {
            Place::Registry(r) => r.get_blob_bytes(repo, digest, limit).await,
            Place::Layout(l) => {
                use futures_util::StreamExt;
                let mut s = l.get_blob(repo, digest, None).await?;
                let mut buf = Vec::new();
                while let Some(c) = s.next().await {
                    buf.extend_from_slice(&c?);
                    if buf.len() > limit {
                        return Err(crate::Error::Unsupported {
                            registry: l.name().to_string(),
                            what: format!("blob {digest}"),
                            reason: format!("larger than {limit} bytes"),
                        });
                    }
                }
                Ok(Bytes::from(buf))
            }
        }
    }

    /// [`Place::get_blob`] drawing on the caller's budget of attempts (`used`; a layout counts one).
    pub async fn get_blob_counted(
        &self,
        repo: &str,
        digest: &Digest,
        size: Option<u64>,
        used: &mut u32,
    ) -> Result<BlobStream> {
        match self {
            Place::Registry(r) => r.get_blob_counted(repo, digest, size, true, used).await,
            Place::Layout(l) => {
                *used += 1;
                l.get_blob(repo, digest, size).await
            }
        }
    }

    pub async fn get_blob(&self, repo: &str, digest: &Digest, size: Option<u64>) -> Result<BlobStream> {
        match self {
            Place::Registry(r) => r.get_blob(repo, digest, size).await,
            Place::Layout(l) => l.get_blob(repo, digest, size).await,
        }
    }

    /// Mount from another repository of the same place (a layout shares blobs release-wide).
    pub async fn mount_blob(&self, repo: &str, digest: &Digest, from: &str) -> Result<Mount> {
        match self {
            Place::Registry(r) => Ok(match r.mount_blob(repo, digest, from).await? {
                MountResult::Mounted => Mount::Mounted,
                MountResult::Upload(u) => Mount::Upload(Session::Registry(u)),
            }),
            Place::Layout(l) => Ok(match l.blob_exists(repo, digest).await? {
                Some(_) => Mount::Mounted,
                None => Mount::Upload(Session::Layout),
            }),
        }
    }

    pub async fn start_upload(&self, repo: &str) -> Result<Session> {
        match self {
            Place::Registry(r) => r.start_upload(repo).await.map(Session::Registry),
            Place::Layout(_) => Ok(Session::Layout),
        }
    }

    /// Finish an upload with the whole blob streamed.
    pub async fn put_upload_stream(
        &self,
        repo: &str,
        session: Session,
        digest: &Digest,
        size: u64,
        body: BlobStream,
    ) -> Result<()> {
        match (self, session) {
            (Place::Registry(r), Session::Registry(url)) => {
                r.put_upload_stream(repo, url, digest, size, body).await
            }
            (Place::Layout(l), _) => l.put_blob_stream(repo, digest, size, body).await,
            (Place::Registry(r), Session::Layout) => {
                let url = r.start_upload(repo).await?;
                r.put_upload_stream(repo, url, digest, size, body).await
            }
        }
    }

    pub async fn list_tags(&self, repo: &str) -> Result<Vec<String>> {
        match self {
            Place::Registry(r) => r.list_tags(repo).await,
            Place::Layout(l) => l.list_tags(repo).await,
        }
    }

    pub async fn delete_manifest(&self, repo: &str, digest: &Digest) -> Result<()> {
        match self {
            Place::Registry(r) => r.delete_manifest(repo, digest).await,
            Place::Layout(l) => l.delete_manifest(repo, digest).await,
        }
    }
}
