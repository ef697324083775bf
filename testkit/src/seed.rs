//! An independent raw pusher and content generators for seeding registries.
//!
//! Nothing here uses the crate under test: blobs and manifests are pushed
//! with plain distribution API calls (monolithic `POST` + `PUT` uploads,
//! `PUT` manifests) through [`RawClient`]. Manifests are generated with an
//! unusual but valid JSON layout (3-space indentation, keys in a
//! non-alphabetical order, trailing newline) so a copy that re-serializes
//! instead of copying bytes changes the digest and gets caught.

use crate::endpoint::{Endpoint, RawClient};
use crate::util::{sha256_digest, Prng};
use anyhow::{bail, Context, Result};
use flate2::{Compression, GzBuilder};
use serde::Serialize;
use std::io::Write;

/// Media types.
pub mod media {
    /// Docker image manifest, schema 2.
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    /// Docker manifest list.
    pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    /// Docker image config.
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    /// Docker gzip layer.
    pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    /// OCI image manifest.
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    /// OCI image index.
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    /// OCI image config.
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    /// OCI gzip layer.
    pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
}

/// A platform entry of a manifest list / index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Platform {
    /// e.g. `amd64`.
    pub architecture: String,
    /// e.g. `linux`.
    pub os: String,
    /// e.g. `v8`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type.
    pub media_type: String,
    /// Size in bytes.
    pub size: u64,
    /// `sha256:…`.
    pub digest: String,
    /// Platform (manifest lists / indexes only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

impl Descriptor {
    /// The descriptor of `bytes` with `media_type`.
    pub fn of(media_type: &str, bytes: &[u8]) -> Self {
        Descriptor {
            media_type: media_type.into(),
            size: bytes.len() as u64,
            digest: sha256_digest(bytes),
            platform: None,
        }
    }

    /// Adds a platform.
    pub fn with_platform(mut self, architecture: &str, os: &str) -> Self {
        self.platform = Some(Platform {
            architecture: architecture.into(),
            os: os.into(),
            variant: None,
        });
        self
    }
}

/// A generated layer.
#[derive(Debug, Clone)]
pub struct Layer {
    /// The gzip-compressed tar (what gets pushed).
    pub blob: Vec<u8>,
    /// Digest of `blob`.
    pub digest: String,
    /// Digest of the uncompressed tar (the config's `rootfs.diff_ids`).
    pub diff_id: String,
}

fn tar_one_file(name: &str, data: &[u8]) -> Vec<u8> {
    let mut h = [0u8; 512];
    let put = |h: &mut [u8; 512], off: usize, s: &[u8]| h[off..off + s.len()].copy_from_slice(s);
    put(&mut h, 0, &name.as_bytes()[..name.len().min(99)]);
    put(&mut h, 100, b"0000644\0");
    put(&mut h, 108, b"0000000\0");
    put(&mut h, 116, b"0000000\0");
    put(&mut h, 124, format!("{:011o}\0", data.len()).as_bytes());
    put(&mut h, 136, b"00000000000\0");
    put(&mut h, 148, b"        ");
    h[156] = b'0';
    put(&mut h, 257, b"ustar\0");
    put(&mut h, 263, b"00");
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    put(&mut h, 148, format!("{sum:06o}\0 ").as_bytes());
    let mut out = h.to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0u8; 1024]);
    out
}

/// A layer: a gzip-compressed tar holding one file of `size` pseudo-random
/// bytes derived from `seed` (same seed and size, same bytes).
pub fn layer(seed: u64, size: usize) -> Layer {
    let mut data = vec![0u8; size];
    Prng::new(seed).fill(&mut data);
    let tar = tar_one_file(&format!("cc-testkit/layer-{seed:016x}.bin"), &data);
    let mut gz = GzBuilder::new().mtime(0).write(Vec::new(), Compression::fast());
    gz.write_all(&tar).expect("writing to a Vec cannot fail");
    let blob = gz.finish().expect("writing to a Vec cannot fail");
    Layer {
        digest: sha256_digest(&blob),
        diff_id: sha256_digest(&tar),
        blob,
    }
}

/// The gzip bytes of [`layer`]`(seed, size)`.
pub fn random_layer(seed: u64, size: usize) -> Vec<u8> {
    layer(seed, size).blob
}

/// An image config for `arch`/`os` with no layers.
pub fn config_json(arch: &str, os: &str) -> Vec<u8> {
    config_json_with_diff_ids(arch, os, &[])
}

/// An image config for `arch`/`os` with these `rootfs.diff_ids`.
pub fn config_json_with_diff_ids(arch: &str, os: &str, diff_ids: &[String]) -> Vec<u8> {
    let v = serde_json::json!({
        "architecture": arch,
        "os": os,
        "created": "2024-01-01T00:00:00Z",
        "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/bin/sh"], "Labels": {"org.cc-testkit": "seed"}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": diff_ids.iter().map(|_| serde_json::json!({"created_by": "cc-testkit seed"})).collect::<Vec<_>>(),
    });
    serde_json::to_vec(&v).expect("serializing a JSON value cannot fail")
}

/// Serializes with 3-space indentation and a trailing newline.
fn unusual_json<T: Serialize>(v: &T) -> Vec<u8> {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"   ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    v.serialize(&mut ser).expect("serializing a manifest cannot fail");
    out.push(b'\n');
    out
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ImageManifest<'a> {
    schema_version: u32,
    media_type: &'a str,
    config: &'a Descriptor,
    layers: &'a [Descriptor],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListManifest<'a> {
    schema_version: u32,
    media_type: &'a str,
    manifests: &'a [Descriptor],
}

/// A Docker v2 schema 2 manifest (raw bytes).
pub fn docker_manifest(config: &Descriptor, layers: &[Descriptor]) -> Vec<u8> {
    unusual_json(&ImageManifest {
        schema_version: 2,
        media_type: media::DOCKER_MANIFEST,
        config,
        layers,
    })
}

/// An OCI image manifest (raw bytes).
pub fn oci_manifest(config: &Descriptor, layers: &[Descriptor]) -> Vec<u8> {
    unusual_json(&ImageManifest {
        schema_version: 2,
        media_type: media::OCI_MANIFEST,
        config,
        layers,
    })
}

/// A Docker manifest list (raw bytes); entries should carry platforms.
pub fn docker_manifest_list(manifests: &[Descriptor]) -> Vec<u8> {
    unusual_json(&ListManifest {
        schema_version: 2,
        media_type: media::DOCKER_MANIFEST_LIST,
        manifests,
    })
}

/// An OCI image index (raw bytes); entries should carry platforms.
pub fn oci_index(manifests: &[Descriptor]) -> Vec<u8> {
    unusual_json(&ListManifest {
        schema_version: 2,
        media_type: media::OCI_INDEX,
        manifests,
    })
}

/// Pushes a blob (monolithic upload) and returns its digest.
pub async fn push_blob(ep: impl Into<Endpoint>, repo: &str, bytes: &[u8]) -> Result<String> {
    push_blob_with(&RawClient::new(ep)?, repo, bytes).await
}

async fn push_blob_with(c: &RawClient, repo: &str, bytes: &[u8]) -> Result<String> {
    let digest = sha256_digest(bytes);
    let start = c
        .send("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], Vec::new())
        .await?;
    if start.status != 202 {
        bail!("starting an upload to {repo}: {} {}", start.status, start.text());
    }
    let loc = start
        .header("location")
        .context("upload start without Location")?
        .to_string();
    let loc = if loc.starts_with('/') {
        format!("{}{loc}", c.endpoint().base_url)
    } else {
        loc
    };
    let sep = if loc.contains('?') { '&' } else { '?' };
    let put = c
        .send(
            "PUT",
            &format!("{loc}{sep}digest={digest}"),
            &[("content-type", "application/octet-stream")],
            bytes.to_vec(),
        )
        .await?;
    if put.status != 201 {
        bail!(
            "finishing the upload of {digest} to {repo}: {} {}",
            put.status,
            put.text()
        );
    }
    Ok(digest)
}

/// Pushes a manifest under `reference` (tag or digest) and returns its
/// digest (checked against the registry's `Docker-Content-Digest`).
pub async fn push_manifest(
    ep: impl Into<Endpoint>,
    repo: &str,
    reference: &str,
    media_type: &str,
    bytes: &[u8],
) -> Result<String> {
    push_manifest_with(&RawClient::new(ep)?, repo, reference, media_type, bytes).await
}

async fn push_manifest_with(
    c: &RawClient,
    repo: &str,
    reference: &str,
    media_type: &str,
    bytes: &[u8],
) -> Result<String> {
    let digest = sha256_digest(bytes);
    let r = c
        .send(
            "PUT",
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("content-type", media_type)],
            bytes.to_vec(),
        )
        .await?;
    if r.status != 201 {
        bail!("pushing manifest {repo}:{reference}: {} {}", r.status, r.text());
    }
    if let Some(d) = r.header("docker-content-digest") {
        if d != digest {
            bail!("registry computed digest {d} for {repo}:{reference}, expected {digest}");
        }
    }
    Ok(digest)
}

const ACCEPT_ALL: &str = "application/vnd.docker.distribution.manifest.v2+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";

/// Fetches a manifest: `Some((content_type, bytes))`, or `None` on 404.
pub async fn fetch_manifest(
    ep: impl Into<Endpoint>,
    repo: &str,
    reference: &str,
) -> Result<Option<(String, Vec<u8>)>> {
    let c = RawClient::new(ep)?;
    let r = c
        .send(
            "GET",
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("accept", ACCEPT_ALL)],
            Vec::new(),
        )
        .await?;
    match r.status {
        200 => Ok(Some((
            r.header("content-type").unwrap_or_default().to_string(),
            r.body,
        ))),
        404 => Ok(None),
        s => bail!("GET manifest {repo}:{reference}: {s} {}", r.text()),
    }
}

/// Fetches a blob, `None` on 404.
pub async fn fetch_blob(ep: impl Into<Endpoint>, repo: &str, digest: &str) -> Result<Option<Vec<u8>>> {
    let c = RawClient::new(ep)?;
    let r = c
        .send("GET", &format!("/v2/{repo}/blobs/{digest}"), &[], Vec::new())
        .await?;
    match r.status {
        200 => Ok(Some(r.body)),
        404 => Ok(None),
        s => bail!("GET blob {repo}@{digest}: {s} {}", r.text()),
    }
}

/// Lists tags (empty when the repository does not exist).
pub async fn list_tags(ep: impl Into<Endpoint>, repo: &str) -> Result<Vec<String>> {
    let c = RawClient::new(ep)?;
    let r = c
        .send("GET", &format!("/v2/{repo}/tags/list"), &[], Vec::new())
        .await?;
    match r.status {
        200 => {
            let v = r.json()?;
            Ok(v["tags"]
                .as_array()
                .map(|a| a.iter().filter_map(|t| t.as_str().map(String::from)).collect())
                .unwrap_or_default())
        }
        404 => Ok(Vec::new()),
        s => bail!("GET tags of {repo}: {s} {}", r.text()),
    }
}

/// Deletes a manifest by digest (the registry has deletes enabled).
pub async fn delete_manifest(ep: impl Into<Endpoint>, repo: &str, digest: &str) -> Result<()> {
    let c = RawClient::new(ep)?;
    let r = c
        .send(
            "DELETE",
            &format!("/v2/{repo}/manifests/{digest}"),
            &[],
            Vec::new(),
        )
        .await?;
    if r.status != 202 {
        bail!("DELETE {repo}@{digest}: {} {}", r.status, r.text());
    }
    Ok(())
}

/// What [`seed_image`] pushed.
#[derive(Debug, Clone)]
pub struct SeededImage {
    /// Manifest digest.
    pub digest: String,
    /// Raw manifest bytes, exactly as pushed.
    pub manifest: Vec<u8>,
    /// Manifest media type.
    pub media_type: String,
    /// The config descriptor.
    pub config: Descriptor,
    /// The layer descriptors.
    pub layers: Vec<Descriptor>,
}

/// What [`seed_index`] pushed.
#[derive(Debug, Clone)]
pub struct SeededIndex {
    /// Digest of the manifest list / index.
    pub digest: String,
    /// Raw bytes of the manifest list / index.
    pub manifest: Vec<u8>,
    /// Its media type.
    pub media_type: String,
    /// The per-platform images (pushed by digest).
    pub images: Vec<SeededImage>,
}

/// Manifest format for generated images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Docker v2s2 / manifest list.
    Docker,
    /// OCI manifest / index.
    Oci,
}

fn fnv(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

async fn seed_image_with(
    c: &RawClient,
    repo: &str,
    reference: Option<&str>,
    arch: &str,
    layers: usize,
    format: Format,
    salt: &str,
) -> Result<SeededImage> {
    let (manifest_type, config_type, layer_type) = match format {
        Format::Docker => (media::DOCKER_MANIFEST, media::DOCKER_CONFIG, media::DOCKER_LAYER),
        Format::Oci => (media::OCI_MANIFEST, media::OCI_CONFIG, media::OCI_LAYER),
    };
    let mut diff_ids = Vec::new();
    let mut descs = Vec::new();
    for i in 0..layers {
        let l = layer(fnv(&[repo, salt, arch, &i.to_string()]), 1024 + 512 * i);
        push_blob_with(c, repo, &l.blob).await?;
        descs.push(Descriptor::of(layer_type, &l.blob));
        diff_ids.push(l.diff_id);
    }
    let config = config_json_with_diff_ids(arch, "linux", &diff_ids);
    push_blob_with(c, repo, &config).await?;
    let config = Descriptor::of(config_type, &config);
    let manifest = match format {
        Format::Docker => docker_manifest(&config, &descs),
        Format::Oci => oci_manifest(&config, &descs),
    };
    let digest = sha256_digest(&manifest);
    push_manifest_with(c, repo, reference.unwrap_or(&digest), manifest_type, &manifest).await?;
    Ok(SeededImage {
        digest,
        manifest,
        media_type: manifest_type.into(),
        config,
        layers: descs,
    })
}

/// Pushes a Docker v2s2 image for `linux/arch` with `layers` small
/// generated layers (deterministic for a given repo/tag/arch) and tags it.
pub async fn seed_image(
    ep: impl Into<Endpoint>,
    repo: &str,
    tag: &str,
    arch: &str,
    layers: usize,
) -> Result<SeededImage> {
    let c = RawClient::new(ep)?;
    seed_image_with(&c, repo, Some(tag), arch, layers, Format::Docker, tag).await
}

/// Like [`seed_image`] with an OCI manifest.
pub async fn seed_oci_image(
    ep: impl Into<Endpoint>,
    repo: &str,
    tag: &str,
    arch: &str,
    layers: usize,
) -> Result<SeededImage> {
    let c = RawClient::new(ep)?;
    seed_image_with(&c, repo, Some(tag), arch, layers, Format::Oci, tag).await
}

/// Pushes one image per architecture (by digest, 2 layers each) and a
/// manifest list (`Format::Docker`) or OCI index (`Format::Oci`) tagged `tag`.
pub async fn seed_index(
    ep: impl Into<Endpoint>,
    repo: &str,
    tag: &str,
    arches: &[&str],
    format: Format,
) -> Result<SeededIndex> {
    let c = RawClient::new(ep)?;
    let mut images = Vec::new();
    let mut entries = Vec::new();
    for arch in arches {
        let img = seed_image_with(&c, repo, None, arch, 2, format, tag).await?;
        entries.push(Descriptor::of(&img.media_type, &img.manifest).with_platform(arch, "linux"));
        images.push(img);
    }
    let (manifest, media_type) = match format {
        Format::Docker => (docker_manifest_list(&entries), media::DOCKER_MANIFEST_LIST),
        Format::Oci => (oci_index(&entries), media::OCI_INDEX),
    };
    let digest = push_manifest_with(&c, repo, tag, media_type, &manifest).await?;
    Ok(SeededIndex {
        digest,
        manifest,
        media_type: media_type.into(),
        images,
    })
}

/// Blocking versions of the pushers, for sync tests (they run on the
/// testkit's own runtime, so they also work inside `#[tokio::test]`).
pub mod blocking {
    use super::*;
    use crate::rt::block_on;

    /// See [`super::push_blob`].
    pub fn push_blob(ep: impl Into<Endpoint>, repo: &str, bytes: &[u8]) -> Result<String> {
        let (ep, repo, bytes) = (ep.into(), repo.to_string(), bytes.to_vec());
        block_on(async move { super::push_blob(ep, &repo, &bytes).await })
    }

    /// See [`super::push_manifest`].
    pub fn push_manifest(
        ep: impl Into<Endpoint>,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<String> {
        let (ep, repo, reference, mt, bytes) = (
            ep.into(),
            repo.to_string(),
            reference.to_string(),
            media_type.to_string(),
            bytes.to_vec(),
        );
        block_on(async move { super::push_manifest(ep, &repo, &reference, &mt, &bytes).await })
    }

    /// See [`super::fetch_manifest`].
    pub fn fetch_manifest(
        ep: impl Into<Endpoint>,
        repo: &str,
        reference: &str,
    ) -> Result<Option<(String, Vec<u8>)>> {
        let (ep, repo, reference) = (ep.into(), repo.to_string(), reference.to_string());
        block_on(async move { super::fetch_manifest(ep, &repo, &reference).await })
    }

    /// See [`super::fetch_blob`].
    pub fn fetch_blob(ep: impl Into<Endpoint>, repo: &str, digest: &str) -> Result<Option<Vec<u8>>> {
        let (ep, repo, digest) = (ep.into(), repo.to_string(), digest.to_string());
        block_on(async move { super::fetch_blob(ep, &repo, &digest).await })
    }

    /// See [`super::list_tags`].
    pub fn list_tags(ep: impl Into<Endpoint>, repo: &str) -> Result<Vec<String>> {
        let (ep, repo) = (ep.into(), repo.to_string());
        block_on(async move { super::list_tags(ep, &repo).await })
    }

    /// See [`super::delete_manifest`].
    pub fn delete_manifest(ep: impl Into<Endpoint>, repo: &str, digest: &str) -> Result<()> {
        let (ep, repo, digest) = (ep.into(), repo.to_string(), digest.to_string());
        block_on(async move { super::delete_manifest(ep, &repo, &digest).await })
    }

    /// See [`super::seed_image`].
    pub fn seed_image(
        ep: impl Into<Endpoint>,
        repo: &str,
        tag: &str,
        arch: &str,
        layers: usize,
    ) -> Result<SeededImage> {
        let (ep, repo, tag, arch) = (ep.into(), repo.to_string(), tag.to_string(), arch.to_string());
        block_on(async move { super::seed_image(ep, &repo, &tag, &arch, layers).await })
    }

    /// See [`super::seed_oci_image`].
    pub fn seed_oci_image(
        ep: impl Into<Endpoint>,
        repo: &str,
        tag: &str,
        arch: &str,
        layers: usize,
    ) -> Result<SeededImage> {
        let (ep, repo, tag, arch) = (ep.into(), repo.to_string(), tag.to_string(), arch.to_string());
        block_on(async move { super::seed_oci_image(ep, &repo, &tag, &arch, layers).await })
    }

    /// See [`super::seed_index`].
    pub fn seed_index(
        ep: impl Into<Endpoint>,
        repo: &str,
        tag: &str,
        arches: &[&str],
        format: Format,
    ) -> Result<SeededIndex> {
        let (ep, repo, tag) = (ep.into(), repo.to_string(), tag.to_string());
        let arches: Vec<String> = arches.iter().map(|s| s.to_string()).collect();
        block_on(async move {
            let a: Vec<&str> = arches.iter().map(String::as_str).collect();
            super::seed_index(ep, &repo, &tag, &a, format).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_are_gzip_tar_and_deterministic() {
        let a = layer(1, 3000);
        let b = layer(1, 3000);
        assert_eq!(a.blob, b.blob);
        assert_ne!(layer(2, 3000).blob, a.blob);
        assert_eq!(&a.blob[..2], &[0x1f, 0x8b]);
        let mut tar = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&a.blob[..]), &mut tar).unwrap();
        assert_eq!(tar.len() % 512, 0);
        assert_eq!(&tar[257..262], b"ustar");
        assert_eq!(sha256_digest(&tar), a.diff_id);
        assert!(tar[512..3512].iter().any(|b| *b != 0));
    }

    #[test]
    fn manifests_have_unusual_layout() {
        let cfg = Descriptor::of(media::DOCKER_CONFIG, &config_json("amd64", "linux"));
        let m = docker_manifest(&cfg, &[]);
        let s = String::from_utf8(m.clone()).unwrap();
        assert!(s.ends_with("}\n"));
        assert!(s.contains("\n   \"schemaVersion\": 2,"));
        let v: serde_json::Value = serde_json::from_slice(&m).unwrap();
        assert_eq!(v["config"]["digest"], cfg.digest.as_str());
        let idx = oci_index(&[Descriptor::of(media::OCI_MANIFEST, b"x").with_platform("arm64", "linux")]);
        let v: serde_json::Value = serde_json::from_slice(&idx).unwrap();
        assert_eq!(v["manifests"][0]["platform"]["architecture"], "arm64");
        assert!(v["manifests"][0]["platform"].get("variant").is_none());
    }
}
