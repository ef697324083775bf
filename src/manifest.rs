//! Manifests as raw bytes plus what we read from them. The bytes are what we copy and push (never
//! re-serialised, so digests survive); parsing (with `oci-spec` types) is for inspection and for
//! finding the blobs and children a manifest refers to. A blob's bytes travel as a [`BlobStream`],
//! whichever place (registry, local layout) they come from or go to.

use bytes::Bytes;
use oci_spec::image::{ImageIndex, ImageManifest};
use serde::Serialize;

use crate::digest::Digest;
use crate::error::{Error, Result};

/// A blob's bytes as they arrive; the last item is an error if the digest or size did not match.
pub type BlobStream = std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<Bytes>> + Send>>;

/// Media types we know.
pub mod media {
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const DOCKER_V2S2: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_V2S1: &str = "application/vnd.docker.distribution.manifest.v1+json";
    pub const DOCKER_V2S1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

    /// The Accept header for manifest requests: all four, so a list is never silently resolved to
    /// its amd64 child.
    pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

    pub fn is_index(mt: &str) -> bool {
        mt == OCI_INDEX || mt == DOCKER_LIST
    }

    pub fn is_image(mt: &str) -> bool {
        mt == OCI_MANIFEST || mt == DOCKER_V2S2
    }

    pub fn is_schema1(mt: &str) -> bool {
        mt == DOCKER_V2S1 || mt == DOCKER_V2S1_SIGNED
    }
}

/// A manifest as fetched: exact bytes, media type and digest (sha256 of the bytes).
#[derive(Clone, Debug)]
pub struct Manifest {
    pub bytes: Bytes,
    pub media_type: String,
    pub digest: Digest,
}

/// A reference to content: what a manifest says about a blob or a child manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
}

/// A child of an index / manifest list, with its platform.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Child {
    pub descriptor: Descriptor,
    pub architecture: Option<String>,
    pub os: Option<String>,
    pub variant: Option<String>,
}

/// What a manifest contains.
#[derive(Clone, Debug)]
pub enum Content {
    Image {
        config: Descriptor,
        layers: Vec<Descriptor>,
    },
    Index {
        children: Vec<Child>,
    },
}

impl Manifest {
    /// Wrap bytes fetched from `registry`; `content_type` is the response header if any. Detects the
    /// media type from the body when the header is missing or generic, and refuses schema 1.
    pub fn from_bytes(
        registry: &str,
        what: &str,
        bytes: Bytes,
        content_type: Option<&str>,
    ) -> Result<Manifest> {
        let digest = Digest::sha256(&bytes);
        let header = content_type
            .map(|c| c.split(';').next().unwrap_or("").trim().to_string())
            .filter(|c| {
                !c.is_empty()
                    && c != "application/json"
                    && c != "text/plain"
                    && c != "application/octet-stream"
            });
        let media_type = match header {
            Some(h) => h,
            None => sniff_media_type(&bytes).ok_or_else(|| Error::Unsupported {
                registry: registry.to_string(),
                what: what.to_string(),
                reason: "the manifest has no recognisable media type".into(),
            })?,
        };
        if media::is_schema1(&media_type) || sniff_schema1(&bytes) {
            return Err(Error::Unsupported {
                registry: registry.to_string(),
                what: what.to_string(),
                reason:
                    "Docker schema 1 manifest: not supported (modern registries refuse it and \
                         converting would change the digest); rebuild or re-push the image as schema 2 or OCI"
                        .into(),
            });
        }
        Ok(Manifest {
            bytes,
            media_type,
            digest,
        })
    }

    pub fn is_index(&self) -> bool {
        media::is_index(&self.media_type)
    }

    /// Parse the content (blobs or children).
    pub fn content(&self) -> Result<Content> {
        parse_content(&self.media_type, &self.bytes)
    }

    pub fn descriptor(&self) -> Descriptor {
        Descriptor {
            media_type: self.media_type.clone(),
            digest: self.digest.clone(),
            size: self.bytes.len() as u64,
        }
    }
}

fn sniff_schema1(bytes: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct V {
        #[serde(rename = "schemaVersion")]
        schema_version: Option<u64>,
    }
    matches!(
        serde_json::from_slice::<V>(bytes),
        Ok(V {
            schema_version: Some(1)
        })
    )
}

/// Media type from the body: its `mediaType` field, or its shape.
pub fn sniff_media_type(bytes: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    if let Some(mt) = v.get("mediaType").and_then(|m| m.as_str()) {
        return Some(mt.to_string());
    }
    if v.get("schemaVersion").and_then(|s| s.as_u64()) == Some(1) {
        return Some(media::DOCKER_V2S1_SIGNED.to_string());
    }
    if v.get("manifests").is_some() {
        return Some(media::OCI_INDEX.to_string());
    }
    if v.get("layers").is_some() && v.get("config").is_some() {
        return Some(media::OCI_MANIFEST.to_string());
    }
    None
}

fn bad_manifest(e: impl std::error::Error + 'static) -> Error {
    // oci-spec's own message is generic ("serde failed"): keep the causes underneath too.
    Error::invalid("manifest", "(content)", crate::error::error_chain(&e))
}

fn descriptor(d: &oci_spec::image::Descriptor) -> Result<Descriptor> {
    Ok(Descriptor {
        media_type: d.media_type().to_string(),
        digest: d.digest().to_string().parse()?,
        size: d.size(),
    })
}

/// Every `digest` a manifest names must be a digest: checked first so the error quotes the bad value.
fn check_digests(bytes: &[u8]) -> Result<()> {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Ok(()); // the parser below says what is wrong with the JSON itself
    };
    let descs = std::iter::once(v.get("config"))
        .flatten()
        .chain(v.get("layers").and_then(|l| l.as_array()).into_iter().flatten())
        .chain(
            v.get("manifests")
                .and_then(|l| l.as_array())
                .into_iter()
                .flatten(),
        );
    for d in descs {
        if let Some(s) = d.get("digest").and_then(|x| x.as_str()) {
            s.parse::<Digest>()?;
        }
    }
    Ok(())
}

/// The most children a manifest list may name. A real multi-arch image names a few dozen at most
/// (every platform Go builds for is about 20; BuildKit's attestation manifests double that), RDO's
/// name two; a list within the 4 MiB manifest cap could name some 20,000, each one a GET. Beyond
/// this the list is refused as it is read, before any child is fetched.
pub const MAX_LIST_CHILDREN: usize = 256;

/// Most layers an image manifest may name. The container engines stop at 127 (overlay's limit of
/// 128 lower directories), so no image that runs gets near this; a manifest within the 4 MiB cap
/// could name some 20,000, each one a blob request and a transfer. Beyond this the image is refused
/// as its manifest is read, before any blob request.
pub const MAX_LAYERS: usize = 1000;

/// Parse a manifest body of a given media type.
pub fn parse_content(media_type: &str, bytes: &[u8]) -> Result<Content> {
    check_digests(bytes)?;
    if media::is_index(media_type) {
        let idx = ImageIndex::from_reader(bytes).map_err(bad_manifest)?;
        let n = idx.manifests().len();
        if n > MAX_LIST_CHILDREN {
            return Err(Error::invalid(
                "manifest list",
                "(content)",
                format!(
                    "it names {n} images, more than the {MAX_LIST_CHILDREN} a list may have (a real \
                     multi-arch image names a few dozen at most): refused before fetching any"
                ),
            ));
        }
        let children = idx
            .manifests()
            .iter()
            .map(|d| {
                Ok(Child {
                    descriptor: descriptor(d)?,
                    architecture: d.platform().as_ref().map(|p| p.architecture().to_string()),
                    os: d.platform().as_ref().map(|p| p.os().to_string()),
                    variant: d.platform().as_ref().and_then(|p| p.variant().clone()),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Content::Index { children })
    } else if media::is_image(media_type) {
        let m = ImageManifest::from_reader(bytes).map_err(bad_manifest)?;
        let n = m.layers().len();
        if n > MAX_LAYERS {
            return Err(Error::invalid(
                "image manifest",
                "(content)",
                format!(
                    "it names {n} layers, more than the {MAX_LAYERS} an image may have (container \
                     engines stop at 127): refused before fetching any"
                ),
            ));
        }
        Ok(Content::Image {
            config: descriptor(m.config())?,
            layers: m.layers().iter().map(descriptor).collect::<Result<_>>()?,
        })
    } else {
        Err(Error::invalid(
            "manifest",
            "(content)",
            format!("unsupported media type {media_type:?}"),
        ))
    }
}

/// The platform an image config declares.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ConfigPlatform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// Read `architecture`/`os`/`variant` from an image config blob.
pub fn config_platform(config: &[u8]) -> Result<ConfigPlatform> {
    serde_json::from_slice(config).map_err(|e| Error::invalid("image config", "(content)", e.to_string()))
}

/// Build a Docker manifest list (what `docker manifest` produced, readable by every runtime) from
/// children in order. Serialised compactly and deterministically, so the same inputs give the same
/// digest on every run (idempotent promotions).
pub fn build_docker_list(children: &[(Descriptor, ConfigPlatform)]) -> Bytes {
    let manifests: Vec<serde_json::Value> = children
        .iter()
        .map(|(d, p)| {
            let mut platform = serde_json::json!({"architecture": p.architecture, "os": p.os});
            if let Some(v) = &p.variant {
                platform["variant"] = serde_json::Value::String(v.clone());
            }
            serde_json::json!({
                "mediaType": d.media_type,
                "size": d.size,
                "digest": d.digest.as_str(),
                "platform": platform,
            })
        })
        .collect();
    let list = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media::DOCKER_LIST,
        "manifests": manifests,
    });
    Bytes::from(serde_json::to_vec_pretty(&list).expect("JSON values serialise"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const V2S2: &str = r#"{
   "schemaVersion": 2,
   "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
   "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7, "digest": "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
   "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 3, "digest": "sha256:ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"}]
}"#;

    #[test]
    fn a_list_may_name_at_most_the_cap() {
        let list = |n: usize| {
            let children: Vec<_> = (0..n)
                .map(|i| {
                    let d = Descriptor {
                        media_type: media::DOCKER_V2S2.into(),
                        digest: Digest::sha256(i.to_string().as_bytes()),
                        size: 7,
                    };
                    let p = ConfigPlatform {
                        architecture: format!("arch{i}"),
                        os: "linux".into(),
                        variant: None,
                    };
                    (d, p)
                })
                .collect();
            build_docker_list(&children)
        };
        match parse_content(media::DOCKER_LIST, &list(MAX_LIST_CHILDREN)).unwrap() {
            Content::Index { children } => assert_eq!(children.len(), MAX_LIST_CHILDREN),
            _ => panic!("not a list"),
        }
        let e = parse_content(media::DOCKER_LIST, &list(MAX_LIST_CHILDREN + 1))
            .unwrap_err()
            .to_string();
        assert!(e.contains("it names 257 images, more than the 256"), "{e}");
    }

    #[test]
    fn an_image_naming_too_many_layers_is_refused() {
        let image = |n: usize| {
            let layer = |i: usize| {
                format!(
                    r#"{{"mediaType":"{}","size":1,"digest":"{}"}}"#,
                    media::DOCKER_LAYER_GZIP,
                    Digest::sha256(&i.to_be_bytes())
                )
            };
            let layers: Vec<String> = (0..n).map(layer).collect();
            format!(
                r#"{{"schemaVersion":2,"mediaType":"{}","config":{},"layers":[{}]}}"#,
                media::DOCKER_V2S2,
                layer(usize::MAX).replace(media::DOCKER_LAYER_GZIP, media::DOCKER_CONFIG),
                layers.join(",")
            )
        };
        match parse_content(media::DOCKER_V2S2, image(MAX_LAYERS).as_bytes()).unwrap() {
            Content::Image { layers, .. } => assert_eq!(layers.len(), MAX_LAYERS),
            _ => panic!("not an image"),
        }
        let e = parse_content(media::DOCKER_V2S2, image(MAX_LAYERS + 1).as_bytes())
            .unwrap_err()
            .to_string();
        assert!(e.contains("it names 1001 layers, more than the 1000"), "{e}");
    }

    #[test]
    fn parses_v2s2_keeping_bytes() {
        let m = Manifest::from_bytes("r", "x", Bytes::from_static(V2S2.as_bytes()), None).unwrap();
        assert_eq!(m.media_type, media::DOCKER_V2S2);
        assert_eq!(m.digest, Digest::sha256(V2S2.as_bytes()));
        match m.content().unwrap() {
            Content::Image { config, layers } => {
                assert_eq!(config.size, 7);
                assert_eq!(layers.len(), 1);
                assert_eq!(layers[0].media_type, media::DOCKER_LAYER_GZIP);
            }
            _ => panic!("not an image"),
        }
    }

    #[test]
    fn refuses_schema1() {
        let s1 = br#"{"schemaVersion": 1, "name": "a", "tag": "b", "fsLayers": []}"#;
        let err = Manifest::from_bytes("reg:5000", "a:b", Bytes::from_static(s1), None).unwrap_err();
        assert!(err.to_string().contains("schema 1"), "{err}");
        let err = Manifest::from_bytes(
            "reg",
            "a:b",
            Bytes::from_static(b"{}"),
            Some(media::DOCKER_V2S1_SIGNED),
        )
        .unwrap_err();
        assert!(err.to_string().contains("schema 1"));
    }

    #[test]
    fn list_round_trip_and_platforms() {
        let d = |s: &[u8]| Descriptor {
            media_type: media::DOCKER_V2S2.into(),
            digest: Digest::sha256(s),
            size: s.len() as u64,
        };
        let plat = |a: &str| ConfigPlatform {
            architecture: a.into(),
            os: "linux".into(),
            variant: None,
        };
        let bytes = build_docker_list(&[(d(b"x"), plat("amd64")), (d(b"p"), plat("ppc64le"))]);
        assert_eq!(
            bytes,
            build_docker_list(&[(d(b"x"), plat("amd64")), (d(b"p"), plat("ppc64le"))])
        );
        let m = Manifest::from_bytes("r", "l", bytes, Some(media::DOCKER_LIST)).unwrap();
        match m.content().unwrap() {
            Content::Index { children } => {
                let archs: Vec<_> = children.iter().map(|c| c.architecture.clone().unwrap()).collect();
                assert_eq!(archs, ["amd64", "ppc64le"]);
                assert_eq!(children[0].descriptor.digest, Digest::sha256(b"x"));
            }
            _ => panic!("not a list"),
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for body in [
            &b"not json"[..],
            b"{\"mediaType\": 3}",
            b"[]",
            b"{\"layers\": 1, \"config\": 2}",
        ] {
            let r =
                Manifest::from_bytes("r", "x", Bytes::copy_from_slice(body), None).and_then(|m| m.content());
            assert!(r.is_err());
        }
        assert!(config_platform(b"{\"architecture\": 5}").is_err());
        assert_eq!(
            config_platform(br#"{"architecture":"ppc64le","os":"linux"}"#)
                .unwrap()
                .architecture,
            "ppc64le"
        );
    }
}
