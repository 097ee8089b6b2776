//! One run from its first file to its last: resume or start, the out folder, the header
//! saved before any engine starts, the cells (each stored as it finishes), the safety net
//! that removes what the run labelled, the closed record and its reports. The CLI parses
//! arguments, owns the process's signals and renders; a library caller gets the same run
//! (and the same files) from [`Session`].

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{Emit, Event, Keep, RunConfig};
use crate::engine::Host;
use crate::matrix::{Cell, Matrix, PullPolicy};
use crate::results::resume::{ResumeError, Resumed};
use crate::results::{CellRecord, RUN_FILE, ResultsError, RunOptions, RunRecord, Store};
use crate::safe_io::{FileId, OutDir, OutRules, SafeIoError};
use crate::scenario::Scenario;

/// The settings a caller gives (a flag, an environment variable); what it leaves out
/// comes from the matrix's `[run]`, else the default.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub jobs: Option<usize>,
    pub max_engines: Option<usize>,
    pub retries: Option<u32>,
    pub cell_timeout: Option<Duration>,
    pub pull: Option<PullPolicy>,
    pub keep: Option<Keep>,
    pub engine_cache: Option<bool>,
    pub fail_fast: bool,
}

/// The run's settings, resolved: each override, else the matrix's `[run]`, else the default.
#[derive(Debug, Clone)]
pub struct Settings {
    pub jobs: usize,
    pub max_engines: usize,
    pub retries: u32,
    pub cell_timeout: Duration,
    pub pull: PullPolicy,
    pub keep: Keep,
    pub engine_cache: bool,
    pub fail_fast: bool,
}

impl Settings {
    pub fn resolve(o: &Overrides, matrix: &Matrix) -> Settings {
        Settings {
            jobs: o
                .jobs
                .or(matrix.run.max_parallel)
                .unwrap_or_else(super::default_jobs),
            max_engines: o.max_engines.unwrap_or_else(super::default_max_engines),
            retries: o.retries.or(matrix.run.retries).unwrap_or(0),
            cell_timeout: o
                .cell_timeout
                .or(matrix.run.cell_timeout)
                .unwrap_or(Duration::from_secs(600)),
            pull: o.pull.or(matrix.run.pull).unwrap_or(PullPolicy::Never),
            keep: o.keep.unwrap_or(Keep::None),
            engine_cache: o.engine_cache.or(matrix.run.engine_cache).unwrap_or(true),
            fail_fast: o.fail_fast,
        }
    }
}

/// What to run and where its record goes.
pub struct Request {
    pub matrix: Matrix,
    /// The selected cells, in plan order (a resume runs those its run did not finish).
    pub cells: Vec<Cell>,
    pub settings: Settings,
    pub scenarios: Vec<Scenario>,
    /// `--baseline`'s record, and its path as run.json names it.
    pub baseline: Option<(PathBuf, RunRecord)>,
    /// `--only-failed`'s record path, as run.json names it; never written into.
    pub only_failed: Option<PathBuf>,
    /// `--filter`, as run.json names it.
    pub filter: Option<String>,
    /// `--partition K/N`.
    pub partition: Option<String>,
    /// `--resume DIR`: the run folder to continue.
    pub resume: Option<PathBuf>,
    /// `--out DIR`; else `reports/<run-id>`.
    pub out: Option<PathBuf>,
}

/// Why a run could not start or could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("--resume")]
    Resume(#[source] ResumeError),
    #[error("--out")]
    OutDir(#[source] SafeIoError),
    #[error(transparent)]
    Save(#[from] ResultsError),
}

/// How a caller stops a run from outside (the CLI's Ctrl-C and SIGTERM): the first stop
/// cancels new work and names the exit code the record keeps.
#[derive(Debug, Clone, Default)]
pub struct Interrupt {
    cancel: CancellationToken,
    code: Arc<AtomicU8>,
}

impl Interrupt {
    pub fn new() -> Interrupt {
        Interrupt::default()
    }

    /// Stops the run; `code` (130 Ctrl-C, 143 SIGTERM) is kept if it is the first stop.
    /// Returns whether it was.
    pub fn raise(&self, code: u8) -> bool {
        let first = self
            .code
            .compare_exchange(0, code, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok();
        self.cancel.cancel();
        first
    }

    /// The first stop's code; `None` while nobody stopped the run.
    pub fn code(&self) -> Option<u8> {
        Some(self.code.load(Ordering::SeqCst)).filter(|c| *c != 0)
    }
}

/// A run whose header is saved: what is left to run, and where.
pub struct Session {
    run_id: String,
    out_dir: PathBuf,
    record: RunRecord,
    resumed: Option<Resumed>,
    /// Every selected cell (a resume's record holds them all, in this order).
    plan: Vec<Cell>,
    config: RunConfig,
}

/// What opening a run gives.
pub enum Opened {
    /// `--resume` of a run that had finished: its record, unchanged.
    Finished(Box<RunRecord>),
    Ready(Box<Session>),
}

/// A closed run.
#[derive(Debug)]
pub struct Closed {
    pub record: RunRecord,
    /// run.json.
    pub saved: PathBuf,
    /// The reports could not all be written (run.json is).
    pub report_error: Option<ResultsError>,
}

impl Session {
    /// Resumes or starts the run: a resumed run's leftovers are removed first (problems
    /// go to `emit` as warnings), the out folder is checked, and the header is saved
    /// before any engine starts, so that even a run killed at once can be resumed.
    pub async fn open(host: &Host, req: Request, emit: &Emit) -> Result<Opened, SessionError> {
        let resumed = match &req.resume {
            None => None,
            Some(dir) => {
                Some(Resumed::load(dir, &req.matrix.hash()).map_err(SessionError::Resume)?)
            }
        };
        if let Some(r) = resumed.as_ref().filter(|r| r.complete) {
            return Ok(Opened::Finished(Box::new(r.header.clone())));
        }
        let run_id = resumed
            .as_ref()
            .map_or_else(super::new_run_id, |r| r.header.run_id.clone());
        let out_dir = req
            .resume
            .clone()
            .or_else(|| req.out.clone())
            .unwrap_or_else(|| PathBuf::from("reports").join(&run_id));
        let plan = req.cells.clone();
        let cells = match &resumed {
            Some(r) => {
                remove_leftovers(host, &run_id, emit).await;
                let rest = r.remaining(&plan);
                emit(Event::Notice(format!(
                    "resuming run {run_id}: {} cells finished, {} to run",
                    r.finished.len(),
                    rest.len()
                )));
                rest
            }
            None => req.cells,
        };
        prepare_out_dir(
            &req.matrix,
            &out_dir,
            [
                req.baseline.as_ref().map(|b| &b.0),
                req.only_failed.as_ref(),
            ],
        )?;
        let s = &req.settings;
        let options = RunOptions {
            jobs: s.jobs,
            max_engines: s.max_engines,
            retries: s.retries,
            cell_timeout_ms: s.cell_timeout.as_millis() as u64,
            pull: format!("{:?}", s.pull).to_lowercase(),
            fail_fast: s.fail_fast,
            filter: req.filter,
            baseline: req.baseline.as_ref().map(|b| b.0.display().to_string()),
            only_failed: req.only_failed.as_ref().map(|p| p.display().to_string()),
        };
        let record = RunRecord::header(
            &run_id,
            &req.matrix,
            &cells,
            req.partition,
            resumed.as_ref().map(|r| r.header.started_at.clone()),
            options,
        );
        record.save(&out_dir)?;
        let config = RunConfig {
            matrix: Arc::new(req.matrix),
            cells,
            run_id: run_id.clone(),
            jobs: s.jobs,
            retries: s.retries,
            cell_timeout: s.cell_timeout,
            pull: s.pull,
            fail_fast: s.fail_fast,
            keep: s.keep,
            scenarios: req.scenarios,
            baseline: req.baseline.map(|b| b.1),
            max_engines: s.max_engines,
            engine_cache: s.engine_cache,
        };
        Ok(Opened::Ready(Box::new(Session {
            run_id,
            out_dir,
            record,
            resumed,
            plan,
            config,
        })))
    }

    /// The saved header (its warnings: known incompatibilities no cell covers).
    pub fn header(&self) -> &RunRecord {
        &self.record
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    pub fn out_dir(&self) -> &Path {
        &self.out_dir
    }

    /// The cells this session runs (a resume's leftovers).
    pub fn cells(&self) -> &[Cell] {
        &self.config.cells
    }

    /// Runs the cells, each stored in `cells.jsonl` as it finishes, under `interrupt`;
    /// then removes whatever the run labelled (unless `--keep` kept a stack), closes and
    /// saves the record and writes the reports.
    pub async fn run(
        self,
        host: &Host,
        emit: Emit,
        interrupt: &Interrupt,
    ) -> Result<Closed, SessionError> {
        let Session {
            run_id,
            out_dir,
            mut record,
            resumed,
            plan,
            config,
        } = self;
        let store = Arc::new(Mutex::new(Store::open(&out_dir, resumed.is_some())));
        let warnings = Arc::new(Mutex::new(Vec::<String>::new()));
        let recording: Emit = {
            let (store, warnings, emit) = (store.clone(), warnings.clone(), emit.clone());
            Arc::new(move |ev: Event| {
                if let Event::CellFinished { record } = &ev
                    && let Ok(mut s) = store.lock()
                {
                    s.append(record);
                }
                if let Event::Warning(w) = &ev
                    && let Ok(mut ws) = warnings.lock()
                {
                    ws.push(w.clone());
                }
                emit(ev);
            })
        };
        let ran = super::run(
            config,
            host.clone(),
            recording.clone(),
            interrupt.cancel.clone(),
        )
        .await;
        // Nothing labelled with this run survives but what --keep asked for.
        if !ran.iter().any(|c| c.kept.is_some()) {
            remove_leftovers(host, &run_id, &recording).await;
        }
        let cells: Vec<CellRecord> = match &resumed {
            Some(r) => r.combine(&plan, ran),
            None => ran,
        };
        let warnings = warnings.lock().map(|w| w.clone()).unwrap_or_default();
        record.close(cells, interrupt.code().is_some(), warnings);
        let saved = record.save(&out_dir)?;
        let report_error = crate::report::write_all(&record, &out_dir).err();
        Ok(Closed {
            record,
            saved,
            report_error,
        })
    }
}

/// What a run labelled and left (a dead run's, or this one's after its cells): each
/// problem removing it is a warning.
async fn remove_leftovers(host: &Host, run_id: &str, emit: &Emit) {
    for problem in crate::engine::clean::remove_run(host, run_id)
        .await
        .problems
    {
        emit(Event::Warning(problem));
    }
}

/// A new or empty folder, or a run folder of this matrix; never `/` nor one of the
/// files the run reads.
fn prepare_out_dir<'a>(
    matrix: &Matrix,
    out_dir: &Path,
    inputs: impl IntoIterator<Item = Option<&'a PathBuf>>,
) -> Result<(), SessionError> {
    let inputs: Vec<FileId> = inputs
        .into_iter()
        .flatten()
        .filter_map(|p| FileId::of(p))
        .collect();
    let matrix_hash = matrix.hash();
    OutDir::prepare(
        out_dir,
        OutRules {
            matrix_hash: &matrix_hash,
            inputs: &inputs,
            record_file: RUN_FILE,
        },
    )
    .map(drop)
    .map_err(SessionError::OutDir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(run: &str) -> Matrix {
        let source = format!(
            "name = \"s\"\n\n[axes]\ncase = [\"a\"]\n\n[services.redis]\nkind = \"redis\"\nimage = \"redis:7\"\n{run}"
        );
        Matrix::from_source(Path::new("s.toml"), source).expect("matrix")
    }

    #[test]
    fn an_override_beats_the_matrix_which_beats_the_default() {
        let m = matrix(
            "\n[run]\nmax-parallel = 3\nretries = 2\ncell-timeout = \"90s\"\nengine-cache = false\n",
        );
        let from_matrix = Settings::resolve(&Overrides::default(), &m);
        assert_eq!(
            (
                from_matrix.jobs,
                from_matrix.retries,
                from_matrix.cell_timeout,
                from_matrix.engine_cache
            ),
            (3, 2, Duration::from_secs(90), false)
        );
        let o = Overrides {
            jobs: Some(1),
            retries: Some(0),
            cell_timeout: Some(Duration::from_secs(5)),
            engine_cache: Some(true),
            keep: Some(Keep::Failed),
            ..Overrides::default()
        };
        let s = Settings::resolve(&o, &m);
        assert_eq!(
            (s.jobs, s.retries, s.cell_timeout, s.engine_cache, s.keep),
            (1, 0, Duration::from_secs(5), true, Keep::Failed)
        );
        let d = Settings::resolve(&Overrides::default(), &matrix(""));
        assert_eq!(
            (
                d.jobs,
                d.retries,
                d.cell_timeout,
                d.engine_cache,
                d.pull,
                d.keep
            ),
            (
                super::super::default_jobs(),
                0,
                Duration::from_secs(600),
                true,
                PullPolicy::Never,
                Keep::None
            )
        );
    }

    #[test]
    fn the_first_stop_names_the_code_and_cancels() {
        let i = Interrupt::new();
        assert_eq!(i.code(), None);
        assert!(!i.cancel.is_cancelled());
        assert!(i.raise(143));
        assert!(!i.raise(130), "a second stop is not the first");
        assert_eq!(i.code(), Some(143));
        assert!(i.clone().cancel.is_cancelled(), "clones share the stop");
    }
}
