//! Scheduler options against a real engine, through the binary: `--only-failed RUN`,
//! `--keep failed` (then `clean --run`), `--fail-fast` and `--retries` (a cell that fails
//! once, then passes, is `flaky`). Each matrix is cheap: a Redis service, and a free
//! `case` axis whose value decides, through `when`, which checks a cell runs.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::*;

const REDIS_IMAGE: &str = "dockmatrix/redis:7.0";
const ENGINE_IMAGE: &str = "dockmatrix/engine:28.5.2";

/// Every cell pings Redis; a `case = "fail"` cell also runs a check that fails, and a
/// `case = "slow"` cell one that takes minutes.
const CHECKS: &str = r#"
kind = "regression"

[defaults]
timeout = "5m"

[[check]]
name = "sched: redis answers PING"
service = "redis"
redis = ["PING"]
expect = { reply = "PONG" }

[[check]]
name = "sched: fails on purpose"
service = "redis"
when = { case = "=fail" }
exec = ["sh", "-c", "echo failing on purpose; exit 3"]

[[check]]
name = "sched: takes minutes"
service = "redis"
when = { case = "=slow" }
exec = ["sleep", "300"]
"#;

/// A matrix file and its scenario in a fresh folder.
fn write_matrix(matrix: &str, scenario: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("checks.toml"), scenario).expect("scenario written");
    let path = dir.path().join("matrix.toml");
    std::fs::write(&path, matrix).expect("matrix written");
    (dir, path)
}

/// Runs `dockmatrix run MATRIX --out DIR EXTRA…`.
fn run_into(matrix: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "run",
        matrix.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
    ];
    args.extend(extra);
    dockmatrix(&args)
}

fn said(o: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", stdout(o), stderr(o))
}

/// `case` value → status, for every cell of a run.json.
fn statuses(run: &serde_json::Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = run["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .map(|c| {
            (
                c["values"]["case"].as_str().unwrap_or_default().to_string(),
                c["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = p
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    v.sort();
    v
}

/// A matrix of `case` values on the host engine, or on one dind engine of `engine`.
fn matrix(cases: &str, engine: Option<&str>, extra: &str) -> String {
    let (axis, spec) = match engine {
        Some(image) => (
            "engine = [\"dind\"]",
            format!("[engines.dind]\nkind = \"dind\"\nimage = \"{image}\"\n"),
        ),
        None => ("", String::new()),
    };
    format!(
        r#"
name = "scheduler"
scenarios = ["checks.toml"]
[axes]
{axis}
case = [{cases}]
redis = ["7.0"]
{extra}
{spec}
[services.redis]
kind = "redis"
image = "dockmatrix/redis:{{version}}"
ports = [6379]
"#
    )
}

fn host_matrix(cases: &str, extra: &str) -> String {
    matrix(cases, None, extra)
}

#[test]
fn run_only_failed_reruns_exactly_the_failed_and_errored_cells() {
    if !docker_available("only_failed") || !images_available("only_failed", &[REDIS_IMAGE]) {
        return;
    }
    // A cell that passes, one that fails, and one that errors (its image does not exist).
    let error_cell = "[[include]]\ncase = \"error\"\nredis = \"no-such-tag\"\n";
    let (_d, first_matrix) = write_matrix(&host_matrix(r#""pass", "fail""#, error_cell), CHECKS);
    let out = tempfile::tempdir().expect("tempdir");
    let first = out.path().join("first");
    let t = Instant::now();
    let o = run_into(&first_matrix, &first, &["-j", "3"]);
    assert_eq!(o.status.code(), Some(1), "{}", said(&o));
    let run = run_json(&first);
    assert_eq!(
        statuses(&run),
        pairs(&[("error", "error"), ("fail", "fail"), ("pass", "pass")]),
        "{run}"
    );
    eprintln!("first run in {:?}", t.elapsed());

    // The matrix grew a cell since: only the cells that failed or errored in the first
    // run are run again, matched by their values; the new cell and the passing one are not.
    let (_d2, second_matrix) =
        write_matrix(&host_matrix(r#""pass", "fail", "new""#, error_cell), CHECKS);
    let second = out.path().join("second");
    let t = Instant::now();
    let o = run_into(
        &second_matrix,
        &second,
        &["--only-failed", first.to_str().expect("utf-8")],
    );
    assert_eq!(o.status.code(), Some(1), "{}", said(&o));
    let rerun = run_json(&second);
    assert_eq!(
        statuses(&rerun),
        pairs(&[("error", "error"), ("fail", "fail")]),
        "{rerun}"
    );
    for c in rerun["cells"].as_array().expect("cells") {
        let before = run["cells"]
            .as_array()
            .expect("cells")
            .iter()
            .find(|b| b["values"] == c["values"])
            .expect("the rerun cell was in the first run");
        assert_eq!(before["id"], c["id"], "same values, same cell");
        assert_eq!(c["attempts"], 1, "{c}");
    }
    assert_eq!(
        rerun["options"]["only_failed"],
        first.to_str().expect("utf-8"),
        "{rerun}"
    );
    eprintln!("--only-failed rerun in {:?}", t.elapsed());

    // Nothing to rerun among the selected cells: says so and succeeds, runs nothing.
    let third = out.path().join("third");
    let o = run_into(
        &second_matrix,
        &third,
        &[
            "--only-failed",
            first.to_str().expect("utf-8"),
            "--filter",
            "case=pass",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", said(&o));
    assert!(stderr(&o).contains("nothing to rerun"), "{}", said(&o));
    assert!(!third.join("run.json").exists(), "no run happened");

    for r in [&run, &rerun] {
        assert_eq!(
            labelled_objects(r["run_id"].as_str().expect("run id")),
            Vec::<String>::new()
        );
    }
}

#[test]
fn run_keep_failed_leaves_the_failed_stack_reachable_until_clean() {
    let images = [ENGINE_IMAGE, REDIS_IMAGE];
    if !docker_available("keep_failed") || !images_available("keep_failed", &images) {
        return;
    }
    // On a dind engine: a kept stack keeps its engine up too, and `clean` removes both.
    let matrix = matrix(r#""pass", "fail""#, Some(ENGINE_IMAGE), "");
    let (_d, path) = write_matrix(&matrix, CHECKS);
    let out = tempfile::tempdir().expect("tempdir");
    let dir = out.path().join("run");
    let t = Instant::now();
    let o = run_into(&path, &dir, &["--keep", "failed", "-j", "2"]);
    eprintln!("run with --keep failed in {:?}", t.elapsed());
    let run = run_json(&dir);
    let run_id = run["run_id"].as_str().expect("run id").to_string();
    // Whatever happens below, this run's objects go.
    struct Clean(String);
    impl Drop for Clean {
        fn drop(&mut self) {
            let _ = dockmatrix(&["clean", "--run", &self.0]);
        }
    }
    let _clean = Clean(run_id.clone());
    assert_eq!(o.status.code(), Some(1), "{}", said(&o));
    assert_eq!(
        statuses(&run),
        pairs(&[("fail", "fail"), ("pass", "pass")]),
        "{run}"
    );
    let cell_of = |case: &str| {
        run["cells"]
            .as_array()
            .expect("cells")
            .iter()
            .find(|c| c["values"]["case"] == case)
            .expect("cell")
            .clone()
    };
    let failed = cell_of("fail");
    let failed_id = failed["id"].as_str().expect("id");
    assert!(
        cell_of("pass")["kept"].is_null(),
        "a passing cell is not kept"
    );
    let how = failed["kept"].as_str().expect("the failed cell is kept");

    // stderr says how to reach it: the docker command for its engine, and its ports.
    let err = stderr(&o);
    let line = err
        .lines()
        .find(|l| l.starts_with(&format!("kept {failed_id}: ")))
        .unwrap_or_else(|| panic!("a `kept` line for {failed_id}: {err}"));
    assert!(line.ends_with(how), "{line}");
    // The progress view says it as it happens and again at the end: always this cell.
    assert!(
        err.lines()
            .filter(|l| l.starts_with("kept "))
            .all(|l| l.starts_with(&format!("kept {failed_id}: "))),
        "only the failed cell is kept: {err}"
    );
    assert!(
        how.contains(&format!("dockmatrix clean --run {run_id}")),
        "{how}"
    );
    let (ps, rest) = how
        .split_once("; ports: ")
        .expect("ports in the instructions");
    let ps: Vec<&str> = ps.split_whitespace().collect();
    assert_eq!(ps.first(), Some(&"docker"), "{how}");
    let o = Command::new("docker")
        .args(&ps[1..])
        .args(["--format", "{{.Names}} {{.State}}"])
        .output()
        .expect("docker runs");
    let listed = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        o.status.success(),
        "{how}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        listed.contains(failed_id) && listed.contains("running"),
        "the failed cell's service runs: {listed}"
    );
    // `redis:6379 → IP:PORT`: Redis answers there.
    let addr = rest
        .split(';')
        .next()
        .and_then(|p| p.split(" → ").nth(1))
        .unwrap_or_else(|| panic!("an address in {how}"))
        .trim();
    let mut conn =
        TcpStream::connect_timeout(&addr.parse().expect("an IP:port"), Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("{addr}: {e}"));
    conn.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout set");
    conn.write_all(b"PING\r\n").expect("sent");
    let mut reply = [0u8; 7];
    conn.read_exact(&mut reply).expect("a reply");
    assert_eq!(&reply, b"+PONG\r\n");
    assert!(
        !labelled_objects(&run_id).is_empty(),
        "the engine stays up for the kept stack"
    );

    let o = dockmatrix(&["clean", "--run", &run_id]);
    assert_eq!(o.status.code(), Some(0), "{}", said(&o));
    assert_eq!(labelled_objects(&run_id), Vec::<String>::new());
}

#[test]
fn run_fail_fast_cancels_the_rest_after_the_first_failure() {
    if !docker_available("fail_fast") || !images_available("fail_fast", &[REDIS_IMAGE]) {
        return;
    }
    // Two at a time: `fail` fails within seconds while `slow` sits in a five-minute check;
    // `later` waits for a slot. The failure cancels both.
    let (_d, path) = write_matrix(&host_matrix(r#""fail", "slow", "later""#, ""), CHECKS);
    let out = tempfile::tempdir().expect("tempdir");
    let dir = out.path().join("run");
    let t = Instant::now();
    let o = run_into(&path, &dir, &["--fail-fast", "-j", "2"]);
    let took = t.elapsed();
    eprintln!("--fail-fast run in {took:?}");
    assert_eq!(o.status.code(), Some(1), "{}", said(&o));
    assert!(
        took < Duration::from_secs(90),
        "the slow cell was cancelled, not waited for: {took:?}"
    );
    let run = run_json(&dir);
    assert_eq!(
        statuses(&run),
        pairs(&[
            ("fail", "fail"),
            ("later", "cancelled"),
            ("slow", "cancelled")
        ]),
        "{run}"
    );
    assert_eq!(run["interrupted"], false, "--fail-fast is no Ctrl-C");
    let later = run["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .find(|c| c["values"]["case"] == "later")
        .expect("later");
    assert_eq!(later["attempts"], 0, "never started: {later}");
    assert!(stdout(&o).contains('⏹'), "{}", said(&o));
    assert_eq!(
        labelled_objects(run["run_id"].as_str().expect("run id")),
        Vec::<String>::new(),
        "the cancelled cell's stack is torn down"
    );
}

/// A one-cell matrix whose check asks the [`fails_once_server`] for PONG.
fn fails_once_matrix() -> (tempfile::TempDir, PathBuf, Arc<AtomicUsize>) {
    let gateway = host_address_for_containers();
    let (port, count) = fails_once_server();
    let scenario = format!(
        r#"
kind = "regression"
[[check]]
name = "sched: the host's counter answers PONG"
service = "redis"
exec = ["redis-cli", "-h", "{gateway}", "-p", "{port}", "PING"]
expect = {{ exit-code = 0, output = "PONG" }}
"#
    );
    let (d, path) = write_matrix(&host_matrix(r#""once""#, ""), &scenario);
    (d, path, count)
}

fn assert_flaky(o: &Output, run: &serde_json::Value) {
    assert_eq!(
        o.status.code(),
        Some(0),
        "flaky does not fail the run: {}",
        said(o)
    );
    let c = &run["cells"][0];
    assert_eq!(c["status"], "flaky", "{c}");
    assert_eq!(c["attempts"], 2, "{c}");
    assert_eq!(c["previous_attempts"][0]["status"], "fail", "{c}");
    assert!(
        c["previous_attempts"][0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("sched: the host's counter answers PONG")),
        "{c}"
    );
    assert!(stdout(o).contains('🔁'), "{}", said(o));
}

#[test]
fn run_retries_make_a_cell_that_fails_once_flaky() {
    if !docker_available("flaky") || !images_available("flaky", &[REDIS_IMAGE]) {
        return;
    }
    let (_d, path, count) = fails_once_matrix();
    let out = tempfile::tempdir().expect("tempdir");
    let dir = out.path().join("run");
    let t = Instant::now();
    let o = run_into(&path, &dir, &["--retries", "1"]);
    eprintln!("--retries 1 run in {:?}", t.elapsed());
    assert_eq!(count.load(Ordering::SeqCst), 2, "one call per attempt");
    let run = run_json(&dir);
    assert_flaky(&o, &run);
    assert_eq!(
        labelled_objects(run["run_id"].as_str().expect("run id")),
        Vec::<String>::new()
    );
}

#[test]
fn run_keep_failed_with_retries_keeps_only_a_final_failure() {
    if !docker_available("keep_retry") || !images_available("keep_retry", &[REDIS_IMAGE]) {
        return;
    }
    // The first attempt fails and is retried: its stack must go before the retry
    // provisions the same names again, and a cell that ends flaky is not kept.
    let (_d, path, count) = fails_once_matrix();
    let out = tempfile::tempdir().expect("tempdir");
    let dir = out.path().join("run");
    let o = run_into(&path, &dir, &["--retries", "1", "--keep", "failed"]);
    let run = run_json(&dir);
    let run_id = run["run_id"].as_str().expect("run id").to_string();
    let left = labelled_objects(&run_id);
    if !left.is_empty() {
        let _ = dockmatrix(&["clean", "--run", &run_id]);
    }
    assert_eq!(
        count.load(Ordering::SeqCst),
        2,
        "one call per attempt: {}",
        run["cells"][0]
    );
    assert_flaky(&o, &run);
    assert!(run["cells"][0]["kept"].is_null(), "{run}");
    assert!(!stderr(&o).contains("\nkept "), "{}", said(&o));
    assert_eq!(left, Vec::<String>::new(), "nothing kept for a flaky cell");
}

/// Two dind engines, one cell each, run one cell at a time (`-j 1`) with `--max-engines N`.
fn lookahead_run(max_engines: &str) -> (Output, serde_json::Value) {
    let spec =
        |name: &str| format!("[engines.{name}]\nkind = \"dind\"\nimage = \"{ENGINE_IMAGE}\"\n");
    let text = format!(
        r#"
name = "lookahead"
scenarios = ["checks.toml"]
[axes]
engine = ["a", "b"]
case = ["pass"]
redis = ["7.0"]
{}{}
[services.redis]
kind = "redis"
image = "dockmatrix/redis:{{version}}"
ports = [6379]
"#,
        spec("a"),
        spec("b")
    );
    let (_d, path) = write_matrix(&text, CHECKS);
    let out = tempfile::tempdir().expect("tempdir");
    let o = run_into(
        &path,
        out.path(),
        &["-j", "1", "--max-engines", max_engines],
    );
    assert_eq!(o.status.code(), Some(0), "{}", said(&o));
    let run = run_json(out.path());
    assert_eq!(
        statuses(&run),
        pairs(&[("pass", "pass"), ("pass", "pass")]),
        "{run}"
    );
    assert_eq!(
        run["options"]["max_engines"].as_u64(),
        max_engines.parse().ok(),
        "{run}"
    );
    (o, run)
}

/// The line number of the first progress line containing `what`.
fn line_of(o: &Output, what: &str) -> usize {
    stderr(o)
        .lines()
        .position(|l| l.contains(what))
        .unwrap_or_else(|| panic!("no line with `{what}`:\n{}", said(o)))
}

#[test]
fn run_prepares_engines_ahead_of_their_cells_within_max_engines() {
    if !docker_available("lookahead")
        || !images_available("lookahead", &[REDIS_IMAGE, ENGINE_IMAGE])
    {
        return;
    }
    // Room for two engines: the second engine starts before the one cell slot is free,
    // indeed before the first cell starts (its engine must be up first).
    let (o, _) = lookahead_run("2");
    let b_starting = line_of(&o, "engine b/default: starting");
    assert!(
        b_starting < line_of(&o, " START "),
        "engine b prepares while cell a waits for or holds the slot:\n{}",
        said(&o)
    );
    assert!(
        b_starting < line_of(&o, "engine a/default: stopped"),
        "{}",
        said(&o)
    );

    // Room for one: engine b starts only once engine a, its cell done, is stopped.
    let (o, _) = lookahead_run("1");
    assert!(
        line_of(&o, "engine a/default: stopped") < line_of(&o, "engine b/default: starting"),
        "at most one engine alive:\n{}",
        said(&o)
    );
}

/// The dind engine's container, once the engine runs a container of its own (a cell's
/// service is up inside it).
fn busy_dind(run_id: &str) -> Option<String> {
    let docker = |args: &[&str]| {
        let o = Command::new("docker").args(args).output().ok()?;
        Some(String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let dind = docker(&[
        "ps",
        "-q",
        "--filter",
        &format!("label=io.dockmatrix.run={run_id}"),
        "--filter",
        "label=io.dockmatrix.engine",
    ])?;
    let dind = dind.lines().next()?.to_string();
    let inner = docker(&["exec", &dind, "docker", "ps", "-q"])?;
    (!inner.is_empty()).then_some(dind)
}

#[test]
fn run_gives_a_retry_and_the_next_cell_a_new_engine_when_theirs_died() {
    if !docker_available("engine_replaced")
        || !images_available("engine_replaced", &[REDIS_IMAGE, ENGINE_IMAGE])
    {
        return;
    }
    // Cell `a` holds its checks for a while; `b` comes after it (`-j 1`), on the same engine.
    let checks = r#"
kind = "regression"
[[check]]
name = "sched: redis answers PING"
service = "redis"
redis = ["PING"]
expect = { reply = "PONG" }

[[check]]
name = "sched: holds the cell"
service = "redis"
when = { case = "=a" }
exec = ["sleep", "15"]
"#;
    let (dir, path) = write_matrix(&matrix(r#""a", "b""#, Some(ENGINE_IMAGE), ""), checks);
    let out = dir.path().join("run");
    let (mut child, rx) = spawn_dockmatrix(
        &[
            "run",
            path.to_str().expect("utf-8"),
            "--out",
            out.to_str().expect("utf-8"),
            "-j",
            "1",
            "--retries",
            "1",
        ],
        &[],
    );
    let run_id = await_progress(&rx, None, Duration::from_secs(120));
    let log = std::thread::spawn(move || rx.into_iter().collect::<Vec<String>>().join("\n"));
    let started = Instant::now();
    let dind = loop {
        if let Some(d) = busy_dind(&run_id) {
            break d;
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "no cell came up"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    std::thread::sleep(Duration::from_secs(3));
    let killed = Command::new("docker")
        .args(["kill", &dind])
        .output()
        .expect("docker kill");
    assert!(killed.status.success(), "{killed:?}");
    let status = child.wait().expect("the run ends");
    let log = log.join().expect("log");
    assert_eq!(status.code(), Some(0), "{log}");
    let run = run_json(&out);
    assert_eq!(
        statuses(&run),
        pairs(&[("a", "flaky"), ("b", "pass")]),
        "{run}"
    );
    let a = cell(&run, &[("case", "a")]);
    let before = a["previous_attempts"][0]["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(
        before.contains("exited with code 137"),
        "the first attempt names the engine's death: {a}"
    );
    assert!(log.contains("died and was removed"), "{log}");
    assert_eq!(
        labelled_objects(&run_id),
        Vec::<String>::new(),
        "nothing left of either engine"
    );
}
