//! `copy-containers stage`: create a TripleO-like release in a registry, for tests, the demo and
//! benchmarks. N images share a few base layers and each has one or two unique layers (gzip'd tar
//! data that is not all zeros); each image has `<fh>` and `<fh>_x86_64` (amd64 config) and
//! `<fh>_ppc64le` (ppc64le config, its own layers) except for the images chosen to lack ppc.

use std::collections::HashSet;
use std::io::Write;

use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use serde::Serialize;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest::media;
use crate::registry::{MountResult, Registry};

/// Real TripleO container names (from tripleo-common's list), used in order.
pub const TRIPLEO_NAMES: &[&str] = &[
    "base",
    "os",
    "aodh-api",
    "aodh-evaluator",
    "aodh-listener",
    "aodh-notifier",
    "barbican-api",
    "barbican-keystone-listener",
    "barbican-worker",
    "ceilometer-central",
    "ceilometer-compute",
    "ceilometer-notification",
    "ceilometer-ipmi",
    "cinder-api",
    "cinder-backup",
    "cinder-scheduler",
    "cinder-volume",
    "collectd",
    "cron",
    "designate-api",
    "designate-backend-bind9",
    "designate-central",
    "designate-mdns",
    "designate-producer",
    "designate-sink",
    "designate-worker",
    "etcd",
    "frr",
    "glance-api",
    "gnocchi-api",
    "gnocchi-metricd",
    "gnocchi-statsd",
    "heat-api",
    "heat-api-cfn",
    "heat-engine",
    "horizon",
    "ironic-api",
    "ironic-conductor",
    "ironic-inspector",
    "ironic-neutron-agent",
    "ironic-pxe",
    "iscsid",
    "keystone",
    "manila-api",
    "manila-scheduler",
    "manila-share",
    "mariadb",
    "memcached",
    "multipathd",
    "neutron-dhcp-agent",
    "neutron-l3-agent",
    "neutron-metadata-agent",
    "neutron-openvswitch-agent",
    "neutron-server",
    "neutron-sriov-agent",
    "nova-api",
    "nova-compute",
    "nova-conductor",
    "nova-libvirt",
    "nova-novncproxy",
    "nova-scheduler",
    "octavia-api",
    "octavia-health-manager",
    "octavia-housekeeping",
    "octavia-worker",
    "ovn-controller",
    "ovn-nb-db-server",
    "ovn-northd",
    "ovn-sb-db-server",
    "placement-api",
    "qdrouterd",
    "rabbitmq",
    "redis",
    "rsyslog",
    "swift-account",
    "swift-container",
    "swift-object",
    "swift-proxy-server",
    "tempest",
    "unbound",
];

/// What to stage.
#[derive(Clone, Debug)]
pub struct StageOptions {
    pub namespace: String,
    pub prefix: String,
    pub full_hash: String,
    pub names: Vec<String>,
    /// Names that get no `<fh>_ppc64le`.
    pub ppc_missing: Vec<String>,
    /// Stage no ppc images at all.
    pub no_ppc: bool,
    pub base_layers: usize,
    pub base_layer_size: usize,
    pub unique_layer_size: usize,
    /// Extra layer of this size on the first image (memory benchmarks).
    pub big_layer_size: Option<usize>,
    pub seed: u64,
    /// OCI manifests instead of Docker v2s2.
    pub oci: bool,
    pub concurrency: usize,
    /// Where the images staged are counted (a phase `stage`, one step per image).
    pub progress: crate::progress::Progress,
}

impl Default for StageOptions {
    fn default() -> Self {
        StageOptions {
            namespace: "tripleomaster".into(),
            prefix: "openstack".into(),
            full_hash: "d7c3cd922f91d83aacb5d7555de9d5bc".into(),
            names: TRIPLEO_NAMES.iter().take(10).map(|s| s.to_string()).collect(),
            ppc_missing: vec![],
            no_ppc: false,
            base_layers: 3,
            base_layer_size: 256 << 10,
            unique_layer_size: 64 << 10,
            big_layer_size: None,
            seed: 1,
            oci: false,
            concurrency: 8,
            progress: crate::progress::Progress::none(),
        }
    }
}

/// One staged image.
#[derive(Clone, Debug, Serialize)]
pub struct StagedImage {
    pub name: String,
    pub repository: String,
    pub x86_digest: String,
    pub ppc_digest: Option<String>,
    pub layers: usize,
    pub bytes: u64,
}

/// `n` names: the TripleO names first, then `image-<i>`.
pub fn default_names(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            TRIPLEO_NAMES
                .get(i)
                .map(|s| s.to_string())
                .unwrap_or_else(|| format!("image-{i}"))
        })
        .collect()
}

/// Deterministic, compressible-but-not-trivial content, as a one-file tar, gzip'd.
/// Returns (gzip bytes, diff_id of the tar).
pub fn make_layer(seed: u64, size: usize) -> (Vec<u8>, Digest) {
    let mut rng = fastrand::Rng::with_seed(seed);
    const WORDS: &[&str] = &[
        "openstack",
        "nova",
        "neutron",
        "compute",
        "tripleo",
        "container",
        "python3",
        "lib",
        "site-packages",
        "etc",
        "usr",
        "share",
        "config",
        "kolla",
        "rdo",
        "centos",
        "stream",
        "rpm",
        "ovs",
        "libvirt",
    ];
    let mut content = Vec::with_capacity(size);
    while content.len() < size {
        if rng.u8(..) < 64 {
            // a run of random bytes: keeps the gzip ratio realistic
            for _ in 0..rng.usize(16..256) {
                content.push(rng.u8(..));
            }
        } else {
            content.extend_from_slice(WORDS[rng.usize(..WORDS.len())].as_bytes());
            content.push(if rng.bool() { b'/' } else { b' ' });
        }
    }
    content.truncate(size);
    let tar = tar_one(&format!("layer-{seed}.bin"), &content);
    let diff_id = Digest::sha256(&tar);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).expect("writing to a Vec cannot fail");
    (gz.finish().expect("writing to a Vec cannot fail"), diff_id)
}

/// A ustar archive holding one regular file.
fn tar_one(name: &str, data: &[u8]) -> Vec<u8> {
    let mut h = [0u8; 512];
    let n = name.as_bytes();
    h[..n.len().min(100)].copy_from_slice(&n[..n.len().min(100)]);
    h[100..108].copy_from_slice(b"0000644\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    h[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
    h[136..148].copy_from_slice(b"14000000000\0");
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| b as u32).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut out = h.to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0u8; 1024]);
    out
}

fn config_json(arch: &str, diff_ids: &[Digest], name: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "architecture": arch,
        "os": "linux",
        "created": "2026-11-01T00:00:00Z",
        "config": {"Labels": {"name": name, "vendor": "copy-containers stage"}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids.iter().map(|d| d.as_str()).collect::<Vec<_>>()},
    }))
    .expect("JSON values serialise")
}

struct Blob {
    bytes: Bytes,
    digest: Digest,
    diff_id: Digest,
}

fn blob(seed: u64, size: usize) -> Blob {
    let (gz, diff_id) = make_layer(seed, size);
    let digest = Digest::sha256(&gz);
    Blob {
        bytes: Bytes::from(gz),
        digest,
        diff_id,
    }
}

fn manifest_json(oci: bool, config: &(Digest, usize), layers: &[&Blob]) -> (String, Bytes) {
    let (mt, cmt, lmt) = if oci {
        (media::OCI_MANIFEST, media::OCI_CONFIG, media::OCI_LAYER_GZIP)
    } else {
        (media::DOCKER_V2S2, media::DOCKER_CONFIG, media::DOCKER_LAYER_GZIP)
    };
    let m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": mt,
        "config": {"mediaType": cmt, "size": config.1, "digest": config.0.as_str()},
        "layers": layers.iter().map(|l| serde_json::json!({"mediaType": lmt, "size": l.bytes.len(), "digest": l.digest.as_str()})).collect::<Vec<_>>(),
    });
    (
        mt.to_string(),
        Bytes::from(serde_json::to_vec_pretty(&m).expect("JSON values serialise")),
    )
}

/// Push blobs into `repo`: skip present ones, mount ones already pushed to `mount_from`.
async fn ensure_blob(
    reg: &Registry,
    repo: &str,
    digest: &Digest,
    bytes: &Bytes,
    mount_from: Option<&str>,
) -> Result<()> {
    if reg.blob_exists(repo, digest).await?.is_some() {
        return Ok(());
    }
    if let Some(from) = mount_from.filter(|f| *f != repo) {
        if let Ok(MountResult::Mounted) = reg.mount_blob(repo, digest, from).await {
            return Ok(());
        }
    }
    reg.upload_bytes(repo, digest, bytes.clone()).await
}

/// Stage the release into `reg`.
pub async fn stage(reg: &Registry, o: &StageOptions) -> Result<Vec<StagedImage>> {
    crate::promote::model::validate_full_hash(&o.full_hash)?;
    if o.names.is_empty() {
        return Err(Error::Config("stage: no image names".into()));
    }
    let base_x86: Vec<Blob> = (0..o.base_layers)
        .map(|i| blob(o.seed * 1000 + i as u64, o.base_layer_size))
        .collect();
    let base_ppc: Vec<Blob> = (0..o.base_layers)
        .map(|i| blob(o.seed * 1000 + 500 + i as u64, o.base_layer_size))
        .collect();
    o.progress.phase("stage", o.names.len() as u64);
    let first_repo = format!("{}/{}-{}", o.namespace, o.prefix, o.names[0]);
    // Base layers go to the first repository once; the others mount them.
    for b in base_x86.iter().chain(base_ppc.iter()) {
        ensure_blob(reg, &first_repo, &b.digest, &b.bytes, None).await?;
    }
    let missing: HashSet<&String> = o.ppc_missing.iter().collect();
    let results: Vec<Result<StagedImage>> = stream::iter(o.names.iter().enumerate().map(|(i, name)| {
        let base_x86 = &base_x86;
        let base_ppc = &base_ppc;
        let first_repo = first_repo.clone();
        let with_ppc = !o.no_ppc && !missing.contains(name);
        async move {
            let repo = format!("{}/{}-{}", o.namespace, o.prefix, name);
            crate::reference::validate_repository(&repo)?;
            let seed = o.seed * 1_000_000 + (i as u64 + 1) * 10;
            let mut bytes_total = 0u64;
            let build = |arch: &str, base: &[Blob], seed: u64| -> (Vec<Blob>, Vec<u8>) {
                let n_unique = 1 + (seed as usize / 10) % 2;
                let mut uniq: Vec<Blob> = (0..n_unique)
                    .map(|k| blob(seed + k as u64, o.unique_layer_size))
                    .collect();
                if i == 0 && arch == "amd64" {
                    if let Some(big) = o.big_layer_size {
                        uniq.push(blob(seed + 7, big));
                    }
                }
                let diff_ids: Vec<Digest> = base
                    .iter()
                    .chain(uniq.iter())
                    .map(|b| b.diff_id.clone())
                    .collect();
                let cfg = config_json(arch, &diff_ids, name);
                (uniq, cfg)
            };
            let mut digests = Vec::new();
            let mut layers_count = 0;
            for (arch, base, s) in [("amd64", base_x86, seed), ("ppc64le", base_ppc, seed + 5)] {
                if arch == "ppc64le" && !with_ppc {
                    digests.push(None);
                    continue;
                }
                let (uniq, cfg) = build(arch, base, s);
                let cfg_digest = Digest::sha256(&cfg);
                for b in base {
                    ensure_blob(reg, &repo, &b.digest, &b.bytes, Some(&first_repo)).await?;
                }
                for b in &uniq {
                    ensure_blob(reg, &repo, &b.digest, &b.bytes, None).await?;
                    bytes_total += b.bytes.len() as u64;
                }
                let cfg_bytes = Bytes::from(cfg);
                ensure_blob(reg, &repo, &cfg_digest, &cfg_bytes, None).await?;
                let layers: Vec<&Blob> = base.iter().chain(uniq.iter()).collect();
                layers_count = layers.len();
                let (mt, m) = manifest_json(o.oci, &(cfg_digest, cfg_bytes.len()), &layers);
                let tags: Vec<String> = if arch == "amd64" {
                    vec![o.full_hash.clone(), format!("{}_x86_64", o.full_hash)]
                } else {
                    vec![format!("{}_ppc64le", o.full_hash)]
                };
                let mut d = None;
                for t in tags {
                    d = Some(reg.put_manifest(&repo, &t, &mt, m.clone()).await?);
                }
                digests.push(d);
            }
            tracing::debug!(%repo, "staged");
            o.progress.step();
            Ok(StagedImage {
                name: name.clone(),
                repository: repo,
                x86_digest: digests[0].clone().map(|d| d.to_string()).unwrap_or_default(),
                ppc_digest: digests.get(1).cloned().flatten().map(|d| d.to_string()),
                layers: layers_count,
                bytes: bytes_total,
            })
        }
    }))
    .buffer_unordered(o.concurrency.max(1))
    .collect()
    .await;
    let mut out = results.into_iter().collect::<Result<Vec<_>>>()?;
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_are_deterministic_gzip_tars() {
        let (a, da) = make_layer(7, 10_000);
        let (b, db) = make_layer(7, 10_000);
        assert_eq!(a, b);
        assert_eq!(da, db);
        assert_eq!(&a[..2], &[0x1f, 0x8b]);
        let (c, _) = make_layer(8, 10_000);
        assert_ne!(a, c);
        // not all zeros and not trivially compressible
        assert!(a.len() > 1000, "{}", a.len());
        let mut dec = flate2::read::GzDecoder::new(&a[..]);
        let mut tar = Vec::new();
        std::io::Read::read_to_end(&mut dec, &mut tar).unwrap();
        assert_eq!(Digest::sha256(&tar), da);
        assert_eq!(&tar[257..262], b"ustar");
        assert_eq!(tar.len() % 512, 0);
    }

    #[test]
    fn names() {
        let n = default_names(100);
        assert_eq!(n.len(), 100);
        assert_eq!(n[0], "base");
        assert_eq!(n[99], "image-99");
        assert_eq!(n.iter().collect::<HashSet<_>>().len(), 100);
    }
}
