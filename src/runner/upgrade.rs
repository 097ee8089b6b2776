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
//! rollback is `fail` at phase `rollback`.

use std::time::Instant;

use super::{Attempt, Interrupt, Runner, pool};
use crate::checks::Target;
use crate::engine::labels::{self, RunLabels};
use crate::engine::{self, DindPlace, EngineHandle, Host, images};
use crate::matrix::{Cell, EngineSpec, Restart, UpgradePath};
use crate::results::{CellStatus, CheckRecord, CheckStatus, Counted, PhaseRecord, UpgradeRecord};
use crate::runner::{Event, Step};
use crate::scenario::Phase;
use crate::stack::Stack;
use crate::stack::inventory::{self, Inventory};

const SEED_PHASES: &[Phase] = &[Phase::Seed, Phase::Run];

/// How one engine of the rehearsal is started.
struct EnginePlan<'a> {
    spec: &'a EngineSpec,
    driver: Option<String>,
    daemon: Option<serde_json::Value>,
    containerd: bool,
}

impl Runner<'_> {
    pub(super) async fn upgrade_attempt(&self, cell: &Cell, path: &UpgradePath) -> Attempt {
        let matrix = &self.cfg.matrix;
        let mut a = Attempt::new();
        let (Some(from_spec), Some(to_spec)) =
            (matrix.engines.get(&path.from), matrix.engines.get(&path.to))
        else {
            // Validation rules this out; never panic on it.
            let mut a = a.end(
                CellStatus::Error,
                Some(Step::Engine),
                format!(
                    "upgrade `{}` names an engine that is not defined",
                    path.name
                ),
            );
            a.final_ = true;
            return a;
        };
        let [(from_key, from_daemon), (to_key, to_daemon)] =
            pool::EngineKey::upgrade_pair(matrix, cell, path);
        let from = EnginePlan {
            spec: from_spec,
            driver: from_key.driver,
            daemon: from_daemon,
            containerd: from_key.containerd,
        };
        let to = EnginePlan {
            spec: to_spec,
            driver: to_key.driver,
            daemon: to_daemon,
            containerd: to_key.containerd,
        };
        let mut rec = UpgradeRecord {
            from: path.from.clone(),
            to: path.to.clone(),
            from_driver: from.driver.clone().unwrap_or_else(|| "default".into()),
            to_driver: to.driver.clone().unwrap_or_else(|| "default".into()),
            rollback: path.rollback,
            ..UpgradeRecord::default()
        };
        let images: Vec<String> = matrix
            .services
            .values()
            .filter_map(|s| matrix.image_for(s, cell).ok())
            .collect();
        let volume = labels::object_name(&["dm", &self.labels.run_id, &cell.id, "engine-data"]);
        let place = |role: &str, plan: &EnginePlan<'_>| DindPlace {
            container: labels::object_name(&["dm", &self.labels.run_id, &cell.id, "engine", role]),
            volume: volume.clone(),
            reuse_volume: role != "from",
            labels: engine_labels(self.labels, &cell.id, plan),
            containerd: plan.containerd,
            ro_folders: matrix.compose.iter().map(|p| p.folder.clone()).collect(),
        };
        let deadline = tokio::time::Instant::now() + self.cfg.cell_timeout;
        let host = self.pool.host().clone();
        let mut stack: Option<Stack> = None;
        let mut current: Option<EngineHandle> = None;

        // Preflight of both engines first: a combination that cannot work is not tried.
        for plan in [&from, &to] {
            a.preflight.extend(
                engine::preflight::before_start(
                    &host,
                    plan.spec,
                    plan.driver.as_deref(),
                    plan.daemon.as_ref(),
                    &images,
                    self.labels,
                )
                .await,
            );
        }
        let blocking = engine::preflight::blocking(&a.preflight);
        if !blocking.is_empty() {
            let mut a = a.end(
                CellStatus::Unsupported,
                Some(Step::Seed),
                format!("not started: preflight: {blocking}"),
            );
            a.final_ = true;
            a.upgrade = Some(rec);
            return a;
        }

        a = 'rehearsal: {
            // seed: FROM, images, the stack, seed checks and the suites.
            let t = Instant::now();
            self.emit_step(cell, Step::Seed);
            let started = {
                let _g = self.gate.read().await;
                self.step(deadline, start(&host, &from, &place("from", &from)))
                    .await
            };
            a.durations.engine = t.elapsed().as_millis() as u64;
            let engine = match started {
                Err(why) => break 'rehearsal self.phase_interrupted(a, &mut rec, "seed", t, why),
                Ok(Err(e)) => {
                    let (status, reason) = engine_failure(&e);
                    let mut a = a.end(
                        status,
                        Some(Step::Seed),
                        format!("engine {}: {reason}", path.from),
                    );
                    a.final_ = true;
                    rec.phases
                        .push(phase("seed", status, t, Some(reason), Vec::new()));
                    break 'rehearsal a;
                }
                Ok(Ok(h)) => h,
            };
            a.engine = Some(engine.facts.clone());
            rec.from_engine = Some(engine.facts.clone());
            current = Some(engine.clone());

            let ti = Instant::now();
            let loaded = {
                let _g = self.gate.read().await;
                self.step(
                    deadline,
                    images::preload(&host, &engine.docker, false, &images, self.cfg.pull),
                )
                .await
            };
            a.durations.images = ti.elapsed().as_millis() as u64;
            let loaded = match loaded {
                Err(why) => break 'rehearsal self.phase_interrupted(a, &mut rec, "seed", t, why),
                Ok(l) => l,
            };
            let mut missing = Vec::new();
            for svc in matrix.services.values() {
                let Ok(image) = matrix.image_for(svc, cell) else {
                    continue;
                };
                match loaded.get(&image) {
                    Some(Ok(r)) => a.images.push(crate::results::ImageRecord {
                        service: svc.name.clone(),
                        ..r.clone()
                    }),
                    Some(Err(e)) => missing.push(e.clone()),
                    None => missing.push(format!("image `{image}` was not loaded")),
                }
            }
            if !missing.is_empty() {
                let reason = missing.join("; ");
                rec.phases.push(phase(
                    "seed",
                    CellStatus::Error,
                    t,
                    Some(reason.clone()),
                    Vec::new(),
                ));
                let mut a = a.end(CellStatus::Error, Some(Step::Seed), reason);
                a.final_ = true;
                break 'rehearsal a;
            }

            let ts = Instant::now();
            let mut s = Stack::new(&engine, self.labels, cell);
            s.default_restart = Some(Restart::UnlessStopped);
            let provisioned = {
                let _g = self.gate.read().await;
                self.step(deadline, s.provision(&engine, matrix, cell))
                    .await
            };
            a.durations.services = ts.elapsed().as_millis() as u64;
            let s = stack.insert(s);
            match provisioned {
                Err(why) => break 'rehearsal self.phase_interrupted(a, &mut rec, "seed", t, why),
                Ok(Err(e)) => {
                    let (status, reason) = super::stack_failure(&e);
                    rec.phases
                        .push(phase("seed", status, t, Some(reason.clone()), Vec::new()));
                    break 'rehearsal a.end(status, Some(Step::Seed), reason);
                }
                Ok(Ok(())) => {}
            }
            let checks = match self
                .suites(s.target(&engine, cell), SEED_PHASES, "seed", deadline)
                .await
            {
                Err(why) => break 'rehearsal self.phase_interrupted(a, &mut rec, "seed", t, why),
                Ok(c) => c,
            };
            let failing = failing_checks(&checks);
            a.checks.extend(checks);
            if let Some(reason) = failing {
                rec.phases.push(phase(
                    "seed",
                    CellStatus::Fail,
                    t,
                    Some(reason.clone()),
                    Vec::new(),
                ));
                break 'rehearsal a.end(
                    CellStatus::Fail,
                    Some(Step::Seed),
                    format!("before the upgrade: {reason}"),
                );
            }
            rec.phases
                .push(phase("seed", CellStatus::Pass, t, None, Vec::new()));
            let before = Inventory::take(&engine, &cell.id, &images).await;

            // upgrade: FROM stopped as a package upgrade stops it; TO on the same data.
            let t = Instant::now();
            self.emit_step(cell, Step::Upgrade);
            let to_engine = match self
                .switch(&host, &mut current, &to, &place("to", &to), deadline)
                .await
            {
                Err(why) => {
                    break 'rehearsal self.phase_interrupted(a, &mut rec, "upgrade", t, why);
                }
                Ok(Err(e)) => {
                    let (status, reason) = engine_failure(&e);
                    rec.phases.push(phase(
                        "upgrade",
                        status,
                        t,
                        Some(reason.clone()),
                        Vec::new(),
                    ));
                    let mut a = a.end(
                        status,
                        Some(Step::Upgrade),
                        format!(
                            "engine {} did not start on {}'s data: {reason}",
                            path.to, path.from
                        ),
                    );
                    a.final_ = true;
                    break 'rehearsal a;
                }
                Ok(Ok(h)) => h,
            };
            rec.to_engine = Some(to_engine.facts.clone());
            a.engine = Some(to_engine.facts.clone());
            rec.phases
                .push(phase("upgrade", CellStatus::Pass, t, None, Vec::new()));

            // verify on TO.
            let t = Instant::now();
            self.emit_step(cell, Step::Verify);
            let verified = self
                .verify(s, cell, &to_engine, &before, &images, "verify", deadline)
                .await;
            let (status, findings, back, kept, checks) = match verified {
                Err(why) => break 'rehearsal self.phase_interrupted(a, &mut rec, "verify", t, why),
                Ok(v) => v,
            };
            rec.containers_back = Some(back);
            rec.data_kept = kept;
            a.checks.extend(checks);
            let reason =
                (status != CellStatus::Pass).then(|| summary(&findings, &a.checks, "verify"));
            rec.phases
                .push(phase("verify", status, t, reason.clone(), findings));
            if let Some(reason) = reason {
                a = a.end(
                    status,
                    Some(Step::Verify),
                    format!("after the upgrade to {}: {reason}", path.to),
                );
            }

            // rollback to FROM, over TO's data.
            if path.rollback {
                let t = Instant::now();
                self.emit_step(cell, Step::Rollback);
                let back_engine = match self
                    .switch(
                        &host,
                        &mut current,
                        &from,
                        &place("rollback", &from),
                        deadline,
                    )
                    .await
                {
                    Err(why) => {
                        break 'rehearsal self.phase_interrupted(a, &mut rec, "rollback", t, why);
                    }
                    Ok(Err(e)) => {
                        // A downgrade the old engine refuses is the rollback failing, not
                        // an unsupported combination.
                        let (_, reason) = engine_failure(&e);
                        let reason = format!(
                            "engine {} did not start again on {}'s data: {reason}",
                            path.from, path.to
                        );
                        rec.phases.push(phase(
                            "rollback",
                            CellStatus::Fail,
                            t,
                            Some(reason.clone()),
                            Vec::new(),
                        ));
                        break 'rehearsal a.end(CellStatus::Fail, Some(Step::Rollback), reason);
                    }
                    Ok(Ok(h)) => h,
                };
                let verified = self
                    .verify(
                        s,
                        cell,
                        &back_engine,
                        &before,
                        &images,
                        "rollback",
                        deadline,
                    )
                    .await;
                let (status, findings, back, _, checks) = match verified {
                    Err(why) => {
                        break 'rehearsal self.phase_interrupted(a, &mut rec, "rollback", t, why);
                    }
                    Ok(v) => v,
                };
                rec.rollback_containers_back = Some(back);
                a.checks.extend(checks);
                let reason =
                    (status != CellStatus::Pass).then(|| summary(&findings, &a.checks, "rollback"));
                rec.phases
                    .push(phase("rollback", status, t, reason.clone(), findings));
                if let Some(reason) = reason
                    && a.status == CellStatus::Pass
                {
                    a = a.end(
                        CellStatus::Fail,
                        Some(Step::Rollback),
                        format!("after the rollback to {}: {reason}", path.from),
                    );
                }
            }
            a
        };

        // Figures and logs from the engine still up; then everything goes.
        if let (Some(s), Some(_)) = (stack.as_ref(), current.as_ref()) {
            a.services = s.service_records(a.status != CellStatus::Pass).await;
        }
        self.emit_step(cell, Step::Teardown);
        let t = Instant::now();
        if let (Some(mut s), Some(_)) = (stack, current.as_ref()) {
            for problem in s.teardown().await {
                self.emit(Event::Warning(format!("cell {}: {problem}", cell.id)));
            }
        }
        if let Some(e) = current.take()
            && let Some(d) = &e.dind
        {
            engine::stop_engine_container(&host, &d.container).await;
        }
        engine::remove_volume(&host, &volume).await;
        a.durations.teardown = t.elapsed().as_millis() as u64;
        a.upgrade = Some(rec);
        a
    }

    fn emit_step(&self, cell: &Cell, step: Step) {
        self.emit(Event::CellStep {
            id: cell.id.clone(),
            step,
        });
    }

    /// Runs the scenario `phases` against the stack, each record marked with the upgrade
    /// phase it ran in.
    async fn suites(
        &self,
        target: Target,
        phases: &'static [Phase],
        upgrade_phase: &str,
        deadline: tokio::time::Instant,
    ) -> Result<Vec<CheckRecord>, Interrupt> {
        let id = target.cell.id.clone();
        let mut records = self
            .step(
                deadline,
                self.checks_of_run().run(&target, phases, &self.gate, None),
            )
            .await?;
        for r in &mut records {
            r.phase = Some(upgrade_phase.to_string());
            self.emit(Event::CheckFinished {
                cell: id.clone(),
                record: Box::new(r.clone()),
            });
        }
        Ok(records)
    }

    /// Stops the current engine (SIGTERM, up to 30 s) and starts `next` on its volume.
    async fn switch(
        &self,
        host: &Host,
        current: &mut Option<EngineHandle>,
        next: &EnginePlan<'_>,
        place: &DindPlace,
        deadline: tokio::time::Instant,
    ) -> Result<Result<EngineHandle, engine::EngineError>, Interrupt> {
        if let Some(e) = current.take()
            && let Some(d) = &e.dind
        {
            engine::stop_engine_container(host, &d.container).await;
        }
        let started = {
            let _g = self.gate.read().await;
            self.step(deadline, start(host, next, place)).await
        };
        if let Ok(Ok(h)) = &started {
            *current = Some(h.clone());
        }
        started
    }

    /// After an engine change: what is missing, which containers run again, and the
    /// `verify` checks and suites when the stack is back.
    #[allow(clippy::too_many_arguments)]
    async fn verify(
        &self,
        stack: &mut Stack,
        cell: &Cell,
        engine: &EngineHandle,
        before: &Inventory,
        images: &[String],
        upgrade_phase: &str,
        deadline: tokio::time::Instant,
    ) -> Result<
        (
            CellStatus,
            Vec<String>,
            Counted,
            Option<bool>,
            Vec<CheckRecord>,
        ),
        Interrupt,
    > {
        let after = Inventory::take(engine, &cell.id, images).await;
        let mut findings = inventory::missing(before, &after);
        let back = {
            let _g = self.gate.read().await;
            self.step(deadline, stack.reattach(engine)).await?
        };
        let total = back.len();
        let mut ok = 0;
        for (service, r) in back {
            match r {
                Ok(()) => ok += 1,
                Err(why) => findings.push(format!("service `{service}` is not back: {why}")),
            }
        }
        let counted = Counted { ok, total };
        if ok < total {
            findings.push(format!("{ok} of {total} containers are running again"));
            // What was seeded cannot be read back: as far as the stack knows, it is lost.
            return Ok((CellStatus::Fail, findings, counted, Some(false), Vec::new()));
        }
        // The seeded data first, then the ordinary suites.
        let mut checks = self
            .suites(
                stack.target(engine, cell),
                &[Phase::Verify],
                upgrade_phase,
                deadline,
            )
            .await?;
        let verified: Vec<CheckStatus> = checks
            .iter()
            .map(|c| c.status)
            .filter(|s| *s != CheckStatus::Skipped)
            .collect();
        let kept = (!verified.is_empty()).then(|| verified.iter().all(|s| s.counts_as_passed()));
        checks.extend(
            self.suites(
                stack.target(engine, cell),
                &[Phase::Run],
                upgrade_phase,
                deadline,
            )
            .await?,
        );
        let status = if findings.is_empty() && failing_checks(&checks).is_none() {
            CellStatus::Pass
        } else {
            CellStatus::Fail
        };
        Ok((status, findings, counted, kept, checks))
    }

    fn phase_interrupted(
        &self,
        a: Attempt,
        rec: &mut UpgradeRecord,
        name: &str,
        t: Instant,
        why: Interrupt,
    ) -> Attempt {
        let step = match name {
            "seed" => Step::Seed,
            "upgrade" => Step::Upgrade,
            "verify" => Step::Verify,
            _ => Step::Rollback,
        };
        let a = self.interrupted(a, why, step);
        rec.phases
            .push(phase(name, a.status, t, a.reason.clone(), Vec::new()));
        a
    }
}

async fn start(
    host: &Host,
    plan: &EnginePlan<'_>,
    place: &DindPlace,
) -> Result<EngineHandle, engine::EngineError> {
    engine::start_dind(
        host,
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
    let mut l = run.engine(&plan.spec.name, plan.driver.as_deref().unwrap_or("default"));
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
    name: &str,
    status: CellStatus,
    t: Instant,
    reason: Option<String>,
    findings: Vec<String>,
) -> PhaseRecord {
    PhaseRecord {
        name: name.to_string(),
        status,
        duration_ms: t.elapsed().as_millis() as u64,
        reason,
        findings,
    }
}

/// "N check(s) failed: a, b" when any check fails its cell.
fn failing_checks(checks: &[CheckRecord]) -> Option<String> {
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

/// The reason of a phase that did not pass: its first finding, else its failing checks.
fn summary(findings: &[String], checks: &[CheckRecord], upgrade_phase: &str) -> String {
    if let Some(f) = findings.first() {
        return f.clone();
    }
    let in_phase: Vec<CheckRecord> = checks
        .iter()
        .filter(|c| c.phase.as_deref() == Some(upgrade_phase))
        .cloned()
        .collect();
    failing_checks(&in_phase).unwrap_or_else(|| "the phase did not pass".into())
}
