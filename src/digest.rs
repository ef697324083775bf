//! Content digests (`sha256:<64 hex>`): parsing, computing, and verifying while streaming.
//! Only sha256 is computed (what every registry uses); sha512 digests are parsed and checked too.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256, Sha512};

use crate::error::{Error, Result};

/// A validated content digest such as `sha256:0123…`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(String);

impl Digest {
    /// The sha256 digest of `bytes`.
    pub fn sha256(bytes: &[u8]) -> Digest {
        Digest(format!("sha256:{:x}", Sha256::digest(bytes)))
    }

    /// The digest of `bytes` with the same algorithm as `self`.
    pub fn same_algorithm_of(&self, bytes: &[u8]) -> Digest {
        match self.algorithm() {
            "sha512" => Digest(format!("sha512:{:x}", Sha512::digest(bytes))),
            _ => Digest::sha256(bytes),
        }
    }

    pub fn algorithm(&self) -> &str {
        self.0.split_once(':').map(|(a, _)| a).unwrap_or("")
    }

    pub fn hex(&self) -> &str {
        self.0.split_once(':').map(|(_, h)| h).unwrap_or("")
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Check `bytes` against this digest.
    pub fn verify(&self, what: &str, bytes: &[u8]) -> Result<()> {
        let actual = self.same_algorithm_of(bytes);
        if &actual == self {
            Ok(())
        } else {
            Err(Error::DigestMismatch {
                what: what.to_string(),
                expected: self.0.clone(),
                actual: actual.0,
            })
        }
    }

    /// A hasher that checks bytes fed to it, piece by piece, against this digest.
    pub fn verifier(&self) -> Verifier {
        Verifier {
            expected: self.clone(),
            state: match self.algorithm() {
                "sha512" => HashState::Sha512(Sha512::new()),
                _ => HashState::Sha256(Sha256::new()),
            },
            len: 0,
        }
    }
}

impl FromStr for Digest {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = |reason: &str| Error::invalid("digest", s, reason);
        let (algo, hex) = s
            .split_once(':')
            .ok_or_else(|| bad("expected <algorithm>:<hex>, e.g. sha256:…"))?;
        let want = match algo {
            "sha256" => 64,
            "sha512" => 128,
            _ => return Err(bad("unsupported algorithm (sha256 or sha512)")),
        };
        if hex.len() != want {
            return Err(bad(&format!("{algo} needs {want} hex digits, got {}", hex.len())));
        }
        if !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(bad("only lowercase hex digits allowed"));
        }
        Ok(Digest(s.to_string()))
    }
}

impl TryFrom<String> for Digest {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> String {
        d.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.0)
    }
}

enum HashState {
    Sha256(Sha256),
    Sha512(Sha512),
}

/// Incremental digest check, for streams that must never be held whole in memory.
pub struct Verifier {
    expected: Digest,
    state: HashState,
    len: u64,
}

impl Verifier {
    pub fn update(&mut self, bytes: &[u8]) {
        self.len += bytes.len() as u64;
        match &mut self.state {
            HashState::Sha256(h) => h.update(bytes),
            HashState::Sha512(h) => h.update(bytes),
        }
    }

    /// Bytes seen so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Finish and compare; `what` names the content in the error.
    pub fn finish(self, what: &str) -> Result<u64> {
        let actual = match self.state {
            HashState::Sha256(h) => format!("sha256:{:x}", h.finalize()),
            HashState::Sha512(h) => format!("sha512:{:x}", h.finalize()),
        };
        if actual == self.expected.0 {
            Ok(self.len)
        } else {
            Err(Error::DigestMismatch {
                what: what.to_string(),
                expected: self.expected.0,
                actual,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computes_known_sha256() {
        let d = Digest::sha256(b"");
        assert_eq!(
            d.as_str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(d.algorithm(), "sha256");
        assert_eq!(d.hex().len(), 64);
    }

    #[test]
    fn parses_and_rejects() {
        assert!(
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
                .parse::<Digest>()
                .is_ok()
        );
        for bad in [
            "",
            "sha256",
            "sha256:",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha256:e3b0c4",
            "md5:d41d8cd98f00b204e9800998ecf8427e",
            "sha256:g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855;rm -rf /",
        ] {
            let err = bad.parse::<Digest>().unwrap_err();
            assert!(err.to_string().contains("invalid digest"), "{bad}: {err}");
        }
    }

    #[test]
    fn verifier_streams_and_detects_mismatch() {
        let data = b"hello world, in pieces";
        let d = Digest::sha256(data);
        let mut v = d.verifier();
        for chunk in data.chunks(5) {
            v.update(chunk);
        }
        assert_eq!(v.finish("x").unwrap(), data.len() as u64);

        let mut v = d.verifier();
        v.update(b"hello world, in pieceS");
        let err = v.finish("layer").unwrap_err();
        assert!(matches!(err, Error::DigestMismatch { .. }));
        assert!(err.to_string().contains("layer"));
        assert!(d.verify("m", b"nope").is_err());
        assert!(d.verify("m", data).is_ok());
    }

    #[test]
    fn serde_round_trip_validates() {
        let d = Digest::sha256(b"x");
        let s = serde_json::to_string(&d).unwrap();
        assert_eq!(serde_json::from_str::<Digest>(&s).unwrap(), d);
        assert!(serde_json::from_str::<Digest>("\"sha256:zz\"").is_err());
    }
}
