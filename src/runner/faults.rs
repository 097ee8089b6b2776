//! Faults under a running cell, told in the words of whoever saw them: a dind engine whose
//! container exited or froze (the lab asks the host engine, since the engine itself
//! answers nothing then), and a service container that exited during the checks (its exit
//! code and restarts, from the cell's engine).

use super::attempt::Attempt;
use crate::engine::EngineTrouble;
use crate::results::CellStatus;

/// After an attempt that did not pass, its engine is past asking: if it died, the cell is
/// `error` naming the engine's exit (nothing about compatibility can be said); a retry
/// gets a new engine ([`super::lab::Lab::replace`]). If it froze, the reason says so.
pub(super) fn engine_trouble(a: &mut Attempt, trouble: &EngineTrouble) {
    let engine = a.engine.as_ref().map_or("", |f| f.name.as_str());
    let said = trouble.describe(engine);
    let step = a
        .failed_step
        .map(|s| format!(" during step `{s}`"))
        .unwrap_or_default();
    let before = a.reason.take().unwrap_or_default();
    a.reason = Some(match trouble {
        EngineTrouble::Gone(_) => {
            a.status = CellStatus::Error;
            format!("{said}{step}; then: {before}")
        }
        EngineTrouble::Paused => format!("{before}; {said}"),
    });
}

/// A cell that failed while one of its services was not running: the reason names the
/// service's exit code and its restarts (what `docker ps` would have shown).
pub(super) fn note_exited_services(a: &mut Attempt) {
    if !matches!(a.status, CellStatus::Fail | CellStatus::Error) {
        return;
    }
    let exited: Vec<String> = a
        .services
        .iter()
        .filter_map(|s| {
            s.exit_code.map(|code| {
                format!(
                    "service `{}` exited with code {code} ({} restarts)",
                    s.name, s.restarts
                )
            })
        })
        .collect();
    if exited.is_empty() {
        return;
    }
    let before = a.reason.take().unwrap_or_default();
    a.reason = Some(format!("{}; {before}", exited.join("; ")));
}
