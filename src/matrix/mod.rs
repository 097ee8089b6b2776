//! The matrix file: parsed into raw structs ([`raw`]), validated into the checked types of
//! this module, and expanded into [`Cell`]s. Plain data and functions: no Docker, no tokio.

pub mod auto_partition;
pub mod axes;
pub mod cell;
mod compose;
mod engine_env;
mod engine_spec;
pub mod expand;
pub mod filter;
pub mod image_store;
pub mod plan;
mod raw;
pub mod socket;
mod validate;

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;
use serde::Serialize;

/// A service's restart policy: compose's vocabulary (Docker's names), which the matrix's
/// `restart` key shares.
pub use crate::compose::Restart;
pub use cell::{Cell, Partition, PartitionKind};
pub use compose::kind_of_image;
pub use engine_spec::{DindSpec, EndpointSpec, EngineKind, EngineSpec, EngineTarget, TlsFiles};
pub use filter::{Filter, FilterError, Requirement, Version};

use crate::diagnostic::{Diagnostic, Diagnostics};

/// A checked matrix: every reference resolved, every value of the right kind.
#[derive(Debug, Clone, Serialize)]
pub struct Matrix {
    #[serde(skip)]
    pub path: PathBuf,
    #[serde(skip)]
    pub source: String,
    pub name: String,
    /// Scenario files, resolved relative to the matrix file.
    pub scenarios: Vec<PathBuf>,
    pub run: RunSettings,
    /// Axes in file order, values as strings.
    pub axes: Vec<Axis>,
    pub exclude: Vec<IndexMap<String, String>>,
    pub include: Vec<IndexMap<String, String>>,
    pub known: Vec<Known>,
    pub engines: IndexMap<String, EngineSpec>,
    pub services: IndexMap<String, ServiceSpec>,
    /// Upgrade paths by the `upgrade` axis value naming them.
    pub upgrades: IndexMap<String, UpgradePath>,
    /// The files the `daemon-config` axis names, by value, read as JSON objects.
    pub daemon_configs: IndexMap<String, serde_json::Value>,
    /// The compose project of `[compose]` (its files and digests are part of the hash).
    #[serde(serialize_with = "serialize_arc")]
    pub compose: Option<std::sync::Arc<crate::compose::Project>>,
}

/// An upgrade rehearsal: engine `from` is seeded and tested, stopped as a package upgrade
/// stops it, and engine `to` is started on the same data (then `from` again on rollback).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UpgradePath {
    pub name: String,
    pub from: String,
    pub to: String,
    pub rollback: bool,
    /// The storage driver asked of `to` (default: the cell's).
    pub to_storage_driver: Option<String>,
    /// daemon.json keys for `to`, over the engine's and the cell's.
    pub to_daemon: Option<serde_json::Value>,
    /// The image store asked of `to` (default: the cell's): `containerd` rehearses a
    /// host switching to the containerd image store.
    pub to_image_store: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Axis {
    pub name: String,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RunSettings {
    pub max_parallel: Option<usize>,
    pub retries: Option<u32>,
    pub cell_timeout: Option<Duration>,
    pub pull: Option<PullPolicy>,
    /// `engine-cache = "on" | "off"` (or true/false).
    pub engine_cache: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PullPolicy {
    Never,
    Missing,
    Always,
}

impl std::str::FromStr for PullPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "never" => Ok(PullPolicy::Never),
            "missing" => Ok(PullPolicy::Missing),
            "always" => Ok(PullPolicy::Always),
            other => Err(format!(
                "`{other}` is no pull policy; expected never, missing or always"
            )),
        }
    }
}

/// A documented incompatibility: matching checks that fail are `known-fail`.
#[derive(Debug, Clone, Serialize)]
pub struct Known {
    #[serde(serialize_with = "serialize_display")]
    pub filter: Filter,
    pub check: String,
    /// Where `check` is written in the matrix file: scenario cross-checks point at it.
    #[serde(skip)]
    pub check_span: Range<usize>,
    pub reason: String,
}

fn serialize_arc<T: Serialize, S: serde::Serializer>(
    v: &Option<std::sync::Arc<T>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    v.as_deref().serialize(s)
}

fn serialize_display<T: std::fmt::Display, S: serde::Serializer>(
    v: &T,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceKind {
    Postgres,
    Mysql,
    Redis,
    Http,
    Generic,
}

impl ServiceKind {
    /// The port the kind listens on by default, used for readiness and checks.
    pub fn default_port(self) -> Option<u16> {
        match self {
            ServiceKind::Postgres => Some(5432),
            ServiceKind::Mysql => Some(3306),
            ServiceKind::Redis => Some(6379),
            ServiceKind::Http | ServiceKind::Generic => None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ServiceSpec {
    pub name: String,
    pub kind: ServiceKind,
    /// Image template: `{version}` and `{axis}` placeholders.
    pub image: String,
    #[serde(skip)]
    pub image_span: Range<usize>,
    pub version: Option<String>,
    /// Values may hold `${VAR}` / `${VAR:-default}`, resolved at run time.
    pub env: IndexMap<String, String>,
    pub command: Option<Vec<String>>,
    pub ports: Vec<u16>,
    pub depends_on: Vec<String>,
    pub ready: Ready,
    pub ready_timeout: Duration,
    pub memory: Option<u64>,
    pub cpus: Option<f64>,
    pub restart: Option<Restart>,
    /// Named volumes (name, path in the container), created per cell.
    pub volumes: Vec<(String, String)>,
    /// A service of the `[compose]` files: its image is interpolated per cell.
    pub from_compose: bool,
    /// In a cell's services ([`Matrix::cell_services`]): the compose service as that cell
    /// resolved it.
    #[serde(skip)]
    pub compose: Option<std::sync::Arc<crate::compose::ComposeService>>,
    /// The cell's own engine socket is mounted at /var/run/docker.sock (a client of the
    /// Docker API in the stack: a proxy, a CI agent, an app that starts containers).
    pub docker_socket: bool,
}

/// How a service is known to be ready: a real protocol handshake per kind by default.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Ready {
    /// The kind's own handshake (PostgreSQL `SELECT 1`, MySQL `SELECT 1`, Redis `PING`);
    /// for `http`/`generic` without `ready`, the container running.
    Protocol,
    Http {
        path: String,
        port: u16,
        status: Option<u16>,
    },
    Tcp {
        port: u16,
    },
    Log {
        pattern: String,
    },
    Exec {
        command: Vec<String>,
    },
}

pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(120);

impl Matrix {
    /// Reads, parses and validates a matrix file. Every problem is a diagnostic naming
    /// the file, line, column and key path.
    pub fn load(path: &Path) -> Result<Matrix, Diagnostics> {
        let source = crate::diagnostic::read_toml_source(path)?;
        Matrix::from_source(path, source)
    }

    pub fn from_source(path: &Path, source: String) -> Result<Matrix, Diagnostics> {
        let raw: raw::RawMatrix = crate::diagnostic::parse_toml(path, &source)?;
        let m = validate::validate(path, source, raw)?;
        // Its secrets are masked wherever they appear in this process's outputs: env
        // values of secret keys, and passwords in URLs of any value (found before any
        // cell id is made, so that a password reappearing alone is masked there too).
        for svc in m.services.values() {
            crate::secrets::remember_env(svc.env.iter());
        }
        for v in m
            .axes
            .iter()
            .flat_map(|a| &a.values)
            .chain(m.include.iter().flat_map(|i| i.values()))
        {
            if v.contains("://") {
                let _ = crate::secrets::mask_urls(v);
            }
        }
        Ok(m)
    }

    /// Every key a cell may carry: the axes, then keys that include entries introduced.
    pub fn keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = self.axes.iter().map(|a| a.name.as_str()).collect();
        for inc in &self.include {
            for k in inc.keys() {
                if !keys.contains(&k.as_str()) {
                    keys.push(k);
                }
            }
        }
        keys
    }

    /// All cells in plan order.
    pub fn cells(&self) -> Result<Vec<Cell>, Diagnostics> {
        let axes = self.axis_pairs();
        let exp = self.checked_expansion(&axes)?;
        let all: Vec<usize> = (0..exp.len()).collect();
        Ok(materialise(&exp, &all))
    }

    /// Cells after `filter` and `partition`. The filter and the partition work on the
    /// compact expansion; only the cells they keep are built.
    pub fn plan(
        &self,
        filter: Option<&Filter>,
        partition: Option<Partition>,
    ) -> Result<Vec<Cell>, PlanError> {
        use rayon::prelude::*;
        let axes = self.axis_pairs();
        let exp = self.checked_expansion(&axes).map_err(PlanError::Matrix)?;
        let mut kept: Vec<usize> = match filter {
            Some(f) => {
                f.check_axes(self.keys().iter().copied())
                    .map_err(PlanError::Filter)?;
                let terms: Vec<(&str, _)> = f
                    .terms
                    .iter()
                    .map(|t| (t.axis.as_str(), move |v: &str| t.req.matches(v)))
                    .collect();
                let kept = exp.matching(&terms);
                if kept.is_empty() {
                    return Err(PlanError::NoMatch(f.to_string()));
                }
                kept
            }
            None => (0..exp.len()).collect(),
        };
        if let Some(p) = partition {
            let keep: Vec<bool> = kept
                .par_iter()
                .enumerate()
                .map(|(position, &i)| p.keeps(position, || cell::pairs_digest(exp.pairs(i))))
                .collect();
            kept = kept
                .into_iter()
                .zip(keep)
                .filter_map(|(i, k)| k.then_some(i))
                .collect();
        }
        Ok(materialise(&exp, &kept))
    }

    fn axis_pairs(&self) -> Vec<(String, Vec<String>)> {
        self.axes
            .iter()
            .map(|a| (a.name.clone(), a.values.clone()))
            .collect()
    }

    /// The expansion, once every cell is known to give each service's image the values
    /// it names. That depends only on which keys a cell has, so one cell per key set is
    /// checked (and named in the error), not every cell.
    fn checked_expansion<'a>(
        &'a self,
        axes: &'a [(String, Vec<String>)],
    ) -> Result<expand::Expansion<'a>, Diagnostics> {
        let exp = expand::Expansion::new(axes, &self.exclude, &self.include);
        let mut seen: std::collections::HashSet<Vec<bool>> = std::collections::HashSet::new();
        let mut keys: Vec<bool> = Vec::new();
        let mut problems = Vec::new();
        for i in 0..exp.len() {
            if let Some(present) = exp.extra_keys_present(i) {
                keys.clear();
                keys.extend(present);
                if seen.contains(keys.as_slice()) {
                    continue;
                }
                seen.insert(keys.clone());
            }
            let cell = Cell::new(exp.values(i));
            for svc in self.services.values().filter(|s| !s.from_compose) {
                if let Err(msg) = self.image_for(svc, &cell) {
                    problems.push(
                        Diagnostic::at(
                            &self.path,
                            &self.source,
                            svc.image_span.clone(),
                            format!("services.{}.image", svc.name),
                            format!("cell {}: {msg}", cell.id),
                        )
                        .with_help(format!(
                            "add a `{0}` axis (or a `{0}` key to the include entry that made this cell), or set `version` on the service",
                            svc.name
                        )),
                    );
                    if problems.len() >= 5 {
                        return Err(Diagnostics(problems));
                    }
                }
            }
        }
        problems.extend(self.compose_problems(&exp, 20));
        if problems.is_empty() {
            Ok(exp)
        } else {
            Err(Diagnostics(problems))
        }
    }

    /// The version of `svc` in `cell`: the cell's value of the axis named after the
    /// service, else the service's `version`.
    pub fn service_version<'a>(&'a self, svc: &'a ServiceSpec, cell: &'a Cell) -> Option<&'a str> {
        cell.get(&svc.name).or(svc.version.as_deref())
    }

    /// The image reference of `svc` in `cell`, placeholders filled.
    pub fn image_for(&self, svc: &ServiceSpec, cell: &Cell) -> Result<String, String> {
        if let Some(c) = &svc.compose {
            return Ok(c.image.clone());
        }
        if svc.from_compose
            && let Some(project) = &self.compose
        {
            return project.image(&svc.name, &cell.id, &cell.values);
        }
        fill_template(&svc.image, |name| {
            if name == "version" {
                self.service_version(svc, cell).map(str::to_string)
            } else {
                cell.get(name).map(str::to_string)
            }
        })
        .map_err(|missing| {
            if missing == "version" {
                format!(
                    "service `{}` has image `{}` but the cell has no `{}` value and the service no `version`",
                    svc.name, svc.image, svc.name
                )
            } else {
                format!(
                    "service `{}` has image `{}` but the cell has no `{missing}` value",
                    svc.name, svc.image
                )
            }
        })
    }

    /// The upgrade path of an upgrade cell.
    pub fn upgrade_for(&self, cell: &Cell) -> Option<&UpgradePath> {
        cell.upgrade().and_then(|u| self.upgrades.get(u))
    }

    /// The daemon.json an engine starts with in `cell`: the engine's `daemon`, then the
    /// keys of the cell's `daemon-config` file over it. `None` when neither says anything.
    pub fn daemon_for(&self, engine: &EngineSpec, cell: &Cell) -> Option<serde_json::Value> {
        let file = cell
            .daemon_config()
            .and_then(|f| self.daemon_configs.get(f));
        merge_daemon(engine.daemon.as_ref(), file)
    }

    /// The engine a cell runs on (`None`: the host engine).
    pub fn engine_for(&self, cell: &Cell) -> Option<&EngineSpec> {
        // An upgrade cell starts on its path's `from` engine.
        cell.engine()
            .or_else(|| self.upgrade_for(cell).map(|u| u.from.as_str()))
            .and_then(|e| self.engines.get(e))
    }

    /// The `[[known]]` entry for `check` in `cell`, if any.
    pub fn known_for(&self, cell: &Cell, check: &str) -> Option<&Known> {
        self.known
            .iter()
            .find(|k| k.check == check && k.filter.matches(&cell.values))
    }

    /// SHA-256 of the normalised matrix (its checked form as canonical JSON): shards of
    /// one matrix carry the same hash whatever the file's comments and layout.
    pub fn hash(&self) -> String {
        use sha2::{Digest, Sha256};
        let value = serde_json::to_value(self).unwrap_or_default();
        let canonical = canonical_json(&value);
        hex::encode(Sha256::digest(canonical.as_bytes()))
    }

    /// Services in `depends-on` order (dependencies first); validation has ruled out cycles.
    pub fn services_in_start_order(&self) -> Vec<&ServiceSpec> {
        let mut done: Vec<&str> = Vec::new();
        let mut out = Vec::new();
        while out.len() < self.services.len() {
            let before = out.len();
            for svc in self.services.values() {
                if !done.contains(&svc.name.as_str())
                    && svc.depends_on.iter().all(|d| done.contains(&d.as_str()))
                {
                    done.push(&svc.name);
                    out.push(svc);
                }
            }
            if out.len() == before {
                break;
            }
        }
        out
    }
}

/// Builds the cells at `indices` of the expansion. Not with rayon: building a cell is
/// mostly allocation, and spread over threads glibc's allocator took twice the CPU
/// (260 ms against 130 ms for 60,000 cells, most of it freeing across threads).
/// `over`'s keys over `base`'s (daemon.json objects).
pub fn merge_daemon(
    base: Option<&serde_json::Value>,
    over: Option<&serde_json::Value>,
) -> Option<serde_json::Value> {
    match (base, over) {
        (None, None) => None,
        (Some(b), None) => Some(b.clone()),
        (None, Some(o)) => Some(o.clone()),
        (Some(b), Some(o)) => {
            let mut merged = b.as_object().cloned().unwrap_or_default();
            if let Some(o) = o.as_object() {
                for (k, v) in o {
                    merged.insert(k.clone(), v.clone());
                }
            }
            Some(serde_json::Value::Object(merged))
        }
    }
}

fn materialise(exp: &expand::Expansion<'_>, indices: &[usize]) -> Vec<Cell> {
    indices.iter().map(|&i| Cell::new(exp.values(i))).collect()
}

/// Sorted keys, no whitespace.
fn canonical_json(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Object(map) => {
            let sorted: BTreeMap<&String, String> =
                map.iter().map(|(k, v)| (k, canonical_json(v))).collect();
            let body: Vec<String> = sorted
                .iter()
                .map(|(k, v)| format!("{}:{v}", serde_json::Value::String((*k).clone())))
                .collect();
            format!("{{{}}}", body.join(","))
        }
        serde_json::Value::Array(items) => {
            format!(
                "[{}]",
                items
                    .iter()
                    .map(canonical_json)
                    .collect::<Vec<_>>()
                    .join(",")
            )
        }
        other => other.to_string(),
    }
}

/// Fills `{name}` placeholders; `Err(name)` for the first one `lookup` lacks.
pub fn fill_template(
    template: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let name = &after[..close];
                out.push_str(&lookup(name).ok_or_else(|| name.to_string())?);
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Placeholders named in a template.
pub fn placeholders(template: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        out.push(&after[..close]);
        rest = &after[close + 1..];
    }
    out
}

/// Why a plan could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("{0}")]
    Matrix(Diagnostics),
    #[error("invalid filter")]
    Filter(#[source] FilterError),
    #[error("the filter `{0}` matches no cell")]
    NoMatch(String),
}
