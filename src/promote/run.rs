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
use super::ids::{with_ids, ById, ContainerId, TargetId};
use super::label::{self, LabelSite};
use super::ledger::{At, Outcome};
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
    if let Some(mut run) = Run::start(p, opts, &clients, &mut c) {
        run.steps().await;
    }
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

/// One promotion run in progress: what it works with (the promotion, how to run, the clients, the
/// local store, the list files) and what its steps have found and done so far (`c`: the facts, the
/// ledger of outcomes, the problems; `sources`: where each container is read from).
struct Run<'a> {
    p: &'a Promotion,
    opts: &'a RunOptions,
    cl: &'a Clients,
    local: Option<Local>,
    files: ListFiles,
    /// The list files are written (not in a dry run, nor by `verify` or `copy`).
    write_lists: bool,
    /// By container, once the source is checked.
    sources: Vec<Place>,
    c: &'a mut Collected,
}

impl<'a> Run<'a> {
    /// The list files' folder checked (its private sub-folder when others share it) and the files
    /// emptied before anything is written, and the local store opened; `None` when either fails
    /// (its problem collected; nothing else is done).
    fn start(
        p: &'a Promotion,
        opts: &'a RunOptions,
        cl: &'a Clients,
        c: &'a mut Collected,
    ) -> Option<Run<'a>> {
        let write_lists = !opts.read_only() && !opts.copy_only;
        let dir = match write_lists {
            true => match crate::report::folder::output_dir(&p.tmp_file_root) {
                Ok(d) => d,
                Err(e) => {
                    c.problems.push(list_files_problem(&e));
                    return None;
                }
            },
            false => p.tmp_file_root.clone(),
        };
        let files = ListFiles::new(&dir, &p.list_suffix());
        if write_lists {
            if let Err(e) = files.truncate_all() {
                c.problems.push(list_files_problem(&e));
                return None;
            }
        }
        let local = match local::open(p, opts.read_only(), &opts.stop, &opts.progress) {
            Ok(l) => l,
            // A stop ends the wait for another run's lock: an interruption, not a failure of the store.
            Err(_) if opts.stop.requested() => None,
            Err(e) => {
                c.problems
                    .push(Problem::from_error(Phase::Setup, "local store", &e));
                return None;
            }
        };
        let mut run = Run {
            p,
            opts,
            cl,
            local,
            files,
            write_lists,
            sources: Vec::new(),
            c,
        };
        if opts.stop.requested() {
            run.interrupted();
            run.wind_up();
            return None;
        }
        run.c.phases_done.push(Phase::Setup);
        Some(run)
    }

    /// The phases; one that runs over `phase_timeout` stops the run there, and what is known is
    /// still listed and kept.
    async fn steps(&mut self) {
        match self.phases().await {
            Err(Stop::Overrun) => {
                // What was not promoted is listed, and the images kept as after any failed push
                // (itself within the deadline).
                self.write_outcome_lists();
                let (p, opts, c) = (self.p, self.opts, &mut *self.c);
                if let (Some(l), false, false) = (&self.local, opts.read_only(), self.sources.is_empty()) {
                    let keeping = local::keep(p, l, &c.facts, &self.sources, true, &mut c.local);
                    let _ = within(p, opts, GRACE, keeping).await;
                    c.problems.append(&mut c.local.problems);
                    local::clean(p, l, &c.facts, false, &mut c.local);
                }
            }
            Err(Stop::Interrupted) => self.wind_up(),
            _ => {}
        }
    }

    /// The phases, each within `phase_timeout` and until the run is asked to stop; `Err(Stop)` ends
    /// the run early (its problem is collected).
    async fn phases(&mut self) -> Result<(), Stop> {
        let (p, opts, cl) = (self.p, self.opts, self.cl);
        // The targets are asked what they hold while the source is read.
        let looking = async {
            match p.push && !opts.verify_only {
                true => targets::look(p, &cl.targets).await,
                false => Looked::default(),
            }
        };
        // Reading phases are dropped at once on a stop (nothing of theirs is needed any more).
        let reading = futures_util::future::join(self.check_source(), looking);
        let checked = within(p, opts, Duration::ZERO, reading).await;
        let (found, looked) = checked.map_err(|cut| self.cut_short(Phase::SourceCheck, cut))?;
        if let Some(l) = self.local.as_ref().filter(|_| self.c.local_reused.is_empty()) {
            // No kept copy is read: the release's lock goes at once (runs of it need not wait).
            l.done_reading();
        }
        let found = found?;
        self.after(Phase::SourceCheck, true)?;
        let fetched = FetchedBlobs::default();
        within(
            p,
            opts,
            Duration::ZERO,
            self.architectures(&found, (&fetched, &looked.lists)),
        )
        .await
        .map_err(|cut| self.cut_short(Phase::Architectures, cut))?;
        self.after(Phase::Architectures, true)?;
        self.sources = found.into_iter().map(|(_, _, place)| place).collect();
        if p.push && !opts.verify_only {
            // Writing phases get GRACE to end what is in flight (they start nothing new meanwhile).
            within(p, opts, GRACE, self.quay_repositories())
                .await
                .map_err(|cut| self.cut_short(Phase::Repositories, cut))?;
            self.after(Phase::Repositories, false)?;
        }
        let mut plan = plan::plan(p, &self.c.facts, opts.verify_only);
        plan.moves_labels &= !opts.copy_only;
        self.c.plan = Some(plan.summary(p, self.c.facts.len()));
        if let (Some(summary), true) = (&mut self.c.plan, opts.copy_only) {
            summary.source_label = false;
        }
        if p.push && !opts.verify_only {
            within(p, opts, GRACE, self.write(&plan, (&fetched, &looked.seen)))
                .await
                .map_err(|cut| self.cut_short(Phase::Copy, cut))?;
            self.after(Phase::Copy, false)?;
            self.after(Phase::Lists, false)?;
        }
        if opts.dry_run {
            if !opts.copy_only {
                self.predict_labels().await;
            }
            return Ok(());
        }
        if p.push {
            within(p, opts, Duration::ZERO, self.verify_targets(&plan))
                .await
                .map_err(|cut| self.cut_short(Phase::Verify, cut))?;
            self.after(Phase::Verify, true)?;
            // Not cut: each move either ends or is abandoned soon after a stop, and is recorded.
            self.label_targets().await;
            self.after(Phase::Label, false)?;
            self.write_outcome_lists();
        }
        if !opts.read_only() {
            let failed_push = p.push && !self.c.missed.is_empty();
            within(p, opts, GRACE, self.keep_local(failed_push))
                .await
                .map_err(|cut| self.cut_short(Phase::LocalStore, cut))?;
            if self.local.is_some() {
                self.after(Phase::LocalStore, false)?;
            }
        }
        if p.label_source && !opts.copy_only {
            // The source label is the last commit: not cut either (it waits for everything else).
            self.source_label().await;
            self.after(Phase::SourceLabel, false)?;
        }
        if !opts.read_only() {
            self.store_after();
        }
        Ok(())
    }

    /// A phase ended: `whole` when its results are complete even if a stop came meanwhile (a phase
    /// that only reads, or was not cut); then the run goes on unless it was asked to stop.
    fn after(&mut self, phase: Phase, whole: bool) -> Result<(), Stop> {
        let stopped = self.opts.stop.requested();
        if (whole || !stopped) && self.planned().contains(&phase) {
            self.c.phases_done.push(phase);
        }
        match stopped {
            true => Err(self.interrupted()),
            false => Ok(()),
        }
    }

    /// A phase that did not end: over its `phase_timeout`, or cut by a stop.
    fn cut_short(&mut self, phase: Phase, cut: Cut) -> Stop {
        match cut {
            Cut::Overrun => self.overrun(phase),
            Cut::Stopped => self.interrupted(),
        }
    }

    /// The phases this run goes through, in order.
    fn planned(&self) -> Vec<Phase> {
        let (p, opts) = (self.p, self.opts);
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
    /// recorded; [`Run::wind_up`] ends the run.)
    fn interrupted(&mut self) -> Stop {
        let Some(cause) = self.opts.stop.cause() else {
            return Stop::Early;
        };
        let planned = self.planned();
        let c = &mut *self.c;
        let left: Vec<Phase> = planned
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

    /// The end of a run asked to stop: the containers promoted so far (verified and labelled on
    /// every target; none before the labels) and the others found; the list files it knows written,
    /// the others removed; its label moves recorded for `rollback`; its local copies left as they
    /// are (no copy fetched, no housekeeping). Each step's own "not done: interrupted" lines give
    /// way to the run's one.
    fn wind_up(&mut self) {
        let (p, opts) = (self.p, self.opts);
        let c = &mut *self.c;
        c.problems
            .retain(|x| x.kind != Kind::Interrupted || x.container.is_none());
        let reached = |phase| c.phases_done.contains(&phase);
        let known = listfiles::Known {
            source: reached(Phase::SourceCheck),
            ppc: !wants_lists(p) || reached(Phase::Architectures),
            outcome: reached(Phase::SourceCheck) || !p.push,
        };
        let labelled = reached(Phase::Verify) && p.push && !opts.verify_only;
        let targets: Vec<TargetId> = with_ids(&p.targets).map(|(ti, _): (TargetId, _)| ti).collect();
        let promoted: Vec<String> = with_ids::<_, ContainerId>(&c.facts)
            .filter(|(ci, _)| labelled && targets.iter().all(|ti| c.ledger.pushed(*ci, *ti)))
            .map(|(_, f)| f.name.clone())
            .collect();
        c.pushed = promoted;
        c.missed = c
            .found
            .iter()
            .filter(|n| !c.pushed.contains(n))
            .cloned()
            .collect();
        if self.write_lists {
            if known.source && p.push {
                self.write_outcome_lists();
            }
            let c = &mut *self.c;
            match self.files.remove_unknown(known) {
                Ok(removed) => {
                    if let Some(i) = &mut c.interrupted {
                        i.list_files_unknown = removed.iter().map(|f| f.display().to_string()).collect();
                    }
                }
                Err(e) => c.problems.push(list_files_problem(&e)),
            }
        }
        let c = &mut *self.c;
        if let (Some(l), false) = (&self.local, opts.read_only()) {
            local::record_labels(p, l, c.ledger.entries(), &mut c.local);
            c.problems.append(&mut c.local.problems);
            local::clean(p, l, &c.facts, false, &mut c.local);
            c.problems.append(&mut c.local.problems);
        }
    }

    /// A phase ran over its deadline: the run stops, every container counts as missed, and no
    /// label moves after this (the steps that would move one are not reached).
    fn overrun(&mut self, phase: Phase) -> Stop {
        let secs = self.p.phase_timeout.map_or(0, |d| d.as_secs());
        let name = phase.to_string().replace('_', " ");
        let msg = format!(
            "the {name} phase ran over its deadline (phase_timeout: {secs} s): the run stopped there, \
             nothing after it was done and no label moved"
        );
        let c = &mut *self.c;
        c.problems
            .push(Problem::new(phase, Kind::Deadline, msg.clone(), msg));
        c.pushed.clear();
        c.missed = c.found.clone();
        Stop::Overrun
    }

    /// The promoter's pushed and missed list files (over `containers_list`, as the role's).
    fn write_outcome_lists(&mut self) {
        let (p, files, write, c) = (self.p, &self.files, self.write_lists, &mut *self.c);
        let pushed = listfiles::listed_only(&c.pushed, &p.base_added);
        let missed = listfiles::listed_only(&c.missed, &p.base_added);
        c.problems.extend(write_list(write, &files.pushed, p, &pushed));
        c.problems.extend(write_list(write, &files.missed, p, &missed));
    }

    /// 1\. Every `<prefix>-<name>:<fh>` must exist at the source (or in a kept local copy); one
    /// missing stops the run for a promotion, while a copy goes on with the others.
    async fn check_source(&mut self) -> Result<Vec<(String, Manifest, Place)>, Stop> {
        let (p, files, write) = (self.p, &self.files, self.write_lists);
        let layout = self.local.as_ref().map(|l| &l.layout);
        let mut found = source::check(p, &self.cl.source, layout, wants_lists(p), &self.opts.progress).await;
        let c = &mut *self.c;
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
        c.problems.extend(write_list(write, &files.parsed, p, &parsed));
        c.problems
            .extend(write_list(write, &files.missing, p, &c.missing));
        tracing::info!(
            source = %format!("{}/{}", p.source.host, p.source.namespace),
            tag = %p.full_hash,
            found = c.found.len(),
            missing = c.missing.len(),
            "source check"
        );
        let stop_on_missing = !self.opts.copy_only;
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

    /// 2. What the source holds per container; its architectures when targets get manifest lists.
    async fn architectures(
        &mut self,
        found: &[(String, Manifest, Place)],
        known: (&FetchedBlobs, &HashMap<String, Manifest>),
    ) {
        let (p, files, write) = (self.p, &self.files, self.write_lists);
        let want_lists = wants_lists(p);
        let c = &mut *self.c;
        c.facts = source::facts(p, found, want_lists, known, &self.opts.progress).await;
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
                .extend(write_list(write, &files.parsed_ppc, p, &c.ppc_found));
            c.problems
                .extend(write_list(write, &files.missing_ppc, p, &c.ppc_missing));
        }
        for f in &c.facts {
            if let Some(e) = &f.arch_error {
                let text = format!("{}: {e}", f.name);
                let problem = Problem::new(Phase::Architectures, Kind::of(e), e.to_string(), text);
                c.problems
                    .push(problem.container(&f.name).registry(&p.source.name));
            }
        }
    }

    /// Quay targets: create the missing repositories (public) before pushing.
    async fn quay_repositories(&mut self) {
        let (p, c) = (self.p, &mut *self.c);
        let repos: Vec<String> = c
            .facts
            .iter()
            .map(|f| format!("{}-{}", p.prefix, f.name))
            .collect();
        for t in &p.targets {
            let Some(spec) = &t.quay else { continue };
            match crate::quay::ensure(spec, &repos, self.opts.dry_run).await {
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
    async fn write(&mut self, plan: &Plan, (fetched, seen): (&FetchedBlobs, &SeenTags)) {
        let (p, opts, cl, c) = (self.p, self.opts, self.cl, &mut *self.c);
        let copts = CopyOptions {
            per_registry: p.per_registry,
            blob_jobs: p.blob_jobs,
            dry_run: opts.dry_run,
            fetched: fetched.clone(),
            progress: opts.progress.clone(),
            proven: c.ledger.proven.clone(),
            seen: seen.clone(),
            stop: opts.stop.clone(),
        };
        let (outcomes, mut problems) =
            execute::copies(p, plan, &c.facts, &self.sources, &cl.targets, &copts).await;
        c.problems.append(&mut problems);
        c.ledger.record_all(outcomes);
        let (outcomes, mut problems) = execute::lists(
            p,
            plan,
            (&c.facts, seen),
            &c.ledger,
            &cl.targets,
            opts.dry_run,
            &opts.progress,
            &opts.stop,
        )
        .await;
        c.problems.append(&mut problems);
        c.ledger.record_all(outcomes);
    }

    /// The label's sites on the targets.
    fn target_sites(&self) -> Vec<LabelSite<'a>> {
        let (p, cl) = (self.p, self.cl);
        with_ids::<_, TargetId>(&p.targets)
            .map(|(ti, spec)| LabelSite {
                at: At::Target(ti),
                spec,
                client: cl.targets.by_id(ti),
            })
            .collect()
    }

    /// The label's site on the source.
    fn source_site(&self) -> LabelSite<'a> {
        LabelSite {
            at: At::Source,
            spec: &self.p.source,
            client: &self.cl.source,
        }
    }

    /// Dry run: predict the label moves (read-only).
    async fn predict_labels(&mut self) {
        let p = self.p;
        let mut sites = Vec::new();
        if p.push {
            sites.extend(self.target_sites());
        }
        if p.label_source {
            sites.push(self.source_site());
        }
        let c = &mut *self.c;
        let (progress, stop) = (&self.opts.progress, &self.opts.stop);
        let moves = label::move_labels(p, &sites, &c.facts, &c.ledger, false, true, progress, stop).await;
        c.ledger.record_all(moves);
    }

    /// 5–6. Verify what should now be on the targets (then the label moves where all verified).
    async fn verify_targets(&mut self, plan: &Plan) {
        let (p, opts, c) = (self.p, self.opts, &mut *self.c);
        let verdicts = verify::pass(
            p,
            plan,
            &c.ledger,
            &self.cl.targets,
            opts.verify_only,
            &opts.progress,
        )
        .await;
        for v in verdicts {
            c.ledger.apply(&v, &p.targets.by_id(v.target).name);
        }
        // Expected tags that could not even be attempted (x86/ppc discovery failed) count as missed.
        for u in &plan.unbuildable {
            let registry = &p.targets.by_id(u.target).name;
            let mut en = TagEntry::new(registry, &u.repo, &u.tag, None, TagAction::Failed);
            en.verified = Some(false);
            en.error = Some(u.reason.clone());
            c.ledger.record(Outcome::new(
                u.container,
                At::Target(u.target),
                en,
                Kind::NotAttempted,
            ));
        }
    }

    /// The label on each target where every tag of that image verified, then what was promoted.
    /// Not cut by `phase_timeout`: label moves are the commit, short, and each one is recorded.
    async fn label_targets(&mut self) {
        let p = self.p;
        if !self.opts.verify_only && !self.opts.copy_only {
            let sites = self.target_sites();
            let c = &mut *self.c;
            let (progress, stop) = (&self.opts.progress, &self.opts.stop);
            let moved = label::move_labels(p, &sites, &c.facts, &c.ledger, true, false, progress, stop).await;
            // A comparison read after the moves: not begun once the run is asked to stop.
            if !stop.requested() {
                c.built.extend(label::built_dates(&sites, &c.facts, &moved).await);
            }
            for o in moved {
                if o.entry.action == TagAction::Failed {
                    let name = &c.facts.by_id(o.container).name;
                    c.problems.push(tag_problem(Phase::Label, o.kind, name, &o.entry));
                }
                c.ledger.record(o);
            }
        }
        self.verification_problems();
        if self.opts.stop.requested() {
            // Stopped among the moves: what was promoted is decided when the run winds up.
            return;
        }
        let c = &mut *self.c;
        let targets: Vec<TargetId> = with_ids(&p.targets).map(|(ti, _): (TargetId, _)| ti).collect();
        for (ci, f) in with_ids::<_, ContainerId>(&c.facts) {
            let pushed = targets.iter().all(|ti| c.ledger.pushed(ci, *ti));
            let list = if pushed { &mut c.pushed } else { &mut c.missed };
            list.push(f.name.clone());
        }
        // The run's outcome, one problem per image and target it was not verified on: each is folded
        // into the cause met there ("so 20 images were not verified there"), see report::problem.
        for (ci, f) in with_ids::<_, ContainerId>(&c.facts) {
            let missed = with_ids::<_, TargetId>(&p.targets).filter(|(ti, _)| !c.ledger.pushed(ci, *ti));
            for (_, t) in missed {
                let text = format!("{}: not verified on {}", f.name, t.name);
                let problem = Problem::new(Phase::Verify, Kind::Verification, "not verified", text);
                let problem = problem.reason(Some(Reason::NotVerified));
                c.problems.push(problem.container(&f.name).registry(&t.name));
            }
        }
    }

    /// Each tag that failed or did not verify, once: a cause already reported (by the copy) is not
    /// repeated.
    fn verification_problems(&mut self) {
        let (p, c) = (self.p, &mut *self.c);
        let mut found = Vec::new();
        for (ci, f) in with_ids::<_, ContainerId>(&c.facts) {
            for (ti, _) in with_ids::<_, TargetId>(&p.targets) {
                for (e, reason) in c.ledger.checked_at(ci, At::Target(ti)) {
                    let Some(err) = &e.error else { continue };
                    if e.verified != Some(false) && e.action != TagAction::Failed {
                        continue;
                    }
                    // A read-back that found something wrong is a verification problem, also on a
                    // tag this run did not write; another failure (a copy's) is not.
                    let kind = if reason.is_none() && e.action == TagAction::Failed {
                        Kind::Other
                    } else {
                        Kind::Verification
                    };
                    let problem = tag_problem(Phase::Verify, kind, &f.name, e).reason(reason);
                    let known = c
                        .problems
                        .iter()
                        .chain(&found)
                        .any(|x: &Problem| x.text == problem.text || x.text.ends_with(err.as_str()));
                    if !known {
                        found.push(problem);
                    }
                }
            }
        }
        c.problems.append(&mut found);
    }

    /// The copies kept in the local store (after a failed push, or always as asked).
    async fn keep_local(&mut self, failed_push: bool) {
        let (p, c) = (self.p, &mut *self.c);
        if let Some(l) = &self.local {
            local::keep(p, l, &c.facts, &self.sources, failed_push, &mut c.local).await;
            c.problems.append(&mut c.local.problems);
        }
    }

    /// 7. The source label: last, only when everything else succeeded (`verify`: read it back).
    async fn source_label(&mut self) {
        let (p, opts) = (self.p, self.opts);
        let labelled: Vec<Outcome> = if opts.verify_only {
            verify::source_labels(p, &self.cl.source, &self.c.facts).await
        } else if self.c.ok() {
            let sites = [self.source_site()];
            let c = &mut *self.c;
            let (progress, stop) = (&opts.progress, &opts.stop);
            let moved =
                label::move_labels(p, &sites, &c.facts, &c.ledger, false, false, progress, stop).await;
            if !stop.requested() {
                c.built.extend(label::built_dates(&sites, &c.facts, &moved).await);
            }
            moved
        } else {
            let withheld = |(ci, f): (ContainerId, &Facts)| {
                let digest = Some(&f.root.digest);
                let mut en = TagEntry::new(
                    &p.source.name,
                    &f.repo,
                    &p.named_label,
                    digest,
                    TagAction::Skipped,
                );
                en.error = Some("label withheld: the promotion had errors".into());
                Outcome::new(ci, At::Source, en, Kind::NotAttempted)
            };
            with_ids(&self.c.facts).map(withheld).collect()
        };
        let c = &mut *self.c;
        for o in labelled {
            let en = &o.entry;
            if en.action == TagAction::Failed {
                let name = &c.facts.by_id(o.container).name;
                let e = en.error.clone().unwrap_or_default();
                let text = format!("{name}: source label: {e}");
                let problem = Problem::new(Phase::SourceLabel, o.kind, e, text).reason(o.reason);
                c.problems
                    .push(problem.container(name).registry(&p.source.name).tag(&en.tag));
            }
            c.ledger.record(Outcome { reason: None, ..o });
        }
    }

    /// After the labels: record every move for `rollback`, then remove this promotion's copies when
    /// everything succeeded.
    fn store_after(&mut self) {
        let (p, c) = (self.p, &mut *self.c);
        let Some(l) = &self.local else { return };
        local::record_labels(p, l, c.ledger.entries(), &mut c.local);
        c.problems.append(&mut c.local.problems);
        local::clean(p, l, &c.facts, c.ok(), &mut c.local);
        c.problems.append(&mut c.local.problems);
    }
}

/// A problem on one tag of one container, its line `name: registry:tag: error`.
fn tag_problem(phase: Phase, kind: Kind, name: &str, en: &TagEntry) -> Problem {
    let e = en.error.clone().unwrap_or_default();
    let text = format!("{name}: {}:{}: {e}", en.registry, en.tag);
    Problem::new(phase, kind, e, text)
        .container(name)
        .registry(&en.registry)
        .tag(&en.tag)
}
