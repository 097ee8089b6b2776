//! How precise a measured p95 is: a distribution-free 95 % confidence interval of the
//! 95th percentile, from order statistics, and the half-width it implies relative to the
//! p95 (the `p95_precision_pct` of a perf record, and what stops a perf check early).
//!
//! Method (Conover, *Practical Nonparametric Statistics*, 3rd ed. 1999, §3.2, "confidence
//! interval for a quantile"; also Hahn & Meeker, *Statistical Intervals*, §5.2): with
//! x(1) ≤ … ≤ x(n) the sorted samples and B ~ Binomial(n, q) the number of samples at or
//! below the true q-quantile ξ, P(x(r) ≤ ξ < x(s)) = P(r ≤ B ≤ s − 1) whatever the
//! distribution. The ranks come from the normal approximation of the binomial,
//! r = ⌊nq − z·√(nq(1−q))⌋ and s = ⌈nq + z·√(nq(1−q))⌉ + 1 (1-based, rounded outwards so
//! the coverage is at least the nominal one up to the approximation), z = 1.959964. The
//! approximation is good once nq(1−q) is past ~10 (n ≳ 200 for p95); below that the
//! interval is still returned but is only approximate, and when s would exceed n the
//! upper bound is unknown and there is no precision (`None`). The tests check the ranks
//! against the exact binomial coverage.
//!
//! Cost: two selections (O(n)) on the caller's slice, no sort: ~10 ms for 1,000,000
//! samples (`benches/stats.rs`).

/// The two-sided 95 % normal quantile.
const Z_95: f64 = 1.959_963_984_540_054;

/// The quantile whose precision is measured.
pub const Q: f64 = 0.95;

/// The 1-based ranks (r, s) of the order statistics bounding the 95 % confidence interval
/// of the `q`-quantile of `n` samples, or `None` when n is too small for s ≤ n or r ≥ 1.
pub fn ranks(n: usize, q: f64) -> Option<(usize, usize)> {
    if n == 0 {
        return None;
    }
    let nf = n as f64;
    let centre = nf * q;
    let half = Z_95 * (nf * q * (1.0 - q)).sqrt();
    let r = (centre - half).floor();
    let s = (centre + half).ceil() + 1.0;
    if r < 1.0 || s > nf {
        return None;
    }
    Some((r as usize, s as usize))
}

/// The 95 % confidence interval (x(r), x(s)) of the p95 of `samples`. Reorders
/// `samples` (selection).
pub fn p95_interval(samples: &mut [f64]) -> Option<(f64, f64)> {
    let (r, s) = ranks(samples.len(), Q)?;
    // Select the upper rank first; the lower one then lies left of it.
    let (left, hi, _) = samples.select_nth_unstable_by(s - 1, f64::total_cmp);
    let hi = *hi;
    let (_, lo, _) = left.select_nth_unstable_by(r - 1, f64::total_cmp);
    Some((*lo, hi))
}

/// The precision of `p95` in percent: the larger distance from it to a bound of its
/// confidence interval, over `p95`. `None` when the interval is unknown (too few
/// samples) or `p95` is not positive.
pub fn precision_pct(p95: f64, interval: Option<(f64, f64)>) -> Option<f64> {
    let (lo, hi) = interval?;
    if !p95.is_finite() || p95 <= 0.0 {
        return None;
    }
    Some((p95 - lo).max(hi - p95).max(0.0) / p95 * 100.0)
}

/// `p95_interval` and `precision_pct` in one: what a perf check's sampling loop asks.
/// `p95` is the (interpolated) percentile already computed from the same samples.
pub fn p95_precision_pct(samples: &mut [f64], p95: f64) -> Option<f64> {
    precision_pct(p95, p95_interval(samples))
}

/// The precision of the numpy-interpolated p95 of `samples` (which it reorders): what a
/// running measurement asks to know whether it may stop. Same figure as
/// `perf::stats(..).p95_precision_pct`, without the other statistics.
pub fn current_p95_precision_pct(samples: &mut [f64]) -> Option<f64> {
    let n = samples.len();
    if n == 0 {
        return None;
    }
    let h = (n - 1) as f64 * Q;
    let lo = h.floor() as usize;
    let (_, x_lo, right) = samples.select_nth_unstable_by(lo, f64::total_cmp);
    let x_lo = *x_lo;
    let x_hi = right.iter().copied().min_by(f64::total_cmp).unwrap_or(x_lo);
    let p95 = x_lo + (h - lo as f64) * (x_hi - x_lo);
    p95_precision_pct(samples, p95)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// P(r ≤ B ≤ s − 1) for B ~ Binomial(n, q), summed in log space (n up to ~10⁶).
    fn exact_coverage(n: usize, q: f64, r: usize, s: usize) -> f64 {
        let (lq, lp) = (q.ln(), (1.0 - q).ln());
        let mut ln_choose = 0.0; // ln C(n, k), built up from k = 0
        let mut total = 0.0;
        for k in 0..=n {
            if k > 0 {
                ln_choose += ((n - k + 1) as f64).ln() - (k as f64).ln();
            }
            if k >= r && k < s {
                total += (ln_choose + k as f64 * lq + (n - k) as f64 * lp).exp();
            }
        }
        total
    }

    #[test]
    fn known_ranks() {
        // n = 1000: nq = 950, √(nq(1−q)) = 6.892, z·that = 13.51 → 936 and 965.
        assert_eq!(ranks(1000, 0.95), Some((936, 965)));
        // n = 100: 95 ± 4.27 → 90 and 101 > n: the upper bound is unknown.
        assert_eq!(ranks(100, 0.95), None);
        // The median of 100: 50 ± 9.8 → 40 and 61, the sign test's classic interval.
        assert_eq!(ranks(100, 0.5), Some((40, 61)));
        assert!(exact_coverage(100, 0.5, 40, 61) > 0.95);
        assert_eq!(ranks(0, 0.95), None);
        // n = 10,000: 9500 ± 42.7 → 9457 and 9544.
        assert_eq!(ranks(10_000, 0.95), Some((9457, 9544)));
    }

    #[test]
    fn ranks_cover_at_least_95_percent() {
        for n in [200, 500, 1000, 5000, 20_000] {
            let (r, s) = ranks(n, 0.95).expect("ranks");
            let c = exact_coverage(n, 0.95, r, s);
            assert!(
                (0.95..0.99).contains(&c),
                "n = {n}: ranks {r}, {s} cover {c}"
            );
        }
    }

    #[test]
    fn interval_of_ranked_samples_is_the_ranks() {
        // Samples 1..=n in a scrambled order: x(k) = k, so the bounds are the ranks.
        let n = 1000u64;
        let mut x: Vec<f64> = (0..n).map(|i| ((i * 7919) % n + 1) as f64).collect();
        assert_eq!(p95_interval(&mut x), Some((936.0, 965.0)));
        // numpy's p95 of 1..=1000 is 950.05; the interval reaches 15 above it.
        let p = precision_pct(950.05, Some((936.0, 965.0))).expect("precision");
        assert!((p - (965.0 - 950.05) / 950.05 * 100.0).abs() < 1e-12, "{p}");
    }

    #[test]
    fn precision_shrinks_with_more_samples() {
        let sample = |n: usize| -> Vec<f64> {
            // Exponential-looking latencies, deterministic.
            (0..n)
                .map(|i| 0.2 - 0.3 * (1.0 - (i as f64 + 0.5) / n as f64).ln())
                .collect()
        };
        let mut small = sample(2_000);
        let mut large = sample(200_000);
        let p_small = p95_precision_pct(&mut small, 0.2 + 0.3 * 20f64.ln()).expect("small");
        let p_large = p95_precision_pct(&mut large, 0.2 + 0.3 * 20f64.ln()).expect("large");
        assert!(p_large < p_small / 5.0, "{p_small} then {p_large}");
        assert!(p_large < 1.0 && p_small > 2.0, "{p_small} then {p_large}");
    }

    #[test]
    fn current_precision_agrees_with_stats() {
        let mut x: Vec<f64> = (0..5000u64)
            .map(|i| ((i * 7919) % 1000) as f64 / 10.0 + if i % 97 == 0 { 50.0 } else { 0.0 })
            .collect();
        let mut y = x.clone();
        let s = crate::checks::perf::stats(&mut y, std::time::Duration::from_secs(1));
        assert_eq!(current_p95_precision_pct(&mut x), s.p95_precision_pct);
        assert!(s.p95_precision_pct.is_some());
    }

    #[test]
    fn no_precision_without_an_interval_or_a_positive_p95() {
        assert_eq!(p95_precision_pct(&mut [1.0; 50], 1.0), None);
        assert_eq!(precision_pct(0.0, Some((0.0, 0.0))), None);
        assert_eq!(precision_pct(f64::NAN, Some((0.0, 1.0))), None);
        assert_eq!(precision_pct(2.0, Some((2.0, 2.0))), Some(0.0));
    }
}
