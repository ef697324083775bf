//! Secrets never reach an output: every secret of the run is remembered here the moment it is known
//! (passwords when credentials are read, tokens when they arrive), and [`scrub`] masks them in
//! whatever is printed, logged or written. It sits below every layer that learns a secret
//! (transport, registry, Quay) and every one that writes something out (logs, reports, the faces).
//!
//! A secret does not always come back as it was given: a JSON log line or report escapes its quotes
//! (`\"`) or any character (`\u0026`, as Go writes `&`), an error message quotes it Rust-style, a
//! registry echoes a query string URL-encoded (`%2B`, or `/` left as is, as Python's `quote` does),
//! the HTML report escapes `&`, `<`, `"`, and an encoder may mix these. So a secret is found
//! character by character, each character raw or in any of those escapes ([`find`]): the text is
//! in effect decoded while it is matched, whatever encoder wrote it. Base64 cannot be matched a
//! character at a time: the base64 of each secret is masked as it is (standard and URL-safe,
//! unpadded, so the padded form is masked too; `user:password`'s is a secret of its own).
//!
//! JSON arguments (the module's) are searched for the values of secret-named keys at any depth
//! ([`secrets_in`]) and shown censored ([`censored`]).
//!
//! Written here rather than taken from a crate: no crate masks a value in its encodings.

use base64::Engine;
use serde_json::Value;

use crate::input::SECRET_KEYS;

/// Every secret of this run, as given: registry passwords with their `user:password` and its
/// base64 (see [`crate::transport::Credentials::secrets`]), identity and Quay tokens, and every
/// token obtained.
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
    if !known.iter().any(|k| k == secret) {
        known.push(secret.to_string());
    }
}

/// Mask secrets (≥4 characters, to avoid masking everything) in a string, in every form they may
/// take: those given and every one remembered in this run ([`remember_secret`]), longest first.
/// The one scrubber of every output: reports, list files, the module result, CLI output and
/// errors, logs.
pub fn scrub(s: &str, secrets: &[String]) -> String {
    let mut all: Vec<String> = secrets.iter().filter(|s| s.len() >= MIN_LEN).cloned().collect();
    all.extend(
        KNOWN_SECRETS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned(),
    );
    all.sort_by_key(|x| std::cmp::Reverse(x.len()));
    all.dedup();
    let mut out = s.to_string();
    for secret in &all {
        out = mask_encoded(&out, secret);
        for b64 in base64_forms(secret) {
            if b64.len() >= MIN_LEN && out.contains(&b64) {
                out = out.replace(&b64, MASK);
            }
        }
    }
    out
}

/// Every string of a JSON value masked ([`scrub`]).
pub fn scrub_json(v: &mut Value, secrets: &[String]) {
    match v {
        Value::String(s) => *s = scrub(s, secrets),
        Value::Array(a) => a.iter_mut().for_each(|x| scrub_json(x, secrets)),
        Value::Object(m) => m.values_mut().for_each(|x| scrub_json(x, secrets)),
        _ => {}
    }
}

/// `text` masked of `secret` written in any encoding ([`find`]).
fn mask_encoded(text: &str, secret: &str) -> String {
    let want: Vec<char> = secret.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while let Some((start, end)) = find(text, at, &want) {
        out.push_str(&text[at..start]);
        out.push_str(MASK);
        at = end;
    }
    out.push_str(&text[at..]);
    out
}

/// The first place at or after `from` where `want` is written, each character raw or escaped in
/// any of the ways of [`encodings`]: its byte range.
fn find(text: &str, from: usize, want: &[char]) -> Option<(usize, usize)> {
    let first = want.first()?;
    text[from..].char_indices().find_map(|(i, c)| {
        let start = from + i;
        // Every encoding starts with the character itself or one of these.
        if c != *first && !matches!(c, '%' | '\\' | '&' | '+') {
            return None;
        }
        matches_at(text, start, want).map(|end| (start, end))
    })
}

/// Where `want` written from `at` ends (the longest such), each character in any of its
/// encodings. The places reachable after each character are kept as a set (`\\"` may be an
/// escaped backslash then a quote, or an escaped quote), so a text of many backslashes costs the
/// secret's length times a few, never a search over every combination.
fn matches_at(text: &str, at: usize, want: &[char]) -> Option<usize> {
    let mut reach = vec![at];
    for c in want {
        let mut next: Vec<usize> = reach
            .iter()
            .flat_map(|&p| encodings(&text[p..], *c).into_iter().map(move |n| p + n))
            .collect();
        next.sort_unstable();
        next.dedup();
        if next.is_empty() {
            return None;
        }
        reach = next;
    }
    reach.last().copied()
}

/// The lengths of the prefixes of `here` that write `c`: raw; `+` for a space (form encoding);
/// `%XX` for each of its UTF-8 bytes, in either case; `\uXXXX` (a UTF-16 pair beyond the BMP);
/// a backslash escape (`\"`, `\\`, `\/`, `\'`, `\n`, `\t`, `\r`), also escaped again (`\\\"`, a
/// JSON line quoting a Rust-quoted value); an HTML entity (`&quot;`, `&#39;`, `&#x27;`, `&amp;`…).
fn encodings(here: &str, c: char) -> Vec<usize> {
    let mut out = Vec::new();
    if here.starts_with(c) {
        out.push(c.len_utf8());
    }
    if c == ' ' && here.starts_with('+') {
        out.push(1);
    }
    if let Some(n) = percent_encoded(here, c) {
        out.push(n);
    }
    if let Some(n) = unicode_escaped(here, c) {
        out.push(n);
    }
    out.extend(backslash_escaped(here, c));
    if let Some(n) = html_entity(here, c) {
        out.push(n);
    }
    out
}

/// `%XX` for each UTF-8 byte of `c`.
fn percent_encoded(here: &str, c: char) -> Option<usize> {
    let mut buf = [0u8; 4];
    let bytes = c.encode_utf8(&mut buf).as_bytes();
    let b = here.as_bytes();
    for (i, want) in bytes.iter().enumerate() {
        let at = i * 3;
        if b.get(at) != Some(&b'%') {
            return None;
        }
        let hex = here.get(at + 1..at + 3)?;
        if u8::from_str_radix(hex, 16).ok()? != *want {
            return None;
        }
    }
    Some(bytes.len() * 3)
}

/// `\uXXXX` (either case; a surrogate pair for a character beyond the BMP).
fn unicode_escaped(here: &str, c: char) -> Option<usize> {
    let mut units = [0u16; 2];
    let units = c.encode_utf16(&mut units);
    for (i, want) in units.iter().enumerate() {
        let at = i * 6;
        if here.get(at..at + 2) != Some("\\u") {
            return None;
        }
        let hex = here.get(at + 2..at + 6)?;
        if u16::from_str_radix(hex, 16).ok()? != *want {
            return None;
        }
    }
    Some(units.len() * 6)
}

/// `\c` and `\\\c` for the characters JSON or Rust escape with a backslash (and `\\` then `\\\\`
/// for the backslash itself).
fn backslash_escaped(here: &str, c: char) -> Vec<usize> {
    let letter = match c {
        '"' | '\'' | '/' => c,
        '\\' => '\\',
        '\n' => 'n',
        '\t' => 't',
        '\r' => 'r',
        _ => return Vec::new(),
    };
    let once = format!("\\{letter}");
    // escaped again: every backslash doubled, then the letter escaped
    let twice = if c == '\\' {
        "\\\\\\\\".to_string()
    } else {
        format!("\\\\\\{letter}")
    };
    [twice, once]
        .into_iter()
        .filter(|e| here.starts_with(e.as_str()))
        .map(|e| e.len())
        .collect()
}

/// An HTML character reference for `c`: a named one the HTML report or a server writes, or a
/// numeric one (`&#34;`, `&#x22;`).
fn html_entity(here: &str, c: char) -> Option<usize> {
    let named: &[&str] = match c {
        '"' => &["&quot;"],
        '\'' => &["&#39;", "&apos;"],
        '&' => &["&amp;"],
        '<' => &["&lt;"],
        '>' => &["&gt;"],
        _ => &[],
    };
    if let Some(n) = named.iter().find(|n| here.starts_with(**n)) {
        return Some(n.len());
    }
    let rest = here.strip_prefix("&#")?;
    let end = rest.find(';')?;
    let num = &rest[..end];
    let value = match num.strip_prefix(['x', 'X']) {
        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
        None => num.parse::<u32>().ok()?,
    };
    (value == c as u32).then_some(2 + end + 1)
}

/// The base64 of a secret, standard and URL-safe, unpadded.
fn base64_forms(secret: &str) -> [String; 2] {
    [
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(secret),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret),
    ]
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
            // a host given as `https://user:password@host`
            if let Some((_, password)) = crate::error::userinfo_of(s).and_then(|i| i.split_once(':')) {
                out.push(password.to_string());
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
    looks_like_json(s)
        .then(|| serde_json::from_str::<Value>(s).ok())
        .flatten()
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
            // Go's JSON: & < > as \u0026 \u003c \u003e
            r#"Pa\"ss w'%\u0026\u003c\u20ac/\\+:x"#.to_string(),
            "Pa&quot;ss w&#39;%&amp;&lt;€/\\+:x".to_string(),
            "Pa&#34;ss w&#x27;%&#38;&#60;&#8364;/\\+:x".to_string(),
            "Pa%22ss%20w%27%25%26%3C%E2%82%AC%2F%5C%2B%3Ax".to_string(),
            "Pa%22ss+w%27%25%26%3c%e2%82%ac%2f%5c%2b%3ax".to_string(),
            // Python's quote: `/` left as it is
            "Pa%22ss%20w%27%25%26%3C%E2%82%AC/%5C%2B%3Ax".to_string(),
            b64(PW),
            b64(PW).trim_end_matches('=').to_string(),
            base64::engine::general_purpose::URL_SAFE.encode(PW),
        ];
        for e in echoed {
            let line = format!("registry said: <{e}> (try again)");
            let out = scrub(&line, &[PW.to_string()]);
            // quotes around the value stay, the value is gone
            assert!(out.contains(MASK), "form {e:?}: {out}");
            assert!(
                !out.contains("ss w") && !out.contains("ss+w") && !out.contains("ss%20w"),
                "{e:?}: {out}"
            );
            assert!(
                out.starts_with("registry said: <") && out.ends_with("> (try again)"),
                "{out}"
            );
        }
    }

    #[test]
    fn what_only_looks_like_a_secret_stays() {
        let pw = "abcd-1234";
        for text in ["abcd-123", "abcd 1234", "%61bcd-12", "xbcd-1234"] {
            assert_eq!(scrub(text, &[pw.to_string()]), text);
        }
        assert_eq!(scrub("a%62cd-1234!", &[pw.to_string()]), format!("{MASK}!"));
        // shorter than the shortest masked: left alone
        assert_eq!(scrub("abc abc", &["abc".to_string()]), "abc abc");
        // a truncated escape at the end of a text is no panic
        assert_eq!(scrub("x %E2%8", &["x€yz".to_string()]), "x %E2%8");
        assert_eq!(scrub("\\u20", &["€abc".to_string()]), "\\u20");
    }

    #[test]
    fn a_text_of_backslashes_costs_little() {
        let pw = "\\".repeat(40);
        let text = "\\".repeat(100_000);
        let out = scrub(&text, &[pw]);
        assert!(out.contains(MASK));
    }

    #[test]
    fn remembered_secrets_are_masked_in_their_forms() {
        remember_secret("remembered \"form\" 42");
        let s = scrub(r#"{"msg":"remembered \"form\" 42"}"#, &[]);
        assert_eq!(s, format!(r#"{{"msg":"{MASK}"}}"#));
    }

    #[test]
    fn json_values_are_masked_in_every_string() {
        let mut v = serde_json::json!({"a": ["x hunter22 y", {"b": "hunter22"}], "n": 1});
        scrub_json(&mut v, &["hunter22".into()]);
        assert_eq!(
            v,
            serde_json::json!({"a": [format!("x {MASK} y"), {"b": MASK}], "n": 1})
        );
    }
}
