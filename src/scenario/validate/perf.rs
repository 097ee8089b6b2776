//! A perf check's settings (warm-up, duration, iterations, concurrency, samples,
//! exclusivity, tolerance, precision), from the suite's defaults and the check; and
//! which checks a perf suite may measure.

use std::ops::Range;

use toml::Spanned;

use super::duration;
use crate::diagnostic::Ctx;
use crate::scenario::raw::{RawCheck, RawDefaults, Str};
use crate::scenario::{PerfSpec, SuiteKind};

pub(super) struct PerfKeys<'a> {
    pub(super) warmup: Option<&'a Str>,
    pub(super) duration: Option<&'a Str>,
    pub(super) iterations: Option<&'a Spanned<i64>>,
    pub(super) concurrency: Option<&'a Spanned<i64>>,
    pub(super) min_samples: Option<&'a Spanned<i64>>,
    pub(super) exclusive: Option<&'a Spanned<bool>>,
    pub(super) tolerance: Option<&'a Spanned<toml::Value>>,
    pub(super) precision: Option<&'a Spanned<toml::Value>>,
}

impl PerfKeys<'_> {
    /// The first perf setting written, and its span.
    pub(super) fn first(&self) -> Option<(&'static str, Range<usize>)> {
        [
            ("warmup", self.warmup.map(Spanned::span)),
            ("duration", self.duration.map(Spanned::span)),
            ("iterations", self.iterations.map(Spanned::span)),
            ("concurrency", self.concurrency.map(Spanned::span)),
            ("min-samples", self.min_samples.map(Spanned::span)),
            ("exclusive", self.exclusive.map(Spanned::span)),
            ("tolerance", self.tolerance.map(Spanned::span)),
            ("precision", self.precision.map(Spanned::span)),
        ]
        .into_iter()
        .find_map(|(k, s)| s.map(|s| (k, s)))
    }
}

/// The suite's `[defaults]` perf settings (only a perf suite may have them).
pub(super) fn defaults(cx: &mut Ctx<'_>, defaults: &RawDefaults, kind: SuiteKind) -> PerfSpec {
    let keys = PerfKeys {
        warmup: defaults.warmup.as_ref(),
        duration: defaults.duration.as_ref(),
        iterations: defaults.iterations.as_ref(),
        concurrency: defaults.concurrency.as_ref(),
        min_samples: defaults.min_samples.as_ref(),
        exclusive: defaults.exclusive.as_ref(),
        tolerance: defaults.tolerance.as_ref(),
        precision: defaults.precision.as_ref(),
    };
    if kind != SuiteKind::Perf {
        if let Some((k, span)) = keys.first() {
            cx.err(
                span,
                format!("defaults.{k}"),
                "perf settings in a suite that is not `kind = \"perf\"`",
                "move the check to a perf suite, or remove the perf settings",
            );
        }
        PerfSpec::default()
    } else {
        perf_spec(cx, &keys, &PerfSpec::default(), "defaults")
    }
}

/// A check's perf settings over the suite's: only in a perf suite, which measures sql,
/// redis and http checks from dockmatrix's process (no `via`); elsewhere no perf setting
/// and no `setup`.
pub(super) fn check_perf(
    cx: &mut Ctx<'_>,
    c: &RawCheck,
    key: &str,
    kind: SuiteKind,
    action_name: &str,
    action_span: Range<usize>,
    default_perf: &PerfSpec,
) -> Option<PerfSpec> {
    let perf_keys = PerfKeys {
        warmup: c.warmup.as_ref(),
        duration: c.duration.as_ref(),
        iterations: c.iterations.as_ref(),
        concurrency: c.concurrency.as_ref(),
        min_samples: c.min_samples.as_ref(),
        exclusive: c.exclusive.as_ref(),
        tolerance: c.tolerance.as_ref(),
        precision: c.precision.as_ref(),
    };
    if kind == SuiteKind::Perf {
        if matches!(action_name, "exec" | "reach" | "docker-api" | "command") {
            cx.err(
                action_span,
                format!("{key}.{action_name}"),
                format!("a perf suite cannot measure `{action_name}` checks"),
                "perf checks measure sql, redis or http operations",
            );
        }
        if let Some(v) = &c.via {
            cx.err(
                v.span(),
                format!("{key}.via"),
                "a perf check measures from dockmatrix's process, not via a container",
                "remove `via` (perf goes to the published port)",
            );
        }
        Some(perf_spec(cx, &perf_keys, default_perf, key))
    } else {
        if let Some((k, s)) = perf_keys.first() {
            cx.err(
                s,
                format!("{key}.{k}"),
                "perf settings in a suite that is not `kind = \"perf\"`",
                "move the check to a perf suite, or remove the perf settings",
            );
        }
        if let Some(s) = &c.setup {
            cx.err(
                s.span(),
                format!("{key}.setup"),
                "`setup` is for perf checks",
                "put the setup statements or commands first in the check's own list",
            );
        }
        None
    }
}

pub(super) fn perf_spec(
    cx: &mut Ctx<'_>,
    k: &PerfKeys<'_>,
    base: &PerfSpec,
    key: &str,
) -> PerfSpec {
    let mut p = base.clone();
    if let Some(d) = duration(cx, k.warmup, &format!("{key}.warmup")) {
        p.warmup = d;
    }
    if let Some(d) = duration(cx, k.duration, &format!("{key}.duration")) {
        if d.is_zero()
            && let Some(s) = k.duration
        {
            cx.err(
                s.span(),
                format!("{key}.duration"),
                "the measuring duration is zero",
                "e.g. duration = \"5s\"",
            );
        }
        p.duration = d;
    }
    let mut count = |v: Option<&Spanned<i64>>, name: &str, max: i64| -> Option<u64> {
        let v = v?;
        if (1..=max).contains(v.get_ref()) {
            u64::try_from(*v.get_ref()).ok()
        } else {
            cx.err(
                v.span(),
                format!("{key}.{name}"),
                format!("{name} must be between 1 and {max}, not {}", v.get_ref()),
                format!("e.g. {name} = 4"),
            );
            None
        }
    };
    if let Some(n) = count(k.iterations, "iterations", 100_000_000) {
        p.iterations = Some(n);
    }
    if let Some(n) = count(k.concurrency, "concurrency", 256) {
        p.concurrency = u32::try_from(n).unwrap_or(4);
    }
    if let Some(n) = count(k.min_samples, "min-samples", 100_000_000) {
        p.min_samples = n;
    }
    if let Some(e) = k.exclusive {
        p.exclusive = *e.get_ref();
    }
    if let Some(t) = k.tolerance {
        match tolerance(t.get_ref()) {
            Some(pct) => p.tolerance_pct = pct,
            None => cx.err(
                t.span(),
                format!("{key}.tolerance"),
                "the tolerance must be a percentage between 0% and 1000%",
                "e.g. tolerance = \"15%\" (or 15)",
            ),
        }
    }
    if let Some(t) = k.precision {
        match tolerance(t.get_ref()).filter(|pct| *pct <= 100.0) {
            Some(pct) => p.precision_pct = pct,
            None => cx.err(
                t.span(),
                format!("{key}.precision"),
                "the precision must be a percentage between 0% and 100%",
                "e.g. precision = \"2%\" (0% measures for the whole duration)",
            ),
        }
    }
    p
}

/// `"15%"`, `15` or `15.5` → 15.0 (percent).
fn tolerance(v: &toml::Value) -> Option<f64> {
    let pct = match v {
        toml::Value::String(s) => s
            .trim()
            .strip_suffix('%')
            .unwrap_or(s)
            .trim()
            .parse()
            .ok()?,
        toml::Value::Integer(i) => *i as f64,
        toml::Value::Float(f) => *f,
        _ => return None,
    };
    (0.0..=1000.0).contains(&pct).then_some(pct)
}
