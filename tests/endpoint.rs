//! `kind = "endpoint"` engines: a real 28.5.2 engine started on the host engine as a dind
//! container listening only on `tcp://IP:2376` with `--tlsverify`, with a CA, server and
//! client certificates made here, or only on a unix socket in a folder of this machine.
//! `dockmatrix engines` and one-cell `dockmatrix run`s go through them; a client
//! certificate the daemon does not trust and a file that is no certificate are clear
//! errors; compose binds are copied into the endpoint (read-only ones stay read-only); a
//! command check gets DOCKER_HOST and, over TLS, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH;
//! a service's mounted socket is the unix endpoint's own.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

use crate::common::*;

const ENGINE_IMAGE: &str = "dockmatrix/engine:28.5.2";
const REDIS_IMAGE: &str = "dockmatrix/redis:7.0";

/// A certificate authority of the test.
fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("ca key")).expect("ca cert")
}

/// A leaf certificate signed by `issuer`: (certificate PEM, key PEM).
fn leaf(
    issuer: &CertifiedIssuer<'static, KeyPair>,
    name: &str,
    sans: Vec<String>,
    usage: ExtendedKeyUsagePurpose,
) -> (String, String) {
    let mut params = CertificateParams::new(sans).expect("leaf params");
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate().expect("leaf key");
    let cert = params.signed_by(&key, issuer).expect("leaf cert");
    (cert.pem(), key.serialize_pem())
}

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("the docker CLI runs")
}

fn docker_ok(args: &[&str]) -> String {
    let o = docker(args);
    assert!(
        o.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// An engine container on the host engine (TLS-only, or unix-socket-only), labelled with
/// the test's own run id; removed with its volume on drop, whatever the test's outcome.
struct TlsEngine {
    name: String,
    volume: String,
    run_id: String,
    ip: String,
}

impl Drop for TlsEngine {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", "-v", &self.name]);
        let _ = docker(&["volume", "rm", "-f", &self.volume]);
    }
}

impl TlsEngine {
    /// Starts the engine container; dockerd waits for its certificates (the server's must
    /// name the container's address, known only once it runs).
    fn start(run_id: &str) -> TlsEngine {
        // The image's entrypoint prepares cgroups, then runs this: no plain-TCP or unix
        // listener, only TLS with client verification.
        TlsEngine::start_with(
            run_id,
            "tls-engine",
            &[],
            "mkdir -p /certs; while [ ! -e /certs/ready ]; do sleep 0.1; done; \
             exec dockerd --host=tcp://0.0.0.0:2376 --tlsverify \
             --tlscacert=/certs/ca.pem --tlscert=/certs/server-cert.pem --tlskey=/certs/server-key.pem",
        )
    }

    /// Starts an engine container that listens only on `DIR/docker.sock`, `DIR` a folder
    /// of this machine mounted at the same path: the socket is where a local daemon's
    /// would be, and the engine resolves binds of it in its own filesystem as we name it.
    fn start_unix(run_id: &str, dir: &Path) -> TlsEngine {
        let bind = format!("{0}:{0}", dir.display());
        TlsEngine::start_with(
            run_id,
            "unix-engine",
            &["-v", &bind],
            &format!("exec dockerd --host=unix://{}/docker.sock", dir.display()),
        )
    }

    fn start_with(run_id: &str, role: &str, extra: &[&str], script: &str) -> TlsEngine {
        let name = format!("dm-{run_id}-{role}");
        let volume = format!("{name}-data");
        let owner = format!("io.dockmatrix.owner={}:{}", hostname(), std::process::id());
        let run = format!("io.dockmatrix.run={run_id}");
        docker_ok(&[
            "volume", "create", "--label", &run, "--label", &owner, &volume,
        ]);
        let mut engine = TlsEngine {
            name: name.clone(),
            volume: volume.clone(),
            run_id: run_id.to_string(),
            ip: String::new(),
        };
        let data = format!("{volume}:/var/lib/docker");
        // The capability set of src/engine/dind.rs (`--privileged` fails on these hosts).
        let mut args = vec![
            "run",
            "-d",
            "--name",
            &name,
            "--label",
            &run,
            "--label",
            &owner,
            "--cap-add",
            "ALL",
            "--cap-drop",
            "SYS_RESOURCE",
            "--security-opt",
            "seccomp=unconfined",
            "--security-opt",
            "apparmor=unconfined",
            "--security-opt",
            "systempaths=unconfined",
            "-v",
            &data,
        ];
        args.extend(extra);
        if Path::new("/dev/fuse").exists() {
            args.extend(["--device", "/dev/fuse"]);
        }
        args.extend([ENGINE_IMAGE, "sh", "-c", script]);
        docker_ok(&args);
        let ip = docker_ok(&[
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            &name,
        ]);
        assert!(!ip.is_empty(), "the engine container has an address");
        engine.ip = ip;
        engine
    }

    fn url(&self) -> String {
        format!("tcp://{}:2376", self.ip)
    }

    /// Copies the server's files in and lets dockerd start.
    fn give_certificates(&self, dir: &Path) {
        let target = format!("{}:/certs/", self.name);
        docker_ok(&["cp", &format!("{}/.", dir.display()), &target]);
        docker_ok(&["exec", &self.name, "touch", "/certs/ready"]);
    }

    /// The docker CLI's arguments that reach this engine over TLS with `client`'s files.
    fn tls_args(&self, client: &Path) -> Vec<String> {
        let file = |f: &str| client.join(f).display().to_string();
        vec![
            "--host".into(),
            self.url(),
            "--tlsverify".into(),
            "--tlscacert".into(),
            file("ca.pem"),
            "--tlscert".into(),
            file("cert.pem"),
            "--tlskey".into(),
            file("key.pem"),
        ]
    }

    /// Polls the engine with the docker CLI over TLS until it answers.
    fn wait_ready(&self, client: &Path) {
        self.wait_answering(&self.tls_args(client));
    }

    /// Polls the engine with the docker CLI (`conn`: how to reach it) until it answers.
    fn wait_answering(&self, conn: &[String]) {
        let t = Instant::now();
        let mut delay = Duration::from_millis(100);
        loop {
            let mut args: Vec<&str> = conn.iter().map(String::as_str).collect();
            args.extend(["version", "--format", "{{.Server.Version}}"]);
            let o = docker(&args);
            if o.status.success() {
                return;
            }
            let log = docker(&["logs", "--tail", "20", &self.name]);
            assert!(
                t.elapsed() < Duration::from_secs(90),
                "the engine did not answer: {}\n{}",
                String::from_utf8_lossy(&o.stderr),
                String::from_utf8_lossy(&log.stderr)
            );
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_secs(1));
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// The files of a test PKI: the server's in `server/`, the client's in `client/` (with a
/// client certificate from another CA beside the good one).
struct Pki {
    _dir: tempfile::TempDir,
    server: PathBuf,
    client: PathBuf,
}

fn pki(server_ip: &str) -> Pki {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = dir.path().join("server");
    let client = dir.path().join("client");
    std::fs::create_dir_all(&server).expect("server dir");
    std::fs::create_dir_all(&client).expect("client dir");
    let authority = ca("dockmatrix test CA");
    let (server_cert, server_key) = leaf(
        &authority,
        "tls engine",
        vec![server_ip.to_string()],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (client_cert, client_key) = leaf(
        &authority,
        "dockmatrix",
        Vec::new(),
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let rogue = ca("someone else's CA");
    let (rogue_cert, rogue_key) = leaf(
        &rogue,
        "intruder",
        Vec::new(),
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let write = |dir: &Path, name: &str, text: &str| {
        std::fs::write(dir.join(name), text).expect("certificate file written");
    };
    write(&server, "ca.pem", &authority.pem());
    write(&server, "server-cert.pem", &server_cert);
    write(&server, "server-key.pem", &server_key);
    write(&client, "ca.pem", &authority.pem());
    write(&client, "cert.pem", &client_cert);
    write(&client, "key.pem", &client_key);
    write(&client, "rogue-cert.pem", &rogue_cert);
    write(&client, "rogue-key.pem", &rogue_key);
    write(&client, "not-a-key.pem", "this file holds no key\n");
    Pki {
        _dir: dir,
        server,
        client,
    }
}

/// A matrix in `dir` whose one engine is the TLS endpoint, with the given client files.
fn write_matrix(dir: &Path, file: &str, url: &str, cert: &str, key: &str) -> PathBuf {
    let text = format!(
        r#"
name = "tls-endpoint"
[axes]
engine = ["tls"]
redis = ["7.0"]

[engines.tls]
kind = "endpoint"
url = "{url}"
tls-ca = "ca.pem"
tls-cert = "{cert}"
tls-key = "{key}"

[services.redis]
kind = "redis"
image = "dockmatrix/redis:{{version}}"
ports = [6379]
"#
    );
    let path = dir.join(file);
    std::fs::write(&path, text).expect("matrix written");
    path
}

fn all_output(o: &std::process::Output) -> String {
    format!("{}\n{}", stdout(o), stderr(o))
}

#[test]
fn engine_tls_endpoint_measures_runs_and_refuses_a_wrong_certificate() {
    if !docker_available("engine_tls_endpoint")
        || !images_available("engine_tls_endpoint", &[ENGINE_IMAGE, REDIS_IMAGE])
    {
        return;
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let run_id = format!("test-endpoint-{}-{nanos:08x}", std::process::id());
    let t = Instant::now();
    let engine = TlsEngine::start(&run_id);
    let pki = pki(&engine.ip);
    engine.give_certificates(&pki.server);
    engine.wait_ready(&pki.client);
    eprintln!("TLS engine up in {:?}", t.elapsed());
    let url = engine.url();

    // `engines` measures the daemon through TLS: the version the image packaged.
    let good = write_matrix(&pki.client, "good.toml", &url, "cert.pem", "key.pem");
    let t = Instant::now();
    let o = dockmatrix(&["engines", good.to_str().expect("utf-8")]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{}", all_output(&o));
    assert!(out.contains("✅ up"), "{out}");
    assert!(out.contains("28.5.2"), "measured server version in:\n{out}");
    eprintln!("engines over TLS in {:?}", t.elapsed());

    // The same daemon as *the host engine*, named by Docker's own variables: DOCKER_HOST,
    // DOCKER_TLS_VERIFY and DOCKER_CERT_PATH (the client folder holds ca.pem, cert.pem and
    // key.pem, as `docker --tlsverify` wants them). The host engine here is 20.10.24: the
    // 28.5.2 measured proves the tool went to the TLS daemon.
    let host_only = pki.client.join("host-only.toml");
    std::fs::write(
        &host_only,
        "name = \"host-tls\"\n[axes]\nredis = [\"7.0\"]\n[services.redis]\nkind = \"redis\"\nimage = \"dockmatrix/redis:{version}\"\n",
    )
    .expect("matrix written");
    let home = tempfile::tempdir().expect("home");
    let o = dockmatrix_env(
        &["engines", host_only.to_str().expect("utf-8")],
        &[
            ("HOME", home.path().to_str().expect("utf-8")),
            ("DOCKER_HOST", &url),
            ("DOCKER_TLS_VERIFY", "1"),
            ("DOCKER_CERT_PATH", pki.client.to_str().expect("utf-8")),
        ],
    );
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{}", all_output(&o));
    assert!(
        out.contains(&format!("host engine: DOCKER_HOST={url} over TLS")),
        "{out}"
    );
    assert!(
        out.contains("28.5.2"),
        "the TLS daemon's version in:\n{out}"
    );
    // Without DOCKER_TLS_VERIFY the daemon (TLS only) does not answer: exit 3, naming it.
    let o = dockmatrix_env(
        &["engines", host_only.to_str().expect("utf-8")],
        &[
            ("HOME", home.path().to_str().expect("utf-8")),
            ("DOCKER_HOST", &url),
        ],
    );
    assert_eq!(o.status.code(), Some(3), "{}", all_output(&o));
    assert!(
        stderr(&o).contains(&format!("DOCKER_HOST={url}")),
        "{}",
        stderr(&o)
    );

    // A one-cell run: the Redis image is loaded into the endpoint from the host engine
    // (it is not there, and `pull` defaults to never), its service becomes ready on the
    // engine's address, and the facts are the engine's own.
    let out_dir = tempfile::tempdir().expect("tempdir");
    let run_dir = out_dir.path().join("run");
    let t = Instant::now();
    let o = dockmatrix(&[
        "run",
        good.to_str().expect("utf-8"),
        "--out",
        run_dir.to_str().expect("utf-8"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", all_output(&o));
    eprintln!("one-cell run over TLS in {:?}", t.elapsed());
    let run = run_json(&run_dir);
    let cell = &run["cells"][0];
    assert_eq!(cell["status"], "pass", "{cell}");
    assert_eq!(cell["engine"]["kind"], "endpoint", "{cell}");
    // Debian's dockerd reports its package version, e.g. `28.5.2+dfsg4`.
    assert!(
        cell["engine"]["server_version"]
            .as_str()
            .is_some_and(|v| v.starts_with("28.5.2")),
        "{cell}"
    );
    assert!(
        cell["engine"]["api_version"]
            .as_str()
            .is_some_and(|v| v.starts_with("1.5")),
        "negotiated API: {cell}"
    );
    assert_eq!(
        cell["images"][0]["labels"]["io.dockmatrix.image"], REDIS_IMAGE,
        "{cell}"
    );
    assert!(
        cell["services"][0]["peak_memory_bytes"]
            .as_u64()
            .is_some_and(|m| m > 0),
        "{cell}"
    );
    // Its stack is gone from the endpoint engine, and nothing of the run is on the host.
    let inner = docker(&[
        "--host",
        &url,
        "--tlsverify",
        "--tlscacert",
        &pki.client.join("ca.pem").display().to_string(),
        "--tlscert",
        &pki.client.join("cert.pem").display().to_string(),
        "--tlskey",
        &pki.client.join("key.pem").display().to_string(),
        "ps",
        "-a",
        "--format",
        "{{.Names}}",
    ]);
    assert!(inner.status.success(), "{}", stderr(&inner));
    assert_eq!(
        stdout(&inner).trim(),
        "",
        "no container left on the endpoint"
    );
    let dm_run = run["run_id"].as_str().expect("run id");
    assert_eq!(labelled_objects(dm_run), Vec::<String>::new());

    // A client certificate from another CA: the daemon refuses it; a clear error, not
    // a panic, and the engine is an error (not `unsupported`).
    let rogue = write_matrix(
        &pki.client,
        "rogue.toml",
        &url,
        "rogue-cert.pem",
        "rogue-key.pem",
    );
    let o = dockmatrix(&["engines", rogue.to_str().expect("utf-8")]);
    let said = all_output(&o);
    eprintln!("with a client certificate of another CA:\n{said}");
    assert_eq!(o.status.code(), Some(1), "{said}");
    assert!(!said.contains("panicked"), "{said}");
    assert!(said.contains("💥 error"), "{said}");
    assert!(
        said.contains(&format!("no Docker engine answers over TLS at {url}")),
        "{said}"
    );
    assert!(
        !said.contains("PRIVATE KEY"),
        "never a key's content: {said}"
    );
    let rogue_run = out_dir.path().join("rogue-run");
    let o = dockmatrix(&[
        "run",
        rogue.to_str().expect("utf-8"),
        "--out",
        rogue_run.to_str().expect("utf-8"),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", all_output(&o));
    let run = run_json(&rogue_run);
    let cell = &run["cells"][0];
    assert_eq!(cell["status"], "error", "{cell}");
    assert_eq!(cell["failed_step"], "engine", "{cell}");
    assert!(
        cell["reason"]
            .as_str()
            .is_some_and(|r| r.contains("over TLS") && r.contains("tls-cert")),
        "{cell}"
    );

    // A key file that holds no key: the error names the file.
    let broken = write_matrix(
        &pki.client,
        "broken.toml",
        &url,
        "cert.pem",
        "not-a-key.pem",
    );
    let o = dockmatrix(&["engines", broken.to_str().expect("utf-8")]);
    let said = all_output(&o);
    eprintln!("with a key file that holds no key:\n{said}");
    assert_eq!(o.status.code(), Some(1), "{said}");
    assert!(
        said.contains("tls-key") && said.contains("not-a-key.pem") && said.contains("no PEM"),
        "{said}"
    );

    let run_id = engine.run_id.clone();
    drop(engine);
    assert_eq!(
        labelled_objects(&run_id),
        Vec::<String>::new(),
        "the test's engine container and volume are gone"
    );
}

/// A run id of this test process, unique per call.
fn test_run_id(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("test-{what}-{}-{nanos:08x}", std::process::id())
}

/// The docker CLI against an engine (`conn`: how to reach it): its trimmed stdout.
fn on_engine(conn: &[String], args: &[&str]) -> String {
    let mut all: Vec<&str> = conn.iter().map(String::as_str).collect();
    all.extend(args);
    docker_ok(&all)
}

/// A compose stack on a TLS endpoint engine, which cannot see the compose folder: every
/// bind is copied into the endpoint — a read-only folder and a read-only single file stay
/// read-only (writing fails), a read-write folder and file take writes — and the user's
/// folder is untouched. A command check gets DOCKER_HOST, DOCKER_TLS_VERIFY=1 and a
/// DOCKER_CERT_PATH holding ca.pem, cert.pem and key.pem: the docker CLI, given only
/// those, reaches the endpoint (its server version is 28.5.2, the host's is not), and the
/// folder is removed afterwards. Nothing of the run is left on the endpoint.
#[test]
fn engine_tls_endpoint_copies_compose_binds_and_gives_commands_the_tls_variables() {
    if !docker_available("engine_tls_compose")
        || !images_available("engine_tls_compose", &[ENGINE_IMAGE, REDIS_IMAGE])
    {
        return;
    }
    let run_id = test_run_id("endpoint-compose");
    let engine = TlsEngine::start(&run_id);
    let pki = pki(&engine.ip);
    engine.give_certificates(&pki.server);
    engine.wait_ready(&pki.client);
    let url = engine.url();

    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("init")).expect("mkdir");
    std::fs::write(dir.path().join("init/hello.txt"), "hello from the folder\n").expect("write");
    std::fs::write(
        dir.path().join("compose.yaml"),
        r#"
services:
  files:
    image: dockmatrix/redis:7.0
    x-dockmatrix: { kind: generic }
    command: ["sleep", "infinity"]
    volumes:
      - ./init:/ro:ro
      - ./init:/rw
      - ./init/hello.txt:/etc/one.txt:ro
      - ./init/hello.txt:/etc/two.txt
"#,
    )
    .expect("write");
    // The docker CLI's output regex (a TOML literal string): the endpoint's URL, the TLS
    // switch, the three files under the names the CLI wants, and the endpoint's version.
    let seen = format!(
        "(?s)host={} verify=1\\s+ca\\.pem\\s+cert\\.pem\\s+key\\.pem\\s+server=28\\.5\\.2",
        regex_escape(&url)
    );
    std::fs::write(
        dir.path().join("checks.toml"),
        format!(r#"kind = "regression"

[[check]]
name = "a read-only folder copy cannot be written"
service = "files"
exec = ["sh", "-c", "cat /ro/hello.txt; touch /ro/new"]
expect = {{ exit-code = 1, output = "(?s)hello from the folder.*Read-only file system" }}

[[check]]
name = "a read-only file copy cannot be written"
service = "files"
exec = ["sh", "-c", "cat /etc/one.txt; echo scribbled >> /etc/one.txt"]
expect = {{ exit-code = 2, output = "(?s)hello from the folder.*Read-only file system" }}

[[check]]
name = "a read-write folder copy takes writes"
service = "files"
exec = ["sh", "-c", "cat /rw/hello.txt && echo scribbled > /rw/hello.txt && cat /rw/hello.txt"]
expect = {{ output = "(?s)hello from the folder.*scribbled" }}

[[check]]
name = "a read-write file copy takes writes"
service = "files"
exec = ["sh", "-c", "echo scribbled >> /etc/two.txt && cat /etc/two.txt"]
expect = {{ output = "(?s)hello from the folder.*scribbled" }}

[[check]]
name = "team: the docker CLI reaches the endpoint with the cell's variables"
command = ["sh", "-c", "echo host=$DOCKER_HOST verify=$DOCKER_TLS_VERIFY; echo $DOCKER_CERT_PATH > cert-path.txt; ls $DOCKER_CERT_PATH; docker version --format server={{{{.Server.Version}}}}"]
expect = {{ exit-code = 0, output = '{seen}' }}
"#),
    )
    .expect("write");
    let client = |f: &str| pki.client.join(f).display().to_string();
    let matrix = dir.path().join("matrix.toml");
    std::fs::write(
        &matrix,
        format!(
            r#"
name = "tls-compose"
scenarios = ["checks.toml"]
[axes]
engine = ["tls"]
[run]
retries = 0
[engines.tls]
kind = "endpoint"
url = "{url}"
tls-ca = "{ca}"
tls-cert = "{cert}"
tls-key = "{key}"
[compose]
files = ["compose.yaml"]
"#,
            ca = client("ca.pem"),
            cert = client("cert.pem"),
            key = client("key.pem"),
        ),
    )
    .expect("write");
    let out = dir.path().join("run");
    let t = Instant::now();
    let o = dockmatrix(&[
        "run",
        matrix.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    eprintln!("compose run over TLS in {:?}", t.elapsed());
    let run = run_json(&out);
    let c = &run["cells"][0];
    assert_eq!(o.status.code(), Some(0), "{}\n{c:#}", all_output(&o));
    assert_eq!(c["status"], "pass", "{c:#}");
    assert_eq!(c["engine"]["kind"], "endpoint", "{c}");
    let checks = c["checks"].as_array().expect("checks");
    assert_eq!(checks.len(), 5, "{c:#}");
    assert!(checks.iter().all(|k| k["status"] == "pass"), "{c:#}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("init/hello.txt")).expect("read"),
        "hello from the folder\n",
        "the copies are the cell's, not the user's folder"
    );
    // The certificate folder the command was given is gone once the check is over.
    let cert_path = std::fs::read_to_string(dir.path().join("cert-path.txt")).expect("written");
    let cert_path = cert_path.trim();
    assert!(!cert_path.is_empty(), "DOCKER_CERT_PATH was set");
    assert!(
        !Path::new(cert_path).exists(),
        "the certificate folder {cert_path} is removed after the check"
    );
    let conn = engine.tls_args(&pki.client);
    assert_eq!(on_engine(&conn, &["ps", "-aq"]), "", "no container left");
    assert_eq!(
        on_engine(&conn, &["volume", "ls", "-q"]),
        "",
        "no copy left"
    );
    assert_eq!(
        labelled_objects(run["run_id"].as_str().expect("run id")),
        Vec::<String>::new()
    );
    drop(engine);
    assert_eq!(labelled_objects(&run_id), Vec::<String>::new());
}

/// `s` with the characters a regular expression gives a meaning escaped.
fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$".contains(c);
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}

/// A `unix://` endpoint: a 28.5.2 engine listening only on a socket in a folder of this
/// machine (mounted at the same path in its container, as a local daemon's socket is).
/// `engines` measures it; in a run, a `docker-socket` service and a compose bind of
/// /var/run/docker.sock both get that socket (their docker CLI reports 28.5.2, the host
/// engine is 20.10.24), and a command check's DOCKER_HOST is the unix URL, with no TLS
/// variables.
#[test]
fn engine_unix_endpoint_runs_a_cell_and_mounts_its_own_socket() {
    if !docker_available("engine_unix_endpoint")
        || !images_available("engine_unix_endpoint", &[ENGINE_IMAGE])
    {
        return;
    }
    let host = docker_ok(&["version", "--format", "{{.Server.Version}}"]);
    assert!(
        !host.starts_with("28.5.2"),
        "the host engine must differ for this test to mean something"
    );
    let run_id = test_run_id("endpoint-unix");
    let sock_dir = tempfile::tempdir().expect("tempdir");
    let engine = TlsEngine::start_unix(&run_id, sock_dir.path());
    let url = format!("unix://{}/docker.sock", sock_dir.path().display());
    let conn = vec!["--host".to_string(), url.clone()];
    engine.wait_answering(&conn);

    let dir = tempfile::tempdir().expect("tempdir");
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
    .expect("write");
    let seen = format!(
        "(?s)host={} verify=none path=none\\s+server=28\\.5\\.2",
        regex_escape(&url)
    );
    std::fs::write(
        dir.path().join("checks.toml"),
        format!(
            r#"kind = "connectivity"

[[check]]
name = "socket: the docker-socket service sees the endpoint"
service = "client"
exec = ["sh", "-c", "docker version --format 'server={{{{.Server.Version}}}}'"]
expect = {{ exit-code = 0, output = 'server=28\.5\.2' }}

[[check]]
name = "socket: the compose bind of the socket is the endpoint's"
service = "composed"
exec = ["sh", "-c", "docker version --format 'server={{{{.Server.Version}}}}'"]
expect = {{ exit-code = 0, output = 'server=28\.5\.2' }}

[[check]]
name = "team: DOCKER_HOST is the unix endpoint"
command = ["sh", "-c", "echo host=$DOCKER_HOST verify=${{DOCKER_TLS_VERIFY:-none}} path=${{DOCKER_CERT_PATH:-none}}; docker version --format server={{{{.Server.Version}}}}"]
expect = {{ exit-code = 0, output = '{seen}' }}
"#
        ),
    )
    .expect("write");
    let matrix = dir.path().join("matrix.toml");
    std::fs::write(
        &matrix,
        format!(
            r#"
name = "unix-endpoint"
scenarios = ["checks.toml"]
[axes]
engine = ["local"]
[run]
retries = 0
[engines.local]
kind = "endpoint"
url = "{url}"
[compose]
files = ["compose.yaml"]
[services.client]
kind = "generic"
image = "dockmatrix/engine:28.5.2"
env = {{ DOCKMATRIX_SKIP_CGROUP_SETUP = "1" }}
command = ["sleep", "infinity"]
docker-socket = true
"#
        ),
    )
    .expect("write");

    let o = dockmatrix(&["engines", matrix.to_str().expect("utf-8")]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{}", all_output(&o));
    assert!(out.contains("✅ up") && out.contains("28.5.2"), "{out}");

    let run_dir = dir.path().join("run");
    let t = Instant::now();
    let o = dockmatrix(&[
        "run",
        matrix.to_str().expect("utf-8"),
        "--out",
        run_dir.to_str().expect("utf-8"),
    ]);
    eprintln!("one-cell run over a unix endpoint in {:?}", t.elapsed());
    let run = run_json(&run_dir);
    let c = &run["cells"][0];
    assert_eq!(o.status.code(), Some(0), "{}\n{c:#}", all_output(&o));
    assert_eq!(c["status"], "pass", "{c:#}");
    assert_eq!(c["engine"]["kind"], "endpoint", "{c}");
    assert!(
        c["engine"]["server_version"]
            .as_str()
            .is_some_and(|v| v.starts_with("28.5.2")),
        "{c}"
    );
    let checks = c["checks"].as_array().expect("checks");
    assert_eq!(checks.len(), 3, "{c:#}");
    assert!(checks.iter().all(|k| k["status"] == "pass"), "{c:#}");
    assert!(
        !stderr(&o).contains("host engine's own socket"),
        "no host-socket warning for an endpoint: {}",
        stderr(&o)
    );
    assert_eq!(on_engine(&conn, &["ps", "-aq"]), "", "no container left");
    assert_eq!(
        labelled_objects(run["run_id"].as_str().expect("run id")),
        Vec::<String>::new()
    );
    drop(engine);
    assert_eq!(labelled_objects(&run_id), Vec::<String>::new());
}
