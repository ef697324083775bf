//! The verbs behind the CLI's subcommands. What they print goes through the run's scrubber
//! ([`crate::report::scrub`]): a registry can echo credentials in anything it answers (except
//! `inspect --raw`, which prints the manifest's exact bytes).

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::Side;
use crate::copy::{self, Action, CopyOptions, CopyRequest, Endpoint};
use crate::manifest::{config_platform, Content};
use crate::progress::Progress;
use crate::reference::Reference;

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
    let r: Reference = a.image.parse().map_err(super::usage_err)?;
    let side = Side {
        insecure: a.insecure,
        no_tls_verify: a.no_tls_verify,
        ca_file: a.ca_file,
        cert_dir: a.cert_dir,
        username: a.username,
        password_env: a.password_env,
        authfile: a.authfile,
        retries: None,
    };
    let reg = side.registry(&r)?;
    let m = reg.get_manifest(&r.repository, &r.reference()).await?;
    if a.raw {
        std::io::stdout().write_all(&m.bytes)?;
        return Ok(0);
    }
    let mut summary = serde_json::json!({
        "name": r.name(),
        "reference": r.reference(),
        "mediaType": m.media_type,
        "digest": m.digest.as_str(),
        "size": m.bytes.len(),
    });
    match m.content()? {
        Content::Index { children } => {
            summary["manifests"] = serde_json::to_value(&children)?;
        }
        Content::Image { config, layers } => {
            let cfg = reg.get_blob_bytes(&r.repository, &config.digest, 8 << 20).await?;
            let p = config_platform(&cfg).unwrap_or_default();
            summary["architecture"] = p.architecture.clone().into();
            summary["os"] = p.os.clone().into();
            summary["config"] = serde_json::to_value(&config)?;
            summary["layers"] = serde_json::to_value(&layers)?;
        }
    }
    if a.json {
        out!("{}", serde_json::to_string_pretty(&summary)?);
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

pub async fn copy(a: CopyArgs, progress: &Progress) -> anyhow::Result<i32> {
    let src: Reference = a.src.parse().map_err(super::usage_err)?;
    let mut dst: Reference = a.dst.parse().map_err(super::usage_err)?;
    if dst.digest.is_some() {
        return Err(usage!("the destination {dst} must name a tag, not a digest"));
    }
    if dst.tag.is_none() {
        dst.tag = Some(src.tag.clone().unwrap_or_else(|| "latest".into()));
        if src.tag.is_none() && src.digest.is_some() {
            return Err(usage!(
                "the source is given by digest: give the destination a tag"
            ));
        }
    }
    let src_side = Side {
        insecure: a.src_insecure,
        no_tls_verify: a.src_no_tls_verify,
        ca_file: a.src_ca_file,
        cert_dir: a.src_cert_dir,
        username: a.src_username,
        password_env: a.src_password_env,
        authfile: a.authfile.clone(),
        retries: Some(a.retries),
    };
    let dst_side = Side {
        insecure: a.dest_insecure,
        no_tls_verify: a.dest_no_tls_verify,
        ca_file: a.dest_ca_file,
        cert_dir: a.dest_cert_dir,
        username: a.dest_username,
        password_env: a.dest_password_env,
        authfile: a.authfile,
        retries: Some(a.retries),
    };
    let sreg = src_side.registry(&src)?;
    let dreg = dst_side.registry(&dst)?;
    let req = CopyRequest {
        source: Endpoint::new(&sreg, &src.repository),
        reference: src.reference(),
        dests: vec![(
            Endpoint::new(&dreg, &dst.repository),
            vec![dst.tag.clone().expect("set above")],
        )],
        known: None,
    };
    let opts = CopyOptions {
        dry_run: a.dry_run,
        progress: progress.clone(),
        ..CopyOptions::default()
    };
    let outcome = copy::copy_batch(std::slice::from_ref(&req), &opts)
        .await
        .remove(0);
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
