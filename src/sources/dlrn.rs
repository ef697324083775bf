//! The hash a DLRN label points at (e.g. `current-tripleo`), from DLRN's promotions API. Used when
//! running alone and no hash is forced: the newest promotion to the label gives the hash (its
//! `aggregate_hash` for component-based repositories, else its `repo_hash`) and, through its
//! `repo_url`, the `versions.csv` that leads to tripleo-common's container list.

use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{Error, Result};
use crate::sources::hash::{shorten, validate_full_hash, HashKind};
use crate::sources::http::{base_url, join, Fetcher};

/// One entry of `api/promotions` (all fields optional: the API leaves many null).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DlrnPromotion {
    #[serde(default)]
    pub timestamp: Option<serde_json::Number>,
    #[serde(default)]
    pub commit_hash: Option<String>,
    #[serde(default)]
    pub distro_hash: Option<String>,
    #[serde(default)]
    pub extended_hash: Option<String>,
    #[serde(default)]
    pub aggregate_hash: Option<String>,
    #[serde(default)]
    pub repo_hash: Option<String>,
    #[serde(default)]
    pub repo_url: Option<String>,
    #[serde(default)]
    pub promote_name: Option<String>,
    #[serde(default)]
    pub component: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
}

/// The hash a label points at, validated, with what is needed to find its `versions.csv`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PromotedHash {
    pub label: String,
    pub hash: String,
    pub kind: HashKind,
    /// The hash's repository directory (`…/d7/c3/<hash>`), when DLRN reports it.
    pub repo_url: Option<String>,
    pub commit_hash: Option<String>,
    pub distro_hash: Option<String>,
    pub extended_hash: Option<String>,
    pub aggregate_hash: Option<String>,
    pub component: Option<String>,
    pub timestamp: Option<serde_json::Number>,
}

impl PromotedHash {
    /// `<repo_url>/versions.csv`.
    pub fn versions_csv_url(&self) -> Result<Url> {
        let repo = self.repo_url.as_deref().ok_or_else(|| {
            Error::invalid(
                "DLRN promotion",
                &self.hash,
                "has no repo_url; give the repository base URL to find versions.csv",
            )
        })?;
        crate::sources::tripleo_common::versions_csv_url(repo, "")
    }
}

/// A DLRN label: letters, digits, `.`, `_`, `-`.
pub fn validate_label(label: &str) -> Result<()> {
    let ok = !label.is_empty()
        && label.len() <= 128
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "DLRN label",
            shorten(label),
            "expected letters, digits, '.', '_' and '-' (e.g. current-tripleo)",
        ))
    }
}

/// `<api_entry>/api/promotions?promote_name=<label>&limit=1`.
pub fn promotions_url(api_entry: &str, label: &str) -> Result<Url> {
    validate_label(label)?;
    let base = base_url("DLRN API URL", api_entry)?;
    let mut url = join(&base, "api/promotions")?;
    url.query_pairs_mut()
        .append_pair("promote_name", label)
        .append_pair("limit", "1");
    Ok(url)
}

fn ts(p: &DlrnPromotion) -> f64 {
    p.timestamp.as_ref().and_then(|n| n.as_f64()).unwrap_or(f64::MIN)
}

/// Parse the promotions answer and pick the newest promotion to `label` (highest timestamp; the
/// first on ties, since the API lists newest first). Hash = `aggregate_hash` when set, else
/// `repo_hash`, validated with [`validate_full_hash`].
pub fn parse_promotions(source: &str, label: &str, body: &[u8]) -> Result<PromotedHash> {
    let bad = |reason: String| Error::invalid("DLRN promotions answer", source, reason);
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        bad(format!(
            "not valid JSON ({e}); expected a JSON array of promotions"
        ))
    })?;
    if !v.is_array() {
        return Err(bad("expected a JSON array of promotions".into()));
    }
    let entries: Vec<DlrnPromotion> =
        serde_json::from_value(v).map_err(|e| bad(format!("unexpected promotion entry ({e})")))?;
    if entries.is_empty() {
        return Err(bad(format!("no promotion to {label} (empty list)")));
    }
    let mut newest: Option<&DlrnPromotion> = None;
    for e in entries
        .iter()
        .filter(|e| e.promote_name.as_deref().is_none_or(|n| n == label))
    {
        if newest.is_none_or(|n| ts(e) > ts(n)) {
            newest = Some(e);
        }
    }
    let p = newest.ok_or_else(|| {
        bad(format!(
            "no entry promoted to {label} (got {})",
            entries
                .iter()
                .filter_map(|e| e.promote_name.as_deref())
                .map(shorten)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let (field, raw) = match (p.aggregate_hash.as_deref(), p.repo_hash.as_deref()) {
        (Some(a), _) if !a.is_empty() => ("aggregate_hash", a),
        (_, Some(r)) if !r.is_empty() => ("repo_hash", r),
        _ => {
            return Err(bad(
                "the newest entry has neither aggregate_hash nor repo_hash".into()
            ))
        }
    };
    let kind = validate_full_hash(raw).map_err(|e| bad(format!("{field}: {e}")))?;
    Ok(PromotedHash {
        label: label.to_string(),
        hash: raw.to_string(),
        kind,
        repo_url: p.repo_url.clone().filter(|u| !u.is_empty()),
        commit_hash: p.commit_hash.clone(),
        distro_hash: p.distro_hash.clone(),
        extended_hash: p.extended_hash.clone(),
        aggregate_hash: p.aggregate_hash.clone(),
        component: p.component.clone(),
        timestamp: p.timestamp.clone(),
    })
}

/// Ask the DLRN API which hash `label` points at.
pub async fn promoted_hash(fetcher: &Fetcher, api_entry: &str, label: &str) -> Result<PromotedHash> {
    let url = promotions_url(api_entry, label)?;
    let f = fetcher.get_json_bytes(&url).await?;
    let p = parse_promotions(&f.source, label, &f.body)?;
    tracing::info!(label, hash = %p.hash, kind = ?p.kind, "DLRN label resolved");
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROMOTIONS: &str = include_str!("../../tests/fixtures/dlrn/promotions.json");

    #[test]
    fn fixture_aggregate() {
        let p = parse_promotions("promotions.json", "current-tripleo", PROMOTIONS.as_bytes()).unwrap();
        assert_eq!(p.hash, "d7c3cd922f91d83aacb5d7555de9d5bc");
        assert_eq!(p.kind, HashKind::Aggregate);
        assert_eq!(
            p.versions_csv_url().unwrap().as_str(),
            "https://trunk.rdoproject.org/centos9-master/current-tripleo/d7/c3/d7c3cd922f91d83aacb5d7555de9d5bc/versions.csv"
        );
        assert_eq!(
            p.commit_hash.as_deref(),
            Some("9b1e3c4a5d6f7e8091a2b3c4d5e6f708192a3b4c")
        );
        assert_eq!(
            p.distro_hash.as_deref(),
            Some("3f2e1d0c9b8a79685746352413021f0e0d0c0b0a")
        );
    }

    #[test]
    fn repo_hash_when_no_aggregate() {
        let mut v: Vec<serde_json::Value> = serde_json::from_str(PROMOTIONS).unwrap();
        v.remove(0);
        let p = parse_promotions("p", "current-tripleo", serde_json::to_vec(&v).unwrap().as_slice()).unwrap();
        assert_eq!(p.hash, "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d_0a0b0c0d");
        assert_eq!(p.kind, HashKind::Full);
        assert_eq!(p.component.as_deref(), Some("tripleo"));
    }

    #[test]
    fn newest_by_timestamp() {
        let j = r#"[{"timestamp": 1, "repo_hash": "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d_0a0b0c0d"},
                    {"timestamp": 2, "aggregate_hash": "d7c3cd922f91d83aacb5d7555de9d5bc"}]"#;
        let p = parse_promotions("p", "l", j.as_bytes()).unwrap();
        assert_eq!(p.kind, HashKind::Aggregate);
    }

    #[test]
    fn bad_answers() {
        for (j, want) in [
            ("[", "not valid JSON"),
            ("", "not valid JSON"),
            ("{\"error\": \"x\"}", "expected a JSON array"),
            ("[]", "empty list"),
            (
                "[{\"aggregate_hash\": null, \"repo_hash\": null}]",
                "neither aggregate_hash nor repo_hash",
            ),
            ("[{\"repo_hash\": \"abc_def\"}]", "repo_hash"),
            (
                "[{\"aggregate_hash\": \"D7C3CD922F91D83AACB5D7555DE9D5BC\"}]",
                "aggregate_hash",
            ),
            (
                "[{\"aggregate_hash\": \"d7c3cd922f91d83aacb5d7555de9d5bc; reboot\"}]",
                "<40 hex>_<8 hex>",
            ),
            (
                "[{\"promote_name\": \"other\", \"aggregate_hash\": \"d7c3cd922f91d83aacb5d7555de9d5bc\"}]",
                "no entry promoted",
            ),
            ("[{\"repo_hash\": 5}]", "unexpected promotion entry"),
        ] {
            let e = parse_promotions("https://dlrn/api/promotions", "current-tripleo", j.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(want) && e.contains("https://dlrn/api/promotions"),
                "{j}: {e}"
            );
        }
    }

    #[test]
    fn urls_and_labels() {
        assert_eq!(
            promotions_url("https://trunk.rdoproject.org/api-centos9-master-uc", "current-tripleo")
                .unwrap()
                .as_str(),
            "https://trunk.rdoproject.org/api-centos9-master-uc/api/promotions?promote_name=current-tripleo&limit=1"
        );
        assert!(promotions_url("https://t/", "a&b").is_err());
        assert!(promotions_url("https://t/", "").is_err());
        assert!(promotions_url("not a url", "x").is_err());
        let p = PromotedHash {
            label: "l".into(),
            hash: "d7c3cd922f91d83aacb5d7555de9d5bc".into(),
            kind: HashKind::Aggregate,
            repo_url: None,
            commit_hash: None,
            distro_hash: None,
            extended_hash: None,
            aggregate_hash: None,
            component: None,
            timestamp: None,
        };
        assert!(p.versions_csv_url().unwrap_err().to_string().contains("repo_url"));
    }
}
