//! `[axes]`, `include` and `exclude`: the axes and their values (strings, integers as
//! written, floats refused), the combinations include and exclude name, and the bound on
//! how many cells the axes may make.

use std::path::Path;

use indexmap::IndexMap;
use toml::Spanned;

use crate::diagnostic::{Ctx, Diagnostic, toml_key};
use crate::matrix::Axis;
use crate::matrix::raw::{RawAxis, RawMatrix, SpannedMap};

/// The most combinations the axes of one matrix may make (before excludes).
pub const MAX_CELLS: usize = 1_000_000;

pub(super) fn axes(cx: &mut Ctx<'_>, raw: &SpannedMap<RawAxis>) -> Vec<Axis> {
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

/// The `exclude` entries: not empty, naming only axes.
pub(super) fn excludes(
    cx: &mut Ctx<'_>,
    raw: &RawMatrix,
    axes: &[Axis],
) -> Vec<IndexMap<String, String>> {
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
        exclude.push(combo_values(cx, ex.get_ref(), &key));
    }
    exclude
}

/// The `include` entries: not empty (they may add keys that are no axis).
pub(super) fn includes(cx: &mut Ctx<'_>, raw: &RawMatrix) -> Vec<IndexMap<String, String>> {
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
        include.push(combo_values(cx, inc.get_ref(), &key));
    }
    include
}

/// A matrix makes at least one cell, and at most [`MAX_CELLS`] before excludes.
pub(super) fn cell_count(
    cx: &mut Ctx<'_>,
    raw: &RawMatrix,
    path: &Path,
    axes: &[Axis],
    include: &[IndexMap<String, String>],
) {
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
}

/// Every key a cell may have: the axes, then what include entries add.
pub(super) fn all_keys(axes: &[Axis], include: &[IndexMap<String, String>]) -> Vec<String> {
    let mut all_keys: Vec<String> = axes.iter().map(|a| a.name.clone()).collect();
    for inc in include {
        for k in inc.keys() {
            if !all_keys.contains(k) {
                all_keys.push(k.clone());
            }
        }
    }
    all_keys
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

/// An axis value or include/exclude value: strings, integers as written; floats refused.
pub(super) fn scalar(cx: &mut Ctx<'_>, v: &Spanned<toml::Value>, key: &str) -> Option<String> {
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

pub(super) fn value_string(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        _ => None,
    }
}

pub(super) fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}
