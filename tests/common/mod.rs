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

/// The default bridge's gateway: where containers reach the host.
pub fn host_address_for_containers() -> String {
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
