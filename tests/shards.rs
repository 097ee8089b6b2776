//! `merge` and `compare` on real runs (host engine, real Redis servers): the shards of a
//! run partitioned with `--partition hash:M/3`, merged, equal the unpartitioned run cell
//! by cell; `compare` of two real runs names the cell a scenario change broke, exit 1.

use std::path::Path;

use crate::common::*;

const MATRIX: &str = r#"
name = "shards"
scenarios = ["suite.toml"]

[axes]
redis = ["7.0", "8.0"]
n = ["1", "2", "3"]

[services.redis]
kind = "redis"
image = "dockmatrix/redis:{version}"
ports = [6379]
"#;

const SUITE: &str = r#"
kind = "regression"

[[check]]
name = "redis answers"
service = "redis"
redis = ["PING"]
expect = { reply = "PONG" }

[[check]]
name = "redis: LMPOP pops from the first non-empty list"
service = "redis"
when = { redis = ">=7" }
redis = [["DEL", "a", "b"], ["RPUSH", "b", "x"], ["LMPOP", 2, "a", "b", "LEFT"]]
expect = { reply = ["b", ["x"]] }
"#;

/// A check that only cell n=2 / redis 8.0 runs, expecting what Redis does not answer.
const BROKEN: &str = r#"
[[check]]
name = "redis: a key set on 8.0 reads back"
service = "redis"
when = { n = "=2", redis = "=8.0" }
redis = [["SET", "k", "v"], ["GET", "k"]]
expect = { reply = "not what was set" }
"#;

fn write_matrix(dir: &Path, suite: &str) -> String {
    std::fs::write(dir.join("matrix.toml"), MATRIX).expect("matrix written");
    std::fs::write(dir.join("suite.toml"), suite).expect("suite written");
    dir.join("matrix.toml").to_str().expect("utf-8").to_string()
}

fn run_into(matrix: &str, out: &Path, extra: &[&str]) -> (std::process::Output, serde_json::Value) {
    let mut args = vec!["run", matrix, "--out", out.to_str().expect("utf-8")];
    args.extend(extra);
    let o = dockmatrix(&args);
    let run = run_json(out);
    let id = run["run_id"].as_str().expect("run id").to_string();
    assert_eq!(
        labelled_objects(&id),
        Vec::<String>::new(),
        "nothing left by {id}"
    );
    (o, run)
}

/// (values, status, [(check, status)]) of every cell, sorted: what must agree.
fn outcome(run: &serde_json::Value) -> Vec<String> {
    let mut cells: Vec<String> = run["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .map(|c| {
            let checks: Vec<String> = c["checks"]
                .as_array()
                .expect("checks")
                .iter()
                .map(|k| format!("{}={}", k["name"], k["status"]))
                .collect();
            format!("{} {} [{}]", c["values"], c["status"], checks.join(", "))
        })
        .collect();
    cells.sort();
    cells
}

#[test]
fn run_partitioned_shards_merge_into_the_unpartitioned_run() {
    let images = ["dockmatrix/redis:7.0", "dockmatrix/redis:8.0"];
    if !docker_available("shards_merge") || !images_available("shards_merge", &images) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let matrix = write_matrix(dir.path(), SUITE);
    let (o, whole) = run_into(&matrix, &dir.path().join("whole"), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(whole["cells"].as_array().map(Vec::len), Some(6));

    let mut shard_dirs = Vec::new();
    let mut shard_cells = 0;
    for m in 1..=3 {
        let out = dir.path().join(format!("shard-{m}"));
        let part = format!("hash:{m}/3");
        let (o, shard) = run_into(&matrix, &out, &["--partition", &part]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert_eq!(shard["partition"], part.as_str());
        shard_cells += shard["cells"].as_array().map_or(0, Vec::len);
        shard_dirs.push(out.to_str().expect("utf-8").to_string());
    }
    assert_eq!(shard_cells, 6, "the shards cover the matrix once");

    let merged_dir = dir.path().join("merged");
    let mut args = vec!["merge"];
    args.extend(shard_dirs.iter().map(String::as_str));
    args.extend(["--out", merged_dir.to_str().expect("utf-8")]);
    let o = dockmatrix(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let merged = run_json(&merged_dir);
    assert_eq!(merged["merged_from"].as_array().map(Vec::len), Some(3));
    assert_eq!(outcome(&merged), outcome(&whole));
    assert_eq!(merged["matrix"]["hash"], whole["matrix"]["hash"]);

    // A shard given twice overlaps: refused, naming the cell.
    let o = dockmatrix(&[
        "merge",
        &shard_dirs[0],
        &shard_dirs[0],
        "--out",
        dir.path().join("bad").to_str().expect("utf-8"),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn run_compare_of_two_real_runs_names_the_cell_that_broke() {
    let images = ["dockmatrix/redis:7.0", "dockmatrix/redis:8.0"];
    if !docker_available("compare_real") || !images_available("compare_real", &images) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let matrix = write_matrix(dir.path(), SUITE);
    let base = dir.path().join("base");
    let (o, _) = run_into(&matrix, &base, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    // Last night's scenario gains a check that breaks one cell.
    write_matrix(dir.path(), &format!("{SUITE}{BROKEN}"));
    let new = dir.path().join("new");
    let (o, new_run) = run_into(&matrix, &new, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let broken = cell(&new_run, &[("n", "2"), ("redis", "8.0")]);
    assert_eq!(broken["status"], "fail", "{broken}");

    let o = dockmatrix(&[
        "compare",
        base.to_str().expect("utf-8"),
        new.to_str().expect("utf-8"),
        "--format",
        "json",
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "a regression is exit 1: {}",
        stderr(&o)
    );
    let cmp: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("compare json");
    let text = cmp.to_string();
    assert!(
        text.contains("\"n\":\"2\"") && text.contains("a key set on 8.0 reads back"),
        "{text}"
    );
    // Only that cell changed status, and it is listed as newly broken.
    let human = dockmatrix(&[
        "compare",
        base.to_str().expect("utf-8"),
        new.to_str().expect("utf-8"),
    ]);
    let out = stdout(&human);
    assert_eq!(out.matches("▼ broken").count(), 1, "{out}");
    assert!(
        out.contains("redis=8.0 n=2")
            && out.contains("1 cells newly broken")
            && out.contains("5 unchanged"),
        "{out}"
    );
}
