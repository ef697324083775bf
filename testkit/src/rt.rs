//! Process-wide plumbing: the background tokio runtime that runs every
//! in-process server of the testkit, a blocking bridge onto it, and the
//! spawner thread that starts child processes with `PR_SET_PDEATHSIG`.

use std::future::Future;
use std::io;
use std::process::{Child, Command};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The runtime that drives the testkit's servers (proxy, token server,
/// fake HTTP servers). It is independent of whatever runtime a test uses, so
/// a test that blocks its own runtime never starves the servers it talks to.
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("cc-testkit-rt")
            .enable_all()
            .build()
            .expect("cannot build the testkit runtime")
    })
}

/// Runs `fut` on the testkit runtime and blocks the calling thread until it
/// finishes. Works from plain threads and from inside another runtime alike.
pub(crate) fn block_on<F>(fut: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (tx, rx) = mpsc::sync_channel(1);
    runtime().spawn(async move {
        let out = fut.await;
        let _ = tx.send(out);
    });
    rx.recv().expect("testkit runtime task panicked or was cancelled")
}

type SpawnRequest = (Command, mpsc::Sender<io::Result<Child>>);

/// Spawns `cmd` from a dedicated thread that lives as long as the process.
///
/// Children get `PR_SET_PDEATHSIG = SIGKILL`, which Linux ties to the thread
/// that forked them: forking from a long-lived thread means a child dies
/// with the test process (even on `SIGKILL` or abort), but not when the test
/// thread that asked for it ends.
pub(crate) fn spawn_child(mut cmd: Command) -> io::Result<Child> {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure only calls prctl, which is async-signal-safe, between
    // fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let sender = SPAWNER
        .get_or_init(|| {
            let (tx, rx) = mpsc::channel::<SpawnRequest>();
            std::thread::Builder::new()
                .name("cc-testkit-spawner".into())
                .spawn(move || {
                    for (mut cmd, reply) in rx {
                        let _ = reply.send(cmd.spawn());
                    }
                })
                .expect("cannot start the testkit spawner thread");
            Mutex::new(tx)
        })
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let (tx, rx) = mpsc::channel();
    sender
        .send((cmd, tx))
        .map_err(|_| io::Error::other("testkit spawner thread is gone"))?;
    rx.recv()
        .map_err(|_| io::Error::other("testkit spawner thread is gone"))?
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

/// A not-cryptographic but unpredictable-enough 64-bit value (for secrets of
/// throw-away test registries, token ids).
pub(crate) fn random_u64() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_nanos() as u64;
    let mut state = nanos
        ^ (u64::from(std::process::id()) << 32)
        ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    crate::util::splitmix64(&mut state)
}
