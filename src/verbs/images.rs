//! Verbs on one image: [`inspect`] (its manifest, summed up) and [`copy`] (every architecture,
//! byte-exact, to one destination). Their registries are reached with the settings a promotion's
//! are built with ([`RegistryArgs::config`]: TLS, credentials, warnings), the host taken from the
//! image reference.

use bytes::Bytes;
use serde_json::{json, Value};

use crate::copy::{self, CopyOptions, Endpoint};
pub use crate::copy::{Action, CopyOutcome};
use crate::error::{Error, Result};
use crate::manifest::{config_platform, Content, Manifest};
use crate::progress::Progress;
use crate::promote::RegistryArgs;
use crate::reference::Reference;
use crate::registry::Registry;

/// A client for the registry of `r`, with `settings` (their `host` is the reference's).
fn client(r: &Reference, settings: &RegistryArgs, what: &str, retries: u32) -> Result<Registry> {
    let args = RegistryArgs {
        host: r.registry.clone(),
        ..settings.clone()
    };
    Registry::new(args.config(what, retries)?)
}

/// An image's manifest as the registry serves it, and (`summary`) what it holds: name, digest,
/// size, and per architecture (a list) or its platform, config and layers (an image).
pub struct Inspection {
    pub reference: Reference,
    pub manifest: Manifest,
    pub summary: Value,
}

/// Read `image`'s manifest (and, with `summarize`, its config for the platform).
pub async fn inspect(image: &str, settings: &RegistryArgs, summarize: bool) -> Result<Inspection> {
    let r: Reference = image.parse()?;
    // The transport's default attempts.
    let reg = client(&r, settings, "registry", 5)?;
    let m = reg.get_manifest(&r.repository, &r.reference()).await?;
    let mut summary = json!({
        "name": r.name(),
        "reference": r.reference(),
        "mediaType": m.media_type,
        "digest": m.digest.as_str(),
        "size": m.bytes.len(),
    });
    if summarize {
        match m.content()? {
            Content::Index { children } => {
                summary["manifests"] = serde_json::to_value(&children).map_err(|e| json_error(&e))?;
            }
            Content::Image { config, layers } => {
                let cfg: Bytes = reg.get_blob_bytes(&r.repository, &config.digest, 8 << 20).await?;
                let p = config_platform(&cfg).unwrap_or_default();
                summary["architecture"] = p.architecture.clone().into();
                summary["os"] = p.os.clone().into();
                summary["config"] = serde_json::to_value(&config).map_err(|e| json_error(&e))?;
                summary["layers"] = serde_json::to_value(&layers).map_err(|e| json_error(&e))?;
            }
        }
    }
    Ok(Inspection {
        reference: r,
        manifest: m,
        summary,
    })
}

fn json_error(e: &serde_json::Error) -> Error {
    Error::invalid("manifest", "(content)", e.to_string())
}

/// One image to copy.
pub struct CopyRequest {
    /// `host[:port]/path/name[:tag][@digest]`.
    pub source: String,
    /// `host[:port]/path/name[:tag]` (the source's tag when none is given).
    pub destination: String,
    /// How to reach each side (their hosts are the references').
    pub source_registry: RegistryArgs,
    pub dest_registry: RegistryArgs,
    /// Attempts per request.
    pub retries: u32,
    pub dry_run: bool,
}

/// Copy one image (every architecture) from the source to the destination, byte-exact. An error
/// is the request's (nothing was copied); what failed on the way is in the outcome.
pub async fn copy(req: &CopyRequest, progress: &Progress) -> Result<CopyOutcome> {
    let src: Reference = req.source.parse()?;
    let mut dst: Reference = req.destination.parse()?;
    if dst.digest.is_some() {
        return Err(Error::invalid(
            "destination",
            &dst,
            "must name a tag, not a digest",
        ));
    }
    if dst.tag.is_none() {
        if src.tag.is_none() && src.digest.is_some() {
            return Err(Error::invalid(
                "destination",
                &dst,
                "the source is given by digest: give the destination a tag",
            ));
        }
        dst.tag = Some(src.tag.clone().unwrap_or_else(|| "latest".into()));
    }
    let sreg = client(&src, &req.source_registry, "source", req.retries)?;
    let dreg = client(&dst, &req.dest_registry, "destination", req.retries)?;
    let one = copy::CopyRequest {
        source: Endpoint::new(&sreg, &src.repository),
        reference: src.reference(),
        dests: vec![(
            Endpoint::new(&dreg, &dst.repository),
            vec![dst.tag.clone().unwrap_or_default()],
        )],
        known: None,
    };
    let opts = CopyOptions {
        dry_run: req.dry_run,
        progress: progress.clone(),
        ..CopyOptions::default()
    };
    let mut outcomes = copy::copy_batch(std::slice::from_ref(&one), &opts).await;
    Ok(outcomes.remove(0))
}
