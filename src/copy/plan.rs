//! The pure half of a batch: which source images to resolve, what each destination lacks once its
//! tags have been looked at, and which (blob, destination repository) transfers that makes — each
//! once, however many requests share it. No I/O here, so the deduplication is unit-tested.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::{Action, CopyRequest, Endpoint, Fault, SourceImage};
use crate::digest::Digest;
use crate::manifest::{Descriptor, Manifest};

/// One blob one destination repository needs.
#[derive(Clone, Debug)]
pub struct BlobNeed {
    pub descriptor: Descriptor,
    pub source: Endpoint,
    pub dest: Endpoint,
    /// Destinations waiting for it.
    pub users: Vec<DestId>,
}

/// A repository known to hold a blob.
#[derive(Clone, Debug)]
pub(super) struct Holding {
    pub digest: Digest,
    pub registry: String,
    pub repo: String,
}

/// A source image as requests name it: registry, repository, tag or digest.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) struct SourceKey {
    registry: String,
    repo: String,
    reference: String,
}

impl SourceKey {
    pub(super) fn of(r: &CopyRequest) -> SourceKey {
        SourceKey {
            registry: r.source.registry.name().to_string(),
            repo: r.source.repo.clone(),
            reference: r.reference.clone(),
        }
    }

    pub(super) fn reference(&self) -> &str {
        &self.reference
    }
}

/// One source image to resolve.
pub(super) struct Source {
    pub key: SourceKey,
    pub endpoint: Endpoint,
    /// The manifest a caller already fetched.
    pub known: Option<Manifest>,
}

/// Each resolved source image, or why it could not be.
pub(super) type Resolved = HashMap<SourceKey, Result<Arc<SourceImage>, Fault>>;

/// One destination of one request: indices into the requests and their `dests`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct DestId {
    pub req: usize,
    pub dest: usize,
}

/// Each distinct source image once, in key order. When several requests name the same image, the
/// last one's endpoint and known manifest are used.
pub(super) fn distinct_sources(requests: &[CopyRequest]) -> Vec<Source> {
    let mut by_key: BTreeMap<SourceKey, (Endpoint, Option<Manifest>)> = BTreeMap::new();
    for r in requests {
        by_key.insert(SourceKey::of(r), (r.source.clone(), r.known.clone()));
    }
    by_key
        .into_iter()
        .map(|(key, (endpoint, known))| Source { key, endpoint, known })
        .collect()
}

/// A destination to look at: its tags, and the image they should point at.
pub(super) struct Probe {
    pub at: DestId,
    pub dest: Endpoint,
    pub tags: Vec<String>,
    pub image: Arc<SourceImage>,
}

/// Every destination of every request whose source resolved, in request order.
pub(super) fn probes(requests: &[CopyRequest], resolved: &Resolved) -> Vec<Probe> {
    let mut out = Vec::new();
    for (req, r) in requests.iter().enumerate() {
        let Ok(image) = &resolved[&SourceKey::of(r)] else {
            continue;
        };
        for (dest, (endpoint, tags)) in r.dests.iter().enumerate() {
            out.push(Probe {
                at: DestId { req, dest },
                dest: endpoint.clone(),
                tags: tags.clone(),
                image: image.clone(),
            });
        }
    }
    out
}

/// What one destination of one request lacks, as its HEADs told.
pub(super) struct DestGap {
    pub at: DestId,
    pub image: Arc<SourceImage>,
    /// Digest each tag pointed at before (None when absent).
    pub previous: BTreeMap<String, Option<Digest>>,
    /// Tags not yet pointing at the image.
    pub missing_tags: Vec<String>,
    /// A list's children absent by digest (only looked for when the root is absent).
    pub missing_children: Vec<Manifest>,
    /// The image is absent by digest (not only under some tags).
    pub root_missing: bool,
}

impl DestGap {
    /// Every tag already points at the image.
    pub fn complete(&self) -> bool {
        self.missing_tags.is_empty()
    }

    /// What happens to each tag: missing ones are copied (or would be, in a dry run).
    pub fn tag_actions(&self, dry_run: bool) -> BTreeMap<String, Action> {
        let copy = if dry_run {
            Action::WouldCopy
        } else {
            Action::Copied
        };
        self.previous
            .keys()
            .map(|t| {
                let action = if self.missing_tags.contains(t) {
                    copy
                } else {
                    Action::AlreadyPresent
                };
                (t.clone(), action)
            })
            .collect()
    }

    /// The image manifests whose blobs must be at the destination before the push: none when the
    /// image is there by digest (only tags move), else the image itself or the list's missing children.
    fn manifests_to_fill(&self) -> Vec<&Manifest> {
        if !self.root_missing {
            vec![]
        } else if self.image.children.is_empty() {
            vec![&self.image.root]
        } else {
            self.missing_children.iter().collect()
        }
    }
}

/// Repositories where an image is already complete hold every blob of it: the blob phase mounts
/// from them instead of uploading again.
pub(super) fn complete_holders(requests: &[CopyRequest], gaps: &[DestGap]) -> Vec<Holding> {
    let mut out = Vec::new();
    for g in gaps.iter().filter(|g| g.complete()) {
        let dest = &requests[g.at.req].dests[g.at.dest].0;
        for b in g.image.blobs() {
            out.push(Holding {
                digest: b.digest,
                registry: dest.registry.name().to_string(),
                repo: dest.repo.clone(),
            });
        }
    }
    out
}

/// The blobs each destination repository needs, one need per (digest, registry, repository) with
/// every destination waiting for it as a user, in the order the gaps list them.
pub(super) fn blob_needs(requests: &[CopyRequest], gaps: &[DestGap]) -> Vec<BlobNeed> {
    let mut needs: Vec<BlobNeed> = Vec::new();
    let mut index: HashMap<(Digest, String, String), usize> = HashMap::new();
    for g in gaps {
        let r = &requests[g.at.req];
        let dest = &r.dests[g.at.dest].0;
        for m in g.manifests_to_fill() {
            for b in SourceImage::blobs_of(m) {
                let key = (
                    b.digest.clone(),
                    dest.registry.name().to_string(),
                    dest.repo.clone(),
                );
                let i = *index.entry(key).or_insert_with(|| {
                    needs.push(BlobNeed {
                        descriptor: b.clone(),
                        source: r.source.clone(),
                        dest: dest.clone(),
                        users: vec![],
                    });
                    needs.len() - 1
                });
                needs[i].users.push(g.at);
            }
        }
    }
    needs
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::copy::Place;
    use crate::registry::Registry;
    use crate::transport::RegistryConfig;
    use bytes::Bytes;

    pub(crate) fn endpoint(host: &str, repo: &str) -> Endpoint {
        let reg = Registry::new(RegistryConfig::new(host)).expect("registry");
        Endpoint::new(Place::from(reg), repo)
    }

    fn digest(n: u8) -> String {
        format!("sha256:{}", format!("{n:02x}").repeat(32))
    }

    /// An image manifest with a config and the given layers (digests from `digest(n)`).
    pub(crate) fn image(config: u8, layers: &[u8]) -> Manifest {
        let desc = |mt: &str, n: u8| format!(r#"{{"mediaType":"{mt}","size":{n},"digest":"{}"}}"#, digest(n));
        let layers: Vec<String> = layers
            .iter()
            .map(|&n| desc("application/vnd.oci.image.layer.v1.tar+gzip", n))
            .collect();
        let json = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[{}]}}"#,
            desc("application/vnd.oci.image.config.v1+json", config),
            layers.join(",")
        );
        Manifest::from_bytes("r", "x", Bytes::from(json), None).expect("manifest")
    }

    fn request(source: &Endpoint, reference: &str, dests: Vec<(Endpoint, Vec<&str>)>) -> CopyRequest {
        CopyRequest {
            source: source.clone(),
            reference: reference.into(),
            dests: dests
                .into_iter()
                .map(|(e, tags)| (e, tags.into_iter().map(String::from).collect()))
                .collect(),
            known: None,
        }
    }

    fn gap(
        req: usize,
        dest: usize,
        image: &Arc<SourceImage>,
        missing: &[&str],
        root_missing: bool,
    ) -> DestGap {
        DestGap {
            at: DestId { req, dest },
            image: image.clone(),
            previous: missing.iter().map(|t| (t.to_string(), None)).collect(),
            missing_tags: missing.iter().map(|t| t.to_string()).collect(),
            missing_children: vec![],
            root_missing,
        }
    }

    fn single(m: Manifest) -> Arc<SourceImage> {
        Arc::new(SourceImage {
            root: m,
            children: vec![],
            architectures: vec![],
        })
    }

    #[test]
    fn distinct_sources_once_each_in_key_order() {
        let a = endpoint("a:5000", "img");
        let b = endpoint("b:5000", "img");
        let requests = vec![
            request(&b, "t1", vec![]),
            request(&a, "t2", vec![]),
            request(&b, "t1", vec![]),
            request(&a, "t1", vec![]),
        ];
        let got: Vec<(String, String)> = distinct_sources(&requests)
            .iter()
            .map(|s| {
                (
                    s.endpoint.registry.name().to_string(),
                    s.key.reference().to_string(),
                )
            })
            .collect();
        let want = [("a:5000", "t1"), ("a:5000", "t2"), ("b:5000", "t1")];
        assert_eq!(got, want.map(|(r, t)| (r.to_string(), t.to_string())));
    }

    #[test]
    fn probes_skip_sources_that_failed() {
        let a = endpoint("a:5000", "img");
        let d = endpoint("d:5000", "img");
        let requests = vec![
            request(&a, "bad", vec![(d.clone(), vec!["x"])]),
            request(
                &a,
                "good",
                vec![(d.clone(), vec!["x"]), (d.clone(), vec!["y", "z"])],
            ),
        ];
        let mut resolved = Resolved::new();
        resolved.insert(
            SourceKey::of(&requests[0]),
            Err(super::super::Fault::other("gone")),
        );
        resolved.insert(SourceKey::of(&requests[1]), Ok(single(image(1, &[2]))));
        let got: Vec<(DestId, Vec<String>)> = probes(&requests, &resolved)
            .into_iter()
            .map(|p| (p.at, p.tags))
            .collect();
        assert_eq!(
            got,
            vec![
                (DestId { req: 1, dest: 0 }, vec!["x".to_string()]),
                (DestId { req: 1, dest: 1 }, vec!["y".to_string(), "z".to_string()]),
            ]
        );
    }

    #[test]
    fn tag_actions_copy_only_missing_tags() {
        let img = single(image(1, &[2]));
        let mut g = gap(0, 0, &img, &["new"], true);
        g.previous.insert("old".into(), Some(img.root.digest.clone()));
        let actions = g.tag_actions(false);
        assert_eq!(actions["new"], Action::Copied);
        assert_eq!(actions["old"], Action::AlreadyPresent);
        assert_eq!(g.tag_actions(true)["new"], Action::WouldCopy);
    }

    #[test]
    fn blob_needs_share_one_need_per_repository() {
        let src = endpoint("s:5000", "img");
        let d1 = endpoint("d:5000", "one");
        let d2 = endpoint("d:5000", "two");
        // Two requests for images sharing layer 2, both to d/one; a third destination d/two.
        let requests = vec![
            request(&src, "a", vec![(d1.clone(), vec!["a"]), (d2.clone(), vec!["a"])]),
            request(&src, "b", vec![(d1.clone(), vec!["b"])]),
        ];
        let a = single(image(1, &[2, 3]));
        let b = single(image(4, &[2]));
        let gaps = vec![
            gap(0, 0, &a, &["a"], true),
            gap(0, 1, &a, &["a"], true),
            gap(1, 0, &b, &["b"], true),
        ];
        let needs = blob_needs(&requests, &gaps);
        let shared: Vec<&BlobNeed> = needs
            .iter()
            .filter(|n| n.descriptor.digest.to_string() == digest(2))
            .collect();
        assert_eq!(shared.len(), 2, "one need per repository holding layer 2");
        assert_eq!(shared[0].dest.repo, "one");
        assert_eq!(
            shared[0].users,
            vec![DestId { req: 0, dest: 0 }, DestId { req: 1, dest: 0 }]
        );
        assert_eq!(shared[1].users, vec![DestId { req: 0, dest: 1 }]);
        // a: config 1 + layers 2, 3 at two repositories; b: config 4 (layer 2 shared) at one.
        assert_eq!(needs.len(), 3 + 3 + 1);
    }

    #[test]
    fn blob_needs_skip_images_present_by_digest() {
        let src = endpoint("s:5000", "img");
        let d = endpoint("d:5000", "img");
        let requests = vec![request(&src, "a", vec![(d, vec!["a"])])];
        let gaps = vec![gap(0, 0, &single(image(1, &[2])), &["a"], false)];
        assert!(blob_needs(&requests, &gaps).is_empty(), "only a tag moves");
    }

    #[test]
    fn complete_images_are_holders_of_their_blobs() {
        let src = endpoint("s:5000", "img");
        let d = endpoint("d:5000", "there");
        let requests = vec![request(&src, "a", vec![(d.clone(), vec!["a"]), (d, vec!["b"])])];
        let img = single(image(1, &[2]));
        let gaps = vec![gap(0, 0, &img, &[], false), gap(0, 1, &img, &["b"], true)];
        let held: Vec<(String, String)> = complete_holders(&requests, &gaps)
            .into_iter()
            .map(|h| (h.digest.to_string(), h.repo))
            .collect();
        assert_eq!(
            held,
            vec![(digest(1), "there".into()), (digest(2), "there".into())]
        );
    }
}
