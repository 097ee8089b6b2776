//! The terminal table: one row per cell (its values, status, one column per suite, the
//! measured engine, the perf headline, a note), or the pivot grid asked for; then the
//! summary line. Colour only when the caller asks.

use rayon::prelude::*;
use tabled::builder::Builder;
use tabled::settings::Style;

use super::pivot::{Grid, all_axes};
use super::text::{one_line, sanitised, truncate};
use super::upgrade;
use super::{
    Options, Tally, cell_note, measured_engine, perf_headline, suites, summary_line, tallies,
};
use crate::results::{CellStatus, RunRecord};

/// How long a note may be in the terminal (Markdown and HTML show it whole).
const NOTE_WIDTH: usize = 60;

pub fn render_table(record: &RunRecord, opts: &Options) -> String {
    let record = sanitised(record);
    let mut out = match &opts.pivot {
        Some(p) => {
            let grid = Grid::build(&record, p);
            let mut s = grid_table(&grid, opts.color);
            if grid.left_out > 0 {
                s.push_str(&format!(
                    "{} cells lack {} or {} and are not in the grid\n",
                    grid.left_out, p.rows, p.cols
                ));
            }
            s
        }
        None => cell_table(&record, opts.color),
    };
    out.push_str(&upgrade_table(&record, opts.color));
    out.push_str(&summary_line(&record));
    out.push('\n');
    out
}

fn cell_table(record: &RunRecord, color: bool) -> String {
    let axes = all_axes(record);
    let suites = suites(record);
    let mut b = Builder::with_capacity(record.cells.len() + 1, axes.len() + suites.len() + 4);
    let mut header: Vec<String> = axes.clone();
    header.push("status".into());
    header.extend(suites.iter().cloned());
    header.extend(["measured engine".into(), "p95".into(), "note".into()]);
    b.push_record(header);
    let rows: Vec<Vec<String>> = record
        .cells
        .par_iter()
        .map(|cell| {
            let mut row: Vec<String> = axes
                .iter()
                .map(|a| {
                    cell.values
                        .get(a)
                        .map_or_else(|| "–".to_string(), |v| one_line(v).into_owned())
                })
                .collect();
            row.push(paint(
                &format!("{} {}", cell.status.symbol(), cell.status),
                status_colour(cell.status),
                color,
            ));
            for t in tallies(cell, &suites) {
                row.push(match t {
                    Some(t) => paint(&t.label(), tally_colour(&t), color),
                    None => String::new(),
                });
            }
            row.push(measured_engine(cell));
            row.push(perf_headline(cell).map_or_else(String::new, |p| {
                let label = p.label();
                if p.regressed {
                    paint(&label, RED, color)
                } else {
                    label
                }
            }));
            row.push(truncate(&one_line(&cell_note(cell)), NOTE_WIDTH).into_owned());
            row
        })
        .collect();
    for row in rows {
        b.push_record(row);
    }
    let mut table = b.build();
    table.with(Style::rounded());
    let mut s = table.to_string();
    s.push('\n');
    s
}

/// "Tested upgrade paths": one row per upgrade cell; nothing for a run without any.
fn upgrade_table(record: &RunRecord, color: bool) -> String {
    let rows = upgrade::rows(record);
    if rows.is_empty() {
        return String::new();
    }
    let with_stack = upgrade::has_stack(&rows);
    let mut b = Builder::with_capacity(rows.len() + 1, upgrade::COLUMNS.len());
    b.push_record(upgrade::columns(with_stack));
    for r in &rows {
        let mut cols: Vec<String> = r
            .columns(with_stack)
            .into_iter()
            .map(|c| one_line(&c).into_owned())
            .collect();
        if let Some(last) = cols.last_mut() {
            *last = paint(last, status_colour(r.cell.status), color);
        }
        b.push_record(cols);
    }
    let mut table = b.build();
    table.with(Style::rounded());
    format!("Tested upgrade paths\n{table}\n")
}

fn grid_table(grid: &Grid, color: bool) -> String {
    let mut b = Builder::with_capacity(grid.rows.len() + 1, grid.cols.len() + 1);
    let mut header = vec![grid.corner()];
    header.extend(grid.cols.iter().cloned());
    b.push_record(header);
    for (r, squares) in grid.rows.iter().zip(&grid.squares) {
        let mut row = vec![r.clone()];
        row.extend(squares.iter().map(|sq| {
            let colour = sq.uniform().map_or(YELLOW, status_colour);
            paint(&sq.label(), colour, color)
        }));
        b.push_record(row);
    }
    let mut table = b.build();
    table.with(Style::rounded());
    let mut s = table.to_string();
    s.push('\n');
    s
}

const GREEN: &str = "32";
const YELLOW: &str = "33";
const RED: &str = "31";
const BOLD_RED: &str = "1;31";
const MAGENTA: &str = "35";
const DIM: &str = "2";

fn status_colour(s: CellStatus) -> &'static str {
    match s {
        CellStatus::Pass => GREEN,
        CellStatus::Flaky => YELLOW,
        CellStatus::Unsupported => MAGENTA,
        CellStatus::Fail => RED,
        CellStatus::Error => BOLD_RED,
        CellStatus::Cancelled => DIM,
    }
}

fn tally_colour(t: &Tally) -> &'static str {
    match t.class() {
        "pass" | "fixed" | "known-fail" => GREEN,
        "flaky" => YELLOW,
        "fail" => RED,
        "error" => BOLD_RED,
        _ => DIM,
    }
}

fn paint(text: &str, colour: &str, color: bool) -> String {
    if color && !text.is_empty() {
        format!("\x1b[{colour}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}
