//! Docker's connection conventions for the host engine, against the real host engine: it
//! is reached through a TCP listener on loopback that forwards to its socket (counting
//! connections, so a test knows the tool went through it and did not fall back to the
//! socket), through a docker context in a temporary config folder, and through a
//! rootless-style `$XDG_RUNTIME_DIR/docker.sock`, and over `ssh://` through an sshd of
//! the test's own on loopback. A dead `DOCKER_HOST` is exit 3 naming
//! it; a malformed one, an unknown context or unreadable certificates are exit 2 naming
//! the variable.

use std::io::Write;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use sha2::{Digest, Sha256};

use crate::common::*;

const HOST_SOCKET: &str = "/var/run/docker.sock";
const REDIS_IMAGE: &str = "dockmatrix/redis:7.0";

/// A loopback TCP listener forwarding every connection to the host engine's socket.
struct Proxy {
    port: u16,
    connections: Arc<AtomicUsize>,
}

impl Proxy {
    fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
        let port = listener.local_addr().expect("address").port();
        let connections = Arc::new(AtomicUsize::new(0));
        let count = connections.clone();
        std::thread::spawn(move || {
            for tcp in listener.incoming() {
                let Ok(tcp) = tcp else { continue };
                let Ok(unix) = UnixStream::connect(HOST_SOCKET) else {
                    continue;
                };
                count.fetch_add(1, Ordering::SeqCst);
                let (Ok(tcp2), Ok(unix2)) = (tcp.try_clone(), unix.try_clone()) else {
                    continue;
                };
                std::thread::spawn(move || pipe_tcp_to_unix(tcp, unix2));
                std::thread::spawn(move || pipe_unix_to_tcp(unix, tcp2));
            }
        });
        Proxy { port, connections }
    }

    fn url(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }

    fn used(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

fn pipe_tcp_to_unix(mut from: TcpStream, mut to: UnixStream) {
    let _ = std::io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Write);
}

fn pipe_unix_to_tcp(mut from: UnixStream, mut to: TcpStream) {
    let _ = std::io::copy(&mut from, &mut to);
    let _ = to.flush();
    let _ = to.shutdown(Shutdown::Write);
}

/// A matrix of the host engine alone, with one Redis service.
fn host_matrix() -> (tempfile::TempDir, std::path::PathBuf) {
    matrix_file(&format!(
        r#"
name = "host-conventions"
[axes]
redis = ["7.0"]

[services.redis]
kind = "redis"
image = "{}"
ports = [6379]
"#,
        REDIS_IMAGE.replace("7.0", "{version}")
    ))
}

/// Writes a docker context named `name` whose endpoint is `host` into `config`.
fn write_context(config: &Path, name: &str, host: &str) {
    let id = hex::encode(Sha256::digest(name.as_bytes()));
    let dir = config.join("contexts").join("meta").join(id);
    std::fs::create_dir_all(&dir).expect("context dir");
    let meta = serde_json::json!({
        "Name": name,
        "Metadata": {"Description": "dockmatrix test"},
        "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": false}},
    });
    std::fs::write(dir.join("meta.json"), meta.to_string()).expect("meta.json");
}

fn both(o: &std::process::Output) -> String {
    format!("{}\n{}", stdout(o), stderr(o))
}

/// A loopback port nobody listens on.
fn dead_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("listener");
    l.local_addr().expect("address").port()
}

#[test]
fn host_engine_through_docker_host_tcp_and_a_run_on_it() {
    if !docker_available("host_engine_docker_host_tcp")
        || !images_available("host_engine_docker_host_tcp", &[REDIS_IMAGE])
    {
        return;
    }
    let home = tempfile::tempdir().expect("home");
    let home = home.path().to_str().expect("utf-8");
    let proxy = Proxy::start();
    let url = proxy.url();
    let (_d, matrix) = host_matrix();
    let matrix = matrix.to_str().expect("utf-8");

    let o = dockmatrix_env(
        &["engines", matrix],
        &[("HOME", home), ("DOCKER_HOST", &url)],
    );
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    let out = stdout(&o);
    assert!(
        out.contains(&format!("host engine: DOCKER_HOST={url}")),
        "{out}"
    );
    assert!(out.contains("✅ up"), "{out}");
    let after_engines = proxy.used();
    assert!(after_engines > 0, "nothing went through {url}");

    // A one-cell run: the service's published port is reached where the resolved host
    // says (loopback), and every API call goes through the listener.
    let out_dir = tempfile::tempdir().expect("out");
    let run_dir = out_dir.path().join("run");
    let o = dockmatrix_env(
        &["run", matrix, "--out", run_dir.to_str().expect("utf-8")],
        &[("HOME", home), ("DOCKER_HOST", &url)],
    );
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    let run = run_json(&run_dir);
    assert_eq!(run["cells"][0]["status"], "pass", "{run}");
    assert!(proxy.used() > after_engines, "the run did not use {url}");
    let run_id = run["run_id"].as_str().expect("run id");
    assert!(labelled_objects(run_id).is_empty(), "left behind");
}

#[test]
fn host_engine_from_a_docker_context() {
    if !docker_available("host_engine_context")
        || !images_available("host_engine_context", &[REDIS_IMAGE])
    {
        return;
    }
    let proxy = Proxy::start();
    let (_d, matrix) = host_matrix();
    let matrix = matrix.to_str().expect("utf-8");

    // ~/.docker/config.json's current context, with HOME pointing at a temporary folder.
    let home = tempfile::tempdir().expect("home");
    let docker_dir = home.path().join(".docker");
    write_context(&docker_dir, "via-proxy", &proxy.url());
    std::fs::write(
        docker_dir.join("config.json"),
        r#"{"auths": {}, "currentContext": "via-proxy"}"#,
    )
    .expect("config.json");
    let home_s = home.path().to_str().expect("utf-8");
    let o = dockmatrix_env(&["engines", matrix], &[("HOME", home_s)]);
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    let out = stdout(&o);
    assert!(
        out.contains(&format!(
            "host engine: {} (context via-proxy, the current context of {}",
            proxy.url(),
            docker_dir.join("config.json").display()
        )),
        "{out}"
    );
    let used = proxy.used();
    assert!(used > 0, "the context's endpoint was not used");

    // DOCKER_CONFIG elsewhere and DOCKER_CONTEXT naming the context.
    let config = tempfile::tempdir().expect("config");
    write_context(config.path(), "ci", &proxy.url());
    let config_s = config.path().to_str().expect("utf-8");
    let o = dockmatrix_env(
        &["engines", matrix],
        &[
            ("HOME", home_s),
            ("DOCKER_CONFIG", config_s),
            ("DOCKER_CONTEXT", "ci"),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    assert!(
        stdout(&o).contains("(context ci, DOCKER_CONTEXT)"),
        "{}",
        stdout(&o)
    );
    assert!(proxy.used() > used);

    // An unknown context is bad input naming the variable; one that does not answer is
    // exit 3 naming the context, never the default socket instead.
    let o = dockmatrix_env(
        &["engines", matrix],
        &[("HOME", home_s), ("DOCKER_CONTEXT", "nosuch")],
    );
    assert_eq!(o.status.code(), Some(2), "{}", both(&o));
    assert!(
        stderr(&o).contains("DOCKER_CONTEXT: no docker context `nosuch`"),
        "{}",
        stderr(&o)
    );
    write_context(
        config.path(),
        "dead",
        &format!("tcp://127.0.0.1:{}", dead_port()),
    );
    let o = dockmatrix_env(
        &["engines", matrix],
        &[
            ("HOME", home_s),
            ("DOCKER_CONFIG", config_s),
            ("DOCKER_CONTEXT", "dead"),
        ],
    );
    assert_eq!(o.status.code(), Some(3), "{}", both(&o));
    assert!(
        stderr(&o).contains("(context dead, DOCKER_CONTEXT)"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn host_engine_dead_or_malformed_docker_host_is_named() {
    let home = tempfile::tempdir().expect("home");
    let home = home.path().to_str().expect("utf-8");
    let (_d, matrix) = host_matrix();
    let matrix = matrix.to_str().expect("utf-8");

    // Nobody listens: exit 3, naming it, for `run` and `engines` alike.
    let dead = format!("tcp://127.0.0.1:{}", dead_port());
    for cmd in ["run", "engines"] {
        let o = dockmatrix_env(&[cmd, matrix], &[("HOME", home), ("DOCKER_HOST", &dead)]);
        assert_eq!(o.status.code(), Some(3), "{cmd}: {}", both(&o));
        assert!(
            stderr(&o).contains(&format!("no Docker engine answers: DOCKER_HOST={dead}")),
            "{cmd}: {}",
            stderr(&o)
        );
    }
    let o = dockmatrix_env(
        &["engines", matrix],
        &[
            ("HOME", home),
            ("DOCKER_HOST", "unix:///nonexistent/docker.sock"),
        ],
    );
    assert_eq!(o.status.code(), Some(3), "{}", both(&o));

    // Malformed: exit 2, naming the variable and what is wrong.
    for (value, why) in [
        ("localhost:2375", "expected unix:///PATH"),
        ("tcp://", "needs a host"),
        ("tcp://127.0.0.1:notaport", "no port number"),
        ("http://127.0.0.1:2375", "unknown scheme `http://`"),
    ] {
        let o = dockmatrix_env(
            &["engines", matrix],
            &[("HOME", home), ("DOCKER_HOST", value)],
        );
        assert_eq!(o.status.code(), Some(2), "{value}: {}", both(&o));
        let err = stderr(&o);
        assert!(
            err.contains(&format!("DOCKER_HOST=`{value}`")) && err.contains(why),
            "{value}: {err}"
        );
    }

    // TLS asked for, certificates unreadable: exit 2 naming DOCKER_CERT_PATH.
    let o = dockmatrix_env(
        &["engines", matrix],
        &[
            ("HOME", home),
            ("DOCKER_HOST", "tcp://127.0.0.1:2376"),
            ("DOCKER_TLS_VERIFY", "1"),
            ("DOCKER_CERT_PATH", "/nonexistent/certs"),
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", both(&o));
    assert!(
        stderr(&o)
            .contains("DOCKER_CERT_PATH: cannot read the TLS file `/nonexistent/certs/ca.pem`"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn host_engine_rootless_socket_under_xdg_runtime_dir() {
    if !docker_available("host_engine_rootless")
        || !images_available("host_engine_rootless", &[REDIS_IMAGE])
    {
        return;
    }
    let home = tempfile::tempdir().expect("home");
    let run = tempfile::tempdir().expect("runtime dir");
    // The host engine's socket, seen where a rootless engine's would be.
    std::os::unix::fs::symlink(HOST_SOCKET, run.path().join("docker.sock")).expect("symlink");
    let (_d, matrix) = host_matrix();
    let o = dockmatrix_env(
        &["engines", matrix.to_str().expect("utf-8")],
        &[
            ("HOME", home.path().to_str().expect("utf-8")),
            ("XDG_RUNTIME_DIR", run.path().to_str().expect("utf-8")),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    let out = stdout(&o);
    assert!(
        out.contains(&format!(
            "host engine: unix://{}/docker.sock (rootless socket $XDG_RUNTIME_DIR/docker.sock)",
            run.path().display()
        )),
        "{out}"
    );

    // Without it: the default socket, and `engines` says so.
    let o = dockmatrix_env(
        &["engines", matrix.to_str().expect("utf-8")],
        &[("HOME", home.path().to_str().expect("utf-8"))],
    );
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    assert!(
        stdout(&o).contains("host engine: unix:///var/run/docker.sock (default socket)"),
        "{}",
        stdout(&o)
    );
}

/// Whether `/usr/sbin/sshd` is here (scripts/test.sh installs openssh-server); like
/// [`docker_available`], a skip with a message outside CI and a failure under
/// DOCKMATRIX_REQUIRE_DOCKER=1.
fn sshd_available(test: &str) -> bool {
    if Path::new(SSHD).exists() {
        return true;
    }
    if std::env::var("DOCKMATRIX_REQUIRE_DOCKER").as_deref() == Ok("1") {
        panic!("{test}: {SSHD} is missing (scripts/test.sh installs openssh-server)");
    }
    eprintln!("SKIPPED {test}: {SSHD} is missing (scripts/test.sh installs openssh-server)");
    false
}

const SSHD: &str = "/usr/sbin/sshd";

/// An sshd of the test's own on a free loopback port: its own host key, config, pid file
/// and authorized key; the client's side is an `ssh` on PATH that reads the test's client
/// config (ssh takes `~` from the password database, not from HOME, so a HOME of our own
/// would not do). Killed on drop.
struct Sshd {
    dir: tempfile::TempDir,
    port: u16,
    child: std::process::Child,
}

impl Sshd {
    fn start() -> Sshd {
        let dir = tempfile::tempdir().expect("sshd dir");
        let d = dir.path();
        let keygen = |file: &str| {
            let o = std::process::Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(d.join(file))
                .output()
                .expect("ssh-keygen runs");
            assert!(o.status.success(), "ssh-keygen: {}", stderr(&o));
        };
        keygen("host_key");
        keygen("client_key");
        std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys")).expect("keys");
        let port = dead_port();
        let p = |f: &str| d.join(f).display().to_string();
        std::fs::write(
            d.join("sshd_config"),
            format!(
                "ListenAddress 127.0.0.1\nPort {port}\nHostKey {}\nPidFile {}\n\
                 AuthorizedKeysFile {}\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n\
                 UsePAM no\nStrictModes no\nLogLevel INFO\n",
                p("host_key"),
                p("sshd.pid"),
                p("authorized_keys"),
            ),
        )
        .expect("sshd_config");
        std::fs::write(
            d.join("ssh_config"),
            format!(
                "Host *\n  IdentityFile {}\n  IdentitiesOnly yes\n  StrictHostKeyChecking no\n  \
                 UserKnownHostsFile /dev/null\n  LogLevel ERROR\n",
                p("client_key")
            ),
        )
        .expect("ssh_config");
        // The client `dockmatrix` runs: the real ssh, with the test's config.
        let real_ssh = which("ssh");
        std::fs::create_dir(d.join("bin")).expect("bin");
        let wrapper = d.join("bin").join("ssh");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nexec {} -F {} \"$@\"\n",
                real_ssh.display(),
                p("ssh_config")
            ),
        )
        .expect("ssh wrapper");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        // sshd's privilege separation directory (a tmpfs in /run may have lost it).
        std::fs::create_dir_all("/run/sshd").expect("/run/sshd");
        let child = std::process::Command::new(SSHD)
            .arg("-D")
            .arg("-f")
            .arg(d.join("sshd_config"))
            .arg("-E")
            .arg(d.join("sshd.log"))
            .spawn()
            .expect("sshd starts");
        let sshd = Sshd { dir, port, child };
        // Ready when it accepts connections.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "sshd did not listen on {port}: {}",
                sshd.log()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        sshd
    }

    /// PATH with the test's `ssh` first.
    fn path(&self) -> String {
        format!(
            "{}:{}",
            self.dir.path().join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// Sessions sshd accepted with the test's key.
    fn logins(&self) -> usize {
        self.log().matches("Accepted publickey").count()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The full path of `bin` on PATH.
fn which(bin: &str) -> std::path::PathBuf {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|d| Path::new(d).join(bin))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("no `{bin}` on PATH"))
}

fn user_name() -> String {
    let o = std::process::Command::new("id")
        .arg("-un")
        .output()
        .expect("id runs");
    stdout(&o).trim().to_string()
}

#[test]
fn host_engine_through_docker_host_ssh_and_a_run_on_it() {
    let test = "host_engine_docker_host_ssh";
    if !sshd_available(test) || !docker_available(test) || !images_available(test, &[REDIS_IMAGE]) {
        return;
    }
    let sshd = Sshd::start();
    let path = sshd.path();
    let home = tempfile::tempdir().expect("home");
    let home = home.path().to_str().expect("utf-8");
    let url = format!("ssh://{}@127.0.0.1:{}", user_name(), sshd.port);
    let (_d, matrix) = host_matrix();
    let matrix = matrix.to_str().expect("utf-8");
    let env = [
        ("HOME", home),
        ("PATH", path.as_str()),
        ("DOCKER_HOST", url.as_str()),
        ("DOCKMATRIX_ENGINE_CACHE", "off"),
    ];

    // The port goes to ssh as a port (it once became part of the host name).
    let o = dockmatrix_env(&["engines", matrix], &env);
    assert_eq!(o.status.code(), Some(0), "{}\n{}", both(&o), sshd.log());
    let out = stdout(&o);
    assert!(out.contains("host engine: DOCKER_HOST=ssh://"), "{out}");
    assert!(out.contains(&format!("@127.0.0.1:{}", sshd.port)), "{out}");
    assert!(out.contains("✅ up"), "{out}");
    let after_engines = sshd.logins();
    assert!(after_engines > 0, "no ssh login: {}", sshd.log());

    // A one-cell run over ssh: its published port is reached at the ssh host (loopback).
    let out_dir = tempfile::tempdir().expect("out");
    let run_dir = out_dir.path().join("run");
    let o = dockmatrix_env(
        &["run", matrix, "--out", run_dir.to_str().expect("utf-8")],
        &env,
    );
    assert_eq!(o.status.code(), Some(0), "{}\n{}", both(&o), sshd.log());
    let run = run_json(&run_dir);
    assert_eq!(run["cells"][0]["status"], "pass", "{run}");
    assert!(sshd.logins() > after_engines, "the run did not use {url}");
    let run_id = run["run_id"].as_str().expect("run id");
    assert!(labelled_objects(run_id).is_empty(), "left behind");

    // An ssh:// host that does not answer: exit 3 naming it and what ssh said, never a
    // fall-back to the socket.
    let dead = dead_port();
    let dead_url = format!("ssh://{}@127.0.0.1:{dead}", user_name());
    let o = dockmatrix_env(
        &["engines", matrix],
        &[
            ("HOME", home),
            ("PATH", path.as_str()),
            ("DOCKER_HOST", dead_url.as_str()),
        ],
    );
    assert_eq!(o.status.code(), Some(3), "{}", both(&o));
    let err = stderr(&o);
    assert!(
        err.contains("no Docker engine answers: DOCKER_HOST=ssh://")
            && err.contains(&format!("@127.0.0.1:{dead}"))
            && err.contains("Connection refused"),
        "{err}"
    );
    assert!(!stdout(&o).contains("✅ up"), "{}", stdout(&o));
}
