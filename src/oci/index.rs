//! The files of one OCI image layout: `oci-layout` and `index.json` (read strictly, written
//! atomically, unknown fields kept).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::fsutil::{corrupt, create_dir_all, read_small, write_atomic};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest::media;

/// The reference name skopeo and podman look up (`oci:<dir>:<ref.name>`).
pub const ANN_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// When the reference was written (RFC 3339, UTC).
pub const ANN_CREATED: &str = "org.opencontainers.image.created";
/// The release (the layout's folder name).
pub const ANN_RELEASE: &str = "io.rdoproject.copy-containers.release";
/// The DLRN hash the image belongs to (set with `Layout::with_hash`, else the tag).
pub const ANN_HASH: &str = "io.rdoproject.copy-containers.hash";
/// The registry repository path the image was written for (`tripleomaster/openstack-nova-compute`).
pub const ANN_REPOSITORY: &str = "io.rdoproject.copy-containers.repository";
/// The registry host the image was read from (`quay.io`), when the layout was given it: with the
/// repository and the hash, what a kept copy is (reuse and cleanup match all three).
pub const ANN_SOURCE: &str = "io.rdoproject.copy-containers.source";
/// The container name without prefix (`nova-compute`), when the prefix was given.
pub const ANN_NAME: &str = "io.rdoproject.copy-containers.name";

/// Largest `index.json` we read.
const INDEX_LIMIT: u64 = 64 << 20;

pub(crate) const OCI_LAYOUT: &str = "oci-layout";
pub(crate) const INDEX_JSON: &str = "index.json";
pub(crate) const OCI_LAYOUT_BYTES: &[u8] = b"{\"imageLayoutVersion\": \"1.0.0\"}\n";

/// `index.json`: an OCI image index.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct IndexFile {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<IndexEntry>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// One descriptor of `index.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct IndexEntry {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl IndexFile {
    pub fn empty() -> IndexFile {
        IndexFile {
            schema_version: 2,
            media_type: Some(media::OCI_INDEX.to_string()),
            manifests: Vec::new(),
            other: Map::new(),
        }
    }

    /// Parse `index.json` bytes read from `path`.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<IndexFile> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(corrupt(path, "empty index.json (truncated?)"));
        }
        let idx: IndexFile = serde_json::from_slice(bytes).map_err(|e| {
            corrupt(
                path,
                format!("not a valid OCI image index (truncated or garbage?): {e}"),
            )
        })?;
        if idx.schema_version != 2 {
            return Err(corrupt(
                path,
                format!("schemaVersion {} (an OCI image index has 2)", idx.schema_version),
            ));
        }
        if let Some(mt) = &idx.media_type {
            if mt != media::OCI_INDEX {
                return Err(corrupt(
                    path,
                    format!("mediaType {mt:?} is not {}", media::OCI_INDEX),
                ));
            }
        }
        Ok(idx)
    }

    /// Read `<dir>/index.json`; `Ok(None)` when it does not exist.
    pub fn load(dir: &Path) -> Result<Option<IndexFile>> {
        let path = dir.join(INDEX_JSON);
        match read_small(&path, INDEX_LIMIT)? {
            None => Ok(None),
            Some(b) => IndexFile::parse(&path, &b).map(Some),
        }
    }

    /// Write `<dir>/index.json` atomically.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let mut bytes = serde_json::to_vec_pretty(self).map_err(|e| corrupt(dir, e.to_string()))?;
        bytes.push(b'\n');
        write_atomic(&dir.join(INDEX_JSON), &bytes)
    }

    /// Index of the entry named `ref_name`.
    pub fn position(&self, ref_name: &str) -> Option<usize> {
        self.manifests.iter().position(|e| e.ref_name() == Some(ref_name))
    }
}

impl IndexEntry {
    pub fn ref_name(&self) -> Option<&str> {
        self.annotations.get(ANN_REF_NAME).map(String::as_str)
    }

    /// (container, tag) from the reference name: `openstack-nova-compute:tag` and
    /// `quay.io/tripleomaster/openstack-nova-compute:tag` → (`openstack-nova-compute`, `tag`); a name
    /// without ':' is all tag (what `skopeo copy … oci:dir:tag` writes); no name → ("", "").
    pub fn container_and_tag(&self) -> (String, String) {
        match self.ref_name() {
            None => (String::new(), String::new()),
            Some(r) => match r.rsplit_once(':') {
                Some((c, t)) if !t.contains('/') => {
                    (c.rsplit('/').next().unwrap_or(c).to_string(), t.to_string())
                }
                _ => (String::new(), r.to_string()),
            },
        }
    }

    /// An annotation's value.
    pub fn ann(&self, key: &str) -> Option<&str> {
        self.annotations.get(key).map(String::as_str)
    }
}

/// Check `<dir>/oci-layout`: present and `imageLayoutVersion` 1.0.0 (else [`Error::Local`]: the
/// folder is not a layout; an I/O error as it came).
pub(crate) fn check_oci_layout(dir: &Path) -> Result<()> {
    let path = dir.join(OCI_LAYOUT);
    let not_layout = |what: String| Err(Error::Local(format!("{}: {what}", path.display())));
    let bytes = match read_small(&path, 1 << 20)? {
        Some(b) => b,
        None => return not_layout("missing".into()),
    };
    #[derive(Deserialize)]
    struct L {
        #[serde(rename = "imageLayoutVersion")]
        version: String,
    }
    match serde_json::from_slice::<L>(&bytes) {
        Ok(l) if l.version == "1.0.0" => Ok(()),
        Ok(l) => not_layout(format!("imageLayoutVersion {:?}, expected \"1.0.0\"", l.version)),
        Err(e) => not_layout(format!("not a valid oci-layout file: {e}")),
    }
}

/// Make `dir` a (possibly empty) OCI layout: folders, `oci-layout`, `index.json`. Existing files are
/// left alone.
pub(crate) fn ensure_layout(dir: &Path) -> Result<()> {
    create_dir_all(&dir.join("blobs").join("sha256"))?;
    if !dir.join(OCI_LAYOUT).exists() {
        write_atomic(&dir.join(OCI_LAYOUT), OCI_LAYOUT_BYTES)?;
    }
    if !dir.join(INDEX_JSON).exists() {
        IndexFile::empty().save(dir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_keeps_unknown_fields_and_rejects_garbage() {
        let p = Path::new("/x/index.json");
        let d = Digest::sha256(b"m");
        let text = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{}","digest":"{d}","size":1,"platform":{{"os":"linux"}},"annotations":{{"{ANN_REF_NAME}":"openstack-a:t1"}}}}],"annotations":{{"k":"v"}}}}"#,
            media::OCI_MANIFEST
        );
        let idx = IndexFile::parse(p, text.as_bytes()).unwrap();
        assert_eq!(idx.manifests[0].ref_name(), Some("openstack-a:t1"));
        assert_eq!(
            idx.manifests[0].container_and_tag(),
            ("openstack-a".into(), "t1".into())
        );
        let out = serde_json::to_string(&idx).unwrap();
        assert!(
            out.contains("\"platform\"") && out.contains("\"k\":\"v\""),
            "{out}"
        );
        assert_eq!(idx.position("openstack-a:t1"), Some(0));

        for bad in [
            "",
            "  \n",
            "{",
            "{}",
            "[]",
            r#"{"schemaVersion":1,"manifests":[]}"#,
            r#"{"schemaVersion":2,"manifests":[{"mediaType":"x","digest":"sha256:zz","size":1}]}"#,
            r#"{"schemaVersion":2,"mediaType":"application/json","manifests":[]}"#,
        ] {
            let err = IndexFile::parse(p, bad.as_bytes()).unwrap_err().to_string();
            assert!(err.contains("/x/index.json"), "{bad:?}: {err}");
        }
    }
}
