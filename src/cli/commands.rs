//! The verbs behind the CLI's subcommands. What they print goes through the run's scrubber
//! ([`crate::report::scrub`]): a registry can echo credentials in anything it answers (except
//! `inspect --raw`, which prints the manifest's exact bytes).

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::flags::parse_registry_spec;

use crate::manifest::Content;
use crate::options::RegistryArgs;
use crate::progress::Progress;
use crate::verbs::images::{self, Action};
use crate::verbs::{stage_names, StageOptions};

/// [`say!`] through the scrubber.
macro_rules! out {
    ($($t:tt)*) => { say!("{}", crate::report::scrub(&format!($($t)*), &[])) };
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Image reference: host[:port]/path/name[:tag][@sha256:…]
    pub image: String,
    /// Print the manifest bytes exactly as the registry serves them.
    #[arg(long)]
    pub raw: bool,
    /// Print the summary as JSON.
    #[arg(long, conflicts_with = "raw")]
    pub json: bool,
    /// The registry speaks plain HTTP (no TLS).
    #[arg(long)]
    pub insecure: bool,
    /// TLS without checking the registry's certificate (warned about; prefer a CA file).
    #[arg(long)]
    pub no_tls_verify: bool,
    /// PEM file of a CA to trust for the registry, besides the system store.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// certs.d directory of this registry (`*.crt` CAs, `*.cert`/`*.key` client pair), as skopeo's
    /// `--cert-dir`; default: `<host[:port]>` in /etc/containers/certs.d, /etc/docker/certs.d.
    #[arg(long)]
    pub cert_dir: Option<PathBuf>,
    /// User name for the registry (with the password's environment variable).
    #[arg(long)]
    pub username: Option<String>,
    /// Name of the environment variable holding the password.
    #[arg(long)]
    pub password_env: Option<String>,
    /// Auth file (docker config.json / containers auth.json) instead of the default ones.
    #[arg(long)]
    pub authfile: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct CopyArgs {
    /// Source image: host[:port]/path/name[:tag][@digest]
    pub src: String,
    /// Destination: host[:port]/path/name[:tag] (the source tag when none is given)
    pub dst: String,
    /// Show what would be copied, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The source registry speaks plain HTTP (no TLS).
    #[arg(long)]
    pub src_insecure: bool,
    /// TLS without checking the source registry's certificate (warned about; prefer a CA file).
    #[arg(long)]
    pub src_no_tls_verify: bool,
    /// PEM file of a CA to trust for the source registry, besides the system store.
    #[arg(long)]
    pub src_ca_file: Option<PathBuf>,
    /// certs.d directory of this registry (`*.crt` CAs, `*.cert`/`*.key` client pair), as skopeo's
    /// `--src-cert-dir`; default: `<host[:port]>` in /etc/containers/certs.d, /etc/docker/certs.d.
    #[arg(long)]
    pub src_cert_dir: Option<PathBuf>,
    /// User name for the source registry (with the password's environment variable).
    #[arg(long)]
    pub src_username: Option<String>,
    /// Name of the environment variable holding the source registry's password.
    #[arg(long)]
    pub src_password_env: Option<String>,
    /// The destination registry speaks plain HTTP (no TLS).
    #[arg(long)]
    pub dest_insecure: bool,
    /// TLS without checking the destination registry's certificate (warned about; prefer a CA file).
    #[arg(long)]
    pub dest_no_tls_verify: bool,
    /// PEM file of a CA to trust for the destination registry, besides the system store.
    #[arg(long)]
    pub dest_ca_file: Option<PathBuf>,
    /// certs.d directory of this registry (`*.crt` CAs, `*.cert`/`*.key` client pair), as skopeo's
    /// `--dest-cert-dir`; default: `<host[:port]>` in /etc/containers/certs.d, /etc/docker/certs.d.
    #[arg(long)]
    pub dest_cert_dir: Option<PathBuf>,
    /// User name for the destination registry (with the password's environment variable).
    #[arg(long)]
    pub dest_username: Option<String>,
    /// Name of the environment variable holding the destination registry's password.
    #[arg(long)]
    pub dest_password_env: Option<String>,
    /// Auth file for both sides (docker config.json / containers auth.json).
    #[arg(long)]
    pub authfile: Option<PathBuf>,
    /// Attempts per request (retries on 408/429/5xx/timeouts/resets).
    #[arg(long, default_value_t = 5)]
    pub retries: u32,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn inspect(a: InspectArgs) -> anyhow::Result<i32> {
    let settings = side(
        (a.insecure, a.no_tls_verify),
        (a.ca_file, a.cert_dir),
        (a.username, a.password_env),
        a.authfile,
    );
    let i = images::inspect(&a.image, &settings, !a.raw).await?;
    let (m, summary) = (&i.manifest, &i.summary);
    if a.raw {
        std::io::stdout().write_all(&m.bytes)?;
        return Ok(0);
    }
    if a.json {
        out!("{}", serde_json::to_string_pretty(summary)?);
        return Ok(0);
    }
    out!("Name:       {}", summary["name"].as_str().unwrap_or(""));
    out!("Reference:  {}", summary["reference"].as_str().unwrap_or(""));
    out!("Media type: {}", m.media_type);
    out!("Digest:     {}", m.digest);
    match m.content()? {
        Content::Index { children } => {
            out!("Manifests:  {}", children.len());
            for c in children {
                out!(
                    "  {}/{}{}  {}  {} bytes",
                    c.os.as_deref().unwrap_or("?"),
                    c.architecture.as_deref().unwrap_or("?"),
                    c.variant.as_deref().map(|v| format!("/{v}")).unwrap_or_default(),
                    c.descriptor.digest,
                    c.descriptor.size
                );
            }
        }
        Content::Image { config, layers } => {
            out!(
                "Platform:   {}/{}",
                summary["os"].as_str().unwrap_or("?"),
                summary["architecture"].as_str().unwrap_or("?")
            );
            out!("Config:     {} ({} bytes)", config.digest, config.size);
            let total: u64 = layers.iter().map(|l| l.size).sum();
            out!("Layers:     {} ({} bytes)", layers.len(), total);
            for l in layers {
                out!("  {}  {} bytes", l.digest, l.size);
            }
        }
    }
    Ok(0)
}

/// The flags that say how to reach one registry, as a registry's keys (its host comes from the
/// image reference).
fn side(
    (insecure, no_tls_verify): (bool, bool),
    (ca_file, cert_dir): (Option<PathBuf>, Option<PathBuf>),
    (username, password_env): (Option<String>, Option<String>),
    authfile: Option<PathBuf>,
) -> RegistryArgs {
    RegistryArgs {
        insecure: Some(insecure),
        tls_verify: Some(!no_tls_verify),
        ca_file,
        cert_dir,
        username,
        password_env,
        authfile,
        ..RegistryArgs::default()
    }
}

pub async fn copy(a: CopyArgs, progress: &Progress) -> anyhow::Result<i32> {
    let req = images::CopyRequest {
        source: a.src,
        destination: a.dst,
        source_registry: side(
            (a.src_insecure, a.src_no_tls_verify),
            (a.src_ca_file, a.src_cert_dir),
            (a.src_username, a.src_password_env),
            a.authfile.clone(),
        ),
        dest_registry: side(
            (a.dest_insecure, a.dest_no_tls_verify),
            (a.dest_ca_file, a.dest_cert_dir),
            (a.dest_username, a.dest_password_env),
            a.authfile,
        ),
        retries: a.retries,
        dry_run: a.dry_run,
    };
    let outcome = images::copy(&req, progress).await?;
    progress.finish();
    // Failures are logged (stderr, in the log format asked for, masked there), whatever the output.
    if let Some(e) = &outcome.error {
        tracing::error!(source = %outcome.source, "{e}");
    }
    for d in &outcome.dests {
        if let Some(e) = &d.error {
            tracing::error!(destination = %d.destination, "{}: {e}", d.destination);
        }
    }
    if a.json {
        out!("{}", serde_json::to_string_pretty(&outcome)?);
    } else {
        for d in &outcome.dests {
            for (tag, action) in &d.tags {
                let what = match action {
                    Action::AlreadyPresent => "already present",
                    Action::Copied => "copied",
                    Action::WouldCopy => "would copy",
                    Action::Failed => "FAILED",
                };
                out!(
                    "{}:{tag}  {}  {what}  (blobs: {} uploaded, {} mounted, {} present; {} bytes)",
                    d.destination,
                    d.digest.as_ref().map(|d| d.as_str()).unwrap_or("?"),
                    d.blobs_uploaded,
                    d.blobs_mounted,
                    d.blobs_present,
                    d.bytes_uploaded
                );
            }
        }
    }
    Ok(if outcome.ok() { 0 } else { 1 })
}

#[derive(Args, Debug)]
pub struct StageArgs {
    /// Registry: `host/namespace` or key=value pairs as for promote --source.
    #[arg(long)]
    pub registry: String,
    /// The tag every staged image gets (a DLRN hash).
    #[arg(long, default_value = "d7c3cd922f91d83aacb5d7555de9d5bc")]
    pub full_hash: String,
    /// Number of images (names from TripleO's list).
    #[arg(long, default_value_t = 10)]
    pub images: usize,
    /// Explicit names, comma-separated (instead of --images).
    #[arg(long, value_delimiter = ',')]
    pub names: Option<Vec<String>>,
    /// Names without a ppc64le image, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub ppc_missing: Vec<String>,
    /// No ppc64le images at all.
    #[arg(long)]
    pub no_ppc: bool,
    /// Repository name prefix: `<namespace>/<prefix>-<name>`.
    #[arg(long, default_value = "openstack")]
    pub prefix: String,
    /// Number of base layers shared by every image.
    #[arg(long, default_value_t = 3)]
    pub base_layers: usize,
    /// Size of each shared base layer before compression, bytes.
    #[arg(long, default_value_t = 256 << 10)]
    pub base_layer_size: usize,
    /// Size of each unique layer before compression, bytes.
    #[arg(long, default_value_t = 64 << 10)]
    pub unique_layer_size: usize,
    /// An extra layer of this many bytes on the first image.
    #[arg(long)]
    pub big_layer_size: Option<usize>,
    /// Seed of the layers' random content (the same seed stages the same digests).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// OCI manifests instead of Docker v2s2.
    #[arg(long)]
    pub oci: bool,
    /// Print what was staged (names, repositories, digests, sizes) as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn stage_cmd(a: StageArgs, progress: &Progress) -> anyhow::Result<i32> {
    let registry = parse_registry_spec(&a.registry)?;
    let opts = StageOptions {
        namespace: String::new(),
        prefix: a.prefix,
        full_hash: a.full_hash,
        names: a.names.unwrap_or_else(|| stage_names(a.images)),
        ppc_missing: a.ppc_missing,
        no_ppc: a.no_ppc,
        base_layers: a.base_layers,
        base_layer_size: a.base_layer_size,
        unique_layer_size: a.unique_layer_size,
        big_layer_size: a.big_layer_size,
        seed: a.seed,
        oci: a.oci,
        concurrency: 8,
        progress: progress.clone(),
    };
    let full_hash = opts.full_hash.clone();
    let staged = crate::verbs::stage(&registry, opts).await;
    progress.finish();
    let (staged, place) = staged?;
    if a.json {
        say!("{}", serde_json::to_string_pretty(&staged)?);
    } else {
        let ppc = staged.iter().filter(|s| s.ppc_digest.is_some()).count();
        say!(
            "staged {} images ({} with ppc64le) under {place} with tag {full_hash}",
            staged.len(),
            ppc
        );
    }
    Ok(0)
}
