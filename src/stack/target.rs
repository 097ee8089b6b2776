//! A provisioned stack as checks see it: the engine's client, the cell's network and, per
//! service, where this process reaches it. Built by the stack, read by checks and readiness.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use indexmap::IndexMap;

use crate::matrix::{Cell, ServiceKind};

/// A provisioned stack, as checks see it.
#[derive(Clone)]
pub struct Target {
    /// The engine the stack runs on (for exec and container-to-container checks).
    pub docker: bollard::Docker,
    /// The cell's private network.
    pub network: String,
    pub cell: Cell,
    /// The version the engine reports (`28.5.2`), for `when = { engine-version = … }`.
    pub engine_version: String,
    /// The storage driver the engine reports.
    pub storage_driver: String,
    pub services: IndexMap<String, ServiceTarget>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("network", &self.network)
            .field("cell", &self.cell.id)
            .field("services", &self.services.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// One running service of the stack.
#[derive(Debug, Clone)]
pub struct ServiceTarget {
    pub name: String,
    pub kind: ServiceKind,
    pub container_id: String,
    pub container_name: String,
    /// Container port → the address this process reaches it at (a published port on the
    /// engine's host: 127.0.0.1 for the host engine, the dind container's IP for dind).
    pub ports: BTreeMap<u16, SocketAddr>,
    /// The container's environment as started (`${VAR}` resolved). Holds secrets: never
    /// print it; use [`crate::secrets`].
    pub env: IndexMap<String, String>,
}

impl ServiceTarget {
    /// Where this process reaches `container_port`, or the kind's default port.
    pub fn addr(&self, container_port: Option<u16>) -> Option<SocketAddr> {
        let port = container_port.or(self.kind.default_port())?;
        self.ports.get(&port).copied()
    }
}
