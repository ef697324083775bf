//! Typed problems: what went wrong in a run, where (container, registry, tag), in which phase, and of
//! which kind. The engine records these instead of bare strings, so that faces can group them by cause
//! ("127.0.0.1:5001 unreachable: 49 images") and machines can filter them; each keeps the one-line
//! text the report's `errors` list has always carried. A verification's problem also says what the
//! read-back found ([`Reason`]: missing tag, wrong digest, …), typed, not only in its text.
//!
//! [`group`] makes one group per root cause: a registry that cannot be reached, refuses the
//! credentials or fails TLS is one cause whatever each request met; a full disk is one cause
//! whichever file met it. What followed from a cause (steps not attempted, what could not be read
//! back there, the images not verified on that target) is folded into it ("so 20 images were not
//! verified there"), and [`todo()`] says what to do (the password's variable named, the store's root
//! when its disk is full).

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
    /// The run's outcome for one image on one target: not verified there (kind `verification`),
    /// a consequence of the causes met there, folded into them.
    NotVerified,
    /// Not one of the images exists at the source (kind `not_found`): the namespace or the hash is
    /// likely wrong.
    NoneFound,
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
/// paths, digests, the image's own name and tag) are taken out; with what followed from it folded in
/// (steps not attempted, images not verified there) and what to do about it.
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
    /// The containers affected, by the cause or what followed from it, in the order met (empty:
    /// the problem concerns the run).
    pub containers: Vec<String>,
    /// How many problems the group holds (its consequences included).
    pub count: usize,
    /// The images not verified on some target because of this cause (the run's outcome, folded in).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_verified: Vec<String>,
    /// The targets those images were not verified on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_verified_on: Vec<String>,
    /// One whole line of the group, when its cause had per-image parts taken out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub example: Option<String>,
    /// What to do about it (see [`todo()`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub todo: Option<String>,
}

/// `1 image`, `20 images`.
pub fn images(n: usize) -> String {
    format!("{n} image{}", if n == 1 { "" } else { "s" })
}

impl ProblemGroup {
    /// The cause in one line: `registry: cause`, and the images it concerns when no consequence
    /// line names them (`(49 images: a, b, c, d and 45 more)`).
    pub fn headline(&self) -> String {
        let mut s = String::new();
        if let Some(r) = &self.registry {
            if !names_registry(&self.cause, r) {
                s.push_str(r);
                s.push_str(": ");
            }
        }
        s.push_str(&self.cause);
        if self.consequence().is_none() {
            match self.containers.len() {
                0 => {}
                1 => s.push_str(&format!(" ({})", self.containers[0])),
                n => s.push_str(&format!(" ({n} images: {})", compact(&self.containers, 4))),
            }
        }
        s
    }

    /// What followed from the cause, in words (`20 images were not verified there: a, b, c, d and
    /// 16 more`), when something did.
    pub fn consequence(&self) -> Option<String> {
        let n = self.not_verified.len();
        if n > 0 {
            let were = if n == 1 { "was" } else { "were" };
            let place = match (self.not_verified_on.as_slice(), &self.registry) {
                ([one], Some(r)) if one == r => "there".to_string(),
                ([one], _) => format!("on {one}"),
                (all, _) => format!("on {} targets", all.len()),
            };
            let names = compact(&self.not_verified, 4);
            return Some(format!("{} {were} not verified {place}: {names}", images(n)));
        }
        let n = self.containers.len();
        if self.phase == Phase::LocalStore && n > 0 {
            let were = if n == 1 { "was" } else { "were" };
            let names = compact(&self.containers, 4);
            return Some(format!("{} {were} not kept locally: {names}", images(n)));
        }
        None
    }

    /// The group for people, one line first then indented ones (`  so …`, `  e.g. …`,
    /// `  to do: …`).
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![self.headline()];
        if let Some(c) = self.consequence() {
            out.push(format!("  so {c}"));
        }
        if let Some(e) = &self.example {
            out.push(format!("  e.g. {e}"));
        }
        if let Some(t) = &self.todo {
            out.push(format!("  to do: {t}"));
        }
        out
    }

    /// The group in one line (for logs): its lines joined by `; `.
    pub fn summary(&self) -> String {
        let lines: Vec<String> = self.lines().iter().map(|l| l.trim().to_string()).collect();
        lines.join("; ")
    }
}

/// Does `text` name the registry `r` (as a word: `r: …`, `at r/ns`), so that a line need not?
fn names_registry(text: &str, r: &str) -> bool {
    text.match_indices(r).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + r.len()..].chars().next();
        before.is_none_or(|c| c == ' ' || c == '(')
            && after.is_none_or(|c| matches!(c, ' ' | '/' | ':' | ',' | ')'))
    })
}

/// `a, b, c, d and 46 more`.
pub fn compact(names: &[String], show: usize) -> String {
    if names.len() <= show + 1 {
        return names.join(", ");
    }
    format!("{} and {} more", names[..show].join(", "), names.len() - show)
}

/// The cause of a problem: its message without what is particular to one image. A local file
/// system error is its OS error, where it happened named by the phase (`local store: No space left
/// on device (os error 28)`): one full disk is one cause, whichever file met it.
pub fn cause(p: &Problem) -> String {
    if let Some(os) = os_error(p) {
        return format!("{}: {os}", place_of(p.phase));
    }
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

/// The OS error ending a local file system problem's message (`No space left on device (os error
/// 28)`).
fn os_error(p: &Problem) -> Option<&str> {
    if !matches!(p.kind, Kind::Io | Kind::Other) || p.registry.is_some() {
        return None;
    }
    let tail = p.message.rsplit(": ").next()?;
    (tail.contains("(os error ") && tail.ends_with(')')).then_some(tail)
}

/// Where a phase writes on the local file system, in words.
fn place_of(phase: Phase) -> String {
    match phase {
        Phase::LocalStore => "local store".into(),
        Phase::ListFiles => "list files".into(),
        Phase::Reports => "report files".into(),
        other => other.to_string().replace('_', " "),
    }
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

/// Kinds that concern a whole registry whichever request met them: a registry that cannot be
/// reached, refuses the credentials or fails the TLS handshake is one cause, in whichever phase,
/// however each request found out.
pub fn registry_wide(kind: Kind) -> bool {
    matches!(kind, Kind::Unreachable | Kind::Auth | Kind::Tls)
}

/// Does `p` belong to the (cause) group `g`?
pub fn same_group(p: &Problem, g: &ProblemGroup) -> bool {
    let wide = registry_wide(p.kind) && p.registry.is_some();
    p.kind == g.kind && p.registry == g.registry && (wide || (p.reason == g.reason && cause(p) == g.cause))
}

/// Is `p` what followed from a cause rather than a cause: a step not attempted, an image not
/// verified on a target (the run's outcome), or what could not be found or read back on a registry
/// that has a registry-wide cause (`down`).
fn follows(p: &Problem, down: &[&str]) -> bool {
    if p.kind == Kind::NotAttempted || p.reason == Some(Reason::NotVerified) {
        return true;
    }
    let on_down = p.registry.as_deref().is_some_and(|r| down.contains(&r));
    let absent = matches!(
        p.reason,
        None | Some(Reason::Unreadable | Reason::MissingTag | Reason::MissingChild | Reason::MissingBlob)
    );
    on_down && p.kind == Kind::Verification && absent
}

/// Group problems by cause, then fold what followed from each cause into it: causes first, biggest
/// first; what followed from no cause found (steps not attempted, images not verified) last, in
/// groups of its own.
pub fn group(problems: &[Problem]) -> Vec<ProblemGroup> {
    let mut down: Vec<&str> = Vec::new();
    for p in problems.iter().filter(|p| registry_wide(p.kind)) {
        if let Some(r) = p.registry.as_deref().filter(|r| !down.contains(r)) {
            down.push(r);
        }
    }
    let (consequences, causes): (Vec<&Problem>, Vec<&Problem>) =
        problems.iter().partition(|p| follows(p, &down));
    let mut groups: Vec<ProblemGroup> = Vec::new();
    for p in causes {
        match groups.iter_mut().find(|g| same_group(p, g)) {
            Some(g) => add(g, p),
            None => groups.push(new_group(p)),
        }
    }
    // Where each consequence belongs: the registry-wide cause on its registry, else a cause on its
    // registry that concerns its image, else any cause that concerns its image.
    let roots = groups.len();
    for p in consequences {
        let on_registry = |g: &ProblemGroup| p.registry.is_some() && g.registry == p.registry;
        let has_image = |g: &ProblemGroup| p.container.as_ref().is_some_and(|c| g.containers.contains(c));
        let causes = &groups[..roots];
        let home = causes
            .iter()
            .position(|g| on_registry(g) && registry_wide(g.kind))
            .or_else(|| causes.iter().position(|g| on_registry(g) && has_image(g)))
            .or_else(|| causes.iter().position(has_image));
        match home {
            Some(i) => fold(&mut groups[i], p),
            None => match groups[roots..].iter_mut().find(|g| same_group(p, g)) {
                Some(g) => add(g, p),
                None => groups.push(new_group(p)),
            },
        }
    }
    let mut rest = groups.split_off(roots);
    groups.sort_by_key(|g| std::cmp::Reverse(g.containers.len().max(1)));
    rest.sort_by_key(|g| std::cmp::Reverse(g.containers.len().max(1)));
    groups.append(&mut rest);
    groups
}

fn new_group(p: &Problem) -> ProblemGroup {
    let mut g = ProblemGroup {
        phase: p.phase,
        kind: p.kind,
        reason: p.reason,
        registry: p.registry.clone(),
        cause: cause(p),
        containers: p.container.iter().cloned().collect(),
        count: 1,
        not_verified: vec![],
        not_verified_on: vec![],
        example: None,
        todo: None,
    };
    // A cause said with per-image parts taken out gets its first whole line as an example.
    if g.cause.contains('…') && !registry_wide(g.kind) {
        g.example = Some(p.text.clone());
    }
    g
}

/// Another problem of the group's cause.
fn add(g: &mut ProblemGroup, p: &Problem) {
    g.count += 1;
    if let Some(c) = &p.container {
        if !g.containers.contains(c) {
            g.containers.push(c.clone());
        }
    }
}

/// A consequence of the group's cause.
fn fold(g: &mut ProblemGroup, p: &Problem) {
    g.count += 1;
    let Some(c) = &p.container else { return };
    if !g.containers.contains(c) {
        g.containers.push(c.clone());
    }
    if p.reason == Some(Reason::NotVerified) {
        if !g.not_verified.contains(c) {
            g.not_verified.push(c.clone());
        }
        if let Some(r) = p.registry.as_ref().filter(|r| !g.not_verified_on.contains(r)) {
            g.not_verified_on.push(r.clone());
        }
    }
}

/// What a report knows around its problems, to say what to do about them.
pub struct Setting<'a> {
    /// The run's action (`promote`, `verify`, …).
    pub action: &'a str,
    pub registries: &'a [super::RegistryStats],
    /// The local store's root, when one was used.
    pub local_root: Option<&'a str>,
    /// How many images this run kept locally.
    pub local_kept: usize,
}

/// What to do about a group's cause, when the cause does not already say it: the password's
/// variable named when credentials are refused, the store's root when its disk is full, the
/// namespace and hash when nothing was found.
pub fn todo(g: &ProblemGroup, s: &Setting) -> Option<String> {
    let reg = g.registry.as_deref().unwrap_or("the registry");
    let stats = s
        .registries
        .iter()
        .find(|r| Some(r.name.as_str()) == g.registry.as_deref());
    let source = stats.is_some_and(|r| r.role == "source");
    let says = |words: &[&str]| words.iter().any(|w| g.cause.contains(w));
    match g.kind {
        Kind::Auth => {
            let may = if source { "pull from" } else { "push to" };
            Some(match stats.and_then(|r| r.password_from.as_deref()) {
                Some(from) => {
                    format!("check the password in {from} and that its user may {may} {reg}, then rerun")
                }
                None => format!(
                    "{reg} wants credentials and none were given: set its username and password_env, then rerun"
                ),
            })
        }
        Kind::Tls if !says(&["ca_file", "tls_verify", "insecure"]) => Some(format!(
            "check {reg}'s TLS settings (ca_file, cert_dir, tls_verify), then rerun"
        )),
        Kind::Unreachable if !source && s.local_kept > 0 => Some(format!(
            "rerun once {reg} answers: the {} kept locally are read from the local store, not from the source",
            images(s.local_kept)
        )),
        // Not a registry (Zuul, DLRN, a list's server): its address is in the cause.
        Kind::Unreachable if g.registry.is_none() => Some("rerun once it answers".into()),
        Kind::Unreachable => Some(format!("rerun once {reg} answers")),
        Kind::Busy if says(&["rate limit"]) => Some(match stats.and_then(|r| r.password_from.as_deref()) {
            Some(from) => format!(
                "rerun once {reg}'s rate limit has reset (the account in {from} has used its share), or use an account with a higher limit"
            ),
            None => format!(
                "rerun once {reg}'s rate limit has reset, or give credentials for it (username and password_env): anonymous requests get the lowest limit"
            ),
        }),
        Kind::Busy => Some(format!("rerun later, when {reg} is less busy")),
        Kind::Io | Kind::Other if g.cause.contains("No space left") => Some(match s.local_root {
            Some(root) if g.phase == Phase::LocalStore => {
                format!("free space under {root} (or set keep_local: never), then rerun")
            }
            _ => "free space there, then rerun".into(),
        }),
        Kind::NotFound if g.phase == Phase::SourceCheck && g.reason != Some(Reason::NoneFound) => Some(
            "push them to the source under this hash, or take them out of containers_list, then rerun".into(),
        ),
        Kind::Verification if g.reason != Some(Reason::NotVerified) && s.action == "verify" => {
            Some("promote again: it pushes what is missing or wrong and reads it back".into())
        }
        Kind::Verification if g.reason != Some(Reason::NotVerified) && s.action == "promote" => {
            Some("rerun: it pushes what is missing or wrong again and reads it back".into())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting(registries: &[super::super::RegistryStats]) -> Setting<'_> {
        Setting {
            action: "promote",
            registries,
            local_root: Some("/var/lib/store"),
            local_kept: 0,
        }
    }

    fn target_stats(name: &str, password_from: Option<&str>) -> super::super::RegistryStats {
        super::super::RegistryStats {
            name: name.into(),
            host: name.into(),
            role: "target".into(),
            requests: 0,
            retries: 0,
            token_fetches: 0,
            bytes_sent: 0,
            bytes_received: 0,
            password_from: password_from.map(str::to_string),
        }
    }

    /// Credentials refused on a target: however each request met the refusal (a HEAD, a PUT, the
    /// read-back), the lists not built there and the images not verified there are one group, the
    /// cause first, with the password's variable named.
    #[test]
    fn refused_credentials_and_what_followed_are_one_group() {
        let reg = "quay.io";
        let mut problems = Vec::new();
        for (i, c) in ["nova", "neutron", "glance"].iter().enumerate() {
            let how = ["HEAD", "PUT", "POST"][i];
            let msg = format!(
                "{reg}: authentication failed: {how} /v2/ns/openstack-{c}/blobs/uploads/: HTTP 401: refused"
            );
            let text = format!("{c}: {reg}/ns/openstack-{c}: {msg}");
            problems.push(
                Problem::new(Phase::Copy, Kind::Auth, msg, text)
                    .container(c)
                    .registry(reg),
            );
            let unread = format!("verification: {reg}: authentication failed: HTTP 401");
            problems.push(
                Problem::new(Phase::Verify, Kind::Verification, unread.clone(), unread)
                    .container(c)
                    .registry(reg)
                    .reason(Some(Reason::Unreadable)),
            );
            let nb = "not built: its images failed to copy";
            problems.push(
                Problem::new(Phase::Lists, Kind::NotAttempted, nb, nb)
                    .container(c)
                    .registry(reg),
            );
            problems.push(
                Problem::new(Phase::Verify, Kind::Verification, "not verified", "x")
                    .container(c)
                    .registry(reg)
                    .reason(Some(Reason::NotVerified)),
            );
        }
        let mut groups = group(&problems);
        assert_eq!(groups.len(), 1, "{groups:#?}");
        let stats = [target_stats(reg, Some("password_env=QUAYDOTIO_PASSWORD"))];
        groups[0].todo = todo(&groups[0], &setting(&stats));
        let g = &groups[0];
        assert_eq!((g.kind, g.count, g.containers.len()), (Kind::Auth, 12, 3));
        assert_eq!(
            g.lines(),
            [
                "quay.io: authentication failed: …: HTTP 401: refused",
                "  so 3 images were not verified there: nova, neutron, glance",
                "  to do: check the password in password_env=QUAYDOTIO_PASSWORD and that its user may \
                 push to quay.io, then rerun",
            ]
        );
        // Anonymous: it says that none were given.
        let anon = [target_stats(reg, None)];
        assert!(todo(g, &setting(&anon)).unwrap().contains("none were given"));
        // On a registry with no registry-wide cause, a finding of the read-back is its own cause.
        let other: Vec<Problem> = problems
            .iter()
            .filter(|p| p.kind == Kind::Verification)
            .cloned()
            .collect();
        let alone = group(&other);
        assert_eq!(alone.len(), 1, "{alone:#?}");
        assert_eq!(alone[0].reason, Some(Reason::Unreadable));
        assert_eq!(alone[0].not_verified, ["nova", "neutron", "glance"]);
    }

    /// A full disk while keeping local copies: one cause whichever file met it (blobs, the index),
    /// the images not kept named, and where to free space.
    #[test]
    fn a_full_disk_is_one_cause() {
        let problems: Vec<Problem> = (0..20)
            .map(|i| {
                let file = match i % 3 {
                    0 => format!("/s/master/blobs/sha256/.tmp-1-{i}-{}", "a".repeat(24)),
                    1 => format!("/s/master/.tmp-1-{i}-index.json"),
                    _ => format!("/s/master/blobs/sha256/{}", "b".repeat(64)),
                };
                let msg = format!(
                    "blob sha256:{}: {file}: No space left on device (os error 28)",
                    "c".repeat(64)
                );
                let c = format!("svc-{i:02}");
                let text = format!("keeping a local copy of src/ns/openstack-{c}:fh: {msg}");
                Problem::new(Phase::LocalStore, Kind::Io, msg, text).container(&c)
            })
            .collect();
        let mut groups = group(&problems);
        assert_eq!(groups.len(), 1, "{groups:#?}");
        groups[0].todo = todo(&groups[0], &setting(&[]));
        assert_eq!(
            groups[0].lines(),
            [
                "local store: No space left on device (os error 28)",
                "  so 20 images were not kept locally: svc-00, svc-01, svc-02, svc-03 and 16 more",
                "  to do: free space under /var/lib/store (or set keep_local: never), then rerun",
            ]
        );
    }

    /// Images not verified with no cause met for them (nothing else failed) stay a group of their
    /// own, after the causes.
    #[test]
    fn an_outcome_without_a_cause_comes_last() {
        let outcome = |c: &str| {
            Problem::new(
                Phase::Verify,
                Kind::Verification,
                "not verified",
                format!("{c}: not verified on t"),
            )
            .container(c)
            .registry("t")
            .reason(Some(Reason::NotVerified))
        };
        let quay = "creating Quay repositories: HTTP 403";
        let problems = vec![
            outcome("a"),
            outcome("b"),
            Problem::new(Phase::Repositories, Kind::Http, quay, quay).registry("q"),
        ];
        let groups = group(&problems);
        let got: Vec<String> = groups.iter().map(ProblemGroup::headline).collect();
        assert_eq!(
            got,
            [
                "q: creating Quay repositories: HTTP 403",
                "t: not verified (2 images: a, b)"
            ]
        );
        assert_eq!(groups[1].consequence(), None);
    }

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
    fn a_rate_limit_is_one_group_and_the_advice_is_to_wait_or_log_in() {
        let reg = "registry-1.docker.io";
        let problems: Vec<Problem> = ["nova", "neutron", "glance"]
            .iter()
            .map(|c| {
                let e = Error::Busy {
                    registry: reg.into(),
                    detail: format!(
                        "manifest tripleo/openstack-{c}:fh1: HTTP 429 Too Many Requests: rate limit \
                         reached (0 pulls left in its 6 h window): You have reached your pull rate \
                         limit. (after 5 attempts)"
                    ),
                    retry_after: None,
                };
                Problem::from_error(Phase::SourceCheck, c, &e)
                    .container(c)
                    .registry(reg)
            })
            .collect();
        let groups = group(&problems);
        assert_eq!(groups.len(), 1, "{groups:#?}");
        let g = &groups[0];
        assert_eq!((g.kind, g.count), (Kind::Busy, 3));
        let mut source = target_stats(reg, None);
        source.role = "source".into();
        let anon = todo(g, &setting(std::slice::from_ref(&source))).unwrap();
        assert!(
            anon.contains("rate limit has reset") && anon.contains("give credentials"),
            "{anon}"
        );
        assert!(!anon.contains("less busy") && !anon.contains("answers"), "{anon}");
        source.password_from = Some("password_env=DOCKER_PASSWORD".into());
        let logged_in = todo(g, &setting(&[source])).unwrap();
        assert!(
            logged_in.contains("password_env=DOCKER_PASSWORD") && logged_in.contains("higher limit"),
            "{logged_in}"
        );
        // A registry in trouble (a 503 to the end) is still told to be waited out.
        let busy = Problem::new(Phase::Copy, Kind::Busy, "x: PUT blob: HTTP 503", "x").registry(reg);
        let g = &group(&[busy])[0];
        assert!(todo(g, &setting(&[])).unwrap().contains("less busy"));
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
