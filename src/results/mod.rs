//! The run record (`run.json`, versioned by [`SCHEMA`]): what a run found, cell by cell.
//! Plain data: written by the results store ([`store`]), read by reports, `compare`,
//! `merge`, `--baseline` and `--only-failed`. Knows nothing of Docker.
//!
//! Compatibility: fields are only ever added (with `#[serde(default)]`), never renamed or
//! removed, so a newer dockmatrix reads every older run.json of the same schema.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

mod cell_axes;
pub use cell_axes::special as axes;
pub mod compare;
mod header;
pub mod merge;
pub mod perf_rule;
pub mod resume;
pub mod store;
mod strings;

pub use header::{hostname, now};
pub use store::Store;

/// The schema version of run.json.
pub const SCHEMA: u32 = 1;

/// The file name of the run record inside a run folder.
pub const RUN_FILE: &str = "run.json";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunRecord {
    pub schema: u32,
    /// UTC timestamp + random suffix, e.g. `20261127T090000Z-3f9a`.
    pub run_id: String,
    pub matrix: MatrixInfo,
    /// `hash:M/N` or `count:M/N` when this run is one shard; several when merged.
    #[serde(default)]
    pub partition: Option<String>,
    /// RFC 3339.
    pub started_at: String,
    #[serde(default)]
    pub finished_at: Option<String>,
    pub tool_version: String,
    #[serde(default)]
    pub host: HostFacts,
    #[serde(default)]
    pub options: RunOptions,
    /// Every key a cell may carry, in axis order.
    #[serde(default)]
    pub axes: Vec<String>,
    pub cells: Vec<CellRecord>,
    /// The run was stopped by Ctrl-C / SIGTERM.
    #[serde(default)]
    pub interrupted: bool,
    /// Non-fatal findings (a `[[known]]` entry matching no cell, …).
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Shards this record was merged from (run ids).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct MatrixInfo {
    pub name: String,
    /// SHA-256 of the normalised matrix: shards of one matrix share it.
    pub hash: String,
    #[serde(default)]
    pub path: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct HostFacts {
    #[serde(default)]
    pub hostname: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub kernel: String,
    #[serde(default)]
    pub cpus: usize,
    #[serde(default)]
    pub memory_bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct RunOptions {
    #[serde(default)]
    pub jobs: usize,
    /// Engines alive at once (`--max-engines`); 0 in records from before it existed.
    #[serde(default)]
    pub max_engines: usize,
    #[serde(default)]
    pub retries: u32,
    #[serde(default)]
    pub cell_timeout_ms: u64,
    #[serde(default)]
    pub pull: String,
    #[serde(default)]
    pub fail_fast: bool,
    #[serde(default)]
    pub filter: Option<String>,
    #[serde(default)]
    pub baseline: Option<String>,
    #[serde(default)]
    pub only_failed: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum CellStatus {
    Pass,
    Flaky,
    Unsupported,
    Fail,
    Error,
    Cancelled,
}

impl CellStatus {
    pub fn symbol(self) -> &'static str {
        match self {
            CellStatus::Pass => "✅",
            CellStatus::Fail => "❌",
            CellStatus::Flaky => "🔁",
            CellStatus::Unsupported => "⛔",
            CellStatus::Error => "💥",
            CellStatus::Cancelled => "⏹",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CellStatus::Pass => "pass",
            CellStatus::Fail => "fail",
            CellStatus::Flaky => "flaky",
            CellStatus::Unsupported => "unsupported",
            CellStatus::Error => "error",
            CellStatus::Cancelled => "cancelled",
        }
    }

    /// Whether the cell makes `run` exit 1.
    pub fn is_failure(self, fail_on_unsupported: bool) -> bool {
        match self {
            CellStatus::Fail | CellStatus::Error => true,
            CellStatus::Unsupported => fail_on_unsupported,
            CellStatus::Pass | CellStatus::Flaky | CellStatus::Cancelled => false,
        }
    }

    /// Cells `--only-failed` reruns.
    pub fn needs_rerun(self) -> bool {
        matches!(
            self,
            CellStatus::Fail | CellStatus::Error | CellStatus::Cancelled
        )
    }
}

impl fmt::Display for CellStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum CheckStatus {
    Pass,
    Fail,
    Skipped,
    KnownFail,
    Fixed,
    Error,
}

impl CheckStatus {
    pub fn symbol(self) -> &'static str {
        match self {
            CheckStatus::Pass => "✅",
            CheckStatus::Fail => "❌",
            CheckStatus::Skipped => "–",
            CheckStatus::KnownFail => "📝",
            CheckStatus::Fixed => "✨",
            CheckStatus::Error => "💥",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Pass => "pass",
            CheckStatus::Fail => "fail",
            CheckStatus::Skipped => "skipped",
            CheckStatus::KnownFail => "known-fail",
            CheckStatus::Fixed => "fixed",
            CheckStatus::Error => "error",
        }
    }

    /// Whether the check makes its cell `fail`.
    pub fn fails_cell(self) -> bool {
        matches!(self, CheckStatus::Fail | CheckStatus::Error)
    }

    /// Counted as "passed" in `passed/run` counts (skipped checks are not run).
    pub fn counts_as_passed(self) -> bool {
        matches!(
            self,
            CheckStatus::Pass | CheckStatus::KnownFail | CheckStatus::Fixed
        )
    }
}

impl fmt::Display for CheckStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CellRecord {
    pub id: String,
    pub values: IndexMap<String, String>,
    pub status: CellStatus,
    /// Why the cell is not `pass`, in words (the engine's own for `unsupported`).
    #[serde(default)]
    pub reason: Option<String>,
    /// The step the cell was in when it failed (`engine`, `images`, `services`, `checks`).
    #[serde(default)]
    pub failed_step: Option<String>,
    pub attempts: u32,
    /// Statuses and reasons of earlier attempts (a `flaky` cell's failures).
    #[serde(default)]
    pub previous_attempts: Vec<AttemptRecord>,
    #[serde(default)]
    pub durations_ms: StepDurations,
    #[serde(default)]
    pub engine: Option<EngineFacts>,
    #[serde(default)]
    pub images: Vec<ImageRecord>,
    #[serde(default)]
    pub services: Vec<ServiceRecord>,
    #[serde(default)]
    pub checks: Vec<CheckRecord>,
    /// How to reach a stack that `--keep` left running.
    #[serde(default)]
    pub kept: Option<String>,
    /// What preflight and the daemon.json lint found before the engine was started (a
    /// `block` finding makes the cell `unsupported` without trying).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preflight: Vec<Finding>,
    /// The upgrade rehearsal of an upgrade cell: both engines and each phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade: Option<UpgradeRecord>,
    /// For a compose stack: the compose files with their SHA-256 and each compose
    /// service's image as the cell interpolated it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compose: Option<ComposeRecord>,
}

/// The compose files a cell's stack came from, and what the cell made of them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ComposeRecord {
    pub files: Vec<ComposeFileRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_file: Option<ComposeFileRecord>,
    /// Service → image, after interpolation.
    pub images: IndexMap<String, String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ComposeFileRecord {
    pub path: String,
    pub sha256: String,
}

/// A preflight or daemon.json lint finding.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Finding {
    /// The `[engines.*]` entry it is about.
    pub engine: String,
    /// What was checked: `kernel`, `containerd`, `runc`, `cgroup`, `storage-driver`,
    /// `platform`, `daemon.json`.
    pub check: String,
    pub level: FindingLevel,
    /// One line, in words.
    pub reason: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum FindingLevel {
    Ok,
    Warn,
    Block,
}

impl FindingLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingLevel::Ok => "ok",
            FindingLevel::Warn => "warn",
            FindingLevel::Block => "block",
        }
    }
}

impl fmt::Display for FindingLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An upgrade rehearsal: engine FROM seeded and tested, stopped as a package upgrade
/// stops it, engine TO started on the same data, verified; optionally rolled back.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct UpgradeRecord {
    /// The `[engines.*]` entries.
    pub from: String,
    pub to: String,
    /// Storage drivers asked of each engine (`default` when the cell names none).
    pub from_driver: String,
    pub to_driver: String,
    #[serde(default)]
    pub rollback: bool,
    /// Measured facts of each engine as it ran.
    #[serde(default)]
    pub from_engine: Option<EngineFacts>,
    #[serde(default)]
    pub to_engine: Option<EngineFacts>,
    /// `seed`, `upgrade`, `verify`, `rollback`, in the order they ran.
    #[serde(default)]
    pub phases: Vec<PhaseRecord>,
    /// The seeded data read back intact on TO (every `verify` check passed); `None` when
    /// verification was not reached or the scenarios hold no `verify` check.
    #[serde(default)]
    pub data_kept: Option<bool>,
    /// Containers running again on TO / containers of the stack.
    #[serde(default)]
    pub containers_back: Option<Counted>,
    /// The same after the rollback, when there was one.
    #[serde(default)]
    pub rollback_containers_back: Option<Counted>,
}

impl UpgradeRecord {
    /// The phase `name`, if it ran.
    pub fn phase(&self, name: UpgradePhase) -> Option<&PhaseRecord> {
        self.phases.iter().find(|p| p.name == name)
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct Counted {
    pub ok: usize,
    pub total: usize,
}

impl fmt::Display for Counted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.ok, self.total)
    }
}

/// A phase of an upgrade rehearsal, in the order they run; run.json spells them `seed`,
/// `upgrade`, `verify` and `rollback`. The runner's steps of the same names and the
/// scenario phases that run in one convert to it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum UpgradePhase {
    /// On FROM: the checks that write the data `verify` reads back.
    Seed,
    /// The engine is switched from FROM to TO.
    Upgrade,
    /// On TO: the data read back and the ordinary checks.
    Verify,
    /// On FROM again, when the rehearsal rolls back.
    Rollback,
}

impl UpgradePhase {
    pub fn as_str(self) -> &'static str {
        match self {
            UpgradePhase::Seed => "seed",
            UpgradePhase::Upgrade => "upgrade",
            UpgradePhase::Verify => "verify",
            UpgradePhase::Rollback => "rollback",
        }
    }

    /// The upgrade phase a scenario phase is named after (`run` checks run in several).
    pub fn of_scenario(p: crate::scenario::Phase) -> Option<UpgradePhase> {
        match p {
            crate::scenario::Phase::Seed => Some(UpgradePhase::Seed),
            crate::scenario::Phase::Verify => Some(UpgradePhase::Verify),
            crate::scenario::Phase::Run => None,
        }
    }
}

impl fmt::Display for UpgradePhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One phase of an upgrade rehearsal.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PhaseRecord {
    pub name: UpgradePhase,
    /// `pass`, `fail`, `unsupported` (the engine refused), `error` or `cancelled`.
    pub status: CellStatus,
    pub duration_ms: u64,
    /// Why it did not pass, in words.
    #[serde(default)]
    pub reason: Option<String>,
    /// What was found, in words: objects missing after the engine change, containers not
    /// running again, a storage driver switch that hides every image…
    #[serde(default)]
    pub findings: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AttemptRecord {
    pub status: CellStatus,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct StepDurations {
    #[serde(default)]
    pub engine: u64,
    #[serde(default)]
    pub images: u64,
    #[serde(default)]
    pub services: u64,
    #[serde(default)]
    pub checks: u64,
    #[serde(default)]
    pub teardown: u64,
    #[serde(default)]
    pub total: u64,
}

/// What the engine reported about itself: never what the matrix claims.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct EngineFacts {
    /// The `[engines.*]` entry (`host` for the local engine).
    pub name: String,
    pub kind: String,
    pub server_version: String,
    pub api_version: String,
    pub storage_driver: String,
    #[serde(default)]
    pub containerd: String,
    #[serde(default)]
    pub runc: String,
    #[serde(default)]
    pub kernel: String,
    #[serde(default)]
    pub cgroup_version: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub arch: String,
    /// The oldest API version the engine accepts (`/version`'s `MinAPIVersion`, `"1.24"`;
    /// `"1.44"` on Docker 29.0 or with `DOCKER_MIN_API_VERSION=1.44`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub min_api_version: String,
    /// `graphdriver` or `containerd` (the containerd image store: `docker info`'s driver
    /// status says driver-type `io.containerd.snapshotter.v1`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image_store: String,
    /// dockerd's environment as the matrix set it (`[engines.X] env`), secrets masked.
    /// Not measured: what the engine was started with.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub env: IndexMap<String, String>,
    /// dind engines: `fresh` (an empty data volume) or `cached` (an earlier run's, kept
    /// by the engine cache); empty for host and endpoint engines and older records.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cache: String,
    /// How long the engine took to start, and to load the images of all its cells, in
    /// ms: measured where it was prepared, usually before its first cell took a slot (so a
    /// cell's own `durations_ms.engine` and `images` are only its wait). The cells of an
    /// engine share these. Absent in older records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images_ms: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ImageRecord {
    pub service: String,
    pub reference: String,
    /// Content digest of the image as the engine holds it (`sha256:…`).
    #[serde(default)]
    pub digest: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ServiceRecord {
    pub name: String,
    pub kind: String,
    pub image: String,
    #[serde(default)]
    pub peak_memory_bytes: u64,
    #[serde(default)]
    pub cpu_ms: u64,
    #[serde(default)]
    pub restarts: u64,
    #[serde(default)]
    pub oom_killed: bool,
    #[serde(default)]
    pub ready_ms: Option<u64>,
    /// The last lines of its log, when the cell did not pass (secrets masked).
    #[serde(default)]
    pub log_tail: Vec<String>,
    /// Its exit code, when it was not running at the end of the cell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    /// The cell's networks it was put on and was no longer on at the end of a cell that
    /// did not pass, each `NAME (removed)` or `NAME (disconnected)`: someone else's doing,
    /// never the stack's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lost_networks: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CheckRecord {
    pub suite: String,
    pub name: String,
    pub status: CheckStatus,
    pub duration_ms: u64,
    /// Expected vs got, or why the check was skipped / is known to fail.
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub perf: Option<PerfStats>,
    /// For an upgrade cell: the phase the check ran in (`seed` on FROM, `verify` on TO
    /// after the upgrade, `rollback` on FROM again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<UpgradePhase>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct PerfStats {
    pub ops_per_sec: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub mean_ms: f64,
    /// Coefficient of variation of the latencies (std dev / mean).
    pub cv: f64,
    pub samples: u64,
    #[serde(default)]
    pub concurrency: u32,
    #[serde(default)]
    pub baseline: Option<PerfDelta>,
    /// Half-width of the distribution-free 95 % confidence interval of `p95_ms`, in
    /// percent of it (`checks::precision`); `None` with too few samples to bound it
    /// (and in runs made before it was measured).
    #[serde(default)]
    pub p95_precision_pct: Option<f64>,
}

impl PerfStats {
    /// What the regression rule adds to its tolerance for two measurements' own
    /// imprecision: the sum of their p95 precisions (an unknown one counts as 0).
    pub fn precision_widening(&self, other: &PerfStats) -> f64 {
        let known = |p: Option<f64>| p.filter(|p| p.is_finite() && *p > 0.0).unwrap_or(0.0);
        known(self.p95_precision_pct) + known(other.p95_precision_pct)
    }

    /// [`fmt_precision`], or `±?` when unknown.
    pub fn precision_label(&self) -> String {
        fmt_precision(self.p95_precision_pct).unwrap_or_else(|| "±?".to_string())
    }
}

/// `±1.8%`: how every format shows a p95's precision (its 95 % confidence half-width);
/// `None` when it was not measured.
pub fn fmt_precision(p95_precision_pct: Option<f64>) -> Option<String> {
    p95_precision_pct
        .filter(|p| p.is_finite())
        .map(|p| format!("±{p:.1}%"))
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct PerfDelta {
    pub run_id: String,
    pub p95_ms: f64,
    pub ops_per_sec: f64,
    /// Positive = slower.
    pub p95_delta_pct: f64,
    /// Negative = less throughput.
    pub ops_delta_pct: f64,
    pub tolerance_pct: f64,
    pub regressed: bool,
}

/// Counts of cells by status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub total: usize,
    pub pass: usize,
    pub flaky: usize,
    pub unsupported: usize,
    pub fail: usize,
    pub error: usize,
    pub cancelled: usize,
}

impl RunRecord {
    pub fn summary(&self) -> Summary {
        let mut s = Summary {
            total: self.cells.len(),
            ..Summary::default()
        };
        for c in &self.cells {
            match c.status {
                CellStatus::Pass => s.pass += 1,
                CellStatus::Flaky => s.flaky += 1,
                CellStatus::Unsupported => s.unsupported += 1,
                CellStatus::Fail => s.fail += 1,
                CellStatus::Error => s.error += 1,
                CellStatus::Cancelled => s.cancelled += 1,
            }
        }
        s
    }

    /// Reads `DIR/run.json` (or the file itself when given one), through
    /// [`crate::safe_io`] (a regular file of bounded size). A record with a schema this
    /// dockmatrix does not know, or a partition that is not `kind:M/N`, is refused.
    pub fn load(path: &Path) -> Result<RunRecord, ResultsError> {
        let file = run_file(path);
        let text = crate::safe_io::read_user_text(&file, crate::safe_io::MAX_RECORD_BYTES)?;
        let record: RunRecord =
            serde_json::from_str(&text).map_err(|source| ResultsError::Parse {
                path: file.clone(),
                source,
            })?;
        if record.schema > SCHEMA {
            return Err(ResultsError::NewerSchema {
                path: file,
                schema: record.schema,
            });
        }
        if record.schema == 0 {
            return Err(ResultsError::Invalid {
                path: file,
                line: line_of(&text, "\"schema\""),
                what: "`schema` is 0; dockmatrix writes schema 1 and up".to_string(),
            });
        }
        if let Some(p) = &record.partition {
            for part in p.split(',') {
                if let Err(e) = part.trim().parse::<crate::matrix::Partition>() {
                    return Err(ResultsError::Invalid {
                        path: file,
                        line: line_of(&text, "\"partition\""),
                        what: format!("invalid `partition`: {e}"),
                    });
                }
            }
        }
        Ok(record)
    }

    /// Writes `DIR/run.json` atomically (a temporary file renamed over it), so that a
    /// reader never sees half a record. Secrets are masked on the way (DESIGN.md: in every
    /// output, and run.json is one): whatever a check message, reason or log line holds,
    /// run.json never shows more than the reports rendered from it.
    pub fn save(&self, dir: &Path) -> Result<PathBuf, ResultsError> {
        let file = dir.join(RUN_FILE);
        let masked;
        let record = if self.has_no_secrets() {
            self
        } else {
            let mut m = self.clone();
            m.mask_secrets();
            masked = m;
            &masked
        };
        let json = serde_json::to_vec_pretty(record).map_err(|source| ResultsError::Parse {
            path: file.clone(),
            source,
        })?;
        write_atomically(&file, &json)?;
        Ok(file)
    }

    /// The cell whose values equal `values` (runs are matched by values, never by id).
    pub fn cell_by_values(&self, values: &IndexMap<String, String>) -> Option<&CellRecord> {
        self.cells.iter().find(|c| same_values(&c.values, values))
    }
}

/// Values equal as maps, whatever their order.
pub fn same_values(a: &IndexMap<String, String>, b: &IndexMap<String, String>) -> bool {
    a.len() == b.len() && a.iter().all(|(k, v)| b.get(k) == Some(v))
}

/// `DIR/run.json` for a folder, the path itself for a file.
pub fn run_file(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join(RUN_FILE)
    } else {
        path.to_path_buf()
    }
}

/// Writes via a temporary file in the same folder and a rename, never over what is not a
/// regular file ([`crate::safe_io::write_output`]).
pub fn write_atomically(file: &Path, bytes: &[u8]) -> Result<(), ResultsError> {
    Ok(crate::safe_io::write_output(file, bytes, &[])?)
}

/// The 1-based line of the first `needle` in `text` (0 when absent).
fn line_of(text: &str, needle: &str) -> usize {
    text.find(needle)
        .map_or(0, |at| text[..at].matches('\n').count() + 1)
}

#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error("failed to read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a dockmatrix run record", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{} has schema {schema}, newer than this dockmatrix reads ({SCHEMA}); upgrade dockmatrix", path.display())]
    NewerSchema { path: PathBuf, schema: u32 },
    #[error("{}:{line}: {what}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        what: String,
    },
    #[error(transparent)]
    File(#[from] crate::safe_io::SafeIoError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upgrade_phases_keep_their_run_json_spelling_and_map_scenario_phases() {
        use crate::scenario::Phase;
        for (p, text) in [
            (UpgradePhase::Seed, "seed"),
            (UpgradePhase::Upgrade, "upgrade"),
            (UpgradePhase::Verify, "verify"),
            (UpgradePhase::Rollback, "rollback"),
        ] {
            assert_eq!(serde_json::to_string(&p).ok(), Some(format!("\"{text}\"")));
            assert_eq!(p.to_string(), text);
            let back: Option<UpgradePhase> = serde_json::from_str(&format!("\"{text}\"")).ok();
            assert_eq!(back, Some(p));
        }
        assert!(serde_json::from_str::<UpgradePhase>("\"reboot\"").is_err());
        assert_eq!(
            UpgradePhase::of_scenario(Phase::Seed),
            Some(UpgradePhase::Seed)
        );
        assert_eq!(
            UpgradePhase::of_scenario(Phase::Verify),
            Some(UpgradePhase::Verify)
        );
        assert_eq!(UpgradePhase::of_scenario(Phase::Run), None);
    }

    fn cell(status: CellStatus) -> CellRecord {
        CellRecord {
            id: "x-00000000".into(),
            values: [("engine".to_string(), "28.5".to_string())]
                .into_iter()
                .collect(),
            status,
            reason: None,
            failed_step: None,
            attempts: 1,
            previous_attempts: vec![],
            durations_ms: StepDurations::default(),
            engine: None,
            images: vec![],
            services: vec![],
            checks: vec![],
            kept: None,
            preflight: vec![],
            upgrade: None,
            compose: None,
        }
    }

    #[test]
    fn round_trip_and_old_records_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rec = RunRecord {
            schema: SCHEMA,
            run_id: "r".into(),
            matrix: MatrixInfo::default(),
            partition: None,
            started_at: "2026-11-27T09:00:00Z".into(),
            finished_at: None,
            tool_version: "0.1.0".into(),
            host: HostFacts::default(),
            options: RunOptions::default(),
            axes: vec!["engine".into()],
            cells: vec![cell(CellStatus::Pass), cell(CellStatus::Unsupported)],
            interrupted: false,
            warnings: vec![],
            merged_from: vec![],
        };
        rec.save(dir.path()).expect("saved");
        assert_eq!(RunRecord::load(dir.path()).expect("loaded"), rec);
        // A minimal record, as an older writer could have made it, still reads.
        let minimal = r#"{"schema":1,"run_id":"r","matrix":{"name":"m","hash":"h"},
            "started_at":"t","tool_version":"0","cells":[{"id":"a","values":{},"status":"fail","attempts":1}]}"#;
        std::fs::write(dir.path().join(RUN_FILE), minimal).expect("written");
        let r = RunRecord::load(dir.path()).expect("minimal loads");
        assert_eq!(r.summary().fail, 1);
    }

    #[test]
    fn statuses_and_exit_rules() {
        assert!(CellStatus::Fail.is_failure(false));
        assert!(!CellStatus::Unsupported.is_failure(false));
        assert!(CellStatus::Unsupported.is_failure(true));
        assert!(!CellStatus::Flaky.is_failure(true));
        assert_eq!(
            serde_json::to_string(&CheckStatus::KnownFail).expect("json"),
            "\"known-fail\""
        );
    }
}
