//! `promote`, `verify`, `tag` and `stage`: the promotion verbs on the command line. Every promotion
//! field can come from `--config FILE` (YAML, the same field names as the Ansible module); flags
//! override the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Args;

use crate::progress::Progress;
use crate::promote::{self, PromoteArgs, Promotion, RegistryArgs};
use crate::report::{Report, TagAction};
use crate::stage::{self, StageOptions};
use crate::verbs;

/// `promote`'s flags, described for it; `verify`, `tag` and `rollback` take the same flags with their
/// own descriptions ([`super::help`]).
#[derive(Args, Debug, Clone, Default)]
pub struct PromoteFlags {
    /// YAML file with the promotion's fields (flags override it), or a releases file whose entries
    /// `--release NAME|all` runs.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The tag to promote: <commit>_<distro8>, or a 32-hex aggregate hash (`--hash`: with a releases
    /// file, forces the hash).
    #[arg(long, visible_alias = "hash")]
    pub full_hash: Option<String>,
    /// The targets get the images under this tag instead of the hash (copy-quay's --push-hash; also
    /// `<tag>_x86_64`, `_ppc64le`, `_manifest`); the source is read at the hash. `verify`, `rollback`
    /// and `tag --registry` read the targets at it.
    #[arg(long)]
    pub push_hash: Option<String>,
    /// The label to apply, e.g. current-tripleo.
    #[arg(long)]
    pub named_label: Option<String>,
    /// The release (`master`); with a releases file, the entry to run (`NAME` or `all`).
    #[arg(long)]
    pub release: Option<String>,
    /// The distribution's name (default centos); with the version and the release it names the
    /// list files (`<distro>-<version>-<release>`).
    #[arg(long)]
    pub distro_name: Option<String>,
    /// The distribution's version (default 9).
    #[arg(long)]
    pub distro_version: Option<String>,
    /// Container names without prefix, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub containers: Option<Vec<String>>,
    /// Names that have ppc64le images, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub ppc_containers: Option<Vec<String>>,
    /// File with the list: the promoter's extra-vars YAML, or one name per line.
    #[arg(long)]
    pub containers_file: Option<PathBuf>,
    /// Image name prefix (default openstack).
    #[arg(long)]
    pub prefix: Option<String>,
    /// Source registry: `host/namespace` or `host=…,namespace=…,insecure=true,ca_file=…,username=…,password_env=…`.
    #[arg(long)]
    pub source: Option<String>,
    /// A target registry (repeatable), same forms as --source (plus `schema=v2_s1|v2_s2`).
    #[arg(long = "target")]
    pub targets: Vec<String>,
    /// Push to the targets (default true).
    #[arg(long)]
    pub push: Option<String>,
    /// Build <fh>_manifest lists on v2_s2 targets.
    #[arg(long)]
    pub manifest_push: Option<String>,
    /// Include ppc64le images in the lists (default true).
    #[arg(long)]
    pub ppc_manifests: Option<String>,
    /// Folder for the six list files (default /var/tmp/promoter_logs).
    #[arg(long)]
    pub tmp_file_root: Option<PathBuf>,
    /// Write the JSON report here [default: a file named by action, release, hash and time in
    /// --tmp-file-root, plus a `latest` copy].
    #[arg(long)]
    pub report_json: Option<PathBuf>,
    /// Write the HTML report here [default: as for --report-json].
    #[arg(long)]
    pub report_html: Option<PathBuf>,
    /// Requests in flight per registry.
    #[arg(long)]
    pub per_registry: Option<u64>,
    /// Attempts per request.
    #[arg(long)]
    pub retries: Option<u64>,
    /// Seconds one registry request may take in all, its retries and their waits included, headers
    /// and body (layers are held to a minimum rate instead) [default: 180; 1 to 86400].
    #[arg(long, value_name = "SECS")]
    pub request_timeout: Option<u64>,
    /// Seconds a token exchange with a registry's token server may take, its retries included
    /// [default: 120; 1 to 86400].
    #[arg(long, value_name = "SECS")]
    pub token_timeout: Option<u64>,
    /// Local copies: `on_failure` (default: kept when a push fails, removed by the promotion's
    /// verified success), `always`, `never`.
    #[arg(long, value_name = "POLICY")]
    pub keep_local: Option<String>,
    /// Root of the local store [default: config `local_store`, else $COPY_CONTAINERS_LOCAL_ROOT,
    /// else $XDG_DATA_HOME/copy-containers or ~/.local/share/copy-containers].
    #[arg(long, value_name = "DIR")]
    pub local_store: Option<PathBuf>,
    /// Seconds to wait while another run holds the local store (default 600).
    #[arg(long, value_name = "SECS")]
    pub lock_timeout: Option<u64>,
    /// Reports kept per action and release in --tmp-file-root: older ones are removed after each
    /// run [default: 10; 0 keeps all].
    #[arg(long, value_name = "N")]
    pub report_keep: Option<u64>,
    /// Reports readable by the group (0640) instead of this user only (0600).
    #[arg(long, value_name = "BOOL")]
    pub report_group_readable: Option<String>,
    /// Kept local copies older than this are removed by every run that uses the store [default: 7;
    /// 0: no age limit].
    #[arg(long, value_name = "DAYS")]
    pub local_max_age_days: Option<u64>,
    /// Past this size the local store's oldest kept copies are removed by every run that uses it
    /// [default: 20; 0: no size limit].
    #[arg(long, value_name = "GIB")]
    pub local_max_size_gib: Option<u64>,
    /// Seconds each phase of the run may take (source check, architectures, copies, verification and
    /// labels, source label); one that runs over stops the run there with an error, no label moved
    /// after it [default: 0, no limit; at most 7 days].
    #[arg(long, value_name = "SECS")]
    pub phase_timeout: Option<u64>,
    /// Seconds the whole run may take; one that reaches it stops as on SIGTERM: no label moved
    /// after it, kept local copies stay, the report says interrupted [default: 5400; 0: no limit].
    #[arg(long, value_name = "SECS")]
    pub deadline: Option<u64>,
    /// Plan and read only; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as JSON on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// `key=value,…` or `host/namespace` → registry args.
pub fn parse_registry_spec(s: &str) -> anyhow::Result<RegistryArgs> {
    if !s.contains('=') {
        let s = s.trim_start_matches("https://").trim_start_matches("http://");
        let (host, ns) = s.split_once('/').ok_or_else(|| {
            usage!("registry {s:?}: give host/namespace or key=value pairs (host=…,namespace=…)")
        })?;
        return Ok(RegistryArgs {
            host: host.to_string(),
            namespace: Some(ns.to_string()),
            ..Default::default()
        });
    }
    let mut map = BTreeMap::new();
    for part in s.split(',') {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| usage!("registry spec: {part:?} is not key=value"))?;
        map.insert(
            k.trim().to_string(),
            serde_json::Value::String(v.trim().to_string()),
        );
    }
    if map.contains_key("password") {
        return Err(usage!(
            "registry spec: give password_env=VARIABLE, not a password on the command line"
        ));
    }
    serde_json::from_value(serde_json::Value::Object(map.into_iter().collect())).map_err(|e| {
        usage!(
            "registry spec {:?}: {e}",
            s.split(',')
                .map(|p| p.split('=').next().unwrap_or(""))
                .collect::<Vec<_>>()
                .join(",")
        )
    })
}

/// Read a YAML config of promotion fields.
pub fn read_config(path: &Path) -> anyhow::Result<PromoteArgs> {
    let text =
        crate::input::read_to_string(path, "config file").map_err(|e| usage!("{}: {e}", path.display()))?;
    parse_config(path, &text)
}

/// A plain config's promotion fields (serde's own message, as the command line always gave it).
pub fn parse_config(path: &Path, text: &str) -> anyhow::Result<PromoteArgs> {
    serde_norway::from_str(text).map_err(|e| usage!("{}: {e}", path.display()))
}

fn flag_bool(name: &str, v: &Option<String>) -> anyhow::Result<Option<bool>> {
    v.as_deref()
        .map(|s| promote::flexible::parse_bool(s).ok_or_else(|| usage!("--{name}: {s:?} is not a boolean")))
        .transpose()
}

impl PromoteFlags {
    /// The flags over the `--config` file's fields (flags override).
    pub fn to_args(&self) -> anyhow::Result<PromoteArgs> {
        let flags = self.flag_args()?;
        Ok(match &self.config {
            Some(c) => flags.or(read_config(c)?),
            None => flags,
        })
    }

    /// The promotion fields the flags give (no config file).
    pub fn flag_args(&self) -> anyhow::Result<PromoteArgs> {
        Ok(PromoteArgs {
            full_hash: self.full_hash.clone(),
            push_hash: self.push_hash.clone(),
            named_label: self.named_label.clone(),
            release: self.release.clone(),
            distro_name: self.distro_name.clone(),
            distro_version: self.distro_version.clone(),
            containers: self.containers.clone(),
            ppc_containers: self.ppc_containers.clone(),
            containers_list_file: self.containers_file.clone(),
            container_name_prefix: self.prefix.clone(),
            source_registry: self.source.as_deref().map(parse_registry_spec).transpose()?,
            target_registries: if self.targets.is_empty() {
                None
            } else {
                Some(
                    self.targets
                        .iter()
                        .map(|t| parse_registry_spec(t))
                        .collect::<anyhow::Result<_>>()?,
                )
            },
            target_registries_push: flag_bool("push", &self.push)?,
            manifest_push: flag_bool("manifest-push", &self.manifest_push)?,
            ppc_manifests: flag_bool("ppc-manifests", &self.ppc_manifests)?,
            tmp_file_root: self.tmp_file_root.clone(),
            report_json: self.report_json.clone(),
            report_html: self.report_html.clone(),
            per_registry_concurrency: self.per_registry,
            retries: self.retries,
            request_timeout: self.request_timeout,
            token_timeout: self.token_timeout,
            keep_local: self.keep_local.clone(),
            local_store: self.local_store.clone(),
            lock_timeout: self.lock_timeout,
            report_keep: self.report_keep,
            report_group_readable: flag_bool("report-group-readable", &self.report_group_readable)?,
            local_max_age_days: self.local_max_age_days,
            local_max_size_gib: self.local_max_size_gib,
            phase_timeout: self.phase_timeout,
            deadline: self.deadline,
            ..Default::default()
        })
    }

    pub fn promotion(&self) -> anyhow::Result<Promotion> {
        resolve(self.to_args()?)
    }
}

/// Validate promotion fields; a problem is a usage error.
fn resolve(args: PromoteArgs) -> anyhow::Result<Promotion> {
    args.resolve(crate::promote::model::read_list_file)
        .map_err(super::usage_err)
}

/// The end of a command that ran: the outcome decided, every failure logged at ERROR (the same
/// message once, with how many times it came), the result printed; returns the exit status.
pub fn finish(report: &mut Report, json: bool) -> anyhow::Result<i32> {
    report.settle();
    log_failures(report);
    if json {
        say!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_summary(report);
    }
    Ok(report.exit_status())
}

/// Each cause of failure once at ERROR, with structured fields (phase, kind, registry, how many
/// problems, how many images and a few of them: the report names them all), so that logs
/// (`--log-format json`, `-q`) carry what went wrong, not only the retries on the way.
pub fn log_failures(report: &Report) {
    for g in report.groups() {
        tracing::error!(
            action = %report.action,
            full_hash = %report.full_hash,
            phase = %g.phase,
            kind = %g.kind,
            registry = g.registry.as_deref().unwrap_or("-"),
            times = g.count,
            images = g.containers.len(),
            containers = %crate::report::problem::compact(&g.containers, 4),
            "{}",
            g.summary()
        );
    }
}

/// A readable table of a report: one row per container, one column per registry (the source first,
/// marked `*`), within 100 columns.
pub fn print_summary(report: &Report) {
    if let (true, Some(plan)) = (report.dry_run, &report.plan) {
        print_plan(plan, &report.named_label);
    }
    let regs = table_registries(report);
    let w = report
        .containers
        .iter()
        .map(|c| c.name.chars().count())
        .max()
        .unwrap_or(9)
        .clamp(9, 24);
    let mut head = format!("{:<w$}  {:<12}  {:<13}", "container", "digest", "architectures");
    for (name, source) in &regs {
        let mark = if *source { "*" } else { "" };
        // The end of a host tells registries apart (the port): cut from the left.
        let name = format!("{}{mark}", truncate_left(name, 13 - mark.len()));
        head.push_str(&format!("  {name:<13}"));
    }
    say!("{}", head.trim_end());
    for c in &report.containers {
        let d = c.source_digest.as_deref().unwrap_or("-");
        let short = d
            .strip_prefix("sha256:")
            .map(|h| &h[..12.min(h.len())])
            .unwrap_or(d);
        let mut row = format!(
            "{:<w$}  {:<12}  {:<13}",
            truncate(&c.name, w),
            short,
            truncate(&c.manifest_architectures.join("+"), 13)
        );
        for (name, _) in &regs {
            row.push_str(&format!("  {:<13}", cell_status(c, name)));
        }
        say!("{}", row.trim_end());
    }
    let legend: Vec<String> = regs
        .iter()
        .filter(|(name, source)| *source || name.chars().count() > 13)
        .map(|(name, source)| format!("{name}{}", if *source { " (* source)" } else { "" }))
        .collect();
    if !legend.is_empty() && !report.containers.is_empty() {
        say!("registries: {}", legend.join(", "));
    }
    say!();
    say!("{}", report.outcome_line());
    for line in report.label_lines() {
        say!("{line}");
    }
    for line in report.failure_lines() {
        match line.strip_prefix("  ") {
            Some(example) => say!("       {example}"),
            None => say!("error: {line}"),
        }
    }
    for f in &report.files {
        say!("report: {f}");
    }
}

/// The columns of the table: the registries in the report's order (source first), then any other
/// that has entries; true for the source.
fn table_registries(report: &Report) -> Vec<(String, bool)> {
    let mut regs: Vec<(String, bool)> = report
        .registries
        .iter()
        .map(|s| (s.name.clone(), s.role == "source"))
        .collect();
    for e in report.containers.iter().flat_map(|c| c.entries.iter()) {
        if !regs.iter().any(|(n, _)| *n == e.registry) {
            regs.push((e.registry.clone(), false));
        }
    }
    // A registry this run wrote nothing to and read nothing about has no column.
    regs.retain(|(n, _)| {
        report
            .containers
            .iter()
            .any(|c| c.entries.iter().any(|e| e.registry == *n))
    });
    regs
}

/// One container on one registry, in a word or two.
fn cell_status(c: &crate::report::ContainerReport, reg: &str) -> &'static str {
    let mine: Vec<_> = c.entries.iter().filter(|e| e.registry == reg).collect();
    if mine.is_empty() {
        "-"
    } else if mine
        .iter()
        .any(|e| e.action == TagAction::Failed || e.verified == Some(false))
    {
        "FAILED"
    } else if mine.iter().any(|e| e.error.is_some()) {
        // Not attempted because of a failure elsewhere (a withheld source label).
        "skipped"
    } else if mine.iter().any(|e| e.action == TagAction::WouldChange) {
        "would change"
    } else if mine.iter().any(|e| {
        matches!(
            e.action,
            TagAction::Copied | TagAction::Mounted | TagAction::Tagged
        )
    }) {
        "changed ✓"
    } else if mine.iter().all(|e| e.verified == Some(true)) {
        "verified"
    } else {
        "unchanged"
    }
}

/// The dry run's plan, per target, before the table of what it found there.
fn print_plan(plan: &crate::report::PlanSummary, label: &str) {
    say!("plan for {} containers:", plan.containers);
    for t in &plan.targets {
        let mut parts = vec![format!("{} images under {} tags", t.images, t.tags)];
        if t.lists > 0 {
            parts.push(format!("{} manifest lists", t.lists));
        }
        parts.push(format!("{} tags read back", t.checks));
        if t.labels > 0 {
            parts.push(format!("{label} on {} once verified", t.labels));
        }
        say!("  {}: {}", t.registry, parts.join(", "));
    }
    if plan.source_label {
        say!("  source: {label} last, when everything else succeeded");
    }
    say!();
}

/// `…0.0.1:41481`: the last `n` characters.
fn truncate_left(s: &str, n: usize) -> String {
    let len = s.chars().count();
    if len <= n {
        s.to_string()
    } else {
        "…".to_string() + &s.chars().skip(len - (n - 1)).collect::<String>()
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).collect::<String>() + "…"
    }
}

/// `promote`/`verify` of one promotion: the flags over `config`, the text of a plain promotion file
/// (`--config`, read once by `promote_or_releases` in `cli/mod.rs`, which routes releases files to
/// `releases.rs`).
pub async fn promote_cmd(
    f: PromoteFlags,
    config: Option<(PathBuf, String)>,
    verify_only: bool,
    progress: &Progress,
) -> anyhow::Result<i32> {
    let flags = f.flag_args()?;
    let args = match config {
        Some((path, text)) => flags.or(parse_config(&path, &text)?),
        None => flags,
    };
    let p = resolve(args)?;
    let mut report = if verify_only {
        verbs::verify(&p, f.dry_run, true, progress).await
    } else {
        verbs::promote(&p, f.dry_run, progress).await
    };
    // The bar off the terminal before the results are printed.
    progress.finish();
    finish(&mut report, f.json)
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

pub async fn stage_cmd(a: StageArgs) -> anyhow::Result<i32> {
    let spec = parse_registry_spec(&a.registry)?.resolve("--registry", None, 5)?;
    let reg = spec.client()?;
    let opts = StageOptions {
        namespace: spec.namespace.clone(),
        prefix: a.prefix,
        full_hash: a.full_hash,
        names: a.names.unwrap_or_else(|| stage::default_names(a.images)),
        ppc_missing: a.ppc_missing,
        no_ppc: a.no_ppc,
        base_layers: a.base_layers,
        base_layer_size: a.base_layer_size,
        unique_layer_size: a.unique_layer_size,
        big_layer_size: a.big_layer_size,
        seed: a.seed,
        oci: a.oci,
        concurrency: 8,
    };
    let staged = stage::stage(&reg, &opts).await?;
    if a.json {
        say!("{}", serde_json::to_string_pretty(&staged)?);
    } else {
        let ppc = staged.iter().filter(|s| s.ppc_digest.is_some()).count();
        say!(
            "staged {} images ({} with ppc64le) under {}/{} with tag {}",
            staged.len(),
            ppc,
            spec.host,
            spec.namespace,
            opts.full_hash
        );
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_specs() {
        let r = parse_registry_spec("127.0.0.1:5000/tripleomaster").unwrap();
        assert_eq!(r.host, "127.0.0.1:5000");
        assert_eq!(r.namespace.as_deref(), Some("tripleomaster"));
        let r = parse_registry_spec(
            "host=q.io,namespace=ns,insecure=true,schema=v2_s1,password_env=PW,username=u",
        )
        .unwrap();
        assert_eq!(r.insecure, Some(true));
        assert_eq!(r.schema.as_deref(), Some("v2_s1"));
        assert!(parse_registry_spec("q.io").is_err());
        let e = parse_registry_spec("host=q.io,password=hunter2")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("hunter2") && e.contains("password_env"));
        let e = parse_registry_spec("host=q.io,bogus=1").unwrap_err().to_string();
        assert!(e.contains("bogus"), "{e}");
        assert!(parse_registry_spec("host=q.io,insecure=maybe").is_err());
    }
}
