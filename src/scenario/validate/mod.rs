//! Raw scenario → checked [`Scenario`]: each check does exactly one thing, carries only
//! the keys that thing understands, and every violation is a diagnostic pointing at the
//! offending key's span.
//!
//! Here the suite's own keys (kind, name, defaults) and the small readers every file
//! shares; `check.rs` what every check has (name, `when`, one action, the keys that
//! action takes, timeout, the services it names), `perf.rs` the perf settings, and one
//! file per kind of check: `sql.rs`, `redis.rs`, `http.rs`, `exec.rs` (docker-api and
//! command checks are read in `scenario/clients.rs`).

mod check;
mod exec;
mod http;
mod perf;
mod redis;
mod sql;

use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::raw::{RawDefaults, RawExpect, RawScenario, Str};
use super::{Check, Diagnostics, Phase, Scenario, SuiteKind, line_of};
use crate::diagnostic::Ctx;
use crate::units::parse_duration;

pub(super) fn validate(
    path: &Path,
    source: String,
    raw: RawScenario,
) -> Result<Scenario, Diagnostics> {
    let mut cx = Ctx::new(path, &source);
    let kind = kind(&mut cx, &raw);
    let name = name(&mut cx, &raw, path);

    let empty = RawDefaults::default();
    let defaults = raw.defaults.as_ref().map_or(&empty, |d| d.get_ref());
    let default_timeout = duration(&mut cx, defaults.timeout.as_ref(), "defaults.timeout");
    let default_phase =
        phase(&mut cx, defaults.phase.as_ref(), "defaults.phase").unwrap_or_default();
    let default_perf = perf::defaults(&mut cx, defaults, kind);

    if raw.check.is_empty() {
        cx.err(
            raw.kind.span(),
            "check",
            "the scenario has no check",
            "add at least one [[check]] with a name and one of sql, redis, http, exec or reach",
        );
    }

    let mut checks: Vec<Check> = Vec::new();
    for (i, c) in raw.check.iter().enumerate() {
        let key = format!("check[{i}]");
        if let Some(check) = check::check(
            &mut cx,
            c,
            &key,
            kind,
            default_timeout,
            default_phase,
            &default_perf,
        ) {
            if let Some(first) = checks.iter().find(|x| x.name == check.name) {
                let line = line_of(cx.source, first.name_span.start);
                cx.err(
                    check.name_span.clone(),
                    format!("{key}.name"),
                    format!("two checks are named `{}`", check.name),
                    format!("check names are unique ([[known]] entries name them); the other is on line {line}"),
                );
            }
            checks.push(check);
        }
    }

    if !cx.problems.is_empty() {
        return Err(Diagnostics(cx.problems));
    }
    Ok(Scenario {
        path: path.to_path_buf(),
        source,
        name,
        kind,
        description: raw.description.map(|d| d.into_inner()),
        checks,
    })
}

/// The suite's `kind`.
fn kind(cx: &mut Ctx<'_>, raw: &RawScenario) -> SuiteKind {
    match raw.kind.get_ref().as_str() {
        "connectivity" => SuiteKind::Connectivity,
        "regression" => SuiteKind::Regression,
        "perf" => SuiteKind::Perf,
        other => {
            cx.err(
                raw.kind.span(),
                "kind",
                format!("`{other}` is not a scenario kind"),
                "kind = \"connectivity\", \"regression\" or \"perf\"",
            );
            SuiteKind::Regression
        }
    }
}

/// The suite's `name`, else the file's stem.
fn name(cx: &mut Ctx<'_>, raw: &RawScenario, path: &Path) -> String {
    match &raw.name {
        Some(n) if n.get_ref().trim().is_empty() => {
            cx.err(
                n.span(),
                "name",
                "the scenario name is empty",
                "remove `name` (the file's stem is used) or give one",
            );
            String::new()
        }
        Some(n) => n.get_ref().trim().to_string(),
        None => path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    }
}

pub(super) fn duration(cx: &mut Ctx<'_>, raw: Option<&Str>, key: &str) -> Option<Duration> {
    let d = raw?;
    match parse_duration(d.get_ref()) {
        Ok(t) => Some(t),
        Err(e) => {
            cx.err(
                d.span(),
                key,
                format!("bad duration: {e}"),
                "write a duration like \"500ms\", \"30s\" or \"2m\"",
            );
            None
        }
    }
}

pub(super) fn phase(cx: &mut Ctx<'_>, raw: Option<&Str>, key: &str) -> Option<Phase> {
    let p = raw?;
    let parsed = Phase::parse(p.get_ref());
    if parsed.is_none() {
        cx.err(
            p.span(),
            key,
            format!("`{}` is not a phase", p.get_ref()),
            "phase = \"seed\", \"run\" (the default) or \"verify\"",
        );
    }
    parsed
}

/// Refuses expectations that belong to other kinds of checks.
pub(super) fn foreign_expectations(
    cx: &mut Ctx<'_>,
    e: &RawExpect,
    key: &str,
    kind: &str,
    allowed: &[&str],
) {
    let present: [(&str, Option<Range<usize>>); 9] = [
        ("rows", e.rows.as_ref().map(Spanned::span)),
        ("row-count", e.row_count.as_ref().map(Spanned::span)),
        ("error", e.error.as_ref().map(Spanned::span)),
        ("reply", e.reply.as_ref().map(Spanned::span)),
        ("status", e.status.as_ref().map(Spanned::span)),
        ("body-contains", e.body_contains.as_ref().map(Spanned::span)),
        ("json", e.json.as_ref().map(Spanned::span)),
        ("exit-code", e.exit_code.as_ref().map(Spanned::span)),
        ("output", e.output.as_ref().map(Spanned::span)),
    ];
    for (k, s) in present {
        if let Some(s) = s
            && !allowed.contains(&k)
        {
            cx.err(
                s,
                format!("{key}.expect.{k}"),
                format!("`{k}` is not an expectation of a `{kind}` check"),
                format!("a `{kind}` check expects: {}", allowed.join(", ")),
            );
        }
    }
}
