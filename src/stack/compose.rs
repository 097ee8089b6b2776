//! What a compose service adds to its container: compose's container options, its
//! networks and named volumes (each the cell's own), its bind mounts (bound from the
//! compose folder, which dind engines see at the same path, or copied into the cell
//! where the engine cannot see it or the service may write; a read-only copy stays
//! read-only), the engine's socket, and compose's `depends_on` conditions (the engine's
//! health status, a one-shot job's exit code).

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HealthConfig, HealthStatusEnum, HostConfig, Mount,
    MountTmpfsOptions, MountType, MountVolumeOptions, NetworkConnectRequest, NetworkCreateRequest,
    ResourcesUlimits,
};
use bollard::query_parameters::{
    CreateContainerOptions, RemoveContainerOptions, UploadToContainerOptions,
};

use super::{Stack, StackError};
use crate::compose::{ComposeService, Condition, MountSource};
use crate::engine::{EngineHandle, labels};
use crate::matrix::ServiceSpec;

/// A copied bind is read into memory as a tar: more than a test stack's init scripts
/// and fixtures, less than the memory of a 2-core machine.
const MAX_COPY_BYTES: u64 = 256 << 20;

/// What a service's dependents wait for before they start: the strongest condition any
/// of them names.
pub fn wait_kind(specs: &[ServiceSpec], service: &str) -> Condition {
    let mut out = Condition::ServiceStarted;
    for s in specs {
        let Some(c) = &s.compose else { continue };
        for d in c.depends_on.iter().filter(|d| d.service == service) {
            out = match (out, d.condition) {
                (_, Condition::ServiceCompletedSuccessfully)
                | (Condition::ServiceCompletedSuccessfully, _) => {
                    Condition::ServiceCompletedSuccessfully
                }
                (_, Condition::ServiceHealthy) | (Condition::ServiceHealthy, _) => {
                    Condition::ServiceHealthy
                }
                _ => Condition::ServiceStarted,
            };
        }
    }
    out
}

fn nanos(d: Option<Duration>) -> Option<i64> {
    d.map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

impl Stack {
    /// The Docker name of a compose network of this cell (`default` is the cell's own).
    pub(super) fn network_name(&self, cell: &str, compose_name: &str) -> String {
        if compose_name == "default" {
            self.network.clone()
        } else {
            labels::object_name(&["dm", self.run_id(), cell, "net", compose_name])
        }
    }

    /// The Docker name of a named volume of this cell, shared by its services.
    fn volume_name(&self, cell: &str, compose_name: &str) -> String {
        labels::object_name(&["dm", self.run_id(), cell, "vol", compose_name])
    }

    /// Creates the cell's compose networks (besides the default one) and named volumes.
    pub(super) async fn compose_objects(
        &mut self,
        cell: &str,
        specs: &[ServiceSpec],
    ) -> Result<(), StackError> {
        let mut nets: Vec<String> = Vec::new();
        let mut vols: Vec<String> = Vec::new();
        for c in specs.iter().filter_map(|s| s.compose.as_deref()) {
            for n in &c.networks {
                if n.name != "default" && !nets.contains(&n.name) {
                    nets.push(n.name.clone());
                }
            }
            for m in &c.mounts {
                if let MountSource::Volume { name } = &m.source
                    && !vols.contains(name)
                {
                    vols.push(name.clone());
                }
            }
        }
        for n in nets {
            let name = self.network_name(cell, &n);
            let created = self
                .docker
                .create_network(NetworkCreateRequest {
                    name: name.clone(),
                    driver: Some("bridge".into()),
                    labels: Some(self.labels.clone()),
                    ..Default::default()
                })
                .await
                .map_err(|source| StackError::CreateNetwork {
                    name: name.clone(),
                    source,
                })?;
            self.extra_networks.push(created.id);
        }
        for v in vols {
            let name = self.volume_name(cell, &v);
            self.create_volume(&name, &v).await?;
        }
        Ok(())
    }

    /// Creates a volume of the cell; returns where the engine keeps its content (its
    /// mountpoint, in the engine's own filesystem).
    async fn create_volume(&mut self, name: &str, service: &str) -> Result<String, StackError> {
        let created = self
            .docker
            .create_volume(bollard::models::VolumeCreateRequest {
                name: Some(name.to_string()),
                labels: Some(self.labels.clone()),
                ..Default::default()
            })
            .await
            .map_err(|source| StackError::CreateVolume {
                service: service.to_string(),
                name: name.to_string(),
                source,
            })?;
        self.volumes.push(name.to_string());
        Ok(created.mountpoint)
    }

    /// Adds the compose service's options to its container's body; returns the copies
    /// to make into the container once it is created (file binds) and the networks to
    /// connect it to after the first.
    pub(super) async fn compose_body(
        &mut self,
        cell: &str,
        c: &ComposeService,
        engine: &EngineHandle,
        body: &mut ContainerCreateBody,
    ) -> Result<ComposeAfter, StackError> {
        let mut after = ComposeAfter::default();
        container_options(c, body);
        let image = body.image.clone().unwrap_or_default();
        host_options(c, body.host_config.get_or_insert_with(HostConfig::default));
        let mounts = self.mounts(cell, c, engine, &image, &mut after).await?;
        let hc = body.host_config.get_or_insert_with(HostConfig::default);
        hc.mounts = (!mounts.is_empty()).then_some(mounts);
        self.networks(cell, c, body, &mut after);
        Ok(after)
    }

    /// The service's mounts, each the cell's own: named and anonymous volumes, tmpfs, the
    /// engine's socket and binds (see [`Stack::bind_mount`]); what is copied in once the
    /// container exists goes into `after`.
    async fn mounts(
        &mut self,
        cell: &str,
        c: &ComposeService,
        engine: &EngineHandle,
        image: &str,
        after: &mut ComposeAfter,
    ) -> Result<Vec<Mount>, StackError> {
        let mut mounts = Vec::new();
        for (i, m) in c.mounts.iter().enumerate() {
            let mut mount = Mount {
                target: Some(m.target.clone()),
                read_only: Some(m.read_only),
                ..Default::default()
            };
            match &m.source {
                MountSource::Volume { name } => {
                    mount.typ = Some(MountType::VOLUME);
                    mount.source = Some(self.volume_name(cell, name));
                    mount.volume_options = m.nocopy.then(|| MountVolumeOptions {
                        no_copy: Some(true),
                        ..Default::default()
                    });
                }
                MountSource::Anonymous => mount.typ = Some(MountType::VOLUME),
                MountSource::Tmpfs { size } => {
                    mount.typ = Some(MountType::TMPFS);
                    mount.tmpfs_options = size.map(|s| MountTmpfsOptions {
                        size_bytes: Some(s as i64),
                        ..Default::default()
                    });
                }
                MountSource::DockerSocket => {
                    mount.typ = Some(MountType::BIND);
                    mount.source = Some(super::socket_source(engine));
                }
                MountSource::Bind { path, is_dir } => {
                    let bind = Bind {
                        cell,
                        service: &c.name,
                        index: i,
                        mount: m,
                        path,
                        is_dir: *is_dir,
                    };
                    let Some((typ, source)) = self.bind_mount(&bind, engine, image, after).await?
                    else {
                        // A writable file: copied into the container, not mounted.
                        continue;
                    };
                    mount.typ = Some(typ);
                    mount.source = Some(source);
                }
            }
            mounts.push(mount);
        }
        Ok(mounts)
    }

    /// A bind as a mount's type and source; `None` for a writable file, which is copied
    /// into the container before it starts (into `after`).
    async fn bind_mount(
        &mut self,
        bind: &Bind<'_>,
        engine: &EngineHandle,
        image: &str,
        after: &mut ComposeAfter,
    ) -> Result<Option<(MountType, String)>, StackError> {
        let (path, read_only) = (bind.path, bind.mount.read_only);
        // The engine sees the compose folder at the same path (dind: mounted read-only
        // into the engine container; host: it is the host's); an endpoint engine does not.
        let engine_sees_folder = engine.facts.kind != "endpoint";
        if read_only && engine_sees_folder {
            return Ok(Some((MountType::BIND, path.to_string_lossy().into_owned())));
        }
        if !bind.is_dir && !read_only {
            after
                .copy_files
                .push((path.to_path_buf(), bind.mount.target.clone()));
            return Ok(None);
        }
        let name = labels::object_name(&[
            "dm",
            self.run_id(),
            bind.cell,
            bind.service,
            "bind",
            &bind.index.to_string(),
        ]);
        if bind.is_dir {
            // A copy of the folder in a volume of the cell: the service may write,
            // neither into the user's folder nor another cell's.
            self.create_volume(&name, bind.service).await?;
            after.seed_volumes.push((name.clone(), path.to_path_buf()));
            return Ok(Some((MountType::VOLUME, name)));
        }
        let source = self.read_only_file(bind, &name, image).await?;
        Ok(Some((MountType::BIND, source)))
    }

    /// A read-only file the engine cannot see: copied into volume `name` of the cell, and
    /// that one file bound read-only from where the engine keeps the volume (a copy into
    /// the container would be writable; a volume's subpath needs API 1.45). Returns the
    /// bind's source.
    async fn read_only_file(
        &mut self,
        bind: &Bind<'_>,
        name: &str,
        image: &str,
    ) -> Result<String, StackError> {
        let mountpoint = self.create_volume(name, bind.service).await?;
        let copy = |why: String| StackError::Copy {
            service: bind.service.to_string(),
            path: bind.path.display().to_string(),
            why,
        };
        if mountpoint.is_empty() {
            return Err(copy(format!(
                "the engine names no mountpoint for volume `{name}`, so the file cannot be bound read-only from it"
            )));
        }
        let file = bind
            .path
            .file_name()
            .map_or_else(|| "file".into(), |f| f.to_string_lossy().into_owned());
        let tar = tar_of(bind.path, Some(&file)).map_err(copy)?;
        // Before the container is created: a bind's source must exist then.
        self.seed_volume(bind.service, image, name, tar).await?;
        Ok(format!("{}/{file}", mountpoint.trim_end_matches('/')))
    }

    /// The service's networks, each the cell's own, with the service's name among its
    /// aliases: the first given at creation (engines before API 1.44 take one), the
    /// others connected before the start (into `after`).
    fn networks(
        &self,
        cell: &str,
        c: &ComposeService,
        body: &mut ContainerCreateBody,
        after: &mut ComposeAfter,
    ) {
        let mut nets = c.networks.iter();
        if let Some(first) = nets.next() {
            let name = self.network_name(cell, &first.name);
            body.host_config
                .get_or_insert_with(HostConfig::default)
                .network_mode = Some(name.clone());
            let mut aliases = vec![c.name.clone()];
            aliases.extend(first.aliases.iter().cloned());
            body.networking_config = Some(bollard::models::NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    name,
                    EndpointSettings {
                        aliases: Some(aliases),
                        ..Default::default()
                    },
                )])),
            });
        }
        for n in nets {
            let mut aliases = vec![c.name.clone()];
            aliases.extend(n.aliases.iter().cloned());
            after
                .connect
                .push((self.network_name(cell, &n.name), aliases));
        }
    }

    /// Seeds copied binds and connects further networks, once the container exists.
    pub(super) async fn compose_after(
        &self,
        service: &str,
        image: &str,
        container: &str,
        after: ComposeAfter,
    ) -> Result<(), StackError> {
        for (net, aliases) in after.connect {
            self.docker
                .connect_network(
                    &net,
                    NetworkConnectRequest {
                        container: container.to_string(),
                        endpoint_config: Some(EndpointSettings {
                            aliases: Some(aliases),
                            ..Default::default()
                        }),
                    },
                )
                .await
                .map_err(|source| StackError::ConnectNetwork {
                    service: service.to_string(),
                    network: net.clone(),
                    source,
                })?;
        }
        for (volume, dir) in after.seed_volumes {
            let tar = tar_of(&dir, None).map_err(|why| StackError::Copy {
                service: service.to_string(),
                path: dir.display().to_string(),
                why,
            })?;
            self.seed_volume(service, image, &volume, tar).await?;
        }
        for (file, target) in after.copy_files {
            let tar = tar_of(&file, Some(&target)).map_err(|why| StackError::Copy {
                service: service.to_string(),
                path: file.display().to_string(),
                why,
            })?;
            self.upload(service, container, "/", tar).await?;
        }
        Ok(())
    }

    /// Fills a volume through a container of the service's own image that is created
    /// but never started (the archive API writes into a stopped container's mounts), so
    /// no helper image is needed on the engine.
    async fn seed_volume(
        &self,
        service: &str,
        image: &str,
        volume: &str,
        tar: Vec<u8>,
    ) -> Result<(), StackError> {
        let name = format!("{volume}-seed");
        let created = self
            .docker
            .create_container(
                Some(CreateContainerOptions {
                    name: Some(name.clone()),
                    ..Default::default()
                }),
                ContainerCreateBody {
                    image: Some(image.to_string()),
                    labels: Some(self.labels.clone()),
                    entrypoint: Some(vec!["/seed".into()]),
                    host_config: Some(HostConfig {
                        mounts: Some(vec![Mount {
                            target: Some("/seed".into()),
                            source: Some(volume.to_string()),
                            typ: Some(MountType::VOLUME),
                            ..Default::default()
                        }]),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            )
            .await
            .map_err(|source| StackError::CreateContainer {
                service: service.to_string(),
                image: image.to_string(),
                source,
            })?;
        let r = self.upload(service, &created.id, "/seed", tar).await;
        // With its anonymous volumes: the image's own VOLUMEs (redis: /data) would
        // otherwise stay behind, unlabelled, on an engine that outlives the cell.
        let _ = self
            .docker
            .remove_container(
                &created.id,
                Some(RemoveContainerOptions {
                    force: true,
                    v: true,
                    ..Default::default()
                }),
            )
            .await;
        r
    }

    async fn upload(
        &self,
        service: &str,
        container: &str,
        path: &str,
        tar: Vec<u8>,
    ) -> Result<(), StackError> {
        self.docker
            .upload_to_container(
                container,
                Some(UploadToContainerOptions {
                    path: path.to_string(),
                    ..Default::default()
                }),
                bollard::body_full(tar.into()),
            )
            .await
            .map_err(|source| StackError::Upload {
                service: service.to_string(),
                source,
            })
    }
}

/// What is left to do once a compose service's container exists.
#[derive(Debug, Default)]
pub(super) struct ComposeAfter {
    /// (network, aliases)
    pub(super) connect: Vec<(String, Vec<String>)>,
    /// (volume, folder whose content seeds it)
    seed_volumes: Vec<(String, std::path::PathBuf)>,
    /// (file, path in the container)
    copy_files: Vec<(std::path::PathBuf, String)>,
}

/// Compose's options of the container itself: entrypoint, user, working folder, host
/// and domain name, stop signal and grace period, tty and stdin, its labels (ours
/// win), exposed ports and healthcheck.
fn container_options(c: &ComposeService, body: &mut ContainerCreateBody) {
    body.entrypoint = c.entrypoint.clone();
    body.user = c.user.clone();
    body.working_dir = c.working_dir.clone();
    body.hostname = c.hostname.clone();
    body.domainname = c.domainname.clone();
    body.stop_signal = c.stop_signal.clone();
    body.stop_timeout = c.stop_grace_period.map(|d| d.as_secs() as i64);
    body.tty = Some(c.tty);
    body.open_stdin = Some(c.stdin_open);
    if let Some(labels) = body.labels.as_mut() {
        for (k, v) in &c.labels {
            labels.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    if let Some(exposed) = body.exposed_ports.as_mut() {
        for p in &c.expose {
            let k = format!("{p}/tcp");
            if !exposed.contains(&k) {
                exposed.push(k);
            }
        }
    }
    body.healthcheck = c.healthcheck.as_ref().map(|h| HealthConfig {
        test: Some(h.test.clone()),
        interval: nanos(h.interval),
        timeout: nanos(h.timeout),
        retries: h.retries.map(i64::from),
        start_period: nanos(h.start_period),
        start_interval: nanos(h.start_interval),
    });
}

/// Compose's options of the container's host: capabilities, ulimits, sysctls, shm size,
/// extra hosts, DNS, init, privileged, read-only root and pids limit.
fn host_options(c: &ComposeService, hc: &mut HostConfig) {
    hc.cap_add = (!c.cap_add.is_empty()).then(|| c.cap_add.clone());
    hc.cap_drop = (!c.cap_drop.is_empty()).then(|| c.cap_drop.clone());
    hc.ulimits = (!c.ulimits.is_empty()).then(|| {
        c.ulimits
            .iter()
            .map(|(n, s, h)| ResourcesUlimits {
                name: Some(n.clone()),
                soft: Some(*s),
                hard: Some(*h),
            })
            .collect()
    });
    hc.sysctls = (!c.sysctls.is_empty()).then(|| {
        c.sysctls
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    });
    hc.shm_size = c.shm_size.map(|s| s as i64);
    hc.extra_hosts = (!c.extra_hosts.is_empty()).then(|| c.extra_hosts.clone());
    hc.dns = (!c.dns.is_empty()).then(|| c.dns.clone());
    hc.init = c.init;
    hc.privileged = Some(c.privileged);
    hc.readonly_rootfs = Some(c.read_only);
    hc.pids_limit = c.pids_limit;
}

/// One bind of a compose service, and where it is written.
struct Bind<'a> {
    cell: &'a str,
    service: &'a str,
    /// Its place among the service's mounts (it names the cell's volume for a copy).
    index: usize,
    mount: &'a crate::compose::Mount,
    path: &'a Path,
    is_dir: bool,
}

/// A tar of a folder's content (`at` = None), or of one file placed at the absolute
/// path `at` (its parent folders included).
fn tar_of(path: &Path, at: Option<&str>) -> Result<Vec<u8>, String> {
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(true);
    let size = dir_size(path);
    if size > MAX_COPY_BYTES {
        return Err(format!(
            "{size} bytes is more than the {} MiB a bind may copy",
            MAX_COPY_BYTES >> 20
        ));
    }
    match at {
        None => b.append_dir_all(".", path).map_err(|e| e.to_string())?,
        Some(target) => {
            let rel = target.trim_start_matches('/');
            let mut f = std::fs::File::open(path).map_err(|e| e.to_string())?;
            b.append_file(rel, &mut f).map_err(|e| e.to_string())?;
        }
    }
    b.into_inner().map_err(|e| e.to_string())
}

fn dir_size(path: &Path) -> u64 {
    let Ok(meta) = std::fs::metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path)
        .map(|rd| rd.flatten().map(|e| dir_size(&e.path())).sum())
        .unwrap_or(0)
}

/// Waits until a one-shot job exits: `Ok` on exit 0; its exit code otherwise.
pub async fn wait_completed(
    docker: &Docker,
    service: &str,
    container: &str,
    timeout: Duration,
) -> Result<(), StackError> {
    let started = Instant::now();
    let mut delay = Duration::from_millis(50);
    loop {
        let state = docker
            .inspect_container(container, None)
            .await
            .ok()
            .and_then(|i| i.state);
        if let Some(s) = state
            && !s.running.unwrap_or(false)
            && !s.restarting.unwrap_or(false)
            && s.status.as_ref().map(|x| x.to_string()).as_deref() != Some("created")
        {
            let code = s.exit_code.unwrap_or_default();
            if code == 0 {
                return Ok(());
            }
            let tail = crate::engine::container_log_tail(docker, container, 10).await;
            return Err(StackError::JobFailed {
                service: service.to_string(),
                code,
                tail: crate::secrets::mask_urls(&tail.join("\n")),
            });
        }
        if started.elapsed() >= timeout {
            return Err(StackError::NotReady {
                service: service.to_string(),
                waited: timeout,
                last: "the one-shot job is still running".into(),
            });
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(500));
    }
}

/// Waits until the engine reports the container healthy (Docker runs the healthcheck).
pub async fn wait_healthy(
    docker: &Docker,
    service: &str,
    container: &str,
    timeout: Duration,
) -> Result<(), StackError> {
    let started = Instant::now();
    let mut delay = Duration::from_millis(50);
    loop {
        let inspect = docker.inspect_container(container, None).await.ok();
        let state = inspect.and_then(|i| i.state).unwrap_or_default();
        if !state.running.unwrap_or(false) && !state.restarting.unwrap_or(false) {
            return Err(StackError::Exited {
                service: service.to_string(),
                code: state.exit_code.unwrap_or_default(),
            });
        }
        let last_output = || {
            state
                .health
                .as_ref()
                .and_then(|h| h.log.as_ref())
                .and_then(|l| l.last())
                .and_then(|r| r.output.clone())
                .unwrap_or_default()
                .trim()
                .to_string()
        };
        match state.health.as_ref().and_then(|h| h.status) {
            Some(HealthStatusEnum::HEALTHY) => return Ok(()),
            Some(HealthStatusEnum::UNHEALTHY) => {
                return Err(StackError::Unhealthy {
                    service: service.to_string(),
                    last: crate::secrets::mask_urls(&last_output()),
                });
            }
            None | Some(HealthStatusEnum::NONE) | Some(HealthStatusEnum::EMPTY) => {
                return Err(StackError::NoHealthcheck {
                    service: service.to_string(),
                });
            }
            Some(HealthStatusEnum::STARTING) => {}
        }
        if started.elapsed() >= timeout {
            return Err(StackError::NotReady {
                service: service.to_string(),
                waited: timeout,
                last: format!("health status still `starting` ({})", last_output()),
            });
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(500));
    }
}
