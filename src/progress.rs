//! Progress for people watching a run, as a handle passed in (no global state): the face that runs
//! a command (the CLI) creates a [`Progress`] and hands clones down through `RunOptions` and
//! `CopyOptions`; the engine marks phases and steps on it and the copy layer adds the blob bytes it
//! moves. Library users, tests and the Ansible module get [`Progress::none`] (the default), which
//! records nothing and prints nothing.
//!
//! What is shown, on stderr only:
//! - stderr is a terminal (human log format): one bar per phase (source check, architectures, copy
//!   check, blobs, manifests, lists, verify, labels, source label) with done/total, bytes, rate and
//!   ETA, redrawn a few times a second; log lines are printed above it (the log writer goes through [`Progress::write_log`],
//!   which clears the bar, writes the line and redraws), and each phase of two seconds or more leaves
//!   one final line.
//! - otherwise (CI logs, files): one progress log event every interval (30 s by default) with the same
//!   figures, and a final one per phase that lasted an interval (a shorter one says its outcome in
//!   the engine's own log line). They go through the run's logger, so they are timestamped,
//!   scrubbed and in JSON with `--log-format json` (and `-q` hides them).
//!
//! The blobs phase counts the bytes the copy layer pumps from the source (once per blob, whatever the
//! number of uploads it is teed to); its expected total shrinks when a blob is mounted instead.
//!
//! Hand-written rather than `indicatif`: the bar is a single line, the same figures are needed as a
//! plain log line, and printing logs above the bar needs the log writer and the drawer to share one
//! lock anyway; that is a few hundred lines here (with their tests) against a crate and its
//! dependencies (`indicatif` brings `console`, `unicode-width`, `portable-atomic`, …).

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How often the terminal bar is redrawn.
const BAR_TICK: Duration = Duration::from_millis(200);
/// Width of the `[####----]` part of the bar.
const BAR_WIDTH: usize = 20;

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A bar on a terminal, redrawn in place.
    Bar,
    /// A log event every interval, and one when each phase ends.
    Lines(Duration),
}

/// A cheap, clonable progress handle; [`Progress::none`] (the default) does nothing.
#[derive(Clone, Default)]
pub struct Progress(Option<Arc<Inner>>);

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            None => f.write_str("Progress(none)"),
            Some(i) => write!(f, "Progress({:?})", i.mode),
        }
    }
}

struct Inner {
    mode: Mode,
    phase: Mutex<Option<PhaseInfo>>,
    done: AtomicU64,
    bytes: AtomicU64,
    /// Bytes the phase expects to move (may shrink when a blob needs no transfer after all).
    total_bytes: AtomicU64,
    /// Everything written to the terminal while a bar may be on it.
    screen: Mutex<Screen>,
    /// The drawer thread, while it runs.
    drawer: Mutex<Option<Drawer>>,
    /// A phase shorter than this leaves no final line: its outcome is the engine's own log line,
    /// and a fast run is not a screen of `… in 0s` lines.
    min_final: Duration,
}

/// On a terminal, a phase of at least this long leaves its final line.
const BAR_FINAL: Duration = Duration::from_secs(2);

/// The drawer thread: its stop flag (set, then notified) and handle.
struct Drawer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    handle: std::thread::JoinHandle<()>,
}

#[derive(Clone, Copy)]
struct PhaseInfo {
    name: &'static str,
    total: u64,
    started: Instant,
    /// A progress line was printed for it (off a terminal): its final line then follows, however
    /// short it was, so a log never stops mid-count.
    ticked: bool,
}

struct Screen {
    out: Box<dyn Write + Send>,
    /// The bar is on the current line.
    bar_shown: bool,
}

/// The figures of a phase at one moment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Snapshot {
    pub phase: &'static str,
    pub done: u64,
    pub total: u64,
    pub bytes: u64,
    /// 0 when the phase moves no bytes (or does not know how many).
    pub total_bytes: u64,
    pub elapsed: Duration,
}

impl Progress {
    /// The no-op handle.
    pub fn none() -> Progress {
        Progress(None)
    }

    /// A handle drawing on stderr.
    pub fn new(mode: Mode) -> Progress {
        Progress::with_writer(mode, Box::new(std::io::stderr()))
    }

    /// A handle drawing into `out` (the bar and log lines; `Lines` events go through `tracing`). A
    /// phase leaves a final line when it lasted two seconds on a terminal, or one interval (so it
    /// has had progress lines) otherwise.
    pub fn with_writer(mode: Mode, out: Box<dyn Write + Send>) -> Progress {
        let min_final = match mode {
            Mode::Bar => BAR_FINAL,
            Mode::Lines(every) => every,
        };
        Progress::build(mode, out, min_final)
    }

    fn build(mode: Mode, out: Box<dyn Write + Send>, min_final: Duration) -> Progress {
        Progress(Some(Arc::new(Inner {
            min_final,
            mode,
            phase: Mutex::new(None),
            done: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            total_bytes: AtomicU64::new(0),
            screen: Mutex::new(Screen {
                out,
                bar_shown: false,
            }),
            drawer: Mutex::new(None),
        })))
    }

    /// The handle for a command line: a bar when stderr is a terminal and logs are human-readable,
    /// else lines every `interval`; nothing when `interval` is zero.
    pub fn for_stderr(interval: Duration, terminal: bool, human: bool) -> Progress {
        if interval.is_zero() {
            Progress::none()
        } else if terminal && human {
            Progress::new(Mode::Bar)
        } else {
            Progress::new(Mode::Lines(interval))
        }
    }

    /// End the current phase (its final line) and start one of `total` steps; with nothing to do
    /// (`total` 0), no phase is shown.
    pub fn phase(&self, name: &'static str, total: u64) {
        let Some(i) = &self.0 else { return };
        i.end_phase();
        if total == 0 {
            return;
        }
        i.done.store(0, Ordering::Relaxed);
        i.bytes.store(0, Ordering::Relaxed);
        i.total_bytes.store(0, Ordering::Relaxed);
        *lock(&i.phase) = Some(PhaseInfo {
            name,
            total,
            started: Instant::now(),
            ticked: false,
        });
        i.ensure_drawer(&self.0);
    }

    /// One step of the current phase done; the last one ends the phase (its final line now, not
    /// repeated progress lines while the next phase is being prepared).
    pub fn step(&self) {
        let Some(i) = &self.0 else { return };
        let done = i.done.fetch_add(1, Ordering::Relaxed) + 1;
        let total = lock(&i.phase).map(|p| p.total);
        if total == Some(done) {
            i.end_phase();
        }
    }

    /// Bytes moved in the current phase.
    pub fn bytes(&self, n: u64) {
        if let Some(i) = &self.0 {
            i.bytes.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// The current phase expects `n` more bytes.
    pub fn add_total_bytes(&self, n: u64) {
        if let Some(i) = &self.0 {
            i.total_bytes.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// The current phase will not move `n` of the bytes it expected (a blob was mounted instead).
    pub fn sub_total_bytes(&self, n: u64) {
        if let Some(i) = &self.0 {
            let _ = i
                .total_bytes
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                    Some(t.saturating_sub(n))
                });
        }
    }

    /// The current phase's figures (None with no phase, or for the no-op handle).
    pub fn snapshot(&self) -> Option<Snapshot> {
        self.0.as_ref().and_then(|i| i.snapshot())
    }

    /// End the current phase (its final line), stop drawing and clear the bar. Call when the
    /// command is done; a later `phase` starts drawing again.
    pub fn finish(&self) {
        let Some(i) = &self.0 else { return };
        i.end_phase();
        let drawer = lock(&i.drawer).take();
        if let Some(Drawer { stop, handle }) = drawer {
            *lock(&stop.0) = true;
            stop.1.notify_all();
            let _ = handle.join();
        }
        let mut s = lock(&i.screen);
        s.clear_bar();
        let _ = s.out.flush();
    }

    /// Write a log line (whole lines) to stderr, above the bar when one is drawn.
    pub fn write_log(&self, buf: &[u8]) -> std::io::Result<()> {
        let Some(i) = &self.0 else {
            return std::io::stderr().write_all(buf);
        };
        let mut s = lock(&i.screen);
        let redraw = s.bar_shown;
        s.clear_bar();
        s.out.write_all(buf)?;
        if redraw {
            if let Some(snap) = i.snapshot() {
                s.show_bar(&bar_line(&snap));
            }
        }
        s.out.flush()
    }
}

impl Inner {
    fn snapshot(&self) -> Option<Snapshot> {
        let p = (*lock(&self.phase))?;
        Some(self.snapshot_of(p))
    }

    fn snapshot_of(&self, p: PhaseInfo) -> Snapshot {
        Snapshot {
            phase: p.name,
            done: self.done.load(Ordering::Relaxed),
            total: p.total,
            bytes: self.bytes.load(Ordering::Relaxed),
            total_bytes: self.total_bytes.load(Ordering::Relaxed),
            elapsed: p.started.elapsed(),
        }
    }

    /// The final line of the current phase, if any; no phase afterwards.
    fn end_phase(&self) {
        let Some(p) = lock(&self.phase).take() else { return };
        let p_ticked = p.ticked;
        let snap = self.snapshot_of(p);
        let text = final_line(&snap);
        let keep = p_ticked || snap.elapsed >= self.min_final;
        match self.mode {
            Mode::Bar => {
                let mut s = lock(&self.screen);
                s.clear_bar();
                if keep {
                    let _ = writeln!(s.out, "{text}");
                }
                let _ = s.out.flush();
            }
            Mode::Lines(_) if keep => tracing::info!("progress: {text}"),
            Mode::Lines(_) => {}
        }
    }

    /// Start the drawer thread unless it runs. It holds a weak reference: it never keeps a
    /// dropped handle alive.
    fn ensure_drawer(&self, me: &Option<Arc<Inner>>) {
        let Some(me) = me else { return };
        let mut d = lock(&self.drawer);
        if d.is_some() {
            return;
        }
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let (weak, stop2, mode) = (Arc::downgrade(me), stop.clone(), self.mode);
        let tick = match mode {
            Mode::Bar => BAR_TICK,
            Mode::Lines(every) => every,
        };
        let spawned = std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || loop {
                let stopped = lock(&stop2.0);
                let (stopped, _) = stop2
                    .1
                    .wait_timeout_while(stopped, tick, |s| !*s)
                    .unwrap_or_else(|p| p.into_inner());
                if *stopped {
                    return;
                }
                drop(stopped);
                let Some(i) = weak.upgrade() else { return };
                let Some(snap) = i.snapshot() else { continue };
                match mode {
                    Mode::Bar => {
                        let mut s = lock(&i.screen);
                        s.show_bar(&bar_line(&snap));
                        let _ = s.out.flush();
                    }
                    Mode::Lines(_) => {
                        if let Some(p) = lock(&i.phase).as_mut() {
                            p.ticked = true;
                        }
                        tracing::info!("progress: {}", line(&snap))
                    }
                }
            });
        if let Ok(handle) = spawned {
            *d = Some(Drawer { stop, handle });
        }
    }
}

impl Screen {
    fn clear_bar(&mut self) {
        if self.bar_shown {
            let _ = self.out.write_all(b"\r\x1b[2K");
            self.bar_shown = false;
        }
    }

    fn show_bar(&mut self, text: &str) {
        let _ = write!(self.out, "\r\x1b[2K{text}");
        self.bar_shown = true;
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// `1.5 KiB`, `310.2 MiB`, `1.2 GiB`: byte counts for people, the one formatter of them (progress,
/// reports, the CLI's tables).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// `45s`, `3m05s`, `1h02m`.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

impl Snapshot {
    /// Bytes per second so far (None before any byte or any time).
    pub fn rate(&self) -> Option<f64> {
        let secs = self.elapsed.as_secs_f64();
        (self.bytes > 0 && secs > 0.0).then(|| self.bytes as f64 / secs)
    }

    /// Time left: the longer of what the byte rate (when the phase knows its bytes) and the pace of
    /// steps predict (bytes can be nearly all through while the last steps still wait).
    pub fn eta(&self) -> Option<Duration> {
        if self.total == 0 || self.done >= self.total {
            return None;
        }
        let by_bytes = (self.total_bytes > 0)
            .then(|| self.rate())
            .flatten()
            .map(|rate| self.total_bytes.saturating_sub(self.bytes) as f64 / rate);
        let by_steps = (self.done > 0).then(|| {
            let per_step = self.elapsed.as_secs_f64() / self.done as f64;
            per_step * (self.total - self.done) as f64
        });
        let secs = match (by_bytes, by_steps) {
            (Some(a), Some(b)) => a.max(b),
            (a, b) => a.or(b)?,
        };
        Some(Duration::from_secs_f64(secs))
    }

    /// `310.2 MiB of 1.2 GiB  45.3 MiB/s` (what is known of it).
    fn bytes_part(&self) -> String {
        let mut s = String::new();
        if self.bytes > 0 || self.total_bytes > 0 {
            s.push_str(&human_bytes(self.bytes));
            if self.total_bytes > 0 {
                s.push_str(" of ");
                s.push_str(&human_bytes(self.total_bytes.max(self.bytes)));
            }
        }
        if let Some(r) = self.rate() {
            s.push_str(&format!("  {}/s", human_bytes(r as u64)));
        }
        s
    }
}

/// The progress figures: `blobs 12/40  310.2 MiB of 1.2 GiB  45.3 MiB/s  ETA 27s`.
pub fn line(s: &Snapshot) -> String {
    let mut out = format!("{} {}/{}", s.phase, s.done.min(s.total), s.total);
    let bytes = s.bytes_part();
    if !bytes.is_empty() {
        out.push_str("  ");
        out.push_str(&bytes);
    }
    if let Some(eta) = s.eta() {
        out.push_str(&format!("  ETA {}", human_duration(eta)));
    }
    out
}

/// The line a phase leaves when it ends: `blobs 40/40  1.2 GiB  45.3 MiB/s  in 27s`.
pub fn final_line(s: &Snapshot) -> String {
    let mut out = format!("{} {}/{}", s.phase, s.done.min(s.total), s.total);
    if s.bytes > 0 {
        out.push_str(&format!("  {}", human_bytes(s.bytes)));
        if let Some(r) = s.rate() {
            out.push_str(&format!("  {}/s", human_bytes(r as u64)));
        }
    }
    out.push_str(&format!("  in {}", human_duration(s.elapsed)));
    out
}

/// The terminal bar: `blobs         [######--------------] 12/40  310.2 MiB of 1.2 GiB  ETA 27s`,
/// made to fit the terminal (a wrapped bar cannot be redrawn in place).
fn bar_line(s: &Snapshot) -> String {
    fit_bar(s, crate::terminal::stderr_columns().unwrap_or(80))
}

/// The bar in at most `columns - 1` characters, giving up the least useful part first: the bar
/// narrows, then goes, then the bytes figures go; the counts and the ETA stay whenever they fit.
fn fit_bar(s: &Snapshot, columns: usize) -> String {
    let room = columns.saturating_sub(1).max(20);
    let figures = line(s);
    let rest = figures.strip_prefix(s.phase).unwrap_or(&figures).trim_start();
    let filled = |width: usize| {
        if s.total > 0 {
            (s.done.min(s.total) as usize * width) / s.total as usize
        } else {
            0
        }
    };
    for width in [BAR_WIDTH, 10, 5] {
        let n = filled(width);
        let text = format!(
            "{:<13} [{}{}] {rest}",
            s.phase,
            "#".repeat(n),
            "-".repeat(width - n)
        );
        if text.chars().count() <= room {
            return text;
        }
    }
    let plain = format!("{} {rest}", s.phase);
    if plain.chars().count() <= room {
        return plain;
    }
    let mut short = format!("{} {}/{}", s.phase, s.done.min(s.total), s.total);
    if let Some(eta) = s.eta() {
        short.push_str(&format!("  ETA {}", human_duration(eta)));
    }
    short.chars().take(room).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(done: u64, total: u64, bytes: u64, total_bytes: u64, secs: u64) -> Snapshot {
        Snapshot {
            phase: "blobs",
            done,
            total,
            bytes,
            total_bytes,
            elapsed: Duration::from_secs(secs),
        }
    }

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn line_shows_counts_bytes_rate_and_eta_from_bytes() {
        // 100 MiB of 400 MiB in 10 s: 10 MiB/s, 300 MiB left: 30 s (steps say 3.3 s).
        let l = line(&snap(9, 12, 100 * MIB, 400 * MIB, 10));
        assert_eq!(l, "blobs 9/12  100.0 MiB of 400.0 MiB  10.0 MiB/s  ETA 30s");
        // Bytes nearly through, the last steps waiting: the steps' pace wins (3 s a step, 3 left).
        let s = snap(8, 11, 115 * MIB, 120 * MIB, 24);
        assert_eq!(s.eta(), Some(Duration::from_secs(9)));
    }

    #[test]
    fn eta_from_steps_when_no_bytes() {
        // 4 of 10 in 20 s: 5 s a step, 6 left.
        let s = Snapshot {
            phase: "verify",
            ..snap(4, 10, 0, 0, 20)
        };
        assert_eq!(s.eta(), Some(Duration::from_secs(30)));
        assert_eq!(line(&s), "verify 4/10  ETA 30s");
        assert_eq!(snap(0, 10, 0, 0, 5).eta(), None);
        assert_eq!(snap(10, 10, 5, 5, 5).eta(), None);
    }

    #[test]
    fn final_line_and_bar() {
        let s = snap(40, 40, 3 * 1024 * MIB, 0, 200);
        assert_eq!(final_line(&s), "blobs 40/40  3.0 GiB  15.4 MiB/s  in 3m20s");
        let b = fit_bar(&snap(2, 4, 0, 0, 1), 80);
        assert!(b.starts_with("blobs         [##########----------] 2/4"), "{b}");
    }

    /// The bar fits every terminal width, and keeps the counts and the ETA as long as they fit
    /// (before, it was cut at 80 columns from the right: the ETA went first).
    #[test]
    fn the_bar_fits_the_terminal_and_keeps_the_eta() {
        let s = snap(9, 1200, 100 * MIB, 40 * 1024 * MIB, 10);
        let full = line(&s);
        assert!(full.ends_with("ETA 1h08m"), "{full}");
        for columns in [200, 120, 100, 80, 72, 60, 40, 30, 21] {
            let b = fit_bar(&s, columns);
            assert!(b.chars().count() < columns.max(21), "{columns}: {b}");
            if columns >= 30 {
                assert!(b.contains("9/1200") && b.ends_with("ETA 1h08m"), "{columns}: {b}");
            }
        }
        // Wide: everything, with the full bar; narrow: the bytes figures go before the counts.
        assert!(fit_bar(&s, 200).contains("[--------------------]"));
        assert!(fit_bar(&s, 200).contains("of 40.0 GiB"));
        assert_eq!(fit_bar(&s, 40), "blobs 9/1200  ETA 1h08m");
    }

    #[test]
    fn human_units() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_duration(Duration::from_secs(3725)), "1h02m");
    }

    /// A writer the tests can read back.
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            lock(&self.0).extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn bar_logs_above_and_final_lines() {
        let buf = Buf::default();
        let p = Progress::build(Mode::Bar, Box::new(buf.clone()), Duration::ZERO);
        p.phase("source check", 2);
        p.step();
        std::thread::sleep(BAR_TICK * 2);
        p.write_log(b"INFO a log line\n").unwrap();
        p.step();
        p.phase("verify", 1);
        p.finish();
        let out = String::from_utf8(lock(&buf.0).clone()).unwrap();
        // The bar was cleared before the log line, and redrawn after it.
        assert!(
            out.contains("\r\x1b[2KINFO a log line\n\r\x1b[2Ksource check"),
            "{out:?}"
        );
        // The last step ended the phase: its final line once.
        assert_eq!(out.matches("source check 2/2  in 0s\n").count(), 1, "{out:?}");
        assert!(out.contains("verify 0/1  in 0s\n"), "{out:?}");
        assert!(out.ends_with("\r\x1b[2K") || out.ends_with('\n'), "{out:?}");
    }

    /// A phase shorter than the minimum leaves no final line (a fast run is not a screen of
    /// `… in 0s` lines); a long one does.
    #[test]
    fn only_a_long_phase_leaves_its_final_line() {
        let buf = Buf::default();
        let p = Progress::build(Mode::Bar, Box::new(buf.clone()), Duration::from_millis(300));
        p.phase("source check", 1);
        p.step();
        p.phase("blobs", 1);
        std::thread::sleep(Duration::from_millis(400));
        p.step();
        p.finish();
        let out = String::from_utf8(lock(&buf.0).clone()).unwrap();
        assert!(!out.contains("source check 1/1"), "{out:?}");
        assert!(out.contains("blobs 1/1"), "{out:?}");
    }

    #[test]
    fn none_records_nothing() {
        let p = Progress::none();
        p.phase("blobs", 3);
        p.step();
        assert_eq!(p.snapshot(), None);
        p.finish();
    }
}
