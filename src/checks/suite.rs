//! Running a scenario against a stack: each check in file order, with its `when`, its
//! timeout, the exclusive gate for perf, the matrix's `[[known]]` entries, a baseline
//! for perf figures, and secrets masked in every message; and a run's [`Suites`], which
//! the runner hands each cell's stack.

use std::time::{Duration, Instant};

use tokio::sync::RwLock;

use super::{Outcome, Target, command, docker_api, exec, http, perf, reach, redis, sql};
use crate::matrix::Matrix;
use crate::results::{CellRecord, CheckRecord, CheckStatus, RunRecord};
use crate::scenario::{Action, Check, Phase, Scenario};

/// Perf figures of an earlier run for the same cell (matched by values, never by id):
/// `--baseline RUN`.
#[derive(Debug, Clone, Copy)]
pub struct Baseline<'a> {
    pub run_id: &'a str,
    pub cell: &'a CellRecord,
}

/// How a suite runs, beyond the stack and the matrix.
pub struct SuiteContext<'a> {
    /// The exclusive gate shared by every cell of the run (`tokio::sync::RwLock<()>`):
    /// every step of every cell holds its read side; a perf check that is `exclusive`
    /// takes the write side while it warms up and measures, so running cells finish
    /// their current step and nothing new starts meanwhile.
    ///
    /// [`run_suite`] takes the read side itself around each check: the caller must
    /// *not* hold a read guard across the call, or an exclusive perf check waits for
    /// itself forever.
    pub gate: &'a RwLock<()>,
    /// Perf figures to compare with; without it, figures are only recorded.
    pub baseline: Option<Baseline<'a>>,
    /// Called as soon as each check has a record (for `CheckFinished` events).
    pub on_check: Option<OnCheck<'a>>,
    /// Told of each check as it starts (for progress).
    pub on_start: Option<OnStart<'a>>,
}

impl std::fmt::Debug for SuiteContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SuiteContext")
            .field("baseline", &self.baseline.map(|b| b.run_id))
            .finish_non_exhaustive()
    }
}

/// Runs the checks of `scenario` that belong to `phase`, in file order, and returns one
/// record per check. Never fails as a whole: a check that cannot run is `error`.
pub async fn run_suite(
    scenario: &Scenario,
    target: &Target,
    matrix: &Matrix,
    phase: Phase,
    ctx: &SuiteContext<'_>,
) -> Vec<CheckRecord> {
    let mut out = Vec::new();
    for check in scenario.checks.iter().filter(|c| c.phase == phase) {
        if let Some(f) = ctx.on_start {
            f(check);
        }
        let mut cases = Vec::new();
        let record = run_check(scenario, check, target, matrix, ctx, &mut cases).await;
        for record in std::iter::once(record).chain(cases) {
            if let Some(f) = ctx.on_check {
                f(&record);
            }
            out.push(record);
        }
    }
    out
}

/// Every scenario, in order, for one phase.
pub async fn run_suites(
    scenarios: &[Scenario],
    target: &Target,
    matrix: &Matrix,
    phase: Phase,
    ctx: &SuiteContext<'_>,
) -> Vec<CheckRecord> {
    let mut out = Vec::new();
    for s in scenarios {
        out.extend(run_suite(s, target, matrix, phase, ctx).await);
    }
    out
}

/// Called as soon as a check has its record (for `CheckFinished` events, and so that a
/// cell interrupted mid-suite keeps the checks that ran).
pub type OnCheck<'a> = &'a (dyn Fn(&CheckRecord) + Send + Sync);

/// Called as each check starts.
pub type OnStart<'a> = &'a (dyn Fn(&Check) + Send + Sync);

/// A run's scenarios and its `--baseline`: what every cell's stack is checked with.
#[derive(Debug, Clone, Copy)]
pub struct Suites<'a> {
    pub matrix: &'a Matrix,
    /// Loaded and checked against the matrix ([`crate::scenario::load_all`]).
    pub scenarios: &'a [Scenario],
    /// `--baseline RUN`: perf figures of the cell with the same values become verdicts.
    pub baseline: Option<&'a RunRecord>,
}

impl Suites<'_> {
    /// How many checks [`Suites::run`] starts for `phases` (a check skipped by its `when`
    /// still starts, to say so; a command check's JUnit cases are not counted).
    pub fn planned(&self, phases: &[Phase]) -> usize {
        self.scenarios
            .iter()
            .flat_map(|s| &s.checks)
            .filter(|c| phases.contains(&c.phase))
            .count()
    }

    /// The checks of `phases` (in that order) against `target`; each record goes to
    /// `on_check` as soon as it exists. The caller must not hold the gate's read side
    /// ([`SuiteContext::gate`]).
    pub async fn run(
        &self,
        target: &Target,
        phases: &[Phase],
        gate: &RwLock<()>,
        on_check: Option<OnCheck<'_>>,
        on_start: Option<OnStart<'_>>,
    ) -> Vec<CheckRecord> {
        let baseline = self.baseline.and_then(|b| {
            b.cell_by_values(&target.cell.values).map(|cell| Baseline {
                run_id: &b.run_id,
                cell,
            })
        });
        let ctx = SuiteContext {
            gate,
            baseline,
            on_check,
            on_start,
        };
        let mut records = Vec::new();
        for &phase in phases {
            records.extend(run_suites(self.scenarios, target, self.matrix, phase, &ctx).await);
        }
        records
    }
}

async fn run_check(
    scenario: &Scenario,
    check: &Check,
    target: &Target,
    matrix: &Matrix,
    ctx: &SuiteContext<'_>,
    cases: &mut Vec<CheckRecord>,
) -> CheckRecord {
    let started = Instant::now();
    let record = |status, message: String, perf| CheckRecord {
        suite: scenario.name.clone(),
        name: check.name.clone(),
        status,
        duration_ms: started.elapsed().as_millis() as u64,
        message: mask(target, check, &message),
        perf,
        phase: None,
    };

    let engine_version = Some(target.engine_version.as_str()).filter(|v| !v.is_empty());
    if let Err(reason) = check.when.evaluate_in(matrix, &target.cell, engine_version) {
        return record(CheckStatus::Skipped, reason, None);
    }
    if let Some(absent) = check
        .services
        .iter()
        .find(|s| !target.services.contains_key(&s.name))
    {
        return record(
            CheckStatus::Skipped,
            format!("service `{}` is not part of this stack", absent.name),
            None,
        );
    }

    let (outcome, mut stats) = match &check.perf {
        Some(spec) => {
            match tokio::time::timeout(
                check.timeout,
                perf::measure(check, spec, target, matrix, ctx.gate),
            )
            .await
            {
                Ok(m) => (m.outcome, m.stats),
                Err(_) => (timed_out(check.timeout), None),
            }
        }
        None if matches!(check.action, Action::Command(_)) => {
            let Action::Command(a) = &check.action else {
                unreachable!("matched above")
            };
            // The command keeps its own time: on timeout it kills its process group.
            let _step = ctx.gate.read().await;
            let ran = command::run(a, target, check.timeout).await;
            cases.extend(ran.cases.into_iter().map(|c| {
                let name = format!("{} › {}", check.name, c.name);
                let (status, message) = known(matrix, target, &name, c.status, c.message);
                CheckRecord {
                    suite: scenario.name.clone(),
                    status,
                    duration_ms: c.duration_ms,
                    message: mask(target, check, &message),
                    perf: None,
                    phase: None,
                    name,
                }
            }));
            (ran.outcome, None)
        }
        None => {
            let _step = ctx.gate.read().await;
            match tokio::time::timeout(check.timeout, dispatch(check, target, matrix)).await {
                Ok(o) => (o, None),
                Err(_) => (timed_out(check.timeout), None),
            }
        }
    };

    // A baseline turns perf figures into a verdict.
    let mut outcome = outcome;
    if let (Some(spec), Some(s), Outcome::Pass(_)) = (&check.perf, stats.as_mut(), &outcome)
        && let Some(b) = ctx.baseline
    {
        let earlier = b
            .cell
            .checks
            .iter()
            .find(|r| r.name == check.name)
            .and_then(|r| r.perf.as_ref());
        outcome = match earlier {
            Some(base) => {
                let delta = perf::compare_to_baseline(s, base, b.run_id, spec.tolerance_pct);
                let text = perf::describe_delta(s, base, &delta, spec.tolerance_pct);
                let regressed = delta.regressed;
                s.baseline = Some(delta);
                if regressed {
                    Outcome::Fail(format!("performance regression: {text}"))
                } else {
                    Outcome::Pass(format!("{}; within baseline: {text}", perf::describe(s)))
                }
            }
            None => Outcome::Pass(format!(
                "{}; run {} has no figures for this check in this cell",
                perf::describe(s),
                b.run_id
            )),
        };
    }

    let (status, message) = match outcome {
        Outcome::Pass(m) => (CheckStatus::Pass, m),
        Outcome::Fail(m) => (CheckStatus::Fail, m),
        Outcome::Error(m) => (CheckStatus::Error, m),
    };
    let (status, message) = known(matrix, target, &check.name, status, message);
    record(status, message, stats)
}

/// The matrix's `[[known]]` entry for check `name` turns a failure into `known-fail` and
/// a pass into `fixed`.
fn known(
    matrix: &Matrix,
    target: &Target,
    name: &str,
    status: CheckStatus,
    message: String,
) -> (CheckStatus, String) {
    match (status, matrix.known_for(&target.cell, name)) {
        (CheckStatus::Fail, Some(k)) => (
            CheckStatus::KnownFail,
            format!(
                "known incompatibility ({}): {} — {message}",
                k.filter, k.reason
            ),
        ),
        (CheckStatus::Pass, Some(k)) => (
            CheckStatus::Fixed,
            format!(
                "passes although [[known]] ({}) says: {} — remove the entry if the fix is real; {message}",
                k.filter, k.reason
            ),
        ),
        (status, _) => (status, message),
    }
}

fn timed_out(t: Duration) -> Outcome {
    Outcome::Fail(format!(
        "did not finish within its timeout of {}",
        humanize(t)
    ))
}

fn humanize(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

async fn dispatch(check: &Check, target: &Target, matrix: &Matrix) -> Outcome {
    match &check.action {
        Action::Sql(a) => sql::run(a, target, matrix).await,
        Action::Redis(a) => redis::run(a, target, matrix).await,
        Action::Http(a) => http::run(a, target, matrix).await,
        Action::Exec(a) => exec::run(a, target).await,
        Action::Reach(a) => reach::run(a, target, matrix).await,
        Action::DockerApi(a) => docker_api::run(a, target).await,
        Action::Command(_) => Outcome::Error("command checks run through run_check".into()),
    }
}

/// Masks every secret the stack was given (env values whose key says PASSWORD, SECRET,
/// TOKEN or KEY), the check's own password, and credentials inside URLs.
fn mask(target: &Target, check: &Check, text: &str) -> String {
    let mut secrets: Vec<&str> = target
        .services
        .values()
        .flat_map(|s| s.env.iter())
        .filter(|(k, _)| crate::secrets::is_secret_key(k))
        .map(|(_, v)| v.as_str())
        .collect();
    if let Action::Sql(a) = &check.action
        && let Some(p) = &a.password
    {
        secrets.push(p);
    }
    crate::secrets::redact_values(text, secrets)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The runner boxes the suites' future as `BoxFuture<'static, _>`: it must be `Send`.
    #[expect(dead_code, reason = "compiles or not: that is the test")]
    fn run_suites_is_send<'a>(
        s: &'a [Scenario],
        t: &'a Target,
        m: &'a Matrix,
        c: &'a SuiteContext<'a>,
    ) -> impl Future<Output = Vec<CheckRecord>> + Send + 'a {
        run_suites(s, t, m, Phase::Run, c)
    }
}
