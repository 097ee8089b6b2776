//! Removing labelled objects: those of one run, of runs whose process is gone, or all.
//! Objects inside a dind engine go with its container and volume.

use std::collections::{BTreeMap, HashMap};

use bollard::Docker;
use bollard::query_parameters::{
    ListContainersOptions, ListNetworksOptions, ListVolumesOptions, RemoveContainerOptions,
    RemoveVolumeOptions,
};

use super::is_not_found;
use super::labels::{self, owner_alive};

/// Which objects to remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Objects of runs whose owning process is gone (the default of `clean`).
    Dead,
    Run(String),
    All,
}

/// What was removed, per run id, and what could not be.
#[derive(Debug, Default)]
pub struct Cleaned {
    pub containers: BTreeMap<String, usize>,
    pub networks: BTreeMap<String, usize>,
    pub volumes: BTreeMap<String, usize>,
    /// Runs skipped because their process is alive.
    pub live_runs: Vec<String>,
    pub problems: Vec<String>,
}

impl Cleaned {
    pub fn total(&self) -> usize {
        self.containers.values().sum::<usize>()
            + self.networks.values().sum::<usize>()
            + self.volumes.values().sum::<usize>()
    }
}

/// Removes every object of `run_id` (used by `run` as the safety net after teardown).
pub async fn remove_run(docker: &Docker, run_id: &str) -> Cleaned {
    clean(docker, &Scope::Run(run_id.to_string())).await
}

pub async fn clean(docker: &Docker, scope: &Scope) -> Cleaned {
    let mut out = Cleaned::default();
    let filter = super::labels::run_filter(match scope {
        Scope::Run(id) => Some(id.as_str()),
        _ => None,
    });
    let wanted = |l: &HashMap<String, String>, out: &mut Cleaned| -> Option<String> {
        let run = l.get(labels::RUN)?.clone();
        if *scope == Scope::Dead {
            // Without an owner label the object is not a run's: never judged dead.
            let owner = l.get(labels::OWNER)?;
            if owner_alive(owner) {
                if !out.live_runs.contains(&run) {
                    out.live_runs.push(run);
                }
                return None;
            }
        }
        Some(run)
    };

    match docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filter.clone()),
            ..Default::default()
        }))
        .await
    {
        Ok(list) => {
            for c in list {
                let (Some(id), Some(l)) = (c.id, c.labels) else {
                    continue;
                };
                let Some(run) = wanted(&l, &mut out) else {
                    continue;
                };
                match docker
                    .remove_container(
                        &id,
                        Some(RemoveContainerOptions {
                            force: true,
                            v: true,
                            ..Default::default()
                        }),
                    )
                    .await
                {
                    Ok(()) => *out.containers.entry(run).or_default() += 1,
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => out.problems.push(format!("container {id}: {e}")),
                }
            }
        }
        Err(e) => out.problems.push(format!("listing containers: {e}")),
    }
    match docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(filter.clone()),
        }))
        .await
    {
        Ok(list) => {
            for n in list {
                let (Some(id), Some(name), Some(l)) = (n.id, n.name, n.labels) else {
                    continue;
                };
                let Some(run) = wanted(&l, &mut out) else {
                    continue;
                };
                match docker.remove_network(&id).await {
                    Ok(()) => *out.networks.entry(run).or_default() += 1,
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => out.problems.push(format!("network {name}: {e}")),
                }
            }
        }
        Err(e) => out.problems.push(format!("listing networks: {e}")),
    }
    match docker
        .list_volumes(Some(ListVolumesOptions {
            filters: Some(filter),
        }))
        .await
    {
        Ok(list) => {
            for v in list.volumes.unwrap_or_default() {
                // Engine caches outlive runs: only `clean --cache` removes them.
                if v.labels.contains_key(labels::CACHE) {
                    continue;
                }
                let Some(run) = wanted(&v.labels, &mut out) else {
                    continue;
                };
                match docker
                    .remove_volume(&v.name, Some(RemoveVolumeOptions { force: true }))
                    .await
                {
                    Ok(()) => *out.volumes.entry(run).or_default() += 1,
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => out.problems.push(format!("volume {}: {e}", v.name)),
                }
            }
        }
        Err(e) => out.problems.push(format!("listing volumes: {e}")),
    }
    out
}
