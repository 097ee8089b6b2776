//! DESIGN.md's labels: every container, network and volume dockmatrix creates carries the
//! run and its owner (hostname:pid), so that `clean` can tell a live run's objects from a
//! dead one's; a cell's objects carry the cell, an engine's the engine/driver pair.

use std::collections::HashMap;

pub const RUN: &str = "io.dockmatrix.run";
pub const OWNER: &str = "io.dockmatrix.owner";
pub const CELL: &str = "io.dockmatrix.cell";
pub const ENGINE: &str = "io.dockmatrix.engine";
pub const SERVICE: &str = "io.dockmatrix.service";
/// An engine cache volume (and its lease): the cache key. Removed only by `clean --cache`.
pub const CACHE: &str = "io.dockmatrix.cache";

/// Labels of one run, owned by this process.
#[derive(Debug, Clone)]
pub struct RunLabels {
    pub run_id: String,
    pub owner: String,
}

impl RunLabels {
    pub fn new(run_id: &str) -> RunLabels {
        RunLabels {
            run_id: run_id.to_string(),
            owner: format!("{}:{}", hostname(), std::process::id()),
        }
    }

    pub fn base(&self) -> HashMap<String, String> {
        HashMap::from([
            (RUN.to_string(), self.run_id.clone()),
            (OWNER.to_string(), self.owner.clone()),
        ])
    }

    pub fn cell(&self, cell_id: &str, service: &str) -> HashMap<String, String> {
        let mut l = self.base();
        l.insert(CELL.to_string(), cell_id.to_string());
        if !service.is_empty() {
            l.insert(SERVICE.to_string(), service.to_string());
        }
        l
    }

    pub fn engine(&self, engine: &str, driver: &str) -> HashMap<String, String> {
        let mut l = self.base();
        l.insert(ENGINE.to_string(), format!("{engine}/{driver}"));
        l
    }
}

/// This machine's name, as the owner label records it.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_string())
}

/// Whether the owner `host:pid` is a process alive on this machine (a different host's
/// objects are never judged dead).
pub fn owner_alive(owner: &str) -> bool {
    let Some((host, pid)) = owner.rsplit_once(':') else {
        return false;
    };
    if host != hostname() {
        return true;
    }
    match pid.parse::<u32>() {
        Ok(pid) => std::path::Path::new(&format!("/proc/{pid}")).exists(),
        Err(_) => false,
    }
}

/// A Docker object name from parts: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub fn object_name(parts: &[&str]) -> String {
    let joined = parts.join("-");
    let mut name: String = joined
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        name.insert(0, 'd');
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_docker_safe() {
        assert_eq!(
            object_name(&["dm", "28.5-vfs-ab12", "app"]),
            "dm-28.5-vfs-ab12-app"
        );
        assert_eq!(object_name(&["-x/y"]), "d-x_y");
    }

    #[test]
    fn owner_liveness() {
        let me = format!("{}:{}", hostname(), std::process::id());
        assert!(owner_alive(&me));
        assert!(!owner_alive(&format!("{}:999999999", hostname())));
        assert!(owner_alive("some-other-host:1"));
        assert!(!owner_alive("garbage"));
    }
}
