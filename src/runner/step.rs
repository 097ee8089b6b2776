//! One timed step of a cell: it says so (`CellStep`), holds the read side of the perf gate
//! (so that an exclusive measurement waits for it, and it for the measurement), ends early
//! when the run is cancelled or the cell's deadline passes, and measures how long it took
//! (run.json's per-step durations). Every step of an attempt, ordinary or an upgrade
//! rehearsal's, goes through here.

use std::future::Future;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::attempt::{Attempt, Ended};
use super::{Emit, Event, Gate, Step};
use crate::results::CellStatus;

/// How a step ended, when it did not simply finish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Interrupt {
    Cancelled,
    TimedOut,
}

/// What the steps of every cell share: the run's events, its perf gate, its cancellation
/// and the cell timeout.
pub(super) struct Steps {
    pub(super) emit: Emit,
    pub(super) gate: Gate,
    pub(super) cancel: CancellationToken,
    pub(super) cell_timeout: Duration,
}

impl Steps {
    pub(super) fn emit(&self, e: Event) {
        (self.emit)(e);
    }

    /// The clock of one attempt of `cell`: its deadline is one cell timeout from now.
    pub(super) fn clock<'a>(&'a self, cell: &'a str) -> Clock<'a> {
        Clock {
            steps: self,
            cell,
            deadline: tokio::time::Instant::now() + self.cell_timeout,
        }
    }
}

/// One attempt of one cell against its deadline.
pub(super) struct Clock<'a> {
    pub(super) steps: &'a Steps,
    cell: &'a str,
    deadline: tokio::time::Instant,
}

/// What a step's future gave, or why it was cut short, and how long it ran (waiting for
/// the gate included).
pub(super) struct Timed<T> {
    pub(super) out: Result<T, Interrupt>,
    pub(super) ms: u64,
}

impl Clock<'_> {
    pub(super) fn emit(&self, e: Event) {
        self.steps.emit(e);
    }

    /// A warning about this cell.
    pub(super) fn warn(&self, what: impl std::fmt::Display) {
        self.emit(Event::Warning(format!("cell {}: {what}", self.cell)));
    }

    /// The cell is now in `step` (the progress view shows it; a timeout names it).
    pub(super) fn enter(&self, step: Step) {
        self.emit(Event::CellStep {
            id: self.cell.to_string(),
            step,
        });
    }

    /// [`Clock::enter`], then [`Clock::gated`].
    pub(super) async fn step<T>(&self, step: Step, fut: impl Future<Output = T>) -> Timed<T> {
        self.enter(step);
        self.gated(fut).await
    }

    /// `fut` under the gate's read side, unless cancellation or the deadline comes first.
    pub(super) async fn gated<T>(&self, fut: impl Future<Output = T>) -> Timed<T> {
        self.bounded(async {
            let _step = self.steps.gate.read().await;
            fut.await
        })
        .await
    }

    /// `fut` without the gate, for the checks: a suite takes the read side around each
    /// check itself, and an exclusive perf check takes the write side (holding the read
    /// side across it would wait for itself).
    pub(super) async fn ungated<T>(&self, fut: impl Future<Output = T>) -> Timed<T> {
        self.bounded(fut).await
    }

    async fn bounded<T>(&self, fut: impl Future<Output = T>) -> Timed<T> {
        let t = Instant::now();
        let out = tokio::select! {
            r = fut => Ok(r),
            () = self.steps.cancel.cancelled() => Err(Interrupt::Cancelled),
            () = tokio::time::sleep_until(self.deadline) => Err(Interrupt::TimedOut),
        };
        Timed {
            out,
            ms: ms_since(t),
        }
    }

    /// The attempt ends in `step`, cut short: `cancelled`, or `fail` naming the timeout
    /// (a retry may fare better).
    pub(super) fn interrupted(&self, a: &mut Attempt, why: Interrupt, step: Step) -> Ended {
        match why {
            Interrupt::Cancelled => a.end(
                CellStatus::Cancelled,
                Some(step),
                format!("cancelled during step `{step}`"),
            ),
            Interrupt::TimedOut => a.end(
                CellStatus::Fail,
                Some(step),
                format!(
                    "timed out after {}s in step `{step}`",
                    self.steps.cell_timeout.as_secs()
                ),
            ),
        }
    }
}

pub(super) fn ms_since(t: Instant) -> u64 {
    t.elapsed().as_millis() as u64
}
