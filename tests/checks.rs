//! Every check kind against real services in containers on the local engine, with a
//! passing and a failing case each (`tests/scenarios/kinds.toml`); the shipped suites
//! against the demo stacks; and the perf gate: the same Redis measured twice, the second
//! time under a CPU quota, fails as a regression against the first.
//!
//! Containers come from the locally built `dockmatrix/*` images, carry
//! `io.dockmatrix.run=test-checks-<random>` and are removed at the end, on failure too.
//! Without a Docker engine (or the images) these tests skip, saying so, unless
//! `DOCKMATRIX_REQUIRE_DOCKER=1`, where they fail.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dockmatrix::checks::{Baseline, ServiceTarget, SuiteContext, Target, run_suite};
use dockmatrix::matrix::{Matrix, ServiceKind};
use dockmatrix::results::{CellRecord, CheckRecord, CheckStatus};
use dockmatrix::scenario::{Phase, Scenario};
use indexmap::IndexMap;
use tokio::sync::RwLock;

use crate::common::{demo_store_services, docker_available, images_available, root};

/// Whether Docker-backed tests can run: skipped with a message without an engine or the
/// images, a failure instead under DOCKMATRIX_REQUIRE_DOCKER=1.
fn docker_or_skip(test: &str, images: &[&str]) -> bool {
    docker_available(test) && images_available(test, images)
}

fn docker(args: &[&str]) -> String {
    let o = Command::new("docker")
        .args(args)
        .output()
        .expect("docker runs");
    assert!(
        o.status.success(),
        "docker {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Containers and a network of one test, removed when dropped (also on panic).
struct Containers {
    run: String,
    network: String,
    services: IndexMap<String, ServiceTarget>,
}

impl Containers {
    fn new() -> Containers {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let run = format!(
            "test-checks-{:08x}",
            nanos ^ std::process::id().rotate_left(16)
        );
        let network = format!("dm-{run}");
        docker(&[
            "network",
            "create",
            "--label",
            &format!("io.dockmatrix.run={run}"),
            "--label",
            &owner_label(),
            &network,
        ]);
        Containers {
            run,
            network,
            services: IndexMap::new(),
        }
    }

    /// Starts `image` as service `name` (a network alias), publishing `port` on 127.0.0.1.
    fn start(
        &mut self,
        name: &str,
        kind: ServiceKind,
        image: &str,
        env: &[(&str, &str)],
        port: u16,
    ) {
        let container_name = format!("{}-{name}", self.run);
        let label = format!("io.dockmatrix.run={}", self.run);
        let owner = owner_label();
        let publish = format!("127.0.0.1::{port}");
        let mut args = vec![
            "run",
            "-d",
            "--name",
            &container_name,
            "--label",
            &label,
            "--label",
            &owner,
            "--network",
            &self.network,
            "--network-alias",
            name,
            "-p",
            &publish,
        ];
        let pairs: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        for p in &pairs {
            args.extend(["-e", p.as_str()]);
        }
        args.push(image);
        let id = docker(&args);
        let mapped = docker(&["port", &id, &format!("{port}/tcp")]);
        let addr: SocketAddr = mapped
            .lines()
            .find_map(|l| l.trim().parse().ok())
            .unwrap_or_else(|| panic!("no published address for {name}: {mapped}"));
        self.services.insert(
            name.to_string(),
            ServiceTarget {
                name: name.to_string(),
                kind,
                container_id: id,
                container_name,
                ports: BTreeMap::from([(port, addr)]),
                env: env
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            },
        );
    }
}

/// DESIGN.md's owner label: `dockmatrix clean` removes what a killed test left behind.
fn owner_label() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!("io.dockmatrix.owner={}:{}", host.trim(), std::process::id())
}

impl Drop for Containers {
    fn drop(&mut self) {
        let filter = format!("label=io.dockmatrix.run={}", self.run);
        let ids = Command::new("docker")
            .args(["ps", "-aq", "--filter", &filter])
            .output();
        if let Ok(o) = ids {
            let ids: Vec<String> = String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .map(str::to_string)
                .collect();
            if !ids.is_empty() {
                let _ = Command::new("docker")
                    .args(["rm", "-f", "-v"])
                    .args(&ids)
                    .output();
            }
        }
        let _ = Command::new("docker")
            .args(["network", "rm", &self.network])
            .output();
    }
}

const PASSWORD: &str = "dm-test-hunter2";

/// The demo stack's services at the given versions, like `matrices/demo.toml`.
fn stack(pg: &str, mariadb: &str, redis: &str) -> Containers {
    let mut c = Containers::new();
    c.start(
        "postgres",
        ServiceKind::Postgres,
        &format!("dockmatrix/postgres:{pg}"),
        &[("POSTGRES_PASSWORD", PASSWORD)],
        5432,
    );
    c.start(
        "mariadb",
        ServiceKind::Mysql,
        &format!("dockmatrix/mariadb:{mariadb}"),
        &[
            ("MYSQL_ROOT_PASSWORD", PASSWORD),
            ("MYSQL_DATABASE", "demo"),
        ],
        3306,
    );
    c.start(
        "redis",
        ServiceKind::Redis,
        &format!("dockmatrix/redis:{redis}"),
        &[],
        6379,
    );
    let pg_url = format!("postgres://postgres:{PASSWORD}@postgres:5432/postgres");
    let my_url = format!("mysql://root:{PASSWORD}@mariadb:3306/demo");
    c.start(
        "app",
        ServiceKind::Http,
        "dockmatrix/demo-app:1",
        &[
            ("PG_URL", &pg_url),
            ("MYSQL_URL", &my_url),
            ("REDIS_URL", "redis://redis:6379/0"),
        ],
        8080,
    );
    c
}

/// A matrix of one cell with the demo stack's services (and `known` entries).
fn matrix(pg: &str, mariadb: &str, redis: &str, known: &str) -> Matrix {
    let stores = demo_store_services(PASSWORD);
    let source = format!(
        r#"
name = "checks-test"
[axes]
postgres = ["{pg}"]
mariadb = ["{mariadb}"]
redis = ["{redis}"]
{known}
{stores}
[services.app]
kind = "http"
image = "dockmatrix/demo-app:1"
version = "1"
ports = [8080]
"#
    );
    Matrix::from_source(&root().join("tests/scenarios/checks-matrix.toml"), source)
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn target(matrix: &Matrix, c: &Containers) -> Target {
    let docker = bollard::Docker::connect_with_local_defaults()
        .expect("a docker client")
        .negotiate_version()
        .await
        .expect("the engine answers");
    let version = docker
        .version()
        .await
        .expect("version")
        .version
        .unwrap_or_default();
    let cell = matrix.cells().expect("cells").remove(0);
    Target {
        docker,
        network: c.network.clone(),
        cell,
        engine_version: version,
        storage_driver: String::new(),
        engine: dockmatrix::engine::EngineAddress::of_host(),
        run_id: c.run.clone(),
        services: c.services.clone(),
    }
}

fn scenario(name: &str, source: String) -> Scenario {
    Scenario::from_source(&root().join(name), source).unwrap_or_else(|e| panic!("{e}"))
}

/// Waits until every service answers its protocol and the app reports its stores up.
async fn wait_ready(t: &Target, m: &Matrix) {
    let ready = scenario(
        "ready.toml",
        r#"kind = "connectivity"
[[check]]
name = "postgres"
reach = "postgres"
[[check]]
name = "mariadb"
reach = "mariadb"
[[check]]
name = "redis"
reach = "redis"
[[check]]
name = "app"
service = "app"
http = { path = "/health" }
expect = { status = 200, json = { status = "up" } }
"#
        .into(),
    );
    let gate = RwLock::new(());
    let ctx = SuiteContext {
        gate: &gate,
        baseline: None,
        on_check: None,
        on_start: None,
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let records = run_suite(&ready, t, m, Phase::Run, &ctx).await;
        let waiting: Vec<&CheckRecord> = records
            .iter()
            .filter(|r| r.status != CheckStatus::Pass)
            .collect();
        if waiting.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the stack did not become ready: {waiting:#?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

const OLD: [&str; 3] = ["15", "10.11", "7.0"];
const NEW: [&str; 3] = ["17", "11.8", "8.0"];

fn images(v: [&str; 3]) -> Vec<String> {
    vec![
        format!("dockmatrix/postgres:{}", v[0]),
        format!("dockmatrix/mariadb:{}", v[1]),
        format!("dockmatrix/redis:{}", v[2]),
        "dockmatrix/demo-app:1".to_string(),
    ]
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn checks_of_every_kind_pass_and_fail_against_real_services() {
    let imgs = images(OLD);
    if !docker_or_skip(
        "checks_of_every_kind_pass_and_fail_against_real_services",
        &refs(&imgs),
    ) {
        return;
    }
    let mut containers = stack(OLD[0], OLD[1], OLD[2]);
    // A service that is in the target but on no network: its name resolves nowhere.
    let mut ghost = containers.services["redis"].clone();
    ghost.name = "ghost".into();
    containers.services.insert("ghost".into(), ghost);
    let known = r#"
[[known]]
filter = "postgres=15"
check = "known fails"
reason = "a documented gap"
[[known]]
filter = "redis=7.0"
check = "known fixed"
reason = "said to fail"
"#;
    let m = matrix(OLD[0], OLD[1], OLD[2], known);
    let source =
        std::fs::read_to_string(root().join("tests/scenarios/kinds.toml")).expect("kinds.toml");
    let kinds = scenario(
        "tests/scenarios/kinds.toml",
        source.replace("@PASSWORD@", PASSWORD),
    );
    runtime().block_on(async {
        let t = target(&m, &containers).await;
        wait_ready(&t, &m).await;
        let gate = RwLock::new(());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        let on_check = move |r: &CheckRecord| seen2.lock().expect("lock").push(r.name.clone());
        let ctx = SuiteContext {
            gate: &gate,
            baseline: None,
            on_check: Some(&on_check),
            on_start: None,
        };
        let started = Instant::now();
        let records = run_suite(&kinds, &t, &m, Phase::Run, &ctx).await;
        eprintln!(
            "{} checks in {:.1}s\n{}",
            records.len(),
            started.elapsed().as_secs_f64(),
            report(&records)
        );
        assert_eq!(
            seen.lock().expect("lock").len(),
            records.len(),
            "on_check saw every record"
        );

        use CheckStatus::*;
        let want: &[(&str, CheckStatus, &str)] = &[
            ("sql pg rows pass", Pass, ""),
            (
                "sql pg rows fail",
                Fail,
                r#"expected rows [["1", "a"]], got [["1", "b"]]"#,
            ),
            ("sql pg error class pass", Pass, "22012"),
            (
                "sql pg error expected but succeeded",
                Fail,
                "expected SQLSTATE 22012, but `SELECT 1` succeeded",
            ),
            ("sql pg row-count pass", Pass, "5 rows"),
            (
                "sql pg earlier statement fails",
                Fail,
                "statement 1 of 2 (SELECT * FROM no_such_table) failed: SQLSTATE 42P01",
            ),
            ("sql pg via app pass", Pass, ""),
            ("sql pg secret masked", Fail, "dockmatrix ***"),
            ("sql my rows pass", Pass, ""),
            ("sql my error pass", Pass, "42S02"),
            ("sql my row-count fail", Fail, "expected 3 rows, got 2"),
            ("sql my via app pass", Pass, ""),
            ("redis reply pass", Pass, r#"["a", "b"]"#),
            (
                "redis reply fail",
                Fail,
                r#"`GET t:k`: expected "w", got "v""#,
            ),
            ("redis nil pass", Pass, "(nil)"),
            ("redis error pass", Pass, "ERR unknown command"),
            ("redis unexpected error fails", Fail, "WRONGTYPE"),
            ("redis via app pass", Pass, "PONG"),
            ("http json pass", Pass, "GET /health → 200"),
            ("http put pass", Pass, ""),
            (
                "http status fail",
                Fail,
                "GET /no-such-path: expected status 200, got 404",
            ),
            (
                "http body fail",
                Fail,
                "expected the body to contain \"no such text\"",
            ),
            ("http via app pass", Pass, ""),
            ("exec pass", Pass, "exited 0"),
            (
                "exec exit code fail",
                Fail,
                "expected exit code 0, got 3; output: oops",
            ),
            (
                "exec output fail",
                Fail,
                "expected output matching /v=99\\./",
            ),
            ("reach from app pass", Pass, "resolves to"),
            ("reach from app mysql pass", Pass, "logs in as `root`"),
            ("reach from app redis pass", Pass, "answers PING"),
            ("reach published pass", Pass, "accepts TCP"),
            ("reach tcp fail", Fail, "resolves, but TCP connect failed"),
            (
                "reach dns fail",
                Fail,
                "the name `ghost` does not resolve inside `app`",
            ),
            ("reach published fail", Fail, "port 6390 is not published"),
            (
                "when skips",
                Skipped,
                "when postgres >=17: this cell has postgres=15",
            ),
            (
                "when engine-version skips",
                Skipped,
                "when engine-version >=99: the engine reports",
            ),
            ("when applies", Pass, ""),
            (
                "known fails",
                KnownFail,
                "known incompatibility (postgres=15): a documented gap",
            ),
            (
                "known fixed",
                Fixed,
                "passes although [[known]] (redis=7.0) says: said to fail",
            ),
            (
                "timeout fails",
                Fail,
                "did not finish within its timeout of 1s",
            ),
        ];
        let mut problems = Vec::new();
        for (name, status, needle) in want {
            let Some(r) = records.iter().find(|r| r.name == *name) else {
                problems.push(format!("{name}: no record"));
                continue;
            };
            if r.status != *status || !r.message.contains(needle) {
                problems.push(format!(
                    "{name}: want {status} containing {needle:?}, got {} {:?}",
                    r.status, r.message
                ));
            }
            if r.message.contains(PASSWORD) {
                problems.push(format!("{name}: the password shows in {:?}", r.message));
            }
            assert_eq!(r.suite, "kinds");
        }
        assert_eq!(records.len(), want.len(), "one record per check");
        assert!(
            problems.is_empty(),
            "{} problems:\n{}",
            problems.len(),
            problems.join("\n")
        );
    });
}

/// The shipped suites on one demo stack, once per `known` variant of the matrix (the
/// stack is started once).
fn shipped_suites_on(versions: [&str; 3], knowns: &[&str]) -> Vec<Vec<CheckRecord>> {
    let containers = stack(versions[0], versions[1], versions[2]);
    let suites: Vec<Scenario> = ["connectivity", "regression"]
        .iter()
        .map(|s| {
            Scenario::load(&root().join(format!("scenarios/{s}.toml")))
                .unwrap_or_else(|e| panic!("{e}"))
        })
        .collect();
    runtime().block_on(async {
        let first = matrix(versions[0], versions[1], versions[2], "");
        let t = target(&first, &containers).await;
        wait_ready(&t, &first).await;
        let gate = RwLock::new(());
        let ctx = SuiteContext {
            gate: &gate,
            baseline: None,
            on_check: None,
            on_start: None,
        };
        let mut runs = Vec::new();
        for known in knowns {
            let m = matrix(versions[0], versions[1], versions[2], known);
            let started = Instant::now();
            let mut all = Vec::new();
            for s in &suites {
                all.extend(run_suite(s, &t, &m, Phase::Run, &ctx).await);
            }
            eprintln!(
                "{} checks in {:.1}s",
                all.len(),
                started.elapsed().as_secs_f64()
            );
            runs.push(all);
        }
        runs
    })
}

const MONITORING: &str = "postgres: monitoring query reads checkpoints_timed from pg_stat_bgwriter";

fn report(records: &[CheckRecord]) -> String {
    records
        .iter()
        .map(|r| format!("{:>10} {} — {}", r.status.as_str(), r.name, r.message))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn shipped_suites_pass_on_the_old_demo_stack() {
    let imgs = images(OLD);
    if !docker_or_skip("shipped_suites_pass_on_the_old_demo_stack", &refs(&imgs)) {
        return;
    }
    let records = shipped_suites_on(OLD, &[""]).remove(0);
    eprintln!("{}", report(&records));
    let bad: Vec<&CheckRecord> = records
        .iter()
        .filter(|r| !matches!(r.status, CheckStatus::Pass | CheckStatus::Skipped))
        .collect();
    assert!(bad.is_empty(), "{}", report(&records));
    assert!(
        records
            .iter()
            .filter(|r| r.status == CheckStatus::Skipped)
            .all(|r| r.message.starts_with("when "))
    );
    let monitoring = records
        .iter()
        .find(|r| r.name == MONITORING)
        .expect("the monitoring check ran");
    assert_eq!(
        monitoring.status,
        CheckStatus::Pass,
        "PostgreSQL 15 still has checkpoints_timed"
    );
}

#[test]
fn shipped_suites_on_the_new_demo_stack_fail_only_where_known() {
    let imgs = images(NEW);
    if !docker_or_skip(
        "shipped_suites_on_the_new_demo_stack_fail_only_where_known",
        &refs(&imgs),
    ) {
        return;
    }
    let known = format!(
        "[[known]]\nfilter = \"postgres>=17\"\ncheck = \"{MONITORING}\"\nreason = \"PostgreSQL 17 moved checkpoint counters to pg_stat_checkpointer\"\n"
    );
    let mut runs = shipped_suites_on(NEW, &["", &known]);
    // Without the [[known]] entry the genuine difference fails the check …
    let records = runs.remove(0);
    eprintln!("{}", report(&records));
    let failing: Vec<&str> = records
        .iter()
        .filter(|r| r.status.fails_cell())
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(failing, [MONITORING], "{}", report(&records));
    let m = records.iter().find(|r| r.name == MONITORING).expect("ran");
    assert!(m.message.contains("SQLSTATE 42703"), "{}", m.message);

    // … and with it (as in matrices/demo.toml) the check is known-fail, nothing fails.
    let records = runs.remove(0);
    let m = records.iter().find(|r| r.name == MONITORING).expect("ran");
    assert_eq!(m.status, CheckStatus::KnownFail, "{}", m.message);
    assert!(
        !records.iter().any(|r| r.status.fails_cell()),
        "{}",
        report(&records)
    );
}

#[test]
fn perf_gate_fires_when_the_same_redis_is_slowed_by_a_cpu_quota() {
    if !docker_or_skip(
        "perf_gate_fires_when_the_same_redis_is_slowed_by_a_cpu_quota",
        &["dockmatrix/redis:7.0"],
    ) {
        return;
    }
    let mut c = Containers::new();
    c.start(
        "redis",
        ServiceKind::Redis,
        "dockmatrix/redis:7.0",
        &[],
        6379,
    );
    let source = r#"
name = "perf-gate"
[axes]
redis = ["7.0"]
[services.redis]
kind = "redis"
image = "dockmatrix/redis:{version}"
ports = [6379]
"#;
    let m = Matrix::from_source(Path::new("perf-gate.toml"), source.into())
        .unwrap_or_else(|e| panic!("{e}"));
    let perf = scenario(
        "perf-gate.toml",
        r#"kind = "perf"
[[check]]
name = "perf: redis EVAL of a CPU-bound script"
service = "redis"
# CPU-bound on the server (a GET costs Redis microseconds: a CPU quota would hardly bind).
redis = ["EVAL", "local x = 0 for i = 1, 20000 do x = x + i end return x", "0"]
warmup = "500ms"
duration = "2s"
min-samples = 200
concurrency = 4
"#
        .into(),
    );
    let ready = scenario(
        "ready.toml",
        "kind = \"connectivity\"\n[[check]]\nname = \"redis\"\nreach = \"redis\"\n".into(),
    );
    runtime().block_on(async {
        let t = target(&m, &c).await;
        let gate = Arc::new(RwLock::new(()));
        let quiet = SuiteContext { gate: &gate, baseline: None, on_check: None, on_start: None };
        let deadline = Instant::now() + Duration::from_secs(60);
        while run_suite(&ready, &t, &m, Phase::Run, &quiet).await[0].status != CheckStatus::Pass {
            assert!(Instant::now() < deadline, "redis never answered");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }

        // Meanwhile another "cell" keeps taking steps: none may start while it measures.
        let other = OtherCell::start(&gate);
        let started = Instant::now();
        let first = run_suite(&perf, &t, &m, Phase::Run, &quiet).await.remove(0);
        let steps = other.stop().await;
        assert_eq!(first.status, CheckStatus::Pass, "{}", first.message);
        let stats = first.perf.clone().expect("figures");
        eprintln!("unthrottled: {}", first.message);
        assert!(stats.samples >= 200 && stats.p95_ms > 0.0 && stats.ops_per_sec > 0.0);
        let (gap_start, longest_wait) = longest_gap(&steps);
        let measuring = Duration::from_secs_f64(stats.samples as f64 / stats.ops_per_sec);
        assert!(
            longest_wait + Duration::from_millis(50) >= measuring,
            "the exclusive gate should have held other steps for the {measuring:?} of measuring; longest gap {longest_wait:?}"
        );
        assert!(
            gap_start >= started + Duration::from_millis(400),
            "the 500 ms warm-up runs under the read side: other steps go on during it; the gate closed {:?} after the check started",
            gap_start - started
        );

        // The same service, with 5% of a CPU.
        docker(&["update", "--cpus", "0.05", &c.services["redis"].container_id]);
        // A cell of an earlier run, as run.json holds it.
        let cell: CellRecord = serde_json::from_value(serde_json::json!({
            "id": t.cell.id,
            "values": t.cell.values,
            "status": "pass",
            "attempts": 1,
            "checks": [first],
        }))
        .expect("a cell record");
        let ctx = SuiteContext {
            gate: &gate,
            baseline: Some(Baseline { run_id: "baseline-run", cell: &cell }),
            on_check: None,
            on_start: None,
        };
        let second = run_suite(&perf, &t, &m, Phase::Run, &ctx).await.remove(0);
        eprintln!("throttled: {}", second.message);
        assert_eq!(second.status, CheckStatus::Fail, "{}", second.message);
        assert!(second.message.starts_with("performance regression: p95 "), "{}", second.message);
        let delta = second.perf.and_then(|p| p.baseline).expect("a delta");
        assert!(delta.regressed && delta.run_id == "baseline-run");
        assert!(delta.p95_delta_pct > delta.tolerance_pct || delta.ops_delta_pct < -delta.tolerance_pct);
    });
    drop(c);
}

/// `command` checks on the host engine with one Redis: the program sees the cell in its
/// environment (read back from a file it writes), its JUnit cases become checks, a
/// timeout kills its whole process group, secrets in its output are masked, and a missing
/// program or JUnit file is an error naming it while the other checks go on.
#[test]
fn command_checks_see_the_cell_fold_junit_mask_and_kill_on_timeout() {
    if !docker_or_skip("command_checks", &["dockmatrix/redis:7.0"]) {
        return;
    }
    let mut c = Containers::new();
    c.start(
        "redis",
        ServiceKind::Redis,
        "dockmatrix/redis:7.0",
        &[],
        6379,
    );
    let source = r#"
name = "checks-test"
[axes]
redis = ["7.0"]
storage-driver = ["overlay2"]
[services.redis]
kind = "redis"
image = "dockmatrix/redis:{version}"
ports = [6379]
"#;
    let m = Matrix::from_source(
        &root().join("tests/scenarios/checks-matrix.toml"),
        source.into(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("team")).expect("team folder");
    let scenario_text = r#"
kind = "regression"

[[check]]
name = "team: env"
command = ["sh", "-c", "env | grep -E '^(DOCKER_HOST|DOCKMATRIX_|EXTRA)' > env.txt; pwd > pwd.txt"]
dir = "team"
env = { EXTRA = "1" }

[[check]]
name = "team: loud failure"
command = ["sh", "-c", "echo connecting with $API_TOKEN; echo second line >&2; exit 3"]
env = { API_TOKEN = "hunter2-cmd-token" }

[[check]]
name = "team: junit"
command = ["sh", "-c", "printf '<testsuite><testcase classname=\"t\" name=\"ok\" time=\"0.5\"/><testcase classname=\"t\" name=\"bad\"><failure message=\"expected PONG\"/></testcase></testsuite>' > junit.xml"]
dir = "team"
junit = "junit.xml"

[[check]]
name = "team: hangs"
command = ["sh", "-c", "sleep 300 & echo $! > team/child.pid; wait"]
timeout = "1s"

[[check]]
name = "team: no such program"
command = ["dm-no-such-program", "--flag"]

[[check]]
name = "team: junit missing"
command = ["true"]
junit = "team/never-written.xml"

[[check]]
name = "team: junit not junit"
command = ["sh", "-c", "echo '<html/>' > team/page.xml"]
junit = "team/page.xml"

[[check]]
name = "team: output regex"
command = ["sh", "-c", "echo 5 passed, 0 failed"]
expect = { exit-code = 0, output = "\\d+ passed, 0 failed" }
"#;
    let spath = dir.path().join("team.toml");
    std::fs::write(&spath, scenario_text).expect("written");
    let s = Scenario::load(&spath).unwrap_or_else(|e| panic!("{e}"));
    runtime().block_on(async {
        let t = target(&m, &c).await;
        wait_ready_redis(&t, &m).await;
        let gate = RwLock::new(());
        let ctx = SuiteContext {
            gate: &gate,
            baseline: None,
            on_check: None,
            on_start: None,
        };
        let started = Instant::now();
        let records = run_suite(&s, &t, &m, Phase::Run, &ctx).await;
        eprintln!("{}", report(&records));
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the timeout did not stop the hanging command"
        );
        let get = |name: &str| {
            records
                .iter()
                .find(|r| r.name == name)
                .unwrap_or_else(|| panic!("no record {name}: {}", report(&records)))
        };
        // The environment, read back.
        assert_eq!(
            get("team: env").status,
            CheckStatus::Pass,
            "{}",
            get("team: env").message
        );
        let env = std::fs::read_to_string(dir.path().join("team/env.txt")).expect("env.txt");
        let redis = &t.services["redis"].ports[&6379];
        for want in [
            format!("DOCKER_HOST={}", t.engine.docker_host()),
            format!("DOCKMATRIX_RUN={}", t.run_id),
            format!("DOCKMATRIX_CELL={}", t.cell.id),
            "DOCKMATRIX_AXIS_REDIS=7.0".to_string(),
            "DOCKMATRIX_AXIS_STORAGE_DRIVER=overlay2".to_string(),
            format!("DOCKMATRIX_REDIS_HOST={}", redis.ip()),
            format!("DOCKMATRIX_REDIS_PORT={}", redis.port()),
            format!("DOCKMATRIX_REDIS_URL=redis://{redis}"),
            "EXTRA=1".to_string(),
        ] {
            assert!(env.lines().any(|l| l == want), "{want} not in\n{env}");
        }
        let pwd = std::fs::read_to_string(dir.path().join("team/pwd.txt")).expect("pwd.txt");
        assert!(pwd.trim().ends_with("/team"), "{pwd}");
        // A failure shows the output's tail, the secret masked.
        let loud = get("team: loud failure");
        assert_eq!(loud.status, CheckStatus::Fail);
        assert!(
            loud.message.contains("exited with 3, expected 0"),
            "{}",
            loud.message
        );
        assert!(
            loud.message.contains("connecting with ***") && loud.message.contains("second line"),
            "{}",
            loud.message
        );
        assert!(!loud.message.contains("hunter2-cmd-token"));
        // JUnit folded into the cell.
        assert_eq!(get("team: junit").status, CheckStatus::Pass);
        assert_eq!(get("team: junit › t.ok").status, CheckStatus::Pass);
        assert_eq!(get("team: junit › t.ok").duration_ms, 500);
        let bad = get("team: junit › t.bad");
        assert_eq!(
            (bad.status, bad.message.as_str()),
            (CheckStatus::Fail, "expected PONG")
        );
        // The timeout killed the group: the background sleep is gone too.
        let hangs = get("team: hangs");
        assert_eq!(hangs.status, CheckStatus::Fail);
        assert!(
            hangs.message.contains("process group was killed"),
            "{}",
            hangs.message
        );
        let pid = std::fs::read_to_string(dir.path().join("team/child.pid")).expect("child.pid");
        // Dead, or a zombie waiting for a reaper that is not ours (state `Z`).
        let alive = || {
            std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()))
                .ok()
                .and_then(|st| st.rsplit_once(") ").map(|(_, rest)| !rest.starts_with('Z')))
                .unwrap_or(false)
        };
        let until = Instant::now() + Duration::from_secs(3);
        while alive() && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            !alive(),
            "the command's child {} outlived the timeout",
            pid.trim()
        );
        // Bad programs and reports are errors naming what is wrong; later checks still ran.
        let missing = get("team: no such program");
        assert_eq!(missing.status, CheckStatus::Error);
        assert!(
            missing.message.contains("`dm-no-such-program`")
                && missing.message.contains("no such program"),
            "{}",
            missing.message
        );
        let nojunit = get("team: junit missing");
        assert_eq!(nojunit.status, CheckStatus::Error);
        assert!(
            nojunit
                .message
                .contains("never-written.xml was not written"),
            "{}",
            nojunit.message
        );
        let html = get("team: junit not junit");
        assert_eq!(html.status, CheckStatus::Error);
        assert!(
            html.message.contains("is not JUnit XML") && html.message.contains("<html>"),
            "{}",
            html.message
        );
        assert_eq!(get("team: output regex").status, CheckStatus::Pass);
    });
}

/// Redis answers its protocol.
async fn wait_ready_redis(t: &Target, m: &Matrix) {
    let ready = scenario(
        "ready.toml",
        r#"kind = "connectivity"
[[check]]
name = "redis"
reach = "redis"
"#
        .into(),
    );
    let gate = RwLock::new(());
    let ctx = SuiteContext {
        gate: &gate,
        baseline: None,
        on_check: None,
        on_start: None,
    };
    for _ in 0..100 {
        let r = run_suite(&ready, t, m, Phase::Run, &ctx).await;
        if r.iter().all(|x| x.status == CheckStatus::Pass) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("redis never became ready");
}

#[test]
fn perf_check_stops_once_its_p95_is_precise_and_holds_the_gate_meanwhile() {
    if !docker_or_skip(
        "perf_check_stops_once_its_p95_is_precise_and_holds_the_gate_meanwhile",
        &["dockmatrix/redis:7.0"],
    ) {
        return;
    }
    let mut c = Containers::new();
    c.start(
        "redis",
        ServiceKind::Redis,
        "dockmatrix/redis:7.0",
        &[],
        6379,
    );
    let source = r#"
name = "perf-precise"
[axes]
redis = ["7.0"]
[services.redis]
kind = "redis"
image = "dockmatrix/redis:{version}"
ports = [6379]
"#;
    let m = Matrix::from_source(Path::new("perf-precise.toml"), source.into())
        .unwrap_or_else(|e| panic!("{e}"));
    // 60 s allowed, but a PING's p95 is within 5 % after some thousands of samples.
    let perf = scenario(
        "perf-precise.toml",
        r#"kind = "perf"
[[check]]
name = "perf: redis PING"
service = "redis"
redis = ["PING"]
warmup = "300ms"
duration = "60s"
min-samples = 2000
concurrency = 2
precision = "5%"
timeout = "120s"
"#
        .into(),
    );
    let ready = scenario(
        "ready.toml",
        "kind = \"connectivity\"\n[[check]]\nname = \"redis\"\nreach = \"redis\"\n".into(),
    );
    runtime().block_on(async {
        let t = target(&m, &c).await;
        let gate = Arc::new(RwLock::new(()));
        let quiet = SuiteContext { gate: &gate, baseline: None, on_check: None, on_start: None };
        let deadline = Instant::now() + Duration::from_secs(60);
        while run_suite(&ready, &t, &m, Phase::Run, &quiet).await[0].status != CheckStatus::Pass {
            assert!(Instant::now() < deadline, "redis never answered");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let other = OtherCell::start(&gate);
        let started = Instant::now();
        let r = run_suite(&perf, &t, &m, Phase::Run, &quiet).await.remove(0);
        let took = started.elapsed();
        let steps = other.stop().await;
        eprintln!("precise after {took:?}: {}", r.message);
        assert_eq!(r.status, CheckStatus::Pass, "{}", r.message);
        let p = r.perf.expect("figures");
        assert!(p.samples >= 2000, "{} samples", p.samples);
        let precision = p.p95_precision_pct.expect("a precision");
        assert!(precision <= 5.0, "stopped at ±{precision}%");
        assert!(took < Duration::from_secs(30), "ran {took:?}: it should stop once precise, long before its 60 s");
        assert!(r.message.contains(&format!("±{precision:.1}%")), "{}", r.message);
        // The exclusive gate still held every other step while it measured.
        let (_, longest_wait) = longest_gap(&steps);
        let measuring = Duration::from_secs_f64(p.samples as f64 / p.ops_per_sec);
        assert!(
            longest_wait + Duration::from_millis(50) >= measuring,
            "the gate should have held other steps for the {measuring:?} of measuring; longest gap {longest_wait:?}"
        );
    });
    drop(c);
}

/// The longest time between two of another cell's steps, and when it began.
fn longest_gap(steps: &[Instant]) -> (Instant, Duration) {
    steps
        .windows(2)
        .map(|w| (w[0], w[1] - w[0]))
        .max_by_key(|g| g.1)
        .expect("the other cell took steps")
}

/// Another "cell" of the run: it takes a step (the gate's read side) every 10 ms, and
/// notes when, until stopped.
struct OtherCell {
    stop: Arc<std::sync::atomic::AtomicBool>,
    steps: Arc<Mutex<Vec<Instant>>>,
    task: tokio::task::JoinHandle<()>,
}

impl OtherCell {
    fn start(gate: &Arc<RwLock<()>>) -> OtherCell {
        let steps = Arc::new(Mutex::new(Vec::<Instant>::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let task = {
            let (gate, steps, stop) = (gate.clone(), steps.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    {
                        let _step = gate.read().await;
                        steps.lock().expect("lock").push(Instant::now());
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
        };
        OtherCell { stop, steps, task }
    }

    /// When it took each of its steps.
    async fn stop(self) -> Vec<Instant> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.task.await.expect("the other cell's task");
        self.steps.lock().expect("lock").clone()
    }
}
