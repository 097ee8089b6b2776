//! Raw matrix → checked [`Matrix`]: every semantic rule of DESIGN.md, each violation a
//! diagnostic pointing at the offending key's span.
//!
//! Here the order of the checks and the file's own keys (name, scenarios); one file per
//! table: `axes.rs` (axes, include and exclude), `engines.rs` ([engines] and the
//! `daemon-config` axis), `upgrade.rs` ([[upgrade]] and the `upgrade` axis), `services.rs`
//! ([services] and their `ready`), `run.rs` ([run]), `known.rs` ([[known]]).

mod axes;
mod engines;
mod known;
mod run;
mod services;
mod upgrade;

use std::path::{Path, PathBuf};

use super::raw::{RawMatrix, SpannedMap};
use super::{Matrix, compose};
use crate::diagnostic::{Ctx, Diagnostics};

pub(super) fn validate(path: &Path, source: String, raw: RawMatrix) -> Result<Matrix, Diagnostics> {
    let mut cx = Ctx::new(path, &source);
    let name = name(&mut cx, &raw);
    let base = path.parent().unwrap_or(Path::new("."));
    let scenarios = scenarios(&mut cx, &raw, base);
    let run = run::run_settings(&mut cx, raw.run.as_ref());
    let empty_axes = SpannedMap::new();
    let raw_axes = raw.axes.as_ref().map_or(&empty_axes, |a| a.get_ref());
    let mut axes = axes::axes(&mut cx, raw_axes);
    let engines = engines::engines(&mut cx, &raw.engines, base);
    let upgrades = upgrade::upgrades(&mut cx, &raw, raw_axes, &engines, &mut axes);
    let daemon_configs = engines::daemon_configs(&mut cx, raw_axes, base);
    super::image_store::validate(&mut cx, &raw, raw_axes);
    super::socket::validate(&mut cx, &raw, &engines);
    let exclude = axes::excludes(&mut cx, &raw, &axes);
    let include = axes::includes(&mut cx, &raw);
    axes::cell_count(&mut cx, &raw, path, &axes, &include);
    engines::engine_values(&mut cx, &raw, raw_axes, &engines);
    let all_keys = axes::all_keys(&axes, &include);

    let project = compose::project(&mut cx, base, raw.compose.as_ref());
    let compose_names: Vec<String> = project
        .as_ref()
        .map(|p| p.service_names().map(str::to_string).collect())
        .unwrap_or_default();
    let services = services::services(&mut cx, &raw.services, &all_keys, &compose_names);
    let services = match &project {
        Some(p) => compose::services(&mut cx, p, &raw.services, services),
        None => services,
    };
    if let Some(p) = &project {
        super::socket::validate_compose(&mut cx, p, &engines);
    }
    let known = known::known(&mut cx, &raw, &all_keys);

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

/// The matrix's name, which must not be empty.
fn name(cx: &mut Ctx<'_>, raw: &RawMatrix) -> String {
    let name = raw.name.get_ref().trim().to_string();
    if name.is_empty() {
        cx.err(
            raw.name.span(),
            "name",
            "the matrix name is empty",
            "give the matrix a name, e.g. name = \"docker-upgrade\"",
        );
    }
    name
}

/// The scenario files, relative to the matrix file; each must exist.
fn scenarios(cx: &mut Ctx<'_>, raw: &RawMatrix, base: &Path) -> Vec<PathBuf> {
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
    scenarios
}
