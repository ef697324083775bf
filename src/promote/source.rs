//! The first step of a promotion, and the only one that reads the source: does every container exist
//! under the hash (from the source registry, or from a local copy an earlier run kept), and, when a
//! target gets manifest lists, which per-architecture images make each list. Its output,
//! [`Facts`] per container, is plain data the pure [`super::plan`] works from.

use std::collections::HashMap;

use bytes::Bytes;
use futures_util::stream::{self, StreamExt};

use super::model::Promotion;
use crate::copy::{FetchedBlobs, Place};
use crate::digest::Digest;
use crate::manifest::{build_docker_list, config_platform, ConfigPlatform, Content, Manifest};
use crate::oci::Layout;
use crate::progress::Progress;
use crate::reference::RepoPath;
use crate::registry::Registry;
use crate::report::{Kind, Phase, Problem};

/// What the source holds for one container.
#[derive(Clone, Debug)]
pub(crate) struct Facts {
    pub name: String,
    /// Its repository at the source.
    pub repo: RepoPath,
    /// The image (or list) under the hash.
    pub root: Manifest,
    /// Tag at the source holding the x86 image, its manifest and platform.
    pub x86: Option<(String, Manifest, ConfigPlatform)>,
    pub ppc: Option<(Manifest, ConfigPlatform)>,
    /// `<fh>_manifest` to push: bytes and the architectures in it.
    pub list: Option<(Bytes, Vec<String>)>,
    /// Why no list can be built for it (its kind kept for the report).
    pub arch_error: Option<std::sync::Arc<crate::Error>>,
}

impl Facts {
    pub fn new(name: &str, repo: RepoPath, root: Manifest) -> Facts {
        Facts {
            name: name.to_string(),
            repo,
            root,
            x86: None,
            ppc: None,
            list: None,
            arch_error: None,
        }
    }

    pub fn list_digest(&self) -> Option<Digest> {
        self.list.as_ref().map(|(b, _)| Digest::sha256(b))
    }
}

/// The source check's answer.
pub(crate) struct Found {
    /// Containers found, with their image and where it is read from (the source registry, or the
    /// local copy kept by an earlier run).
    pub found: Vec<(String, Manifest, Place)>,
    pub missing: Vec<String>,
    pub problems: Vec<Problem>,
}

/// Every `<prefix>-<name>:<fh>` at the source (or in the local copies).
/// Every `<prefix>-<name>:<fh>` at the source (or in the local copies); `want_lists`: some target
/// gets manifest lists, so a local copy must also hold the per-architecture images the source has.
pub(crate) async fn check(
    p: &Promotion,
    src: &Registry,
    local: Option<&Layout>,
    want_lists: bool,
    progress: &Progress,
) -> Found {
    progress.phase("source check", p.containers.len() as u64);
    let checked: Vec<(String, crate::Result<Option<Manifest>>, Place)> =
        stream::iter(p.containers.iter().map(|name| {
            let repo = p.source.repo(&p.prefix, name);
            async move {
                let r = check_one(p, src, local, (name, &repo), want_lists).await;
                progress.step();
                (name.clone(), r.0, r.1)
            }
        }))
        .buffered(p.per_registry)
        .collect()
        .await;
    let reused = checked
        .iter()
        .filter(|(_, r, place)| matches!(r, Ok(Some(_))) && matches!(place, Place::Layout(_)))
        .count();
    if let (true, Some(layout)) = (reused > 0, local) {
        tracing::info!(containers = reused, store = %layout.name(), "using the local copies kept by an earlier run");
    }
    let mut out = Found {
        found: vec![],
        missing: vec![],
        problems: vec![],
    };
    // Absent under the hash (a container whose check failed is missing too, but its cause is its
    // own problem).
    let mut absent = Vec::new();
    for (name, r, place) in checked {
        match r {
            Ok(Some(m)) => out.found.push((name, m, place)),
            Ok(None) => {
                absent.push(name.clone());
                out.missing.push(name);
            }
            Err(e) => {
                let ctx = format!("source {}:{}", p.source.repo(&p.prefix, &name), p.full_hash);
                out.problems.push(
                    Problem::from_error(Phase::SourceCheck, &ctx, &e)
                        .container(&name)
                        .registry(&p.source.name)
                        .tag(&p.full_hash),
                );
                out.missing.push(name);
            }
        }
    }
    if let Some(problem) = missing_problem(p, &absent, out.found.is_empty()) {
        out.problems.push(problem);
    }
    out
}

/// The images absent at the source, as one problem: none of them at all is its own cause (a
/// namespace or hash typo, not a build that lost some), said with what to check.
fn missing_problem(p: &Promotion, absent: &[String], none_found: bool) -> Option<Problem> {
    if absent.is_empty() {
        return None;
    }
    let at = format!("{}/{}", p.source.host, p.source.namespace);
    let problem = if none_found && absent.len() == p.containers.len() {
        let msg = format!(
            "None of the {} images exists at the source {at} with tag {}: check the namespace and the hash",
            absent.len(),
            p.full_hash
        );
        Problem::new(Phase::SourceCheck, Kind::NotFound, msg.clone(), msg)
            .reason(Some(crate::report::Reason::NoneFound))
    } else {
        // The role's words; the line names them all, the cause a few.
        let says = |names: String| {
            format!(
                "There are missing containers at the source {at} with tag {}: {names}",
                p.full_hash
            )
        };
        let few = format!(
            "{} of {}: {}",
            absent.len(),
            p.containers.len(),
            crate::report::problem::compact(absent, 4)
        );
        Problem::new(
            Phase::SourceCheck,
            Kind::NotFound,
            says(few),
            says(absent.join(", ")),
        )
    };
    Some(problem.registry(&p.source.name).tag(&p.full_hash))
}

async fn check_one(
    p: &Promotion,
    src: &Registry,
    local: Option<&Layout>,
    (name, repo): (&str, &str),
    want_lists: bool,
) -> (crate::Result<Option<Manifest>>, Place) {
    let fh = &p.full_hash;
    if let Some(layout) = local {
        if let Ok(Some(m)) = layout.get_manifest_opt(repo, fh).await {
            // The local copy stands in for the source unless the source serves another image
            // under that tag, or per-architecture images the copy lacks; when the source is down or
            // pruned it, local wins.
            let remote = src.head_manifest(repo, fh).await;
            let stale = matches!(&remote, Ok(Some(h)) if h.digest != m.digest);
            let source_up = matches!(&remote, Ok(Some(_)));
            let partial = !stale && source_up && want_lists && lacks_arches(p, src, layout, name, repo).await;
            if !stale && !partial {
                // One INFO line for all of them once the check is done ([`check`]).
                tracing::debug!(image = %format!("{repo}:{fh}"), store = %layout.name(), "using the local copy");
                return (Ok(Some(m)), Place::Layout(layout.clone()));
            }
            if partial {
                tracing::info!(image = %format!("{repo}:{fh}"), "the local copy lacks per-architecture images the source has; using the source");
            } else {
                tracing::warn!(image = %format!("{repo}:{fh}"), "the local copy differs from the source; using the source");
            }
        }
    }
    (src.get_manifest_opt(repo, fh).await, Place::Registry(src.clone()))
}

/// Does the local copy lack an `<fh>_x86_64` or (for a ppc container) `<fh>_ppc64le` image that the
/// source has? (A copy kept by a run without lists holds the hash image alone.)
async fn lacks_arches(p: &Promotion, src: &Registry, layout: &Layout, name: &str, repo: &str) -> bool {
    let mut tags = vec![p.x86_tag()];
    if p.ppc_manifests && p.ppc_containers.iter().any(|c| c == name) {
        tags.push(p.ppc_tag());
    }
    for tag in tags {
        let local = layout.get_manifest_opt(repo, &tag).await;
        if matches!(local, Ok(None)) && matches!(src.head_manifest(repo, &tag).await, Ok(Some(_))) {
            return true;
        }
    }
    false
}

/// The facts of every found container; with `want_lists`, their architectures too (`on_targets`:
/// the `<fh>_manifest` lists the targets already hold, by container).
pub(crate) async fn facts(
    p: &Promotion,
    found: &[(String, Manifest, Place)],
    want_lists: bool,
    (fetched, on_targets): (&FetchedBlobs, &HashMap<String, Manifest>),
    progress: &Progress,
) -> Vec<Facts> {
    if want_lists {
        progress.phase("architectures", found.len() as u64);
    }
    stream::iter(found.iter().map(|(name, root, source)| async move {
        let mut f = Facts::new(name, p.source.repo(&p.prefix, name), root.clone());
        if want_lists {
            let known = on_targets.get(name);
            if let Err(e) = discover_arches(source, p, &mut f, fetched, known).await {
                f.arch_error = Some(std::sync::Arc::new(e));
            }
            progress.step();
        }
        f
    }))
    .buffered(p.per_registry)
    .collect()
    .await
}

/// Which images make `<fh>_manifest` for one container. `known`: a target's `<fh>_manifest`; when
/// it is exactly the list these images make, its platforms stand for their configs (not read).
async fn discover_arches(
    src: &Place,
    p: &Promotion,
    f: &mut Facts,
    fetched: &FetchedBlobs,
    known: Option<&Manifest>,
) -> crate::Result<()> {
    if f.root.is_index() {
        // Already a list: copied whole, and `<fh>_manifest` is the same list.
        let archs = match f.root.content()? {
            Content::Index { children } => children.iter().filter_map(|c| c.architecture.clone()).collect(),
            _ => vec![],
        };
        f.list = Some((f.root.bytes.clone(), archs));
        return Ok(());
    }
    let repo = f.repo.clone();
    let x86 = src.get_manifest_opt(&repo, &p.x86_tag()).await?;
    let ppc = if p.ppc_manifests && p.ppc_containers.contains(&f.name) {
        src.get_manifest_opt(&repo, &p.ppc_tag()).await
    } else {
        Ok(None)
    };
    // No x86 tag: the hash image is the x86 image, if it is amd64.
    let hash_is_x86 = x86.is_none();
    let x86_tag = match hash_is_x86 {
        false => p.x86_tag(),
        true => p.full_hash.to_string(),
    };
    let x86 = x86.unwrap_or_else(|| f.root.clone());
    let from_list = match (&ppc, known) {
        (Ok(ppc), Some(list)) => platforms_in(list, &x86, ppc.as_ref()),
        _ => None,
    };
    if let Some((x86_plat, ppc_plat)) = from_list {
        f.x86 = Some((x86_tag, x86, x86_plat));
        f.ppc = ppc.ok().flatten().zip(ppc_plat);
    } else {
        let (x86, plat) = platform(src, &repo, fetched, x86).await?;
        if hash_is_x86 && plat.architecture != "amd64" {
            return Err(crate::Error::Unsupported {
                registry: p.source.name.clone(),
                what: format!("{repo}:{}", p.full_hash),
                reason: format!(
                    "no {} tag at the source and the image is {} (not amd64): no manifest list can be built",
                    p.x86_tag(),
                    plat.architecture
                ),
            });
        }
        if let Some(m) = ppc? {
            f.ppc = Some(platform(src, &repo, fetched, m).await?);
        }
        f.x86 = Some((x86_tag, x86, plat));
    }
    let mut children = Vec::new();
    let mut archs = Vec::new();
    let x86 = f.x86.as_ref().map(|(_, m, plat)| (m, plat));
    for (m, plat) in x86.into_iter().chain(f.ppc.as_ref().map(|(m, p)| (m, p))) {
        children.push((m.descriptor(), plat.clone()));
        archs.push(plat.architecture.clone());
    }
    f.list = Some((build_docker_list(&children), archs));
    Ok(())
}

/// The platforms of the x86 and ppc images as `list` gives them, when `list` is byte for byte the
/// list these images and platforms make (so it was built from their configs): `None` otherwise.
fn platforms_in(
    list: &Manifest,
    x86: &Manifest,
    ppc: Option<&Manifest>,
) -> Option<(ConfigPlatform, Option<ConfigPlatform>)> {
    let Ok(Content::Index { children }) = list.content() else {
        return None;
    };
    let platform_of = |m: &Manifest| {
        let c = children.iter().find(|c| c.descriptor == m.descriptor())?;
        Some(ConfigPlatform {
            architecture: c.architecture.clone()?,
            os: c.os.clone()?,
            variant: c.variant.clone(),
        })
    };
    let x86_plat = platform_of(x86)?;
    let ppc_plat = match ppc {
        Some(m) => Some(platform_of(m)?),
        None => None,
    };
    // Only the architectures the tags name are taken on trust; anything else is read from the configs.
    let named =
        x86_plat.architecture == "amd64" && ppc_plat.as_ref().is_none_or(|p| p.architecture == "ppc64le");
    let mut made = vec![(x86.descriptor(), x86_plat.clone())];
    made.extend(ppc.zip(ppc_plat.clone()).map(|(m, plat)| (m.descriptor(), plat)));
    (named && build_docker_list(&made) == list.bytes).then_some((x86_plat, ppc_plat))
}

/// An image's platform, from its config blob (fetched once per run).
async fn platform(
    src: &Place,
    repo: &str,
    fetched: &FetchedBlobs,
    m: Manifest,
) -> crate::Result<(Manifest, ConfigPlatform)> {
    let cfg = match m.content()? {
        Content::Image { config, .. } => config,
        Content::Index { .. } => {
            return Err(crate::Error::Unsupported {
                registry: src.name().to_string(),
                what: format!("{repo}@{}", m.digest),
                reason: "a list, where an image was expected".into(),
            })
        }
    };
    let bytes = match fetched.get(&cfg.digest) {
        Some(b) => b,
        None => src.get_blob_bytes(repo, &cfg.digest, 8 << 20).await?,
    };
    fetched.insert(cfg.digest.clone(), bytes.clone());
    let plat = config_platform(&bytes)?;
    Ok((m, plat))
}
