//! JUnit XML for CI: one `<testsuite>` per cell, one `<testcase>` per check.
//! `fail` is a `<failure>`, `error` an `<error>`, `skipped` and `known-fail` are
//! `<skipped>` (a documented incompatibility must not turn CI red), `fixed` passes with
//! a property saying so. A cell that ran no check (`unsupported`: skipped with the
//! engine's reason; `error`, `fail`: with its reason; `cancelled`: skipped), a cell that
//! failed though none of its checks did, and a `flaky` cell (its earlier attempts as
//! `<flakyFailure>`, the Surefire/nextest convention) get one more testcase named
//! [`CELL_CASE`]. Every suite carries the cell's status and measured engine as properties.
//!
//! What CI systems show decides the layout (docs/reports.md says what each shows):
//! - `classname` is [`classname`]: the cell's values, a dot, the check's suite. GitLab
//!   shows a test case's `classname` as its "Suite" and keys cases by classname and name
//!   (dropping repeats), and Jenkins splits it at its last dot into package and class, so
//!   the cell must be in it (a classname shared by all cells made them one) and its dots
//!   must not be the last one: Jenkins then shows package = cell, class = suite.
//! - A failing test case carries `<system-out>` (the cell, its measured engine, earlier
//!   attempts) and `<system-err>` (the services' log tails): GitLab reads both only from
//!   a `<testcase>`, and Jenkins shows them on the case's page.
//!
//! An upgrade cell's suite has a testcase per phase (`[phase] seed`, `[phase] upgrade`, …,
//! failing or skipped as the phase's status says) and its checks' names carry their phase
//! (`[verify] redis: PING answers PONG`); a phase that did not pass explains the cell, so
//! it needs no [`CELL_CASE`] then.
//!
//! The XML is written directly, in quick-junit's layout (the element order of the
//! Surefire schema, four-space indent): quick-junit re-cleans every string it is given
//! (ANSI stripping, control characters), which made JUnit the slowest format by far
//! (2 s for 10,000 cells against 0.4–0.7 s for the others), while every string here
//! comes from the already [`sanitised`] record. The escaper below still drops what XML
//! 1.0 forbids, so the output is well-formed whatever it is given.

use std::borrow::Cow;
use std::fmt::Write as _;

use rayon::prelude::*;

use super::text::{one_line, sanitised, truncate};
use super::{Options, describe_values};
use crate::results::{CellRecord, CellStatus, CheckRecord, CheckStatus, PhaseRecord, RunRecord};

/// The name of the testcase that stands for the cell itself.
pub const CELL_CASE: &str = "[cell]";

/// The name of an upgrade phase's testcase: this prefix and the phase's name.
pub const PHASE_CASE_PREFIX: &str = "[phase] ";

/// How long a `message` attribute may be (the element's text has the whole message).
const MESSAGE_WIDTH: usize = 200;

/// Cells per parallel chunk.
const CHUNK: usize = 128;

pub fn render_junit(record: &RunRecord, _opts: &Options) -> String {
    let record = sanitised(record);
    // Suites are written in parallel, a chunk of cells at a time, then joined in order
    // under one `<testsuites>` whose totals are the chunks' sums.
    let chunks: Vec<(String, Totals)> = record
        .cells
        .par_chunks(CHUNK)
        .map(|cells| {
            let mut out = String::with_capacity(cells.len() * 4096);
            let mut totals = Totals::default();
            for cell in cells {
                totals.add(&write_suite(&mut out, cell));
            }
            (out, totals)
        })
        .collect();
    let mut totals = Totals::default();
    for (_, t) in &chunks {
        totals.add(t);
    }
    let total_ms: u64 = record.cells.iter().map(|c| c.durations_ms.total).sum();
    let body: usize = chunks.iter().map(|(b, _)| b.len()).sum();
    let mut out = String::with_capacity(body + 512);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites");
    attr(
        &mut out,
        "name",
        &format!("dockmatrix {}", record.matrix.name),
    );
    totals.write_attrs(&mut out, false);
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(&record.started_at) {
        attr(
            &mut out,
            "timestamp",
            &t.format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string(),
        );
    }
    time_attr(&mut out, total_ms);
    out.push_str(">\n");
    for (b, _) in &chunks {
        out.push_str(b);
    }
    out.push_str("</testsuites>\n");
    out
}

/// Counts of a suite or of the whole report.
#[derive(Debug, Default, Clone, Copy)]
struct Totals {
    tests: usize,
    skipped: usize,
    failures: usize,
    errors: usize,
}

impl Totals {
    fn add(&mut self, o: &Totals) {
        self.tests += o.tests;
        self.skipped += o.skipped;
        self.failures += o.failures;
        self.errors += o.errors;
    }

    fn count(&mut self, case: &Case<'_>) {
        self.tests += 1;
        match &case.outcome {
            Outcome::Success { .. } => {}
            Outcome::Failed { tag: FAILURE, .. } => self.failures += 1,
            Outcome::Failed { .. } => self.errors += 1,
            Outcome::Skipped { .. } => self.skipped += 1,
        }
    }

    /// `<testsuites>` orders them tests, skipped, failures, errors; `<testsuite>` tests,
    /// skipped, errors, failures (quick-junit's order, kept so the output is unchanged).
    fn write_attrs(&self, out: &mut String, suite: bool) {
        let _ = write!(
            out,
            " tests=\"{}\" skipped=\"{}\"",
            self.tests, self.skipped
        );
        if suite {
            let _ = write!(
                out,
                " errors=\"{}\" failures=\"{}\"",
                self.errors, self.failures
            );
        } else {
            let _ = write!(
                out,
                " failures=\"{}\" errors=\"{}\"",
                self.failures, self.errors
            );
        }
    }
}

const FAILURE: &str = "failure";
const ERROR: &str = "error";

/// A testcase before it is written.
struct Case<'a> {
    name: Cow<'a, str>,
    classname: String,
    time_ms: u64,
    properties: Vec<(&'static str, Cow<'a, str>)>,
    outcome: Outcome<'a>,
    system_out: Option<String>,
}

impl Case<'_> {
    /// Whether CI shows it as not passing (its output is worth carrying).
    fn failed(&self) -> bool {
        match &self.outcome {
            Outcome::Failed { .. } => true,
            Outcome::Success { flaky } => !flaky.is_empty(),
            Outcome::Skipped { .. } => false,
        }
    }
}

enum Outcome<'a> {
    /// Passed; a flaky cell's earlier attempts as `<flakyFailure>`/`<flakyError>`.
    Success { flaky: Vec<Rerun<'a>> },
    /// `<failure>` or `<error>`.
    Failed {
        tag: &'static str,
        message: Cow<'a, str>,
        ty: &'static str,
        description: Cow<'a, str>,
    },
    Skipped {
        message: Cow<'a, str>,
        ty: &'static str,
        description: Option<Cow<'a, str>>,
    },
}

struct Rerun<'a> {
    tag: &'static str,
    message: String,
    ty: &'static str,
    description: Cow<'a, str>,
}

/// Writes the cell's `<testsuite>`; returns its counts.
fn write_suite(out: &mut String, cell: &CellRecord) -> Totals {
    let values = describe_values(cell);
    let mut cases: Vec<Case<'_>> = Vec::with_capacity(cell.checks.len() + 5);
    cases.extend(cell_case(cell, &values));
    if let Some(u) = &cell.upgrade {
        cases.extend(u.phases.iter().map(|p| phase_case(p, &values)));
    }
    cases.extend(cell.checks.iter().map(|ch| check_case(ch, &values)));
    let mut totals = Totals::default();
    for c in &cases {
        totals.count(c);
    }
    // What a failing case carries: the cell's context and its services' log tails.
    let extra = cases
        .iter()
        .any(Case::failed)
        .then(|| (cell_context(cell, &values), log_tails(cell)));

    out.push_str("    <testsuite");
    attr(out, "name", &values);
    totals.write_attrs(out, true);
    time_attr(out, cell.durations_ms.total);
    out.push_str(">\n        <properties>\n");
    let property = |out: &mut String, name: &str, value: &str| {
        out.push_str("            <property");
        attr(out, "name", name);
        attr(out, "value", value);
        out.push_str("/>\n");
    };
    property(out, "dockmatrix.cell", &cell.id);
    property(out, "dockmatrix.status", cell.status.as_str());
    property(out, "dockmatrix.attempts", &cell.attempts.to_string());
    if let Some(e) = &cell.engine {
        property(out, "dockmatrix.engine.server_version", &e.server_version);
        property(out, "dockmatrix.engine.api_version", &e.api_version);
        property(out, "dockmatrix.engine.storage_driver", &e.storage_driver);
        for (name, value) in [
            ("dockmatrix.engine.containerd", &e.containerd),
            ("dockmatrix.engine.runc", &e.runc),
            ("dockmatrix.engine.kernel", &e.kernel),
            ("dockmatrix.engine.cgroup_version", &e.cgroup_version),
            ("dockmatrix.engine.os", &e.os),
            ("dockmatrix.engine.arch", &e.arch),
            // Older records lack them: no empty properties.
            ("dockmatrix.engine.min_api_version", &e.min_api_version),
            ("dockmatrix.engine.image_store", &e.image_store),
        ] {
            if !value.is_empty() {
                property(out, name, value);
            }
        }
    }
    if let Some(r) = &cell.reason {
        property(out, "dockmatrix.reason", &one_line(r));
    }
    if let Some(u) = &cell.upgrade {
        property(out, "dockmatrix.upgrade.from", &u.from);
        property(out, "dockmatrix.upgrade.to", &u.to);
        property(out, "dockmatrix.upgrade.from_driver", &u.from_driver);
        property(out, "dockmatrix.upgrade.to_driver", &u.to_driver);
        if let Some(k) = u.data_kept {
            property(out, "dockmatrix.upgrade.data_kept", &k.to_string());
        }
        if let Some(c) = u.containers_back {
            property(out, "dockmatrix.upgrade.containers_back", &c.to_string());
        }
    }
    out.push_str("        </properties>\n");
    for c in &cases {
        let extra = extra
            .as_ref()
            .filter(|_| c.failed())
            .map(|(context, logs)| (context.as_str(), logs.as_deref()));
        write_case(out, c, extra);
    }
    out.push_str("    </testsuite>\n");
    totals
}

/// Writes a testcase; `extra` (a failing case's): the cell's context for `<system-out>`
/// and the services' log tails for `<system-err>`.
fn write_case(out: &mut String, c: &Case<'_>, extra: Option<(&str, Option<&str>)>) {
    out.push_str("        <testcase");
    attr(out, "name", &c.name);
    attr(out, "classname", &c.classname);
    time_attr(out, c.time_ms);
    let has_children = !c.properties.is_empty()
        || c.system_out.is_some()
        || extra.is_some()
        || !matches!(&c.outcome, Outcome::Success { flaky } if flaky.is_empty());
    if !has_children {
        out.push_str("/>\n");
        return;
    }
    out.push_str(">\n");
    if !c.properties.is_empty() {
        out.push_str("            <properties>\n");
        for (name, value) in &c.properties {
            out.push_str("                <property");
            attr(out, "name", name);
            attr(out, "value", value);
            out.push_str("/>\n");
        }
        out.push_str("            </properties>\n");
    }
    match &c.outcome {
        Outcome::Success { flaky } => {
            for r in flaky {
                out.push_str("            <");
                out.push_str(r.tag);
                attr(out, "message", &r.message);
                attr(out, "type", r.ty);
                out.push('>');
                text(out, &r.description);
                let _ = writeln!(out, "</{}>", r.tag);
            }
        }
        Outcome::Failed {
            tag,
            message,
            ty,
            description,
        } => {
            let _ = write!(out, "            <{tag}");
            attr(out, "message", message);
            attr(out, "type", ty);
            out.push('>');
            text(out, description);
            let _ = writeln!(out, "</{tag}>");
        }
        Outcome::Skipped {
            message,
            ty,
            description,
        } => {
            out.push_str("            <skipped");
            attr(out, "message", message);
            attr(out, "type", ty);
            match description {
                Some(d) => {
                    out.push('>');
                    text(out, d);
                    out.push_str("</skipped>\n");
                }
                None => out.push_str("/>\n"),
            }
        }
    }
    let context = extra.map(|(context, _)| context);
    if context.is_some() || c.system_out.is_some() {
        out.push_str("            <system-out>");
        let parts = [context, c.system_out.as_deref()];
        for (i, part) in parts.into_iter().flatten().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            text(out, part);
        }
        out.push_str("</system-out>\n");
    }
    if let Some((_, Some(logs))) = extra {
        out.push_str("            <system-err>");
        text(out, logs);
        out.push_str("</system-err>\n");
    }
    out.push_str("        </testcase>\n");
}

/// The testcase standing for the cell, when its checks do not say everything.
fn cell_case<'a>(cell: &'a CellRecord, values: &str) -> Option<Case<'a>> {
    let reason: Cow<'_, str> = match &cell.reason {
        Some(r) => Cow::Borrowed(r),
        None => Cow::Borrowed(cell.status.as_str()),
    };
    // A phase of an upgrade that did not pass has a testcase of its own saying why.
    let phases_explain = cell
        .upgrade
        .as_ref()
        .is_some_and(|u| u.phases.iter().any(|p| p.status != CellStatus::Pass));
    let checks_explain = phases_explain || cell.checks.iter().any(|c| c.status.fails_cell());
    let outcome = match cell.status {
        CellStatus::Pass if cell.checks.is_empty() => Outcome::Success { flaky: Vec::new() },
        CellStatus::Pass => return None,
        CellStatus::Flaky => Outcome::Success {
            flaky: cell
                .previous_attempts
                .iter()
                .map(|a| {
                    let text: Cow<'_, str> = match &a.reason {
                        Some(r) => Cow::Borrowed(r),
                        None => Cow::Borrowed(a.status.as_str()),
                    };
                    Rerun {
                        tag: match a.status {
                            CellStatus::Error => "flakyError",
                            _ => "flakyFailure",
                        },
                        message: truncate(&one_line(&text), MESSAGE_WIDTH).into_owned(),
                        ty: a.status.as_str(),
                        description: text,
                    }
                })
                .collect(),
        },
        CellStatus::Fail | CellStatus::Error if checks_explain => return None,
        CellStatus::Fail | CellStatus::Error => Outcome::Failed {
            tag: if cell.status == CellStatus::Fail {
                FAILURE
            } else {
                ERROR
            },
            message: Cow::Owned(truncate(&one_line(&reason), MESSAGE_WIDTH).into_owned()),
            ty: cell.status.as_str(),
            description: reason,
        },
        CellStatus::Unsupported | CellStatus::Cancelled if phases_explain => return None,
        CellStatus::Unsupported | CellStatus::Cancelled => Outcome::Skipped {
            message: Cow::Owned(
                truncate(
                    &one_line(&format!("{}: {reason}", cell.status)),
                    MESSAGE_WIDTH,
                )
                .into_owned(),
            ),
            ty: cell.status.as_str(),
            description: Some(reason),
        },
    };
    Some(Case {
        name: Cow::Borrowed(CELL_CASE),
        classname: classname(values, "cell"),
        time_ms: cell.durations_ms.total,
        properties: vec![("dockmatrix.status", Cow::Borrowed(cell.status.as_str()))],
        outcome,
        system_out: None,
    })
}

/// A testcase per upgrade phase (`[phase] seed`, …): failing, an error or skipped
/// (unsupported, cancelled) as its status says, with its reason and findings.
fn phase_case<'a>(p: &'a PhaseRecord, values: &str) -> Case<'a> {
    let mut text = p.reason.clone().unwrap_or_else(|| p.status.to_string());
    for f in &p.findings {
        text.push_str("\n- ");
        text.push_str(f);
    }
    let outcome = match p.status {
        CellStatus::Pass | CellStatus::Flaky => Outcome::Success { flaky: Vec::new() },
        CellStatus::Fail | CellStatus::Error => Outcome::Failed {
            tag: if p.status == CellStatus::Fail {
                FAILURE
            } else {
                ERROR
            },
            message: Cow::Owned(truncate(&one_line(&text), MESSAGE_WIDTH).into_owned()),
            ty: p.status.as_str(),
            description: Cow::Owned(text),
        },
        CellStatus::Unsupported | CellStatus::Cancelled => Outcome::Skipped {
            message: Cow::Owned(
                truncate(&one_line(&format!("{}: {text}", p.status)), MESSAGE_WIDTH).into_owned(),
            ),
            ty: p.status.as_str(),
            description: Some(Cow::Owned(text)),
        },
    };
    Case {
        name: Cow::Owned(format!("{PHASE_CASE_PREFIX}{}", p.name)),
        classname: classname(values, "upgrade"),
        time_ms: p.duration_ms,
        properties: vec![("dockmatrix.status", Cow::Borrowed(p.status.as_str()))],
        outcome,
        system_out: None,
    }
}

/// A check's testcase name: prefixed by its phase (`[verify] name`) in an upgrade cell,
/// where the same check runs once per phase, so names stay unique in the suite.
fn case_name(ch: &CheckRecord) -> Cow<'_, str> {
    match &ch.phase {
        Some(p) => Cow::Owned(format!("[{p}] {}", ch.name)),
        None => Cow::Borrowed(&ch.name),
    }
}

fn check_case<'a>(ch: &'a CheckRecord, values: &str) -> Case<'a> {
    let first_line = || truncate(&one_line(&ch.message), MESSAGE_WIDTH).into_owned();
    let outcome = match ch.status {
        CheckStatus::Pass | CheckStatus::Fixed => Outcome::Success { flaky: Vec::new() },
        CheckStatus::Skipped | CheckStatus::KnownFail => Outcome::Skipped {
            message: Cow::Owned(if ch.status == CheckStatus::KnownFail {
                format!("known-fail: {}", first_line())
            } else {
                first_line()
            }),
            ty: ch.status.as_str(),
            description: None,
        },
        CheckStatus::Fail | CheckStatus::Error => Outcome::Failed {
            tag: if ch.status == CheckStatus::Fail {
                FAILURE
            } else {
                ERROR
            },
            message: Cow::Owned(first_line()),
            ty: ch.status.as_str(),
            description: Cow::Borrowed(&ch.message),
        },
    };
    let mut properties = Vec::new();
    if ch.status != CheckStatus::Pass {
        properties.push(("dockmatrix.status", Cow::Borrowed(ch.status.as_str())));
    }
    if let Some(p) = &ch.perf {
        properties.push(("dockmatrix.perf.p95_ms", Cow::Owned(p.p95_ms.to_string())));
        if let Some(precision) = p.p95_precision_pct {
            properties.push((
                "dockmatrix.perf.p95_precision_pct",
                Cow::Owned(precision.to_string()),
            ));
        }
        properties.push((
            "dockmatrix.perf.ops_per_sec",
            Cow::Owned(p.ops_per_sec.to_string()),
        ));
        if let Some(b) = &p.baseline {
            properties.push((
                "dockmatrix.perf.p95_delta_pct",
                Cow::Owned(b.p95_delta_pct.to_string()),
            ));
            properties.push((
                "dockmatrix.perf.regressed",
                Cow::Owned(b.regressed.to_string()),
            ));
        }
    }
    Case {
        name: case_name(ch),
        classname: classname(values, &ch.suite),
        time_ms: ch.duration_ms,
        properties,
        outcome,
        system_out: (ch.status == CheckStatus::Fixed).then(|| {
            format!(
                "fixed: this known incompatibility passes now; its [[known]] entry can go. {}",
                ch.message
            )
        }),
    }
}

/// A test case's `classname`: the cell's values, a dot, then the suite (`cell` for the
/// cell's own case, `upgrade` for a phase's), its dots made `_` so that the last dot is
/// the one Jenkins splits at: package `engine=28.5.2, storage-driver=vfs`, class
/// `connectivity`.
pub fn classname(values: &str, suite: &str) -> String {
    format!("{values}.{}", suite.replace('.', "_"))
}

/// A failing case's `<system-out>`: which cell, on what engine as measured, and what
/// its earlier attempts said (CI pages show a case's output, rarely its suite's
/// properties).
fn cell_context(cell: &CellRecord, values: &str) -> String {
    let mut s = format!("cell {} ({values})\nstatus {}", cell.id, cell.status);
    if cell.attempts > 1 {
        let _ = write!(s, " after {} attempts", cell.attempts);
    }
    if let Some(e) = &cell.engine {
        let _ = write!(
            s,
            "\nengine {} {}: Docker {} (API {}), {}",
            e.name, e.kind, e.server_version, e.api_version, e.storage_driver
        );
        for (what, v) in [
            ("containerd", &e.containerd),
            ("runc", &e.runc),
            ("kernel", &e.kernel),
        ] {
            if !v.is_empty() {
                let _ = write!(s, ", {what} {v}");
            }
        }
        if !e.cgroup_version.is_empty() {
            let _ = write!(s, ", cgroup v{}", e.cgroup_version);
        }
    }
    for (i, a) in cell.previous_attempts.iter().enumerate() {
        let _ = write!(s, "\nattempt {}: {}", i + 1, a.status);
        if let Some(r) = &a.reason {
            let _ = write!(s, ": {}", one_line(r));
        }
    }
    s
}

/// The services' log tails, each under a `==> name (image) <==` line; `None` when no
/// service's was kept (they are kept for cells that did not pass).
fn log_tails(cell: &CellRecord) -> Option<String> {
    let mut s = String::new();
    for svc in cell.services.iter().filter(|svc| !svc.log_tail.is_empty()) {
        if !s.is_empty() {
            s.push('\n');
        }
        let _ = writeln!(s, "==> {} ({}) <==", svc.name, svc.image);
        for line in &svc.log_tail {
            s.push_str(line);
            s.push('\n');
        }
    }
    (!s.is_empty()).then_some(s)
}

// ---- writing XML ----

/// ` name="value"`, escaped.
fn attr(out: &mut String, name: &str, value: &str) {
    out.push(' ');
    out.push_str(name);
    out.push_str("=\"");
    escape(out, value, true);
    out.push('"');
}

/// ` time="1.234"`: seconds with three decimals, as quick-junit writes them.
fn time_attr(out: &mut String, ms: u64) {
    let _ = write!(out, " time=\"{}.{:03}\"", ms / 1000, ms % 1000);
}

/// Element text, escaped.
fn text(out: &mut String, value: &str) {
    escape(out, value, false);
}

/// Appends `s` escaped for XML 1.0: `&`, `<`, `>`, `"` and `'` as entities; in an
/// attribute also tab, line feed and carriage return as character references (a parser
/// would otherwise read them as spaces); and the characters XML 1.0 forbids (C0 controls
/// other than tab, line feed and carriage return, U+FFFE, U+FFFF) dropped, since no
/// escape can carry them. Runs of plain bytes are copied whole.
pub(crate) fn escape(out: &mut String, s: &str, attribute: bool) {
    let bytes = s.as_bytes();
    let mut plain = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let replacement: Option<&str> = match b {
            b'&' => Some("&amp;"),
            b'<' => Some("&lt;"),
            b'>' => Some("&gt;"),
            b'"' => Some("&quot;"),
            b'\'' => Some("&apos;"),
            b'\t' if attribute => Some("&#9;"),
            b'\n' if attribute => Some("&#10;"),
            b'\r' if attribute => Some("&#13;"),
            b'\t' | b'\n' | b'\r' => None,
            0..=0x1f => Some(""),
            // U+FFFE and U+FFFF: EF BF BE / EF BF BF.
            0xef if bytes.get(i + 1) == Some(&0xbf)
                && matches!(bytes.get(i + 2), Some(0xbe | 0xbf)) =>
            {
                out.push_str(&s[plain..i]);
                i += 3;
                plain = i;
                continue;
            }
            _ => None,
        };
        if let Some(r) = replacement {
            out.push_str(&s[plain..i]);
            out.push_str(r);
            plain = i + 1;
        }
        i += 1;
    }
    out.push_str(&s[plain..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(s: &str, attribute: bool) -> String {
        let mut out = String::new();
        escape(&mut out, s, attribute);
        out
    }

    #[test]
    fn escapes_markup_and_drops_what_xml_forbids() {
        assert_eq!(
            esc("<a href='x'>&\"</a>", false),
            "&lt;a href=&apos;x&apos;&gt;&amp;&quot;&lt;/a&gt;"
        );
        assert_eq!(esc("nul\0 bell\x07 esc\x1b ok", false), "nul bell esc ok");
        assert_eq!(esc("a\u{fffe}b\u{ffff}c\u{fffd}", false), "abc\u{fffd}");
        assert_eq!(esc("tab\tline\ncr\r", false), "tab\tline\ncr\r");
        assert_eq!(esc("tab\tline\n", true), "tab&#9;line&#10;");
        assert_eq!(esc("plain ünïcödé ✅", true), "plain ünïcödé ✅");
        // Whatever it is given, the result parses as XML and reads back as the text.
        let nasty: String = (0u32..0x100)
            .chain([0xfffe, 0xffff, 0x1f600])
            .filter_map(char::from_u32)
            .collect();
        let xml = format!("<r a=\"{}\">{}</r>", esc(&nasty, true), esc(&nasty, false));
        let doc = roxmltree::Document::parse(&xml).expect("well-formed");
        let allowed: String = nasty
            .chars()
            .filter(|c| !matches!(c, '\0'..='\x08' | '\x0b' | '\x0c' | '\x0e'..='\x1f' | '\u{fffe}' | '\u{ffff}'))
            .collect();
        assert_eq!(doc.root_element().attribute("a"), Some(allowed.as_str()));
        // Text content: a parser turns \r\n and lone \r into \n (XML end-of-line rule).
        assert_eq!(
            doc.root_element().text(),
            Some(allowed.replace("\r\n", "\n").replace('\r', "\n").as_str())
        );
    }
}
