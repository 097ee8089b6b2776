//! `[engines.NAME] env`: the environment dockerd starts with. Only a dind engine is
//! started by us, so only a dind engine takes one; on a host or endpoint engine it would
//! silently not apply, so it is an error that points at the table.

use indexmap::IndexMap;
use toml::Spanned;

use super::EngineKind;
use super::raw::SpannedMap;
use crate::diagnostic::{Ctx, toml_key};

/// The checked environment of engine `key` (`engines.NAME`) of `kind`.
pub(super) fn validate(
    cx: &mut Ctx<'_>,
    raw: Option<&Spanned<SpannedMap<Spanned<toml::Value>>>>,
    kind: EngineKind,
    key: &str,
) -> IndexMap<String, String> {
    let mut env = IndexMap::new();
    let Some(raw) = raw else { return env };
    if kind != EngineKind::Dind {
        let what = match kind {
            EngineKind::Host => "a host engine is the local engine as it is",
            _ => "an endpoint engine is a daemon someone else started",
        };
        cx.err(
            raw.span(),
            format!("{key}.env"),
            format!("`env` sets the environment of a dockerd that dockmatrix starts, and {what}"),
            "remove env, or use kind = \"dind\" to start an engine with it",
        );
        return env;
    }
    for (k, v) in raw.get_ref() {
        let name = k.get_ref();
        let at = format!("{key}.env.{}", toml_key(name));
        if name.is_empty() || name.contains(['=', '\0']) {
            cx.err(
                k.span(),
                at.clone(),
                format!("`{name}` is not an environment variable name"),
                "e.g. DOCKER_MIN_API_VERSION = \"1.44\"",
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
                    "env values are strings, e.g. DOCKER_MIN_API_VERSION = \"1.44\"",
                );
                continue;
            }
        };
        env.insert(name.clone(), value);
    }
    env
}
