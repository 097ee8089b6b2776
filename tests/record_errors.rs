//! Error quality of run records (issue 13, item 9): a run.json with a schema this
//! dockmatrix does not know, or a partition that is not `kind:M/N`, is refused with exit 2
//! naming the line; a record that is not JSON names its line too.

use serde_json::json;

use crate::common::{dockmatrix, root, stderr};

fn record_with(edit: impl FnOnce(&mut serde_json::Value)) -> tempfile::TempDir {
    let text = std::fs::read_to_string(root().join("tests/data/run-mixed/run.json")).expect("read");
    let mut run: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    edit(&mut run);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("run.json"),
        serde_json::to_string_pretty(&run).expect("JSON"),
    )
    .expect("written");
    dir
}

fn refused_at(dir: &tempfile::TempDir, line: usize, needle: &str) {
    let path = dir.path().to_str().expect("utf-8");
    for args in [vec!["report", path], vec!["compare", path, path]] {
        let o = dockmatrix(&args);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {e}");
        assert!(e.contains(needle), "{args:?} says {needle:?}: {e}");
        assert!(
            e.contains(&format!("run.json:{line}:")),
            "{args:?} names line {line}: {e}"
        );
    }
}

#[test]
fn an_unknown_schema_is_refused_naming_its_line() {
    refused_at(&record_with(|r| r["schema"] = json!(0)), 2, "`schema` is 0");
    let dir = record_with(|r| r["schema"] = json!(99));
    let o = dockmatrix(&["report", dir.path().to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("newer"), "{}", stderr(&o));
}

#[test]
fn an_invalid_partition_is_refused_naming_its_line() {
    for bad in ["garbage", "hash:0/0", "count:3/2", "hash:1/2,nope"] {
        refused_at(
            &record_with(|r| r["partition"] = json!(bad)),
            9,
            "invalid `partition`",
        );
    }
    // A merged record's list of valid partitions is accepted.
    let dir = record_with(|r| r["partition"] = json!("hash:1/2,hash:2/2"));
    let o = dockmatrix(&["report", dir.path().to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn a_record_that_is_not_json_names_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("run.json"),
        "{\n  \"schema\": 1,\n  oops\n}\n",
    )
    .expect("written");
    let o = dockmatrix(&["report", dir.path().to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("line 3"), "{}", stderr(&o));
}
