//! Stopping a run cleanly. The promoter runs a promotion under `timeout --preserve-status -k 120m
//! 115m`, which sends SIGTERM to the whole process group; a person presses Ctrl-C (SIGINT) or loses
//! the terminal (SIGHUP); a run reaches its own `deadline`. Each of these is a *stop*: a [`Stop`]
//! handle, passed down like [`crate::progress::Progress`], that the engine checks before it starts
//! new work and waits on while work is in flight. What a run does then (ends or abandons what is in
//! flight within [`GRACE`], moves no further label, writes its report as `interrupted`) is the
//! engine's ([`crate::promote`]); this module only says *that* and *why* a run must stop.
//!
//! Signals belong to the process, so the handle they feed is the process's ([`process`]); a face
//! asks for them with [`handle_signals`] before it runs a promotion (until then a signal ends the
//! process as it always did). A run derives its own handle from it with its deadline
//! ([`Stop::child`]), so runs in one process (a releases file's entries) each keep their own. A
//! second signal ends the process at once, with its conventional status (128 + the signal's number),
//! after the face's last word (the module prints its one JSON result).
//!
//! The signals are received on a thread of their own (tokio's signal streams on a one-thread
//! runtime), not by the run's runtime, so a second signal is seen however busy the run is.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// How long work in flight may still take once a run is asked to stop (then it is abandoned): a
/// request being answered finishes, a blob still streaming is cut. The report and the list files
/// are written after it, within the 5 s a stop promises.
pub const GRACE: Duration = Duration::from_secs(3);

/// The signals that stop a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    Term,
    Int,
    Hup,
}

impl Signal {
    /// `SIGTERM`, `SIGINT`, `SIGHUP`.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Term => "SIGTERM",
            Signal::Int => "SIGINT",
            Signal::Hup => "SIGHUP",
        }
    }

    /// The signal named `SIGTERM`, `SIGINT` or `SIGHUP`.
    pub fn from_name(name: &str) -> Option<Signal> {
        [Signal::Term, Signal::Int, Signal::Hup]
            .into_iter()
            .find(|s| s.name() == name)
    }

    /// The signal's number on Linux.
    pub fn number(self) -> i32 {
        match self {
            Signal::Term => 15,
            Signal::Int => 2,
            Signal::Hup => 1,
        }
    }

    /// The conventional exit status of a process ended by this signal: 128 + its number (143,
    /// 130, 129), as shells report it.
    pub fn exit_status(self) -> i32 {
        128 + self.number()
    }
}

/// Why a run stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// A signal was received.
    Signal(Signal),
    /// The run's `deadline` (this long after it started) passed.
    Deadline(Duration),
}

impl Cause {
    /// `SIGTERM`, `SIGINT`, `SIGHUP` or `deadline`: the report's `interrupted.by`.
    pub fn name(self) -> &'static str {
        match self {
            Cause::Signal(s) => s.name(),
            Cause::Deadline(_) => "deadline",
        }
    }

    /// The process's exit status for a run stopped this way: a signal's conventional status;
    /// `None` for a deadline (the run failed: 1).
    pub fn exit_status(self) -> Option<i32> {
        match self {
            Cause::Signal(s) => Some(s.exit_status()),
            Cause::Deadline(_) => None,
        }
    }
}

impl std::fmt::Display for Cause {
    /// `interrupted by SIGTERM`, `the run reached its deadline (deadline: 6000 s)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cause::Signal(s) => write!(f, "interrupted by {}", s.name()),
            Cause::Deadline(d) => write!(f, "the run reached its deadline (deadline: {} s)", d.as_secs()),
        }
    }
}

/// A run's stop: asked for by a signal (through the process's handle), by [`Stop::request`], or
/// by the deadline it was made with. Cheap to clone; [`Stop::default`] never stops by itself.
#[derive(Clone)]
pub struct Stop(Arc<Inner>);

struct Inner {
    cause: watch::Sender<Option<Cause>>,
    parent: Option<Stop>,
    /// When the deadline passes, and the deadline as given.
    deadline: Option<(Instant, Duration)>,
}

impl Default for Stop {
    fn default() -> Stop {
        Stop::new(None, None)
    }
}

impl std::fmt::Debug for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Stop({:?})", self.cause())
    }
}

impl Stop {
    fn new(parent: Option<Stop>, deadline: Option<Duration>) -> Stop {
        Stop(Arc::new(Inner {
            cause: watch::Sender::new(None),
            parent,
            deadline: deadline.map(|d| (Instant::now() + d, d)),
        }))
    }

    /// A handle that stops when this one does, or when `deadline` (from now) passes.
    pub fn child(&self, deadline: Option<Duration>) -> Stop {
        Stop::new(Some(self.clone()), deadline)
    }

    /// Ask the run to stop; the first cause given is kept. True when this was the first.
    pub fn request(&self, cause: Cause) -> bool {
        self.0.cause.send_if_modified(|c| match c {
            None => {
                *c = Some(cause);
                true
            }
            Some(_) => false,
        })
    }

    /// Why the run must stop, if it must: its own request, its parent's, or its deadline.
    pub fn cause(&self) -> Option<Cause> {
        let own = *self.0.cause.borrow();
        own.or_else(|| self.0.parent.as_ref().and_then(Stop::cause))
            .or_else(|| {
                self.0
                    .deadline
                    .filter(|(at, _)| Instant::now() >= *at)
                    .map(|(_, d)| Cause::Deadline(d))
            })
    }

    /// Must the run stop? (Checked before new work starts.)
    pub fn requested(&self) -> bool {
        self.cause().is_some()
    }

    /// Resolves once the run must stop, with why.
    pub fn wait(&self) -> Pin<Box<dyn Future<Output = Cause> + Send + '_>> {
        Box::pin(async move {
            let mut rx = self.0.cause.subscribe();
            let own = async {
                let cause = rx.wait_for(Option::is_some).await.ok().map(|c| *c);
                match cause {
                    Some(c) => c,
                    // The sender lives as long as this handle: not reached.
                    None => std::future::pending().await,
                }
            };
            let parent = async {
                match &self.0.parent {
                    Some(p) => Some(p.wait().await),
                    None => std::future::pending().await,
                }
            };
            let deadline = async {
                match self.0.deadline {
                    Some((at, d)) => {
                        tokio::time::sleep_until(at.into()).await;
                        Some(Cause::Deadline(d))
                    }
                    None => std::future::pending().await,
                }
            };
            let first = tokio::select! {
                c = own => c,
                c = parent => c,
                c = deadline => c,
            };
            // Whichever came first, the cause reported is the one `cause` gives (the earliest kept).
            self.cause().or(first).unwrap_or(Cause::Deadline(Duration::ZERO))
        })
    }

    /// Resolves [`GRACE`] (or `grace`) after the run was asked to stop: work still in flight then
    /// is abandoned.
    pub async fn expired(&self, grace: Duration) -> Cause {
        let cause = self.wait().await;
        tokio::time::sleep(grace).await;
        cause
    }
}

/// The process's handle, fed by signals once [`handle_signals`] was called (until then it never
/// stops). Runs derive theirs from it ([`Stop::child`]).
pub fn process() -> Stop {
    static PROCESS: OnceLock<Stop> = OnceLock::new();
    PROCESS.get_or_init(Stop::default).clone()
}

/// From now on SIGTERM, SIGINT and SIGHUP stop the process's runs ([`process`]) instead of ending
/// the process; a second one ends it at once: `last_word(signal)` runs, then the process exits with
/// the signal's conventional status. Called by a face before it runs a promotion; later calls do
/// nothing (the first `last_word` stays). An error when the handlers cannot be installed (the
/// signals then end the process as before).
pub fn handle_signals(last_word: fn(Signal)) -> std::io::Result<()> {
    // The first outcome, kept for later calls (an io::Error is not Clone: shared).
    static INSTALLED: OnceLock<std::result::Result<(), std::sync::Arc<std::io::Error>>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| install(last_word).map_err(std::sync::Arc::new))
        .clone()
        .map_err(|e| std::io::Error::new(e.kind(), e.to_string()))
}

fn install(last_word: fn(Signal)) -> std::io::Result<()> {
    let (ready, installed) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("copy-containers signals".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build();
            let rt = match rt {
                Ok(rt) => rt,
                Err(e) => return drop(ready.send(Err(e))),
            };
            rt.block_on(async move {
                use tokio::signal::unix::{signal, SignalKind};
                let streams = (
                    signal(SignalKind::terminate()),
                    signal(SignalKind::interrupt()),
                    signal(SignalKind::hangup()),
                );
                let (mut term, mut int, mut hup) = match streams {
                    (Ok(t), Ok(i), Ok(h)) => (t, i, h),
                    (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                        return drop(ready.send(Err(e)));
                    }
                };
                let _ = ready.send(Ok(()));
                loop {
                    let signal = tokio::select! {
                        _ = term.recv() => Signal::Term,
                        _ = int.recv() => Signal::Int,
                        _ = hup.recv() => Signal::Hup,
                    };
                    received(signal, last_word);
                }
            });
        });
    match thread {
        Ok(_) => installed
            .recv()
            .unwrap_or_else(|_| Err(std::io::Error::other("the signal thread ended"))),
        Err(e) => Err(e),
    }
}

/// A signal came: the first stops the runs, the next ends the process.
fn received(signal: Signal, last_word: fn(Signal)) {
    let stop = process();
    if stop.request(Cause::Signal(signal)) {
        tracing::warn!(
            signal = signal.name(),
            "{} received: stopping (work in flight gets {} s, then the report is written; a second signal ends the process at once)",
            signal.name(),
            GRACE.as_secs()
        );
        return;
    }
    last_word(signal);
    std::process::exit(signal.exit_status());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stop_is_asked_once_and_seen_by_children() {
        let parent = Stop::default();
        let child = parent.child(None);
        assert!(!child.requested());
        assert!(parent.request(Cause::Signal(Signal::Term)));
        assert!(
            !parent.request(Cause::Signal(Signal::Int)),
            "the first cause stays"
        );
        assert_eq!(child.cause(), Some(Cause::Signal(Signal::Term)));
        assert_eq!(child.wait().await, Cause::Signal(Signal::Term));
        // a child's own request does not reach its parent
        let other = Stop::default();
        let c = other.child(None);
        c.request(Cause::Signal(Signal::Hup));
        assert!(!other.requested());
    }

    #[tokio::test]
    async fn a_deadline_stops_the_child_only() {
        let parent = Stop::default();
        let d = Duration::from_millis(100);
        let child = parent.child(Some(d));
        assert!(!child.requested());
        assert_eq!(child.wait().await, Cause::Deadline(d));
        assert!(child.requested() && !parent.requested());
        let cause = Cause::Deadline(Duration::from_secs(60));
        assert_eq!(cause.to_string(), "the run reached its deadline (deadline: 60 s)");
        assert_eq!(cause.exit_status(), None);
    }

    #[tokio::test]
    async fn waiting_wakes_on_a_later_request() {
        let stop = Stop::default();
        let child = stop.child(None);
        let waiter = tokio::spawn(async move { child.wait().await });
        tokio::task::yield_now().await;
        stop.request(Cause::Signal(Signal::Int));
        assert_eq!(waiter.await.unwrap(), Cause::Signal(Signal::Int));
    }

    #[test]
    fn conventional_statuses() {
        let s: Vec<i32> = [Signal::Term, Signal::Int, Signal::Hup]
            .iter()
            .map(|s| s.exit_status())
            .collect();
        assert_eq!(s, [143, 130, 129]);
        assert_eq!(Signal::from_name("SIGHUP"), Some(Signal::Hup));
        assert_eq!(Signal::from_name("deadline"), None);
        assert_eq!(Cause::Signal(Signal::Term).to_string(), "interrupted by SIGTERM");
    }
}
