//! The JUnit writer as it was before it wrote XML directly: quick-junit's `Report`, built
//! and serialised in parallel chunks. Kept only as a yardstick: `benches/report.rs`
//! measures it beside the direct writer in the same run, and `tests/report.rs` checks the
//! two say the same (read back by roxmltree).

use std::time::Duration;

use quick_junit::{
    NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestRerun, TestSuite,
};

use rayon::prelude::*;

use dockmatrix::report::text::{one_line, sanitised, truncate};
use dockmatrix::results::{
    CellRecord, CellStatus, CheckRecord, CheckStatus, PhaseRecord, RunRecord,
};

fn describe_values(cell: &CellRecord) -> String {
    cell.values
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The name of the testcase that stands for the cell itself.
pub const CELL_CASE: &str = "[cell]";

/// How long a `message` attribute may be (the element's text has the whole message).
const MESSAGE_WIDTH: usize = 200;

pub fn render_junit(record: &RunRecord) -> String {
    let record = sanitised(record);
    // Suites are built and serialised in parallel, a chunk of cells per report, then
    // spliced in order into one `<testsuites>` whose totals are the chunks' sums.
    let chunks: Vec<(Report, String)> = record
        .cells
        .par_chunks(CHUNK)
        .map(|cells| {
            let mut r = Report::new("chunk");
            r.add_test_suites(cells.iter().map(suite));
            let body = r
                .to_string()
                .map(|x| suites_of(&x).to_string())
                .unwrap_or_default();
            r.test_suites.clear();
            (r, body)
        })
        .collect();
    let mut report = Report::new(format!("dockmatrix {}", record.matrix.name));
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(&record.started_at) {
        report.set_timestamp(t);
    }
    let total: u64 = record.cells.iter().map(|c| c.durations_ms.total).sum();
    report.set_time(Duration::from_millis(total));
    for (r, _) in &chunks {
        report.tests += r.tests;
        report.failures += r.failures;
        report.errors += r.errors;
        report.skipped += r.skipped;
    }
    let head = match report.to_string() {
        Ok(h) => h,
        Err(e) => return format!("<!-- failed to write JUnit XML: {e} -->\n"),
    };
    let end = head.rfind("</testsuites>").unwrap_or(head.len());
    let mut out =
        String::with_capacity(head.len() + chunks.iter().map(|(_, b)| b.len()).sum::<usize>());
    out.push_str(&head[..end]);
    for (_, body) in &chunks {
        out.push_str(body);
    }
    out.push_str(&head[end..]);
    out
}

/// Cells per parallel chunk.
const CHUNK: usize = 128;

/// The `<testsuite>` elements of a serialised report: what lies between the
/// `<testsuites …>` line and `</testsuites>`.
fn suites_of(xml: &str) -> &str {
    let start = xml
        .find("<testsuites")
        .and_then(|i| xml[i..].find(">\n").map(|j| i + j + 2))
        .unwrap_or(0);
    let end = xml.rfind("</testsuites>").unwrap_or(xml.len());
    xml.get(start..end).unwrap_or_default()
}

fn suite(cell: &CellRecord) -> TestSuite {
    let mut s = TestSuite::new(describe_values(cell));
    s.set_time(Duration::from_millis(cell.durations_ms.total));
    s.add_property(Property::new("dockmatrix.cell", cell.id.as_str()));
    s.add_property(Property::new("dockmatrix.status", cell.status.as_str()));
    s.add_property(Property::new(
        "dockmatrix.attempts",
        cell.attempts.to_string(),
    ));
    if let Some(e) = &cell.engine {
        s.add_property(Property::new(
            "dockmatrix.engine.server_version",
            e.server_version.as_str(),
        ));
        s.add_property(Property::new(
            "dockmatrix.engine.api_version",
            e.api_version.as_str(),
        ));
        s.add_property(Property::new(
            "dockmatrix.engine.storage_driver",
            e.storage_driver.as_str(),
        ));
        for (name, value) in [
            ("dockmatrix.engine.containerd", &e.containerd),
            ("dockmatrix.engine.runc", &e.runc),
            ("dockmatrix.engine.kernel", &e.kernel),
            ("dockmatrix.engine.cgroup_version", &e.cgroup_version),
            ("dockmatrix.engine.os", &e.os),
            ("dockmatrix.engine.arch", &e.arch),
        ] {
            if !value.is_empty() {
                s.add_property(Property::new(name, value.as_str()));
            }
        }
    }
    if let Some(r) = &cell.reason {
        s.add_property(Property::new("dockmatrix.reason", one_line(r)));
    }
    if let Some(u) = &cell.upgrade {
        let row = [
            ("dockmatrix.upgrade.from", u.from.as_str()),
            ("dockmatrix.upgrade.to", u.to.as_str()),
            ("dockmatrix.upgrade.from_driver", u.from_driver.as_str()),
            ("dockmatrix.upgrade.to_driver", u.to_driver.as_str()),
        ];
        for (k, v) in row {
            s.add_property(Property::new(k, v));
        }
        if let Some(k) = u.data_kept {
            s.add_property(Property::new("dockmatrix.upgrade.data_kept", k.to_string()));
        }
        if let Some(c) = u.containers_back {
            s.add_property(Property::new(
                "dockmatrix.upgrade.containers_back",
                c.to_string(),
            ));
        }
    }
    let values = describe_values(cell);
    let mut cases: Vec<TestCase> = Vec::new();
    cases.extend(cell_case(cell, &values));
    if let Some(u) = &cell.upgrade {
        cases.extend(u.phases.iter().map(|p| phase_case(p, &values)));
    }
    cases.extend(cell.checks.iter().map(|ch| check_case(ch, &values)));
    let failed = |c: &TestCase| match &c.status {
        TestCaseStatus::Success { flaky_runs } => !flaky_runs.is_empty(),
        TestCaseStatus::NonSuccess { .. } => true,
        TestCaseStatus::Skipped { .. } => false,
    };
    if cases.iter().any(failed) {
        let context = cell_context(cell, &values);
        let logs = log_tails(cell);
        for c in cases.iter_mut().filter(|c| failed(c)) {
            let out = match &c.system_out {
                Some(own) => format!("{context}\n{}", own.as_str()),
                None => context.clone(),
            };
            c.set_system_out(out);
            if let Some(l) = &logs {
                c.set_system_err(l.as_str());
            }
        }
    }
    s.add_test_cases(cases);
    s
}

fn classname(values: &str, suite: &str) -> String {
    format!("{values}.{}", suite.replace('.', "_"))
}

fn cell_context(cell: &CellRecord, values: &str) -> String {
    let mut s = format!("cell {} ({values})\nstatus {}", cell.id, cell.status);
    if cell.attempts > 1 {
        s.push_str(&format!(" after {} attempts", cell.attempts));
    }
    if let Some(e) = &cell.engine {
        s.push_str(&format!(
            "\nengine {} {}: Docker {} (API {}), {}",
            e.name, e.kind, e.server_version, e.api_version, e.storage_driver
        ));
        for (what, v) in [
            ("containerd", &e.containerd),
            ("runc", &e.runc),
            ("kernel", &e.kernel),
        ] {
            if !v.is_empty() {
                s.push_str(&format!(", {what} {v}"));
            }
        }
        if !e.cgroup_version.is_empty() {
            s.push_str(&format!(", cgroup v{}", e.cgroup_version));
        }
    }
    for (i, a) in cell.previous_attempts.iter().enumerate() {
        s.push_str(&format!("\nattempt {}: {}", i + 1, a.status));
        if let Some(r) = &a.reason {
            s.push_str(&format!(": {}", one_line(r)));
        }
    }
    s
}

fn log_tails(cell: &CellRecord) -> Option<String> {
    let mut s = String::new();
    for svc in cell.services.iter().filter(|svc| !svc.log_tail.is_empty()) {
        if !s.is_empty() {
            s.push('\n');
        }
        s.push_str(&format!("==> {} ({}) <==\n", svc.name, svc.image));
        for line in &svc.log_tail {
            s.push_str(line);
            s.push('\n');
        }
    }
    (!s.is_empty()).then_some(s)
}

/// The testcase standing for the cell, when its checks do not say everything.
fn cell_case(cell: &CellRecord, values: &str) -> Option<TestCase> {
    let reason = cell
        .reason
        .clone()
        .unwrap_or_else(|| cell.status.to_string());
    // A phase of an upgrade that did not pass has a testcase of its own saying why.
    let phases_explain = cell
        .upgrade
        .as_ref()
        .is_some_and(|u| u.phases.iter().any(|p| p.status != CellStatus::Pass));
    let checks_explain = phases_explain || cell.checks.iter().any(|c| c.status.fails_cell());
    let status = match cell.status {
        CellStatus::Pass if cell.checks.is_empty() => TestCaseStatus::success(),
        CellStatus::Pass => return None,
        CellStatus::Flaky => TestCaseStatus::Success {
            flaky_runs: cell
                .previous_attempts
                .iter()
                .map(|a| {
                    let mut r = TestRerun::new(match a.status {
                        CellStatus::Error => NonSuccessKind::Error,
                        _ => NonSuccessKind::Failure,
                    });
                    let text = a.reason.clone().unwrap_or_else(|| a.status.to_string());
                    r.set_message(truncate(&one_line(&text), MESSAGE_WIDTH));
                    r.set_type(a.status.as_str());
                    r.set_description(text);
                    r
                })
                .collect(),
        },
        CellStatus::Fail | CellStatus::Error if checks_explain => return None,
        CellStatus::Fail | CellStatus::Error => {
            let kind = if cell.status == CellStatus::Fail {
                NonSuccessKind::Failure
            } else {
                NonSuccessKind::Error
            };
            let mut st = TestCaseStatus::non_success(kind);
            st.set_message(truncate(&one_line(&reason), MESSAGE_WIDTH));
            st.set_type(cell.status.as_str());
            st.set_description(reason.as_str());
            st
        }
        CellStatus::Unsupported | CellStatus::Cancelled if phases_explain => return None,
        CellStatus::Unsupported | CellStatus::Cancelled => {
            let mut st = TestCaseStatus::skipped();
            st.set_message(truncate(
                &one_line(&format!("{}: {reason}", cell.status)),
                MESSAGE_WIDTH,
            ));
            st.set_type(cell.status.as_str());
            st.set_description(reason.as_str());
            st
        }
    };
    let mut case = TestCase::new(CELL_CASE, status);
    case.set_classname(classname(values, "cell"));
    case.set_time(Duration::from_millis(cell.durations_ms.total));
    case.add_property(Property::new("dockmatrix.status", cell.status.as_str()));
    Some(case)
}

/// A testcase per upgrade phase (`[phase] seed`, …): failing, an error or skipped
/// (unsupported, cancelled) as its status says, with its reason and findings.
fn phase_case(p: &PhaseRecord, values: &str) -> TestCase {
    let mut text = p.reason.clone().unwrap_or_else(|| p.status.to_string());
    for f in &p.findings {
        text.push_str("\n- ");
        text.push_str(f);
    }
    let message = truncate(&one_line(&text), MESSAGE_WIDTH).into_owned();
    let status = match p.status {
        CellStatus::Pass | CellStatus::Flaky => TestCaseStatus::success(),
        CellStatus::Fail | CellStatus::Error => {
            let mut st = TestCaseStatus::non_success(if p.status == CellStatus::Fail {
                NonSuccessKind::Failure
            } else {
                NonSuccessKind::Error
            });
            st.set_message(message);
            st.set_type(p.status.as_str());
            st.set_description(text);
            st
        }
        CellStatus::Unsupported | CellStatus::Cancelled => {
            let mut st = TestCaseStatus::skipped();
            st.set_message(truncate(
                &one_line(&format!("{}: {text}", p.status)),
                MESSAGE_WIDTH,
            ));
            st.set_type(p.status.as_str());
            st.set_description(text);
            st
        }
    };
    let mut case = TestCase::new(format!("{PHASE_CASE_PREFIX}{}", p.name), status);
    case.set_classname(classname(values, "upgrade"));
    case.set_time(Duration::from_millis(p.duration_ms));
    case.add_property(Property::new("dockmatrix.status", p.status.as_str()));
    case
}

/// The name of an upgrade phase's testcase: this prefix and the phase's name.
pub const PHASE_CASE_PREFIX: &str = "[phase] ";

/// A check's testcase name: prefixed by its phase (`[verify] name`) in an upgrade cell,
/// where the same check runs once per phase, so names stay unique in the suite.
fn case_name(ch: &CheckRecord) -> String {
    match &ch.phase {
        Some(p) => format!("[{p}] {}", ch.name),
        None => ch.name.clone(),
    }
}

fn check_case(ch: &CheckRecord, values: &str) -> TestCase {
    let first_line = truncate(&one_line(&ch.message), MESSAGE_WIDTH).into_owned();
    let status = match ch.status {
        CheckStatus::Pass | CheckStatus::Fixed => TestCaseStatus::success(),
        CheckStatus::Skipped | CheckStatus::KnownFail => {
            let mut st = TestCaseStatus::skipped();
            st.set_message(if ch.status == CheckStatus::KnownFail {
                format!("known-fail: {first_line}")
            } else {
                first_line
            });
            st.set_type(ch.status.as_str());
            st
        }
        CheckStatus::Fail | CheckStatus::Error => {
            let mut st = TestCaseStatus::non_success(if ch.status == CheckStatus::Fail {
                NonSuccessKind::Failure
            } else {
                NonSuccessKind::Error
            });
            st.set_message(first_line);
            st.set_type(ch.status.as_str());
            st.set_description(ch.message.as_str());
            st
        }
    };
    let mut case = TestCase::new(case_name(ch), status);
    case.set_classname(classname(values, &ch.suite));
    case.set_time(Duration::from_millis(ch.duration_ms));
    if ch.status != CheckStatus::Pass {
        case.add_property(Property::new("dockmatrix.status", ch.status.as_str()));
    }
    if ch.status == CheckStatus::Fixed {
        case.set_system_out(format!(
            "fixed: this known incompatibility passes now; its [[known]] entry can go. {}",
            ch.message
        ));
    }
    if let Some(p) = &ch.perf {
        case.add_property(Property::new(
            "dockmatrix.perf.p95_ms",
            p.p95_ms.to_string(),
        ));
        case.add_property(Property::new(
            "dockmatrix.perf.ops_per_sec",
            p.ops_per_sec.to_string(),
        ));
        if let Some(b) = &p.baseline {
            case.add_property(Property::new(
                "dockmatrix.perf.p95_delta_pct",
                b.p95_delta_pct.to_string(),
            ));
            case.add_property(Property::new(
                "dockmatrix.perf.regressed",
                b.regressed.to_string(),
            ));
        }
    }
    case
}
