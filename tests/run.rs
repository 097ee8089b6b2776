//! `dockmatrix run` against real engines: dind engines of two Docker versions with two
//! storage drivers, a driver the engine refuses, and the ways a cell breaks (a service
//! never ready, a missing image, an OOM kill, a restarting service); Ctrl-C and `clean`.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;

const ENGINES: &str = r#"
[engines."20.10.24"]
kind = "dind"
image = "dockmatrix/engine:20.10.24"

[engines."28.5.2"]
kind = "dind"
image = "dockmatrix/engine:28.5.2"
"#;

/// Runs `matrix` into a fresh folder; returns the output, the folder and run.json.
fn run_matrix(
    matrix: &str,
    extra: &[&str],
) -> (std::process::Output, tempfile::TempDir, serde_json::Value) {
    let (_mdir, path) = matrix_file(matrix);
    let out = tempfile::tempdir().expect("tempdir");
    let out_path = out.path().join("run");
    let mut args = vec![
        "run",
        path.to_str().expect("utf-8"),
        "--out",
        out_path.to_str().expect("utf-8"),
    ];
    args.extend(extra);
    let o = dockmatrix(&args);
    let json = run_json(&out_path);
    (o, out, json)
}

#[test]
fn run_two_engine_versions_two_drivers_and_a_refused_driver() {
    let images = [
        "dockmatrix/engine:20.10.24",
        "dockmatrix/engine:28.5.2",
        "dockmatrix/redis:7.0",
    ];
    if !docker_available("run_two_engine_versions")
        || !images_available("run_two_engine_versions", &images)
    {
        return;
    }
    let matrix = format!(
        r#"
name = "two-engines"
[axes]
engine = ["20.10.24", "28.5.2"]
storage-driver = ["overlay2", "vfs"]
redis = ["7.0"]

[[include]]
engine = "28.5.2"
storage-driver = "btrfs"
redis = "7.0"
{ENGINES}
[services.redis]
kind = "redis"
image = "dockmatrix/redis:{{version}}"
"#
    );
    let (o, _dir, run) = run_matrix(&matrix, &["-j", "4"]);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
    assert_eq!(run["cells"].as_array().map(Vec::len), Some(5));
    for (engine, api_floor) in [("20.10.24", "1.41"), ("28.5.2", "1.51")] {
        let package = image_label(
            &format!("dockmatrix/engine:{engine}"),
            "io.dockmatrix.package.docker.io",
        );
        for driver in ["overlay2", "vfs"] {
            let c = cell(&run, &[("engine", engine), ("storage-driver", driver)]);
            assert_eq!(c["status"], "pass", "{c}");
            let facts = &c["engine"];
            // Measured, never trusted: the engine's own version is the one Debian packaged.
            let server = facts["server_version"].as_str().expect("server_version");
            assert!(
                !server.is_empty() && package.starts_with(server),
                "{server} vs label {package}"
            );
            let api = facts["api_version"].as_str().expect("api");
            let (maj, min) = api.split_once('.').expect("api x.y");
            let (fmaj, fmin) = api_floor.split_once('.').expect("floor");
            assert!(
                (maj.parse::<u32>().ok(), min.parse::<u32>().ok())
                    >= (fmaj.parse().ok(), fmin.parse().ok()),
                "{api}"
            );
            assert_eq!(facts["storage_driver"], driver);
            for key in ["containerd", "runc", "kernel", "cgroup_version"] {
                assert!(
                    facts[key].as_str().is_some_and(|s| !s.is_empty()),
                    "{key} in {facts}"
                );
            }
            let redis = &c["services"][0];
            assert!(
                redis["peak_memory_bytes"].as_u64().is_some_and(|m| m > 0),
                "{redis}"
            );
            assert_eq!(
                c["images"][0]["labels"]["io.dockmatrix.image"],
                "dockmatrix/redis:7.0"
            );
        }
    }
    assert_eq!(
        cell(
            &run,
            &[("engine", "20.10.24"), ("storage-driver", "overlay2")]
        )["engine"]["api_version"],
        "1.41"
    );
    let refused = cell(&run, &[("storage-driver", "btrfs")]);
    assert_eq!(refused["status"], "unsupported", "{refused}");
    let reason = refused["reason"].as_str().unwrap_or_default();
    // Preflight warns (the data directory appears not to be on btrfs); the engine is
    // started anyway, and refuses in its own words.
    assert!(
        reason.contains("btrfs") && reason.contains("failed to start daemon"),
        "the engine's own words: {reason}"
    );
    let warned = refused["preflight"]
        .as_array()
        .expect("preflight findings")
        .iter()
        .any(|f| f["level"] == "warn" && f["check"] == "storage-driver");
    assert!(warned, "{refused}");
    // Cells that ran carry their findings too, none of them blocking.
    let ran = cell(
        &run,
        &[("engine", "28.5.2"), ("storage-driver", "overlay2")],
    );
    assert!(
        ran["preflight"]
            .as_array()
            .is_some_and(|f| !f.is_empty() && f.iter().all(|f| f["level"] != "block")),
        "{ran}"
    );
    let run_id = run["run_id"].as_str().expect("run id");
    assert_eq!(
        labelled_objects(run_id),
        Vec::<String>::new(),
        "nothing left behind"
    );
}

fn host_matrix(services: &str) -> String {
    format!("name = \"host-cases\"\n[axes]\ncase = [\"one\"]\n{services}")
}

#[test]
fn run_service_that_never_becomes_ready_fails_with_its_log() {
    if !docker_available("never_ready")
        || !images_available("never_ready", &["dockmatrix/redis:7.0"])
    {
        return;
    }
    let m = host_matrix(
        r#"
[services.stuck]
kind = "generic"
image = "dockmatrix/redis:7.0"
command = ["sh", "-c", "echo waiting for nothing; sleep 600"]
ports = [6379]
ready = { tcp = 6379, timeout = "3s" }
"#,
    );
    let (o, _d, run) = run_matrix(&m, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let c = &run["cells"][0];
    assert_eq!(c["status"], "fail");
    assert_eq!(c["failed_step"], "services");
    assert!(
        c["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("did not become ready within 3s"),
        "{c}"
    );
    let log: Vec<&str> = c["services"][0]["log_tail"]
        .as_array()
        .expect("log tail")
        .iter()
        .filter_map(|l| l.as_str())
        .collect();
    assert!(
        log.iter().any(|l| l.contains("waiting for nothing")),
        "{log:?}"
    );
    assert_eq!(
        labelled_objects(run["run_id"].as_str().expect("id")),
        Vec::<String>::new()
    );
}

#[test]
fn run_exec_readiness_waits_for_the_command_and_reports_its_exit() {
    if !docker_available("exec_ready") || !images_available("exec_ready", &["dockmatrix/redis:7.0"])
    {
        return;
    }
    // Ready once `redis-cli ping` exits 0 inside the container.
    let ok = host_matrix(
        r#"
[services.redis]
kind = "generic"
image = "dockmatrix/redis:7.0"
ready = { exec = ["redis-cli", "ping"], timeout = "60s" }
"#,
    );
    let (o, _d, run) = run_matrix(&ok, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(run["cells"][0]["status"], "pass", "{run}");
    // A command that never succeeds: the cell fails naming it and its exit code.
    let never = host_matrix(
        r#"
[services.redis]
kind = "generic"
image = "dockmatrix/redis:7.0"
ready = { exec = ["sh", "-c", "echo not yet; exit 3"], timeout = "3s" }
"#,
    );
    let (o, _d, run) = run_matrix(&never, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let reason = run["cells"][0]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("did not become ready within 3s") && reason.contains("exited 3: not yet"),
        "{reason}"
    );
    assert_eq!(
        labelled_objects(run["run_id"].as_str().expect("id")),
        Vec::<String>::new()
    );
}

#[test]
fn run_missing_image_is_a_cell_error_naming_it() {
    if !docker_available("missing_image") {
        return;
    }
    let m = host_matrix(
        r#"
[services.ghost]
kind = "redis"
image = "dockmatrix/does-not-exist:1"
"#,
    );
    let (o, _d, run) = run_matrix(&m, &[]);
    assert_eq!(o.status.code(), Some(1));
    let c = &run["cells"][0];
    assert_eq!(c["status"], "error");
    assert_eq!(c["failed_step"], "images");
    assert!(
        c["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("dockmatrix/does-not-exist:1"),
        "{c}"
    );
}

#[test]
fn run_oom_killed_service_fails_and_says_so() {
    if !docker_available("oom") || !images_available("oom", &["dockmatrix/redis:7.0"]) {
        return;
    }
    let m = host_matrix(
        r#"
[services.hog]
kind = "generic"
image = "dockmatrix/redis:7.0"
command = ["sh", "-c", "echo allocating; x=$(head -c 300000000 /dev/zero | tr '\\0' a); sleep 600"]
ports = [6379]
memory = "32m"
ready = { tcp = 6379, timeout = "30s" }
"#,
    );
    let (o, _d, run) = run_matrix(&m, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let c = &run["cells"][0];
    assert_eq!(c["status"], "fail", "{c}");
    assert!(
        c["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("OOM-killed"),
        "{c}"
    );
    assert_eq!(c["services"][0]["oom_killed"], true, "{c}");
}

#[test]
fn run_restarting_service_shows_its_restarts() {
    if !docker_available("restarts") || !images_available("restarts", &["dockmatrix/redis:7.0"]) {
        return;
    }
    // Crashes on its first start, then serves: the restart policy brings it back.
    let m = host_matrix(
        r#"
[services.phoenix]
kind = "redis"
image = "dockmatrix/redis:7.0"
command = ["sh", "-c", "if [ -e /tmp/once ]; then exec docker-entrypoint.sh; else touch /tmp/once; echo crashing once; exit 3; fi"]
restart = "on-failure"
"#,
    );
    let (o, _d, run) = run_matrix(&m, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let c = &run["cells"][0];
    assert_eq!(c["status"], "pass", "{c}");
    assert!(
        c["services"][0]["restarts"]
            .as_u64()
            .is_some_and(|r| r >= 1),
        "{c}"
    );
}

/// Starts a run in the background and waits until its images are loaded; returns the child,
/// its run id and the rest of its stderr lines.
fn start_background_run(
    matrix: &std::path::Path,
    out: &std::path::Path,
) -> (
    std::process::Child,
    String,
    std::sync::mpsc::Receiver<String>,
) {
    let (child, rx) = spawn_dockmatrix(
        &[
            "run",
            matrix.to_str().expect("utf-8"),
            "--out",
            out.to_str().expect("utf-8"),
            "-j",
            "2",
        ],
        &[],
    );
    let run_id = await_progress(&rx, Some("images ready"), Duration::from_secs(180));
    (child, run_id, rx)
}

fn slow_dind_matrix() -> String {
    format!(
        r#"
name = "interrupt-me"
[axes]
engine = ["20.10.24", "28.5.2"]
storage-driver = ["overlay2"]
case = ["a", "b", "c"]
{ENGINES}
[services.redis]
kind = "redis"
image = "dockmatrix/redis:7.0"
[services.slow]
kind = "generic"
image = "dockmatrix/redis:7.0"
command = ["sh", "-c", "sleep 600"]
ports = [6379]
ready = {{ tcp = 6379, timeout = "5m" }}
"#
    )
}

#[test]
fn run_interrupted_by_ctrl_c_tears_everything_down() {
    let images = [
        "dockmatrix/engine:20.10.24",
        "dockmatrix/engine:28.5.2",
        "dockmatrix/redis:7.0",
    ];
    if !docker_available("ctrl_c") || !images_available("ctrl_c", &images) {
        return;
    }
    let (_mdir, matrix) = matrix_file(&slow_dind_matrix());
    let out = tempfile::tempdir().expect("tempdir");
    let out_path = out.path().join("run");
    let (mut child, run_id, _lines) = start_background_run(&matrix, &out_path);
    assert!(
        !labelled_objects(&run_id).is_empty(),
        "the run has objects before the interrupt"
    );
    let pid = i32::try_from(child.id()).expect("pid");
    // SAFETY-free: kill(2) through the shell keeps the test free of unsafe code.
    Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .expect("kill runs");
    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "exited within 60 s of Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(status.code(), Some(130));
    let run = run_json(&out_path);
    assert_eq!(run["interrupted"], true);
    let cancelled = run["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .filter(|c| c["status"] == "cancelled")
        .count();
    assert!(cancelled >= 1, "unfinished cells are cancelled: {run}");
    assert_eq!(
        labelled_objects(&run_id),
        Vec::<String>::new(),
        "nothing left after Ctrl-C"
    );
}

#[test]
fn run_killed_then_clean_removes_what_it_left() {
    let images = [
        "dockmatrix/engine:20.10.24",
        "dockmatrix/engine:28.5.2",
        "dockmatrix/redis:7.0",
    ];
    if !docker_available("clean") || !images_available("clean", &images) {
        return;
    }
    let (_mdir, matrix) = matrix_file(&slow_dind_matrix());
    let out = tempfile::tempdir().expect("tempdir");
    let (mut child, run_id, _lines) = start_background_run(&matrix, &out.path().join("run"));
    child.kill().expect("killed");
    child.wait().expect("reaped");
    let left = labelled_objects(&run_id);
    assert!(!left.is_empty(), "a killed run leaves its objects");
    let o = dockmatrix(&["clean"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(&run_id),
        "clean says what it removed: {}",
        stdout(&o)
    );
    assert_eq!(labelled_objects(&run_id), Vec::<String>::new());
}

#[test]
fn engine_command_prints_measured_facts_and_refusals() {
    let images = ["dockmatrix/engine:28.5.2"];
    if !docker_available("engines") || !images_available("engines", &images) {
        return;
    }
    let (_d, path) = matrix_file(&format!(
        r#"
name = "engines"
[axes]
engine = ["28.5.2"]
storage-driver = ["overlay2", "btrfs"]
{ENGINES}
[services.redis]
kind = "redis"
image = "dockmatrix/redis:7.0"
"#
    ));
    let o = dockmatrix(&["engines", path.to_str().expect("utf-8")]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{}", stderr(&o));
    let package = image_label(
        "dockmatrix/engine:28.5.2",
        "io.dockmatrix.package.docker.io",
    );
    let server = package.split('-').next().unwrap_or_default();
    assert!(
        out.contains(server),
        "measured server version {server} in:\n{out}"
    );
    assert!(
        out.contains("✅ up") && out.contains("⛔ unsupported"),
        "{out}"
    );
    // btrfs needs the data directory on btrfs: preflight warns, the engine refuses in
    // its own words (tests/preflight.rs covers a preflight block).
    assert!(
        out.contains("prerequisites for driver not satisfied"),
        "{out}"
    );
    assert!(out.contains("appears to be on"), "{out}");
}

#[test]
fn run_second_ctrl_c_leaves_at_once_and_says_what_to_clean() {
    let images = [
        "dockmatrix/engine:20.10.24",
        "dockmatrix/engine:28.5.2",
        "dockmatrix/redis:7.0",
    ];
    if !docker_available("second_ctrl_c") || !images_available("second_ctrl_c", &images) {
        return;
    }
    let (_mdir, matrix) = matrix_file(&slow_dind_matrix());
    let out = tempfile::tempdir().expect("tempdir");
    let (mut child, run_id, lines) = start_background_run(&matrix, &out.path().join("run"));
    let pid = child.id().to_string();
    Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill runs");
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill runs");
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "a second Ctrl-C exits within 2 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(130));
    let said: Vec<String> = lines.try_iter().collect();
    let hint = format!("dockmatrix clean --run {run_id}");
    assert!(
        said.iter().any(|l| l.contains(&hint)),
        "it says what to clean: {said:?}"
    );
    let o = dockmatrix(&["clean", "--run", &run_id]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(labelled_objects(&run_id), Vec::<String>::new());
}

/// The demo stack's new versions on the host engine, with the shipped regression suite.
fn new_stack_matrix(with_known: bool) -> String {
    let regression = root().join("scenarios/regression.toml");
    let known = if with_known {
        r#"
[[known]]
filter = "postgres>=17"
check = "postgres: monitoring query reads checkpoints_timed from pg_stat_bgwriter"
reason = "PostgreSQL 17 moved the checkpoint counters to pg_stat_checkpointer"
"#
    } else {
        ""
    };
    let stores = demo_store_services("demo-secret");
    format!(
        r#"
name = "new-stack"
scenarios = ["{}"]
[axes]
postgres = ["17"]
mariadb = ["11.8"]
redis = ["8.0"]
{known}
{stores}
[services.app]
kind = "http"
image = "dockmatrix/demo-app:1"
version = "1"
depends-on = ["postgres", "mariadb", "redis"]
env = {{ PG_URL = "postgres://postgres:demo-secret@postgres:5432/postgres", MYSQL_URL = "mysql://root:demo-secret@mariadb:3306/demo", REDIS_URL = "redis://redis:6379/0" }}
ports = [8080]
ready = {{ http = "/health", port = 8080, timeout = "60s" }}
"#,
        regression.display()
    )
}

#[test]
fn run_known_incompatibility_is_known_fail_and_without_the_entry_fails() {
    let images = [
        "dockmatrix/postgres:17",
        "dockmatrix/mariadb:11.8",
        "dockmatrix/redis:8.0",
        "dockmatrix/demo-app:1",
    ];
    if !docker_available("known") || !images_available("known", &images) {
        return;
    }
    let check = "postgres: monitoring query reads checkpoints_timed from pg_stat_bgwriter";
    let find = |run: &serde_json::Value| -> serde_json::Value {
        run["cells"][0]["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .find(|c| c["name"] == check)
            .cloned()
            .unwrap_or_else(|| panic!("{check} ran: {run}"))
    };

    let (o, _d, run) = run_matrix(&new_stack_matrix(true), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(run["cells"][0]["status"], "pass");
    let c = find(&run);
    assert_eq!(c["status"], "known-fail", "{c}");
    assert!(
        c["message"]
            .as_str()
            .unwrap_or_default()
            .contains("pg_stat_checkpointer"),
        "{c}"
    );

    let (o, _d, run) = run_matrix(&new_stack_matrix(false), &[]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "without the [[known]] entry the run fails: {}",
        stderr(&o)
    );
    assert_eq!(run["cells"][0]["status"], "fail");
    let c = find(&run);
    assert_eq!(c["status"], "fail", "{c}");
    // The only failing check is the documented one: the suite fails for the right reason.
    let failing: Vec<&serde_json::Value> = run["cells"][0]["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["status"] == "fail" || c["status"] == "error")
        .collect();
    assert_eq!(failing.len(), 1, "{failing:?}");
}
