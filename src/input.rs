//! The one way a file a user names is read: configs, list files, auth files, tokens, CA bundles,
//! client certificates, the module's arguments. Only a regular file (after symlinks) is opened:
//! opening a FIFO blocks until someone writes to it, a device can be endless, a folder is no file.
//! Each read is capped, so a wrong path (a disk image, `/dev/zero`) fails at once with a clear error
//! instead of filling memory.

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// The largest input file read whole: far above any config, list, auth file or CA bundle.
pub const MAX_INPUT_BYTES: u64 = 64 << 20;

/// Refuse anything but a regular file (after symlinks) before opening it. `what` names the input
/// in the error (`container list file`, `CA bundle`).
pub fn ensure_regular_file(path: &Path, what: &'static str) -> Result<()> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| Error::io(&shown, e))?;
    if meta.is_file() {
        return Ok(());
    }
    let kind = if meta.is_dir() {
        "a directory"
    } else {
        "not a regular file (a FIFO, socket or device)"
    };
    Err(Error::invalid(
        what,
        &shown,
        format!("is {kind}, expected a file"),
    ))
}

/// Read a regular file whole, at most [`MAX_INPUT_BYTES`].
pub fn read(path: &Path, what: &'static str) -> Result<Vec<u8>> {
    read_capped(path, what, MAX_INPUT_BYTES)
}

/// [`read`] as UTF-8 text.
pub fn read_to_string(path: &Path, what: &'static str) -> Result<String> {
    let bytes = read(path, what)?;
    String::from_utf8(bytes)
        .map_err(|_| Error::invalid(what, path.display().to_string(), "is not UTF-8 text"))
}

/// Read a regular file whole, at most `cap` bytes (one byte past the cap is read, to catch a file
/// that grows while read).
pub fn read_capped(path: &Path, what: &'static str, cap: u64) -> Result<Vec<u8>> {
    let shown = path.display().to_string();
    ensure_regular_file(path, what)?;
    let file = std::fs::File::open(path).map_err(|e| Error::io(&shown, e))?;
    let mut buf = Vec::new();
    file.take(cap + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io(&shown, e))?;
    if buf.len() as u64 > cap {
        return Err(Error::invalid(
            what,
            &shown,
            format!("is larger than the {cap}-byte limit"),
        ));
    }
    Ok(buf)
}

/// Keys whose values are secrets wherever they appear in a YAML or JSON input.
pub const SECRET_KEYS: &[&str] = &["password", "token"];

/// A serde_norway error as `releases[2].bogus: unknown field `bogus`, expected one of … (line 12,
/// column 5)`: the key's path first, the position last. Below a secret key ([`SECRET_KEYS`], at any
/// depth: `password[0]` too) serde's text, which quotes the value (`invalid value: string
/// "hunter2"`), is replaced with `secret_hint`.
pub fn yaml_message(e: &serde_norway::Error, secret_hint: &str) -> String {
    let msg = e.to_string();
    let loc = e.location();
    let body = match &loc {
        Some(l) => msg.replacen(&format!(" at line {} column {}", l.line(), l.column()), "", 1),
        None => msg.clone(),
    };
    let (mut path, mut rest) = match body.split_once(": ") {
        Some((p, r)) if !p.is_empty() && !p.contains(char::is_whitespace) => {
            (Some(p.to_string()), r.to_string())
        }
        _ => (None, body.clone()),
    };
    if let Some(field) = rest
        .strip_prefix("unknown field `")
        .and_then(|r| r.split_once('`'))
        .map(|(f, _)| f.to_string())
    {
        path = Some(match path {
            Some(p) => format!("{p}.{field}"),
            None => field,
        });
    }
    let secret = path.as_deref().is_some_and(|p| {
        p.split('.')
            .any(|seg| SECRET_KEYS.contains(&seg.split('[').next().unwrap_or(seg)))
    });
    if secret && !rest.starts_with("unknown field") {
        rest = secret_hint.to_string();
    }
    let at = loc
        .map(|l| format!(" (line {}, column {})", l.line(), l.column()))
        .unwrap_or_default();
    match path {
        Some(p) => format!("{p}: {rest}{at}"),
        None => format!("{rest}{at}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_only_and_capped() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        std::fs::write(&f, "hello").unwrap();
        assert_eq!(read_to_string(&f, "file").unwrap(), "hello");
        let e = read_capped(&f, "file", 4).unwrap_err().to_string();
        assert!(e.contains("larger than the 4-byte limit"), "{e}");
        let e = read(d.path(), "config file").unwrap_err().to_string();
        assert!(e.contains("config file") && e.contains("is a directory"), "{e}");
        let e = read(Path::new("/dev/null"), "CA bundle").unwrap_err().to_string();
        assert!(e.contains("CA bundle") && e.contains("not a regular file"), "{e}");
        std::fs::write(&f, [0xff, 0xfe]).unwrap();
        assert!(read_to_string(&f, "file")
            .unwrap_err()
            .to_string()
            .contains("not UTF-8"));
        assert!(read(&d.path().join("missing"), "file").is_err());
    }
}
