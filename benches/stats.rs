//! The statistics of a perf check (p50/p95/p99, mean, CV, p95 precision) over 1,000,000
//! latency samples: the issue asks for under 100 ms; and the p95's confidence interval
//! alone on as many, which a running perf check recomputes to know when to stop.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use dockmatrix::checks::perf::stats;
use dockmatrix::checks::precision::{current_p95_precision_pct, p95_interval};

/// A million latency-like samples (a deterministic, skewed sequence: no RNG state in
/// the figure).
fn samples() -> Vec<f64> {
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    (0..1_000_000)
        .map(|_| {
            // xorshift64*: uniform in (0, 1], then a long-tailed latency in ms.
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            let u = (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64;
            0.2 - 0.3 * (1.0 - u).max(f64::MIN_POSITIVE).ln()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let base = samples();
    c.bench_function("stats of 1,000,000 samples", |b| {
        b.iter_batched_ref(
            || base.clone(),
            |s| black_box(stats(black_box(s), Duration::from_secs(5))),
            BatchSize::LargeInput,
        )
    });
    c.bench_function("p95 confidence interval of 1,000,000 samples", |b| {
        b.iter_batched_ref(
            || base.clone(),
            |s| black_box(p95_interval(black_box(s))),
            BatchSize::LargeInput,
        )
    });
    c.bench_function("p95 precision of 1,000,000 samples (p95 + interval)", |b| {
        b.iter_batched_ref(
            || base.clone(),
            |s| black_box(current_p95_precision_pct(black_box(s))),
            BatchSize::LargeInput,
        )
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
