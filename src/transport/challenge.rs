//! `WWW-Authenticate` parsing (RFC 7235 auth-params, as registries send them): the scheme and its
//! `realm`/`service`/`scope`/`error` parameters. By hand because the grammar is tiny and no maintained
//! crate parses registry challenges with quoted-string escapes.

use std::collections::BTreeMap;

/// A parsed challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// Lowercased scheme: `bearer` or `basic`.
    pub scheme: String,
    /// Parameters with lowercased keys.
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params.get(key).map(String::as_str)
    }

    pub fn is_bearer(&self) -> bool {
        self.scheme == "bearer"
    }

    pub fn is_basic(&self) -> bool {
        self.scheme == "basic"
    }

    /// `error="insufficient_scope"`: the token lacked an action we need.
    pub fn insufficient_scope(&self) -> bool {
        self.param("error") == Some("insufficient_scope")
    }
}

/// Parse a header value; returns the first challenge with a scheme we know (Bearer preferred).
pub fn parse(header: &str) -> Option<Challenge> {
    let all = parse_all(header);
    all.iter()
        .find(|c| c.is_bearer())
        .or_else(|| all.iter().find(|c| c.is_basic()))
        .cloned()
}

/// Parse every challenge in a header value.
pub fn parse_all(header: &str) -> Vec<Challenge> {
    let mut out = Vec::new();
    let mut p = Parser {
        s: header.as_bytes(),
        i: 0,
    };
    loop {
        p.skip_ws_commas();
        let Some(scheme) = p.token() else { break };
        let mut ch = Challenge {
            scheme: scheme.to_ascii_lowercase(),
            params: BTreeMap::new(),
        };
        loop {
            p.skip_ws_commas();
            let save = p.i;
            let Some(key) = p.token() else { break };
            p.skip_ws();
            if !p.eat(b'=') {
                // Not a parameter: the next challenge's scheme.
                p.i = save;
                break;
            }
            p.skip_ws();
            let value = if p.peek() == Some(b'"') {
                p.quoted()
            } else {
                p.token().unwrap_or_default()
            };
            ch.params.insert(key.to_ascii_lowercase(), value);
        }
        out.push(ch);
    }
    out
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }
    fn skip_ws_commas(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.i += 1;
        }
    }
    fn token(&mut self) -> Option<String> {
        let start = self.i;
        while let Some(b) = self.peek() {
            if b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~/:".contains(&b) {
                self.i += 1;
            } else {
                break;
            }
        }
        (self.i > start).then(|| String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }
    fn quoted(&mut self) -> String {
        let mut out = Vec::new();
        self.i += 1; // opening quote
        while let Some(b) = self.peek() {
            self.i += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    if let Some(n) = self.peek() {
                        out.push(n);
                        self.i += 1;
                    }
                }
                _ => out.push(b),
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_with_params() {
        let c = parse(r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull,push""#).unwrap();
        assert!(c.is_bearer());
        assert_eq!(c.param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(c.param("service"), Some("registry.docker.io"));
        assert_eq!(c.param("scope"), Some("repository:library/alpine:pull,push"));
        assert!(!c.insufficient_scope());
    }

    #[test]
    fn insufficient_scope_and_case() {
        let c = parse(r#"bearer Realm="https://q/t", error="insufficient_scope", scope="repository:a:push""#)
            .unwrap();
        assert!(c.insufficient_scope());
        assert_eq!(c.param("realm"), Some("https://q/t"));
    }

    #[test]
    fn basic_and_multiple() {
        let c = parse(r#"Basic realm="Registry Realm""#).unwrap();
        assert!(c.is_basic());
        assert_eq!(c.param("realm"), Some("Registry Realm"));
        let all = parse_all(r#"Basic realm="x", Bearer realm="https://t/token",service=s"#);
        assert_eq!(all.len(), 2);
        assert_eq!(
            parse(r#"Basic realm="x", Bearer realm="https://t/token",service=s"#)
                .unwrap()
                .scheme,
            "bearer"
        );
        assert_eq!(all[1].param("service"), Some("s"));
    }

    #[test]
    fn escapes_and_garbage() {
        let c = parse(r#"Bearer realm="a\"b""#).unwrap();
        assert_eq!(c.param("realm"), Some("a\"b"));
        assert!(parse("").is_none());
        assert!(parse("   ,, ").is_none());
        assert!(parse("Negotiate").is_none());
        // unterminated quote: no panic, takes the rest
        let c = parse(r#"Bearer realm="https://x"#).unwrap();
        assert_eq!(c.param("realm"), Some("https://x"));
        assert!(parse("\u{1F600}=\"").is_none());
    }
}
