//! A cell's compose services: each value interpolated with the cell's variables and
//! checked into a [`ComposeService`]; also the rules that need no cell (refused keys,
//! missing dependencies and images, cycles, undeclared volumes and networks).
//!
//! Here the walk over the services; `cx.rs` reads one typed value (collecting problems
//! and warnings), `service.rs` one service's fields, `ports.rs` and `volumes.rs` its
//! ports and mounts, `static_checks.rs` the rules that hold for every cell.

mod cx;
mod ports;
mod service;
mod static_checks;
mod volumes;

use super::{ComposeService, MountSource, Project};
use crate::diagnostic::Diagnostic;
use cx::Cx;

/// A cell's services, in file order, with the warnings their values gave.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub services: Vec<ComposeService>,
    /// Named volumes the services use (compose names).
    pub volumes: Vec<String>,
    /// Networks the services use (compose names; `default` included when used).
    pub networks: Vec<String>,
    pub warnings: Vec<String>,
}

/// Resolves every active service for one cell.
pub(super) fn resolve(
    project: &Project,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Resolved, Vec<Diagnostic>> {
    let mut cx = Cx {
        project,
        lookup,
        problems: Vec::new(),
        warnings: Vec::new(),
    };
    let mut services = Vec::new();
    let mut volumes: Vec<String> = Vec::new();
    let mut networks: Vec<String> = Vec::new();
    for (k, s) in &project.services {
        let svc = service::service(&mut cx, k, s);
        for m in &svc.mounts {
            if let MountSource::Volume { name } = &m.source
                && !volumes.contains(name)
            {
                volumes.push(name.clone());
            }
        }
        for n in &svc.networks {
            if !networks.contains(&n.name) {
                networks.push(n.name.clone());
            }
        }
        services.push(svc);
    }
    if cx.problems.is_empty() {
        Ok(Resolved {
            services,
            volumes,
            networks,
            warnings: cx.warnings,
        })
    } else {
        Err(cx.problems)
    }
}
