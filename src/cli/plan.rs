//! `dockmatrix plan` and `dockmatrix images`: the cells of a matrix, without Docker.

use indexmap::IndexSet;
use tabled::builder::Builder;
use tabled::settings::Style;

use super::{ImagesArgs, Outcome, PlanArgs, PlanFormat, Selection, parse_filters};
use dockmatrix::matrix::{Cell, Matrix, PlanError};

/// Loads the matrix and applies the selection; every failure is exit 2 with its message.
pub fn select(matrix: &std::path::Path, sel: &Selection) -> Result<(Matrix, Vec<Cell>), Outcome> {
    let m = Matrix::load(matrix).map_err(|d| Outcome::BadInput(d.to_string()))?;
    let filter = parse_filters(&sel.filter)?;
    let cells = m.plan(filter.as_ref(), sel.partition).map_err(|e| {
        Outcome::BadInput(match e {
            PlanError::Matrix(d) => d.to_string(),
            PlanError::Filter(f) => format!("error: invalid --filter: {f}\n  = help: {}", f.help()),
            PlanError::NoMatch(f) => format!(
                "error: the filter `{f}` matches no cell of {}\n  = help: `dockmatrix plan {}` lists the cells",
                matrix.display(),
                matrix.display()
            ),
        })
    })?;
    if let Some(first) = cells.first() {
        for w in m.compose_warnings(first) {
            eprintln!("warning: {w}");
        }
    }
    if cells.is_empty() {
        if let Some(p) = sel.partition {
            eprintln!("shard {p} of {} is empty: nothing to do", matrix.display());
        }
    }
    Ok((m, cells))
}

pub fn plan(args: &PlanArgs) -> Outcome {
    let (m, cells) = match select(&args.matrix, &args.selection) {
        Ok(x) => x,
        Err(o) => return o,
    };
    // The scenarios are part of the plan: a bad one is reported here, not mid-run.
    if let Err(d) = dockmatrix::scenario::load_all(&m) {
        return Outcome::BadInput(d.to_string());
    }
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
            let _ = serde_json::to_writer_pretty(&mut out, &Doc { cells: &cells })
                .map_err(std::io::Error::from)
                .and_then(|()| writeln!(out))
                .and_then(|()| out.flush());
        }
        PlanFormat::Table => {
            let keys = m.keys();
            let mut b = Builder::default();
            let mut header = vec!["#".to_string(), "id".to_string()];
            header.extend(keys.iter().map(|k| k.to_string()));
            b.push_record(header);
            for (i, c) in cells.iter().enumerate() {
                let mut row = vec![(i + 1).to_string(), c.id.clone()];
                row.extend(keys.iter().map(|k| c.get(k).unwrap_or("–").to_string()));
                b.push_record(row);
            }
            let mut table = b.build();
            table.with(Style::rounded());
            println!("{table}");
            println!("{} cells of matrix `{}`", cells.len(), m.name);
        }
    }
    Outcome::Success
}

pub fn images(args: &ImagesArgs) -> Outcome {
    let (m, cells) = match select(&args.matrix, &args.selection) {
        Ok(x) => x,
        Err(o) => return o,
    };
    let mut seen: IndexSet<String> = IndexSet::new();
    for c in &cells {
        if let Some(img) = m.engine_for(c).and_then(|e| e.image.clone()) {
            seen.insert(img);
        }
        for svc in m.services.values() {
            match m.image_for(svc, c) {
                Ok(img) => {
                    seen.insert(img);
                }
                Err(e) => return Outcome::BadInput(format!("error: cell {}: {e}", c.id)),
            }
        }
    }
    for img in seen {
        println!("{img}");
    }
    Outcome::Success
}
