//! Secrets never reach an output: every secret of the run is remembered here the moment it is known
//! (passwords when credentials are read, tokens when they arrive), and [`scrub`] masks them in
//! whatever is printed, logged or written. It sits below every layer that learns a secret
//! (transport, registry, Quay) and every one that writes something out (logs, reports, the faces).
//!
//! A secret does not always come back as it was given: a JSON log line or report escapes its quotes
//! and non-ASCII characters, an error message quotes it Rust-style (`"Pa\"ss"`), a registry echoes a
//! query string URL-encoded or the Basic header's base64, the HTML report escapes `&`, `<`, `"`. So
//! each secret is masked in every [`forms`] it can take; JSON arguments (the module's) are searched
//! for the values of secret-named keys at any depth ([`secrets_in`]) and shown censored
//! ([`censored`]). Written here rather than taken from a crate:
//! no crate masks a value in its encodings; the encoders themselves are serde_json's, base64's and
//! url's.

use base64::Engine;
use serde_json::Value;

use crate::input::SECRET_KEYS;

/// Every secret of this run, each with its [`forms`]: registry passwords with their `user:password`
/// and its base64 (see [`crate::transport::Credentials::secrets`]), identity and Quay tokens, and
/// every token obtained.
static KNOWN_SECRETS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// The shortest text masked: shorter ones would mask everything (an empty password, `ab`).
const MIN_LEN: usize = 4;

/// The mask.
pub const MASK: &str = "********";

/// Remember a secret, so that every later [`scrub`] masks it (whatever output it is for), in every
/// form it may come back in.
pub fn remember_secret(secret: &str) {
    if secret.len() < MIN_LEN {
        return;
    }
    let mut known = KNOWN_SECRETS.lock().unwrap_or_else(|p| p.into_inner());
    for f in forms(secret) {
        if !known.contains(&f) {
            known.push(f);
        }
    }
}

/// The forms in which `secret` may come back: itself; JSON-escaped (a JSON log line, a report);
/// quoted as Rust's `{:?}` does (error messages quoting a value), and that again JSON-escaped (a
/// JSON log line quoting such a message); HTML-escaped (the HTML report); URL-encoded (`%XX` in upper
/// and lower case, a space as `%20` or `+`); base64 of it, standard and URL-safe, unpadded (so the
/// padded form is masked too). None for a secret shorter than the shortest masked, and no form
/// shorter than that either.
pub fn forms(secret: &str) -> Vec<String> {
    if secret.len() < MIN_LEN {
        return Vec::new();
    }
    let unquote = |s: String| -> String {
        s.strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .map(str::to_string)
            .unwrap_or(s)
    };
    let json = |s: &str| unquote(serde_json::to_string(s).unwrap_or_default());
    let debug = unquote(format!("{secret:?}"));
    let url: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let b64 = base64::engine::general_purpose::STANDARD_NO_PAD.encode(secret);
    let b64_url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    let mut out = vec![
        secret.to_string(),
        json(secret),
        json(&debug),
        // JSON as `serde_json` writes it keeps non-ASCII; other writers escape it (`\u20ac`).
        ascii_json(secret),
        html(secret),
        html(&debug),
        debug,
        url.replace('+', "%20"),
        lower_hex(&url.replace('+', "%20")),
        lower_hex(&url),
        url,
        b64,
        b64_url,
    ];
    out.retain(|f| f.len() >= MIN_LEN);
    let mut seen = Vec::with_capacity(out.len());
    out.retain(|f| {
        let new = !seen.contains(f);
        seen.push(f.clone());
        new
    });
    out
}

/// JSON string escaping with every non-ASCII character as `\uXXXX` (UTF-16, as Python's
/// `json.dumps` and JavaScript's escapers write it).
fn ascii_json(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if c.is_ascii() && !c.is_ascii_control() => o.push(c),
            c => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    o.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
    }
    o
}

/// HTML text escaping as the HTML report does it.
fn html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// `%XX` escapes in lower case.
fn lower_hex(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('%') {
        o.push_str(&rest[..i]);
        let esc = rest.get(i..i + 3).unwrap_or(&rest[i..]);
        o.push_str(&esc.to_ascii_lowercase());
        rest = &rest[i + esc.len()..];
    }
    o.push_str(rest);
    o
}

/// Mask secrets (≥4 characters, to avoid masking everything) in a string, in every form they may
/// take ([`forms`]): those given and every one remembered in this run ([`remember_secret`]),
/// longest first. The one scrubber of every output: reports, list files, the module result, CLI
/// output and errors, logs.
pub fn scrub(s: &str, secrets: &[String]) -> String {
    let mut all: Vec<String> = secrets.iter().flat_map(|s| forms(s)).collect();
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
        if sec.len() >= MIN_LEN && out.contains(sec.as_str()) {
            out = out.replace(sec.as_str(), MASK);
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

// ---- Secrets in JSON arguments (the module's, and the JSON strings inside them) ------------------

/// Collect the secret values of JSON arguments (registry passwords and tokens): whatever shape a
/// secret-named key holds (a string, a number as YAML gives an all-digit password, or by mistake a
/// list or a dictionary: every string and number inside), at any depth, also inside string values
/// that hold JSON (ad hoc `-a 'target_registries=[{"password": …}]'`, or a list of such strings).
pub fn secrets_in(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if SECRET_KEYS.contains(&k.as_str()) {
                    every_scalar(x, out);
                }
                secrets_in(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| secrets_in(x, out)),
        Value::String(s) => {
            if let Some(parsed) = as_json_container(s) {
                secrets_in(&parsed, out);
            }
        }
        _ => {}
    }
}

/// Every string and number in a value given under a secret-named key.
fn every_scalar(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) if !s.is_empty() && s != "unused" => out.push(s.clone()),
        Value::Number(n) => out.push(n.to_string()),
        Value::Array(a) => a.iter().for_each(|x| every_scalar(x, out)),
        Value::Object(m) => m.values().for_each(|x| every_scalar(x, out)),
        _ => {}
    }
}

/// A string holding a JSON dictionary or list, parsed.
fn as_json_container(s: &str) -> Option<Value> {
    let t = s.trim_start();
    if !(t.starts_with('{') || t.starts_with('[')) {
        return None;
    }
    serde_json::from_str::<Value>(s).ok()
}

/// Arguments shown with their secrets replaced the way Ansible does (`invocation.module_args`): the value of a
/// secret-named key, whatever its shape, is `VALUE_SPECIFIED_IN_NO_LOG_PARAMETER` (`unused` and
/// nothing stay as given). A string holding a JSON dictionary or list is shown parsed and censored
/// alike, at any depth (so its secrets are censored whatever escapes it used, `\u0050`, `\"`); one
/// that cannot be parsed but names a secret key is hidden whole; every other string is scrubbed.
pub fn censored(v: &Value, secrets: &[String]) -> Value {
    const HIDDEN: &str = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER";
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| {
                    let hide =
                        SECRET_KEYS.contains(&k.as_str()) && !x.is_null() && x.as_str() != Some("unused");
                    let x = if hide {
                        Value::String(HIDDEN.into())
                    } else {
                        censored(x, secrets)
                    };
                    (k.clone(), x)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|x| censored(x, secrets)).collect()),
        Value::String(s) => match as_json_container(s) {
            Some(parsed) => censored(&parsed, secrets),
            None if looks_like_json(s) && SECRET_KEYS.iter().any(|k| s.contains(k)) => {
                Value::String(HIDDEN.into())
            }
            None => Value::String(scrub(s, secrets)),
        },
        other => other.clone(),
    }
}

/// A string that starts like a JSON dictionary or list (whether or not it parses).
fn looks_like_json(s: &str) -> bool {
    let t = s.trim_start();
    t.starts_with('{') || t.starts_with('[')
}

/// Replace secrets in every string of a value.
pub fn scrub_json(v: &mut Value, secrets: &[String]) {
    match v {
        Value::String(s) => *s = scrub(s, secrets),
        Value::Array(a) => a.iter_mut().for_each(|x| scrub_json(x, secrets)),
        Value::Object(m) => m.values_mut().for_each(|x| scrub_json(x, secrets)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PW: &str = "Pa\"ss w'%&<€/\\+:x";

    #[test]
    fn every_form_of_a_secret_is_masked() {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let echoed = [
            PW.to_string(),
            serde_json::to_string(PW).unwrap(),
            format!("{PW:?}"),
            serde_json::to_string(&format!("{PW:?}")).unwrap(),
            r#"Pa\"ss w'%&<\u20ac/\\+:x"#.to_string(),
            "Pa&quot;ss w&#39;%&amp;&lt;€/\\+:x".to_string(),
            "Pa%22ss%20w%27%25%26%3C%E2%82%AC%2F%5C%2B%3Ax".to_string(),
            "Pa%22ss+w%27%25%26%3c%e2%82%ac%2f%5c%2b%3ax".to_string(),
            b64(PW),
            b64(PW).trim_end_matches('=').to_string(),
            base64::engine::general_purpose::URL_SAFE.encode(PW),
        ];
        for e in echoed {
            let line = format!("registry said: <{e}> (try again)");
            let out = scrub(&line, &[PW.to_string()]);
            // quotes around the value stay, the value is gone
            let inner = e.trim_matches('"');
            assert!(!out.contains(inner) && out.contains(MASK), "form {e:?}: {out}");
            assert!(out.starts_with("registry said: <") && out.ends_with("> (try again)"));
        }
    }

    #[test]
    fn forms_are_not_shorter_than_the_shortest_secret() {
        assert!(forms("abc").is_empty());
        assert!(forms("abcd").contains(&"abcd".to_string()));
        // base64 of a 4-byte secret is 6 characters unpadded: masked as well
        assert!(forms("abcd").contains(&"YWJjZA".to_string()));
    }

    #[test]
    fn remembered_secrets_are_masked_in_their_forms() {
        remember_secret("remembered \"form\" 42");
        let s = scrub(r#"{"msg":"remembered \"form\" 42"}"#, &[]);
        assert_eq!(s, format!(r#"{{"msg":"{MASK}"}}"#));
    }
}
