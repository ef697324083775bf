//! The promoter's staging switch, read by the module itself (its `stage_info` argument): where a
//! staged promotion's registries and hash come from. When `/tmp/stage-info.yaml` exists, the
//! promoter's staging environment (its own registries on localhost, a TLS + htpasswd one among them)
//! replaces the production registries and the hash. The playbook used to load that file into Ansible
//! variables; that put registry passwords through Ansible's templating (a `{{` in a password broke the
//! run and showed the line on ansible-core 2.19) and needed filters Ansible 2.9 lacks. The playbook now
//! passes the file's path (`stage_info`) and only this module reads it.
//!
//! A file left behind by a staging run would silently take a production run to the staging
//! registries (the old role did just that): [`apply`] refuses a file whose candidate is not the hash
//! being promoted, before anything is asked of any registry, and warns about a file older than a day.

use std::path::Path;
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};

/// What a promotion takes from a stage-info file.
#[derive(Debug)]
pub struct StageInfo {
    /// `registries.source`, a registry dictionary.
    pub source: Value,
    /// `registries.targets`, a list of registry dictionaries.
    pub targets: Value,
    /// `dlrn.promotions.promotion_candidate.full_hash`.
    pub full_hash: String,
    /// The candidate's `aggregate_hash`, when it has one: in the integration pipeline's staging the
    /// promoter promotes the aggregate hash of the candidate whose commit/distro form is
    /// `full_hash` (the same candidate, not a leftover).
    pub aggregate_hash: Option<String>,
}

/// The largest stage-info file read (the real ones are a few KiB).
const MAX_BYTES: u64 = 1 << 20;

/// A stage-info file older than this gets a warning (a staging run writes it just before promoting).
pub const OLD_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Read and check a stage-info file. Errors name the file and the key.
pub fn load(path: &Path) -> crate::Result<StageInfo> {
    let file = format!("stage_info {}", path.display());
    let bad = |reason: &str| crate::Error::bad_option(&file, reason);
    let bytes = crate::input::read_capped(path, "stage_info", MAX_BYTES).map_err(|e| e.context(&file))?;
    let text = String::from_utf8(bytes).map_err(|_| bad("not UTF-8 text"))?;
    let doc: Value = serde_norway::from_str(&text).map_err(|e| {
        // serde_norway quotes a value of the wrong type: never one under a secret key.
        let msg = crate::input::yaml_message(&e, "invalid value (not shown: it is a secret)");
        bad(&format!("not valid YAML: {msg}"))
    })?;
    let at = |keys: &[&str]| -> Option<&Value> { keys.iter().try_fold(&doc, |v, k| v.get(k)) };
    let source = at(&["registries", "source"])
        .filter(|v| v.is_object())
        .ok_or_else(|| bad("registries.source must be a registry dictionary"))?;
    let targets = at(&["registries", "targets"])
        .filter(|v| v.as_array().is_some_and(|a| a.iter().all(Value::is_object)))
        .ok_or_else(|| bad("registries.targets must be a list of registry dictionaries"))?;
    let full_hash = at(&["dlrn", "promotions", "promotion_candidate", "full_hash"])
        .and_then(Value::as_str)
        .ok_or_else(|| bad("dlrn.promotions.promotion_candidate.full_hash must be a string"))?;
    let aggregate_hash = at(&["dlrn", "promotions", "promotion_candidate", "aggregate_hash"])
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok(StageInfo {
        source: source.clone(),
        targets: targets.clone(),
        full_hash: full_hash.to_string(),
        aggregate_hash,
    })
}

/// The module's arguments with the staging switch applied: the file's source and target registries
/// and its candidate hash replace the given ones. A `full_hash` given that is not the file's
/// candidate is an error (a leftover file would otherwise promote another hash, to the staging
/// registries); a file older than [`OLD_AFTER`] is a warning (Ansible shows the module's `warnings`).
pub fn apply(values: &mut Map<String, Value>, path: &Path) -> crate::Result<()> {
    let info = load(path)?;
    let age = age_of(path);
    let given = values.get("full_hash").and_then(Value::as_str);
    let same = |g: &str| g == info.full_hash || info.aggregate_hash.as_deref() == Some(g);
    if let Some(given) = given.filter(|g| !same(g)) {
        return Err(crate::Error::Config(format!(
            "the stage-info file {file} ({written}) is for hash {staged} (its \
             dlrn.promotions.promotion_candidate.full_hash), not for {given}, the hash this run \
             promotes: nothing was done. Unless a staging run wrote it for this run, it is a leftover: \
             remove it (rm {file}) and run again (a staging run promotes the hash it staged, {staged})",
            file = path.display(),
            written = written(age),
            staged = info.full_hash,
        )));
    }
    if let Some(age) = age.filter(|a| *a > OLD_AFTER) {
        crate::logging::warn_once(&format!(
            "the stage-info file {file} is {old} old: this run promotes its hash {staged} to its staging \
             registries. If no staging run wrote it just now, it is a leftover: remove it (rm {file})",
            file = path.display(),
            old = duration(age),
            staged = info.full_hash,
        ));
    }
    values.insert("source_registry".into(), info.source);
    values.insert("target_registries".into(), info.targets);
    values.insert("full_hash".into(), Value::String(info.full_hash));
    Ok(())
}

/// How long ago the file was last written (`None` when the system cannot tell).
fn age_of(path: &Path) -> Option<Duration> {
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok()?;
    // A time in the future (clock skew) counts as just written.
    Some(SystemTime::now().duration_since(modified).unwrap_or_default())
}

fn written(age: Option<Duration>) -> String {
    match age {
        Some(a) => format!("written {} ago", duration(a)),
        None => "of unknown age".into(),
    }
}

/// `3 days`, `5 hours`, `12 minutes`, `less than a minute`.
fn duration(d: Duration) -> String {
    let s = d.as_secs();
    let (n, unit) = match s {
        0..=59 => return "less than a minute".into(),
        60..=3599 => (s / 60, "minute"),
        3600..=86_399 => (s / 3600, "hour"),
        _ => (s / 86_400, "day"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_promoters_shape_and_names_what_is_wrong() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("stage-info.yaml");
        std::fs::write(
            &f,
            "main: {distro_name: centos}\ndlrn:\n  promotions:\n    promotion_candidate: {full_hash: abc_12345678, name: x}\n\
             registries:\n  source: {host: 'localhost:6000', namespace: tripleomaster, password: unused, port: 6000}\n\
             \x20 targets:\n  - {host: 'localhost:6500', namespace: tripleomaster, password: 20261129}\n",
        )
        .unwrap();
        let s = load(&f).unwrap();
        assert_eq!(s.full_hash, "abc_12345678");
        assert_eq!(s.source["host"], "localhost:6000");
        assert_eq!(s.targets[0]["password"], 20261129);

        std::fs::write(&f, "registries: {source: {host: h}, targets: []}\n").unwrap();
        let e = load(&f).unwrap_err().to_string();
        assert!(e.contains("promotion_candidate.full_hash"), "{e}");
        std::fs::write(&f, "registries: {source: [], targets: []}\n").unwrap();
        assert!(load(&f).unwrap_err().to_string().contains("registries.source"));
        assert!(load(d.path()).unwrap_err().to_string().contains("is a directory"));

        // A value of the wrong type under a secret key is not quoted back (YAML tags, any depth).
        for text in [
            "registries:\n  source: {host: h, password: !!int hunter2}\n",
            "registries:\n  source:\n    host: h\n    password: !!bool 'hunter2 x'\n",
            "registries:\n  targets:\n  - {host: h, token: [!!float hunter2]}\n",
        ] {
            std::fs::write(&f, text).unwrap();
            let e = load(&f).unwrap_err().to_string();
            assert!(!e.contains("hunter2"), "{e}");
            assert!(
                e.contains("not shown: it is a secret") && e.contains("line "),
                "{e}"
            );
        }
        assert!(load(&d.path().join("nope")).is_err());
    }

    fn staged(dir: &Path, hash: &str, age: Duration) -> std::path::PathBuf {
        let f = dir.join("stage-info.yaml");
        std::fs::write(
            &f,
            format!(
                "dlrn:\n  promotions:\n    promotion_candidate: {{full_hash: {hash}}}\n\
                 registries:\n  source: {{host: 'localhost:6000'}}\n  targets:\n  - {{host: 'localhost:6500'}}\n"
            ),
        )
        .unwrap();
        let file = std::fs::File::options().write(true).open(&f).unwrap();
        file.set_modified(SystemTime::now() - age).unwrap();
        f
    }

    #[test]
    fn a_file_for_another_hash_is_refused_naming_both_its_age_and_what_to_do() {
        let d = tempfile::tempdir().unwrap();
        let f = staged(d.path(), "c0ffee_12345678", Duration::from_secs(3 * 86_400 + 60));
        let mut values = Map::new();
        values.insert("full_hash".into(), "e1e1e1_87654321".into());
        values.insert(
            "source_registry".into(),
            serde_json::json!({"host": "quay.rdoproject.org"}),
        );
        let e = apply(&mut values, &f).unwrap_err();
        assert_eq!(crate::error::Kind::of(&e), crate::error::Kind::Invalid);
        let e = e.to_string();
        for part in [
            "c0ffee_12345678",
            "e1e1e1_87654321",
            &f.display().to_string(),
            "written 3 days ago",
            "rm ",
            "nothing was done",
        ] {
            assert!(e.contains(part), "{part:?} in {e}");
        }
        // Nothing replaced: the production arguments are as given.
        assert_eq!(values["source_registry"]["host"], "quay.rdoproject.org");
        assert_eq!(values["full_hash"], "e1e1e1_87654321");
    }

    /// The integration pipeline's candidate: the promoter gives its aggregate hash, the file names
    /// its commit/distro form too. The same candidate, not a leftover.
    #[test]
    fn the_candidates_aggregate_hash_is_the_same_candidate() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("stage-info.yaml");
        std::fs::write(
            &f,
            "dlrn:\n  promotions:\n    promotion_candidate: {full_hash: c0ffee_12345678, \
             aggregate_hash: d7c3cd922f91d83aacb5d7555de9d5bc}\n\
             registries:\n  source: {host: 'localhost:6000'}\n  targets: []\n",
        )
        .unwrap();
        let mut values = Map::new();
        values.insert("full_hash".into(), "d7c3cd922f91d83aacb5d7555de9d5bc".into());
        apply(&mut values, &f).unwrap();
        assert_eq!(values["full_hash"], "c0ffee_12345678");
        values.insert("full_hash".into(), "e1e1e1_87654321".into());
        assert!(apply(&mut values, &f).is_err());
    }

    #[test]
    fn the_files_hash_and_registries_replace_the_given_ones() {
        let d = tempfile::tempdir().unwrap();
        let f = staged(d.path(), "c0ffee_12345678", Duration::from_secs(60));
        for given in [Some("c0ffee_12345678"), None] {
            let mut values = Map::new();
            if let Some(g) = given {
                values.insert("full_hash".into(), g.into());
            }
            values.insert(
                "source_registry".into(),
                serde_json::json!({"host": "quay.rdoproject.org"}),
            );
            apply(&mut values, &f).unwrap();
            assert_eq!(values["full_hash"], "c0ffee_12345678");
            assert_eq!(values["source_registry"]["host"], "localhost:6000");
            assert_eq!(values["target_registries"][0]["host"], "localhost:6500");
        }
    }

    #[test]
    fn an_old_file_is_a_warning_even_for_the_same_hash() {
        let old = tempfile::tempdir().unwrap();
        let f = staged(old.path(), "01d_12345678", Duration::from_secs(2 * 86_400 + 60));
        let mut values = Map::new();
        values.insert("full_hash".into(), "01d_12345678".into());
        apply(&mut values, &f).unwrap();
        let f = f.display().to_string();
        let warnings = crate::logging::warnings();
        let w = warnings
            .iter()
            .find(|w| w.contains(&f))
            .unwrap_or_else(|| panic!("no warning naming {f}: {warnings:?}"));
        assert!(
            w.contains("2 days old") && w.contains("01d_12345678") && w.contains("rm "),
            "{w}"
        );
        // A fresh file: no warning about it.
        let fresh = tempfile::tempdir().unwrap();
        let g = staged(fresh.path(), "0fe5_12345678", Duration::from_secs(60));
        apply(&mut Map::new(), &g).unwrap();
        let g = g.display().to_string();
        assert!(!crate::logging::warnings().iter().any(|w| w.contains(&g)));
    }

    #[test]
    fn durations_read_as_people_say_them() {
        let s = |n: u64| duration(Duration::from_secs(n));
        assert_eq!(s(5), "less than a minute");
        assert_eq!(s(60), "1 minute");
        assert_eq!(s(7200), "2 hours");
        assert_eq!(s(86_400), "1 day");
        assert_eq!(s(3 * 86_400 + 5), "3 days");
        assert_eq!(written(None), "of unknown age");
    }
}
