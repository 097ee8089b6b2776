//! Compose stacks: the corpus of bad compose files (each exit 2 with its line and
//! message, never a secret), matrix-level compose errors, and runs on a real dind engine
//! of every `depends_on` condition, healthchecks, one-shot jobs, binds, profiles,
//! interpolation from axis, environment and env file, files merged in order, and the
//! container options (ulimits, sysctls, capabilities, extra_hosts, init, shm_size,
//! stop_signal, networks with aliases) read back from inside the containers.

use std::path::{Path, PathBuf};

use crate::common::*;

fn corpus() -> PathBuf {
    root().join("tests/compose/bad")
}

/// A matrix in a fresh folder naming `compose` files (absolute paths).
fn compose_matrix(extra: &str, files: &[&Path]) -> (tempfile::TempDir, PathBuf) {
    let list: Vec<String> = files
        .iter()
        .map(|f| format!("{:?}", f.to_str().expect("utf-8")))
        .collect();
    matrix_file(&format!(
        "name = \"compose-bad\"\n[axes]\npostgres = [\"15\", \"17\"]\n[compose]\nfiles = [{}]\n{extra}",
        list.join(", ")
    ))
}

#[test]
fn compose_bad_corpus_each_exit_2_with_line_and_message() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus())
        .expect("corpus")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 30, "{} bad compose files", files.len());
    let mut failures = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read");
        let header = text.lines().next().unwrap_or_default();
        let rest = header.strip_prefix("# expect line ").expect("a header");
        let (line, message) = rest.split_once(": ").unwrap_or((rest, ""));
        let (_d, m) = compose_matrix("", &[f]);
        let o = dockmatrix(&["plan", m.to_str().expect("utf-8")]);
        let err = stderr(&o);
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let place = format!("{name}:{line}:");
        if o.status.code() != Some(2) || !err.contains(&place) || !err.contains(message) {
            failures.push(format!(
                "{name}: exit {:?}, wanted `{place}` and `{message}` in:\n{err}",
                o.status.code()
            ));
        }
        if err.contains("hunter2") {
            failures.push(format!("{name}: the secret was echoed:\n{err}"));
        }
        if err.contains("panicked") {
            failures.push(format!("{name}: panicked:\n{err}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn compose_errors_name_the_key_path() {
    let f = corpus().join("unknown-port-key.yaml");
    let (_d, m) = compose_matrix("", &[&f]);
    let o = dockmatrix(&["plan", m.to_str().expect("utf-8")]);
    assert!(
        stderr(&o).contains("key: services.db.ports.publishd"),
        "{}",
        stderr(&o)
    );
    let f = corpus().join("required-variable.yaml");
    let (_d, m) = compose_matrix("", &[&f]);
    let o = dockmatrix(&["plan", m.to_str().expect("utf-8")]);
    let err = stderr(&o);
    assert!(
        err.contains("key: services.db.environment.DB_HOST"),
        "{err}"
    );
    // Cells that give the files the same values are reported once.
    assert_eq!(err.matches("required variable DB_HOST").count(), 1, "{err}");
}

#[test]
fn compose_files_empty_and_missing_are_matrix_errors() {
    let (_d, m) = matrix_file("name = \"x\"\n[axes]\na = [\"1\"]\n[compose]\nfiles = []\n");
    let o = dockmatrix(&["plan", m.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("`files` is empty"), "{}", stderr(&o));
    assert!(stderr(&o).contains(":5:9"), "{}", stderr(&o));
    let (_d, m) =
        matrix_file("name = \"x\"\n[axes]\na = [\"1\"]\n[compose]\nfiles = [\"nope.yaml\"]\n");
    let o = dockmatrix(&["plan", m.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("compose file `nope.yaml` does not exist"));
}

#[test]
fn compose_override_of_a_compose_key_and_an_imageless_new_service_are_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("compose.yaml"),
        "services:\n  db:\n    image: postgres:16\n",
    )
    .expect("write");
    let m = dir.path().join("m.toml");
    std::fs::write(
        &m,
        "name = \"x\"\n[axes]\na = [\"1\"]\n[compose]\nfiles = [\"compose.yaml\"]\n[services.db]\nimage = \"other\"\n[services.extra]\nkind = \"redis\"\n",
    )
    .expect("write");
    let o = dockmatrix(&["plan", m.to_str().expect("utf-8")]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("`db` is a compose service: its `image` comes from the compose file"),
        "{err}"
    );
    assert!(err.contains("service `extra` has no image"), "{err}");
}

#[test]
fn compose_disabled_profile_dependency_is_an_error_unless_not_required() {
    let dir = tempfile::tempdir().expect("tempdir");
    let compose = dir.path().join("compose.yaml");
    std::fs::write(
        &compose,
        "services:\n  app:\n    image: app:1\n    depends_on:\n      debug: { condition: service_started }\n  debug:\n    image: dbg:1\n    profiles: [debug]\n",
    )
    .expect("write");
    let (_d, m) = compose_matrix("", &[&compose]);
    let o = dockmatrix(&["plan", m.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("which is disabled by its profiles"),
        "{}",
        stderr(&o)
    );
    let (_d, m) = compose_matrix("profiles = [\"debug\"]\n", &[&compose]);
    let o = dockmatrix(&["images", m.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("dbg:1"), "{}", stdout(&o));
}

#[test]
fn compose_images_follow_axis_environment_and_env_file_in_that_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("compose.yaml"),
        "services:\n  db:\n    image: pg:${POSTGRES:-16}-${FLAVOUR}-${FROM_FILE}\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join(".env"),
        "FLAVOUR=file\nFROM_FILE=f\nPOSTGRES=99\n",
    )
    .expect("write");
    let m = dir.path().join("m.toml");
    std::fs::write(
        &m,
        "name = \"x\"\n[axes]\npostgres = [\"15\", \"17\"]\n[compose]\nfiles = [\"compose.yaml\"]\n",
    )
    .expect("write");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_dockmatrix"))
        .args(["images", m.to_str().expect("utf-8")])
        .env("FLAVOUR", "env")
        .output()
        .expect("runs");
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["pg:15-env-f", "pg:17-env-f"],
        "{out}"
    );
    // Per cell: each cell's own interpolation, named by its id.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_dockmatrix"))
        .args(["images", m.to_str().expect("utf-8"), "--per-cell"])
        .env("FLAVOUR", "env")
        .output()
        .expect("runs");
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let lines: Vec<(&str, &str)> = out
        .lines()
        .map(|l| l.split_once('\t').expect("CELL<TAB>IMAGE"))
        .collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].0.starts_with("15-") && lines[0].1 == "pg:15-env-f",
        "{out}"
    );
    assert!(
        lines[1].0.starts_with("17-") && lines[1].1 == "pg:17-env-f",
        "{out}"
    );
}

/// A compose bind of the engine's socket in a matrix with a tcp:// endpoint engine is an
/// error at load, at the bind's line of the compose file (as `docker-socket = true` is at
/// the matrix's): there is no socket of that engine to mount.
#[test]
fn compose_socket_bind_with_a_tcp_endpoint_is_an_error_at_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("compose.yaml"),
        "services:\n  proxy:\n    image: proxy:1\n    volumes:\n      - ./conf:/conf\n      - /var/run/docker.sock:/var/run/docker.sock:ro\n",
    )
    .expect("write");
    std::fs::create_dir(dir.path().join("conf")).expect("mkdir");
    let m = dir.path().join("m.toml");
    let matrix = |url: &str| {
        format!(
            "name = \"x\"\n[axes]\nengine = [\"remote\"]\n[engines.remote]\nkind = \"endpoint\"\nurl = \"{url}\"\n[compose]\nfiles = [\"compose.yaml\"]\n"
        )
    };
    std::fs::write(&m, matrix("tcp://127.0.0.1:2375")).expect("write");
    let o = dockmatrix(&["plan", m.to_str().expect("utf-8")]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("compose.yaml:6:"), "{err}");
    assert!(
        err.contains("service `proxy` asks for the engine's socket, but engine `remote` is reached over tcp://: there is no socket of it to mount"),
        "{err}"
    );
    assert!(err.contains("key: services.proxy.volumes"), "{err}");
    // A unix:// endpoint has a socket: fine.
    std::fs::write(&m, matrix("unix:///run/other-docker.sock")).expect("write");
    let o = dockmatrix(&["plan", m.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// What compose keys ask that a cell cannot give is warned about and ignored, not an
/// error: `container_name` (containers are named after the cell), a host IP or a fixed host
/// port (cell ports are ephemeral), `build` beside an image.
#[test]
fn compose_container_name_fixed_host_ports_and_build_are_warned_and_ignored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let compose = dir.path().join("compose.yaml");
    std::fs::write(
        &compose,
        r#"services:
  web:
    image: web:1
    container_name: my-web
    build: .
    ports:
      - "127.0.0.1:8080:80"
      - "9443:443"
      - target: 81
        published: "8081"
      - "82"
"#,
    )
    .expect("write");
    let (_d, m) = compose_matrix("", &[&compose]);
    let o = dockmatrix(&["plan", m.to_str().expect("utf-8"), "--format", "json"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    for want in [
        "warning: service `web`: container_name `my-web` is ignored (cell containers are named after the cell)",
        "warning: service `web`: `build` is ignored; the image `web:1` must exist",
        "warning: service `web`: `services.web.ports[0]` names a host IP or port, ignored (cell ports are always ephemeral, so cells sharing an engine never clash)",
        "warning: service `web`: `services.web.ports[1]` names a host IP or port, ignored",
        "warning: service `web`: `services.web.ports[2]` names a host IP or port, ignored",
    ] {
        assert!(err.contains(want), "`{want}` not in:\n{err}");
    }
    assert!(
        !err.contains("ports[3]"),
        "a bare container port is fine: {err}"
    );
    // Warned once, not once per cell (the matrix has two).
    assert_eq!(err.matches("container_name").count(), 1, "{err}");
}

/// A compose project in a fresh folder: `files` (name, text) and an `init/` folder with
/// a file, next to a matrix with `matrix` as its body.
fn project(files: &[(&str, &str)], matrix: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("write");
    }
    std::fs::create_dir(dir.path().join("init")).expect("mkdir");
    std::fs::write(dir.path().join("init/hello.txt"), "hello from the folder\n").expect("write");
    let m = dir.path().join("m.toml");
    std::fs::write(&m, matrix).expect("write");
    (dir, m)
}

fn run_compose(
    m: &Path,
    env: &[(&str, &str)],
) -> (std::process::Output, tempfile::TempDir, serde_json::Value) {
    let out = tempfile::tempdir().expect("tempdir");
    let out_path = out.path().join("run");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_dockmatrix"))
        // Tests leave no engine cache behind on the shared host engine.
        .env("DOCKMATRIX_ENGINE_CACHE", "off")
        .args([
            "run",
            m.to_str().expect("utf-8"),
            "--out",
            out_path.to_str().expect("utf-8"),
        ])
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .output()
        .expect("runs");
    let json = run_json(&out_path);
    (o, out, json)
}

const ENGINE: &str =
    "[engines.\"28.5.2\"]\nkind = \"dind\"\nimage = \"dockmatrix/engine:28.5.2\"\n";

/// Every depends_on condition, a healthcheck timed by the engine, binds on dind (ro bind,
/// rw copy that leaves the folder alone, a single file), interpolation from the axis, the
/// environment and the env file, a second compose file merged over the first, and a
/// profile that is off — one cell on one dind engine. The one-shot job checks what it
/// sees and exits non-zero otherwise, so a wrong value fails the cell.
#[test]
fn run_compose_on_dind_follows_depends_on_binds_interpolation_and_merge() {
    let images = ["dockmatrix/engine:28.5.2", "dockmatrix/redis:7.0"];
    if !docker_available("compose_run_on_dind") || !images_available("compose_run_on_dind", &images)
    {
        return;
    }
    let base = r#"
x-redis: &redis
  image: dockmatrix/redis:${REDIS}
services:
  cache:
    <<: *redis
    healthcheck:
      test: [CMD-SHELL, "test -f /tmp/up && redis-cli ping"]
      interval: 500ms
      retries: 40
    x-dockmatrix: { ready: { timeout: 40s } }
    command: sh -c "sleep 2; touch /tmp/up; exec docker-entrypoint.sh"
  job:
    <<: *redis
    x-dockmatrix: { kind: generic, ready: { timeout: 40s } }
    environment:
      FROM_AXIS: ${REDIS}
      FROM_ENV: ${CALLER_VALUE:-unset}
      FROM_FILE: ${FILE_VALUE:-unset}
      MERGED: base
      ESCAPED: $$HOME
    volumes:
      - ./init:/ro:ro
      - ./init:/rw
      - ./init/hello.txt:/one/hello.txt
    command:
      - sh
      - -c
      - >-
        test "$$FROM_AXIS" = 7.0 && test "$$FROM_ENV" = from-env &&
        test "$$FROM_FILE" = from-file && test "$$MERGED" = override &&
        test "$$ESCAPED" = '$$HOME' &&
        grep -q hello /ro/hello.txt && grep -q hello /one/hello.txt &&
        echo scribbled > /rw/hello.txt && ! touch /ro/x &&
        redis-cli -h cache ping
    depends_on:
      cache: { condition: service_healthy }
  app:
    <<: *redis
    x-dockmatrix: { kind: redis }
    depends_on:
      job: { condition: service_completed_successfully }
      cache: { condition: service_started }
  debug:
    image: dockmatrix/no-such-image:1
    profiles: [debug]
"#;
    let over = "services:\n  job:\n    environment:\n      MERGED: override\n";
    let matrix = format!(
        "name = \"compose-dind\"\n[axes]\nengine = [\"28.5.2\"]\nredis = [\"7.0\"]\n{ENGINE}[compose]\nfiles = [\"compose.yaml\", \"compose.ci.yaml\"]\n"
    );
    let (dir, m) = project(
        &[
            ("compose.yaml", base),
            ("compose.ci.yaml", over),
            (".env", "FILE_VALUE=from-file\nCALLER_VALUE=from-file-too\n"),
        ],
        &matrix,
    );
    let (o, _out, run) = run_compose(&m, &[("CALLER_VALUE", "from-env")]);
    let c = &run["cells"][0];
    assert_eq!(o.status.code(), Some(0), "{}\n{c}", stderr(&o));
    assert_eq!(c["status"], "pass", "{c}");
    let names: Vec<&str> = c["services"]
        .as_array()
        .expect("services")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["cache", "job", "app"],
        "the profile-disabled service does not start"
    );
    // service_healthy waited for the engine's verdict: the healthcheck passes only after
    // the 2 s sleep.
    let cache_ready = c["services"][0]["ready_ms"].as_u64().expect("ready_ms");
    assert!(cache_ready >= 2000, "cache ready after {cache_ready} ms");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("init/hello.txt")).expect("read"),
        "hello from the folder\n",
        "a read-write bind writes into a copy, not the user's folder"
    );
    assert_eq!(c["compose"]["images"]["job"], "dockmatrix/redis:7.0");
    assert_eq!(c["compose"]["files"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        c["compose"]["files"][0]["sha256"].as_str().map(str::len),
        Some(64)
    );
    assert_eq!(
        labelled_objects(run["run_id"].as_str().expect("id")),
        Vec::<String>::new()
    );
}

/// The container options of compose services, read back from inside the running
/// containers on a dind engine: ulimits, a sysctl, cap_add/cap_drop, extra_hosts, init,
/// shm_size, a read-only single-file bind (writing to it fails), two networks with an
/// alias each (each alias resolves only on its own network, from a service on that
/// network); user, working_dir, hostname, domainname, entrypoint, a list environment,
/// tmpfs, read_only, mem_limit, cpus, a named volume two services share, labels; and
/// stop_signal with stop_grace_period (a host command stops the container through the
/// cell's engine: the trap of SIGUSR1 makes it exit 0 at once).
#[test]
fn run_compose_container_options_take_effect_inside_the_container() {
    let images = ["dockmatrix/engine:28.5.2", "dockmatrix/redis:7.0"];
    if !docker_available("compose_options") || !images_available("compose_options", &images) {
        return;
    }
    let compose = r#"
x-plain: &plain
  image: dockmatrix/redis:7.0
  x-dockmatrix: { kind: generic }
  command: ["sleep", "infinity"]
services:
  probe:
    <<: *plain
    command: ["sh", "-c", "trap 'echo got USR1; exit 0' USR1; while :; do sleep 0.2; done"]
    ulimits:
      nofile: { soft: 1234, hard: 2345 }
      nproc: 3210
    sysctls:
      net.core.somaxconn: 1111
    cap_add: [NET_ADMIN]
    cap_drop: [CHOWN]
    extra_hosts:
      - "db.example.test:10.1.2.3"
    init: true
    stop_signal: SIGUSR1
    stop_grace_period: 25s
    shm_size: 96m
    volumes:
      - ./init/hello.txt:/etc/hello.txt:ro
      - shared:/shared
    networks:
      front: { aliases: [probe-front] }
      back: { aliases: [probe-back] }
  shaped:
    <<: *plain
    entrypoint: ["sh", "-c"]
    command: ["echo started as $$(id -u) > /scratch/started; exec sleep infinity"]
    user: "1234:1234"
    working_dir: /srv
    hostname: shaped
    domainname: example.test
    labels: { com.example.team: qa }
    environment: ["LIST_FORM=yes"]
    mem_limit: 256m
    cpus: 0.5
    read_only: true
    tmpfs: [/scratch]
    volumes: ["shared:/shared"]
  backside:
    <<: *plain
    networks: [back]
  frontside:
    <<: *plain
    networks: [front]
networks:
  front: {}
  back: {}
volumes:
  shared: {}
"#;
    let names = "for n in probe probe-front probe-back; do if getent hosts $n >/dev/null; then echo $n=yes; else echo $n=no; fi; done";
    let scenario = format!(
        r#"kind = "regression"

[[check]]
name = "ulimits"
service = "probe"
exec = ["bash", "-c", "echo nofile=$(ulimit -Sn)/$(ulimit -Hn) nproc=$(ulimit -Su)/$(ulimit -Hu)"]
expect = {{ output = "nofile=1234/2345 nproc=3210/3210" }}

[[check]]
name = "sysctls"
service = "probe"
exec = ["cat", "/proc/sys/net/core/somaxconn"]
expect = {{ output = "^1111\\s*$" }}

[[check]]
name = "cap_add and cap_drop"
service = "probe"
exec = ["sh", "-c", "c=$(awk '/^CapEff/ {{print $2}}' /proc/1/status); echo net_admin=$(( (0x$c >> 12) & 1 )) chown=$(( 0x$c & 1 ))"]
expect = {{ output = "net_admin=1 chown=0" }}

[[check]]
name = "extra_hosts"
service = "probe"
exec = ["getent", "hosts", "db.example.test"]
expect = {{ output = "^10\\.1\\.2\\.3\\s+db\\.example\\.test" }}

[[check]]
name = "init"
service = "probe"
exec = ["cat", "/proc/1/comm"]
expect = {{ output = "^docker-init\\s*$" }}

[[check]]
name = "shm_size"
service = "probe"
exec = ["df", "-k", "--output=size", "/dev/shm"]
expect = {{ output = "\\b98304\\b" }}

[[check]]
name = "a read-only file bind cannot be written"
service = "probe"
exec = ["sh", "-c", "cat /etc/hello.txt; echo scribbled >> /etc/hello.txt"]
expect = {{ exit-code = 2, output = "(?s)hello from the folder.*Read-only file system" }}

[[check]]
name = "aliases from the back network"
service = "backside"
exec = ["sh", "-c", "{names}"]
expect = {{ output = "probe=yes\\s+probe-front=no\\s+probe-back=yes" }}

[[check]]
name = "aliases from the front network"
service = "frontside"
exec = ["sh", "-c", "{names}"]
expect = {{ output = "probe=yes\\s+probe-front=yes\\s+probe-back=no" }}

[[check]]
name = "user, working_dir, hostname and domainname"
service = "shaped"
exec = ["sh", "-c", "echo uid=$(id -u) gid=$(id -g) pwd=$(pwd) host=$(hostname) domain=$(cat /proc/sys/kernel/domainname)"]
expect = {{ output = "uid=1234 gid=1234 pwd=/srv host=shaped domain=example\\.test" }}

[[check]]
name = "entrypoint, environment as a list, tmpfs"
service = "shaped"
exec = ["sh", "-c", "cat /scratch/started; echo LIST_FORM=$LIST_FORM; grep ' /scratch ' /proc/mounts"]
expect = {{ output = "(?s)started as 1234\\s+LIST_FORM=yes\\s+tmpfs /scratch tmpfs" }}

[[check]]
name = "read_only"
service = "shaped"
exec = ["touch", "/tmp/x"]
expect = {{ exit-code = 1, output = "Read-only file system" }}

[[check]]
name = "mem_limit and cpus"
service = "shaped"
exec = ["sh", "-c", "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes; cat /sys/fs/cgroup/cpu.max 2>/dev/null || cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us"]
expect = {{ output = "(?s)^268435456\\s+50000\\b" }}

[[check]]
name = "a named volume: written by one service"
service = "probe"
exec = ["sh", "-c", "echo from the probe > /shared/note"]

[[check]]
name = "a named volume: read by another"
service = "shaped"
exec = ["cat", "/shared/note"]
expect = {{ output = "from the probe" }}

[[check]]
name = "labels"
command = ["sh", "-c", "docker ps --filter label=io.dockmatrix.cell=$DOCKMATRIX_CELL --filter label=com.example.team=qa --format '{{{{.Label \"io.dockmatrix.service\"}}}}'"]
expect = {{ output = "^shaped\\s*$" }}

# Last: it stops the probe.
[[check]]
name = "stop_signal and stop_grace_period"
command = ["sh", "-c", "id=$(docker ps -q --filter label=io.dockmatrix.cell=$DOCKMATRIX_CELL --filter label=io.dockmatrix.service=probe); docker inspect -f 'signal={{{{.Config.StopSignal}}}} grace={{{{.Config.StopTimeout}}}}' $id; start=$(date +%s); docker stop $id >/dev/null; echo took=$(( $(date +%s) - start ))s; docker inspect -f 'exit={{{{.State.ExitCode}}}}' $id; docker logs $id"]
timeout = "60s"
expect = {{ exit-code = 0, output = "(?s)signal=SIGUSR1 grace=25\\s+took=[0-5]s\\s+exit=0\\s+got USR1" }}
"#
    );
    let matrix = format!(
        "name = \"compose-options\"\nscenarios = [\"checks.toml\"]\n[axes]\nengine = [\"28.5.2\"]\n{ENGINE}[run]\nretries = 0\n[compose]\nfiles = [\"compose.yaml\"]\n"
    );
    let (_dir, m) = project(
        &[("compose.yaml", compose), ("checks.toml", &scenario)],
        &matrix,
    );
    let (o, _out, run) = run_compose(&m, &[]);
    let c = &run["cells"][0];
    let checks: Vec<String> = c["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|k| format!("{} {}: {}", k["status"], k["name"], k["message"]))
        .collect();
    assert_eq!(o.status.code(), Some(0), "{}\n{checks:#?}", stderr(&o));
    assert_eq!(c["status"], "pass", "{checks:#?}");
    assert_eq!(checks.len(), 17, "{checks:#?}");
    assert!(
        checks.iter().all(|k| k.starts_with("\"pass\"")),
        "{checks:#?}"
    );
    assert_eq!(
        labelled_objects(run["run_id"].as_str().expect("id")),
        Vec::<String>::new()
    );
}

/// A one-shot job that fails in one cell fails that cell at step `services` (its exit
/// code and log tail named) and does not take the other cell down; a profile that is on
/// starts its service.
#[test]
fn run_compose_failing_one_shot_job_fails_only_its_cell() {
    let images = ["dockmatrix/engine:28.5.2", "dockmatrix/redis:7.0"];
    if !docker_available("compose_failing_job") || !images_available("compose_failing_job", &images)
    {
        return;
    }
    let compose = r#"
services:
  migrate:
    image: dockmatrix/redis:7.0
    command: sh -c "echo migrating step ${CODE}; exit ${CODE}"
  extra:
    image: dockmatrix/redis:7.0
    profiles: [debug]
    depends_on:
      migrate: { condition: service_completed_successfully }
"#;
    let matrix = format!(
        "name = \"compose-job\"\n[axes]\nengine = [\"28.5.2\"]\ncode = [\"0\", \"3\"]\n{ENGINE}[run]\nretries = 0\n[compose]\nfiles = [\"compose.yaml\"]\nprofiles = [\"debug\"]\n"
    );
    let (_dir, m) = project(&[("compose.yaml", compose)], &matrix);
    let (o, _out, run) = run_compose(&m, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let ok = cell(&run, &[("code", "0")]);
    let bad = cell(&run, &[("code", "3")]);
    assert_eq!(ok["status"], "pass", "{ok}");
    assert_eq!(
        ok["services"].as_array().map(Vec::len),
        Some(2),
        "the debug profile is on: {ok}"
    );
    assert_eq!(bad["status"], "fail", "{bad}");
    assert_eq!(bad["failed_step"], "services");
    let reason = bad["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("one-shot service `migrate` exited with code 3"),
        "{reason}"
    );
    assert!(reason.contains("migrating step 3"), "{reason}");
    assert_eq!(
        labelled_objects(run["run_id"].as_str().expect("id")),
        Vec::<String>::new()
    );
}

/// `matrices/compose-demo` (the demo stack as a compose file) and `matrices/demo.toml`
/// give the same status and check counts on a representative cell; the full matrices on
/// demand with `DOCKMATRIX_COMPOSE_DEMO_FILTER=` (empty: every cell).
#[test]
fn run_compose_demo_matches_demo_toml_cell_by_cell() {
    let images = [
        "dockmatrix/engine:28.5.2",
        "dockmatrix/postgres:17",
        "dockmatrix/mariadb:11.8",
        "dockmatrix/redis:8.0",
        "dockmatrix/demo-app:1",
    ];
    if !docker_available("compose_demo_matches")
        || !images_available("compose_demo_matches", &images)
    {
        return;
    }
    let filter = std::env::var("DOCKMATRIX_COMPOSE_DEMO_FILTER")
        .unwrap_or_else(|_| "engine=28.5.2,storage-driver=overlay2,postgres=17".into());
    let summary = |matrix: &str| -> Vec<(String, String, usize, usize)> {
        let out = tempfile::tempdir().expect("tempdir");
        let path = out.path().join("run");
        let mut args = vec!["run", matrix, "--out", path.to_str().expect("utf-8")];
        if !filter.is_empty() {
            args.extend(["--filter", filter.as_str()]);
        }
        let o = dockmatrix(&args);
        assert!(
            matches!(o.status.code(), Some(0 | 1)),
            "{matrix}: {}",
            stderr(&o)
        );
        let run = run_json(&path);
        let mut cells: Vec<(String, String, usize, usize)> = run["cells"]
            .as_array()
            .expect("cells")
            .iter()
            .map(|c| {
                let checks = c["checks"].as_array().cloned().unwrap_or_default();
                let passed = checks.iter().filter(|k| k["status"] == "pass").count();
                (
                    c["values"].to_string(),
                    c["status"].as_str().unwrap_or_default().to_string(),
                    passed,
                    checks.len(),
                )
            })
            .collect();
        cells.sort();
        cells
    };
    let toml = summary("matrices/demo.toml");
    let compose = summary("matrices/compose-demo/demo.toml");
    assert!(!toml.is_empty());
    assert!(toml.iter().all(|c| c.3 > 0), "checks ran: {toml:?}");
    assert_eq!(compose, toml);
}
