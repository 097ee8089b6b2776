//! Engines under test: `dind` (an engine image started as a container on the host engine,
//! reached over its private IP, never a published port), `host` (the local engine as it
//! is) and `endpoint` (an existing daemon at a unix:// or tcp:// URL). Every engine is
//! measured — version, API, driver, containerd, runc, kernel, cgroups — never trusted.

pub mod cache;
pub mod clean;
pub mod daemon_lint;
mod docker_api;
pub mod host;
pub mod image_cache;
pub mod images;
pub mod labels;
pub mod preflight;
mod trouble;
pub mod version;

pub use docker_api::is_not_found;
pub use trouble::{Contact, EngineTrouble, dind_trouble, settled_trouble};

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{ContainerCreateBody, DeviceMapping, HostConfig, VolumeCreateRequest};
use bollard::query_parameters::{
    CreateContainerOptions, LogsOptions, RemoveContainerOptions, RemoveVolumeOptions,
    StopContainerOptions, UploadToContainerOptions,
};
use futures_util::StreamExt;
use indexmap::IndexMap;

use crate::matrix::{EngineKind, EngineSpec};
use crate::results::EngineFacts;
use labels::RunLabels;

/// How long a dind engine may take to answer its API.
const ENGINE_START_TIMEOUT: Duration = Duration::from_secs(120);
/// Per-request timeout for engine API calls, in seconds (image loads stream longer).
const API_TIMEOUT_SECS: u64 = 600;

/// A running engine that cells use.
#[derive(Clone)]
pub struct EngineHandle {
    pub name: String,
    pub driver: String,
    pub docker: Docker,
    pub facts: EngineFacts,
    /// Where containers' published ports are reachable from this process.
    pub publish_ip: IpAddr,
    /// For dind: the engine's container and volume on the host engine.
    pub dind: Option<DindContainer>,
    /// Where this process reaches the engine's API (for `docker-api` and `command`
    /// checks, which speak to it without bollard).
    pub address: EngineAddress,
    /// For host and endpoint engines: whether contact broke (they stopped or restarted).
    pub contact: Option<Contact>,
}

/// Where an engine's API is reached from this process.
#[derive(Debug, Clone)]
pub enum EngineAddress {
    /// A unix socket on this machine (the host engine, a unix:// endpoint).
    Unix(std::path::PathBuf),
    /// `tcp://HOST:PORT` (a dind engine on its private IP, a tcp:// endpoint), with the
    /// endpoint's TLS files when it has them.
    Tcp {
        url: String,
        tls: Option<crate::matrix::TlsFiles>,
    },
}

impl EngineAddress {
    /// What `DOCKER_HOST` is for a client of this engine.
    pub fn docker_host(&self) -> String {
        match self {
            EngineAddress::Unix(p) => format!("unix://{}", p.display()),
            EngineAddress::Tcp { url, .. } => url.clone(),
        }
    }

    /// The host engine's: DOCKER_HOST, else the default socket.
    pub fn of_host() -> EngineAddress {
        match std::env::var("DOCKER_HOST") {
            Ok(h) if h.starts_with("tcp://") => EngineAddress::Tcp { url: h, tls: None },
            Ok(h) if h.starts_with("unix://") => {
                EngineAddress::Unix(h.trim_start_matches("unix://").into())
            }
            _ => EngineAddress::Unix("/var/run/docker.sock".into()),
        }
    }

    fn of_endpoint(url: &str, tls: Option<&crate::matrix::TlsFiles>) -> EngineAddress {
        match url.strip_prefix("unix://") {
            Some(path) => EngineAddress::Unix(path.into()),
            None => EngineAddress::Tcp {
                url: url.to_string(),
                tls: tls.cloned(),
            },
        }
    }
}

impl std::fmt::Debug for EngineHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineHandle")
            .field("name", &self.name)
            .field("driver", &self.driver)
            .field("facts", &self.facts)
            .field("publish_ip", &self.publish_ip)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct DindContainer {
    pub container: String,
    pub volume: String,
    /// The volume outlives this engine (an upgrade starts the next engine on it).
    pub keep_volume: bool,
}

/// Why an engine is not available to a cell.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The engine itself refused the configuration: the cell is `unsupported`.
    #[error("the engine refused to start: {reason}")]
    Refused { reason: String },
    /// The engine started but reports another image store than asked (an engine without
    /// the containerd-snapshotter feature ignores it): `unsupported`.
    #[error(
        "the engine reports the {got} image store, not {asked} (driver `{driver}`, driver-type `{driver_type}`)"
    )]
    WrongImageStore {
        asked: &'static str,
        got: String,
        driver: String,
        driver_type: String,
    },
    /// The engine started but reports another driver than asked: `unsupported`.
    #[error("the engine reports storage driver `{got}`, not `{asked}`")]
    WrongDriver { asked: String, got: String },
    #[error("no Docker engine answers at {url}")]
    Connect {
        url: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error(
        "the engine image `{image}` does not exist on the host engine (build it with scripts/setup.sh, or pull it)"
    )]
    ImageMissing { image: String },
    #[error("failed to create volume `{name}`")]
    CreateVolume {
        name: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("failed to create the engine container from `{image}`")]
    CreateContainer {
        image: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("failed to write daemon.json into the engine container")]
    UploadConfig {
        #[source]
        source: bollard::errors::Error,
    },
    #[error("failed to start the engine container `{name}`")]
    StartContainer {
        name: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("failed to inspect `{name}`")]
    Inspect {
        name: String,
        #[source]
        source: bollard::errors::Error,
    },
    /// Our fault, not the engine's: the container died before dockerd said anything of
    /// the configuration, or the API never answered.
    #[error("the engine container did not come up ({what}); its log ends:\n{log}")]
    NotUp { what: String, log: String },
    #[error("failed to query the engine's {what}")]
    Query {
        what: &'static str,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("cannot read the {role} file `{}`", path.display())]
    TlsRead {
        role: &'static str,
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the {role} file `{}` holds no PEM {kind}", path.display())]
    TlsNotPem {
        role: &'static str,
        path: std::path::PathBuf,
        kind: PemKind,
    },
    #[error(
        "tls-ca, tls-cert and tls-key are given for {url}: TLS applies to tcp:// endpoints only"
    )]
    TlsOverUnix { url: String },
    /// The handshake or the first request over TLS failed: most often a certificate the
    /// daemon does not trust, or a daemon certificate not signed by tls-ca.
    #[error(
        "no Docker engine answers over TLS at {url} (check that tls-ca signed the daemon's certificate and that the daemon trusts tls-cert)"
    )]
    TlsConnect {
        url: String,
        #[source]
        source: bollard::errors::Error,
    },
    /// A bug of dockmatrix (an invariant broke), not a fault of the engine.
    #[error("internal error: {0}")]
    Internal(String),
    /// Preflight found the combination cannot work: not tried, `unsupported`.
    #[error("not started: preflight: {reason}")]
    Blocked { reason: String },
}

impl EngineError {
    /// Whether the cell is `unsupported` (a compatibility result) rather than `error`.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            EngineError::Refused { .. }
                | EngineError::WrongDriver { .. }
                | EngineError::WrongImageStore { .. }
                | EngineError::Blocked { .. }
        )
    }
}

/// The engine this process talks to directly, as Docker's conventions name it ([`host`]):
/// it runs the dind engines and the host cells. The runner and the CLI hold it without
/// naming bollard; the rooms that talk to Docker see the client through `Deref`.
#[derive(Clone)]
pub struct Host(Docker);

impl std::ops::Deref for Host {
    type Target = Docker;
    fn deref(&self) -> &Docker {
        &self.0
    }
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host").finish_non_exhaustive()
    }
}

/// Connects to the host engine, negotiating the API.
pub async fn connect_host() -> Result<Host, host::HostError> {
    host::resolved()?.connect(API_TIMEOUT_SECS).await.map(Host)
}

/// Where published ports of the host engine are reachable: from the same resolution
/// that connected to it.
fn host_publish_ip() -> IpAddr {
    host::resolved().map_or(IpAddr::from([127, 0, 0, 1]), |h| h.publish_ip())
}

fn host_of_url(url: &str) -> Option<IpAddr> {
    let rest = url.split_once("://")?.1;
    let host = rest.split(['/', ':']).next()?;
    host.parse().ok()
}

/// Where a dind engine's container and data live.
#[derive(Debug, Clone)]
pub struct DindPlace {
    /// The engine container's name.
    pub container: String,
    /// The volume mounted at `/var/lib/docker`.
    pub volume: String,
    /// The volume holds an earlier engine's data: use it as it is, and keep it when this
    /// engine stops (an upgrade starts the next engine on it).
    pub reuse_volume: bool,
    pub labels: HashMap<String, String>,
    /// Host folders mounted read-only into the engine container at the same path (the
    /// compose project's folder, so that its binds resolve inside the engine).
    pub ro_folders: Vec<std::path::PathBuf>,
    /// Start dockerd with the containerd image store (`--feature
    /// containerd-snapshotter=true`); the driver then names a containerd snapshotter.
    pub containerd: bool,
}

impl DindPlace {
    /// The place of the engine shared by every cell on (`engine`, `driver`).
    /// `config` is the cell's `daemon-config` value, when it has one.
    pub fn shared(
        labels: &RunLabels,
        engine: &str,
        driver: Option<&str>,
        config: Option<&str>,
        containerd: bool,
    ) -> DindPlace {
        let driver = driver.unwrap_or("default");
        let mut parts = vec!["dm", &labels.run_id, "engine", engine, driver];
        parts.extend(config);
        if containerd {
            parts.push("containerd");
        }
        let container = labels::object_name(&parts);
        let mut engine_labels = labels.engine(engine, driver);
        if containerd && let Some(l) = engine_labels.get_mut(labels::ENGINE) {
            l.push_str("/containerd");
        }
        DindPlace {
            volume: format!("{container}-data"),
            container,
            reuse_volume: false,
            labels: engine_labels,
            containerd,
            ro_folders: Vec::new(),
        }
    }
}

/// What a dind engine starts with besides its image: the cell's storage driver (`None`:
/// the engine's default) and daemon.json, and the `daemon-config` value naming it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Config<'a> {
    pub driver: Option<&'a str>,
    pub daemon: Option<&'a serde_json::Value>,
    pub daemon_config: Option<&'a str>,
    /// See [`DindPlace::ro_folders`].
    pub ro_folders: &'a [std::path::PathBuf],
    /// The cell asks for the containerd image store (`image-store = "containerd"`).
    pub containerd: bool,
}

/// Starts (dind) or connects to (host, endpoint) the engine of `spec` with `config`
/// (host and endpoint engines are as they are: a driver they do not have is refused).
pub async fn start(
    host: &Docker,
    spec: Option<&EngineSpec>,
    config: Config<'_>,
    labels: &RunLabels,
) -> Result<EngineHandle, EngineError> {
    let driver = config.driver;
    let (name, kind) = match spec {
        Some(s) => (s.name.clone(), s.kind),
        None => ("host".to_string(), EngineKind::Host),
    };
    let handle = match kind {
        EngineKind::Host => {
            let facts = measure(host, &name, "host").await?;
            EngineHandle {
                name,
                driver: facts.storage_driver.clone(),
                docker: host.clone(),
                facts,
                publish_ip: host_publish_ip(),
                dind: None,
                address: EngineAddress::of_host(),
                contact: Some(Contact::watch(host.clone())),
            }
        }
        EngineKind::Endpoint => {
            let url = spec.and_then(|s| s.url.clone()).unwrap_or_default();
            let docker = connect_endpoint(&url, spec.and_then(|s| s.tls.as_ref())).await?;
            let facts = measure(&docker, &name, "endpoint").await?;
            let publish_ip = host_of_url(&url).unwrap_or(IpAddr::from([127, 0, 0, 1]));
            EngineHandle {
                name,
                driver: facts.storage_driver.clone(),
                contact: Some(Contact::watch(docker.clone())),
                docker,
                facts,
                publish_ip,
                dind: None,
                address: EngineAddress::of_endpoint(&url, spec.and_then(|s| s.tls.as_ref())),
            }
        }
        EngineKind::Dind => {
            let spec =
                spec.ok_or_else(|| EngineError::Internal("dind engine without spec".into()))?;
            let mut place = DindPlace::shared(
                labels,
                &spec.name,
                driver,
                config.daemon_config,
                config.containerd,
            );
            place.ro_folders = config.ro_folders.to_vec();
            start_dind(host, spec, driver, config.daemon, &place).await?
        }
    };
    if let Some(asked) = driver
        && kind != EngineKind::Dind
        && handle.facts.storage_driver != asked
    {
        // host and endpoint engines are as they are: a cell asking another driver of them
        // cannot run there.
        return Err(EngineError::WrongDriver {
            asked: asked.to_string(),
            got: handle.facts.storage_driver.clone(),
        });
    }
    check_image_store(config.containerd, &handle.facts)?;
    Ok(handle)
}

/// Connects to an existing daemon: `unix://PATH`, `tcp://HOST:PORT` in the clear, or
/// `tcp://HOST:PORT` over TLS with the matrix's CA, client certificate and key (what
/// `docker --tlsverify` does), negotiating the API version like every other engine.
async fn connect_endpoint(
    url: &str,
    tls: Option<&crate::matrix::TlsFiles>,
) -> Result<Docker, EngineError> {
    let shown = crate::secrets::mask_url(url);
    let connect = |source| EngineError::Connect {
        url: shown.clone(),
        source,
    };
    let docker = match (url.strip_prefix("unix://"), tls) {
        (Some(_), Some(_)) => return Err(EngineError::TlsOverUnix { url: shown }),
        (Some(path), None) => {
            Docker::connect_with_unix(path, API_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
                .map_err(connect)?
        }
        (None, Some(files)) => {
            // bollard reads the client certificate and key only during the handshake and,
            // if it cannot, quietly sends none: the daemon's refusal would then hide the
            // real cause. Check each file first, so that the error names it.
            check_tls_file("tls-ca", &files.ca, PemKind::Certificate)?;
            check_tls_file("tls-cert", &files.cert, PemKind::Certificate)?;
            check_tls_file("tls-key", &files.key, PemKind::PrivateKey)?;
            Docker::connect_with_ssl(
                url,
                &files.key,
                &files.cert,
                &files.ca,
                API_TIMEOUT_SECS,
                bollard::API_DEFAULT_VERSION,
            )
            .map_err(|source| EngineError::TlsConnect {
                url: shown.clone(),
                source,
            })?
        }
        (None, None) => {
            Docker::connect_with_http(url, API_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
                .map_err(connect)?
        }
    };
    docker
        .negotiate_version()
        .await
        .map_err(|source| match tls {
            Some(_) => EngineError::TlsConnect {
                url: shown.clone(),
                source,
            },
            None => connect(source),
        })
}

/// What a TLS file must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PemKind {
    Certificate,
    PrivateKey,
}

impl std::fmt::Display for PemKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PemKind::Certificate => "certificate",
            PemKind::PrivateKey => "private key",
        })
    }
}

/// Whether `path` is readable and holds a PEM block of `kind`. Only the file's name goes
/// into errors, never its content (a key is a secret).
fn check_tls_file(
    role: &'static str,
    path: &std::path::Path,
    kind: PemKind,
) -> Result<(), EngineError> {
    let text =
        crate::safe_io::read_user_file(path, crate::safe_io::MAX_CONFIG_BYTES).map_err(|e| {
            EngineError::TlsRead {
                role,
                path: path.to_path_buf(),
                source: match e {
                    crate::safe_io::SafeIoError::Read { source, .. } => source,
                    other => std::io::Error::new(std::io::ErrorKind::InvalidInput, other.reason()),
                },
            }
        })?;
    if holds_pem(&String::from_utf8_lossy(&text), kind) {
        Ok(())
    } else {
        Err(EngineError::TlsNotPem {
            role,
            path: path.to_path_buf(),
            kind,
        })
    }
}

/// Whether `text` holds a PEM block of `kind`.
fn holds_pem(text: &str, kind: PemKind) -> bool {
    text.lines().any(|l| {
        let l = l.trim();
        l.starts_with("-----BEGIN ")
            && match kind {
                PemKind::Certificate => l == "-----BEGIN CERTIFICATE-----",
                // PKCS#8, PKCS#1 (RSA) and SEC1 (EC) keys, as `docker` accepts them.
                PemKind::PrivateKey => l.ends_with("PRIVATE KEY-----"),
            }
    })
}

/// Reads what the engine says of itself.
pub async fn measure(docker: &Docker, name: &str, kind: &str) -> Result<EngineFacts, EngineError> {
    let version = docker
        .version()
        .await
        .map_err(|source| EngineError::Query {
            what: "version",
            source,
        })?;
    let info = docker.info().await.map_err(|source| EngineError::Query {
        what: "info",
        source,
    })?;
    let component = |wanted: &str| {
        version
            .components
            .as_ref()
            .and_then(|cs| cs.iter().find(|c| c.name.eq_ignore_ascii_case(wanted)))
            .map(|c| c.version.clone())
            .unwrap_or_default()
    };
    let cgroup = info
        .cgroup_version
        .as_ref()
        .map(|v| {
            serde_json::to_value(v)
                .ok()
                .and_then(|j| j.as_str().map(str::to_string))
                .unwrap_or_default()
        })
        .unwrap_or_default();
    Ok(EngineFacts {
        name: name.to_string(),
        kind: kind.to_string(),
        server_version: version.version.clone().unwrap_or_default(),
        api_version: version.api_version.clone().unwrap_or_default(),
        storage_driver: info.driver.clone().unwrap_or_default(),
        containerd: component("containerd"),
        runc: component("runc"),
        kernel: version
            .kernel_version
            .clone()
            .or(info.kernel_version.clone())
            .unwrap_or_default(),
        cgroup_version: cgroup,
        os: info.operating_system.clone().unwrap_or_default(),
        arch: version.arch.clone().unwrap_or_default(),
        min_api_version: version.min_api_version.clone().unwrap_or_default(),
        image_store: image_store(info.driver_status.as_deref().unwrap_or_default()).to_string(),
        env: IndexMap::new(),
        cache: String::new(),
    })
}

/// The image store the engine reports is the one asked: containerd when `containerd`,
/// else the graph driver (a cell that does not ask for one takes the engine's default,
/// which is a graph driver on every engine before 29).
fn check_image_store(containerd: bool, facts: &EngineFacts) -> Result<(), EngineError> {
    if !containerd || facts.image_store == "containerd" {
        return Ok(());
    }
    Err(EngineError::WrongImageStore {
        asked: "containerd",
        got: facts.image_store.clone(),
        driver: facts.storage_driver.clone(),
        driver_type: "-".into(),
    })
}

/// The driver-type `docker info` reports for the containerd image store.
pub const CONTAINERD_DRIVER_TYPE: &str = "io.containerd.snapshotter.v1";

/// `containerd` when the driver status names containerd's snapshotter driver-type (the
/// containerd image store), else `graphdriver`.
pub fn image_store(driver_status: &[Vec<String>]) -> &'static str {
    let containerd = driver_status.iter().any(|pair| {
        matches!(pair.as_slice(), [k, v, ..] if k.eq_ignore_ascii_case("driver-type") && v == CONTAINERD_DRIVER_TYPE)
    });
    if containerd {
        "containerd"
    } else {
        "graphdriver"
    }
}

/// Starts a dind engine of `spec` at `place`: its container on the host engine, its
/// `/var/lib/docker` on the place's volume (created unless reused).
pub async fn start_dind(
    host: &Docker,
    spec: &EngineSpec,
    driver: Option<&str>,
    daemon: Option<&serde_json::Value>,
    place: &DindPlace,
) -> Result<EngineHandle, EngineError> {
    let image = spec.image.clone().unwrap_or_default();
    let driver_label = driver.unwrap_or("default");
    let name = place.container.clone();
    let volume = place.volume.clone();
    let engine_labels = place.labels.clone();

    if host.inspect_image(&image).await.is_err() {
        return Err(EngineError::ImageMissing { image });
    }
    if !place.reuse_volume {
        let opts = &spec.data_volume_opts;
        host.create_volume(VolumeCreateRequest {
            name: Some(volume.clone()),
            labels: Some(engine_labels.clone()),
            driver_opts: (!opts.is_empty())
                .then(|| opts.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
            ..Default::default()
        })
        .await
        .map_err(|source| EngineError::CreateVolume {
            name: volume.clone(),
            source,
        })?;
    }

    let mut cmd: Vec<String> = Vec::new();
    if place.containerd {
        cmd.push("--feature".into());
        cmd.push("containerd-snapshotter=true".into());
    }
    if let Some(d) = driver {
        cmd.push(format!("--storage-driver={d}"));
    }
    cmd.extend(spec.args.iter().cloned());

    let privileged = spec.privileged.unwrap_or(false);
    let mut binds = vec![format!("{volume}:/var/lib/docker")];
    for f in &place.ro_folders {
        binds.push(format!("{0}:{0}:ro", f.display()));
    }
    let host_config = if privileged {
        HostConfig {
            privileged: Some(true),
            binds: Some(binds),
            ..Default::default()
        }
    } else {
        // `--privileged` fails on hosts whose bounding set lacks CAP_SYS_RESOURCE (as on
        // our CI machines): every capability but that one, and no confinement.
        HostConfig {
            cap_add: Some(vec!["ALL".into()]),
            cap_drop: Some(vec!["SYS_RESOURCE".into()]),
            security_opt: Some(vec![
                "seccomp=unconfined".into(),
                "apparmor=unconfined".into(),
            ]),
            // What the CLI's `--security-opt systempaths=unconfined` means in the API.
            masked_paths: Some(Vec::new()),
            readonly_paths: Some(Vec::new()),
            devices: std::path::Path::new("/dev/fuse").exists().then(|| {
                vec![DeviceMapping {
                    path_on_host: Some("/dev/fuse".into()),
                    path_in_container: Some("/dev/fuse".into()),
                    cgroup_permissions: Some("rwm".into()),
                }]
            }),
            binds: Some(binds),
            ..Default::default()
        }
    };
    let env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let body = ContainerCreateBody {
        image: Some(image.clone()),
        cmd: Some(cmd),
        env: (!env.is_empty()).then_some(env),
        labels: Some(engine_labels),
        host_config: Some(host_config),
        ..Default::default()
    };
    host.create_container(
        Some(CreateContainerOptions {
            name: Some(name.clone()),
            ..Default::default()
        }),
        body,
    )
    .await
    .map_err(|source| EngineError::CreateContainer {
        image: image.clone(),
        source,
    })?;

    let dind = DindContainer {
        container: name.clone(),
        volume: volume.clone(),
        keep_volume: place.reuse_volume,
    };
    match boot_dind(host, spec, driver, daemon, &name)
        .await
        .and_then(|booted| {
            check_image_store(place.containerd, &booted.1)?;
            Ok(booted)
        }) {
        Ok((docker, facts, ip)) => Ok(EngineHandle {
            name: spec.name.clone(),
            driver: driver_label.to_string(),
            docker,
            facts,
            publish_ip: ip,
            dind: Some(dind),
            address: EngineAddress::Tcp {
                url: format!("tcp://{}", std::net::SocketAddr::new(ip, 2375)),
                tls: None,
            },
            contact: None,
        }),
        Err(e) => {
            stop_dind(host, &dind).await;
            Err(e)
        }
    }
}

async fn boot_dind(
    host: &Docker,
    spec: &EngineSpec,
    driver: Option<&str>,
    daemon: Option<&serde_json::Value>,
    name: &str,
) -> Result<(Docker, EngineFacts, IpAddr), EngineError> {
    if let Some(daemon) = daemon {
        let json = serde_json::to_vec_pretty(daemon).unwrap_or_default();
        let tar = tar_one_file("etc/docker/daemon.json", &json);
        host.upload_to_container(
            name,
            Some(UploadToContainerOptions {
                path: "/".into(),
                ..Default::default()
            }),
            bollard::body_full(tar.into()),
        )
        .await
        .map_err(|source| EngineError::UploadConfig { source })?;
    }
    host.start_container(name, None)
        .await
        .map_err(|source| EngineError::StartContainer {
            name: name.to_string(),
            source,
        })?;

    let started = Instant::now();
    let mut delay = Duration::from_millis(100);
    let mut client: Option<(Docker, IpAddr)> = None;
    loop {
        let inspect =
            host.inspect_container(name, None)
                .await
                .map_err(|source| EngineError::Inspect {
                    name: name.to_string(),
                    source,
                })?;
        let state = inspect.state.clone().unwrap_or_default();
        if !state.running.unwrap_or(false) {
            let log = container_log_tail(host, name, 60).await;
            return Err(classify_exit(&log, state.exit_code.unwrap_or_default()));
        }
        if client.is_none() {
            let ip = inspect
                .network_settings
                .as_ref()
                .and_then(|n| n.networks.as_ref())
                .and_then(|nets| {
                    nets.values()
                        .find_map(|e| e.ip_address.clone().filter(|s| !s.is_empty()))
                })
                .and_then(|s| s.parse::<IpAddr>().ok());
            if let Some(ip) = ip {
                let url = format!("tcp://{ip}:2375");
                let docker =
                    Docker::connect_with_http(&url, API_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
                        .map_err(|source| EngineError::Connect { url, source })?;
                client = Some((docker, ip));
            }
        }
        if let Some((docker, ip)) = &client
            && docker.ping().await.is_ok()
        {
            let url = format!("tcp://{ip}:2375");
            let docker = docker
                .clone()
                .negotiate_version()
                .await
                .map_err(|source| EngineError::Connect { url, source })?;
            let mut facts = measure(&docker, &spec.name, "dind").await?;
            facts.env = spec
                .env
                .iter()
                .map(|(k, v)| (k.clone(), crate::secrets::mask_env(k, v)))
                .collect();
            if let Some(asked) = driver
                && facts.storage_driver != asked
            {
                return Err(EngineError::WrongDriver {
                    asked: asked.to_string(),
                    got: facts.storage_driver,
                });
            }
            return Ok((docker, facts, *ip));
        }
        if started.elapsed() > ENGINE_START_TIMEOUT {
            let log = container_log_tail(host, name, 40).await;
            return Err(EngineError::NotUp {
                what: format!(
                    "its API did not answer within {}s",
                    ENGINE_START_TIMEOUT.as_secs()
                ),
                log: log.join("\n"),
            });
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(1));
    }
}

/// What dockerd says when it refuses a configuration, as opposed to our container not
/// getting as far as running dockerd (a broken entrypoint, a missing device).
const REFUSAL_MARKERS: &[&str] = &[
    "failed to start daemon",
    "error initializing graphdriver",
    "unable to configure the docker daemon",
    "invalid daemon configuration",
    "driver not supported",
    "prerequisites for driver not satisfied",
    "directives are specified both as a flag and in the configuration file",
    "the following directives don't match any configuration option",
    // A flag this dockerd does not have: 20.10 has no `--feature`, so it cannot give a
    // cell the containerd image store.
    "unknown flag:",
];

fn classify_exit(log: &[String], exit_code: i64) -> EngineError {
    let is_refusal = |l: &String| {
        let lower = l.to_ascii_lowercase();
        REFUSAL_MARKERS.iter().any(|m| lower.contains(m))
    };
    if log.iter().any(is_refusal) {
        let reason_lines: Vec<&String> = log
            .iter()
            .filter(|l| {
                let lower = l.to_ascii_lowercase();
                is_refusal(l) || lower.contains("level=error") || lower.contains("level=fatal")
            })
            .collect();
        let tail: Vec<String> = reason_lines
            .iter()
            .rev()
            .take(3)
            .rev()
            .map(|l| clean_log_line(l))
            .collect();
        EngineError::Refused {
            reason: tail.join("\n"),
        }
    } else {
        EngineError::NotUp {
            what: format!(
                "it exited with code {exit_code} before dockerd reported anything of the configuration"
            ),
            log: log
                .iter()
                .rev()
                .take(20)
                .rev()
                .cloned()
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

/// Drops dockerd's timestamp prefix to keep reasons short.
fn clean_log_line(line: &str) -> String {
    let l = line.trim();
    if let Some(at) = l.find("msg=") {
        let msg = &l[at + 4..];
        return msg.trim_matches('"').replace("\\\"", "\"");
    }
    l.to_string()
}

/// The last `n` lines of a container's output (stdout and stderr), secrets masked.
pub async fn container_log_tail(docker: &Docker, container: &str, n: usize) -> Vec<String> {
    let mut stream = docker.logs(
        container,
        Some(LogsOptions {
            stdout: true,
            stderr: true,
            tail: n.to_string(),
            ..Default::default()
        }),
    );
    let mut text = Vec::new();
    while let Some(Ok(chunk)) = stream.next().await {
        text.extend_from_slice(&chunk.into_bytes());
    }
    String::from_utf8_lossy(&text)
        .lines()
        .map(crate::secrets::mask_urls)
        .collect()
}

/// Stops a dind engine the way a package upgrade does (SIGTERM, up to 30 s), then removes
/// its container and, unless it is kept for the next engine, its volume. Idempotent: what
/// is already gone is fine.
pub async fn stop_dind(host: &Docker, dind: &DindContainer) {
    stop_engine_container(host, &dind.container).await;
    if !dind.keep_volume {
        remove_volume(host, &dind.volume).await;
    }
}

/// SIGTERM, up to 30 s, as `systemctl stop docker` during a package upgrade; then the
/// container is removed (its data volume is not). Returns how long dockerd took to stop.
pub async fn stop_engine_container(host: &Docker, container: &str) -> Duration {
    let t = Instant::now();
    let _ = host
        .stop_container(
            container,
            Some(StopContainerOptions {
                t: Some(30),
                signal: None,
            }),
        )
        .await;
    let took = t.elapsed();
    let _ = host
        .remove_container(
            container,
            Some(RemoveContainerOptions {
                force: true,
                v: true,
                ..Default::default()
            }),
        )
        .await;
    took
}

/// Removes a volume; already gone is fine.
pub async fn remove_volume(host: &Docker, volume: &str) {
    let _ = host
        .remove_volume(volume, Some(RemoveVolumeOptions { force: true }))
        .await;
}

/// Releases an engine: a dind engine is stopped and removed, host and endpoint engines
/// are left as they are.
pub async fn release(host: &Docker, engine: &EngineHandle) {
    if let Some(d) = &engine.dind {
        // A frozen engine cannot act on SIGTERM: thaw it first, so that the stop takes
        // seconds, not the whole grace period.
        if let Some(EngineTrouble::Paused) = dind_trouble(host, engine).await {
            let _ = host.unpause_container(&d.container).await;
        }
        stop_dind(host, d).await;
    }
}

/// A tar archive holding one regular file (for daemon.json).
pub(crate) fn tar_one_file(path: &str, content: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 512];
    let put =
        |h: &mut [u8; 512], at: usize, bytes: &[u8]| h[at..at + bytes.len()].copy_from_slice(bytes);
    put(&mut header, 0, path.as_bytes());
    put(&mut header, 100, b"0000644\0");
    put(&mut header, 108, b"0000000\0");
    put(&mut header, 116, b"0000000\0");
    put(
        &mut header,
        124,
        format!("{:011o}\0", content.len()).as_bytes(),
    );
    put(&mut header, 136, b"00000000000\0");
    put(&mut header, 148, b"        ");
    header[156] = b'0';
    put(&mut header, 257, b"ustar\0");
    put(&mut header, 263, b"00");
    let sum: u32 = header.iter().map(|b| u32::from(*b)).sum();
    put(&mut header, 148, format!("{sum:06o}\0 ").as_bytes());
    let mut out = header.to_vec();
    out.extend_from_slice(content);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0u8; 1024]);
    out
}

/// Labels filter for listing a run's objects.
pub fn run_filter(run_id: Option<&str>) -> HashMap<String, Vec<String>> {
    let label = match run_id {
        Some(id) => format!("{}={id}", labels::RUN),
        None => labels::RUN.to_string(),
    };
    HashMap::from([("label".to_string(), vec![label])])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_told_from_our_faults() {
        let log = vec![
            "time=\"2026-11-27T09:00:00Z\" level=info msg=\"Starting up\"".to_string(),
            "time=\"2026-11-27T09:00:01Z\" level=error msg=\"failed to mount overlay: invalid argument\" storage-driver=btrfs".to_string(),
            "failed to start daemon: error initializing graphdriver: prerequisites for driver not satisfied (wrong filesystem?)".to_string(),
        ];
        match classify_exit(&log, 1) {
            EngineError::Refused { reason } => {
                assert!(
                    reason.contains("prerequisites for driver not satisfied"),
                    "{reason}"
                );
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        let ours = vec!["exec /usr/local/bin/entrypoint.sh: no such file or directory".to_string()];
        assert!(!classify_exit(&ours, 127).is_refusal());
        // 20.10's dockerd, asked for the containerd image store (seen on these machines).
        let flag = vec![
            "Status: unknown flag: --feature".to_string(),
            "See 'dockerd --help'., Code: 125".to_string(),
        ];
        match classify_exit(&flag, 1) {
            EngineError::Refused { reason } => {
                assert_eq!(reason, "Status: unknown flag: --feature");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn tls_files_are_checked_and_named_never_shown() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("missing-ca.pem");
        match check_tls_file("tls-ca", &missing, PemKind::Certificate) {
            Err(e @ EngineError::TlsRead { .. }) => {
                let msg = e.to_string();
                assert!(
                    msg.contains("tls-ca") && msg.contains("missing-ca.pem"),
                    "{msg}"
                );
            }
            other => panic!("expected a read error, got {other:?}"),
        }
        let key = dir.path().join("key.pem");
        std::fs::write(
            &key,
            "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n",
        )
        .expect("written");
        assert!(check_tls_file("tls-key", &key, PemKind::PrivateKey).is_ok());
        // A key where a certificate belongs: named, and its content never in the message.
        let e = check_tls_file("tls-cert", &key, PemKind::Certificate)
            .expect_err("a key is no certificate");
        let msg = e.to_string();
        assert!(
            msg.contains("tls-cert")
                && msg.contains("key.pem")
                && msg.contains("no PEM certificate"),
            "{msg}"
        );
        assert!(!msg.contains("c2VjcmV0"), "{msg}");
        let rsa = dir.path().join("rsa.pem");
        std::fs::write(&rsa, "-----BEGIN RSA PRIVATE KEY-----\nx\n").expect("written");
        assert!(check_tls_file("tls-key", &rsa, PemKind::PrivateKey).is_ok());
    }

    #[tokio::test]
    async fn tls_files_on_a_unix_socket_are_refused() {
        let files = crate::matrix::TlsFiles {
            ca: "ca.pem".into(),
            cert: "cert.pem".into(),
            key: "key.pem".into(),
        };
        let e = connect_endpoint("unix:///var/run/docker.sock", Some(&files))
            .await
            .expect_err("TLS over a unix socket");
        assert!(matches!(e, EngineError::TlsOverUnix { .. }), "{e:?}");
        assert!(!e.is_refusal());
    }

    #[test]
    fn tar_has_a_valid_header() {
        let t = tar_one_file("etc/docker/daemon.json", b"{}");
        assert_eq!(t.len() % 512, 0);
        assert_eq!(&t[257..262], b"ustar");
        let stored: u32 = u32::from_str_radix(std::str::from_utf8(&t[148..154]).expect("ascii"), 8)
            .expect("octal");
        let mut h = t[..512].to_vec();
        h[148..156].copy_from_slice(b"        ");
        assert_eq!(stored, h.iter().map(|b| u32::from(*b)).sum::<u32>());
    }
}
