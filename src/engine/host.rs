//! Which engine is "the host engine": Docker's own connection conventions, resolved in the
//! order the docker CLI resolves them (`cli/command/cli.go`, `resolveContextName` and
//! `resolveDockerEndpoint`), so that `dockmatrix` talks to the engine `docker` would:
//!
//! 1. `DOCKER_HOST` (`unix://`, `tcp://` in the clear or, with `DOCKER_TLS_VERIFY`, over
//!    TLS with `DOCKER_CERT_PATH`'s `ca.pem`/`cert.pem`/`key.pem`, `ssh://`); it wins over
//!    every context, as in the CLI;
//! 2. `DOCKER_CONTEXT`, else the `currentContext` of `config.json` (in `DOCKER_CONFIG`, else
//!    `~/.docker`), with its endpoint from `contexts/meta/<sha256 of name>/meta.json` and
//!    its TLS files from `contexts/tls/<sha256 of name>/docker/`; the context `default`
//!    means "no context";
//! 3. a rootless engine's socket, `$XDG_RUNTIME_DIR/docker.sock`, when it exists;
//! 4. `/var/run/docker.sock`.
//!
//! What was asked for is what is used: an engine named by a variable or a context that does
//! not answer is an error naming it, never a quiet fall-back to the next rule (that was
//! the bug this replaced: a `tcp://` `DOCKER_HOST` was ignored by bollard's local
//! defaults while preflight believed it). A value that cannot mean an engine is bad input.
//!
//! The resolution is made once per process ([`resolved`]): the connection, preflight's
//! "is the host engine on this machine" and the address where published ports are
//! reached all read the same answer.

use std::fmt;
use std::net::{IpAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use bollard::Docker;
use sha2::{Digest, Sha256};

use crate::matrix::TlsFiles;

/// The files of a TLS client, as the docker CLI names them in a cert directory.
const CA: &str = "ca.pem";
const CERT: &str = "cert.pem";
const KEY: &str = "key.pem";

/// Where the host engine is, and why there.
#[derive(Debug, Clone)]
pub struct HostEndpoint {
    pub address: Address,
    pub tls: Option<TlsFiles>,
    pub source: Source,
}

/// An engine address, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Unix(PathBuf),
    /// `host:port`; the host as written (a name or an IP).
    Tcp {
        host: String,
        port: u16,
    },
    /// `[user@]host[:port]`, as `ssh` takes it.
    Ssh {
        user: Option<String>,
        host: String,
        port: Option<u16>,
    },
}

/// Why the host engine is the one it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    DockerHost,
    /// A docker context, named by `DOCKER_CONTEXT` or by `config.json`'s `currentContext`.
    Context {
        name: String,
        named_by: String,
    },
    /// `$XDG_RUNTIME_DIR/docker.sock`.
    Rootless,
    DefaultSocket,
}

/// A host engine that cannot be resolved or reached.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("{var}=`{value}` is no Docker engine address: {why}")]
    Malformed {
        var: String,
        value: String,
        why: String,
    },
    #[error(
        "{var}: no docker context `{name}` (no {}; `docker context ls` lists the contexts)",
        meta.display()
    )]
    UnknownContext {
        var: String,
        name: String,
        meta: PathBuf,
    },
    #[error("cannot read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` is not valid JSON", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{var}: cannot read the TLS file `{}`", path.display())]
    CertRead {
        var: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{var}: the TLS file `{}` holds no PEM {kind}", path.display())]
    CertNotPem {
        var: String,
        path: PathBuf,
        kind: super::PemKind,
    },
    /// TLS asked for (DOCKER_TLS_VERIFY, a context's TLS files) by a build without it.
    #[error(
        "{endpoint} asks for TLS, and this dockmatrix was built without it (cargo feature `tls`, on by default: `cargo install --locked --path .`)"
    )]
    NoTls { endpoint: String },
    /// The engine as [`HostEndpoint`] shows it: the address and why it is the one.
    #[error("{endpoint}")]
    Connect {
        endpoint: String,
        #[source]
        source: bollard::errors::Error,
    },
}

impl HostError {
    /// Bad input (exit 2) rather than "no engine answers" (exit 3).
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, HostError::Connect { .. })
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Unix(p) => write!(f, "unix://{}", p.display()),
            Address::Tcp { host, port } if host.contains(':') => write!(f, "tcp://[{host}]:{port}"),
            Address::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
            Address::Ssh { user, host, port } => {
                f.write_str("ssh://")?;
                if let Some(u) = user {
                    write!(f, "{u}@")?;
                }
                f.write_str(host)?;
                if let Some(p) = port {
                    write!(f, ":{p}")?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for HostEndpoint {
    /// `DOCKER_HOST=tcp://127.0.0.1:2376 over TLS`, `unix:///var/run/docker.sock (default
    /// socket)`, `tcp://10.0.0.1:2375 (context ci, DOCKER_CONTEXT)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = crate::secrets::mask_url(&self.address.to_string());
        match &self.source {
            Source::DockerHost => write!(f, "DOCKER_HOST={url}")?,
            _ => write!(f, "{url} ({})", self.why())?,
        }
        if self.tls.is_some() {
            f.write_str(" over TLS")?;
        }
        Ok(())
    }
}

/// The process environment, as [`resolve`] reads it.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Resolves the host engine from `env` (a variable's value, or `None`), reading the docker
/// config and context files it points to. An empty variable counts as unset, as in the CLI.
pub fn resolve(env: &dyn Fn(&str) -> Option<String>) -> Result<HostEndpoint, HostError> {
    let var = |name: &str| env(name).filter(|v| !v.is_empty());
    if let Some(value) = var("DOCKER_HOST") {
        let address = parse_address("DOCKER_HOST", &value)?;
        let tls = match (&address, var("DOCKER_TLS_VERIFY")) {
            (Address::Tcp { .. }, Some(_)) => {
                let (dir, named) = match var("DOCKER_CERT_PATH") {
                    Some(d) => (PathBuf::from(d), "DOCKER_CERT_PATH"),
                    None => (
                        config_dir(&var)?,
                        "DOCKER_TLS_VERIFY (certificates in ~/.docker)",
                    ),
                };
                Some(tls_files(named, &dir)?)
            }
            _ => None,
        };
        return Ok(HostEndpoint {
            address,
            tls,
            source: Source::DockerHost,
        });
    }
    if let Some(endpoint) = context(&var)? {
        return Ok(endpoint);
    }
    if let Some(run) = var("XDG_RUNTIME_DIR") {
        let sock = Path::new(&run).join("docker.sock");
        if sock.exists() {
            return Ok(HostEndpoint {
                address: Address::Unix(sock),
                tls: None,
                source: Source::Rootless,
            });
        }
    }
    Ok(HostEndpoint {
        address: Address::Unix(PathBuf::from("/var/run/docker.sock")),
        tls: None,
        source: Source::DefaultSocket,
    })
}

/// The docker CLI's config folder: `DOCKER_CONFIG`, else `~/.docker`.
fn config_dir(var: &dyn Fn(&str) -> Option<String>) -> Result<PathBuf, HostError> {
    if let Some(d) = var("DOCKER_CONFIG") {
        return Ok(PathBuf::from(d));
    }
    Ok(var("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
        .join(".docker"))
}

/// The endpoint of the context named by `DOCKER_CONTEXT` or `config.json`, if any.
fn context(var: &dyn Fn(&str) -> Option<String>) -> Result<Option<HostEndpoint>, HostError> {
    let dir = config_dir(var)?;
    let (name, named_by, var_name) = match var("DOCKER_CONTEXT") {
        Some(name) => (
            name,
            "DOCKER_CONTEXT".to_string(),
            "DOCKER_CONTEXT".to_string(),
        ),
        None => {
            let config = dir.join("config.json");
            let text = match std::fs::read(&config) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(source) => {
                    return Err(HostError::Read {
                        path: config,
                        source,
                    });
                }
            };
            let json: serde_json::Value =
                serde_json::from_slice(&text).map_err(|source| HostError::Json {
                    path: config.clone(),
                    source,
                })?;
            match json.get("currentContext").and_then(|c| c.as_str()) {
                Some(name) if !name.is_empty() => {
                    let by = format!("the current context of {}", config.display());
                    (name.to_string(), by.clone(), by)
                }
                _ => return Ok(None),
            }
        }
    };
    if name == "default" {
        return Ok(None);
    }
    let id = hex::encode(Sha256::digest(name.as_bytes()));
    let meta = dir
        .join("contexts")
        .join("meta")
        .join(&id)
        .join("meta.json");
    let text = match std::fs::read(&meta) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(HostError::UnknownContext {
                var: var_name,
                name,
                meta,
            });
        }
        Err(source) => return Err(HostError::Read { path: meta, source }),
    };
    let json: serde_json::Value =
        serde_json::from_slice(&text).map_err(|source| HostError::Json {
            path: meta.clone(),
            source,
        })?;
    let docker = &json["Endpoints"]["docker"];
    let Some(host) = docker["Host"].as_str().filter(|h| !h.is_empty()) else {
        return Err(HostError::Malformed {
            var: meta.display().to_string(),
            value: String::new(),
            why: "the context has no Endpoints.docker.Host".into(),
        });
    };
    let address = parse_address(&format!("context {name} ({})", meta.display()), host)?;
    // `docker context create --docker "host=…,ca=…,cert=…,key=…"` copies the files here.
    let tls_dir = dir.join("contexts").join("tls").join(&id).join("docker");
    let tls = match address {
        Address::Tcp { .. } if tls_dir.is_dir() => {
            Some(tls_files(&format!("context {name}"), &tls_dir)?)
        }
        _ => None,
    };
    Ok(Some(HostEndpoint {
        address,
        tls,
        source: Source::Context { name, named_by },
    }))
}

/// `ca.pem`, `cert.pem` and `key.pem` of `dir`, each checked now: bollard reads the client
/// certificate only during the handshake and, if it cannot, quietly sends none.
fn tls_files(var: &str, dir: &Path) -> Result<TlsFiles, HostError> {
    use super::PemKind;
    let files = TlsFiles {
        ca: dir.join(CA),
        cert: dir.join(CERT),
        key: dir.join(KEY),
    };
    for (path, kind) in [
        (&files.ca, PemKind::Certificate),
        (&files.cert, PemKind::Certificate),
        (&files.key, PemKind::PrivateKey),
    ] {
        let text = crate::safe_io::read_user_file(path, crate::safe_io::MAX_CONFIG_BYTES).map_err(
            |e| HostError::CertRead {
                var: var.to_string(),
                path: path.clone(),
                source: match e {
                    crate::safe_io::SafeIoError::Read { source, .. } => source,
                    other => std::io::Error::new(std::io::ErrorKind::InvalidInput, other.reason()),
                },
            },
        )?;
        if !super::address::holds_pem(&String::from_utf8_lossy(&text), kind) {
            return Err(HostError::CertNotPem {
                var: var.to_string(),
                path: path.clone(),
                kind,
            });
        }
    }
    Ok(files)
}

/// Parses an engine address as the docker CLI accepts one in `DOCKER_HOST`.
pub fn parse_address(var: &str, value: &str) -> Result<Address, HostError> {
    let bad = |why: &str| HostError::Malformed {
        var: var.to_string(),
        value: crate::secrets::mask_url(value),
        why: why.to_string(),
    };
    let Some((scheme, rest)) = value.split_once("://") else {
        return Err(bad(
            "expected unix:///PATH, tcp://HOST:PORT or ssh://[USER@]HOST",
        ));
    };
    match scheme {
        "unix" => {
            if rest.is_empty() || !rest.starts_with('/') {
                return Err(bad("a unix:// address needs an absolute socket path"));
            }
            Ok(Address::Unix(PathBuf::from(rest)))
        }
        "tcp" => {
            let hostport = rest.trim_end_matches('/');
            if hostport.contains('/') {
                return Err(bad("a tcp:// address takes no path"));
            }
            let (host, port) = split_host_port(hostport).map_err(|w| bad(&w))?;
            if host.is_empty() {
                return Err(bad("a tcp:// address needs a host"));
            }
            // The CLI's default port: 2376 with TLS, 2375 without; we take what is written
            // and 2375 when nothing is.
            Ok(Address::Tcp {
                host,
                port: port.unwrap_or(2375),
            })
        }
        "ssh" => {
            let rest = rest.trim_end_matches('/');
            if rest.contains('/') {
                return Err(bad("an ssh:// address takes no path"));
            }
            let (user, hostport) = match rest.rsplit_once('@') {
                Some((u, h)) => (Some(u.to_string()), h),
                None => (None, rest),
            };
            let (host, port) = split_host_port(hostport).map_err(|w| bad(&w))?;
            if host.is_empty() {
                return Err(bad("an ssh:// address needs a host"));
            }
            Ok(Address::Ssh { user, host, port })
        }
        "npipe" => Err(bad("named pipes exist on Windows only")),
        "fd" => Err(bad("fd:// is for dockerd's own listeners, not for clients")),
        other => Err(bad(&format!(
            "unknown scheme `{other}://`; expected unix://, tcp:// or ssh://"
        ))),
    }
}

/// `host`, `host:port`, `[v6]:port`.
fn split_host_port(s: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = if let Some(v6) = s.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| "unclosed `[` in the host".to_string())?;
        match after.strip_prefix(':') {
            Some(p) => (h, Some(p)),
            None if after.is_empty() => (h, None),
            None => return Err(format!("unexpected `{after}` after the host")),
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = match port {
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("`{p}` is no port number"))?,
        ),
        None => None,
    };
    Ok((host.to_string(), port))
}

impl HostEndpoint {
    /// Whether the engine runs on this machine, so that its /proc and /dev are ours.
    pub fn is_local(&self) -> bool {
        match &self.address {
            Address::Unix(_) => true,
            Address::Tcp { host, .. } => host_ip(host).is_some_and(|ip| ip.is_loopback()),
            Address::Ssh { .. } => false,
        }
    }

    /// Where the engine's published ports are reachable from this process: the engine's
    /// host for tcp:// and ssh://, this machine's loopback for a socket.
    pub fn publish_ip(&self) -> IpAddr {
        let local = IpAddr::from([127, 0, 0, 1]);
        match &self.address {
            Address::Unix(_) => local,
            Address::Tcp { host, .. } | Address::Ssh { host, .. } => host_ip(host).unwrap_or(local),
        }
    }

    /// Connects and negotiates the API version.
    pub async fn connect(&self, timeout_secs: u64) -> Result<Docker, HostError> {
        let failed = |source| HostError::Connect {
            endpoint: self.to_string(),
            source,
        };
        let version = bollard::API_DEFAULT_VERSION;
        let docker = match (&self.address, &self.tls) {
            (Address::Unix(path), _) => {
                Docker::connect_with_unix(&path.to_string_lossy(), timeout_secs, version)
                    .map_err(failed)?
            }
            #[cfg(feature = "tls")]
            (Address::Tcp { .. }, Some(tls)) => Docker::connect_with_ssl(
                &self.address.to_string(),
                &tls.key,
                &tls.cert,
                &tls.ca,
                timeout_secs,
                version,
            )
            .map_err(failed)?,
            #[cfg(not(feature = "tls"))]
            (Address::Tcp { .. }, Some(_)) => {
                return Err(HostError::NoTls {
                    endpoint: self.to_string(),
                });
            }
            (Address::Tcp { .. }, None) => {
                Docker::connect_with_http(&self.address.to_string(), timeout_secs, version)
                    .map_err(failed)?
            }
            (Address::Ssh { user, host, port }, _) => {
                super::ssh::connect(user.as_deref(), host, *port, timeout_secs).map_err(failed)?
            }
        };
        // A dead address must fail fast, whatever the per-request timeout of later calls;
        // the clone shares the negotiated version with `docker`.
        let probe = docker.clone().with_timeout(Duration::from_secs(20));
        probe.negotiate_version().await.map_err(failed)?;
        Ok(docker)
    }

    /// Why this engine: `DOCKER_HOST`, `context X, DOCKER_CONTEXT`, `default socket`.
    pub fn why(&self) -> String {
        match &self.source {
            Source::DockerHost => "DOCKER_HOST".into(),
            Source::Context { name, named_by } => format!("context {name}, {named_by}"),
            Source::Rootless => "rootless socket $XDG_RUNTIME_DIR/docker.sock".into(),
            Source::DefaultSocket => "default socket".into(),
        }
    }
}

/// An IP for `host`: itself when it is one, else the first address a lookup gives.
fn host_ip(host: &str) -> Option<IpAddr> {
    if let Ok(ip) = host.parse() {
        return Some(ip);
    }
    (host, 0).to_socket_addrs().ok()?.next().map(|a| a.ip())
}

static RESOLVED: OnceLock<HostEndpoint> = OnceLock::new();

/// The host engine of this process, resolved from its environment on first use; every
/// caller (connection, preflight, published ports) sees the same answer. (A failure is
/// not kept: the command that met it ends.)
pub fn resolved() -> Result<&'static HostEndpoint, HostError> {
    if let Some(e) = RESOLVED.get() {
        return Ok(e);
    }
    let endpoint = resolve(&process_env)?;
    Ok(RESOLVED.get_or_init(|| endpoint))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    /// An empty HOME so that this machine's ~/.docker does not leak into a test.
    fn home() -> tempfile::TempDir {
        tempfile::tempdir().expect("tempdir")
    }

    #[test]
    fn docker_host_forms() {
        let h = home();
        let h = h.path().to_str().expect("utf-8");
        let r = |v: &str| resolve(&env(&[("HOME", h), ("DOCKER_HOST", v)]));
        assert_eq!(
            r("unix:///run/x.sock").expect("unix").address,
            Address::Unix("/run/x.sock".into())
        );
        assert_eq!(
            r("tcp://10.0.0.2:2376").expect("tcp").address,
            Address::Tcp {
                host: "10.0.0.2".into(),
                port: 2376
            }
        );
        assert_eq!(
            r("tcp://[::1]:1234/").expect("v6").address.to_string(),
            "tcp://[::1]:1234"
        );
        assert_eq!(
            r("ssh://me@build:2222").expect("ssh").address,
            Address::Ssh {
                user: Some("me".into()),
                host: "build".into(),
                port: Some(2222)
            }
        );
        for bad in [
            "localhost:2375",
            "tcp://",
            "tcp://host:port",
            "tcp://h:2375/x",
            "http://h",
            "unix://rel",
            "npipe:////./pipe/docker_engine",
        ] {
            let e = r(bad).expect_err(bad);
            assert!(e.is_bad_input(), "{bad}");
            assert!(e.to_string().starts_with("DOCKER_HOST="), "{e}");
        }
        // Empty is unset, as in the CLI.
        assert_eq!(r("").expect("empty").source, Source::DefaultSocket);
    }

    #[test]
    fn tls_verify_reads_the_cert_path_and_names_it_when_unreadable() {
        let h = home();
        let hs = h.path().to_str().expect("utf-8");
        let missing = h.path().join("nope");
        let e = resolve(&env(&[
            ("HOME", hs),
            ("DOCKER_HOST", "tcp://127.0.0.1:2376"),
            ("DOCKER_TLS_VERIFY", "1"),
            ("DOCKER_CERT_PATH", missing.to_str().expect("utf-8")),
        ]))
        .expect_err("missing certs");
        assert!(e.is_bad_input());
        assert!(e.to_string().starts_with("DOCKER_CERT_PATH:"), "{e}");
        assert!(e.to_string().contains("ca.pem"), "{e}");

        let dir = h.path().join("certs");
        std::fs::create_dir(&dir).expect("mkdir");
        for f in [CA, CERT] {
            std::fs::write(dir.join(f), "-----BEGIN CERTIFICATE-----\nx\n").expect("write");
        }
        std::fs::write(dir.join(KEY), "not a key").expect("write");
        let e = resolve(&env(&[
            ("HOME", hs),
            ("DOCKER_HOST", "tcp://127.0.0.1:2376"),
            ("DOCKER_TLS_VERIFY", "1"),
            ("DOCKER_CERT_PATH", dir.to_str().expect("utf-8")),
        ]))
        .expect_err("bad key");
        assert!(e.to_string().contains("key.pem"), "{e}");
        std::fs::write(dir.join(KEY), "-----BEGIN PRIVATE KEY-----\nx\n").expect("write");
        let ok = resolve(&env(&[
            ("HOME", hs),
            ("DOCKER_HOST", "tcp://127.0.0.1:2376"),
            ("DOCKER_TLS_VERIFY", "1"),
            ("DOCKER_CERT_PATH", dir.to_str().expect("utf-8")),
        ]))
        .expect("tls");
        assert_eq!(ok.tls.expect("tls files").ca, dir.join(CA));
        // Without TLS_VERIFY the cert path is not read.
        let plain = resolve(&env(&[
            ("HOME", hs),
            ("DOCKER_HOST", "tcp://127.0.0.1:2375"),
            ("DOCKER_CERT_PATH", "/nonexistent"),
        ]))
        .expect("plain");
        assert!(plain.tls.is_none());
    }

    fn write_context(config: &Path, name: &str, host: &str) {
        let id = hex::encode(Sha256::digest(name.as_bytes()));
        let dir = config.join("contexts/meta").join(id);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let meta = serde_json::json!({
            "Name": name,
            "Metadata": {},
            "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": false}},
        });
        std::fs::write(dir.join("meta.json"), meta.to_string()).expect("write");
    }

    #[test]
    fn contexts_from_the_variable_and_from_config_json() {
        let h = home();
        let docker_dir = h.path().join(".docker");
        write_context(&docker_dir, "remote", "tcp://10.1.2.3:2375");
        std::fs::write(
            docker_dir.join("config.json"),
            r#"{"auths":{},"currentContext":"remote"}"#,
        )
        .expect("write");
        let hs = h.path().to_str().expect("utf-8");

        let from_config = resolve(&env(&[("HOME", hs)])).expect("config context");
        assert_eq!(from_config.address.to_string(), "tcp://10.1.2.3:2375");
        assert!(
            matches!(&from_config.source, Source::Context { name, named_by } if name == "remote" && named_by.contains("config.json"))
        );
        assert!(!from_config.is_local());

        // DOCKER_CONTEXT overrides config.json; `default` means the default socket.
        let default =
            resolve(&env(&[("HOME", hs), ("DOCKER_CONTEXT", "default")])).expect("default context");
        assert_eq!(default.source, Source::DefaultSocket);
        let e = resolve(&env(&[("HOME", hs), ("DOCKER_CONTEXT", "nosuch")]))
            .expect_err("unknown context");
        assert!(e.is_bad_input());
        assert!(
            e.to_string()
                .starts_with("DOCKER_CONTEXT: no docker context `nosuch`"),
            "{e}"
        );

        // DOCKER_HOST wins over any context, as in the CLI.
        let host = resolve(&env(&[
            ("HOME", hs),
            ("DOCKER_CONTEXT", "nosuch"),
            ("DOCKER_HOST", "unix:///x.sock"),
        ]))
        .expect("DOCKER_HOST");
        assert_eq!(host.source, Source::DockerHost);

        // DOCKER_CONFIG moves the folder.
        let other = h.path().join("elsewhere");
        write_context(&other, "ci", "unix:///ci.sock");
        let moved = resolve(&env(&[
            ("HOME", hs),
            ("DOCKER_CONFIG", other.to_str().expect("utf-8")),
            ("DOCKER_CONTEXT", "ci"),
        ]))
        .expect("DOCKER_CONFIG");
        assert_eq!(moved.address, Address::Unix("/ci.sock".into()));
        assert_eq!(moved.why(), "context ci, DOCKER_CONTEXT");
    }

    #[test]
    fn rootless_socket_then_the_default() {
        let h = home();
        let hs = h.path().to_str().expect("utf-8");
        let run = h.path().join("run");
        std::fs::create_dir(&run).expect("mkdir");
        let rs = run.to_str().expect("utf-8");
        let none = resolve(&env(&[("HOME", hs), ("XDG_RUNTIME_DIR", rs)])).expect("default");
        assert_eq!(none.why(), "default socket");
        assert_eq!(none.address.to_string(), "unix:///var/run/docker.sock");
        std::fs::write(run.join("docker.sock"), "").expect("write");
        let rootless = resolve(&env(&[("HOME", hs), ("XDG_RUNTIME_DIR", rs)])).expect("rootless");
        assert_eq!(rootless.source, Source::Rootless);
        assert_eq!(rootless.address, Address::Unix(run.join("docker.sock")));
    }

    #[test]
    fn publish_address_follows_the_engine() {
        let tcp = HostEndpoint {
            address: Address::Tcp {
                host: "10.0.0.7".into(),
                port: 2375,
            },
            tls: None,
            source: Source::DockerHost,
        };
        assert_eq!(tcp.publish_ip(), IpAddr::from([10, 0, 0, 7]));
        assert!(!tcp.is_local());
        let lo = HostEndpoint {
            address: Address::Tcp {
                host: "127.0.0.1".into(),
                port: 1,
            },
            ..tcp.clone()
        };
        assert!(lo.is_local());
        assert_eq!(tcp.to_string(), "DOCKER_HOST=tcp://10.0.0.7:2375");
        let socket = HostEndpoint {
            address: Address::Unix("/var/run/docker.sock".into()),
            tls: None,
            source: Source::DefaultSocket,
        };
        assert_eq!(
            socket.to_string(),
            "unix:///var/run/docker.sock (default socket)"
        );
    }
}
