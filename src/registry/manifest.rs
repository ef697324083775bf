//! Manifest GET / HEAD / PUT / DELETE.

use bytes::Bytes;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::Method;

use super::Registry;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest::{media, Descriptor, Manifest};
use crate::reference::validate_tag;
use crate::transport::{read_limited, repo_scope, Budget, Request};

/// What a HEAD tells: digest, media type and size of the manifest a tag points at.
pub type ManifestHead = Descriptor;

fn check_reference(reference: &str) -> Result<()> {
    if reference.contains(':') {
        reference.parse::<Digest>().map(|_| ())
    } else {
        validate_tag(reference)
    }
}

impl Registry {
    fn manifest_url(&self, repo: &str, reference: &str) -> Result<url::Url> {
        check_reference(reference)?;
        self.transport().url(&format!("v2/{repo}/manifests/{reference}"))
    }

    /// HEAD a manifest: `None` when absent.
    pub async fn head_manifest(&self, repo: &str, reference: &str) -> Result<Option<ManifestHead>> {
        let url = self.manifest_url(repo, reference)?;
        let mut req =
            Request::new(Method::HEAD, url, vec![repo_scope(repo, false)]).header(ACCEPT, media::ACCEPT);
        req.own_origin = self.read_back;
        let resp = self.transport().send(req).await?;
        let what = format!("manifest {repo}:{reference}");
        if resp.status().as_u16() == 404 {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(self.error_for(resp, &what).await);
        }
        let h = resp.headers();
        let digest = h
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let media_type = h
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let size = h
            .get(reqwest::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        match digest {
            Some(d) => Ok(Some(Descriptor {
                media_type,
                digest: d.parse()?,
                size,
            })),
            // Without the header a HEAD tells nothing reliable: fetch and hash.
            None => Ok(self
                .get_manifest_opt(repo, reference)
                .await?
                .map(|m| m.descriptor())),
        }
    }

    /// GET a manifest, checking its digest; error when absent.
    pub async fn get_manifest(&self, repo: &str, reference: &str) -> Result<Manifest> {
        self.get_manifest_opt(repo, reference)
            .await?
            .ok_or_else(|| Error::NotFound {
                registry: self.name().to_string(),
                what: format!("manifest {repo}:{reference}"),
            })
    }

    /// GET a manifest, checking its digest; `None` when absent. A body cut off mid-way is fetched
    /// again, within the same budget of attempts as the request itself.
    pub async fn get_manifest_opt(&self, repo: &str, reference: &str) -> Result<Option<Manifest>> {
        let mut budget = self.transport().budget();
        loop {
            match self.get_manifest_once(repo, reference, &mut budget).await {
                Err(e @ Error::Network { .. }) => {
                    tokio::time::sleep(self.transport().again(&budget, e)?).await;
                }
                other => return other,
            }
        }
    }

    async fn get_manifest_once(
        &self,
        repo: &str,
        reference: &str,
        budget: &mut Budget,
    ) -> Result<Option<Manifest>> {
        let url = self.manifest_url(repo, reference)?;
        let mut req =
            Request::new(Method::GET, url, vec![repo_scope(repo, false)]).header(ACCEPT, media::ACCEPT);
        req.counts_as_pull = true;
        req.own_origin = self.read_back;
        let resp = self.transport().send_counted(req, budget).await?;
        let what = format!("manifest {repo}:{reference}");
        if resp.status().as_u16() == 404 {
            self.drain(resp).await;
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(self.error_for(resp, &what).await);
        }
        let header_digest = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = read_limited(resp, 4 << 20, self.name(), &what).await?;
        self.transport()
            .stats
            .bytes_received
            .fetch_add(bytes.len() as u64, std::sync::atomic::Ordering::Relaxed);
        // The digest must match what we asked for and what the registry says.
        if let Ok(d) = reference.parse::<Digest>() {
            d.verify(&what, &bytes)?;
        }
        if let Some(hd) = header_digest {
            let hd: Digest = hd.parse()?;
            hd.verify(&format!("{what} (Docker-Content-Digest)"), &bytes)?;
        }
        Manifest::from_bytes(self.name(), &what, bytes, content_type.as_deref()).map(Some)
    }

    /// PUT manifest bytes under a tag or digest. Returns the digest the registry reports (checked
    /// against ours).
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: Bytes,
    ) -> Result<Digest> {
        self.put_manifest_acked(repo, reference, media_type, bytes)
            .await
            .map(|(d, _)| d)
    }

    /// PUT manifest bytes; also tells whether the registry confirmed the digest in its answer
    /// (`Docker-Content-Digest`), which then counts as reading it back.
    pub async fn put_manifest_acked(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: Bytes,
    ) -> Result<(Digest, bool)> {
        let url = self.manifest_url(repo, reference)?;
        let ours = Digest::sha256(&bytes);
        if let Ok(d) = reference.parse::<Digest>() {
            d.verify(&format!("manifest {repo}@{reference}"), &bytes)?;
        }
        let req = Request::new(Method::PUT, url, vec![repo_scope(repo, true)])
            .header(CONTENT_TYPE, media_type)
            .body(bytes);
        let resp = self.transport().send(req).await?;
        let what = format!("PUT manifest {repo}:{reference}");
        if !resp.status().is_success() {
            return Err(self.error_for(resp, &what).await);
        }
        let acked = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok());
        let confirmed = acked == Some(ours.as_str());
        if let Some(d) = acked {
            if d != ours.as_str() {
                return Err(Error::DigestMismatch {
                    what: format!("{}: {what}", self.name()),
                    expected: ours.to_string(),
                    actual: d.to_string(),
                });
            }
        }
        tracing::debug!(registry = %self.name(), repo, reference, digest = %ours, "manifest pushed");
        Ok((ours, confirmed))
    }

    /// DELETE a manifest by digest (removes every tag pointing at it).
    pub async fn delete_manifest(&self, repo: &str, digest: &Digest) -> Result<()> {
        let url = self.manifest_url(repo, digest.as_str())?;
        let req = Request::new(
            Method::DELETE,
            url,
            vec![format!("repository:{repo}:delete"), repo_scope(repo, true)],
        );
        let resp = self.transport().send(req).await?;
        if resp.status().is_success() {
            return Ok(());
        }
        if resp.status().as_u16() == 405 {
            return Err(Error::Unsupported {
                registry: self.name().to_string(),
                what: format!("delete {repo}@{digest}"),
                reason: "the registry does not allow deletes through the API (HTTP 405)".into(),
            });
        }
        Err(self
            .error_for(resp, &format!("DELETE manifest {repo}@{digest}"))
            .await)
    }
}
