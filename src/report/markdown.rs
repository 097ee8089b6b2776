//! GitHub-flavoured Markdown for release notes and CI step summaries: a summary line,
//! the pivot grids, the cell table, and "What failed" with every failing check's message,
//! each cell's reason and its services' log tails (in fenced blocks, shown literally).

use std::fmt::Write as _;

use rayon::prelude::*;

use super::pivot::all_axes;
use super::text::{markdown_code_block as code, markdown_inline as md, sanitised};
use super::upgrade;
use super::{
    Options, cell_note, cells_needing_attention, describe_values, grids_for, measured_engine,
    perf_headline, suites, summary_line, tallies,
};
use crate::results::{CellRecord, CellStatus, CheckStatus, RunRecord};

/// How long a note may be in the table (the "What failed" section has it whole).
const NOTE_WIDTH: usize = 120;

pub fn render_markdown(record: &RunRecord, opts: &Options) -> String {
    let record = sanitised(record);
    let mut out = String::with_capacity(256 + record.cells.len() * 200);
    let _ = writeln!(out, "## dockmatrix: {}\n", md(&record.matrix.name));
    let mut meta = format!("Run {}", md(&record.run_id));
    if let Some(p) = &record.partition {
        let _ = write!(meta, " (shard {})", md(p));
    }
    let _ = write!(meta, " · started {}", md(&record.started_at));
    if let Some(f) = &record.finished_at {
        let _ = write!(meta, " · finished {}", md(f));
    }
    let _ = write!(meta, " · dockmatrix {}", md(&record.tool_version));
    if !record.merged_from.is_empty() {
        let _ = write!(meta, " · merged from {} shards", record.merged_from.len());
    }
    let _ = writeln!(out, "{meta}\n");
    let _ = writeln!(out, "**{}**\n", md(&summary_line(&record)));

    for grid in grids_for(&record, opts, false) {
        let p = &grid.pivot;
        let _ = writeln!(out, "### {} × {}\n", md(&p.rows), md(&p.cols));
        let mut header = vec![md(&grid.corner())];
        header.extend(grid.cols.iter().map(|c| md(c)));
        push_row(&mut out, &header);
        push_delimiters(
            &mut out,
            std::iter::once(LEFT).chain(std::iter::repeat_n(CENTRE, grid.cols.len())),
        );
        for (r, squares) in grid.rows.iter().zip(&grid.squares) {
            let mut row = vec![md(r)];
            row.extend(squares.iter().map(|s| s.label()));
            push_row(&mut out, &row);
        }
        if grid.left_out > 0 {
            let _ = writeln!(
                out,
                "\n{} cells lack {} or {} and are not in this grid.",
                grid.left_out,
                md(&p.rows),
                md(&p.cols)
            );
        }
        out.push('\n');
    }

    cell_table(&mut out, &record);
    upgrade_paths(&mut out, &record);
    what_failed(&mut out, &record);
    super::known::markdown(&mut out, &record);
    notes(&mut out, &record);
    out
}

fn push_row(out: &mut String, cols: &[String]) {
    out.push('|');
    for c in cols {
        out.push(' ');
        out.push_str(if c.is_empty() { " " } else { c });
        out.push_str(" |");
    }
    out.push('\n');
}

/// The delimiter row: `---` (left) or `:-:` (centred) per column.
fn push_delimiters<'a>(out: &mut String, columns: impl IntoIterator<Item = &'a str>) {
    out.push('|');
    for c in columns {
        out.push(' ');
        out.push_str(c);
        out.push_str(" |");
    }
    out.push('\n');
}

const LEFT: &str = "---";
const CENTRE: &str = ":-:";

fn cell_table(out: &mut String, record: &RunRecord) {
    let axes = all_axes(record);
    let suites = suites(record);
    let _ = writeln!(out, "### Cells\n");
    let mut header: Vec<String> = axes.iter().map(|a| md(a)).collect();
    header.push("status".into());
    header.extend(suites.iter().map(|s| md(s)));
    header.extend(["measured engine".into(), "p95".into(), "note".into()]);
    push_row(out, &header);
    push_delimiters(
        out,
        std::iter::repeat_n(LEFT, axes.len())
            .chain(std::iter::repeat_n(CENTRE, 1 + suites.len()))
            .chain([LEFT; 3]),
    );
    let rows: Vec<String> = record
        .cells
        .par_iter()
        .map(|cell| {
            let mut row: Vec<String> = axes
                .iter()
                .map(|a| {
                    cell.values
                        .get(a)
                        .map_or_else(|| "–".to_string(), |v| md(v))
                })
                .collect();
            row.push(format!("{} {}", cell.status.symbol(), cell.status));
            row.extend(
                tallies(cell, &suites)
                    .into_iter()
                    .map(|t| t.map_or_else(String::new, |t| t.label())),
            );
            row.push(md(&measured_engine(cell)));
            row.push(perf_headline(cell).map_or_else(String::new, |p| p.label()));
            row.push(md(&super::text::truncate(&cell_note(cell), NOTE_WIDTH)));
            let mut line = String::with_capacity(256);
            push_row(&mut line, &row);
            line
        })
        .collect();
    for line in rows {
        out.push_str(&line);
    }
    out.push('\n');
}

/// "Tested upgrade paths", fit to paste into release notes: the table, then under it each
/// phase that did not pass, with its reason and findings in words.
fn upgrade_paths(out: &mut String, record: &RunRecord) {
    let rows = upgrade::rows(record);
    if rows.is_empty() {
        return;
    }
    let with_stack = upgrade::has_stack(&rows);
    let _ = writeln!(out, "### Tested upgrade paths\n");
    let header: Vec<String> = upgrade::columns(with_stack)
        .into_iter()
        .map(str::to_string)
        .collect();
    let centred = header.len() - if with_stack { 3 } else { 2 };
    push_row(out, &header);
    push_delimiters(
        out,
        std::iter::repeat_n(LEFT, header.len() - centred)
            .chain(std::iter::repeat_n(CENTRE, centred)),
    );
    for r in &rows {
        let cols: Vec<String> = r.columns(with_stack).iter().map(|c| md(c)).collect();
        push_row(out, &cols);
    }
    out.push('\n');
    for r in &rows {
        for p in r.failed_phases() {
            let _ = write!(
                out,
                "**{}** ({}), phase **{}**: {} {}",
                md(&r.path),
                md(&r.driver),
                md(p.name.as_str()),
                p.status.symbol(),
                p.status
            );
            match p.reason.as_deref().filter(|x| !x.trim().is_empty()) {
                Some(reason) => {
                    let _ = writeln!(out, ": {}\n", md(reason));
                }
                None => out.push_str("\n\n"),
            }
            for f in &p.findings {
                let _ = writeln!(out, "- {}", md(f));
            }
            if !p.findings.is_empty() {
                out.push('\n');
            }
        }
    }
}

fn what_failed(out: &mut String, record: &RunRecord) {
    let cells = cells_needing_attention(record);
    if cells.is_empty() {
        return;
    }
    let _ = writeln!(out, "### What failed\n");
    let details: Vec<String> = cells
        .par_iter()
        .map(|cell| {
            let mut out = String::with_capacity(1024);
            let _ = writeln!(
                out,
                "#### {} {}: {}\n",
                cell.status.symbol(),
                cell.status,
                md(&describe_values(cell))
            );
            cell_detail(&mut out, cell);
            out
        })
        .collect();
    for d in details {
        out.push_str(&d);
    }
}

fn cell_detail(out: &mut String, cell: &CellRecord) {
    let mut facts = vec![format!("cell {}", md(&cell.id))];
    if cell.attempts > 1 {
        facts.push(format!("{} attempts", cell.attempts));
    }
    if let Some(step) = &cell.failed_step {
        facts.push(format!("failed in step {}", md(step)));
    }
    let engine = measured_engine(cell);
    if !engine.is_empty() {
        facts.push(format!("engine {}", md(&engine)));
    }
    let _ = writeln!(out, "{}\n", facts.join(" · "));
    if let Some(reason) = cell.reason.as_deref().filter(|r| !r.trim().is_empty()) {
        let label = if cell.status == CellStatus::Unsupported {
            "The engine's reason:"
        } else {
            "Reason:"
        };
        let _ = writeln!(out, "{label}\n");
        out.push_str(&code(reason));
        out.push('\n');
    }
    for (i, a) in cell.previous_attempts.iter().enumerate() {
        let _ = writeln!(
            out,
            "Attempt {}: {} {}{}\n",
            i + 1,
            a.status.symbol(),
            a.status,
            a.reason
                .as_deref()
                .map(|r| format!(": {}", md(r)))
                .unwrap_or_default()
        );
    }
    preflight(out, cell);
    for ch in cell.checks.iter().filter(|c| c.status.fails_cell()) {
        let _ = writeln!(
            out,
            "- {} **{} › {}** ({})\n",
            ch.status.symbol(),
            md(&ch.suite),
            md(&upgrade::phased_name(ch.phase, &ch.name)),
            ch.status
        );
        if !ch.message.trim().is_empty() {
            for line in code(&ch.message).lines() {
                let _ = writeln!(out, "  {line}");
            }
            out.push('\n');
        }
    }
    for svc in cell.services.iter().filter(|s| !s.log_tail.is_empty()) {
        let mut facts = Vec::new();
        if svc.oom_killed {
            facts.push("OOM-killed".to_string());
        }
        if svc.restarts > 0 {
            facts.push(format!("{} restarts", svc.restarts));
        }
        let _ = writeln!(
            out,
            "Log of {} ({}, {}){}:\n",
            md(&svc.name),
            md(&svc.image),
            last_lines(svc.log_tail.len()),
            if facts.is_empty() {
                String::new()
            } else {
                format!(", {}", facts.join(", "))
            }
        );
        out.push_str(&code(&svc.log_tail.join("\n")));
        out.push('\n');
    }
}

/// Preflight findings worth a look (`warn`, `block`) of one cell.
fn preflight(out: &mut String, cell: &CellRecord) {
    let findings = upgrade::notable_findings(cell);
    if findings.is_empty() {
        return;
    }
    let _ = writeln!(out, "Preflight:\n");
    for f in findings {
        let _ = writeln!(
            out,
            "- {} {} of engine {}: {}",
            upgrade::level_label(f.level),
            md(&f.check),
            md(&f.engine),
            md(&f.reason)
        );
    }
    out.push('\n');
}

fn notes(out: &mut String, record: &RunRecord) {
    let mut lines = Vec::new();
    // Preflight findings of cells "What failed" does not detail.
    for cell in record.cells.iter().filter(|c| !super::needs_attention(c)) {
        for f in upgrade::notable_findings(cell) {
            lines.push(format!(
                "- {} preflight {} of engine {} on {}: {}",
                upgrade::level_label(f.level),
                md(&f.check),
                md(&f.engine),
                md(&describe_values(cell)),
                md(&f.reason)
            ));
        }
    }
    for cell in &record.cells {
        for ch in cell
            .checks
            .iter()
            .filter(|c| c.status == CheckStatus::Fixed)
        {
            lines.push(format!(
                "- {} **{}** now passes on {}: its `[[known]]` entry can go",
                ch.status.symbol(),
                md(&ch.name),
                md(&describe_values(cell))
            ));
        }
    }
    lines.extend(record.warnings.iter().map(|w| format!("- ⚠ {}", md(w))));
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(out, "### Notes\n");
    for l in lines {
        let _ = writeln!(out, "{l}");
    }
    out.push('\n');
}

/// `last line`, `last 12 lines`.
pub(crate) fn last_lines(n: usize) -> String {
    if n == 1 {
        "last line".to_string()
    } else {
        format!("last {n} lines")
    }
}
