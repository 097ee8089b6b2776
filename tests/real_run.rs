//! Snapshots of every report format for a run record made by a real run, then frozen:
//! `tests/data/real-run.json`, from the matrix and suite in `tests/data/real-run/`. It
//! holds cells `pass`, `fail`, `flaky`, `unsupported`, `error` and `cancelled`, and
//! checks `pass`, `fail`, `skipped`, `known-fail`, `fixed` and `error`. Whatever depends on
//! the machine or the clock (ids, timestamps, durations, ports, addresses, the host's and
//! the engine's versions, Redis' log lines) is redacted before rendering.
//!
//! Regenerate the record (needs Docker and the images `dockmatrix/redis:7.0` and
//! `dockmatrix/engine:28.5.2`), then review and accept the snapshots:
//!
//! ```text
//! cargo test --test tests real_run::regenerate -- --ignored --exact --nocapture
//! INSTA_UPDATE=always cargo test --test tests real_run::
//! ```

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use dockmatrix::report::{self, Format, Options, Pivot};
use dockmatrix::results::{CellStatus, CheckStatus, EngineFacts, RunRecord};
use regex::Regex;

use crate::common::*;
use crate::report::{redacted, render};

fn fixture_file() -> PathBuf {
    root().join("tests/data/real-run.json")
}

fn real() -> RunRecord {
    RunRecord::load(&fixture_file()).expect("tests/data/real-run.json loads")
}

// ---- the generator ----

/// Runs `tests/data/real-run/matrix.toml` through the binary with `--retries 1`, sends
/// Ctrl-C once every cell but `case=cancelled` has finished, and freezes the run.json.
#[test]
#[ignore = "regenerates tests/data/real-run.json from a real run; see the module docs"]
fn regenerate() {
    let images = ["dockmatrix/redis:7.0", "dockmatrix/engine:28.5.2"];
    if !docker_available("real_run::regenerate")
        || !images_available("real_run::regenerate", &images)
    {
        return;
    }
    let (port, calls) = fails_once_server();
    let counter = format!("{}:{port}", host_address_for_containers());
    let out = tempfile::tempdir().expect("tempdir");
    let dir = out.path().join("run");
    let started = Instant::now();
    // From the repository root with a relative matrix path, so run.json's
    // `matrix.path` is the same on every machine.
    let (mut child, rx) = spawn_dockmatrix(
        &[
            "run",
            "tests/data/real-run/matrix.toml",
            "--out",
            dir.to_str().expect("utf-8"),
            "--retries",
            "1",
            "-j",
            "6",
        ],
        &[("DOCKMATRIX_FIXTURE_COUNTER", &counter)],
    );
    // Progress lines: `run ID: N cells, …`, then `… [  k/N] ✅ PASS        ID (…s)…`.
    let finished = Regex::new(r"\[\s*(\d+)/(\d+)\] \S+ (\w+)\s+(\S+)").expect("regex");
    let mut run_id = String::new();
    let mut said = Vec::new();
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(300))
            .unwrap_or_else(|_| panic!("the run stalled:\n{}", said.join("\n")));
        eprintln!("{line}");
        said.push(line.clone());
        if let Some(rest) = line.strip_prefix("run ") {
            run_id = rest.split(':').next().unwrap_or_default().to_string();
        }
        if let Some(m) = finished.captures(&line) {
            assert!(
                !m[4].starts_with("host-cancelled-"),
                "the cell meant to be cancelled finished:\n{}",
                said.join("\n")
            );
            if m[1] == (m[2].parse::<usize>().expect("count") - 1).to_string() {
                break;
            }
        }
    }
    // Every other cell is done: Ctrl-C, as a user would press it.
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    let status = child.wait().expect("reaped");
    for line in rx.try_iter() {
        eprintln!("{line}");
    }
    eprintln!("real run {run_id} in {:?}", started.elapsed());
    assert_eq!(status.code(), Some(130), "interrupted");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "one counter call per attempt"
    );
    assert_eq!(
        labelled_objects(&run_id),
        Vec::<String>::new(),
        "nothing left"
    );

    let record = RunRecord::load(&dir).expect("run.json");
    assert_every_status(&record);
    std::fs::copy(dir.join("run.json"), fixture_file()).expect("frozen");
    eprintln!("wrote {}", fixture_file().display());
}

// ---- what the frozen record holds ----

fn assert_every_status(r: &RunRecord) {
    let by_case = |case: &str| {
        r.cells
            .iter()
            .find(|c| c.values.get("case").map(String::as_str) == Some(case))
            .unwrap_or_else(|| panic!("no case={case} cell"))
    };
    for (case, status) in [
        ("pass", CellStatus::Pass),
        ("fail", CellStatus::Fail),
        ("flaky", CellStatus::Flaky),
        ("unsupported", CellStatus::Unsupported),
        ("error", CellStatus::Error),
        ("cancelled", CellStatus::Cancelled),
    ] {
        let c = by_case(case);
        assert_eq!(c.status, status, "case={case}: {c:?}");
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
        assert!(checks.contains(&s), "no {s} check");
    }
    assert!(r.interrupted, "the run was interrupted");
    let flaky = by_case("flaky");
    assert_eq!(flaky.attempts, 2);
    assert_eq!(flaky.previous_attempts[0].status, CellStatus::Fail);
}

#[test]
fn real_run_holds_every_status() {
    assert_every_status(&real());
}

// ---- snapshots ----

/// Free text with the machine's and the moment's traces replaced: addresses, Redis' log
/// timestamps, the kernel, the filesystem and the cgroup version of the host, package
/// versions of the engine image (they move when the image is rebuilt).
struct Scrub(Vec<(Regex, &'static str)>);

impl Scrub {
    fn new() -> Scrub {
        let rules = [
            // IPv4 with an optional port, and bare ports after a host name.
            (r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b", "[addr]"),
            (r"\blocalhost:\d+\b", "[addr]"),
            // Redis: `1:M 27 Nov 2026 13:29:55.474 * …`.
            (
                r"\b\d+:([CMSX]) \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d\.\d+",
                "[pid]:$1 [time]",
            ),
            // Bookworm's Redis point release: the image's, rebuilt with updates.
            (r"\bRedis version=[\d.]+", "Redis version=[version]"),
            (r"\bkernel \S+:", "kernel [kernel]:"),
            (r"\bcgroup v\d", "cgroup v[n]"),
            (r"\bit is on \w+", "it is on [fs]"),
            (r"\blinux/\w+", "linux/[arch]"),
            (r"\b(containerd|runc|Docker) \d\S*", "$1 [version]"),
        ];
        Scrub(
            rules
                .into_iter()
                .map(|(re, to)| (Regex::new(re).expect("regex"), to))
                .collect(),
        )
    }

    fn text(&self, s: &mut String) {
        for (re, to) in &self.0 {
            if re.is_match(s) {
                *s = re.replace_all(s, *to).into_owned();
            }
        }
    }
}

/// What the host engine measured about itself: this machine's, not the matrix's.
fn host_engine(e: &mut EngineFacts) {
    if e.kind != "host" {
        return;
    }
    e.server_version = "[version]".into();
    e.api_version = "[api]".into();
    e.storage_driver = "[driver]".into();
    e.containerd = "[version]".into();
    e.runc = "[version]".into();
    e.kernel = "[kernel]".into();
    e.cgroup_version = "[n]".into();
    e.os = "[os]".into();
    e.arch = "[arch]".into();
}

/// The frozen record with everything that differs from one regeneration (or machine) to
/// the next replaced by stand-ins: ids, timestamps and durations (report.rs's
/// [`redacted`]), then the host's facts, resource figures, image build labels and the
/// traces in free text ([`Scrub`]). Log lines about the host's own settings go.
fn stable(r: RunRecord) -> RunRecord {
    let mut r = redacted(r);
    let scrub = Scrub::new();
    r.host.os = "[os]".into();
    r.host.kernel = "[kernel]".into();
    r.host.cpus = 0;
    r.host.memory_bytes = 0;
    r.warnings.iter_mut().for_each(|w| scrub.text(w));
    for c in &mut r.cells {
        c.engine.iter_mut().for_each(host_engine);
        // A reused engine's step takes 0 or a few ms: all steps show the stand-in.
        let d = &mut c.durations_ms;
        for v in [
            &mut d.engine,
            &mut d.images,
            &mut d.services,
            &mut d.checks,
            &mut d.teardown,
            &mut d.total,
        ] {
            *v = 1234;
        }
        for t in c.reason.iter_mut().chain(c.kept.iter_mut()) {
            scrub.text(t);
        }
        for a in &mut c.previous_attempts {
            a.reason.iter_mut().for_each(|t| scrub.text(t));
        }
        for f in &mut c.preflight {
            scrub.text(&mut f.reason);
        }
        for img in &mut c.images {
            for (k, v) in &mut img.labels {
                if k.starts_with("io.dockmatrix.package.") || k == "io.dockmatrix.recipe" {
                    *v = "[build]".into();
                }
            }
        }
        for s in &mut c.services {
            s.peak_memory_bytes = 0;
            s.cpu_ms = 0;
            s.ready_ms = s.ready_ms.map(|_| 1234);
            // Redis warns about vm.overcommit_memory when the host has it off.
            s.log_tail.retain(|l| !l.contains("overcommit"));
            s.log_tail.iter_mut().for_each(|l| scrub.text(l));
        }
        for ch in &mut c.checks {
            scrub.text(&mut ch.message);
            // Whether a fast check or step shows 0 ms or 1 ms is chance: every one that
            // ran shows 1234, a skipped check 0.
            ch.duration_ms = if ch.status == CheckStatus::Skipped {
                0
            } else {
                1234
            };
        }
    }
    r
}

fn snapshot(format: Format) -> String {
    render(format, &stable(real()))
}

#[test]
fn real_run_snapshot_table() {
    insta::assert_snapshot!("table", snapshot(Format::Table));
}

#[test]
fn real_run_snapshot_table_pivot() {
    // Rows = engine, columns = redis: a square mixing outcomes (◐), an error, a refusal.
    let opts = Options {
        color: false,
        pivot: Some(Pivot::new("engine", "redis")),
        width: None,
    };
    insta::assert_snapshot!(
        "table_pivot",
        report::render(Format::Table, &stable(real()), &opts)
    );
}

#[test]
fn real_run_snapshot_markdown() {
    insta::assert_snapshot!("markdown", snapshot(Format::Markdown));
}

#[test]
fn real_run_snapshot_csv() {
    insta::assert_snapshot!("csv", snapshot(Format::Csv));
}

#[test]
fn real_run_snapshot_json() {
    insta::assert_snapshot!("json", snapshot(Format::Json));
}

#[test]
fn real_run_snapshot_junit() {
    insta::assert_snapshot!("junit", snapshot(Format::Junit));
}

#[test]
fn real_run_snapshot_html() {
    insta::assert_snapshot!("html", snapshot(Format::Html));
}

/// Nothing of the machine or the moment the record was made on reaches a snapshot.
#[test]
fn real_run_snapshots_hold_no_machine_facts() {
    let r = real();
    let mut traces: Vec<String> = vec![r.run_id.clone(), r.host.kernel.clone()];
    // A short host name (`vm`) also occurs inside words; a longer one must not appear.
    if r.host.hostname.len() > 3 {
        traces.push(r.host.hostname.clone());
    }
    // Redis' log timestamps, `13:29:55.474`.
    let time = Regex::new(r"\d\d:\d\d:\d\d\.\d{3}").expect("regex");
    for c in &r.cells {
        if let Some(e) = c.engine.as_ref().filter(|e| e.kind == "host") {
            traces.extend([
                e.server_version.clone(),
                e.containerd.clone(),
                e.runc.clone(),
            ]);
        }
        traces.extend(c.images.iter().map(|i| i.digest.clone()));
        for s in &c.services {
            let lines = s.log_tail.iter();
            traces.extend(
                lines
                    .filter_map(|l| time.find(l))
                    .map(|m| m.as_str().to_string()),
            );
        }
    }
    assert!(
        traces.len() > 10,
        "the record has traces to hide: {traces:?}"
    );
    for format in [
        Format::Table,
        Format::Markdown,
        Format::Csv,
        Format::Json,
        Format::Junit,
        Format::Html,
    ] {
        let out = snapshot(format);
        for t in traces.iter().filter(|t| !t.is_empty()) {
            assert!(!out.contains(t.as_str()), "{t} in {format:?}");
        }
    }
}
