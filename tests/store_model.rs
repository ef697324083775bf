//! A property test of the local store against a model: random sequences of promotions (failed ones
//! keep their copies, successful ones remove their own), deletes (container, release, all, typos)
//! and fsck, over a real store on disk, driven through the store API exactly as a promotion uses it
//! (`Layout::with_source`/`with_hash` writes, `DeleteScope::Copies` cleanup) — registries would be
//! too slow for hundreds of sequences. After every step:
//!
//! - the store holds exactly what the model says: nothing kept is lost unless a delete or its own
//!   promotion's success removed it, and nothing else appears;
//! - nothing outside the store (a sibling folder) nor unrelated folders inside its root change;
//! - no temporary file of a dead run survives a write where its lock reaches (the root and the
//!   release written, or everywhere for the whole store's deletes); fsck finds no problem.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use copy_containers::digest::Digest;
use copy_containers::manifest::media;
use copy_containers::store::{DeleteOptions, DeleteScope, Layout, Store};
use copy_containers_testkit::seed;
use proptest::prelude::*;

const SOURCE: &str = "quay.io";
const RELEASES: [&str; 2] = ["master", "wallaby"];
const NAMESPACES: [&str; 2] = ["tripleomaster", "tripleomastr"];
const HASHES: [&str; 3] = ["aaaa1111_bbbb2222", "cccc3333_dddd4444", "eeee5555_ffff6666"];
const CONTAINERS: [&str; 3] = ["base", "nova-compute", "nova-api"];

/// A kept copy: (release, namespace, container, hash).
type Key = (String, String, String, String);

#[derive(Clone, Debug)]
enum Op {
    Promote {
        release: usize,
        ns: usize,
        hash: usize,
        containers: Vec<usize>,
        ok: bool,
    },
    DeleteContainer {
        container: usize,
        short: bool,
        release: Option<usize>,
    },
    DeleteRelease(usize),
    DeleteAll,
    /// A scope matching nothing, with `require_match`: an error, nothing touched.
    DeleteTypo,
    /// A run killed mid-write: its temporary files stay behind.
    Crash(usize),
    Fsck,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..2usize, 0..2usize, 0..3usize, proptest::sample::subsequence(vec![0usize, 1, 2], 1..=3), any::<bool>())
            .prop_map(|(release, ns, hash, containers, ok)| Op::Promote { release, ns, hash, containers, ok }),
        2 => (0..3usize, any::<bool>(), proptest::option::of(0..2usize))
            .prop_map(|(container, short, release)| Op::DeleteContainer { container, short, release }),
        1 => (0..2usize).prop_map(Op::DeleteRelease),
        1 => Just(Op::DeleteAll),
        1 => Just(Op::DeleteTypo),
        1 => (0..2usize).prop_map(Op::Crash),
        1 => Just(Op::Fsck),
    ]
}

fn repo(ns: &str, container: &str) -> String {
    format!("{ns}/openstack-{container}")
}

/// Write one image the way a kept copy is written: layers, config, then the tagged manifest.
async fn keep(l: &Layout, key: &Key) {
    let (_, ns, c, hash) = key;
    let repo = repo(ns, c);
    let salt = key_salt(key);
    let layers = [seed::layer(7, 2_000), seed::layer(salt, 1_000)];
    let mut descs = Vec::new();
    for layer in &layers {
        let d: Digest = layer.digest.parse().unwrap();
        l.upload_bytes(&repo, &d, Bytes::from(layer.blob.clone()))
            .await
            .unwrap();
        descs.push(seed::Descriptor::of(media::DOCKER_LAYER_GZIP, &layer.blob));
    }
    let diff_ids: Vec<String> = layers.iter().map(|l| l.diff_id.clone()).collect();
    let config = seed::config_json_with_diff_ids("amd64", "linux", &diff_ids);
    let cd = seed::Descriptor::of(media::DOCKER_CONFIG, &config);
    l.upload_bytes(&repo, &cd.digest.parse().unwrap(), Bytes::from(config))
        .await
        .unwrap();
    let manifest = seed::docker_manifest(&cd, &descs);
    l.put_manifest(&repo, hash, media::DOCKER_V2S2, Bytes::from(manifest))
        .await
        .unwrap();
}

fn key_salt(key: &Key) -> u64 {
    let (r, ns, c, h) = key;
    let text = format!("{r}/{ns}/{c}/{h}");
    text.bytes().fold(1469598103934665603u64, |a, b| {
        (a ^ u64::from(b)).wrapping_mul(1099511628211)
    })
}

/// What the store holds, as keys.
fn held(st: &Store) -> BTreeSet<Key> {
    st.list()
        .unwrap()
        .into_iter()
        .map(|i| {
            assert_eq!(i.source.as_deref(), Some(SOURCE), "{i:?}");
            let repo = i.repository.clone().unwrap();
            let (ns, name) = repo.split_once('/').unwrap();
            let c = name.strip_prefix("openstack-").unwrap();
            assert_eq!(i.hash.as_deref(), Some(i.tag.as_str()));
            (i.release, ns.to_string(), c.to_string(), i.tag)
        })
        .collect()
}

/// Every file and folder under `dir`, with the bytes of files.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                out.insert(p.clone(), vec![]);
                todo.push(p);
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// Temporary files anywhere under `dir`.
fn temps(dir: &Path) -> Vec<PathBuf> {
    snapshot(dir)
        .into_keys()
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(".tmp-"))
        .collect()
}

struct World {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    outside: PathBuf,
    st: Store,
    model: BTreeSet<Key>,
}

impl World {
    fn new() -> World {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("store");
        let st = Store::open(&root).unwrap();
        drop(st.lock().unwrap());
        // Someone's folder inside the root and a sibling of the store.
        std::fs::create_dir_all(root.join("scratch/sub")).unwrap();
        std::fs::write(root.join("scratch/sub/keep.txt"), b"keep").unwrap();
        let outside = tmp.path().join("outside");
        std::fs::create_dir_all(outside.join("projects")).unwrap();
        std::fs::write(outside.join("projects/main.rs"), b"fn main() {}").unwrap();
        World {
            _tmp: tmp,
            root,
            outside,
            st,
            model: BTreeSet::new(),
        }
    }

    fn layout(&self, release: &str, hash: &str) -> Layout {
        self.st
            .layout(release)
            .unwrap()
            .with_source(SOURCE)
            .with_hash(hash)
            .with_prefix("openstack")
    }

    async fn promote(&mut self, release: &str, ns: &str, hash: &str, containers: &[&str], ok: bool) {
        if !ok {
            let l = self.layout(release, hash);
            for c in containers {
                let key = (release.into(), ns.into(), c.to_string(), hash.into());
                keep(&l, &key).await;
                self.model.insert(key);
            }
            return;
        }
        let scope = DeleteScope::Copies {
            release: release.into(),
            source: SOURCE.into(),
            hash: hash.into(),
            repositories: containers.iter().map(|c| repo(ns, c)).collect(),
        };
        let r = self.st.delete(&scope, false).unwrap();
        assert!(r.ok(), "{r:?}");
        self.model.retain(|(r, n, c, h)| {
            !(r == release && n == ns && h == hash && containers.contains(&c.as_str()))
        });
    }

    fn delete(&mut self, scope: DeleteScope, keep: impl Fn(&Key) -> bool) {
        let dry = self.st.delete(&scope, true).unwrap();
        let r = self.st.delete(&scope, false).unwrap();
        assert!(r.ok(), "{r:?}");
        assert_eq!(
            dry.removed.len(),
            r.removed.len(),
            "the dry run planned what the delete did"
        );
        self.model.retain(keep);
    }

    async fn apply(&mut self, op: &Op) {
        match op.clone() {
            Op::Promote {
                release,
                ns,
                hash,
                containers,
                ok,
            } => {
                let cs: Vec<&str> = containers.iter().map(|&i| CONTAINERS[i]).collect();
                self.promote(RELEASES[release], NAMESPACES[ns], HASHES[hash], &cs, ok)
                    .await;
            }
            Op::DeleteContainer {
                container,
                short,
                release,
            } => {
                let c = CONTAINERS[container];
                let name = if short {
                    c.to_string()
                } else {
                    format!("openstack-{c}")
                };
                let rel = release.map(|i| RELEASES[i].to_string());
                let scope = DeleteScope::container(name, rel.clone());
                self.delete(scope, |(r, _, k, _)| {
                    !(k == c && rel.as_ref().is_none_or(|x| x == r))
                });
            }
            Op::DeleteRelease(i) => {
                let rel = RELEASES[i];
                self.delete(DeleteScope::Release(rel.into()), |(r, ..)| r != rel);
            }
            Op::DeleteAll => self.delete(DeleteScope::All, |_| false),
            Op::DeleteTypo => {
                // (Dead runs' temporary files may go: the delete took the lock.)
                let files = |root: &Path| {
                    let mut s = snapshot(root);
                    s.retain(|p, _| !p.file_name().unwrap().to_string_lossy().starts_with(".tmp-"));
                    s
                };
                let before = files(&self.root);
                let opts = DeleteOptions {
                    dry_run: false,
                    require_match: true,
                };
                for scope in [
                    DeleteScope::container("nova-computer", None),
                    DeleteScope::Release("mastr".into()),
                ] {
                    let e = self.st.delete_with(&scope, opts).unwrap_err().to_string();
                    assert!(e.contains("matches"), "{e}");
                }
                assert_eq!(files(&self.root), before, "a delete of nothing touched the store");
            }
            Op::Crash(i) => {
                let dir = self.root.join(RELEASES[i]).join("blobs/sha256");
                if dir.is_dir() {
                    std::fs::write(dir.join(".tmp-4000001-7-00000000-dead"), b"partial").unwrap();
                }
                std::fs::write(self.root.join(".tmp-4000001-8-00000000-marker"), b"x").unwrap();
            }
            Op::Fsck => {
                let r = self.st.fsck().unwrap();
                assert!(r.ok, "{r:?}");
            }
        }
    }

    fn check(&self, op: &Op, scratch: &BTreeMap<PathBuf, Vec<u8>>, outside: &BTreeMap<PathBuf, Vec<u8>>) {
        assert_eq!(held(&self.st), self.model, "after {op:?}");
        assert_eq!(&snapshot(&self.root.join("scratch")), scratch, "after {op:?}");
        assert_eq!(&snapshot(&self.outside), outside, "after {op:?}");
        // A write removes the dead runs' temporary files where its lock reaches: the root and the
        // release it wrote (a release's lock), or everywhere (the store's).
        let swept: Option<Vec<PathBuf>> = match op {
            // (A release that is not there was not written: a delete of nothing takes no lock.)
            Op::Promote { release, .. } | Op::DeleteRelease(release)
                if self.root.join(RELEASES[*release]).is_dir() =>
            {
                Some(vec![self.root.join(RELEASES[*release])])
            }
            Op::DeleteContainer {
                release: Some(release),
                ..
            } if self.root.join(RELEASES[*release]).is_dir() => {
                Some(vec![self.root.join(RELEASES[*release])])
            }
            Op::DeleteContainer { release: None, .. } | Op::DeleteAll => Some(vec![self.root.clone()]),
            _ => None,
        };
        for dir in swept.into_iter().flatten() {
            let mut left = temps(&dir);
            left.extend(
                temps(&self.root)
                    .into_iter()
                    .filter(|t| t.parent() == Some(self.root.as_path())),
            );
            assert!(left.is_empty(), "after {op:?}: {left:?}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn nothing_kept_is_lost_and_nothing_else_is_touched(ops in proptest::collection::vec(op(), 1..14)) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let mut w = World::new();
        let scratch = snapshot(&w.root.join("scratch"));
        let outside = snapshot(&w.outside);
        rt.block_on(async {
            for op in &ops {
                w.apply(op).await;
                w.check(op, &scratch, &outside);
            }
            let r = w.st.fsck().unwrap();
            assert!(r.ok, "{r:?}");
        });
    }
}
