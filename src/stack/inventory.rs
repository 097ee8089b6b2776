//! What an engine holds of a cell's stack — containers, images, volumes, networks — taken
//! before an engine is stopped and again after the next one starts on the same data, and
//! the difference told in words (an upgrade that "loses" objects must say which, and why
//! when it knows: a storage driver switch hides everything the old driver stored, and so
//! does a switch from a graph driver to the containerd image store).

use std::collections::BTreeMap;

use bollard::query_parameters::{ListContainersOptions, ListNetworksOptions, ListVolumesOptions};

use crate::engine::{EngineHandle, labels};

/// A cell's objects on one engine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    /// The storage driver the engine measured when this was taken: an engine sees only
    /// what was stored under its own driver.
    pub driver: String,
    /// The image store the engine measured (`graphdriver` or `containerd`): the
    /// containerd store does not see what a graph driver stored, whatever the names.
    pub image_store: String,
    /// Container id → (service name, else container name; running).
    pub containers: BTreeMap<String, (String, bool)>,
    /// Image reference → image id.
    pub images: BTreeMap<String, String>,
    /// Volume names.
    pub volumes: Vec<String>,
    /// Network id → name.
    pub networks: BTreeMap<String, String>,
}

impl Inventory {
    /// Reads the objects labelled with `cell_id` and the images `images` from `engine`.
    pub async fn take(engine: &EngineHandle, cell_id: &str, images: &[String]) -> Inventory {
        let docker = &engine.docker;
        let label = format!("{}={cell_id}", labels::CELL);
        let filters = std::collections::HashMap::from([("label".to_string(), vec![label])]);
        let mut inv = Inventory {
            driver: engine.facts.storage_driver.clone(),
            image_store: engine.facts.image_store.clone(),
            ..Inventory::default()
        };
        if let Ok(list) = docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters.clone()),
                ..Default::default()
            }))
            .await
        {
            for c in list {
                let service = c
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(labels::SERVICE))
                    .cloned();
                let name = service.unwrap_or_else(|| {
                    c.names
                        .as_ref()
                        .and_then(|n| n.first())
                        .map(|n| n.trim_start_matches('/').to_string())
                        .unwrap_or_default()
                });
                let running = c.state.is_some_and(|s| s.to_string() == "running");
                inv.containers
                    .insert(c.id.unwrap_or_default(), (name, running));
            }
        }
        for image in images {
            if let Ok(i) = docker.inspect_image(image).await {
                inv.images.insert(image.clone(), i.id.unwrap_or_default());
            }
        }
        if let Ok(v) = docker
            .list_volumes(Some(ListVolumesOptions {
                filters: Some(filters.clone()),
            }))
            .await
        {
            inv.volumes = v
                .volumes
                .unwrap_or_default()
                .into_iter()
                .map(|v| v.name)
                .collect();
            inv.volumes.sort();
        }
        if let Ok(nets) = docker
            .list_networks(Some(ListNetworksOptions {
                filters: Some(filters),
            }))
            .await
        {
            for n in nets {
                inv.networks
                    .insert(n.id.unwrap_or_default(), n.name.unwrap_or_default());
            }
        }
        inv
    }
}

/// What `after` lacks of `before`, in words; empty when every object is still there.
pub fn missing(before: &Inventory, after: &Inventory) -> Vec<String> {
    let mut out = Vec::new();
    let gone_containers: Vec<&str> = before
        .containers
        .iter()
        .filter(|(id, _)| !after.containers.contains_key(*id))
        .map(|(_, (name, _))| name.as_str())
        .collect();
    let gone_images: Vec<&str> = before
        .images
        .iter()
        .filter(|(r, id)| after.images.get(*r) != Some(id))
        .map(|(r, _)| r.as_str())
        .collect();
    let gone_volumes: Vec<&str> = before
        .volumes
        .iter()
        .filter(|v| !after.volumes.contains(v))
        .map(String::as_str)
        .collect();
    let gone_networks: Vec<&str> = before
        .networks
        .iter()
        .filter(|(id, _)| !after.networks.contains_key(*id))
        .map(|(_, name)| name.as_str())
        .collect();
    let (from, to) = (before.driver.as_str(), after.driver.as_str());
    let seen = format!(
        "so after the upgrade it sees {} of {} images and {} of {} containers created under {from}",
        before.images.len() - gone_images.len(),
        before.images.len(),
        before.containers.len() - gone_containers.len(),
        before.containers.len(),
    );
    let (from_store, to_store) = (before.image_store.as_str(), after.image_store.as_str());
    if from_store != to_store && !from_store.is_empty() && !to_store.is_empty() {
        // The driver's name changes too (overlay2 → overlayfs), but the cause is the store.
        out.push(format!(
            "the image store changed from {} to {}: the containerd image store and the graph drivers keep their images and containers apart, {seen}",
            store_words(from_store, from),
            store_words(to_store, to),
        ));
    } else if from != to && !from.is_empty() && !to.is_empty() {
        out.push(format!(
            "the storage driver changed from {from} to {to}: an engine keeps each driver's images and containers apart, {seen}"
        ));
    }
    let mut say = |what: &str, gone: &[&str], total: usize| {
        if !gone.is_empty() {
            out.push(format!(
                "{} of {total} {what} gone: {}",
                gone.len(),
                gone.join(", ")
            ));
        }
    };
    say("containers", &gone_containers, before.containers.len());
    say("images", &gone_images, before.images.len());
    say("volumes", &gone_volumes, before.volumes.len());
    say("networks", &gone_networks, before.networks.len());
    out
}

/// `the graph driver overlay2`, `containerd (snapshotter overlayfs)`.
fn store_words(store: &str, driver: &str) -> String {
    match store {
        "containerd" => format!("containerd (snapshotter {driver})"),
        _ => format!("the graph driver {driver}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv(containers: &[(&str, &str)], images: &[(&str, &str)], vols: &[&str]) -> Inventory {
        Inventory {
            driver: "overlay2".into(),
            image_store: "graphdriver".into(),
            containers: containers
                .iter()
                .map(|(id, n)| (id.to_string(), (n.to_string(), true)))
                .collect(),
            images: images
                .iter()
                .map(|(r, id)| (r.to_string(), id.to_string()))
                .collect(),
            volumes: vols.iter().map(|v| v.to_string()).collect(),
            networks: [("n1".to_string(), "net".to_string())]
                .into_iter()
                .collect(),
        }
    }

    #[test]
    fn nothing_missing_says_nothing() {
        let a = inv(&[("c1", "redis")], &[("redis:7", "sha256:1")], &["data"]);
        assert!(missing(&a, &a.clone()).is_empty());
    }

    #[test]
    fn a_driver_switch_is_told_in_words_with_counts() {
        let before = inv(
            &[("c1", "redis"), ("c2", "app")],
            &[("redis:7", "sha256:1"), ("app:1", "sha256:2")],
            &["data"],
        );
        let mut after = inv(&[], &[], &["data"]);
        after.networks = before.networks.clone();
        after.driver = "vfs".into();
        let said = missing(&before, &after);
        assert!(
            said[0].starts_with("the storage driver changed from overlay2 to vfs")
                && said[0].contains("sees 0 of 2 images and 0 of 2 containers"),
            "{said:?}"
        );
        assert!(
            said.iter()
                .any(|s| s == "2 of 2 containers gone: app, redis"
                    || s == "2 of 2 containers gone: redis, app"),
            "{said:?}"
        );
        assert!(
            said.iter().any(|s| s.starts_with("2 of 2 images gone")),
            "{said:?}"
        );
        assert!(!said.iter().any(|s| s.contains("volumes")), "{said:?}");
    }

    #[test]
    fn a_switch_to_the_containerd_image_store_names_the_store() {
        let before = inv(&[("c1", "redis")], &[("redis:7", "sha256:1")], &["data"]);
        let mut after = inv(&[], &[], &["data"]);
        after.networks = before.networks.clone();
        after.driver = "overlayfs".into();
        after.image_store = "containerd".into();
        let said = missing(&before, &after);
        assert_eq!(
            said[0],
            "the image store changed from the graph driver overlay2 to containerd (snapshotter overlayfs): the containerd image store and the graph drivers keep their images and containers apart, so after the upgrade it sees 0 of 1 images and 0 of 1 containers created under overlay2",
        );
        assert!(
            !said.iter().any(|s| s.contains("storage driver changed")),
            "{said:?}"
        );
    }

    #[test]
    fn an_image_with_another_id_counts_as_gone() {
        let before = inv(&[], &[("redis:7", "sha256:1")], &[]);
        let after = inv(&[], &[("redis:7", "sha256:9")], &[]);
        assert_eq!(
            missing(&before, &after),
            vec!["1 of 1 images gone: redis:7".to_string()]
        );
    }
}
