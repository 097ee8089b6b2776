//! `[[upgrade]]` and the `upgrade` axis: upgrade paths between two dind engines, by
//! entry name or written `FROM->TO`.

use std::ops::Range;

use indexmap::IndexMap;
use toml::Spanned;

use super::axes::value_string;
use crate::diagnostic::Ctx;
use crate::matrix::raw::{RawAxis, RawMatrix, RawUpgrade, SpannedMap};
use crate::matrix::{Axis, EngineKind, EngineSpec, UpgradePath, axes};

/// The `[[upgrade]]` entries and the `upgrade` axis: every value names an entry or is
/// written `FROM->TO`; both ends are dind engines (an upgrade stops one engine and starts
/// another on its data). Entries without an axis make one, first, of all their names.
pub(super) fn upgrades(
    cx: &mut Ctx<'_>,
    raw: &RawMatrix,
    raw_axes: &SpannedMap<RawAxis>,
    engines: &IndexMap<String, EngineSpec>,
    axes: &mut Vec<Axis>,
) -> IndexMap<String, UpgradePath> {
    let ends = Ends { raw, engines };
    let mut out = entries(cx, raw, &ends);
    axis_values(cx, raw, raw_axes, &ends, &mut out);
    let has_axis = raw_axes.iter().any(|(k, _)| k.get_ref() == axes::UPGRADE);
    if !has_axis && !raw.upgrade.is_empty() {
        axes.insert(
            0,
            Axis {
                name: axes::UPGRADE.into(),
                values: out.keys().cloned().collect(),
            },
        );
    }
    if !out.is_empty() {
        no_engine_key(cx, raw, raw_axes);
    }
    out
}

/// What an upgrade's ends are checked against: both must be dind engines of the matrix.
struct Ends<'a> {
    raw: &'a RawMatrix,
    engines: &'a IndexMap<String, EngineSpec>,
}

impl Ends<'_> {
    /// The dind engines there are, for a help line.
    fn hint(&self) -> String {
        let dind: Vec<String> = self
            .engines
            .values()
            .filter(|e| e.kind() == EngineKind::Dind)
            .map(|e| format!("\"{}\"", e.name))
            .collect();
        if dind.is_empty() {
            "define dind engines under [engines.NAME] (kind = \"dind\")".to_string()
        } else {
            format!("dind engines: {}", dind.join(", "))
        }
    }

    /// `v` names a dind engine.
    fn check(&self, cx: &mut Ctx<'_>, v: &Spanned<String>, key: String) {
        let name = v.get_ref();
        match self.engines.get(name) {
            // An engine whose table is invalid has its own error.
            None if self.raw.engines.keys().any(|k| k.get_ref() == name) => {}
            None => cx.err(
                v.span(),
                key,
                format!("engine `{name}` has no [engines.\"{name}\"] entry"),
                self.hint(),
            ),
            Some(e) if e.dind().is_none() => cx.err(
                v.span(),
                key,
                format!(
                    "engine `{name}` is not a dind engine: an upgrade stops the engine and starts another on its data"
                ),
                self.hint(),
            ),
            Some(_) => {}
        }
    }
}

/// The `[[upgrade]]` entries, by name (`FROM->TO` when unnamed), each name once.
fn entries(cx: &mut Ctx<'_>, raw: &RawMatrix, ends: &Ends<'_>) -> IndexMap<String, UpgradePath> {
    let mut out: IndexMap<String, UpgradePath> = IndexMap::new();
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
            && !crate::matrix::image_store::VALUES.contains(&v.get_ref().as_str())
        {
            cx.err(
                v.span(),
                format!("{key}.to-image-store"),
                format!("`{}` is not an image store", v.get_ref()),
                "to-image-store = \"graphdriver\" or \"containerd\"",
            );
        }
        ends.check(cx, from, format!("{key}.from"));
        ends.check(cx, to, format!("{key}.to"));
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
    out
}

/// The `upgrade` axis's values (and include entries'): an entry's name, or `FROM->TO`,
/// which adds a path of its own.
fn axis_values(
    cx: &mut Ctx<'_>,
    raw: &RawMatrix,
    raw_axes: &SpannedMap<RawAxis>,
    ends: &Ends<'_>,
    out: &mut IndexMap<String, UpgradePath>,
) {
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
                    ends.check(cx, &Spanned::new(span.clone(), end.clone()), key.clone());
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
}

/// The engine of an upgrade cell is its path's: an `engine` key would be ambiguous.
fn no_engine_key(cx: &mut Ctx<'_>, raw: &RawMatrix, raw_axes: &SpannedMap<RawAxis>) {
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
