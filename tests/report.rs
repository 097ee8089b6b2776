//! Reports, compare and merge, driven by run records in `tests/data/` (a record shaped
//! like a real demo run; tests read what it holds instead of assuming it, so a frozen
//! real run can replace it). Snapshots have ids, timestamps and durations redacted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dockmatrix::matrix::{Cell, Partition};
use dockmatrix::report::{self, Format, Options, Pivot};
use dockmatrix::results::compare::compare;
use dockmatrix::results::merge::{MergeError, merge};
use dockmatrix::results::{
    CellRecord, CellStatus, CheckStatus, FindingLevel, RunRecord, UpgradePhase,
};

use crate::common::{dockmatrix, root, stderr, stdout};

/// The JUnit writer as it was (quick-junit), to hold the direct writer to it.
#[path = "../benches/support/junit_reference.rs"]
mod junit_reference;

fn mixed_dir() -> PathBuf {
    root().join("tests/data/run-mixed")
}

fn mixed() -> RunRecord {
    RunRecord::load(&mixed_dir()).expect("tests/data/run-mixed/run.json loads")
}

/// Ids, timestamps and durations replaced by stable stand-ins, so snapshots say what a
/// report shows, not when a run happened.
pub(crate) fn redacted(mut r: RunRecord) -> RunRecord {
    r.run_id = "[run-id]".into();
    r.matrix.hash = "[matrix-hash]".into();
    r.started_at = "2000-01-01T00:00:00Z".into();
    r.finished_at = r.finished_at.map(|_| "2000-01-01T00:10:00Z".into());
    r.host.hostname = "[host]".into();
    if let Some((version, _commit)) = r.tool_version.split_once(" (commit ") {
        r.tool_version = version.to_string();
    }
    for c in &mut r.cells {
        if let Some((stem, _hash)) = c.id.rsplit_once('-') {
            c.id = format!("{stem}-[id]");
        }
        let d = &mut c.durations_ms;
        for v in [
            &mut d.engine,
            &mut d.images,
            &mut d.services,
            &mut d.checks,
            &mut d.teardown,
            &mut d.total,
        ] {
            if *v > 0 {
                *v = 1234;
            }
        }
        for ch in &mut c.checks {
            if ch.duration_ms > 0 {
                ch.duration_ms = 1234;
            }
            if let Some(b) = ch.perf.as_mut().and_then(|p| p.baseline.as_mut()) {
                b.run_id = "[baseline-run-id]".into();
            }
        }
        for img in &mut c.images {
            img.digest = "[digest]".into();
        }
        for p in c.upgrade.iter_mut().flat_map(|u| &mut u.phases) {
            if p.duration_ms > 0 {
                p.duration_ms = 1234;
            }
        }
    }
    r
}

pub(crate) fn render(format: Format, r: &RunRecord) -> String {
    report::render(format, r, &Options::default())
}

fn statuses(r: &RunRecord) -> impl Iterator<Item = CellStatus> + '_ {
    r.cells.iter().map(|c| c.status)
}

#[test]
fn fixture_covers_every_status() {
    let r = mixed();
    for s in [
        CellStatus::Pass,
        CellStatus::Fail,
        CellStatus::Flaky,
        CellStatus::Unsupported,
        CellStatus::Error,
        CellStatus::Cancelled,
    ] {
        assert!(statuses(&r).any(|x| x == s), "no {s} cell in the fixture");
    }
    let checks: Vec<CheckStatus> = r
        .cells
        .iter()
        .flat_map(|c| &c.checks)
        .map(|c| c.status)
        .collect();
    for s in [
        CheckStatus::Pass,
        CheckStatus::Fail,
        CheckStatus::Skipped,
        CheckStatus::KnownFail,
        CheckStatus::Fixed,
        CheckStatus::Error,
    ] {
        assert!(checks.contains(&s), "no {s} check in the fixture");
    }
    let perf: Vec<_> = r
        .cells
        .iter()
        .flat_map(|c| &c.checks)
        .filter_map(|c| c.perf.as_ref())
        .collect();
    assert!(perf.iter().any(|p| p.baseline.is_some()) && perf.iter().any(|p| p.baseline.is_none()));
    assert!(
        r.cells
            .iter()
            .flat_map(|c| &c.services)
            .any(|s| !s.log_tail.is_empty())
    );
    // Upgrade cells: a passing one with a rollback, a driver switch that failed at
    // verify with findings, and one the TO engine refused.
    let up = |c: &&CellRecord| c.upgrade.clone();
    assert!(r.cells.iter().filter_map(|c| up(&c)).any(|u| {
        u.rollback
            && u.phase(UpgradePhase::Rollback)
                .is_some_and(|p| p.status == CellStatus::Pass)
    }));
    assert!(r.cells.iter().filter_map(|c| up(&c)).any(|u| {
        u.from_driver != u.to_driver
            && u.phase(UpgradePhase::Verify)
                .is_some_and(|p| p.status == CellStatus::Fail && !p.findings.is_empty())
    }));
    assert!(r.cells.iter().any(|c| {
        c.status == CellStatus::Unsupported
            && c.upgrade
                .as_ref()
                .and_then(|u| u.phase(UpgradePhase::Upgrade))
                .is_some_and(|p| p.status == CellStatus::Unsupported)
    }));
    assert!(
        r.cells
            .iter()
            .flat_map(|c| &c.preflight)
            .any(|f| f.level == FindingLevel::Warn)
    );
    assert!(
        r.cells
            .iter()
            .flat_map(|c| &c.preflight)
            .any(|f| f.level == FindingLevel::Ok)
    );
}

// ---- snapshots ----

#[test]
fn snapshot_table() {
    insta::assert_snapshot!("table", render(Format::Table, &redacted(mixed())));
}

#[test]
fn snapshot_table_pivot() {
    let opts = Options {
        color: false,
        pivot: Some(Pivot::new("engine", "storage-driver")),
        width: None,
    };
    insta::assert_snapshot!(
        "table_pivot",
        report::render(Format::Table, &redacted(mixed()), &opts)
    );
}

#[test]
fn snapshot_markdown() {
    insta::assert_snapshot!("markdown", render(Format::Markdown, &redacted(mixed())));
}

#[test]
fn snapshot_csv() {
    insta::assert_snapshot!("csv", render(Format::Csv, &redacted(mixed())));
}

#[test]
fn snapshot_json() {
    insta::assert_snapshot!("json", render(Format::Json, &redacted(mixed())));
}

#[test]
fn snapshot_junit() {
    insta::assert_snapshot!("junit", render(Format::Junit, &redacted(mixed())));
}

#[test]
fn snapshot_html() {
    insta::assert_snapshot!("html", render(Format::Html, &redacted(mixed())));
}

// ---- what each format holds, read back by an independent parser ----

/// The label a pivot square must show, computed here from DESIGN.md's rule.
fn expected_square(statuses: &[CellStatus]) -> String {
    if statuses.is_empty() {
        return String::new();
    }
    if statuses.iter().all(|s| *s == statuses[0]) {
        return statuses[0].symbol().to_string();
    }
    let p = statuses
        .iter()
        .filter(|s| matches!(s, CellStatus::Pass | CellStatus::Flaky))
        .count();
    let t = statuses
        .iter()
        .filter(|s| **s != CellStatus::Unsupported)
        .count();
    format!("◐ {p}/{t}")
}

/// (row value, column value) → statuses of the cells there.
fn squares(r: &RunRecord, rows: &str, cols: &str) -> BTreeMap<(String, String), Vec<CellStatus>> {
    let mut m: BTreeMap<(String, String), Vec<CellStatus>> = BTreeMap::new();
    for c in &r.cells {
        if let (Some(a), Some(b)) = (c.values.get(rows), c.values.get(cols)) {
            m.entry((a.clone(), b.clone())).or_default().push(c.status);
        }
    }
    m
}

fn text_of<'a>(node: &'a comrak::nodes::AstNode<'a>) -> String {
    node.descendants()
        .filter_map(|n| match &n.data().value {
            comrak::nodes::NodeValue::Text(t) => Some(t.to_string()),
            comrak::nodes::NodeValue::Code(c) => Some(c.literal.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn markdown_is_gfm_with_one_row_per_cell() {
    let r = mixed();
    let md = render(Format::Markdown, &r);
    let arena = comrak::Arena::new();
    let mut opts = comrak::Options::default();
    opts.extension.table = true;
    let doc = comrak::parse_document(&arena, &md, &opts);
    // Each table: (header texts, body rows as texts).
    let mut tables: Vec<(Vec<String>, Vec<Vec<String>>)> = Vec::new();
    for node in doc.descendants() {
        if !matches!(node.data().value, comrak::nodes::NodeValue::Table(_)) {
            continue;
        }
        let mut header = Vec::new();
        let mut body = Vec::new();
        for row in node.children() {
            let is_header = matches!(row.data().value, comrak::nodes::NodeValue::TableRow(true));
            let cells: Vec<String> = row.children().map(text_of).collect();
            if is_header {
                header = cells;
            } else {
                body.push(cells);
            }
        }
        tables.push((header, body));
    }
    let cells_table = tables
        .iter()
        .find(|(h, _)| h.iter().any(|x| x == "status"))
        .expect("a cell table");
    assert_eq!(cells_table.1.len(), r.cells.len(), "one table row per cell");
    let status_col = cells_table
        .0
        .iter()
        .position(|x| x == "status")
        .expect("status column");
    for (row, cell) in cells_table.1.iter().zip(&r.cells) {
        assert_eq!(
            row[status_col],
            format!("{} {}", cell.status.symbol(), cell.status)
        );
        assert_eq!(row.len(), cells_table.0.len());
    }
    // The pivot: engine × storage-driver, one row per engine, squares per DESIGN.md.
    let grid = tables
        .iter()
        .find(|(h, _)| h.first().is_some_and(|x| x == "engine \\ storage-driver"))
        .expect("the engine × storage-driver grid");
    let expected = squares(&r, "engine", "storage-driver");
    let engines: std::collections::BTreeSet<&String> = expected.keys().map(|k| &k.0).collect();
    assert_eq!(grid.1.len(), engines.len());
    for row in &grid.1 {
        for (ci, driver) in grid.0.iter().enumerate().skip(1) {
            let st = expected
                .get(&(row[0].clone(), driver.clone()))
                .cloned()
                .unwrap_or_default();
            assert_eq!(
                row[ci].trim(),
                expected_square(&st),
                "square {} × {driver}",
                row[0]
            );
        }
    }
    // What failed: every failing check's message and every non-passing cell's reason.
    let after = md
        .split("### What failed")
        .nth(1)
        .expect("a What failed section");
    for c in &r.cells {
        for ch in c.checks.iter().filter(|ch| ch.status.fails_cell()) {
            let first = ch.message.lines().next().unwrap_or_default();
            assert!(after.contains(first), "message of {} missing", ch.name);
        }
        if c.status != CellStatus::Pass {
            let reason = c.reason.as_deref().unwrap_or_default();
            let first = reason.lines().next().unwrap_or_default();
            assert!(after.contains(first), "reason of {} missing", c.id);
        }
    }
}

/// Whether an upgrade phase of the cell did not pass (its testcase explains the cell).
fn phases_explain(c: &CellRecord) -> bool {
    c.upgrade
        .as_ref()
        .is_some_and(|u| u.phases.iter().any(|p| p.status != CellStatus::Pass))
}

/// Whether a cell gets a testcase of its own (see report::junit).
fn has_cell_case(c: &CellRecord) -> bool {
    let explained = phases_explain(c) || c.checks.iter().any(|ch| ch.status.fails_cell());
    match c.status {
        CellStatus::Pass => c.checks.is_empty(),
        CellStatus::Flaky => true,
        CellStatus::Fail | CellStatus::Error => !explained,
        CellStatus::Unsupported | CellStatus::Cancelled => !phases_explain(c),
    }
}

/// The upgrade phases of the run with the given statuses.
fn phases_with(r: &RunRecord, st: &[CellStatus]) -> usize {
    r.cells
        .iter()
        .filter_map(|c| c.upgrade.as_ref())
        .flat_map(|u| &u.phases)
        .filter(|p| st.contains(&p.status))
        .count()
}

/// A check's testcase name in JUnit: prefixed by its phase when it has one.
fn case_name(ch: &dockmatrix::results::CheckRecord) -> String {
    match &ch.phase {
        Some(p) => format!("[{p}] {}", ch.name),
        None => ch.name.clone(),
    }
}

#[test]
fn junit_read_back_by_roxmltree() {
    let r = mixed();
    let xml = render(Format::Junit, &r);
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suites: Vec<_> = root
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suites.len(), r.cells.len(), "one testsuite per cell");

    let checks = || r.cells.iter().flat_map(|c| &c.checks);
    let count = |s: CheckStatus| checks().filter(|c| c.status == s).count();
    let cell_cases = |st: &[CellStatus]| {
        r.cells
            .iter()
            .filter(|c| has_cell_case(c) && st.contains(&c.status))
            .count()
    };
    let all_phases = [
        CellStatus::Pass,
        CellStatus::Flaky,
        CellStatus::Fail,
        CellStatus::Error,
        CellStatus::Unsupported,
        CellStatus::Cancelled,
    ];
    let cases = checks().count()
        + r.cells.iter().filter(|c| has_cell_case(c)).count()
        + phases_with(&r, &all_phases);
    let failures = count(CheckStatus::Fail)
        + cell_cases(&[CellStatus::Fail])
        + phases_with(&r, &[CellStatus::Fail]);
    let errors = count(CheckStatus::Error)
        + cell_cases(&[CellStatus::Error])
        + phases_with(&r, &[CellStatus::Error]);
    let skipped = count(CheckStatus::Skipped)
        + count(CheckStatus::KnownFail)
        + cell_cases(&[CellStatus::Unsupported, CellStatus::Cancelled])
        + phases_with(&r, &[CellStatus::Unsupported, CellStatus::Cancelled]);
    assert!(
        phases_with(&r, &all_phases) > 0,
        "the fixture holds upgrade phases"
    );

    let all = |tag: &str| doc.descendants().filter(|n| n.has_tag_name(tag)).count();
    assert_eq!(all("testcase"), cases);
    assert_eq!(all("failure"), failures);
    assert_eq!(all("error"), errors);
    assert_eq!(all("skipped"), skipped);
    let attr = |name: &str| root.attribute(name).and_then(|v| v.parse::<usize>().ok());
    assert_eq!(attr("tests"), Some(cases));
    assert_eq!(attr("failures"), Some(failures));
    assert_eq!(attr("errors"), Some(errors));
    assert_eq!(attr("skipped"), Some(skipped));

    // Flaky cells: their earlier attempts as flakyFailure/flakyError.
    let earlier: usize = r
        .cells
        .iter()
        .filter(|c| c.status == CellStatus::Flaky)
        .map(|c| c.previous_attempts.len())
        .sum();
    assert_eq!(all("flakyFailure") + all("flakyError"), earlier);

    // Each suite: the cell's status as a property; failures carry the check's message.
    for (suite, cell) in suites.iter().zip(&r.cells) {
        let status = suite
            .descendants()
            .find(|n| {
                n.has_tag_name("property") && n.attribute("name") == Some("dockmatrix.status")
            })
            .and_then(|n| n.attribute("value"));
        assert_eq!(status, Some(cell.status.as_str()));
        for ch in cell.checks.iter().filter(|c| c.status == CheckStatus::Fail) {
            let case = suite
                .children()
                .find(|n| {
                    n.has_tag_name("testcase")
                        && n.attribute("name") == Some(case_name(ch).as_str())
                })
                .expect("a testcase per check");
            let failure = case
                .children()
                .find(|n| n.has_tag_name("failure"))
                .expect("failure");
            let first = ch.message.lines().next().unwrap_or_default();
            assert!(
                failure
                    .attribute("message")
                    .is_some_and(|m| m.contains(first))
            );
            assert_eq!(failure.text().map(str::trim), Some(ch.message.trim()));
        }
        let names: Vec<&str> = suite
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .filter_map(|n| n.attribute("name"))
            .collect();
        let unique: std::collections::BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(
            unique.len(),
            names.len(),
            "testcase names unique in {}",
            cell.id
        );
        if cell.checks.is_empty() {
            let case = suite
                .children()
                .find(|n| n.has_tag_name("testcase"))
                .expect("a cell without checks still has a testcase");
            let reason = cell.reason.as_deref().unwrap_or_default();
            let text: String = case.descendants().filter_map(|n| n.text()).collect();
            let msg: String = case
                .children()
                .filter_map(|n| n.attribute("message"))
                .collect();
            assert!(
                text.contains(reason.lines().next().unwrap_or_default())
                    || msg.contains(reason.lines().next().unwrap_or_default()),
                "the testcase of {} carries its reason",
                cell.id
            );
        }
    }
}

#[test]
fn csv_rows_and_columns() {
    let r = mixed();
    let text = render(Format::Csv, &r);
    let mut rd = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = rd
        .headers()
        .expect("header")
        .iter()
        .map(str::to_string)
        .collect();
    let axes = report::pivot::all_axes(&r);
    let expected: Vec<String> = report::CSV_COLUMNS_BEFORE_AXES
        .iter()
        .map(|s| s.to_string())
        .chain(axes.iter().cloned())
        .chain(report::CSV_COLUMNS_AFTER_AXES.iter().map(|s| s.to_string()))
        .collect();
    assert_eq!(header, expected);
    // Columns added later come last, so older consumers keep theirs where they were.
    assert_eq!(
        header[header.len() - 11..],
        [
            "phase",
            "upgrade_from",
            "upgrade_to",
            "upgrade_driver",
            "data_kept",
            "containers_back",
            "rollback",
            "min_api_version",
            "image_store",
            "p95_precision_pct",
            "engine_cache"
        ]
    );
    let rows: Vec<csv::StringRecord> = rd.records().map(|x| x.expect("row")).collect();
    let expected_rows: usize = r.cells.iter().map(|c| c.checks.len().max(1)).sum();
    assert_eq!(rows.len(), expected_rows);
    let col = |n: &str| header.iter().position(|h| h == n).expect("column");
    let mut i = 0;
    for c in &r.cells {
        for k in 0..c.checks.len().max(1) {
            let row = &rows[i];
            assert_eq!(&row[col("cell_id")], c.id);
            assert_eq!(&row[col("cell_status")], c.status.as_str());
            match c.checks.get(k) {
                Some(ch) => {
                    assert_eq!(&row[col("check")], ch.name);
                    assert_eq!(&row[col("check_status")], ch.status.as_str());
                    assert_eq!(&row[col("phase")], ch.phase.map_or("", |p| p.as_str()));
                }
                None => assert_eq!(&row[col("check")], ""),
            }
            i += 1;
        }
    }
}

#[test]
fn json_is_the_run_record() {
    let r = mixed();
    let back: RunRecord = serde_json::from_str(&render(Format::Json, &r)).expect("run.json");
    assert_eq!(back.schema, dockmatrix::results::SCHEMA);
    assert_eq!(back.cells.len(), r.cells.len());
    for (a, b) in back.cells.iter().zip(&r.cells) {
        assert_eq!(a.values, b.values);
        assert_eq!(a.status, b.status);
        assert_eq!(a.checks.len(), b.checks.len());
    }
    assert_eq!(back, report::text::sanitised(&r).into_owned());
}

#[test]
fn colour_only_when_asked() {
    let r = mixed();
    let plain = render(Format::Table, &r);
    assert!(!plain.contains('\x1b'));
    let coloured = report::render(
        Format::Table,
        &r,
        &Options {
            color: true,
            pivot: None,
            width: None,
        },
    );
    assert!(coloured.contains("\x1b[32m✅ pass\x1b[0m"));
    // Colour codes are the only difference: the layout is the plain table's.
    assert_eq!(report::text::clean(&coloured), plain);
}

// ---- hostile container output ----

const SECRET: &str = "hunter2-s3cret";

fn hostile_text() -> String {
    let invalid = String::from_utf8_lossy(b"bytes \xff\xfe\xc3 not utf-8").into_owned();
    format!(
        "{invalid} <script>alert('x')</script> \x1b[31mRED\x1b[0m \x1b]8;;http://evil.example\x07link\x1b]8;;\x07 \
         postgres://app:{SECRET}@db:5432/x POSTGRES_PASSWORD={SECRET} | pipe ]]> & \u{0}nul\n\
         second line </pre></td></table> `code` *em* [l](http://x)"
    )
}

fn hostile_record() -> RunRecord {
    let mut r = mixed();
    let t = hostile_text();
    for c in &mut r.cells {
        if c.status != CellStatus::Pass {
            c.reason = Some(t.clone());
        }
        for ch in &mut c.checks {
            if ch.status.fails_cell() || ch.status == CheckStatus::Skipped {
                ch.message = t.clone();
            }
        }
        for s in &mut c.services {
            s.log_tail = vec![t.clone(), format!("API_TOKEN={SECRET} \x1b[1mbold\x1b[0m")];
        }
        for a in &mut c.previous_attempts {
            a.reason = Some(t.clone());
        }
        for f in &mut c.preflight {
            f.reason = t.clone();
        }
        if let Some(u) = &mut c.upgrade {
            for p in &mut u.phases {
                p.reason = Some(t.clone());
                p.findings = vec![t.clone(), format!("SECRET_KEY={SECRET}")];
            }
        }
    }
    assert!(
        r.cells
            .iter()
            .any(|c| c.upgrade.is_some() && !c.preflight.is_empty())
    );
    r.warnings.push(t);
    r
}

#[test]
fn hostile_output_is_inert_in_every_format() {
    let r = hostile_record();
    for format in Format::ALL {
        let out = render(format, &r);
        assert!(!out.contains(SECRET), "{format:?} shows a secret");
        assert!(!out.contains('\x1b'), "{format:?} keeps an escape sequence");
        assert!(!out.contains('\0'), "{format:?} keeps a NUL");
        assert!(
            out.contains('\u{fffd}'),
            "{format:?} lost the replaced bytes"
        );
        assert!(
            !out.contains("evil.example"),
            "{format:?} keeps an OSC 8 link target"
        );
    }
    let html = render(Format::Html, &r);
    assert!(!html.contains("<script"), "HTML holds a live script tag");
    assert!(html.contains("&lt;script&gt;"));
    assert!(!html.contains("</pre></td></table>"));
    // Markdown rendered with raw HTML allowed: our escaping, not the renderer's, keeps
    // the script out.
    let md = render(Format::Markdown, &r);
    let mut opts = comrak::Options::default();
    opts.extension.table = true;
    opts.render.r#unsafe = true;
    let rendered = comrak::markdown_to_html(&md, &opts);
    assert!(
        !rendered.contains("<script"),
        "Markdown renders a script tag"
    );
    // Structured formats still parse.
    roxmltree::Document::parse(&render(Format::Junit, &r)).expect("JUnit stays well-formed");
    let csv_text = render(Format::Csv, &r);
    let mut rd = csv::Reader::from_reader(csv_text.as_bytes());
    assert!(rd.records().all(|x| x.is_ok()));
    serde_json::from_str::<RunRecord>(&render(Format::Json, &r)).expect("JSON parses");
}

// ---- merge ----

/// The fixture split into 3 shards by the real partitioner (`hash:M/3`).
fn shards_of(whole: &RunRecord) -> Vec<RunRecord> {
    let cells: Vec<Cell> = whole
        .cells
        .iter()
        .map(|c| Cell::new(c.values.clone()))
        .collect();
    (1..=3)
        .map(|m| {
            let p: Partition = format!("hash:{m}/3").parse().expect("partition");
            let picked = p.select(cells.clone());
            let mut shard = whole.clone();
            shard.run_id = format!("20261127T09000{m}Z-000{m}");
            shard.partition = Some(p.to_string());
            shard.started_at = format!("2026-11-27T09:0{m}:00Z");
            shard.finished_at = Some(format!("2026-11-27T09:1{m}:00Z"));
            shard
                .cells
                .retain(|c| picked.iter().any(|x| x.values == c.values));
            shard
        })
        .collect()
}

#[test]
fn merged_shards_equal_the_whole() {
    let whole = mixed();
    let shards = shards_of(&whole);
    assert_eq!(
        shards.iter().map(|s| s.cells.len()).sum::<usize>(),
        whole.cells.len()
    );
    // Merge in a shuffled order: the result must not depend on it.
    let merged = merge(&[shards[2].clone(), shards[0].clone(), shards[1].clone()]).expect("merges");
    assert_eq!(merged.cells.len(), whole.cells.len());
    for c in &whole.cells {
        let m = merged
            .cell_by_values(&c.values)
            .expect("every cell of the whole is merged");
        assert_eq!(m, c, "cell {} differs", c.id);
    }
    assert_eq!(
        merged.merged_from,
        [
            "20261127T090001Z-0001",
            "20261127T090002Z-0002",
            "20261127T090003Z-0003"
        ]
    );
    assert_eq!(
        merged.partition.as_deref(),
        Some("hash:1/3,hash:2/3,hash:3/3")
    );
    assert_eq!(merged.started_at, "2026-11-27T09:01:00Z");
    assert_eq!(merged.finished_at.as_deref(), Some("2026-11-27T09:13:00Z"));
    assert_eq!(merged.matrix, whole.matrix);
    assert_eq!(merged.summary(), whole.summary());
    // Two shards only: merged, with a warning naming the missing one.
    let partial = merge(&shards[..2]).expect("merges");
    assert!(
        partial
            .warnings
            .iter()
            .any(|w| w.contains("hash:3/3 missing")),
        "{:?}",
        partial.warnings
    );
}

#[test]
fn merge_refuses_other_matrices_and_overlaps() {
    let whole = mixed();
    let mut shards = shards_of(&whole);
    shards[1].matrix.hash = "0000".into();
    let e = merge(&shards).expect_err("different matrices");
    assert!(matches!(e, MergeError::DifferentMatrix { .. }));
    let mut shards = shards_of(&whole);
    let stolen = shards[0].cells[0].clone();
    shards[1].cells.push(stolen.clone());
    match merge(&shards) {
        Err(MergeError::Overlap { cell, .. }) => assert_eq!(cell, stolen.id),
        other => panic!("expected an overlap, got {other:?}"),
    }
}

fn save_in(dir: &Path, r: &RunRecord) -> PathBuf {
    std::fs::create_dir_all(dir).expect("dir");
    r.save(dir).expect("saved");
    dir.to_path_buf()
}

#[test]
fn merge_command_writes_a_run_folder() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let whole = mixed();
    let dirs: Vec<PathBuf> = shards_of(&whole)
        .iter()
        .enumerate()
        .map(|(i, s)| save_in(&tmp.path().join(format!("shard{i}")), s))
        .collect();
    let out = tmp.path().join("merged");
    let args: Vec<&str> = ["merge"]
        .into_iter()
        .chain(dirs.iter().map(|d| d.to_str().expect("utf-8 path")))
        .chain(["--out", out.to_str().expect("utf-8 path")])
        .collect();
    let o = dockmatrix(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for f in [
        "run.json",
        "report.md",
        "report.csv",
        "junit.xml",
        "report.html",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let merged = RunRecord::load(&out).expect("merged run.json");
    assert_eq!(merged.cells.len(), whole.cells.len());

    // Overlap: the same shard twice under another id → exit 2 naming the cell.
    let mut dup = RunRecord::load(&dirs[0]).expect("shard");
    dup.run_id.push_str("-again");
    let dup_dir = save_in(&tmp.path().join("dup"), &dup);
    let o = dockmatrix(&[
        "merge",
        dirs[0].to_str().expect("path"),
        dup_dir.to_str().expect("path"),
        "--out",
        tmp.path().join("x").to_str().expect("path"),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains(&dup.cells[0].id), "{}", stderr(&o));

    // Another matrix → exit 2.
    let mut other = RunRecord::load(&dirs[1]).expect("shard");
    other.matrix.hash = "ffff".into();
    let other_dir = save_in(&tmp.path().join("other"), &other);
    let o = dockmatrix(&[
        "merge",
        dirs[0].to_str().expect("path"),
        other_dir.to_str().expect("path"),
        "--out",
        tmp.path().join("y").to_str().expect("path"),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("another matrix"), "{}", stderr(&o));
}

// ---- compare ----

/// The fixture with one passing cell deliberately broken: a check fails.
fn with_broken_cell(base: &RunRecord) -> (RunRecord, CellRecord) {
    let mut new = base.clone();
    new.run_id = "20261128T090000Z-beef".into();
    let cell = new
        .cells
        .iter_mut()
        .find(|c| {
            c.status == CellStatus::Pass && c.checks.iter().any(|ch| ch.status == CheckStatus::Pass)
        })
        .expect("a passing cell");
    cell.status = CellStatus::Fail;
    cell.reason = Some("1 check failed".into());
    let ch = cell
        .checks
        .iter_mut()
        .find(|ch| ch.status == CheckStatus::Pass)
        .expect("a passing check");
    ch.status = CheckStatus::Fail;
    ch.message = "expected PONG, got ERR".into();
    let broken = cell.clone();
    (new, broken)
}

#[test]
fn compare_finds_the_broken_cell() {
    let base = mixed();
    let (new, broken) = with_broken_cell(&base);
    let c = compare(&base, &new, 15.0);
    assert!(c.regressed);
    assert_eq!(c.cells.len(), 1);
    assert_eq!(c.cells[0].values, broken.values);
    assert_eq!(c.checks.len(), 1);
    assert!(c.only_in_base.is_empty() && c.only_in_new.is_empty());
    assert_eq!(c.unchanged, base.cells.len() - 1);
    let same = compare(&base, &base, 15.0);
    assert!(
        !same.regressed && same.cells.is_empty() && same.checks.is_empty() && same.perf.is_empty()
    );
    // An upgrade cell's check is matched phase by phase: only the broken phase changes.
    let mut broken_verify = base.clone();
    let ch = broken_verify
        .cells
        .iter_mut()
        .filter(|c| c.status == CellStatus::Pass)
        .flat_map(|c| &mut c.checks)
        .find(|ch| ch.phase == Some(UpgradePhase::Verify))
        .expect("a passing verify check");
    ch.status = CheckStatus::Fail;
    let c = compare(&base, &broken_verify, 15.0);
    assert_eq!(c.checks.len(), 1);
    assert_eq!(c.checks[0].phase, Some(UpgradePhase::Verify));
    // Perf alone: a p95 50 % slower is a regression.
    let mut slow = base.clone();
    let p = slow
        .cells
        .iter_mut()
        .flat_map(|c| &mut c.checks)
        .find_map(|ch| ch.perf.as_mut())
        .expect("a perf check");
    p.p95_ms *= 1.5;
    let c = compare(&base, &slow, 15.0);
    assert!(c.regressed && c.perf.len() == 1 && c.perf[0].regressed);
    assert!(
        !compare(&base, &slow, 60.0).regressed,
        "within a 60 % tolerance"
    );
}

#[test]
fn compare_command_exits_1_on_regression() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let base = mixed();
    let (new, broken) = with_broken_cell(&base);
    let new_dir = save_in(&tmp.path().join("new"), &new);
    let base_dir = mixed_dir();
    let b = base_dir.to_str().expect("path");
    let n = new_dir.to_str().expect("path");
    let o = dockmatrix(&["compare", b, n]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    let engine = broken.values.get("engine").expect("engine value");
    assert!(
        out.contains("broken") && out.contains(engine.as_str()),
        "{out}"
    );
    // Newly broken first, in every format.
    let o = dockmatrix(&["compare", n, b, "--format", "json"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "the reverse is a fix: {}",
        stderr(&o)
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(v["regressed"], false);
    assert_eq!(v["cells"][0]["change"], "fixed");
    let o = dockmatrix(&["compare", b, n, "--format", "markdown"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("### Cells whose status changed"));
    let o = dockmatrix(&["compare", b, b]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = dockmatrix(&["compare", b, "/nonexistent/run"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("failed to read"), "{}", stderr(&o));
}

// ---- the report command and write_all ----

#[test]
fn report_command() {
    let dir = mixed_dir();
    let d = dir.to_str().expect("path");
    let o = dockmatrix(&["report", d, "--format", "csv"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), render(Format::Csv, &mixed()));
    let o = dockmatrix(&[
        "report",
        &format!("{d}/run.json"),
        "--pivot",
        "engine,storage-driver",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("engine \\ storage-driver"));
    assert!(
        !stdout(&o).contains('\x1b'),
        "no colour when stdout is not a terminal"
    );
    let o = dockmatrix(&["report", d, "--pivot", "engine,nope"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no axis `nope`"), "{}", stderr(&o));
    let o = dockmatrix(&[
        "report",
        d,
        "--format",
        "csv",
        "--pivot",
        "engine,storage-driver",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let o = dockmatrix(&["report", "/nonexistent/run"]);
    assert_eq!(o.status.code(), Some(2));
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("r.html");
    let o = dockmatrix(&[
        "report",
        d,
        "--format",
        "html",
        "-o",
        file.to_str().expect("path"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(&file).expect("written"),
        render(Format::Html, &mixed())
    );
}

#[test]
fn write_all_fills_a_run_folder() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let r = mixed();
    let written = report::write_all(&r, tmp.path()).expect("written");
    let names: Vec<String> = written
        .iter()
        .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["report.md", "report.csv", "junit.xml", "report.html"]
    );
    for format in [Format::Markdown, Format::Csv, Format::Junit, Format::Html] {
        let name = format.file_name().expect("a file");
        let text = std::fs::read_to_string(tmp.path().join(name)).expect("readable");
        assert_eq!(text, render(format, &r));
    }
}

// ---- the terminal ----

fn display_width(line: &str) -> usize {
    // What a terminal shows: no escapes; wide characters count two (as tabled counts).
    use unicode_width::UnicodeWidthStr;
    let mut plain = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
            continue;
        }
        plain.push(c);
    }
    plain.width()
}

/// With a width, every line of the table fits it, and the reasons the table cut are
/// printed whole below it; without one the table is the full one (what scripts see).
#[test]
fn table_fits_the_width_and_keeps_the_reasons() {
    let r = mixed();
    let full = report::render(Format::Table, &r, &Options::default());
    assert!(
        full.lines().map(display_width).max().unwrap_or(0) > 120,
        "the fixture's full table is wide"
    );
    for width in [60usize, 80, 100, 120, 160] {
        for color in [false, true] {
            let opts = Options {
                color,
                width: Some(width),
                ..Options::default()
            };
            let text = report::render(Format::Table, &r, &opts);
            for line in text.lines() {
                assert!(
                    display_width(line) <= width,
                    "{width} columns: {line:?} is {} wide",
                    display_width(line)
                );
            }
            // Every cell is still there, by a value of it or its id.
            let flat: String = text.split_whitespace().collect();
            for c in r.cells.iter().filter(|c| c.status != CellStatus::Pass) {
                let note = c.reason.as_deref().unwrap_or_default();
                if note.is_empty() {
                    continue;
                }
                let want: String = note.split_whitespace().collect();
                let cut: String = want.chars().take(40).collect();
                assert!(
                    flat.contains(&cut),
                    "{width}: the reason of {} is below the table",
                    c.id
                );
            }
        }
    }
    // Wide enough: every column, and nothing said below the table.
    let wide = report::render(
        Format::Table,
        &r,
        &Options {
            width: Some(1000),
            ..Options::default()
        },
    );
    let header = wide.lines().nth(1).unwrap_or_default();
    for col in ["status", "measured engine", "p95", "note", "connectivity"] {
        assert!(header.contains(col), "{col} in {header}");
    }
    assert!(!wide.contains("left out to fit"));
}

#[test]
fn columns_fits_the_cli_table_and_color_flag_wins() {
    let dir = mixed_dir();
    let dir = dir.to_str().expect("utf-8 path");
    // Not a terminal, no COLUMNS: the full table, as scripts expect.
    let plain = dockmatrix(&["report", dir]);
    assert_eq!(stdout(&plain), render(Format::Table, &mixed()));
    // COLUMNS fits it.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_dockmatrix"))
        .args(["report", dir])
        .env("COLUMNS", "90")
        .env("NO_COLOR", "1")
        .output()
        .expect("runs");
    assert!(o.status.success());
    for line in stdout(&o).lines() {
        assert!(display_width(line) <= 90, "{line:?}");
    }
    // --color always colours a pipe, even with NO_COLOR; never does not.
    let always = dockmatrix(&["--color", "always", "report", dir]);
    assert!(stdout(&always).contains("\x1b[32m"));
    let never = dockmatrix(&["report", dir, "--color", "never"]);
    assert!(!stdout(&never).contains('\x1b'));
    let bad = dockmatrix(&["--color", "sometimes", "report", dir]);
    assert_eq!(bad.status.code(), Some(2));
}

// ---- compare as a page ----

#[test]
fn compare_html_draws_the_deltas_as_bars() {
    let base = mixed();
    let mut new = mixed();
    new.run_id = "new-run".into();
    let mut moved = 0;
    for c in &mut new.cells {
        for ch in &mut c.checks {
            if let Some(p) = ch.perf.as_mut() {
                // Beyond any tolerance (a noisy figure widens it to at most 50%).
                p.p95_ms *= 2.0;
                p.ops_per_sec *= 0.4;
                moved += 1;
            }
        }
    }
    let cmp = compare(&base, &new, 15.0);
    assert_eq!(cmp.perf.len(), moved);
    let html = report::compare::render_html(&cmp);
    assert!(!html.contains("<script"));
    let chart = html
        .split("<svg class=\"delta-chart\"")
        .nth(1)
        .and_then(|c| c.split("</svg>").next())
        .expect("a delta chart");
    assert!(chart.contains("<title id=\"delta-title\">"));
    assert_eq!(chart.matches("<g class=\"row\"").count(), moved);
    assert!(chart.contains("+100.0%"), "the p95 delta as a bar's title");
    assert!(chart.contains("tolerance ±15%"));
    roxmltree::Document::parse(&format!("<svg{chart}</svg>"))
        .expect("the chart is well-formed XML");
}

// ---- the HTML page in a real browser ----

const CHROMIUM: &str = "/usr/bin/chromium";

fn chromium(args: &[&str]) -> std::process::Output {
    let profile = tempfile::tempdir().expect("profile dir");
    std::process::Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .output()
        .expect("chromium runs")
}

/// `attr="value"` of an HTML start tag.
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    let end = tag[start..].find('"')? + start;
    Some(&tag[start..end])
}

/// The DOM's inline status glyphs (`<svg class="g" aria-label="✅">…</svg>`) as the
/// symbols they stand for: what a screen reader reads.
fn glyphs_as_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(i) = rest.find("<svg class=\"g\"") {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        let end = after.find("</svg>").expect("a closed glyph") + "</svg>".len();
        let tag = after.split('>').next().unwrap_or_default();
        out.push_str(attribute(tag, "aria-label").expect("a glyph's aria-label"));
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// The page's layout width in Chromium at `width` px: a copy of the page with a line of
/// script that writes `document.documentElement.scrollWidth` into the DOM (the report
/// itself has no script; the measurement is the test's).
fn layout_width(page: &Path, width: u32) -> u64 {
    let html = std::fs::read_to_string(page).expect("the page");
    let probe = page.with_extension("probe.html");
    let script = "<script>document.body.setAttribute('data-scroll-width', String(document.documentElement.scrollWidth));</script></body>";
    std::fs::write(&probe, html.replacen("</body>", script, 1)).expect("the probe page");
    let o = chromium(&[
        &format!("--window-size={width},900"),
        "--dump-dom",
        &format!("file://{}", probe.display()),
    ]);
    assert!(o.status.success(), "chromium failed: {}", stderr(&o));
    let dom = stdout(&o);
    let body = dom
        .split("<body")
        .nth(1)
        .and_then(|b| b.split('>').next())
        .expect("a body");
    attribute(body, "data-scroll-width")
        .and_then(|w| w.parse().ok())
        .expect("the measured width")
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[test]
fn html_in_headless_chromium() {
    if !Path::new(CHROMIUM).exists() {
        if std::env::var("DOCKMATRIX_REQUIRE_DOCKER").as_deref() == Ok("1") {
            panic!(
                "{CHROMIUM} is missing and DOCKMATRIX_REQUIRE_DOCKER=1: install Debian's chromium"
            );
        }
        eprintln!("skipped: {CHROMIUM} is missing (apt-get install chromium)");
        return;
    }
    let r = mixed();
    let tmp = tempfile::tempdir().expect("tempdir");
    let page = tmp.path().join("report.html");
    std::fs::write(&page, render(Format::Html, &r)).expect("written");
    let url = format!("file://{}", page.display());
    let o = chromium(&["--dump-dom", &url]);
    assert!(o.status.success(), "chromium failed: {}", stderr(&o));
    let dom = stdout(&o);

    // The grid: every square of engine × storage-driver, as DESIGN.md computes it.
    let expected = squares(&r, "engine", "storage-driver");
    let mut seen = BTreeMap::new();
    let grid = dom
        .split("<table class=\"pivot\" data-rows=\"engine\" data-cols=\"storage-driver\">")
        .nth(1)
        .and_then(|s| s.split("</table>").next())
        .expect("the engine × storage-driver grid in the DOM");
    for piece in grid.split("<td ").skip(1) {
        let (tag, rest) = piece.split_once('>').expect("a start tag");
        let text = rest.split("</td>").next().expect("an end tag");
        let key = (
            unescape(attribute(tag, "data-row").expect("data-row")),
            unescape(attribute(tag, "data-col").expect("data-col")),
        );
        seen.insert(
            key,
            (
                attribute(tag, "data-status").map(str::to_string),
                unescape(&glyphs_as_text(text)),
            ),
        );
    }
    for (key, st) in &expected {
        let (status, label) = seen.get(key).unwrap_or_else(|| panic!("no square {key:?}"));
        assert_eq!(label, &expected_square(st), "square {key:?}");
        let uniform = st.iter().all(|s| *s == st[0]);
        let want = if uniform { st[0].as_str() } else { "mixed" };
        assert_eq!(status.as_deref(), Some(want), "square {key:?}");
    }
    let empty = seen
        .values()
        .filter(|(s, _)| s.as_deref() == Some("empty"))
        .count();
    assert_eq!(seen.len(), expected.len() + empty);

    // The cell table: one row per cell, in order, each with its status.
    let rows: Vec<&str> = dom.split("<tr id=\"cell-").skip(1).collect();
    assert_eq!(rows.len(), r.cells.len());
    for (row, cell) in rows.iter().zip(&r.cells) {
        let tag = row.split('>').next().expect("tag");
        assert!(tag.starts_with(&cell.id), "row order");
        assert_eq!(
            attribute(&format!(" {tag}"), "data-status"),
            Some(cell.status.as_str())
        );
        assert!(glyphs_as_text(row).contains(&format!("{} {}", cell.status.symbol(), cell.status)));
    }
    // Status symbols are drawn, not left to an emoji font: no emoji outside the glyphs'
    // accessible names (the page's own text, not what containers printed, which the
    // fixture keeps free of emoji).
    let emoji = ["✅", "❌", "🔁", "⛔", "💥", "⏹", "📝", "✨"];
    let body = dom.split("<body").nth(1).expect("a body");
    let outside: String = body
        .split("aria-label=\"")
        .enumerate()
        .map(|(i, part)| {
            if i == 0 {
                part
            } else {
                part.split_once('"').map_or("", |(_, rest)| rest)
            }
        })
        .collect();
    for e in emoji {
        assert!(!outside.contains(e), "{e} shown as text, not as a glyph");
    }
    assert!(
        dom.contains("<symbol id=\"g-pass\""),
        "the glyphs' drawings"
    );

    // A chart per perf check, its <svg>'s <title> naming the check, a row per cell.
    let mut perf_checks: Vec<(&str, &str, usize)> = Vec::new();
    for ch in r
        .cells
        .iter()
        .flat_map(|c| &c.checks)
        .filter(|ch| ch.perf.is_some())
    {
        match perf_checks
            .iter_mut()
            .find(|(s, n, _)| *s == ch.suite && *n == ch.name)
        {
            Some(e) => e.2 += 1,
            None => perf_checks.push((&ch.suite, &ch.name, 1)),
        }
    }
    assert!(!perf_checks.is_empty(), "the fixture has perf checks");
    let charts: Vec<&str> = dom.split("<svg class=\"perf-chart\"").skip(1).collect();
    assert_eq!(charts.len(), perf_checks.len(), "one chart per perf check");
    for (chart, (suite, name, cells)) in charts.iter().zip(&perf_checks) {
        let chart = chart.split("</svg>").next().expect("a closed chart");
        let title = chart
            .split("<title id=\"")
            .nth(1)
            .and_then(|t| t.split_once('>'))
            .and_then(|(_, t)| t.split("</title>").next())
            .map(unescape)
            .expect("the chart's title");
        assert!(title.contains(name) && title.contains(suite), "{title}");
        assert_eq!(chart.matches("<g class=\"row\"").count(), *cells, "{title}");
        assert_eq!(
            chart.matches("<rect class=\"p95\"").count(),
            *cells,
            "{title}"
        );
        assert_eq!(
            chart.matches("<rect class=\"p50\"").count(),
            *cells,
            "{title}"
        );
    }
    // With a baseline: its band and tick, per cell that has one.
    let with_baseline = r
        .cells
        .iter()
        .flat_map(|c| &c.checks)
        .filter(|ch| ch.perf.as_ref().is_some_and(|p| p.baseline.is_some()))
        .count();
    assert_eq!(dom.matches("<rect class=\"band\"").count(), with_baseline);
    assert_eq!(
        dom.matches("<line class=\"baseline\"").count(),
        with_baseline
    );

    // The layout fits a 1280 px window (and the measurement does see an overflow).
    assert!(
        layout_width(&page, 1280) <= 1280,
        "the page overflows 1280 px"
    );
    let wide = tmp.path().join("wide.html");
    std::fs::write(
        &wide,
        "<!DOCTYPE html><html><body><div style=\"width:2000px\">x</div></body></html>",
    )
    .expect("written");
    assert!(
        layout_width(&wide, 1280) > 1280,
        "the probe measures overflow"
    );
    // Details for every cell that did not pass; no script anywhere.
    let details = dom.matches("<article class=\"detail").count();
    assert_eq!(
        details,
        r.cells
            .iter()
            .filter(|c| c.status != CellStatus::Pass)
            .count()
    );
    assert!(!dom.contains("<script"));

    // Tested upgrade paths: a row per upgrade cell with its status, and each phase of it.
    let upgrades: Vec<&CellRecord> = r.cells.iter().filter(|c| c.upgrade.is_some()).collect();
    let rows: Vec<&str> = dom.split("<tr id=\"upgrade-").skip(1).collect();
    assert_eq!(rows.len(), upgrades.len());
    for (row, cell) in rows.iter().zip(&upgrades) {
        let tag = row.split('>').next().expect("tag");
        assert!(tag.starts_with(&cell.id), "upgrade row order");
        assert_eq!(
            attribute(&format!(" {tag}"), "data-status"),
            Some(cell.status.as_str())
        );
    }
    let phases: usize = upgrades
        .iter()
        .filter_map(|c| c.upgrade.as_ref())
        .map(|u| u.phases.len())
        .sum();
    assert_eq!(dom.matches("<li class=\"phase ").count(), phases);
    for f in upgrades
        .iter()
        .filter_map(|c| c.upgrade.as_ref())
        .flat_map(|u| &u.phases)
        .flat_map(|p| &p.findings)
    {
        assert!(dom.contains(&format!("<li>{f}</li>")), "finding {f} shown");
    }

    // A screenshot at 1280 px: a real PNG. (docs/report.png is a screenshot of a real
    // demo run's page, not of this fixture: see docs/reports.md.)
    let shot = tmp.path().join("report.png");
    let o = chromium(&[
        &format!("--screenshot={}", shot.display()),
        "--window-size=1280,900",
        &url,
    ]);
    assert!(o.status.success(), "chromium failed: {}", stderr(&o));
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
}

// ---- upgrade paths ----

/// The fixture without its upgrade cells: a run as it was before upgrade rehearsals.
fn without_upgrades() -> RunRecord {
    let mut r = mixed();
    r.cells.retain(|c| c.upgrade.is_none());
    r.axes.retain(|a| a != "upgrade");
    r
}

/// The rows of the Markdown table under `heading`, as texts.
fn markdown_table_after(md: &str, heading: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let section = md.split(heading).nth(1).expect("the heading");
    let section = section.split("\n### ").next().unwrap_or_default();
    let arena = comrak::Arena::new();
    let mut opts = comrak::Options::default();
    opts.extension.table = true;
    let doc = comrak::parse_document(&arena, section, &opts);
    let table = doc
        .descendants()
        .find(|n| matches!(n.data().value, comrak::nodes::NodeValue::Table(_)))
        .expect("a table under the heading");
    let mut header = Vec::new();
    let mut body = Vec::new();
    for row in table.children() {
        let cells: Vec<String> = row.children().map(text_of).collect();
        if matches!(row.data().value, comrak::nodes::NodeValue::TableRow(true)) {
            header = cells;
        } else {
            body.push(cells);
        }
    }
    (header, body)
}

#[test]
fn upgrade_paths_in_markdown_for_release_notes() {
    let r = mixed();
    let md = render(Format::Markdown, &r);
    let (header, rows) = markdown_table_after(&md, "### Tested upgrade paths");
    assert_eq!(
        header,
        [
            "from → to",
            "stack",
            "driver",
            "data kept",
            "containers back",
            "suites on TO",
            "rollback",
            "status"
        ]
    );
    let stack_15 = "postgres=15, mariadb=10.11, redis=7.0";
    let stack_17 = "postgres=17, mariadb=11.8, redis=8.0";
    assert_eq!(
        rows,
        [
            // Measured versions; verify ran 4 checks on TO; the rollback brought 3/3 back.
            vec![
                "20.10.5 → 28.5.2",
                stack_15,
                "overlay2",
                "✅",
                "3/3",
                "✅ 4/4",
                "✅ pass 3/3",
                "✅ pass"
            ],
            vec![
                "26.1.5 → 28.5.2",
                stack_17,
                "overlay2 → vfs",
                "❌",
                "0/3",
                "❌ 0/4",
                "–",
                "❌ fail"
            ],
            // TO never came up: its name, as no version was measured.
            vec![
                "20.10.24 → 28.5",
                stack_15,
                "overlay2",
                "–",
                "–",
                "–",
                "– not reached",
                "⛔ unsupported"
            ],
        ]
    );
    // Under the table: each failed phase with its reason and findings in words.
    let section = md
        .split("### Tested upgrade paths")
        .nth(1)
        .and_then(|s| s.split("\n### ").next())
        .expect("section");
    let arena = comrak::Arena::new();
    let doc = comrak::parse_document(&arena, section, &comrak::Options::default());
    let items: Vec<String> = doc
        .descendants()
        .filter(|n| matches!(n.data().value, comrak::nodes::NodeValue::Item(_)))
        .map(text_of)
        .collect();
    let failed: Vec<_> = r
        .cells
        .iter()
        .filter_map(|c| c.upgrade.as_ref())
        .flat_map(|u| &u.phases)
        .filter(|p| p.status != CellStatus::Pass)
        .collect();
    assert_eq!(failed.len(), 2);
    for p in failed {
        let reason = p.reason.as_deref().expect("a reason");
        assert!(text_of(doc).contains(reason), "reason of {} shown", p.name);
        for f in &p.findings {
            assert!(items.contains(f), "finding {f:?} listed");
        }
    }
    // Preflight: warn findings in their cell's detail, ok ones nowhere.
    let failed_section = md.split("### What failed").nth(1).expect("What failed");
    let arena = comrak::Arena::new();
    let shown = text_of(comrak::parse_document(
        &arena,
        failed_section,
        &comrak::Options::default(),
    ));
    for c in &r.cells {
        for f in &c.preflight {
            match f.level {
                FindingLevel::Ok => assert!(!shown.contains(&f.reason), "ok finding shown"),
                _ => assert!(
                    shown.contains(&f.reason),
                    "{} finding {:?} missing from its cell's detail",
                    f.level,
                    f.reason
                ),
            }
        }
    }
    // A run without upgrade cells has no such section.
    assert!(!render(Format::Markdown, &without_upgrades()).contains("upgrade paths"));
}

#[test]
fn upgrade_cells_count_each_check_once_in_suite_columns() {
    let r = mixed();
    let md = render(Format::Markdown, &r);
    let (header, rows) = markdown_table_after(&md, "### Cells");
    let col = |n: &str| header.iter().position(|h| h == n).expect("column");
    let row_of = |id_part: &str| {
        let i = r
            .cells
            .iter()
            .position(|c| c.id.starts_with(id_part))
            .expect("cell");
        &rows[i]
    };
    // Each check once, with its worst outcome of seed, verify and rollback.
    let passed = row_of("20.10.5-28.5");
    assert_eq!(passed[col("connectivity")], "✅ 3/3");
    assert_eq!(passed[col("upgrade-data")], "✅ 2/2");
    let switched = row_of("26.1-28.5");
    assert_eq!(switched[col("connectivity")], "❌ 0/3");
    assert_eq!(switched[col("upgrade-data")], "❌ 1/2");
    let refused = row_of("20.10.24-28.5");
    assert_eq!(refused[col("connectivity")], "✅ 3/3");
    // The summary line counts the same way.
    let once: usize = r
        .cells
        .iter()
        .map(|c| {
            let names: std::collections::BTreeSet<(&str, &str)> = c
                .checks
                .iter()
                .filter(|ch| ch.status != CheckStatus::Skipped)
                .map(|ch| (ch.suite.as_str(), ch.name.as_str()))
                .collect();
            names.len()
        })
        .sum();
    assert!(
        report::summary_line(&r).contains(&format!("/{once} checks passed")),
        "{}",
        report::summary_line(&r)
    );
}

#[test]
fn upgrade_paths_in_table_csv_junit_and_html() {
    let r = mixed();
    let table = render(Format::Table, &r);
    let after = table
        .split("Tested upgrade paths")
        .nth(1)
        .expect("table section");
    for needle in [
        "20.10.5 → 28.5.2",
        "overlay2 → vfs",
        "20.10.24 → 28.5",
        "✅ pass 3/3",
        "– not reached",
    ] {
        assert!(after.contains(needle), "{needle} missing:\n{after}");
    }

    // CSV: every row of an upgrade cell carries its path; other cells' are empty.
    let text = render(Format::Csv, &r);
    let mut rd = csv::Reader::from_reader(text.as_bytes());
    let header = rd.headers().expect("header").clone();
    let col = |n: &str| header.iter().position(|h| h == n).expect("column");
    for row in rd.records().map(|x| x.expect("row")) {
        let cell = r
            .cells
            .iter()
            .find(|c| c.id == row[col("cell_id")])
            .expect("cell");
        match cell.id.split('-').next() {
            _ if cell.upgrade.is_none() => {
                assert_eq!(&row[col("upgrade_from")], "");
                assert_eq!(&row[col("phase")], "");
            }
            Some("20.10.5") => {
                assert_eq!(&row[col("upgrade_from")], "20.10.5");
                assert_eq!(&row[col("upgrade_to")], "28.5.2");
                assert_eq!(&row[col("data_kept")], "true");
                assert_eq!(&row[col("containers_back")], "3/3");
                assert_eq!(&row[col("rollback")], "pass");
            }
            Some("26.1") => {
                assert_eq!(&row[col("upgrade_driver")], "overlay2->vfs");
                assert_eq!(&row[col("data_kept")], "false");
            }
            _ => {
                assert_eq!(&row[col("upgrade_to")], "28.5");
                assert_eq!(&row[col("rollback")], "not reached");
            }
        }
    }

    // JUnit: a testcase per phase, failing or skipped as its status says.
    let xml = render(Format::Junit, &r);
    let doc = roxmltree::Document::parse(&xml).expect("well-formed");
    let suites: Vec<_> = doc
        .root_element()
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    for (suite, cell) in suites.iter().zip(&r.cells) {
        let Some(u) = &cell.upgrade else {
            assert!(!suite.descendants().any(|n| {
                n.attribute("name")
                    .is_some_and(|x| x.starts_with("[phase]"))
            }));
            continue;
        };
        for p in &u.phases {
            let case = suite
                .children()
                .find(|n| n.attribute("name") == Some(format!("[phase] {}", p.name).as_str()))
                .expect("a testcase per phase");
            let kind = case
                .children()
                .map(|n| n.tag_name().name())
                .find(|n| matches!(*n, "failure" | "error" | "skipped"));
            let want = match p.status {
                CellStatus::Pass => None,
                CellStatus::Fail => Some("failure"),
                CellStatus::Error => Some("error"),
                _ => Some("skipped"),
            };
            assert_eq!(kind, want, "phase {} of {}", p.name, cell.id);
            let text: String = case.descendants().filter_map(|n| n.text()).collect();
            for f in &p.findings {
                assert!(text.contains(f.as_str()), "finding {f:?} in the testcase");
            }
        }
    }

    // HTML without upgrade cells: no section.
    assert!(!render(Format::Html, &without_upgrades()).contains("id=\"upgrades\""));
    assert!(!render(Format::Table, &without_upgrades()).contains("upgrade paths"));
}

// ---- secrets in run.json ----

#[test]
fn run_json_masks_what_the_reports_mask() {
    // Secrets the runner's own masking does not know (no matching env value), as a check
    // message, a reason, a log line or an upgrade finding may carry them.
    let mut r = mixed();
    let c = &mut r.cells[0];
    c.reason = Some(format!("dockerd said --tlskey-password={SECRET}"));
    c.checks[0].message = format!("exec printed API_TOKEN={SECRET}");
    c.services[0]
        .log_tail
        .push(format!("connecting to redis://:{SECRET}@redis:6379"));
    let u = r
        .cells
        .iter_mut()
        .find_map(|c| c.upgrade.as_mut())
        .expect("an upgrade cell");
    u.phases[0]
        .findings
        .push(format!("daemon.json has \"SECRET_KEY={SECRET}\""));
    for format in Format::ALL {
        assert!(!render(format, &r).contains(SECRET), "{format:?} shows it");
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = r.save(tmp.path()).expect("saved");
    let written = std::fs::read_to_string(file).expect("run.json");
    assert!(
        !written.contains(SECRET),
        "run.json shows a secret the reports mask"
    );
    assert!(written.contains("API_TOKEN=***") && written.contains("redis://:***@redis:6379"));
    // Nothing else changed: the record reads back as the reports' sanitised record does,
    // for what holds no escape sequence.
    let back = RunRecord::load(tmp.path()).expect("loads");
    assert_eq!(back.cells.len(), r.cells.len());
    assert_eq!(back.cells[1], r.cells[1]);
}

/// What CI systems key and show by: read back by an independent parser, every cell's
/// test cases carry a classname of their own (GitLab keys cases by classname and name and
/// drops repeats; Jenkins groups by the classname's package, the part before its last
/// dot), and a failing case carries its cell's context and log tails in
/// `<system-out>`/`<system-err>` (GitLab reads those only from a `<testcase>`).
#[test]
fn junit_classnames_per_cell_and_output_per_failing_case() {
    let r = mixed();
    let xml = render(Format::Junit, &r);
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let suites: Vec<_> = doc
        .root_element()
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suites.len(), r.cells.len());
    let mut packages_seen = std::collections::BTreeSet::new();
    let mut keys = std::collections::BTreeSet::new();
    let mut failing_with_logs = 0;
    for (suite, cell) in suites.iter().zip(&r.cells) {
        let cases: Vec<_> = suite
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();
        let mut packages = std::collections::BTreeSet::new();
        for case in &cases {
            let classname = case.attribute("classname").expect("classname");
            let name = case.attribute("name").expect("name");
            // Jenkins: package = before the last dot = the cell's values.
            let (package, class) = classname.rsplit_once('.').expect("a dot");
            assert!(!class.is_empty() && !class.contains('.'), "{classname}");
            for (axis, value) in &cell.values {
                assert!(package.contains(&format!("{axis}={value}")), "{classname}");
            }
            packages.insert(package.to_string());
            assert!(
                keys.insert((classname.to_string(), name.to_string())),
                "GitLab's key (classname, name) repeats: {classname} / {name}"
            );
            // Failed, errored, or passed only on a retry (a flaky cell's `[cell]`).
            let failed = case.children().any(|n| {
                ["failure", "error", "flakyFailure", "flakyError"]
                    .iter()
                    .any(|t| n.has_tag_name(*t))
            });
            let out = case.children().find(|n| n.has_tag_name("system-out"));
            let err = case.children().find(|n| n.has_tag_name("system-err"));
            if failed {
                let out = out
                    .and_then(|n| n.text())
                    .expect("a failing case's system-out");
                assert!(out.contains(&cell.id), "{out}");
                if let Some(e) = &cell.engine {
                    assert!(out.contains(&e.server_version), "{out}");
                }
                let logs: Vec<_> = cell
                    .services
                    .iter()
                    .filter(|s| !s.log_tail.is_empty())
                    .collect();
                match err.and_then(|n| n.text()) {
                    Some(err) => {
                        failing_with_logs += 1;
                        for svc in logs {
                            assert!(err.contains(&format!("==> {} ({}) <==", svc.name, svc.image)));
                        }
                    }
                    None => assert!(logs.is_empty(), "{} has log tails", cell.id),
                }
            } else {
                assert!(err.is_none(), "only failing cases carry log tails");
            }
        }
        assert_eq!(packages.len(), 1, "one package per cell: {packages:?}");
        assert!(
            packages_seen.insert(packages.into_iter().next().unwrap_or_default()),
            "{}: its classname package is another cell's",
            cell.id
        );
        // No suite-level output: GitLab does not read it, and Jenkins would show it under
        // every case of the cell.
        assert!(suite.children().all(|n| !n.has_tag_name("system-out")));
    }
    assert!(
        failing_with_logs > 0,
        "the fixture has failing cases with log tails"
    );
}

// ---- JUnit written directly says what quick-junit said ----

/// An element as a parser reads it: name, attributes (sorted), its own text (whitespace
/// between elements dropped) and children.
#[derive(Debug, PartialEq)]
struct Element {
    name: String,
    attributes: Vec<(String, String)>,
    text: String,
    children: Vec<Element>,
}

fn element(n: roxmltree::Node<'_, '_>) -> Element {
    let mut attributes: Vec<(String, String)> = n
        .attributes()
        .map(|a| (a.name().to_string(), a.value().to_string()))
        .collect();
    attributes.sort();
    let text: String = n
        .children()
        .filter(|c| c.is_text())
        .filter_map(|c| c.text())
        .collect();
    Element {
        name: n.tag_name().name().to_string(),
        attributes,
        text: if text.trim().is_empty() {
            String::new()
        } else {
            text
        },
        children: n
            .children()
            .filter(|c| c.is_element())
            .map(element)
            .collect(),
    }
}

fn junit_tree(xml: &str) -> Element {
    element(
        roxmltree::Document::parse(xml)
            .expect("well-formed")
            .root_element(),
    )
}

#[test]
fn junit_written_directly_equals_quick_junit_read_back() {
    for (what, r) in [
        ("the fixture", mixed()),
        ("the fixture redacted", redacted(mixed())),
        ("hostile output", hostile_record()),
        ("no upgrade cells", without_upgrades()),
    ] {
        let direct = render(Format::Junit, &r);
        let before = junit_reference::render_junit(&r);
        assert_eq!(junit_tree(&direct), junit_tree(&before), "{what}");
    }
    // Byte for byte too, for the fixture: the layout did not change.
    assert_eq!(
        render(Format::Junit, &mixed()),
        junit_reference::render_junit(&mixed())
    );
}

/// A perf figure's precision is shown beside its p95 in every format that shows the p95,
/// and recorded as a number in the machine-readable ones.
#[test]
fn every_format_shows_the_p95_precision() {
    let mut r = mixed();
    let mut perf_checks = 0;
    for c in &mut r.cells {
        for ch in &mut c.checks {
            if let Some(p) = ch.perf.as_mut() {
                p.p95_precision_pct = Some(1.84);
                perf_checks += 1;
            }
        }
    }
    assert!(perf_checks > 0, "the fixture has perf figures");
    for format in [Format::Table, Format::Markdown, Format::Html] {
        let text = render(format, &r);
        assert!(
            text.contains("±1.8%"),
            "{format:?} lacks the precision:\n{text}"
        );
    }
    assert!(
        render(Format::Junit, &r).contains("dockmatrix.perf.p95_precision_pct\" value=\"1.84\"")
    );
    let csv_text = render(Format::Csv, &r);
    let mut rd = csv::Reader::from_reader(csv_text.as_bytes());
    let header = rd.headers().expect("header").clone();
    let col = header
        .iter()
        .position(|h| h == "p95_precision_pct")
        .expect("column");
    let filled = rd
        .records()
        .filter(|x| x.as_ref().is_ok_and(|x| &x[col] == "1.84"))
        .count();
    assert_eq!(filled, perf_checks);
    let back: RunRecord = serde_json::from_str(&render(Format::Json, &r)).expect("run.json");
    assert!(
        back.cells
            .iter()
            .flat_map(|c| &c.checks)
            .filter_map(|c| c.perf.as_ref())
            .all(|p| p.p95_precision_pct == Some(1.84))
    );
}
