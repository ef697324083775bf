//! `HostileHttp`: a raw TCP server on loopback that misbehaves below the
//! HTTP layer the other fakes (hyper-based) can express: a huge or endless
//! body, a body trickled one byte at a time, a connection reset before any
//! answer, a connection kept open in silence. It counts connections (and
//! those still open) and body bytes actually written, so a test can tell how
//! much the client read, how often it came back and whether it hung up.

use anyhow::{Context, Result};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How the server answers every request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Misbehaviour {
    /// `status` with a body of `len` bytes (`Content-Length` set), or an
    /// endless one (`None`: no length, `Connection: close`, written until the
    /// client goes away).
    HugeBody {
        /// Status code.
        status: u16,
        /// Body length, or endless.
        len: Option<u64>,
    },
    /// `status` with `Content-Length: len`, then one body byte every
    /// `every` (the connection never goes silent long enough for a read
    /// timeout of more than `every`).
    Trickle {
        /// Status code.
        status: u16,
        /// Announced body length.
        len: u64,
        /// Pause between bytes.
        every: Duration,
    },
    /// Read the request, then reset the connection (`SO_LINGER=0`) without
    /// answering.
    Reset,
    /// Read the request, then keep the connection open without a byte of
    /// answer until the client goes away.
    Silent,
    /// A registry that echoes credentials: without `Authorization`, `401`
    /// with a Basic challenge (or a Bearer one naming `bearer_realm`); with
    /// it, `400` with a distribution error whose message repeats the header
    /// and, for Basic, the decoded `user:password`, that again URL-encoded,
    /// and the password alone in base64.
    EchoAuth {
        /// Token realm URL for a Bearer challenge; `None`: Basic.
        bearer_realm: Option<String>,
    },
}

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    open: AtomicU64,
    body_bytes: AtomicU64,
    stop: AtomicBool,
}

/// The server; stops on drop (connections in flight end at their next
/// write).
pub struct HostileHttp {
    addr: SocketAddr,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for HostileHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostileHttp").field("addr", &self.addr).finish()
    }
}

impl HostileHttp {
    /// Starts on a free port of 127.0.0.1.
    pub fn start(how: Misbehaviour) -> Result<HostileHttp> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("bind 127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let counters = Arc::new(Counters::default());
        let c = counters.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if c.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                c.connections.fetch_add(1, Ordering::SeqCst);
                c.open.fetch_add(1, Ordering::SeqCst);
                let (c, how) = (c.clone(), how.clone());
                std::thread::spawn(move || {
                    serve(conn, &how, &c);
                    c.open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Ok(HostileHttp { addr, counters })
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.counters.connections.load(Ordering::SeqCst)
    }

    /// Connections still being served: a trickle or a silence ends when the
    /// client goes away (a trickle notices at its next byte).
    pub fn open(&self) -> u64 {
        self.counters.open.load(Ordering::SeqCst)
    }

    /// Body bytes written to clients so far (what the kernel accepted).
    pub fn body_bytes(&self) -> u64 {
        self.counters.body_bytes.load(Ordering::SeqCst)
    }
}

impl Drop for HostileHttp {
    fn drop(&mut self) {
        self.counters.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

/// Read up to the end of the request head (bodies of the requests we get are
/// ignored); `None` when the client went away first.
fn read_head(conn: &mut TcpStream) -> Option<String> {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 1 << 20 {
            return None;
        }
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

/// The `EchoAuth` answer to a request head.
fn echo_auth(head: &str, bearer_realm: Option<&str>) -> String {
    use base64::Engine;
    let auth = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("authorization")
            .then(|| v.trim().to_string())
    });
    let Some(auth) = auth else {
        let challenge = match bearer_realm {
            Some(r) => format!(r#"Bearer realm="{r}",service="echo""#),
            None => r#"Basic realm="echo""#.to_string(),
        };
        let body = r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#;
        return format!(
            "HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nWWW-Authenticate: {challenge}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
    };
    let decoded = auth
        .strip_prefix("Basic ")
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .map(|d| String::from_utf8_lossy(&d).into_owned())
        .unwrap_or_default();
    let password = decoded.split_once(':').map_or("", |(_, p)| p);
    let message = format!(
        "denied: you sent {auth} ({decoded}), as a query {}, password {}",
        url_encoded(&decoded),
        base64::engine::general_purpose::STANDARD.encode(password)
    );
    let body = serde_json::json!({"errors": [{"code": "DENIED", "message": message}]}).to_string();
    format!(
        "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// `s` as a URL query encodes it (`%XX` for every byte but `A-Za-z0-9-._~`).
fn url_encoded(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

fn serve(mut conn: TcpStream, how: &Misbehaviour, c: &Counters) {
    let Some(head) = read_head(&mut conn) else {
        return;
    };
    match how {
        Misbehaviour::EchoAuth { bearer_realm } => {
            let _ = conn.write_all(echo_auth(&head, bearer_realm.as_deref()).as_bytes());
        }
        Misbehaviour::Silent => {
            let _ = conn.set_read_timeout(Some(Duration::from_millis(200)));
            let mut buf = [0u8; 4096];
            while !c.stop.load(Ordering::SeqCst) {
                match conn.read(&mut buf) {
                    Ok(0) => break,
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => break,
                    Ok(_) => {}
                }
            }
        }
        Misbehaviour::Reset => {
            crate::server::set_zero_linger(std::os::fd::AsRawFd::as_raw_fd(&conn));
            drop(conn);
        }
        Misbehaviour::HugeBody { status, len } => {
            let head = match len {
                Some(n) => format!(
                    "HTTP/1.1 {status} Hostile\r\nContent-Type: text/plain\r\nContent-Length: {n}\r\n\r\n"
                ),
                None => format!(
                    "HTTP/1.1 {status} Hostile\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"
                ),
            };
            if conn.write_all(head.as_bytes()).is_err() {
                return;
            }
            let chunk = vec![b'A'; 64 << 10];
            let mut left = len.unwrap_or(u64::MAX);
            while left > 0 && !c.stop.load(Ordering::SeqCst) {
                let n = left.min(chunk.len() as u64) as usize;
                if conn.write_all(&chunk[..n]).is_err() {
                    break;
                }
                c.body_bytes.fetch_add(n as u64, Ordering::SeqCst);
                left -= n as u64;
            }
            let _ = conn.shutdown(Shutdown::Both);
        }
        Misbehaviour::Trickle { status, len, every } => {
            let head = format!("HTTP/1.1 {status} Hostile\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n");
            if conn.write_all(head.as_bytes()).is_err() {
                return;
            }
            for _ in 0..*len {
                if c.stop.load(Ordering::SeqCst) || conn.write_all(b" ").is_err() {
                    break;
                }
                c.body_bytes.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(*every);
            }
        }
    }
}
