//! The incremental store: each cell as it finishes, one JSON line in `cells.jsonl` of the
//! run folder, so that nothing is lost if the process dies before run.json is written
//! (and `--resume` finds what was finished).

use std::io::Write;
use std::path::Path;

use super::CellRecord;
use super::resume::CELLS_FILE;

/// `cells.jsonl`, open for appending. A file that cannot be opened or written makes the
/// store quiet: run.json, written at the end, still holds every cell.
#[derive(Debug)]
pub struct Store {
    file: Option<std::fs::File>,
}

impl Store {
    /// `append`: a resumed run adds to the lines of the run it continues; a new run
    /// starts the file (never over what is not a regular file).
    pub fn open(dir: &Path, append: bool) -> Store {
        let path = dir.join(CELLS_FILE);
        let file = if append {
            std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(&path)
                .ok()
        } else {
            crate::safe_io::create_record_file(&path).ok()
        };
        Store { file }
    }

    /// Secrets masked as in run.json ([`super::RunRecord::save`]): this file is an output
    /// too.
    pub fn append(&mut self, record: &CellRecord) {
        let mut record = record.clone();
        record.mask_secrets();
        if let (Some(f), Ok(line)) = (self.file.as_mut(), serde_json::to_string(&record)) {
            let _ = writeln!(f, "{line}");
            let _ = f.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{CellStatus, StepDurations};

    fn cell(id: &str, reason: &str) -> CellRecord {
        CellRecord {
            id: id.into(),
            values: indexmap::IndexMap::new(),
            status: CellStatus::Fail,
            reason: Some(reason.into()),
            failed_step: None,
            attempts: 1,
            previous_attempts: Vec::new(),
            durations_ms: StepDurations::default(),
            engine: None,
            images: Vec::new(),
            services: Vec::new(),
            checks: Vec::new(),
            kept: None,
            preflight: Vec::new(),
            upgrade: None,
            compose: None,
        }
    }

    fn lines(dir: &Path) -> Vec<CellRecord> {
        std::fs::read_to_string(dir.join(CELLS_FILE))
            .expect("cells.jsonl")
            .lines()
            .map(|l| serde_json::from_str(l).expect("a cell per line"))
            .collect()
    }

    #[test]
    fn cells_are_lines_as_they_come_and_a_resumed_run_appends_to_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Store::open(dir.path(), false);
        s.append(&cell("a", "one"));
        assert_eq!(
            lines(dir.path()).len(),
            1,
            "written at once, not at the end"
        );
        s.append(&cell("b", "two"));
        drop(s);
        let mut again = Store::open(dir.path(), true);
        again.append(&cell("c", "three"));
        let ids: Vec<String> = lines(dir.path()).into_iter().map(|c| c.id).collect();
        assert_eq!(ids, ["a", "b", "c"]);

        // A new run starts the file afresh.
        Store::open(dir.path(), false).append(&cell("d", "four"));
        assert_eq!(lines(dir.path()).len(), 1);
    }

    #[test]
    fn a_url_password_is_masked_in_the_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Store::open(dir.path(), false);
        s.append(&cell(
            "a",
            "could not reach postgres://app:s3cr3t-store@db/app",
        ));
        let text = std::fs::read_to_string(dir.path().join(CELLS_FILE)).expect("read");
        assert!(!text.contains("s3cr3t-store"), "{text}");
    }
}
