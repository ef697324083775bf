//! Progress for people: one status line redrawn on stderr while a run works, when stderr is a
//! terminal (and `--log-format human`). Elsewhere (CI logs, Ansible) nothing is drawn; the phase
//! logs (`tracing` info events) tell the story instead.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

static PHASE: Mutex<&'static str> = Mutex::new("");
static DONE: AtomicU64 = AtomicU64::new(0);
static TOTAL: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);
static DRAWING: AtomicBool = AtomicBool::new(false);

/// Start a phase with `total` steps.
pub fn phase(name: &'static str, total: u64) {
    *PHASE.lock().unwrap_or_else(|p| p.into_inner()) = name;
    DONE.store(0, Ordering::Relaxed);
    TOTAL.store(total, Ordering::Relaxed);
}

/// One step of the current phase done.
pub fn step() {
    DONE.fetch_add(1, Ordering::Relaxed);
}

/// Bytes sent.
pub fn bytes(n: u64) {
    BYTES.fetch_add(n, Ordering::Relaxed);
}

fn line() -> String {
    let phase = *PHASE.lock().unwrap_or_else(|p| p.into_inner());
    let (done, total) = (DONE.load(Ordering::Relaxed), TOTAL.load(Ordering::Relaxed));
    let mib = BYTES.load(Ordering::Relaxed) as f64 / (1024.0 * 1024.0);
    let width = 24usize;
    let filled = if total > 0 {
        (done.min(total) as usize * width) / total as usize
    } else {
        0
    };
    format!(
        "{phase:<14} [{}{}] {done}/{total}  {mib:.1} MiB sent",
        "#".repeat(filled),
        "-".repeat(width - filled)
    )
}

/// Draw the status line until the returned guard is dropped; a no-op unless stderr is a terminal.
pub fn start() -> Guard {
    if !std::io::stderr().is_terminal() || DRAWING.swap(true, Ordering::SeqCst) {
        return Guard { active: false };
    }
    std::thread::spawn(|| {
        while DRAWING.load(Ordering::SeqCst) {
            let mut e = std::io::stderr().lock();
            let _ = write!(e, "\r\x1b[2K{}", line());
            let _ = e.flush();
            drop(e);
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = write!(std::io::stderr(), "\r\x1b[2K");
    });
    Guard { active: true }
}

/// Stops the status line.
pub struct Guard {
    active: bool,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.active {
            DRAWING.store(false, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_shows_phase_counts_and_bytes() {
        phase("copy", 4);
        step();
        step();
        bytes(3 * 1024 * 1024);
        let l = line();
        assert!(l.starts_with("copy"), "{l}");
        assert!(l.contains("2/4") && l.contains("3.0 MiB"), "{l}");
        assert!(l.contains("############------------"), "{l}");
    }
}
