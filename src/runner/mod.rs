//! The scheduler: runs cells concurrently (bounded by `-j`), each through engine → images
//! → services → checks → teardown in a [`Lab`] (Docker's, or a stand-in), with retries, a
//! cell timeout, `--fail-fast`, `--keep` and cancellation. It never prints: it emits
//! [`Event`]s.

mod attempt;
pub mod events;
mod faults;
pub mod lab;
pub mod pool;
pub mod session;
mod step;
mod upgrade;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{RwLock, Semaphore};
use tokio_util::sync::CancellationToken;

pub use events::{Event, Step};
pub use lab::{DockerLab, Lab};
use pool::EngineKey;

use attempt::Attempt;
use step::Steps;

use crate::engine::Host;
use crate::matrix::plan::CellPlan;
use crate::matrix::{Cell, Matrix, PullPolicy};
use crate::results::{AttemptRecord, CellRecord, CellStatus, StepDurations};
use crate::scenario::{Phase, Scenario};

/// The exclusive gate of perf checks: every step of every cell holds the read side; a
/// perf measurement takes the write side, so running cells finish their current step and
/// nothing new starts while it measures.
pub type Gate = Arc<RwLock<()>>;

/// Without an upgrade the phases simply follow each other.
pub const ALL_PHASES: &[Phase] = &[Phase::Seed, Phase::Run, Phase::Verify];

/// Receives events; called from many tasks.
pub type Emit = Arc<dyn Fn(Event) + Send + Sync>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Keep {
    #[default]
    None,
    Failed,
    All,
}

pub struct RunConfig {
    pub matrix: Arc<Matrix>,
    pub cells: Vec<Cell>,
    pub run_id: String,
    pub jobs: usize,
    pub retries: u32,
    pub cell_timeout: Duration,
    pub pull: PullPolicy,
    pub fail_fast: bool,
    pub keep: Keep,
    /// The matrix's scenarios, loaded and checked ([`crate::scenario::load_all`]); none
    /// when it names none.
    pub scenarios: Vec<Scenario>,
    /// `--baseline RUN`: perf figures to compare each cell's with.
    pub baseline: Option<crate::results::RunRecord>,
    /// dind engines start on their caches (`--engine-cache`, `[run] engine-cache`).
    pub engine_cache: bool,
    /// Engines alive at once, prepared ahead of their cells (`--max-engines`).
    pub max_engines: usize,
}

/// Twice the CPU count, at most 8.
pub fn default_jobs() -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cpus * 2).clamp(1, 8)
}

/// Engines alive at once by default: one more than the cores (so one engine loads its
/// images while the others serve cells), at most one per 2 GiB of memory, between 1 and 8.
pub fn default_max_engines() -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let by_memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|s| s.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(usize::MAX, |kb| (kb / (2 * 1024 * 1024)) as usize);
    (cpus + 1).min(by_memory).clamp(1, 8)
}

/// Runs every cell on the host's Docker; returns their records in plan order.
/// Cancellation (Ctrl-C, `--fail-fast`) stops new work, tears down what runs, and marks
/// the rest `cancelled`.
pub async fn run(
    cfg: RunConfig,
    host: Host,
    emit: Emit,
    cancel: CancellationToken,
) -> Vec<CellRecord> {
    let plans = plan_cells(&cfg);
    let lab = DockerLab::new(&cfg, &plans, host);
    run_in(&cfg, &plans, &lab, emit, cancel).await
}

/// Each cell's plan, in `cfg.cells`' order: worked out once, read by the pool (which
/// engines, which images) and by each cell's steps.
pub fn plan_cells(cfg: &RunConfig) -> Vec<CellPlan> {
    cfg.cells
        .iter()
        .map(|c| CellPlan::of(&cfg.matrix, c))
        .collect()
}

/// [`run`] in any [`Lab`]: the Docker one, or a stand-in. `plans` are the cells' own
/// ([`plan_cells`]), in the same order.
pub async fn run_in<L: Lab>(
    cfg: &RunConfig,
    plans: &[CellPlan],
    lab: &L,
    emit: Emit,
    cancel: CancellationToken,
) -> Vec<CellRecord> {
    let jobs = cfg.jobs.max(1);
    emit(Event::RunStarted {
        run_id: cfg.run_id.clone(),
        cells: cfg.cells.len(),
        jobs,
    });
    let runner = Runner {
        cfg,
        lab,
        steps: Steps {
            emit: emit.clone(),
            gate: Arc::new(RwLock::new(())),
            cancel,
            cell_timeout: cfg.cell_timeout,
        },
        slots: Semaphore::new(jobs),
        failed: AtomicBool::new(false),
    };
    let futures = cfg.cells.iter().zip(plans).map(|(c, p)| runner.cell(c, p));
    let prepare = lab.prepare_ahead(
        cfg.max_engines,
        &runner.steps.gate,
        &runner.steps.cancel,
        &*emit,
    );
    let (records, ()) = tokio::join!(futures_util::future::join_all(futures), prepare);
    lab.release_all(&*emit).await;
    emit(Event::RunFinished);
    records
}

struct Runner<'a, L> {
    cfg: &'a RunConfig,
    lab: &'a L,
    steps: Steps,
    slots: Semaphore,
    failed: AtomicBool,
}

impl<L: Lab> Runner<'_, L> {
    fn emit(&self, e: Event) {
        self.steps.emit(e);
    }

    async fn cell(&self, cell: &Cell, plan: &CellPlan) -> CellRecord {
        let key = EngineKey::of(cell);
        let cancel = &self.steps.cancel;
        // A cell takes a slot only once its engine is prepared: `-j` counts cells, not
        // engines starting or loading images.
        let permit = tokio::select! {
            p = async {
                if self.cfg.matrix.upgrade_for(cell).is_none() {
                    self.lab.ready(&key).await;
                }
                self.slots.acquire().await
            } => p.ok(),
            () = cancel.cancelled() => None,
        };
        let record = match permit {
            Some(_permit) if !cancel.is_cancelled() => self.attempts(cell, plan, &key).await,
            _ => cancelled_record(cell, "not started: the run was cancelled"),
        };
        // An upgrade cell owns its engines; the pool's count only shared ones.
        if self.cfg.matrix.upgrade_for(cell).is_none() {
            self.lab.cell_done(&key, &*self.steps.emit).await;
        }
        if record.status.is_failure(false)
            && self.cfg.fail_fast
            && !self.failed.swap(true, Ordering::SeqCst)
        {
            self.emit(Event::Cancelling {
                why: format!("--fail-fast: cell {} is {}", record.id, record.status),
            });
            cancel.cancel();
        }
        self.emit(Event::CellFinished {
            record: Box::new(record.clone()),
        });
        record
    }

    async fn attempts(&self, cell: &Cell, plan: &CellPlan, key: &EngineKey) -> CellRecord {
        let started = Instant::now();
        let mut previous = Vec::new();
        let mut attempt_no = 1;
        loop {
            self.emit(Event::CellStarted {
                id: cell.id.clone(),
                values: cell.values.clone(),
                attempt: attempt_no,
            });
            let a = match self.cfg.matrix.upgrade_for(cell) {
                Some(path) => match self.lab.rehearsals() {
                    Some(docker) => {
                        docker
                            .rehearse(&self.steps.clock(&cell.id), cell, plan, path)
                            .await
                    }
                    None => Attempt::refused(Step::Engine, "this lab does not rehearse upgrades"),
                },
                None => {
                    self.attempt(cell, plan, key, attempt_no <= self.cfg.retries)
                        .await
                }
            };
            if a.retryable() && attempt_no <= self.cfg.retries && !self.steps.cancel.is_cancelled()
            {
                let reason = a.reason.clone().unwrap_or_default();
                self.emit(Event::CellRetrying {
                    id: cell.id.clone(),
                    attempt: attempt_no + 1,
                    status: a.status,
                    reason: reason.clone(),
                });
                previous.push(AttemptRecord {
                    status: a.status,
                    reason: Some(reason),
                });
                attempt_no += 1;
                continue;
            }
            let mut a = a;
            a.durations.total = started.elapsed().as_millis() as u64;
            return record(&self.cfg.matrix, cell, plan, a, attempt_no, previous);
        }
    }
}

/// The cell's record from its last attempt and the failures before it: a pass after
/// failures is `flaky`, saying what failed.
fn record(
    matrix: &Matrix,
    cell: &Cell,
    plan: &CellPlan,
    a: Attempt,
    attempts: u32,
    previous: Vec<AttemptRecord>,
) -> CellRecord {
    let status = if a.status == CellStatus::Pass && !previous.is_empty() {
        CellStatus::Flaky
    } else {
        a.status
    };
    let reason = a.reason.or_else(|| {
        (status == CellStatus::Flaky).then(|| {
            let before: Vec<String> = previous.iter().filter_map(|p| p.reason.clone()).collect();
            format!("passed on attempt {attempts} after: {}", before.join("; "))
        })
    });
    CellRecord {
        id: cell.id.clone(),
        values: cell.values.clone(),
        status,
        reason,
        failed_step: a.failed_step.map(|s| s.as_str().to_string()),
        attempts,
        previous_attempts: previous,
        durations_ms: a.durations,
        engine: a.engine,
        images: a.images,
        services: a.services,
        checks: a.checks,
        kept: a.kept,
        preflight: a.preflight,
        upgrade: a.upgrade,
        compose: compose_record(matrix, plan),
    }
}

/// The compose files of a compose stack and the images the cell gave its services.
fn compose_record(
    matrix: &crate::matrix::Matrix,
    plan: &CellPlan,
) -> Option<crate::results::ComposeRecord> {
    use crate::results::{ComposeFileRecord, ComposeRecord};
    let project = matrix.compose.as_ref()?;
    let file = |f: &crate::compose::SourceFile| ComposeFileRecord {
        path: f.path.display().to_string(),
        sha256: f.sha256.clone(),
    };
    Some(ComposeRecord {
        files: project.files.iter().map(file).collect(),
        env_file: project.env_file.as_ref().map(file),
        images: matrix
            .services
            .values()
            .filter(|s| s.from_compose)
            .filter_map(|s| Some((s.name.clone(), plan.image_of(&s.name)?.to_string())))
            .collect(),
    })
}

/// The record of a cell that never ran.
pub fn cancelled_record(cell: &Cell, reason: &str) -> CellRecord {
    CellRecord {
        id: cell.id.clone(),
        values: cell.values.clone(),
        status: CellStatus::Cancelled,
        reason: Some(reason.to_string()),
        failed_step: None,
        attempts: 0,
        previous_attempts: Vec::new(),
        durations_ms: StepDurations::default(),
        engine: None,
        images: Vec::new(),
        services: Vec::new(),
        checks: Vec::new(),
        kept: None,
        preflight: Vec::new(),
        upgrade: None,
        compose: None,
    }
}

/// A run id: UTC timestamp + random suffix.
pub fn new_run_id() -> String {
    let now = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let suffix: u32 = rand::random();
    format!("{now}-{:04x}", suffix & 0xffff)
}

/// The run future is `Send` (a caller may spawn it): every future of the [`Lab`] is, and
/// so is the runner's state across its awaits. Checked when this compiles.
#[expect(dead_code, reason = "a compile-time check, never called")]
fn run_is_send(cfg: RunConfig, host: Host, emit: Emit, cancel: CancellationToken) {
    fn send<T: Send>(_: T) {}
    send(run(cfg, host, emit, cancel));
}

#[cfg(test)]
mod tests;
