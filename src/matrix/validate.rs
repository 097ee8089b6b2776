//! Raw matrix → checked [`Matrix`]: every semantic rule of DESIGN.md, each violation a
//! diagnostic pointing at the offending key's span.

use std::ops::Range;
use std::path::Path;

use indexmap::IndexMap;
use toml::Spanned;

use super::axes::{self, SPECIAL as SPECIAL_AXES};
use super::raw::{RawAxis, RawEngine, RawMatrix, RawReady, RawService, RawUpgrade, SpannedMap};
use super::units::{parse_bytes, parse_duration};
use super::*;
use crate::diagnostic::{Ctx, toml_key};

/// The most combinations the axes of one matrix may make (before excludes).
pub const MAX_CELLS: usize = 1_000_000;

pub(super) fn validate(path: &Path, source: String, raw: RawMatrix) -> Result<Matrix, Diagnostics> {
    let mut cx = Ctx::new(path, &source);

    let name = raw.name.get_ref().trim().to_string();
    if name.is_empty() {
        cx.err(
            raw.name.span(),
            "name",
            "the matrix name is empty",
            "give the matrix a name, e.g. name = \"docker-upgrade\"",
        );
    }

    let base = path.parent().unwrap_or(Path::new("."));
    let mut scenarios = Vec::new();
    for (i, s) in raw.scenarios.iter().enumerate() {
        let resolved = base.join(s.get_ref());
        // Only existence here: what kind of file it is (a FIFO, a device, /proc) is
        // judged when it is read (crate::safe_io), with a message saying so.
        if !resolved.exists() {
            cx.err(
                s.span(),
                format!("scenarios[{i}]"),
                format!(
                    "scenario file `{}` does not exist (looked for {})",
                    s.get_ref(),
                    resolved.display()
                ),
                "scenario paths are relative to the matrix file",
            );
        }
        scenarios.push(resolved);
    }

    let run = run_settings(&mut cx, raw.run.as_ref());
    let empty_axes = SpannedMap::new();
    let raw_axes = raw.axes.as_ref().map_or(&empty_axes, |a| a.get_ref());
    let mut axes = axes(&mut cx, raw_axes);
    let engines = engines(&mut cx, &raw.engines, base);
    let upgrades = upgrades(&mut cx, &raw, raw_axes, &engines, &mut axes);
    let daemon_configs = daemon_configs(&mut cx, raw_axes, base);
    super::image_store::validate(&mut cx, &raw, raw_axes);
    super::socket::validate(&mut cx, &raw, &engines);
    let axis_names: Vec<&str> = axes.iter().map(|a| a.name.as_str()).collect();

    let mut exclude = Vec::new();
    for (i, ex) in raw.exclude.iter().enumerate() {
        let key = format!("exclude[{i}]");
        if ex.get_ref().is_empty() {
            cx.err(
                ex.span(),
                key.clone(),
                "this exclude entry is empty",
                "name at least one axis and value",
            );
        }
        for (k, _) in ex.get_ref() {
            if !axis_names.contains(&k.get_ref().as_str()) {
                cx.err(
                    k.span(),
                    format!("{key}.{}", toml_key(k.get_ref())),
                    format!("exclude names `{}`, which is not an axis", k.get_ref()),
                    format!("an exclude may only name axes: {}", axis_names.join(", ")),
                );
            }
        }
        exclude.push(combo_values(&mut cx, ex.get_ref(), &key));
    }

    let mut include = Vec::new();
    for (i, inc) in raw.include.iter().enumerate() {
        let key = format!("include[{i}]");
        if inc.get_ref().is_empty() {
            cx.err(
                inc.span(),
                key.clone(),
                "this include entry is empty",
                "give at least one key and value",
            );
        }
        include.push(combo_values(&mut cx, inc.get_ref(), &key));
    }

    if axes.is_empty() && include.is_empty() {
        let message = "the matrix has no axes and no include entries, so it has no cell";
        let help = "add an axis under [axes], e.g. postgres = [\"15\", \"17\"]";
        match &raw.axes {
            Some(a) => cx.err(a.span(), "axes", message, help),
            // No [axes] table to point at: the problem is the file's.
            None => {
                cx.problems
                    .push(Diagnostic::top_level(path, "axes", message).with_help(help));
            }
        }
    }

    // The product is allocated before excludes apply: bound it before expanding.
    let product = axes
        .iter()
        .try_fold(1usize, |n, a| n.checked_mul(a.values.len()))
        .filter(|n| *n <= MAX_CELLS);
    if product.is_none() {
        let counts: Vec<String> = axes.iter().map(|a| a.values.len().to_string()).collect();
        cx.err(
            raw.axes.as_ref().map_or(0..0, |a| a.span()),
            "axes",
            format!(
                "the axes make {} combinations, more than the {MAX_CELLS} a matrix may have",
                counts.join(" × ")
            ),
            "split the matrix into several files, or drop values",
        );
    }

    // Every engine value (from the axis or an include) names an [engines.*] entry.
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

    let mut all_keys: Vec<String> = axes.iter().map(|a| a.name.clone()).collect();
    for inc in &include {
        for k in inc.keys() {
            if !all_keys.contains(k) {
                all_keys.push(k.clone());
            }
        }
    }

    let project = compose::project(&mut cx, base, raw.compose.as_ref());
    let compose_names: Vec<String> = project
        .as_ref()
        .map(|p| p.service_names().map(str::to_string).collect())
        .unwrap_or_default();
    let services = services(&mut cx, &raw.services, &all_keys, &compose_names);
    let services = match &project {
        Some(p) => compose::services(&mut cx, p, &raw.services, services),
        None => services,
    };
    if let Some(p) = &project {
        super::socket::validate_compose(&mut cx, p, &engines);
    }

    let mut known = Vec::new();
    for (i, k) in raw.known.iter().enumerate() {
        let entry = k.get_ref();
        let key = format!("known[{i}]");
        match Filter::parse(entry.filter.get_ref()).and_then(|f| {
            f.check_axes(all_keys.iter().map(String::as_str))
                .map(|()| f)
        }) {
            Ok(filter) => known.push(Known {
                filter,
                check: entry.check.get_ref().clone(),
                check_span: entry.check.span(),
                reason: entry.reason.get_ref().clone(),
            }),
            Err(e) => {
                let help = e.help();
                cx.err(
                    entry.filter.span(),
                    format!("{key}.filter"),
                    format!("bad filter: {e}"),
                    help,
                );
            }
        }
        if entry.check.get_ref().trim().is_empty() {
            cx.err(
                entry.check.span(),
                format!("{key}.check"),
                "the check name is empty",
                "give the unique name of a check in the matrix's scenarios",
            );
        }
        if entry.reason.get_ref().trim().is_empty() {
            cx.err(
                entry.reason.span(),
                format!("{key}.reason"),
                "the reason is empty",
                "say why this incompatibility is accepted",
            );
        }
    }

    if !cx.problems.is_empty() {
        return Err(Diagnostics(cx.problems));
    }
    Ok(Matrix {
        path: path.to_path_buf(),
        source,
        name,
        scenarios,
        run,
        axes,
        exclude,
        include,
        known,
        engines,
        services,
        upgrades,
        daemon_configs,
        compose: project.map(std::sync::Arc::new),
    })
}

/// The `[[upgrade]]` entries and the `upgrade` axis: every value names an entry or is
/// written `FROM->TO`; both ends are dind engines (an upgrade stops one engine and starts
/// another on its data). Entries without an axis make one, first, of all their names.
fn upgrades(
    cx: &mut Ctx<'_>,
    raw: &RawMatrix,
    raw_axes: &SpannedMap<RawAxis>,
    engines: &IndexMap<String, EngineSpec>,
    axes: &mut Vec<Axis>,
) -> IndexMap<String, UpgradePath> {
    let mut out: IndexMap<String, UpgradePath> = IndexMap::new();
    let dind_hint = || {
        let dind: Vec<String> = engines
            .values()
            .filter(|e| e.kind == EngineKind::Dind)
            .map(|e| format!("\"{}\"", e.name))
            .collect();
        if dind.is_empty() {
            "define dind engines under [engines.NAME] (kind = \"dind\")".to_string()
        } else {
            format!("dind engines: {}", dind.join(", "))
        }
    };
    let check_end = |cx: &mut Ctx<'_>, v: &Spanned<String>, key: String| {
        match engines
        .get(v.get_ref())
    {
        // An engine whose table is invalid has its own error.
        None if raw.engines.keys().any(|k| k.get_ref() == v.get_ref()) => {}
        None => cx.err(
            v.span(),
            key,
            format!("engine `{}` has no [engines.\"{}\"] entry", v.get_ref(), v.get_ref()),
            dind_hint(),
        ),
        Some(e) if e.kind != EngineKind::Dind => cx.err(
            v.span(),
            key,
            format!(
                "engine `{}` is not a dind engine: an upgrade stops the engine and starts another on its data",
                v.get_ref()
            ),
            dind_hint(),
        ),
        Some(_) => {}
    }
    };
    for (i, u) in raw.upgrade.iter().enumerate() {
        let key = format!("upgrade[{i}]");
        let RawUpgrade {
            name,
            from,
            to,
            rollback,
            to_storage_driver,
            to_daemon,
            to_image_store,
        } = u.get_ref();
        if let Some(v) = to_image_store
            && !super::image_store::VALUES.contains(&v.get_ref().as_str())
        {
            cx.err(
                v.span(),
                format!("{key}.to-image-store"),
                format!("`{}` is not an image store", v.get_ref()),
                "to-image-store = \"graphdriver\" or \"containerd\"",
            );
        }
        check_end(cx, from, format!("{key}.from"));
        check_end(cx, to, format!("{key}.to"));
        let n = name.as_ref().map_or_else(
            || format!("{}->{}", from.get_ref(), to.get_ref()),
            |n| n.get_ref().clone(),
        );
        if out.contains_key(&n) {
            let span = name.as_ref().map_or(u.span(), |n| n.span());
            cx.err(
                span,
                format!("{key}.name"),
                format!("another [[upgrade]] entry is already named `{n}`"),
                "give each entry a unique name = \"…\" (the `upgrade` axis names entries by it)",
            );
            continue;
        }
        out.insert(
            n.clone(),
            UpgradePath {
                name: n,
                from: from.get_ref().clone(),
                to: to.get_ref().clone(),
                rollback: *rollback,
                to_storage_driver: to_storage_driver.as_ref().map(|d| d.get_ref().clone()),
                to_image_store: to_image_store.as_ref().map(|d| d.get_ref().clone()),
                to_daemon: to_daemon
                    .as_ref()
                    .map(|t| serde_json::to_value(t.get_ref()).unwrap_or(serde_json::Value::Null)),
            },
        );
    }
    let axis = raw_axes.iter().find(|(k, _)| k.get_ref() == axes::UPGRADE);
    let mut values: Vec<(String, Range<usize>, String)> = axis
        .map(|(_, vals)| {
            vals.get_ref()
                .iter()
                .enumerate()
                .filter_map(|(i, v)| {
                    value_string(v.get_ref()).map(|s| (s, v.span(), format!("axes.upgrade[{i}]")))
                })
                .collect()
        })
        .unwrap_or_default();
    for (i, inc) in raw.include.iter().enumerate() {
        for (k, v) in inc.get_ref() {
            if k.get_ref() == axes::UPGRADE
                && let Some(s) = value_string(v.get_ref())
            {
                values.push((s, v.span(), format!("include[{i}].upgrade")));
            }
        }
    }
    for (value, span, key) in values {
        if out.contains_key(&value) {
            continue;
        }
        match value.split_once("->") {
            Some((from, to)) if !from.trim().is_empty() && !to.trim().is_empty() => {
                let (from, to) = (from.trim().to_string(), to.trim().to_string());
                for end in [&from, &to] {
                    check_end(cx, &Spanned::new(span.clone(), end.clone()), key.clone());
                }
                out.insert(
                    value.clone(),
                    UpgradePath {
                        name: value,
                        from,
                        to,
                        rollback: false,
                        to_storage_driver: None,
                        to_daemon: None,
                        to_image_store: None,
                    },
                );
            }
            _ => {
                let named: Vec<String> = out.keys().map(|k| format!("\"{k}\"")).collect();
                cx.err(
                    span,
                    key,
                    format!("`{value}` names no [[upgrade]] entry and is not written FROM->TO"),
                    if named.is_empty() {
                        "write \"FROM->TO\" with two dind engines, e.g. \"20.10.5->28.5.2\""
                            .to_string()
                    } else {
                        format!(
                            "[[upgrade]] entries: {}; or write \"FROM->TO\"",
                            named.join(", ")
                        )
                    },
                );
            }
        }
    }
    if axis.is_none() && !raw.upgrade.is_empty() {
        axes.insert(
            0,
            Axis {
                name: axes::UPGRADE.into(),
                values: out.keys().cloned().collect(),
            },
        );
    }
    if !out.is_empty() {
        // The engine of an upgrade cell is its path's: a second engine key would be ambiguous.
        let engine_keys = raw_axes
            .iter()
            .map(|(k, v)| (k, v.span()))
            .chain(
                raw.include
                    .iter()
                    .flat_map(|inc| inc.get_ref().iter().map(|(k, v)| (k, v.span()))),
            )
            .filter(|(k, _)| k.get_ref() == axes::ENGINE);
        for (k, _) in engine_keys {
            cx.err(
                k.span(),
                "engine",
                "a matrix with upgrade paths has no `engine` key: an upgrade cell runs on its path's `from` and `to` engines",
                "name the engines in [[upgrade]] entries (or `upgrade` axis values FROM->TO), and put other engine versions in a separate matrix",
            );
        }
    }
    out
}

/// The files the `daemon-config` axis names (relative to the matrix), each a JSON object.
fn daemon_configs(
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

fn run_settings(cx: &mut Ctx<'_>, raw: Option<&super::raw::RawRun>) -> RunSettings {
    let mut run = RunSettings::default();
    let Some(r) = raw else { return run };
    if let Some(v) = &r.engine_cache {
        match v.get_ref() {
            toml::Value::Boolean(b) => run.engine_cache = Some(*b),
            toml::Value::String(s) if s == "on" || s == "off" => {
                run.engine_cache = Some(s == "on");
            }
            _ => cx.err(
                v.span(),
                "run.engine-cache",
                "engine-cache must be \"on\" or \"off\"",
                "e.g. engine-cache = \"off\" (every dind engine starts on an empty volume)",
            ),
        }
    }
    if let Some(n) = &r.max_parallel {
        match usize::try_from(*n.get_ref()) {
            Ok(v) if (1..=256).contains(&v) => run.max_parallel = Some(v),
            _ => cx.err(
                n.span(),
                "run.max-parallel",
                format!(
                    "max-parallel must be between 1 and 256, not {}",
                    n.get_ref()
                ),
                "e.g. max-parallel = 4",
            ),
        }
    }
    if let Some(n) = &r.retries {
        match u32::try_from(*n.get_ref()) {
            Ok(v) if v <= 10 => run.retries = Some(v),
            _ => cx.err(
                n.span(),
                "run.retries",
                format!("retries must be between 0 and 10, not {}", n.get_ref()),
                "e.g. retries = 1",
            ),
        }
    }
    if let Some(d) = &r.cell_timeout {
        match parse_duration(d.get_ref()) {
            Ok(t) if !t.is_zero() => run.cell_timeout = Some(t),
            Ok(_) => cx.err(
                d.span(),
                "run.cell-timeout",
                "the cell timeout is zero",
                "e.g. cell-timeout = \"10m\"",
            ),
            Err(e) => cx.err(
                d.span(),
                "run.cell-timeout",
                format!("bad duration: {e}"),
                "write a duration like \"90s\", \"10m\" or \"1h30m\"",
            ),
        }
    }
    if let Some(p) = &r.pull {
        match p.get_ref().parse() {
            Ok(policy) => run.pull = Some(policy),
            Err(e) => cx.err(
                p.span(),
                "run.pull",
                e,
                "pull = \"never\", \"missing\" or \"always\"",
            ),
        }
    }
    run
}

/// An axis value or include/exclude value: strings, integers as written; floats refused.
fn scalar(cx: &mut Ctx<'_>, v: &Spanned<toml::Value>, key: &str) -> Option<String> {
    match v.get_ref() {
        toml::Value::String(s) if s.is_empty() => {
            cx.err(
                v.span(),
                key,
                "the value is empty",
                "give a non-empty string",
            );
            None
        }
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(_) => {
            let text = cx.source.get(v.span()).unwrap_or("").trim().to_string();
            cx.err(
                v.span(),
                key,
                format!("{text} is a float; axis values are strings"),
                format!("quote it: \"{text}\" (a float would lose its trailing zeros: 7.0 → 7)"),
            );
            None
        }
        other => {
            cx.err(
                v.span(),
                key,
                format!("expected a string, found {}", other.type_str()),
                "axis values are strings (integers are accepted as written)",
            );
            None
        }
    }
}

fn value_string(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        _ => None,
    }
}

fn axes(cx: &mut Ctx<'_>, raw: &SpannedMap<RawAxis>) -> Vec<Axis> {
    let mut out = Vec::new();
    for (name, values) in raw {
        let n = name.get_ref();
        if !valid_name(n) {
            cx.err(
                name.span(),
                format!("axes.{}", toml_key(n)),
                format!("`{n}` is not a valid axis name"),
                "use letters, digits, `-` and `_`",
            );
        }
        if values.get_ref().is_empty() {
            cx.err(
                values.span(),
                format!("axes.{}", toml_key(n)),
                format!("axis `{n}` has no values"),
                "give at least one value, or remove the axis",
            );
        }
        let mut vals: Vec<String> = Vec::new();
        // value → index: a long axis must not make validation quadratic.
        let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        for (i, v) in values.get_ref().iter().enumerate() {
            let key = format!("axes.{}[{i}]", toml_key(n));
            if let Some(s) = scalar(cx, v, &key) {
                if let Some(&first) = seen.get(&s) {
                    cx.err(
                        v.span(),
                        key,
                        format!("duplicate value \"{s}\" in axis `{n}` (already at index {first})"),
                        "each value of an axis must be unique; remove one",
                    );
                } else {
                    seen.insert(s.clone(), i);
                    vals.push(s);
                }
            }
        }
        out.push(Axis {
            name: n.clone(),
            values: vals,
        });
    }
    out
}

fn combo_values(
    cx: &mut Ctx<'_>,
    raw: &SpannedMap<Spanned<toml::Value>>,
    key: &str,
) -> IndexMap<String, String> {
    let mut out = IndexMap::new();
    for (k, v) in raw {
        let path = format!("{key}.{}", toml_key(k.get_ref()));
        if let Some(s) = scalar(cx, v, &path) {
            out.insert(k.get_ref().clone(), s);
        }
    }
    out
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn engines(
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
        let tls_parts = [&e.tls_ca, &e.tls_cert, &e.tls_key];
        let tls = if tls_parts.iter().all(|p| p.is_some()) {
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
        };
        let env = super::engine_env::validate(cx, e.env.as_ref(), kind, &key);
        let data_volume_opts =
            super::engine_env::volume_opts(cx, e.data_volume_opts.as_ref(), kind, &key);
        let daemon = e
            .daemon
            .as_ref()
            .map(|t| serde_json::to_value(t.get_ref()).unwrap_or(serde_json::Value::Null));
        out.insert(
            n.clone(),
            EngineSpec {
                name: n,
                kind,
                image: e.image.as_ref().map(|s| s.get_ref().clone()),
                daemon,
                url: e.url.as_ref().map(|s| s.get_ref().clone()),
                tls,
                privileged: e.privileged,
                args: e.args.iter().map(|a| a.get_ref().clone()).collect(),
                env,
                data_volume_opts,
            },
        );
    }
    out
}

fn services(
    cx: &mut Ctx<'_>,
    raw: &SpannedMap<Spanned<RawService>>,
    keys: &[String],
    compose_names: &[String],
) -> IndexMap<String, ServiceSpec> {
    let mut names: Vec<&str> = raw.keys().map(|k| k.get_ref().as_str()).collect();
    names.extend(compose_names.iter().map(String::as_str));
    let mut out = IndexMap::new();
    for (name, s) in raw {
        let n = name.get_ref().clone();
        let key = format!("services.{}", toml_key(&n));
        if !valid_name(&n) {
            cx.err(
                name.span(),
                key.clone(),
                format!("`{n}` is not a valid service name (it becomes a DNS alias)"),
                "use letters, digits, `-` and `_`",
            );
        }
        if SPECIAL_AXES.contains(&n.as_str()) {
            cx.err(
                name.span(),
                key.clone(),
                format!("`{n}` is a special axis and cannot name a service"),
                format!("rename the service; reserved: {}", SPECIAL_AXES.join(", ")),
            );
        }
        let s = s.get_ref();
        let kind = match s.kind.as_ref().map(|k| k.get_ref().as_str()) {
            None | Some("generic") => ServiceKind::Generic,
            Some("postgres") => ServiceKind::Postgres,
            Some("mysql") => ServiceKind::Mysql,
            Some("redis") => ServiceKind::Redis,
            Some("http") => ServiceKind::Http,
            Some(other) => {
                if let Some(k) = &s.kind {
                    cx.err(
                        k.span(),
                        format!("{key}.kind"),
                        format!("`{other}` is not a service kind"),
                        "kind = \"postgres\", \"mysql\", \"redis\", \"http\" or \"generic\"",
                    );
                }
                ServiceKind::Generic
            }
        };
        let (image, image_span) = match &s.image {
            Some(i) if !i.get_ref().trim().is_empty() => (i.get_ref().clone(), i.span()),
            Some(i) => {
                cx.err(
                    i.span(),
                    format!("{key}.image"),
                    format!("service `{n}` has an empty image"),
                    "image = \"postgres:{version}\"",
                );
                (String::new(), i.span())
            }
            // A compose service's image is the compose file's.
            None if compose_names.contains(&n) => (String::new(), name.span()),
            None => {
                cx.err(name.span(), format!("{key}.image"), format!("service `{n}` has no image"), "add image = \"NAME:{version}\" ({version} is the cell's value of the axis named after the service)");
                (String::new(), name.span())
            }
        };
        for p in placeholders(&image) {
            if p != "version" && !keys.iter().any(|k| k == p) {
                cx.err(
                    image_span.clone(),
                    format!("{key}.image"),
                    format!("placeholder `{{{p}}}` names no axis"),
                    format!("placeholders: {{version}} or an axis: {}", keys.join(", ")),
                );
            }
        }
        let version = s.version.as_ref().and_then(|v| {
            let got = value_string(v.get_ref());
            if got.is_none() {
                cx.err(
                    v.span(),
                    format!("{key}.version"),
                    "the version must be a string",
                    "version = \"1.4\"",
                );
            }
            got
        });
        let mut env = IndexMap::new();
        for (k, v) in &s.env {
            let val = match v.get_ref() {
                toml::Value::String(x) => Some(x.clone()),
                toml::Value::Integer(i) => Some(i.to_string()),
                toml::Value::Boolean(b) => Some(b.to_string()),
                other => {
                    cx.err(
                        v.span(),
                        format!("{key}.env.{}", toml_key(k.get_ref())),
                        format!("expected a string, found {}", other.type_str()),
                        "env values are strings",
                    );
                    None
                }
            };
            if let Some(val) = val {
                env.insert(k.get_ref().clone(), val);
            }
        }
        let mut ports = Vec::new();
        for (i, p) in s.ports.iter().enumerate() {
            match u16::try_from(*p.get_ref()) {
                Ok(v) if v > 0 => ports.push(v),
                _ => cx.err(
                    p.span(),
                    format!("{key}.ports[{i}]"),
                    format!("{} is not a port", p.get_ref()),
                    "ports are container ports between 1 and 65535",
                ),
            }
        }
        let mut depends_on = Vec::new();
        for (i, d) in s.depends_on.iter().enumerate() {
            let dn = d.get_ref();
            if dn == &n {
                cx.err(
                    d.span(),
                    format!("{key}.depends-on[{i}]"),
                    format!("service `{n}` depends on itself"),
                    "remove it",
                );
            } else if !names.contains(&dn.as_str()) {
                cx.err(
                    d.span(),
                    format!("{key}.depends-on[{i}]"),
                    format!("`{dn}` is not a service"),
                    format!("services: {}", names.join(", ")),
                );
            }
            depends_on.push(dn.clone());
        }
        let (ready, ready_timeout) = ready(cx, s.ready.as_ref(), &key, &ports, kind);
        let memory = s.memory.as_ref().and_then(|m| {
            let parsed = match m.get_ref() {
                toml::Value::Integer(i) if *i > 0 => Ok(*i as u64),
                toml::Value::String(x) => parse_bytes(x),
                _ => Err("expected a size".to_string()),
            };
            parsed
                .map_err(|e| {
                    cx.err(
                        m.span(),
                        format!("{key}.memory"),
                        format!("bad memory limit: {e}"),
                        "memory = \"512m\" or \"1g\"",
                    )
                })
                .ok()
        });
        let cpus = s.cpus.as_ref().and_then(|c| {
            let parsed = match c.get_ref() {
                toml::Value::Integer(i) => Some(*i as f64),
                toml::Value::Float(f) => Some(*f),
                toml::Value::String(x) => x.parse().ok(),
                _ => None,
            };
            match parsed {
                Some(v) if v > 0.0 && v.is_finite() => Some(v),
                _ => {
                    cx.err(
                        c.span(),
                        format!("{key}.cpus"),
                        "cpus must be a positive number",
                        "cpus = 0.5",
                    );
                    None
                }
            }
        });
        let restart = s.restart.as_ref().and_then(|r| {
            let parsed = Restart::parse(r.get_ref());
            if parsed.is_none() {
                cx.err(
                    r.span(),
                    format!("{key}.restart"),
                    format!("`{}` is not a restart policy", r.get_ref()),
                    "restart = \"no\", \"on-failure\", \"always\" or \"unless-stopped\"",
                );
            }
            parsed
        });
        let mut volumes: Vec<(String, String)> = Vec::new();
        for (i, v) in s.volumes.iter().enumerate() {
            match v.get_ref().split_once(':') {
                Some((name, mount))
                    if valid_name(name) && mount.starts_with('/') && !volumes.iter().any(|(n, _)| n == name) =>
                {
                    volumes.push((name.to_string(), mount.to_string()));
                }
                _ => cx.err(
                    v.span(),
                    format!("{key}.volumes[{i}]"),
                    format!("`{}` is not NAME:/path with a unique NAME", v.get_ref()),
                    "e.g. volumes = [\"data:/data\"] (a named volume per cell, kept across an engine upgrade)",
                ),
            }
        }
        out.insert(
            n.clone(),
            ServiceSpec {
                name: n,
                kind,
                image,
                image_span,
                version,
                env,
                command: s.command.as_ref().map(|c| c.get_ref().clone()),
                ports,
                depends_on,
                ready,
                ready_timeout,
                memory,
                cpus,
                restart,
                volumes,
                from_compose: false,
                compose: None,
                docker_socket: s.docker_socket.as_ref().is_some_and(|d| *d.get_ref()),
            },
        );
    }
    check_cycles(cx, raw);
    out
}

fn ready(
    cx: &mut Ctx<'_>,
    raw: Option<&Spanned<RawReady>>,
    key: &str,
    ports: &[u16],
    kind: ServiceKind,
) -> (Ready, Duration) {
    let Some(r) = raw else {
        return (Ready::Protocol, DEFAULT_READY_TIMEOUT);
    };
    let span = r.span();
    let r = r.get_ref();
    let key = format!("{key}.ready");
    let timeout = match &r.timeout {
        Some(t) => match parse_duration(t.get_ref()) {
            Ok(d) if !d.is_zero() => d,
            Ok(_) => {
                cx.err(
                    t.span(),
                    format!("{key}.timeout"),
                    "the timeout is zero",
                    "timeout = \"120s\"",
                );
                DEFAULT_READY_TIMEOUT
            }
            Err(e) => {
                cx.err(
                    t.span(),
                    format!("{key}.timeout"),
                    format!("bad duration: {e}"),
                    "timeout = \"120s\"",
                );
                DEFAULT_READY_TIMEOUT
            }
        },
        None => DEFAULT_READY_TIMEOUT,
    };
    let chosen = [
        r.http.is_some(),
        r.tcp.is_some(),
        r.log.is_some(),
        r.exec.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if chosen > 1 {
        cx.err(
            span.clone(),
            key.clone(),
            "ready names more than one probe",
            "choose one of http, tcp, log or exec",
        );
    }
    let status = r
        .status
        .as_ref()
        .and_then(|s| match u16::try_from(*s.get_ref()) {
            Ok(v) if (100..=599).contains(&v) => Some(v),
            _ => {
                cx.err(
                    s.span(),
                    format!("{key}.status"),
                    format!("{} is not an HTTP status", s.get_ref()),
                    "a status between 100 and 599, e.g. status = 204",
                );
                None
            }
        });
    let mut port_of = |p: &Option<Spanned<i64>>, what: &str| -> u16 {
        match p {
            Some(p) => match u16::try_from(*p.get_ref()) {
                Ok(v) if v > 0 => v,
                _ => {
                    cx.err(
                        p.span(),
                        format!("{key}.{what}"),
                        format!("{} is not a port", p.get_ref()),
                        "a port between 1 and 65535",
                    );
                    0
                }
            },
            None => match (ports, kind.default_port()) {
                ([only], _) => *only,
                (_, Some(d)) => d,
                _ => {
                    cx.err(
                        span.clone(),
                        format!("{key}.port"),
                        "ready needs a port",
                        "add port = 8080 (or give the service exactly one port)",
                    );
                    0
                }
            },
        }
    };
    let ready = if let Some(path) = &r.http {
        let port = port_of(&r.port, "port");
        Ready::Http {
            path: path.get_ref().clone(),
            port,
            status,
        }
    } else if r.tcp.is_some() {
        Ready::Tcp {
            port: port_of(&r.tcp, "tcp"),
        }
    } else if let Some(l) = &r.log {
        Ready::Log {
            pattern: l.get_ref().clone(),
        }
    } else if let Some(e) = &r.exec {
        if e.get_ref().is_empty() {
            cx.err(
                e.span(),
                format!("{key}.exec"),
                "the command is empty",
                "exec = [\"pg_isready\"]",
            );
        }
        Ready::Exec {
            command: e.get_ref().clone(),
        }
    } else {
        Ready::Protocol
    };
    (ready, timeout)
}

/// Reports a cycle at the `depends-on` entry that closes it.
fn check_cycles(cx: &mut Ctx<'_>, raw: &SpannedMap<Spanned<RawService>>) {
    let deps: IndexMap<&str, Vec<&Spanned<String>>> = raw
        .iter()
        .map(|(k, s)| {
            (
                k.get_ref().as_str(),
                s.get_ref().depends_on.iter().collect(),
            )
        })
        .collect();
    // 0 = unvisited, 1 = on the stack, 2 = done
    let mut state: IndexMap<&str, u8> = deps.keys().map(|k| (*k, 0)).collect();
    let mut reported = false;
    for start in deps.keys() {
        if reported {
            break;
        }
        let mut stack: Vec<&str> = Vec::new();
        visit(start, &deps, &mut state, &mut stack, cx, &mut reported);
    }

    fn visit<'a>(
        node: &'a str,
        deps: &IndexMap<&'a str, Vec<&'a Spanned<String>>>,
        state: &mut IndexMap<&'a str, u8>,
        stack: &mut Vec<&'a str>,
        cx: &mut Ctx<'_>,
        reported: &mut bool,
    ) {
        if state.get(node).copied().unwrap_or(2) != 0 || *reported {
            return;
        }
        state.insert(node, 1);
        stack.push(node);
        for (i, d) in deps.get(node).into_iter().flatten().enumerate() {
            let dn = d.get_ref().as_str();
            if dn == node {
                continue; // reported as "depends on itself"
            }
            match state.get(dn).copied() {
                Some(1) => {
                    let from = stack.iter().position(|s| *s == dn).unwrap_or(0);
                    let mut cycle: Vec<&str> = stack[from..].to_vec();
                    cycle.push(dn);
                    cx.err(
                        d.span(),
                        format!("services.{}.depends-on[{i}]", toml_key(node)),
                        format!("depends-on forms a cycle: {}", cycle.join(" → ")),
                        "a service cannot wait for one that waits for it; remove one of these dependencies",
                    );
                    *reported = true;
                    return;
                }
                Some(0) => visit(dn, deps, state, stack, cx, reported),
                _ => {}
            }
        }
        stack.pop();
        state.insert(node, 2);
    }
}
