//! One engine per (engine, storage driver) pair serves every cell that shares it: started
//! by the first cell that needs it, loaded with the images of all its cells in one stream,
//! released when its last cell is done. Its lifecycle is separate from the stacks'.
//! Engines are prepared ahead of their cells ([`Pool::prepare_ahead`]): started and loaded
//! before a cell slot is free for them, within a budget of engines alive at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::{Mutex, OnceCell, OwnedSemaphorePermit, RwLock, Semaphore, watch};
use tokio_util::sync::CancellationToken;

use super::events::Event;
use crate::engine::images::{self, Loaded};
use crate::engine::labels::RunLabels;
use crate::engine::{self, EngineHandle, Host};
use crate::matrix::plan::{CellPlan, PlannedEngine};
use crate::matrix::{EngineKind, EngineSpec, Matrix, PullPolicy};
use crate::results::{Finding, FindingLevel};

pub use crate::matrix::plan::EngineKey;

/// Why a cell cannot have its engine: a refusal (`unsupported`) or a fault (`error`).
#[derive(Debug, Clone)]
pub struct EngineFailure {
    pub unsupported: bool,
    pub reason: String,
}

struct Entry {
    spec: Option<EngineSpec>,
    daemon: Option<serde_json::Value>,
    images: Vec<String>,
    /// The engine now serving the key's cells, and its images; a new one replaces an
    /// engine that died ([`Pool::replace`]).
    current: std::sync::Mutex<Arc<Generation>>,
    /// Held while a dead engine is removed and replaced.
    replacing: Mutex<()>,
    /// Set by the start task itself, so that an engine whose waiting cell was cancelled
    /// mid-start is still released.
    started: std::sync::Mutex<Option<EngineHandle>>,
    /// What preflight and the daemon.json lint said before the start.
    findings: std::sync::Mutex<Vec<Finding>>,
    remaining: AtomicUsize,
    keep: std::sync::atomic::AtomicBool,
    /// The engine cache this engine holds, given back on release.
    lease: std::sync::Mutex<Option<engine::cache::Lease>>,
    /// Cells in the plan that use this engine (the preparation order's weight).
    cells: usize,
    /// `true` once the engine is started (or failed to) and its images are loaded: its
    /// cells may then take a slot.
    prepared: watch::Sender<bool>,
    /// The engine's place in the budget of engines alive at once, held from the start of
    /// its preparation until it is released (or failed to start).
    budget: std::sync::Mutex<Option<OwnedSemaphorePermit>>,
}

/// One engine's life under a key: started on first use, loaded once.
#[derive(Default)]
struct Generation {
    engine: OnceCell<Result<EngineHandle, EngineFailure>>,
    loaded: OnceCell<Arc<Loaded>>,
    /// How long loading took, once it is done.
    images_ms: std::sync::OnceLock<u64>,
}

impl Entry {
    fn current(&self) -> Arc<Generation> {
        self.current
            .lock()
            .map_or_else(|_| Arc::new(Generation::default()), |g| g.clone())
    }
}

pub struct Pool {
    host: Host,
    labels: RunLabels,
    pull: PullPolicy,
    entries: HashMap<EngineKey, Arc<Entry>>,
    /// Folders every dind engine mounts read-only (the compose project's).
    ro_folders: Arc<Vec<std::path::PathBuf>>,
    starts: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// dind engines start on their cache (`engine::cache`).
    engine_cache: bool,
}

impl Pool {
    /// The engines of the cells' `plans`: which images each must hold, how many cells use
    /// it.
    pub fn new(
        host: Host,
        labels: RunLabels,
        matrix: &Matrix,
        plans: &[CellPlan],
        pull: PullPolicy,
    ) -> Pool {
        let mut plan: HashMap<EngineKey, (Vec<String>, usize, Option<serde_json::Value>)> =
            HashMap::new();
        // An upgrade cell owns its engines: it stops one and starts another on its data.
        for cell_plan in plans {
            if cell_plan.upgrade {
                continue;
            }
            let PlannedEngine { key, daemon } = cell_plan.engine().clone();
            let e = plan.entry(key).or_insert_with(|| (Vec::new(), 0, daemon));
            e.1 += 1;
            for img in cell_plan.image_list() {
                if !e.0.contains(&img) {
                    e.0.push(img);
                }
            }
        }
        let entries = plan
            .into_iter()
            .map(|(key, (images, n, daemon))| {
                let spec = matrix.engines.get(&key.engine).cloned();
                (
                    key,
                    Arc::new(Entry {
                        spec,
                        daemon,
                        images,
                        current: std::sync::Mutex::new(Arc::default()),
                        replacing: Mutex::new(()),
                        started: std::sync::Mutex::new(None),
                        findings: std::sync::Mutex::new(Vec::new()),
                        remaining: AtomicUsize::new(n),
                        keep: false.into(),
                        lease: std::sync::Mutex::new(None),
                        cells: n,
                        prepared: watch::Sender::new(false),
                        budget: std::sync::Mutex::new(None),
                    }),
                )
            })
            .collect();
        Pool {
            host,
            labels,
            pull,
            entries,
            ro_folders: Arc::new(matrix.compose.iter().map(|p| p.folder.clone()).collect()),
            starts: Mutex::new(Vec::new()),
            engine_cache: false,
        }
    }

    /// Starts dind engines on their caches (`--engine-cache on`).
    pub fn with_engine_cache(mut self, on: bool) -> Pool {
        self.engine_cache = on;
        self
    }

    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The engine of `key`, started on first use.
    pub async fn engine(
        &self,
        key: &EngineKey,
        emit: &(dyn Fn(Event) + Send + Sync),
    ) -> Result<EngineHandle, EngineFailure> {
        let Some(entry) = self.entries.get(key) else {
            return Err(EngineFailure {
                unsupported: false,
                reason: format!("engine `{}` was not planned", key.engine),
            });
        };
        entry
            .current()
            .engine
            .get_or_init(|| async {
                emit(Event::EngineStarting {
                    engine: key.engine.clone(),
                    driver: key.driver_label().to_string(),
                });
                let t = Instant::now();
                // The start runs in its own task: a cancelled cell must not leave a
                // half-started engine that nobody releases.
                let (host, labels, task_entry, task_key, cache, folders) = (
                    self.host.clone(),
                    self.labels.clone(),
                    entry.clone(),
                    key.clone(),
                    self.engine_cache,
                    self.ro_folders.clone(),
                );
                let (tx, rx) = tokio::sync::oneshot::channel();
                let task = tokio::spawn(async move {
                    let config = engine::Config {
                        driver: task_key.driver.as_deref(),
                        daemon: task_entry.daemon.as_ref(),
                        daemon_config: task_key.daemon_config.as_deref(),
                        ro_folders: &folders,
                        containerd: task_key.containerd,
                    };
                    let admitted = engine::admit::admit(
                        &host,
                        task_entry.spec.as_ref(),
                        config,
                        &task_entry.images,
                        &labels,
                        |s: &engine::cache::Started| &s.handle,
                        || {
                            engine::cache::start(
                                &host,
                                task_entry.spec.as_ref(),
                                config,
                                &labels,
                                cache,
                            )
                        },
                    )
                    .await;
                    if let Ok(mut slot) = task_entry.findings.lock() {
                        *slot = admitted.findings;
                    }
                    let r = admitted.outcome.into_result().map(|s| {
                        leftovers(&task_entry, &task_key, &s.removed);
                        if let Ok(mut slot) = task_entry.lease.lock() {
                            *slot = s.lease;
                        }
                        s.handle
                    });
                    if let (Ok(h), Ok(mut slot)) = (&r, task_entry.started.lock()) {
                        *slot = Some(h.clone());
                    }
                    let _ = tx.send(r);
                });
                self.starts.lock().await.push(task);
                let r = rx.await.unwrap_or_else(|_| {
                    Err(engine::EngineError::Internal(
                        "the engine start task ended".into(),
                    ))
                });
                match r {
                    Ok(mut h) => {
                        let ms = t.elapsed().as_millis() as u64;
                        h.facts.start_ms = Some(ms);
                        emit(Event::EngineReady {
                            engine: key.engine.clone(),
                            driver: key.driver_label().to_string(),
                            facts: Box::new(h.facts.clone()),
                            ms,
                        });
                        Ok(h)
                    }
                    Err(e) => {
                        let failure = EngineFailure {
                            unsupported: e.is_refusal(),
                            reason: crate::secrets::mask_urls(&error_chain(&e)),
                        };
                        emit(Event::EngineFailed {
                            engine: key.engine.clone(),
                            driver: key.driver_label().to_string(),
                            reason: failure.reason.clone(),
                            unsupported: failure.unsupported,
                        });
                        Err(failure)
                    }
                }
            })
            .await
            .clone()
    }

    /// The images of every cell on this engine, loaded once.
    ///
    /// `pace`: the perf gate, when the caller holds none of it (the preparation ahead of
    /// the cells): each image then takes its read side on its own. A cell's images step
    /// holds the read side already and passes `None`; it never waits on a paced load,
    /// since a cell takes its slot only once its engine is prepared ([`Pool::ready`]).
    pub async fn images(
        &self,
        key: &EngineKey,
        engine: &EngineHandle,
        emit: &(dyn Fn(Event) + Send + Sync),
        pace: Option<&RwLock<()>>,
    ) -> Arc<Loaded> {
        let Some(entry) = self.entries.get(key) else {
            return Arc::new(Loaded::new());
        };
        let generation = entry.current();
        generation
            .loaded
            .get_or_init(|| async {
                let t = Instant::now();
                let is_host = entry
                    .spec
                    .as_ref()
                    .is_none_or(|s| s.kind() == EngineKind::Host);
                let on_load = |p: images::LoadProgress| {
                    emit(Event::ImagesLoading {
                        engine: key.engine.clone(),
                        driver: key.driver_label().to_string(),
                        done: p.done,
                        of: p.of,
                        bytes: p.bytes,
                        total_bytes: p.total_bytes,
                    });
                };
                let loaded = images::preload(
                    &self.host,
                    &engine.docker,
                    is_host,
                    &entry.images,
                    self.pull,
                    Some(&on_load),
                    pace,
                )
                .await;
                let ms = t.elapsed().as_millis() as u64;
                let _ = generation.images_ms.set(ms);
                emit(Event::ImagesLoaded {
                    engine: key.engine.clone(),
                    driver: key.driver_label().to_string(),
                    images: entry.images.len(),
                    ms,
                });
                Arc::new(loaded)
            })
            .await
            .clone()
    }

    /// The order engines are prepared in: the longest chains first. A vfs engine copies
    /// every layer per container and loads slowest; then the engines with the most cells;
    /// ties in a stable order (engine, driver) so runs are repeatable.
    pub fn preparation_order(&self) -> Vec<EngineKey> {
        let mut keys: Vec<&EngineKey> = self.entries.keys().collect();
        keys.sort_by(|a, b| {
            let weight = |k: &EngineKey| {
                let vfs = k.driver.as_deref() == Some("vfs");
                (
                    std::cmp::Reverse(vfs),
                    std::cmp::Reverse(self.entries[k].cells),
                )
            };
            weight(a)
                .cmp(&weight(b))
                .then_with(|| (&a.engine, &a.driver_label()).cmp(&(&b.engine, &b.driver_label())))
        });
        keys.into_iter().cloned().collect()
    }

    /// Starts the engines and loads their images ahead of their cells, in
    /// [`Pool::preparation_order`], at most `max_engines` alive at once: an engine's place
    /// frees when its last cell is done. Each step holds the read side of the perf gate, as
    /// a cell's steps do, so nothing starts while a perf check measures. Returns when every
    /// engine is prepared or the run is cancelled.
    pub async fn prepare_ahead(
        &self,
        max_engines: usize,
        gate: &RwLock<()>,
        cancel: &CancellationToken,
        emit: &(dyn Fn(Event) + Send + Sync),
    ) {
        let budget = Arc::new(Semaphore::new(max_engines.max(1)));
        let mut order = self.preparation_order().into_iter();
        let mut next = order.next();
        let mut running = FuturesUnordered::new();
        while next.is_some() || !running.is_empty() {
            tokio::select! {
                biased;
                () = cancel.cancelled() => break,
                Some(()) = running.next(), if !running.is_empty() => {}
                permit = budget.clone().acquire_owned(), if next.is_some() => {
                    let (Ok(permit), Some(key)) = (permit, next.take()) else { break };
                    running.push(self.prepare(key, permit, gate, emit));
                    next = order.next();
                }
            }
        }
    }

    async fn prepare(
        &self,
        key: EngineKey,
        permit: OwnedSemaphorePermit,
        gate: &RwLock<()>,
        emit: &(dyn Fn(Event) + Send + Sync),
    ) {
        let Some(entry) = self.entries.get(&key) else {
            return;
        };
        if let Ok(mut slot) = entry.budget.lock() {
            *slot = Some(permit);
        }
        let engine = {
            let _g = gate.read().await;
            self.engine(&key, emit).await
        };
        match engine {
            Ok(handle) => {
                self.images(&key, &handle, emit, Some(gate)).await;
            }
            // Not alive: its place goes to the next engine.
            Err(_) => drop(entry.budget.lock().ok().and_then(|mut s| s.take())),
        }
        entry.prepared.send_replace(true);
    }

    /// Waits until the engine of `key` is prepared (started or refused, images loaded).
    /// A key the pool does not hold (an upgrade cell's engines) is ready at once.
    pub async fn ready(&self, key: &EngineKey) {
        if let Some(entry) = self.entries.get(key) {
            let mut rx = entry.prepared.subscribe();
            let _ = rx.wait_for(|prepared| *prepared).await;
        }
    }

    /// The engine of `key` died (its container exited or vanished): remove what is left
    /// of it and forget it, so that the next cell or retry that asks starts a new one. The
    /// engine now current is judged again first (under a lock), so that cells finding the
    /// same dead engine replace it once, and never an engine already started anew.
    pub async fn replace(&self, key: &EngineKey, emit: &(dyn Fn(Event) + Send + Sync)) {
        let Some(entry) = self.entries.get(key) else {
            return;
        };
        let _one = entry.replacing.lock().await;
        let Some(Ok(dead)) = entry.current().engine.get().cloned() else {
            return;
        };
        if !matches!(
            engine::settled_trouble(&self.host, &dead).await,
            Some(engine::EngineTrouble::Gone(_))
        ) {
            return;
        }
        drop(entry.started.lock().ok().and_then(|mut s| s.take()));
        // An engine that died did not stop cleanly: a cache it held is thrown away.
        match entry.lease.lock().ok().and_then(|mut s| s.take()) {
            Some(lease) => engine::cache::release(&self.host, &dead, &lease).await,
            None => engine::release(&self.host, &dead).await,
        }
        if let Ok(mut current) = entry.current.lock() {
            *current = Arc::default();
        }
        emit(Event::Warning(format!(
            "engine {}/{} died and was removed; the next cell or retry that needs it starts a new one",
            key.engine,
            key.driver_label()
        )));
    }

    /// What preflight and the daemon.json lint said of the engine of `key`.
    pub fn findings(&self, key: &EngineKey) -> Vec<Finding> {
        self.entries
            .get(key)
            .and_then(|e| e.findings.lock().ok().map(|f| f.clone()))
            .unwrap_or_default()
    }

    /// How long the current engine of `key` took to load its images, once it has.
    pub fn images_ms(&self, key: &EngineKey) -> Option<u64> {
        self.entries
            .get(key)
            .and_then(|e| e.current().images_ms.get().copied())
    }

    /// Marks the engine as kept (a `--keep`ed stack runs on it).
    pub fn keep(&self, key: &EngineKey) {
        if let Some(e) = self.entries.get(key) {
            e.keep.store(true, Ordering::SeqCst);
        }
    }

    /// One cell of the engine is done; the last one releases it.
    pub async fn cell_done(&self, key: &EngineKey, emit: &(dyn Fn(Event) + Send + Sync)) {
        let Some(entry) = self.entries.get(key) else {
            return;
        };
        if entry.remaining.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.release(key, entry, emit).await;
        }
    }

    /// Releases every engine still up (end of run, or cancellation).
    pub async fn release_all(&self, emit: &(dyn Fn(Event) + Send + Sync)) {
        let starts: Vec<_> = self.starts.lock().await.drain(..).collect();
        futures_util::future::join_all(starts).await;
        let all = self.entries.iter().map(|(k, e)| self.release(k, e, emit));
        futures_util::future::join_all(all).await;
    }

    /// Taking the handle out of its slot makes release idempotent, and an engine whose
    /// start finishes after its last cell gave up is still released by `release_all`.
    async fn release(&self, key: &EngineKey, entry: &Entry, emit: &(dyn Fn(Event) + Send + Sync)) {
        // Its place in the budget frees once it is stopped; a kept engine stays up but no
        // longer counts: its cells are done.
        let _place = entry.budget.lock().ok().and_then(|mut s| s.take());
        if entry.keep.load(Ordering::SeqCst) {
            return;
        }
        let started = entry.started.lock().ok().and_then(|mut s| s.take());
        let lease = entry.lease.lock().ok().and_then(|mut s| s.take());
        if let Some(h) = started
            && h.dind.is_some()
        {
            match lease {
                Some(lease) => engine::cache::release(&self.host, &h, &lease).await,
                None => engine::release(&self.host, &h).await,
            }
            emit(Event::EngineStopped {
                engine: key.engine.clone(),
                driver: key.driver_label().to_string(),
            });
        }
    }
}

/// What a crashed run left in a cached engine (and the cache removed before any cell),
/// kept with the engine's findings so that every cell's record says so.
fn leftovers(entry: &Entry, key: &EngineKey, removed: &[String]) {
    if removed.is_empty() {
        return;
    }
    if let Ok(mut f) = entry.findings.lock() {
        f.push(Finding {
            engine: format!("{}/{}", key.engine, key.driver_label()),
            check: "engine-cache".into(),
            level: FindingLevel::Ok,
            reason: format!(
                "the cached engine held what an earlier run left; removed before use: {}",
                removed.join(", ")
            ),
        });
    }
}

pub use crate::diagnostic::error_chain;
