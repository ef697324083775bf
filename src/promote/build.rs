//! Building a run's [`Report`] once, at the end, from what the steps produced: the source check's
//! answer, the ledger of tag outcomes, the problems met, the local store's outcome and the transport's
//! counters. (It lives here, not in `report`, because it reads the engine's types; `report` stays
//! below the engine.)

use std::time::Instant;

use super::ledger::{Ledger, Outcome};
use super::local::LocalOutcome;
use super::model::{Promotion, RegistrySpec};
use super::source::Facts;
use crate::registry::Registry;
use crate::report::{Built, ContainerReport, Phase, Problem, RegistryStats, Report};

/// What a promotion run collected, step by step.
#[derive(Default)]
pub(crate) struct Collected {
    pub problems: Vec<Problem>,
    pub found: Vec<String>,
    pub missing: Vec<String>,
    pub local_reused: Vec<String>,
    pub ppc_found: Vec<String>,
    pub ppc_missing: Vec<String>,
    pub pushed: Vec<String>,
    pub missed: Vec<String>,
    pub quay: Vec<crate::quay::EnsureOutcome>,
    pub facts: Vec<Facts>,
    pub ledger: Ledger,
    pub local: LocalOutcome,
    pub plan: Option<crate::report::PlanSummary>,
    /// The built dates compared where the label moved (see [`super::label::built_dates`]).
    pub built: Vec<Built>,
    /// Set when the run was stopped before its end (a signal, its deadline).
    pub interrupted: Option<crate::report::Interruption>,
    /// The phases the run finished, in order.
    pub phases_done: Vec<crate::report::Phase>,
}

impl Collected {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The registries of a run, named, with their role, for the counters.
pub(crate) type Registries = Vec<(String, &'static str, Registry)>;

/// A report's header: what was asked.
pub(crate) fn header(p: &Promotion, action: &str, dry_run: bool, targets: &[RegistrySpec]) -> Report {
    Report {
        tool: concat!("copy-containers ", env!("CARGO_PKG_VERSION")).into(),
        action: action.into(),
        started_at: crate::report::now_string(),
        dry_run,
        full_hash: p.full_hash.to_string(),
        named_label: p.named_label.to_string(),
        release: p.release.to_string(),
        distro: format!("{}-{}", p.distro_name, p.distro_version),
        source: format!("{}/{}", p.source.host, p.source.namespace),
        targets: targets
            .iter()
            .map(|t| format!("{}/{}", t.host, t.namespace))
            .collect(),
        push: p.push,
        manifest_push: p.manifest_push,
        ..Default::default()
    }
}

/// The report of a promotion (or its dry run, or its verification).
pub(crate) fn promotion(
    p: &Promotion,
    mut report: Report,
    c: Collected,
    started: Instant,
    regs: &Registries,
) -> Report {
    let entries = c.ledger.into_entries(c.facts.len());
    report.containers = c
        .facts
        .iter()
        .zip(entries)
        .map(|(f, entries)| ContainerReport {
            name: f.name.clone(),
            source_image: format!("{}/{}:{}", p.source.host, f.repo, p.full_hash),
            source_digest: Some(f.root.digest.to_string()),
            manifest_architectures: f.list.as_ref().map(|(_, a)| a.clone()).unwrap_or_default(),
            pushed: c.pushed.contains(&f.name),
            entries,
        })
        .collect();
    report.found = c.found;
    report.missing = c.missing;
    report.local_reused = c.local_reused;
    report.ppc_found = c.ppc_found;
    report.ppc_missing = c.ppc_missing;
    report.pushed = c.pushed;
    report.missed = c.missed;
    report.quay = c.quay;
    report.plan = c.plan;
    report.local_kept = c.local.kept;
    report.local_removed = c.local.removed;
    report.local_root = c.local.root;
    report.local_bytes = c.local.bytes;
    report.local_pruned = c.local.pruned;
    report.interrupted = c.interrupted;
    finish(report, p, (c.problems, c.built), started, regs)
}

/// The report of a per-registry verb (`tag`, `rollback`): one entry per container × registry, a
/// container done when every registry's entry succeeded.
pub(crate) fn per_registry(
    p: &Promotion,
    mut report: Report,
    mut problems: Vec<Problem>,
    started: Instant,
    mut results: Vec<Outcome>,
    clients: &[(RegistrySpec, Registry)],
) -> Report {
    // In the containers' order, whatever order the registries answered in.
    results.sort_by(|a, b| (a.container, &a.entry.registry).cmp(&(b.container, &b.entry.registry)));
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
    for Outcome {
        container,
        entry: en,
        kind,
        ..
    } in results
    {
        let c = &mut containers[container.0];
        if let Some(e) = &en.error {
            let text = format!("{}: {}: {e}", c.name, en.registry);
            let problem = Problem::new(Phase::Label, kind, e.clone(), text);
            problems.push(problem.container(&c.name).registry(&en.registry).tag(&en.tag));
        }
        c.entries.push(en);
    }
    for c in &mut containers {
        c.pushed = !c.entries.is_empty() && c.entries.iter().all(|e| e.error.is_none());
        c.source_digest = c.entries.iter().find_map(|e| e.digest.clone());
    }
    let names = |pushed: bool| {
        let done = containers.iter().filter(|c| c.pushed == pushed);
        done.map(|c| c.name.clone()).collect::<Vec<_>>()
    };
    report.found = containers.iter().map(|c| c.name.clone()).collect();
    report.pushed = names(true);
    report.missed = names(false);
    report.containers = containers;
    // The source, when labelled (rollback) or named (tag), keeps its role.
    let is_source = |s: &RegistrySpec| s.host == p.source.host && s.namespace == p.source.namespace;
    let regs: Registries = clients
        .iter()
        .map(|(s, r)| {
            (
                s.name.clone(),
                if is_source(s) { "source" } else { "target" },
                r.clone(),
            )
        })
        .collect();
    finish(report, p, (problems, vec![]), started, &regs)
}

/// The parts every report shares: problems and errors (grouped by cause), counters, `ok`,
/// `changed`, the label's fate, order, no secret.
pub(crate) fn finish(
    mut report: Report,
    p: &Promotion,
    (problems, built): (Vec<Problem>, Vec<Built>),
    started: Instant,
    regs: &Registries,
) -> Report {
    report.schema_version = crate::report::SCHEMA_VERSION;
    report.seconds = started.elapsed().as_secs_f64();
    let spec = |name: &str| {
        std::iter::once(&p.source)
            .chain(&p.targets)
            .find(|s| s.name == name)
    };
    report.registries = regs
        .iter()
        .map(|(n, role, r)| RegistryStats {
            password_from: spec(n).and_then(|s| s.password_from.clone()),
            ..RegistryStats::new(n, r.name(), role, r.transport().stats())
        })
        .collect();
    // A registry that could not be reached says so in its own ERROR line; the retries on the way
    // are part of that cause, not a second message. Any other failure keeps the count (a flaky
    // registry's retries say something the failure does not).
    let failed = |name: &str| {
        problems
            .iter()
            .any(|x| x.registry.as_deref() == Some(name) && x.kind == crate::report::Kind::Unreachable)
    };
    for s in report
        .registries
        .iter()
        .filter(|s| s.retries > 0 && !failed(&s.name))
    {
        tracing::warn!(registry = %s.name, retries = s.retries, requests = s.requests, "requests retried on this registry (each retry is logged at DEBUG, -v)");
    }
    report.errors = problems.iter().map(|x| x.text.clone()).collect();
    report.problems = problems;
    report.problem_groups = report.groups();
    report.settle();
    report.label = crate::report::outcome::label_fates(&report, &report.problem_groups, &built);
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
