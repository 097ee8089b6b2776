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

/// This machine's name, as the owner label records it (and run.json's host facts).
pub use crate::results::hostname;

/// Whether the owner `host:pid` is a process alive on this machine (a different host's
/// objects are never judged dead). Asked with kill(pid, 0), which works where /proc does
/// not show other processes (macOS runners, a hardened /proc with `hidepid`): no such
/// process (ESRCH) is dead; one we may not signal (EPERM) exists. A run started inside a
/// container records the container's pid, which the host cannot tell apart: its objects
/// are judged by that pid on the host (pid 1 is always alive, so they are kept), and
/// `clean --run ID` removes them.
pub fn owner_alive(owner: &str) -> bool {
    let Some((host, pid)) = owner.rsplit_once(':') else {
        return false;
    };
    if host != hostname() {
        return true;
    }
    // Pid::from_raw asserts a non-negative pid: only positive ones get that far.
    let Some(pid) = pid
        .parse::<i32>()
        .ok()
        .filter(|p| *p > 0)
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    match rustix::process::test_kill_process(pid) {
        Ok(()) => true,
        Err(e) => e != rustix::io::Errno::SRCH,
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

/// Labels filter for listing a run's objects.
pub fn run_filter(run_id: Option<&str>) -> HashMap<String, Vec<String>> {
    let label = match run_id {
        Some(id) => format!("{}={id}", RUN),
        None => RUN.to_string(),
    };
    HashMap::from([("label".to_string(), vec![label])])
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
        assert!(!owner_alive(&format!("{}:-3", hostname())));
        // A process that exists but that we may not be allowed to signal (init) is alive.
        assert!(owner_alive(&format!("{}:1", hostname())));
        // One that has exited is dead.
        let mut child = std::process::Command::new("true").spawn().expect("spawn");
        let pid = child.id();
        child.wait().expect("wait");
        assert!(!owner_alive(&format!("{}:{pid}", hostname())));
    }
}
