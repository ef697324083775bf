//! File-system helpers of a layout (and of the store around it): atomic writes (temporary file in the
//! same folder, fsync, rename, fsync of the folder), temporary files that clean up after themselves,
//! hashing files in pieces, timestamps.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::shared_host::{self, nofollow, Folder, DIR_MODE, FILE_MODE};
use crate::digest::Digest;
use crate::error::{Error, Result};

/// Prefix of every temporary file a layout or the store creates (skipped by readers, removed by the garbage
/// collector when it belongs to no live writer).
pub(crate) const TMP_PREFIX: &str = ".tmp-";

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh temporary path next to `target` (same folder, so the final rename is atomic):
/// `.tmp-<pid>-<counter>-<random>-<name>`.
pub(crate) fn temp_path_for(target: &Path) -> PathBuf {
    let dir = target.parent().unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let short: String = name.chars().take(24).collect();
    dir.join(format!(
        "{TMP_PREFIX}{}-{}-{:08x}-{short}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        fastrand::u32(..)
    ))
}

/// The process id a temporary file name carries, if it is one of ours.
pub(crate) fn temp_owner_pid(name: &str) -> Option<u32> {
    name.strip_prefix(TMP_PREFIX)?.split('-').next()?.parse().ok()
}

/// A temporary file path removed on drop unless [`TempPath::persist`] renamed it into place.
pub(crate) struct TempPath {
    path: Option<PathBuf>,
}

impl TempPath {
    pub(crate) fn new(target: &Path) -> TempPath {
        TempPath {
            path: Some(temp_path_for(target)),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new(""))
    }

    /// Rename onto `target` (atomic within a folder) and fsync the folder.
    pub(crate) fn persist(mut self, target: &Path) -> Result<()> {
        let tmp = self.path.take().unwrap_or_default();
        if let Err(e) = fs::rename(&tmp, target) {
            let _ = fs::remove_file(&tmp);
            return Err(Error::io(target.display(), e));
        }
        sync_dir(target.parent().unwrap_or(Path::new(".")));
        Ok(())
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            let _ = fs::remove_file(p);
        }
    }
}

/// fsync a folder so a rename in it survives a crash (best effort: some file systems refuse).
pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Write `bytes` to `path` atomically: temporary file in the same folder, fsync, rename, fsync of
/// the folder. The folder must exist. The file is 0644 whatever the umask.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_mode(path, bytes, FILE_MODE)
}

/// [`write_atomic`] with the file's mode. The temporary file is created under a fresh random name
/// (`O_EXCL`, `O_NOFOLLOW`: a link planted at any name is never written through) and renamed onto
/// `path` (which replaces a link there instead of following it).
pub(crate) fn write_atomic_mode(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let tmp = TempPath::new(path);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(nofollow())
        .open(tmp.path())
        .map_err(|e| Error::io(tmp.path().display(), e))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::io(tmp.path().display(), e))?;
    drop(f);
    tmp.persist(path)
}

/// [`shared_host::inspect`] a folder, then create it when it is missing (0755, its parents too)
/// and look again: someone may have made it meanwhile. Never [`Folder::Missing`].
pub(crate) fn ensure_dir(path: &Path, what: &str, fix: &str) -> Result<Folder> {
    let state = shared_host::inspect(path, what, fix)?;
    if state != Folder::Missing {
        return Ok(state);
    }
    create_dir_all(path)?;
    match shared_host::inspect(path, what, fix)? {
        Folder::Missing => Err(Error::io(
            path.display(),
            io::Error::new(io::ErrorKind::NotFound, "removed as soon as it was created"),
        )),
        f => Ok(f),
    }
}

/// Create a folder and its parents (0755 whatever the umask), naming it in the error.
pub(crate) fn create_dir_all(dir: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(|e| Error::io(dir.display(), e))
}

/// An I/O error of kind `InvalidData` naming `path`: for corrupt store content.
pub(crate) fn corrupt(path: &Path, msg: impl Into<String>) -> Error {
    Error::io(
        path.display(),
        io::Error::new(io::ErrorKind::InvalidData, msg.into()),
    )
}

/// Read a small file whole, refusing more than `limit` bytes. `Ok(None)` when it does not exist.
pub(crate) fn read_small(path: &Path, limit: u64) -> Result<Option<Vec<u8>>> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path.display(), e)),
    };
    let mut buf = Vec::new();
    f.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io(path.display(), e))?;
    if buf.len() as u64 > limit {
        return Err(corrupt(path, format!("larger than {limit} bytes")));
    }
    Ok(Some(buf))
}

/// Size of a regular file; `None` when absent.
pub(crate) fn file_len(path: &Path) -> Result<Option<u64>> {
    match fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(Some(m.len())),
        Ok(_) => Err(corrupt(path, "not a regular file")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path.display(), e)),
    }
}

/// Hash a file in pieces with the algorithm of `expected`; returns (matches, length).
pub(crate) fn hash_file(path: &Path, expected: &Digest) -> Result<(bool, u64)> {
    let mut f = File::open(path).map_err(|e| Error::io(path.display(), e))?;
    let mut v = expected.verifier();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(path.display(), e)),
        };
        v.update(&buf[..n]);
    }
    let len = v.len();
    Ok((v.finish("").is_ok(), len))
}

/// Now, RFC 3339 in UTC with seconds (`2024-05-01T12:34:56Z`).
pub(crate) fn now_rfc3339() -> String {
    rfc3339(SystemTime::now())
}

pub(crate) fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// `2024-05-01T12:34:56Z` (what [`rfc3339`] writes; fractions of seconds and offsets are not
/// accepted) → the time; `None` for anything else.
pub(crate) fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'Z'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<u32>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let days = days_from_civil(i64::from(y), m, d);
    let secs = days * 86_400 + i64::from(h * 3600 + mi * 60 + sec);
    u64::try_from(secs)
        .ok()
        .map(|s| UNIX_EPOCH + std::time::Duration::from_secs(s))
}

/// (year, month, day) → days since 1970-01-01 (the inverse of [`civil_from_days`]).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from(if m > 2 { m - 3 } else { m + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Shift the epoch to 0000-03-01 so leap days fall at the end of a 400-year era.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // year of era [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of year, March-based [0, 365]
    let mp = (5 * doy + 2) / 153; // month, March-based [0, 11]
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_714_566_896)),
            "2024-05-01T12:34:56Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(4_107_542_399)),
            "2100-02-28T23:59:59Z"
        );
    }

    #[test]
    fn timestamps_read_back() {
        for secs in [0, 951_782_400, 1_714_566_896, 4_107_542_399] {
            let t = UNIX_EPOCH + Duration::from_secs(secs);
            assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t));
        }
        for bad in [
            "",
            "2024-05-01",
            "2024-13-01T00:00:00Z",
            "2024-05-01T12:34:56+01:00",
            "x",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn atomic_write_leaves_no_temp() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("index.json");
        write_atomic(&p, b"{}").unwrap();
        write_atomic(&p, b"{\"a\":1}").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"{\"a\":1}");
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
        let t = temp_path_for(&p);
        let name = t.file_name().unwrap().to_str().unwrap();
        assert_eq!(temp_owner_pid(name), Some(std::process::id()));
        assert_eq!(temp_owner_pid("index.json"), None);
    }
}
