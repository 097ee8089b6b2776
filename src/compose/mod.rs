//! The team's own compose files as a cell's stack: read with a bounded YAML parser that
//! keeps lines and columns ([`raw`]), merged in order as `docker compose -f a -f b`
//! merges them ([`merge`]), filtered by profiles, then interpolated per cell ([`interp`])
//! and checked into the [`ComposeService`]s the stack starts ([`resolve`]). Plain data and
//! functions: no Docker, no tokio.
//!
//! Parser: serde-saphyr (maintained, panic-free, pure Rust). It gives every value its
//! line and column (`Spanned`), refuses duplicate keys, expands `<<` merge keys, and
//! bounds aliases and input size (an alias bomb is an error, not a hang). serde_yaml is
//! archived and serde_yml unsound; yaml-rust2/saphyr would mean a hand-written typed walk
//! instead of serde structs. No compose-model crate keeps positions for the errors found
//! after interpolation, so the model here is our own.

mod env_file;
pub mod interp;
mod merge;
pub mod raw;
mod resolve;
mod text;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;
use serde::Serialize;

use crate::diagnostic::Diagnostic;
use raw::{At, Pos, RawFile, RawNetwork, RawService, RawVolume};

pub use resolve::Resolved;

/// Larger than any compose file a team writes; a bigger one is refused before parsing.
pub const MAX_COMPOSE_BYTES: u64 = 1 << 20;
/// More aliases than a hand-written file uses; an alias bomb needs far more.
const MAX_ALIASES: usize = 1_000;
/// Events replayed through aliases, in all (a billion-laughs file needs millions).
const MAX_REPLAYED_EVENTS: usize = 100_000;

/// A file the project read, with its text (for diagnostics) and digest (for run.json).
#[derive(Debug, Clone, Serialize)]
pub struct SourceFile {
    pub path: PathBuf,
    #[serde(skip)]
    pub text: String,
    pub sha256: String,
}

/// The compose files of a matrix, read, merged and filtered by profiles; interpolated
/// per cell by [`Project::resolve`].
#[derive(Debug, Clone, Serialize)]
pub struct Project {
    pub files: Vec<SourceFile>,
    /// The first file's folder, against which relative paths resolve (as compose does),
    /// and the only folder binds may come from.
    pub folder: PathBuf,
    pub profiles: Vec<String>,
    pub env_file: Option<SourceFile>,
    /// Top-level `name`, as written.
    #[serde(skip)]
    pub name: Option<String>,
    /// The env file's variables, in order.
    #[serde(skip)]
    env_vars: HashMap<String, String>,
    /// The caller's environment, read once.
    #[serde(skip)]
    caller_env: HashMap<String, String>,
    /// Services after merging, the profile-disabled ones removed.
    #[serde(skip)]
    services: Vec<(At<String>, RawService)>,
    #[serde(skip)]
    volumes: Vec<(At<String>, Option<RawVolume>)>,
    #[serde(skip)]
    networks: Vec<(At<String>, Option<RawNetwork>)>,
    /// Every variable any value may read, for deciding which cells can differ.
    #[serde(skip)]
    variables: Vec<String>,
    /// Services another waits for with `service_completed_successfully`.
    #[serde(skip)]
    one_shots: Vec<String>,
}

/// What the matrix's `[compose]` table asks for, paths already resolved.
#[derive(Debug, Clone)]
pub struct Request {
    pub files: Vec<PathBuf>,
    pub profiles: Vec<String>,
    /// `None`: `.env` beside the first file, if present.
    pub env_file: Option<PathBuf>,
}

/// The dependency conditions of compose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    ServiceStarted,
    ServiceHealthy,
    ServiceCompletedSuccessfully,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dependency {
    pub service: String,
    pub condition: Condition,
    pub required: bool,
}

/// A healthcheck handed to the engine (Docker runs it; we read its verdict).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Healthcheck {
    /// `["NONE"]` disables the image's own healthcheck.
    pub test: Vec<String>,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub retries: Option<u32>,
    pub start_period: Option<Duration>,
    pub start_interval: Option<Duration>,
}

/// Where a mount's content comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum MountSource {
    /// A top-level named volume: one volume per cell, shared by the cell's services.
    Volume {
        name: String,
    },
    /// `- /data` alone: an anonymous volume, removed with its container.
    Anonymous,
    /// A file or folder inside the compose folder (absolute, normalised).
    Bind {
        path: PathBuf,
        is_dir: bool,
    },
    Tmpfs {
        size: Option<u64>,
    },
    /// `/var/run/docker.sock`: the socket of the cell's own engine.
    DockerSocket,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mount {
    pub source: MountSource,
    pub target: String,
    pub read_only: bool,
    pub nocopy: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceNetwork {
    /// The compose network's name (`default` when the service names none).
    pub name: String,
    pub aliases: Vec<String>,
}

/// A service container's restart policy (Docker's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Restart {
    No,
    OnFailure,
    Always,
    UnlessStopped,
}

impl Restart {
    pub fn parse(s: &str) -> Option<Restart> {
        match s {
            "no" => Some(Restart::No),
            "on-failure" => Some(Restart::OnFailure),
            "always" => Some(Restart::Always),
            "unless-stopped" => Some(Restart::UnlessStopped),
            _ => None,
        }
    }
}

/// A compose service of one cell: every value interpolated and checked.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ComposeService {
    pub name: String,
    pub image: String,
    pub command: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    /// `env_file` entries under `environment`, as compose layers them.
    pub environment: IndexMap<String, String>,
    /// Container TCP ports to publish (on ephemeral host ports).
    pub ports: Vec<u16>,
    pub expose: Vec<u16>,
    pub depends_on: Vec<Dependency>,
    pub healthcheck: Option<Healthcheck>,
    pub mounts: Vec<Mount>,
    pub restart: Option<Restart>,
    pub memory: Option<u64>,
    pub cpus: Option<f64>,
    pub pids_limit: Option<i64>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub labels: IndexMap<String, String>,
    /// `host:ip` entries.
    pub extra_hosts: Vec<String>,
    pub dns: Vec<String>,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    /// (name, soft, hard)
    pub ulimits: Vec<(String, i64, i64)>,
    pub sysctls: IndexMap<String, String>,
    pub shm_size: Option<u64>,
    pub stop_signal: Option<String>,
    pub stop_grace_period: Option<Duration>,
    pub init: Option<bool>,
    pub privileged: bool,
    pub read_only: bool,
    pub tty: bool,
    pub stdin_open: bool,
    pub networks: Vec<ServiceNetwork>,
    /// Another service waits for it with `service_completed_successfully`: it runs to
    /// completion, its exit is not a crash, it has no protocol handshake.
    pub one_shot: bool,
}

/// Which values of a cell the project reads, so that cells agreeing on them resolve alike.
pub fn axis_variable(axis: &str) -> String {
    axis.to_ascii_uppercase().replace('-', "_")
}

impl Project {
    /// Reads, parses and merges the files, applies profiles and the cell-independent
    /// rules. Every problem is a diagnostic naming the file, line, column and key path.
    pub fn load(req: &Request) -> Result<Project, Vec<Diagnostic>> {
        let mut problems = Vec::new();
        let mut files = Vec::new();
        let mut raws = Vec::new();
        for (i, path) in req.files.iter().enumerate() {
            match read_bounded(path, MAX_COMPOSE_BYTES, "compose file") {
                Ok(text) => {
                    let file = u16::try_from(i).unwrap_or(u16::MAX);
                    let parsed = parse(path, &text, file);
                    files.push(SourceFile {
                        path: path.clone(),
                        sha256: sha256_hex(text.as_bytes()),
                        text,
                    });
                    match parsed {
                        Ok(raw) => raws.push(raw),
                        Err(d) => problems.push(d),
                    }
                }
                Err(d) => problems.push(d),
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let first = &req.files[0];
        let folder = first
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let folder = std::fs::canonicalize(&folder).unwrap_or(folder);

        let env_path = match &req.env_file {
            Some(p) => Some(p.clone()),
            None => Some(folder.join(".env")).filter(|p| p.is_file()),
        };
        let mut env_vars = HashMap::new();
        let env_file = match env_path {
            Some(p) => match read_bounded(&p, MAX_COMPOSE_BYTES, "env file") {
                Ok(text) => {
                    match env_file::parse_env_file(&p, &text, &|k| std::env::var(k).ok()) {
                        Ok(vars) => env_vars.extend(vars),
                        Err(d) => problems.push(d),
                    }
                    Some(SourceFile {
                        path: p,
                        sha256: sha256_hex(text.as_bytes()),
                        text,
                    })
                }
                Err(d) => {
                    problems.push(d);
                    None
                }
            },
            None => None,
        };

        let merged = merge::merge(raws);
        let mut project = Project {
            files,
            folder,
            profiles: req.profiles.clone(),
            env_file,
            name: None,
            env_vars,
            caller_env: std::env::vars().collect(),
            services: Vec::new(),
            volumes: merged.volumes,
            networks: merged.networks,
            variables: Vec::new(),
            one_shots: Vec::new(),
        };
        project.name = merged.name.map(|n| n.v.0);
        for d in merged.refused {
            problems.push(project.diag(d.pos, &d.key, d.message, d.help));
        }
        project.services = project.apply_profiles(merged.services, &mut problems);
        problems.extend(project.static_checks());
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut vars = Vec::new();
        for (_, s) in &project.services {
            merge::each_scalar(s, &mut |sc| interp::variables(&sc.v.0, &mut vars));
        }
        for (_, v) in &project.volumes {
            if let Some(n) = v.as_ref().and_then(|v| v.name.as_ref()) {
                interp::variables(&n.v.0, &mut vars);
            }
        }
        project.variables = vars;
        project.one_shots = project.find_one_shots();
        Ok(project)
    }

    /// The active services' names, in file order.
    pub fn service_names(&self) -> impl Iterator<Item = &str> {
        self.services.iter().map(|(k, _)| k.v.as_str())
    }

    /// Whether a service is a one-shot job (another waits for its successful exit).
    pub fn is_one_shot(&self, service: &str) -> bool {
        self.one_shots.iter().any(|s| s == service)
    }

    /// The `x-dockmatrix` table of a service, if any.
    pub fn x_dockmatrix(&self, service: &str) -> Option<&At<raw::RawXDockmatrix>> {
        self.services
            .iter()
            .find(|(k, _)| k.v == service)
            .and_then(|(_, s)| s.x_dockmatrix.as_ref())
    }

    /// The place a service's name is written, for diagnostics about it.
    pub fn service_pos(&self, service: &str) -> Option<Pos> {
        self.services
            .iter()
            .find(|(k, _)| k.v == service)
            .map(|(k, _)| k.pos)
    }

    /// The place a service binds the engine's socket (a `volumes` entry naming
    /// `docker.sock` as written, before interpolation), else its name's.
    pub fn socket_bind_pos(&self, service: &str) -> Option<Pos> {
        let (k, s) = self.services.iter().find(|(k, _)| k.v == service)?;
        let names_socket = |m: &At<raw::ShortOrLong<raw::RawMount>>| {
            match &m.v {
                raw::ShortOrLong::Short(x) => x.0.split(':').next().unwrap_or_default(),
                raw::ShortOrLong::Long(l) => l.source.as_ref().map_or("", |x| x.v.0.as_str()),
            }
            .ends_with("docker.sock")
        };
        Some(
            s.volumes
                .iter()
                .flatten()
                .find(|m| names_socket(m))
                .map_or(k.pos, |m| m.pos),
        )
    }

    /// The names a service depends on (any condition), as written.
    pub fn dependency_names(&self, service: &str) -> Vec<String> {
        self.services
            .iter()
            .find(|(k, _)| k.v == service)
            .map(|(_, s)| merge::dependency_names(s))
            .unwrap_or_default()
    }

    /// The variables a cell gives: each axis of its values upper-cased with `-` → `_`,
    /// and `DOCKMATRIX_CELL` its id. (A cell is the matrix's; compose sees only these.)
    pub fn cell_variables(id: &str, values: &IndexMap<String, String>) -> HashMap<String, String> {
        let mut out: HashMap<String, String> = values
            .iter()
            .map(|(k, v)| (axis_variable(k), v.clone()))
            .collect();
        out.insert("DOCKMATRIX_CELL".into(), id.to_string());
        out
    }

    /// A variable's value: the cell's, then the caller's environment, then the env file.
    fn lookup(&self, cell_vars: &HashMap<String, String>, name: &str) -> Option<String> {
        cell_vars
            .get(name)
            .or_else(|| self.caller_env.get(name))
            .or_else(|| self.env_vars.get(name))
            .cloned()
    }

    /// What a cell's resolution depends on: the values of the variables the files read
    /// that the cell gives (the environment and env file are the same for every cell).
    pub fn cell_key(&self, id: &str, values: &IndexMap<String, String>) -> Vec<Option<String>> {
        let vars = Project::cell_variables(id, values);
        self.variables
            .iter()
            .map(|v| vars.get(v).cloned())
            .collect()
    }

    /// The cell's services, interpolated and checked.
    pub fn resolve(
        &self,
        id: &str,
        values: &IndexMap<String, String>,
    ) -> Result<Resolved, Vec<Diagnostic>> {
        let vars = Project::cell_variables(id, values);
        resolve::resolve(self, &|name| self.lookup(&vars, name))
    }

    /// One service's image in a cell (interpolated), without resolving the rest.
    pub fn image(
        &self,
        service: &str,
        id: &str,
        values: &IndexMap<String, String>,
    ) -> Result<String, String> {
        let vars = Project::cell_variables(id, values);
        let Some((_, s)) = self.services.iter().find(|(k, _)| k.v == service) else {
            return Err(format!("`{service}` is not a service of the compose files"));
        };
        let Some(image) = &s.image else {
            return Err(format!("service `{service}` has no image"));
        };
        interp::interpolate(&image.v.0, &|n| self.lookup(&vars, n), &mut |_| {})
            .map(|c| c.into_owned())
            .map_err(|e| format!("service `{service}`: image: {e}"))
    }

    /// The services resolved with no cell values (defaults used), when that works: what
    /// the matrix knows of them before any cell (their ports, for checking scenarios).
    pub fn resolve_without_cell(&self) -> Option<Resolved> {
        let empty = HashMap::new();
        resolve::resolve(self, &|name| self.lookup(&empty, name)).ok()
    }

    /// The image of a service with no cell values (defaults used): for inferring its
    /// kind when the matrix is loaded.
    pub fn image_without_cell(&self, service: &str) -> Option<String> {
        let (_, s) = self.services.iter().find(|(k, _)| k.v == service)?;
        let image = s.image.as_ref()?;
        let empty = HashMap::new();
        interp::interpolate(&image.v.0, &|n| self.lookup(&empty, n), &mut |_| {})
            .map(|c| c.into_owned())
            .ok()
            .or_else(|| Some(image.v.0.clone()))
    }

    /// A diagnostic at a place of one of the project's files.
    pub(crate) fn diag(
        &self,
        pos: Pos,
        key: &str,
        message: impl Into<String>,
        help: impl Into<String>,
    ) -> Diagnostic {
        let Some(file) = self.files.get(usize::from(pos.file)) else {
            return Diagnostic::whole_file(Path::new("compose"), message).with_help(help);
        };
        diag_in(&file.path, &file.text, pos, 1, key, message).with_help(help)
    }

    /// Services with a profile run only when one of their profiles is asked for; a
    /// dependency on a disabled service is an error unless it is `required: false`.
    fn apply_profiles(
        &self,
        services: Vec<(At<String>, RawService)>,
        problems: &mut Vec<Diagnostic>,
    ) -> Vec<(At<String>, RawService)> {
        let active = |s: &RawService| match &s.profiles {
            None => true,
            Some(p) if p.is_empty() => true,
            Some(p) => p.iter().any(|x| self.profiles.contains(&x.v.0)),
        };
        for (k, s) in &services {
            for p in s.profiles.iter().flatten() {
                if p.v.0.contains('$') {
                    problems.push(self.diag(
                        p.pos,
                        &format!("services.{}.profiles", k.v),
                        "profiles cannot hold variables here: whether a service runs must be the same in every cell",
                        "write the profile name as it is",
                    ));
                }
            }
        }
        let disabled: Vec<&str> = services
            .iter()
            .filter(|(_, s)| !active(s))
            .map(|(k, _)| k.v.as_str())
            .collect();
        for (k, s) in services.iter().filter(|(_, s)| active(s)) {
            for (dep, pos, required) in merge::dependencies(s) {
                if required && disabled.contains(&dep.as_str()) {
                    problems.push(self.diag(
                        pos,
                        &format!("services.{}.depends_on.{dep}", k.v),
                        format!("service `{}` depends on `{dep}`, which is disabled by its profiles", k.v),
                        "add its profile to `profiles` in the matrix's [compose] table, or mark the dependency `required: false`",
                    ));
                }
            }
        }
        services.into_iter().filter(|(_, s)| active(s)).collect()
    }

    fn find_one_shots(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (_, s) in &self.services {
            for (dep, cond) in merge::dependency_conditions(s) {
                if cond.as_deref() == Some("service_completed_successfully") && !out.contains(&dep)
                {
                    out.push(dep);
                }
            }
        }
        out
    }
}

/// Parses one file's text with the parser's limits set for compose files.
#[expect(
    clippy::result_large_err,
    reason = "one diagnostic per file, on the way out"
)]
fn parse(path: &Path, text: &str, file: u16) -> Result<RawFile, Diagnostic> {
    use serde_saphyr::{DuplicateKeyPolicy, MergeKeyPolicy};
    let mut options = serde_saphyr::Options::default();
    options.duplicate_keys = DuplicateKeyPolicy::Error;
    options.merge_keys = MergeKeyPolicy::Merge;
    let mut budget = serde_saphyr::Budget::default();
    budget.max_aliases = MAX_ALIASES;
    budget.max_reader_input_bytes = Some(MAX_COMPOSE_BYTES as usize);
    budget.max_documents = 1;
    options.budget = Some(budget);
    options.alias_limits.max_total_replayed_events = MAX_REPLAYED_EVENTS;
    options.with_snippet = false;
    let (result, mut key) = raw::with_file(file, || {
        serde_saphyr::from_str_with_options::<RawFile>(text, options)
    });
    let err = match result {
        Ok(raw) => return Ok(raw),
        Err(e) => e,
    };
    let message = first_line(&err.without_snippet().to_string());
    if let Some(field) = message
        .strip_prefix("unknown field `")
        .and_then(|m| m.split('`').next())
    {
        if !key.is_empty() {
            key.push('.');
        }
        key.push_str(field);
    }
    let help = if message.contains("unknown field") {
        "remove the key or fix its spelling (the valid keys are listed above); `x-` keys are free for your own use"
    } else if message.contains("duplicate") {
        "each key may appear once in a map; remove one of them"
    } else if message.contains("alias") || message.contains("budget") || message.contains("limit") {
        "the file expands to too much through anchors and aliases; write it out plainly"
    } else {
        "fix the YAML at this place"
    };
    Err(match err.location() {
        Some(loc) => diag_in(
            path,
            text,
            Pos {
                file,
                line: loc.line() as u32,
                column: loc.column() as u32,
            },
            1,
            &key,
            message,
        )
        .with_help(help),
        None => {
            let mut d = Diagnostic::whole_file(path, message).with_help(help);
            d.key = key;
            d
        }
    })
}

fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or("").trim();
    // serde-saphyr appends " at line L column C"; the diagnostic shows the place itself.
    match line.rfind(" at line ") {
        Some(i) => line[..i].to_string(),
        None => line.to_string(),
    }
}

/// A diagnostic at line/column `pos` of `text`, the caret `width` characters wide.
pub(crate) fn diag_in(
    path: &Path,
    text: &str,
    pos: Pos,
    width: usize,
    key: &str,
    message: impl Into<String>,
) -> Diagnostic {
    if pos.line == 0 {
        let mut d = Diagnostic::whole_file(path, message);
        d.key = key.to_string();
        return d;
    }
    let line_start: usize = text
        .split_inclusive('\n')
        .take(pos.line as usize - 1)
        .map(str::len)
        .sum();
    let line_text = text[line_start.min(text.len())..]
        .split('\n')
        .next()
        .unwrap_or("");
    let col_bytes: usize = line_text
        .chars()
        .take(pos.column.saturating_sub(1) as usize)
        .map(char::len_utf8)
        .sum();
    let start = line_start + col_bytes;
    let end_bytes: usize = line_text[col_bytes.min(line_text.len())..]
        .chars()
        .take(width.max(1))
        .map(char::len_utf8)
        .sum();
    Diagnostic::at(path, text, start..start + end_bytes, key, message)
}

/// Reads a user's file: a regular file of bounded size, UTF-8; `/proc`, `/sys` and
/// `/dev` refused.
#[expect(
    clippy::result_large_err,
    reason = "one diagnostic per file, on the way out"
)]
pub(crate) fn read_bounded(path: &Path, max: u64, what: &str) -> Result<String, Diagnostic> {
    let shown = path.to_string_lossy();
    if ["/proc", "/sys", "/dev"]
        .iter()
        .any(|p| shown == *p || shown.starts_with(&format!("{p}/")))
    {
        return Err(Diagnostic::whole_file(
            path,
            format!("a {what} cannot be under /proc, /sys or /dev"),
        ));
    }
    let meta = std::fs::metadata(path)
        .map_err(|e| Diagnostic::whole_file(path, format!("cannot read the {what}: {e}")))?;
    if !meta.is_file() {
        return Err(
            Diagnostic::whole_file(path, format!("the {what} is not a regular file"))
                .with_help("give the path of a regular file"),
        );
    }
    if meta.len() > max {
        return Err(Diagnostic::whole_file(
            path,
            format!(
                "the {what} is {} bytes; at most {} are read",
                meta.len(),
                max
            ),
        )
        .with_help("is this the right file?"));
    }
    // Through the one door for user files: the cap counted while reading, /proc, /sys and
    // /dev refused, a file swapped for a FIFO after the check above never blocks.
    let bytes = crate::safe_io::read_user_file(path, max).map_err(|e| {
        Diagnostic::whole_file(path, format!("cannot read the {what}: {}", e.reason()))
    })?;
    String::from_utf8(bytes).map_err(|e| {
        Diagnostic::whole_file(
            path,
            format!(
                "the {what} is not valid UTF-8 (byte {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}
