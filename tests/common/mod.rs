//! Helpers shared by the integration tests.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the built `dockmatrix` binary with `args` from the repository root.
pub fn dockmatrix(args: &[&str]) -> Output {
    dockmatrix_in(&root(), args)
}

pub fn dockmatrix_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dockmatrix"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        // Tests leave no engine caches on the shared host (tests/engine_cache.rs asks
        // for them with the flag, and removes its own).
        .env("DOCKMATRIX_ENGINE_CACHE", "off")
        // A width would fit the table to it: tests compare the full one.
        .env_remove("COLUMNS")
        .output()
        .expect("the dockmatrix binary runs")
}

/// Starts the binary with `args` (and extra `env`) from the repository root, in the
/// background; its stderr lines (the progress view) arrive on the receiver as printed.
pub fn spawn_dockmatrix(
    args: &[&str],
    env: &[(&str, &str)],
) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_dockmatrix"))
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env("DOCKMATRIX_ENGINE_CACHE", "off")
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawned");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

/// Reads a spawned run's progress lines ([`spawn_dockmatrix`]) until one contains `until`
/// (`None`: until the `run ID: …` line), for at most `within`; returns the run id.
pub fn await_progress(
    rx: &std::sync::mpsc::Receiver<String>,
    until: Option<&str>,
    within: std::time::Duration,
) -> String {
    let started = std::time::Instant::now();
    let mut run_id = String::new();
    let awaited = until.unwrap_or("run ");
    loop {
        let line = within
            .checked_sub(started.elapsed())
            .and_then(|left| rx.recv_timeout(left).ok())
            .unwrap_or_else(|| panic!("no progress line with `{awaited}` within {within:?}"));
        if let Some(rest) = line.strip_prefix("run ") {
            run_id = rest.split(':').next().unwrap_or_default().to_string();
        }
        if until.is_none_or(|u| line.contains(u)) && !run_id.is_empty() {
            return run_id;
        }
    }
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Whether a Docker engine answers. Without one, a test that needs it is skipped with a
/// message — unless DOCKMATRIX_REQUIRE_DOCKER=1 (CI), where that is a failure.
pub fn docker_available(test: &str) -> bool {
    let ok = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var("DOCKMATRIX_REQUIRE_DOCKER").as_deref() == Ok("1") {
            panic!(
                "{test}: no Docker engine answers, and DOCKMATRIX_REQUIRE_DOCKER=1 forbids skipping"
            );
        }
        eprintln!(
            "SKIPPED {test}: no Docker engine answers (run scripts/setup.sh to install and start one)"
        );
    }
    ok
}

/// Whether the local images `images` exist; like [`docker_available`], a skip outside CI.
pub fn images_available(test: &str, images: &[&str]) -> bool {
    let missing: Vec<&str> = images
        .iter()
        .copied()
        .filter(|i| {
            !Command::new("docker")
                .args(["image", "inspect", i])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var("DOCKMATRIX_REQUIRE_DOCKER").as_deref() == Ok("1") {
        panic!("{test}: images {missing:?} are missing (scripts/setup.sh ci builds them)");
    }
    eprintln!("SKIPPED {test}: images {missing:?} are missing (scripts/setup.sh ci builds them)");
    false
}

/// Names of labelled Docker objects (containers, networks, volumes) of a run.
pub fn labelled_objects(run_id: &str) -> Vec<String> {
    let label = format!("label=io.dockmatrix.run={run_id}");
    let mut out = Vec::new();
    for (kind, fmt) in [
        ("ps", "{{.Names}}"),
        ("network", "{{.Name}}"),
        ("volume", "{{.Name}}"),
    ] {
        let mut args = vec![kind];
        if kind != "ps" {
            args.push("ls");
        }
        args.extend(["-a", "--filter", &label, "--format", fmt]);
        if kind != "ps" {
            args.retain(|a| *a != "-a");
        }
        let o = Command::new("docker")
            .args(&args)
            .output()
            .expect("docker runs");
        out.extend(
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter(|l| !l.is_empty())
                .map(|l| format!("{kind}:{l}")),
        );
    }
    out
}

/// Writes `text` as a matrix file in a fresh temporary folder.
pub fn matrix_file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("matrix.toml");
    std::fs::write(&path, text).expect("matrix written");
    (dir, path)
}

/// Reads a run folder's run.json as JSON.
pub fn run_json(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("run.json")).expect("run.json exists");
    serde_json::from_str(&text).expect("run.json is JSON")
}

/// A label of a local image (tests assert on the package versions images carry).
pub fn image_label(image: &str, label: &str) -> String {
    let o = Command::new("docker")
        .args([
            "image",
            "inspect",
            image,
            "--format",
            &format!("{{{{index .Config.Labels \"{label}\"}}}}"),
        ])
        .output()
        .expect("docker runs");
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// The cell of a run.json whose values include `values`.
pub fn cell<'a>(run: &'a serde_json::Value, values: &[(&str, &str)]) -> &'a serde_json::Value {
    run["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .find(|c| values.iter().all(|(k, v)| c["values"][k] == *v))
        .unwrap_or_else(|| panic!("no cell {values:?} in {run}"))
}

/// A TCP server on the host that answers Redis' PING with an error the first time and
/// with PONG afterwards: state that outlives a cell's attempts (a retry re-provisions the
/// whole stack, so it cannot live in a container).
pub fn fails_once_server() -> (u16, Arc<AtomicUsize>) {
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

/// Where containers on the default bridge reach the host, found the way the engine knows
/// it: the gateway its IPAM config names, or else (a freshly started dockerd names none)
/// the address of the bridge's own interface (`com.docker.network.bridge.name`, `docker0`
/// by default). Panics, saying what it tried, when neither is found: a test that needs it
/// must fail loudly, never skip.
pub fn host_address_for_containers() -> String {
    let inspect = |format: &str| {
        let o = Command::new("docker")
            .args(["network", "inspect", "bridge", "--format", format])
            .output()
            .expect("docker runs");
        assert!(
            o.status.success(),
            "docker network inspect bridge: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    let gateway = inspect("{{range .IPAM.Config}}{{.Gateway}} {{end}}");
    if let Some(g) = gateway
        .split_whitespace()
        .find(|g| g.parse::<std::net::Ipv4Addr>().is_ok())
    {
        return g.to_string();
    }
    let name = inspect("{{index .Options \"com.docker.network.bridge.name\"}}");
    let name = if name.is_empty() || name == "<no value>" {
        "docker0".to_string()
    } else {
        name
    };
    let o = Command::new("ip")
        .args(["-4", "-o", "addr", "show", "dev", &name])
        .output()
        .unwrap_or_else(|e| panic!("the bridge names no gateway and `ip` cannot run: {e}"));
    let text = String::from_utf8_lossy(&o.stdout);
    bridge_interface_address(&text).unwrap_or_else(|| {
        panic!(
            "the default bridge names no gateway and its interface {name} has no IPv4 address \
             (`ip -4 -o addr show dev {name}`: {text:?} {})",
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

/// The first IPv4 address in `ip -4 -o addr show` output
/// (`5: docker0    inet 172.17.0.1/16 brd … scope global docker0`).
pub fn bridge_interface_address(ip_output: &str) -> Option<String> {
    let mut words = ip_output.split_whitespace();
    while let Some(w) = words.next() {
        if w == "inet" {
            let addr = words.next()?.split('/').next()?;
            if addr.parse::<std::net::Ipv4Addr>().is_ok() {
                return Some(addr.to_string());
            }
        }
    }
    None
}

/// The demo stack's three stores as matrix services (`{version}` from their axes, default
/// ports published), their passwords `password`.
pub fn demo_store_services(password: &str) -> String {
    format!(
        r#"
[services.postgres]
kind = "postgres"
image = "dockmatrix/postgres:{{version}}"
env = {{ POSTGRES_PASSWORD = "{password}" }}
ports = [5432]

[services.mariadb]
kind = "mysql"
image = "dockmatrix/mariadb:{{version}}"
env = {{ MYSQL_ROOT_PASSWORD = "{password}", MYSQL_DATABASE = "demo" }}
ports = [3306]

[services.redis]
kind = "redis"
image = "dockmatrix/redis:{{version}}"
ports = [6379]
"#
    )
}

/// The variables by which Docker's conventions name an engine ([`dockmatrix_env`] clears
/// them, so that the machine's own do not leak into a test).
pub const DOCKER_CONVENTION_VARS: &[&str] = &[
    "DOCKER_HOST",
    "DOCKER_CONTEXT",
    "DOCKER_CONFIG",
    "DOCKER_TLS_VERIFY",
    "DOCKER_CERT_PATH",
    "XDG_RUNTIME_DIR",
];

/// Runs the binary from the repository root with Docker's variables cleared, then `env`
/// set (give `HOME` to keep this machine's ~/.docker out).
pub fn dockmatrix_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dockmatrix"));
    cmd.args(args).current_dir(root()).env("NO_COLOR", "1");
    for v in DOCKER_CONVENTION_VARS {
        cmd.env_remove(v);
    }
    cmd.envs(env.iter().copied())
        .output()
        .expect("the dockmatrix binary runs")
}
