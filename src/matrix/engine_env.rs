//! `[engines.NAME] env` and `data-volume-opts`: string tables that shape a dockerd that
//! dockmatrix starts (its environment; the options of the volume at its /var/lib/docker).
//! Only a dind engine is started by us, so only a dind engine takes them; on a host or
//! endpoint engine they would silently not apply, so they are errors that point at the
//! table.

use indexmap::IndexMap;
use toml::Spanned;

use super::EngineKind;
use super::raw::SpannedMap;
use crate::diagnostic::{Ctx, toml_key};

/// One of the tables, for its messages.
struct Table {
    /// The key under `engines.NAME`.
    key: &'static str,
    /// What it does, after "`KEY` ".
    does: &'static str,
    /// What a name must not be, in words, and an example entry.
    name_is: &'static str,
    example: &'static str,
}

const ENV: Table = Table {
    key: "env",
    does: "sets the environment of a dockerd that dockmatrix starts",
    name_is: "an environment variable name",
    example: "DOCKER_MIN_API_VERSION = \"1.44\"",
};

const VOLUME_OPTS: Table = Table {
    key: "data-volume-opts",
    does: "gives options to the data volume of a dockerd that dockmatrix starts",
    name_is: "a volume option name (as `docker volume create --opt NAME=VALUE`)",
    example: "type = \"tmpfs\", device = \"tmpfs\", o = \"size=64m\"",
};

/// The checked environment of engine `key` (`engines.NAME`) of `kind`.
pub(super) fn validate(
    cx: &mut Ctx<'_>,
    raw: Option<&Spanned<SpannedMap<Spanned<toml::Value>>>>,
    kind: EngineKind,
    key: &str,
) -> IndexMap<String, String> {
    table(cx, raw, kind, key, &ENV)
}

/// The checked `data-volume-opts` of engine `key` (`engines.NAME`) of `kind`: the local
/// volume driver's options for the volume made for the engine's /var/lib/docker.
pub(super) fn volume_opts(
    cx: &mut Ctx<'_>,
    raw: Option<&Spanned<SpannedMap<Spanned<toml::Value>>>>,
    kind: EngineKind,
    key: &str,
) -> IndexMap<String, String> {
    table(cx, raw, kind, key, &VOLUME_OPTS)
}

fn table(
    cx: &mut Ctx<'_>,
    raw: Option<&Spanned<SpannedMap<Spanned<toml::Value>>>>,
    kind: EngineKind,
    key: &str,
    t: &Table,
) -> IndexMap<String, String> {
    let mut out = IndexMap::new();
    let Some(raw) = raw else { return out };
    if kind != EngineKind::Dind {
        let what = match kind {
            EngineKind::Host => "a host engine is the local engine as it is",
            _ => "an endpoint engine is a daemon someone else started",
        };
        cx.err(
            raw.span(),
            format!("{key}.{}", t.key),
            format!("`{}` {}, and {what}", t.key, t.does),
            format!(
                "remove {}, or use kind = \"dind\" to start an engine with it",
                t.key
            ),
        );
        return out;
    }
    for (k, v) in raw.get_ref() {
        let name = k.get_ref();
        let at = format!("{key}.{}.{}", t.key, toml_key(name));
        if name.is_empty() || name.contains(['=', '\0']) {
            cx.err(
                k.span(),
                at.clone(),
                format!("`{name}` is not {}", t.name_is),
                format!("e.g. {}", t.example),
            );
            continue;
        }
        let value = match v.get_ref() {
            toml::Value::String(x) => x.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => {
                cx.err(
                    v.span(),
                    at,
                    format!("expected a string, found {}", other.type_str()),
                    format!("{} values are strings, e.g. {}", t.key, t.example),
                );
                continue;
            }
        };
        out.insert(name.clone(), value);
    }
    out
}
