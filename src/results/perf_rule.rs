//! The one rule for "perf regressed", used by `run --baseline` (checks/perf.rs) and by
//! `compare` (results/compare.rs): a p95 higher, or a throughput lower, than the base's by
//! more than the tolerance, the tolerance widened by a noisy measurement.

use super::PerfStats;

/// The most a tolerance is widened to by a noisy measurement.
pub const MAX_WIDENED_TOLERANCE_PCT: f64 = 50.0;

/// The tolerance actually applied: `tolerance_pct`, widened to three times the larger
/// measured CV (in percent) when that is larger, but then to at most 50% (a configured
/// tolerance above 50% is kept as it is); then widened by the two measurements'
/// p95 precisions ([`PerfStats::precision_widening`]): a difference smaller than the
/// measurements' own uncertainty is no evidence of a regression.
pub fn effective_tolerance(current: &PerfStats, baseline: &PerfStats, tolerance_pct: f64) -> f64 {
    let noise = 300.0 * current.cv.max(baseline.cv);
    let by_noise = if noise > tolerance_pct {
        noise.min(MAX_WIDENED_TOLERANCE_PCT.max(tolerance_pct))
    } else {
        tolerance_pct
    };
    by_noise + current.precision_widening(baseline)
}

/// What the rule says of one pair of measurements.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// p95 change in percent of the base (`None` when the base has none to compare).
    pub p95_delta_pct: Option<f64>,
    /// Throughput change in percent of the base.
    pub ops_delta_pct: Option<f64>,
    /// The [`effective_tolerance`] applied.
    pub tolerance_pct: f64,
    pub regressed: bool,
}

fn pct(base: f64, new: f64) -> Option<f64> {
    (base.is_finite() && new.is_finite() && base > 0.0).then(|| (new - base) / base * 100.0)
}

/// Judges `new` against `base` with `tolerance_pct` (configured), widened by noise.
pub fn judge(base: &PerfStats, new: &PerfStats, tolerance_pct: f64) -> Verdict {
    let tolerance = effective_tolerance(new, base, tolerance_pct);
    let p95 = pct(base.p95_ms, new.p95_ms);
    let ops = pct(base.ops_per_sec, new.ops_per_sec);
    Verdict {
        p95_delta_pct: p95,
        ops_delta_pct: ops,
        tolerance_pct: tolerance,
        regressed: p95.is_some_and(|d| d > tolerance) || ops.is_some_and(|d| d < -tolerance),
    }
}
