//! The scenario file as written: serde structs mirroring the TOML, spans kept so that
//! the semantic errors found by [`super::validate`] point at the offending key.

use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;

pub type Str = Spanned<String>;
pub type SpannedMap<V> = IndexMap<Str, V>;
/// Expected rows: each row a list of values.
pub type RawRows = Vec<Spanned<Vec<Spanned<toml::Value>>>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawScenario {
    /// The suite's name in reports; defaults to the file's stem.
    pub name: Option<Str>,
    pub kind: Str,
    pub description: Option<Str>,
    pub defaults: Option<Spanned<RawDefaults>>,
    #[serde(default)]
    pub check: Vec<Spanned<RawCheck>>,
}

/// Values every check of the file inherits unless it sets its own.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawDefaults {
    pub timeout: Option<Str>,
    pub phase: Option<Str>,
    // Perf settings (perf files only).
    pub warmup: Option<Str>,
    pub duration: Option<Str>,
    pub iterations: Option<Spanned<i64>>,
    pub concurrency: Option<Spanned<i64>>,
    pub min_samples: Option<Spanned<i64>>,
    pub exclusive: Option<Spanned<bool>>,
    pub tolerance: Option<Spanned<toml::Value>>,
    /// Stop sampling once the p95's 95 % confidence half-width is within this (`"2%"`).
    pub precision: Option<Spanned<toml::Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawCheck {
    pub name: Str,
    /// Why the check exists: what it protects, what differs between versions.
    pub description: Option<Str>,
    pub when: Option<Spanned<SpannedMap<Spanned<toml::Value>>>>,
    pub phase: Option<Str>,
    pub timeout: Option<Str>,

    // What the check does: exactly one of these.
    /// One statement, or several run in order on one connection.
    pub sql: Option<Spanned<toml::Value>>,
    /// One command (`["GET", "k"]`) or several (`[["SET", "k", "v"], ["GET", "k"]]`).
    pub redis: Option<Spanned<toml::Value>>,
    pub http: Option<Spanned<RawHttp>>,
    /// A command (argv) run in the service's container.
    pub exec: Option<Spanned<Vec<Str>>>,
    /// The service to reach (name resolution, TCP, login), from `from` or from here.
    pub reach: Option<Str>,
    /// A request to the cell's engine with a pinned API version.
    pub docker_api: Option<Spanned<RawDockerApi>>,
    /// A program (argv) run on this machine against the cell (the team's tests).
    pub command: Option<Spanned<Vec<Str>>>,
    /// `command`: its working directory, relative to the scenario file.
    pub dir: Option<Str>,
    /// `command`: extra environment.
    pub env: Option<Spanned<SpannedMap<Spanned<toml::Value>>>>,
    /// `command`: images loaded into the cell's engine before it runs.
    pub images: Option<Spanned<Vec<Str>>>,
    /// `command`: a JUnit XML file it writes (relative to `dir`), whose cases become checks.
    pub junit: Option<Str>,

    // Where it goes and as whom.
    pub service: Option<Str>,
    /// Open the client's connection from inside this service's container.
    pub via: Option<Str>,
    pub from: Option<Str>,
    pub port: Option<Spanned<i64>>,
    pub database: Option<Str>,
    pub user: Option<Str>,
    pub password: Option<Str>,
    pub login: Option<Spanned<bool>>,
    /// Perf only: run once before measuring (statements, commands or requests).
    pub setup: Option<Spanned<toml::Value>>,

    pub expect: Option<Spanned<RawExpect>>,

    // Perf settings (perf files only).
    pub warmup: Option<Str>,
    pub duration: Option<Str>,
    pub iterations: Option<Spanned<i64>>,
    pub concurrency: Option<Spanned<i64>>,
    pub min_samples: Option<Spanned<i64>>,
    pub exclusive: Option<Spanned<bool>>,
    pub tolerance: Option<Spanned<toml::Value>>,
    /// Stop sampling once the p95's 95 % confidence half-width is within this (`"2%"`).
    pub precision: Option<Spanned<toml::Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawHttp {
    pub method: Option<Str>,
    pub path: Str,
    #[serde(default)]
    pub headers: SpannedMap<Str>,
    pub body: Option<Str>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawDockerApi {
    /// `N.M`: sent as the `/vN.M` prefix of the path, as a pinned client does.
    pub version: Str,
    pub method: Option<Str>,
    pub path: Str,
    pub body: Option<Str>,
}

/// Every expectation any check kind knows; validation refuses those foreign to the kind.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawExpect {
    pub rows: Option<Spanned<RawRows>>,
    pub row_count: Option<Spanned<i64>>,
    pub error: Option<Str>,
    pub reply: Option<Spanned<toml::Value>>,
    pub status: Option<Spanned<i64>>,
    pub body_contains: Option<Str>,
    pub json: Option<Spanned<SpannedMap<Spanned<toml::Value>>>>,
    pub exit_code: Option<Spanned<i64>>,
    pub output: Option<Str>,
}
