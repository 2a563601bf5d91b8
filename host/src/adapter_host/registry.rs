//! The set of loaded adapters and their route table, swapped atomically as a whole.
//!
//! A request loads the current [`Registry`] once (`ArcSwap::load_full`) and keeps the `Arc` of
//! the adapter it matched: a reload that replaces or removes that adapter never affects it.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use serde::Serialize;

use super::LoadedAdapter;
use crate::routes::RouteTable;

/// How many reload outcomes `/admin/adapters` keeps.
const RELOAD_HISTORY: usize = 100;

/// One generation of loaded adapters.
#[derive(Default)]
pub struct Registry {
    /// By adapter name.
    pub adapters: BTreeMap<String, Arc<LoadedAdapter>>,
    /// Routes of all of them.
    pub routes: RouteTable,
}

impl Registry {
    /// A registry of `adapters`; fails on route conflicts.
    pub fn build(adapters: BTreeMap<String, Arc<LoadedAdapter>>) -> Result<Registry, String> {
        let list: Vec<Arc<LoadedAdapter>> = adapters.values().cloned().collect();
        let routes = RouteTable::build(&list)?;
        Ok(Registry { adapters, routes })
    }
}

/// The outcome of loading (or unloading) one file.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadRecord {
    /// The file.
    pub file: PathBuf,
    /// `load`, `unload`.
    pub action: &'static str,
    /// Whether it took effect.
    pub ok: bool,
    /// Why not.
    pub error: Option<String>,
    /// Adapter name and version, when known.
    pub adapter: Option<String>,
    /// Adapter version, when known.
    pub version: Option<String>,
    /// SHA-256 of the file, when read.
    pub sha256: Option<String>,
    /// When, seconds since the epoch.
    pub at_unix: u64,
}

/// The live registry plus the reload history.
pub struct AdapterRegistry {
    current: ArcSwap<Registry>,
    history: Mutex<VecDeque<ReloadRecord>>,
    loads_ok: AtomicU64,
    loads_failed: AtomicU64,
}

impl Default for AdapterRegistry {
    fn default() -> Self {
        AdapterRegistry {
            current: ArcSwap::from_pointee(Registry::default()),
            history: Mutex::new(VecDeque::new()),
            loads_ok: AtomicU64::new(0),
            loads_failed: AtomicU64::new(0),
        }
    }
}

impl AdapterRegistry {
    /// The current generation.
    pub fn current(&self) -> Arc<Registry> {
        self.current.load_full()
    }

    /// Replace the current generation.
    pub fn swap(&self, next: Registry) {
        self.current.store(Arc::new(next));
    }

    /// Record a reload outcome.
    pub fn record(&self, record: ReloadRecord) {
        if record.action == "load" {
            let counter = if record.ok {
                &self.loads_ok
            } else {
                &self.loads_failed
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        if let Ok(mut history) = self.history.lock() {
            if history.len() == RELOAD_HISTORY {
                history.pop_front();
            }
            history.push_back(record);
        }
    }

    /// Adapter file loads since start: (succeeded, failed). Unlike the history, never trimmed.
    pub fn load_counts(&self) -> (u64, u64) {
        (
            self.loads_ok.load(Ordering::Relaxed),
            self.loads_failed.load(Ordering::Relaxed),
        )
    }

    /// The reload history, oldest first.
    pub fn history(&self) -> Vec<ReloadRecord> {
        self.history
            .lock()
            .map(|h| h.iter().cloned().collect())
            .unwrap_or_default()
    }
}
