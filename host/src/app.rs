//! Assembling and running the server: fixed endpoints (health, readiness, admin), the adapter
//! fallback, graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json};
use axum::routing::get;
use serde_json::json;
use tokio::sync::Semaphore;

use crate::adapter_host::AdapterEngine;
use crate::adapter_host::registry::AdapterRegistry;
use crate::adapter_host::reload::Reloader;
use crate::adapter_host::wit::latest::types::RouteAction;
use crate::config::Config;
use crate::proxy::{AppState, handle};
use crate::upstream::Upstream;

/// Build the shared state and load the adapters once (synchronously, before serving).
pub async fn build_state(config: Config) -> anyhow::Result<(Arc<AppState>, Reloader)> {
    let engine = Arc::new(
        AdapterEngine::new(
            &config.sandbox,
            &config.cache_dir(),
            config.limits.max_concurrent_requests,
        )
        .context("starting the adapter engine")?,
    );
    let registry = Arc::new(AdapterRegistry::default());
    if !config.plugins_dir.is_dir() {
        anyhow::bail!(
            "plugins directory {} does not exist (set CLIGATE_PLUGINS_DIR or plugins_dir)",
            config.plugins_dir.display()
        );
    }
    let mut reloader = Reloader::new(
        config.plugins_dir.clone(),
        Arc::clone(&engine),
        Arc::clone(&registry),
    );
    let loaded = reloader.rescan().await;
    let (hits, misses) = engine.cache_stats();
    tracing::info!(
        loaded,
        dir = %config.plugins_dir.display(),
        cache_hits = hits,
        cache_misses = misses,
        "adapters loaded"
    );
    let upstream = Upstream::from_config(&config).context("building the upstream client")?;
    let permits = Arc::new(Semaphore::new(
        config.limits.max_concurrent_requests as usize,
    ));
    let state = Arc::new(AppState {
        config: Arc::new(config),
        engine,
        registry,
        upstream,
        permits,
        sequence: AtomicU64::new(0),
        streams_in_flight: Arc::new(AtomicU64::new(0)),
    });
    Ok((state, reloader))
}

/// The router: fixed endpoints, then every adapter route through the fallback.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/admin/adapters", get(admin_adapters))
        .fallback(handle)
        .with_state(state)
}

async fn readyz(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let loaded = state.registry.current().adapters.len();
    if loaded > 0 {
        (StatusCode::OK, format!("ready: {loaded} adapter(s)"))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "no adapter loaded".to_owned(),
        )
    }
}

async fn admin_adapters(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    let registry = state.registry.current();
    let adapters: Vec<_> = registry
        .adapters
        .values()
        .map(|a| {
            json!({
                "name": a.name,
                "version": a.version,
                "dialect": a.dialect,
                "contract": a.contract,
                "file": a.file,
                "sha256": a.sha256,
                "loaded_at_unix": a.loaded_at_unix,
                "compile_ms": a.compile_time.as_millis() as u64,
                "routes": a.info.routes.iter().map(|r| json!({
                    "method": r.method,
                    "path": r.path,
                    "when_header": r.when_header,
                    "action": match r.action {
                        RouteAction::Translate => "translate",
                        RouteAction::Local => "local",
                    },
                })).collect::<Vec<_>>(),
                "sessions": a.stats.sessions.load(Ordering::Relaxed),
                "traps": a.stats.traps.load(Ordering::Relaxed),
                "deadline_hits": a.stats.deadline_hits.load(Ordering::Relaxed),
                "memory_hits": a.stats.memory_hits.load(Ordering::Relaxed),
            })
        })
        .collect();
    let (cache_hits, cache_misses) = state.engine.cache_stats();
    Json(json!({
        "adapters": adapters,
        "reloads": state.registry.history(),
        "compile_cache": {"hits": cache_hits, "misses": cache_misses},
        "streams_in_flight": state.streams_in_flight.load(Ordering::Relaxed),
    }))
}

/// Serve until SIGINT/SIGTERM, then let streams finish for at most the grace period.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let debounce = Duration::from_millis(config.sandbox.reload_debounce_ms);
    let listen = config.listen.clone();
    let addr_file = config.addr_file.clone();
    let grace = config.limits.shutdown_grace();
    if config.upstream_api_key.is_none() {
        tracing::info!(upstream = %config.upstream_url, "no upstream service credential configured");
    }
    tracing::warn!("no gateway keys are configured: anyone who can reach this address can use it");
    let (state, reloader) = build_state(config).await?;
    reloader
        .watch(debounce)
        .context("watching the plugins directory")?;
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let local: SocketAddr = listener.local_addr()?;
    tracing::info!(address = %local, "cligate listening");
    if let Some(path) = addr_file {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, local.to_string())
            .and_then(|()| std::fs::rename(&tmp, &path))
            .with_context(|| format!("writing the address file {}", path.display()))?;
    }
    let streams = Arc::clone(&state.streams_in_flight);
    let app = router(state);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut server_stop = stop_rx.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = server_stop.wait_for(|stop| *stop).await;
            })
            .await
    });
    shutdown_signal().await;
    let _ = stop_tx.send(true);
    tracing::info!(
        streams_in_flight = streams.load(Ordering::Relaxed),
        grace_ms = grace.as_millis() as u64,
        "shutting down: no new connections; in-flight streams may finish"
    );
    match tokio::time::timeout(grace, server).await {
        Ok(Ok(Ok(()))) => tracing::info!("stopped cleanly"),
        Ok(Ok(Err(err))) => tracing::error!(error = %err, "server error during shutdown"),
        Ok(Err(err)) => tracing::error!(error = %err, "server task failed"),
        Err(_) => tracing::warn!(
            streams_in_flight = streams.load(Ordering::Relaxed),
            "grace period over; closing the remaining streams"
        ),
    }
    drop(stop_rx);
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
