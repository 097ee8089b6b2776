//! The command line: clap definitions, rendering of errors, and the mapping of outcomes to
//! DESIGN.md's exit codes. The library's core knows nothing of this module.

mod plan;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::matrix::{Filter, Partition};

#[derive(Debug, Parser)]
#[command(
    name = "dockmatrix",
    version,
    about = "Tells whether your stack survives a Docker upgrade: every engine version × storage driver × dependency version, tested and reported"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the cells of a matrix, without touching Docker.
    Plan(PlanArgs),
    /// Print the image references a matrix needs (engines and services), one per line.
    Images(ImagesArgs),
}

#[derive(Debug, clap::Args)]
pub struct Selection {
    /// Keep cells matching EXPR (`engine>=26,storage-driver!=vfs`); repeat to add terms.
    #[arg(long, value_name = "EXPR")]
    pub filter: Vec<String>,
    /// Run one shard: hash:M/N (stable when cells are added) or count:M/N.
    #[arg(long, value_name = "KIND:M/N")]
    pub partition: Option<Partition>,
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
pub struct ImagesArgs {
    pub matrix: PathBuf,
    #[command(flatten)]
    pub selection: Selection,
}

/// What ended a command; each maps to one exit code of DESIGN.md.
#[derive(Debug)]
pub enum Outcome {
    /// 0
    Success,
    /// 1: a cell failed or errored (already reported).
    Failed,
    /// 2: bad input or usage; the message is printed.
    BadInput(String),
    /// 3: no Docker engine answers.
    NoDocker(String),
    /// 130
    Interrupted,
}

impl Outcome {
    fn exit_code(&self) -> u8 {
        match self {
            Outcome::Success => 0,
            Outcome::Failed => 1,
            Outcome::BadInput(_) => 2,
            Outcome::NoDocker(_) => 3,
            Outcome::Interrupted => 130,
        }
    }
}

/// Parses the process arguments, runs the command and returns its exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let outcome = match cli.command {
        Command::Plan(args) => plan::plan(&args),
        Command::Images(args) => plan::images(&args),
    };
    match &outcome {
        Outcome::BadInput(msg) => eprintln!("{msg}"),
        Outcome::NoDocker(msg) => eprintln!("error: no Docker engine answers: {msg}"),
        _ => {}
    }
    ExitCode::from(outcome.exit_code())
}

/// Joins repeated `--filter` flags into one filter.
pub fn parse_filters(filters: &[String]) -> Result<Option<Filter>, Outcome> {
    let mut joined: Option<Filter> = None;
    for f in filters {
        let parsed = Filter::parse(f).map_err(|e| {
            Outcome::BadInput(format!(
                "error: invalid --filter `{f}`: {e}\n  = help: {}",
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
