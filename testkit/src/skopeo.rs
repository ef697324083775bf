//! Helpers running the real `skopeo` against testkit registries, isolated
//! from the host's auth files and registries.conf.

use crate::endpoint::Endpoint;
use crate::util::sha256_digest;
use anyhow::{bail, Context, Result};
use std::process::Command;

/// The skopeo flags (for `inspect`/`list-tags`: `prefix = ""`; for `copy`:
/// `"src-"` or `"dest-"`) to reach `ep`: `--tls-verify=false` for http,
/// `--cert-dir` for https with a CA, `--creds` when there are credentials.
pub fn skopeo_flags(ep: &Endpoint, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    if ep.is_https() {
        out.push(format!("--{prefix}tls-verify=true"));
        if let Some(d) = &ep.cert_dir {
            out.push(format!("--{prefix}cert-dir={}", d.display()));
        }
    } else {
        out.push(format!("--{prefix}tls-verify=false"));
    }
    match &ep.credentials {
        Some((u, p)) => out.push(format!("--{prefix}creds={u}:{p}")),
        None => out.push(format!("--{prefix}no-creds")),
    }
    out
}

/// Runs `skopeo` with `args` in an isolated environment (`REGISTRY_AUTH_FILE`
/// pointing at an empty auth file, an empty `CONTAINERS_REGISTRIES_CONF`, a
/// private HOME/XDG dirs, an accept-anything policy) and returns stdout. Fails with
/// stderr on a non-zero exit.
pub fn run_skopeo(args: &[String]) -> Result<Vec<u8>> {
    let tmp = tempfile::Builder::new().prefix("cc-testkit-skopeo-").tempdir()?;
    let auth = tmp.path().join("auth.json");
    std::fs::write(&auth, "{\"auths\":{}}\n")?;
    let regconf = tmp.path().join("registries.conf");
    std::fs::write(&regconf, "unqualified-search-registries = []\n")?;
    let policy = tmp.path().join("policy.json");
    std::fs::write(&policy, "{\"default\":[{\"type\":\"insecureAcceptAnything\"}]}\n")?;
    let mut cmd = Command::new("skopeo");
    cmd.arg("--command-timeout=120s")
        .arg(format!("--policy={}", policy.display()))
        .args(args)
        .env("HOME", tmp.path())
        .env("XDG_RUNTIME_DIR", tmp.path())
        .env("XDG_CONFIG_HOME", tmp.path())
        .env("REGISTRY_AUTH_FILE", &auth)
        .env("DOCKER_CONFIG", tmp.path())
        .env("CONTAINERS_REGISTRIES_CONF", &regconf)
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY");
    let out = cmd.output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            anyhow::anyhow!("`skopeo` not found in PATH; install it with `apt-get install -y skopeo`")
        } else {
            anyhow::anyhow!("running skopeo: {e}")
        }
    })?;
    if !out.status.success() {
        bail!(
            "skopeo {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out.stdout)
}

/// `skopeo inspect --raw docker://HOST/image_ref`: the manifest bytes exactly
/// as the registry serves them. `image_ref` is `repo:tag` or `repo@digest`.
pub fn skopeo_inspect_raw(ep: impl Into<Endpoint>, image_ref: &str) -> Result<Vec<u8>> {
    let ep = ep.into();
    let mut args = vec!["inspect".to_string(), "--raw".to_string()];
    args.extend(skopeo_flags(&ep, ""));
    args.push(format!("docker://{}/{image_ref}", ep.host()));
    run_skopeo(&args)
}

/// `sha256:` digest of [`skopeo_inspect_raw`]'s bytes (the digest of the
/// top-level manifest, list or not).
pub fn skopeo_inspect_digest(ep: impl Into<Endpoint>, image_ref: &str) -> Result<String> {
    Ok(sha256_digest(&skopeo_inspect_raw(ep, image_ref)?))
}

/// `skopeo list-tags docker://HOST/repo`, sorted.
pub fn skopeo_list_tags(ep: impl Into<Endpoint>, repo: &str) -> Result<Vec<String>> {
    let ep = ep.into();
    let mut args = vec!["list-tags".to_string()];
    args.extend(skopeo_flags(&ep, ""));
    args.push(format!("docker://{}/{repo}", ep.host()));
    let out = run_skopeo(&args)?;
    let v: serde_json::Value = serde_json::from_slice(&out).context("skopeo list-tags output")?;
    let mut tags: Vec<String> = v["Tags"]
        .as_array()
        .map(|a| a.iter().filter_map(|t| t.as_str().map(String::from)).collect())
        .unwrap_or_default();
    tags.sort();
    Ok(tags)
}

/// `skopeo copy [--all] docker://SRC/src_ref docker://DST/dst_ref` — a
/// reference copy to compare the crate under test against.
pub fn skopeo_copy(
    src: impl Into<Endpoint>,
    src_ref: &str,
    dst: impl Into<Endpoint>,
    dst_ref: &str,
    all: bool,
) -> Result<()> {
    let (src, dst) = (src.into(), dst.into());
    let mut args = vec!["copy".to_string(), "--preserve-digests".to_string()];
    if all {
        args.push("--all".into());
    }
    args.extend(skopeo_flags(&src, "src-"));
    args.extend(skopeo_flags(&dst, "dest-"));
    args.push(format!("docker://{}/{src_ref}", src.host()));
    args.push(format!("docker://{}/{dst_ref}", dst.host()));
    run_skopeo(&args).map(|_| ())
}
