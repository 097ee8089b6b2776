//! `dockmatrix plan` and `dockmatrix images`: the cells of a matrix, without Docker.

use indexmap::IndexSet;
use tabled::builder::Builder;
use tabled::settings::Style;

use super::{CliError, ImagesArgs, Outcome, PlanArgs, PlanFormat, Selection, parse_filters};
use dockmatrix::matrix::plan::CellPlan;
use dockmatrix::matrix::{Cell, Matrix, PlanError};

/// Loads the matrix and applies the selection; every failure is exit 2 with its message.
pub fn select(matrix: &std::path::Path, sel: &Selection) -> Result<(Matrix, Vec<Cell>), CliError> {
    let m = Matrix::load(matrix).map_err(CliError::Diagnostics)?;
    let filter = parse_filters(&sel.filter)?;
    let cells = m.plan(filter.as_ref(), sel.partition).map_err(|e| match e {
        PlanError::Matrix(d) => CliError::Diagnostics(d),
        PlanError::Filter(f) => CliError::Usage(format!("invalid --filter: {f}\n  = help: {}", f.help())),
        PlanError::NoMatch(f) => CliError::Usage(format!(
            "the filter `{f}` matches no cell of {}\n  = help: `dockmatrix plan {}` lists the cells",
            matrix.display(),
            matrix.display()
        )),
    })?;
    if let Some(first) = cells.first() {
        for w in m.compose_warnings(first) {
            eprintln!("warning: {w}");
        }
    }
    if cells.is_empty()
        && let Some(p) = sel.partition
    {
        eprintln!("shard {p} of {} is empty: nothing to do", matrix.display());
    }
    Ok((m, cells))
}

pub fn plan(args: &PlanArgs) -> Outcome {
    let (m, cells) = select(&args.matrix, &args.selection)?;
    // The scenarios are part of the plan: a bad one is reported here, not mid-run.
    if let Err(d) = dockmatrix::scenario::load_all(&m) {
        return Err(CliError::Diagnostics(d));
    }
    // What is shown is masked and free of control characters (a clear-screen in an axis
    // value or the matrix name must not reach the terminal); cells only cloned if needed.
    let shown = |t: &str| dockmatrix::report::text::clean(t).into_owned();
    let needs_cleaning = |t: &str| {
        !matches!(
            dockmatrix::report::text::clean(t),
            std::borrow::Cow::Borrowed(_)
        )
    };
    let cleaned: Vec<Cell>;
    let cells: &[Cell] = if cells.iter().any(|c| {
        c.values
            .iter()
            .any(|(k, v)| needs_cleaning(k) || needs_cleaning(v))
    }) {
        cleaned = cells
            .iter()
            .map(|c| Cell {
                id: c.id.clone(),
                values: c.values.iter().map(|(k, v)| (shown(k), shown(v))).collect(),
            })
            .collect();
        &cleaned
    } else {
        &cells
    };
    match args.format {
        PlanFormat::Json => {
            // Streamed: a JSON tree (then a string) of 100,000 cells would triple the
            // memory the cells take.
            #[derive(serde::Serialize)]
            struct Doc<'a> {
                cells: &'a [Cell],
            }
            use std::io::Write as _;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let written = serde_json::to_writer_pretty(&mut out, &Doc { cells })
                .map_err(std::io::Error::from)
                .and_then(|()| writeln!(out))
                .and_then(|()| out.flush());
            match written {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                    return Err(CliError::BrokenPipe);
                }
                Err(e) => {
                    return Err(CliError::input("failed to write to stdout", e));
                }
            }
        }
        PlanFormat::Table => {
            let keys = m.keys();
            let mut b = Builder::default();
            let mut header = vec!["#".to_string(), "id".to_string()];
            let keys: Vec<String> = keys.iter().map(|k| shown(k)).collect();
            header.extend(keys.iter().cloned());
            b.push_record(header);
            for (i, c) in cells.iter().enumerate() {
                let mut row = vec![(i + 1).to_string(), c.id.clone()];
                row.extend(keys.iter().map(|k| c.get(k).unwrap_or("–").to_string()));
                b.push_record(row);
            }
            let mut table = b.build();
            table.with(Style::rounded());
            let text = format!(
                "{table}\n{} cells of matrix `{}`\n",
                cells.len(),
                shown(&m.name)
            );
            super::print_result(&text)?
        }
    }
    Ok(())
}

pub fn images(args: &ImagesArgs) -> Outcome {
    let (m, cells) = select(&args.matrix, &args.selection)?;
    let mut seen: IndexSet<String> = IndexSet::new();
    for c in &cells {
        let plan = CellPlan::of(&m, c);
        if let Some(e) = plan.image_error() {
            return Err(CliError::Usage(format!("cell {}: {e}", c.id)));
        }
        let mut of_cell: IndexSet<String> = plan.engine_image.iter().cloned().collect();
        of_cell.extend(plan.image_list());
        if args.per_cell {
            seen.extend(of_cell.into_iter().map(|img| format!("{}\t{img}", c.id)));
        } else {
            seen.extend(of_cell);
        }
    }
    let mut text = String::new();
    for img in seen {
        text.push_str(&img);
        text.push('\n');
    }
    super::print_result(&text)
}
