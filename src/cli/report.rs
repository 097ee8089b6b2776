//! `dockmatrix report`, `compare` and `merge`: finished runs rendered again, compared,
//! and shards joined. The CLI decides colour (a TTY without NO_COLOR) and exit codes;
//! `report` and `results` do the work.

use std::path::{Path, PathBuf};

use clap::ValueEnum;

use super::{CliError, Outcome};
use dockmatrix::report::{self, Format, Options, Pivot};
use dockmatrix::results::compare::{DEFAULT_TOLERANCE_PCT, compare as compare_runs};
use dockmatrix::results::merge::merge as merge_runs;
use dockmatrix::results::{RunRecord, run_file};
use dockmatrix::safe_io::{FileId, OutDir, OutRules, write_output};

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// A run folder (reports/<run-id>/) or its run.json.
    pub run: PathBuf,
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
    /// A compatibility grid: rows = one axis, columns = another (`engine,storage-driver`);
    /// table, markdown and html.
    #[arg(long, value_name = "ROWS,COLS")]
    pub pivot: Option<String>,
    /// Write to FILE instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ReportFormat {
    Table,
    Markdown,
    Csv,
    Json,
    Junit,
    Html,
}

impl From<ReportFormat> for Format {
    fn from(f: ReportFormat) -> Format {
        match f {
            ReportFormat::Table => Format::Table,
            ReportFormat::Markdown => Format::Markdown,
            ReportFormat::Csv => Format::Csv,
            ReportFormat::Json => Format::Json,
            ReportFormat::Junit => Format::Junit,
            ReportFormat::Html => Format::Html,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// The earlier run (folder or run.json).
    pub base: PathBuf,
    /// The later run.
    pub new: PathBuf,
    #[arg(long, value_enum, default_value_t = CompareFormat::Table)]
    pub format: CompareFormat,
    /// Perf deltas within this many percent are noise (p95 slower, or throughput lower).
    #[arg(long, value_name = "PCT", default_value_t = DEFAULT_TOLERANCE_PCT)]
    pub tolerance: f64,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CompareFormat {
    Table,
    Markdown,
    Json,
    /// One self-contained page, the perf deltas as bars.
    Html,
}

#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// The shards: run folders or run.json files of one matrix run with --partition.
    #[arg(required = true, num_args = 1..)]
    pub runs: Vec<PathBuf>,
    /// The folder for the merged run (created if needed).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// `error: failed to read …: No such file or directory`: the chain of causes, once.
fn load(path: &Path) -> Result<RunRecord, CliError> {
    RunRecord::load(path).map_err(CliError::from_source)
}

/// Colour on stdout, for `report` and `run` alike: `--color`, else a terminal that
/// wants it ([`super::terminal`]).
pub(super) fn stdout_wants_colour() -> bool {
    super::terminal::stdout_colour()
}

/// The result to `-o FILE` (never over an input, nor over what is not a regular file:
/// [`write_output`]) or to stdout (a closed pipe ends quietly).
fn emit(text: &str, output: Option<&Path>, inputs: &[FileId]) -> Outcome {
    match output {
        Some(path) => write_output(path, text.as_bytes(), inputs).map_err(CliError::from_source),
        None => super::print_result(text),
    }
}

pub fn report(args: &ReportArgs) -> Outcome {
    let format = Format::from(args.format);
    let record = load(&args.run)?;
    let pivot = match &args.pivot {
        None => None,
        Some(_) if !format.supports_pivot() => {
            return Err(CliError::Usage(
                "--pivot works with --format table, markdown or html".to_string(),
            ));
        }
        Some(p) => match p
            .parse::<Pivot>()
            .and_then(|p| p.check(&record).map(|()| p))
        {
            Ok(p) => Some(p),
            Err(e) => return Err(CliError::Usage(format!("invalid --pivot: {e}"))),
        },
    };
    let to_stdout = format == Format::Table && args.output.is_none();
    let opts = Options {
        color: to_stdout && stdout_wants_colour(),
        pivot,
        width: if to_stdout {
            super::terminal::stdout_width()
        } else {
            None
        },
    };
    let inputs: Vec<FileId> = FileId::of(&run_file(&args.run)).into_iter().collect();
    emit(
        &report::render(format, &record, &opts),
        args.output.as_deref(),
        &inputs,
    )
}

pub fn compare(args: &CompareArgs) -> Outcome {
    if !(args.tolerance.is_finite() && args.tolerance >= 0.0) {
        return Err(CliError::Usage(format!(
            "--tolerance must be a percentage of 0 or more, not {}",
            args.tolerance
        )));
    }
    let base = load(&args.base)?;
    let new = load(&args.new)?;
    // Every string of both runs masked and free of control characters, whatever format
    // shows it (a run.json may have been written by hand or by an older dockmatrix).
    let (base, new) = (
        report::text::sanitised(&base).into_owned(),
        report::text::sanitised(&new).into_owned(),
    );
    let cmp = compare_runs(&base, &new, args.tolerance);
    if cmp.different_matrices {
        eprintln!(
            "warning: {} and {} are runs of different matrices; cells are matched by their values",
            args.base.display(),
            args.new.display()
        );
    }
    let text = match args.format {
        CompareFormat::Table => report::compare::render_table(&cmp),
        CompareFormat::Markdown => report::compare::render_markdown(&cmp),
        CompareFormat::Json => report::compare::render_json(&cmp),
        CompareFormat::Html => report::compare::render_html(&cmp),
    };
    // Only a closed pipe changes the outcome; the comparison's verdict is the exit code.
    if let Err(CliError::BrokenPipe) = emit(&text, None, &[]) {
        return Err(CliError::BrokenPipe);
    }
    if cmp.regressed {
        Err(CliError::Failed)
    } else {
        Ok(())
    }
}

pub fn merge(args: &MergeArgs) -> Outcome {
    let mut shards = Vec::with_capacity(args.runs.len());
    for p in &args.runs {
        shards.push(load(p)?);
    }
    // The merged record, its warnings and reports hold only masked, clean text.
    let shards: Vec<RunRecord> = shards
        .iter()
        .map(|r| report::text::sanitised(r).into_owned())
        .collect();
    let merged = match merge_runs(&shards) {
        Ok(m) => m,
        Err(e) => return Err(CliError::Usage(format!("cannot merge: {e}"))),
    };
    // Never into `/`, a shard, or a folder holding anything but a run of this matrix.
    let inputs: Vec<FileId> = args
        .runs
        .iter()
        .flat_map(|p| [FileId::of(p), FileId::of(&run_file(p))])
        .flatten()
        .collect();
    let out = match OutDir::prepare(
        &args.out,
        OutRules {
            matrix_hash: &merged.matrix.hash,
            inputs: &inputs,
            record_file: dockmatrix::results::RUN_FILE,
        },
    ) {
        Ok(o) => o,
        Err(e) => return Err(CliError::from_source(e)),
    };
    if let Err(e) = merged
        .save(out.path())
        .and_then(|_| report::write_all(&merged, out.path()))
    {
        out.abandon();
        return Err(CliError::from_source(e));
    }
    for w in &merged.warnings {
        eprintln!("warning: {w}");
    }
    eprintln!(
        "merged {} runs into {} (run {}): {}",
        shards.len(),
        args.out.display(),
        merged.run_id,
        report::summary_line(&merged)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    use crate::cli::terminal::{ColorChoice, colour_wanted as wanted};

    fn colour_wanted(terminal: bool, no_color: Option<&OsStr>) -> bool {
        wanted(ColorChoice::Auto, terminal, no_color)
    }

    #[test]
    fn no_color_means_present_and_not_empty() {
        assert!(colour_wanted(true, None));
        assert!(
            colour_wanted(true, Some(OsStr::new(""))),
            "empty NO_COLOR is unset"
        );
        assert!(!colour_wanted(true, Some(OsStr::new("1"))));
        assert!(
            !colour_wanted(true, Some(OsStr::new("0"))),
            "any value counts"
        );
        assert!(!colour_wanted(false, None), "never on a pipe or a file");
    }
}
