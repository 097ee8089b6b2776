//! Checks against a provisioned stack: SQL, Redis, HTTP, exec, reachability and perf, with
//! native protocol clients. The stack module provisions; this module only talks to what
//! the stack describes in a [`Target`].
//!
//! Entry points: [`run_suite`] (one scenario, one phase) and [`run_suites`]; the
//! statistics of perf checks are in [`perf`] ([`perf::stats`], [`perf::compare_to_baseline`]), how precise a p95 is in
//! [`precision`].

pub(crate) mod conn;
pub(crate) mod exec;
mod http;
pub mod perf;
pub mod precision;
mod reach;
mod redis;
mod sql;
mod suite;

pub use suite::{Baseline, SuiteContext, run_suite, run_suites};

use std::collections::BTreeMap;
use std::net::SocketAddr;

use indexmap::IndexMap;

use crate::matrix::{Cell, ServiceKind};

/// A provisioned stack, as checks see it.
#[derive(Clone)]
pub struct Target {
    /// The engine the stack runs on (for exec and container-to-container checks).
    pub docker: bollard::Docker,
    /// The cell's private network.
    pub network: String,
    pub cell: Cell,
    /// The version the engine reports (`28.5.2`), for `when = { engine-version = … }`.
    pub engine_version: String,
    /// The storage driver the engine reports.
    pub storage_driver: String,
    pub services: IndexMap<String, ServiceTarget>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("network", &self.network)
            .field("cell", &self.cell.id)
            .field("services", &self.services.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// One running service of the stack.
#[derive(Debug, Clone)]
pub struct ServiceTarget {
    pub name: String,
    pub kind: ServiceKind,
    pub container_id: String,
    pub container_name: String,
    /// Container port → the address this process reaches it at (a published port on the
    /// engine's host: 127.0.0.1 for the host engine, the dind container's IP for dind).
    pub ports: BTreeMap<u16, SocketAddr>,
    /// The container's environment as started (`${VAR}` resolved). Holds secrets: never
    /// print it; use [`crate::secrets`].
    pub env: IndexMap<String, String>,
}

impl ServiceTarget {
    /// Where this process reaches `container_port`, or the kind's default port.
    pub fn addr(&self, container_port: Option<u16>) -> Option<SocketAddr> {
        let port = container_port.or(self.kind.default_port())?;
        self.ports.get(&port).copied()
    }
}

/// What one check found, before `[[known]]` entries and masking apply.
#[derive(Debug)]
pub(crate) enum Outcome {
    Pass(String),
    /// The stack does not behave as expected.
    Fail(String),
    /// The check could not run (e.g. the connection broke).
    Error(String),
}

/// `s` on one line, cut to `max` characters, for messages.
pub(crate) fn show(s: &str, max: usize) -> String {
    let one_line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let cut: String = one_line.chars().take(max).collect();
        format!("{cut}…")
    }
}

/// A command line as a person would type it: arguments with spaces or shell characters
/// in single quotes; cut to `max` characters.
pub(crate) fn show_argv(args: &[String], max: usize) -> String {
    let quoted: Vec<String> = args
        .iter()
        .map(|a| {
            let plain = !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,{}*".contains(c));
            if plain {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect();
    show(&quoted.join(" "), max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_show_as_typed() {
        let argv = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            show_argv(&argv(&["sh", "-c", "echo oops >&2; exit 3"]), 80),
            "sh -c 'echo oops >&2; exit 3'"
        );
        assert_eq!(show_argv(&argv(&["GET", "k:{i}"]), 80), "GET k:{i}");
        assert_eq!(
            show_argv(&argv(&["echo", "it's", ""]), 80),
            r"echo 'it'\''s' ''"
        );
        assert_eq!(show("a\n  b", 80), "a b");
        assert_eq!(show("abcdef", 3), "abc…");
    }
}
