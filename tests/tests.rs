//! The one integration test binary: each module tests one area; `common` holds shared
//! helpers (the binary under test, Docker availability).

mod cache;
mod checks;
mod ci;
mod clients;
mod common;
mod compose;
mod endpoint;
mod engine_cache;
mod faults;
mod fresh_machine;
mod host_engine;
mod hostile_files;
mod install;
mod layout;
mod leaks;
mod matrix_errors;
mod pipes;
mod preflight;
mod properties;
mod real_run;
mod record_errors;
mod report;
mod resume;
mod run;
mod scenario_errors;
mod scheduler;
mod shards;
mod soak;
mod upgrade;
