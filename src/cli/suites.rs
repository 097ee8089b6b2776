//! Builds the runner's suite function from the matrix's scenario files.

use super::Outcome;
use crate::matrix::Matrix;
use crate::runner::SuiteFn;

/// `None` when the matrix names no scenario.
pub fn load(
    matrix: &Matrix,
    _baseline: Option<&std::path::Path>,
) -> Result<Option<SuiteFn>, Outcome> {
    if matrix.scenarios.is_empty() {
        return Ok(None);
    }
    Err(Outcome::BadInput(format!(
        "error: {}: scenario files are not wired into `run` yet",
        matrix.path.display()
    )))
}
