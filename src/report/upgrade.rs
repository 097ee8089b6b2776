//! The upgrade-path table ("tested upgrade paths"), the same in every format: one row per
//! upgrade cell with from → to as the engines measured themselves, the storage driver (and
//! its switch), whether the seeded data was kept, how many containers came back, the
//! suites on the TO engine, the rollback and the cell's status. Runs without upgrade cells
//! show nothing of it.

use super::Tally;
use crate::results::{
    CellRecord, FindingLevel, PhaseRecord, RunRecord, UpgradePhase, UpgradeRecord, axes,
};

/// The phase whose checks ran on the TO engine after the upgrade.
pub(crate) const TO_PHASE: UpgradePhase = UpgradePhase::Verify;

/// Column titles, in order (`stack` only when some row has one: see [`has_stack`]).
pub(crate) const COLUMNS: [&str; 8] = [
    "from → to",
    "stack",
    "driver",
    "data kept",
    "containers back",
    "suites on TO",
    "rollback",
    "status",
];

/// One row of the table, every column as plain text (each format escapes it).
#[derive(Debug, Clone)]
pub(crate) struct PathRow<'a> {
    pub cell: &'a CellRecord,
    pub upgrade: &'a UpgradeRecord,
    /// `20.10.5 → 28.5.2`: measured versions when known, else the `[engines.*]` names.
    pub path: String,
    /// The cell's other values: `postgres=15, redis=7.0`.
    pub stack: String,
    /// `overlay2`, or `overlay2 → vfs` when the upgrade switched drivers.
    pub driver: String,
    /// ✅ / ❌ / –.
    pub data_kept: &'static str,
    /// `3/3`, or `–` when not counted.
    pub containers_back: String,
    /// The suites' checks on TO: `✅ 7/7`, or `–` when none ran there.
    pub suites: Option<Tally>,
    /// `–` without a rollback; `✅ pass 3/3`; `– not reached`.
    pub rollback: String,
}

impl PathRow<'_> {
    pub fn suites_label(&self) -> String {
        self.suites.map_or_else(|| "–".to_string(), |t| t.label())
    }

    pub fn status_label(&self) -> String {
        format!("{} {}", self.cell.status.symbol(), self.cell.status)
    }

    /// The columns' texts, in [`COLUMNS`] order, without `stack` unless asked.
    pub fn columns(&self, with_stack: bool) -> Vec<String> {
        let mut v = vec![self.path.clone()];
        if with_stack {
            v.push(self.stack.clone());
        }
        v.extend([
            self.driver.clone(),
            self.data_kept.to_string(),
            self.containers_back.clone(),
            self.suites_label(),
            self.rollback.clone(),
            self.status_label(),
        ]);
        v
    }

    /// Phases that did not pass, in the order they ran.
    pub fn failed_phases(&self) -> impl Iterator<Item = &PhaseRecord> {
        self.upgrade
            .phases
            .iter()
            .filter(|p| p.status != crate::results::CellStatus::Pass)
    }
}

/// The column titles a table shows.
pub(crate) fn columns(with_stack: bool) -> Vec<&'static str> {
    COLUMNS
        .iter()
        .copied()
        .filter(|c| with_stack || *c != "stack")
        .collect()
}

/// The rows of a run's upgrade cells, in run order (empty: no upgrade table).
pub(crate) fn rows(record: &RunRecord) -> Vec<PathRow<'_>> {
    record.cells.iter().filter_map(row).collect()
}

/// Whether any row has other values to show.
pub(crate) fn has_stack(rows: &[PathRow<'_>]) -> bool {
    rows.iter().any(|r| !r.stack.is_empty())
}

fn row(cell: &CellRecord) -> Option<PathRow<'_>> {
    let u = cell.upgrade.as_ref()?;
    let version = |facts: &Option<crate::results::EngineFacts>, name: &str| {
        facts
            .as_ref()
            .map(|e| e.server_version.trim())
            .filter(|v| !v.is_empty())
            .unwrap_or(name)
            .to_string()
    };
    let path = format!(
        "{} → {}",
        version(&u.from_engine, &u.from),
        version(&u.to_engine, &u.to)
    );
    let driver = if u.from_driver == u.to_driver {
        u.from_driver.clone()
    } else {
        format!("{} → {}", u.from_driver, u.to_driver)
    };
    let stack = cell
        .values
        .iter()
        .filter(|(k, _)| ![axes::UPGRADE, axes::ENGINE, axes::STORAGE_DRIVER].contains(&k.as_str()))
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ");
    let data_kept = match u.data_kept {
        Some(true) => "✅",
        Some(false) => "❌",
        None => "–",
    };
    let counted =
        |c: Option<crate::results::Counted>| c.map_or("–".to_string(), |c| c.to_string());
    let suites = Tally::of(
        cell,
        cell.checks.iter().filter(|c| c.phase == Some(TO_PHASE)),
    );
    let rollback = if !u.rollback {
        "–".to_string()
    } else {
        match u.phase(UpgradePhase::Rollback) {
            Some(p) => match u.rollback_containers_back {
                Some(c) => format!("{} {} {c}", p.status.symbol(), p.status),
                None => format!("{} {}", p.status.symbol(), p.status),
            },
            None => "– not reached".to_string(),
        }
    };
    Some(PathRow {
        cell,
        upgrade: u,
        path,
        stack,
        driver,
        data_kept,
        containers_back: counted(u.containers_back),
        suites,
        rollback,
    })
}

/// A cell's preflight findings worth showing (`warn` and `block`), worst first.
pub(crate) fn notable_findings(cell: &CellRecord) -> Vec<&crate::results::Finding> {
    let mut v: Vec<_> = cell
        .preflight
        .iter()
        .filter(|f| f.level != FindingLevel::Ok)
        .collect();
    v.sort_by_key(|f| std::cmp::Reverse(f.level));
    v
}

/// `⚠ warn` / `⛔ block`.
pub(crate) fn level_label(level: FindingLevel) -> &'static str {
    match level {
        FindingLevel::Ok => "✅ ok",
        FindingLevel::Warn => "⚠ warn",
        FindingLevel::Block => "⛔ block",
    }
}

/// A check's name as a report lists it: `verify › name` when it ran in an upgrade phase.
pub(crate) fn phased_name(phase: Option<UpgradePhase>, name: &str) -> String {
    match phase {
        Some(p) => format!("{p} › {name}"),
        None => name.to_string(),
    }
}
