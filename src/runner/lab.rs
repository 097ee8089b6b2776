//! What a run needs of Docker, as one trait: the runner drives each cell through a
//! [`Lab`] (its engine, the images, the stack, the checks, the host engine's word on an
//! engine that stopped answering, keep or teardown), so that scheduling, retries,
//! timeouts, `--keep`, cancellation and the statuses they lead to are tested against a
//! scripted stand-in, without an engine. [`DockerLab`] is the real one: the engine
//! [`Pool`], each cell's [`Stack`], the run's [`Suites`].

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::RwLock;
use tokio_util::sync::CancellationToken;

use super::pool::{EngineFailure, EngineKey, Pool, error_chain};
use super::{Event, RunConfig};
use crate::checks::{OnCheck, Suites};
use crate::engine::images::Loaded;
use crate::engine::labels::RunLabels;
use crate::engine::{EngineHandle, EngineTrouble, Host, settled_trouble};
use crate::matrix::plan::CellPlan;
use crate::matrix::{Cell, PullPolicy};
use crate::results::{CellStatus, EngineFacts, Finding, ServiceRecord};
use crate::stack::{Stack, StackError};

/// Where a lab sends what it has to tell (engines starting, images loaded).
pub type EmitFn = dyn Fn(Event) + Send + Sync;

/// Why a cell's stack did not come up: `fail` when the stack does not work here, `error`
/// for a setup fault, with the reason.
#[derive(Debug, Clone)]
pub struct StackFailure {
    pub status: CellStatus,
    pub reason: String,
    /// Retrying cannot help (an environment that cannot be prepared).
    pub for_good: bool,
}

impl StackFailure {
    pub fn of(e: &StackError) -> StackFailure {
        StackFailure {
            status: if e.is_stack_failure() {
                CellStatus::Fail
            } else {
                CellStatus::Error
            },
            reason: crate::secrets::mask_urls(&error_chain(e)),
            for_good: matches!(e, StackError::Env { .. }),
        }
    }
}

/// Engines, stacks and checks, as the runner uses them. Every future is `Send`, so that a
/// run can be spawned.
pub trait Lab: Sync {
    /// A started engine, shared by the cells of its [`EngineKey`].
    type Engine: Send + Sync;
    /// One cell's stack on its engine: provisioned (perhaps in part), then kept or torn
    /// down.
    type Stack: Send + Sync;

    /// The engine of `key`, started by the first cell that asks: a refusal makes the
    /// cell `unsupported`, a fault `error`, for every cell of the engine.
    fn engine(
        &self,
        key: &EngineKey,
        emit: &EmitFn,
    ) -> impl Future<Output = Result<Self::Engine, EngineFailure>> + Send;

    /// What the engine reports of itself.
    fn facts(&self, engine: &Self::Engine) -> EngineFacts;

    /// What preflight said of the engine of `key` before it started.
    fn findings(&self, key: &EngineKey) -> Vec<Finding>;

    /// How long the engine of `key` took to load its images, once it has (`None`: a lab
    /// that does not measure it).
    fn images_ms(&self, _key: &EngineKey) -> Option<u64> {
        None
    }

    /// The images of every cell of the engine, loaded once, by reference.
    fn images(
        &self,
        key: &EngineKey,
        engine: &Self::Engine,
        emit: &EmitFn,
    ) -> impl Future<Output = Arc<Loaded>> + Send;

    /// The cell's stack, not yet provisioned.
    fn stack(&self, engine: &Self::Engine, cell: &Cell) -> Self::Stack;

    /// The services in depends-on order, each ready.
    /// Starts the cell's services; `emit` hears of each one ready (`ServicesReady`).
    fn provision(
        &self,
        stack: &mut Self::Stack,
        engine: &Self::Engine,
        cell: &Cell,
        plan: &CellPlan,
        emit: &EmitFn,
    ) -> impl Future<Output = Result<(), StackFailure>> + Send;

    /// The checks of every phase (seed, run, verify) against the stack, each record handed to `on_check` as it
    /// ends (the runner keeps and sends on what it is given). `gate`: the run's perf gate,
    /// not held by the caller.
    fn checks(
        &self,
        stack: &Self::Stack,
        engine: &Self::Engine,
        cell: &Cell,
        gate: &RwLock<()>,
        on_check: OnCheck<'_>,
        emit: &EmitFn,
    ) -> impl Future<Output = ()> + Send;

    /// Whether the engine died or froze (asked of whoever can still say so).
    /// `since`: when the attempt began (a host engine's broken contact counts from then).
    fn trouble(
        &self,
        engine: &Self::Engine,
        since: std::time::Instant,
    ) -> impl Future<Output = Option<EngineTrouble>> + Send;

    /// The services' figures and, `with_logs`, their last log lines.
    fn service_records(
        &self,
        stack: &Self::Stack,
        with_logs: bool,
    ) -> impl Future<Output = Vec<ServiceRecord>> + Send;

    /// Leaves the stack (and its engine) running for `--keep`; says how to reach it.
    fn keep(
        &self,
        key: &EngineKey,
        engine: &Self::Engine,
        stack: &Self::Stack,
        cell: &Cell,
    ) -> String;

    /// Removes the stack; what could not be removed, for warnings.
    fn teardown(&self, stack: &mut Self::Stack) -> impl Future<Output = Vec<String>> + Send;

    /// One cell of the engine of `key` is done (the last one releases it).
    fn cell_done(&self, key: &EngineKey, emit: &EmitFn) -> impl Future<Output = ()> + Send;

    /// Releases every engine still up (end of run, or cancellation).
    fn release_all(&self, emit: &EmitFn) -> impl Future<Output = ()> + Send;

    /// The engine of `key` died: forget it, so that the next cell or retry that needs it
    /// gets a new one. A lab whose engines cannot die has nothing to do.
    fn replace(&self, _key: &EngineKey, _emit: &EmitFn) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// Prepares engines ahead of their cells, at most `max_engines` alive at once, each
    /// step under the perf gate's read side; returns once all are prepared or the run is
    /// cancelled. A lab whose engines need no preparation has nothing to do.
    fn prepare_ahead(
        &self,
        _max_engines: usize,
        _gate: &RwLock<()>,
        _cancel: &CancellationToken,
        _emit: &EmitFn,
    ) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// Waits until the engine of `key` is prepared (a cell takes its slot after).
    fn ready(&self, _key: &EngineKey) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// The lab that rehearses upgrades: those drive dind engines on one data volume
    /// themselves, and only the Docker lab can.
    fn rehearsals(&self) -> Option<&DockerLab<'_>> {
        None
    }
}

/// The real lab: engines from the [`Pool`] (dind, host, endpoint), stacks on them, the
/// run's scenarios and baseline.
pub struct DockerLab<'a> {
    pub(super) pool: Pool,
    pub(super) labels: RunLabels,
    pub(super) suites: Suites<'a>,
    pub(super) pull: PullPolicy,
}

impl<'a> DockerLab<'a> {
    /// The engines of `cfg`'s cells, from their `plans`, ready to start (none started yet),
    /// on `host`.
    pub fn new(cfg: &'a RunConfig, plans: &[CellPlan], host: Host) -> DockerLab<'a> {
        let labels = RunLabels::new(&cfg.run_id);
        let pool = Pool::new(host, labels.clone(), &cfg.matrix, plans, cfg.pull)
            .with_engine_cache(cfg.engine_cache);
        DockerLab {
            pool,
            labels,
            suites: Suites {
                matrix: &cfg.matrix,
                scenarios: &cfg.scenarios,
                baseline: cfg.baseline.as_ref(),
            },
            pull: cfg.pull,
        }
    }

    pub fn host(&self) -> &Host {
        self.pool.host()
    }
}

impl Lab for DockerLab<'_> {
    type Engine = EngineHandle;
    type Stack = Stack;

    async fn engine(&self, key: &EngineKey, emit: &EmitFn) -> Result<EngineHandle, EngineFailure> {
        self.pool.engine(key, emit).await
    }

    fn facts(&self, engine: &EngineHandle) -> EngineFacts {
        engine.facts.clone()
    }

    fn findings(&self, key: &EngineKey) -> Vec<Finding> {
        self.pool.findings(key)
    }

    fn images_ms(&self, key: &EngineKey) -> Option<u64> {
        self.pool.images_ms(key)
    }

    async fn images(&self, key: &EngineKey, engine: &EngineHandle, emit: &EmitFn) -> Arc<Loaded> {
        self.pool.images(key, engine, emit, None).await
    }

    fn stack(&self, engine: &EngineHandle, cell: &Cell) -> Stack {
        Stack::new(engine, &self.labels, cell)
    }

    async fn provision(
        &self,
        stack: &mut Stack,
        engine: &EngineHandle,
        cell: &Cell,
        plan: &CellPlan,
        emit: &EmitFn,
    ) -> Result<(), StackFailure> {
        let on_ready = |ready, of| {
            emit(Event::ServicesReady {
                id: cell.id.clone(),
                ready,
                of,
            });
        };
        stack
            .provision(engine, self.suites.matrix, cell, plan, Some(&on_ready))
            .await
            .map_err(|e| StackFailure::of(&e))
    }

    async fn checks(
        &self,
        stack: &Stack,
        engine: &EngineHandle,
        cell: &Cell,
        gate: &RwLock<()>,
        on_check: OnCheck<'_>,
        emit: &EmitFn,
    ) {
        let target = stack.target(engine, cell);
        let (of, started) = (self.suites.planned(super::ALL_PHASES), AtomicUsize::new(0));
        let on_start = |check: &crate::scenario::Check| {
            emit(Event::CheckStarted {
                cell: cell.id.clone(),
                name: check.name.clone(),
                perf: check.perf.is_some(),
                n: started.fetch_add(1, Ordering::SeqCst) + 1,
                of,
            });
        };
        self.suites
            .run(
                &target,
                super::ALL_PHASES,
                gate,
                Some(on_check),
                Some(&on_start),
            )
            .await;
    }

    async fn trouble(
        &self,
        engine: &EngineHandle,
        since: std::time::Instant,
    ) -> Option<EngineTrouble> {
        match &engine.contact {
            Some(contact) => contact.settled(&engine.docker, since).await,
            None => settled_trouble(self.pool.host(), engine).await,
        }
    }

    async fn service_records(&self, stack: &Stack, with_logs: bool) -> Vec<ServiceRecord> {
        stack.service_records(with_logs).await
    }

    fn keep(&self, key: &EngineKey, engine: &EngineHandle, stack: &Stack, cell: &Cell) -> String {
        self.pool.keep(key);
        keep_instructions(engine, cell, stack)
    }

    async fn teardown(&self, stack: &mut Stack) -> Vec<String> {
        stack.teardown().await
    }

    async fn cell_done(&self, key: &EngineKey, emit: &EmitFn) {
        self.pool.cell_done(key, emit).await;
    }

    async fn prepare_ahead(
        &self,
        max_engines: usize,
        gate: &RwLock<()>,
        cancel: &CancellationToken,
        emit: &EmitFn,
    ) {
        self.pool
            .prepare_ahead(max_engines, gate, cancel, emit)
            .await;
    }

    async fn replace(&self, key: &EngineKey, emit: &EmitFn) {
        self.pool.replace(key, emit).await;
    }

    async fn ready(&self, key: &EngineKey) {
        self.pool.ready(key).await;
    }

    async fn release_all(&self, emit: &EmitFn) {
        self.pool.release_all(emit).await;
    }

    fn rehearsals(&self) -> Option<&DockerLab<'_>> {
        Some(self)
    }
}

/// How to reach a kept stack, and how to remove it.
fn keep_instructions(engine: &EngineHandle, cell: &Cell, stack: &Stack) -> String {
    let docker = match &engine.dind {
        Some(_) => format!("docker -H tcp://{}:2375", engine.publish_ip),
        None => "docker".to_string(),
    };
    let ports: Vec<String> = stack
        .services
        .iter()
        .flat_map(|s| {
            s.ports
                .iter()
                .map(move |(c, a)| format!("{}:{c} → {a}", s.name))
        })
        .collect();
    format!(
        "{docker} ps --filter label=io.dockmatrix.cell={}; ports: {}; remove with: dockmatrix clean --run {}",
        cell.id,
        ports.join(", "),
        stack.run_id()
    )
}
