//! Two runs compared (`dockmatrix compare`): cells matched by their values, never by id;
//! the cells whose status changed (newly broken first), the checks whose status changed,
//! and perf figures that moved beyond a tolerance. "What broke since last night."

use indexmap::IndexMap;
use serde::Serialize;

use super::{CellRecord, CellStatus, CheckStatus, PerfStats, RunRecord, same_values};

/// The tolerance when none is given: a p95 15 % slower, or 15 % less throughput.
pub const DEFAULT_TOLERANCE_PCT: f64 = 15.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// Worked before, does not now: a regression.
    Broken,
    /// Moved without getting better or worse (pass ↔ flaky, fail ↔ error, cancelled…).
    Changed,
    /// Did not work before, works now.
    Fixed,
}

impl Change {
    pub fn symbol(self) -> &'static str {
        match self {
            Change::Broken => "▼",
            Change::Changed => "~",
            Change::Fixed => "▲",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Change::Broken => "broken",
            Change::Changed => "changed",
            Change::Fixed => "fixed",
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CellChange {
    pub change: Change,
    pub values: IndexMap<String, String>,
    pub base: CellStatus,
    pub new: CellStatus,
    /// The new run's reason for the cell.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CheckChange {
    pub change: Change,
    pub values: IndexMap<String, String>,
    pub suite: String,
    pub name: String,
    /// The upgrade phase the check ran in (`seed`, `verify`, `rollback`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<super::UpgradePhase>,
    pub base: CheckStatus,
    pub new: CheckStatus,
    /// The new run's message.
    pub message: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PerfChange {
    /// Slower or less throughput beyond the tolerance.
    pub regressed: bool,
    pub values: IndexMap<String, String>,
    pub suite: String,
    pub name: String,
    pub base_p95_ms: f64,
    pub new_p95_ms: f64,
    /// Positive = slower.
    pub p95_delta_pct: f64,
    pub base_ops_per_sec: f64,
    pub new_ops_per_sec: f64,
    /// Negative = less throughput.
    pub ops_delta_pct: f64,
    /// Each run's p95 precision (95 % confidence half-width, percent), when measured.
    pub base_p95_precision_pct: Option<f64>,
    pub new_p95_precision_pct: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Comparison {
    pub base_run: String,
    pub new_run: String,
    /// The two runs come from different matrices (hashes differ): compared all the same,
    /// by values.
    pub different_matrices: bool,
    pub tolerance_pct: f64,
    /// Whether anything regressed: a cell or a check broken, or perf beyond tolerance.
    pub regressed: bool,
    /// Broken first, then changed, then fixed; in the new run's order within each.
    pub cells: Vec<CellChange>,
    pub checks: Vec<CheckChange>,
    /// Beyond the tolerance only; regressions first.
    pub perf: Vec<PerfChange>,
    /// Cells of the base run the new one does not have, and the other way round.
    pub only_in_base: Vec<IndexMap<String, String>>,
    pub only_in_new: Vec<IndexMap<String, String>>,
    /// Cells present in both with the same status.
    pub unchanged: usize,
}

fn works(s: CellStatus) -> bool {
    matches!(s, CellStatus::Pass | CellStatus::Flaky)
}

fn broken(s: CellStatus) -> bool {
    matches!(
        s,
        CellStatus::Fail | CellStatus::Error | CellStatus::Unsupported
    )
}

/// A cell that worked and now fails, errs or is refused by its engine is broken; the
/// reverse is fixed; anything else (a cancelled side, pass ↔ flaky, fail ↔ error) changed.
pub fn cell_change(base: CellStatus, new: CellStatus) -> Change {
    if works(base) && broken(new) {
        Change::Broken
    } else if broken(base) && works(new) {
        Change::Fixed
    } else {
        Change::Changed
    }
}

/// A check that now fails or errs and did not before is broken (even if it was skipped:
/// it did not fail then); the reverse, to pass/known-fail/fixed, is fixed.
pub fn check_change(base: CheckStatus, new: CheckStatus) -> Change {
    if new.fails_cell() && !base.fails_cell() {
        Change::Broken
    } else if base.fails_cell() && new.counts_as_passed() {
        Change::Fixed
    } else {
        Change::Changed
    }
}

/// Compares `new` against `base`. `tolerance_pct` bounds the perf deltas reported.
pub fn compare(base: &RunRecord, new: &RunRecord, tolerance_pct: f64) -> Comparison {
    let mut cells = Vec::new();
    let mut checks = Vec::new();
    let mut perf = Vec::new();
    let mut only_in_new = Vec::new();
    let mut unchanged = 0;
    let base_index = ValueIndex::new(base);
    let mut matched = vec![false; base.cells.len()];
    for n in &new.cells {
        let Some(bi) = base_index.find(base, n) else {
            only_in_new.push(n.values.clone());
            continue;
        };
        matched[bi] = true;
        let b = &base.cells[bi];
        if b.status == n.status {
            unchanged += 1;
        } else {
            cells.push(CellChange {
                change: cell_change(b.status, n.status),
                values: n.values.clone(),
                base: b.status,
                new: n.status,
                reason: n.reason.clone(),
            });
        }
        compare_checks(b, n, tolerance_pct, &mut checks, &mut perf);
    }
    let only_in_base = base
        .cells
        .iter()
        .zip(&matched)
        .filter(|(_, m)| !**m)
        .map(|(c, _)| c.values.clone())
        .collect();
    // Stable sorts keep the new run's order within each kind.
    cells.sort_by_key(|c| c.change);
    checks.sort_by_key(|c| c.change);
    perf.sort_by_key(|p| !p.regressed);
    let regressed = cells.iter().any(|c| c.change == Change::Broken)
        || checks.iter().any(|c| c.change == Change::Broken)
        || perf.iter().any(|p| p.regressed);
    Comparison {
        base_run: base.run_id.clone(),
        new_run: new.run_id.clone(),
        different_matrices: base.matrix.hash != new.matrix.hash,
        tolerance_pct,
        regressed,
        cells,
        checks,
        perf,
        only_in_base,
        only_in_new,
        unchanged,
    }
}

fn compare_checks(
    b: &CellRecord,
    n: &CellRecord,
    tolerance_pct: f64,
    checks: &mut Vec<CheckChange>,
    perf: &mut Vec<PerfChange>,
) {
    for nc in &n.checks {
        let Some(bc) = b
            .checks
            .iter()
            // An upgrade cell runs a check once per phase: match the same phase's run.
            .find(|c| c.name == nc.name && c.suite == nc.suite && c.phase == nc.phase)
        else {
            continue;
        };
        if bc.status != nc.status {
            checks.push(CheckChange {
                change: check_change(bc.status, nc.status),
                values: n.values.clone(),
                suite: nc.suite.clone(),
                name: nc.name.clone(),
                phase: nc.phase,
                base: bc.status,
                new: nc.status,
                message: nc.message.clone(),
            });
        }
        if let (Some(bp), Some(np)) = (&bc.perf, &nc.perf)
            && let Some(p) = perf_change(bp, np, tolerance_pct)
        {
            perf.push(PerfChange {
                values: n.values.clone(),
                suite: nc.suite.clone(),
                name: nc.name.clone(),
                ..p
            });
        }
    }
}

/// The change when p95 or throughput moved beyond the tolerance, either way.
/// Regressed or not is [`super::perf_rule::judge`]'s verdict, as for `run --baseline`.
pub(crate) fn perf_change(b: &PerfStats, n: &PerfStats, tolerance_pct: f64) -> Option<PerfChange> {
    let v = super::perf_rule::judge(b, n, tolerance_pct);
    let (p95, ops, regressed) = (v.p95_delta_pct, v.ops_delta_pct, v.regressed);
    let beyond = |d: Option<f64>| d.is_some_and(|d| d.abs() > v.tolerance_pct);
    if !beyond(p95) && !beyond(ops) {
        return None;
    }
    Some(PerfChange {
        regressed,
        values: IndexMap::new(),
        suite: String::new(),
        name: String::new(),
        base_p95_ms: b.p95_ms,
        new_p95_ms: n.p95_ms,
        p95_delta_pct: p95.unwrap_or(f64::NAN),
        base_ops_per_sec: b.ops_per_sec,
        new_ops_per_sec: n.ops_per_sec,
        ops_delta_pct: ops.unwrap_or(f64::NAN),
        base_p95_precision_pct: b.p95_precision_pct,
        new_p95_precision_pct: n.p95_precision_pct,
    })
}

/// Finds cells by values without a quadratic scan: the canonical (sorted) values as key.
struct ValueIndex {
    by_key: std::collections::HashMap<Vec<(String, String)>, usize>,
}

impl ValueIndex {
    fn new(record: &RunRecord) -> ValueIndex {
        let mut by_key = std::collections::HashMap::with_capacity(record.cells.len());
        for (i, c) in record.cells.iter().enumerate() {
            by_key.entry(canonical(&c.values)).or_insert(i);
        }
        ValueIndex { by_key }
    }

    fn find(&self, record: &RunRecord, cell: &CellRecord) -> Option<usize> {
        let i = *self.by_key.get(&canonical(&cell.values))?;
        same_values(&record.cells[i].values, &cell.values).then_some(i)
    }
}

/// Values sorted by key: equal for equal maps whatever their order.
pub fn canonical(values: &IndexMap<String, String>) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = values.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    v.sort_unstable();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_kinds() {
        use CellStatus::*;
        assert_eq!(cell_change(Pass, Fail), Change::Broken);
        assert_eq!(cell_change(Flaky, Unsupported), Change::Broken);
        assert_eq!(cell_change(Error, Pass), Change::Fixed);
        assert_eq!(cell_change(Pass, Flaky), Change::Changed);
        assert_eq!(cell_change(Cancelled, Fail), Change::Changed);
        assert_eq!(cell_change(Fail, Error), Change::Changed);
        assert_eq!(
            check_change(CheckStatus::Skipped, CheckStatus::Fail),
            Change::Broken
        );
        assert_eq!(
            check_change(CheckStatus::Fail, CheckStatus::KnownFail),
            Change::Fixed
        );
        assert_eq!(
            check_change(CheckStatus::Pass, CheckStatus::KnownFail),
            Change::Changed
        );
    }

    #[test]
    fn perf_beyond_tolerance() {
        let s = |p95: f64, ops: f64| PerfStats {
            p95_ms: p95,
            ops_per_sec: ops,
            ..PerfStats::default()
        };
        assert!(perf_change(&s(10.0, 1000.0), &s(11.0, 950.0), 15.0).is_none());
        assert!(perf_change(&s(10.0, 1000.0), &s(12.0, 1000.0), 15.0).is_some_and(|p| p.regressed));
        assert!(perf_change(&s(10.0, 1000.0), &s(10.0, 800.0), 15.0).is_some_and(|p| p.regressed));
        assert!(perf_change(&s(10.0, 1000.0), &s(5.0, 2000.0), 15.0).is_some_and(|p| !p.regressed));
        assert!(perf_change(&s(0.0, 0.0), &s(5.0, 2000.0), 15.0).is_none());
        // +16% is within 15% once both runs' ±0.5% precisions are added.
        let precise = |p95: f64| PerfStats {
            p95_precision_pct: Some(0.5),
            ..s(p95, 1000.0)
        };
        assert!(perf_change(&precise(10.0), &precise(11.6), 15.0).is_none());
        assert!(perf_change(&s(10.0, 1000.0), &s(11.6, 1000.0), 15.0).is_some());
    }
}
