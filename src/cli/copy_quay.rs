//! `copy-quay`: copy-quay's command line, unchanged, as a migration aid: its cron lines
//! (ci-config's `ci-scripts/copy-containers/*.sh`) change only the program they call. Its flags and
//! its two steps are copy-quay's (`copy`, `tag`, with `IMAGE…`), its config file too; what runs is
//! this project's (the entry resolved as a releases file's, then the `release_copy` or
//! `release_tag` verb), so every tag is read back, a failure is a non-zero exit, and the report is
//! this project's HTML (and JSON) at `--html`. docs/copy-quay.md lists the differences and the
//! native commands for the same jobs.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::progress::Progress;
use crate::report::Report;
use crate::verbs::releases::{self, CopyQuayJob, Step, Token, DEFAULT_NAMED_LABEL};

/// copy-quay's flags (each may come before or after the step, as copy-quay took them).
#[derive(Args, Debug)]
pub struct CopyQuayArgs {
    /// copy-quay's config file (`zuul_api`, `pull_registry`, `push_registry`, `entries:`).
    #[arg(long, global = true, default_value = "config.yaml")]
    pub config: PathBuf,
    /// The entry of the config file to run (its `name`).
    #[arg(long, global = true)]
    pub release: Option<String>,
    /// Zuul's API root (default: the config file's `zuul_api`).
    #[arg(long, global = true)]
    pub zuul_api: Option<String>,
    /// Registry to pull from (default: the config file's `pull_registry`).
    #[arg(long, global = true)]
    pub pull_registry: Option<String>,
    /// Registry to push to (default: the config file's `push_registry`).
    #[arg(long, global = true)]
    pub push_registry: Option<String>,
    /// Namespace pulled from (default: the entry's `from_namespace`).
    #[arg(long, global = true)]
    pub from_namespace: Option<String>,
    /// Namespace pushed to (default: the entry's `to_namespace`).
    #[arg(long, global = true)]
    pub to_namespace: Option<String>,
    /// The build job whose latest success lists the containers (default: the entry's `job_name`).
    #[arg(long, global = true)]
    pub job: Option<String>,
    /// copy: the hash pulled (default: the build log's); required with IMAGE arguments.
    #[arg(long, global = true)]
    pub hash: Option<String>,
    /// copy: the tag pushed (default: the hash).
    #[arg(long, global = true)]
    pub push_hash: Option<String>,
    /// The Quay API token (shows in process lists: prefer --token-file or --token-env).
    #[arg(long, global = true)]
    pub token: Option<String>,
    /// The Quay API token from this file's first line.
    #[arg(long, global = true, conflicts_with = "token")]
    pub token_file: Option<PathBuf>,
    /// The Quay API token from this environment variable.
    #[arg(long, global = true, value_name = "VAR", conflicts_with_all = ["token", "token_file"])]
    pub token_env: Option<String>,
    /// Debug logs (as -v).
    #[arg(long, global = true)]
    pub debug: bool,
    /// Write the HTML report here, and the JSON report beside it (`.json`).
    #[arg(long, global = true)]
    pub html: Option<PathBuf>,
    /// tag: the label to put (default current-tripleo).
    #[arg(long, global = true)]
    pub tag: Option<String>,
    /// tag: this hash instead of DLRN's current-tripleo one.
    #[arg(long, global = true)]
    pub force_hash: Option<String>,
    /// Show what would be done; change nothing, write no report.
    #[arg(long, global = true)]
    pub dry_run: bool,
    #[command(subcommand)]
    pub step: CopyQuayStep,
}

#[derive(Subcommand, Debug)]
pub enum CopyQuayStep {
    /// Copy the latest build's containers (or the IMAGEs given, at --hash) from the pull registry
    /// to the push registry, creating missing Quay repositories as public; no label is moved.
    Copy {
        /// Repository names (`openstack-nova-compute`) to copy alone, at --hash.
        images: Vec<String>,
    },
    /// Put the label (--tag) on the push registry's containers of the latest build, at DLRN's
    /// current-tripleo hash (or --force-hash), through the Quay API when a token is given.
    Tag {
        /// Repository names to label alone.
        images: Vec<String>,
    },
}

impl CopyQuayArgs {
    fn token(&self) -> Option<Token> {
        if let Some(t) = &self.token {
            return Some(Token::inline(t.clone()));
        }
        if let Some(f) = &self.token_file {
            return Some(Token::File(f.clone()));
        }
        self.token_env.clone().map(Token::Env)
    }

    /// The step and the job its flags describe; a flag of the other step is refused.
    fn job(&self) -> anyhow::Result<(Step, CopyQuayJob)> {
        let release = self
            .release
            .clone()
            .ok_or_else(|| usage!("give --release NAME (an entry of {})", self.config.display()))?;
        let (step, images, hash) = match &self.step {
            CopyQuayStep::Copy { images } => {
                if let Some(f) = [
                    ("--tag", self.tag.is_some()),
                    ("--force-hash", self.force_hash.is_some()),
                ]
                .iter()
                .find(|(_, given)| *given)
                {
                    return Err(usage!("{} is a flag of tag, not of copy", f.0));
                }
                (Step::Copy, images, self.hash.clone())
            }
            CopyQuayStep::Tag { images } => {
                let label = self.tag.clone().unwrap_or_else(|| DEFAULT_NAMED_LABEL.into());
                (Step::Tag { label }, images, self.force_hash.clone())
            }
        };
        let job = CopyQuayJob {
            release,
            zuul_api: self.zuul_api.clone(),
            pull_registry: self.pull_registry.clone(),
            push_registry: self.push_registry.clone(),
            from_namespace: self.from_namespace.clone(),
            to_namespace: self.to_namespace.clone(),
            job: self.job.clone(),
            hash,
            push_hash: self.push_hash.clone(),
            token: self.token(),
            images: images.clone(),
            html: self.html.clone(),
        };
        Ok((step, job))
    }
}

/// `copy-quay …`: one entry, one step; exit 0 when every image was done and read back, 1 when
/// something failed, 2 when the command line or the file cannot run; the copy step stopped by
/// SIGTERM, SIGINT or SIGHUP exits 143, 130 or 129 (its report says interrupted).
pub async fn copy_quay_cmd(a: CopyQuayArgs, progress: &Progress) -> anyhow::Result<i32> {
    let (step, job) = a.job()?;
    if matches!(step, Step::Copy) {
        // The copy step runs the promotion engine: a signal stops it cleanly, as `promote`.
        super::handle_signals();
    }
    let o = releases::copy_quay(&a.config, &job, &step, a.dry_run, progress)
        .await
        .map_err(super::usage_err)?;
    progress.finish();
    match &o.report {
        Some(report) => super::promote::log_failures(report),
        None => {
            if let Some(e) = &o.error {
                tracing::error!(release = %o.name, "{e}");
            }
        }
    }
    super::releases::print_outcome(&o);
    if let Some(signal) = o.report.as_ref().and_then(Report::signal) {
        return Ok(signal.exit_status());
    }
    Ok(match (o.ok, o.invalid) {
        (true, _) => 0,
        (false, true) => 2,
        (false, false) => 1,
    })
}
