//! dockmatrix: runs a stack on every combination of Docker engine, storage driver and
//! dependency versions, and reports which combinations work.
//!
//! `matrix`, `scenario`, `results` and `report` are plain data and functions (no Docker,
//! no tokio); `engine`, `stack` and `checks` talk to Docker; `runner` drives them and
//! emits events. The command line lives in the binary (src/main.rs, src/cli/), so the
//! library builds without clap.

pub mod checks;
pub mod compose;
pub mod diagnostic;
pub mod engine;
pub mod matrix;
pub mod report;
pub mod results;
pub mod runner;
pub mod safe_io;
pub mod scenario;
pub mod secrets;
pub mod stack;
pub mod units;
