//! The special axis `image-store`: `graphdriver` (the default: the engine's graph driver,
//! as on every upgraded daemon) or `containerd` (the containerd image store, the default
//! of fresh Docker 29 installs). Its values, in the axis and in include entries, are
//! checked here so that a typo is an error at the line rather than a cell that silently
//! runs on a graph driver.

use toml::Spanned;

use super::raw::{RawAxis, RawMatrix, SpannedMap};
use crate::diagnostic::Ctx;

/// The axis' name.
pub const AXIS: &str = "image-store";
/// Its values.
pub const VALUES: [&str; 2] = ["graphdriver", "containerd"];

/// Whether a cell's `image-store` value asks for the containerd image store.
pub fn is_containerd(value: Option<&str>) -> bool {
    value == Some("containerd")
}

/// Every `image-store` value of the axis and of include entries is one of [`VALUES`].
pub(super) fn validate(cx: &mut Ctx<'_>, raw: &RawMatrix, axes: &SpannedMap<RawAxis>) {
    let mut check = |v: &Spanned<toml::Value>, key: String| {
        if let toml::Value::String(s) = v.get_ref()
            && VALUES.contains(&s.as_str())
        {
            return;
        }
        let shown = match v.get_ref() {
            toml::Value::String(s) => format!("`{s}`"),
            other => other.to_string(),
        };
        cx.err(
            v.span(),
            key,
            format!("{shown} is not an image store"),
            format!(
                "image-store values: {} (containerd starts dockerd with --feature containerd-snapshotter=true; storage-driver then names a snapshotter such as overlayfs)",
                VALUES.map(|v| format!("\"{v}\"")).join(", ")
            ),
        );
    };
    for (name, axis) in axes {
        if name.get_ref() == AXIS {
            for (i, v) in axis.get_ref().iter().enumerate() {
                check(v, format!("axes.{AXIS}[{i}]"));
            }
        }
    }
    for (i, inc) in raw.include.iter().enumerate() {
        for (k, v) in inc.get_ref() {
            if k.get_ref() == AXIS {
                check(v, format!("include[{i}].{AXIS}"));
            }
        }
    }
}
