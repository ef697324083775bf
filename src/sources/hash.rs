//! DLRN hashes. A hash read from an API, a log or the command line ends up in image tags and URLs,
//! so it is checked against the exact forms DLRN produces before anything else uses it.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The forms a DLRN hash can take.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HashKind {
    /// `<40 hex commit>_<8 hex distro>`.
    Full,
    /// `<40 hex commit>_<8 hex distro>_<8 hex>_<8 hex>` (with an extended hash).
    Extended,
    /// 32 hex: the aggregate hash of a component-based (integration) repository.
    Aggregate,
}

/// What [`validate_full_hash`] accepts, for error messages.
pub const ACCEPTED_FORMS: &str = "expected <40 hex>_<8 hex> (commit_distro), \
<40 hex>_<8 hex>_<8 hex>_<8 hex> (extended) or <32 hex> (aggregate), lowercase hex digits only";

fn lower_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The input as shown in messages: long garbage is cut short.
pub(crate) fn shorten(s: &str) -> String {
    const MAX: usize = 80;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(MAX).collect();
        out.push('…');
        out
    }
}

/// Check a DLRN hash and tell its form: `<40 hex>_<8 hex>`, `<40 hex>_<8 hex>_<8 hex>_<8 hex>`
/// or a 32-hex aggregate hash. Anything else (uppercase, wrong lengths, shell metacharacters,
/// surrounding blanks) is refused with a message listing the accepted forms.
pub fn validate_full_hash(s: &str) -> Result<HashKind> {
    let parts: Vec<&str> = s.split('_').collect();
    let ok = match parts.as_slice() {
        [agg] if lower_hex(agg, 32) => Some(HashKind::Aggregate),
        [commit, distro] if lower_hex(commit, 40) && lower_hex(distro, 8) => Some(HashKind::Full),
        [commit, distro, e1, e2]
            if lower_hex(commit, 40) && lower_hex(distro, 8) && lower_hex(e1, 8) && lower_hex(e2, 8) =>
        {
            Some(HashKind::Extended)
        }
        _ => None,
    };
    ok.ok_or_else(|| Error::invalid("DLRN hash", shorten(s), ACCEPTED_FORMS))
}

/// A git commit SHA-1: 40 lowercase hex digits.
pub fn validate_git_sha(what: &'static str, s: &str) -> Result<()> {
    if lower_hex(s, 40) {
        Ok(())
    } else {
        Err(Error::invalid(
            what,
            shorten(s),
            "expected a git commit id of 40 lowercase hex digits",
        ))
    }
}

/// DLRN's sharded directory of a hash: `<h[0..2]>/<h[2..4]>/<h>` (the hash is validated first).
pub fn commit_dir(full_hash: &str) -> Result<String> {
    validate_full_hash(full_hash)?;
    // Validated: ASCII only, at least 32 characters.
    Ok(format!("{}/{}/{}", &full_hash[..2], &full_hash[2..4], full_hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMIT: &str = "9b1e3c4a5d6f7e8091a2b3c4d5e6f708192a3b4c";

    #[test]
    fn accepts_the_three_forms() {
        assert_eq!(
            validate_full_hash(&format!("{COMMIT}_3f2e1d0c")).unwrap(),
            HashKind::Full
        );
        assert_eq!(
            validate_full_hash(&format!("{COMMIT}_3f2e1d0c_0a0b0c0d_11223344")).unwrap(),
            HashKind::Extended
        );
        assert_eq!(
            validate_full_hash("d7c3cd922f91d83aacb5d7555de9d5bc").unwrap(),
            HashKind::Aggregate
        );
    }

    #[test]
    fn rejects_everything_else() {
        let bad = [
            String::new(),
            "current-tripleo".into(),
            "D7C3CD922F91D83AACB5D7555DE9D5BC".into(),
            "d7c3cd922f91d83aacb5d7555de9d5b".into(),
            "d7c3cd922f91d83aacb5d7555de9d5bcc".into(),
            format!("{COMMIT}_3f2e1d0"),
            format!("{COMMIT}_3f2e1d0c9"),
            format!("{COMMIT}_3f2e1d0c_0a0b0c0d"),
            format!("{COMMIT}_3f2e1d0c_0a0b0c0d_11223344_55667788"),
            format!("{COMMIT}3f2e1d0c"),
            format!("{COMMIT}_3f2e1d0c;rm -rf /"),
            format!("$({COMMIT})"),
            format!(" {COMMIT}_3f2e1d0c"),
            format!("{COMMIT}_3f2e1d0c\n"),
            format!("{COMMIT}_3f2e1d0g"),
            format!("{COMMIT}_"),
            "_".into(),
            "é".repeat(200),
        ];
        for b in &bad {
            let e = validate_full_hash(b).unwrap_err().to_string();
            assert!(e.contains("<40 hex>_<8 hex>"), "{e}");
            assert!(e.contains("aggregate"), "{e}");
            assert!(e.len() < 400, "message too long: {e}");
        }
    }

    #[test]
    fn sharded_dir() {
        assert_eq!(
            commit_dir("d7c3cd922f91d83aacb5d7555de9d5bc").unwrap(),
            "d7/c3/d7c3cd922f91d83aacb5d7555de9d5bc"
        );
        assert_eq!(
            commit_dir(&format!("{COMMIT}_3f2e1d0c")).unwrap(),
            format!("9b/1e/{COMMIT}_3f2e1d0c")
        );
        assert!(commit_dir("../../etc").is_err());
    }

    #[test]
    fn git_sha() {
        assert!(validate_git_sha("sha", COMMIT).is_ok());
        assert!(validate_git_sha("sha", &COMMIT[1..]).is_err());
        assert!(validate_git_sha("sha", &COMMIT.to_uppercase()).is_err());
    }
}

crate::reference::name_type!(
    /// A promoter hash in one of DLRN's forms (see [`validate_full_hash`]), parsed once.
    FullHash
);

impl FullHash {
    /// A hash, or an error naming `full_hash`.
    pub fn parse(s: &str) -> Result<FullHash> {
        validate_full_hash(s).map_err(|e| match e {
            Error::Invalid { input, reason, .. } => Error::Invalid {
                what: "full_hash",
                input,
                reason,
            },
            e => e,
        })?;
        Ok(FullHash(s.to_string()))
    }
}
