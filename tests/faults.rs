//! Faults survived (issue 13, item 6), against real engines, each small (one dind engine,
//! one or two cells, short timeouts): a dind engine killed in the middle of a cell, a
//! service container killed during the checks, an engine frozen with `docker pause`, an
//! engine whose data volume is full, the cell's network removed under it. Each ends with a clear status and reason, never a
//! hang, and nothing labelled left.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;

const ENGINE: &str = "dockmatrix/engine:28.5.2";
const REDIS: &str = "dockmatrix/redis:7.0";

fn docker(args: &[&str]) -> String {
    let o = Command::new("docker")
        .args(args)
        .output()
        .expect("docker runs");
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// The matrix of these tests: `engines` as the engine axis, a Redis service and a suite
/// whose check holds the cell in `checks` for `hold` seconds (then Redis is asked again).
fn matrix(engines: &str, hold: u32, extra: &str) -> String {
    format!(
        r#"
name = "faults"
scenarios = ["suite.toml"]
[axes]
engine = [{engines}]
[engines."28.5.2"]
kind = "dind"
image = "{ENGINE}"
[engines.local]
kind = "host"
[services.redis]
kind = "redis"
image = "{REDIS}"
ports = [6379]
{extra}
"#
    ) + &format!("\n# hold {hold}\n")
}

fn suite(hold: u32) -> String {
    format!(
        r#"
kind = "regression"
[[check]]
name = "faults: redis answers"
service = "redis"
redis = ["PING"]
expect = {{ reply = "PONG" }}

[[check]]
name = "faults: the cell stays in its checks for a while"
service = "redis"
exec = ["sh", "-c", "sleep {hold}"]
timeout = "5m"
expect = {{ exit-code = 0 }}

[[check]]
name = "faults: redis still answers"
service = "redis"
redis = ["PING"]
expect = {{ reply = "PONG" }}
"#
    )
}

/// Starts the run in the background; returns once a cell is in its checks (its Redis
/// answers inside the engine), with the run id.
fn start(
    matrix_text: &str,
    hold: u32,
    extra_args: &[&str],
) -> (
    tempfile::TempDir,
    std::path::PathBuf,
    std::process::Child,
    String,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("suite.toml"), suite(hold)).expect("suite");
    let m = dir.path().join("matrix.toml");
    std::fs::write(&m, matrix_text).expect("matrix");
    let out = dir.path().join("run");
    let mut args = vec![
        "run",
        m.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
        "--retries",
        "0",
    ];
    args.extend(extra_args);
    let (child, rx) = spawn_dockmatrix(&args, &[]);
    let started = Instant::now();
    let run_id = await_progress(&rx, None, Duration::from_secs(120));
    std::thread::spawn(move || for _ in rx {});
    // In its checks: the service container exists and has run for a moment.
    loop {
        let names = docker(&[
            "ps",
            "--filter",
            &format!("label=io.dockmatrix.run={run_id}"),
            "--format",
            "{{.Names}}",
        ]);
        let dind = dind_container(&run_id);
        let inner = match &dind {
            Some(d) => docker(&["exec", d, "docker", "ps", "-q"]),
            None => names.clone(),
        };
        if !inner.is_empty() && (dind.is_some() || names.contains("redis")) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "no service came up"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_secs(4));
    (dir, out, child, run_id)
}

fn dind_container(run_id: &str) -> Option<String> {
    let id = docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=io.dockmatrix.run={run_id}"),
        "--filter",
        "label=io.dockmatrix.engine",
        "--format",
        "{{.Names}}",
    ]);
    (!id.is_empty()).then(|| id.lines().next().unwrap_or_default().to_string())
}

fn wait(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let t = Instant::now();
    loop {
        if let Some(s) = child.try_wait().expect("wait") {
            return s;
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            panic!("the run did not end within {limit:?}: a hang");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn fault_dind_engine_killed_mid_cell_errors_that_cell_only() {
    if !docker_available("fault_engine_killed")
        || !images_available("fault_engine_killed", &[ENGINE, REDIS])
    {
        return;
    }
    let (_dir, out, mut child, run_id) =
        start(&matrix(r#""28.5.2", "local""#, 40, ""), 40, &["-j", "2"]);
    let dind = dind_container(&run_id).expect("the dind engine runs");
    docker(&["kill", &dind]);
    let status = wait(&mut child, Duration::from_secs(180));
    assert_eq!(status.code(), Some(1), "a cell errored");
    let run = run_json(&out);
    let dead = cell(&run, &[("engine", "28.5.2")]);
    assert_eq!(dead["status"], "error", "{dead}");
    let reason = dead["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("engine") && reason.contains("exited") && reason.contains("137"),
        "names the engine's exit: {reason}"
    );
    let other = cell(&run, &[("engine", "local")]);
    assert_eq!(
        other["status"], "pass",
        "the host engine's cell carried on: {other}"
    );
    assert_eq!(
        labelled_objects(&run_id),
        Vec::<String>::new(),
        "nothing left"
    );
}

#[test]
fn fault_service_killed_during_checks_fails_with_its_exit() {
    if !docker_available("fault_service_killed")
        || !images_available("fault_service_killed", &[REDIS])
    {
        return;
    }
    let (_dir, out, mut child, run_id) = start(&matrix(r#""local""#, 30, ""), 30, &[]);
    let redis = docker(&[
        "ps",
        "--filter",
        &format!("label=io.dockmatrix.run={run_id}"),
        "--filter",
        "label=io.dockmatrix.service=redis",
        "--format",
        "{{.Names}}",
    ]);
    assert!(!redis.is_empty(), "the service container runs");
    docker(&["kill", &redis]);
    let status = wait(&mut child, Duration::from_secs(120));
    assert_eq!(status.code(), Some(1));
    let run = run_json(&out);
    let c = &run["cells"][0];
    assert_eq!(c["status"], "fail", "{c}");
    let reason = c["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("service `redis` exited")
            && reason.contains("137")
            && reason.contains("restarts"),
        "names the service's exit and restarts: {reason}"
    );
    assert_eq!(
        labelled_objects(&run_id),
        Vec::<String>::new(),
        "nothing left"
    );
}

#[test]
fn fault_paused_engine_times_out_and_is_torn_down() {
    if !docker_available("fault_paused") || !images_available("fault_paused", &[ENGINE, REDIS]) {
        return;
    }
    let (_dir, out, mut child, run_id) = start(
        &matrix(r#""28.5.2""#, 120, ""),
        120,
        &["--cell-timeout", "90s"],
    );
    let dind = dind_container(&run_id).expect("the dind engine runs");
    docker(&["pause", &dind]);
    // The cell's timeout (90 s from its start) fires, teardown completes.
    let status = wait(&mut child, Duration::from_secs(240));
    assert_eq!(status.code(), Some(1));
    let run = run_json(&out);
    let c = &run["cells"][0];
    assert_eq!(c["status"], "fail", "{c}");
    let reason = c["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("timed out"), "{reason}");
    assert!(
        reason.contains("paused"),
        "says the engine was frozen: {reason}"
    );
    assert_eq!(
        labelled_objects(&run_id),
        Vec::<String>::new(),
        "nothing left"
    );
}

#[test]
fn fault_engine_data_volume_full_errors_in_the_engines_words() {
    if !docker_available("fault_volume_full")
        || !images_available("fault_volume_full", &[ENGINE, REDIS])
    {
        return;
    }
    // An 8 MB tmpfs as the engine's /var/lib/docker: dockerd starts (it needs ~200 KB),
    // the Redis image (~90 MB) does not fit. The engine cache is asked for on purpose:
    // an engine with its own kind of volume must not start on a cache volume instead
    // (the image would then load, and a cache volume would be left).
    let small = format!(
        r#"
[engines.small]
kind = "dind"
image = "{ENGINE}"
data-volume-opts = {{ type = "tmpfs", device = "tmpfs", o = "size=8m" }}
"#
    );
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("suite.toml"), suite(1)).expect("suite");
    let m = dir.path().join("matrix.toml");
    std::fs::write(&m, matrix(r#""small", "local""#, 1, &small)).expect("matrix");
    let out = dir.path().join("run");
    let (mut child, rx) = spawn_dockmatrix(
        &[
            "run",
            m.to_str().expect("utf-8"),
            "--out",
            out.to_str().expect("utf-8"),
            "--retries",
            "0",
            "--engine-cache",
            "on",
        ],
        &[],
    );
    std::thread::spawn(move || for _ in rx {});
    let status = wait(&mut child, Duration::from_secs(240));
    let run = run_json(&out);
    let run_id = run["run_id"].as_str().expect("run id").to_string();
    let left = labelled_objects(&run_id);
    for o in &left {
        // Never leave a cache volume on the shared host, even when the test fails.
        if let Some(v) = o.strip_prefix("volume:") {
            docker(&["volume", "rm", "-f", v]);
        }
    }
    assert_eq!(status.code(), Some(1), "a cell errored: {run}");
    let full = cell(&run, &[("engine", "small")]);
    assert_eq!(full["status"], "error", "{full}");
    let reason = full["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("no space left on device") && reason.contains(REDIS),
        "the engine's words, and what it was doing: {reason}"
    );
    assert_eq!(full["engine"]["cache"], "fresh", "not a cache: {full}");
    let other = cell(&run, &[("engine", "local")]);
    assert_eq!(other["status"], "pass", "the other engine's cell: {other}");
    assert_eq!(left, Vec::<String>::new(), "nothing left");
}

#[test]
fn fault_network_removed_mid_cell_errors_that_cell_and_the_run_goes_on() {
    if !docker_available("fault_network_removed")
        || !images_available("fault_network_removed", &[REDIS])
    {
        return;
    }
    // Two cells one after the other on the host engine (so that what is left is seen
    // directly): the first loses its network while a check holds it.
    let text = matrix(r#""local""#, 20, "").replace(
        "engine = [\"local\"]",
        "engine = [\"local\"]\ncase = [\"a\", \"b\"]",
    );
    let (_dir, out, mut child, run_id) = start(&text, 20, &["-j", "1"]);
    let label = format!("label=io.dockmatrix.run={run_id}");
    let network = docker(&["network", "ls", "--filter", &label, "--format", "{{.Name}}"]);
    assert_eq!(network.lines().count(), 1, "one cell runs: {network}");
    let redis = docker(&[
        "ps",
        "--filter",
        &label,
        "--filter",
        "label=io.dockmatrix.service=redis",
        "--format",
        "{{.Names}}",
    ]);
    // Through the cell's engine, as a cleanup job or a person would.
    let disconnect = Command::new("docker")
        .args(["network", "disconnect", "-f", &network, &redis])
        .status()
        .expect("docker runs");
    let rm = Command::new("docker")
        .args(["network", "rm", &network])
        .status()
        .expect("docker runs");
    assert!(disconnect.success() && rm.success(), "the network is gone");
    let status = wait(&mut child, Duration::from_secs(180));
    assert_eq!(status.code(), Some(1), "a cell errored");
    let run = run_json(&out);
    let hit = cell(&run, &[("case", "a")]);
    assert_eq!(hit["status"], "error", "{hit}");
    let reason = hit["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains(&format!(
            "service `redis` was cut off from the cell's network {network} (removed)"
        )),
        "says so: {reason}"
    );
    assert_eq!(
        hit["services"][0]["lost_networks"][0],
        format!("{network} (removed)"),
        "{hit}"
    );
    let next = cell(&run, &[("case", "b")]);
    assert_eq!(next["status"], "pass", "the run went on: {next}");
    assert_eq!(
        labelled_objects(&run_id),
        Vec::<String>::new(),
        "nothing left"
    );
}

/// A dockerd of the test's own: its own socket, data root, exec root and pid file in a
/// temporary folder, its own bridge and no iptables rules, so that stopping it or
/// starting it again touches nothing of the machine's shared engine. Not `--bridge none`:
/// a dockerd with the bridge disabled deletes the host's `docker0`, which every other
/// container on the machine (and every test running beside this one) uses. Stopped, and
/// its bridge removed, on drop.
struct PrivateDockerd {
    dir: tempfile::TempDir,
    child: Option<std::process::Child>,
    bridge: String,
}

fn ip(args: &[&str]) {
    let o = Command::new("ip").args(args).output().expect("ip runs");
    assert!(o.status.success(), "ip {args:?}: {o:?}");
}

impl PrivateDockerd {
    fn start() -> PrivateDockerd {
        // A short path: containerd's sockets live under the exec root.
        let dir = tempfile::Builder::new()
            .prefix("dm-dockerd-")
            .tempdir_in("/tmp")
            .expect("tempdir");
        // Unique per test process: a name of at most 15 characters, a /24 of its own.
        let pid = std::process::id();
        let bridge = format!("dmx{}", pid % 100_000);
        let _ = Command::new("ip").args(["link", "del", &bridge]).output();
        ip(&["link", "add", &bridge, "type", "bridge"]);
        let address = format!("10.213.{}.1/24", pid % 250);
        ip(&["addr", "add", &address, "dev", &bridge]);
        ip(&["link", "set", &bridge, "up"]);
        let mut d = PrivateDockerd {
            dir,
            child: None,
            bridge,
        };
        d.run();
        d
    }

    fn host(&self) -> String {
        format!("unix://{}/docker.sock", self.dir.path().display())
    }

    fn docker(&self, args: &[&str]) -> String {
        let host = self.host();
        let mut all = vec!["-H", host.as_str()];
        all.extend(args);
        docker(&all)
    }

    fn run(&mut self) {
        let p = self.dir.path();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p.join("dockerd.log"))
            .expect("log");
        let child = Command::new("dockerd")
            .arg("--host")
            .arg(self.host())
            .arg("--data-root")
            .arg(p.join("root"))
            .arg("--exec-root")
            .arg(p.join("exec"))
            .arg("--pidfile")
            .arg(p.join("dockerd.pid"))
            .args([
                "--bridge",
                &self.bridge,
                "--iptables=false",
                "--ip-masq=false",
            ])
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("dockerd starts");
        self.child = Some(child);
        let t = Instant::now();
        while self
            .docker(&["info", "--format", "{{.ServerVersion}}"])
            .is_empty()
        {
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "the private dockerd did not answer: {}",
                std::fs::read_to_string(p.join("dockerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// SIGTERM, as `systemctl restart docker` does, and waits for it to exit.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let t = Instant::now();
        while child.try_wait().ok().flatten().is_none() {
            if t.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for PrivateDockerd {
    fn drop(&mut self) {
        self.stop();
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .output();
    }
}

fn dockerd_available(test: &str) -> bool {
    let ok = Command::new("dockerd")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var("DOCKMATRIX_REQUIRE_DOCKER").as_deref() == Ok("1") {
            panic!("{test}: no dockerd binary (apt-get install docker.io)");
        }
        eprintln!("SKIPPED {test}: no dockerd binary to start a private engine with");
    }
    ok
}

#[test]
fn fault_host_engine_restarted_mid_run_errors_and_clean_leaves_nothing() {
    if !docker_available("fault_host_restarted")
        || !images_available("fault_host_restarted", &[REDIS])
        || !dockerd_available("fault_host_restarted")
    {
        return;
    }
    let mut engine = PrivateDockerd::start();
    let host = engine.host();
    let loaded = Command::new("sh")
        .arg("-c")
        .arg(format!("docker save {REDIS} | docker -H {host} load"))
        .status()
        .expect("sh runs");
    assert!(loaded.success(), "the image reaches the private engine");

    // Two cells in turn on the host-kind engine, which is the private one (DOCKER_HOST).
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("suite.toml"), suite(20)).expect("suite");
    let m = dir.path().join("matrix.toml");
    let text = matrix(r#""local""#, 20, "").replace(
        "engine = [\"local\"]",
        "engine = [\"local\"]\ncase = [\"a\", \"b\"]",
    );
    std::fs::write(&m, text).expect("matrix");
    let out = dir.path().join("run");
    let (mut child, rx) = spawn_dockmatrix(
        &[
            "run",
            m.to_str().expect("utf-8"),
            "--out",
            out.to_str().expect("utf-8"),
            "--retries",
            "0",
            "-j",
            "1",
        ],
        &[("DOCKER_HOST", &host)],
    );
    std::thread::spawn(move || for _ in rx {});
    // In its checks: the first cell's Redis runs on the private engine.
    let t = Instant::now();
    while engine
        .docker(&["ps", "-q", "--filter", "label=io.dockmatrix.service=redis"])
        .is_empty()
    {
        assert!(t.elapsed() < Duration::from_secs(120), "no service came up");
        std::thread::sleep(Duration::from_millis(300));
    }
    std::thread::sleep(Duration::from_secs(3));
    engine.stop();
    engine.run();

    let status = wait(&mut child, Duration::from_secs(180));
    assert!(
        matches!(status.code(), Some(1 | 3)),
        "exit 1 (error cells) or 3 (no engine): {status}"
    );
    let run = run_json(&out);
    let run_id = run["run_id"].as_str().expect("run id").to_string();
    let first = cell(&run, &[("case", "a")]);
    assert_eq!(first["status"], "error", "{first}");
    let reason = first["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("in step `checks`: the engine `local` closed its connection at")
            && reason.contains("(it stopped or restarted)"),
        "says the engine went away: {reason}"
    );
    for c in run["cells"].as_array().expect("cells") {
        assert!(
            c["status"] == "error" || c["status"] == "pass",
            "a cell on the restarted engine is error (or, started once it was back, pass): {c}"
        );
    }

    // What the teardown could not remove while the engine was away, clean does.
    let clean = dockmatrix_env(&["clean"], &[("DOCKER_HOST", &host)]);
    assert!(clean.status.success(), "{}", stderr(&clean));
    let label = format!("label=io.dockmatrix.run={run_id}");
    for kind in [
        vec!["ps", "-aq"],
        vec!["network", "ls", "-q"],
        vec!["volume", "ls", "-q"],
    ] {
        let mut args = kind.clone();
        args.extend(["--filter", &label]);
        assert_eq!(engine.docker(&args), "", "{kind:?} left after clean");
    }
    assert_eq!(
        labelled_objects(&run_id),
        Vec::<String>::new(),
        "nothing on the shared engine either"
    );
    drop(engine);
    let docker0 = Command::new("ip")
        .args(["link", "show", "docker0"])
        .output()
        .expect("ip runs");
    assert!(
        docker0.status.success(),
        "the shared engine's docker0 bridge is still there"
    );
}
