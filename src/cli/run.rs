//! `dockmatrix run`: runs the cells, shows progress, stores results as they come, writes
//! run.json and the reports, and maps the outcome to an exit code.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::progress::Progress;
use super::{CliError, Outcome, RunArgs};
use dockmatrix::engine::Host;
use dockmatrix::matrix::{Cell, Matrix, PullPolicy};
use dockmatrix::results::resume::Resumed;
use dockmatrix::results::{CellRecord, RunOptions, RunRecord, Store};
use dockmatrix::runner::{self, Event, Keep, RunConfig};
use dockmatrix::scenario::Scenario;

pub fn run(args: &RunArgs) -> Outcome {
    let (matrix, mut cells) = super::plan::select(&args.matrix, &args.selection)?;
    if let Some(prev) = &args.only_failed {
        let record = RunRecord::load(prev).map_err(|e| CliError::input("--only-failed", e))?;
        cells.retain(|c| {
            record
                .cell_by_values(&c.values)
                .is_some_and(|r| r.status.needs_rerun())
        });
        if cells.is_empty() {
            eprintln!(
                "--only-failed {}: no cell failed, errored or was cancelled there; nothing to rerun",
                prev.display()
            );
            return Ok(());
        }
    }
    if cells.is_empty() {
        return Ok(()); // an empty shard; `select` said so
    }
    let (scenarios, baseline) = load_suites(&matrix, args.baseline.as_deref())?;
    super::runtime()?.block_on(run_async(args, matrix, cells, scenarios, baseline))
}

/// The run as a sequence of steps: resume or start, the out folder, the header, the
/// cells, the closed record and its reports.
async fn run_async(
    args: &RunArgs,
    matrix: Matrix,
    cells: Vec<Cell>,
    scenarios: Vec<Scenario>,
    baseline: Option<RunRecord>,
) -> Outcome {
    let host = dockmatrix::engine::connect_host()
        .await
        .map_err(CliError::Host)?;
    let plan = cells.clone();
    let resumed = load_resumed(args, &matrix)?;
    if let Some(r) = &resumed
        && r.complete
    {
        // Nothing to do: the run ended. Its table and exit code, unchanged.
        eprintln!(
            "--resume {}: run {} had finished; nothing changed",
            args.resume.as_deref().unwrap_or(Path::new("")).display(),
            r.header.run_id
        );
        return finish(&r.header, args);
    }
    let run_id = resumed
        .as_ref()
        .map_or_else(runner::new_run_id, |r| r.header.run_id.clone());
    let out_dir = args
        .resume
        .clone()
        .or_else(|| args.out.clone())
        .unwrap_or_else(|| PathBuf::from("reports").join(&run_id));
    let cells = match &resumed {
        Some(r) => cells_left(&host, &run_id, r, &cells).await,
        None => cells,
    };
    prepare_out_dir(args, &matrix, &out_dir)?;
    let settings = Settings::resolve(args, &matrix);
    let mut record = RunRecord::header(
        &run_id,
        &matrix,
        &cells,
        args.selection.partition.map(|p| p.to_string()),
        resumed.as_ref().map(|r| r.header.started_at.clone()),
        settings.options(args),
    );
    for w in &record.warnings {
        eprintln!("warning: {w}");
    }
    // The header (id, matrix hash, options) before any engine starts: even a run killed
    // at once can be resumed.
    record.save(&out_dir).map_err(CliError::from_source)?;

    let cfg = settings.config(args, matrix, cells, &run_id, scenarios, baseline);
    let ran = run_cells(cfg, &host, &out_dir, resumed.is_some()).await;
    let cells = match &resumed {
        Some(r) => r.combine(&plan, ran.cells),
        None => ran.cells,
    };
    record.close(cells, ran.signal != 0, ran.warnings);
    let saved = record.save(&out_dir).map_err(CliError::from_source)?;
    write_reports(&record, &out_dir);
    eprintln!("run record and reports: {}", saved.display());
    if ran.signal == 143 {
        return Err(CliError::Terminated);
    }
    finish(&record, args)
}

/// `--resume DIR`'s run, checked against this matrix.
fn load_resumed(args: &RunArgs, matrix: &Matrix) -> Result<Option<Resumed>, CliError> {
    match &args.resume {
        None => Ok(None),
        Some(dir) => Resumed::load(dir, &matrix.hash())
            .map(Some)
            .map_err(|e| CliError::input("--resume", e)),
    }
}

/// The cells a resumed run has left, after removing what the dead run left behind (its
/// labelled objects).
async fn cells_left(host: &Host, run_id: &str, resumed: &Resumed, cells: &[Cell]) -> Vec<Cell> {
    for problem in dockmatrix::engine::clean::remove_run(host, run_id)
        .await
        .problems
    {
        eprintln!("warning: {problem}");
    }
    let rest = resumed.remaining(cells);
    eprintln!(
        "resuming run {run_id}: {} cells finished, {} to run",
        resumed.finished.len(),
        rest.len()
    );
    rest
}

/// A new or empty folder, or a run folder of this matrix; never `/` nor an input.
fn prepare_out_dir(args: &RunArgs, matrix: &Matrix, out_dir: &Path) -> Outcome {
    let inputs: Vec<dockmatrix::safe_io::FileId> = [&args.baseline, &args.only_failed]
        .into_iter()
        .flatten()
        .filter_map(|p| dockmatrix::safe_io::FileId::of(p))
        .collect();
    let matrix_hash = matrix.hash();
    dockmatrix::safe_io::OutDir::prepare(
        out_dir,
        dockmatrix::safe_io::OutRules {
            matrix_hash: &matrix_hash,
            inputs: &inputs,
            record_file: dockmatrix::results::RUN_FILE,
        },
    )
    .map(drop)
    .map_err(|e| CliError::input("--out", e))
}

/// The run's settings: each flag, else the matrix's `[run]`, else the default.
struct Settings {
    jobs: usize,
    max_engines: usize,
    retries: u32,
    cell_timeout: Duration,
    pull: PullPolicy,
    keep: Keep,
    engine_cache: bool,
}

impl Settings {
    fn resolve(args: &RunArgs, matrix: &Matrix) -> Self {
        Settings {
            jobs: args
                .jobs
                .or(matrix.run.max_parallel)
                .unwrap_or_else(runner::default_jobs),
            max_engines: args
                .max_engines
                .map_or_else(runner::default_max_engines, usize::from),
            retries: args.retries.or(matrix.run.retries).unwrap_or(0),
            cell_timeout: args
                .cell_timeout
                .or(matrix.run.cell_timeout)
                .unwrap_or(Duration::from_secs(600)),
            pull: args.pull.or(matrix.run.pull).unwrap_or(PullPolicy::Never),
            keep: args.keep.unwrap_or(Keep::None),
            engine_cache: args
                .engine_cache
                .or_else(engine_cache_from_env)
                .or(matrix.run.engine_cache)
                .unwrap_or(true),
        }
    }

    /// The options as run.json records them.
    fn options(&self, args: &RunArgs) -> RunOptions {
        RunOptions {
            jobs: self.jobs,
            max_engines: self.max_engines,
            retries: self.retries,
            cell_timeout_ms: self.cell_timeout.as_millis() as u64,
            pull: format!("{:?}", self.pull).to_lowercase(),
            fail_fast: args.fail_fast,
            filter: (!args.selection.filter.is_empty()).then(|| args.selection.filter.join(",")),
            baseline: args.baseline.as_ref().map(|p| p.display().to_string()),
            only_failed: args.only_failed.as_ref().map(|p| p.display().to_string()),
        }
    }

    fn config(
        &self,
        args: &RunArgs,
        matrix: Matrix,
        cells: Vec<Cell>,
        run_id: &str,
        scenarios: Vec<Scenario>,
        baseline: Option<RunRecord>,
    ) -> RunConfig {
        RunConfig {
            matrix: Arc::new(matrix),
            cells,
            run_id: run_id.to_string(),
            jobs: self.jobs,
            retries: self.retries,
            cell_timeout: self.cell_timeout,
            pull: self.pull,
            fail_fast: args.fail_fast,
            keep: self.keep,
            scenarios,
            baseline,
            max_engines: self.max_engines,
            engine_cache: self.engine_cache,
        }
    }
}

/// What the cells' run gave: their records, the first signal's exit code (0: none) and
/// the runner's warnings.
struct Ran {
    cells: Vec<CellRecord>,
    signal: u8,
    warnings: Vec<String>,
}

/// The cells, with live progress, each stored as it finishes, under the signal handler;
/// then the safety net under explicit teardown.
async fn run_cells(cfg: RunConfig, host: &Host, out_dir: &Path, resuming: bool) -> Ran {
    let run_id = cfg.run_id.clone();
    let cancel = CancellationToken::new();
    // 0 while running; else the exit code of the first signal (130 Ctrl-C, 143 SIGTERM).
    let interrupted = Arc::new(std::sync::atomic::AtomicU8::new(0));
    spawn_signal_handler(cancel.clone(), interrupted.clone(), run_id.clone());

    let store = Arc::new(Mutex::new(Store::open(out_dir, resuming)));
    let progress = Arc::new(Progress::new(
        cfg.cells.len(),
        std::io::stderr().is_terminal(),
    ));
    let warnings = Arc::new(Mutex::new(Vec::<String>::new()));
    let emit: runner::Emit = {
        let (store, progress, warnings) = (store.clone(), progress.clone(), warnings.clone());
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
            progress.handle(&ev);
        })
    };
    let cells = runner::run(cfg, host.clone(), emit, cancel.clone()).await;
    // Nothing labelled with this run survives but what --keep asked for.
    if !cells.iter().any(|c| c.kept.is_some()) {
        for problem in dockmatrix::engine::clean::remove_run(host, &run_id)
            .await
            .problems
        {
            eprintln!("warning: {problem}");
        }
    }
    progress.finish();
    Ran {
        cells,
        signal: interrupted.load(std::sync::atomic::Ordering::SeqCst),
        warnings: warnings.lock().map(|w| w.clone()).unwrap_or_default(),
    }
}

/// The reports beside run.json and the CI step summary; a failure here is a warning,
/// the record is written.
fn write_reports(record: &RunRecord, out_dir: &Path) {
    if let Err(e) = dockmatrix::report::write_all(record, out_dir) {
        eprintln!("warning: failed to write the reports: {}", super::chain(&e));
    }
    super::step_summary::append_from_env(
        &dockmatrix::report::render(
            dockmatrix::report::Format::Markdown,
            record,
            &dockmatrix::report::Options::default(),
        ),
        &out_dir.join("report.md"),
    );
}

/// The matrix's scenarios and the `--baseline` record, read and checked before anything
/// starts (every error exit 2, like a matrix's). A matrix without scenarios runs no checks
/// and compares with nothing.
fn load_suites(
    matrix: &Matrix,
    baseline: Option<&Path>,
) -> Result<(Vec<Scenario>, Option<RunRecord>), CliError> {
    if matrix.scenarios.is_empty() {
        return Ok((Vec::new(), None));
    }
    let scenarios = dockmatrix::scenario::load_all(matrix).map_err(CliError::Diagnostics)?;
    let baseline = match baseline {
        Some(p) => Some(RunRecord::load(p).map_err(|e| CliError::input("--baseline", e))?),
        None => None,
    };
    Ok((scenarios, baseline))
}

/// The table on stdout and the outcome of a finished run (also of one resumed after it
/// had finished).
fn finish(record: &RunRecord, args: &RunArgs) -> Outcome {
    let table = dockmatrix::report::render_table(
        record,
        &dockmatrix::report::Options {
            color: super::report::stdout_wants_colour(),
            width: super::terminal::stdout_width(),
            ..Default::default()
        },
    );
    // A closed pipe does not change the run's outcome: the record is written.
    let _ = super::print_result(&format!("{table}\n"));
    for c in &record.cells {
        if let Some(how) = &c.kept {
            eprintln!("kept {}: {how}", c.id);
        }
    }
    if record.interrupted {
        return Err(CliError::Interrupted);
    }
    let fail_on_unsupported = args.fail_on.iter().any(|f| f == "unsupported");
    if record
        .cells
        .iter()
        .any(|c| c.status.is_failure(fail_on_unsupported))
    {
        Err(CliError::Failed)
    } else {
        Ok(())
    }
}

/// First Ctrl-C or SIGTERM: stop new work and tear down. Second: leave at once, saying
/// what is left for `clean`.
fn spawn_signal_handler(
    cancel: CancellationToken,
    interrupted: Arc<std::sync::atomic::AtomicU8>,
    run_id: String,
) {
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return,
            };
        for n in 0.. {
            let code = tokio::select! {
                _ = tokio::signal::ctrl_c() => 130,
                _ = term.recv() => 143,
            };
            let _ = interrupted.compare_exchange(
                0,
                code,
                std::sync::atomic::Ordering::SeqCst,
                std::sync::atomic::Ordering::SeqCst,
            );
            if n == 0 {
                eprintln!(
                    "\ninterrupted: stopping new work and tearing down (press Ctrl-C again to leave at once)"
                );
                cancel.cancel();
            } else {
                eprintln!(
                    "\ninterrupted again: leaving now; containers, networks and volumes of run {run_id} may remain: remove them with `dockmatrix clean --run {run_id}`"
                );
                std::process::exit(i32::from(code));
            }
        }
    });
}

/// `DOCKMATRIX_ENGINE_CACHE=on|off`: between `--engine-cache` and `[run] engine-cache`, for
/// CI jobs and test suites that must never leave caches on a shared host.
fn engine_cache_from_env() -> Option<bool> {
    match std::env::var("DOCKMATRIX_ENGINE_CACHE").ok()?.as_str() {
        "on" => Some(true),
        "off" => Some(false),
        _ => None,
    }
}
