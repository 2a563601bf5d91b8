//! Assembling and running the server: fixed endpoints (health, readiness, metrics, admin), the
//! adapter fallback, an optional separate admin listener, graceful shutdown (streams finish
//! within the grace period, then the audit log is flushed and closed).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Json};
use axum::routing::get;
use serde_json::json;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::adapter_host::AdapterEngine;
use crate::adapter_host::registry::AdapterRegistry;
use crate::adapter_host::reload::Reloader;
use crate::adapter_host::wit::latest::types::RouteAction;
use crate::audit::AuditLog;
use crate::auth::Keys;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::proxy::{AppState, handle};
use crate::routing::Router as ModelRouter;

/// How long the audit log gets to write what is queued at shutdown.
const AUDIT_CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// Build the shared state for serving (the audit log open) and load the adapters once
/// (synchronously, before serving).
pub async fn build_state(config: Config) -> anyhow::Result<(Arc<AppState>, Reloader)> {
    build_state_with(config, true).await
}

/// Build the shared state; `open_audit: false` leaves the audit log closed (`cligate check`
/// must not create files).
pub async fn build_state_with(
    config: Config,
    open_audit: bool,
) -> anyhow::Result<(Arc<AppState>, Reloader)> {
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
    let router = ModelRouter::from_config(&config).context("building the upstreams")?;
    let keys = Keys::from_config(&config.auth)
        .map_err(anyhow::Error::msg)
        .context("loading the gateway keys")?;
    let audit = if open_audit {
        AuditLog::open(&config.audit).context("opening the audit log")?
    } else {
        AuditLog::disabled()
    };
    let permits = Arc::new(Semaphore::new(
        config.limits.max_concurrent_requests as usize,
    ));
    let state = Arc::new(AppState {
        config: Arc::new(config),
        engine,
        registry,
        router,
        keys: Arc::new(keys),
        audit,
        metrics: Metrics::default(),
        permits,
        sequence: AtomicU64::new(0),
        streams_in_flight: Arc::new(AtomicU64::new(0)),
        shutdown: CancellationToken::new(),
    });
    Ok((state, reloader))
}

/// The router of `listen`: fixed endpoints, then every adapter route through the fallback.
/// `/metrics` and `/admin/*` are here only when no `admin_listen` is configured.
pub fn router(state: Arc<AppState>) -> Router {
    let mut router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz));
    if state.config.admin_listen.is_none() {
        router = router
            .route("/metrics", get(metrics))
            .route("/admin/adapters", get(admin_adapters));
    }
    router.fallback(handle).with_state(state)
}

/// The router of `admin_listen`: metrics, admin, health.
pub fn admin_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/admin/adapters", get(admin_adapters))
        .with_state(state)
}

async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::render(&state),
    )
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
    let now = std::time::Instant::now();
    let upstreams: Vec<_> = state
        .router
        .upstreams()
        .map(|slot| {
            let (status, seconds) = match slot.availability(now) {
                crate::routing::Availability::Available => ("up", None),
                crate::routing::Availability::Ejected(until) => (
                    "ejected",
                    Some(until.saturating_duration_since(now).as_secs_f64()),
                ),
                crate::routing::Availability::RateLimited(until) => (
                    "rate_limited",
                    Some(until.saturating_duration_since(now).as_secs_f64()),
                ),
            };
            json!({"name": slot.name(), "status": status, "back_in_s": seconds})
        })
        .collect();
    Json(json!({
        "adapters": adapters,
        "reloads": state.registry.history(),
        "compile_cache": {"hits": cache_hits, "misses": cache_misses},
        "streams_in_flight": state.streams_in_flight.load(Ordering::Relaxed),
        "upstreams": upstreams,
    }))
}

/// Serve until SIGINT/SIGTERM, then let streams finish for at most the grace period, cut the
/// rest (each still gets its error event and audit record), and close the audit log.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let debounce = Duration::from_millis(config.sandbox.reload_debounce_ms);
    let listen = config.listen.clone();
    let addr_file = config.addr_file.clone();
    let admin_listen = config.admin_listen.clone();
    let admin_addr_file = config.admin_addr_file.clone();
    let grace = config.limits.shutdown_grace();
    let key_reload = Duration::from_millis(config.auth.reload_ms);
    let (state, reloader) = build_state(config).await?;
    for slot in state.router.upstreams() {
        if !slot.upstream.has_credential() {
            tracing::info!(
                upstream = slot.name(),
                "no upstream service credential configured"
            );
        }
    }
    let registry = state.registry.current();
    for dialect in state.config.defaults.keys() {
        if !registry.adapters.values().any(|a| &a.dialect == dialect) {
            tracing::warn!(dialect = %dialect, "[defaults] names a dialect no loaded adapter has (yet)");
        }
    }
    drop(registry);
    if state.keys.required() {
        tracing::info!(keys = state.keys.count(), "gateway keys required");
        state.keys.watch(key_reload);
    } else {
        tracing::warn!(
            "no gateway keys are configured: anyone who can reach this address can use it"
        );
    }
    reloader
        .watch(debounce)
        .context("watching the plugins directory")?;
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let local: SocketAddr = listener.local_addr()?;
    tracing::info!(address = %local, "cligate listening");
    let admin = match &admin_listen {
        Some(admin_listen) => {
            let listener = tokio::net::TcpListener::bind(admin_listen)
                .await
                .with_context(|| format!("binding admin_listen {admin_listen}"))?;
            let admin_local = listener.local_addr()?;
            tracing::info!(address = %admin_local, "metrics and admin listening");
            if let Some(path) = &admin_addr_file {
                write_addr_file(path, admin_local)?;
            }
            Some(listener)
        }
        None => None,
    };
    if let Some(path) = addr_file {
        write_addr_file(&path, local)?;
    }
    let streams = Arc::clone(&state.streams_in_flight);
    let app = router(Arc::clone(&state));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut server_stop = stop_rx.clone();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = server_stop.wait_for(|stop| *stop).await;
        })
        .await
    });
    let admin_server = admin.map(|listener| {
        let app = admin_router(Arc::clone(&state));
        let mut admin_stop = stop_rx.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = admin_stop.wait_for(|stop| *stop).await;
                })
                .await
        })
    });
    shutdown_signal().await;
    let _ = stop_tx.send(true);
    tracing::info!(
        streams_in_flight = streams.load(Ordering::Relaxed),
        grace_ms = grace.as_millis() as u64,
        "shutting down: no new connections; in-flight streams may finish"
    );
    let mut server = server;
    match tokio::time::timeout(grace, &mut server).await {
        Ok(Ok(Ok(()))) => tracing::info!("stopped cleanly"),
        Ok(Ok(Err(err))) => tracing::error!(error = %err, "server error during shutdown"),
        Ok(Err(err)) => tracing::error!(error = %err, "server task failed"),
        Err(_) => {
            tracing::warn!(
                streams_in_flight = streams.load(Ordering::Relaxed),
                "grace period over; closing the remaining streams"
            );
            state.shutdown.cancel();
            // Cut streams send their error event and audit record, then their connections
            // close and the server stops.
            let _ = tokio::time::timeout(Duration::from_secs(2), &mut server).await;
        }
    }
    if let Some(admin_server) = admin_server {
        let _ = tokio::time::timeout(Duration::from_secs(1), admin_server).await;
    }
    state.audit.close(AUDIT_CLOSE_TIMEOUT).await;
    drop(stop_rx);
    Ok(())
}

fn write_addr_file(path: &std::path::Path, addr: SocketAddr) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, addr.to_string())
        .and_then(|()| std::fs::rename(&tmp, path))
        .with_context(|| format!("writing the address file {}", path.display()))
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
