//! Docker API clients against real dind engines: the engine facts `min_api_version` and
//! `image_store` against what the engine answers on its own API, `[engines] env`
//! (`DOCKER_MIN_API_VERSION`) recorded masked, the containerd image store, the two
//! refusals of Docker 29 and of old engines seen verbatim, a client in the stack that
//! reaches its cell's engine through the mounted socket (and the host's, with a warning,
//! on the host engine), and an image store the engine cannot give (`unsupported`).

use crate::common::*;

#[test]
fn run_api_floor_containerd_store_and_socket_client_on_two_engines() {
    let images = ["dockmatrix/engine:20.10.24", "dockmatrix/engine:28.5.2"];
    if !docker_available("run_api_floor") || !images_available("run_api_floor", &images) {
        return;
    }
    let scenario = root().join("tests/clients/api.toml");
    let matrix = format!(
        r#"
name = "clients"
scenarios = ["{scenario}"]

[axes]
engine = ["20.10.24", "29.0-defaults"]

[[include]]
engine = "29.0-defaults"
image-store = "containerd"
storage-driver = "overlayfs"

[[known]]
filter = "engine=29.0-defaults"
check = "api: a client pinned at 1.41 on the raised floor"
reason = "Docker 29.0 raised the minimum API version to 1.44"

[[known]]
filter = "engine=20.10.24"
check = "api: a client pinned at 1.51 on 20.10"
reason = "20.10 speaks API 1.41 at most"

[engines."20.10.24"]
kind = "dind"
image = "dockmatrix/engine:20.10.24"

[engines."29.0-defaults"]
kind = "dind"
image = "dockmatrix/engine:28.5.2"
env = {{ DOCKER_MIN_API_VERSION = "1.44", SOME_API_TOKEN = "hunter2-engine-token" }}

[services.client]
kind = "generic"
image = "dockmatrix/engine:28.5.2"
env = {{ DOCKMATRIX_SKIP_CGROUP_SETUP = "1" }}
command = ["sleep", "infinity"]
docker-socket = true
"#,
        scenario = scenario.display()
    );
    let (_mdir, path) = matrix_file(&matrix);
    let out = tempfile::tempdir().expect("tempdir");
    let out_path = out.path().join("run");
    let o = dockmatrix(&[
        "run",
        path.to_str().expect("utf-8"),
        "--out",
        out_path.to_str().expect("utf-8"),
        "-j",
        "2",
    ]);
    let run = run_json(&out_path);
    assert_eq!(o.status.code(), Some(0), "stderr: {}\n{run:#}", stderr(&o));
    let check = |c: &serde_json::Value, name: &str| -> serde_json::Value {
        c["checks"]
            .as_array()
            .and_then(|cs| cs.iter().find(|x| x["name"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("no check {name} in {c}"))
    };

    // 28.5.2 with DOCKER_MIN_API_VERSION=1.44 and the containerd image store.
    let new = cell(&run, &[("engine", "29.0-defaults")]);
    assert_eq!(new["status"], "pass", "{new:#}");
    let e = &new["engine"];
    assert!(
        e["server_version"]
            .as_str()
            .is_some_and(|v| v.starts_with("28.5.2")),
        "{e}"
    );
    assert_eq!(e["min_api_version"], "1.44", "{e}");
    assert_eq!(e["image_store"], "containerd", "{e}");
    assert_eq!(e["storage_driver"], "overlayfs", "{e}");
    assert_eq!(e["env"]["DOCKER_MIN_API_VERSION"], "1.44", "{e}");
    assert_eq!(e["env"]["SOME_API_TOKEN"], "***", "{e}");
    let refused = check(new, "api: a client pinned at 1.41 on the raised floor");
    assert_eq!(refused["status"], "known-fail", "{refused}");
    let msg = refused["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("\"client version 1.41 is too old. Minimum supported API version is 1.44, please upgrade your client to a newer version\""),
        "{msg}"
    );
    for name in [
        "api: /version says MinAPIVersion 1.44",
        "api: /info says the containerd snapshotter",
    ] {
        assert_eq!(check(new, name)["status"], "pass", "{new:#}");
    }
    // The socket client saw its own cell's engine (28.5.2), not the host's.
    let socket = check(
        new,
        "socket: the client in the stack sees its cell's engine",
    );
    assert_eq!(socket["status"], "pass", "{socket}");
    let host = std::process::Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .expect("docker runs");
    assert!(
        !String::from_utf8_lossy(&host.stdout).starts_with("28.5.2"),
        "the host engine must differ for this test to mean something"
    );

    // 20.10.24 as it is: the graph driver, API 1.12–1.41.
    let old = cell(&run, &[("engine", "20.10.24")]);
    assert_eq!(old["status"], "pass", "{old:#}");
    let e = &old["engine"];
    assert_eq!(e["min_api_version"], "1.12", "{e}");
    assert_eq!(e["image_store"], "graphdriver", "{e}");
    assert!(e.get("env").is_none(), "{e}");
    let refused = check(old, "api: a client pinned at 1.51 on 20.10");
    assert_eq!(refused["status"], "known-fail", "{refused}");
    let msg = refused["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("\"client version 1.51 is too new. Maximum supported API version is 1.41\""),
        "{msg}"
    );
    assert_eq!(
        check(old, "api: /version says MinAPIVersion 1.12")["status"],
        "pass"
    );

    // The engine's secret env value never reaches any output.
    let all = std::fs::read_dir(&out_path)
        .expect("run folder")
        .flatten()
        .filter(|f| f.path().is_file())
        .map(|f| std::fs::read_to_string(f.path()).unwrap_or_default())
        .collect::<String>();
    assert!(!all.contains("hunter2-engine-token"));
    let report = std::fs::read_to_string(out_path.join("report.md")).expect("report.md");
    assert!(
        report.contains("overlayfs/containerd API 1.44–1.51"),
        "{report}"
    );
    assert!(labelled_objects(run["run_id"].as_str().unwrap_or_default()).is_empty());
}

/// A cell whose `image-store` axis asks for containerd on an engine that cannot give it is
/// `unsupported`, in the engine's words, at step `engine`: the host engine (20.10.24, a
/// graph driver, as it is) reports another image store than asked; a 20.10.24 dind engine
/// has no `--feature` flag and refuses to start. Neither is a tool error (exit 0).
#[test]
fn run_image_store_the_engine_cannot_give_is_unsupported() {
    let images = ["dockmatrix/engine:20.10.24", "dockmatrix/redis:7.0"];
    if !docker_available("run_image_store_unsupported")
        || !images_available("run_image_store_unsupported", &images)
    {
        return;
    }
    let host = std::process::Command::new("docker")
        .args(["info", "--format", "{{.Driver}} {{json .DriverStatus}}"])
        .output()
        .expect("docker runs");
    let host = String::from_utf8_lossy(&host.stdout).to_string();
    assert!(
        !host.contains("io.containerd.snapshotter.v1"),
        "the host engine must use a graph driver for this test to mean something: {host}"
    );
    let host_driver = host
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    let (_mdir, path) = matrix_file(
        r#"
name = "image-store-refused"

[axes]
engine = ["the-host", "20.10.24"]
image-store = ["containerd"]

[engines.the-host]
kind = "host"

[engines."20.10.24"]
kind = "dind"
image = "dockmatrix/engine:20.10.24"

[services.redis]
kind = "redis"
image = "dockmatrix/redis:7.0"
ports = [6379]
"#,
    );
    let out = tempfile::tempdir().expect("tempdir");
    let out_path = out.path().join("run");
    let o = dockmatrix(&[
        "run",
        path.to_str().expect("utf-8"),
        "--out",
        out_path.to_str().expect("utf-8"),
        "-j",
        "2",
    ]);
    let run = run_json(&out_path);
    assert_eq!(o.status.code(), Some(0), "stderr: {}\n{run:#}", stderr(&o));
    let on_host = cell(&run, &[("engine", "the-host")]);
    assert_eq!(on_host["status"], "unsupported", "{on_host:#}");
    assert_eq!(on_host["failed_step"], "engine", "{on_host:#}");
    let reason = on_host["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains(&format!(
            "the engine reports the graphdriver image store, not containerd (driver `{host_driver}`"
        )),
        "{reason}"
    );
    let old = cell(&run, &[("engine", "20.10.24")]);
    assert_eq!(old["status"], "unsupported", "{old:#}");
    assert_eq!(old["failed_step"], "engine", "{old:#}");
    let reason = old["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("unknown flag: --feature"), "{reason}");
    // Counted as a failure only when asked to.
    let again = out.path().join("again");
    let o = dockmatrix(&[
        "run",
        path.to_str().expect("utf-8"),
        "--filter",
        "engine=the-host",
        "--fail-on",
        "unsupported",
        "--out",
        again.to_str().expect("utf-8"),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    for r in [&run, &run_json(&again)] {
        assert!(labelled_objects(r["run_id"].as_str().unwrap_or_default()).is_empty());
    }
}

/// `docker-socket = true` on a host engine cell, and a compose bind of
/// /var/run/docker.sock: the run warns that the stack gets the host engine's own socket
/// (on stderr and in run.json, naming both), and both clients in the stack see the host
/// engine (their server version is the host's).
#[test]
fn run_docker_socket_on_the_host_engine_warns_and_is_the_hosts_socket() {
    let images = ["dockmatrix/engine:28.5.2"];
    if !docker_available("run_socket_on_host") || !images_available("run_socket_on_host", &images) {
        return;
    }
    let host = std::process::Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .expect("docker runs");
    let host_version = String::from_utf8_lossy(&host.stdout).trim().to_string();
    assert!(!host_version.is_empty() && !host_version.starts_with("28.5.2"));
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("socket.toml"),
        r#"kind = "connectivity"
[[check]]
name = "socket: the client sees the host engine"
service = "client"
exec = ["sh", "-c", "docker version --format 'server={{.Server.Version}}'"]
expect = { exit-code = 0 }

[[check]]
name = "socket: the compose client sees the host engine"
service = "composed"
exec = ["sh", "-c", "docker version --format 'server={{.Server.Version}}'"]
expect = { exit-code = 0 }
"#,
    )
    .expect("written");
    std::fs::write(
        dir.path().join("compose.yaml"),
        r#"
services:
  composed:
    image: dockmatrix/engine:28.5.2
    x-dockmatrix: { kind: generic }
    environment: { DOCKMATRIX_SKIP_CGROUP_SETUP: "1" }
    command: ["sleep", "infinity"]
    volumes:
      - /var/run/docker.sock:/var/run/docker.sock
"#,
    )
    .expect("written");
    let matrix = dir.path().join("matrix.toml");
    std::fs::write(
        &matrix,
        r#"
name = "socket-on-host"
scenarios = ["socket.toml"]

[axes]
flavour = ["only"]

[compose]
files = ["compose.yaml"]

[services.client]
kind = "generic"
image = "dockmatrix/engine:28.5.2"
env = { DOCKMATRIX_SKIP_CGROUP_SETUP = "1" }
command = ["sleep", "infinity"]
docker-socket = true
"#,
    )
    .expect("written");
    let out = dir.path().join("run");
    let o = dockmatrix(&[
        "run",
        matrix.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    let run = run_json(&out);
    assert_eq!(o.status.code(), Some(0), "stderr: {}\n{run:#}", stderr(&o));
    let warning = "warning: services `client`, `composed` mount the host engine's own socket in cells on the host engine: they can see and change every container on this machine";
    assert!(stderr(&o).contains(warning), "{}", stderr(&o));
    assert!(
        run["warnings"].as_array().is_some_and(|w| w
            .iter()
            .any(|w| format!("warning: {}", w.as_str().unwrap_or_default()) == warning)),
        "{run:#}"
    );
    let c = &run["cells"][0];
    assert_eq!(c["status"], "pass", "{c:#}");
    for k in c["checks"].as_array().expect("checks") {
        let msg = k["message"].as_str().unwrap_or_default();
        assert!(
            msg.contains(&format!("server={host_version}")),
            "the host's {host_version} in: {msg}"
        );
    }
    assert_eq!(c["checks"].as_array().map(Vec::len), Some(2), "{c:#}");
    assert!(labelled_objects(run["run_id"].as_str().unwrap_or_default()).is_empty());
}
