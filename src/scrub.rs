//! Secrets never reach an output: every secret of the run is remembered here the moment it is known
//! (passwords when credentials are read, tokens when they arrive), and [`scrub`] masks them in
//! whatever is printed, logged or written. It sits below every layer that learns a secret
//! (transport, registry, Quay) and every one that writes something out (logs, reports, the faces).

/// Every secret of this run: registry passwords with their `user:password` and its base64 (see
/// [`crate::transport::Credentials::secrets`]), identity and Quay tokens, and every token obtained.
static KNOWN_SECRETS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Remember a secret, so that every later [`scrub`] masks it (whatever output it is for).
pub fn remember_secret(secret: &str) {
    if secret.len() < 4 {
        return;
    }
    let mut known = KNOWN_SECRETS.lock().unwrap_or_else(|p| p.into_inner());
    if !known.iter().any(|k| k == secret) {
        known.push(secret.to_string());
    }
}

/// Mask secrets (≥4 characters, to avoid masking everything) in a string: those given and every one
/// remembered in this run ([`remember_secret`]), longest first. The one scrubber of every output:
/// reports, list files, the module result, CLI output and errors, logs.
pub fn scrub(s: &str, secrets: &[String]) -> String {
    let mut all: Vec<String> = secrets.to_vec();
    all.extend(
        KNOWN_SECRETS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned(),
    );
    all.sort_by_key(|x| std::cmp::Reverse(x.len()));
    let mut out = s.to_string();
    for sec in &all {
        if sec.len() >= 4 && out.contains(sec.as_str()) {
            out = out.replace(sec.as_str(), "********");
        }
    }
    out
}

/// `text` masked of every secret ([`scrub`]), then cut to its first `max` characters: masking comes
/// first, as a cut through a secret would leave a part of it that no longer matches (an error body
/// echoing credentials, shown only in part).
pub fn scrub_prefix(text: &str, max: usize) -> String {
    scrub(text, &[]).chars().take(max).collect()
}
