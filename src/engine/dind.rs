//! The dind engine's lifecycle: its place (container and data volume), its start (the
//! container, daemon.json, waiting for the API, measuring it), telling dockerd's refusal
//! of a configuration (`unsupported`) from our own failure to run it, and its stop.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{ContainerCreateBody, DeviceMapping, HostConfig, VolumeCreateRequest};
use bollard::query_parameters::{
    CreateContainerOptions, RemoveContainerOptions, RemoveVolumeOptions, StopContainerOptions,
    UploadToContainerOptions,
};

use super::labels::{self, RunLabels};
use super::measure::{check_image_store, measure};
use super::{
    API_TIMEOUT_SECS, DindContainer, ENGINE_START_TIMEOUT, EngineAddress, EngineError,
    EngineHandle, container_log_tail,
};
use crate::matrix::DindSpec;
use crate::results::EngineFacts;

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

/// Starts dind engine `engine` of `spec` at `place`: its container on the host engine,
/// its `/var/lib/docker` on the place's volume (created unless reused).
pub async fn start_dind(
    host: &Docker,
    engine: &str,
    spec: &DindSpec,
    driver: Option<&str>,
    daemon: Option<&serde_json::Value>,
    place: &DindPlace,
) -> Result<EngineHandle, EngineError> {
    let image = spec.image.clone();
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

    let privileged = spec.privileged();
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
    match boot_dind(host, engine, spec, driver, daemon, &name)
        .await
        .and_then(|booted| {
            check_image_store(place.containerd, &booted.1)?;
            Ok(booted)
        }) {
        Ok((docker, facts, ip)) => Ok(EngineHandle {
            name: engine.to_string(),
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
    engine: &str,
    spec: &DindSpec,
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
            let mut facts = measure(&docker, engine, "dind").await?;
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
