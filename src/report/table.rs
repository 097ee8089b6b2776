//! The terminal table: one row per cell (its values, status, one column per suite, the
//! measured engine, the perf headline, a note), or the pivot grid asked for; then the
//! summary line. Colour only when the caller asks.
//!
//! With a width ([`Options::width`], the terminal's), every line fits it: the note is cut
//! first, then columns that matter least go (axes with one value in every cell, said once
//! above the table; the measured engine; the perf headline; the suites, folded into one
//! `checks` column; the note), and what is still too wide wraps. The reasons the table
//! no longer shows whole follow it, one wrapped paragraph per cell that did not pass; the
//! whole text is always in the reports. Without a width (output that is not a terminal,
//! and `COLUMNS` unset) the table is the full one, so scripts see stable output.

use rayon::prelude::*;
use tabled::builder::Builder;
use tabled::settings::{Style, Width};
use unicode_width::UnicodeWidthStr;

use super::pivot::{Grid, all_axes};
use super::text::{one_line, sanitised, truncate};
use super::upgrade;
use super::{
    Options, Tally, cell_note, check_totals_of, measured_engine, needs_attention, perf_headline,
    suites, summary_line, tallies,
};
use crate::results::{CellStatus, RunRecord};

/// How long a note may be in the terminal (Markdown and HTML show it whole).
const NOTE_WIDTH: usize = 60;

pub fn render_table(record: &RunRecord, opts: &Options) -> String {
    let record = sanitised(record);
    let mut out = match &opts.pivot {
        Some(p) => {
            let grid = Grid::build(&record, p);
            let mut s = grid_table(&grid, opts.color, opts.width);
            if grid.left_out > 0 {
                s.push_str(&format!(
                    "{} cells lack {} or {} and are not in the grid\n",
                    grid.left_out, p.rows, p.cols
                ));
            }
            s
        }
        None => match opts.width {
            None => cell_table(&record, opts.color),
            Some(w) => fitted_cell_table(&record, opts.color, w),
        },
    };
    out.push_str(&upgrade_table(&record, opts.color, opts.width));
    match opts.width {
        None => {
            out.push_str(&summary_line(&record));
            out.push('\n');
        }
        Some(w) => out.push_str(&wrap(&summary_line(&record), w, "")),
    }
    out
}

/// The cell table fitted to `width` columns (see the module's opening comment).
fn fitted_cell_table(record: &RunRecord, color: bool, width: usize) -> String {
    let axes = all_axes(record);
    let suites = suites(record);
    // Axes with one value in every cell say nothing per row.
    let constant: Vec<(String, String)> = axes
        .iter()
        .filter_map(|a| {
            let first = record.cells.first()?.values.get(a)?;
            record
                .cells
                .iter()
                .all(|c| c.values.get(a) == Some(first))
                .then(|| (a.clone(), first.clone()))
        })
        .collect();
    let plan = [
        Fit::Full,
        Fit::NoConstantAxes,
        Fit::NoEngine,
        Fit::NoPerf,
        Fit::OneChecksColumn,
    ];
    // A note column only when some cell has a note.
    let any_note = record.cells.iter().any(|c| !cell_note(c).trim().is_empty());
    let mut chosen = None;
    'plan: for (i, fit) in plan.iter().enumerate() {
        let drop_constant = *fit >= Fit::NoConstantAxes && record.cells.len() > 1;
        let shown: Vec<&String> = axes
            .iter()
            .filter(|a| !(drop_constant && constant.iter().any(|(c, _)| c == *a)))
            .collect();
        // With the note (cut to what is left, if that is 16 columns or more), else
        // without it (its text follows the table), before leaving out more.
        for note in [any_note, false] {
            let cols = Columns {
                axes: shown.clone(),
                suites: if *fit >= Fit::OneChecksColumn {
                    None
                } else {
                    Some(&suites)
                },
                engine: *fit < Fit::NoEngine,
                perf: *fit < Fit::NoPerf,
                note,
            };
            let bare = build(record, &cols, color, Some(0)).total_width();
            let room = width.saturating_sub(bare + 3);
            if note && room < 16 {
                continue;
            }
            let table = build(record, &cols, color, note.then_some(room));
            if table.total_width() <= width || (i + 1 == plan.len() && !note) {
                chosen = Some((cols, table, drop_constant, *fit));
                break 'plan;
            }
        }
    }
    let Some((cols, mut table, drop_constant, fit)) = chosen else {
        return cell_table(record, color);
    };
    let mut out = String::new();
    if drop_constant && !constant.is_empty() {
        let all: Vec<String> = constant.iter().map(|(k, v)| format!("{k}={v}")).collect();
        out.push_str(&wrap(&format!("every cell: {}", all.join(", ")), width, ""));
    }
    if table.total_width() > width {
        table.with(Width::wrap(width).keep_words(true));
    }
    out.push_str(&table.to_string());
    out.push('\n');
    let mut left_out = Vec::new();
    if !cols.engine {
        left_out.push("measured engine");
    }
    if !cols.perf {
        left_out.push("p95");
    }
    if cols.suites.is_none() && !suites.is_empty() {
        left_out.push("the suites' columns");
    }
    let note_cut = fit > Fit::Full || !cols.note;
    if note_cut {
        if !cols.note && any_note {
            left_out.push("note");
        }
        // The reasons the table cut or left out, whole, under the table.
        for cell in record.cells.iter().filter(|c| needs_attention(c)) {
            let note = cell_note(cell);
            if note.trim().is_empty() {
                continue;
            }
            let head = format!("{} {}: ", cell.status.symbol(), cell.id);
            out.push_str(&wrap(&format!("{head}{}", one_line(&note)), width, "    "));
        }
    }
    if !left_out.is_empty() {
        out.push_str(&wrap(
            &format!(
                "left out to fit {width} columns: {} (all in report.md and `dockmatrix report RUN --format markdown`)",
                left_out.join(", ")
            ),
            width,
            "",
        ));
    }
    out
}

/// The steps of fitting, in order: each leaves out more than the one before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Fit {
    Full,
    NoConstantAxes,
    NoEngine,
    NoPerf,
    OneChecksColumn,
}

/// The columns a fitted table shows.
struct Columns<'a> {
    axes: Vec<&'a String>,
    /// `None`: one `checks` column for all suites.
    suites: Option<&'a Vec<String>>,
    engine: bool,
    perf: bool,
    note: bool,
}

/// The table with `cols`, the note cut to `note_width` (0: empty).
fn build(
    record: &RunRecord,
    cols: &Columns<'_>,
    color: bool,
    note_width: Option<usize>,
) -> tabled::Table {
    let all_suites = suites(record);
    // (`with_capacity`'s second argument is the column count, which varies here.)
    let mut b = Builder::default();
    let mut header: Vec<String> = cols.axes.iter().map(|a| a.to_string()).collect();
    header.push("status".into());
    match cols.suites {
        Some(s) => header.extend(s.iter().cloned()),
        None => header.push("checks".into()),
    }
    if cols.engine {
        header.push("measured engine".into());
    }
    if cols.perf {
        header.push("p95".into());
    }
    if cols.note && note_width.is_some_and(|w| w > 0) {
        header.push("note".into());
    }
    b.push_record(header);
    for cell in &record.cells {
        let mut row: Vec<String> = cols
            .axes
            .iter()
            .map(|a| {
                cell.values
                    .get(*a)
                    .map_or_else(|| "–".to_string(), |v| one_line(v).into_owned())
            })
            .collect();
        row.push(paint(
            &format!("{} {}", cell.status.symbol(), cell.status),
            status_colour(cell.status),
            color,
        ));
        match cols.suites {
            Some(_) => {
                for t in tallies(cell, &all_suites) {
                    row.push(match t {
                        Some(t) => paint(&t.label(), tally_colour(&t), color),
                        None => String::new(),
                    });
                }
            }
            None => row.push(match check_totals_of(cell) {
                Some(t) => paint(&t.label(), tally_colour(&t), color),
                None => String::new(),
            }),
        }
        if cols.engine {
            row.push(measured_engine(cell));
        }
        if cols.perf {
            row.push(perf_headline(cell).map_or_else(String::new, |p| {
                let label = p.label();
                if p.regressed {
                    paint(&label, RED, color)
                } else {
                    label
                }
            }));
        }
        if let Some(w) = note_width.filter(|w| cols.note && *w > 0) {
            row.push(truncate(&one_line(&cell_note(cell)), w).into_owned());
        }
        b.push_record(row);
    }
    let mut table = b.build();
    table.with(Style::rounded());
    table
}

/// `text` wrapped at word boundaries to `width` display columns (a word longer than a
/// line is cut across lines), later lines indented by `indent`; each line ends in `\n`.
pub fn wrap(text: &str, width: usize, indent: &str) -> String {
    let width = width.max(indent.width() + 8);
    let mut out = String::with_capacity(text.len() + 8);
    let mut line = String::new();
    let mut line_w = 0;
    for word in text.split_whitespace() {
        let mut word = word.to_string();
        loop {
            let ww = word.width();
            let sep = usize::from(line_w > 0 && !line.ends_with(' '));
            if line_w + sep + ww <= width {
                if sep == 1 {
                    line.push(' ');
                }
                line.push_str(&word);
                line_w += sep + ww;
                break;
            }
            if line_w > indent.width() {
                out.push_str(line.trim_end());
                out.push('\n');
                line = indent.to_string();
                line_w = indent.width();
                continue;
            }
            // A word longer than a whole line: cut it.
            let room = width.saturating_sub(line_w).max(1);
            let mut head = String::new();
            let mut hw = 0;
            let mut rest_at = word.len();
            for (i, ch) in word.char_indices() {
                let cw = unicode_width::UnicodeWidthChar::width(ch).unwrap_or(0);
                if hw + cw > room {
                    rest_at = i;
                    break;
                }
                head.push(ch);
                hw += cw;
            }
            if head.is_empty() {
                break;
            }
            line.push_str(&head);
            out.push_str(line.trim_end());
            out.push('\n');
            line = indent.to_string();
            line_w = indent.width();
            word = word[rest_at..].to_string();
            if word.is_empty() {
                break;
            }
        }
    }
    if line_w > indent.width() || out.is_empty() {
        out.push_str(line.trim_end());
        out.push('\n');
    }
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
fn upgrade_table(record: &RunRecord, color: bool, width: Option<usize>) -> String {
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
    if let Some(w) = width.filter(|w| table.total_width() > *w) {
        table.with(Width::wrap(w).keep_words(true));
    }
    format!("Tested upgrade paths\n{table}\n")
}

fn grid_table(grid: &Grid, color: bool, width: Option<usize>) -> String {
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
    if let Some(w) = width.filter(|w| table.total_width() > *w) {
        table.with(Width::wrap(w).keep_words(true));
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_fits_and_keeps_every_word() {
        let text = "a reason that is long enough to need three lines at this width, with averyveryverylongwordthatexceedsalineonitsown";
        let out = wrap(text, 24, "  ");
        for line in out.lines() {
            assert!(line.width() <= 24, "{line:?}");
        }
        let joined: String = out.split_whitespace().collect();
        let want: String = text.split_whitespace().collect();
        assert_eq!(joined, want);
        assert_eq!(wrap("short", 80, ""), "short\n");
    }
}
