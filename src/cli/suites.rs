//! Builds the runner's suite function from the matrix's scenario files: the scenarios
//! are loaded and checked once (every error exit 2, like a matrix's), then run against
//! each cell's stack, with `--baseline` figures matched by the cell's values.

use std::path::Path;
use std::sync::Arc;

use super::Outcome;
use dockmatrix::checks::{Baseline, SuiteContext, Target, run_suites};
use dockmatrix::matrix::Matrix;
use dockmatrix::results::RunRecord;
use dockmatrix::runner::{Gate, SuiteFn};
use dockmatrix::scenario::{self, Phase};

/// `None` when the matrix names no scenario.
pub fn load(matrix: &Matrix, baseline: Option<&Path>) -> Result<Option<SuiteFn>, Outcome> {
    if matrix.scenarios.is_empty() {
        return Ok(None);
    }
    let scenarios =
        Arc::new(scenario::load_all(matrix).map_err(|d| Outcome::BadInput(d.to_string()))?);
    let baseline = match baseline {
        Some(p) => Some(Arc::new(RunRecord::load(p).map_err(|e| {
            Outcome::BadInput(format!("error: --baseline: {}", super::chain(&e)))
        })?)),
        None => None,
    };
    let matrix = Arc::new(matrix.clone());
    Ok(Some(Arc::new(
        move |target: Target, gate: Gate, phases: &'static [Phase]| {
            let (scenarios, matrix, baseline) =
                (scenarios.clone(), matrix.clone(), baseline.clone());
            Box::pin(async move {
                let base = baseline.as_deref().and_then(|b| {
                    b.cell_by_values(&target.cell.values).map(|cell| Baseline {
                        run_id: &b.run_id,
                        cell,
                    })
                });
                let ctx = SuiteContext {
                    gate: &gate,
                    baseline: base,
                    on_check: None,
                };
                let mut records = Vec::new();
                for &phase in phases {
                    records.extend(run_suites(&scenarios, &target, &matrix, phase, &ctx).await);
                }
                records
            })
        },
    )))
}
