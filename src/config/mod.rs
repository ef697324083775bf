//! The releases config: one YAML file that drives promotions when running alone (a person or a cron
//! job, no promoter). Global settings (Zuul and DLRN APIs, default registries with credentials given
//! as references, where tripleo-common and the exclude lists live, reports, concurrency, defaults)
//! and a `releases:` list, one entry per release. copy-quay's config shape (`pull_registry`,
//! `push_registry`, `entries:`) is read too and mapped onto the same model.
//!
//! A release entry becomes [`PromoteArgs`](crate::promote::PromoteArgs) through [`resolve_release`]:
//! - the **container list** is given (`containers`, `containers_list_file`), read from the latest
//!   successful build job in Zuul, or taken from tripleo-common minus tripleo-ci's excludes —
//!   chosen with `containers_source: given|zuul|tripleo_common`, or, when unset, the first that works
//!   in the order given → zuul (when `job_name` is set) → tripleo-common;
//! - the **hash** is forced (`--hash`, `full_hash`: always wins), or comes from the build log when the
//!   list came from Zuul, or from the DLRN API (`api_entry`, label `dlrn_label` defaulting to
//!   `named_label`) — or as chosen with `hash_source: given|dlrn|build_log`.
//!
//! Errors name the file, the key (`releases[2].bogus`) and what was expected. Secrets are never
//! required in the file (`password_env`, `authfile`, `token_env`, `token_file`) and never shown.
//! A file is read once ([`read`]) and its shape told once; the lenient value types are
//! [`crate::options::flexible`]'s. An entry and the file's defaults embed the promotion's options
//! (`options`, through [`crate::promote::embed`], not `#[serde(flatten)]`, which would drop the key,
//! its line and "expected one of" from the messages above): an entry takes every promotion option
//! ([`ENTRY_KEYS`]: `from_namespace`, `to_namespace`, `prefix` and `hash` are its names for four of
//! them), the file every one but those of a single release ([`FILE_KEYS`]);
//! [`ReleasesConfig::entry_args`] merges them (entry, then file, then the releases files' defaults)
//! and `tests/one_schema.rs` checks that every option gets through.
//!
//! One concern per file: the shapes ([`file`]), copy-quay's shape ([`copy_quay`]), checking a file
//! ([`validate`]), planning an entry without fetching ([`plan`]) and resolving it ([`resolve`], whose
//! network half is [`crate::sources::release`]). This file reads a text and tells its shape.

pub mod copy_quay;
pub mod file;
pub mod plan;
pub mod resolve;
pub mod validate;

use std::path::Path;

use serde_norway::Value;

use crate::error::{Error, Result};
use crate::promote::PromoteArgs;

pub use crate::sources::release::{ContainersSource, HashOrigin, HashSource, ListOrigin};
pub use copy_quay::split_copy_quay_release;
pub use file::{ConfigFile, KeepLocal, ReleaseEntry, ReleasesConfig, Shape, ENTRY_KEYS, FILE_KEYS};
pub use plan::{HashCandidate, ListCandidate, Overrides, Plan};
pub use resolve::{resolve_release, ResolvedRelease};

/// The label promoted when neither the entry nor the file says.
pub const DEFAULT_NAMED_LABEL: &str = "current-tripleo";
/// `--release all`.
pub const ALL: &str = "all";

fn cfg_err(file: impl std::fmt::Display, msg: impl std::fmt::Display) -> Error {
    Error::Config(format!("{file}: {msg}"))
}

/// A serde_norway error as `FILE: releases[2].bogus: unknown field `bogus`, expected one of … (line
/// 12, column 5)` ([`crate::input::yaml_message`]). Values of secret keys are not repeated.
pub fn yaml_error(file: &str, e: &serde_norway::Error) -> Error {
    cfg_err(
        file,
        crate::input::yaml_message(
            e,
            "invalid value (not shown: it is a secret); expected a string — better, use \
             password_env / token_env / token_file",
        ),
    )
}

/// Tell a config text's shape: `releases:` → releases, `entries:` → copy-quay, else a plain
/// promotion. Broken YAML and non-mappings are errors naming the file.
pub fn shape_of(file: &str, text: &str) -> Result<Shape> {
    let doc: Value = serde_norway::from_str(text).map_err(|e| yaml_error(file, &e))?;
    let map = match doc {
        Value::Mapping(m) => m,
        Value::Null => {
            return Err(cfg_err(
                file,
                "empty; expected a YAML mapping (`releases:` with global settings, or promotion fields)",
            ))
        }
        _ => {
            return Err(cfg_err(
                file,
                "expected a YAML mapping (`releases:` with global settings, or promotion fields)",
            ))
        }
    };
    let has = |k: &str| map.contains_key(Value::String(k.into()));
    Ok(if has("releases") {
        Shape::Releases
    } else if has("entries") {
        Shape::CopyQuay
    } else {
        Shape::Promote
    })
}

/// A config file's text; `file` (the path as shown) names it in errors.
pub fn read(path: &Path) -> Result<(String, String)> {
    let file = path.display().to_string();
    let text = crate::input::read_to_string(path, "config file")
        .map_err(|e| cfg_err(&file, format!("cannot read it: {e}")))?;
    Ok((file, text))
}

/// Read a config file of any shape (read once, its shape told once).
pub fn load(path: &Path) -> Result<ConfigFile> {
    let (file, text) = read(path)?;
    parse(&file, &text, path.parent())
}

/// Parse a config text; `file` names it in errors; relative input paths are taken from `base_dir`
/// (the config file's folder).
pub fn parse(file: &str, text: &str, base_dir: Option<&Path>) -> Result<ConfigFile> {
    parse_shaped(file, text, base_dir, shape_of(file, text)?)
}

/// [`parse`] for a text whose shape is known.
pub fn parse_shaped(file: &str, text: &str, base_dir: Option<&Path>, shape: Shape) -> Result<ConfigFile> {
    if shape == Shape::Promote {
        let a: PromoteArgs = serde_norway::from_str(text).map_err(|e| yaml_error(file, &e))?;
        return Ok(ConfigFile::Promote(Box::new(a)));
    }
    parse_releases(file, text, base_dir, shape).map(|c| ConfigFile::Releases(Box::new(c)))
}

/// A releases text (`Shape::Releases`, or copy-quay's `Shape::CopyQuay` mapped onto it), with its
/// relative paths taken from `base_dir` and validated.
pub fn parse_releases(
    file: &str,
    text: &str,
    base_dir: Option<&Path>,
    shape: Shape,
) -> Result<ReleasesConfig> {
    let mut c = if shape == Shape::CopyQuay {
        copy_quay::parse(file, text)?
    } else {
        serde_norway::from_str(text).map_err(|e| yaml_error(file, &e))?
    };
    c.file = file.to_string();
    c.finish(base_dir)?;
    Ok(c)
}

/// Read a releases file (`releases:` or copy-quay's `entries:`); a plain promotion file is an error.
pub fn load_releases(path: &Path) -> Result<ReleasesConfig> {
    let (file, text) = read(path)?;
    match shape_of(&file, &text)? {
        Shape::Promote => Err(cfg_err(
            &file,
            "has no `releases:` (nor copy-quay's `entries:`); expected a releases file",
        )),
        shape => parse_releases(&file, &text, path.parent(), shape),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_paths() {
        let y = "releases:\n- name: a\n  source_registry: {host: q.io, password: [98765]}\n";
        let e: serde_norway::Error = serde_norway::from_str::<ReleasesConfig>(y).unwrap_err();
        let m = yaml_error("f.yaml", &e).to_string();
        assert!(
            m.starts_with("f.yaml: releases[0].source_registry.password: "),
            "{m}"
        );
        assert!(!m.contains("98765"), "{m}");
    }
}
