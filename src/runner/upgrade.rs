//! An upgrade cell: the rehearsal of an in-place engine upgrade on the stack's real data.
//!
//! seed     engine FROM (the cell's driver and daemon.json) on a fresh data volume; images;
//!          the stack, every service with a restart policy; `seed` checks, then the suites
//! upgrade  FROM stopped as a package upgrade stops it (SIGTERM, up to 30 s); engine TO
//!          started on the same volume — nothing is created or re-seeded on TO first
//! verify   the same containers (same ids), images, volumes and networks; containers with
//!          restart policies running again; `verify` checks (the seeded data), the suites
//! rollback (optional) the same back to FROM, over TO's data
//!
//! A cell owns its engines (the pool's are shared and never stopped mid-run). TO refusing
//! to start is `unsupported` (a compatibility result, in the engine's words); a failed
//! rollback is `fail` at phase `rollback`. The rehearsal drives the Docker engine itself
//! (dind containers on one volume, inventories): it has no stand-in.

use std::sync::Mutex;
use std::time::Instant;

use super::attempt::{Attempt, Ended, failing_checks};
use super::lab::{DockerLab, StackFailure};
use super::pool;
use super::step::{Clock, Interrupt, ms_since};
use crate::engine::labels::{self, RunLabels};
use crate::engine::{self, DindPlace, EngineHandle, Host, images};
use crate::matrix::plan::CellPlan;
use crate::matrix::{Cell, DindSpec, Restart, UpgradePath};
use crate::results::{
    CellStatus, CheckRecord, CheckStatus, Counted, ImageRecord, PhaseRecord, UpgradePhase,
    UpgradeRecord,
};
use crate::runner::{Event, Step};
use crate::scenario::Phase;
use crate::stack::Stack;
use crate::stack::inventory::{self, Inventory};

const SEED_PHASES: &[Phase] = &[Phase::Seed, Phase::Run];

impl DockerLab<'_> {
    /// seed, upgrade, verify and (when asked) rollback; then the figures and the teardown
    /// of whatever was started.
    pub(super) async fn rehearse(
        &self,
        clock: &Clock<'_>,
        cell: &Cell,
        plan: &CellPlan,
        path: &UpgradePath,
    ) -> Attempt {
        let Some(mut r) = Rehearsal::plan(self, clock, cell, plan, path) else {
            // Validation rules this out; never panic on it.
            let reason = format!(
                "upgrade `{}` names an engine that is not defined",
                path.name
            );
            return Attempt::refused(Step::Engine, &reason);
        };
        // A combination that cannot work is not tried: nothing was started, nothing to
        // remove.
        if r.preflight().await.is_err() {
            r.a.upgrade = Some(r.rec);
            return r.a;
        }
        let _ = r.phases().await;
        r.teardown().await
    }
}

/// How one engine of the rehearsal is started.
struct EnginePlan<'a> {
    /// The engine's name in the matrix.
    name: &'a str,
    spec: &'a DindSpec,
    driver: Option<String>,
    daemon: Option<serde_json::Value>,
    containerd: bool,
}

/// What `verify` and `rollback` found after an engine change.
struct Verified {
    status: CellStatus,
    findings: Vec<String>,
    back: Counted,
    /// Whether the seeded data read back (`None`: no `verify` check ran).
    kept: Option<bool>,
}

/// One rehearsal as it goes: its plan, its attempt and record so far, and what is running.
struct Rehearsal<'a> {
    lab: &'a DockerLab<'a>,
    clock: &'a Clock<'a>,
    cell: &'a Cell,
    /// The cell's plan: its engines and its services' images.
    plan: &'a CellPlan,
    path: &'a UpgradePath,
    from: EnginePlan<'a>,
    to: EnginePlan<'a>,
    /// The images of the cell's services.
    images: Vec<String>,
    /// The engines' shared data volume.
    volume: String,
    a: Attempt,
    rec: UpgradeRecord,
    stack: Option<Stack>,
    /// The engine running now.
    current: Option<EngineHandle>,
}

impl<'a> Rehearsal<'a> {
    /// The two engines' plans; `None` when the path names an engine the matrix lacks or
    /// one that is not dind (validation refuses both).
    fn plan(
        lab: &'a DockerLab<'a>,
        clock: &'a Clock<'a>,
        cell: &'a Cell,
        plan: &'a CellPlan,
        path: &'a UpgradePath,
    ) -> Option<Rehearsal<'a>> {
        let matrix = lab.suites.matrix;
        let from_spec = matrix.engines.get(&path.from)?.dind()?;
        let to_spec = matrix.engines.get(&path.to)?.dind()?;
        let [from_engine, to_engine] = <[_; 2]>::try_from(plan.engines.clone()).ok()?;
        let (from_key, from_daemon) = (from_engine.key, from_engine.daemon);
        let (to_key, to_daemon) = (to_engine.key, to_engine.daemon);
        // As the engine label says it: `overlayfs/containerd` for the containerd store.
        let (from_driver, to_driver) = (from_key.driver_label(), to_key.driver_label());
        let from = EnginePlan {
            name: &path.from,
            spec: from_spec,
            driver: from_key.driver,
            daemon: from_daemon,
            containerd: from_key.containerd,
        };
        let to = EnginePlan {
            name: &path.to,
            spec: to_spec,
            driver: to_key.driver,
            daemon: to_daemon,
            containerd: to_key.containerd,
        };
        let rec = UpgradeRecord {
            from: path.from.clone(),
            to: path.to.clone(),
            from_driver,
            to_driver,
            rollback: path.rollback,
            ..UpgradeRecord::default()
        };
        let images = plan.image_list();
        let volume = labels::object_name(&["dm", &lab.labels.run_id, &cell.id, "engine-data"]);
        Some(Rehearsal {
            lab,
            clock,
            cell,
            plan,
            path,
            from,
            to,
            images,
            volume,
            a: Attempt::new(),
            rec,
            stack: None,
            current: None,
        })
    }

    /// Preflight of both engines first; a blocking finding makes the cell `unsupported`.
    async fn preflight(&mut self) -> Result<(), Ended> {
        for plan in [&self.from, &self.to] {
            self.a.preflight.extend(
                engine::preflight::before_start(
                    self.lab.host(),
                    plan.name,
                    plan.spec,
                    plan.driver.as_deref(),
                    plan.daemon.as_ref(),
                    &self.images,
                    &self.lab.labels,
                )
                .await,
            );
        }
        let blocking = engine::preflight::blocking(&self.a.preflight);
        if blocking.is_empty() {
            return Ok(());
        }
        let reason = format!("not started: preflight: {blocking}");
        Err(self
            .a
            .end_final(CellStatus::Unsupported, Some(Step::Seed), reason))
    }

    async fn phases(&mut self) -> Result<(), Ended> {
        let before = self.seed().await?;
        let to = self.upgrade().await?;
        self.verify(&to, &before).await?;
        if self.path.rollback {
            self.rollback(&before).await?;
        }
        Ok(())
    }

    /// seed: FROM on a fresh volume, the images, the stack (restart policies on), the
    /// `seed` checks and the suites; then what FROM holds, to compare with later.
    async fn seed(&mut self) -> Result<Inventory, Ended> {
        let t = Instant::now();
        self.clock.enter(Step::Seed);
        let place = self.place("from", &self.from);
        let started = self
            .clock
            .gated(start(self.lab.host(), &self.from, &place))
            .await;
        self.a.durations.engine = started.ms;
        let engine = match started.out {
            Err(why) => return Err(self.interrupted(UpgradePhase::Seed, t, why)),
            Ok(Err(e)) => {
                let (status, reason) = engine_failure(&e);
                self.rec.phases.push(phase(
                    UpgradePhase::Seed,
                    status,
                    t,
                    Some(reason.clone()),
                    Vec::new(),
                ));
                let reason = format!("engine {}: {reason}", self.path.from);
                return Err(self.a.end_final(status, Some(Step::Seed), reason));
            }
            Ok(Ok(h)) => h,
        };
        self.a.engine = Some(engine.facts.clone());
        self.rec.from_engine = Some(engine.facts.clone());
        self.current = Some(engine.clone());
        self.load_images(&engine, t).await?;
        self.provision(&engine, t).await?;

        let target = self.stack_ref().target(&engine, self.cell);
        let checks = match self.suites(target, SEED_PHASES, UpgradePhase::Seed).await {
            Err(why) => return Err(self.interrupted(UpgradePhase::Seed, t, why)),
            Ok(c) => c,
        };
        if let Some(reason) = failing_checks(&checks) {
            let p = phase(
                UpgradePhase::Seed,
                CellStatus::Fail,
                t,
                Some(reason.clone()),
                Vec::new(),
            );
            self.rec.phases.push(p);
            let reason = format!("before the upgrade: {reason}");
            return Err(self.a.end(CellStatus::Fail, Some(Step::Seed), reason));
        }
        self.rec.phases.push(phase(
            UpgradePhase::Seed,
            CellStatus::Pass,
            t,
            None,
            Vec::new(),
        ));
        Ok(Inventory::take(&engine, &self.cell.id, &self.images).await)
    }

    /// The cell's images into FROM (there is no pool engine to share them with).
    async fn load_images(&mut self, engine: &EngineHandle, t: Instant) -> Result<(), Ended> {
        let preload = images::preload(
            self.lab.host(),
            &engine.docker,
            false,
            &self.images,
            self.lab.pull,
            None,
            None, // the step holds the gate's read side (`gated`)
        );
        let loaded = self.clock.gated(preload).await;
        self.a.durations.images = loaded.ms;
        let loaded = match loaded.out {
            Err(why) => return Err(self.interrupted(UpgradePhase::Seed, t, why)),
            Ok(l) => l,
        };
        let mut missing = Vec::new();
        for (service, image) in &self.plan.images {
            let Ok(image) = image else {
                continue;
            };
            match loaded.get(image) {
                Some(Ok(r)) => self.a.images.push(ImageRecord {
                    service: service.clone(),
                    ..r.clone()
                }),
                Some(Err(e)) => missing.push(e.clone()),
                None => missing.push(format!("image `{image}` was not loaded")),
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let reason = missing.join("; ");
        let p = phase(
            UpgradePhase::Seed,
            CellStatus::Error,
            t,
            Some(reason.clone()),
            Vec::new(),
        );
        self.rec.phases.push(p);
        Err(self
            .a
            .end_final(CellStatus::Error, Some(Step::Seed), reason))
    }

    /// The stack on FROM, every service with a restart policy (so that it comes back by
    /// itself after the engine change, as on a host that is upgraded).
    async fn provision(&mut self, engine: &EngineHandle, t: Instant) -> Result<(), Ended> {
        let mut s = Stack::new(engine, &self.lab.labels, self.cell);
        s.default_restart = Some(Restart::UnlessStopped);
        let stack = self.stack.insert(s);
        let provisioned = self
            .clock
            .gated(stack.provision(engine, self.lab.suites.matrix, self.cell, self.plan, None))
            .await;
        self.a.durations.services = provisioned.ms;
        match provisioned.out {
            Err(why) => Err(self.interrupted(UpgradePhase::Seed, t, why)),
            Ok(Err(e)) => {
                let f = StackFailure::of(&e);
                let p = phase(
                    UpgradePhase::Seed,
                    f.status,
                    t,
                    Some(f.reason.clone()),
                    Vec::new(),
                );
                self.rec.phases.push(p);
                Err(self.a.end(f.status, Some(Step::Seed), f.reason))
            }
            Ok(Ok(())) => Ok(()),
        }
    }

    /// upgrade: FROM stopped as a package upgrade stops it; TO started on the same data.
    async fn upgrade(&mut self) -> Result<EngineHandle, Ended> {
        let t = Instant::now();
        self.clock.enter(Step::Upgrade);
        let place = self.place("to", &self.to);
        let to_engine = match self.switch(true, &place).await {
            Err(why) => return Err(self.interrupted(UpgradePhase::Upgrade, t, why)),
            Ok(Err(e)) => {
                let (status, reason) = engine_failure(&e);
                let p = phase(
                    UpgradePhase::Upgrade,
                    status,
                    t,
                    Some(reason.clone()),
                    Vec::new(),
                );
                self.rec.phases.push(p);
                let reason = format!(
                    "engine {} did not start on {}'s data: {reason}",
                    self.path.to, self.path.from
                );
                return Err(self.a.end_final(status, Some(Step::Upgrade), reason));
            }
            Ok(Ok(h)) => h,
        };
        self.rec.to_engine = Some(to_engine.facts.clone());
        self.a.engine = Some(to_engine.facts.clone());
        let p = phase(UpgradePhase::Upgrade, CellStatus::Pass, t, None, Vec::new());
        self.rec.phases.push(p);
        Ok(to_engine)
    }

    /// verify on TO: everything still there, the containers running again, the seeded
    /// data read back, the suites passing.
    async fn verify(&mut self, to: &EngineHandle, before: &Inventory) -> Result<(), Ended> {
        let t = Instant::now();
        self.clock.enter(Step::Verify);
        let v = match self.after_switch(to, before, UpgradePhase::Verify).await {
            Err(why) => return Err(self.interrupted(UpgradePhase::Verify, t, why)),
            Ok(v) => v,
        };
        self.rec.containers_back = Some(v.back);
        self.rec.data_kept = v.kept;
        let reason = (v.status != CellStatus::Pass)
            .then(|| summary(&v.findings, &self.a.checks, UpgradePhase::Verify));
        let p = phase(
            UpgradePhase::Verify,
            v.status,
            t,
            reason.clone(),
            v.findings,
        );
        self.rec.phases.push(p);
        if let Some(reason) = reason {
            let reason = format!("after the upgrade to {}: {reason}", self.path.to);
            self.a.end(v.status, Some(Step::Verify), reason);
        }
        Ok(())
    }

    /// rollback: FROM again, over TO's data, and the same verification.
    async fn rollback(&mut self, before: &Inventory) -> Result<(), Ended> {
        let t = Instant::now();
        self.clock.enter(Step::Rollback);
        let place = self.place("rollback", &self.from);
        let back_engine = match self.switch(false, &place).await {
            Err(why) => return Err(self.interrupted(UpgradePhase::Rollback, t, why)),
            Ok(Err(e)) => {
                // A downgrade the old engine refuses is the rollback failing, not an
                // unsupported combination.
                let (_, reason) = engine_failure(&e);
                let reason = format!(
                    "engine {} did not start again on {}'s data: {reason}",
                    self.path.from, self.path.to
                );
                let p = phase(
                    UpgradePhase::Rollback,
                    CellStatus::Fail,
                    t,
                    Some(reason.clone()),
                    Vec::new(),
                );
                self.rec.phases.push(p);
                return Err(self.a.end(CellStatus::Fail, Some(Step::Rollback), reason));
            }
            Ok(Ok(h)) => h,
        };
        let v = match self
            .after_switch(&back_engine, before, UpgradePhase::Rollback)
            .await
        {
            Err(why) => return Err(self.interrupted(UpgradePhase::Rollback, t, why)),
            Ok(v) => v,
        };
        self.rec.rollback_containers_back = Some(v.back);
        let reason = (v.status != CellStatus::Pass)
            .then(|| summary(&v.findings, &self.a.checks, UpgradePhase::Rollback));
        let p = phase(
            UpgradePhase::Rollback,
            v.status,
            t,
            reason.clone(),
            v.findings,
        );
        self.rec.phases.push(p);
        if let Some(reason) = reason
            && self.a.status == CellStatus::Pass
        {
            let reason = format!("after the rollback to {}: {reason}", self.path.from);
            self.a.end(CellStatus::Fail, Some(Step::Rollback), reason);
        }
        Ok(())
    }

    /// Figures and logs from the engine still up; then everything goes: the stack, the
    /// engine, the data volume.
    async fn teardown(mut self) -> Attempt {
        let mut a = self.a;
        if let (Some(s), Some(_)) = (self.stack.as_ref(), self.current.as_ref()) {
            a.services = s.service_records(a.status != CellStatus::Pass).await;
        }
        self.clock.enter(Step::Teardown);
        let t = Instant::now();
        if let (Some(mut s), Some(_)) = (self.stack.take(), self.current.as_ref()) {
            for problem in s.teardown().await {
                self.clock.warn(problem);
            }
        }
        if let Some(e) = self.current.take()
            && let Some(d) = &e.dind
        {
            engine::stop_engine_container(self.lab.host(), &d.container).await;
        }
        engine::remove_volume(self.lab.host(), &self.volume).await;
        a.durations.teardown = ms_since(t);
        a.upgrade = Some(self.rec);
        a
    }

    fn place(&self, role: &str, plan: &EnginePlan<'_>) -> DindPlace {
        let run = &self.lab.labels.run_id;
        DindPlace {
            container: labels::object_name(&["dm", run, &self.cell.id, "engine", role]),
            volume: self.volume.clone(),
            reuse_volume: role != "from",
            labels: engine_labels(&self.lab.labels, &self.cell.id, plan),
            containerd: plan.containerd,
            ro_folders: self
                .lab
                .suites
                .matrix
                .compose
                .iter()
                .map(|p| p.folder.clone())
                .collect(),
        }
    }

    fn stack_ref(&self) -> &Stack {
        self.stack
            .as_ref()
            .unwrap_or_else(|| unreachable!("the stack is provisioned before any check"))
    }

    /// Stops the current engine (SIGTERM, up to 30 s) and starts TO (`to`) or FROM on its
    /// volume.
    async fn switch(
        &mut self,
        to: bool,
        place: &DindPlace,
    ) -> Result<Result<EngineHandle, engine::EngineError>, Interrupt> {
        if let Some(e) = self.current.take()
            && let Some(d) = &e.dind
        {
            engine::stop_engine_container(self.lab.host(), &d.container).await;
        }
        let next = if to { &self.to } else { &self.from };
        let started = self
            .clock
            .gated(start(self.lab.host(), next, place))
            .await
            .out;
        if let Ok(Ok(h)) = &started {
            self.current = Some(h.clone());
        }
        started
    }

    /// After an engine change: what is missing, which containers run again, and the
    /// `verify` checks and suites when the stack is back.
    async fn after_switch(
        &mut self,
        engine: &EngineHandle,
        before: &Inventory,
        upgrade_phase: UpgradePhase,
    ) -> Result<Verified, Interrupt> {
        let after = Inventory::take(engine, &self.cell.id, &self.images).await;
        let mut findings = inventory::missing(before, &after);
        let Some(stack) = self.stack.as_mut() else {
            unreachable!("the stack is provisioned before any engine change")
        };
        let back = self.clock.gated(stack.reattach(engine)).await.out?;
        let total = back.len();
        let mut ok = 0;
        for (service, r) in back {
            match r {
                Ok(()) => ok += 1,
                Err(why) => findings.push(format!("service `{service}` is not back: {why}")),
            }
        }
        let back = Counted { ok, total };
        if ok < total {
            findings.push(format!("{ok} of {total} containers are running again"));
            // What was seeded cannot be read back: as far as the stack knows, it is lost.
            let (status, kept) = (CellStatus::Fail, Some(false));
            return Ok(Verified {
                status,
                findings,
                back,
                kept,
            });
        }
        // The seeded data first, then the ordinary suites.
        let target = self.stack_ref().target(engine, self.cell);
        let mut checks = self
            .suites(target.clone(), &[Phase::Verify], upgrade_phase)
            .await?;
        let verified: Vec<CheckStatus> = checks
            .iter()
            .map(|c| c.status)
            .filter(|s| *s != CheckStatus::Skipped)
            .collect();
        let kept = (!verified.is_empty()).then(|| verified.iter().all(|s| s.counts_as_passed()));
        checks.extend(self.suites(target, &[Phase::Run], upgrade_phase).await?);
        let status = if findings.is_empty() && failing_checks(&checks).is_none() {
            CellStatus::Pass
        } else {
            CellStatus::Fail
        };
        Ok(Verified {
            status,
            findings,
            back,
            kept,
        })
    }

    /// Runs the scenario `phases` against the stack, each record marked with the upgrade
    /// phase it ran in, kept in the attempt and sent on as it ends (also when the step is
    /// cut short). Gives this call's records.
    async fn suites(
        &mut self,
        target: crate::checks::Target,
        phases: &[Phase],
        upgrade_phase: UpgradePhase,
    ) -> Result<Vec<CheckRecord>, Interrupt> {
        let seen = Mutex::new(Vec::new());
        let on_check = |r: &CheckRecord| {
            let mut r = r.clone();
            r.phase = Some(upgrade_phase);
            self.clock.emit(Event::CheckFinished {
                cell: self.cell.id.clone(),
                record: Box::new(r.clone()),
            });
            if let Ok(mut s) = seen.lock() {
                s.push(r);
            }
        };
        let gate = &self.clock.steps.gate;
        let ran = self
            .clock
            .ungated(
                self.lab
                    .suites
                    .run(&target, phases, gate, Some(&on_check), None),
            )
            .await;
        let records = seen.into_inner().unwrap_or_else(|p| p.into_inner());
        self.a.checks.extend(records.iter().cloned());
        ran.out.map(|_| records)
    }

    /// The phase `name` was cut short: the attempt ends in its step, and the record says so.
    fn interrupted(&mut self, name: UpgradePhase, t: Instant, why: Interrupt) -> Ended {
        let ended = self.clock.interrupted(&mut self.a, why, Step::from(name));
        let p = phase(name, self.a.status, t, self.a.reason.clone(), Vec::new());
        self.rec.phases.push(p);
        ended
    }
}

async fn start(
    host: &Host,
    plan: &EnginePlan<'_>,
    place: &DindPlace,
) -> Result<EngineHandle, engine::EngineError> {
    engine::start_dind(
        host,
        plan.name,
        plan.spec,
        plan.driver.as_deref(),
        plan.daemon.as_ref(),
        place,
    )
    .await
}

fn engine_labels(
    run: &RunLabels,
    cell: &str,
    plan: &EnginePlan<'_>,
) -> std::collections::HashMap<String, String> {
    let mut l = run.engine(plan.name, plan.driver.as_deref().unwrap_or("default"));
    if plan.containerd
        && let Some(engine) = l.get_mut(labels::ENGINE)
    {
        engine.push_str("/containerd");
    }
    l.insert(labels::CELL.to_string(), cell.to_string());
    l
}

/// `unsupported` for what the engine refused, `error` for a fault of ours.
fn engine_failure(e: &engine::EngineError) -> (CellStatus, String) {
    let status = if e.is_refusal() {
        CellStatus::Unsupported
    } else {
        CellStatus::Error
    };
    (status, crate::secrets::mask_urls(&pool::error_chain(e)))
}

fn phase(
    name: UpgradePhase,
    status: CellStatus,
    t: Instant,
    reason: Option<String>,
    findings: Vec<String>,
) -> PhaseRecord {
    PhaseRecord {
        name,
        status,
        duration_ms: ms_since(t),
        reason,
        findings,
    }
}

/// The reason of a phase that did not pass: its first finding, else its failing checks.
fn summary(findings: &[String], checks: &[CheckRecord], upgrade_phase: UpgradePhase) -> String {
    if let Some(f) = findings.first() {
        return f.clone();
    }
    let in_phase: Vec<CheckRecord> = checks
        .iter()
        .filter(|c| c.phase == Some(upgrade_phase))
        .cloned()
        .collect();
    failing_checks(&in_phase).unwrap_or_else(|| "the phase did not pass".into())
}
