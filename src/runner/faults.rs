//! Faults under a running cell, told in the words of whoever saw them: a dind engine whose
//! container exited or froze (the lab asks the host engine, since the engine itself
//! answers nothing then), a host or endpoint engine that closed its connection (stopped or
//! restarted), and a service container that exited during the checks (its exit code and
//! restarts, from the cell's engine) or was cut off from the cell's network.

use std::time::{Duration, Instant};

use super::attempt::Attempt;
use crate::engine::EngineTrouble;
use crate::results::CellStatus;

/// After an attempt that did not pass: if its dind engine died, the cell is `error`
/// naming the engine's exit (nothing about compatibility can be said; a retry gets a new
/// engine, [`super::lab::Lab::replace`]); if it froze, the reason says so; if a host or
/// endpoint engine closed its connection meanwhile (it stopped or restarted, and its
/// containers with it), the cell is `error` saying when and whether it came back. Returns
/// whether the engine is past asking (no figures, no teardown: removing a dind engine's
/// container removes everything in it); a host or endpoint engine never is (its teardown
/// is tried, and `clean` removes what it could not).
pub(super) fn engine_trouble(a: &mut Attempt, trouble: &EngineTrouble) -> bool {
    let engine = a.engine.as_ref().map_or("", |f| f.name.as_str());
    let said = trouble.describe(engine);
    let step = a
        .failed_step
        .map(|s| format!(" during step `{s}`"))
        .unwrap_or_default();
    let before = a.reason.take().unwrap_or_default();
    a.reason = Some(match &trouble {
        EngineTrouble::Gone(_) => {
            a.status = CellStatus::Error;
            format!("{said}{step}; then: {before}")
        }
        EngineTrouble::Paused => format!("{before}; {said}"),
        EngineTrouble::Lost { back, .. } => {
            a.status = CellStatus::Error;
            // Back: a retry may run on it; still gone: it would meet the same silence.
            a.final_ = !back;
            let step = a
                .failed_step
                .map(|s| format!("in step `{s}`: "))
                .unwrap_or_default();
            format!("{step}{said}; then: {before}")
        }
    });
    matches!(trouble, EngineTrouble::Gone(_) | EngineTrouble::Paused)
}

/// When the attempt began: its steps' durations so far, counted back from now.
pub(super) fn attempt_start(a: &Attempt) -> Instant {
    let d = &a.durations;
    let ran = Duration::from_millis(d.engine + d.images + d.services + d.checks);
    Instant::now().checked_sub(ran).unwrap_or_else(Instant::now)
}

/// A cell that failed while one of its services was not running, or was cut off from a
/// network of the cell: the reason names the service's exit code and its restarts (what
/// `docker ps` would have shown), and each network it lost. A lost network is someone
/// else's doing (the stack never takes a service off its networks), so the cell is
/// `error`: nothing about compatibility can be said.
pub(super) fn note_exited_services(a: &mut Attempt) {
    if !matches!(a.status, CellStatus::Fail | CellStatus::Error) {
        return;
    }
    let mut said: Vec<String> = Vec::new();
    for s in &a.services {
        if let Some(code) = s.exit_code {
            said.push(format!(
                "service `{}` exited with code {code} ({} restarts)",
                s.name, s.restarts
            ));
        }
        if !s.lost_networks.is_empty() {
            said.push(format!(
                "service `{}` was cut off from the cell's network {} while the cell ran (not by dockmatrix)",
                s.name,
                s.lost_networks.join(", ")
            ));
        }
    }
    if said.is_empty() {
        return;
    }
    if a.services.iter().any(|s| !s.lost_networks.is_empty()) {
        a.status = CellStatus::Error;
    }
    let before = a.reason.take().unwrap_or_default();
    a.reason = Some(format!("{}; {before}", said.join("; ")));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::ServiceRecord;

    fn failed(services: Vec<ServiceRecord>) -> Attempt {
        let mut a = Attempt::new();
        a.end(CellStatus::Fail, None, "1 check(s) failed: x".into());
        a.services = services;
        a
    }

    #[test]
    fn a_lost_network_makes_the_cell_error_and_says_which() {
        let mut a = failed(vec![ServiceRecord {
            name: "redis".into(),
            lost_networks: vec!["dm-net (removed)".into()],
            ..ServiceRecord::default()
        }]);
        note_exited_services(&mut a);
        assert_eq!(a.status, CellStatus::Error);
        assert_eq!(
            a.reason.as_deref(),
            Some(
                "service `redis` was cut off from the cell's network dm-net (removed) while the cell ran (not by dockmatrix); 1 check(s) failed: x"
            )
        );
    }

    #[test]
    fn an_exited_service_keeps_the_cell_failing() {
        let mut a = failed(vec![ServiceRecord {
            name: "redis".into(),
            exit_code: Some(137),
            restarts: 2,
            ..ServiceRecord::default()
        }]);
        note_exited_services(&mut a);
        assert_eq!(a.status, CellStatus::Fail);
        assert_eq!(
            a.reason.as_deref(),
            Some("service `redis` exited with code 137 (2 restarts); 1 check(s) failed: x")
        );
    }
}
