//! Reports: a run record rendered as a terminal table, Markdown, CSV, JSON, JUnit XML or a
//! self-contained HTML page (with inline SVG charts), with pivot grids; and comparisons of
//! two runs rendered.
//! Plain functions over [`crate::results`]: no Docker, no tokio, no terminal detection
//! (the caller decides colour). Every format renders from a [`text::sanitised`] copy of
//! the record, so escapes, control characters and secrets never reach an output.

pub mod compare;
mod csv;
mod html;
mod json;
mod junit;
mod known;
mod markdown;
pub mod pivot;
mod svg;
mod table;
pub mod text;
mod upgrade;

use std::path::{Path, PathBuf};

use indexmap::IndexMap;

pub use self::csv::{CSV_COLUMNS_AFTER_AXES, CSV_COLUMNS_BEFORE_AXES, render_csv};
pub use self::html::render_html;
pub use self::json::render_json;
pub use self::junit::render_junit;
pub use self::markdown::render_markdown;
pub use self::pivot::{Grid, Pivot, PivotError, Square};
pub use self::table::render_table;
use crate::results::{CellRecord, CellStatus, CheckRecord, CheckStatus, ResultsError, RunRecord};

/// How to render.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// ANSI colour (the terminal table only; the CLI sets it for a TTY without NO_COLOR).
    pub color: bool,
    /// The pivot grid asked for. `None`: the table shows cells, Markdown and HTML show
    /// [`pivot::default_pivots`].
    pub pivot: Option<Pivot>,
    /// The terminal table fits this many columns (the CLI passes the terminal's width, or
    /// `COLUMNS`); `None`: the full table, whatever its width.
    pub width: Option<usize>,
}

/// The formats of DESIGN.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Markdown,
    Csv,
    Json,
    Junit,
    Html,
}

impl Format {
    pub const ALL: [Format; 6] = [
        Format::Table,
        Format::Markdown,
        Format::Csv,
        Format::Json,
        Format::Junit,
        Format::Html,
    ];

    /// The file a run folder holds it in (the terminal table has none; JSON is the run
    /// record itself).
    pub fn file_name(self) -> Option<&'static str> {
        match self {
            Format::Table => None,
            Format::Markdown => Some("report.md"),
            Format::Csv => Some("report.csv"),
            Format::Json => Some(crate::results::RUN_FILE),
            Format::Junit => Some("junit.xml"),
            Format::Html => Some("report.html"),
        }
    }

    /// Whether `--pivot` means something for it.
    pub fn supports_pivot(self) -> bool {
        matches!(self, Format::Table | Format::Markdown | Format::Html)
    }
}

/// Renders `record` in `format`.
pub fn render(format: Format, record: &RunRecord, opts: &Options) -> String {
    match format {
        Format::Table => render_table(record, opts),
        Format::Markdown => render_markdown(record, opts),
        Format::Csv => render_csv(record, opts),
        Format::Json => render_json(record, opts),
        Format::Junit => render_junit(record, opts),
        Format::Html => render_html(record, opts),
    }
}

/// Writes `report.md`, `report.csv`, `junit.xml` and `report.html` into a run folder
/// (each atomically), with the default pivots. `run.json`, the JSON format, is the
/// results store's to write ([`RunRecord::save`]). Returns the files written.
pub fn write_all(record: &RunRecord, dir: &Path) -> Result<Vec<PathBuf>, ResultsError> {
    let opts = Options::default();
    let mut written = Vec::new();
    for format in [Format::Markdown, Format::Csv, Format::Junit, Format::Html] {
        let Some(name) = format.file_name() else {
            continue;
        };
        let path = dir.join(name);
        crate::results::write_atomically(&path, render(format, record, &opts).as_bytes())?;
        written.push(path);
    }
    Ok(written)
}

// ---- What several formats show the same way ----

/// The suites of a run, in the order its cells first show them.
pub(crate) fn suites(record: &RunRecord) -> Vec<String> {
    let mut seen: IndexMap<&str, ()> = IndexMap::new();
    for c in &record.cells {
        for ch in &c.checks {
            if !seen.contains_key(ch.suite.as_str()) {
                seen.insert(&ch.suite, ());
            }
        }
    }
    seen.into_keys().map(str::to_string).collect()
}

/// A cell's checks of one suite, counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tally {
    /// pass, known-fail, fixed.
    pub passed: usize,
    /// All but skipped.
    pub run: usize,
    pub symbol: &'static str,
    /// The status the symbol stands for (`None`: all skipped).
    pub worst: Option<CheckStatus>,
}

impl Tally {
    pub fn of<'a>(
        cell: &CellRecord,
        checks: impl Iterator<Item = &'a CheckRecord>,
    ) -> Option<Tally> {
        let mut any = false;
        let (mut passed, mut run) = (0, 0);
        let mut worst: Option<CheckStatus> = None;
        for ch in checks {
            any = true;
            if ch.status != CheckStatus::Skipped {
                run += 1;
            }
            if ch.status.counts_as_passed() {
                passed += 1;
            }
            if ch.status != CheckStatus::Skipped
                && worst.is_none_or(|w| severity(ch.status) > severity(w))
            {
                worst = Some(ch.status);
            }
        }
        if !any {
            return None;
        }
        let symbol = match worst {
            None => CheckStatus::Skipped.symbol(),
            Some(CheckStatus::Pass) if cell.status == CellStatus::Flaky => {
                CellStatus::Flaky.symbol()
            }
            Some(s) => s.symbol(),
        };
        Some(Tally {
            passed,
            run,
            symbol,
            worst,
        })
    }

    /// `✅ 30/30`, `❌ 28/30`, `– 0/0` (all skipped).
    pub fn label(&self) -> String {
        format!("{} {}/{}", self.symbol, self.passed, self.run)
    }

    /// A word for styling.
    pub fn class(&self) -> &'static str {
        match self.worst {
            None => "skipped",
            Some(CheckStatus::Pass) if self.symbol == CellStatus::Flaky.symbol() => "flaky",
            Some(s) => s.as_str(),
        }
    }
}

/// Which check status a suite's symbol shows first.
fn severity(s: CheckStatus) -> u8 {
    match s {
        CheckStatus::Skipped => 0,
        CheckStatus::Pass => 1,
        CheckStatus::KnownFail => 2,
        CheckStatus::Fixed => 3,
        CheckStatus::Error => 4,
        CheckStatus::Fail => 5,
    }
}

/// The checks a cell's suite columns and the check totals count: each check once. An
/// upgrade cell runs a check in several phases (`seed` on FROM, `verify` on TO,
/// `rollback` on FROM again); there it counts once, with its worst outcome of the phases
/// it ran in, so a column reads like a plain cell's (n checks) and a failure in any phase
/// shows.
pub(crate) fn counted_checks(cell: &CellRecord) -> Vec<&CheckRecord> {
    if cell.checks.iter().all(|c| c.phase.is_none()) {
        return cell.checks.iter().collect();
    }
    let mut worst: IndexMap<(&str, &str), &CheckRecord> = IndexMap::new();
    for ch in &cell.checks {
        let slot = worst.entry((&ch.suite, &ch.name)).or_insert(ch);
        if severity(ch.status) > severity(slot.status) {
            *slot = ch;
        }
    }
    worst.into_values().collect()
}

/// A cell's checks of all suites as one tally (`None`: it ran none).
pub(crate) fn check_totals_of(cell: &CellRecord) -> Option<Tally> {
    Tally::of(cell, counted_checks(cell).into_iter())
}

/// A cell's tally per suite of `suites` (`None` where it ran none of that suite).
pub(crate) fn tallies(cell: &CellRecord, suites: &[String]) -> Vec<Option<Tally>> {
    let checks = counted_checks(cell);
    suites
        .iter()
        .map(|s| Tally::of(cell, checks.iter().copied().filter(|c| &c.suite == s)))
        .collect()
}

/// All checks of the run, each counted once per cell ([`counted_checks`]): (passed, run).
pub(crate) fn check_totals(record: &RunRecord) -> (usize, usize) {
    let mut passed = 0;
    let mut run = 0;
    for ch in record.cells.iter().flat_map(counted_checks) {
        if ch.status != CheckStatus::Skipped {
            run += 1;
        }
        if ch.status.counts_as_passed() {
            passed += 1;
        }
    }
    (passed, run)
}

/// `28.5.2 overlay2`: what the engine reported, never what the matrix asked; with the
/// containerd image store `28.5.2 overlayfs/containerd`, and the API range the engine
/// accepts when it was measured (`API 1.44–1.51`); a dind engine's data is said too
/// (`… cached`, `… fresh`).
pub(crate) fn measured_engine(cell: &CellRecord) -> String {
    match &cell.engine {
        Some(e) if !e.server_version.is_empty() || !e.storage_driver.is_empty() => {
            let store = if e.image_store == "containerd" {
                "/containerd"
            } else {
                ""
            };
            let api = if e.min_api_version.is_empty() {
                String::new()
            } else {
                format!(" API {}–{}", e.min_api_version, e.api_version)
            };
            format!(
                "{} {}{store}{api} {}",
                e.server_version, e.storage_driver, e.cache
            )
            .trim_end()
            .to_string()
            .trim()
            .to_string()
        }
        _ => String::new(),
    }
}

/// The perf headline of a cell: the check whose p95 moved most against its baseline,
/// or the first perf check.
pub(crate) fn perf_headline(cell: &CellRecord) -> Option<PerfHeadline> {
    let perf: Vec<(&CheckRecord, &crate::results::PerfStats)> = cell
        .checks
        .iter()
        .filter_map(|c| c.perf.as_ref().map(|p| (c, p)))
        .collect();
    let pick = perf
        .iter()
        .filter(|(_, p)| p.baseline.is_some())
        .max_by(|(_, a), (_, b)| {
            let da = a.baseline.as_ref().map_or(0.0, |d| d.p95_delta_pct);
            let db = b.baseline.as_ref().map_or(0.0, |d| d.p95_delta_pct);
            da.total_cmp(&db)
        })
        .or(perf.first())?;
    Some(PerfHeadline {
        check: pick.0.name.clone(),
        p95_ms: pick.1.p95_ms,
        p95_precision_pct: pick.1.p95_precision_pct,
        delta_pct: pick.1.baseline.as_ref().map(|d| d.p95_delta_pct),
        regressed: pick.1.baseline.as_ref().is_some_and(|d| d.regressed),
    })
}

#[derive(Debug, Clone)]
pub(crate) struct PerfHeadline {
    pub check: String,
    pub p95_ms: f64,
    pub p95_precision_pct: Option<f64>,
    pub delta_pct: Option<f64>,
    pub regressed: bool,
}

impl PerfHeadline {
    /// `12.3 ms ±1.8%`, `12.3 ms ±1.8% +4.1%`, `15.0 ms ±0.9% +21.9% ⚠` (beyond
    /// tolerance): a p95 with its precision (the 95 % confidence half-width; none shown
    /// for runs made before it was measured).
    pub fn label(&self) -> String {
        let mut s = fmt_ms(self.p95_ms);
        if let Some(p) = crate::results::fmt_precision(self.p95_precision_pct) {
            s.push(' ');
            s.push_str(&p);
        }
        if let Some(d) = self.delta_pct {
            s.push_str(&format!(" {}", fmt_pct(d)));
        }
        if self.regressed {
            s.push_str(" ⚠");
        }
        s
    }
}

/// A p95 with its precision when measured: `1.23 ms ±1.8%`, else `1.23 ms`.
pub(crate) fn fmt_p95(ms: f64, precision_pct: Option<f64>) -> String {
    match crate::results::fmt_precision(precision_pct) {
        Some(p) => format!("{} {p}", fmt_ms(ms)),
        None => fmt_ms(ms),
    }
}

/// Milliseconds with three significant digits or so.
pub(crate) fn fmt_ms(ms: f64) -> String {
    if !ms.is_finite() {
        return "–".to_string();
    }
    let a = ms.abs();
    if a >= 100.0 {
        format!("{ms:.0} ms")
    } else if a >= 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

/// `+4.1%`, `-12.0%`.
pub(crate) fn fmt_pct(p: f64) -> String {
    if p.is_finite() {
        format!("{p:+.1}%")
    } else {
        "–".to_string()
    }
}

/// A step duration: `850 ms`, `12.4 s`, `3m 05s`.
pub(crate) fn fmt_duration(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        let s = ms / 1000;
        format!("{}m {:02}s", s / 60, s % 60)
    }
}

/// A cell's values for a sentence: `engine=28.5.2, storage-driver=vfs`.
pub(crate) fn describe_values(cell: &CellRecord) -> String {
    cell.values
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why a cell is not `pass`, in one paragraph: its reason, or for a flaky cell what its
/// earlier attempts said.
pub(crate) fn cell_note(cell: &CellRecord) -> String {
    if let Some(r) = cell.reason.as_deref().filter(|r| !r.trim().is_empty()) {
        return r.to_string();
    }
    if cell.status == CellStatus::Flaky {
        let earlier: Vec<String> = cell
            .previous_attempts
            .iter()
            .enumerate()
            .map(|(i, a)| match &a.reason {
                Some(r) => format!("attempt {}: {} ({r})", i + 1, a.status),
                None => format!("attempt {}: {}", i + 1, a.status),
            })
            .collect();
        if !earlier.is_empty() {
            return format!(
                "passed on attempt {}; {}",
                cell.attempts,
                earlier.join("; ")
            );
        }
    }
    String::new()
}

/// The summary line: `7 cells: 2 ✅ pass, 1 ❌ fail · 41/45 checks passed`.
pub fn summary_line(record: &RunRecord) -> String {
    let s = record.summary();
    let parts: Vec<String> = [
        (s.pass, CellStatus::Pass),
        (s.flaky, CellStatus::Flaky),
        (s.unsupported, CellStatus::Unsupported),
        (s.fail, CellStatus::Fail),
        (s.error, CellStatus::Error),
        (s.cancelled, CellStatus::Cancelled),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, st)| format!("{n} {} {st}", st.symbol()))
    .collect();
    let (passed, run) = check_totals(record);
    let mut line = format!(
        "{} cell{}: {}",
        s.total,
        if s.total == 1 { "" } else { "s" },
        if parts.is_empty() {
            "none".to_string()
        } else {
            parts.join(", ")
        }
    );
    line.push_str(&format!(" · {passed}/{run} checks passed"));
    if record.interrupted {
        line.push_str(" · interrupted");
    }
    line
}

/// Whether "What failed" details the cell: it did not pass, or a check of it failed.
pub(crate) fn needs_attention(c: &CellRecord) -> bool {
    c.status != CellStatus::Pass || c.checks.iter().any(|ch| ch.status.fails_cell())
}

/// Cells in the order "what failed" lists them: fail, error, flaky, unsupported,
/// cancelled; each in run order.
pub(crate) fn cells_needing_attention(record: &RunRecord) -> Vec<&CellRecord> {
    let rank = |s: CellStatus| match s {
        CellStatus::Fail => 0,
        CellStatus::Error => 1,
        CellStatus::Flaky => 2,
        CellStatus::Unsupported => 3,
        CellStatus::Cancelled => 4,
        CellStatus::Pass => 5,
    };
    let mut out: Vec<&CellRecord> = record.cells.iter().filter(|c| needs_attention(c)).collect();
    out.sort_by_key(|c| rank(c.status));
    out
}

/// The grids a format shows: the one asked for; else the first default one, or with
/// `all_defaults` every default grid that does not repeat an earlier one square for square
/// (axes that vary together, like a service pinned to another's version, add nothing).
pub(crate) fn grids_for(record: &RunRecord, opts: &Options, all_defaults: bool) -> Vec<Grid> {
    let pivots = match &opts.pivot {
        Some(p) => vec![p.clone()],
        None if all_defaults => pivot::default_pivots(record),
        None => pivot::default_pivots(record).into_iter().take(1).collect(),
    };
    let mut grids: Vec<Grid> = Vec::new();
    for p in pivots {
        let g = Grid::build(record, &p);
        let labels = |g: &Grid| -> Vec<Vec<String>> {
            g.squares
                .iter()
                .map(|r| r.iter().map(Square::label).collect())
                .collect()
        };
        let l = labels(&g);
        if !g.rows.is_empty() && !grids.iter().any(|o| o.rows == g.rows && labels(o) == l) {
            grids.push(g);
        }
    }
    grids
}
