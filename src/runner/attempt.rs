//! One attempt of an ordinary cell, as a sequence of steps: its engine, its images, its
//! services, its checks; then what the engine and the services say of the run (a dead
//! engine, an exited or OOM-killed service), and the stack kept or torn down.

use std::sync::Mutex;
use std::time::Instant;

use super::faults;
use super::lab::Lab;
use super::pool::EngineKey;
use super::step::{Clock, ms_since};
use super::{Event, Keep, Runner, Step};
use crate::engine::EngineTrouble;
use crate::matrix::Cell;
use crate::matrix::plan::CellPlan;
use crate::results::{
    CellStatus, CheckRecord, EngineFacts, Finding, ImageRecord, ServiceRecord, StepDurations,
    UpgradeRecord,
};

/// What one attempt found.
pub(super) struct Attempt {
    pub(super) status: CellStatus,
    pub(super) reason: Option<String>,
    pub(super) failed_step: Option<Step>,
    pub(super) durations: StepDurations,
    pub(super) engine: Option<EngineFacts>,
    pub(super) images: Vec<ImageRecord>,
    pub(super) services: Vec<ServiceRecord>,
    pub(super) checks: Vec<CheckRecord>,
    pub(super) kept: Option<String>,
    /// Retrying cannot change the outcome (a refused engine, a missing image).
    pub(super) final_: bool,
    pub(super) preflight: Vec<Finding>,
    pub(super) upgrade: Option<UpgradeRecord>,
}

/// The attempt has its outcome: what a step gives when the steps after it must not run.
pub(super) struct Ended;

impl Attempt {
    pub(super) fn new() -> Attempt {
        Attempt {
            status: CellStatus::Pass,
            reason: None,
            failed_step: None,
            durations: StepDurations::default(),
            engine: None,
            images: Vec::new(),
            services: Vec::new(),
            checks: Vec::new(),
            kept: None,
            final_: false,
            preflight: Vec::new(),
            upgrade: None,
        }
    }

    /// The attempt ends `status` in `step`; a retry may fare better.
    pub(super) fn end(&mut self, status: CellStatus, step: Option<Step>, reason: String) -> Ended {
        self.status = status;
        self.failed_step = step;
        self.reason = Some(reason);
        self.final_ = false;
        Ended
    }

    /// The attempt ends for good: retrying cannot change this outcome.
    pub(super) fn end_final(
        &mut self,
        status: CellStatus,
        step: Option<Step>,
        reason: String,
    ) -> Ended {
        self.end(status, step, reason);
        self.final_ = true;
        Ended
    }

    /// An attempt that could not be made at all, for good.
    pub(super) fn refused(step: Step, reason: &str) -> Attempt {
        let mut a = Attempt::new();
        a.end_final(CellStatus::Error, Some(step), reason.to_string());
        a
    }

    /// Whether the runner tries the cell again after this attempt (if retries are left).
    pub(super) fn retryable(&self) -> bool {
        matches!(self.status, CellStatus::Fail | CellStatus::Error) && !self.final_
    }

    /// Each check's record as it ends: kept in the attempt, even when the checks step is
    /// cut short, and sent on at once.
    pub(super) fn collect_checks(&mut self, records: Mutex<Vec<CheckRecord>>) {
        self.checks
            .extend(records.into_inner().unwrap_or_else(|p| p.into_inner()));
    }
}

/// "N check(s) failed: a, b, c and 2 more" when any check fails its cell.
pub(super) fn failing_checks(checks: &[CheckRecord]) -> Option<String> {
    let failing: Vec<String> = checks
        .iter()
        .filter(|c| c.status.fails_cell())
        .map(|c| format!("{} ({})", c.name, c.status))
        .collect();
    (!failing.is_empty()).then(|| {
        let more = failing.len().saturating_sub(3);
        let mut s = format!(
            "{} check(s) failed: {}",
            failing.len(),
            failing[..failing.len().min(3)].join(", ")
        );
        if more > 0 {
            s.push_str(&format!(" and {more} more"));
        }
        s
    })
}

impl<L: Lab> Runner<'_, L> {
    /// `may_retry`: a failure of this attempt is retried (if it is retryable at all).
    pub(super) async fn attempt(
        &self,
        cell: &Cell,
        plan: &CellPlan,
        key: &EngineKey,
        may_retry: bool,
    ) -> Attempt {
        let clock = self.steps.clock(&cell.id);
        let mut a = Attempt::new();
        let Ok(engine) = self.engine_step(&clock, key, &mut a).await else {
            return a;
        };
        if self
            .images_step(&clock, plan, key, &engine, &mut a)
            .await
            .is_err()
        {
            return a;
        }
        let mut stack = self.lab.stack(&engine, cell);
        if self
            .services_step(&clock, cell, plan, &engine, &mut stack, &mut a)
            .await
            .is_ok()
        {
            self.checks_step(&clock, cell, &engine, &stack, &mut a)
                .await;
        }
        let engine_lost = self.aftermath(key, &engine, &stack, &mut a).await;
        // An attempt that will be retried is always torn down: the retry provisions the
        // same names (a kept stack made it fail with 409 Conflict), and only the cell's
        // final outcome decides what `--keep` keeps.
        let retried = may_retry && a.retryable() && !self.steps.cancel.is_cancelled();
        if !retried && self.keeps(&a) {
            let how = self.lab.keep(key, &engine, &stack, cell);
            clock.emit(Event::CellKept {
                id: cell.id.clone(),
                how: how.clone(),
            });
            a.kept = Some(how);
        } else {
            clock.enter(Step::Teardown);
            let t = Instant::now();
            if !engine_lost {
                for problem in self.lab.teardown(&mut stack).await {
                    clock.warn(problem);
                }
            }
            a.durations.teardown = ms_since(t);
        }
        a
    }

    /// The engine of the cell, started by the first cell that needs it: a refusal is
    /// `unsupported`, a fault `error`, neither worth a retry.
    async fn engine_step(
        &self,
        clock: &Clock<'_>,
        key: &EngineKey,
        a: &mut Attempt,
    ) -> Result<L::Engine, Ended> {
        let started = clock
            .step(Step::Engine, self.lab.engine(key, &*self.steps.emit))
            .await;
        a.durations.engine = started.ms;
        a.preflight = self.lab.findings(key);
        match started.out {
            Err(why) => Err(clock.interrupted(a, why, Step::Engine)),
            Ok(Err(f)) => {
                let status = if f.unsupported {
                    CellStatus::Unsupported
                } else {
                    CellStatus::Error
                };
                Err(a.end_final(status, Some(Step::Engine), f.reason))
            }
            Ok(Ok(engine)) => {
                a.engine = Some(self.lab.facts(&engine));
                Ok(engine)
            }
        }
    }

    /// The images of every cell on the engine, loaded once; this cell's are recorded. One
    /// that could not be had is `error`, and a retry would not find it either.
    async fn images_step(
        &self,
        clock: &Clock<'_>,
        plan: &CellPlan,
        key: &EngineKey,
        engine: &L::Engine,
        a: &mut Attempt,
    ) -> Result<(), Ended> {
        let loaded = clock
            .step(
                Step::Images,
                self.lab.images(key, engine, &*self.steps.emit),
            )
            .await;
        a.durations.images = loaded.ms;
        let loaded = match loaded.out {
            Err(why) => return Err(clock.interrupted(a, why, Step::Images)),
            Ok(l) => l,
        };
        if let Some(facts) = a.engine.as_mut() {
            facts.images_ms = self.lab.images_ms(key);
        }
        let mut missing = Vec::new();
        for (service, image) in &plan.images {
            let Ok(image) = image else {
                continue;
            };
            match loaded.get(image) {
                Some(Ok(rec)) => a.images.push(ImageRecord {
                    service: service.clone(),
                    ..rec.clone()
                }),
                Some(Err(e)) => missing.push(e.clone()),
                None => missing.push(format!("image `{image}` was not planned for this engine")),
            }
        }
        if !missing.is_empty() {
            return Err(a.end_final(CellStatus::Error, Some(Step::Images), missing.join("; ")));
        }
        Ok(())
    }

    /// The services in depends-on order, each ready. A stack that does not come up here
    /// is `fail`; a setup fault `error` (a bad environment for good).
    async fn services_step(
        &self,
        clock: &Clock<'_>,
        cell: &Cell,
        plan: &CellPlan,
        engine: &L::Engine,
        stack: &mut L::Stack,
        a: &mut Attempt,
    ) -> Result<(), Ended> {
        let provisioned = clock
            .step(
                Step::Services,
                self.lab
                    .provision(stack, engine, cell, plan, &*self.steps.emit),
            )
            .await;
        a.durations.services = provisioned.ms;
        match provisioned.out {
            Err(why) => Err(clock.interrupted(a, why, Step::Services)),
            Ok(Err(f)) if f.for_good => Err(a.end_final(f.status, Some(Step::Services), f.reason)),
            Ok(Err(f)) => Err(a.end(f.status, Some(Step::Services), f.reason)),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// The suites, each check's record sent on (`CheckFinished`) as it ends. A cut-short
    /// step keeps the checks that ran.
    async fn checks_step(
        &self,
        clock: &Clock<'_>,
        cell: &Cell,
        engine: &L::Engine,
        stack: &L::Stack,
        a: &mut Attempt,
    ) {
        clock.enter(Step::Checks);
        let seen = Mutex::new(Vec::new());
        let on_check = |r: &CheckRecord| {
            clock.emit(Event::CheckFinished {
                cell: cell.id.clone(),
                record: Box::new(r.clone()),
            });
            if let Ok(mut s) = seen.lock() {
                s.push(r.clone());
            }
        };
        let gate = &self.steps.gate;
        let ran = clock
            .ungated(
                self.lab
                    .checks(stack, engine, cell, gate, &on_check, &*self.steps.emit),
            )
            .await;
        a.durations.checks = ran.ms;
        a.collect_checks(seen);
        match ran.out {
            Err(why) => {
                clock.interrupted(a, why, Step::Checks);
            }
            Ok(()) => {
                if let Some(reason) = failing_checks(&a.checks) {
                    a.end(CellStatus::Fail, Some(Step::Checks), reason);
                }
            }
        }
    }

    /// After the checks: a dead or frozen engine answers nothing (say so, and ask it for
    /// nothing more); else the services' figures and, for a cell that did not pass, their
    /// last log lines; a service OOM-killed meanwhile fails a cell that passed. Returns
    /// whether the engine is past asking.
    async fn aftermath(
        &self,
        key: &EngineKey,
        engine: &L::Engine,
        stack: &L::Stack,
        a: &mut Attempt,
    ) -> bool {
        let mut engine_lost = false;
        if !matches!(a.status, CellStatus::Pass | CellStatus::Cancelled)
            && let Some(trouble) = self.lab.trouble(engine, faults::attempt_start(a)).await
        {
            engine_lost = faults::engine_trouble(a, &trouble);
            // A dead engine is removed and replaced: a retry, or a later cell of the same
            // engine, gets a new one.
            if matches!(trouble, EngineTrouble::Gone(_)) {
                self.lab.replace(key, &*self.steps.emit).await;
            }
        }
        if !engine_lost {
            let with_logs = a.status != CellStatus::Pass;
            a.services = self.lab.service_records(stack, with_logs).await;
            faults::note_exited_services(a);
        }
        if a.status == CellStatus::Pass
            && let Some(oom) = a.services.iter().find(|s| s.oom_killed)
        {
            let reason = format!("service `{}` was OOM-killed while the cell ran", oom.name);
            a.end(CellStatus::Fail, Some(Step::Checks), reason);
        }
        engine_lost
    }

    /// What `--keep` keeps of a final attempt.
    fn keeps(&self, a: &Attempt) -> bool {
        match self.cfg.keep {
            Keep::All => a.status != CellStatus::Cancelled,
            Keep::Failed => a.status.is_failure(false),
            Keep::None => false,
        }
    }
}
