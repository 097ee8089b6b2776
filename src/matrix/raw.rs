//! The matrix file as written: serde structs that mirror the TOML, with spans kept so
//! that semantic errors found later can point at the offending line.

use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;

pub type Str = Spanned<String>;
/// A map whose keys keep their spans (TOML order preserved).
pub type SpannedMap<V> = IndexMap<Str, V>;
/// An axis: its values, each with its span.
pub type RawAxis = Spanned<Vec<Spanned<toml::Value>>>;

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "kebab-case",
    expecting = "a matrix table"
)]
pub struct RawMatrix {
    pub name: Str,
    #[serde(default)]
    pub scenarios: Vec<Str>,
    pub run: Option<RawRun>,
    pub axes: Option<Spanned<SpannedMap<RawAxis>>>,
    #[serde(default)]
    pub include: Vec<Spanned<SpannedMap<Spanned<toml::Value>>>>,
    #[serde(default)]
    pub exclude: Vec<Spanned<SpannedMap<Spanned<toml::Value>>>>,
    #[serde(default)]
    pub known: Vec<Spanned<RawKnown>>,
    #[serde(default)]
    pub engines: SpannedMap<Spanned<RawEngine>>,
    #[serde(default)]
    pub services: SpannedMap<Spanned<RawService>>,
    #[serde(default)]
    pub upgrade: Vec<Spanned<RawUpgrade>>,
    pub compose: Option<Spanned<RawCompose>>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "kebab-case",
    expecting = "a [compose] table such as { files = [\"compose.yaml\"] }"
)]
pub struct RawCompose {
    /// Relative to the matrix; merged in order, as `docker compose -f a -f b`.
    pub files: Spanned<Vec<Str>>,
    #[serde(default)]
    pub profiles: Vec<Str>,
    pub env_file: Option<Str>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "kebab-case",
    expecting = "an [[upgrade]] table such as { from = \"20.10.5\", to = \"28.5.2\" }"
)]
pub struct RawUpgrade {
    /// The value of the `upgrade` axis naming this path (default `FROM->TO`).
    pub name: Option<Str>,
    pub from: Str,
    pub to: Str,
    #[serde(default)]
    pub rollback: bool,
    pub to_storage_driver: Option<Str>,
    pub to_daemon: Option<Spanned<toml::Table>>,
    /// `graphdriver` or `containerd`: the image store asked of `to`.
    pub to_image_store: Option<Str>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "kebab-case",
    expecting = "a [run] table"
)]
pub struct RawRun {
    pub max_parallel: Option<Spanned<i64>>,
    pub retries: Option<Spanned<i64>>,
    pub cell_timeout: Option<Str>,
    pub pull: Option<Str>,
    pub engine_cache: Option<Spanned<toml::Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "kebab-case",
    expecting = "a [[known]] table with filter, check and reason"
)]
pub struct RawKnown {
    pub filter: Str,
    pub check: Str,
    pub reason: Str,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "kebab-case",
    expecting = "an engine table such as { kind = \"dind\", image = \"docker:28.5-dind\" }"
)]
pub struct RawEngine {
    pub kind: Str,
    pub image: Option<Str>,
    pub daemon: Option<Spanned<toml::Table>>,
    pub url: Option<Str>,
    pub tls_ca: Option<Str>,
    pub tls_cert: Option<Str>,
    pub tls_key: Option<Str>,
    /// `true`, `false` or absent (detect whether the host allows it).
    pub privileged: Option<bool>,
    /// Extra arguments to dockerd (dind only).
    #[serde(default)]
    pub args: Vec<Str>,
    /// dockerd's environment (dind only: the engine container's environment).
    pub env: Option<Spanned<SpannedMap<Spanned<toml::Value>>>>,
    /// Options of the local volume made for the engine's /var/lib/docker (dind only).
    pub data_volume_opts: Option<Spanned<SpannedMap<Spanned<toml::Value>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "kebab-case",
    expecting = "a service table such as { kind = \"redis\", image = \"redis:{version}\" }"
)]
pub struct RawService {
    pub kind: Option<Str>,
    pub image: Option<Str>,
    pub version: Option<Spanned<toml::Value>>,
    #[serde(default)]
    pub env: SpannedMap<Spanned<toml::Value>>,
    pub command: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    pub ports: Vec<Spanned<i64>>,
    #[serde(default)]
    pub depends_on: Vec<Str>,
    pub ready: Option<Spanned<RawReady>>,
    pub memory: Option<Spanned<toml::Value>>,
    pub cpus: Option<Spanned<toml::Value>>,
    /// Restart policy: `no`, `on-failure`, `always`, `unless-stopped`.
    pub restart: Option<Str>,
    /// Named volumes: `NAME:/path/in/container`.
    #[serde(default)]
    pub volumes: Vec<Str>,
    /// Mount the cell's own engine socket at /var/run/docker.sock.
    pub docker_socket: Option<Spanned<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "kebab-case",
    expecting = "a table such as { http = \"/health\", port = 8080 } or { tcp = 5432 }"
)]
pub struct RawReady {
    /// HTTP path answering 2xx (or `status`).
    pub http: Option<Str>,
    pub port: Option<Spanned<i64>>,
    pub status: Option<Spanned<i64>>,
    /// TCP port that accepts a connection.
    pub tcp: Option<Spanned<i64>>,
    /// A substring of the service's log.
    pub log: Option<Str>,
    /// A command run in the container; exit 0 means ready.
    pub exec: Option<Spanned<Vec<String>>>,
    pub timeout: Option<Str>,
}
