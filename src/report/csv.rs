//! CSV: one row per (cell, check); a cell without checks (unsupported, error, cancelled,
//! a stack that never came up) has one row with the check columns empty. Columns, in this
//! order (stable; new columns are only ever appended at the end):
//! [`CSV_COLUMNS_BEFORE_AXES`], then one column per axis (the run's axis order), then
//! [`CSV_COLUMNS_AFTER_AXES`]. The last ones say, for an upgrade cell, the phase a check
//! ran in and the upgrade path (on every row of the cell; empty for other cells).

use rayon::prelude::*;

use super::Options;
use super::pivot::all_axes;
use super::text::sanitised;
use crate::results::{CellRecord, CheckRecord, EngineFacts, RunRecord};

pub const CSV_COLUMNS_BEFORE_AXES: &[&str] = &["run_id", "cell_id"];

pub const CSV_COLUMNS_AFTER_AXES: &[&str] = &[
    "cell_status",
    "attempts",
    "cell_reason",
    "failed_step",
    "engine_version",
    "api_version",
    "storage_driver",
    "cell_duration_ms",
    "suite",
    "check",
    "check_status",
    "check_duration_ms",
    "message",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "ops_per_sec",
    "cv",
    "samples",
    "baseline_p95_ms",
    "p95_delta_pct",
    "ops_delta_pct",
    "perf_regressed",
    // Added with upgrade rehearsals, at the end so older consumers keep their columns.
    "phase",
    "upgrade_from",
    "upgrade_to",
    "upgrade_driver",
    "data_kept",
    "containers_back",
    "rollback",
    // Added with API clients and the containerd image store, at the end likewise.
    "min_api_version",
    "image_store",
    // Added with precise perf checks: the p95's 95 % confidence half-width, in percent.
    "p95_precision_pct",
    // Added with the engine cache: `fresh` or `cached` (dind engines), else empty.
    "engine_cache",
];

pub fn render_csv(record: &RunRecord, _opts: &Options) -> String {
    let record = sanitised(record);
    let axes = all_axes(&record);
    let mut w = csv::WriterBuilder::new()
        .flexible(false)
        .from_writer(Vec::with_capacity(record.cells.len() * 400));
    let header: Vec<&str> = CSV_COLUMNS_BEFORE_AXES
        .iter()
        .copied()
        .chain(axes.iter().map(String::as_str))
        .chain(CSV_COLUMNS_AFTER_AXES.iter().copied())
        .collect();
    let text_column: Vec<bool> = header
        .iter()
        .map(|h| !NUMERIC_COLUMNS.contains(h))
        .collect();
    // Writing to a Vec cannot fail; a failure would only lose rows, never panic.
    let _ = w.write_record(&header);
    let mut out = w.into_inner().unwrap_or_default();
    // Rows are written in chunks of cells, in parallel, and joined in order.
    let chunks: Vec<Vec<u8>> = record
        .cells
        .par_chunks(CHUNK)
        .map(|cells| {
            let mut w = csv::WriterBuilder::new()
                .has_headers(false)
                .from_writer(Vec::with_capacity(cells.len() * 2048));
            let mut row: Vec<String> = Vec::with_capacity(header.len());
            for cell in cells {
                if cell.checks.is_empty() {
                    fill(&mut row, &record, &axes, cell, None);
                    defuse_formulas(&mut row, &text_column);
                    let _ = w.write_record(&row);
                }
                for ch in &cell.checks {
                    fill(&mut row, &record, &axes, cell, Some(ch));
                    defuse_formulas(&mut row, &text_column);
                    let _ = w.write_record(&row);
                }
            }
            w.into_inner().unwrap_or_default()
        })
        .collect();
    out.reserve(chunks.iter().map(Vec::len).sum());
    for c in chunks {
        out.extend_from_slice(&c);
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Columns that hold numbers (or booleans): written as they are, so that a spreadsheet
/// still sees numbers (`-12.5` stays a delta, not text).
const NUMERIC_COLUMNS: &[&str] = &[
    "attempts",
    "cell_duration_ms",
    "check_duration_ms",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "ops_per_sec",
    "cv",
    "samples",
    "baseline_p95_ms",
    "p95_delta_pct",
    "ops_delta_pct",
    "perf_regressed",
    "data_kept",
    "containers_back",
];

/// A text field that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, or a tab or
/// carriage return before one) gets a leading `'`, OWASP's advice for CSV injection; a
/// text field that is a plain number (an axis value `-1`) is left alone.
fn defuse_formulas(row: &mut [String], text_column: &[bool]) {
    for (field, &text) in row.iter_mut().zip(text_column) {
        if text
            && field.starts_with(['=', '+', '-', '@', '\t', '\r'])
            && field.parse::<f64>().is_err()
        {
            field.insert(0, '\'');
        }
    }
}

/// Cells per parallel chunk.
const CHUNK: usize = 256;

fn fill(
    row: &mut Vec<String>,
    record: &RunRecord,
    axes: &[String],
    cell: &CellRecord,
    check: Option<&CheckRecord>,
) {
    row.clear();
    row.push(record.run_id.clone());
    row.push(cell.id.clone());
    row.extend(
        axes.iter()
            .map(|a| cell.values.get(a).cloned().unwrap_or_default()),
    );
    row.push(cell.status.to_string());
    row.push(cell.attempts.to_string());
    row.push(cell.reason.clone().unwrap_or_default());
    row.push(cell.failed_step.clone().unwrap_or_default());
    let e = cell.engine.as_ref();
    row.push(e.map(|e| e.server_version.clone()).unwrap_or_default());
    row.push(e.map(|e| e.api_version.clone()).unwrap_or_default());
    row.push(e.map(|e| e.storage_driver.clone()).unwrap_or_default());
    row.push(cell.durations_ms.total.to_string());
    let upgrade = cell.upgrade.as_ref();
    let phase = check
        .and_then(|c| c.phase)
        .map_or_else(String::new, |p| p.as_str().to_string());
    check_columns(row, check);
    row.push(phase);
    match upgrade {
        None => row.extend(std::iter::repeat_n(String::new(), 6)),
        Some(u) => {
            let version = |facts: &Option<EngineFacts>, name: &str| {
                facts
                    .as_ref()
                    .map(|e| e.server_version.clone())
                    .filter(|v| !v.is_empty())
                    .unwrap_or_else(|| name.to_string())
            };
            row.push(version(&u.from_engine, &u.from));
            row.push(version(&u.to_engine, &u.to));
            row.push(if u.from_driver == u.to_driver {
                u.from_driver.clone()
            } else {
                format!("{}->{}", u.from_driver, u.to_driver)
            });
            row.push(u.data_kept.map(|k| k.to_string()).unwrap_or_default());
            row.push(u.containers_back.map(|c| c.to_string()).unwrap_or_default());
            row.push(
                match (u.rollback, u.phase(crate::results::UpgradePhase::Rollback)) {
                    (false, _) => String::new(),
                    (true, Some(p)) => p.status.to_string(),
                    (true, None) => "not reached".to_string(),
                },
            );
        }
    }
    row.push(e.map(|e| e.min_api_version.clone()).unwrap_or_default());
    row.push(e.map(|e| e.image_store.clone()).unwrap_or_default());
    row.push(
        check
            .and_then(|c| c.perf.as_ref())
            .and_then(|p| p.p95_precision_pct)
            .map(|p| p.to_string())
            .unwrap_or_default(),
    );
    row.push(
        cell.engine
            .as_ref()
            .map(|e| e.cache.clone())
            .unwrap_or_default(),
    );
}

/// The check and perf columns (empty for a row without a check).
fn check_columns(row: &mut Vec<String>, check: Option<&CheckRecord>) {
    match check {
        None => row.extend(std::iter::repeat_n(String::new(), 15)),
        Some(ch) => {
            row.push(ch.suite.clone());
            row.push(ch.name.clone());
            row.push(ch.status.to_string());
            row.push(ch.duration_ms.to_string());
            row.push(ch.message.clone());
            match &ch.perf {
                None => row.extend(std::iter::repeat_n(String::new(), 10)),
                Some(p) => {
                    row.push(p.p50_ms.to_string());
                    row.push(p.p95_ms.to_string());
                    row.push(p.p99_ms.to_string());
                    row.push(p.ops_per_sec.to_string());
                    row.push(p.cv.to_string());
                    row.push(p.samples.to_string());
                    match &p.baseline {
                        None => row.extend(std::iter::repeat_n(String::new(), 4)),
                        Some(b) => {
                            row.push(b.p95_ms.to_string());
                            row.push(b.p95_delta_pct.to_string());
                            row.push(b.ops_delta_pct.to_string());
                            row.push(b.regressed.to_string());
                        }
                    }
                }
            }
        }
    }
}
