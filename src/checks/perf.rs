//! Performance baselines: an operation (SQL, Redis or HTTP) repeated by `concurrency`
//! workers after a warm-up, its latencies summarised ([`stats`]: numpy's default
//! linear-interpolated percentiles, coefficient of variation = population standard
//! deviation / mean) and, with `--baseline`, compared with an earlier run
//! ([`compare_to_baseline`]). Sampling stops early, after the warm-up and `min-samples`,
//! once the p95's 95 % confidence interval is within the check's `precision`
//! ([`precision`](super::precision)); else at its `duration`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::RwLock;

use super::http::HttpConn;
use super::sql::SqlConn;
use super::{Outcome, Target, conn, show};
use crate::matrix::Matrix;
use crate::results::{PerfDelta, PerfStats};
use crate::scenario::{Action, Check, HttpRequest, PerfSpec};

/// Latency statistics of `samples_ms` (one per operation, in milliseconds) measured over
/// `elapsed`. Reorders `samples_ms` (selection, not a full sort: O(n)).
///
/// - percentiles: numpy's default (`method="linear"`): at rank h = (n − 1)·q, the value
///   x⌊h⌋ + (h − ⌊h⌋)·(x⌊h⌋+1 − x⌊h⌋) of the sorted samples;
/// - `cv`: the population standard deviation (numpy's `std` with `ddof=0`) over the mean;
/// - `ops_per_sec`: samples / elapsed;
/// - `p95_precision_pct`: how precise that p95 is ([`precision`](super::precision)).
pub fn stats(samples_ms: &mut [f64], elapsed: Duration) -> PerfStats {
    let n = samples_ms.len();
    if n == 0 {
        return PerfStats::default();
    }
    let mean = samples_ms.iter().sum::<f64>() / n as f64;
    let var = samples_ms
        .iter()
        .map(|x| (x - mean) * (x - mean))
        .sum::<f64>()
        / n as f64;
    let std = var.sqrt();
    // Ascending quantiles: each selection only looks right of the previous one.
    let mut from = 0;
    let mut pct = [0.0; 3];
    for (slot, q) in [0.50, 0.95, 0.99].into_iter().enumerate() {
        let h = (n - 1) as f64 * q;
        let lo = h.floor() as usize;
        let frac = h - lo as f64;
        let (x_lo, rest_from) = if lo >= from {
            let (_, v, _) = samples_ms[from..].select_nth_unstable_by(lo - from, f64::total_cmp);
            (*v, lo + 1)
        } else {
            // Same rank as the previous quantile (tiny n): already in place.
            (samples_ms[lo], from)
        };
        let x_hi = if frac > 0.0 && lo + 1 < n {
            if lo + 1 >= rest_from {
                samples_ms[rest_from..]
                    .iter()
                    .copied()
                    .min_by(f64::total_cmp)
                    .unwrap_or(x_lo)
            } else {
                samples_ms[lo + 1]
            }
        } else {
            x_lo
        };
        pct[slot] = x_lo + frac * (x_hi - x_lo);
        from = rest_from.max(from);
    }
    let secs = elapsed.as_secs_f64();
    PerfStats {
        ops_per_sec: if secs > 0.0 { n as f64 / secs } else { 0.0 },
        p50_ms: pct[0],
        p95_ms: pct[1],
        p99_ms: pct[2],
        mean_ms: mean,
        cv: if mean > 0.0 { std / mean } else { 0.0 },
        samples: n as u64,
        concurrency: 0,
        baseline: None,
        p95_precision_pct: super::precision::p95_precision_pct(samples_ms, pct[1]),
    }
}

pub use crate::results::perf_rule::{MAX_WIDENED_TOLERANCE_PCT, effective_tolerance};

/// Compares a measurement with the same check's figures in `baseline_run_id`: a
/// regression is [`crate::results::perf_rule::judge`]'s, the rule `compare` applies too.
pub fn compare_to_baseline(
    current: &PerfStats,
    baseline: &PerfStats,
    baseline_run_id: &str,
    tolerance_pct: f64,
) -> PerfDelta {
    let v = crate::results::perf_rule::judge(baseline, current, tolerance_pct);
    PerfDelta {
        run_id: baseline_run_id.to_string(),
        p95_ms: baseline.p95_ms,
        ops_per_sec: baseline.ops_per_sec,
        p95_delta_pct: v.p95_delta_pct.unwrap_or(0.0),
        ops_delta_pct: v.ops_delta_pct.unwrap_or(0.0),
        tolerance_pct: v.tolerance_pct,
        regressed: v.regressed,
    }
}

/// `p95 2.10 ms (+75.0% vs 1.20 ms in run R), 1900 ops/s (−42.4% vs 3300); tolerance 15%
/// widened to 42% by CV 0.14`.
pub fn describe_delta(
    current: &PerfStats,
    baseline: &PerfStats,
    delta: &PerfDelta,
    configured_tolerance_pct: f64,
) -> String {
    let precision = current.precision_widening(baseline);
    let by_noise = delta.tolerance_pct - precision;
    let mut widened = if (by_noise - configured_tolerance_pct).abs() > 1e-9 {
        format!(
            "; tolerance {configured_tolerance_pct:.0}% widened to {by_noise:.0}% (3 × the measured CV, at most {MAX_WIDENED_TOLERANCE_PCT:.0}%)",
        )
    } else {
        format!("; tolerance {configured_tolerance_pct:.0}%")
    };
    if precision > 0.0 {
        widened.push_str(&format!(
            " + {precision:.1}% for the two p95s' precision = {:.1}%",
            delta.tolerance_pct
        ));
    }
    format!(
        "p95 {:.3} ms ({:+.1}% vs {:.3} ms in run {}), {:.0} ops/s ({:+.1}% vs {:.0}){widened}",
        current.p95_ms,
        delta.p95_delta_pct,
        delta.p95_ms,
        delta.run_id,
        current.ops_per_sec,
        delta.ops_delta_pct,
        delta.ops_per_sec
    )
}

/// `4000 ops/s, p50 0.210 ms, p95 0.400 ms ±1.8%, p99 0.900 ms, CV 0.52, 20000 samples,
/// concurrency 4` (the ± is the p95's 95 % confidence half-width; `±?` when unknown).
pub fn describe(s: &PerfStats) -> String {
    format!(
        "{:.0} ops/s, p50 {:.3} ms, p95 {:.3} ms {}, p99 {:.3} ms, CV {:.2}, {} samples, concurrency {}",
        s.ops_per_sec,
        s.p50_ms,
        s.p95_ms,
        s.precision_label(),
        s.p99_ms,
        s.cv,
        s.samples,
        s.concurrency
    )
}

/// One worker's connection.
enum Worker {
    Sql(SqlConn),
    Redis(::redis::aio::MultiplexedConnection),
    Http(HttpConn),
}

/// `{i}` (the operation's sequence number across workers) and `{worker}`.
fn fill(s: &str, i: u64, worker: u32) -> String {
    if s.contains('{') {
        s.replace("{i}", &i.to_string())
            .replace("{worker}", &worker.to_string())
    } else {
        s.to_string()
    }
}

impl Worker {
    async fn connect(action: &Action, target: &Target, matrix: &Matrix) -> Result<Worker, String> {
        match action {
            Action::Sql(a) => super::sql::connect_for(
                target,
                matrix,
                &a.service,
                None,
                a.user.as_deref(),
                a.password.as_deref(),
                a.database.as_deref(),
            )
            .await
            .map(|(c, _)| Worker::Sql(c)),
            Action::Redis(a) => super::redis::connect_for(target, matrix, &a.service, None)
                .await
                .map(|(c, _)| Worker::Redis(c)),
            Action::Http(a) => {
                let endpoint = conn::endpoint(target, matrix, &a.service, a.port, None).await?;
                HttpConn::connect(endpoint.addr, &endpoint.authority)
                    .await
                    .map(Worker::Http)
            }
            Action::Exec(_) | Action::Reach(_) | Action::DockerApi(_) | Action::Command(_) => {
                Err(format!("a {} check cannot be measured", action.kind()))
            }
        }
    }

    async fn sql(c: &mut SqlConn, stmts: &[String], i: u64, w: u32) -> Result<(), String> {
        for s in stmts {
            let s = fill(s, i, w);
            c.query(&s)
                .await
                .map_err(|e| format!("`{}`: {e}", show(&s, 60)))?;
        }
        Ok(())
    }

    async fn redis(
        c: &mut ::redis::aio::MultiplexedConnection,
        cmds: &[Vec<String>],
        i: u64,
        w: u32,
    ) -> Result<(), String> {
        for cmd in cmds {
            let args: Vec<String> = cmd.iter().map(|a| fill(a, i, w)).collect();
            match super::redis::send(c, &args).await? {
                super::redis::Got::Error(e) => {
                    return Err(format!("`{}`: {e}", super::redis::show_command(&args)));
                }
                _ => continue,
            }
        }
        Ok(())
    }

    async fn http(
        c: &mut HttpConn,
        r: &HttpRequest,
        status: Option<u16>,
        i: u64,
        w: u32,
    ) -> Result<(), String> {
        let req = HttpRequest {
            method: r.method.clone(),
            path: fill(&r.path, i, w),
            headers: r.headers.clone(),
            body: r.body.as_deref().map(|b| fill(b, i, w)),
        };
        let resp = c.send(&req).await?;
        let ok = match status {
            Some(s) => resp.status == s,
            None => (200..300).contains(&resp.status),
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "{} {}: status {}",
                req.method, req.path, resp.status
            ))
        }
    }

    /// The measured operation.
    async fn op(&mut self, action: &Action, i: u64, w: u32) -> Result<(), String> {
        match (self, action) {
            (Worker::Sql(c), Action::Sql(a)) => Worker::sql(c, &a.statements, i, w).await,
            (Worker::Redis(c), Action::Redis(a)) => Worker::redis(c, &a.commands, i, w).await,
            (Worker::Http(c), Action::Http(a)) => {
                Worker::http(c, &a.request, a.expect.status, i, w).await
            }
            _ => Err("the worker does not fit the check".into()),
        }
    }

    /// The setup, run once before measuring.
    async fn setup(&mut self, action: &Action) -> Result<(), String> {
        match (self, action) {
            (Worker::Sql(c), Action::Sql(a)) => Worker::sql(c, &a.setup, 0, 0).await,
            (Worker::Redis(c), Action::Redis(a)) => Worker::redis(c, &a.setup, 0, 0).await,
            (Worker::Http(c), Action::Http(a)) => {
                for r in &a.setup {
                    Worker::http(c, r, None, 0, 0).await?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    async fn close(self) {
        if let Worker::Sql(c) = self {
            c.close().await;
        }
    }
}

/// What a measurement found.
pub(crate) struct Measured {
    pub outcome: Outcome,
    pub stats: Option<PerfStats>,
}

/// Shared between the workers of one measurement.
struct Shared {
    action: Action,
    next: AtomicU64,
    samples: AtomicU64,
    failures: AtomicU64,
    /// Every worker's latencies, in milliseconds (a lock per sample costs ~50 ns against
    /// operations of ~100 µs and up; it lets the precision watch see them while running).
    latencies: std::sync::Mutex<Vec<f64>>,
    /// Set once the p95 is precise enough: the workers finish their operation and stop.
    precise: AtomicBool,
}

/// How often a running measurement recomputes its p95's precision, at least. The copy
/// and two selections take ~1 ms per 100,000 samples, so the period grows with the
/// cost to stay under ~5 % of a core.
const PRECISION_EVERY: Duration = Duration::from_millis(200);

/// Connects the workers, runs the setup and warms up (under the gate's read side, like
/// any step), then measures under the write side when the check is exclusive.
pub(crate) async fn measure(
    check: &Check,
    spec: &PerfSpec,
    target: &Target,
    matrix: &Matrix,
    gate: &RwLock<()>,
) -> Measured {
    let fail = |outcome| Measured {
        outcome,
        stats: None,
    };
    let mut workers = Vec::new();
    {
        let _step = gate.read().await;
        for _ in 0..spec.concurrency {
            match Worker::connect(&check.action, target, matrix).await {
                Ok(w) => workers.push(w),
                Err(e) => return fail(Outcome::Error(e)),
            }
        }
        if let Some(first) = workers.first_mut()
            && let Err(e) = first.setup(&check.action).await
        {
            return fail(Outcome::Fail(format!("setup failed: {e}")));
        }
    }

    let shared = Arc::new(Shared {
        action: check.action.clone(),
        next: AtomicU64::new(0),
        samples: AtomicU64::new(0),
        failures: AtomicU64::new(0),
        latencies: std::sync::Mutex::new(Vec::with_capacity(1 << 16)),
        precise: AtomicBool::new(false),
    });
    // The warm-up under the read side, like any step: its latencies are not kept, so other
    // cells may go on beside it, and another check's measurement waits for it as for any
    // step. Only the measurement is exclusive.
    let warm_error = {
        let _step = gate.read().await;
        warm_up(&mut workers, &shared, spec.warmup).await
    };
    // Exclusive: running cells finish their step, nothing new starts while this measures.
    let (write_guard, read_guard) = if spec.exclusive {
        (Some(gate.write().await), None)
    } else {
        (None, Some(gate.read().await))
    };

    let spec_arc = Arc::new(spec.clone());
    let mut tasks = Workers(Vec::new());
    for (w, worker) in workers.into_iter().enumerate() {
        let shared = shared.clone();
        let spec = spec_arc.clone();
        tasks
            .0
            .push(tokio::spawn(work(worker, w as u32, shared, spec)));
    }
    let judged = if spec.iterations.is_none() && spec.precision_pct > 0.0 {
        watch_precision(&shared, &tasks, spec).await
    } else {
        None
    };
    let mut first_error: Option<String> = warm_error;
    let mut window: Option<(Instant, Instant)> = None;
    for t in &mut tasks.0 {
        match t.await {
            Ok(r) => {
                if first_error.is_none() {
                    first_error = r.error;
                }
                window = Some(match window {
                    None => (r.measure_start, r.end),
                    Some((a, b)) => (a.min(r.measure_start), b.max(r.end)),
                });
                r.worker.close().await;
            }
            Err(e) => first_error = Some(format!("a worker crashed: {e}")),
        }
    }
    drop(write_guard);
    drop(read_guard);

    let elapsed = window.map_or(Duration::ZERO, |(a, b)| b.saturating_duration_since(a));
    let mut samples = std::mem::take(&mut *lock(&shared.latencies));
    // The figures are those of the samples judged precise: the operations in flight when
    // the workers were told to stop would move the p95 and its interval a little (seen:
    // ±5.0% judged, ±6.0% with them), and the record must hold what stopped the check.
    if let Some(n) = judged {
        samples.truncate(n);
    }
    let mut s = stats(&mut samples, elapsed);
    s.concurrency = spec.concurrency;
    let failures = shared.failures.load(Ordering::Relaxed);
    let outcome = if let Some(e) = first_error.filter(|_| failures > 0) {
        Outcome::Fail(format!(
            "{failures} of {} operations failed; first: {e}",
            s.samples + failures
        ))
    } else if s.samples < spec.min_samples && spec.iterations.is_none() {
        Outcome::Fail(format!(
            "only {} samples, fewer than min-samples = {}",
            s.samples, spec.min_samples
        ))
    } else {
        Outcome::Pass(describe(&s))
    };
    Measured {
        outcome,
        stats: Some(s),
    }
}

/// The workers' tasks, aborted if the measurement is dropped (its check timed out), so
/// that none keeps loading the service afterwards.
struct Workers(Vec<tokio::task::JoinHandle<WorkDone>>);

impl Drop for Workers {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

/// Until the workers are done: every [`PRECISION_EVERY`] (or longer, see there), once
/// there are `min_samples`, the p95's precision; when it is within `spec.precision_pct`,
/// tells the workers to stop and returns how many samples (the first ones, in the order
/// they were recorded) it judged.
async fn watch_precision(shared: &Shared, tasks: &Workers, spec: &PerfSpec) -> Option<usize> {
    let mut copy: Vec<f64> = Vec::new();
    let mut period = PRECISION_EVERY;
    loop {
        tokio::time::sleep(period).await;
        if tasks.0.iter().all(tokio::task::JoinHandle::is_finished) {
            return None;
        }
        if shared.samples.load(Ordering::Relaxed) < spec.min_samples {
            continue;
        }
        let started = Instant::now();
        copy.clear();
        copy.extend_from_slice(&lock(&shared.latencies));
        let precision = super::precision::current_p95_precision_pct(&mut copy);
        period = PRECISION_EVERY.max(started.elapsed() * 20);
        if precision.is_some_and(|p| p <= spec.precision_pct) {
            shared.precise.store(true, Ordering::Relaxed);
            return Some(copy.len());
        }
    }
}

/// The latencies, even if a worker panicked while holding them (a Vec of f64 stays
/// consistent).
fn lock(m: &std::sync::Mutex<Vec<f64>>) -> std::sync::MutexGuard<'_, Vec<f64>> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

struct WorkDone {
    worker: Worker,
    error: Option<String>,
    measure_start: Instant,
    end: Instant,
}

/// Every worker runs the operation for `warmup` (its own keys, far from the measured
/// ones); the latencies are not kept. A failure counts against the check and ends that
/// worker's warm-up; the first one is returned.
async fn warm_up(workers: &mut [Worker], shared: &Shared, warmup: Duration) -> Option<String> {
    let until = Instant::now() + warmup;
    let runs = workers
        .iter_mut()
        .enumerate()
        .map(|(w, worker)| async move {
            let w = w as u32;
            let mut i = u64::MAX / 2 + u64::from(w) * (1 << 32);
            while Instant::now() < until {
                i += 1;
                if let Err(e) = worker.op(&shared.action, i, w).await {
                    shared.failures.fetch_add(1, Ordering::Relaxed);
                    return Some(e);
                }
            }
            None
        });
    futures_util::future::join_all(runs)
        .await
        .into_iter()
        .flatten()
        .next()
}

/// One worker's measurement: operations until the p95 is precise, the iterations are
/// done, or the duration is over with at least `min_samples`.
async fn work(mut worker: Worker, w: u32, shared: Arc<Shared>, spec: Arc<PerfSpec>) -> WorkDone {
    let mut error = None;
    let measure_start = Instant::now();
    let deadline = measure_start + spec.duration;
    loop {
        if shared.precise.load(Ordering::Relaxed) {
            break;
        }
        let i = shared.next.fetch_add(1, Ordering::Relaxed);
        match spec.iterations {
            Some(n) if i >= n => break,
            Some(_) => {}
            None => {
                if Instant::now() >= deadline
                    && shared.samples.load(Ordering::Relaxed) >= spec.min_samples
                {
                    break;
                }
            }
        }
        let t = Instant::now();
        match worker.op(&shared.action, i, w).await {
            Ok(()) => {
                let ms = t.elapsed().as_secs_f64() * 1000.0;
                lock(&shared.latencies).push(ms);
                shared.samples.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                shared.failures.fetch_add(1, Ordering::Relaxed);
                error.get_or_insert(e);
                if shared.failures.load(Ordering::Relaxed) > 100 {
                    break;
                }
            }
        }
    }
    WorkDone {
        worker,
        error,
        measure_start,
        end: Instant::now(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// numpy.percentile(x, q) with the default method, on a sorted copy.
    fn reference(x: &[f64], q: f64) -> f64 {
        let mut s = x.to_vec();
        s.sort_by(f64::total_cmp);
        let h = (s.len() - 1) as f64 * q;
        let lo = h.floor() as usize;
        let hi = (lo + 1).min(s.len() - 1);
        s[lo] + (h - lo as f64) * (s[hi] - s[lo])
    }

    #[test]
    fn percentiles_interpolate_linearly() {
        let mut x = vec![4.0, 1.0, 3.0, 2.0];
        let s = stats(&mut x, Duration::from_secs(2));
        assert_eq!(s.p50_ms, 2.5);
        assert!((s.p95_ms - 3.85).abs() < 1e-12);
        assert!((s.p99_ms - 3.97).abs() < 1e-12);
        assert_eq!(s.mean_ms, 2.5);
        assert!((s.cv - (1.25f64).sqrt() / 2.5).abs() < 1e-12);
        assert_eq!((s.samples, s.ops_per_sec), (4, 2.0));
    }

    #[test]
    fn small_and_empty_inputs() {
        assert_eq!(stats(&mut [], Duration::from_secs(1)).samples, 0);
        let s = stats(&mut [7.0], Duration::from_secs(1));
        assert_eq!((s.p50_ms, s.p95_ms, s.p99_ms, s.cv), (7.0, 7.0, 7.0, 0.0));
        let s = stats(&mut [2.0, 1.0], Duration::from_secs(1));
        assert_eq!((s.p50_ms, s.p95_ms), (1.5, 1.95));
    }

    #[test]
    fn selection_agrees_with_sorting() {
        // A deterministic, skewed sequence with ties.
        let mut x: Vec<f64> = (0..10_007u64)
            .map(|i| ((i * 7919) % 1000) as f64 / 10.0 + if i % 97 == 0 { 50.0 } else { 0.0 })
            .collect();
        let copy = x.clone();
        let s = stats(&mut x, Duration::from_secs(1));
        for (got, q) in [(s.p50_ms, 0.5), (s.p95_ms, 0.95), (s.p99_ms, 0.99)] {
            assert!((got - reference(&copy, q)).abs() < 1e-9, "q={q}: {got}");
        }
    }

    /// fixtures/stats/reference.json, made by fixtures/stats/make_reference.py with numpy.
    #[test]
    fn statistics_agree_with_numpy() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/stats/reference.json");
        let text = std::fs::read_to_string(path).expect("the numpy reference data");
        let data: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        let cases = data["cases"].as_array().expect("cases");
        assert!(cases.len() >= 8);
        let close = |got: f64, want: &serde_json::Value, what: &str, name: &str| {
            let want = want.as_f64().expect("a number");
            let tol = 1e-12 * want.abs().max(1.0);
            assert!(
                (got - want).abs() <= tol,
                "{name}: {what} = {got}, numpy says {want}"
            );
        };
        for c in cases {
            let name = c["name"].as_str().expect("a name");
            let mut samples: Vec<f64> = c["samples"]
                .as_array()
                .expect("samples")
                .iter()
                .map(|v| v.as_f64().expect("a number"))
                .collect();
            let n = samples.len();
            let s = stats(&mut samples, Duration::from_secs(2));
            close(s.p50_ms, &c["p50_ms"], "p50", name);
            close(s.p95_ms, &c["p95_ms"], "p95", name);
            close(s.p99_ms, &c["p99_ms"], "p99", name);
            close(s.mean_ms, &c["mean_ms"], "mean", name);
            close(s.cv, &c["cv"], "cv", name);
            assert_eq!(s.samples, n as u64);
            assert_eq!(s.ops_per_sec, n as f64 / 2.0);
        }
    }

    fn fig(p95: f64, ops: f64, cv: f64) -> PerfStats {
        PerfStats {
            p95_ms: p95,
            ops_per_sec: ops,
            cv,
            ..PerfStats::default()
        }
    }

    #[test]
    fn tolerance_widens_with_noise_up_to_half() {
        assert_eq!(
            effective_tolerance(&fig(1.0, 1.0, 0.01), &fig(1.0, 1.0, 0.02), 15.0),
            15.0
        );
        assert!(
            (effective_tolerance(&fig(1.0, 1.0, 0.1), &fig(1.0, 1.0, 0.02), 15.0) - 30.0).abs()
                < 1e-9
        );
        assert_eq!(
            effective_tolerance(&fig(1.0, 1.0, 0.9), &fig(1.0, 1.0, 0.02), 15.0),
            50.0
        );
        assert_eq!(
            effective_tolerance(&fig(1.0, 1.0, 0.9), &fig(1.0, 1.0, 0.02), 80.0),
            80.0
        );
    }

    #[test]
    fn regressions_are_slower_p95_or_less_throughput() {
        let base = fig(1.0, 1000.0, 0.01);
        let d = compare_to_baseline(&fig(1.1, 950.0, 0.01), &base, "r1", 15.0);
        assert!(!d.regressed);
        let d = compare_to_baseline(&fig(1.2, 1000.0, 0.01), &base, "r1", 15.0);
        assert!(d.regressed && (d.p95_delta_pct - 20.0).abs() < 1e-9);
        let d = compare_to_baseline(&fig(1.0, 800.0, 0.01), &base, "r1", 15.0);
        assert!(d.regressed && (d.ops_delta_pct + 20.0).abs() < 1e-9);
        // Faster is never a regression.
        assert!(!compare_to_baseline(&fig(0.5, 3000.0, 0.01), &base, "r1", 15.0).regressed);
        let text = describe_delta(
            &fig(1.0, 800.0, 0.2),
            &base,
            &compare_to_baseline(&fig(1.0, 800.0, 0.2), &base, "r1", 15.0),
            15.0,
        );
        assert!(text.contains("tolerance 15% widened to 50%"), "{text}");
    }

    #[test]
    fn tolerance_widens_by_both_precisions() {
        let precise = |p95: f64, prec: f64| PerfStats {
            p95_precision_pct: Some(prec),
            ..fig(p95, 1000.0, 0.01)
        };
        // +16% is beyond 15% alone, within 15% + 1.5% + 2% = 18.5%.
        let base = precise(1.0, 1.5);
        let d = compare_to_baseline(&precise(1.16, 2.0), &base, "r1", 15.0);
        assert!((d.tolerance_pct - 18.5).abs() < 1e-9, "{}", d.tolerance_pct);
        assert!(!d.regressed);
        // +19% is beyond it.
        assert!(compare_to_baseline(&precise(1.19, 2.0), &base, "r1", 15.0).regressed);
        // An unknown precision widens nothing.
        let d = compare_to_baseline(
            &fig(1.16, 1000.0, 0.01),
            &fig(1.0, 1000.0, 0.01),
            "r1",
            15.0,
        );
        assert!(d.regressed && d.tolerance_pct == 15.0);
        let text = describe_delta(
            &precise(1.16, 2.0),
            &base,
            &compare_to_baseline(&precise(1.16, 2.0), &base, "r1", 15.0),
            15.0,
        );
        assert!(
            text.contains("tolerance 15% + 3.5% for the two p95s' precision = 18.5%"),
            "{text}"
        );
    }

    #[test]
    fn stats_record_the_p95_precision() {
        let mut x: Vec<f64> = (0..1000u64)
            .map(|i| ((i * 7919) % 1000 + 1) as f64)
            .collect();
        let s = stats(&mut x, Duration::from_secs(1));
        let want = (965.0 - s.p95_ms) / s.p95_ms * 100.0;
        assert!((s.p95_precision_pct.expect("precision") - want).abs() < 1e-9);
        assert_eq!(
            stats(&mut [1.0, 2.0], Duration::from_secs(1)).p95_precision_pct,
            None
        );
    }

    #[test]
    fn run_baseline_and_compare_give_the_same_verdict() {
        let base = fig(1.0, 1000.0, 0.02);
        for (p95, ops, cv) in [
            (1.1, 1000.0, 0.01),
            (1.2, 1000.0, 0.01),
            (1.2, 1000.0, 0.1),
            (1.4, 1000.0, 0.1),
            (1.0, 800.0, 0.01),
            (1.0, 800.0, 0.2),
            (1.0, 400.0, 0.9),
            (0.5, 3000.0, 0.01),
        ] {
            let new = fig(p95, ops, cv);
            let run = compare_to_baseline(&new, &base, "r1", 15.0).regressed;
            let cmp = crate::results::compare::perf_change(&base, &new, 15.0)
                .is_some_and(|p| p.regressed);
            assert_eq!(run, cmp, "p95 {p95}, ops {ops}, cv {cv}");
        }
        // The noise widening applies in compare too: +20% at CV 0.1 is within 30%.
        assert!(
            crate::results::compare::perf_change(&base, &fig(1.2, 1000.0, 0.1), 15.0).is_none()
        );
    }
}
