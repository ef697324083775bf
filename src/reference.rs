//! Image references: `host[:port]/path/name[:tag][@sha256:…]`, validated against the distribution
//! spec grammar, with Docker Hub's normalisation (`docker.io` → API host `registry-1.docker.io`,
//! `library/` for one-segment names). Written by hand: the grammar is small and the error messages
//! must say exactly what is wrong, which a generic regex-based crate does not.

use std::fmt;
use std::str::FromStr;

use crate::digest::Digest;
use crate::error::{Error, Result};

/// Docker Hub as users write it.
pub const DOCKER_HUB: &str = "docker.io";
/// Docker Hub's API host.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";
/// Longest repository name (host excluded) a registry accepts.
const MAX_NAME: usize = 255;
/// Longest tag.
const MAX_TAG: usize = 128;

/// A parsed image reference.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// Registry host as written, normalised (`index.docker.io` → `docker.io`), with port if any.
    pub registry: String,
    /// Repository path, e.g. `tripleomaster/openstack-nova-compute`.
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

impl Reference {
    /// A reference from parts, validating each.
    pub fn new(registry: &str, repository: &str, tag: Option<&str>) -> Result<Reference> {
        validate_host(registry)?;
        validate_repository(repository)?;
        if let Some(t) = tag {
            validate_tag(t)?;
        }
        Ok(Reference {
            registry: normalise_host(registry),
            repository: repository.to_string(),
            tag: tag.map(str::to_string),
            digest: None,
        })
    }

    /// Host to talk the API to (`registry-1.docker.io` for Docker Hub).
    pub fn api_host(&self) -> &str {
        api_host(&self.registry)
    }

    /// The tag or digest to ask the registry for (digest wins; `latest` when neither is given).
    pub fn reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_string(),
        }
    }

    /// Same repository, another tag (digest dropped).
    pub fn with_tag(&self, tag: &str) -> Result<Reference> {
        validate_tag(tag)?;
        Ok(Reference {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        })
    }

    /// `registry/repository` without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

/// The API host for a registry name.
pub fn api_host(registry: &str) -> &str {
    if registry == DOCKER_HUB {
        DOCKER_HUB_API
    } else {
        registry
    }
}

fn normalise_host(host: &str) -> String {
    match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => DOCKER_HUB.to_string(),
        h => h.to_string(),
    }
}

impl FromStr for Reference {
    type Err = Error;
    fn from_str(input: &str) -> Result<Reference> {
        let bad = |reason: &str| Error::invalid("image reference", input, reason);
        if input.is_empty() {
            return Err(bad("empty"));
        }
        if input.contains("://") {
            return Err(bad("give host/path/name[:tag], without a URL scheme"));
        }
        if let Some(c) = input.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad(&format!("contains the character {c:?}")));
        }
        let (rest, digest) = match input.split_once('@') {
            Some((r, d)) => (r, Some(d.parse::<Digest>()?)),
            None => (input, None),
        };
        // The tag is after the last ':' that comes after the last '/'.
        let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(t) = tag {
            validate_tag(t)?;
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, path))
                if first.contains('.')
                    || first.contains(':')
                    || first == "localhost"
                    || first.starts_with('[')
                    || first.chars().any(|c| c.is_ascii_uppercase()) =>
            {
                validate_host(first)?;
                (normalise_host(first), path.to_string())
            }
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        validate_repository(&repository).map_err(|e| match e {
            Error::Invalid { reason, .. } => bad(&reason),
            e => e,
        })?;
        Ok(Reference {
            registry,
            repository,
            tag: tag.map(str::to_string),
            digest,
        })
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reference({self})")
    }
}

/// `host[:port]`: DNS labels, an IPv4 address, or `[IPv6]`, and an optional port 1-65535.
pub fn validate_host(host: &str) -> Result<()> {
    let bad = |reason: &str| Error::invalid("registry host", host, reason);
    if host.is_empty() {
        return Err(bad("empty"));
    }
    if host.contains("://") {
        return Err(bad("give host[:port] without a scheme"));
    }
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let (v6, after) = rest.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(bad("not an IPv6 address"));
        }
        match after {
            "" => (None, None),
            p if p.starts_with(':') => (None, Some(&p[1..])),
            _ => return Err(bad("junk after ']'")),
        }
    } else {
        match host.rsplit_once(':') {
            Some((n, p)) => (Some(n), Some(p)),
            None => (Some(host), None),
        }
    };
    if let Some(p) = port {
        match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => {}
            _ => return Err(bad(&format!("port {p:?} is not a number from 1 to 65535"))),
        }
    }
    if let Some(n) = name {
        if n.is_empty() || n.len() > 253 {
            return Err(bad("host name must be 1-253 characters"));
        }
        for label in n.split('.') {
            let ok = !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-');
            if !ok {
                return Err(bad(&format!("bad host name label {label:?}")));
            }
        }
    }
    Ok(())
}

/// Is `host` (`name[:port]`) this machine? Credentials to it over plain HTTP stay local.
pub fn is_loopback_host(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

/// Repository path: components of `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*` joined by `/`, ≤255 chars.
pub fn validate_repository(repo: &str) -> Result<()> {
    let bad = |reason: String| Error::invalid("repository name", repo, reason);
    if repo.is_empty() {
        return Err(bad("empty".into()));
    }
    if repo.len() > MAX_NAME {
        return Err(bad(format!("longer than {MAX_NAME} characters")));
    }
    for comp in repo.split('/') {
        validate_component(comp).map_err(|e| bad(e.reason()))?;
    }
    Ok(())
}

/// One path component (also used for container names and namespaces). The error's reason
/// ([`Error::reason`]) says why, for callers that name the value holding it.
pub fn validate_component(comp: &str) -> Result<()> {
    let bad = |reason: String| Error::invalid("path component", comp, reason);
    if comp.is_empty() {
        return Err(bad("empty path component".into()));
    }
    let bytes = comp.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return Err(bad(format!(
            "{comp:?} must start and end with a lowercase letter or digit"
        )));
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if alnum(b) {
            i += 1;
            continue;
        }
        // a separator run: '.', '_', '__', or one or more '-'
        let start = i;
        match b {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < bytes.len() && bytes[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < bytes.len() && bytes[i] == b'-' {
                    i += 1;
                }
            }
            _ => {
                return Err(bad(format!(
                "{comp:?} contains {:?}; only lowercase letters, digits, '.', '_', '__' and '-' are allowed",
                b as char
            )))
            }
        }
        if i >= bytes.len() || !alnum(bytes[i]) {
            return Err(bad(format!(
                "{comp:?} has a bad separator {:?}",
                &comp[start..i.min(comp.len())]
            )));
        }
    }
    Ok(())
}

/// Tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn validate_tag(tag: &str) -> Result<()> {
    let bad = |reason: &str| Error::invalid("tag", tag, reason);
    if tag.is_empty() {
        return Err(bad("empty"));
    }
    if tag.len() > MAX_TAG {
        return Err(bad(&format!("longer than {MAX_TAG} characters")));
    }
    let b = tag.as_bytes();
    if !(b[0].is_ascii_alphanumeric() || b[0] == b'_') {
        return Err(bad("must start with a letter, digit or '_'"));
    }
    if let Some(c) = tag
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Err(bad(&format!(
            "contains {c:?}; only letters, digits, '_', '.' and '-' are allowed"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Reference {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn parses_full_forms() {
        let r = p("quay.rdoproject.org/tripleomastercentos9/openstack-nova-compute:abc_123");
        assert_eq!(r.registry, "quay.rdoproject.org");
        assert_eq!(r.repository, "tripleomastercentos9/openstack-nova-compute");
        assert_eq!(r.tag.as_deref(), Some("abc_123"));
        assert!(r.digest.is_none());

        let r = p("localhost:5000/a/b");
        assert_eq!(r.registry, "localhost:5000");
        assert_eq!(r.reference(), "latest");

        let r = p(
            "127.0.0.1:6000/ns/img:t@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        );
        assert_eq!(r.tag.as_deref(), Some("t"));
        assert!(r.reference().starts_with("sha256:"));
        assert_eq!(
            r.to_string(),
            "127.0.0.1:6000/ns/img:t@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );

        let r = p("[::1]:5000/x:y");
        assert_eq!(r.registry, "[::1]:5000");
    }

    #[test]
    fn docker_hub_normalisation() {
        let r = p("busybox");
        assert_eq!(r.registry, "docker.io");
        assert_eq!(r.repository, "library/busybox");
        assert_eq!(r.api_host(), "registry-1.docker.io");
        let r = p("tripleomaster/openstack-base:current-tripleo");
        assert_eq!(r.repository, "tripleomaster/openstack-base");
        assert_eq!(r.registry, "docker.io");
        let r = p("index.docker.io/library/alpine:3");
        assert_eq!(r.registry, "docker.io");
        let r = p("docker.io/alpine");
        assert_eq!(r.repository, "library/alpine");
    }

    #[test]
    fn rejects_bad_input_clearly() {
        let cases = [
            ("", "empty"),
            ("https://quay.io/a/b", "scheme"),
            ("quay.io/A/b", "lowercase"),
            ("quay.io/a//b", "empty path component"),
            ("quay.io/a/b:", "tag"),
            ("quay.io/a/b:-x", "must start"),
            ("quay.io/a/b:x$y", "contains"),
            ("quay.io/a b", "character"),
            ("quay.io:99999/a", "port"),
            ("quay.io:/a", "port"),
            ("quay.io/a/b@sha256:abc", "digest"),
            ("quay.io/../etc", "must start and end"),
            ("quay.io/a/b-", "must start and end"),
            ("quay.io/a/b._c", "bad separator"),
            ("-bad.host/a", "label"),
        ];
        for (input, needle) in cases {
            let err = input.parse::<Reference>().unwrap_err().to_string();
            assert!(err.contains(needle), "{input:?}: {err}");
        }
        let long_tag = format!("quay.io/a/b:{}", "x".repeat(129));
        assert!(long_tag.parse::<Reference>().is_err());
        let long_name = format!("quay.io/{}", "a".repeat(256));
        assert!(long_name.parse::<Reference>().is_err());
    }

    #[test]
    fn separators() {
        assert!(validate_component("a__b").is_ok());
        assert!(validate_component("a---b").is_ok());
        assert!(validate_component("a.b_c-d").is_ok());
        assert!(validate_component("a___b").is_err());
        assert!(validate_component("a..b").is_err());
        assert!(validate_component("a.-b").is_err());
    }

    #[test]
    fn host_validation() {
        for ok in ["quay.io", "localhost:5000", "127.0.0.1:1", "[::1]", "a-b.c"] {
            assert!(validate_host(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a:b", "a:0", "a_b.com", "http://x", "[zz]:1", "x:65536"] {
            assert!(validate_host(bad).is_err(), "{bad}");
        }
    }
}

/// A validated name, parsed once where input enters and carried typed after: a value of such a type
/// is valid by construction. It reads as `&str` (deref, `Display`, comparisons with strings) for code
/// that only formats or compares it. `$check` validates the input.
macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == other.0
            }
        }

        impl From<$name> for String {
            fn from(n: $name) -> String {
                n.0
            }
        }
    };
}
pub(crate) use name_type;

name_type!(
    /// An image tag (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`): labels, `push_hash`.
    Tag
);

impl Tag {
    /// A tag, or an error naming `what` (`named_label`, `push_hash`…).
    pub fn parse(what: &str, s: &str) -> Result<Tag> {
        validate_tag(s).map_err(|e| Error::Config(format!("{what}: {e}")))?;
        Ok(Tag(s.to_string()))
    }
}

name_type!(
    /// A release (or distribution) name: letters, digits, `.`, `_` and `-`; it names list files,
    /// report files and the local store's folders.
    ReleaseName
);

impl ReleaseName {
    /// A release name, or an error naming `what` (`release`, `distro_name`…).
    pub fn parse(what: &str, s: &str) -> Result<ReleaseName> {
        let ok = !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !ok {
            return Err(Error::invalid(
                "value",
                s,
                format!("{what}: only letters, digits, '.', '_' and '-'"),
            ));
        }
        Ok(ReleaseName(s.to_string()))
    }
}

name_type!(
    /// A repository path on a registry (`namespace/openstack-nova-api`), valid by the distribution
    /// grammar.
    RepoPath
);

impl RepoPath {
    pub fn parse(s: &str) -> Result<RepoPath> {
        validate_repository(s)?;
        Ok(RepoPath(s.to_string()))
    }

    /// `<namespace>/<prefix>-<name>` from parts each already valid as a path component (a
    /// namespace, a container name prefix, a container name), so the whole is valid too.
    pub fn of_container(namespace: &str, prefix: &str, name: &str) -> RepoPath {
        RepoPath(format!("{namespace}/{prefix}-{name}"))
    }
}

#[cfg(test)]
mod name_tests {
    use super::*;

    #[test]
    fn names_are_valid_by_construction_and_read_as_str() {
        let t = Tag::parse("named_label", "current-tripleo").unwrap();
        assert_eq!(t, "current-tripleo");
        assert_eq!(format!("{t}_x"), "current-tripleo_x");
        assert!(t.starts_with("current"));
        let e = Tag::parse("named_label", "bad tag").unwrap_err().to_string();
        assert!(e.starts_with("named_label: ") && e.contains("bad tag"), "{e}");
        assert!(ReleaseName::parse("release", "master").is_ok());
        let e = ReleaseName::parse("release", "../x").unwrap_err().to_string();
        assert!(e.contains("release: only letters"), "{e}");
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"current-tripleo\"");
        let r = RepoPath::of_container("tripleomaster", "openstack", "nova-api");
        assert_eq!(r, "tripleomaster/openstack-nova-api");
        assert!(RepoPath::parse(&r).is_ok() && RepoPath::parse("Bad//x").is_err());
    }
}
