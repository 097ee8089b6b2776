//! The one integration test binary: each module tests one area; `common` holds shared
//! helpers (the binary under test, Docker availability).

mod checks;
mod common;
mod compose;
mod endpoint;
mod engine_cache;
mod matrix_errors;
mod preflight;
mod real_run;
mod report;
mod run;
mod scenario_errors;
mod scheduler;
mod shards;
mod upgrade;
