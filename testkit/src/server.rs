//! A small loopback HTTP/1.1 server scaffold shared by the proxy, the token
//! server and the fake HTTP servers: optional TLS, a handler closure, a
//! per-connection kill switch (for fault injection), and synchronous
//! `down`/`up`/drop that only return once the listener is really closed.

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinSet;

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The body type every testkit server answers with.
pub(crate) type Body = BoxBody<Bytes, BoxError>;
pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
pub(crate) type Handler = Arc<dyn Fn(Request<Incoming>, ConnCtx) -> BoxFuture<Response<Body>> + Send + Sync>;

pub(crate) fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

pub(crate) fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// A plain response with a body and a content type.
pub(crate) fn respond(status: u16, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

#[derive(Default)]
struct Kill {
    notify: Notify,
    reset: AtomicBool,
}

/// Per-connection context handed to handlers.
#[derive(Clone)]
pub(crate) struct ConnCtx {
    kill: Arc<Kill>,
}

impl ConnCtx {
    /// Drops the TCP connection. With `reset`, `SO_LINGER=0` first so the
    /// peer gets a RST instead of a FIN.
    pub(crate) fn kill(&self, reset: bool) {
        self.kill.reset.store(reset, Ordering::SeqCst);
        self.kill.notify.notify_one();
    }
}

pub(crate) fn set_zero_linger(fd: RawFd) {
    let lin = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: fd is an open socket owned by the connection being torn down;
    // the pointer and length describe a valid `linger`.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &lin as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

enum Ctl {
    Down(std_mpsc::SyncSender<()>),
    Up(std::net::TcpListener, std_mpsc::SyncSender<()>),
    Shutdown(std_mpsc::SyncSender<()>),
}

/// A running server. Dropping it closes the listener and every connection.
pub(crate) struct Server {
    addr: SocketAddr,
    ctl: mpsc::UnboundedSender<Ctl>,
    up: AtomicBool,
}

impl Server {
    /// Binds `addr` (port 0 for a free port) and starts serving.
    pub(crate) fn start(
        addr: SocketAddr,
        tls: Option<Arc<rustls::ServerConfig>>,
        handler: Handler,
    ) -> Result<Server> {
        let listener = bind_std(addr)?;
        let addr = listener.local_addr()?;
        let (tx, rx) = mpsc::unbounded_channel();
        let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        crate::rt::runtime().spawn(accept_loop(listener, acceptor, handler, rx));
        Ok(Server {
            addr,
            ctl: tx,
            up: AtomicBool::new(true),
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::SeqCst)
    }

    /// Closes the listener (new connections are refused) and drops every open
    /// connection. Returns once that is done.
    pub(crate) fn down(&self) {
        let (tx, rx) = std_mpsc::sync_channel(1);
        if self.ctl.send(Ctl::Down(tx)).is_ok() {
            let _ = rx.recv_timeout(Duration::from_secs(10));
        }
        self.up.store(false, Ordering::SeqCst);
    }

    /// Listens again on the same address.
    pub(crate) fn up(&self) -> Result<()> {
        if self.is_up() {
            return Ok(());
        }
        let listener = bind_std(self.addr)?;
        let (tx, rx) = std_mpsc::sync_channel(1);
        self.ctl
            .send(Ctl::Up(listener, tx))
            .map_err(|_| anyhow::anyhow!("server task is gone"))?;
        rx.recv_timeout(Duration::from_secs(10))
            .context("server task did not acknowledge up()")?;
        self.up.store(true, Ordering::SeqCst);
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let (tx, rx) = std_mpsc::sync_channel(1);
        if self.ctl.send(Ctl::Shutdown(tx)).is_ok() {
            let _ = rx.recv_timeout(Duration::from_secs(10));
        }
    }
}

fn bind_std(addr: SocketAddr) -> Result<std::net::TcpListener> {
    // Retry briefly: after down(), a just-closed port may need a moment.
    let mut last = None;
    for _ in 0..50 {
        match std::net::TcpListener::bind(addr) {
            Ok(l) => {
                l.set_nonblocking(true)?;
                return Ok(l);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && addr.port() != 0 => {
                last = Some(e);
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => return Err(e).with_context(|| format!("binding {addr}")),
        }
    }
    Err(last.expect("retried at least once")).with_context(|| format!("binding {addr}"))
}

async fn accept_opt(l: &Option<TcpListener>) -> std::io::Result<(TcpStream, SocketAddr)> {
    match l {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

async fn accept_loop(
    listener: std::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    handler: Handler,
    mut ctl: mpsc::UnboundedReceiver<Ctl>,
) {
    let mut listener = TcpListener::from_std(listener).ok();
    let (epoch_tx, _) = watch::channel(0u64);
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            msg = ctl.recv() => match msg {
                None => break,
                Some(Ctl::Shutdown(ack)) => {
                    listener = None;
                    close_all(&epoch_tx, &mut conns).await;
                    drop(listener);
                    let _ = ack.send(());
                    return;
                }
                Some(Ctl::Down(ack)) => {
                    listener = None;
                    close_all(&epoch_tx, &mut conns).await;
                    let _ = ack.send(());
                }
                Some(Ctl::Up(l, ack)) => {
                    listener = TcpListener::from_std(l).ok();
                    let _ = ack.send(());
                }
            },
            res = accept_opt(&listener) => {
                if let Ok((stream, _peer)) = res {
                    let _ = stream.set_nodelay(true);
                    conns.spawn(serve_conn(stream, tls.clone(), handler.clone(), epoch_tx.subscribe()));
                } else {
                    // e.g. EMFILE: back off a little instead of spinning.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    close_all(&epoch_tx, &mut conns).await;
}

async fn close_all(epoch: &watch::Sender<u64>, conns: &mut JoinSet<()>) {
    epoch.send_modify(|e| *e += 1);
    let drained = tokio::time::timeout(Duration::from_secs(5), async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        conns.abort_all();
        while conns.join_next().await.is_some() {}
    }
}

async fn serve_conn(
    stream: TcpStream,
    tls: Option<tokio_rustls::TlsAcceptor>,
    handler: Handler,
    mut epoch: watch::Receiver<u64>,
) {
    let fd = stream.as_raw_fd();
    let kill = Arc::new(Kill::default());
    let ctx = ConnCtx { kill: kill.clone() };
    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
        let fut = handler(req, ctx.clone());
        async move { Ok::<_, std::convert::Infallible>(fut.await) }
    });
    let serve: BoxFuture<()> = match tls {
        None => Box::pin(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        }),
        Some(acceptor) => Box::pin(async move {
            let Ok(Ok(tls_stream)) =
                tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await
            else {
                return;
            };
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls_stream), svc)
                .await;
        }),
    };
    tokio::select! {
        _ = serve => {}
        _ = kill.notify.notified() => {
            if kill.reset.load(Ordering::SeqCst) {
                set_zero_linger(fd);
            }
        }
        _ = epoch.changed() => {}
    }
}
