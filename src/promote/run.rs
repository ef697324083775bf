//! Running a promotion, step by step, each with typed values in and out: source check and
//! architectures ([`super::source`] → `Facts`) → the pure [`super::plan`] → the writes
//! ([`super::execute`]: one deduplicated copy batch, then manifest lists) → verification
//! ([`super::verify`]) → the label on each target where that image verified, then on the source
//! ([`super::label`]) → the local store ([`super::local`]) → list files, and the report built once
//! ([`super::build`]). Per-image problems do not stop the others; the run fails at the end listing them.
//!
//! A run asked to stop ([`RunOptions::stop`]: a signal, or the run's `deadline`) starts nothing
//! more: a phase that only reads is dropped at once, one that writes gets [`GRACE`] to end what is in
//! flight (the copy engine and the label mover start no new request meanwhile), and then the run
//! ends as `interrupted`: no label moves after the stop, kept local copies stay (as after a failure;
//! none is newly fetched), the list files it knows are written and the others removed, and the
//! report says what was done and what was left ([`crate::report::Interruption`]).

use std::time::{Duration, Instant};

use super::build::{self, Collected, Registries};
use super::execute;
use super::label::{self, LabelSite};
use super::ledger::{At, Ledger};
use super::local::{self, Local};
use super::model::Promotion;
use super::plan::{self, lists_for, Plan};
use super::source::{self, Facts};
use super::verify;
use std::collections::HashMap;

use super::targets::{self, Looked};
use crate::copy::{CopyOptions, FetchedBlobs, Place, SeenTags};
use crate::manifest::Manifest;
use crate::progress::Progress;
use crate::registry::Registry;
use crate::report::listfiles::{self, ListFiles};
use crate::report::{Interruption, Kind, Phase, Problem, Reason, Report, TagAction, TagEntry};
use crate::stop::GRACE;

/// How to run.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Plan and read only; change nothing (check mode).
    pub dry_run: bool,
    /// Verify only (the `verify` action): no copies, no labels.
    pub verify_only: bool,
    /// Copy only (the `copy` action: copy-quay's copy): the images copied to the targets and read
    /// back, no label moved anywhere, no list files (nothing for the promoter to read), and a
    /// container missing at the source does not stop the others (it fails the run at the end).
    pub copy_only: bool,
    /// Where the phases report their progress ([`Progress::none`] by default).
    pub progress: Progress,
    /// What stops the run before its end (signals, through the face; the run adds its `deadline`).
    pub stop: crate::stop::Stop,
}

impl RunOptions {
    fn read_only(&self) -> bool {
        self.dry_run || self.verify_only
    }
}

/// The clients of a run: the source's, and one per target (in `Promotion::targets` order).
struct Clients {
    source: Registry,
    targets: Vec<Registry>,
}

/// The early end of a run: the problem that stopped it is already collected.
enum Stop {
    /// Nothing more to do (a missing container, a setup failure).
    Early,
    /// A phase ran over `phase_timeout`: what is known is still reported and kept.
    Overrun,
    /// The run was asked to stop (a signal, its deadline): what is known is reported.
    Interrupted,
}

/// Why a phase did not finish.
enum Cut {
    Overrun,
    Stopped,
}

/// Run a promotion (or its dry run, or its verification alone). Never panics on bad data; every
/// problem ends up in `report.problems`/`report.errors` and `report.ok == false`.
pub async fn run(p: &Promotion, opts: &RunOptions) -> Report {
    let started = Instant::now();
    // The run's own stop: the caller's (signals), and its deadline, counted from now.
    let opts = &RunOptions {
        stop: opts.stop.child(p.deadline),
        ..opts.clone()
    };
    let action = match (opts.verify_only, opts.copy_only) {
        (true, _) => "verify",
        (false, true) => "copy",
        (false, false) => "promote",
    };
    let header = build::header(p, action, opts.dry_run, &p.targets);
    let mut c = Collected::default();
    let clients = match clients(p) {
        Ok(cl) => cl,
        Err(problems) => {
            c.problems = problems;
            return build::promotion(p, header, c, started, &vec![]);
        }
    };
    let regs: Registries = std::iter::once((p.source.name.clone(), "source", clients.source.clone()))
        .chain(
            p.targets
                .iter()
                .zip(&clients.targets)
                .map(|(s, r)| (s.name.clone(), "target", r.clone())),
        )
        .collect();
    let _ = steps(p, opts, &clients, &mut c).await;
    build::promotion(p, header, c, started, &regs)
}

fn clients(p: &Promotion) -> Result<Clients, Vec<Problem>> {
    let setup =
        |ctx: String, e: &crate::Error, name: &str| Problem::from_error(Phase::Setup, &ctx, e).registry(name);
    let source = p
        .source
        .client()
        .map_err(|e| vec![setup("source registry".into(), &e, &p.source.name)])?;
    let mut targets = Vec::new();
    let mut problems = Vec::new();
    for t in &p.targets {
        // Targets are written to: what they hold is read back from their own origin only.
        match t.client() {
            Ok(r) => targets.push(r.written_to()),
            Err(e) => problems.push(setup(format!("target {}", t.name), &e, &t.name)),
        }
    }
    if problems.is_empty() {
        Ok(Clients { source, targets })
    } else {
        Err(problems)
    }
}

fn list_files_problem(e: &crate::Error) -> Problem {
    Problem::from_error(Phase::ListFiles, "list files", e)
}

/// The promoter's pushed and missed list files (over `containers_list`, as the role's).
fn write_outcome_lists(p: &Promotion, files: &ListFiles, write: bool, c: &mut Collected) {
    let pushed = listfiles::listed_only(&c.pushed, &p.base_added);
    let missed = listfiles::listed_only(&c.missed, &p.base_added);
    c.problems.extend(write_list(write, &files.pushed, p, &pushed));
    c.problems.extend(write_list(write, &files.missed, p, &missed));
}

/// Does some target of this promotion get manifest lists?
fn wants_lists(p: &Promotion) -> bool {
    p.push && p.targets.iter().any(|t| lists_for(p, t))
}

/// Write one list file unless this run writes none; a failure is a problem, not a stop.
fn write_list(write: bool, path: &std::path::Path, p: &Promotion, names: &[String]) -> Option<Problem> {
    let r = if write {
        listfiles::write(path, &p.prefix, names)
    } else {
        Ok(())
    };
    r.err().map(|e| list_files_problem(&e))
}

/// The steps; `Err(Stop)` ends the run early (its problem is collected).
async fn steps(p: &Promotion, opts: &RunOptions, cl: &Clients, c: &mut Collected) -> Result<(), Stop> {
    let write_lists = !opts.read_only() && !opts.copy_only;
    // tmp_file_root checked (its private sub-folder when others share it) before anything is written.
    let dir = match write_lists {
        true => crate::report::folder::output_dir(&p.tmp_file_root)
            .map_err(|e| c.problems.push(list_files_problem(&e)))
            .map_err(|_| Stop::Early)?,
        false => p.tmp_file_root.clone(),
    };
    let files = ListFiles::new(&dir, &p.list_suffix());
    if write_lists {
        files
            .truncate_all()
            .map_err(|e| c.problems.push(list_files_problem(&e)))
            .map_err(|_| Stop::Early)?;
    }
    let mut ledger = Ledger::default();
    let local = match local::open(p, opts.read_only(), &opts.stop) {
        Ok(l) => l,
        // A stop ends the wait for another run's lock: an interruption, not a failure of the store.
        Err(_) if opts.stop.requested() => {
            let r = Err(interrupted(p, opts, c));
            wind_up(p, opts, None, (&files, write_lists), &ledger, c);
            return r;
        }
        Err(e) => {
            c.problems
                .push(Problem::from_error(Phase::Setup, "local store", &e));
            return Err(Stop::Early);
        }
    };
    c.phases_done.push(Phase::Setup);
    let mut sources = Vec::new();
    let r = phases(
        p,
        opts,
        cl,
        local.as_ref(),
        (&files, write_lists),
        &mut ledger,
        &mut sources,
        c,
    )
    .await;
    match r {
        Err(Stop::Overrun) => {
            // What was not promoted is listed, and the images kept as after any failed push
            // (itself within the deadline).
            write_outcome_lists(p, &files, write_lists, c);
            if let (Some(l), false, false) = (&local, opts.read_only(), sources.is_empty()) {
                let keeping = local::keep(p, l, &c.facts, &sources, true, &mut c.local);
                let _ = within(p, opts, GRACE, keeping).await;
                c.problems.append(&mut c.local.problems);
                local::clean(p, l, &c.facts, false, &mut c.local);
            }
        }
        Err(Stop::Interrupted) => wind_up(p, opts, local.as_ref(), (&files, write_lists), &ledger, c),
        _ => {}
    }
    c.ledger = ledger;
    r
}

/// The phases, each within `phase_timeout` and until the run is asked to stop.
#[allow(clippy::too_many_arguments)]
async fn phases(
    p: &Promotion,
    opts: &RunOptions,
    cl: &Clients,
    local: Option<&Local>,
    (files, write_lists): (&ListFiles, bool),
    ledger: &mut Ledger,
    sources: &mut Vec<Place>,
    c: &mut Collected,
) -> Result<(), Stop> {
    let progress = &opts.progress;
    // The targets are asked what they hold while the source is read.
    let looking = async {
        match p.push && !opts.verify_only {
            true => targets::look(p, &cl.targets).await,
            false => Looked::default(),
        }
    };
    let lists = (files, write_lists);
    let checking = check_source(p, cl, local, c, lists, !opts.copy_only, progress);
    // Reading phases are dropped at once on a stop (nothing of theirs is needed any more).
    let checked = within(
        p,
        opts,
        Duration::ZERO,
        futures_util::future::join(checking, looking),
    )
    .await;
    let (found, looked) = checked.map_err(|cut| cut_short(p, opts, Phase::SourceCheck, cut, c))?;
    if let Some(l) = local.filter(|_| c.local_reused.is_empty()) {
        // No kept copy is read: the release's lock goes at once (runs of it need not wait).
        l.done_reading();
    }
    let found = found?;
    after(p, opts, Phase::SourceCheck, true, c)?;
    let fetched = FetchedBlobs::default();
    let known = (&fetched, &looked.lists);
    let reading = architectures(p, &found, known, c, files, write_lists, progress);
    within(p, opts, Duration::ZERO, reading)
        .await
        .map_err(|cut| cut_short(p, opts, Phase::Architectures, cut, c))?;
    after(p, opts, Phase::Architectures, true, c)?;
    *sources = found.into_iter().map(|(_, _, place)| place).collect();
    if p.push && !opts.verify_only {
        // Writing phases get GRACE to end what is in flight (they start nothing new meanwhile).
        within(p, opts, GRACE, quay_repositories(p, opts.dry_run, c))
            .await
            .map_err(|cut| cut_short(p, opts, Phase::Repositories, cut, c))?;
        after(p, opts, Phase::Repositories, false, c)?;
    }
    let mut plan = plan::plan(p, &c.facts, opts.verify_only);
    plan.moves_labels &= !opts.copy_only;
    c.plan = Some(plan.summary(p, c.facts.len()));
    if let (Some(summary), true) = (&mut c.plan, opts.copy_only) {
        summary.source_label = false;
    }
    if p.push && !opts.verify_only {
        let seen = (&fetched, &looked.seen);
        within(
            p,
            opts,
            GRACE,
            write(p, &plan, sources, cl, opts, seen, ledger, c),
        )
        .await
        .map_err(|cut| cut_short(p, opts, Phase::Copy, cut, c))?;
        after(p, opts, Phase::Copy, false, c)?;
        after(p, opts, Phase::Lists, false, c)?;
    }
    if opts.dry_run {
        if !opts.copy_only {
            predict_labels(p, cl, ledger, &c.facts, opts).await;
        }
        return Ok(());
    }
    if p.push {
        within(
            p,
            opts,
            Duration::ZERO,
            verify_targets(p, &plan, cl, opts, ledger),
        )
        .await
        .map_err(|cut| cut_short(p, opts, Phase::Verify, cut, c))?;
        after(p, opts, Phase::Verify, true, c)?;
        // Not cut: each move either ends or is abandoned soon after a stop, and is recorded.
        label_targets(p, cl, opts, ledger, c).await;
        after(p, opts, Phase::Label, false, c)?;
        write_outcome_lists(p, files, write_lists, c);
    }
    if let (Some(l), false) = (local, opts.read_only()) {
        let failed_push = p.push && !c.missed.is_empty();
        within(
            p,
            opts,
            GRACE,
            local::keep(p, l, &c.facts, sources, failed_push, &mut c.local),
        )
        .await
        .map_err(|cut| cut_short(p, opts, Phase::LocalStore, cut, c))?;
        c.problems.append(&mut c.local.problems);
        after(p, opts, Phase::LocalStore, false, c)?;
    }
    if p.label_source && !opts.copy_only {
        // The source label is the last commit: not cut either (it waits for everything else).
        source_label(p, cl, opts, ledger, c).await;
        after(p, opts, Phase::SourceLabel, false, c)?;
    }
    if let (Some(l), false) = (local, opts.read_only()) {
        store_after(p, l, ledger, c);
    }
    Ok(())
}

/// Run one phase within the promotion's `phase_timeout` and until the run is asked to stop, then
/// `grace` more: `Err` when it did not end (its unfinished work is dropped: requests in flight are
/// cancelled, and nothing it did not finish is recorded).
async fn within<T>(
    p: &Promotion,
    opts: &RunOptions,
    grace: Duration,
    phase: impl std::future::Future<Output = T>,
) -> Result<T, Cut> {
    let limited = async {
        match p.phase_timeout {
            None => Some(phase.await),
            Some(limit) => tokio::time::timeout(limit, phase).await.ok(),
        }
    };
    tokio::pin!(limited);
    tokio::select! {
        biased;
        r = &mut limited => r.ok_or(Cut::Overrun),
        _ = opts.stop.wait() => match tokio::time::timeout(grace, &mut limited).await {
            Ok(r) => r.ok_or(Cut::Overrun),
            Err(_) => Err(Cut::Stopped),
        },
    }
}

/// A phase ended: `whole` when its results are complete even if a stop came meanwhile (a phase
/// that only reads, or was not cut); then the run goes on unless it was asked to stop.
fn after(p: &Promotion, opts: &RunOptions, phase: Phase, whole: bool, c: &mut Collected) -> Result<(), Stop> {
    let stopped = opts.stop.requested();
    if (whole || !stopped) && planned(p, opts).contains(&phase) {
        c.phases_done.push(phase);
    }
    match stopped {
        true => Err(interrupted(p, opts, c)),
        false => Ok(()),
    }
}

/// A phase that did not end: over its `phase_timeout`, or cut by a stop.
fn cut_short(p: &Promotion, opts: &RunOptions, phase: Phase, cut: Cut, c: &mut Collected) -> Stop {
    match cut {
        Cut::Overrun => overrun(p, phase, c),
        Cut::Stopped => interrupted(p, opts, c),
    }
}

/// A phase ran over its deadline: the run stops, every container counts as missed, and no label
/// moves after this (the steps that would move one are not reached).
fn overrun(p: &Promotion, phase: Phase, c: &mut Collected) -> Stop {
    let secs = p.phase_timeout.map_or(0, |d| d.as_secs());
    let name = phase.to_string().replace('_', " ");
    let msg = format!(
        "the {name} phase ran over its deadline (phase_timeout: {secs} s): the run stopped there, \
         nothing after it was done and no label moved"
    );
    c.problems
        .push(Problem::new(phase, Kind::Deadline, msg.clone(), msg));
    c.pushed.clear();
    c.missed = c.found.clone();
    Stop::Overrun
}

/// The phases this run goes through, in order.
fn planned(p: &Promotion, opts: &RunOptions) -> Vec<Phase> {
    let pushing = p.push && !opts.verify_only;
    let writes_store = p.keep_local != super::model::KeepLocal::Never && !opts.read_only();
    [
        (Phase::Setup, true),
        (Phase::SourceCheck, true),
        (Phase::Architectures, true),
        (
            Phase::Repositories,
            pushing && p.targets.iter().any(|t| t.quay.is_some()),
        ),
        (Phase::Copy, pushing),
        (Phase::Lists, pushing && wants_lists(p)),
        (Phase::Verify, p.push),
        (Phase::Label, pushing && !opts.copy_only),
        (Phase::LocalStore, writes_store),
        (Phase::SourceLabel, p.label_source && !opts.copy_only),
    ]
    .into_iter()
    .filter_map(|(phase, planned)| planned.then_some(phase))
    .collect()
}

/// The run was asked to stop (a signal, its deadline): one problem says so, where, and how to
/// resume; the report's `interrupted` says what was done and what was left. (What it did stays
/// recorded; [`wind_up`] ends the run.)
fn interrupted(p: &Promotion, opts: &RunOptions, c: &mut Collected) -> Stop {
    let Some(cause) = opts.stop.cause() else {
        return Stop::Early;
    };
    let left: Vec<Phase> = planned(p, opts)
        .into_iter()
        .filter(|x| !c.phases_done.contains(x))
        .collect();
    let phase = left.first().copied().unwrap_or(Phase::Setup);
    let name = phase.to_string().replace('_', " ");
    let msg = format!(
        "{cause} in the {name} phase: the run stopped there (no label moves after that, kept local \
         copies stay); run it again to resume: what is done is not done again"
    );
    c.problems
        .push(Problem::new(phase, Kind::Interrupted, msg.clone(), msg));
    c.interrupted = Some(Interruption {
        by: cause.name().to_string(),
        phase,
        done: c.phases_done.clone(),
        left,
        list_files_unknown: Vec::new(),
    });
    Stop::Interrupted
}

/// The end of a run asked to stop: the containers promoted so far (verified and labelled on every
/// target; none before the labels) and the others found; the list files it knows written, the others
/// removed; its label moves recorded for `rollback`; its local copies left as they are (no copy
/// fetched, no housekeeping). Each step's own "not done: interrupted" lines give way to the run's one.
fn wind_up(
    p: &Promotion,
    opts: &RunOptions,
    local: Option<&Local>,
    (files, write_lists): (&ListFiles, bool),
    ledger: &Ledger,
    c: &mut Collected,
) {
    c.problems
        .retain(|x| x.kind != Kind::Interrupted || x.container.is_none());
    let reached = |phase| c.phases_done.contains(&phase);
    let known = listfiles::Known {
        source: reached(Phase::SourceCheck),
        ppc: !wants_lists(p) || reached(Phase::Architectures),
        outcome: reached(Phase::SourceCheck) || !p.push,
    };
    let labelled = reached(Phase::Verify) && p.push && !opts.verify_only;
    let promoted: Vec<bool> = (0..c.facts.len())
        .map(|ci| labelled && (0..p.targets.len()).all(|ti| ledger.pushed(ci, ti)))
        .collect();
    c.pushed = c
        .facts
        .iter()
        .zip(&promoted)
        .filter(|(_, done)| **done)
        .map(|(f, _)| f.name.clone())
        .collect();
    c.missed = c
        .found
        .iter()
        .filter(|n| !c.pushed.contains(n))
        .cloned()
        .collect();
    if write_lists {
        if known.source && p.push {
            write_outcome_lists(p, files, true, c);
        }
        match files.remove_unknown(known) {
            Ok(removed) => {
                if let Some(i) = &mut c.interrupted {
                    i.list_files_unknown = removed.iter().map(|f| f.display().to_string()).collect();
                }
            }
            Err(e) => c.problems.push(list_files_problem(&e)),
        }
    }
    if let (Some(l), false) = (local, opts.read_only()) {
        local::record_labels(p, l, ledger.entries().map(|(_, e)| e), &mut c.local);
        c.problems.append(&mut c.local.problems);
        local::clean(p, l, &c.facts, false, &mut c.local);
        c.problems.append(&mut c.local.problems);
    }
}

/// Step 1: every `<prefix>-<name>:<fh>` must exist at the source (or in a kept local copy); one
/// missing stops the run when `stop_on_missing` (a promotion), else the others go on (a copy).
async fn check_source(
    p: &Promotion,
    cl: &Clients,
    local: Option<&Local>,
    c: &mut Collected,
    (files, write_lists): (&ListFiles, bool),
    stop_on_missing: bool,
    progress: &Progress,
) -> Result<Vec<(String, crate::manifest::Manifest, Place)>, Stop> {
    let want_lists = wants_lists(p);
    let mut found = source::check(p, &cl.source, local.map(|l| &l.layout), want_lists, progress).await;
    c.found = found.found.iter().map(|(n, _, _)| n.clone()).collect();
    c.missing = std::mem::take(&mut found.missing);
    c.local_reused = found
        .found
        .iter()
        .filter(|(_, _, place)| place.is_local())
        .map(|(n, _, _)| n.clone())
        .collect();
    c.problems.append(&mut found.problems);
    let parsed = listfiles::parsed(&c.found, &c.missing, &p.base_added);
    c.problems
        .extend(write_list(write_lists, &files.parsed, p, &parsed));
    c.problems
        .extend(write_list(write_lists, &files.missing, p, &c.missing));
    tracing::info!(
        source = %format!("{}/{}", p.source.host, p.source.namespace),
        tag = %p.full_hash,
        found = c.found.len(),
        missing = c.missing.len(),
        "source check"
    );
    if !c.missing.is_empty() && (stop_on_missing || found.found.is_empty()) {
        return Err(Stop::Early);
    }
    if found.found.is_empty() {
        let msg = "container list is empty";
        c.problems
            .push(Problem::new(Phase::SourceCheck, Kind::Invalid, msg, msg));
        return Err(Stop::Early);
    }
    Ok(found.found)
}

/// 2. What the source holds per container; its architectures when some target gets manifest lists.
async fn architectures(
    p: &Promotion,
    found: &[(String, crate::manifest::Manifest, Place)],
    known: (&FetchedBlobs, &HashMap<String, Manifest>),
    c: &mut Collected,
    files: &ListFiles,
    write_lists: bool,
    progress: &Progress,
) {
    let want_lists = wants_lists(p);
    c.facts = source::facts(p, found, want_lists, known, progress).await;
    if want_lists && p.ppc_manifests {
        // In `ppc_containers_list`'s order, as the role listed them.
        for name in &p.ppc_containers {
            let Some(f) = c.facts.iter().find(|f| f.name == *name) else {
                continue;
            };
            if f.ppc.is_some() || f.root.is_index() {
                c.ppc_found.push(f.name.clone());
            } else {
                c.ppc_missing.push(f.name.clone());
            }
        }
        c.problems
            .extend(write_list(write_lists, &files.parsed_ppc, p, &c.ppc_found));
        c.problems
            .extend(write_list(write_lists, &files.missing_ppc, p, &c.ppc_missing));
    }
    for f in &c.facts {
        if let Some(e) = &f.arch_error {
            let text = format!("{}: {e}", f.name);
            let problem = Problem::new(Phase::Architectures, Kind::Other, e.clone(), text);
            c.problems
                .push(problem.container(&f.name).registry(&p.source.name));
        }
    }
}

/// Quay targets: create the missing repositories (public) before pushing.
async fn quay_repositories(p: &Promotion, dry_run: bool, c: &mut Collected) {
    let repos: Vec<String> = c
        .facts
        .iter()
        .map(|f| format!("{}-{}", p.prefix, f.name))
        .collect();
    for t in &p.targets {
        let Some(spec) = &t.quay else { continue };
        match crate::quay::ensure(spec, &repos, dry_run).await {
            Ok(o) => {
                tracing::info!(
                    registry = %t.name,
                    created = o.created.len(),
                    would_create = o.would_create.len(),
                    "Quay repositories"
                );
                c.quay.push(o);
            }
            Err(e) => {
                let ctx = format!("{}: creating Quay repositories", t.name);
                c.problems
                    .push(Problem::from_error(Phase::Repositories, &ctx, &e).registry(&t.name));
            }
        }
    }
}

/// 3–4. The copies to every target in one batch, then the manifest lists.
#[allow(clippy::too_many_arguments)]
async fn write(
    p: &Promotion,
    plan: &Plan,
    sources: &[Place],
    cl: &Clients,
    opts: &RunOptions,
    (fetched, seen): (&FetchedBlobs, &SeenTags),
    ledger: &mut Ledger,
    c: &mut Collected,
) {
    let dry_run = opts.dry_run;
    let copts = CopyOptions {
        per_registry: p.per_registry,
        blob_jobs: p.blob_jobs,
        dry_run,
        fetched: fetched.clone(),
        progress: opts.progress.clone(),
        proven: ledger.proven.clone(),
        seen: seen.clone(),
        stop: opts.stop.clone(),
    };
    let (outcomes, mut problems) = execute::copies(p, plan, &c.facts, sources, &cl.targets, &copts).await;
    c.problems.append(&mut problems);
    for (ci, ti, en) in outcomes {
        ledger.record(ci, At::Target(ti), en);
    }
    let (outcomes, mut problems) = execute::lists(
        p,
        plan,
        (&c.facts, seen),
        ledger,
        &cl.targets,
        dry_run,
        &opts.progress,
        &opts.stop,
    )
    .await;
    c.problems.append(&mut problems);
    for (ci, ti, en) in outcomes {
        ledger.record(ci, At::Target(ti), en);
    }
}

fn target_sites<'a>(p: &'a Promotion, cl: &'a Clients) -> Vec<LabelSite<'a>> {
    p.targets
        .iter()
        .zip(&cl.targets)
        .enumerate()
        .map(|(ti, (spec, client))| LabelSite {
            at: At::Target(ti),
            spec,
            client,
        })
        .collect()
}

fn source_site<'a>(p: &'a Promotion, cl: &'a Clients) -> LabelSite<'a> {
    LabelSite {
        at: At::Source,
        spec: &p.source,
        client: &cl.source,
    }
}

/// Dry run: predict the label moves (read-only).
async fn predict_labels(
    p: &Promotion,
    cl: &Clients,
    ledger: &mut Ledger,
    facts: &[Facts],
    opts: &RunOptions,
) {
    let mut sites = Vec::new();
    if p.push {
        sites.extend(target_sites(p, cl));
    }
    if p.label_source {
        sites.push(source_site(p, cl));
    }
    let (progress, stop) = (&opts.progress, &opts.stop);
    for (ci, at, en, _) in label::move_labels(p, &sites, facts, ledger, false, true, progress, stop).await {
        ledger.record(ci, at, en);
    }
}

/// 5–6. Verify what should now be on the targets, then move the label where everything verified.
async fn verify_targets(p: &Promotion, plan: &Plan, cl: &Clients, opts: &RunOptions, ledger: &mut Ledger) {
    let (verify_only, progress) = (opts.verify_only, &opts.progress);
    for v in verify::pass(p, plan, ledger, &cl.targets, verify_only, progress).await {
        ledger.apply(&v, &p.targets[v.target].name);
    }
    // Expected tags that could not even be attempted (x86/ppc discovery failed) count as missed.
    for u in &plan.unbuildable {
        let mut en = TagEntry::new(
            &p.targets[u.target].name,
            &u.repo,
            &u.tag,
            None,
            TagAction::Failed,
        );
        en.verified = Some(false);
        en.error = Some(u.reason.clone());
        ledger.record(u.container, At::Target(u.target), en);
    }
}

/// The label on each target where every tag of that image verified, then what was promoted. Not
/// cut by `phase_timeout`: label moves are the commit, short, and each one is recorded.
async fn label_targets(
    p: &Promotion,
    cl: &Clients,
    opts: &RunOptions,
    ledger: &mut Ledger,
    c: &mut Collected,
) {
    if !opts.verify_only && !opts.copy_only {
        let sites = target_sites(p, cl);
        let moved = label::move_labels(
            p,
            &sites,
            &c.facts,
            ledger,
            true,
            false,
            &opts.progress,
            &opts.stop,
        )
        .await;
        // A comparison read after the moves: not begun once the run is asked to stop.
        if !opts.stop.requested() {
            c.built.extend(label::built_dates(&sites, &c.facts, &moved).await);
        }
        for (ci, at, en, kind) in moved {
            if en.action == TagAction::Failed {
                c.problems
                    .push(tag_problem(Phase::Label, kind, &c.facts[ci].name, &en));
            }
            ledger.record(ci, at, en);
        }
    }
    verification_problems(ledger, p.targets.len(), c);
    if opts.stop.requested() {
        // Stopped among the moves: what was promoted is decided when the run winds up.
        return;
    }
    let pushed: Vec<bool> = (0..c.facts.len())
        .map(|ci| (0..p.targets.len()).all(|ti| ledger.pushed(ci, ti)))
        .collect();
    for (f, pushed) in c.facts.iter().zip(pushed) {
        let list = if pushed { &mut c.pushed } else { &mut c.missed };
        list.push(f.name.clone());
    }
    // The run's outcome, one problem per image and target it was not verified on: each is folded
    // into the cause met there ("so 20 images were not verified there"), see report::problem.
    for (ci, f) in c.facts.iter().enumerate() {
        let missed = p
            .targets
            .iter()
            .enumerate()
            .filter(|(ti, _)| !ledger.pushed(ci, *ti));
        for (_, t) in missed {
            let text = format!("{}: not verified on {}", f.name, t.name);
            let problem = Problem::new(Phase::Verify, Kind::Verification, "not verified", text);
            let problem = problem.reason(Some(Reason::NotVerified));
            c.problems.push(problem.container(&f.name).registry(&t.name));
        }
    }
}

/// A problem on one tag of one container, its line `name: registry:tag: error`.
fn tag_problem(phase: Phase, kind: Kind, name: &str, en: &crate::report::TagEntry) -> Problem {
    let e = en.error.clone().unwrap_or_default();
    let text = format!("{name}: {}:{}: {e}", en.registry, en.tag);
    Problem::new(phase, kind, e, text)
        .container(name)
        .registry(&en.registry)
        .tag(&en.tag)
}

/// Each tag that failed or did not verify, once: a cause already reported (by the copy) is not
/// repeated.
fn verification_problems(ledger: &Ledger, targets: usize, c: &mut Collected) {
    for (ci, f) in c.facts.iter().enumerate() {
        for (e, reason) in (0..targets).flat_map(|ti| ledger.checked_at(ci, At::Target(ti))) {
            let Some(err) = &e.error else { continue };
            if e.verified != Some(false) && e.action != TagAction::Failed {
                continue;
            }
            // A read-back that found something wrong is a verification problem, also on a tag
            // this run did not write; another failure (a copy's) is not.
            let kind = if reason.is_none() && e.action == TagAction::Failed {
                Kind::Other
            } else {
                Kind::Verification
            };
            let problem = tag_problem(Phase::Verify, kind, &f.name, e).reason(reason);
            let known = c
                .problems
                .iter()
                .any(|x| x.text == problem.text || x.text.ends_with(err.as_str()));
            if !known {
                c.problems.push(problem);
            }
        }
    }
}

/// 7. The source label: last, and only when everything else succeeded (`verify`: read it back).
async fn source_label(
    p: &Promotion,
    cl: &Clients,
    opts: &RunOptions,
    ledger: &mut Ledger,
    c: &mut Collected,
) {
    let verify_only = opts.verify_only;
    type Labelled = (usize, crate::report::TagEntry, Kind, Option<Reason>);
    let labelled: Vec<Labelled> = if verify_only {
        let checked = verify::source_labels(p, &cl.source, &c.facts).await;
        checked
            .into_iter()
            .map(|(ci, en, reason)| (ci, en, Kind::Verification, reason))
            .collect()
    } else if c.ok() {
        let sites = [source_site(p, cl)];
        let moved = label::move_labels(
            p,
            &sites,
            &c.facts,
            ledger,
            false,
            false,
            &opts.progress,
            &opts.stop,
        )
        .await;
        if !opts.stop.requested() {
            c.built.extend(label::built_dates(&sites, &c.facts, &moved).await);
        }
        moved
            .into_iter()
            .map(|(ci, _, en, kind)| (ci, en, kind, None))
            .collect()
    } else {
        let withheld = |(ci, f): (usize, &Facts)| {
            let mut en = TagEntry::new(
                &p.source.name,
                &f.repo,
                &p.named_label,
                Some(&f.root.digest),
                TagAction::Skipped,
            );
            en.error = Some("label withheld: the promotion had errors".into());
            (ci, en, Kind::NotAttempted, None)
        };
        c.facts.iter().enumerate().map(withheld).collect()
    };
    for (ci, en, kind, reason) in labelled {
        if en.action == TagAction::Failed {
            let name = &c.facts[ci].name;
            let e = en.error.clone().unwrap_or_default();
            let text = format!("{name}: source label: {e}");
            let problem = Problem::new(Phase::SourceLabel, kind, e, text).reason(reason);
            c.problems
                .push(problem.container(name).registry(&p.source.name).tag(&en.tag));
        }
        ledger.record(ci, At::Source, en);
    }
}

/// After the labels: record every move for `rollback`, then remove this promotion's copies when
/// everything succeeded.
fn store_after(p: &Promotion, l: &Local, ledger: &Ledger, c: &mut Collected) {
    local::record_labels(p, l, ledger.entries().map(|(_, e)| e), &mut c.local);
    c.problems.append(&mut c.local.problems);
    local::clean(p, l, &c.facts, c.ok(), &mut c.local);
    c.problems.append(&mut c.local.problems);
}
