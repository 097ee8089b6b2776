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

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dockmatrix::report::{self, Format, Options, Pivot};
use dockmatrix::results::{CellStatus, CheckStatus, RunRecord};
use regex::Regex;

use crate::common::*;

fn fixture_file() -> PathBuf {
    root().join("tests/data/real-run.json")
}

fn real() -> RunRecord {
    RunRecord::load(&fixture_file()).expect("tests/data/real-run.json loads")
}

// ---- the generator ----

/// A TCP server on the host answering Redis' PING with an error the first time and with
/// PONG afterwards (tests/scheduler.rs does the same): a retry re-provisions the whole
/// stack, so state that outlives an attempt cannot live in a container.
fn fails_once_server() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("0.0.0.0:0").expect("listener");
    let port = listener.local_addr().expect("address").port();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = [0u8; 256];
            let _ = conn.read(&mut buf);
            let reply: &[u8] = if seen.fetch_add(1, Ordering::SeqCst) == 0 {
                b"-ERR first attempt fails on purpose\r\n"
            } else {
                b"+PONG\r\n"
            };
            let _ = conn.write_all(reply);
        }
    });
    (port, count)
}

/// The default bridge's gateway: where containers reach the host.
fn host_address_for_containers() -> String {
    let o = Command::new("docker")
        .args([
            "network",
            "inspect",
            "bridge",
            "--format",
            "{{(index .IPAM.Config 0).Gateway}}",
        ])
        .output()
        .expect("docker runs");
    let gateway = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(!gateway.is_empty(), "the default bridge has a gateway");
    gateway
}

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
    let mut child = Command::new(env!("CARGO_BIN_EXE_dockmatrix"))
        .args([
            "run",
            "tests/data/real-run/matrix.toml",
            "--out",
            dir.to_str().expect("utf-8"),
            "--retries",
            "1",
            "-j",
            "6",
        ])
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env("DOCKMATRIX_FIXTURE_COUNTER", &counter)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawned");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
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
    assert_eq!(calls.load(Ordering::SeqCst), 2, "one counter call per attempt");
    assert_eq!(labelled_objects(&run_id), Vec::<String>::new(), "nothing left");

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
