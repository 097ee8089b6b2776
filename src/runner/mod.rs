//! The scheduler: runs cells concurrently (bounded by `-j`), each through engine → images
//! → services → checks → teardown, with retries, a cell timeout, `--fail-fast`,
//! `--keep` and cancellation. It never prints: it emits [`Event`]s.

pub mod events;
pub mod pool;
mod upgrade;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{RwLock, Semaphore};
use tokio_util::sync::CancellationToken;

pub use events::{Event, Step};
use pool::{EngineKey, Pool};

mod faults;

use crate::checks::Suites;
use crate::engine::labels::RunLabels;
use crate::engine::{EngineHandle, Host};
use crate::matrix::{Cell, Matrix, PullPolicy};
use crate::results::{
    AttemptRecord, CellRecord, CellStatus, CheckRecord, EngineFacts, Finding, ImageRecord,
    ServiceRecord, StepDurations, UpgradeRecord,
};
use crate::scenario::{Phase, Scenario};
use crate::stack::Stack;

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
}

/// Twice the CPU count, at most 8.
pub fn default_jobs() -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cpus * 2).clamp(1, 8)
}

/// Runs every cell; returns their records in plan order. Cancellation (Ctrl-C,
/// `--fail-fast`) stops new work, tears down what runs, and marks the rest `cancelled`.
pub async fn run(
    cfg: RunConfig,
    host: Host,
    emit: Emit,
    cancel: CancellationToken,
) -> Vec<CellRecord> {
    let labels = RunLabels::new(&cfg.run_id);
    let pool = Pool::new(
        host.clone(),
        labels.clone(),
        &cfg.matrix,
        &cfg.cells,
        cfg.pull,
    )
    .with_engine_cache(cfg.engine_cache);
    let jobs = cfg.jobs.max(1);
    emit(Event::RunStarted {
        run_id: cfg.run_id.clone(),
        cells: cfg.cells.len(),
        jobs,
    });
    let runner = Runner {
        cfg: &cfg,
        pool: &pool,
        labels: &labels,
        emit: emit.clone(),
        cancel: cancel.clone(),
        gate: Arc::new(RwLock::new(())),
        slots: Semaphore::new(jobs),
        failed: AtomicBool::new(false),
    };
    let futures = cfg.cells.iter().map(|c| runner.cell(c));
    let records = futures_util::future::join_all(futures).await;
    let e = emit.clone();
    pool.release_all(&move |ev| e(ev)).await;
    emit(Event::RunFinished);
    records
}

struct Runner<'a> {
    cfg: &'a RunConfig,
    pool: &'a Pool,
    labels: &'a RunLabels,
    emit: Emit,
    cancel: CancellationToken,
    gate: Gate,
    slots: Semaphore,
    failed: AtomicBool,
}

/// What one attempt found.
struct Attempt {
    status: CellStatus,
    reason: Option<String>,
    failed_step: Option<Step>,
    durations: StepDurations,
    engine: Option<EngineFacts>,
    images: Vec<ImageRecord>,
    services: Vec<ServiceRecord>,
    checks: Vec<CheckRecord>,
    kept: Option<String>,
    /// Retrying cannot change the outcome (a refused engine, a missing image).
    final_: bool,
    preflight: Vec<Finding>,
    upgrade: Option<UpgradeRecord>,
}

impl Attempt {
    fn new() -> Attempt {
        Attempt {
            status: CellStatus::Pass,
            reason: None,
            failed_step: None,
            durations: StepDurations::default(),
            engine: None,
            images: Vec::new(),
            services: Vec::new(),
            checks: Vec::new(),
            kept: None,
            final_: false,
            preflight: Vec::new(),
            upgrade: None,
        }
    }

    fn end(mut self, status: CellStatus, step: Option<Step>, reason: String) -> Attempt {
        self.status = status;
        self.failed_step = step;
        self.reason = Some(reason);
        self
    }
}

/// How a step ended, when it did not simply succeed.
enum Interrupt {
    Cancelled,
    TimedOut,
}

impl Runner<'_> {
    fn emit(&self, e: Event) {
        (self.emit)(e);
    }

    fn checks_of_run(&self) -> Suites<'_> {
        Suites {
            matrix: &self.cfg.matrix,
            scenarios: &self.cfg.scenarios,
            baseline: self.cfg.baseline.as_ref(),
        }
    }

    async fn cell(&self, cell: &Cell) -> CellRecord {
        let key = EngineKey::of(cell);
        let permit = tokio::select! {
            p = self.slots.acquire() => p.ok(),
            () = self.cancel.cancelled() => None,
        };
        let record = match permit {
            Some(_permit) if !self.cancel.is_cancelled() => self.attempts(cell, &key).await,
            _ => cancelled_record(cell, "not started: the run was cancelled"),
        };
        // An upgrade cell owns its engines; the pool's count only shared ones.
        if self.cfg.matrix.upgrade_for(cell).is_none() {
            let e = self.emit.clone();
            self.pool.cell_done(&key, &move |ev| e(ev)).await;
        }
        if record.status.is_failure(false)
            && self.cfg.fail_fast
            && !self.failed.swap(true, Ordering::SeqCst)
        {
            self.emit(Event::Cancelling {
                why: format!("--fail-fast: cell {} is {}", record.id, record.status),
            });
            self.cancel.cancel();
        }
        self.emit(Event::CellFinished {
            record: Box::new(record.clone()),
        });
        record
    }

    async fn attempts(&self, cell: &Cell, key: &EngineKey) -> CellRecord {
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
                Some(path) => self.upgrade_attempt(cell, path).await,
                None => {
                    self.attempt(cell, key, attempt_no <= self.cfg.retries)
                        .await
                }
            };
            let retryable = matches!(a.status, CellStatus::Fail | CellStatus::Error) && !a.final_;
            if retryable && attempt_no <= self.cfg.retries && !self.cancel.is_cancelled() {
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
            let status = if a.status == CellStatus::Pass && !previous.is_empty() {
                CellStatus::Flaky
            } else {
                a.status
            };
            let mut durations = a.durations;
            durations.total = started.elapsed().as_millis() as u64;
            return CellRecord {
                id: cell.id.clone(),
                values: cell.values.clone(),
                status,
                reason: a.reason.or_else(|| {
                    (status == CellStatus::Flaky).then(|| {
                        format!(
                            "passed on attempt {attempt_no} after: {}",
                            previous
                                .iter()
                                .filter_map(|p| p.reason.clone())
                                .collect::<Vec<_>>()
                                .join("; ")
                        )
                    })
                }),
                failed_step: a.failed_step.map(|s| s.as_str().to_string()),
                attempts: attempt_no,
                previous_attempts: previous,
                durations_ms: durations,
                engine: a.engine,
                images: a.images,
                services: a.services,
                checks: a.checks,
                kept: a.kept,
                preflight: a.preflight,
                upgrade: a.upgrade,
                compose: compose_record(&self.cfg.matrix, cell),
            };
        }
    }

    /// Runs `fut` unless the run is cancelled or the cell's deadline passes first.
    async fn step<T>(
        &self,
        deadline: tokio::time::Instant,
        fut: impl std::future::Future<Output = T>,
    ) -> Result<T, Interrupt> {
        tokio::select! {
            r = fut => Ok(r),
            () = self.cancel.cancelled() => Err(Interrupt::Cancelled),
            () = tokio::time::sleep_until(deadline) => Err(Interrupt::TimedOut),
        }
    }

    fn interrupted(&self, a: Attempt, why: Interrupt, step: Step) -> Attempt {
        match why {
            Interrupt::Cancelled => a.end(
                CellStatus::Cancelled,
                Some(step),
                format!("cancelled during step `{step}`"),
            ),
            Interrupt::TimedOut => {
                let mut a = a.end(
                    CellStatus::Fail,
                    Some(step),
                    format!(
                        "timed out after {}s in step `{step}`",
                        self.cfg.cell_timeout.as_secs()
                    ),
                );
                a.final_ = false;
                a
            }
        }
    }

    /// `may_retry`: a failure of this attempt is retried (if it is retryable at all).
    async fn attempt(&self, cell: &Cell, key: &EngineKey, may_retry: bool) -> Attempt {
        let deadline = tokio::time::Instant::now() + self.cfg.cell_timeout;
        let mut a = Attempt::new();
        let emit = self.emit.clone();
        let emit_fn = move |ev| emit(ev);

        // Engine
        self.emit(Event::CellStep {
            id: cell.id.clone(),
            step: Step::Engine,
        });
        let t = Instant::now();
        let engine = {
            let _g = self.gate.read().await;
            self.step(deadline, self.pool.engine(key, &emit_fn)).await
        };
        a.durations.engine = t.elapsed().as_millis() as u64;
        a.preflight = self.pool.findings(key);
        let engine: EngineHandle = match engine {
            Err(why) => return self.interrupted(a, why, Step::Engine),
            Ok(Err(f)) => {
                let status = if f.unsupported {
                    CellStatus::Unsupported
                } else {
                    CellStatus::Error
                };
                let mut a = a.end(status, Some(Step::Engine), f.reason);
                a.final_ = true;
                return a;
            }
            Ok(Ok(h)) => h,
        };
        a.engine = Some(engine.facts.clone());

        // Images
        self.emit(Event::CellStep {
            id: cell.id.clone(),
            step: Step::Images,
        });
        let t = Instant::now();
        let loaded = {
            let _g = self.gate.read().await;
            self.step(deadline, self.pool.images(key, &engine, &emit_fn))
                .await
        };
        a.durations.images = t.elapsed().as_millis() as u64;
        let loaded = match loaded {
            Err(why) => return self.interrupted(a, why, Step::Images),
            Ok(l) => l,
        };
        let mut missing = Vec::new();
        for svc in self.cfg.matrix.services.values() {
            let Ok(image) = self.cfg.matrix.image_for(svc, cell) else {
                continue;
            };
            match loaded.get(&image) {
                Some(Ok(rec)) => a.images.push(ImageRecord {
                    service: svc.name.clone(),
                    ..rec.clone()
                }),
                Some(Err(e)) => missing.push(e.clone()),
                None => missing.push(format!("image `{image}` was not planned for this engine")),
            }
        }
        if !missing.is_empty() {
            let mut a = a.end(CellStatus::Error, Some(Step::Images), missing.join("; "));
            a.final_ = true;
            return a;
        }

        // Services
        self.emit(Event::CellStep {
            id: cell.id.clone(),
            step: Step::Services,
        });
        let t = Instant::now();
        let mut stack = Stack::new(&engine, self.labels, cell);
        let provisioned = {
            let _g = self.gate.read().await;
            self.step(deadline, stack.provision(&engine, &self.cfg.matrix, cell))
                .await
        };
        a.durations.services = t.elapsed().as_millis() as u64;
        a = match provisioned {
            Err(why) => self.interrupted(a, why, Step::Services),
            Ok(Err(e)) => {
                let (status, reason) = stack_failure(&e);
                let mut a = a.end(status, Some(Step::Services), reason);
                a.final_ = matches!(e, crate::stack::StackError::Env { .. });
                a
            }
            Ok(Ok(())) => {
                // Checks
                self.emit(Event::CellStep {
                    id: cell.id.clone(),
                    step: Step::Checks,
                });
                let t = Instant::now();
                let target = stack.target(&engine, cell);
                let checks = self
                    .step(
                        deadline,
                        self.checks_of_run()
                            .run(&target, ALL_PHASES, &self.gate, None),
                    )
                    .await;
                a.durations.checks = t.elapsed().as_millis() as u64;
                match checks {
                    Err(why) => self.interrupted(a, why, Step::Checks),
                    Ok(records) => {
                        for r in &records {
                            self.emit(Event::CheckFinished {
                                cell: cell.id.clone(),
                                record: Box::new(r.clone()),
                            });
                        }
                        let failing: Vec<&CheckRecord> =
                            records.iter().filter(|r| r.status.fails_cell()).collect();
                        let mut a = a;
                        if !failing.is_empty() {
                            let names: Vec<String> = failing
                                .iter()
                                .take(3)
                                .map(|r| format!("{} ({})", r.name, r.status))
                                .collect();
                            let more = if failing.len() > 3 {
                                format!(" and {} more", failing.len() - 3)
                            } else {
                                String::new()
                            };
                            a = a.end(
                                CellStatus::Fail,
                                Some(Step::Checks),
                                format!(
                                    "{} check(s) failed: {}{more}",
                                    failing.len(),
                                    names.join(", ")
                                ),
                            );
                        }
                        a.checks = records;
                        a
                    }
                }
            }
        };

        // A dead or frozen engine answers nothing: say so, and ask it for nothing more.
        let engine_lost = faults::engine_trouble(self.pool.host(), &engine, &mut a).await;
        // Figures and, for a cell that did not pass, the services' last log lines.
        if !engine_lost {
            a.services = stack.service_records(a.status != CellStatus::Pass).await;
            faults::note_exited_services(&mut a);
        }
        if a.status == CellStatus::Pass
            && let Some(oom) = a
                .services
                .iter()
                .find(|s| s.oom_killed)
                .map(|s| s.name.clone())
        {
            a = a.end(
                CellStatus::Fail,
                Some(Step::Checks),
                format!("service `{oom}` was OOM-killed while the cell ran"),
            );
        }

        // An attempt that will be retried is always torn down: the retry provisions the
        // same names (a kept stack made it fail with 409 Conflict), and only the cell's
        // final outcome decides what `--keep` keeps.
        let retried = may_retry
            && matches!(a.status, CellStatus::Fail | CellStatus::Error)
            && !a.final_
            && !self.cancel.is_cancelled();
        let keep = !retried
            && match self.cfg.keep {
                Keep::All => a.status != CellStatus::Cancelled,
                Keep::Failed => a.status.is_failure(false),
                Keep::None => false,
            };
        if keep {
            self.pool.keep(key);
            let how = keep_instructions(&engine, cell, &stack);
            self.emit(Event::CellKept {
                id: cell.id.clone(),
                how: how.clone(),
            });
            a.kept = Some(how);
        } else {
            self.emit(Event::CellStep {
                id: cell.id.clone(),
                step: Step::Teardown,
            });
            let t = Instant::now();
            if !engine_lost {
                for problem in stack.teardown().await {
                    self.emit(Event::Warning(format!("cell {}: {problem}", cell.id)));
                }
            }
            a.durations.teardown = t.elapsed().as_millis() as u64;
        }
        a
    }
}

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

/// A stack that does not work here is `fail`; a setup fault is `error`. With the reason.
fn stack_failure(e: &crate::stack::StackError) -> (CellStatus, String) {
    let status = if e.is_stack_failure() {
        CellStatus::Fail
    } else {
        CellStatus::Error
    };
    (status, crate::secrets::mask_urls(&pool::error_chain(e)))
}

/// The compose files of a compose stack and the images the cell gave its services.
fn compose_record(
    matrix: &crate::matrix::Matrix,
    cell: &Cell,
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
            .filter_map(|s| Some((s.name.clone(), matrix.image_for(s, cell).ok()?)))
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
