//! Checks against a provisioned stack: SQL, Redis, HTTP, exec, reachability and perf, with
//! native protocol clients. The stack module provisions; this module only talks to what
//! the stack describes in a [`Target`].
//!
//! Entry points: [`run_suite`] (one scenario, one phase) and [`run_suites`]; the
//! statistics of perf checks are in [`perf`] ([`perf::stats`], [`perf::compare_to_baseline`]), how precise a p95 is in
//! [`precision`].

mod command;
pub(crate) mod conn;
mod docker_api;
mod exec;
mod http;
pub mod perf;
pub mod precision;
mod reach;
mod redis;
mod sql;
mod suite;

pub use suite::{Baseline, OnCheck, OnStart, SuiteContext, Suites, run_suite, run_suites};

pub(crate) use crate::stack::exec::{show, show_argv};
pub use crate::stack::{ServiceTarget, Target};

/// What one check found, before `[[known]]` entries and masking apply.
#[derive(Debug)]
pub(crate) enum Outcome {
    Pass(String),
    /// The stack does not behave as expected.
    Fail(String),
    /// The check could not run (e.g. the connection broke).
    Error(String),
}
