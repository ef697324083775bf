//! The local store (OCI image layouts, one per release): registry-like operations, skopeo reading it
//! and copying out of it, verified deletes in every scope, fsck, corruption, the lock, dry runs.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use copy_containers::digest::Digest;
use copy_containers::manifest::{media, Content};
use copy_containers::registry::{BlobStream, Registry};
use copy_containers::store::{self, DeleteScope, Layout, Store};
use copy_containers::Error;
use copy_containers_testkit as tk;
use futures_util::StreamExt;
use tk::seed;

/// What `put_image` / `put_index` wrote.
#[derive(Clone, Debug)]
struct Img {
    digest: Digest,
    manifest: Vec<u8>,
    /// Every blob of the image (manifest, configs, layers, children) with its size.
    blobs: BTreeMap<Digest, u64>,
}

/// A stream of `data` in pieces of `n` bytes.
fn chunked(data: &[u8], n: usize) -> BlobStream {
    let mut items = Vec::new();
    for c in data.chunks(n) {
        items.push(Ok(Bytes::copy_from_slice(c)));
    }
    Box::pin(futures_util::stream::iter(items))
}

fn d(s: &str) -> Digest {
    s.parse().unwrap()
}

/// Write a single-architecture image from bytes: layers, config, manifest (OCI or Docker).
async fn put_image(
    l: &Layout,
    repo: &str,
    tag: Option<&str>,
    arch: &str,
    layers: &[seed::Layer],
    oci: bool,
) -> Img {
    let mut blobs = BTreeMap::new();
    let (mt, cfg_mt, layer_mt) = if oci {
        (media::OCI_MANIFEST, media::OCI_CONFIG, media::OCI_LAYER_GZIP)
    } else {
        (media::DOCKER_V2S2, media::DOCKER_CONFIG, media::DOCKER_LAYER_GZIP)
    };
    let mut descs = Vec::new();
    for layer in layers {
        l.upload_bytes(repo, &d(&layer.digest), Bytes::from(layer.blob.clone()))
            .await
            .unwrap();
        blobs.insert(d(&layer.digest), layer.blob.len() as u64);
        descs.push(seed::Descriptor::of(layer_mt, &layer.blob));
    }
    let diff_ids: Vec<String> = layers.iter().map(|l| l.diff_id.clone()).collect();
    let config = seed::config_json_with_diff_ids(arch, "linux", &diff_ids);
    let cd = seed::Descriptor::of(cfg_mt, &config);
    l.upload_bytes(repo, &d(&cd.digest), Bytes::from(config.clone()))
        .await
        .unwrap();
    blobs.insert(d(&cd.digest), config.len() as u64);
    let manifest = if oci {
        seed::oci_manifest(&cd, &descs)
    } else {
        seed::docker_manifest(&cd, &descs)
    };
    let digest = Digest::sha256(&manifest);
    let reference = tag.map(str::to_string).unwrap_or_else(|| digest.to_string());
    let got = l
        .put_manifest(repo, &reference, mt, Bytes::from(manifest.clone()))
        .await
        .unwrap();
    assert_eq!(got, digest);
    blobs.insert(digest.clone(), manifest.len() as u64);
    Img {
        digest,
        manifest,
        blobs,
    }
}

/// A multi-architecture OCI index tagged `tag`, children by digest.
async fn put_index(l: &Layout, repo: &str, tag: &str, arches: &[&str], salt: u64) -> Img {
    let mut blobs = BTreeMap::new();
    let mut entries = Vec::new();
    for (i, arch) in arches.iter().enumerate() {
        let layers = [seed::layer(salt * 100 + i as u64, 2048), seed::layer(7, 4096)];
        let img = put_image(l, repo, None, arch, &layers, true).await;
        entries.push(seed::Descriptor::of(media::OCI_MANIFEST, &img.manifest).with_platform(arch, "linux"));
        blobs.extend(img.blobs);
    }
    let manifest = seed::oci_index(&entries);
    let digest = l
        .put_manifest(repo, tag, media::OCI_INDEX, Bytes::from(manifest.clone()))
        .await
        .unwrap();
    blobs.insert(digest.clone(), manifest.len() as u64);
    Img {
        digest,
        manifest,
        blobs,
    }
}

/// Copy `repo:tag` (all architectures) from a registry into a layout, streaming every blob.
async fn copy_in(src: &Registry, repo: &str, tag: &str, l: &Layout) -> Digest {
    async fn image(src: &Registry, repo: &str, reference: &str, l: &Layout) {
        let m = src.get_manifest(repo, reference).await.unwrap();
        if let Content::Image { config, layers } = m.content().unwrap() {
            for b in std::iter::once(&config).chain(&layers) {
                if l.blob_exists(repo, &b.digest).await.unwrap().is_none() {
                    let s = src.get_blob(repo, &b.digest, Some(b.size)).await.unwrap();
                    l.put_blob_stream(repo, &b.digest, b.size, s).await.unwrap();
                }
            }
        }
        l.put_manifest(repo, reference, &m.media_type, m.bytes.clone())
            .await
            .unwrap();
    }
    let top = src.get_manifest(repo, tag).await.unwrap();
    if let Content::Index { children } = top.content().unwrap() {
        for c in children {
            image(src, repo, c.descriptor.digest.as_str(), l).await;
        }
    } else {
        image(src, repo, tag, l).await;
        return top.digest;
    }
    l.put_manifest(repo, tag, &top.media_type, top.bytes.clone())
        .await
        .unwrap()
}

fn skopeo(args: &[&str]) -> anyhow::Result<Vec<u8>> {
    tk::run_skopeo(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
}

fn oci_ref(l: &Layout, ref_name: &str) -> String {
    format!("oci:{}:{ref_name}", l.dir().display())
}

/// Every file and folder under `root` with its content (folders: empty).
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
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

fn index_json(l: &Layout) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(l.dir().join("index.json")).unwrap()).unwrap()
}

/// The sum of the sizes of blobs in `gone` not used by any image of `kept`.
fn exclusive_bytes(gone: &[&Img], kept: &[&Img]) -> (u64, usize) {
    let keep: BTreeSet<&Digest> = kept.iter().flat_map(|i| i.blobs.keys()).collect();
    let mut freed = BTreeMap::new();
    for i in gone {
        for (dg, n) in &i.blobs {
            if !keep.contains(dg) {
                freed.insert(dg.clone(), *n);
            }
        }
    }
    (freed.values().sum(), freed.len())
}

fn bin_local(root: &Path, args: &[&str]) -> std::process::Output {
    common::bin()
        .arg("local")
        .args(args)
        .arg("--root")
        .arg(root)
        .env_remove("COPY_CONTAINERS_LOCAL_ROOT")
        .output()
        .unwrap()
}

const NS: &str = "tripleomaster";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_reads_the_layout_and_copies_out_of_it() {
    let reg = tk::Registry::plain().unwrap();
    let client = common::client(&reg);
    let single = seed::seed_oci_image(&reg, "tripleomaster/openstack-nova-compute", "d7c3", "amd64", 3)
        .await
        .unwrap();
    let multi = seed::seed_index(
        &reg,
        "tripleomaster/openstack-nova-api",
        "d7c3",
        &["amd64", "ppc64le"],
        seed::Format::Oci,
    )
    .await
    .unwrap();
    let docker = seed::seed_image(&reg, "tripleomaster/openstack-base", "d7c3", "amd64", 2)
        .await
        .unwrap();

    let root = tempfile::tempdir().unwrap();
    let st = Store::open(root.path()).unwrap();
    let _lock = st.lock().unwrap();
    let l = st
        .layout("master")
        .unwrap()
        .with_hash("d7c3")
        .with_prefix("openstack");
    let got = copy_in(&client, "tripleomaster/openstack-nova-compute", "d7c3", &l).await;
    assert_eq!(got.as_str(), single.digest);
    let got = copy_in(&client, "tripleomaster/openstack-nova-api", "d7c3", &l).await;
    assert_eq!(got.as_str(), multi.digest);

    // Spec files.
    assert_eq!(
        std::fs::read_to_string(l.dir().join("oci-layout")).unwrap(),
        "{\"imageLayoutVersion\": \"1.0.0\"}\n"
    );
    let idx = index_json(&l);
    assert_eq!(idx["schemaVersion"], 2);
    assert_eq!(idx["mediaType"], media::OCI_INDEX);
    let e = &idx["manifests"][0];
    assert_eq!(e["digest"], single.digest.as_str());
    assert_eq!(e["mediaType"], media::OCI_MANIFEST);
    assert_eq!(e["size"], single.manifest.len());
    let a = &e["annotations"];
    assert_eq!(a[store::ANN_REF_NAME], "openstack-nova-compute:d7c3");
    assert_eq!(a[store::ANN_RELEASE], "master");
    assert_eq!(a[store::ANN_HASH], "d7c3");
    assert_eq!(a[store::ANN_REPOSITORY], "tripleomaster/openstack-nova-compute");
    assert_eq!(a[store::ANN_NAME], "nova-compute");
    assert!(a[store::ANN_CREATED].as_str().unwrap().ends_with('Z'));
    assert_eq!(idx["manifests"][1]["mediaType"], media::OCI_INDEX);

    // skopeo reads both by reference name, byte-exact.
    let raw = skopeo(&["inspect", "--raw", &oci_ref(&l, "openstack-nova-compute:d7c3")]).unwrap();
    assert_eq!(raw, single.manifest);
    let info: serde_json::Value =
        serde_json::from_slice(&skopeo(&["inspect", &oci_ref(&l, "openstack-nova-compute:d7c3")]).unwrap())
            .unwrap();
    assert_eq!(info["Digest"], single.digest.as_str());
    assert_eq!(info["Layers"].as_array().unwrap().len(), 3);
    let raw = skopeo(&["inspect", "--raw", &oci_ref(&l, "openstack-nova-api:d7c3")]).unwrap();
    assert_eq!(raw, multi.manifest);

    // skopeo copies out of the layout to a registry, digests preserved, all architectures.
    let dst = tk::Registry::plain().unwrap();
    for (name, digest) in [
        ("openstack-nova-compute", &single.digest),
        ("openstack-nova-api", &multi.digest),
    ] {
        let mut args = vec!["copy".to_string(), "--all".into(), "--preserve-digests".into()];
        args.extend(tk::skopeo_flags(&dst.endpoint(), "dest-"));
        args.push(oci_ref(&l, &format!("{name}:d7c3")));
        args.push(format!("docker://{}/promoted/{name}:d7c3", dst.host()));
        tk::run_skopeo(&args).unwrap();
        assert_eq!(
            &tk::skopeo_inspect_digest(&dst, &format!("promoted/{name}:d7c3")).unwrap(),
            digest
        );
    }
    for img in &multi.images {
        assert_eq!(
            tk::skopeo_inspect_digest(&dst, &format!("promoted/openstack-nova-api@{}", img.digest)).unwrap(),
            img.digest
        );
    }

    // A Docker schema 2 image keeps its bytes and its media type in the descriptor. skopeo 1.9
    // (Debian 12) resolves reference names for OCI media types only; it reads a layout holding one
    // image without a name, which is what this checks.
    let dl = st.layout("docker-only").unwrap();
    let got = copy_in(&client, "tripleomaster/openstack-base", "d7c3", &dl).await;
    assert_eq!(got.as_str(), docker.digest);
    assert_eq!(index_json(&dl)["manifests"][0]["mediaType"], media::DOCKER_V2S2);
    let raw = skopeo(&["inspect", "--raw", &format!("oci:{}", dl.dir().display())]).unwrap();
    assert_eq!(raw, docker.manifest);
    let mut args = vec!["copy".to_string(), "--preserve-digests".into()];
    args.extend(tk::skopeo_flags(&dst.endpoint(), "dest-"));
    args.push(format!("oci:{}", dl.dir().display()));
    args.push(format!("docker://{}/promoted/openstack-base:d7c3", dst.host()));
    tk::run_skopeo(&args).unwrap();
    assert_eq!(
        tk::skopeo_inspect_digest(&dst, "promoted/openstack-base:d7c3").unwrap(),
        docker.digest
    );

    // And the store checks out.
    let f = st.fsck().unwrap();
    assert!(f.ok, "{f:?}");
    assert_eq!(f.references, 3);
    assert!(f.warnings.is_empty(), "{f:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layout_answers_like_a_registry() {
    let root = tempfile::tempdir().unwrap();
    let st = Store::open(root.path()).unwrap();
    let l = st.layout("master").unwrap();
    let repo = "tripleomaster/openstack-keystone";
    assert!(!l.exists());
    assert_eq!(l.head_manifest(repo, "t1").await.unwrap(), None);
    assert!(l.get_manifest_opt(repo, "t1").await.unwrap().is_none());
    assert!(l.get_manifest(repo, "t1").await.unwrap_err().is_not_found());
    assert!(l.list_tags(repo).await.unwrap().is_empty());
    assert!(l.name().starts_with("oci:") && l.name().ends_with("master"));

    // Manifests need their blobs first.
    let layer = seed::layer(1, 5000);
    let config = seed::config_json_with_diff_ids("amd64", "linux", std::slice::from_ref(&layer.diff_id));
    let cd = seed::Descriptor::of(media::OCI_CONFIG, &config);
    let ld = seed::Descriptor::of(media::OCI_LAYER_GZIP, &layer.blob);
    let manifest = seed::oci_manifest(&cd, &[ld]);
    let err = l
        .put_manifest(repo, "t1", media::OCI_MANIFEST, Bytes::from(manifest.clone()))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("is not in the local store"), "{err}");
    assert!(err.contains(&cd.digest[7..]), "names the blob path: {err}");

    // Blob writes are checked: wrong digest, short and long bodies leave nothing behind.
    let wrong = l
        .upload_bytes(repo, &Digest::sha256(b"other"), Bytes::from(layer.blob.clone()))
        .await
        .unwrap_err();
    assert!(matches!(wrong, Error::DigestMismatch { .. }), "{wrong}");
    let body = chunked(&layer.blob, 1000);
    let err = l
        .put_blob_stream(repo, &d(&layer.digest), layer.blob.len() as u64 + 1, body)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    let body: BlobStream = Box::pin(futures_util::stream::iter(vec![Ok(Bytes::from(
        layer.blob.clone(),
    ))]));
    assert!(l
        .put_blob_stream(repo, &d(&layer.digest), 10, body)
        .await
        .is_err());
    // A failing source stream.
    let body: BlobStream = Box::pin(futures_util::stream::iter(vec![
        Ok(Bytes::from_static(b"abc")),
        Err(Error::Config("source broke".into())),
    ]));
    let err = l
        .put_blob_stream(repo, &d(&layer.digest), layer.blob.len() as u64, body)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("source broke"));
    let files: Vec<_> = std::fs::read_dir(l.dir().join("blobs/sha256")).unwrap().collect();
    assert!(files.is_empty(), "no blob and no temporary file left: {files:?}");

    // A large blob, streamed in pieces.
    let big: Vec<u8> = (0..(6u32 << 20))
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let big_d = Digest::sha256(&big);
    let body = chunked(&big, 64 << 10);
    l.put_blob_stream(repo, &big_d, big.len() as u64, body)
        .await
        .unwrap();
    assert_eq!(l.blob_exists(repo, &big_d).await.unwrap(), Some(big.len() as u64));
    let mut s = l
        .get_blob("any/repo", &big_d, Some(big.len() as u64))
        .await
        .unwrap();
    let mut back = Vec::new();
    while let Some(c) = s.next().await {
        back.extend_from_slice(&c.unwrap());
    }
    assert_eq!(back, big);
    let err = l.get_blob(repo, &big_d, Some(5)).await.err().unwrap();
    assert!(matches!(err, Error::DigestMismatch { .. }));
    assert!(l
        .get_blob(repo, &Digest::sha256(b"nope"), None)
        .await
        .err()
        .unwrap()
        .is_not_found());

    // Now the image.
    let img = put_image(&l, repo, Some("t1"), "amd64", std::slice::from_ref(&layer), true).await;
    let head = l.head_manifest(repo, "t1").await.unwrap().unwrap();
    assert_eq!(head.digest, img.digest);
    assert_eq!(head.media_type, media::OCI_MANIFEST);
    assert_eq!(head.size, img.manifest.len() as u64);
    let m = l.get_manifest(repo, "t1").await.unwrap();
    assert_eq!(&m.bytes[..], &img.manifest[..]);
    // By digest (from any repository of the release): media type from the index or sniffed.
    let m = l
        .get_manifest("other/openstack-x", img.digest.as_str())
        .await
        .unwrap();
    assert_eq!(m.media_type, media::OCI_MANIFEST);
    // A layer is not a manifest.
    assert!(l.get_manifest_opt(repo, &layer.digest).await.unwrap().is_none());
    // A second tag, a tag move, tags listed by repository.
    l.put_manifest(repo, "t2", media::OCI_MANIFEST, Bytes::from(img.manifest.clone()))
        .await
        .unwrap();
    let other = put_image(&l, repo, Some("t1"), "arm64", std::slice::from_ref(&layer), false).await;
    assert_eq!(
        l.head_manifest(repo, "t1").await.unwrap().unwrap().digest,
        other.digest
    );
    assert_eq!(
        l.head_manifest(repo, "t1").await.unwrap().unwrap().media_type,
        media::DOCKER_V2S2
    );
    assert_eq!(l.list_tags(repo).await.unwrap(), ["t1", "t2"]);
    assert_eq!(
        l.list_tags("elsewhere/openstack-keystone").await.unwrap(),
        ["t1", "t2"]
    );
    assert!(l
        .list_tags("tripleomaster/openstack-nova")
        .await
        .unwrap()
        .is_empty());
    assert_eq!(index_json(&l)["manifests"].as_array().unwrap().len(), 2);

    // Digest references are verified; bad references and media types are refused.
    assert!(l
        .put_manifest(
            repo,
            Digest::sha256(b"x").as_str(),
            media::OCI_MANIFEST,
            Bytes::from(img.manifest.clone())
        )
        .await
        .is_err());
    assert!(l
        .put_manifest(
            repo,
            "bad tag",
            media::OCI_MANIFEST,
            Bytes::from(img.manifest.clone())
        )
        .await
        .is_err());
    assert!(l
        .put_manifest(
            "Bad/Repo",
            "t",
            media::OCI_MANIFEST,
            Bytes::from(img.manifest.clone())
        )
        .await
        .is_err());
    assert!(l
        .put_manifest(repo, "t3", "application/json", Bytes::from(img.manifest.clone()))
        .await
        .is_err());
    assert!(l
        .put_manifest(repo, "t3", media::OCI_MANIFEST, Bytes::from_static(b"{garbage"))
        .await
        .is_err());
    assert!(st.layout("../escape").is_err());

    // delete_manifest removes the references pointing at a digest; the blobs stay for the GC.
    l.delete_manifest(repo, &img.digest).await.unwrap();
    assert_eq!(l.list_tags(repo).await.unwrap(), ["t1"]);
    assert!(l.blob_exists(repo, &img.digest).await.unwrap().is_some());
    assert!(l
        .delete_manifest(repo, &Digest::sha256(b"never"))
        .await
        .unwrap_err()
        .is_not_found());

    // Concurrent writers in one process do not lose index entries.
    let mut tasks = Vec::new();
    for i in 0..16 {
        let l = l.clone();
        let bytes = Bytes::from(img.manifest.clone());
        tasks.push(tokio::spawn(async move {
            l.put_manifest(repo, &format!("c{i:02}"), media::OCI_MANIFEST, bytes)
                .await
                .unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(l.list_tags(repo).await.unwrap().len(), 17);
    let f = st.fsck().unwrap();
    assert!(f.ok, "{f:?}");
    // The big blob is an orphan: a warning, not a problem.
    assert!(
        f.warnings
            .iter()
            .any(|w| w.contains("orphan") && w.contains(big_d.hex())),
        "{f:?}"
    );
}

/// master: nova-compute:h1 and :h2, nova-api:h1 (sharing a base layer with nova-compute), an OCI
/// index nova-scheduler:h1; wallaby: nova-compute:h1.
struct Fixture {
    _root: tempfile::TempDir,
    root: PathBuf,
    st: Store,
    compute1: Img,
    compute2: Img,
    api: Img,
    sched: Img,
    wallaby: Img,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let st = Store::open(&root).unwrap();
    let m = st.layout("master").unwrap().with_prefix("openstack");
    let base = seed::layer(42, 30_000);
    let compute1 = put_image(
        &m,
        &format!("{NS}/openstack-nova-compute"),
        Some("h1"),
        "amd64",
        &[base.clone(), seed::layer(1, 10_000)],
        false,
    )
    .await;
    let compute2 = put_image(
        &m,
        &format!("{NS}/openstack-nova-compute"),
        Some("h2"),
        "amd64",
        &[base.clone(), seed::layer(2, 11_000)],
        false,
    )
    .await;
    let api = put_image(
        &m,
        &format!("{NS}/openstack-nova-api"),
        Some("h1"),
        "amd64",
        &[base.clone(), seed::layer(3, 12_000)],
        true,
    )
    .await;
    let sched = put_index(
        &m,
        &format!("{NS}/openstack-nova-scheduler"),
        "h1",
        &["amd64", "ppc64le"],
        5,
    )
    .await;
    let w = st.layout("wallaby").unwrap();
    let wallaby = put_image(
        &w,
        "tripleowallaby/openstack-nova-compute",
        Some("h1"),
        "amd64",
        &[base.clone(), seed::layer(1, 10_000)],
        false,
    )
    .await;
    Fixture {
        _root: dir,
        root,
        st,
        compute1,
        compute2,
        api,
        sched,
        wallaby,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_shows_release_container_tag_digest_size() {
    let f = fixture().await;
    let images = f.st.list().unwrap();
    let rows: Vec<(String, String, String)> = images
        .iter()
        .map(|i| (i.release.clone(), i.container.clone(), i.tag.clone()))
        .collect();
    assert_eq!(
        rows,
        [
            ("master", "openstack-nova-api", "h1"),
            ("master", "openstack-nova-compute", "h1"),
            ("master", "openstack-nova-compute", "h2"),
            ("master", "openstack-nova-scheduler", "h1"),
            ("wallaby", "openstack-nova-compute", "h1"),
        ]
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    );
    let sched = images
        .iter()
        .find(|i| i.container.ends_with("scheduler"))
        .unwrap();
    assert_eq!(sched.digest, f.sched.digest);
    assert_eq!(
        sched.size,
        f.sched.blobs.values().sum::<u64>(),
        "children counted"
    );
    assert_eq!(sched.media_type, media::OCI_INDEX);
    assert_eq!(images[1].size, f.compute1.blobs.values().sum::<u64>());
    assert_eq!(
        images[1].repository.as_deref(),
        Some("tripleomaster/openstack-nova-compute")
    );
    assert_eq!(images[1].hash.as_deref(), Some("h1"));
    let all: BTreeMap<&Digest, u64> = [&f.compute1, &f.compute2, &f.api, &f.sched]
        .iter()
        .flat_map(|i| i.blobs.iter())
        .collect::<BTreeMap<_, _>>()
        .into_iter()
        .map(|(k, v)| (k, *v))
        .collect();
    let master: u64 = all.values().sum();
    let wallaby: u64 = f.wallaby.blobs.values().sum();
    assert_eq!(
        f.st.total_size().unwrap(),
        master + wallaby,
        "blobs shared within a release count once"
    );
    assert_eq!(f.st.list_release("wallaby").unwrap().len(), 1);
    assert!(f.st.list_release("nope").unwrap().is_empty());

    let out = bin_local(&f.root, &["list"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let header = text.lines().next().unwrap();
    for col in ["RELEASE", "CONTAINER", "TAG", "DIGEST", "SIZE"] {
        assert!(header.contains(col), "{text}");
    }
    assert!(
        text.contains("openstack-nova-scheduler") && text.contains(&f.sched.digest.hex()[..12]),
        "{text}"
    );
    let out = bin_local(&f.root, &["list", "--release", "wallaby", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["images"].as_array().unwrap().len(), 1);
    assert_eq!(v["images"][0]["digest"], f.wallaby.digest.as_str());
    assert_eq!(v["total_bytes"], master + wallaby);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_container_keeps_shared_blobs_until_the_last_user_goes() {
    let f = fixture().await;
    let master = f.root.join("master");

    // nova-compute (name without prefix) in master: both tags; the base layer stays (nova-api).
    let r =
        f.st.delete(
            &DeleteScope::container("nova-compute", Some("master".into())),
            false,
        )
        .unwrap();
    assert!(r.changed && !r.dry_run);
    assert!(r.verification.ok, "{r:?}");
    assert!(r.verification.warnings.is_empty(), "{r:?}");
    let mut removed: Vec<_> = r
        .removed
        .iter()
        .map(|i| (i.container.as_str(), i.tag.as_str()))
        .collect();
    removed.sort();
    assert_eq!(
        removed,
        [("openstack-nova-compute", "h1"), ("openstack-nova-compute", "h2")]
    );
    let (freed, n) = exclusive_bytes(&[&f.compute1, &f.compute2], &[&f.api, &f.sched]);
    assert_eq!((r.freed_bytes, r.blobs_removed), (freed, n));
    assert!(r.releases_removed.is_empty());
    let l = f.st.layout("master").unwrap();
    let base = d(&seed::layer(42, 30_000).digest);
    assert!(l.blob_exists("x/y", &base).await.unwrap().is_some());
    assert!(l.blob_exists("x/y", &f.compute1.digest).await.unwrap().is_none());
    // wallaby untouched (the same container there).
    assert_eq!(f.st.list_release("wallaby").unwrap().len(), 1);

    // The full name works too; nova-api was the base layer's last user in master.
    let r =
        f.st.delete(
            &DeleteScope::container("openstack-nova-api", Some("master".into())),
            false,
        )
        .unwrap();
    assert!(r.verification.ok, "{r:?}");
    assert_eq!(r.removed.len(), 1);
    assert_eq!(r.freed_bytes, exclusive_bytes(&[&f.api], &[&f.sched]).0);
    assert!(l.blob_exists("x/y", &base).await.unwrap().is_none());

    // The index's children go with it; the release folder goes with its last reference.
    let r =
        f.st.delete(&DeleteScope::container("nova-scheduler", None), false)
            .unwrap();
    assert!(r.verification.ok, "{r:?}");
    assert_eq!(r.freed_bytes, f.sched.blobs.values().sum::<u64>());
    assert_eq!(r.releases_removed, ["master"]);
    assert!(!master.exists());
    assert_eq!(f.st.releases().unwrap(), ["wallaby"]);

    // Deleting what is not there: a clear no-op.
    for scope in [
        DeleteScope::container("nova-compute", Some("master".into())),
        DeleteScope::container("glance-api", None),
        DeleteScope::container("compute", Some("wallaby".into())),
        DeleteScope::Release("zed".into()),
    ] {
        let before = snapshot(&f.root);
        let r = f.st.delete(&scope, false).unwrap();
        assert!(!r.changed, "{scope}: {r:?}");
        assert!(
            r.removed.is_empty() && r.freed_bytes == 0 && r.verification.ok,
            "{r:?}"
        );
        assert_eq!(snapshot(&f.root), before, "{scope}");
    }
    // On the command line a scope matching nothing is an error listing what exists, nothing touched.
    let before = snapshot(&f.root);
    for args in [
        &["delete", "--container", "glance-api"][..],
        &["delete", "--release", "mastr"],
        &["delete", "--release", "mastr", "--dry-run"],
    ] {
        let out = bin_local(&f.root, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("matches") && err.contains("release wallaby: openstack-nova-compute"),
            "{err}"
        );
    }
    assert_eq!(snapshot(&f.root), before);
    // Bad input is an error, not a panic.
    assert!(f.st.delete(&DeleteScope::Release("../x".into()), false).is_err());
    assert!(f.st.delete(&DeleteScope::container("", None), false).is_err());
    assert!(f
        .st
        .delete(&DeleteScope::container("nova-compute:h1", None), false)
        .is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_release_and_all_with_verification() {
    let f = fixture().await;
    // Leftovers of an interrupted run in wallaby: an orphan blob and a temporary file of a dead
    // process. fsck warns; deleting in that release collects them.
    let w = f.st.layout("wallaby").unwrap();
    let orphan = b"orphan blob of an interrupted run".to_vec();
    w.upload_bytes("x/y", &Digest::sha256(&orphan), Bytes::from(orphan.clone()))
        .await
        .unwrap();
    std::fs::write(w.dir().join("blobs/sha256/.tmp-1-0-00000000-abc"), b"partial").unwrap();
    let fs = f.st.fsck().unwrap();
    assert!(fs.ok, "{fs:?}");
    assert_eq!(fs.warnings.len(), 2, "{fs:?}");

    let r =
        f.st.delete(&DeleteScope::Release("wallaby".into()), false)
            .unwrap();
    assert!(r.changed && r.verification.ok, "{r:?}");
    assert_eq!(r.removed.len(), 1);
    assert_eq!(r.removed[0].digest, f.wallaby.digest);
    assert_eq!(
        r.freed_bytes,
        f.wallaby.blobs.values().sum::<u64>() + orphan.len() as u64
    );
    assert_eq!(r.releases_removed, ["wallaby"]);
    assert!(!f.root.join("wallaby").exists());
    assert!(r.verification.warnings.is_empty(), "{r:?}");

    // A release with label history keeps its folder (and history) when its images go.
    f.st.record_label(
        "master",
        "quay.io",
        "tripleomaster/openstack-nova-api",
        "current-tripleo",
        Some(f.compute1.digest.clone()),
        f.api.digest.clone(),
    )
    .unwrap();
    let out = bin_local(&f.root, &["delete", "--all", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let r: store::DeleteReport = serde_json::from_slice(&out.stdout).unwrap();
    assert!(r.changed && r.verification.ok, "{r:?}");
    assert_eq!(r.removed.len(), 4);
    let master_bytes: u64 = [&f.compute1, &f.compute2, &f.api, &f.sched]
        .iter()
        .flat_map(|i| i.blobs.iter())
        .collect::<BTreeMap<_, _>>()
        .values()
        .copied()
        .sum();
    assert_eq!(r.freed_bytes, master_bytes);
    assert!(r.releases_removed.is_empty());
    assert!(f.st.list().unwrap().is_empty());
    assert_eq!(f.st.total_size().unwrap(), 0);
    assert_eq!(f.st.label_history("master").unwrap().len(), 1);
    let fs = f.st.fsck().unwrap();
    assert!(fs.ok && fs.warnings.is_empty(), "{fs:?}");

    // Again: nothing left to delete.
    let r = f.st.delete(&DeleteScope::All, false).unwrap();
    assert!(!r.changed, "{r:?}");
    // A store that does not exist: a no-op that creates nothing.
    let nowhere = f.root.join("not-there");
    let opts = store::DeleteOptions::default();
    let r = store::delete_verified(&nowhere, &DeleteScope::All, opts, Duration::ZERO).unwrap();
    assert!(!r.changed && r.verification.ok);
    assert!(!nowhere.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_reports_and_changes_nothing() {
    let f = fixture().await;
    let before = snapshot(&f.root);
    let cases = [
        (
            DeleteScope::container("nova-compute", Some("master".into())),
            exclusive_bytes(&[&f.compute1, &f.compute2], &[&f.api, &f.sched]).0,
            2,
        ),
        (
            DeleteScope::container("nova-compute", None),
            exclusive_bytes(&[&f.compute1, &f.compute2], &[&f.api, &f.sched]).0
                + f.wallaby.blobs.values().sum::<u64>(),
            3,
        ),
        (
            DeleteScope::Release("wallaby".into()),
            f.wallaby.blobs.values().sum::<u64>(),
            1,
        ),
        (DeleteScope::All, f.st.total_size().unwrap(), 5),
    ];
    for (scope, freed, n) in cases {
        let r = f.st.delete(&scope, true).unwrap();
        assert!(r.dry_run && r.changed, "{scope}: {r:?}");
        assert_eq!(r.removed.len(), n, "{scope}");
        assert_eq!(r.freed_bytes, freed, "{scope}");
        assert!(r.verification.ok);
        assert_eq!(snapshot(&f.root), before, "{scope}: the dry run changed files");
    }
    let out = bin_local(&f.root, &["delete", "--release", "master", "--dry-run"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Would delete 4 image(s)") && text.contains("Would free"),
        "{text}"
    );
    assert_eq!(snapshot(&f.root), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corruption_is_detected_by_fsck_get_blob_and_delete_verification() {
    let f = fixture().await;
    let l = f.st.layout("master").unwrap();
    let repo = format!("{NS}/openstack-nova-api");
    let layer = seed::layer(3, 12_000);
    let path = l.blob_path(&d(&layer.digest));
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[100] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();

    let r = f.st.fsck().unwrap();
    assert!(!r.ok);
    assert_eq!(r.problems.len(), 1, "{r:?}");
    assert!(r.problems[0].contains(&path.display().to_string()), "{r:?}");
    assert!(r.problems[0].contains("corrupt"), "{r:?}");

    // get_blob: the stream ends with a digest mismatch naming the file.
    let mut s = l
        .get_blob(&repo, &d(&layer.digest), Some(layer.blob.len() as u64))
        .await
        .unwrap();
    let mut last = None;
    while let Some(c) = s.next().await {
        last = Some(c);
    }
    let err = last.unwrap().unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    assert!(err.to_string().contains(&path.display().to_string()), "{err}");

    let out = bin_local(&f.root, &["fsck"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains(&path.display().to_string()));
    let out = bin_local(&f.root, &["fsck", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);

    // Deleting something else: the verification checks what the delete touched (another release),
    // without re-hashing the whole store; `fsck` still reports the corruption.
    let r =
        f.st.delete(&DeleteScope::Release("wallaby".into()), false)
            .unwrap();
    assert!(r.changed && r.verification.ok, "{r:?}");
    assert!(!f.st.fsck().unwrap().ok);
    let out = bin_local(&f.root, &["delete", "--container", "nova-scheduler"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("Verification of the releases touched: OK"));
    // Deleting the corrupt image's container repairs the store.
    let r =
        f.st.delete(&DeleteScope::container("nova-api", None), false)
            .unwrap();
    assert!(r.verification.ok, "{r:?}");

    // A corrupt manifest is refused on read; a missing layer is a problem.
    let mpath = l.blob_path(&f.compute1.digest);
    let mut m = std::fs::read(&mpath).unwrap();
    let n = m.len();
    m[n - 2] = b' ';
    std::fs::write(&mpath, &m).unwrap();
    let err = l
        .get_manifest(&format!("{NS}/openstack-nova-compute"), "h1")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    assert!(err.to_string().contains(&mpath.display().to_string()), "{err}");
    std::fs::remove_file(l.blob_path(&d(&seed::layer(2, 11_000).digest))).unwrap();
    let r = f.st.fsck().unwrap();
    assert!(!r.ok);
    assert!(
        r.problems
            .iter()
            .any(|p| p.contains("layer") && p.contains("missing")),
        "{r:?}"
    );
    assert!(
        r.problems
            .iter()
            .any(|p| p.contains(&mpath.display().to_string())),
        "{r:?}"
    );
    // A delete touching that release finds the missing layer too.
    let r = f.st.delete(&DeleteScope::Release("master".into()), true).unwrap();
    assert!(!r.verification.ok, "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_index_json_is_a_clear_error() {
    for garbage in [
        &b""[..],
        b"{\"schemaVersion\": 2, \"manifests\": [",
        b"\x00\xffnot json",
    ] {
        let f = fixture().await;
        let idx = f.root.join("master/index.json");
        std::fs::write(&idx, garbage).unwrap();
        let shown = idx.display().to_string();

        let err = f.st.list().unwrap_err().to_string();
        assert!(err.contains(&shown), "{err}");
        let l = f.st.layout("master").unwrap();
        let err = l
            .get_manifest(&format!("{NS}/openstack-nova-compute"), "h1")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(&shown), "{err}");
        let r = f.st.fsck().unwrap();
        assert!(!r.ok && r.problems.iter().any(|p| p.contains(&shown)), "{r:?}");
        let out = bin_local(&f.root, &["list"]);
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains(&shown), "{out:?}");

        // Single containers cannot be picked out of it; the whole release can go.
        let err =
            f.st.delete(&DeleteScope::container("nova-api", Some("master".into())), false)
                .unwrap_err()
                .to_string();
        assert!(err.contains(&shown) && err.contains("--release master"), "{err}");
        let r =
            f.st.delete(&DeleteScope::Release("master".into()), false)
                .unwrap();
        assert!(r.changed && r.verification.ok, "{r:?}");
        assert!(r.warnings.iter().any(|w| w.contains(&shown)), "{r:?}");
        assert!(!f.root.join("master").exists());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lock_blocks_a_second_holder_and_a_second_process() {
    let f = fixture().await;
    let guard = f.st.lock().unwrap();
    let other = Store::open(&f.root).unwrap();
    let err = other.lock().unwrap_err();
    assert!(store::is_lock_conflict(&err));
    let expected = format!(
        "the local store {} is in use by another copy-containers run",
        f.root.display()
    );
    assert!(err.to_string().contains(&expected), "{err}");
    assert!(other.delete(&DeleteScope::All, false).is_err());
    assert!(other.fsck().is_err());
    let ol = other.layout("master").unwrap();
    assert!(ol
        .upload_bytes("a/b", &Digest::sha256(b"x"), Bytes::from_static(b"x"))
        .await
        .is_err());
    // Reading without the lock still works.
    assert_eq!(other.list().unwrap().len(), 5);

    let before = snapshot(&f.root);
    let out = bin_local(&f.root, &["delete", "--all"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&expected),
        "{out:?}"
    );
    let out = bin_local(&f.root, &["fsck"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    // One message naming the holder; --lock-timeout waits, then says so.
    let started = std::time::Instant::now();
    let out = bin_local(&f.root, &["delete", "--all", "--lock-timeout", "1"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(started.elapsed() >= Duration::from_secs(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("PID {}", std::process::id())) && err.contains("waited 1s"),
        "{err}"
    );
    assert_eq!(snapshot(&f.root), before);

    // The holder itself goes on (the lock is re-entrant within a store).
    let r =
        f.st.delete(&DeleteScope::Release("wallaby".into()), false)
            .unwrap();
    assert!(r.changed && r.verification.ok);
    drop(guard);
    let out = bin_local(&f.root, &["delete", "--all"]);
    assert!(out.status.success(), "{out:?}");
    assert!(f.st.list().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn label_history_is_recorded_and_read_back() {
    let root = tempfile::tempdir().unwrap();
    let st = Store::open(root.path()).unwrap();
    assert!(st.label_history("master").unwrap().is_empty());
    let (a, b) = (Digest::sha256(b"a"), Digest::sha256(b"b"));
    st.record_label(
        "master",
        "quay.io",
        "ns/openstack-x",
        "current-tripleo",
        None,
        a.clone(),
    )
    .unwrap();
    st.record_label(
        "master",
        "quay.io",
        "ns/openstack-x",
        "current-tripleo",
        Some(a.clone()),
        b.clone(),
    )
    .unwrap();
    let h = st.label_history("master").unwrap();
    assert_eq!(h.len(), 2);
    assert_eq!(h[0].previous_digest, None);
    assert_eq!(h[1].previous_digest.as_ref(), Some(&a));
    assert_eq!(h[1].new_digest, b);
    assert_eq!(h[1].label, "current-tripleo");
    // The release is a valid (empty) layout.
    let r = st.fsck().unwrap();
    assert!(r.ok && r.warnings.is_empty(), "{r:?}");
    let l = st.layout("master").unwrap();
    let err = skopeo(&["inspect", "--raw", &oci_ref(&l, "x:y")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("no descriptor found"), "{err}");
    // A damaged history is an error naming the file, never silently replaced.
    let p = root.path().join("master/labels.json");
    std::fs::write(&p, b"{\"records\": [").unwrap();
    let err = st.label_history("master").unwrap_err().to_string();
    assert!(err.contains(&p.display().to_string()), "{err}");
    assert!(st
        .record_label("master", "quay.io", "ns/openstack-x", "l", None, a)
        .is_err());
    assert_eq!(std::fs::read(&p).unwrap(), b"{\"records\": [");
    assert!(!st.fsck().unwrap().ok);
}

/// A promotion's label moves are recorded together: appended in order after the history, in one
/// write of the file (one time for all of them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn label_moves_are_recorded_in_one_write() {
    use copy_containers::store::LabelMove;
    let root = tempfile::tempdir().unwrap();
    let st = Store::open(root.path()).unwrap();
    let (a, b) = (Digest::sha256(b"a"), Digest::sha256(b"b"));
    st.record_label("master", "quay.io", "ns/openstack-x", "l", None, a.clone())
        .unwrap();
    let moves: Vec<LabelMove> = ["x", "y", "z"]
        .iter()
        .map(|n| LabelMove {
            registry: "quay.io".into(),
            repository: format!("ns/openstack-{n}"),
            label: "l".into(),
            previous_digest: Some(a.clone()),
            new_digest: b.clone(),
        })
        .collect();
    let recorded = st.record_labels("master", moves.clone()).unwrap();
    assert_eq!(recorded.len(), 3);
    let h = st.label_history("master").unwrap();
    let repos: Vec<&str> = h.iter().map(|r| r.repository.as_str()).collect();
    assert_eq!(
        repos,
        [
            "ns/openstack-x",
            "ns/openstack-x",
            "ns/openstack-y",
            "ns/openstack-z"
        ]
    );
    assert!(h[1..].iter().all(|r| r.recorded_at == h[1].recorded_at));
    assert!(st.record_labels("master", vec![]).unwrap().is_empty());
    assert_eq!(st.label_history("master").unwrap().len(), 4);
}

/// Every file and folder under `dir` (a snapshot of a folder that is not a store).
fn unrelated_tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    std::fs::create_dir_all(dir.join("important")).unwrap();
    std::fs::write(dir.join("important/thesis.txt"), b"years of work").unwrap();
    std::fs::create_dir_all(dir.join("projects/src")).unwrap();
    std::fs::write(dir.join("projects/src/main.rs"), b"fn main() {}").unwrap();
    // Looks like a release folder, but is not one we wrote.
    std::fs::create_dir_all(dir.join("master/blobs/sha256")).unwrap();
    std::fs::write(dir.join("master/notes"), b"n").unwrap();
    snapshot(dir)
}

#[test]
fn a_folder_that_is_not_a_store_is_refused_and_left_untouched() {
    let d = tempfile::tempdir().unwrap();
    let before = unrelated_tree(d.path());
    for args in [
        &["delete", "--all", "--dry-run"][..],
        &["delete", "--all"],
        &["delete", "--all", "--yes", "--json"],
        &["delete", "--release", "master"],
        &["delete", "--container", "important"],
        &["fsck"],
        &["list"],
    ] {
        let out = bin_local(d.path(), args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("is not a copy-containers local store") && err.contains("important"),
            "{args:?}: {err}"
        );
        assert_eq!(snapshot(d.path()), before, "{args:?} touched the folder");
    }
    // The library refuses the same way (the module and a promotion's cleanup go through it).
    let st = Store::open(d.path()).unwrap();
    for dry_run in [true, false] {
        let e = st.delete(&DeleteScope::All, dry_run).unwrap_err();
        assert!(e.to_string().contains(store::MARKER_FILE), "{e}");
    }
    assert_eq!(snapshot(d.path()), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_removes_only_what_the_store_wrote() {
    let f = fixture().await;
    assert!(
        f.root.join(store::MARKER_FILE).is_file(),
        "marker written at creation"
    );
    // Someone's folder inside the store, and someone's file inside a release folder.
    std::fs::create_dir_all(f.root.join("scratch/sub")).unwrap();
    std::fs::write(f.root.join("scratch/sub/keep.txt"), b"k").unwrap();
    std::fs::write(f.root.join("wallaby/README"), b"mine").unwrap();
    for dry_run in [true, false] {
        let r = f.st.delete(&DeleteScope::All, dry_run).unwrap();
        assert!(r.changed, "{r:?}");
        assert!(
            r.warnings
                .iter()
                .any(|w| w.contains("scratch") && w.contains("left alone")),
            "{r:?}"
        );
        assert!(
            r.warnings
                .iter()
                .any(|w| w.contains("README") && w.contains("stays")),
            "{r:?}"
        );
    }
    assert_eq!(std::fs::read(f.root.join("scratch/sub/keep.txt")).unwrap(), b"k");
    assert_eq!(std::fs::read(f.root.join("wallaby/README")).unwrap(), b"mine");
    assert!(f.st.list().unwrap().is_empty());
    assert!(!f.root.join("master").exists(), "a folder of ours only goes");
    // A release named like the foreign folder: reported, not removed.
    let out = bin_local(&f.root, &["delete", "--release", "scratch"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an OCI layout"));
    assert!(f.root.join("scratch/sub/keep.txt").is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_reads_the_root_from_config_then_the_environment() {
    let f = fixture().await;
    let d = tempfile::tempdir().unwrap();
    let cfg = d.path().join("promote.yml");
    std::fs::write(
        &cfg,
        format!("release: master\nlocal_store: {}\n", f.root.display()),
    )
    .unwrap();
    let out = common::bin()
        .args(["local", "--config"])
        .arg(&cfg)
        .args(["list", "--json"])
        .env("COPY_CONTAINERS_LOCAL_ROOT", d.path().join("elsewhere"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["images"].as_array().unwrap().len(), 5, "{v}");
    let out = common::bin()
        .args(["local", "list", "--json"])
        .env("COPY_CONTAINERS_LOCAL_ROOT", &f.root)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["root"], f.root.display().to_string());
    // A releases file: its local_store, and --release naming an entry means the entry's release.
    let rel = d.path().join("releases.yml");
    std::fs::write(
        &rel,
        format!(
            "source_registry: {{host: quay.io}}\ntarget_registries: [{{host: q2.io}}]\n\
             local_store: {}\nreleases:\n  - {{name: mastercentos9, release: master, containers: [a]}}\n",
            f.root.display()
        ),
    )
    .unwrap();
    let out = common::bin()
        .args(["local", "--config"])
        .arg(&rel)
        .args(["list", "--json", "--release", "mastercentos9"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["images"].as_array().unwrap().len(), 4, "{v}");
}

/// `local ARGS` on a pseudo-terminal (util-linux `script`), `input` typed on it.
fn on_terminal(root: &Path, args: &str, input: &str) -> String {
    use std::io::Write;
    let cmd = format!(
        "{} local --root '{}' {args}",
        env!("CARGO_BIN_EXE_copy-containers"),
        root.display()
    );
    let mut child = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env_remove("COPY_CONTAINERS_LOCAL_ROOT")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("util-linux script");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_all_on_a_terminal_shows_what_goes_and_asks() {
    let f = fixture().await;
    let out = on_terminal(&f.root, "delete --all", "n\n");
    assert!(
        out.contains("Would delete 5 image(s)") && out.contains("[y/N]") && out.contains("Nothing deleted"),
        "{out}"
    );
    assert_eq!(f.st.list().unwrap().len(), 5);
    let out = on_terminal(&f.root, "delete --all", "y\n");
    assert!(out.contains("Deleted 5 image(s)"), "{out}");
    assert!(f.st.list().unwrap().is_empty());
    // --yes (and scripts, without a terminal) do not ask.
    let out = on_terminal(&f.root, "delete --all --yes", "");
    assert!(!out.contains("[y/N]"), "{out}");
}

// --- A shared host: other users, links, retention ---

const NOBODY: u32 = 65534;

/// The tests that give files to another user need root (they say so and stop otherwise).
fn root_or_skip() -> bool {
    use std::os::unix::fs::MetadataExt;
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    if !root {
        eprintln!("skipped: this test gives files to another user (chown), which needs root");
    }
    root
}

fn chmod(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn mode_of(p: &Path) -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(p).unwrap().mode() & 0o7777
}

/// `runuser -u nobody -- ARGS` (the second user of the machine).
fn as_nobody(args: &[&str]) -> std::process::Output {
    std::process::Command::new("runuser")
        .args(["-u", "nobody", "--"])
        .args(args)
        .output()
        .unwrap()
}

/// The reported case: another user makes the store root (or its `.lock`) theirs, or makes it
/// writable by everyone and plants `.lock` as a link to a root-only file. Every command refuses the
/// root with a reason; the linked file is untouched; a read-only `fsck` creates nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_root_another_user_could_change_is_refused_and_no_link_is_followed() {
    if !root_or_skip() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let victim = d.path().join("victim");
    std::fs::write(&victim, b"root only").unwrap();
    chmod(&victim, 0o600);
    let check = |root: &Path, why: &str| {
        let st = Store::open(root).unwrap();
        for e in [
            st.lock().unwrap_err(),
            st.fsck().unwrap_err(),
            st.list().unwrap_err(),
        ] {
            assert!(e.to_string().contains(why), "{}: {e}", root.display());
        }
        for args in [&["fsck"][..], &["list"], &["delete", "--all", "--yes"]] {
            let out = bin_local(root, args);
            assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains(why) && err.contains("local_store"),
                "{args:?}: {err}"
            );
        }
        assert_eq!(std::fs::read(&victim).unwrap(), b"root only");
        assert_eq!(mode_of(&victim), 0o600);
    };
    // Writable by everyone, `.lock` a link to the root-only file.
    let open = d.path().join("open");
    std::fs::create_dir(&open).unwrap();
    chmod(&open, 0o777);
    std::os::unix::fs::symlink(&victim, open.join(".lock")).unwrap();
    check(&open, "writable by other users (mode 777) without the sticky bit");
    // Sticky is not enough for a store: others could still add entries.
    chmod(&open, 0o1777);
    check(&open, "writable by other users (sticky");
    // Another user's folder.
    let theirs = d.path().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    std::os::unix::fs::chown(&theirs, Some(NOBODY), Some(NOBODY)).unwrap();
    check(&theirs, "belongs to another user (uid 65534");
    assert_eq!(std::fs::read_dir(&theirs).unwrap().count(), 0);

    // A store of ours whose lock files were made links (into a root-only folder), or another
    // user's file: refused, nothing written or created through them.
    let f = fixture().await;
    let private = d.path().join("root-only");
    std::fs::create_dir(&private).unwrap();
    chmod(&private, 0o700);
    std::fs::remove_file(f.root.join(".lock")).unwrap();
    std::os::unix::fs::symlink(&victim, f.root.join(".lock")).unwrap();
    let st = Store::open(&f.root).unwrap();
    let e = st.lock().unwrap_err().to_string();
    assert!(e.contains("symbolic link") && e.contains(".lock"), "{e}");
    assert!(st.lock_release("master", true).is_err());
    assert_eq!(std::fs::read(&victim).unwrap(), b"root only");
    std::fs::remove_file(f.root.join(".lock")).unwrap();
    std::fs::write(f.root.join(".lock"), b"").unwrap();
    std::fs::remove_file(f.root.join(".lock.master")).unwrap();
    let created = private.join("created-by-fsck");
    std::os::unix::fs::symlink(&created, f.root.join(".lock.master")).unwrap();
    let out = bin_local(&f.root, &["fsck"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("symbolic link"),
        "{out:?}"
    );
    assert!(!created.exists(), "fsck created a file through a link");
    std::fs::remove_file(f.root.join(".lock.master")).unwrap();
    // A read-only fsck creates nothing, not even the lock files it finds missing.
    let before = snapshot(&f.root);
    let out = bin_local(&f.root, &["fsck"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(snapshot(&f.root), before);
    assert!(!f.root.join(".lock.master").exists());
    // Another user's lock file (they could lock it and block every run).
    let lock = f.root.join(".lock.wallaby");
    std::os::unix::fs::chown(&lock, Some(NOBODY), Some(NOBODY)).unwrap();
    let e = Store::open(&f.root)
        .unwrap()
        .layout("wallaby")
        .unwrap()
        .upload_bytes("a/b", &Digest::sha256(b"x"), Bytes::from_static(b"x"))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("belongs to another user"), "{e}");
}

/// Lock files are this user's only (0600), so nobody else can open them to `flock` them and block
/// every writer; an earlier version's 0644 lock file is made 0600 on first use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_user_cannot_lock_the_store_to_block_its_writers() {
    if !root_or_skip() {
        return;
    }
    let f = fixture().await;
    // Let the other user reach the files (the test's folder is 0700).
    chmod(f._root.path(), 0o755);
    let locks = [f.root.join(".lock"), f.root.join(".lock.master")];
    for l in &locks {
        assert_eq!(mode_of(l), 0o600, "{}", l.display());
    }
    // The test could fail: a file they can read, they can lock.
    let readable = f._root.path().join("readable");
    std::fs::write(&readable, b"").unwrap();
    chmod(&readable, 0o644);
    let l = readable.display().to_string();
    let out = as_nobody(&["flock", "-n", "-s", &l, "true"]);
    assert!(out.status.success(), "{out:?}");
    for lock in &locks {
        let l = lock.display().to_string();
        let out = as_nobody(&["flock", "-n", "-s", &l, "true"]);
        assert!(!out.status.success(), "{}: {out:?}", lock.display());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("Permission denied"),
            "{out:?}"
        );
    }
    // An earlier version's lock file, readable by all.
    chmod(&locks[0], 0o644);
    Store::open(&f.root).unwrap().lock().unwrap();
    assert_eq!(mode_of(&locks[0]), 0o600);
}

/// A release folder (or its `blobs`) that is a link to a layout elsewhere is no release: `list` does
/// not show it, deletes of it, of all, and the module's `delete_local` leave it and what it points
/// at alone and say why, a promotion cannot write through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_that_is_a_link_is_reported_and_left_alone() {
    let f = fixture().await;
    let other = tempfile::tempdir().unwrap();
    let ext = other.path().join("layout");
    let img = put_image(
        &Layout::open(&ext),
        "elsewhere/image",
        Some("v1"),
        "amd64",
        &[seed::layer(7, 5_000)],
        true,
    )
    .await;
    assert!(ext.join("blobs/sha256").join(img.digest.hex()).is_file());
    let outside = snapshot(&ext);
    std::os::unix::fs::symlink(&ext, f.root.join("zed")).unwrap();
    // `blobs` of a release linked to the outside layout's.
    let n = f.st.layout("newton").unwrap();
    put_image(&n, "ns/x", Some("h1"), "amd64", &[seed::layer(8, 1_000)], true).await;
    std::fs::rename(f.root.join("newton/blobs"), other.path().join("moved")).unwrap();
    std::os::unix::fs::symlink(ext.join("blobs"), f.root.join("newton/blobs")).unwrap();

    assert!(!f.st.releases().unwrap().contains(&"zed".to_string()));
    assert!(f.st.list().unwrap().iter().all(|i| i.release != "zed"));
    let out = bin_local(&f.root, &["list"]);
    assert!(out.status.success(), "{out:?}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("zed"), "{out:?}");
    let e = f.st.layout("zed").unwrap_err().to_string();
    assert!(e.contains("symbolic link") && e.contains("left alone"), "{e}");
    // The module's `delete_local scope=release release=zed`.
    let opts = store::DeleteOptions::default();
    for scope in [
        DeleteScope::Release("zed".into()),
        DeleteScope::Release("newton".into()),
    ] {
        let r = store::delete_verified(&f.root, &scope, opts, Duration::ZERO).unwrap();
        assert!(!r.changed, "{r:?}");
        assert!(
            r.warnings
                .iter()
                .any(|w| w.contains("symbolic link") && w.contains("left alone")),
            "{r:?}"
        );
    }
    let out = bin_local(&f.root, &["delete", "--release", "zed"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("symbolic link"),
        "{out:?}"
    );
    let fsck = f.st.fsck().unwrap();
    assert!(
        fsck.warnings
            .iter()
            .any(|w| w.contains("zed") && w.contains("symbolic link")),
        "{fsck:?}"
    );
    let out = bin_local(&f.root, &["delete", "--all", "--yes"]);
    assert!(out.status.success(), "{out:?}");
    assert!(!f.root.join("master").exists() && !f.root.join("wallaby").exists());
    assert_eq!(snapshot(&ext), outside, "the layout outside the store changed");
    assert!(
        std::fs::symlink_metadata(f.root.join("zed")).is_ok(),
        "the link stays"
    );
}

/// Backdate the creation time every reference of `hash` in `release` records.
fn backdate(root: &Path, release: &str, hash: &str, days: u64) {
    let path = root.join(release).join("index.json");
    let mut idx: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let then = std::time::SystemTime::now() - Duration::from_secs(days * 86_400);
    let secs = then.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let stamp = time_stamp(secs);
    for m in idx["manifests"].as_array_mut().unwrap() {
        if m["annotations"][store::ANN_HASH] == hash {
            m["annotations"][store::ANN_CREATED] = stamp.clone().into();
        }
    }
    std::fs::write(&path, serde_json::to_vec_pretty(&idx).unwrap()).unwrap();
}

/// Seconds since the epoch as RFC 3339 (UTC, seconds).
fn time_stamp(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil date from days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Copies of `hash` from `source` in `release`, one image of `size` unique bytes.
async fn kept_copy(st: &Store, release: &str, hash: &str, seed_n: u64, size: usize) {
    let l = st.layout(release).unwrap().with_hash(hash).with_source("quay.io");
    put_image(
        &l,
        &format!("{NS}/openstack-nova-compute"),
        Some(hash),
        "amd64",
        &[seed::layer(seed_n, size)],
        true,
    )
    .await;
}

/// The retention policy: copies older than the age limit go, then the oldest while the store is
/// over its size; the caller's own hash is spared, a release another run holds is skipped; every
/// removal is the verified delete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_removes_old_then_oversize_copies_and_spares_what_it_must() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("store");
    let st = Store::open(&root).unwrap();
    const OLD: &str = "0000000000000000000000000000000a";
    const MINE: &str = "0000000000000000000000000000000b";
    const MID: &str = "0000000000000000000000000000000c";
    const NEW: &str = "0000000000000000000000000000000d";
    kept_copy(&st, "master", OLD, 1, 20_000).await;
    kept_copy(&st, "master", MINE, 2, 20_000).await;
    kept_copy(&st, "master", MID, 3, 20_000).await;
    kept_copy(&st, "master", NEW, 4, 20_000).await;
    kept_copy(&st, "wallaby", OLD, 5, 20_000).await;
    backdate(&root, "master", OLD, 10);
    backdate(&root, "master", MINE, 9);
    backdate(&root, "master", MID, 3);
    backdate(&root, "wallaby", OLD, 12);
    let policy = store::Retention::default();
    assert_eq!(policy.max_age, Some(Duration::from_secs(7 * 86_400)));
    assert_eq!(policy.max_bytes, Some(20 << 30));
    let spare = [(
        "master".to_string(),
        Some("quay.io".to_string()),
        MINE.to_string(),
    )];
    // Another run works on wallaby: left for a later pass.
    let other = Store::open(&root).unwrap();
    let busy = other.lock_release("wallaby", true).unwrap();
    let now = std::time::SystemTime::now();
    let r = st.retain(&policy, &spare, now).unwrap();
    assert_eq!(r.skipped, ["wallaby"]);
    assert!(r.problems.is_empty(), "{r:?}");
    let gone: Vec<(&str, &str, &str)> = r
        .pruned
        .iter()
        .map(|p| (p.release.as_str(), p.hash.as_str(), p.reason))
        .collect();
    assert_eq!(gone, [("master", OLD, "age")]);
    assert_eq!(r.pruned[0].references, 1);
    assert!(r.pruned[0].freed_bytes >= 20_000, "{r:?}");
    let hashes = |release: &str| -> Vec<String> {
        st.list_release(release)
            .unwrap()
            .into_iter()
            .filter_map(|i| i.hash)
            .collect()
    };
    assert_eq!(hashes("master"), [MINE, MID, NEW]);
    drop(busy);
    // Over the size limit: the oldest go first (wallaby's, then master's MID), not the spared one.
    let total = st.total_size().unwrap();
    let policy = store::Retention {
        max_age: None,
        max_bytes: Some(total - 30_000),
    };
    let r = st.retain(&policy, &spare, now).unwrap();
    let gone: Vec<(&str, &str, &str)> = r
        .pruned
        .iter()
        .map(|p| (p.release.as_str(), p.hash.as_str(), p.reason))
        .collect();
    assert_eq!(gone, [("wallaby", OLD, "size"), ("master", MID, "size")]);
    assert!(st.total_size().unwrap() <= total - 30_000);
    assert_eq!(hashes("master"), [MINE, NEW]);
    // What it says it freed is what went from the disk.
    let freed: u64 = r.pruned.iter().map(|p| p.freed_bytes).sum();
    assert_eq!(freed, total - st.total_size().unwrap(), "{r:?}");
    // Over the limit again, the oldest copy in a release another run holds: it is skipped, not
    // counted as freed; the next oldest goes instead.
    kept_copy(&st, "wallaby", OLD, 6, 20_000).await;
    backdate(&root, "wallaby", OLD, 12);
    let busy = other.lock_release("wallaby", true).unwrap();
    let total = st.total_size().unwrap();
    let policy = store::Retention {
        max_age: None,
        max_bytes: Some(total - 10_000),
    };
    let r = st.retain(&policy, &spare, now).unwrap();
    assert_eq!(r.skipped, ["wallaby"]);
    let gone: Vec<(&str, &str)> = r
        .pruned
        .iter()
        .map(|p| (p.release.as_str(), p.hash.as_str()))
        .collect();
    assert_eq!(gone, [("master", NEW)]);
    assert_eq!(r.pruned[0].freed_bytes, total - st.total_size().unwrap());
    drop(busy);
    assert_eq!(hashes("master"), [MINE]);
    assert!(st.fsck().unwrap().ok);
    // Off: nothing happens.
    let off = store::Retention::from_settings(0, 0);
    assert_eq!(st.retain(&off, &[], now).unwrap(), store::RetainReport::default());
}
