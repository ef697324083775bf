//! The latest successful container build job in Zuul, as copy-quay found it: which containers it
//! built and under which hash. Used when running alone (no promoter to pass a list and a hash).
//! The job's logs come in two shapes over time: `podman images` tables in `containers-*.log`, and
//! the older Kolla-era console (`job-output.txt`) where each push is a task header followed by the
//! registry's `<tag>: digest: … size: …` answer.

use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{Error, Result};
use crate::sources::hash::{shorten, validate_full_hash, HashKind};
use crate::sources::http::{base_url, join, Fetcher};
use crate::sources::list::validate_name;

/// Log files tried in order under a build's `log_url`; a 404 moves on to the next.
pub const LOG_CANDIDATES: [&str; 4] = [
    "logs/containers-successfully-built.log",
    "logs/containers-built.log",
    "ci-framework-data/logs/containers-built.log",
    "job-output.txt",
];

/// The prefix of the image names in the build logs.
pub const DEFAULT_PREFIX: &str = "openstack-";

/// The tag suffix of the x86_64 pushes in `job-output.txt`.
pub const ARCH_SUFFIX: &str = "_x86_64";

const PUSH_HEADER: &str = "Tag w/ arch suffix and push image:";
const DIGEST_MARK: &str = ": digest: sha256:";

/// One build as Zuul's `builds` API reports it (only the fields we use; all optional so that a
/// running build with `result: null` parses).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZuulBuild {
    #[serde(default)]
    pub uuid: Option<String>,
    #[serde(default)]
    pub job_name: Option<String>,
    #[serde(default)]
    pub result: Option<String>,
    #[serde(default)]
    pub log_url: Option<String>,
    #[serde(default)]
    pub start_time: Option<String>,
    #[serde(default)]
    pub end_time: Option<String>,
}

/// The log format of a file in [`LOG_CANDIDATES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// `podman images` table lines.
    PodmanImages,
    /// Kolla-era console output with push task headers and digest lines.
    JobOutput,
}

impl LogFormat {
    pub fn of(file: &str) -> LogFormat {
        if file.ends_with(".txt") {
            LogFormat::JobOutput
        } else {
            LogFormat::PodmanImages
        }
    }
}

/// What a build log says: container names (prefix stripped when asked, in log order, without
/// duplicates) and the one hash they were built with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildLog {
    pub names: Vec<String>,
    pub hash: String,
    pub hash_kind: HashKind,
    /// Lines passed over: `podman images` non-image lines (header, noise, `<none>` tags);
    /// `job-output.txt` digest lines with no push header before them.
    pub skipped_lines: usize,
    /// `job-output.txt`: images whose push header has no digest line after it (not pushed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_pushed: Vec<String>,
}

/// The answer of [`latest_built_containers`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuiltContainers {
    pub job_name: String,
    pub build_uuid: Option<String>,
    pub build_end_time: Option<String>,
    /// The build's log directory.
    pub log_url: String,
    /// The log file the list was read from.
    pub log_file: String,
    pub log_format: LogFormat,
    pub names: Vec<String>,
    pub hash: String,
    pub hash_kind: HashKind,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_pushed: Vec<String>,
}

/// `<zuul_api>builds?job_name=<job>` (the API root gets a trailing `/` if it lacks one).
pub fn builds_url(zuul_api: &str, job_name: &str) -> Result<Url> {
    if job_name.trim().is_empty() || job_name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(Error::invalid(
            "Zuul job name",
            shorten(job_name),
            "expected a job name without blanks",
        ));
    }
    let base = base_url("Zuul API URL", zuul_api)?;
    let mut url = join(&base, "builds")?;
    url.query_pairs_mut().append_pair("job_name", job_name);
    Ok(url)
}

/// Parse Zuul's `builds` answer (a JSON array, newest first).
pub fn parse_builds(source: &str, body: &[u8]) -> Result<Vec<ZuulBuild>> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        Error::invalid(
            "Zuul builds answer",
            source,
            format!("not valid JSON ({e}); expected a JSON array of builds"),
        )
    })?;
    if !v.is_array() {
        let kind = match v {
            serde_json::Value::Object(_) => "an object",
            serde_json::Value::Null => "null",
            _ => "a scalar",
        };
        return Err(Error::invalid(
            "Zuul builds answer",
            source,
            format!("got {kind}; expected a JSON array of builds"),
        ));
    }
    serde_json::from_value(v).map_err(|e| {
        Error::invalid(
            "Zuul builds answer",
            source,
            format!("unexpected build entry ({e}); expected objects with result and log_url"),
        )
    })
}

/// The first (newest) build with `result == "SUCCESS"`, and its log directory URL (ending in `/`).
pub fn latest_success<'a>(source: &str, builds: &'a [ZuulBuild]) -> Result<(&'a ZuulBuild, Url)> {
    let build = builds
        .iter()
        .find(|b| b.result.as_deref() == Some("SUCCESS"))
        .ok_or_else(|| {
            Error::invalid(
                "Zuul builds answer",
                source,
                format!(
                    "no build with result SUCCESS among the {} listed{}",
                    builds.len(),
                    summarize_results(builds)
                ),
            )
        })?;
    let log_url = build.log_url.as_deref().unwrap_or("");
    if log_url.is_empty() {
        return Err(Error::invalid(
            "Zuul builds answer",
            source,
            format!(
                "the latest SUCCESS build {} has no log_url",
                build.uuid.as_deref().unwrap_or("(no uuid)")
            ),
        ));
    }
    let url = base_url("Zuul build log_url", log_url)?;
    Ok((build, url))
}

fn summarize_results(builds: &[ZuulBuild]) -> String {
    if builds.is_empty() {
        return String::new();
    }
    let mut counts: Vec<(String, usize)> = Vec::new();
    for b in builds {
        let r = b.result.clone().unwrap_or_else(|| "null".into());
        match counts.iter_mut().find(|(k, _)| *k == r) {
            Some((_, n)) => *n += 1,
            None => counts.push((r, 1)),
        }
    }
    let parts: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
    format!(" ({})", parts.join(", "))
}

fn strip_prefix_name(name: &str, prefix: Option<&str>) -> String {
    match prefix {
        Some(p) if !p.is_empty() => name.strip_prefix(p).unwrap_or(name).to_string(),
        _ => name.to_string(),
    }
}

/// Keeps the hash common to all lines, or fails naming both lines.
struct HashTracker<'a> {
    source: &'a str,
    first: Option<(String, usize)>,
}

impl HashTracker<'_> {
    fn see(&mut self, hash: &str, line: usize) -> Result<()> {
        match &self.first {
            None => {
                validate_full_hash(hash).map_err(|e| {
                    Error::invalid(
                        "build log",
                        self.source,
                        format!("line {line}: the tag is not a DLRN hash: {e}"),
                    )
                })?;
                self.first = Some((hash.to_string(), line));
                Ok(())
            }
            Some((h, l)) if h != hash => Err(Error::invalid(
                "build log",
                self.source,
                format!(
                    "the lines disagree on the hash: {h} (line {l}) vs {} (line {line})",
                    shorten(hash)
                ),
            )),
            Some(_) => Ok(()),
        }
    }
}

fn push_unique(names: &mut Vec<String>, name: String) {
    if !names.contains(&name) {
        names.push(name);
    }
}

/// Parse `podman images` table lines (`<registry>/<namespace>/<name>  <tag>  <id>  <created>  <size>`):
/// name = last path element of the repository column (with `strip_prefix` removed when it starts
/// with it), tag = the second column, which must be the same DLRN hash on every line (a trailing
/// `_x86_64` is ignored). A header line, blank lines and lines whose first column is not a
/// repository path are skipped; `<none>` tags too. No image line at all is an error.
pub fn parse_podman_images(source: &str, text: &str, strip_prefix: Option<&str>) -> Result<BuildLog> {
    let mut names = Vec::new();
    let mut hashes = HashTracker { source, first: None };
    let mut skipped = 0;
    for (i, line) in text.lines().enumerate() {
        let lineno = i + 1;
        let mut cols = line.split_whitespace();
        let (Some(repo), Some(tag)) = (cols.next(), cols.next()) else {
            if !line.trim().is_empty() {
                skipped += 1;
            }
            continue;
        };
        // A repository column is host/path: at least one '/', no scheme, no odd characters.
        let repo_like = repo.contains('/')
            && !repo.contains("://")
            && repo
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"./-_:".contains(&b));
        if !repo_like {
            skipped += 1;
            continue;
        }
        if tag == "<none>" {
            skipped += 1;
            continue;
        }
        let last = repo.rsplit('/').next().unwrap_or(repo);
        let name = strip_prefix_name(last, strip_prefix);
        validate_name(&name).map_err(|e| {
            Error::invalid(
                "build log",
                source,
                format!(
                    "line {lineno}: bad image name {:?}: {}",
                    shorten(&name),
                    e.reason()
                ),
            )
        })?;
        let hash = tag.strip_suffix(ARCH_SUFFIX).unwrap_or(tag);
        hashes.see(hash, lineno)?;
        push_unique(&mut names, name);
    }
    finish(source, names, hashes, skipped, Vec::new(), "podman images lines")
}

fn finish(
    source: &str,
    names: Vec<String>,
    hashes: HashTracker<'_>,
    skipped: usize,
    not_pushed: Vec<String>,
    expected: &str,
) -> Result<BuildLog> {
    let Some((hash, _)) = hashes.first else {
        return Err(Error::invalid(
            "build log",
            source,
            format!("no line matched; expected {expected}"),
        ));
    };
    if skipped > 0 {
        tracing::debug!(source, skipped, "build log lines skipped");
    }
    let hash_kind = validate_full_hash(&hash)?;
    Ok(BuildLog {
        names,
        hash,
        hash_kind,
        skipped_lines: skipped,
        not_pushed,
    })
}

/// The content of a console line: the part after `<timestamp> | <host> | ` when present.
fn console_content(line: &str) -> &str {
    let mut parts = line.splitn(3, " | ");
    match (parts.next(), parts.next(), parts.next()) {
        (Some(_), Some(_), Some(rest)) => rest,
        _ => line,
    }
}

/// Parse the Kolla-era `job-output.txt`. Each `Tag w/ arch suffix and push image: <repo>` task
/// header is paired with the `<hash>_x86_64: digest: sha256:… size: N` line that follows it before
/// the next header; a header without such a line was not pushed and is left out (reported in
/// `not_pushed`). The hash is the tag without `_x86_64`; all pushes must agree on it.
pub fn parse_job_output(source: &str, text: &str, strip_prefix: Option<&str>) -> Result<BuildLog> {
    let mut names = Vec::new();
    let mut not_pushed: Vec<String> = Vec::new();
    let mut hashes = HashTracker { source, first: None };
    // The open header: (name, line, pushed?).
    let mut current: Option<(String, usize, bool)> = None;
    let mut orphans = 0;
    for (i, line) in text.lines().enumerate() {
        let lineno = i + 1;
        let content = console_content(line);
        if let Some(pos) = content.find(PUSH_HEADER) {
            if let Some((name, _, false)) = current.take() {
                push_unique(&mut not_pushed, name);
            }
            let rest = content[pos + PUSH_HEADER.len()..].trim();
            let repo = rest.trim_end_matches(']').trim();
            let repo = repo.split_whitespace().next().unwrap_or("");
            // Drop a tag or digest if the header carries one.
            let last = repo.rsplit('/').next().unwrap_or(repo);
            let last = last.split(['@', ':']).next().unwrap_or(last);
            let name = strip_prefix_name(last, strip_prefix);
            validate_name(&name).map_err(|e| {
                let reason = e.reason();
                Error::invalid(
                    "build log",
                    source,
                    format!(
                        "line {lineno}: bad image name in push header {:?}: {reason}",
                        shorten(&name)
                    ),
                )
            })?;
            current = Some((name, lineno, false));
            continue;
        }
        let Some(pos) = content.find(DIGEST_MARK) else {
            continue;
        };
        let tag = content[..pos].split_whitespace().last().unwrap_or("");
        let Some(hash) = tag.strip_suffix(ARCH_SUFFIX) else {
            // Another architecture or an untagged push: not ours.
            continue;
        };
        match current.as_mut() {
            Some((name, _, pushed)) => {
                hashes.see(hash, lineno)?;
                if !*pushed {
                    *pushed = true;
                    push_unique(&mut names, name.clone());
                }
            }
            None => orphans += 1,
        }
    }
    if let Some((name, _, false)) = current.take() {
        push_unique(&mut not_pushed, name);
    }
    not_pushed.retain(|n| !names.contains(n));
    if !not_pushed.is_empty() {
        tracing::warn!(source, not_pushed = ?not_pushed, "push headers without a digest line: those images were not pushed");
    }
    finish(
        source,
        names,
        hashes,
        orphans,
        not_pushed,
        "\"Tag w/ arch suffix and push image: <repo>\" task headers each followed by a \
         \"<hash>_x86_64: digest: sha256:… size: N\" line",
    )
}

/// Parse a build log by its file name (see [`LogFormat::of`]).
pub fn parse_build_log(source: &str, file: &str, text: &str, strip_prefix: Option<&str>) -> Result<BuildLog> {
    match LogFormat::of(file) {
        LogFormat::PodmanImages => parse_podman_images(source, text, strip_prefix),
        LogFormat::JobOutput => parse_job_output(source, text, strip_prefix),
    }
}

/// Find the latest SUCCESS build of `job_name` and read its container list and hash, trying
/// [`LOG_CANDIDATES`] in order (404 moves on; any other failure stops).
pub async fn latest_built_containers(
    fetcher: &Fetcher,
    zuul_api: &str,
    job_name: &str,
    strip_prefix: Option<&str>,
) -> Result<BuiltContainers> {
    let url = builds_url(zuul_api, job_name)?;
    let fetched = fetcher.get_json_bytes(&url).await?;
    let builds = parse_builds(&fetched.source, &fetched.body)?;
    let (build, log_dir) = latest_success(&fetched.source, &builds)?;
    tracing::info!(job = job_name, build = ?build.uuid, log_url = %log_dir, "latest successful build");
    let mut tried = Vec::new();
    for file in LOG_CANDIDATES {
        let log_url = join(&log_dir, file)?;
        match fetcher.get(&log_url).await {
            Ok(log) => {
                let text = String::from_utf8_lossy(&log.body);
                let parsed = parse_build_log(&log.source, file, &text, strip_prefix)?;
                tracing::info!(log = %log.source, containers = parsed.names.len(), hash = %parsed.hash, "read the build log");
                return Ok(BuiltContainers {
                    job_name: job_name.to_string(),
                    build_uuid: build.uuid.clone(),
                    build_end_time: build.end_time.clone(),
                    log_url: crate::sources::http::redact(&log_dir),
                    log_file: log.source,
                    log_format: LogFormat::of(file),
                    names: parsed.names,
                    hash: parsed.hash,
                    hash_kind: parsed.hash_kind,
                    not_pushed: parsed.not_pushed,
                });
            }
            Err(e) if e.is_not_found() => {
                tracing::debug!(log = %log_url, "build log not there; trying the next");
                tried.push(file);
            }
            Err(e) => return Err(e),
        }
    }
    Err(Error::NotFound {
        registry: crate::sources::http::redact(&log_dir),
        what: format!("every build log ({})", tried.join(", ")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUILDS: &str = include_str!("../../tests/fixtures/zuul/builds.json");
    const PODMAN: &str = include_str!("../../tests/fixtures/zuul/containers-successfully-built.log");
    const JOB_OUTPUT: &str = include_str!("../../tests/fixtures/zuul/job-output.txt");
    const AGG: &str = "d7c3cd922f91d83aacb5d7555de9d5bc";

    #[test]
    fn builds_fixture_picks_the_first_success() {
        let builds = parse_builds("builds.json", BUILDS.as_bytes()).unwrap();
        assert_eq!(builds.len(), 3);
        let (b, url) = latest_success("builds.json", &builds).unwrap();
        assert_eq!(b.uuid.as_deref(), Some("737b6ed79182c3c8e288b16437d02410"));
        assert!(url.as_str().ends_with("/737b6ed/"));
    }

    #[test]
    fn no_success_build() {
        let j = r#"[{"result":"FAILURE","log_url":"https://l/1/"},{"result":null},{"result":"TIMED_OUT"}]"#;
        let builds = parse_builds("b", j.as_bytes()).unwrap();
        let e = latest_success("zuul/builds", &builds).unwrap_err().to_string();
        assert!(
            e.contains("no build with result SUCCESS") && e.contains("zuul/builds"),
            "{e}"
        );
        assert!(e.contains("1 FAILURE"), "{e}");
        let e = latest_success("b", &[]).unwrap_err().to_string();
        assert!(e.contains("among the 0"), "{e}");
    }

    #[test]
    fn success_without_log_url() {
        let builds = parse_builds("b", br#"[{"result":"SUCCESS","uuid":"u1"}]"#).unwrap();
        let e = latest_success("b", &builds).unwrap_err().to_string();
        assert!(e.contains("no log_url") && e.contains("u1"), "{e}");
        let builds = parse_builds("b", br#"[{"result":"SUCCESS","log_url":"ftp://x/"}]"#).unwrap();
        assert!(latest_success("b", &builds).is_err());
    }

    #[test]
    fn malformed_builds_json() {
        for (body, want) in [
            (&b"[{"[..], "not valid JSON"),
            (b"", "not valid JSON"),
            (b"<html>502</html>", "not valid JSON"),
            (br#"{"message":"tenant not found"}"#, "got an object"),
            (b"null", "got null"),
            (br#"[{"result": 5}]"#, "unexpected build entry"),
            (br#"["x"]"#, "unexpected build entry"),
        ] {
            let e = parse_builds("https://zuul/api/builds", body)
                .unwrap_err()
                .to_string();
            assert!(e.contains(want) && e.contains("https://zuul/api/builds"), "{e}");
        }
    }

    #[test]
    fn url() {
        assert_eq!(
            builds_url("https://review.rdoproject.org/zuul/api/", "periodic-x-master")
                .unwrap()
                .as_str(),
            "https://review.rdoproject.org/zuul/api/builds?job_name=periodic-x-master"
        );
        assert_eq!(
            builds_url("https://z/api", "a&b=c").unwrap().as_str(),
            "https://z/api/builds?job_name=a%26b%3Dc"
        );
        assert!(builds_url("https://z/api", "").is_err());
        assert!(builds_url("https://z/api", "a b").is_err());
    }

    #[test]
    fn podman_fixture() {
        let l = parse_podman_images("built.log", PODMAN, Some(DEFAULT_PREFIX)).unwrap();
        assert_eq!(l.hash, AGG);
        assert_eq!(l.hash_kind, HashKind::Aggregate);
        assert_eq!(l.names.len(), PODMAN.lines().count());
        assert_eq!(l.names[0], "aodh-api");
        assert!(l.names.contains(&"base".to_string()));
        assert!(l.names.contains(&"os".to_string()));
        assert_eq!(l.skipped_lines, 0);
        // Without stripping.
        let l = parse_podman_images("built.log", PODMAN, None).unwrap();
        assert_eq!(l.names[0], "openstack-aodh-api");
    }

    #[test]
    fn podman_header_garbage_and_duplicates() {
        let t = format!(
            "REPOSITORY  TAG  IMAGE ID  CREATED  SIZE\n\
             + podman images\n\
             garbage\n\
             \n\
             quay.rdoproject.org/ns/openstack-base  {AGG}  abc  1 hour ago  1 GB\n\
             quay.rdoproject.org/ns/openstack-base  {AGG}_x86_64  abc  1 hour ago  1 GB\n\
             quay.rdoproject.org/ns/openstack-base  <none>  abc  1 hour ago  1 GB\n\
             localhost/ns/openstack-cron  {AGG}  abd  1 hour ago  1 GB\n"
        );
        let l = parse_podman_images("l", &t, Some("openstack-")).unwrap();
        assert_eq!(l.names, ["base", "cron"]);
        assert_eq!(l.skipped_lines, 4);
    }

    #[test]
    fn podman_disagreeing_or_bad_hashes() {
        let t =
            format!("q/ns/openstack-base {AGG} x\nq/ns/openstack-cron 0123456789abcdef0123456789abcdef y\n");
        let e = parse_podman_images("l.log", &t, None).unwrap_err().to_string();
        assert!(
            e.contains("disagree") && e.contains("line 1") && e.contains("line 2"),
            "{e}"
        );
        let e = parse_podman_images("l.log", "q/ns/openstack-base current-tripleo x\n", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a DLRN hash") && e.contains("l.log"), "{e}");
        let e = parse_podman_images("l.log", &format!("q/ns/Bad_Name {AGG}\n"), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad image name"), "{e}");
    }

    #[test]
    fn podman_nothing_matched() {
        for t in [
            "",
            "\n\n",
            "REPOSITORY TAG IMAGE ID\n",
            "error: no such image\nfoo bar\n",
        ] {
            let e = parse_podman_images("l.log", t, None).unwrap_err().to_string();
            assert!(e.contains("no line matched") && e.contains("l.log"), "{t:?}: {e}");
        }
    }

    #[test]
    fn job_output_fixture_pairs_headers_with_following_digests() {
        let l = parse_job_output("job-output.txt", JOB_OUTPUT, Some(DEFAULT_PREFIX)).unwrap();
        assert_eq!(l.names, ["aodh-api", "aodh-evaluator"]);
        assert_eq!(l.not_pushed, ["aodh-listener"]);
        assert_eq!(l.hash, "0a1b2c3d4e5f60718293a4b5c6d7e8f9");
    }

    #[test]
    fn job_output_disagreeing_hashes_and_other_arches() {
        let h =
            |repo: &str| format!("t | primary | TASK [b : Tag w/ arch suffix and push image: q/ns/{repo}]\n");
        let d = |tag: &str| format!("t | primary | {tag}: digest: sha256:{} size: 1\n", "a".repeat(64));
        let other = "0123456789abcdef0123456789abcdef";
        let t = format!(
            "{}{}{}{}",
            h("openstack-a"),
            d(&format!("{AGG}_x86_64")),
            h("openstack-b"),
            d(&format!("{other}_x86_64"))
        );
        let e = parse_job_output("j", &t, None).unwrap_err().to_string();
        assert!(e.contains("disagree"), "{e}");
        // ppc64le digests and digests before any header are ignored.
        let t = format!(
            "{}{}{}{}",
            d(&format!("{AGG}_x86_64")),
            h("openstack-a"),
            d(&format!("{other}_ppc64le")),
            d(&format!("{AGG}_x86_64"))
        );
        let l = parse_job_output("j", &t, Some("openstack-")).unwrap();
        assert_eq!(l.names, ["a"]);
        assert_eq!(l.hash, AGG);
        assert_eq!(l.skipped_lines, 1);
    }

    #[test]
    fn job_output_nothing_pushed_or_garbage() {
        let t = "t | primary | TASK [b : Tag w/ arch suffix and push image: q/ns/openstack-a]\nnoise\n";
        let e = parse_job_output("j.txt", t, None).unwrap_err().to_string();
        assert!(e.contains("no line matched") && e.contains("j.txt"), "{e}");
        let e = parse_job_output("j.txt", "\u{0}\u{1}binary garbage", None).unwrap_err();
        assert!(e.to_string().contains("no line matched"));
        let t = format!(
            "x | y | TASK [b : Tag w/ arch suffix and push image: q/ns/openstack-a]\n\
             x | y | $(rm -rf)_x86_64: digest: sha256:{} size: 1\n",
            "a".repeat(64)
        );
        let e = parse_job_output("j.txt", &t, None).unwrap_err().to_string();
        assert!(e.contains("not a DLRN hash"), "{e}");
    }
}
