//! Running a promotion: source check → (architecture discovery) → copy every `<full_hash>` (and the
//! per-architecture tags) to every target in one deduplicated batch → build manifest lists →
//! verify → move the label on each target where that image verified → label the source → list
//! files and reports. Per-image errors do not stop the others; the run fails at the end listing them.

use std::time::Instant;

use bytes::Bytes;
use futures_util::stream::{self, StreamExt};

use super::model::{KeepLocal, Promotion, RegistrySpec, Schema};
use super::verify::{self, BlobMemo, Expectation};
use crate::copy::{self, Action, CopyOptions, CopyRequest, Endpoint, FetchedBlobs, Place};
use crate::digest::Digest;
use crate::manifest::{build_docker_list, config_platform, media, ConfigPlatform, Content, Manifest};
use crate::registry::Registry;
use crate::report::listfiles::{self, ListFiles};
use crate::report::{ContainerReport, RegistryStats, Report, TagAction, TagEntry};
use crate::store::{DeleteScope, Layout, Store, StoreLock};

/// How to run.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Plan and read only; change nothing (check mode).
    pub dry_run: bool,
    /// Verify only (the `verify` action): no copies, no labels.
    pub verify_only: bool,
}

/// What the source holds for one container.
#[derive(Clone, Debug)]
struct Facts {
    name: String,
    repo: String,
    /// Where this container's images are read from: the source registry, or the local copy kept by
    /// an earlier run.
    source: Place,
    root: Manifest,
    /// Tag at the source holding the x86 image, its manifest and platform.
    x86: Option<(String, Manifest, ConfigPlatform)>,
    ppc: Option<(Manifest, ConfigPlatform)>,
    /// `<fh>_manifest` to push: bytes and the architectures in it.
    list: Option<(Bytes, Vec<String>)>,
    arch_error: Option<String>,
}

impl Facts {
    /// The copies that put this container's images at `dest`: the hash image under `hash_tag`, then,
    /// with `arches`, the x86 and ppc images under `rename(source tag)`. When the x86 image is the
    /// hash image itself, `fold_x86` adds its name to the hash image's tags instead.
    fn copy_requests(
        &self,
        p: &Promotion,
        dest: &Endpoint,
        hash_tag: String,
        arches: bool,
        fold_x86: bool,
        rename: impl Fn(&str) -> Option<String>,
    ) -> Vec<CopyRequest> {
        let source = Endpoint::new(&self.source, self.repo.clone());
        let request = |reference: String, tag: String, known: &Manifest| CopyRequest {
            source: source.clone(),
            reference,
            dests: vec![(dest.clone(), vec![tag])],
            known: Some(known.clone()),
        };
        let mut hash_tags = vec![hash_tag];
        let mut extra = Vec::new();
        if arches {
            if let Some((src_tag, x86, _)) = &self.x86 {
                if *src_tag == p.full_hash {
                    if fold_x86 {
                        hash_tags.extend(rename(&p.x86_tag()));
                    }
                } else if let Some(t) = rename(src_tag) {
                    extra.push(request(src_tag.clone(), t, x86));
                }
            }
            if let Some((ppc, _)) = &self.ppc {
                if let Some(t) = rename(&p.ppc_tag()) {
                    extra.push(request(p.ppc_tag(), t, ppc));
                }
            }
        }
        let mut out = vec![CopyRequest {
            source: source.clone(),
            reference: p.full_hash.clone(),
            dests: vec![(dest.clone(), hash_tags)],
            known: Some(self.root.clone()),
        }];
        out.extend(extra);
        out
    }

    fn list_digest(&self) -> Option<Digest> {
        self.list.as_ref().map(|(b, _)| Digest::sha256(b))
    }
}

pub(crate) fn entry(
    reg: &str,
    repo: &str,
    tag: &str,
    digest: Option<&Digest>,
    action: TagAction,
) -> TagEntry {
    TagEntry {
        registry: reg.to_string(),
        repository: repo.to_string(),
        tag: tag.to_string(),
        digest: digest.map(|d| d.to_string()),
        previous: None,
        action,
        verified: None,
        blobs_uploaded: 0,
        blobs_mounted: 0,
        blobs_present: 0,
        bytes_uploaded: 0,
        seconds: 0.0,
        error: None,
    }
}

fn lists_for(p: &Promotion, t: &RegistrySpec) -> bool {
    p.manifest_push && t.schema == Schema::V2S2
}

/// Run a promotion (or its dry run, or its verification alone). Never panics on bad data; every
/// problem ends up in `report.errors` and `report.ok == false`.
pub async fn run(p: &Promotion, opts: &RunOptions) -> Report {
    let started = Instant::now();
    let mut report = Report {
        tool: concat!("copy-containers ", env!("CARGO_PKG_VERSION")).into(),
        action: if opts.verify_only { "verify" } else { "promote" }.into(),
        started_at: crate::report::now_string(),
        dry_run: opts.dry_run,
        full_hash: p.full_hash.clone(),
        named_label: p.named_label.clone(),
        release: p.release.clone(),
        distro: format!("{}-{}", p.distro_name, p.distro_version),
        source: format!("{}/{}", p.source.host, p.source.namespace),
        targets: p
            .targets
            .iter()
            .map(|t| format!("{}/{}", t.host, t.namespace))
            .collect(),
        push: p.push,
        manifest_push: p.manifest_push,
        ..Default::default()
    };
    let files = ListFiles::new(&p.tmp_file_root, &p.list_suffix());
    let write_lists = !opts.dry_run && !opts.verify_only;
    let src = match p.source.client() {
        Ok(r) => r,
        Err(e) => {
            report.errors.push(format!("source registry: {e}"));
            return finish_report(report, p, started, &[]);
        }
    };
    let mut targets: Vec<(RegistrySpec, Registry)> = Vec::new();
    for t in &p.targets {
        match t.client() {
            Ok(r) => targets.push((t.clone(), r)),
            Err(e) => report.errors.push(format!("target {}: {e}", t.name)),
        }
    }
    if !report.errors.is_empty() {
        return finish_report(report, p, started, &[]);
    }
    let all_regs: Vec<(String, &'static str, Registry)> =
        std::iter::once((p.source.name.clone(), "source", src.clone()))
            .chain(targets.iter().map(|(s, r)| (s.name.clone(), "target", r.clone())))
            .collect();
    if write_lists {
        if let Err(e) = files.truncate_all() {
            report.errors.push(format!("list files: {e}"));
            return finish_report(report, p, started, &all_regs);
        }
    }
    // The local store: earlier runs' copies are a source cache; this run keeps copies by policy.
    let local = match open_local(p, opts) {
        Ok(l) => l,
        Err(e) => {
            report.errors.push(format!("local store: {e}"));
            return finish_report(report, p, started, &all_regs);
        }
    };

    // 1. Source check: every <prefix>-<name>:<fh> must exist.
    crate::progress::phase("source check", p.containers.len() as u64);
    let checked: Vec<(String, Result<Option<Manifest>, String>, Place)> =
        stream::iter(p.containers.iter().map(|name| {
            let src = src.clone();
            let repo = p.source.repo(&p.prefix, name);
            let fh = p.full_hash.clone();
            let layout = local.as_ref().map(|l| l.layout.clone());
            async move {
                if let Some(layout) = layout {
                    if let Ok(Some(m)) = layout.get_manifest_opt(&repo, &fh).await {
                        // The local copy stands in for the source unless the source serves another
                        // image under that tag; when the source is down or pruned it, local wins.
                        let remote = src.head_manifest(&repo, &fh).await;
                        let stale = matches!(&remote, Ok(Some(h)) if h.digest != m.digest);
                        if !stale {
                            tracing::info!(image = %format!("{repo}:{fh}"), store = %layout.name(), "using the local copy");
                            crate::progress::step();
                            return (name.clone(), Ok(Some(m)), Place::Layout(layout));
                        }
                        tracing::warn!(image = %format!("{repo}:{fh}"), "the local copy differs from the source; using the source");
                    }
                }
                let r = src.get_manifest_opt(&repo, &fh).await.map_err(|e| e.to_string());
                crate::progress::step();
                (name.clone(), r, Place::Registry(src))
            }
        }))
        .buffered(p.per_registry)
        .collect()
        .await;
    let mut found: Vec<(String, Manifest, Place)> = Vec::new();
    for (name, r, place) in checked {
        match r {
            Ok(Some(m)) => found.push((name, m, place)),
            Ok(None) => report.missing.push(name),
            Err(e) => {
                report.errors.push(format!(
                    "source {}:{}: {e}",
                    p.source.repo(&p.prefix, &name),
                    p.full_hash
                ));
                report.missing.push(name);
            }
        }
    }
    report.found = found.iter().map(|(n, _, _)| n.clone()).collect();
    report.local_reused = found
        .iter()
        .filter(|(_, _, pl)| pl.is_local())
        .map(|(n, _, _)| n.clone())
        .collect();
    if write_lists {
        for (path, names) in [(&files.parsed, &report.found), (&files.missing, &report.missing)] {
            if let Err(e) = listfiles::write(path, &p.prefix, names) {
                report.errors.push(format!("list files: {e}"));
            }
        }
    }
    tracing::info!(
        source = %report.source,
        tag = %p.full_hash,
        found = report.found.len(),
        missing = report.missing.len(),
        "source check"
    );
    if !report.missing.is_empty() {
        report.errors.push(format!(
            "There are missing containers at the source {} with tag {}: {}",
            report.source,
            p.full_hash,
            report.missing.join(", ")
        ));
        return finish_report(report, p, started, &all_regs);
    }
    if found.is_empty() {
        report.errors.push("container list is empty".into());
        return finish_report(report, p, started, &all_regs);
    }

    // 2. Architectures, when some target gets manifest lists.
    let want_lists = p.push && targets.iter().any(|(t, _)| lists_for(p, t));
    let fetched = FetchedBlobs::default();
    let facts: Vec<Facts> = stream::iter(found.into_iter().map(|(name, root, source)| {
        let fetched = fetched.clone();
        let repo = p.source.repo(&p.prefix, &name);
        async move {
            let mut f = Facts {
                name: name.clone(),
                repo,
                source: source.clone(),
                root,
                x86: None,
                ppc: None,
                list: None,
                arch_error: None,
            };
            if want_lists {
                if let Err(e) = discover_arches(&source, p, &mut f, &fetched).await {
                    f.arch_error = Some(e);
                }
            }
            f
        }
    }))
    .buffered(p.per_registry)
    .collect()
    .await;
    if want_lists {
        for f in &facts {
            if p.ppc_manifests && p.ppc_containers.contains(&f.name) {
                if f.ppc.is_some() || f.root.is_index() {
                    report.ppc_found.push(f.name.clone());
                } else {
                    report.ppc_missing.push(f.name.clone());
                }
            }
        }
        if write_lists {
            for (path, names) in [
                (&files.parsed_ppc, &report.ppc_found),
                (&files.missing_ppc, &report.ppc_missing),
            ] {
                if let Err(e) = listfiles::write(path, &p.prefix, names) {
                    report.errors.push(format!("list files: {e}"));
                }
            }
        }
    }
    let mut containers: Vec<ContainerReport> = facts
        .iter()
        .map(|f| ContainerReport {
            name: f.name.clone(),
            source_image: format!("{}/{}:{}", p.source.host, f.repo, p.full_hash),
            source_digest: Some(f.root.digest.to_string()),
            manifest_architectures: f.list.as_ref().map(|(_, a)| a.clone()).unwrap_or_default(),
            entries: vec![],
            pushed: false,
        })
        .collect();
    for f in &facts {
        if let Some(e) = &f.arch_error {
            report.errors.push(format!("{}: {e}", f.name));
        }
    }

    // Quay targets: create the missing repositories (public) before pushing.
    if p.push && !opts.verify_only {
        let repos: Vec<String> = facts.iter().map(|f| format!("{}-{}", p.prefix, f.name)).collect();
        for (t, _) in targets.iter().filter(|(t, _)| t.quay.is_some()) {
            let spec = t.quay.as_ref().expect("filtered");
            match crate::quay::ensure(spec, &repos, opts.dry_run).await {
                Ok(o) => {
                    tracing::info!(
                        registry = %t.name,
                        created = o.created.len(),
                        would_create = o.would_create.len(),
                        "Quay repositories"
                    );
                    report.quay.push(o);
                }
                Err(e) => report
                    .errors
                    .push(format!("{}: creating Quay repositories: {e}", t.name)),
            }
        }
    }

    // 3. Copy <fh> (and per-architecture tags) to every target, one batch.
    if p.push && !opts.verify_only {
        let mut requests: Vec<CopyRequest> = Vec::new();
        let mut req_owner: Vec<(usize, usize)> = Vec::new(); // (container, target)
        for (ti, (t, treg)) in targets.iter().enumerate() {
            for (ci, f) in facts.iter().enumerate() {
                let dest = Endpoint::new(treg, t.repo(&p.prefix, &f.name));
                let arches = lists_for(p, t) && f.arch_error.is_none() && !f.root.is_index();
                // Targets get the target names of the tags (push_hash).
                let rename = |tag: &str| {
                    Some(if tag == p.x86_tag() {
                        p.target_x86_tag()
                    } else if tag == p.ppc_tag() {
                        p.target_ppc_tag()
                    } else {
                        tag.to_string()
                    })
                };
                for r in f.copy_requests(p, &dest, p.target_hash().to_string(), arches, true, rename) {
                    requests.push(r);
                    req_owner.push((ci, ti));
                }
            }
        }
        let copts = CopyOptions {
            per_registry: p.per_registry,
            blob_jobs: p.blob_jobs,
            dry_run: opts.dry_run,
            fetched: fetched.clone(),
        };
        let outcomes = copy::copy_batch(&requests, &copts).await;
        tracing::info!(
            images = requests.len(),
            targets = targets.len(),
            failed = outcomes.iter().filter(|o| !o.ok()).count(),
            bytes_uploaded = outcomes
                .iter()
                .flat_map(|o| o.dests.iter())
                .map(|d| d.bytes_uploaded)
                .sum::<u64>(),
            "copy"
        );
        for (o, &(ci, ti)) in outcomes.iter().zip(&req_owner) {
            let (t, _) = &targets[ti];
            let repo = t.repo(&p.prefix, &facts[ci].name);
            if let Some(e) = &o.error {
                report
                    .errors
                    .push(format!("{}: source {}: {e}", facts[ci].name, o.source));
            }
            for d in &o.dests {
                for (tag, action) in &d.tags {
                    let mut en = entry(&t.name, &repo, tag, o.source_digest.as_ref(), TagAction::Skipped);
                    en.action = match action {
                        Action::AlreadyPresent => TagAction::AlreadyPresent,
                        Action::WouldCopy => TagAction::WouldChange,
                        Action::Failed => TagAction::Failed,
                        Action::Copied if d.blobs_uploaded > 0 => TagAction::Copied,
                        Action::Copied if d.blobs_mounted > 0 => TagAction::Mounted,
                        Action::Copied => TagAction::Tagged,
                    };
                    en.previous = d.previous.get(tag).cloned().flatten().map(|x| x.to_string());
                    en.blobs_uploaded = d.blobs_uploaded;
                    en.blobs_mounted = d.blobs_mounted;
                    en.blobs_present = d.blobs_present;
                    en.bytes_uploaded = d.bytes_uploaded;
                    en.seconds = o.seconds;
                    en.error = d.error.clone();
                    containers[ci].entries.push(en);
                }
                if d.tags.is_empty() {
                    let mut en = entry(&t.name, &repo, &o.reference, None, TagAction::Failed);
                    en.error = d.error.clone().or(o.error.clone());
                    containers[ci].entries.push(en);
                }
                if let Some(e) = &d.error {
                    report
                        .errors
                        .push(format!("{}: {}: {e}", facts[ci].name, d.destination));
                }
            }
        }

        // 4. Manifest lists.
        let list_jobs: Vec<(usize, usize)> = targets
            .iter()
            .enumerate()
            .filter(|(_, (t, _))| lists_for(p, t))
            .flat_map(|(ti, _)| (0..facts.len()).map(move |ci| (ci, ti)))
            .filter(|&(ci, _)| facts[ci].list.is_some())
            .collect();
        let list_results: Vec<(usize, TagEntry)> = stream::iter(list_jobs.into_iter().map(|(ci, ti)| {
            let (t, treg) = &targets[ti];
            let f = &facts[ci];
            let children_ok = containers[ci]
                .entries
                .iter()
                .filter(|e| e.registry == t.name)
                .all(|e| e.action != TagAction::Failed && e.error.is_none());
            async move {
                let repo = t.repo(&p.prefix, &f.name);
                let tag = p.target_manifest_tag();
                let (bytes, _) = f.list.clone().expect("filtered on list");
                let digest = Digest::sha256(&bytes);
                let mut en = entry(&t.name, &repo, &tag, Some(&digest), TagAction::Skipped);
                if !children_ok {
                    en.error = Some("not built: its images failed to copy".into());
                    return (ci, en);
                }
                let started = Instant::now();
                let r: Result<(), String> = async {
                    let prev = treg.head_manifest(&repo, &tag).await.map_err(|e| e.to_string())?;
                    en.previous = prev.as_ref().map(|h| h.digest.to_string());
                    if prev.map(|h| h.digest) == Some(digest.clone()) {
                        en.action = TagAction::AlreadyPresent;
                        return Ok(());
                    }
                    if opts.dry_run {
                        en.action = TagAction::WouldChange;
                        return Ok(());
                    }
                    let mt = if f.root.is_index() {
                        f.root.media_type.clone()
                    } else {
                        media::DOCKER_LIST.to_string()
                    };
                    treg.put_manifest(&repo, &tag, &mt, bytes.clone())
                        .await
                        .map_err(|e| e.to_string())?;
                    en.action = TagAction::Tagged;
                    Ok(())
                }
                .await;
                en.seconds = started.elapsed().as_secs_f64();
                if let Err(e) = r {
                    en.action = TagAction::Failed;
                    en.error = Some(e);
                }
                (ci, en)
            }
        }))
        .buffer_unordered(p.per_registry)
        .collect()
        .await;
        for (ci, en) in list_results {
            if let Some(e) = &en.error {
                report
                    .errors
                    .push(format!("{}: {}:{}: {e}", facts[ci].name, en.registry, en.tag));
            }
            containers[ci].entries.push(en);
        }
    }

    if opts.dry_run {
        // Predict label moves too (read-only).
        if p.push {
            move_labels(p, &targets, &facts, &mut containers, false, true).await;
        }
        if p.label_source {
            move_labels(
                p,
                &[(p.source.clone(), src.clone())],
                &facts,
                &mut containers,
                false,
                true,
            )
            .await;
        }
        report.containers = containers;
        return finish_report(report, p, started, &all_regs);
    }

    // 5. Verify what should now be on the targets (before any label moves).
    if p.push {
        let memo = BlobMemo::default();
        verify_pass(p, &targets, &facts, &mut containers, &memo, opts.verify_only).await;
        if !opts.verify_only {
            // 6. Labels: only where every tag of that image verified on that target.
            move_labels(p, &targets, &facts, &mut containers, true, false).await;
        }
        for c in &containers {
            for e in &c.entries {
                if e.verified == Some(false) || e.action == TagAction::Failed {
                    if let Some(err) = &e.error {
                        let line = format!("{}: {}:{}: {err}", c.name, e.registry, e.tag);
                        if !report.errors.contains(&line)
                            && !report.errors.iter().any(|x| x.ends_with(err.as_str()))
                        {
                            report.errors.push(line);
                        }
                    }
                }
            }
        }
        for c in &mut containers {
            c.pushed = targets.iter().all(|(t, _)| {
                let mine: Vec<&TagEntry> = c.entries.iter().filter(|e| e.registry == t.name).collect();
                !mine.is_empty() && mine.iter().all(|e| e.verified == Some(true))
            });
        }
        report.pushed = containers
            .iter()
            .filter(|c| c.pushed)
            .map(|c| c.name.clone())
            .collect();
        report.missed = containers
            .iter()
            .filter(|c| !c.pushed)
            .map(|c| c.name.clone())
            .collect();
        if !report.missed.is_empty() {
            report.errors.push(format!(
                "not verified on every target: {}",
                report.missed.join(", ")
            ));
        }
        if write_lists {
            for (path, names) in [(&files.pushed, &report.pushed), (&files.missed, &report.missed)] {
                if let Err(e) = listfiles::write(path, &p.prefix, names) {
                    report.errors.push(format!("list files: {e}"));
                }
            }
        }
    }

    // Local copies, by policy: kept whole when a push failed (or always).
    if let (Some(local), false) = (&local, opts.dry_run || opts.verify_only) {
        keep_local(p, local, &facts, &containers, &mut report).await;
    }

    // 7. The source label: last, and only when everything else succeeded.
    if p.label_source {
        if opts.verify_only {
            verify_source_labels(p, &src, &facts, &mut containers).await;
        } else if report.errors.is_empty() {
            move_labels(
                p,
                &[(p.source.clone(), src.clone())],
                &facts,
                &mut containers,
                false,
                false,
            )
            .await;
        } else {
            for (ci, f) in facts.iter().enumerate() {
                let mut en = entry(
                    &p.source.name,
                    &f.repo,
                    &p.named_label,
                    Some(&f.root.digest),
                    TagAction::Skipped,
                );
                en.error = Some("label withheld: the promotion had errors".into());
                containers[ci].entries.push(en);
            }
        }
        for c in &containers {
            for e in c
                .entries
                .iter()
                .filter(|e| e.registry == p.source.name && e.action == TagAction::Failed)
            {
                report.errors.push(format!(
                    "{}: source label: {}",
                    c.name,
                    e.error.clone().unwrap_or_default()
                ));
            }
        }
    }
    if let (Some(local), false) = (&local, opts.dry_run || opts.verify_only) {
        record_labels(p, local, &containers, &mut report);
        clean_local(p, local, &facts, &mut report);
    }
    report.containers = containers;
    finish_report(report, p, started, &all_regs)
}

/// The local store for this run: a release's layout under the lock.
struct Local {
    store: Store,
    layout: Layout,
    _lock: StoreLock,
}

fn open_local(p: &Promotion, opts: &RunOptions) -> crate::Result<Option<Local>> {
    if p.keep_local == KeepLocal::Never {
        return Ok(None);
    }
    let store = Store::open(crate::store::resolve_root(p.local_store.as_deref())?)?;
    store.check_root()?;
    let read_only = opts.dry_run || opts.verify_only;
    if read_only && !store.release_dir(&p.release).is_dir() {
        return Ok(None);
    }
    // Another run holding the store (another release's promotion on this host): wait for it.
    let lock = store.lock_wait(!read_only, p.lock_timeout)?;
    // Copies are named and annotated by what they are (source host, namespace, repository, tag,
    // hash): a copy of another source or namespace is never found here.
    let layout = store
        .layout(&p.release)?
        .with_hash(p.full_hash.clone())
        .with_prefix(p.prefix.clone())
        .with_source(p.source.host.clone());
    Ok(Some(Local {
        store,
        layout,
        _lock: lock,
    }))
}

/// Keep the images of a failed push (or all, with `always`) in the local layout.
async fn keep_local(
    p: &Promotion,
    local: &Local,
    facts: &[Facts],
    containers: &[ContainerReport],
    report: &mut Report,
) {
    // A failed push keeps the whole promotion's images: the rerun then needs nothing from a source
    // that may be down, or may have pruned them by then.
    let failed_push = p.push && containers.iter().any(|c| !c.pushed);
    let keep: Vec<&Facts> = if p.keep_local == KeepLocal::Always || failed_push {
        facts.iter().collect()
    } else {
        vec![]
    };
    let dest_place = Place::Layout(local.layout.clone());
    let mut requests = Vec::new();
    for f in keep.iter().filter(|f| !f.source.is_local()) {
        let dest = Endpoint::new(&dest_place, f.repo.clone());
        // Kept under the source's own tag names.
        requests.extend(
            f.copy_requests(p, &dest, p.full_hash.clone(), true, false, |t: &str| {
                Some(t.to_string())
            }),
        );
    }
    if !requests.is_empty() {
        let outcomes = copy::copy_batch(&requests, &CopyOptions::default()).await;
        for o in outcomes.iter().filter(|o| !o.ok()) {
            let e = o
                .error
                .clone()
                .or_else(|| o.dests.iter().find_map(|d| d.error.clone()))
                .unwrap_or_default();
            report
                .errors
                .push(format!("keeping a local copy of {}: {e}", o.source));
        }
    }
    let kept: Vec<String> = keep.iter().map(|f| f.name.clone()).collect();
    if !kept.is_empty() {
        tracing::info!(containers = kept.len(), store = %local.layout.name(), "local copies kept");
    }
    report.local_kept = kept;
}

/// Every label move of this run goes into the store's label history (for `rollback`).
fn record_labels(p: &Promotion, local: &Local, containers: &[ContainerReport], report: &mut Report) {
    let host_of = |name: &str| {
        std::iter::once(&p.source)
            .chain(p.targets.iter())
            .find(|s| s.name == name)
            .map(|s| s.host.clone())
            .unwrap_or_else(|| name.to_string())
    };
    for e in containers
        .iter()
        .flat_map(|c| c.entries.iter())
        .filter(|e| e.tag == p.named_label && e.action == TagAction::Tagged)
    {
        let (Some(new), previous) = (
            e.digest.as_deref().and_then(|d| d.parse::<Digest>().ok()),
            e.previous.as_deref().and_then(|d| d.parse::<Digest>().ok()),
        ) else {
            continue;
        };
        if let Err(err) = local.store.record_label(
            &p.release,
            &host_of(&e.registry),
            &e.repository,
            &p.named_label,
            previous,
            new,
        ) {
            report
                .errors
                .push(format!("recording the label move in the local store: {err}"));
        }
    }
}

/// After a fully verified success, the copies of this promotion go (unless `always`): this hash,
/// from this source, of these repositories — another hash's or namespace's copies stay. Then the
/// report says what the store holds.
fn clean_local(p: &Promotion, local: &Local, facts: &[Facts], report: &mut Report) {
    if report.errors.is_empty() && p.keep_local != KeepLocal::Always && !facts.is_empty() {
        let scope = DeleteScope::Copies {
            release: p.release.clone(),
            source: p.source.host.clone(),
            hash: p.full_hash.clone(),
            repositories: facts.iter().map(|f| f.repo.clone()).collect(),
        };
        match local.store.delete(&scope, false) {
            Ok(d) => {
                let mut gone: Vec<String> = facts
                    .iter()
                    .filter(|f| {
                        d.removed
                            .iter()
                            .any(|i| i.repository.as_deref() == Some(f.repo.as_str()))
                    })
                    .map(|f| f.name.clone())
                    .collect();
                gone.dedup();
                report.local_removed = gone;
                if !d.ok() {
                    report.errors.push(format!(
                        "removing this promotion's local copies: verification failed: {}",
                        d.verification.problems.join("; ")
                    ));
                }
            }
            Err(e) => report
                .errors
                .push(format!("removing this promotion's local copies: {e}")),
        }
    }
    report.local_root = Some(local.store.root().display().to_string());
    report.local_bytes = local
        .store
        .list_release(&p.release)
        .map(|imgs| imgs.iter().map(|i| i.size).sum())
        .unwrap_or(0);
}

/// Which images make `<fh>_manifest` for one container.
async fn discover_arches(
    src: &Place,
    p: &Promotion,
    f: &mut Facts,
    fetched: &FetchedBlobs,
) -> Result<(), String> {
    if f.root.is_index() {
        // Already a list: copied whole, and `<fh>_manifest` is the same list.
        let archs = match f.root.content().map_err(|e| e.to_string())? {
            Content::Index { children } => children.iter().filter_map(|c| c.architecture.clone()).collect(),
            _ => vec![],
        };
        f.list = Some((f.root.bytes.clone(), archs));
        return Ok(());
    }
    let platform = |m: Manifest| {
        let src = src.clone();
        let fetched = fetched.clone();
        let repo = f.repo.clone();
        async move {
            let cfg = match m.content().map_err(|e| e.to_string())? {
                Content::Image { config, .. } => config,
                Content::Index { .. } => return Err(format!("{} is a list, expected an image", m.digest)),
            };
            let bytes = match fetched.get(&cfg.digest) {
                Some(b) => b,
                None => src
                    .get_blob_bytes(&repo, &cfg.digest, 8 << 20)
                    .await
                    .map_err(|e| e.to_string())?,
            };
            fetched.insert(cfg.digest.clone(), bytes.clone());
            let plat = config_platform(&bytes).map_err(|e| e.to_string())?;
            Ok::<_, String>((m, plat))
        }
    };
    let x86 = match src
        .get_manifest_opt(&f.repo, &p.x86_tag())
        .await
        .map_err(|e| e.to_string())?
    {
        Some(m) => {
            let (m, plat) = platform(m).await?;
            Some((p.x86_tag(), m, plat))
        }
        None => {
            let (m, plat) = platform(f.root.clone()).await?;
            if plat.architecture == "amd64" {
                Some((p.full_hash.clone(), m, plat))
            } else {
                return Err(format!(
                    "no {} tag at the source and {} is {} (not amd64): no manifest list can be built",
                    p.x86_tag(),
                    p.full_hash,
                    plat.architecture
                ));
            }
        }
    };
    if p.ppc_manifests && p.ppc_containers.contains(&f.name) {
        if let Some(m) = src
            .get_manifest_opt(&f.repo, &p.ppc_tag())
            .await
            .map_err(|e| e.to_string())?
        {
            f.ppc = Some(platform(m).await?);
        }
    }
    f.x86 = x86;
    let mut children = Vec::new();
    let mut archs = Vec::new();
    if let Some((_, m, plat)) = &f.x86 {
        children.push((m.descriptor(), plat.clone()));
        archs.push(plat.architecture.clone());
    }
    if let Some((m, plat)) = &f.ppc {
        children.push((m.descriptor(), plat.clone()));
        archs.push(plat.architecture.clone());
    }
    f.list = Some((build_docker_list(&children), archs));
    Ok(())
}

/// The tags that must be on a target for one container, with their digests.
fn expectations(p: &Promotion, t: &RegistrySpec, f: &Facts, with_label: bool) -> Vec<Expectation> {
    let repo = t.repo(&p.prefix, &f.name);
    let mut v = vec![Expectation {
        repo: repo.clone(),
        tag: p.target_hash().to_string(),
        digest: f.root.digest.clone(),
        architectures: None,
        deep: f.root.is_index(),
    }];
    if lists_for(p, t) && f.arch_error.is_none() {
        if !f.root.is_index() {
            if let Some((_, m, _)) = &f.x86 {
                v.push(Expectation {
                    repo: repo.clone(),
                    tag: p.target_x86_tag(),
                    digest: m.digest.clone(),
                    architectures: None,
                    deep: false,
                });
            }
            if let Some((m, _)) = &f.ppc {
                v.push(Expectation {
                    repo: repo.clone(),
                    tag: p.target_ppc_tag(),
                    digest: m.digest.clone(),
                    architectures: None,
                    deep: false,
                });
            }
        }
        if let (Some(d), Some((_, archs))) = (f.list_digest(), &f.list) {
            v.push(Expectation {
                repo: repo.clone(),
                tag: p.target_manifest_tag(),
                digest: d,
                architectures: Some(archs.clone()),
                deep: true,
            });
        }
    }
    if with_label {
        v.push(Expectation {
            repo,
            tag: p.named_label.clone(),
            digest: f.root.digest.clone(),
            architectures: None,
            deep: false,
        });
    }
    v
}

async fn verify_pass(
    p: &Promotion,
    targets: &[(RegistrySpec, Registry)],
    facts: &[Facts],
    containers: &mut [ContainerReport],
    memo: &BlobMemo,
    verify_only: bool,
) {
    let all: Vec<(usize, usize, Expectation)> = targets
        .iter()
        .enumerate()
        .flat_map(|(ti, (t, _))| {
            facts.iter().enumerate().flat_map(move |(ci, f)| {
                expectations(p, t, f, verify_only)
                    .into_iter()
                    .map(move |e| (ci, ti, e))
            })
        })
        .collect();
    // A tag this run found already pointing at the expected digest (and did not touch) was read
    // moments ago: that HEAD is its verification. `verify` alone always reads everything, deeply.
    crate::progress::phase("verify", all.len() as u64);
    let (answered, jobs): (Vec<_>, Vec<_>) = all.into_iter().partition(|(ci, ti, e)| {
        !verify_only
            && containers[*ci].entries.iter().any(|x| {
                x.registry == targets[*ti].0.name
                    && x.tag == e.tag
                    && x.action == TagAction::AlreadyPresent
                    && x.digest.as_deref() == Some(e.digest.as_str())
            })
    });
    let mut results: Vec<(usize, usize, Expectation, Result<(), String>)> = answered
        .into_iter()
        .map(|(ci, ti, e)| (ci, ti, e, Ok(())))
        .collect();
    let checked: Vec<(usize, usize, Expectation, Result<(), String>)> =
        stream::iter(jobs.into_iter().map(|(ci, ti, e)| {
            let reg = targets[ti].1.clone();
            let memo = memo.clone();
            async move {
                let r = verify::check(&reg, &e, &memo).await;
                crate::progress::step();
                (ci, ti, e, r)
            }
        }))
        .buffer_unordered(p.per_registry * targets.len().max(1))
        .collect()
        .await;
    results.extend(checked);
    tracing::info!(
        checks = results.len(),
        failed = results.iter().filter(|r| r.3.is_err()).count(),
        "verify"
    );
    for (ci, ti, e, r) in results {
        let tname = &targets[ti].0.name;
        let entries = &mut containers[ci].entries;
        let idx = match entries
            .iter()
            .position(|x| &x.registry == tname && x.tag == e.tag)
        {
            Some(i) => i,
            None => {
                entries.push(entry(
                    tname,
                    &e.repo,
                    &e.tag,
                    Some(&e.digest),
                    TagAction::AlreadyPresent,
                ));
                entries.len() - 1
            }
        };
        let en = &mut entries[idx];
        en.digest = Some(e.digest.to_string());
        match r {
            Ok(()) => en.verified = Some(true),
            Err(msg) => {
                en.verified = Some(false);
                if en.error.is_none() {
                    en.error = Some(format!("verification: {msg}"));
                }
            }
        }
    }
    // Expected tags that could not even be attempted (x86/ppc discovery failed) count as missed.
    for (ci, f) in facts.iter().enumerate() {
        if f.arch_error.is_some() {
            for (t, _) in targets.iter().filter(|(t, _)| lists_for(p, t)) {
                let mut en = entry(
                    &t.name,
                    &t.repo(&p.prefix, &f.name),
                    &p.target_manifest_tag(),
                    None,
                    TagAction::Failed,
                );
                en.verified = Some(false);
                en.error = f.arch_error.clone();
                containers[ci].entries.push(en);
            }
        }
    }
}

/// Move (or, with `dry_run`, predict) the label on every given registry: on a target only where
/// every tag of that image verified; on the source (`gate: false`) unconditionally.
async fn move_labels(
    p: &Promotion,
    registries: &[(RegistrySpec, Registry)],
    facts: &[Facts],
    containers: &mut [ContainerReport],
    gate: bool,
    dry_run: bool,
) {
    let jobs: Vec<(usize, usize)> = registries
        .iter()
        .enumerate()
        .flat_map(|(ti, _)| (0..facts.len()).map(move |ci| (ci, ti)))
        .collect();
    let snapshot: Vec<ContainerReport> = containers.to_vec();
    let results: Vec<(usize, TagEntry)> = stream::iter(jobs.into_iter().map(|(ci, ti)| {
        let (t, reg) = &registries[ti];
        let f = &facts[ci];
        let ready = !gate
            || snapshot[ci]
                .entries
                .iter()
                .filter(|e| e.registry == t.name)
                .all(|e| e.verified == Some(true));
        async move {
            let repo = t.repo(&p.prefix, &f.name);
            let mut en = entry(
                &t.name,
                &repo,
                &p.named_label,
                Some(&f.root.digest),
                TagAction::Skipped,
            );
            if !ready {
                en.error = Some("label not moved: the image did not verify on this registry".into());
                return (ci, en);
            }
            let keep = if dry_run { None } else { p.previous_label() };
            set_label(
                reg,
                &repo,
                &p.named_label,
                &f.root,
                &mut en,
                dry_run,
                keep.as_deref(),
            )
            .await;
            if dry_run {
                en.verified = None;
            }
            (ci, en)
        }
    }))
    .buffer_unordered(p.per_registry * registries.len().max(1))
    .collect()
    .await;
    for (ci, en) in results {
        containers[ci].entries.push(en);
    }
}

/// Point `label` at `m` (same bytes), recording the previous digest, then read it back.
pub(crate) async fn set_label(
    reg: &Registry,
    repo: &str,
    label: &str,
    m: &Manifest,
    en: &mut TagEntry,
    dry_run: bool,
    keep_previous: Option<&str>,
) {
    let started = Instant::now();
    let r: Result<(), String> = async {
        let prev = reg.head_manifest(repo, label).await.map_err(|e| e.to_string())?;
        en.previous = prev.as_ref().map(|h| h.digest.to_string());
        if prev.as_ref().map(|h| &h.digest) == Some(&m.digest) {
            en.action = TagAction::AlreadyPresent;
        } else if dry_run {
            en.action = TagAction::WouldChange;
            return Ok(());
        } else {
            if let (Some(prev), Some(keep)) = (&prev, keep_previous) {
                // What the label pointed at stays reachable (and protected from pruning) as
                // `previous-<label>`, for a rollback. Failing to keep it is a warning, not a stop.
                let kept = async {
                    let old = reg.get_manifest(repo, prev.digest.as_str()).await?;
                    reg.put_manifest(repo, keep, &old.media_type, old.bytes).await
                }
                .await;
                if let Err(e) = kept {
                    tracing::warn!(registry = %reg.name(), repo, tag = keep, error = %e, "could not keep the previous label");
                }
            }
            let (_, confirmed) = reg
                .put_manifest_acked(repo, label, &m.media_type, m.bytes.clone())
                .await
                .map_err(|e| e.to_string())?;
            en.action = TagAction::Tagged;
            // The registry's answer named the digest: that is the read-back. Otherwise, ask.
            let now = if confirmed {
                Some(m.digest.clone())
            } else {
                reg.head_manifest(repo, label)
                    .await
                    .map_err(|e| e.to_string())?
                    .map(|h| h.digest)
            };
            if now.as_ref() != Some(&m.digest) {
                return Err(format!(
                    "after the push {label} points at {}, expected {}",
                    now.map(|d| d.to_string()).unwrap_or_else(|| "nothing".into()),
                    m.digest
                ));
            }
        }
        en.verified = Some(true);
        Ok(())
    }
    .await;
    en.seconds = started.elapsed().as_secs_f64();
    if let Err(e) = r {
        en.action = TagAction::Failed;
        en.verified = Some(false);
        en.error = Some(e);
    }
}

async fn verify_source_labels(
    p: &Promotion,
    src: &Registry,
    facts: &[Facts],
    containers: &mut [ContainerReport],
) {
    let memo = BlobMemo::default();
    let results: Vec<(usize, TagEntry)> = stream::iter(facts.iter().enumerate().map(|(ci, f)| {
        let memo = memo.clone();
        async move {
            let mut en = entry(
                &p.source.name,
                &f.repo,
                &p.named_label,
                Some(&f.root.digest),
                TagAction::AlreadyPresent,
            );
            let e = Expectation {
                repo: f.repo.clone(),
                tag: p.named_label.clone(),
                digest: f.root.digest.clone(),
                architectures: None,
                deep: false,
            };
            match verify::check(src, &e, &memo).await {
                Ok(()) => en.verified = Some(true),
                Err(m) => {
                    en.verified = Some(false);
                    en.action = TagAction::Failed;
                    en.error = Some(format!("verification: {m}"));
                }
            }
            (ci, en)
        }
    }))
    .buffer_unordered(p.per_registry)
    .collect()
    .await;
    for (ci, en) in results {
        containers[ci].entries.push(en);
    }
}

/// Close the report of a per-registry verb (`tag`, `rollback`): one entry per container × registry,
/// a container counts as done when every registry's entry succeeded.
pub(crate) fn finish_per_registry(
    mut report: Report,
    p: &Promotion,
    started: Instant,
    results: Vec<(usize, TagEntry)>,
    clients: &[(RegistrySpec, Registry)],
) -> Report {
    let mut containers: Vec<ContainerReport> = p
        .containers
        .iter()
        .map(|n| ContainerReport {
            name: n.clone(),
            source_image: String::new(),
            source_digest: None,
            manifest_architectures: vec![],
            entries: vec![],
            pushed: false,
        })
        .collect();
    for (ci, en) in results {
        if let Some(e) = &en.error {
            report
                .errors
                .push(format!("{}: {}: {e}", containers[ci].name, en.registry));
        }
        containers[ci].entries.push(en);
    }
    for c in &mut containers {
        c.pushed = !c.entries.is_empty() && c.entries.iter().all(|e| e.error.is_none());
        c.source_digest = c.entries.iter().find_map(|e| e.digest.clone());
    }
    report.found = containers.iter().map(|c| c.name.clone()).collect();
    report.pushed = containers
        .iter()
        .filter(|c| c.pushed)
        .map(|c| c.name.clone())
        .collect();
    report.missed = containers
        .iter()
        .filter(|c| !c.pushed)
        .map(|c| c.name.clone())
        .collect();
    report.containers = containers;
    let regs: Vec<_> = clients
        .iter()
        .map(|(s, r)| (s.name.clone(), "target", r.clone()))
        .collect();
    finish_report(report, p, started, &regs)
}

pub(crate) fn finish_report(
    mut report: Report,
    p: &Promotion,
    started: Instant,
    regs: &[(String, &'static str, Registry)],
) -> Report {
    report.seconds = started.elapsed().as_secs_f64();
    report.registries = regs
        .iter()
        .map(|(n, role, r)| RegistryStats::new(n, role, r.transport().stats()))
        .collect();
    report.ok = report.errors.is_empty();
    report.changed = report
        .containers
        .iter()
        .flat_map(|c| c.entries.iter())
        .any(|e| e.action.changed());
    for c in &mut report.containers {
        c.entries.sort_by(|a, b| {
            (a.registry.as_str(), a.tag.as_str()).cmp(&(b.registry.as_str(), b.tag.as_str()))
        });
    }
    // Errors from lower layers can quote user input; never a secret.
    report.scrub(&p.secrets());
    report
}
