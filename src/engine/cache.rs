//! Warm engines across runs: a dind engine's data volume (its `/var/lib/docker`, with the
//! images loaded into it) is kept after the run as a cache, and a later run starts the
//! same engine configuration on it, so that only images whose ids are missing are loaded.
//!
//! - **Key**: a SHA-256 of what makes one engine's data usable by another: the engine
//!   image's id (not its tag: a rebuilt image is another engine), the storage driver, the
//!   image store (graphdriver or containerd, from the daemon.json `features` or the
//!   arguments), the daemon.json (canonical JSON), dockerd's extra arguments and the
//!   privileged mode. The volume is `dm-cache-<key>`, labelled `io.dockmatrix.cache=<key>`
//!   and with the run labels of the run that created it (Docker cannot relabel a volume;
//!   the run that last used it is in the cache's state file).
//! - **Lease**: one engine at a time. The lease is a container named
//!   `dm-cache-<key>-lease` (created, never started, carrying the run and owner labels):
//!   Docker's unique container names make taking it atomic across processes. A run that
//!   finds it held by a live owner starts a fresh per-run volume instead; one held by a
//!   dead owner (a killed run) means the engine did not stop cleanly.
//! - **Clean stop**: a state file per key (`<cache dir>/engines/<key>.json`) says `in-use`
//!   while leased and `clean` only once dockerd exited by itself on SIGTERM (exit 0 or
//!   143, within the stop timeout). A cache found `in-use`, without a state, or leased by a
//!   dead owner is thrown away and the engine starts on a fresh volume (so a killed or
//!   crashed engine's half-written data is never reused).
//! - **Before use**: a cached engine is emptied of everything but the engine's defaults
//!   (containers, networks other than bridge/host/none, volumes) before any cell runs on
//!   it: a crashed cell's leftovers must not change the next run.
//! - **Budget**: after a release, least recently used caches (by the state's `last_used`)
//!   are removed, never a leased one, until their volumes' total size is within
//!   `DOCKMATRIX_ENGINE_CACHE_BUDGET` (bytes, or with a `k`/`m`/`g` suffix; default 20g).
//! - `clean` and `clean --all` leave cache volumes; [`remove_all`] (`clean --cache`) removes
//!   every cache no live run holds. Upgrade cells never use a cache (they start their own
//!   engines on purpose-made volumes), nor do engines with `data-volume-opts` (their
//!   volume is of a kind of their own: a tmpfs, a size).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use bollard::Docker;
use bollard::models::{ContainerCreateBody, VolumeCreateRequest};
use bollard::query_parameters::{
    CreateContainerOptions, InspectContainerOptions, ListContainersOptions, ListNetworksOptions,
    ListVolumesOptions, RemoveContainerOptions, RemoveVolumeOptions, StopContainerOptions,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::labels::{self, RunLabels, owner_alive};
use super::{Config, DindContainer, DindPlace, EngineError, EngineHandle};
use crate::matrix::{DindSpec, EngineSpec};

/// Whether an engine started on a cache (`cached`) or on an empty volume (`fresh`), as
/// run.json and the reports say it.
pub const FRESH: &str = "fresh";
pub const CACHED: &str = "cached";

/// The default disk budget of all caches together.
const DEFAULT_BUDGET_BYTES: u64 = 20 << 30;

/// What makes two engines' data interchangeable, hashed.
pub fn key(
    image_id: &str,
    driver: Option<&str>,
    daemon: Option<&serde_json::Value>,
    containerd: bool,
    spec: &DindSpec,
) -> String {
    let daemon_text = daemon.map(canonical_json).unwrap_or_default();
    // The `image-store` axis turns the store on as surely as daemon.json or an argument.
    let image_store = if containerd {
        "containerd"
    } else {
        image_store(daemon, &spec.args)
    };
    // dockerd's environment (`[engines.X] env`) changes what the engine is.
    let mut env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    env.sort();
    let privileged = spec.privileged();
    let mut h = Sha256::new();
    for part in [
        image_id,
        driver.unwrap_or("default"),
        image_store,
        &daemon_text,
        &spec.args.join("\u{1f}"),
        &env.join("\u{1f}"),
        if privileged { "privileged" } else { "caps" },
    ] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    let digest = h.finalize();
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// `containerd` when the daemon.json or the arguments turn the containerd image store on.
fn image_store(daemon: Option<&serde_json::Value>, args: &[String]) -> &'static str {
    let in_json = daemon
        .and_then(|d| d.get("features"))
        .and_then(|f| f.get("containerd-snapshotter"))
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false);
    let in_args = args
        .iter()
        .any(|a| a.contains("containerd-snapshotter=true") || a == "containerd-snapshotter");
    if in_json || in_args {
        "containerd"
    } else {
        "graphdriver"
    }
}

/// JSON with object keys sorted at every level, so that key order does not change a key.
fn canonical_json(v: &serde_json::Value) -> String {
    fn sorted(v: &serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                let mut out = serde_json::Map::new();
                for k in keys {
                    out.insert(k.clone(), sorted(&m[k]));
                }
                serde_json::Value::Object(out)
            }
            serde_json::Value::Array(a) => serde_json::Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(v).to_string()
}

/// The state of one cache, kept beside the image cache.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    /// `in-use` while leased, `clean` after a clean stop.
    state: String,
    /// The run that last used it.
    run_id: String,
    /// Seconds since the epoch.
    last_used: u64,
}

fn state_path(key: &str) -> PathBuf {
    super::images::cache_dir()
        .join("engines")
        .join(format!("{key}.json"))
}

fn read_state(key: &str) -> Option<State> {
    let text = std::fs::read_to_string(state_path(key)).ok()?;
    serde_json::from_str(&text).ok()
}

fn write_state(key: &str, state: &State) {
    let path = state_path(key);
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    // Written whole then renamed: a reader never sees half a state.
    let tmp = path.with_extension(format!("json.{}", std::process::id()));
    if let Ok(text) = serde_json::to_vec(state)
        && std::fs::write(&tmp, text).is_ok()
    {
        let _ = std::fs::rename(&tmp, &path);
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub fn volume_name(key: &str) -> String {
    format!("dm-cache-{key}")
}

fn lease_name(key: &str) -> String {
    format!("dm-cache-{key}-lease")
}

/// A cache held by one engine of this run.
#[derive(Debug, Clone)]
pub struct Lease {
    pub key: String,
    /// Whether the engine started on an earlier run's data.
    pub cached: bool,
}

/// What the cache did when an engine was started.
#[derive(Debug)]
pub struct Started {
    pub handle: EngineHandle,
    /// `None`: no cache (off, not a dind engine, or busy): a fresh per-run volume.
    pub lease: Option<Lease>,
    /// Objects a crashed run left in a cached engine, removed before use.
    pub removed: Vec<String>,
}

/// Starts the engine of `spec` like [`super::start`], on its cache when `enabled` and the
/// engine is dind: leased, thrown away if it was not stopped cleanly, emptied of leftovers
/// when reused. Sets the facts' `cache` to `fresh` or `cached` for dind engines.
pub async fn start(
    host: &Docker,
    spec: Option<&EngineSpec>,
    config: Config<'_>,
    run: &RunLabels,
    enabled: bool,
) -> Result<Started, EngineError> {
    let dind = spec.and_then(|s| Some((s.name.as_str(), s.dind()?)));
    let leased = match dind {
        // A data volume of its own kind (`data-volume-opts`: a tmpfs, a size) is made for
        // this engine alone: a cache volume would be another volume.
        Some((_, d)) if enabled && d.data_volume_opts.is_empty() => {
            take_lease(host, d, config, run).await
        }
        _ => None,
    };
    let Some(((name, dind), lease)) = dind.zip(leased) else {
        let mut handle = super::start(host, spec, config, run).await?;
        if dind.is_some() {
            handle.facts.cache = FRESH.to_string();
        }
        return Ok(Started {
            handle,
            lease: None,
            removed: Vec::new(),
        });
    };
    let driver = config.driver.unwrap_or("default");
    let mut labels = run.engine(name, driver);
    labels.insert(labels::CACHE.to_string(), lease.key.clone());
    let place = DindPlace {
        container: labels::object_name(&["dm", &run.run_id, "engine", name, driver, &lease.key]),
        volume: volume_name(&lease.key),
        // The volume was made by `take_lease`; it outlives the engine.
        reuse_volume: true,
        labels,
        ro_folders: config.ro_folders.to_vec(),
        containerd: config.containerd,
    };
    let started = super::start_dind(host, name, dind, config.driver, config.daemon, &place).await;
    let mut handle = match started {
        Ok(h) => h,
        Err(e) => {
            // A cache the engine cannot start on is no cache: throw it away.
            throw_away(host, &lease.key).await;
            return Err(e);
        }
    };
    handle.facts.cache = if lease.cached { CACHED } else { FRESH }.to_string();
    let removed = if lease.cached {
        to_defaults(&handle.docker).await
    } else {
        Vec::new()
    };
    Ok(Started {
        handle,
        lease: Some(lease),
        removed,
    })
}

/// Takes the lease of this engine's cache, making its volume (fresh) when there is no
/// usable one. `None` when the cache is busy (or the engine image is missing: the start
/// then says so).
async fn take_lease(
    host: &Docker,
    spec: &DindSpec,
    config: Config<'_>,
    run: &RunLabels,
) -> Option<Lease> {
    let image = spec.image.as_str();
    let image_id = host.inspect_image(image).await.ok()?.id?;
    let key = key(
        &image_id,
        config.driver,
        config.daemon,
        config.containerd,
        spec,
    );
    let lease = lease_name(&key);
    for _ in 0..2 {
        let mut lease_labels = run.base();
        lease_labels.insert(labels::CACHE.to_string(), key.clone());
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            labels: Some(lease_labels),
            cmd: Some(vec!["true".into()]),
            ..Default::default()
        };
        let created = host
            .create_container(
                Some(CreateContainerOptions {
                    name: Some(lease.clone()),
                    ..Default::default()
                }),
                body,
            )
            .await;
        match created {
            Ok(_) => break,
            Err(e) if is_conflict(&e) => {
                let holder = host
                    .inspect_container(&lease, None::<InspectContainerOptions>)
                    .await
                    .ok()
                    .and_then(|c| c.config)
                    .and_then(|c| c.labels)
                    .and_then(|l| l.get(labels::OWNER).cloned());
                match holder {
                    // A live run (or test) uses it: this engine gets a fresh volume.
                    Some(owner) if owner_alive(&owner) => return None,
                    // A killed run's lease: its engine did not stop cleanly.
                    _ => {
                        remove_container(host, &lease).await;
                        throw_away_volume(host, &key).await;
                        continue;
                    }
                }
            }
            Err(_) => return None,
        }
    }
    // Holding the lease now (or not, if the retry lost a race: then the volume below is
    // never used by two engines either, since starting needs the lease's volume only).
    if host
        .inspect_container(&lease, None::<InspectContainerOptions>)
        .await
        .ok()
        .and_then(|c| c.config)
        .and_then(|c| c.labels)
        .and_then(|l| l.get(labels::OWNER).cloned())
        .is_none_or(|o| o != run.owner)
    {
        return None;
    }
    let volume = volume_name(&key);
    let exists = host.inspect_volume(&volume).await.is_ok();
    let clean = read_state(&key).is_some_and(|s| s.state == "clean");
    let cached = exists && clean;
    if exists && !clean {
        throw_away_volume(host, &key).await;
    }
    if !cached {
        let mut vlabels = run.base();
        vlabels.insert(labels::CACHE.to_string(), key.clone());
        if host
            .create_volume(VolumeCreateRequest {
                name: Some(volume.clone()),
                labels: Some(vlabels),
                ..Default::default()
            })
            .await
            .is_err()
        {
            remove_container(host, &lease).await;
            return None;
        }
    }
    write_state(
        &key,
        &State {
            state: "in-use".into(),
            run_id: run.run_id.clone(),
            last_used: now_secs(),
        },
    );
    Some(Lease { key, cached })
}

/// Stops an engine started on its cache: SIGTERM, up to 30 s; the cache is kept only
/// when dockerd exited by itself (0, or 143 for SIGTERM), else thrown away. Then the
/// lease is given back and the caches are trimmed to the budget.
pub async fn release(host: &Docker, handle: &EngineHandle, lease: &Lease) {
    let Some(dind) = handle.dind.as_ref() else {
        return;
    };
    let clean = stop_cleanly(host, dind).await;
    if clean {
        write_state(
            &lease.key,
            &State {
                state: "clean".into(),
                run_id: read_state(&lease.key).map(|s| s.run_id).unwrap_or_default(),
                last_used: now_secs(),
            },
        );
    } else {
        throw_away_volume(host, &lease.key).await;
    }
    remove_container(host, &lease_name(&lease.key)).await;
    evict(host, budget_bytes()).await;
}

/// Whether the engine container stopped by itself on SIGTERM; removes it either way.
async fn stop_cleanly(host: &Docker, dind: &DindContainer) -> bool {
    let _ = host
        .stop_container(
            &dind.container,
            Some(StopContainerOptions {
                t: Some(30),
                signal: None,
            }),
        )
        .await;
    let state = host
        .inspect_container(&dind.container, None::<InspectContainerOptions>)
        .await
        .ok()
        .and_then(|c| c.state);
    let clean = state.is_some_and(|s| {
        !s.running.unwrap_or(true)
            && !s.oom_killed.unwrap_or(false)
            && matches!(s.exit_code, Some(0 | 143))
    });
    remove_container(host, &dind.container).await;
    clean
}

/// Empties a cached engine of what a run left: every container, every network but the
/// engine's own (bridge, host, none), every volume. Returns what it removed, in words.
pub async fn to_defaults(docker: &Docker) -> Vec<String> {
    let mut removed = Vec::new();
    if let Ok(list) = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            ..Default::default()
        }))
        .await
    {
        for c in list {
            let Some(id) = c.id else { continue };
            let name = c
                .names
                .and_then(|n| n.into_iter().next())
                .unwrap_or_else(|| id.clone());
            if remove_container(docker, &id).await {
                removed.push(format!("container {}", name.trim_start_matches('/')));
            }
        }
    }
    if let Ok(list) = docker.list_networks(None::<ListNetworksOptions>).await {
        for n in list {
            let (Some(id), Some(name)) = (n.id, n.name) else {
                continue;
            };
            if matches!(name.as_str(), "bridge" | "host" | "none") {
                continue;
            }
            if docker.remove_network(&id).await.is_ok() {
                removed.push(format!("network {name}"));
            }
        }
    }
    if let Ok(list) = docker.list_volumes(None::<ListVolumesOptions>).await {
        for v in list.volumes.unwrap_or_default() {
            if docker
                .remove_volume(&v.name, Some(RemoveVolumeOptions { force: true }))
                .await
                .is_ok()
            {
                removed.push(format!("volume {}", v.name));
            }
        }
    }
    removed
}

/// Removes a cache: its volume and its state (not its lease).
async fn throw_away_volume(host: &Docker, key: &str) {
    let _ = host
        .remove_volume(&volume_name(key), Some(RemoveVolumeOptions { force: true }))
        .await;
    let _ = std::fs::remove_file(state_path(key));
}

/// Removes a cache and gives back its lease.
async fn throw_away(host: &Docker, key: &str) {
    throw_away_volume(host, key).await;
    remove_container(host, &lease_name(key)).await;
}

/// Whether `key`'s lease is held by a live process.
async fn leased(host: &Docker, key: &str) -> bool {
    host.inspect_container(&lease_name(key), None::<InspectContainerOptions>)
        .await
        .ok()
        .and_then(|c| c.config)
        .and_then(|c| c.labels)
        .and_then(|l| l.get(labels::OWNER).cloned())
        .is_some_and(|o| owner_alive(&o))
}

/// Every cache volume on the host engine: key → volume name.
async fn cache_volumes(host: &Docker) -> HashMap<String, String> {
    let filters = HashMap::from([("label".to_string(), vec![labels::CACHE.to_string()])]);
    host.list_volumes(Some(ListVolumesOptions {
        filters: Some(filters),
    }))
    .await
    .ok()
    .and_then(|l| l.volumes)
    .unwrap_or_default()
    .into_iter()
    .filter_map(|v| Some((v.labels.get(labels::CACHE)?.clone(), v.name)))
    .collect()
}

/// `clean --cache`: removes every cache that no live run holds; returns the volumes
/// removed and those kept because a live run holds them.
pub async fn remove_all(host: &Docker) -> (Vec<String>, Vec<String>) {
    let (mut removed, mut busy) = (Vec::new(), Vec::new());
    for (key, volume) in cache_volumes(host).await {
        if leased(host, &key).await {
            busy.push(volume);
            continue;
        }
        throw_away(host, &key).await;
        removed.push(volume);
    }
    removed.sort();
    busy.sort();
    (removed, busy)
}

/// The budget: `DOCKMATRIX_ENGINE_CACHE_BUDGET` (bytes, `k`/`m`/`g` suffixes), else 20g.
pub fn budget_bytes() -> u64 {
    std::env::var("DOCKMATRIX_ENGINE_CACHE_BUDGET")
        .ok()
        .and_then(|s| parse_size(&s))
        .unwrap_or(DEFAULT_BUDGET_BYTES)
}

fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let s = s.strip_suffix('b').unwrap_or(&s);
    let (num, mult) = match s.chars().last()? {
        'k' => (&s[..s.len() - 1], 1u64 << 10),
        'm' => (&s[..s.len() - 1], 1 << 20),
        'g' => (&s[..s.len() - 1], 1 << 30),
        't' => (&s[..s.len() - 1], 1 << 40),
        _ => (s, 1),
    };
    num.trim().parse::<u64>().ok()?.checked_mul(mult)
}

/// Which caches to remove, oldest first, so that the rest fit `budget`: never a leased
/// one. `caches` are (key, size in bytes, last used, leased).
pub fn to_evict(caches: &[(String, u64, u64, bool)], budget: u64) -> Vec<String> {
    let mut total: u64 = caches.iter().map(|c| c.1).sum();
    let mut by_age: Vec<&(String, u64, u64, bool)> = caches.iter().filter(|c| !c.3).collect();
    by_age.sort_by_key(|c| c.2);
    let mut out = Vec::new();
    for c in by_age {
        if total <= budget {
            break;
        }
        total = total.saturating_sub(c.1);
        out.push(c.0.clone());
    }
    out
}

/// Trims the caches to `budget` bytes, least recently used first. Sizes are measured on
/// the volume's mountpoint when this process can read it (the host engine is local, as
/// here); the disk-usage API is not used because engines before API 1.42 answer it in
/// another shape, and it walks every volume of the host.
pub async fn evict(host: &Docker, budget: u64) {
    let volumes = cache_volumes(host).await;
    if volumes.is_empty() {
        return;
    }
    let mut caches = Vec::new();
    for (key, volume) in &volumes {
        let last_used = read_state(key).map_or(0, |s| s.last_used);
        let size = match host.inspect_volume(volume).await {
            Ok(v) => {
                let dir = PathBuf::from(v.mountpoint);
                tokio::task::spawn_blocking(move || dir_size(&dir))
                    .await
                    .unwrap_or(0)
            }
            Err(_) => 0,
        };
        caches.push((key.clone(), size, last_used, leased(host, key).await));
    }
    for key in to_evict(&caches, budget) {
        throw_away(host, &key).await;
    }
}

/// Bytes of the regular files under `dir` (symbolic links not followed); 0 if unreadable.
fn dir_size(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(t) if t.is_file() => total += e.metadata().map_or(0, |m| m.len()),
                _ => {}
            }
        }
    }
    total
}

/// 409: the container name is taken.
fn is_conflict(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 409,
            ..
        }
    )
}

/// Removes a container (forced, with its anonymous volumes); whether it was there.
async fn remove_container(docker: &Docker, name: &str) -> bool {
    docker
        .remove_container(
            name,
            Some(RemoveContainerOptions {
                force: true,
                v: true,
                ..Default::default()
            }),
        )
        .await
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(args: &[&str], privileged: Option<bool>) -> DindSpec {
        DindSpec {
            image: "dockmatrix/engine:28.5.2".into(),
            privileged,
            args: args.iter().map(|s| s.to_string()).collect(),
            env: Default::default(),
            data_volume_opts: Default::default(),
        }
    }

    #[test]
    fn every_part_of_the_engine_changes_the_key() {
        let s = spec(&[], None);
        let d1 = serde_json::json!({"log-driver": "json-file", "debug": true});
        let d1_reordered = serde_json::json!({"debug": true, "log-driver": "json-file"});
        let d2 = serde_json::json!({"log-driver": "local"});
        let base = key("sha256:aa", Some("overlay2"), Some(&d1), false, &s);
        assert_eq!(
            base,
            key(
                "sha256:aa",
                Some("overlay2"),
                Some(&d1_reordered),
                false,
                &s
            )
        );
        assert_eq!(base.len(), 16);
        let others = [
            key("sha256:bb", Some("overlay2"), Some(&d1), false, &s),
            key("sha256:aa", Some("vfs"), Some(&d1), false, &s),
            key("sha256:aa", Some("overlay2"), Some(&d2), false, &s),
            key("sha256:aa", Some("overlay2"), None, false, &s),
            key(
                "sha256:aa",
                Some("overlay2"),
                Some(&d1),
                false,
                &spec(&["--debug"], None),
            ),
            key(
                "sha256:aa",
                Some("overlay2"),
                Some(&d1),
                false,
                &spec(&[], Some(true)),
            ),
            // The `image-store = "containerd"` axis.
            key("sha256:aa", Some("overlay2"), Some(&d1), true, &s),
            // dockerd's environment (`[engines.X] env`).
            key("sha256:aa", Some("overlay2"), Some(&d1), false, &{
                let mut e = spec(&[], None);
                e.env.insert("DOCKER_MIN_API_VERSION".into(), "1.44".into());
                e
            }),
            key(
                "sha256:aa",
                Some("overlay2"),
                Some(
                    &serde_json::json!({"log-driver": "json-file", "debug": true, "features": {"containerd-snapshotter": true}}),
                ),
                false,
                &s,
            ),
        ];
        for (i, k) in others.iter().enumerate() {
            assert_ne!(&base, k, "variant {i} must not share the cache");
        }
        assert_eq!(
            image_store(
                None,
                &["--feature".into(), "containerd-snapshotter=true".into()]
            ),
            "containerd"
        );
    }

    #[test]
    fn eviction_takes_the_least_recently_used_and_never_a_leased_one() {
        let c = |k: &str, size: u64, used: u64, leased: bool| (k.to_string(), size, used, leased);
        let caches = [
            c("old", 4, 1, false),
            c("busy", 4, 0, true),
            c("new", 4, 9, false),
            c("mid", 4, 5, false),
        ];
        assert_eq!(to_evict(&caches, 16), Vec::<String>::new());
        assert_eq!(to_evict(&caches, 12), ["old"]);
        assert_eq!(to_evict(&caches, 5), ["old", "mid", "new"]);
        assert_eq!(to_evict(&caches, 0), ["old", "mid", "new"]);
    }

    #[test]
    fn budget_sizes() {
        assert_eq!(parse_size("20g"), Some(20 << 30));
        assert_eq!(parse_size("512M"), Some(512 << 20));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("2GB"), Some(2 << 30));
        assert_eq!(parse_size("x"), None);
    }
}
