//! The command line: clap definitions, rendering of errors, and the mapping of outcomes to
//! DESIGN.md's exit codes. The library's core knows nothing of this module.

mod cache;
mod clean;
mod engines;
mod error;
mod plan;
mod progress;
mod report;
mod run;
mod step_summary;
mod terminal;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use dockmatrix::matrix::{Filter, Partition};
pub use error::CliError;

/// `0.1.0 (commit 0123456789ab, built 2026-12-01)`: which build made a report.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("DOCKMATRIX_COMMIT"),
    ", built ",
    env!("DOCKMATRIX_BUILD_DATE"),
    ")"
);

#[derive(Debug, Parser)]
#[command(
    name = "dockmatrix",
    version,
    long_version = LONG_VERSION,
    about = "Tells whether your stack survives a Docker upgrade: every engine version × storage driver × dependency version, tested and reported"
)]
pub struct Cli {
    /// Colour: auto (a terminal, unless NO_COLOR is set and not empty), always, never.
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = terminal::ColorChoice::Auto)]
    pub color: terminal::ColorChoice,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the cells of a matrix, without touching Docker.
    Plan(PlanArgs),
    /// Provision, test and tear down every cell; write run.json and the reports.
    Run(RunArgs),
    /// Start each engine of a matrix once and print what it measures.
    Engines(EnginesArgs),
    /// Remove labelled containers, networks and volumes left behind.
    Clean(CleanArgs),
    /// Print the image references a matrix needs (engines and services), one per line.
    Images(ImagesArgs),
    /// Render a finished (or merged) run again: table, markdown, csv, json, junit, html.
    Report(report::ReportArgs),
    /// Status changes and performance deltas between two runs; exit 1 when something regressed.
    Compare(report::CompareArgs),
    /// Join the shards of a partitioned run into one run folder.
    Merge(report::MergeArgs),
    /// Print a shell completion script: `dockmatrix completions bash > /etc/bash_completion.d/dockmatrix`.
    Completions(CompletionsArgs),
    /// Print the man page (roff): `dockmatrix man > /usr/local/share/man/man1/dockmatrix.1`.
    Man,
    /// The image cache (images saved from the host engine for loading into engines).
    Cache(cache::CacheArgs),
}

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
pub struct Selection {
    /// Keep cells matching EXPR (`engine>=26,storage-driver!=vfs`); repeat to add terms.
    #[arg(long, value_name = "EXPR")]
    pub filter: Vec<String>,
    /// Run one shard: hash:M/N (stable when cells are added), count:M/N, or auto (the
    /// shard the CI system's own variables name, as hash:M/N).
    #[arg(long = "partition", value_name = "KIND:M/N|auto", value_parser = parse_partition)]
    pub partition_arg: Option<PartitionArg>,
    /// The partition, `auto` resolved ([`Selection::resolve_partition`]).
    #[arg(skip)]
    pub partition: Option<Partition>,
}

/// `--partition` as written.
#[derive(Debug, Clone, Copy)]
pub enum PartitionArg {
    Fixed(Partition),
    Auto,
}

fn parse_partition(s: &str) -> Result<PartitionArg, String> {
    match s {
        "auto" => Ok(PartitionArg::Auto),
        _ => s
            .parse()
            .map(PartitionArg::Fixed)
            .map_err(|e| format!("{e}, or auto")),
    }
}

impl Selection {
    /// Turns `--partition auto` into the CI system's shard, saying which it used.
    fn resolve_partition(&mut self) -> Result<(), CliError> {
        self.partition = match self.partition_arg {
            None => None,
            Some(PartitionArg::Fixed(p)) => Some(p),
            Some(PartitionArg::Auto) => {
                let auto = dockmatrix::matrix::auto_partition::from_env(&|k| std::env::var(k).ok())
                    .map_err(CliError::from_source)?;
                eprintln!("{auto}");
                auto.partition
            }
        };
        Ok(())
    }
}

impl Command {
    fn selection_mut(&mut self) -> Option<&mut Selection> {
        match self {
            Command::Plan(a) => Some(&mut a.selection),
            Command::Run(a) => Some(&mut a.selection),
            Command::Engines(a) => Some(&mut a.selection),
            Command::Images(a) => Some(&mut a.selection),
            _ => None,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// The matrix file.
    pub matrix: PathBuf,
    #[command(flatten)]
    pub selection: Selection,
    #[arg(long, value_enum, default_value_t = PlanFormat::Table)]
    pub format: PlanFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PlanFormat {
    Table,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The matrix file.
    pub matrix: PathBuf,
    #[command(flatten)]
    pub selection: Selection,
    /// Cells at a time (default: [run] max-parallel, else twice the CPUs, at most 8).
    #[arg(short = 'j', long = "jobs", value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs_arg: Option<u16>,
    /// Retries of a failing cell (a pass on retry is `flaky`).
    #[arg(long, value_name = "N")]
    pub retries: Option<u32>,
    /// A cell taking longer fails, naming the step it was in (e.g. 10m, 90s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_arg)]
    pub cell_timeout: Option<std::time::Duration>,
    #[arg(long, value_parser = parse_pull)]
    pub pull: Option<dockmatrix::matrix::PullPolicy>,
    /// Stop at the first failing cell: the rest are `cancelled`.
    #[arg(long)]
    pub fail_fast: bool,
    /// Leave stacks running: `failed` cells' or `all`.
    #[arg(long, value_parser = parse_keep)]
    pub keep: Option<dockmatrix::runner::Keep>,
    /// The run folder (default: reports/<run-id>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// A previous run folder: perf checks worse than it beyond tolerance fail.
    #[arg(long, value_name = "RUN")]
    pub baseline: Option<PathBuf>,
    /// Rerun only the cells that failed, errored or were cancelled in RUN.
    #[arg(long, value_name = "RUN")]
    pub only_failed: Option<PathBuf>,
    /// Also fail (exit 1) on these statuses: `unsupported`.
    #[arg(long, value_name = "STATUS", value_parser = ["unsupported"])]
    pub fail_on: Vec<String>,
    /// Finish the interrupted run in folder RUN (same matrix): keep its finished cells,
    /// run the rest, write one complete run.json there under the same run id.
    #[arg(long, value_name = "RUN", conflicts_with_all = ["out", "only_failed"])]
    pub resume: Option<PathBuf>,
    /// Start dind engines on their caches from earlier runs (`off` for release gates:
    /// every engine fresh). Default: `[run] engine-cache`, else on.
    #[arg(long, value_name = "on|off", value_parser = parse_on_off)]
    pub engine_cache: Option<bool>,
    /// Engines alive at once, started and loaded ahead of their cells (default: one more
    /// than the CPUs, at most one per 2 GiB of memory, at most 8).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub max_engines: Option<u16>,
    #[arg(skip)]
    pub jobs: Option<usize>,
}

fn parse_on_off(s: &str) -> Result<bool, String> {
    match s {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("`{s}` is neither `on` nor `off`")),
    }
}

#[derive(Debug, clap::Args)]
pub struct EnginesArgs {
    pub matrix: PathBuf,
    #[command(flatten)]
    pub selection: Selection,
}

#[derive(Debug, clap::Args)]
pub struct CleanArgs {
    /// Remove the objects of this run only (even if its process is alive).
    #[arg(long, value_name = "ID", conflicts_with = "all")]
    pub run: Option<String>,
    /// Remove every object labelled by dockmatrix (engine caches stay: see --cache).
    #[arg(long)]
    pub all: bool,
    /// Remove the engine caches (`io.dockmatrix.cache` volumes) no live run holds.
    #[arg(long, conflicts_with_all = ["run", "all"])]
    pub cache: bool,
}

fn parse_duration_arg(s: &str) -> Result<std::time::Duration, String> {
    dockmatrix::units::parse_duration(s)
}

fn parse_pull(s: &str) -> Result<dockmatrix::matrix::PullPolicy, String> {
    s.parse()
}

fn parse_keep(s: &str) -> Result<dockmatrix::runner::Keep, String> {
    match s {
        "none" => Ok(dockmatrix::runner::Keep::None),
        "failed" => Ok(dockmatrix::runner::Keep::Failed),
        "all" => Ok(dockmatrix::runner::Keep::All),
        other => Err(format!("`{other}`: expected failed, all or none")),
    }
}

/// The async runtime of the commands that talk to Docker.
fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::input("failed to start the async runtime", e))
}

/// The host engine could not be resolved (bad input: exit 2) or does not answer (exit 3).
fn host_unavailable(e: dockmatrix::engine::host::HostError) -> Outcome {
    Err(CliError::Host(e))
}

/// An error and its causes, once each.
pub fn chain(e: &dyn std::error::Error) -> String {
    dockmatrix::diagnostic::error_chain(e)
}

#[derive(Debug, clap::Args)]
pub struct ImagesArgs {
    pub matrix: PathBuf,
    #[command(flatten)]
    pub selection: Selection,
    /// One line per cell and image, `CELL-ID<TAB>IMAGE` (a compose stack's images as each
    /// cell interpolates them), instead of each image once.
    #[arg(long)]
    pub per_cell: bool,
}

/// What a command ends with: `Ok` is exit 0, each [`CliError`] its own exit code.
pub type Outcome = Result<(), CliError>;

/// Parses the process arguments, runs the command and returns its exit code.
pub fn main() -> ExitCode {
    let mut cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    terminal::set_color(cli.color);
    let resolved = cli
        .command
        .selection_mut()
        .map_or(Ok(()), Selection::resolve_partition);
    let Err(error) = resolved.and_then(|()| dispatch(cli.command)) else {
        return ExitCode::SUCCESS;
    };
    // The one place a command's error is shown.
    if let Some(message) = error.message() {
        eprintln!("{message}");
    }
    ExitCode::from(error.exit_code())
}

fn dispatch(command: Command) -> Outcome {
    match command {
        Command::Plan(args) => plan::plan(&args),
        Command::Images(args) => plan::images(&args),
        Command::Run(mut args) => {
            args.jobs = args.jobs_arg.map(usize::from);
            run::run(&args)
        }
        Command::Engines(args) => engines::run(&args),
        Command::Clean(args) => clean::run(&args),
        Command::Report(args) => report::report(&args),
        Command::Compare(args) => report::compare(&args),
        Command::Merge(args) => report::merge(&args),
        Command::Completions(args) => {
            use clap::CommandFactory as _;
            let mut cmd = Cli::command();
            clap_complete::generate(args.shell, &mut cmd, "dockmatrix", &mut std::io::stdout());
            Ok(())
        }
        Command::Cache(args) => cache::run(&args),
        Command::Man => {
            use clap::CommandFactory as _;
            match clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout()) {
                Ok(()) => Ok(()),
                // A closed pipe (`| head`) ends quietly.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                Err(e) => Err(CliError::input("failed to write the man page", e)),
            }
        }
    }
}

/// Writes a command's result to stdout: a closed pipe ends the command quietly (141, as a
/// shell reports a process killed by SIGPIPE), any other failure is an error.
pub(crate) fn print_result(text: &str) -> Outcome {
    match dockmatrix::safe_io::print_stdout(text) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(CliError::BrokenPipe),
        Err(e) => Err(CliError::input("failed to write to stdout", e)),
    }
}

/// Joins repeated `--filter` flags into one filter.
pub fn parse_filters(filters: &[String]) -> Result<Option<Filter>, CliError> {
    let mut joined: Option<Filter> = None;
    for f in filters {
        let parsed = Filter::parse(f).map_err(|e| {
            CliError::Usage(format!(
                "invalid --filter `{f}`: {e}\n  = help: {}",
                e.help()
            ))
        })?;
        joined = Some(match joined {
            Some(j) => j.and(parsed),
            None => parsed,
        });
    }
    Ok(joined)
}
