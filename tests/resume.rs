//! `run MATRIX --resume RUN` (issue 13, item 5): a run killed with SIGKILL after its
//! first cell finished is resumed: the header was on disk before any engine started, what
//! the dead run left is removed, the finished cell is kept as it was, the rest run, and
//! one complete run.json carries the same run id. Resuming a finished run changes nothing
//! and returns its exit code; a run of another matrix is refused.

use std::time::Duration;

use crate::common::*;

const MATRIX: &str = r#"
name = "resume"
scenarios = ["suite.toml"]
[axes]
case = ["a", "b", "c"]
[services.redis]
kind = "redis"
image = "dockmatrix/redis:7.0"
ports = [6379]
"#;

const SUITE: &str = r#"
kind = "regression"
[[check]]
name = "resume: redis answers"
service = "redis"
redis = ["PING"]
expect = { reply = "PONG" }
[[check]]
name = "resume: the cell takes a few seconds"
service = "redis"
exec = ["sh", "-c", "sleep 4"]
expect = { exit-code = 0 }
"#;

#[test]
fn resume_after_kill_9_keeps_the_finished_cell_and_runs_the_rest() {
    if !docker_available("resume") || !images_available("resume", &["dockmatrix/redis:7.0"]) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("suite.toml"), SUITE).expect("suite");
    let m = dir.path().join("matrix.toml");
    std::fs::write(&m, MATRIX).expect("matrix");
    let out = dir.path().join("run");
    let (m_s, out_s) = (m.to_str().expect("utf-8"), out.to_str().expect("utf-8"));

    let (mut child, rx) = spawn_dockmatrix(&["run", m_s, "--out", out_s, "-j", "1"], &[]);
    let run_id = await_progress(&rx, Some("[  1/3]"), Duration::from_secs(180));
    // The header is on disk while the run goes on.
    let header = run_json(&out);
    assert_eq!(header["run_id"], run_id.as_str());
    assert!(header["finished_at"].is_null(), "{header}");
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let first_line = std::fs::read_to_string(out.join("cells.jsonl")).expect("cells.jsonl");
    let first: serde_json::Value =
        serde_json::from_str(first_line.lines().next().expect("a line")).expect("JSON");

    // Another matrix's run is refused.
    let other = dir.path().join("other.toml");
    std::fs::write(&other, MATRIX.replace("\"c\"]", "\"c\", \"d\"]")).expect("written");
    let o = dockmatrix(&["run", other.to_str().expect("utf-8"), "--resume", out_s]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("another matrix"), "{}", stderr(&o));

    let o = dockmatrix(&["run", m_s, "--resume", out_s, "-j", "2"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("1 cells finished, 2 to run"),
        "{}",
        stderr(&o)
    );
    let run = run_json(&out);
    assert_eq!(run["run_id"], run_id.as_str(), "the same run id");
    assert!(run["finished_at"].is_string());
    let cells = run["cells"].as_array().expect("cells");
    let cases: Vec<&str> = cells
        .iter()
        .map(|c| c["values"]["case"].as_str().expect("case"))
        .collect();
    assert_eq!(cases, ["a", "b", "c"], "every cell, in plan order");
    assert!(cells.iter().all(|c| c["status"] == "pass"), "{run}");
    let kept = cell(
        &run,
        &[("case", first["values"]["case"].as_str().expect("case"))],
    );
    assert_eq!(kept, &first, "the finished cell is kept as it was");
    assert_eq!(
        labelled_objects(&run_id),
        Vec::<String>::new(),
        "nothing left"
    );

    // Resuming the finished run changes nothing and returns its exit code.
    let before = std::fs::read(out.join("run.json")).expect("read");
    let o = dockmatrix(&["run", m_s, "--resume", out_s]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("nothing changed"), "{}", stderr(&o));
    assert_eq!(std::fs::read(out.join("run.json")).expect("read"), before);
}
