//! A run's header: what run.json holds before any cell has run (its id, the matrix, the
//! options, the machine, what the plan warns of), written first so that even a run killed
//! at once can be resumed; and its closing, when the cells are in.

use super::{CellRecord, HostFacts, MatrixInfo, RunOptions, RunRecord, SCHEMA};
use crate::matrix::{Cell, Matrix};

/// Now, as run.json writes times (RFC 3339, UTC, whole seconds).
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl RunRecord {
    /// The record of a run of `cells` before any of them ran. `started_at`: a resumed run
    /// keeps its own; a new one starts now. Its warnings: `[[known]]` entries that match
    /// no cell of this run, and services that would mount the host's own socket.
    pub fn header(
        run_id: &str,
        matrix: &Matrix,
        cells: &[Cell],
        partition: Option<String>,
        started_at: Option<String>,
        options: RunOptions,
    ) -> RunRecord {
        let mut warnings: Vec<String> = matrix
            .known
            .iter()
            .filter(|k| !cells.iter().any(|c| k.filter.matches(&c.values)))
            .map(|k| {
                format!(
                    "[[known]] entry for `{}` (filter `{}`) matches no cell of this run",
                    k.check, k.filter
                )
            })
            .collect();
        warnings.extend(crate::matrix::socket::warnings(matrix, cells));
        RunRecord {
            schema: SCHEMA,
            run_id: run_id.to_string(),
            matrix: MatrixInfo {
                name: matrix.name.clone(),
                hash: matrix.hash(),
                path: matrix.path.display().to_string(),
            },
            partition,
            started_at: started_at.unwrap_or_else(now),
            finished_at: None,
            // The commit too (build.rs), so a record is traced to the build that made it.
            tool_version: format!(
                "{} (commit {})",
                env!("CARGO_PKG_VERSION"),
                env!("DOCKMATRIX_COMMIT")
            ),
            host: HostFacts::this_machine(),
            options,
            axes: matrix.keys().iter().map(|k| k.to_string()).collect(),
            cells: Vec::new(),
            interrupted: false,
            warnings,
            merged_from: Vec::new(),
        }
    }

    /// The run is over: its cells, whether a signal stopped it, what it warned of on the
    /// way; finished now.
    pub fn close(
        &mut self,
        cells: Vec<CellRecord>,
        interrupted: bool,
        warnings: impl IntoIterator<Item = String>,
    ) {
        self.cells = cells;
        self.interrupted = interrupted;
        self.finished_at = Some(now());
        self.warnings.extend(warnings);
    }
}

impl HostFacts {
    /// The machine this process runs on: its name, OS, kernel, CPUs and memory (what
    /// cannot be read stays empty).
    pub fn this_machine() -> HostFacts {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let os = read("/etc/os-release")
            .lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map(|s| s.trim_matches('"').to_string())
            .unwrap_or_default();
        let memory_bytes = read("/proc/meminfo")
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|s| s.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024);
        HostFacts {
            hostname: hostname(),
            os,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_bytes,
        }
    }
}

/// This machine's name, as the run record and the owner label record it: uname(2)'s node
/// name, which every Unix has (macOS has no /proc to read it from).
pub fn hostname() -> String {
    let name = rustix::system::uname();
    let name = name.nodename().to_string_lossy().trim().to_string();
    Some(name)
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_string())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const MATRIX: &str = r#"
name = "header"

[axes]
redis = ["7.0", "8.0"]

[[known]]
filter = "redis=9.0"
check = "nothing"
reason = "never matches"

[services.redis]
kind = "redis"
image = "redis:{version}"
"#;

    #[test]
    fn the_header_names_the_run_and_warns_of_a_known_entry_matching_no_cell() {
        let m = Matrix::from_source(Path::new("m/header.toml"), MATRIX.into()).expect("matrix");
        let cells = m.cells().expect("cells");
        let options = RunOptions {
            jobs: 3,
            ..RunOptions::default()
        };
        let h = RunRecord::header("r1", &m, &cells, Some("count:1/2".into()), None, options);
        assert_eq!(h.schema, SCHEMA);
        assert_eq!(h.run_id, "r1");
        assert_eq!(h.matrix.name, "header");
        assert_eq!(h.matrix.hash, m.hash());
        assert_eq!(h.matrix.path, "m/header.toml");
        assert_eq!(h.partition.as_deref(), Some("count:1/2"));
        assert_eq!(h.options.jobs, 3);
        assert_eq!(h.axes, ["redis"]);
        assert!(h.finished_at.is_none() && h.cells.is_empty() && !h.interrupted);
        assert!(!h.host.hostname.is_empty());
        assert_eq!(
            h.tool_version,
            format!(
                "{} (commit {})",
                env!("CARGO_PKG_VERSION"),
                env!("DOCKMATRIX_COMMIT")
            )
        );
        assert_eq!(
            h.warnings,
            ["[[known]] entry for `nothing` (filter `redis=9.0`) matches no cell of this run"]
        );

        let resumed = RunRecord::header("r1", &m, &cells, None, Some("then".into()), h.options);
        assert_eq!(resumed.started_at, "then");
    }

    #[test]
    fn closing_a_run_sets_its_end_and_keeps_the_header_warnings_first() {
        let m = Matrix::from_source(Path::new("m.toml"), MATRIX.into()).expect("matrix");
        let mut r = RunRecord::header("r", &m, &[], None, None, RunOptions::default());
        r.close(Vec::new(), true, ["later".to_string()]);
        assert!(r.interrupted);
        assert!(r.finished_at.is_some());
        assert_eq!(r.warnings.last().map(String::as_str), Some("later"));
        assert_eq!(r.warnings.len(), 2);
    }
}
