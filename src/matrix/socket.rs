//! `docker-socket = true` on a service: the cell's own engine socket is mounted at
//! `/var/run/docker.sock` in its container. The services of a dind cell run inside the
//! dind engine, so the bind's source is resolved in the engine container's filesystem:
//! it is that engine's own socket, never the host's. A host engine's cell gets the host's
//! socket (said as a warning, for compose binds of it too: the stack can then touch
//! everything on the host); a tcp:// endpoint has no socket on the machine its containers
//! run on that we could name, so it is an error at load (at the compose file's line for a
//! compose bind of it).

use indexmap::IndexMap;

use super::raw::RawMatrix;
use super::{Cell, EngineKind, EngineSpec, Matrix};
use crate::diagnostic::{Ctx, toml_key};

/// Where the socket is mounted in the service's container (and where every engine we
/// start or know listens inside its own filesystem).
pub const PATH: &str = "/var/run/docker.sock";

/// The matrix's engines reached over tcp:// (no socket of theirs to mount).
fn tcp_endpoints(engines: &IndexMap<String, EngineSpec>) -> Vec<&str> {
    engines
        .values()
        .filter(|e| e.endpoint().is_some_and(|p| p.url.starts_with("tcp://")))
        .map(|e| e.name.as_str())
        .collect()
}

fn no_socket(service: &str, tcp: &[&str]) -> String {
    format!(
        "service `{service}` asks for the engine's socket, but engine{} {} {} reached over tcp://: there is no socket of it to mount",
        if tcp.len() == 1 { "" } else { "s" },
        tcp.iter()
            .map(|t| format!("`{t}`"))
            .collect::<Vec<_>>()
            .join(", "),
        if tcp.len() == 1 { "is" } else { "are" },
    )
}

const NO_SOCKET_HELP: &str = "run that service on dind or host engines only (a separate matrix), or give the endpoint as unix://";

/// A `docker-socket` service and a tcp:// endpoint engine in one matrix is an error at the
/// service's `docker-socket` line.
pub(super) fn validate(cx: &mut Ctx<'_>, raw: &RawMatrix, engines: &IndexMap<String, EngineSpec>) {
    let tcp = tcp_endpoints(engines);
    if tcp.is_empty() {
        return;
    }
    for (name, s) in &raw.services {
        let Some(d) = s.get_ref().docker_socket.as_ref().filter(|d| *d.get_ref()) else {
            continue;
        };
        cx.err(
            d.span(),
            format!("services.{}.docker-socket", toml_key(name.get_ref())),
            no_socket(name.get_ref(), &tcp),
            NO_SOCKET_HELP,
        );
    }
}

/// The same for a compose service that binds /var/run/docker.sock: an error at that line
/// of the compose file.
pub(super) fn validate_compose(
    cx: &mut Ctx<'_>,
    project: &crate::compose::Project,
    engines: &IndexMap<String, EngineSpec>,
) {
    let tcp = tcp_endpoints(engines);
    if tcp.is_empty() {
        return;
    }
    // Without the cell's values: a socket bind is a literal path (a compose file that
    // does not resolve so is reported cell by cell elsewhere).
    let Some(resolved) = project.resolve_without_cell() else {
        return;
    };
    for s in &resolved.services {
        if !s
            .mounts
            .iter()
            .any(|m| m.source == crate::compose::MountSource::DockerSocket)
        {
            continue;
        }
        let Some(pos) = project.socket_bind_pos(&s.name) else {
            continue;
        };
        cx.problems.push(project.diag(
            pos,
            &format!("services.{}.volumes", s.name),
            no_socket(&s.name, &tcp),
            NO_SOCKET_HELP,
        ));
    }
}

/// Warnings for the cells of this run: a socket-mounting service on the host engine gets
/// the host's own socket (a `docker-socket` service, or a compose service that binds
/// /var/run/docker.sock).
pub fn warnings(matrix: &Matrix, cells: &[Cell]) -> Vec<String> {
    let Some(on_host) = cells.iter().find(|c| {
        matrix
            .engine_for(c)
            .is_none_or(|e| e.kind() == EngineKind::Host)
    }) else {
        return Vec::new();
    };
    let mut services: Vec<String> = matrix
        .services
        .values()
        .filter(|s| s.docker_socket)
        .map(|s| s.name.clone())
        .collect();
    // Compose mounts are known once interpolated for a cell (a broken one is reported
    // elsewhere).
    for s in matrix.cell_services(on_host).unwrap_or_default() {
        let binds_socket = s.compose.as_ref().is_some_and(|c| {
            c.mounts
                .iter()
                .any(|m| m.source == crate::compose::MountSource::DockerSocket)
        });
        if binds_socket && !services.contains(&s.name) {
            services.push(s.name);
        }
    }
    if services.is_empty() {
        return Vec::new();
    }
    vec![format!(
        "service{} {} mount{} the host engine's own socket in cells on the host engine: {} can see and change every container on this machine",
        if services.len() == 1 { "" } else { "s" },
        services
            .iter()
            .map(|s| format!("`{s}`"))
            .collect::<Vec<_>>()
            .join(", "),
        if services.len() == 1 { "s" } else { "" },
        if services.len() == 1 { "it" } else { "they" },
    )]
}
