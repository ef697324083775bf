//! Typed errors of the library. Every message names the registry (host) and what was asked, and never
//! carries a secret: credentials are held in [`crate::transport::Secret`], whose `Display`/`Debug` mask them,
//! and no URL we build ever embeds credentials.

use std::fmt;

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong talking to a registry or handling images.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A user-supplied value (reference, tag, digest, hash, name, option) is malformed.
    #[error("invalid {what} {input:?}: {reason}")]
    Invalid {
        what: &'static str,
        input: String,
        reason: String,
    },
    /// The registry refused our credentials (or we have none and it wants some).
    #[error("{registry}: authentication failed: {detail}")]
    Auth { registry: String, detail: String },
    /// The TLS handshake failed (unknown CA, wrong host name, plain HTTP server …).
    #[error("{registry}: TLS error: {detail}")]
    Tls { registry: String, detail: String },
    /// Could not reach the registry at all, or the connection broke, after all retries.
    #[error("{registry}: {detail}")]
    Network { registry: String, detail: String },
    /// The registry answered with an HTTP error we do not retry (or retries ran out).
    #[error("{registry}: {method} {path}: HTTP {status}{}: {message}", code.as_ref().map(|c| format!(" {c}")).unwrap_or_default())]
    Http {
        registry: String,
        method: String,
        path: String,
        status: u16,
        code: Option<String>,
        message: String,
    },
    /// The registry asked us to come back later (408/429/5xx on a request we could not replay
    /// ourselves); the caller retries the whole transfer, after `retry_after` when given.
    #[error("{registry}: {detail}")]
    Busy {
        registry: String,
        detail: String,
        retry_after: Option<std::time::Duration>,
    },
    /// A manifest, tag or blob does not exist.
    #[error("{registry}: {what} not found")]
    NotFound { registry: String, what: String },
    /// Bytes did not hash to the digest they were announced with.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    /// Content we refuse to handle (schema 1 manifests, unknown media types, …).
    #[error("{registry}: {what}: {reason}")]
    Unsupported {
        registry: String,
        what: String,
        reason: String,
    },
    /// Local file system trouble.
    // The I/O error is in the message (not a `source`), so chained printing does not repeat it.
    #[error("{path}: {err}")]
    Io { path: String, err: std::io::Error },
    /// Configuration problems (files, settings).
    #[error("{0}")]
    Config(String),
    /// An option given a value it cannot take: which option (`target_registries[1]`), and why.
    #[error("{option}: {reason}")]
    BadOption { option: String, reason: String },
    /// What is on this machine refuses what was asked (another run holds the local store, a folder
    /// that is not a store or that others can write, a planted link, nothing matching what is to be
    /// deleted): nothing was done.
    #[error("{0}")]
    Local(String),
    /// What was being done when `source` happened; the error's kind is `source`'s. (The source is
    /// in the message, not a `source()`, so chained printing does not repeat it; shared, so that a
    /// failure met once can be returned again.)
    #[error("{}{source}", if context.is_empty() { String::new() } else { format!("{context}: ") })]
    Context {
        context: String,
        source: std::sync::Arc<Error>,
    },
    /// Several failures said in one message; the kind is the first one's.
    #[error("{message}")]
    Several {
        message: String,
        first: std::sync::Arc<Error>,
    },
}

/// Context on a result's error ([`Error::Context`]): what was being done, the kind kept.
pub trait ResultExt<T> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> ResultExt<T> for Result<T> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| e.context(context()))
    }
}

impl Error {
    /// A value refused. `user:password@` written into it (a host given as a URL with
    /// credentials) is masked in the input and the reason, whatever the password holds (spaces,
    /// quotes) and however the reason quotes it: an error must not echo a password.
    pub fn invalid(what: &'static str, input: impl fmt::Display, reason: impl Into<String>) -> Self {
        let input = input.to_string();
        let mut reason = without_userinfo(&reason.into());
        let mut shown = without_userinfo(&input);
        if let Some(info) = userinfo_of(&input) {
            shown = shown.replace(info, "***");
            let password = info.split_once(':').map_or(info, |(_, p)| p);
            for secret in [info, password] {
                let quoted = format!("{secret:?}");
                for form in [quoted.trim_matches('"'), secret] {
                    if !form.is_empty() {
                        reason = reason.replace(form, "***");
                    }
                }
            }
        }
        Error::Invalid {
            what,
            input: shown,
            reason,
        }
    }

    /// `self` as the cause of what `context` says was being done (its kind kept).
    pub fn context(self, context: impl Into<String>) -> Self {
        Error::Context {
            context: context.into(),
            source: std::sync::Arc::new(self),
        }
    }

    /// An option's value refused.
    pub fn bad_option(option: impl Into<String>, reason: impl fmt::Display) -> Self {
        Error::BadOption {
            option: option.into(),
            reason: reason.to_string(),
        }
    }

    /// Why a value was refused (for a validator's error re-told about the value that holds it); the
    /// message of any other error.
    pub fn reason(&self) -> String {
        match self.root() {
            Error::Invalid { reason, .. } => reason.clone(),
            e => e.to_string(),
        }
    }

    /// The error under any added context.
    pub fn root(&self) -> &Error {
        match self {
            Error::Context { source, .. } => source.root(),
            Error::Several { first, .. } => first.root(),
            e => e,
        }
    }

    pub fn io(path: impl fmt::Display, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_string(),
            err: source,
        }
    }

    /// True for "the thing is not there" answers (404, MANIFEST_UNKNOWN, BLOB_UNKNOWN, NAME_UNKNOWN).
    pub fn is_not_found(&self) -> bool {
        matches!(self.root(), Error::NotFound { .. })
    }
}

/// The error and its sources, joined with `: ` (a source its predecessors already quote is left out):
/// how every layer turns a foreign error (HTTP, TLS, JSON) into the text of ours. An HTTP client's
/// top message that only repeats the URL ("error sending request for url (…)") is left out when
/// causes follow: every caller names the request itself, so the URL is said once.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let top = e.to_string();
    let mut parts = Vec::new();
    if !(e.source().is_some() && top.starts_with("error sending request")) {
        parts.push(top);
    }
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        cur = s.source();
    }
    if parts.is_empty() {
        return e.to_string();
    }
    parts.join(": ")
}

/// What kind of failure: the cause people act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Could not reach the registry (refused, reset, timed out) after all retries.
    Unreachable,
    /// Credentials refused or missing.
    Auth,
    /// TLS handshake or certificate trouble.
    Tls,
    /// An HTTP error the registry answered.
    Http,
    /// The registry asked us to come back later and retries ran out.
    Busy,
    /// Something that should exist does not (at the source: a missing container).
    NotFound,
    /// Bytes did not match their digest.
    DigestMismatch,
    /// Content we refuse (schema 1, unknown media types, a list where an image was expected).
    Unsupported,
    /// Malformed input or configuration.
    Invalid,
    /// Local file system trouble.
    Io,
    /// Read back, the registry does not hold what was pushed.
    Verification,
    /// Not attempted because an earlier step failed (lists of failed images, withheld labels).
    NotAttempted,
    /// A phase of the run ran over its deadline (`phase_timeout`).
    Deadline,
    /// The run was stopped before its end: a signal (SIGTERM, SIGINT, SIGHUP), or its `deadline`.
    Interrupted,
    /// Anything else (errors that reach the engine as text from lower layers).
    Other,
}

impl std::fmt::Display for Kind {
    /// As in JSON (`unreachable`, `not_attempted`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = serde_json::to_value(self).map_err(|_| std::fmt::Error)?;
        f.write_str(v.as_str().unwrap_or_default())
    }
}

impl Kind {
    /// The kind of a library error (under any added context).
    pub fn of(e: &Error) -> Kind {
        match e.root() {
            Error::Invalid { .. } | Error::Config(_) | Error::BadOption { .. } => Kind::Invalid,
            Error::Local(_) => Kind::Io,
            Error::Context { .. } | Error::Several { .. } => Kind::Other,
            Error::Auth { .. } => Kind::Auth,
            Error::Tls { .. } => Kind::Tls,
            Error::Network { .. } => Kind::Unreachable,
            Error::Http { .. } => Kind::Http,
            Error::Busy { .. } => Kind::Busy,
            Error::NotFound { .. } => Kind::NotFound,
            Error::DigestMismatch { .. } => Kind::DigestMismatch,
            Error::Unsupported { .. } => Kind::Unsupported,
            Error::Io { .. } => Kind::Io,
        }
    }
}

impl Kind {
    /// The command line's exit status for a command that could not run because of this: 2 when
    /// what it was given is wrong (as clap's usage errors), 1 for everything else (a registry, the
    /// store, the network). The module reports every kind the same way: `failed`, its message, and
    /// the kind.
    pub fn exit_status(self) -> i32 {
        match self {
            Kind::Invalid => 2,
            _ => 1,
        }
    }
}

/// The `user:password` of a value given as `[scheme://]user:password@host…`: everything between the
/// scheme (or the start) and the last `@`, when it holds a `:` (a password may hold spaces, quotes,
/// `/`, even `@`). `None` for values without one, and for an image reference by digest
/// (`host:5000/ns/app@sha256:…`).
pub fn userinfo_of(input: &str) -> Option<&str> {
    let start = input.find("://").map_or(0, |i| i + 3);
    let at = input.rfind('@').filter(|&at| at > start)?;
    let info = &input[start..at];
    let after = &input[at + 1..];
    let digest = after.split_once(':').is_some_and(|(alg, hex)| {
        !alg.is_empty()
            && alg.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            && hex.len() >= 32
            && hex.bytes().all(|b| b.is_ascii_hexdigit())
    });
    (info.contains(':') && !digest).then_some(info)
}

/// `user:password@host` → `***@host` wherever it appears in a text: after a scheme on the same line
/// the whole `user:password` is masked, whatever it holds (spaces, quotes); elsewhere from the last
/// separator (whitespace, a quote, `/`, `(`, `,`) before the `@`.
fn without_userinfo(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('@') {
        let head = &rest[..at];
        let line = head.rfind('\n').map_or(0, |i| i + 1);
        let after_scheme = head[line..]
            .rfind("://")
            .map(|i| line + i + 3)
            .filter(|&i| head[i..].contains(':') && !head[i..].contains('/'));
        // after the last separator (which may be several bytes long: any Unicode whitespace)
        let start = after_scheme.unwrap_or_else(|| {
            head.char_indices()
                .rev()
                .find(|&(_, c)| c.is_whitespace() || matches!(c, '"' | '\'' | '/' | '(' | ','))
                .map_or(0, |(i, c)| i + c.len_utf8())
        });
        out.push_str(&head[..start]);
        if head[start..].contains(':') {
            out.push_str("***");
        } else {
            out.push_str(&head[start..]);
        }
        out.push('@');
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_keeps_the_kind() {
        let e = Error::Network {
            registry: "zuul".into(),
            detail: "connection refused".into(),
        };
        let e = e.context("releases[0] (master)").context("releases.yaml");
        assert_eq!(Kind::of(&e), Kind::Unreachable);
        assert_eq!(
            e.to_string(),
            "releases.yaml: releases[0] (master): zuul: connection refused"
        );
        assert_eq!(Kind::of(&Error::Config("x".into()).context("y")), Kind::Invalid);
        assert_eq!(Kind::Invalid.exit_status(), 2);
        assert_eq!(Kind::of(&Error::Local("held".into())).exit_status(), 1);
        let nf = Error::NotFound {
            registry: "r".into(),
            what: "w".into(),
        };
        assert!(nf.context("c").is_not_found());
    }

    #[test]
    fn userinfo_after_a_wide_space_is_masked_without_a_panic() {
        // U+3000 and U+00A0 are whitespace of 3 and 2 bytes (a property test found the panic)
        let s = without_userinfo("x\u{3000}robot:hunter2@quay.io and \u{a0}a:b@h");
        assert_eq!(s, "x\u{3000}***@quay.io and \u{a0}***@h");
        assert_eq!(without_userinfo("\u{3000}@"), "\u{3000}@");
    }

    #[test]
    fn a_refused_value_never_echoes_a_password() {
        let e = Error::invalid(
            "registry host",
            "http://user:s3cr3tpw@127.0.0.1:5000",
            "bad host name label \"user:s3cr3tpw@127\"",
        )
        .to_string();
        assert!(!e.contains("s3cr3tpw"), "{e}");
        assert!(
            e.contains("http://***@127.0.0.1:5000") && e.contains("\"***@127\""),
            "{e}"
        );
        // An @ without a colon before it (an image digest, an email-like name) stays.
        let e = Error::invalid("image reference", "ns/app@sha256:abc", "x").to_string();
        assert!(e.contains("ns/app@sha256:abc"), "{e}");
        let d = format!("127.0.0.1:5000/ns/app@sha256:{}", "ab".repeat(32));
        let e = Error::invalid("image reference", &d, "x").to_string();
        assert!(e.contains(&d), "{e}");
    }

    #[test]
    fn a_password_with_spaces_and_quotes_is_masked_whole() {
        let pw = "Pa ss\"q'%€";
        let input = format!("https://alice:{pw}@127.0.0.1:5000");
        // the reason quotes pieces of it, Rust-style
        let reason = format!("bad host {:?}, label {:?}", format!("alice:{pw}"), pw);
        let e = Error::invalid("registry host", &input, reason).to_string();
        for piece in [pw, "Pa ss", "q'%€", "\\\"q'"] {
            assert!(!e.contains(piece), "{piece:?} in {e}");
        }
        assert!(e.contains("https://***@127.0.0.1:5000"), "{e}");
        // in free text, after a scheme: masked up to the @ whatever it holds
        let t = without_userinfo("GET https://bob:sp ace\"d@h/v2/ failed; also x:y@z");
        assert_eq!(t, "GET https://***@h/v2/ failed; also ***@z");
    }
}
