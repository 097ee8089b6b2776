//! `[engines]`: each engine's kind and what that kind needs (an image, a url, all three
//! TLS files or none), every engine value naming an entry, and the files the
//! `daemon-config` axis names.

use std::path::Path;

use indexmap::IndexMap;

use super::axes::value_string;
use crate::diagnostic::{Ctx, toml_key};
use crate::matrix::raw::{RawAxis, RawEngine, RawMatrix, SpannedMap};
use crate::matrix::{DindSpec, EndpointSpec, EngineKind, EngineSpec, EngineTarget, TlsFiles, axes};
use toml::Spanned;

pub(super) fn engines(
    cx: &mut Ctx<'_>,
    raw: &SpannedMap<Spanned<RawEngine>>,
    base: &Path,
) -> IndexMap<String, EngineSpec> {
    let mut out = IndexMap::new();
    for (name, e) in raw {
        let n = name.get_ref().clone();
        let key = format!("engines.{}", toml_key(&n));
        let e = e.get_ref();
        let kind = match e.kind.get_ref().as_str() {
            "dind" => EngineKind::Dind,
            "host" => EngineKind::Host,
            "endpoint" => EngineKind::Endpoint,
            other => {
                cx.err(
                    e.kind.span(),
                    format!("{key}.kind"),
                    format!("`{other}` is not an engine kind"),
                    "kind = \"dind\", \"host\" or \"endpoint\"",
                );
                continue;
            }
        };
        kind_needs(cx, name, e, kind, &key);
        let tls = tls_files(cx, e, &key, base);
        let env = crate::matrix::engine_env::validate(cx, e.env.as_ref(), kind, &key);
        let data_volume_opts =
            crate::matrix::engine_env::volume_opts(cx, e.data_volume_opts.as_ref(), kind, &key);
        let daemon = e
            .daemon
            .as_ref()
            .map(|t| serde_json::to_value(t.get_ref()).unwrap_or(serde_json::Value::Null));
        // A missing image or url is reported by `kind_needs` and refuses the matrix; the
        // entry is still made, so that later checks see the engine's kind.
        let target = match kind {
            EngineKind::Dind => EngineTarget::Dind(DindSpec {
                image: e
                    .image
                    .as_ref()
                    .map(|s| s.get_ref().clone())
                    .unwrap_or_default(),
                privileged: e.privileged,
                args: e.args.iter().map(|a| a.get_ref().clone()).collect(),
                env,
                data_volume_opts,
            }),
            EngineKind::Host => EngineTarget::Host,
            EngineKind::Endpoint => EngineTarget::Endpoint(EndpointSpec {
                url: e
                    .url
                    .as_ref()
                    .map(|s| s.get_ref().clone())
                    .unwrap_or_default(),
                tls,
            }),
        };
        out.insert(
            n.clone(),
            EngineSpec {
                name: n,
                daemon,
                target,
            },
        );
    }
    out
}

/// What the engine's kind needs and refuses: a dind engine an image, an endpoint a
/// unix:// or tcp:// url; only an endpoint takes a url, a host engine no image.
fn kind_needs(
    cx: &mut Ctx<'_>,
    name: &Spanned<String>,
    e: &RawEngine,
    kind: EngineKind,
    key: &str,
) {
    let n = name.get_ref();
    match kind {
        EngineKind::Dind if e.image.is_none() => cx.err(
            name.span(),
            format!("{key}.image"),
            format!("dind engine `{n}` has no image"),
            "add image = \"dockmatrix/engine:28.5.2\" (built by scripts/setup.sh) or an official docker:<version>-dind image",
        ),
        EngineKind::Endpoint => match &e.url {
            None => cx.err(name.span(), format!("{key}.url"), format!("endpoint engine `{n}` has no url"), "add url = \"unix:///var/run/docker.sock\" or \"tcp://HOST:2376\""),
            Some(u) if !(u.get_ref().starts_with("unix://") || u.get_ref().starts_with("tcp://")) => cx.err(
                u.span(),
                format!("{key}.url"),
                format!("`{}` is not a unix:// or tcp:// URL", crate::secrets::mask_url(u.get_ref())),
                "url = \"unix:///var/run/docker.sock\" or \"tcp://HOST:2376\"",
            ),
            Some(_) => {}
        },
        _ => {}
    }
    if kind != EngineKind::Endpoint
        && e.url.is_some()
        && let Some(u) = &e.url
    {
        cx.err(
            u.span(),
            format!("{key}.url"),
            "only endpoint engines take a url",
            "set kind = \"endpoint\", or remove url",
        );
    }
    if kind == EngineKind::Host
        && let Some(i) = &e.image
    {
        cx.err(
            i.span(),
            format!("{key}.image"),
            "a host engine takes no image: it is the local engine as it is",
            "remove image, or set kind = \"dind\"",
        );
    }
    not_for_kind(cx, name, e, kind, key);
}

/// Keys another kind takes, which would silently not apply to this one: an endpoint's
/// image, TLS files on an engine that is not an endpoint, `privileged` and `args` on an
/// engine dockmatrix does not start.
fn not_for_kind(
    cx: &mut Ctx<'_>,
    name: &Spanned<String>,
    e: &RawEngine,
    kind: EngineKind,
    key: &str,
) {
    let what = match kind {
        EngineKind::Dind => {
            "a dind engine is started by dockmatrix and reached through its container"
        }
        EngineKind::Host => "a host engine is the local engine as it is",
        EngineKind::Endpoint => "an endpoint engine is a daemon someone else started",
    };
    if kind == EngineKind::Endpoint
        && let Some(i) = &e.image
    {
        cx.err(
            i.span(),
            format!("{key}.image"),
            format!("an endpoint engine takes no image: {what}"),
            "remove image, or set kind = \"dind\"",
        );
    }
    if kind != EngineKind::Endpoint {
        for (label, p) in [
            ("tls-ca", &e.tls_ca),
            ("tls-cert", &e.tls_cert),
            ("tls-key", &e.tls_key),
        ] {
            if let Some(p) = p {
                cx.err(
                    p.span(),
                    format!("{key}.{label}"),
                    format!("only endpoint engines take {label}: {what}"),
                    "remove it, or set kind = \"endpoint\" with a tcp:// url",
                );
            }
        }
    }
    if kind != EngineKind::Dind {
        if e.privileged.is_some() {
            cx.err(
                name.span(),
                format!("{key}.privileged"),
                format!("only dind engines take privileged: {what}"),
                "remove privileged, or set kind = \"dind\"",
            );
        }
        if let Some(a) = e.args.first() {
            cx.err(
                a.span(),
                format!("{key}.args"),
                format!("only dind engines take args (dockerd's arguments): {what}"),
                "remove args, or set kind = \"dind\"",
            );
        }
    }
}

/// `tls-ca`, `tls-cert` and `tls-key`: all three files (relative to the matrix), or none.
fn tls_files(cx: &mut Ctx<'_>, e: &RawEngine, key: &str, base: &Path) -> Option<TlsFiles> {
    let tls_parts = [&e.tls_ca, &e.tls_cert, &e.tls_key];
    if tls_parts.iter().all(|p| p.is_some()) {
        let mut files = Vec::new();
        for (label, p) in ["tls-ca", "tls-cert", "tls-key"].iter().zip(tls_parts) {
            let Some(p) = p else { continue };
            let resolved = base.join(p.get_ref());
            if !resolved.is_file() {
                cx.err(
                    p.span(),
                    format!("{key}.{label}"),
                    format!("`{}` does not exist", resolved.display()),
                    "paths are relative to the matrix file",
                );
            }
            files.push(resolved);
        }
        let mut it = files.into_iter();
        match (it.next(), it.next(), it.next()) {
            (Some(ca), Some(cert), Some(key)) => Some(TlsFiles { ca, cert, key }),
            _ => None,
        }
    } else {
        if let Some(p) = tls_parts.iter().copied().flatten().next() {
            cx.err(
                p.span(),
                format!("{key}.tls-*"),
                "TLS needs all three of tls-ca, tls-cert and tls-key",
                "give all three files, or none",
            );
        }
        None
    }
}

/// Every engine value (from the axis or an include) names an `[engines.*]` entry.
pub(super) fn engine_values(
    cx: &mut Ctx<'_>,
    raw: &RawMatrix,
    raw_axes: &SpannedMap<RawAxis>,
    engines: &IndexMap<String, EngineSpec>,
) {
    let engine_hint = || {
        if engines.is_empty() {
            "add an [engines.\"VALUE\"] table (kind = \"dind\", \"host\" or \"endpoint\")"
                .to_string()
        } else {
            format!(
                "defined engines: {}",
                engines
                    .keys()
                    .map(|k| format!("\"{k}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    };
    // An engine whose table is invalid has its own error: it still counts as defined.
    let defined = |s: &String| raw.engines.keys().any(|k| k.get_ref() == s);
    if let Some((_, vals)) = raw_axes.iter().find(|(k, _)| k.get_ref() == axes::ENGINE) {
        for (i, v) in vals.get_ref().iter().enumerate() {
            let s = value_string(v.get_ref());
            if let Some(s) = s.filter(|s| !defined(s)) {
                let help = engine_hint();
                cx.err(
                    v.span(),
                    format!("axes.engine[{i}]"),
                    format!("engine `{s}` has no [engines.\"{s}\"] entry"),
                    help,
                );
            }
        }
    }
    for (i, inc) in raw.include.iter().enumerate() {
        for (k, v) in inc.get_ref() {
            if k.get_ref() == axes::ENGINE
                && let Some(s) = value_string(v.get_ref()).filter(|s| !defined(s))
            {
                let help = engine_hint();
                cx.err(
                    v.span(),
                    format!("include[{i}].engine"),
                    format!("engine `{s}` has no [engines.\"{s}\"] entry"),
                    help,
                );
            }
        }
    }
}

/// The files the `daemon-config` axis names (relative to the matrix), each a JSON object.
pub(super) fn daemon_configs(
    cx: &mut Ctx<'_>,
    raw_axes: &SpannedMap<RawAxis>,
    base: &Path,
) -> IndexMap<String, serde_json::Value> {
    let mut out = IndexMap::new();
    let Some((_, vals)) = raw_axes
        .iter()
        .find(|(k, _)| k.get_ref() == axes::DAEMON_CONFIG)
    else {
        return out;
    };
    for (i, v) in vals.get_ref().iter().enumerate() {
        let Some(name) = value_string(v.get_ref()) else {
            continue;
        };
        let key = format!("axes.daemon-config[{i}]");
        let file = base.join(&name);
        let parsed = crate::safe_io::read_user_text(&file, crate::safe_io::MAX_CONFIG_BYTES)
            .map_err(|e| format!("cannot read `{}`: {}", file.display(), e.reason()))
            .and_then(|text| {
                serde_json::from_str::<serde_json::Value>(&text)
                    .map_err(|e| format!("`{}` is not valid JSON: {e}", file.display()))
            });
        match parsed {
            Ok(json) if json.is_object() => {
                out.insert(name, json);
            }
            Ok(_) => cx.err(
                v.span(),
                key,
                format!("`{}` is not a JSON object", file.display()),
                "a daemon.json file holds one object, e.g. {\"log-driver\": \"json-file\"}",
            ),
            Err(msg) => cx.err(
                v.span(),
                key,
                msg,
                "daemon-config values name daemon.json files, relative to the matrix file",
            ),
        }
    }
    out
}
