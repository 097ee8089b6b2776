//! Engines under test: `dind` (an engine image started as a container on the host engine,
//! reached over its private IP, never a published port), `host` (the local engine as it
//! is) and `endpoint` (an existing daemon at a unix:// or tcp:// URL). Every engine is
//! measured — version, API, driver, containerd, runc, kernel, cgroups — never trusted.
//!
//! This file is the front door: the engine types, `start`/`connect` and `release`. The
//! dind lifecycle is in `dind.rs`, addresses and TLS files in `address.rs`, the measured
//! facts in `measure.rs`.

mod address;
pub mod admit;
pub mod cache;
pub mod clean;
pub mod daemon_lint;
mod dind;
mod docker_api;
pub mod host;
pub mod image_cache;
pub mod images;
pub mod labels;
mod measure;
pub mod preflight;
mod ssh;
mod trouble;
pub mod version;

pub use address::{EngineAddress, PemKind};
pub use dind::{DindPlace, remove_volume, start_dind, stop_engine_container};
pub use docker_api::{container_log_tail, is_not_found};
pub use measure::{CONTAINERD_DRIVER_TYPE, image_store, measure};
pub use trouble::{Contact, EngineTrouble, dind_trouble, settled_trouble};

use std::net::IpAddr;
use std::time::Duration;

use bollard::Docker;

use crate::matrix::{EngineSpec, EngineTarget};
use crate::results::EngineFacts;
#[cfg(feature = "tls")]
use address::check_tls_file;
use address::host_of_url;
use dind::stop_dind;
use labels::RunLabels;
use measure::check_image_store;

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
    /// An endpoint with tls-* keys, in a build without TLS.
    #[error(
        "{url} has tls-ca, tls-cert and tls-key, and this dockmatrix was built without TLS (cargo feature `tls`, on by default: `cargo install --locked --path .`)"
    )]
    NoTls { url: String },
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
    let name = spec.map_or_else(|| "host".to_string(), |s| s.name.clone());
    let target = spec.map_or(&EngineTarget::Host, |s| &s.target);
    let handle = match target {
        EngineTarget::Host => {
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
        EngineTarget::Endpoint(endpoint) => {
            let url = &endpoint.url;
            let docker = connect_endpoint(url, endpoint.tls.as_ref()).await?;
            let facts = measure(&docker, &name, "endpoint").await?;
            let publish_ip = host_of_url(url).unwrap_or(IpAddr::from([127, 0, 0, 1]));
            EngineHandle {
                name,
                driver: facts.storage_driver.clone(),
                contact: Some(Contact::watch(docker.clone())),
                docker,
                facts,
                publish_ip,
                dind: None,
                address: EngineAddress::of_endpoint(url, endpoint.tls.as_ref()),
            }
        }
        EngineTarget::Dind(dind) => {
            let mut place = DindPlace::shared(
                labels,
                &name,
                driver,
                config.daemon_config,
                config.containerd,
            );
            place.ro_folders = config.ro_folders.to_vec();
            start_dind(host, &name, dind, driver, config.daemon, &place).await?
        }
    };
    if let Some(asked) = driver
        && !matches!(target, EngineTarget::Dind(_))
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
        #[cfg(not(feature = "tls"))]
        (None, Some(_)) => return Err(EngineError::NoTls { url: shown }),
        #[cfg(feature = "tls")]
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
