//! Running adapters: one wasmtime [`Engine`], components compiled at load time (off the request
//! path, cached on disk), and a fresh sandboxed [`Session`] (its own `Store`) per request.
//!
//! The sandbox: a WASI context with no capabilities (no args, env, files, sockets; stderr goes to
//! a small in-memory pipe so a guest panic message can be reported), a wall-clock budget per call
//! enforced by epoch interruption (the guest yields to tokio every tick, so a runaway adapter
//! never starves other requests), and a memory cap per instance (`StoreLimits`, trapping on a
//! failed grow). A trap poisons only that request's session.

pub mod registry;
pub mod reload;
pub mod wit;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow, bail};
use rand::SeedableRng;
use rand::rngs::StdRng;
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker, ResourceAny};
use wasmtime::{
    Cache, CacheConfig, Config as WasmConfig, Engine, InstanceAllocationStrategy,
    PoolingAllocationConfig, Store, StoreLimits, StoreLimitsBuilder, Trap, UpdateDeadline,
};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{ResourceTable, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::config::Sandbox;
use crate::error::GatewayError;
use wit::latest::types::{
    AdapterError, AdapterInfo, ClientRequest, ClientResponse, ErrorSite, GatewayError as WitError,
    LocalContext, PivotRequest, RequestContext, RequestOptions, SseEvent,
};
use wit::{AdapterInstance, AdapterPre};

/// How often the epoch advances; the granularity of the per-call deadline.
const EPOCH_TICK: Duration = Duration::from_millis(1);

/// How much guest stderr is kept (enough for a panic message).
const GUEST_STDERR_BYTES: usize = 16 * 1024;

/// Core instances, memories and tables one adapter component may need. A `wasm32-wasip2`
/// std component has a handful of each (the program plus the WASI adaptation modules).
const POOL_SLOTS_PER_COMPONENT: u32 = 8;

/// Linear memory kept resident per pooled slot between instances (see `AdapterEngine::new`).
/// Measured with the bench: translate-request on the 76 KB Claude Code capture in a fresh
/// instance went from ~277 µs to ~161 µs (2 MiB and 4 MiB gave the same); the cost is ~1.5 µs
/// more per instantiation (the kept pages are zeroed) and at most 2 MiB of RSS per slot that
/// has been used.
const KEEP_RESIDENT_BYTES: usize = 2 << 20;

/// Per-store state: the empty WASI context, the memory limiter and the call deadline.
pub struct GuestState {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    deadline: Instant,
    stderr: MemoryOutputPipe,
}

impl WasiView for GuestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The clock adapters see: always zero. Adapters get time from `request-context.created-unix`.
struct FrozenClock;

impl wasmtime_wasi::HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl wasmtime_wasi::HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// The engine, the linker and the sandbox settings shared by every adapter.
pub struct AdapterEngine {
    engine: Engine,
    linker: Linker<GuestState>,
    sandbox: Sandbox,
    cache: Option<Cache>,
}

impl AdapterEngine {
    /// Build the engine (pooling allocator sized for `max_concurrent` sessions, epoch
    /// interruption, on-disk compilation cache in `cache_dir`) and start its epoch ticker.
    pub fn new(sandbox: &Sandbox, cache_dir: &Path, max_concurrent: u32) -> anyhow::Result<Self> {
        let mut config = WasmConfig::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        let memory_bytes = sandbox.memory_mb.saturating_mul(1 << 20);
        let mut pool = PoolingAllocationConfig::default();
        // One more than the request limit: the load-time validation instance also needs a slot.
        let components = max_concurrent.saturating_add(4);
        pool.total_component_instances(components);
        pool.total_core_instances(components.saturating_mul(POOL_SLOTS_PER_COMPONENT));
        pool.total_memories(components.saturating_mul(2));
        pool.total_tables(components.saturating_mul(POOL_SLOTS_PER_COMPONENT));
        pool.total_stacks(components);
        pool.max_memory_size(usize::try_from(memory_bytes).unwrap_or(usize::MAX));
        // Keep the first pages of a freed slot resident instead of handing them back to the
        // kernel: the next request's instance then grows its heap into pages that are already
        // mapped, which is most of the difference between a warm and a fresh translate call.
        pool.linear_memory_keep_resident(KEEP_RESIDENT_BYTES);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));

        let cache = match std::fs::create_dir_all(cache_dir) {
            Ok(()) => {
                let mut cache_config = CacheConfig::new();
                cache_config.with_directory(cache_dir);
                match Cache::new(cache_config) {
                    Ok(cache) => Some(cache),
                    Err(err) => {
                        tracing::warn!(dir = %cache_dir.display(), error = %err, "compiled-adapter cache disabled");
                        None
                    }
                }
            }
            Err(err) => {
                tracing::warn!(dir = %cache_dir.display(), error = %err, "compiled-adapter cache disabled: cannot create its directory");
                None
            }
        };
        config.cache(cache.clone());

        let engine =
            Engine::new(&config).map_err(|e| wasm_error("creating the wasmtime engine", e))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| wasm_error("linking the (empty) WASI context", e))?;

        let ticker = engine.weak();
        std::thread::Builder::new()
            .name("cligate-epoch".into())
            .spawn(move || {
                while let Some(engine) = ticker.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .context("starting the epoch ticker thread")?;

        Ok(AdapterEngine {
            engine,
            linker,
            sandbox: sandbox.clone(),
            cache,
        })
    }

    /// Hits and misses of the compilation cache since start.
    pub fn cache_stats(&self) -> (usize, usize) {
        self.cache
            .as_ref()
            .map(|c| (c.cache_hits(), c.cache_misses()))
            .unwrap_or((0, 0))
    }

    /// Load an adapter file: check it is a component of a supported contract version,
    /// compile it (or take it from the cache), instantiate it once and read its info.
    pub async fn load(self: &Arc<Self>, path: &Path) -> anyhow::Result<LoadedAdapter> {
        let bytes = tokio::fs::read(path)
            .await
            .with_context(|| format!("reading {}", path.display()))?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        check_component_header(&bytes)?;
        let engine = self.engine.clone();
        let started = Instant::now();
        let component =
            tokio::task::spawn_blocking(move || Component::from_binary(&engine, &bytes))
                .await
                .context("compile task failed")?
                .map_err(|e| wasm_error("compiling the component", e))?;
        let compile_time = started.elapsed();
        let contract = contract_version(&self.engine, &component)?;
        let pre = match contract.as_str() {
            wit::since_v0_1_0::CONTRACT_VERSION => {
                let pre = self.linker.instantiate_pre(&component).map_err(|e| {
                    wasm_error(
                        "the component imports something the sandbox does not offer",
                        e,
                    )
                })?;
                AdapterPre::V0_1_0(wit::since_v0_1_0::AdapterPre::new(pre).map_err(|e| {
                    wasm_error("the component does not export the 0.1.0 contract", e)
                })?)
            }
            other => bail!(
                "adapter targets {}@{other}; this host supports {}",
                wit::CONTRACT_PACKAGE,
                wit::SUPPORTED_CONTRACTS.join(", ")
            ),
        };
        let mut adapter = LoadedAdapter {
            name: String::new(),
            version: String::new(),
            dialect: String::new(),
            contract: pre.contract(),
            file: path.to_path_buf(),
            sha256,
            info: AdapterInfo {
                name: String::new(),
                version: String::new(),
                dialect: String::new(),
                routes: Vec::new(),
            },
            pre,
            loaded_at_unix: unix_now(),
            compile_time,
            stats: AdapterStats::default(),
        };
        let info = {
            let provisional = Arc::new(adapter.clone_for_probe());
            let mut session = Session::start(provisional, self)
                .await
                .map_err(|e| anyhow!("{e}"))?;
            session.info().await.map_err(|e| anyhow!("{e}"))?
        };
        validate_info(&info)?;
        adapter.name = info.name.clone();
        adapter.version = info.version.clone();
        adapter.dialect = info.dialect.clone();
        adapter.info = info;
        Ok(adapter)
    }
}

/// A loaded, validated adapter, ready to serve. Requests hold an `Arc` to it, which pins
/// the version they started with across hot reloads.
pub struct LoadedAdapter {
    /// From `info`.
    pub name: String,
    /// From `info`.
    pub version: String,
    /// From `info`.
    pub dialect: String,
    /// Contract version the component was built against.
    pub contract: &'static str,
    /// The file it came from.
    pub file: std::path::PathBuf,
    /// SHA-256 of the file.
    pub sha256: String,
    /// What `info` returned.
    pub info: AdapterInfo,
    pre: AdapterPre,
    /// Load time, seconds since the epoch.
    pub loaded_at_unix: u64,
    /// How long compiling took (near zero on a cache hit).
    pub compile_time: Duration,
    /// Counters since load.
    pub stats: AdapterStats,
}

impl LoadedAdapter {
    fn clone_for_probe(&self) -> LoadedAdapter {
        LoadedAdapter {
            name: self
                .file
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
            version: "?".to_owned(),
            dialect: String::new(),
            contract: self.contract,
            file: self.file.clone(),
            sha256: self.sha256.clone(),
            info: self.info.clone(),
            pre: self.pre.clone(),
            loaded_at_unix: self.loaded_at_unix,
            compile_time: self.compile_time,
            stats: AdapterStats::default(),
        }
    }
}

/// Counters of one loaded adapter.
#[derive(Default)]
pub struct AdapterStats {
    /// Sessions started.
    pub sessions: AtomicU64,
    /// Traps other than deadline and memory.
    pub traps: AtomicU64,
    /// Calls cut off by the deadline.
    pub deadline_hits: AtomicU64,
    /// Calls that hit the memory cap.
    pub memory_hits: AtomicU64,
}

/// wasmtime has its own error type; keep its whole cause chain in the message.
fn wasm_error(context: &str, err: wasmtime::Error) -> anyhow::Error {
    anyhow!("{context}: {err:#}")
}

fn check_component_header(bytes: &[u8]) -> anyhow::Result<()> {
    // wasmtime's `wat` feature is off, but a clear message beats "unexpected end" for the
    // common operator mistakes: a truncated copy, a text file, a core module.
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        bail!("not a WebAssembly binary (no \\0asm header); is the file complete?");
    }
    match bytes[4..8] {
        [0x0d, 0x00, 0x01, 0x00] => Ok(()),
        [0x01, 0x00, 0x00, 0x00] => bail!(
            "this is a core Wasm module, not a component; build adapters for the wasm32-wasip2 target"
        ),
        _ => bail!("unsupported WebAssembly binary version/layer"),
    }
}

/// Find the contract version from the component's export names (`cligate:adapter/dialect@X.Y.Z`).
fn contract_version(engine: &Engine, component: &Component) -> anyhow::Result<String> {
    let prefix = format!("{}/dialect@", wit::CONTRACT_PACKAGE);
    let ty = component.component_type();
    let mut exports = Vec::new();
    for (name, _) in ty.exports(engine) {
        if let Some(version) = name.strip_prefix(&prefix) {
            return Ok(version.to_owned());
        }
        exports.push(name.to_owned());
    }
    bail!(
        "the component does not export {prefix}<version> (it exports: {}); it is not a cligate adapter",
        if exports.is_empty() {
            "nothing".to_owned()
        } else {
            exports.join(", ")
        }
    )
}

fn validate_info(info: &AdapterInfo) -> anyhow::Result<()> {
    let name_ok = !info.name.is_empty()
        && info.name.len() <= 64
        && info
            .name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !name_ok {
        bail!(
            "adapter name {:?} must be 1-64 characters of a-z, 0-9, - and _",
            info.name
        );
    }
    if info.version.is_empty() {
        bail!("adapter {} declares an empty version", info.name);
    }
    if info.routes.is_empty() {
        bail!("adapter {} declares no routes", info.name);
    }
    for route in &info.routes {
        crate::routes::PathPattern::parse(&route.path).map_err(|e| {
            anyhow!(
                "adapter {}: route {} {}: {e}",
                info.name,
                route.method,
                route.path
            )
        })?;
        if route.method.is_empty() || !route.method.chars().all(|c| c.is_ascii_uppercase()) {
            bail!(
                "adapter {}: route method {:?} must be an upper-case HTTP method",
                info.name,
                route.method
            );
        }
    }
    Ok(())
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// One request's sandboxed instance of an adapter. Dropping it frees the instance.
pub struct Session {
    store: Store<GuestState>,
    instance: AdapterInstance,
    adapter: Arc<LoadedAdapter>,
    budget: Duration,
    memory_mb: u64,
    broken: bool,
}

impl Session {
    /// Instantiate `adapter` in a fresh store.
    pub async fn start(
        adapter: Arc<LoadedAdapter>,
        engine: &AdapterEngine,
    ) -> Result<Session, GatewayError> {
        let stderr = MemoryOutputPipe::new(GUEST_STDERR_BYTES);
        // Purity is enforced, not just asked for: the clocks are frozen at zero and every
        // source of randomness is a fixed seed, so a translation depends only on its inputs
        // (and a recorded exchange replays byte for byte).
        let wasi = WasiCtxBuilder::new()
            .stderr(stderr.clone())
            .wall_clock(FrozenClock)
            .monotonic_clock(FrozenClock)
            .secure_random(StdRng::seed_from_u64(0))
            .insecure_random(StdRng::seed_from_u64(1))
            .insecure_random_seed(0)
            .build();
        let memory_bytes = engine.sandbox.memory_mb.saturating_mul(1 << 20);
        let limits = StoreLimitsBuilder::new()
            .memory_size(usize::try_from(memory_bytes).unwrap_or(usize::MAX))
            .trap_on_grow_failure(true)
            .build();
        let budget = Duration::from_millis(engine.sandbox.deadline_ms);
        let mut store = Store::new(
            &engine.engine,
            GuestState {
                wasi,
                table: ResourceTable::new(),
                limits,
                deadline: Instant::now() + budget,
                stderr,
            },
        );
        store.limiter(|state| &mut state.limits);
        store.epoch_deadline_callback(|ctx| {
            if Instant::now() >= ctx.data().deadline {
                Ok(UpdateDeadline::Interrupt)
            } else {
                // Give other requests the worker thread, then check again next tick.
                Ok(UpdateDeadline::Yield(1))
            }
        });
        store.set_epoch_deadline(1);
        adapter.stats.sessions.fetch_add(1, Ordering::Relaxed);
        let instance = match &adapter.pre {
            AdapterPre::V0_1_0(pre) => pre
                .instantiate_async(&mut store)
                .await
                .map(AdapterInstance::V0_1_0),
        };
        let mut session = Session {
            store,
            instance: match instance {
                Ok(instance) => instance,
                Err(err) => {
                    let message = format!("{err:#}");
                    if message.contains("maximum concurrent") || message.contains("pooling") {
                        tracing::warn!(adapter = %adapter.name, error = %message, "instance pool exhausted");
                        return Err(GatewayError::Overloaded);
                    }
                    return Err(GatewayError::AdapterBroken {
                        adapter: adapter.name.clone(),
                        version: adapter.version.clone(),
                        reason: format!("could not be instantiated: {message}"),
                    });
                }
            },
            budget,
            memory_mb: engine.sandbox.memory_mb,
            adapter,
            broken: false,
        };
        session.arm();
        Ok(session)
    }

    /// The adapter this session runs.
    pub fn adapter(&self) -> &Arc<LoadedAdapter> {
        &self.adapter
    }

    /// Whether a call trapped (the instance is dead; only a fresh session can render errors).
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    fn arm(&mut self) {
        self.store.data_mut().deadline = Instant::now() + self.budget;
        self.store.set_epoch_deadline(1);
    }

    fn settle<R>(&mut self, call: &str, result: wasmtime::Result<R>) -> Result<R, GatewayError> {
        match result {
            Ok(value) => Ok(value),
            Err(err) => {
                self.broken = true;
                let stats = &self.adapter.stats;
                let reason = if err.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
                    stats.deadline_hits.fetch_add(1, Ordering::Relaxed);
                    format!(
                        "{call} exceeded its {} ms deadline",
                        self.budget.as_millis()
                    )
                } else if format!("{err:#}").contains("forcing trap when growing memory") {
                    stats.memory_hits.fetch_add(1, Ordering::Relaxed);
                    format!("{call} exceeded the {} MiB memory cap", self.memory_mb)
                } else {
                    stats.traps.fetch_add(1, Ordering::Relaxed);
                    let stderr = self.store.data().stderr.contents();
                    let panic_line = String::from_utf8_lossy(&stderr)
                        .lines()
                        .find(|l| !l.trim().is_empty())
                        .map(|l| format!(" ({})", l.trim()))
                        .unwrap_or_default();
                    let trap = err
                        .downcast_ref::<Trap>()
                        .map(|t| t.to_string())
                        .unwrap_or_else(|| format!("{err}"));
                    format!("{call} trapped: {trap}{panic_line}")
                };
                tracing::error!(
                    adapter = %self.adapter.name,
                    version = %self.adapter.version,
                    file = %self.adapter.file.display(),
                    reason = %reason,
                    "adapter failed"
                );
                Err(GatewayError::AdapterBroken {
                    adapter: self.adapter.name.clone(),
                    version: self.adapter.version.clone(),
                    reason,
                })
            }
        }
    }

    fn adapter_error(&self, err: AdapterError) -> GatewayError {
        match err {
            AdapterError::InvalidRequest(m) => GatewayError::InvalidRequest(m),
            AdapterError::Unsupported(m) => GatewayError::Unsupported(m),
            AdapterError::Internal(message) => GatewayError::AdapterInternal {
                adapter: self.adapter.name.clone(),
                version: self.adapter.version.clone(),
                message,
            },
        }
    }

    fn dead(&self) -> Result<(), GatewayError> {
        if self.broken {
            Err(GatewayError::AdapterBroken {
                adapter: self.adapter.name.clone(),
                version: self.adapter.version.clone(),
                reason: "instance already failed".to_owned(),
            })
        } else {
            Ok(())
        }
    }

    /// `info`.
    #[tracing::instrument(name = "adapter.info", skip_all, fields(adapter = %self.adapter.name))]
    pub async fn info(&mut self) -> Result<AdapterInfo, GatewayError> {
        self.dead()?;
        self.arm();
        let AdapterInstance::V0_1_0(instance) = &self.instance;
        let result = instance
            .cligate_adapter_dialect()
            .call_info(&mut self.store)
            .await;
        self.settle("info", result)
    }

    /// `translate-request`.
    #[tracing::instrument(name = "adapter.translate_request", skip_all, fields(adapter = %self.adapter.name, version = %self.adapter.version))]
    pub async fn translate_request(
        &mut self,
        req: &ClientRequest,
        options: &RequestOptions,
    ) -> Result<PivotRequest, GatewayError> {
        self.dead()?;
        self.arm();
        let AdapterInstance::V0_1_0(instance) = &self.instance;
        let result = instance
            .cligate_adapter_dialect()
            .call_translate_request(&mut self.store, req, options)
            .await;
        let result = self.settle("translate-request", result)?;
        result.map_err(|e| self.adapter_error(e))
    }

    /// `translate-response`.
    #[tracing::instrument(name = "adapter.translate_response", skip_all, fields(adapter = %self.adapter.name, version = %self.adapter.version))]
    pub async fn translate_response(
        &mut self,
        ctx: &RequestContext,
        body: &[u8],
    ) -> Result<ClientResponse, GatewayError> {
        self.dead()?;
        self.arm();
        let AdapterInstance::V0_1_0(instance) = &self.instance;
        let result = instance
            .cligate_adapter_dialect()
            .call_translate_response(&mut self.store, ctx, body)
            .await;
        let result = self.settle("translate-response", result)?;
        result.map_err(|e| self.adapter_error(e))
    }

    /// `translate-error`.
    pub async fn translate_error(
        &mut self,
        site: &ErrorSite,
        error: &WitError,
    ) -> Result<ClientResponse, GatewayError> {
        self.dead()?;
        self.arm();
        let AdapterInstance::V0_1_0(instance) = &self.instance;
        let result = instance
            .cligate_adapter_dialect()
            .call_translate_error(&mut self.store, site, error)
            .await;
        self.settle("translate-error", result)
    }

    /// `answer-local`.
    #[tracing::instrument(name = "adapter.answer_local", skip_all, fields(adapter = %self.adapter.name, version = %self.adapter.version))]
    pub async fn answer_local(
        &mut self,
        req: &ClientRequest,
        ctx: &LocalContext,
    ) -> Result<ClientResponse, GatewayError> {
        self.dead()?;
        self.arm();
        let AdapterInstance::V0_1_0(instance) = &self.instance;
        let result = instance
            .cligate_adapter_dialect()
            .call_answer_local(&mut self.store, req, ctx)
            .await;
        let result = self.settle("answer-local", result)?;
        result.map_err(|e| self.adapter_error(e))
    }

    /// Create the stream-translator resource.
    pub async fn open_stream(&mut self, ctx: &RequestContext) -> Result<ResourceAny, GatewayError> {
        self.dead()?;
        self.arm();
        let AdapterInstance::V0_1_0(instance) = &self.instance;
        let result = instance
            .cligate_adapter_dialect()
            .stream_translator()
            .call_constructor(&mut self.store, ctx)
            .await;
        self.settle("stream-translator constructor", result)
    }

    /// `stream-translator.push`.
    pub async fn push(
        &mut self,
        stream: ResourceAny,
        event: &SseEvent,
    ) -> Result<Vec<u8>, GatewayError> {
        self.dead()?;
        self.arm();
        let AdapterInstance::V0_1_0(instance) = &self.instance;
        let result = instance
            .cligate_adapter_dialect()
            .stream_translator()
            .call_push(&mut self.store, stream, event)
            .await;
        let result = self.settle("push", result)?;
        result.map_err(|e| self.adapter_error(e))
    }

    /// `stream-translator.keepalive`.
    pub async fn keepalive(&mut self, stream: ResourceAny) -> Result<Vec<u8>, GatewayError> {
        self.dead()?;
        self.arm();
        let AdapterInstance::V0_1_0(instance) = &self.instance;
        let result = instance
            .cligate_adapter_dialect()
            .stream_translator()
            .call_keepalive(&mut self.store, stream)
            .await;
        self.settle("keepalive", result)
    }

    /// `stream-translator.finish`.
    pub async fn finish(&mut self, stream: ResourceAny) -> Result<Vec<u8>, GatewayError> {
        self.dead()?;
        self.arm();
        let AdapterInstance::V0_1_0(instance) = &self.instance;
        let result = instance
            .cligate_adapter_dialect()
            .stream_translator()
            .call_finish(&mut self.store, stream)
            .await;
        let result = self.settle("finish", result)?;
        result.map_err(|e| self.adapter_error(e))
    }

    /// `stream-translator.fail`.
    pub async fn fail(
        &mut self,
        stream: ResourceAny,
        error: &WitError,
    ) -> Result<Vec<u8>, GatewayError> {
        self.dead()?;
        self.arm();
        let AdapterInstance::V0_1_0(instance) = &self.instance;
        let result = instance
            .cligate_adapter_dialect()
            .stream_translator()
            .call_fail(&mut self.store, stream, error)
            .await;
        self.settle("fail", result)
    }
}
