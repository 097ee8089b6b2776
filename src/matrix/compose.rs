//! The matrix's `[compose]` table: loads the compose project it names and makes each
//! active compose service a service of the matrix, with the dockmatrix keys (`kind`,
//! `version`, `ready`, `memory`, `cpus`) from `x-dockmatrix` or a `[services.NAME]`
//! table of the same name, or the kind inferred from the image.

use std::path::Path;
use std::sync::Arc;

use indexmap::IndexMap;
use toml::Spanned;

use super::raw::{RawCompose, RawService, SpannedMap};
use super::*;
use crate::compose::{self, Project};
use crate::diagnostic::{Ctx, toml_key};

/// Loads the compose project of `[compose]`, its problems added to `cx`.
pub(super) fn project(
    cx: &mut Ctx<'_>,
    base: &Path,
    raw: Option<&Spanned<RawCompose>>,
) -> Option<Project> {
    let raw = raw?;
    let table = raw.get_ref();
    let files = table.files.get_ref();
    if files.is_empty() {
        cx.err(
            table.files.span(),
            "compose.files",
            "`files` is empty",
            "name at least one compose file, e.g. files = [\"compose.yaml\"] (relative to the matrix)",
        );
        return None;
    }
    let mut paths = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let p = base.join(f.get_ref());
        if !p.is_file() {
            cx.err(
                f.span(),
                format!("compose.files[{i}]"),
                format!(
                    "compose file `{}` does not exist (looked for {})",
                    f.get_ref(),
                    p.display()
                ),
                "compose paths are relative to the matrix file",
            );
        }
        paths.push(p);
    }
    let env_file = table.env_file.as_ref().map(|e| {
        let p = base.join(e.get_ref());
        if !p.is_file() {
            cx.err(
                e.span(),
                "compose.env-file",
                format!("env file `{}` does not exist (looked for {})", e.get_ref(), p.display()),
                "the path is relative to the matrix file; leave it out to use .env beside the first compose file",
            );
        }
        p
    });
    if !cx.problems.is_empty() {
        return None;
    }
    let req = compose::Request {
        files: paths,
        profiles: table.profiles.iter().map(|p| p.get_ref().clone()).collect(),
        env_file,
    };
    match Project::load(&req) {
        Ok(p) => Some(p),
        Err(problems) => {
            cx.problems.extend(problems);
            None
        }
    }
}

/// The kind an image's name suggests: its last path component, without tag or digest.
pub fn kind_of_image(image: &str) -> ServiceKind {
    let no_digest = image.split('@').next().unwrap_or(image);
    let last = no_digest.rsplit('/').next().unwrap_or(no_digest);
    let name = last.split(':').next().unwrap_or(last);
    match name {
        "postgres" | "postgresql" => ServiceKind::Postgres,
        "mysql" | "mariadb" => ServiceKind::Mysql,
        "redis" | "valkey" => ServiceKind::Redis,
        _ => ServiceKind::Generic,
    }
}

fn parse_kind(s: &str) -> Option<ServiceKind> {
    match s {
        "generic" => Some(ServiceKind::Generic),
        "postgres" => Some(ServiceKind::Postgres),
        "mysql" => Some(ServiceKind::Mysql),
        "redis" => Some(ServiceKind::Redis),
        "http" => Some(ServiceKind::Http),
        _ => None,
    }
}

/// The matrix's services: the compose services (file order, each with the overrides of
/// the `[services.NAME]` of its name), then the matrix's own.
pub(super) fn services(
    cx: &mut Ctx<'_>,
    project: &Project,
    raw: &SpannedMap<Spanned<RawService>>,
    mut checked: IndexMap<String, ServiceSpec>,
) -> IndexMap<String, ServiceSpec> {
    let mut out = IndexMap::new();
    let defaults = project.resolve_without_cell();
    for name in project.service_names() {
        let over = raw
            .iter()
            .find(|(k, _)| k.get_ref() == name)
            .map(|(k, s)| (k, s.get_ref()));
        let from_matrix = checked.shift_remove(name);
        if let Some((k, s)) = over {
            refuse_compose_keys(cx, k, s);
        }
        let x = project.x_dockmatrix(name);
        let mut kind = None;
        if let Some(x) = x
            && let Some(k) = &x.v.kind
        {
            kind = parse_kind(&k.v.0);
            if kind.is_none() {
                cx.problems.push(project.diag(
                    k.pos,
                    &format!("services.{name}.x-dockmatrix.kind"),
                    format!("`{}` is not a service kind", k.v.0),
                    "postgres, mysql, redis, http or generic",
                ));
            }
        }
        if let Some((_, s)) = over
            && s.kind.is_some()
        {
            kind = from_matrix.as_ref().map(|m| m.kind);
        }
        let one_shot = project.is_one_shot(name);
        let kind = kind.unwrap_or_else(|| {
            if one_shot {
                ServiceKind::Generic
            } else {
                project
                    .image_without_cell(name)
                    .map_or(ServiceKind::Generic, |i| kind_of_image(&i))
            }
        });
        let mut version = x.and_then(|x| x.v.version.as_ref()).map(|v| v.v.0.clone());
        let mut ready = (Ready::Protocol, DEFAULT_READY_TIMEOUT);
        if let Some(x) = x
            && let Some(r) = &x.v.ready
        {
            ready = x_ready(cx, project, name, r);
        }
        let (mut memory, mut cpus) = (None, None);
        if let (Some((_, s)), Some(m)) = (over, &from_matrix) {
            if s.version.is_some() {
                version = m.version.clone();
            }
            if s.ready.is_some() {
                ready = (m.ready.clone(), m.ready_timeout);
            }
            if s.memory.is_some() {
                memory = m.memory;
            }
            if s.cpus.is_some() {
                cpus = m.cpus;
            }
        }
        out.insert(
            name.to_string(),
            ServiceSpec {
                name: name.to_string(),
                kind,
                image: String::new(),
                image_span: 0..0,
                version,
                env: IndexMap::new(),
                command: None,
                ports: defaults
                    .as_ref()
                    .and_then(|d| d.services.iter().find(|s| s.name == name))
                    .map(|s| s.ports.clone())
                    .unwrap_or_default(),
                depends_on: project.dependency_names(name),
                ready: ready.0,
                ready_timeout: ready.1,
                memory,
                cpus,
                restart: None,
                volumes: Vec::new(),
                // `docker-socket = true` in the matrix's `[services.NAME]` for this service.
                docker_socket: over.is_some()
                    && from_matrix.as_ref().is_some_and(|m| m.docker_socket),
                from_compose: true,
                compose: None,
            },
        );
    }
    out.extend(checked);
    out
}

/// A `[services.NAME]` for a compose service carries only dockmatrix's keys: the rest
/// is the compose file's to say.
fn refuse_compose_keys(cx: &mut Ctx<'_>, name: &Spanned<String>, s: &RawService) {
    let key = format!("services.{}", toml_key(name.get_ref()));
    let given = [
        ("image", s.image.is_some()),
        ("env", !s.env.is_empty()),
        ("command", s.command.is_some()),
        ("ports", !s.ports.is_empty()),
        ("depends-on", !s.depends_on.is_empty()),
        ("restart", s.restart.is_some()),
        ("volumes", !s.volumes.is_empty()),
    ];
    for (what, set) in given {
        if set {
            cx.err(
                name.span(),
                format!("{key}.{what}"),
                format!("`{}` is a compose service: its `{what}` comes from the compose file", name.get_ref()),
                "set it in the compose file (or a later compose file of [compose] files); here only kind, version, ready, memory and cpus",
            );
        }
    }
}

/// `x-dockmatrix.ready` in YAML, read as the matrix's `ready` table.
fn x_ready(
    cx: &mut Ctx<'_>,
    project: &Project,
    service: &str,
    r: &compose::raw::At<compose::raw::RawReady>,
) -> (Ready, std::time::Duration) {
    let key = format!("services.{service}.x-dockmatrix.ready");
    let mut err = |pos, what: &str, msg: String| {
        cx.problems.push(project.diag(
            pos,
            &format!("{key}.{what}"),
            msg,
            "e.g. ready: { http: /health, port: 8080, timeout: 60s }",
        ));
    };
    let port = |x: &Option<compose::raw::Sc>,
                what: &str,
                err: &mut dyn FnMut(compose::raw::Pos, &str, String)|
     -> Option<u16> {
        let x = x.as_ref()?;
        match x.v.0.parse::<u16>() {
            Ok(p) if p > 0 => Some(p),
            _ => {
                err(x.pos, what, format!("`{}` is not a port", x.v.0));
                None
            }
        }
    };
    let r = &r.v;
    let timeout = match &r.timeout {
        Some(t) => match crate::units::parse_duration(&t.v.0) {
            Ok(d) if !d.is_zero() => d,
            _ => {
                err(t.pos, "timeout", format!("`{}` is not a duration", t.v.0));
                DEFAULT_READY_TIMEOUT
            }
        },
        None => DEFAULT_READY_TIMEOUT,
    };
    let ready = if let Some(path) = &r.http {
        let p = port(&r.port, "port", &mut err).unwrap_or(80);
        let status = port(&r.status, "status", &mut err);
        Ready::Http {
            path: path.v.0.clone(),
            port: p,
            status,
        }
    } else if r.tcp.is_some() {
        Ready::Tcp {
            port: port(&r.tcp, "tcp", &mut err).unwrap_or(1),
        }
    } else if let Some(l) = &r.log {
        Ready::Log {
            pattern: l.v.0.clone(),
        }
    } else if let Some(e) = &r.exec {
        Ready::Exec {
            command: e.iter().map(|x| x.v.0.clone()).collect(),
        }
    } else {
        Ready::Protocol
    };
    (ready, timeout)
}

impl Matrix {
    /// A cell's services with every value it decides: for a compose matrix, the compose
    /// services interpolated for the cell (each carrying its [`compose::ComposeService`]),
    /// then the matrix's own; otherwise the matrix's services. In start order.
    pub fn cell_services(&self, cell: &Cell) -> Result<Vec<ServiceSpec>, Diagnostics> {
        let resolved = match &self.compose {
            Some(p) => Some(p.resolve(&cell.id, &cell.values).map_err(Diagnostics)?),
            None => None,
        };
        let mut out = Vec::new();
        for svc in self.services_in_start_order() {
            let mut spec = svc.clone();
            if let Some(r) = &resolved
                && svc.from_compose
                && let Some(c) = r.services.iter().find(|c| c.name == svc.name)
            {
                spec.image = c.image.clone();
                spec.env = c.environment.clone();
                spec.command = c.command.clone();
                spec.ports = c.ports.clone();
                spec.depends_on = c.depends_on.iter().map(|d| d.service.clone()).collect();
                spec.restart = c.restart;
                spec.memory = spec.memory.or(c.memory);
                spec.cpus = spec.cpus.or(c.cpus);
                spec.compose = Some(Arc::new(c.clone()));
            }
            out.push(spec);
        }
        Ok(out)
    }

    /// What compose would warn about for `cell` (ignored `container_name`, host ports,
    /// unset variables), each once.
    pub fn compose_warnings(&self, cell: &Cell) -> Vec<String> {
        self.compose
            .as_ref()
            .and_then(|p| p.resolve(&cell.id, &cell.values).ok())
            .map(|r| r.warnings)
            .unwrap_or_default()
    }

    /// The compose problems of the cells: every cell is resolved, but cells that give the
    /// compose files the same values resolve alike, so each distinct set once. At most
    /// `max` problems, each named with the first cell that shows it.
    pub(super) fn compose_problems(
        &self,
        exp: &expand::Expansion<'_>,
        max: usize,
    ) -> Vec<crate::diagnostic::Diagnostic> {
        use rayon::prelude::*;
        let Some(project) = &self.compose else {
            return Vec::new();
        };
        let mut seen = std::collections::HashSet::new();
        let mut todo: Vec<Cell> = Vec::new();
        for i in 0..exp.len() {
            let cell = Cell::new(exp.values(i));
            if seen.insert(project.cell_key(&cell.id, &cell.values)) {
                todo.push(cell);
            }
        }
        let found: Vec<Vec<crate::diagnostic::Diagnostic>> = todo
            .par_iter()
            .map(|cell| match project.resolve(&cell.id, &cell.values) {
                Ok(_) => Vec::new(),
                Err(ds) => ds
                    .into_iter()
                    .map(|mut d| {
                        d.message = format!("cell {}: {}", cell.id, d.message);
                        d
                    })
                    .collect(),
            })
            .collect();
        let mut out: Vec<crate::diagnostic::Diagnostic> = Vec::new();
        let mut places = std::collections::HashSet::new();
        for d in found.into_iter().flatten() {
            if out.len() >= max {
                break;
            }
            // One report per place and problem, whichever cells share it.
            let what = d
                .message
                .split_once(": ")
                .map_or(d.message.clone(), |(_, m)| m.to_string());
            if places.insert((d.file.clone(), d.line, d.column, what)) {
                out.push(d);
            }
        }
        out
    }
}
