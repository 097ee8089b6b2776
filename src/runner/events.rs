//! What the runner tells the outside world. The runner never prints: the progress view,
//! the results store and the reports consume these (the cargo-nextest model).

use indexmap::IndexMap;

use crate::results::{CellRecord, CellStatus, CheckRecord, EngineFacts};

#[derive(Debug, Clone)]
pub enum Event {
    RunStarted {
        run_id: String,
        cells: usize,
        jobs: usize,
    },
    EngineStarting {
        engine: String,
        driver: String,
    },
    EngineReady {
        engine: String,
        driver: String,
        facts: Box<EngineFacts>,
        ms: u64,
    },
    EngineFailed {
        engine: String,
        driver: String,
        reason: String,
        unsupported: bool,
    },
    /// An engine's images are loading: `done` of `of` images loaded into it, `bytes` of
    /// `total_bytes` (the saved images' sizes).
    ImagesLoading {
        engine: String,
        driver: String,
        done: usize,
        of: usize,
        bytes: u64,
        total_bytes: u64,
    },
    ImagesLoaded {
        engine: String,
        driver: String,
        images: usize,
        ms: u64,
    },
    EngineStopped {
        engine: String,
        driver: String,
    },
    CellStarted {
        id: String,
        values: IndexMap<String, String>,
        attempt: u32,
    },
    CellStep {
        id: String,
        step: Step,
    },
    /// `ready` of the cell's `of` services are ready.
    ServicesReady {
        id: String,
        ready: usize,
        of: usize,
    },
    /// The cell's `n`th check of `of` starts; `perf`: it measures (under the exclusive gate).
    CheckStarted {
        cell: String,
        name: String,
        perf: bool,
        n: usize,
        of: usize,
    },
    CheckFinished {
        cell: String,
        record: Box<CheckRecord>,
    },
    CellRetrying {
        id: String,
        attempt: u32,
        status: CellStatus,
        reason: String,
    },
    CellFinished {
        record: Box<CellRecord>,
    },
    /// A stack left running by `--keep`, and how to reach it.
    CellKept {
        id: String,
        how: String,
    },
    /// A problem the run's record keeps.
    Warning(String),
    /// What the run is doing, for the reader only (a resume's count of finished cells).
    Notice(String),
    /// Ctrl-C or `--fail-fast`: no new cell starts; running ones are torn down.
    Cancelling {
        why: String,
    },
    RunFinished,
}

/// The step a cell is in (a timed-out cell names it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Engine,
    Images,
    Services,
    Checks,
    Teardown,
    /// Upgrade rehearsal phases.
    Seed,
    Upgrade,
    Verify,
    Rollback,
}

/// An upgrade phase is the step the rehearsal is in while it runs.
impl From<crate::results::UpgradePhase> for Step {
    fn from(p: crate::results::UpgradePhase) -> Step {
        match p {
            crate::results::UpgradePhase::Seed => Step::Seed,
            crate::results::UpgradePhase::Upgrade => Step::Upgrade,
            crate::results::UpgradePhase::Verify => Step::Verify,
            crate::results::UpgradePhase::Rollback => Step::Rollback,
        }
    }
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Engine => "engine",
            Step::Images => "images",
            Step::Services => "services",
            Step::Checks => "checks",
            Step::Teardown => "teardown",
            Step::Seed => "seed",
            Step::Upgrade => "upgrade",
            Step::Verify => "verify",
            Step::Rollback => "rollback",
        }
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Step;
    use crate::results::UpgradePhase;

    #[test]
    fn each_upgrade_phase_is_the_step_of_its_name() {
        for p in [
            UpgradePhase::Seed,
            UpgradePhase::Upgrade,
            UpgradePhase::Verify,
            UpgradePhase::Rollback,
        ] {
            assert_eq!(Step::from(p).as_str(), p.as_str());
        }
    }
}
