//! `dockmatrix run`: reads the matrix, its suites and the flags, runs the library's
//! session with live progress under the process's signals, and renders: the table, the CI
//! step summary and the exit code.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;

use super::progress::Progress;
use super::{CliError, Outcome, RunArgs};
use dockmatrix::matrix::{Cell, Matrix};
use dockmatrix::results::RunRecord;
use dockmatrix::runner::session::{
    Interrupt, Opened, Overrides, Request, Session, SessionError, Settings,
};
use dockmatrix::runner::{self, Event};
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

/// The run as the library's [`Session`] makes it, with live progress on stderr and the
/// process's signals as its interrupt.
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
    // Before the cells: a resume's leftovers and its count, as plain lines.
    let say: runner::Emit = Arc::new(|ev: Event| match ev {
        Event::Warning(w) => eprintln!("warning: {w}"),
        Event::Notice(n) => eprintln!("{n}"),
        _ => {}
    });
    let request = Request {
        settings: Settings::resolve(&overrides(args), &matrix),
        matrix,
        cells,
        scenarios,
        baseline: args.baseline.clone().zip(baseline),
        only_failed: args.only_failed.clone(),
        filter: (!args.selection.filter.is_empty()).then(|| args.selection.filter.join(",")),
        partition: args.selection.partition.map(|p| p.to_string()),
        resume: args.resume.clone(),
        out: args.out.clone(),
    };
    let session = match Session::open(&host, request, &say)
        .await
        .map_err(session_error)?
    {
        Opened::Finished(record) => {
            // Nothing to do: the run ended. Its table and exit code, unchanged.
            eprintln!(
                "--resume {}: run {} had finished; nothing changed",
                args.resume.as_deref().unwrap_or(Path::new("")).display(),
                record.run_id
            );
            return finish(&record, args);
        }
        Opened::Ready(session) => *session,
    };
    let progress = Arc::new(Progress::new(
        session.cells().len(),
        std::io::stderr().is_terminal(),
    ));
    let emit: runner::Emit = {
        let progress = progress.clone();
        Arc::new(move |ev: Event| progress.handle(&ev))
    };
    for w in &session.header().warnings {
        eprintln!("warning: {w}");
    }
    let interrupt = Interrupt::new();
    spawn_signal_handler(interrupt.clone(), session.run_id().to_string());
    let out_dir = session.out_dir().to_path_buf();
    let closed = session.run(&host, emit, &interrupt).await;
    progress.finish();
    let closed = closed.map_err(session_error)?;
    if let Some(e) = &closed.report_error {
        eprintln!("warning: failed to write the reports: {}", super::chain(e));
    }
    super::step_summary::append_from_env(
        &dockmatrix::report::render(
            dockmatrix::report::Format::Markdown,
            &closed.record,
            &dockmatrix::report::Options::default(),
        ),
        &out_dir.join("report.md"),
    );
    eprintln!("run record and reports: {}", closed.saved.display());
    if interrupt.code() == Some(143) {
        return Err(CliError::Terminated);
    }
    finish(&closed.record, args)
}

/// The flags (and `DOCKMATRIX_ENGINE_CACHE`) that override the matrix's `[run]`.
fn overrides(args: &RunArgs) -> Overrides {
    Overrides {
        jobs: args.jobs,
        max_engines: args.max_engines.map(usize::from),
        retries: args.retries,
        cell_timeout: args.cell_timeout,
        pull: args.pull,
        keep: args.keep,
        engine_cache: args.engine_cache.or_else(engine_cache_from_env),
        fail_fast: args.fail_fast,
    }
}

/// `--resume` and `--out` problems are bad input (exit 2), as is a record that cannot be
/// written.
fn session_error(e: SessionError) -> CliError {
    match e {
        SessionError::Resume(e) => CliError::input("--resume", e),
        SessionError::OutDir(e) => CliError::input("--out", e),
        SessionError::Save(e) => CliError::from_source(e),
    }
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
fn spawn_signal_handler(interrupt: Interrupt, run_id: String) {
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
            if n == 0 {
                eprintln!(
                    "\ninterrupted: stopping new work and tearing down (press Ctrl-C again to leave at once)"
                );
                interrupt.raise(code);
            } else {
                eprintln!(
                    "\ninterrupted again: leaving now; containers, networks and volumes of run {run_id} may remain: remove them with `dockmatrix clean --run {run_id}`"
                );
                std::process::exit(i32::from(interrupt.code().unwrap_or(code)));
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
