//! One cell's plan, computed once from the matrix: the engines it runs on (for an upgrade
//! cell its path's FROM and TO), the image of each service, and the services' start order.
//! The pool, each cell's attempt (its images, its stack, its record), the upgrade path,
//! `dockmatrix engines` and `dockmatrix images` read it.

use indexmap::IndexMap;

use super::{Cell, EngineSpec, Matrix, image_store, merge_daemon};

/// An engine as the pool shares it: cells with the same key run on the same engine.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EngineKey {
    pub engine: String,
    pub driver: Option<String>,
    /// The cell's `daemon-config` value: engines started with different daemon.json
    /// files are different engines.
    pub daemon_config: Option<String>,
    /// The cell asks for the containerd image store: another engine than the graph
    /// driver one, even with the same driver name.
    pub containerd: bool,
}

impl EngineKey {
    /// The key of a cell's own engine (`host` when it names none).
    pub fn of(cell: &Cell) -> EngineKey {
        EngineKey {
            engine: cell.engine().unwrap_or("host").to_string(),
            driver: cell.storage_driver().map(str::to_string),
            daemon_config: cell.daemon_config().map(str::to_string),
            containerd: image_store::is_containerd(cell.image_store()),
        }
    }

    /// The driver, with `/containerd` for the containerd image store (as the engine
    /// label says it).
    pub fn driver_label(&self) -> String {
        let driver = self.driver.as_deref().unwrap_or("default");
        if self.containerd {
            format!("{driver}/containerd")
        } else {
            driver.to_string()
        }
    }
}

/// One engine of a cell: its key and the daemon.json it starts with.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedEngine {
    pub key: EngineKey,
    pub daemon: Option<serde_json::Value>,
}

/// What a cell needs, worked out once.
#[derive(Debug, Clone, PartialEq)]
pub struct CellPlan {
    /// The cell's engine; for an upgrade cell FROM then TO.
    pub engines: Vec<PlannedEngine>,
    /// Whether the cell rehearses an upgrade (it owns its engines).
    pub upgrade: bool,
    /// Each service's image, in the matrix's service order; `Err` says why a service has
    /// none in this cell (a template value the cell lacks).
    pub images: IndexMap<String, Result<String, String>>,
    /// The services' names in `depends-on` order (dependencies first).
    pub start_order: Vec<String>,
    /// The image of the engine the cell starts on (a dind engine's `image`).
    pub engine_image: Option<String>,
}

impl CellPlan {
    /// The plan of `cell` in `matrix`. Pure: no Docker, no files.
    pub fn of(matrix: &Matrix, cell: &Cell) -> CellPlan {
        let upgrade = matrix.upgrade_for(cell);
        let engines = match upgrade {
            Some(path) => upgrade_pair(matrix, cell, path).into(),
            None => {
                let daemon = matrix
                    .engine_for(cell)
                    .and_then(|spec| matrix.daemon_for(spec, cell));
                vec![PlannedEngine {
                    key: EngineKey::of(cell),
                    daemon,
                }]
            }
        };
        let images = matrix
            .services
            .values()
            .map(|svc| (svc.name.clone(), matrix.image_for(svc, cell)))
            .collect();
        let start_order = matrix
            .services_in_start_order()
            .into_iter()
            .map(|s| s.name.clone())
            .collect();
        CellPlan {
            engines,
            upgrade: upgrade.is_some(),
            images,
            start_order,
            engine_image: matrix
                .engine_for(cell)
                .and_then(|e| e.dind())
                .map(|d| d.image.clone()),
        }
    }

    /// The engine the cell starts on (FROM for an upgrade cell).
    pub fn engine(&self) -> &PlannedEngine {
        &self.engines[0]
    }

    /// The distinct images of the cell's services, in service order (services without
    /// one left out).
    pub fn image_list(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for img in self.images.values().flatten() {
            if !out.contains(img) {
                out.push(img.clone());
            }
        }
        out
    }

    /// The image of service `name`, if it has one in this cell.
    pub fn image_of(&self, name: &str) -> Option<&str> {
        self.images.get(name)?.as_deref().ok()
    }

    /// The image of service `name` in this cell, or why it has none.
    pub fn image(&self, name: &str) -> Result<&str, String> {
        match self.images.get(name) {
            Some(image) => image.as_deref().map_err(String::clone),
            None => Err(format!("`{name}` is not a service of the matrix")),
        }
    }

    /// The first service without an image, and why.
    pub fn image_error(&self) -> Option<&str> {
        self.images
            .values()
            .find_map(|r| r.as_ref().err().map(String::as_str))
    }
}

/// FROM (the cell's driver and daemon.json) and TO (`to-storage-driver`,
/// `to-image-store`, and `to-daemon` over its daemon.json) of an upgrade cell.
fn upgrade_pair(matrix: &Matrix, cell: &Cell, path: &super::UpgradePath) -> [PlannedEngine; 2] {
    let from = EngineKey {
        engine: path.from.clone(),
        ..EngineKey::of(cell)
    };
    let to = EngineKey {
        engine: path.to.clone(),
        driver: path.to_storage_driver.clone().or(from.driver.clone()),
        daemon_config: from.daemon_config.clone(),
        containerd: path
            .to_image_store
            .as_deref()
            .map_or(from.containerd, |s| image_store::is_containerd(Some(s))),
    };
    let daemon_of = |name: &str| {
        matrix
            .engines
            .get(name)
            .and_then(|s: &EngineSpec| matrix.daemon_for(s, cell))
    };
    [
        PlannedEngine {
            daemon: daemon_of(&path.from),
            key: from,
        },
        PlannedEngine {
            daemon: merge_daemon(daemon_of(&path.to).as_ref(), path.to_daemon.as_ref()),
            key: to,
        },
    ]
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn matrix(source: &str) -> Matrix {
        Matrix::from_source(Path::new("plan.toml"), source.to_string()).expect("matrix")
    }

    const UPGRADE: &str = r#"name = "up"

[axes]
upgrade = ["plain", "to-vfs"]
storage-driver = ["overlay2"]
redis = ["7.0"]

[[upgrade]]
name = "plain"
from = "old"
to = "new"

[[upgrade]]
name = "to-vfs"
from = "old"
to = "new"
to-storage-driver = "vfs"
to-image-store = "containerd"
to-daemon = { debug = true }

[engines.old]
kind = "dind"
image = "dockmatrix/engine:20.10.24"
daemon = { "log-level" = "warn" }

[engines.new]
kind = "dind"
image = "dockmatrix/engine:28.5.2"

[services.redis]
kind = "redis"
image = "dockmatrix/redis:{version}"
"#;

    #[test]
    fn a_plain_cell_runs_on_its_engine_with_its_services_in_start_order() {
        let m = matrix(
            r#"name = "p"

[axes]
engine = ["e"]
storage-driver = ["vfs"]
pg = ["16"]

[engines.e]
kind = "dind"
image = "dockmatrix/engine:28.5.2"
daemon = { debug = true }

[services.app]
kind = "http"
image = "dockmatrix/app:1"
depends-on = ["pg"]

[services.pg]
kind = "postgres"
image = "dockmatrix/postgres:{version}"
"#,
        );
        let cells = m.cells().expect("cells");
        let plan = CellPlan::of(&m, &cells[0]);
        assert!(!plan.upgrade);
        assert_eq!(plan.engines.len(), 1);
        let e = plan.engine();
        assert_eq!(e.key.engine, "e");
        assert_eq!(e.key.driver.as_deref(), Some("vfs"));
        assert!(!e.key.containerd);
        assert_eq!(e.daemon, Some(serde_json::json!({ "debug": true })));
        assert_eq!(plan.start_order, ["pg", "app"]);
        assert_eq!(plan.image_of("pg"), Some("dockmatrix/postgres:16"));
        assert_eq!(plan.image_of("app"), Some("dockmatrix/app:1"));
        assert_eq!(plan.image("app"), Ok("dockmatrix/app:1"));
        assert_eq!(
            plan.image_list(),
            ["dockmatrix/app:1", "dockmatrix/postgres:16"]
        );
        assert_eq!(plan.image_error(), None);
        assert_eq!(
            plan.engine_image.as_deref(),
            Some("dockmatrix/engine:28.5.2")
        );
    }

    #[test]
    fn an_upgrade_cell_plans_from_and_to_with_the_paths_overrides() {
        let m = matrix(UPGRADE);
        let cells = m.cells().expect("cells");
        let cell = |u: &str| {
            cells
                .iter()
                .find(|c| c.upgrade() == Some(u))
                .expect("the upgrade cell")
        };
        let plain = CellPlan::of(&m, cell("plain"));
        assert!(plain.upgrade);
        let [from, to] = &plain.engines[..] else {
            panic!("two engines: {:?}", plain.engines)
        };
        assert_eq!(
            (from.key.engine.as_str(), to.key.engine.as_str()),
            ("old", "new")
        );
        assert_eq!(from.key.driver, to.key.driver, "TO keeps FROM's driver");
        assert_eq!(
            from.daemon,
            Some(serde_json::json!({ "log-level": "warn" }))
        );
        assert_eq!(to.daemon, None);
        assert_eq!(
            plain.engine_image.as_deref(),
            Some("dockmatrix/engine:20.10.24")
        );

        let switched = CellPlan::of(&m, cell("to-vfs"));
        let to = &switched.engines[1];
        assert_eq!(to.key.driver.as_deref(), Some("vfs"));
        assert!(to.key.containerd && !switched.engines[0].key.containerd);
        assert_eq!(to.key.driver_label(), "vfs/containerd");
        assert_eq!(to.daemon, Some(serde_json::json!({ "debug": true })));
        assert_eq!(switched.image_list(), ["dockmatrix/redis:7.0"]);
    }

    #[test]
    fn a_service_without_an_image_in_the_cell_says_why() {
        let m = matrix(
            r#"name = "p"

[axes]
tag = ["1"]

[services.app]
kind = "http"
image = "dockmatrix/app:{tag}"

"#,
        );
        // The loader refuses such a matrix; a cell built without the value shows what
        // the plan says of it.
        let mut cell = m.cells().expect("cells").remove(0);
        assert_eq!(CellPlan::of(&m, &cell).image_error(), None);
        cell.values.retain(|k, _| k != "tag");
        let plan = CellPlan::of(&m, &cell);
        assert_eq!(plan.image_of("app"), None);
        assert!(
            plan.image_error()
                .is_some_and(|e| e.contains("no `tag` value")),
            "{:?}",
            plan.image_error()
        );
        assert!(plan.image_list().is_empty());
        assert_eq!(plan.image("app").err().as_deref(), plan.image_error());
        assert!(plan.image("db").is_err_and(|e| e.contains("not a service")));
        assert_eq!(plan.engine().key.engine, "host");
    }
}
