//! A cell's stack: a private network, one container per service (aliased by its service
//! name, named after the cell), started in `depends-on` order, each waited for by a real
//! protocol handshake; resource figures collected while it runs; explicit teardown.

pub mod compose;
pub mod credentials;
pub mod env;
pub mod exec;
pub mod figures;
pub mod inventory;
pub mod ready;
pub mod target;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, NetworkCreateRequest, NetworkingConfig,
    PortBinding, RestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::{CreateContainerOptions, RemoveContainerOptions};
use indexmap::IndexMap;

use crate::engine::labels::{self, RunLabels};
use crate::engine::{EngineHandle, container_log_tail, is_not_found};
use crate::matrix::plan::CellPlan;
use crate::matrix::{Cell, Matrix, Restart, ServiceSpec};
use crate::results::ServiceRecord;
pub use target::{ServiceTarget, Target};

/// Where the cell's engine socket is, as the engine resolves a bind's source in its own
/// filesystem: a dind engine's socket inside its container (where it listens), the socket
/// we reach a host or unix:// engine at otherwise.
fn socket_source(engine: &EngineHandle) -> String {
    match &engine.address {
        crate::engine::EngineAddress::Unix(p) => p.display().to_string(),
        crate::engine::EngineAddress::Tcp { .. } => crate::matrix::socket::PATH.to_string(),
    }
}

/// Lines of a service's log kept in run.json when its cell did not pass.
pub const LOG_TAIL_LINES: usize = 40;

/// Why a stack could not be provisioned. `NotReady`, `Exited` and `OomKilled` say the
/// stack does not work on the combination (`fail`); the others are setup faults (`error`).
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error("failed to create network `{name}`")]
    CreateNetwork {
        name: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("failed to create the container of service `{service}` from image `{image}`")]
    CreateContainer {
        service: String,
        image: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("failed to start the container of service `{service}`")]
    StartContainer {
        service: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("failed to prepare the environment of service `{service}`")]
    Env {
        service: String,
        #[source]
        source: env::EnvError,
    },
    #[error("service `{service}` did not become ready within {}s ({last})", waited.as_secs())]
    NotReady {
        service: String,
        waited: Duration,
        last: String,
    },
    #[error("service `{service}` exited with code {code} before it was ready")]
    Exited { service: String, code: i64 },
    #[error("service `{service}` was OOM-killed (memory limit {limit})")]
    OomKilled { service: String, limit: String },
    #[error("service `{service}` has no published port {port}")]
    NoPort { service: String, port: u16 },
    #[error("the cell's compose stack is invalid:\n{0}")]
    Compose(String),
    #[error("failed to connect service `{service}` to network `{network}`")]
    ConnectNetwork {
        service: String,
        network: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("failed to copy `{path}` for service `{service}`: {why}")]
    Copy {
        service: String,
        path: String,
        why: String,
    },
    #[error("failed to copy files into the container of service `{service}`")]
    Upload {
        service: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("one-shot service `{service}` exited with code {code}; its log ends:\n{tail}")]
    JobFailed {
        service: String,
        code: i64,
        tail: String,
    },
    #[error("service `{service}` is unhealthy (its healthcheck said: {last})")]
    Unhealthy { service: String, last: String },
    #[error(
        "service `{service}` has no healthcheck, but a service waits for it with `service_healthy`"
    )]
    NoHealthcheck { service: String },
    #[error("failed to create volume `{name}` of service `{service}`")]
    CreateVolume {
        service: String,
        name: String,
        #[source]
        source: bollard::errors::Error,
    },
}

impl StackError {
    /// Whether the failure says the stack does not work here (`fail`) rather than that the
    /// setup broke (`error`).
    pub fn is_stack_failure(&self) -> bool {
        matches!(
            self,
            StackError::NotReady { .. }
                | StackError::Exited { .. }
                | StackError::OomKilled { .. }
                | StackError::JobFailed { .. }
                | StackError::Unhealthy { .. }
                | StackError::NoHealthcheck { .. }
        )
    }
}

/// One started service.
#[derive(Debug)]
pub struct RunningService {
    pub name: String,
    pub spec: ServiceSpec,
    pub image: String,
    pub container_id: String,
    pub container_name: String,
    pub ports: BTreeMap<u16, SocketAddr>,
    pub env: IndexMap<String, String>,
    /// Milliseconds from this service's own container start to its first good probe.
    pub ready_ms: Option<u64>,
    /// When its container was started (what `ready_ms` counts from).
    started: Instant,
    figures: figures::Collector,
    /// The cell's networks it was put on (the first at creation, the others connected).
    networks: Vec<String>,
}

/// A cell's stack on an engine; teardown removes whatever was created, however far
/// provisioning got.
#[derive(Debug)]
pub struct Stack {
    pub docker: Docker,
    pub network: String,
    /// The network's id once created (removal by id: names can be ambiguous).
    network_id: Option<String>,
    pub services: Vec<RunningService>,
    /// Containers created but not (yet) in `services`, for teardown.
    pending: Vec<String>,
    /// Named volumes of the services, for teardown.
    pub volumes: Vec<String>,
    /// Networks of the compose file besides the cell's own (ids), for teardown.
    extra_networks: Vec<String>,
    labels: HashMap<String, String>,
    /// The restart policy of services that name none (an upgrade cell's stack must come
    /// back by itself when the engine restarts).
    pub default_restart: Option<Restart>,
}

impl Stack {
    pub fn new(engine: &EngineHandle, run: &RunLabels, cell: &Cell) -> Stack {
        Stack {
            docker: engine.docker.clone(),
            // Cells of concurrent runs may share the host engine: names carry the run too.
            network: labels::object_name(&["dm", &run.run_id, &cell.id]),
            network_id: None,
            services: Vec::new(),
            pending: Vec::new(),
            volumes: Vec::new(),
            extra_networks: Vec::new(),
            labels: run.cell(&cell.id, ""),
            default_restart: None,
        }
    }

    /// Follows the stack to another engine holding the same containers (after an
    /// upgrade): the new engine's client, figures from it, published ports re-read.
    /// Returns, per service, whether its container is running again; a running one is
    /// waited for by its readiness probe.
    pub async fn reattach(&mut self, engine: &EngineHandle) -> Vec<(String, Result<(), String>)> {
        self.docker = engine.docker.clone();
        let docker = self.docker.clone();
        let mut out = Vec::new();
        for svc in &mut self.services {
            svc.figures.stop();
            svc.figures = figures::Collector::start(docker.clone(), svc.container_id.clone());
            let back = match ready::wait_running(&docker, &svc.container_id).await {
                Ok(()) => ready::wait(&docker, svc, engine.publish_ip)
                    .await
                    .map_err(|e| e.to_string()),
                Err(why) => Err(why),
            };
            out.push((svc.name.clone(), back));
        }
        out
    }

    /// Creates the network and starts every service in `depends-on` order, each waited
    /// for (by its readiness probe) before its dependents start.
    /// `on_ready(ready, of)` is told as each service becomes ready.
    pub async fn provision(
        &mut self,
        engine: &EngineHandle,
        matrix: &Matrix,
        cell: &Cell,
        plan: &CellPlan,
        on_ready: Option<&(dyn Fn(usize, usize) + Send + Sync)>,
    ) -> Result<(), StackError> {
        let created = self
            .docker
            .create_network(NetworkCreateRequest {
                name: self.network.clone(),
                driver: Some("bridge".into()),
                labels: Some(self.labels.clone()),
                ..Default::default()
            })
            .await
            .map_err(|source| StackError::CreateNetwork {
                name: self.network.clone(),
                source,
            })?;
        self.network_id = Some(created.id);
        let specs = matrix
            .cell_services(cell)
            .map_err(|d| StackError::Compose(d.to_string()))?;
        self.compose_objects(&cell.id, &specs).await?;
        // In waves: every service whose dependencies are ready starts now, and the wave's
        // services are waited for together (independent stores need not queue).
        let mut ready: Vec<&str> = Vec::new();
        let order: Vec<&ServiceSpec> = specs.iter().collect();
        let ready_count = std::sync::atomic::AtomicUsize::new(0);
        while ready.len() < order.len() {
            let wave: Vec<&ServiceSpec> = order
                .iter()
                .copied()
                .filter(|s| !ready.contains(&s.name.as_str()))
                .filter(|s| s.depends_on.iter().all(|d| ready.contains(&d.as_str())))
                .collect();
            if wave.is_empty() {
                break; // validation rules out cycles; never spin
            }
            let first = self.services.len();
            for spec in &wave {
                let image = plan.image(&spec.name).map_err(|e| StackError::Env {
                    service: spec.name.clone(),
                    source: env::EnvError::Template(e),
                })?;
                self.start_service(engine, cell, spec, image).await?;
            }
            let docker = self.docker.clone();
            let (count, of) = (&ready_count, order.len());
            let waits = self.services[first..].iter_mut().map(|svc| {
                let docker = docker.clone();
                let wait = compose::wait_kind(&specs, &svc.name);
                async move {
                    wait_service(&docker, svc, wait, engine.publish_ip).await?;
                    svc.ready_ms = Some(svc.started.elapsed().as_millis() as u64);
                    let n = count.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    if let Some(f) = on_ready {
                        f(n, of);
                    }
                    Ok::<(), StackError>(())
                }
            });
            for r in futures_util::future::join_all(waits).await {
                r?;
            }
            ready.extend(wave.iter().map(|s| s.name.as_str()));
        }
        Ok(())
    }

    async fn start_service(
        &mut self,
        engine: &EngineHandle,
        cell: &Cell,
        spec: &ServiceSpec,
        image: &str,
    ) -> Result<(), StackError> {
        let env = service_env(spec)?;
        // The resolved secrets (from the caller's environment) are masked in every output.
        crate::secrets::remember_env(env.iter());
        let container_name = labels::object_name(&["dm", self.run_id(), &cell.id, &spec.name]);
        let mut svc_labels = self.labels.clone();
        svc_labels.insert(labels::SERVICE.into(), spec.name.clone());
        let binds = self.binds(engine, cell, spec).await?;
        let mut body = self.container_body(spec, image, &env, binds, svc_labels);
        let after = match &spec.compose {
            Some(c) => Some(self.compose_body(&cell.id, c, engine, &mut body).await?),
            None => None,
        };
        let networks: Vec<String> = body
            .networking_config
            .iter()
            .flat_map(|n| n.endpoints_config.iter().flat_map(|e| e.keys().cloned()))
            .chain(
                after
                    .iter()
                    .flat_map(|a| a.connect.iter().map(|(n, _)| n.clone())),
            )
            .collect();
        let created = self
            .docker
            .create_container(
                Some(CreateContainerOptions {
                    name: Some(container_name.clone()),
                    ..Default::default()
                }),
                body,
            )
            .await
            .map_err(|source| StackError::CreateContainer {
                service: spec.name.clone(),
                image: image.to_string(),
                source,
            })?;
        self.pending.push(created.id.clone());
        if let Some(after) = after {
            self.compose_after(&spec.name, image, &created.id, after)
                .await?;
        }
        let started = Instant::now();
        self.docker
            .start_container(&created.id, None)
            .await
            .map_err(|source| StackError::StartContainer {
                service: spec.name.clone(),
                source,
            })?;
        let published = self
            .docker
            .inspect_container(&created.id, None)
            .await
            .map(|i| published_ports(&i, engine.publish_ip))
            .unwrap_or_default();
        let figures = figures::Collector::start(self.docker.clone(), created.id.clone());
        self.pending.retain(|id| id != &created.id);
        self.services.push(RunningService {
            name: spec.name.clone(),
            spec: spec.clone(),
            image: image.to_string(),
            container_id: created.id.clone(),
            container_name,
            ports: published,
            env,
            ready_ms: None,
            started,
            figures,
            networks,
        });
        Ok(())
    }

    /// A service's named volumes (created, one per cell) and the engine socket it asks
    /// for, as binds.
    async fn binds(
        &mut self,
        engine: &EngineHandle,
        cell: &Cell,
        spec: &ServiceSpec,
    ) -> Result<Vec<String>, StackError> {
        let mut binds = Vec::new();
        for (vol, mount) in &spec.volumes {
            let name = labels::object_name(&["dm", self.run_id(), &cell.id, &spec.name, vol]);
            let mut vol_labels = self.labels.clone();
            vol_labels.insert(labels::SERVICE.into(), spec.name.clone());
            self.docker
                .create_volume(bollard::models::VolumeCreateRequest {
                    name: Some(name.clone()),
                    labels: Some(vol_labels),
                    ..Default::default()
                })
                .await
                .map_err(|source| StackError::CreateVolume {
                    service: spec.name.clone(),
                    name: name.clone(),
                    source,
                })?;
            self.volumes.push(name.clone());
            binds.push(format!("{name}:{mount}"));
        }
        if spec.docker_socket {
            let path = crate::matrix::socket::PATH;
            binds.push(format!("{}:{path}", socket_source(engine)));
        }
        Ok(binds)
    }

    /// What the service's container is created with: its image, environment, command,
    /// labels, ephemeral published ports, limits, binds, restart policy and its network
    /// alias (a compose service's other keys are added by `compose_body`).
    fn container_body(
        &self,
        spec: &ServiceSpec,
        image: &str,
        env: &IndexMap<String, String>,
        binds: Vec<String>,
        svc_labels: HashMap<String, String>,
    ) -> ContainerCreateBody {
        let ports = ready::ports_to_publish(spec);
        let exposed: HashMap<String, HashMap<(), ()>> = ports
            .iter()
            .map(|p| (format!("{p}/tcp"), HashMap::new()))
            .collect();
        let bindings: HashMap<String, Option<Vec<PortBinding>>> = ports
            .iter()
            .map(|p| {
                (
                    format!("{p}/tcp"),
                    Some(vec![PortBinding {
                        host_ip: Some("0.0.0.0".into()),
                        host_port: Some(String::new()),
                    }]),
                )
            })
            .collect();
        ContainerCreateBody {
            image: Some(image.to_string()),
            env: Some(env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            cmd: spec.command.clone(),
            labels: Some(svc_labels),
            exposed_ports: Some(exposed.into_keys().collect()),
            host_config: Some(HostConfig {
                network_mode: Some(self.network.clone()),
                port_bindings: Some(bindings),
                memory: spec.memory.map(|m| m as i64),
                // Without a swap limit equal to the memory limit, the kernel swaps instead
                // of OOM-killing where swap exists.
                memory_swap: spec.memory.map(|m| m as i64),
                nano_cpus: spec.cpus.map(|c| (c * 1e9) as i64),
                binds: (!binds.is_empty()).then_some(binds),
                restart_policy: spec
                    .restart
                    .or(self.default_restart)
                    .map(|r| RestartPolicy {
                        name: Some(match r {
                            Restart::No => RestartPolicyNameEnum::NO,
                            Restart::OnFailure => RestartPolicyNameEnum::ON_FAILURE,
                            Restart::Always => RestartPolicyNameEnum::ALWAYS,
                            Restart::UnlessStopped => RestartPolicyNameEnum::UNLESS_STOPPED,
                        }),
                        maximum_retry_count: None,
                    }),
                ..Default::default()
            }),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    self.network.clone(),
                    EndpointSettings {
                        aliases: Some(vec![spec.name.clone()]),
                        ..Default::default()
                    },
                )])),
            }),
            ..Default::default()
        }
    }

    /// The run this stack belongs to.
    pub fn run_id(&self) -> &str {
        self.labels.get(labels::RUN).map_or("", String::as_str)
    }

    /// What checks need to know of the stack.
    pub fn target(&self, engine: &EngineHandle, cell: &Cell) -> Target {
        Target {
            docker: self.docker.clone(),
            network: self.network.clone(),
            cell: cell.clone(),
            engine_version: engine.facts.server_version.clone(),
            storage_driver: engine.facts.storage_driver.clone(),
            engine: engine.address.clone(),
            run_id: self.run_id().to_string(),
            services: self
                .services
                .iter()
                .map(|s| {
                    (
                        s.name.clone(),
                        ServiceTarget {
                            name: s.name.clone(),
                            kind: s.spec.kind,
                            container_id: s.container_id.clone(),
                            container_name: s.container_name.clone(),
                            ports: s.ports.clone(),
                            env: s.env.clone(),
                        },
                    )
                })
                .collect(),
        }
    }

    /// Per-service figures (peak memory, CPU, restarts, OOM kills) and, when `with_logs`,
    /// the last log lines with secrets masked.
    pub async fn service_records(&self, with_logs: bool) -> Vec<ServiceRecord> {
        let mut out = Vec::new();
        for s in &self.services {
            let f = s.figures.snapshot(&self.docker).await;
            let secrets: Vec<&str> = s
                .env
                .iter()
                .filter(|(k, _)| crate::secrets::is_secret_key(k))
                .map(|(_, v)| v.as_str())
                .collect();
            let (log_tail, lost_networks) = if with_logs {
                let tail = container_log_tail(&self.docker, &s.container_id, LOG_TAIL_LINES)
                    .await
                    .into_iter()
                    .map(|l| crate::secrets::redact_values(&l, secrets.iter().copied()))
                    .collect();
                (tail, self.lost_networks(s).await)
            } else {
                (Vec::new(), Vec::new())
            };
            out.push(ServiceRecord {
                name: s.name.clone(),
                kind: format!("{:?}", s.spec.kind).to_ascii_lowercase(),
                image: s.image.clone(),
                peak_memory_bytes: f.peak_memory_bytes,
                cpu_ms: f.cpu_ms,
                restarts: f.restarts,
                oom_killed: f.oom_killed,
                ready_ms: s.ready_ms,
                log_tail,
                exit_code: f.exit_code,
                lost_networks,
            });
        }
        out
    }

    /// The cell's networks `svc` was put on and is no longer on, each `NAME (removed)` or
    /// `NAME (disconnected)`. The stack never takes a service off its networks: this is
    /// someone else's doing (a cleanup job, a person, an engine that lost them).
    async fn lost_networks(&self, svc: &RunningService) -> Vec<String> {
        let Ok(inspect) = self.docker.inspect_container(&svc.container_id, None).await else {
            return Vec::new();
        };
        let on: Vec<String> = inspect
            .network_settings
            .and_then(|n| n.networks)
            .map(|m| m.into_keys().collect())
            .unwrap_or_default();
        let mut lost = Vec::new();
        for net in svc.networks.iter().filter(|n| !on.contains(n)) {
            let how = match self.docker.inspect_network(net, None).await {
                Err(e) if is_not_found(&e) => "removed",
                _ => "disconnected",
            };
            lost.push(format!("{net} ({how})"));
        }
        lost
    }

    /// Removes the stack's containers (with their anonymous volumes) and network.
    /// Idempotent: objects already gone are fine. Returns what could not be removed
    /// (for a warning; `clean` removes it later).
    pub async fn teardown(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        for s in &self.services {
            s.figures.stop();
        }
        let ids: Vec<String> = self
            .services
            .iter()
            .rev()
            .map(|s| s.container_id.clone())
            .chain(self.pending.iter().cloned())
            .collect();
        let removals = ids.iter().map(|id| {
            self.docker.remove_container(
                id,
                Some(RemoveContainerOptions {
                    force: true,
                    v: true,
                    ..Default::default()
                }),
            )
        });
        for r in futures_util::future::join_all(removals).await {
            if let Err(e) = r
                && !is_not_found(&e)
            {
                problems.push(format!("teardown: {e}"));
            }
        }
        self.services.clear();
        self.pending.clear();
        for v in std::mem::take(&mut self.volumes) {
            if let Err(e) = self
                .docker
                .remove_volume(&v, None::<bollard::query_parameters::RemoveVolumeOptions>)
                .await
                && !is_not_found(&e)
            {
                problems.push(format!("teardown of volume {v}: {e}"));
            }
        }
        for id in std::mem::take(&mut self.extra_networks) {
            if let Err(e) = self.docker.remove_network(&id).await
                && !is_not_found(&e)
            {
                problems.push(format!("teardown of network {id}: {e}"));
            }
        }
        if let Some(id) = &self.network_id {
            match self.docker.remove_network(id).await {
                Ok(()) => self.network_id = None,
                Err(e) if is_not_found(&e) => self.network_id = None,
                Err(e) => problems.push(format!("teardown of network {}: {e}", self.network)),
            }
        }
        problems
    }
}

/// A service's environment: a compose service's is interpolated already (`$$` gave a
/// literal `$`); a matrix service's `${VAR}`s are filled from the caller's environment.
fn service_env(spec: &ServiceSpec) -> Result<IndexMap<String, String>, StackError> {
    Ok(match &spec.compose {
        Some(_) => spec.env.clone(),
        None => env::resolve(&spec.env, &|k| std::env::var(k).ok()).map_err(|source| {
            StackError::Env {
                service: spec.name.clone(),
                source,
            }
        })?,
    })
}

/// Waits for a started service as its dependents need it: a one-shot job to exit 0, a
/// service another needs `service_healthy` to be healthy by the engine's healthcheck;
/// and then (not for one-shot jobs) its readiness probe: the kind's protocol handshake,
/// or its `ready`.
async fn wait_service(
    docker: &Docker,
    svc: &mut RunningService,
    wait: crate::compose::Condition,
    publish_ip: std::net::IpAddr,
) -> Result<(), StackError> {
    use crate::compose::Condition;
    let one_shot = svc.spec.compose.as_ref().is_some_and(|c| c.one_shot);
    if one_shot || wait == Condition::ServiceCompletedSuccessfully {
        return compose::wait_completed(
            docker,
            &svc.name,
            &svc.container_id,
            svc.spec.ready_timeout,
        )
        .await;
    }
    if wait == Condition::ServiceHealthy {
        compose::wait_healthy(docker, &svc.name, &svc.container_id, svc.spec.ready_timeout).await?;
    }
    ready::wait(docker, svc, publish_ip).await
}

/// Container port → where this process reaches it, from a container's inspect.
pub fn published_ports(
    inspect: &bollard::models::ContainerInspectResponse,
    publish_ip: std::net::IpAddr,
) -> BTreeMap<u16, SocketAddr> {
    let mut out = BTreeMap::new();
    let Some(port_map) = inspect
        .network_settings
        .as_ref()
        .and_then(|n| n.ports.as_ref())
    else {
        return out;
    };
    for (key, binds) in port_map {
        let Some(cport) = key.split('/').next().and_then(|p| p.parse::<u16>().ok()) else {
            continue;
        };
        let host_port = binds
            .iter()
            .flatten()
            .filter_map(|b| b.host_port.as_deref()?.parse::<u16>().ok())
            .next();
        if let Some(hp) = host_port {
            out.insert(cport, SocketAddr::new(publish_ip, hp));
        }
    }
    out
}
