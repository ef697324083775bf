//! Typed problems: what went wrong in a run, where (container, registry, tag), in which phase, and of
//! which kind. The engine records these instead of bare strings, so that faces can group them by cause
//! ("127.0.0.1:5001 unreachable: 49 images") and machines can filter them; each keeps the one-line
//! text the report's `errors` list has always carried. A verification's problem also says what the
//! read-back found ([`Reason`]: missing tag, wrong digest, …), typed, not only in its text.

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// The step of a run a problem arose in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Reading options, making clients, opening the local store.
    Setup,
    /// Checking that every container exists at the source.
    SourceCheck,
    /// Finding the per-architecture images a manifest list is built from.
    Architectures,
    /// Creating Quay repositories before pushing.
    Repositories,
    /// Copying images to the targets.
    Copy,
    /// Pushing `<hash>_manifest` lists.
    Lists,
    /// Reading everything back.
    Verify,
    /// Moving the label on targets.
    Label,
    /// Moving the label on the source (last).
    SourceLabel,
    /// Keeping, recording or removing local copies.
    LocalStore,
    /// Writing the promoter's list files.
    ListFiles,
    /// Writing the run's reports.
    Reports,
}

pub use crate::error::Kind;

/// What exactly a problem is, within its kind: so far, what a read-back found (kind
/// `verification`). In JSON as `reason`, snake_case; absent where the kind says it all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The tag is not there.
    MissingTag,
    /// The tag points at another digest.
    WrongDigest,
    /// The manifest list holds other architectures than expected.
    WrongArchitectures,
    /// One image where a manifest list was expected.
    NotAList,
    /// A child manifest of the list is not there (a dangling list).
    MissingChild,
    /// A config or layer blob of the image is not there.
    MissingBlob,
    /// What had to be read back could not be read (the message says why).
    Unreadable,
}

impl std::fmt::Display for Reason {
    /// As in JSON (`missing_tag`, `wrong_digest`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = serde_json::to_value(self).map_err(|_| std::fmt::Error)?;
        f.write_str(v.as_str().unwrap_or_default())
    }
}

impl std::fmt::Display for Phase {
    /// As in JSON (`source_check`, `copy`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = serde_json::to_value(self).map_err(|_| std::fmt::Error)?;
        f.write_str(v.as_str().unwrap_or_default())
    }
}

/// One problem of a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub phase: Phase,
    pub kind: Kind,
    /// What exactly, within the kind (a verification's finding), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// The container (short name) it concerns, when one.
    pub container: Option<String>,
    /// The registry (configured name) it concerns, when one.
    pub registry: Option<String>,
    pub tag: Option<String>,
    /// The cause alone (what the lower layer said).
    pub message: String,
    /// The whole line, as the report's `errors` list carries it.
    pub text: String,
}

impl Problem {
    /// A problem whose line is `text`; narrow it with the builder methods.
    pub fn new(phase: Phase, kind: Kind, message: impl Into<String>, text: impl Into<String>) -> Problem {
        Problem {
            phase,
            kind,
            reason: None,
            container: None,
            registry: None,
            tag: None,
            message: message.into(),
            text: text.into(),
        }
    }

    /// A problem from a library error, its line `context: error`.
    pub fn from_error(phase: Phase, context: &str, e: &Error) -> Problem {
        let message = e.to_string();
        let text = if context.is_empty() {
            message.clone()
        } else {
            format!("{context}: {message}")
        };
        Problem::new(phase, Kind::of(e), message, text)
    }

    pub fn container(mut self, name: &str) -> Problem {
        self.container = Some(name.to_string());
        self
    }

    pub fn registry(mut self, name: &str) -> Problem {
        self.registry = Some(name.to_string());
        self
    }

    pub fn tag(mut self, tag: &str) -> Problem {
        self.tag = Some(tag.to_string());
        self
    }

    pub fn reason(mut self, reason: Option<Reason>) -> Problem {
        self.reason = reason;
        self
    }
}

/// Problems of one cause: one registry, one kind, one message once the per-image parts (repository
/// paths, digests, the image's own name and tag) are taken out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProblemGroup {
    pub phase: Phase,
    pub kind: Kind,
    /// The problems' [`Reason`], when they have one (a group never mixes reasons).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    pub registry: Option<String>,
    /// The shared cause, per-image parts replaced by `…`.
    pub cause: String,
    /// The containers affected, in the order met (empty: the problem concerns the run).
    pub containers: Vec<String>,
    /// How many problems the group holds.
    pub count: usize,
}

impl ProblemGroup {
    /// One line for people: `registry: cause (kind): N images: a, b, c and 46 more`.
    pub fn headline(&self) -> String {
        let mut s = String::new();
        if let Some(r) = &self.registry {
            if !self.cause.starts_with(r.as_str()) {
                s.push_str(r);
                s.push_str(": ");
            }
        }
        s.push_str(&self.cause);
        match self.containers.len() {
            0 => {}
            1 => s.push_str(&format!(" ({})", self.containers[0])),
            n => s.push_str(&format!(" ({n} images: {})", compact(&self.containers, 4))),
        }
        s
    }
}

/// `a, b, c, d and 46 more`.
pub fn compact(names: &[String], show: usize) -> String {
    if names.len() <= show + 1 {
        return names.join(", ");
    }
    format!("{} and {} more", names[..show].join(", "), names.len() - show)
}

/// The cause of a problem: its message without what is particular to one image.
pub fn cause(p: &Problem) -> String {
    let mut words: Vec<String> = Vec::new();
    let mut it = p.message.split(' ').peekable();
    while let Some(w) = it.next() {
        let method = matches!(w, "GET" | "HEAD" | "PUT" | "POST" | "PATCH" | "DELETE");
        if method && it.peek().is_some_and(|n| n.starts_with('/')) {
            // `PUT /v2/ns/repo/blobs/uploads/…:` names one request of one image.
            let path = it.next().unwrap_or_default();
            words.push(if path.ends_with(':') { "…:" } else { "…" }.to_string());
            continue;
        }
        words.push(generic(w, p));
    }
    let mut out = words.join(" ");
    while out.contains("…: …:") {
        out = out.replace("…: …:", "…:");
    }
    out
}

/// One word of a message, with digests, the container's repository, name and tag replaced.
fn generic(w: &str, p: &Problem) -> String {
    if let Some(i) = w.find("sha256:") {
        let end = w[i + 7..]
            .find(|c: char| !c.is_ascii_hexdigit())
            .map_or(w.len(), |e| i + 7 + e);
        // A digest (or a prefix long enough to be one); a malformed one stays as it is.
        if end - (i + 7) >= 12 {
            return format!("{}sha256:…{}", &w[..i], &w[end..]);
        }
    }
    // `repo/openstack-nova:tag`, `registry/ns/openstack-nova:`: a reference to one image. A tag alone
    // (`with tag <hash>:`) is the run's, not one image's: kept.
    let names_container = p.container.as_deref().is_some_and(|c| w.contains(c));
    let names_tag = p.tag.as_deref().is_some_and(|t| w.contains(t));
    if (names_container && (w.contains('/') || w.contains(':'))) || (names_tag && w.contains('/')) {
        let tail = if w.ends_with(':') { ":" } else { "" };
        return format!("…{tail}");
    }
    w.to_string()
}

/// Does `p` belong to group `g`?
pub fn same_group(p: &Problem, g: &ProblemGroup) -> bool {
    // A registry that cannot be reached is one cause, however each request found out (refused,
    // reset, given up after refusals) and in whichever phase.
    let unreachable = p.kind == Kind::Unreachable && g.kind == Kind::Unreachable && p.registry.is_some();
    p.kind == g.kind
        && p.registry == g.registry
        && (unreachable || (p.reason == g.reason && cause(p) == g.cause))
}

/// Group problems by cause: causes first, biggest first, then what was not attempted because of them
/// (ties: in the order met).
pub fn group(problems: &[Problem]) -> Vec<ProblemGroup> {
    let mut groups: Vec<ProblemGroup> = Vec::new();
    for p in problems {
        let cause = cause(p);
        // What could not be done or read back on a registry that cannot be reached follows from
        // that: counted with it, not a cause of its own.
        let consequence = matches!(p.kind, Kind::NotAttempted | Kind::Verification) && p.registry.is_some();
        let down = |g: &&mut ProblemGroup| g.kind == Kind::Unreachable && g.registry == p.registry;
        let home = match groups.iter_mut().position(|g| same_group(p, g)) {
            Some(i) => Some(i),
            None if consequence => groups.iter_mut().position(|g| down(&g)),
            None => None,
        };
        match home.map(|i| &mut groups[i]) {
            Some(g) => {
                g.count += 1;
                if let Some(c) = &p.container {
                    if !g.containers.contains(c) {
                        g.containers.push(c.clone());
                    }
                }
            }
            None => groups.push(ProblemGroup {
                phase: p.phase,
                kind: p.kind,
                reason: p.reason,
                registry: p.registry.clone(),
                cause,
                containers: p.container.iter().cloned().collect(),
                count: 1,
            }),
        }
    }
    groups.sort_by_key(|g| {
        (
            g.kind == Kind::NotAttempted,
            std::cmp::Reverse(g.containers.len().max(1)),
        )
    });
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_the_error() {
        let e = Error::Network {
            registry: "127.0.0.1:5001".into(),
            detail: "connection refused".into(),
        };
        let p = Problem::from_error(Phase::Copy, "nova: 127.0.0.1:5001/x", &e)
            .container("nova")
            .registry("target");
        assert_eq!(p.kind, Kind::Unreachable);
        assert_eq!(
            p.text,
            "nova: 127.0.0.1:5001/x: 127.0.0.1:5001: connection refused"
        );
        assert_eq!(p.message, "127.0.0.1:5001: connection refused");
        assert_eq!(p.container.as_deref(), Some("nova"));
        let auth = Error::Auth {
            registry: "r".into(),
            detail: "401".into(),
        };
        assert_eq!(Kind::of(&auth), Kind::Auth);
        assert_eq!(Kind::of(&Error::Config("x".into())), Kind::Invalid);
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["phase"], "copy");
        assert_eq!(json["kind"], "unreachable");
        // Logs spell them as JSON does.
        assert_eq!(
            (Phase::SourceCheck.to_string(), Kind::NotAttempted.to_string()),
            ("source_check".into(), "not_attempted".into())
        );
    }

    fn verify_problem(container: &str, reason: Reason, message: String) -> Problem {
        let text = format!("{container}: r:fh1: verification: {message}");
        Problem::new(Phase::Verify, Kind::Verification, message, text)
            .container(container)
            .registry("127.0.0.1:5000")
            .tag("fh1")
            .reason(Some(reason))
    }

    /// Verification problems carry why; every image with the same finding is one line, a finding
    /// of another reason another line, and the reason is in the JSON of both (absent: not written).
    #[test]
    fn a_verification_reason_is_typed_and_one_line_per_cause() {
        let mut problems = Vec::new();
        for (i, c) in ["nova", "neutron", "glance"].iter().enumerate() {
            let repo = format!("127.0.0.1:5000/ns/openstack-{c}:fh1");
            let got = format!("sha256:{}", i.to_string().repeat(64));
            let wrong = format!("{repo} points at {got}, expected sha256:{}", "d".repeat(64));
            problems.push(verify_problem(c, Reason::WrongDigest, wrong));
            problems.push(verify_problem(
                c,
                Reason::MissingTag,
                format!("{repo} is missing"),
            ));
        }
        let groups = group(&problems);
        let got: Vec<(Option<Reason>, usize, &str)> = groups
            .iter()
            .map(|g| (g.reason, g.containers.len(), g.cause.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    Some(Reason::WrongDigest),
                    3,
                    "… points at sha256:…, expected sha256:…"
                ),
                (Some(Reason::MissingTag), 3, "… is missing"),
            ]
        );
        let json = serde_json::to_value(&problems[0]).unwrap();
        assert_eq!(
            (json["kind"].as_str(), json["reason"].as_str()),
            (Some("verification"), Some("wrong_digest"))
        );
        assert_eq!(serde_json::to_value(&groups[1]).unwrap()["reason"], "missing_tag");
        assert_eq!(Reason::MissingChild.to_string(), "missing_child");
        let plain = serde_json::to_value(Problem::new(Phase::Copy, Kind::Other, "x", "x")).unwrap();
        assert!(plain.get("reason").is_none(), "{plain}");
        let back: Problem = serde_json::from_value(json).unwrap();
        assert_eq!(back, problems[0]);
    }

    fn copy_problem(container: &str, method: &str, digest: char) -> Problem {
        let path = format!(
            "/v2/ns/openstack-{container}/blobs/sha256:{}",
            digest.to_string().repeat(64)
        );
        let message =
            format!("127.0.0.1:5001: {method} {path}: cannot connect after 5 attempts: connection refused");
        let text = format!("{container}: 127.0.0.1:5001/ns/openstack-{container}: {message}");
        Problem::new(Phase::Copy, Kind::Unreachable, message, text)
            .container(container)
            .registry("127.0.0.1:5001")
            .tag("fh1")
    }

    #[test]
    fn one_cause_is_one_group() {
        let mut problems: Vec<Problem> = (0..49)
            .map(|i| {
                copy_problem(
                    &format!("image-{i}"),
                    if i % 2 == 0 { "PUT" } else { "HEAD" },
                    'a',
                )
            })
            .collect();
        // The same image twice (two tags) is one image in the group.
        problems.push(copy_problem("image-0", "PUT", 'b'));
        let verify = format!(
            "127.0.0.1:5000/ns/openstack-nova:fh1 points at sha256:{}, expected sha256:{}",
            "c".repeat(64),
            "d".repeat(64)
        );
        problems.push(
            Problem::new(Phase::Verify, Kind::Verification, verify.clone(), verify)
                .container("nova")
                .registry("127.0.0.1:5000")
                .tag("fh1"),
        );
        let run = "not verified on every target: a, b";
        problems.push(Problem::new(Phase::Verify, Kind::Verification, run, run));
        let groups = group(&problems);
        assert_eq!(groups.len(), 3, "{groups:#?}");
        let down = &groups[0];
        assert_eq!(down.count, 50);
        assert_eq!(down.containers.len(), 49);
        assert_eq!(
            down.cause,
            "127.0.0.1:5001: …: cannot connect after 5 attempts: connection refused"
        );
        assert_eq!(
            down.headline(),
            "127.0.0.1:5001: …: cannot connect after 5 attempts: connection refused \
             (49 images: image-0, image-1, image-2, image-3 and 45 more)"
        );
        assert_eq!(groups[1].cause, "… points at sha256:…, expected sha256:…");
        assert_eq!(
            groups[1].headline(),
            "127.0.0.1:5000: … points at sha256:…, expected sha256:… (nova)"
        );
        assert_eq!(groups[2].headline(), run);
        // The same registry down, found out another way, and what could not be done there: one.
        let mut more = problems.clone();
        let given_up = "127.0.0.1:5001: unreachable: 8 connections in a row were refused";
        more.push(
            Problem::new(Phase::Copy, Kind::Unreachable, given_up, given_up)
                .container("late")
                .registry("127.0.0.1:5001"),
        );
        let not_built = "not built: its images failed to copy";
        more.push(
            Problem::new(Phase::Lists, Kind::NotAttempted, not_built, not_built)
                .container("image-3")
                .registry("127.0.0.1:5001"),
        );
        let merged = group(&more);
        assert_eq!(merged.len(), 3, "{merged:#?}");
        assert_eq!((merged[0].count, merged[0].containers.len()), (52, 50));
        // A malformed digest is the cause itself: kept.
        let bad = Problem::new(Phase::Copy, Kind::Invalid, "invalid digest \"sha256:xyz\"", "x");
        assert_eq!(cause(&bad), "invalid digest \"sha256:xyz\"");
        // The run's tag alone is not a per-image part.
        let missing = Problem::new(
            Phase::SourceCheck,
            Kind::NotFound,
            "missing with tag fh1: a, b",
            "x",
        )
        .tag("fh1");
        assert_eq!(cause(&missing), "missing with tag fh1: a, b");
    }
}
