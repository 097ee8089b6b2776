//! Resuming an interrupted run (`run MATRIX --resume RUN`): what of it is kept. A run's
//! folder holds its header (run.json, written before any engine starts, with no cells
//! while it runs) and `cells.jsonl` (one finished cell per line, as they finish). A resumed
//! run keeps every finished cell found there — the cells the dead run did not finish,
//! or that were `cancelled`, are run again — and ends with one complete run.json under the
//! same run id. Plain data: the runner and the CLI do the rest.

use std::path::{Path, PathBuf};

use super::{CellRecord, CellStatus, RUN_FILE, ResultsError, RunRecord, same_values};
use crate::matrix::Cell;

/// The finished cells of a run, one JSON line each.
pub const CELLS_FILE: &str = "cells.jsonl";

/// What an interrupted run left that a resume keeps.
#[derive(Debug)]
pub struct Resumed {
    /// Its header: id, matrix, partition, start, options.
    pub header: RunRecord,
    /// The cells it finished (not `cancelled`), in the order they finished; the last
    /// record of a cell wins.
    pub finished: Vec<CellRecord>,
    /// The run had ended (finished_at set, not interrupted): a resume changes nothing.
    pub complete: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    #[error("{} holds no run to resume", dir.display())]
    NoRun {
        dir: PathBuf,
        #[source]
        source: ResultsError,
    },
    #[error("{} is a run of another matrix (`{name}`, hash {theirs}), not of this one (hash {ours}); resume it with its own matrix", dir.display())]
    OtherMatrix {
        dir: PathBuf,
        name: String,
        theirs: String,
        ours: String,
    },
    #[error("{}:{line}: not a cell record", path.display())]
    BadLine {
        path: PathBuf,
        line: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error(transparent)]
    File(#[from] crate::safe_io::SafeIoError),
}

impl Resumed {
    /// Reads the run in `dir`, refusing a run of another matrix than `matrix_hash`.
    pub fn load(dir: &Path, matrix_hash: &str) -> Result<Resumed, ResumeError> {
        let header = RunRecord::load(&dir.join(RUN_FILE)).map_err(|source| ResumeError::NoRun {
            dir: dir.to_path_buf(),
            source,
        })?;
        if header.matrix.hash != matrix_hash {
            return Err(ResumeError::OtherMatrix {
                dir: dir.to_path_buf(),
                name: header.matrix.name.clone(),
                theirs: header.matrix.hash.clone(),
                ours: matrix_hash.to_string(),
            });
        }
        let complete = header.finished_at.is_some() && !header.interrupted;
        let mut finished: Vec<CellRecord> = Vec::new();
        let lines = dir.join(CELLS_FILE);
        if lines.exists() {
            let text = crate::safe_io::read_user_text(&lines, crate::safe_io::MAX_RECORD_BYTES)?;
            // A last line without its newline was cut short by the kill: not a record.
            let whole = text.rfind('\n').map_or("", |i| &text[..=i]);
            for (n, line) in whole.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let c: CellRecord =
                    serde_json::from_str(line).map_err(|source| ResumeError::BadLine {
                        path: lines.clone(),
                        line: n + 1,
                        source,
                    })?;
                finished.retain(|f| !same_values(&f.values, &c.values));
                finished.push(c);
            }
        }
        // A finished run's record is the truth (a cells.jsonl may lack retried records).
        if complete {
            finished = header.cells.clone();
        }
        finished.retain(|c| c.status != CellStatus::Cancelled);
        Ok(Resumed {
            header,
            finished,
            complete,
        })
    }

    /// The cells of `plan` still to run: those without a finished record.
    pub fn remaining(&self, plan: &[Cell]) -> Vec<Cell> {
        plan.iter()
            .filter(|c| {
                !self
                    .finished
                    .iter()
                    .any(|f| same_values(&f.values, &c.values))
            })
            .cloned()
            .collect()
    }

    /// The finished cells and the newly run ones, in plan order.
    pub fn combine(&self, plan: &[Cell], new: Vec<CellRecord>) -> Vec<CellRecord> {
        let mut all: Vec<CellRecord> = self.finished.iter().cloned().chain(new).collect();
        let position = |c: &CellRecord| {
            plan.iter()
                .position(|p| same_values(&p.values, &c.values))
                .unwrap_or(usize::MAX)
        };
        all.sort_by_key(position);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_finished_cells_and_drops_cancelled_and_a_torn_last_line() {
        let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/run-mixed");
        let mut header = RunRecord::load(&sample).expect("the sample run");
        let cells = std::mem::take(&mut header.cells);
        header.finished_at = None;
        let dir = tempfile::tempdir().expect("tempdir");
        header.save(dir.path()).expect("saved");
        let line = |i: usize, status: CellStatus| {
            let mut c = cells[i].clone();
            c.status = status;
            serde_json::to_string(&c).expect("json")
        };
        let text = format!(
            "{}\n{}\n{}\n{{\"torn",
            line(0, CellStatus::Pass),
            line(1, CellStatus::Cancelled),
            line(2, CellStatus::Fail)
        );
        std::fs::write(dir.path().join(CELLS_FILE), text).expect("written");
        let r = Resumed::load(dir.path(), &header.matrix.hash).expect("loaded");
        assert_eq!(r.finished.len(), 2);
        assert!(same_values(&r.finished[0].values, &cells[0].values));
        assert!(same_values(&r.finished[1].values, &cells[2].values));
        assert!(!r.complete);
        let e = Resumed::load(dir.path(), "other").expect_err("another matrix");
        assert!(e.to_string().contains("another matrix"), "{e}");
    }
}
