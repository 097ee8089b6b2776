//! A checked `[engines.NAME]` entry: what every kind shares (its name, its daemon.json)
//! and what only its kind has (a dind engine's image and dockerd settings, an endpoint's
//! URL and TLS files), so that no caller unwraps a field another kind leaves empty.

use std::path::PathBuf;

use indexmap::IndexMap;
use serde::Serialize;

/// The kind of an engine, as a tag (run records and events name it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EngineKind {
    Dind,
    Host,
    Endpoint,
}

/// An engine of the matrix.
#[derive(Debug, Clone)]
pub struct EngineSpec {
    pub name: String,
    /// daemon.json content.
    pub daemon: Option<serde_json::Value>,
    pub target: EngineTarget,
}

/// What an engine is, with what only that kind has.
#[derive(Debug, Clone)]
pub enum EngineTarget {
    /// An engine image started as a container of the host engine.
    Dind(DindSpec),
    /// The local engine as it is.
    Host,
    /// A daemon someone else started, at a URL.
    Endpoint(EndpointSpec),
}

/// A dind engine: its image and how its dockerd is started.
#[derive(Debug, Clone)]
pub struct DindSpec {
    pub image: String,
    /// As written: `None` when the matrix does not say (the engine then runs with every
    /// capability but CAP_SYS_RESOURCE, as `false`). Kept apart from `false` because the
    /// matrix hash has always told the two apart.
    pub privileged: Option<bool>,
    /// Extra arguments to dockerd.
    pub args: Vec<String>,
    /// dockerd's environment, e.g. `DOCKER_MIN_API_VERSION = "1.44"`, as written (no
    /// `${VAR}`: an engine's environment is part of what is tested).
    pub env: IndexMap<String, String>,
    /// Options of the local volume made for the engine's /var/lib/docker, as `docker
    /// volume create --opt` takes them (`type = "tmpfs"`, `o = "size=64m"`).
    pub data_volume_opts: IndexMap<String, String>,
}

impl DindSpec {
    /// Whether the engine container runs `--privileged`.
    pub fn privileged(&self) -> bool {
        self.privileged.unwrap_or(false)
    }
}

/// An endpoint engine: where it listens and how to reach it.
#[derive(Debug, Clone)]
pub struct EndpointSpec {
    /// `unix://PATH` or `tcp://HOST:PORT`.
    pub url: String,
    /// Client TLS for a `tcp://` endpoint.
    pub tls: Option<TlsFiles>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl EngineSpec {
    pub fn kind(&self) -> EngineKind {
        match self.target {
            EngineTarget::Dind(_) => EngineKind::Dind,
            EngineTarget::Host => EngineKind::Host,
            EngineTarget::Endpoint(_) => EngineKind::Endpoint,
        }
    }

    /// The dind settings, when this is a dind engine.
    pub fn dind(&self) -> Option<&DindSpec> {
        match &self.target {
            EngineTarget::Dind(d) => Some(d),
            _ => None,
        }
    }

    /// The URL and TLS files, when this is an endpoint engine.
    pub fn endpoint(&self) -> Option<&EndpointSpec> {
        match &self.target {
            EngineTarget::Endpoint(e) => Some(e),
            _ => None,
        }
    }
}

/// The matrix hash (and so `run --resume`) reads engines in the flat form they had before
/// they were typed per kind: every field of every kind, `null` or empty where the kind has
/// none, and `data_volume_opts` only when given. This struct is that form, borrowed.
#[derive(Serialize)]
struct Flat<'a> {
    name: &'a str,
    kind: EngineKind,
    image: Option<&'a str>,
    daemon: Option<&'a serde_json::Value>,
    url: Option<&'a str>,
    tls: Option<&'a TlsFiles>,
    privileged: Option<bool>,
    args: &'a [String],
    env: &'a IndexMap<String, String>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    data_volume_opts: &'a IndexMap<String, String>,
}

impl Serialize for EngineSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let none = IndexMap::new();
        let dind = self.dind();
        let endpoint = self.endpoint();
        Flat {
            name: &self.name,
            kind: self.kind(),
            image: dind.map(|d| d.image.as_str()),
            daemon: self.daemon.as_ref(),
            url: endpoint.map(|e| e.url.as_str()),
            tls: endpoint.and_then(|e| e.tls.as_ref()),
            privileged: dind.and_then(|d| d.privileged),
            args: dind.map_or(&[], |d| &d.args),
            env: dind.map_or(&none, |d| &d.env),
            data_volume_opts: dind.map_or(&none, |d| &d.data_volume_opts),
        }
        .serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::super::Matrix;

    const SOURCE: &str = r#"name = "pin"

[axes]
engine = ["full", "plain", "remote", "local"]

[engines.full]
kind = "dind"
image = "dockmatrix/engine:28.5.2"
daemon = { "log-level" = "warn", debug = true }
privileged = false
args = ["--debug", "--mtu=1400"]
env = { DOCKER_MIN_API_VERSION = "1.44" }
data-volume-opts = { type = "tmpfs", o = "size=64m" }

[engines.plain]
kind = "dind"
image = "dockmatrix/engine:20.10.24"

[engines.remote]
kind = "endpoint"
url = "tcp://10.0.0.2:2376"
TLS

[engines.local]
kind = "host"

[services.redis]
kind = "redis"
image = "redis:7"
"#;

    /// The values were taken from the flat `EngineSpec` before engines were typed per
    /// kind: a change here changes every matrix's hash, and `run --resume` then refuses
    /// runs started before it.
    #[test]
    fn engines_serialize_and_hash_as_the_flat_form_did() {
        let dir = tempfile::tempdir().expect("tempdir");
        for f in ["ca.pem", "cert.pem", "key.pem"] {
            std::fs::write(dir.path().join(f), "x").expect("write");
        }
        let tls = "tls-ca = \"ca.pem\"\ntls-cert = \"cert.pem\"\ntls-key = \"key.pem\"";
        let m = Matrix::from_source(&dir.path().join("m.toml"), SOURCE.replace("TLS", tls))
            .expect("matrix");
        let json = serde_json::to_string(&m.engines).expect("json");
        let json = json.replace(&dir.path().display().to_string(), "<dir>");
        assert_eq!(
            json,
            concat!(
                r#"{"full":{"name":"full","kind":"dind","image":"dockmatrix/engine:28.5.2","#,
                r#""daemon":{"log-level":"warn","debug":true},"url":null,"tls":null,"#,
                r#""privileged":false,"args":["--debug","--mtu=1400"],"#,
                r#""env":{"DOCKER_MIN_API_VERSION":"1.44"},"#,
                r#""data_volume_opts":{"type":"tmpfs","o":"size=64m"}},"#,
                r#""plain":{"name":"plain","kind":"dind","image":"dockmatrix/engine:20.10.24","#,
                r#""daemon":null,"url":null,"tls":null,"privileged":null,"args":[],"env":{}},"#,
                r#""remote":{"name":"remote","kind":"endpoint","image":null,"daemon":null,"#,
                r#""url":"tcp://10.0.0.2:2376","#,
                r#""tls":{"ca":"<dir>/ca.pem","cert":"<dir>/cert.pem","key":"<dir>/key.pem"},"#,
                r#""privileged":null,"args":[],"env":{}},"#,
                r#""local":{"name":"local","kind":"host","image":null,"daemon":null,"#,
                r#""url":null,"tls":null,"privileged":null,"args":[],"env":{}}}"#,
            )
        );
        let plain =
            Matrix::from_source(std::path::Path::new("m.toml"), SOURCE.replace("TLS\n", ""))
                .expect("matrix without TLS");
        assert_eq!(
            plain.hash(),
            "d6dbc241e880f041098afc73e855caa861fbc152fc9f594f413c907a38736ef5"
        );
    }
}
