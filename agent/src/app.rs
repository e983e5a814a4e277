//! The one module that knows every other: builds sources, registry and consumers, and owns startup
//! and shutdown order.

use anyhow::Context;
use tokio::net::TcpListener;
use tracing::info;

use crate::config::Config;

/// Installs the `tracing` subscriber (stderr, filter from `--log_level` / `RUST_LOG`).
pub fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs the agent until SIGINT/SIGTERM.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let addr = match config.listen.0 {
        Some(ip) => std::net::SocketAddr::new(ip, config.listen.1),
        None => std::net::SocketAddr::from(([0, 0, 0, 0], config.listen.1)),
    };
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    info!(%addr, "serving HTTP");
    let router = axum::Router::new().route("/healthz", axum::routing::get(|| async { "ok" }));
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    info!("shut down");
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
}
