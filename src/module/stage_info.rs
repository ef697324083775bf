//! The promoter's staging switch, read by the module itself. When `/tmp/stage-info.yaml` exists, the
//! promoter's staging environment (its own registries on localhost, a TLS + htpasswd one among them)
//! replaces the production registries and the hash. The playbook used to load that file into Ansible
//! variables; that put registry passwords through Ansible's templating (a `{{` in a password broke the
//! run and showed the line on ansible-core 2.19) and needed filters Ansible 2.9 lacks. The playbook now
//! passes the file's path (`stage_info`) and only this module reads it.

use std::path::Path;

use serde_json::Value;

/// What a promotion takes from a stage-info file.
#[derive(Debug)]
pub struct StageInfo {
    /// `registries.source`, a registry dictionary.
    pub source: Value,
    /// `registries.targets`, a list of registry dictionaries.
    pub targets: Value,
    /// `dlrn.promotions.promotion_candidate.full_hash`.
    pub full_hash: String,
}

/// The largest stage-info file read (the real ones are a few KiB).
const MAX_BYTES: u64 = 1 << 20;

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
    Ok(StageInfo {
        source: source.clone(),
        targets: targets.clone(),
        full_hash: full_hash.to_string(),
    })
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
}
