//! The HTTP(S) listener: accepts connections, bounds them (count, TLS handshake time, header read
//! time), optionally terminates TLS with the current (possibly just rotated) certificate, and tells
//! each request what it came over ([`Connection`]).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;
use tracing::{debug, info, warn};

use super::limits::{self, Limits};
use super::watched::Watched;
use crate::telemetry::Refusal;
use crate::telemetry::events::RateLimit;

/// What a request knows about the connection it came over (a request extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection {
    pub peer: SocketAddr,
    pub tls: bool,
    /// The client presented a certificate that verified against `--tls_client_ca_file`.
    pub client_cert: bool,
}

/// How the listener serves.
pub struct ServeOptions {
    /// TLS from the current configuration, when serving HTTPS.
    pub tls: Option<Arc<Watched<Arc<rustls::ServerConfig>>>>,
    pub limits: Limits,
}

/// Serves `router` on `listener` until `shutdown` completes, then gives open connections `grace`
/// to finish (an event stream never does by itself) and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    opts: ServeOptions,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(opts.limits.max_connections));
    let opts = Arc::new(opts);
    static ACCEPT_FAILED: RateLimit = RateLimit::new(10);
    static FULL: RateLimit = RateLimit::new(60);
    tokio::pin!(shutdown);
    loop {
        // Past the cap, stop accepting: new connections wait in the kernel's backlog.
        let slot = match slots.clone().try_acquire_owned() {
            Ok(s) => s,
            Err(_) => {
                limits::refused(Refusal::Connections);
                if FULL.allow() {
                    warn!(
                        max = opts.limits.max_connections,
                        "connection limit reached; new connections wait"
                    );
                }
                tokio::select! {
                    s = slots.clone().acquire_owned() => match s {
                        Ok(s) => s,
                        Err(_) => break,
                    },
                    () = &mut shutdown => break,
                }
            }
        };
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // EMFILE and friends: back off briefly rather than spin.
                    if ACCEPT_FAILED.allow() {
                        warn!(error = %e, "accepting a connection failed");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // No Nagle delay, as Go's listeners (cAdvisor's included) by default: an event stream
        // writes one small line at a time.
        if let Err(e) = tcp.set_nodelay(true) {
            debug!(error = %e, "cannot set TCP_NODELAY on a connection");
        }
        let watcher = graceful.watcher();
        let (router, opts) = (router.clone(), opts.clone());
        tokio::spawn(async move {
            let _slot = slot;
            match &opts.tls {
                None => {
                    let conn = Connection {
                        peer,
                        tls: false,
                        client_cert: false,
                    };
                    serve_conn(tcp, conn, router, &opts.limits, watcher).await;
                }
                Some(tls) => {
                    let acceptor = tokio_rustls::TlsAcceptor::from(tls.get().as_ref().clone());
                    let stream = match tokio::time::timeout(
                        opts.limits.handshake_timeout,
                        acceptor.accept(tcp),
                    )
                    .await
                    {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            limits::refused(Refusal::SlowClient);
                            debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    };
                    let client_cert = stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .is_some_and(|c| !c.is_empty());
                    let conn = Connection {
                        peer,
                        tls: true,
                        client_cert,
                    };
                    serve_conn(stream, conn, router, &opts.limits, watcher).await;
                }
            }
        });
    }
    drop(listener);
    info!(open = graceful.count(), "no longer accepting connections");
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        info!(
            ?grace,
            "connections still open after the shutdown grace; closing them"
        );
    }
}

async fn serve_conn<I>(
    io: I,
    conn: Connection,
    router: Router,
    limits: &Limits,
    watcher: hyper_util::server::graceful::Watcher,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let served_one = Arc::new(AtomicBool::new(false));
    let seen = served_one.clone();
    let svc = router.map_request(move |mut req: axum::http::Request<hyper::body::Incoming>| {
        seen.store(true, Ordering::Relaxed);
        req.extensions_mut().insert(conn);
        req
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_headers(limits.max_headers);
    let served = builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(svc));
    if let Err(e) = watcher.watch(served).await {
        // The header timer also closes idle keep-alive connections: only a connection that never
        // completed a request's headers was a slow client.
        if e.is_timeout() && !served_one.load(Ordering::Relaxed) {
            limits::refused(Refusal::SlowClient);
        }
        debug!(peer = %conn.peer, error = %e, "connection ended with an error");
    }
}
