//! What an engine says of itself (`/version` and `/info`: versions, API range, driver,
//! image store, kernel, cgroups): the facts every report shows, measured, never trusted.

use bollard::Docker;
use indexmap::IndexMap;

use super::EngineError;
use crate::results::EngineFacts;

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
        start_ms: None,
        images_ms: None,
    })
}

/// The image store the engine reports is the one asked: containerd when `containerd`,
/// else the graph driver (a cell that does not ask for one takes the engine's default,
/// which is a graph driver on every engine before 29).
pub(super) fn check_image_store(containerd: bool, facts: &EngineFacts) -> Result<(), EngineError> {
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
