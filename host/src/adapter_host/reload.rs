//! Hot reload: watcher → debounce → one reload task → atomic swap.
//!
//! Rather than trusting individual file events (an atomic `mv` arrives as one rename, a `cp` as
//! create + writes + close, editors do other things), every burst of events triggers a rescan
//! of the directory that reconciles it with the registry: new or changed files (by SHA-256) are
//! loaded, missing ones unloaded. A file that fails to load (truncated mid-copy, wrong contract,
//! route conflict) leaves the previous version serving; the next event retries it. All loads and
//! unloads happen in this one task, so they never race each other.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::registry::{AdapterRegistry, Registry, ReloadRecord};
use super::{AdapterEngine, LoadedAdapter, unix_now};

/// Reconciles the plugins directory with the registry.
pub struct Reloader {
    dir: PathBuf,
    engine: Arc<AdapterEngine>,
    registry: Arc<AdapterRegistry>,
    /// Files seen at the last scan: path → SHA-256, whether or not they loaded.
    seen: HashMap<PathBuf, String>,
}

impl Reloader {
    /// A reloader for `dir`.
    pub fn new(dir: PathBuf, engine: Arc<AdapterEngine>, registry: Arc<AdapterRegistry>) -> Self {
        Reloader {
            dir,
            engine,
            registry,
            seen: HashMap::new(),
        }
    }

    /// Scan the directory once and apply what changed. Returns how many adapters are loaded.
    pub async fn rescan(&mut self) -> usize {
        let files = match list_adapter_files(&self.dir) {
            Ok(files) => files,
            Err(err) => {
                tracing::error!(dir = %self.dir.display(), error = %err, "cannot read the plugins directory; keeping the loaded adapters");
                return self.registry.current().adapters.len();
            }
        };
        let current = self.registry.current();
        let mut adapters: BTreeMap<String, Arc<LoadedAdapter>> = current.adapters.clone();
        let mut changed = false;

        // Unload adapters whose file is gone.
        let present: Vec<&PathBuf> = files.iter().map(|(path, _)| path).collect();
        let gone: Vec<(String, PathBuf)> = adapters
            .values()
            .filter(|a| !present.contains(&&a.file))
            .map(|a| (a.name.clone(), a.file.clone()))
            .collect();
        for (name, file) in gone {
            adapters.remove(&name);
            self.seen.remove(&file);
            changed = true;
            tracing::info!(adapter = %name, file = %file.display(), "adapter unloaded: its file was removed");
            self.registry.record(ReloadRecord {
                file,
                action: "unload",
                ok: true,
                error: None,
                adapter: Some(name),
                version: None,
                sha256: None,
                at_unix: unix_now(),
            });
        }
        self.seen.retain(|path, _| present.contains(&path));

        for (path, sha256) in files {
            if self.seen.get(&path) == Some(&sha256) {
                continue;
            }
            self.seen.insert(path.clone(), sha256.clone());
            match self.engine.load(&path).await {
                Ok(loaded) => {
                    let loaded = Arc::new(loaded);
                    if let Some(other) = adapters
                        .values()
                        .find(|a| a.name == loaded.name && a.file != loaded.file)
                    {
                        let error = format!(
                            "adapter name {} is already served from {}; remove one of the files",
                            loaded.name,
                            other.file.display()
                        );
                        self.fail(&path, &sha256, error, Some(&loaded));
                        continue;
                    }
                    // A file may now declare a different name than before: drop the old one.
                    let previous_name = adapters
                        .values()
                        .find(|a| a.file == path)
                        .map(|a| a.name.clone());
                    let mut candidate = adapters.clone();
                    if let Some(previous) = previous_name {
                        candidate.remove(&previous);
                    }
                    candidate.insert(loaded.name.clone(), Arc::clone(&loaded));
                    if let Err(error) = Registry::build(candidate.clone()) {
                        self.fail(&path, &sha256, error, Some(&loaded));
                        continue;
                    }
                    adapters = candidate;
                    changed = true;
                    tracing::info!(
                        adapter = %loaded.name,
                        version = %loaded.version,
                        contract = %loaded.contract,
                        file = %path.display(),
                        sha256 = %loaded.sha256,
                        compile_ms = loaded.compile_time.as_millis() as u64,
                        routes = loaded.info.routes.len(),
                        "adapter loaded"
                    );
                    self.registry.record(ReloadRecord {
                        file: path,
                        action: "load",
                        ok: true,
                        error: None,
                        adapter: Some(loaded.name.clone()),
                        version: Some(loaded.version.clone()),
                        sha256: Some(sha256),
                        at_unix: unix_now(),
                    });
                }
                Err(err) => self.fail(&path, &sha256, format!("{err:#}"), None),
            }
        }

        if changed {
            match Registry::build(adapters) {
                Ok(next) => self.registry.swap(next),
                // Unreachable in practice: every candidate was checked above.
                Err(error) => {
                    tracing::error!(error = %error, "route conflict; keeping the previous adapters")
                }
            }
        }
        self.registry.current().adapters.len()
    }

    fn fail(&self, path: &Path, sha256: &str, error: String, loaded: Option<&Arc<LoadedAdapter>>) {
        let serving = self
            .registry
            .current()
            .adapters
            .values()
            .find(|a| a.file == path)
            .map(|a| format!("{} {}", a.name, a.version));
        tracing::error!(
            file = %path.display(),
            error = %error,
            still_serving = serving.as_deref().unwrap_or("nothing from this file"),
            "adapter failed to load; the previous version (if any) keeps serving"
        );
        self.registry.record(ReloadRecord {
            file: path.to_path_buf(),
            action: "load",
            ok: false,
            error: Some(error),
            adapter: loaded.map(|a| a.name.clone()),
            version: loaded.map(|a| a.version.clone()),
            sha256: Some(sha256.to_owned()),
            at_unix: unix_now(),
        });
    }

    /// Watch the directory and rescan after each burst of events, until the process ends.
    pub fn watch(mut self, debounce: Duration) -> anyhow::Result<()> {
        let (tx, mut rx) = mpsc::channel::<()>(1);
        // notify 8: watch the directory, not the files (an atomic rename replaces the inode).
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if event.is_ok() {
                    // A full channel already means "rescan pending".
                    let _ = tx.try_send(());
                }
            })?;
        watcher.watch(&self.dir, RecursiveMode::NonRecursive)?;
        tokio::spawn(async move {
            // The watcher lives as long as this task.
            let _watcher = watcher;
            while rx.recv().await.is_some() {
                // Debounce: wait until the directory has been quiet for `debounce`.
                while let Ok(Some(())) = tokio::time::timeout(debounce, rx.recv()).await {}
                self.rescan().await;
            }
        });
        Ok(())
    }
}

/// `*.wasm` files of the directory with their SHA-256, sorted by name. Hidden files and
/// names ending in `.tmp`/`.part` are skipped: they are copies still being written.
fn list_adapter_files(dir: &Path) -> std::io::Result<Vec<(PathBuf, String)>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !name.ends_with(".wasm") || !path.is_file() {
            continue;
        }
        match std::fs::read(&path) {
            Ok(bytes) => files.push((path, hex::encode(Sha256::digest(&bytes)))),
            // Vanished between listing and reading: the next event rescans.
            Err(err) => {
                tracing::debug!(file = %path.display(), error = %err, "skipping unreadable file")
            }
        }
    }
    files.sort();
    Ok(files)
}
