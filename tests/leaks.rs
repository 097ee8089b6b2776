//! One secret model everywhere (issue 13, item 3): what `plan`, `compare`, `merge` and the
//! reports print, and what a merged run.json keeps, never shows a password written in a
//! URL (even one holding `/`), a value found there when it reappears alone, the log forms
//! of secrets, nor control characters; CSV defuses formulas and keeps numbers numbers.

use std::path::Path;

use serde_json::{Value, json};

use crate::common::{dockmatrix, root, stderr, stdout};

const SECRETS: [&str; 6] = [
    "pa/ss-in-url",
    "Zq9-found-in-url",
    "hunter22-log",
    "tok-bearer-1234",
    "flag-token-5678",
    "dbclient-pw-90",
];

fn no_secret_in(what: &str, text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "{what} shows {s}: {text}");
    }
    assert!(!text.contains('\u{1b}'), "{what} holds an escape: {text:?}");
    assert!(!text.contains('\u{9b}'), "{what} holds a C1 CSI: {text:?}");
}

#[test]
fn plan_masks_axis_values_the_matrix_name_and_ids() {
    let dir = tempfile::tempdir().expect("tempdir");
    let m = dir.path().join("m.toml");
    std::fs::write(
        &m,
        "name = \"leak\\u001b[2J\\u001b]0;owned\\u0007\"\n\
         [axes]\n\
         dsn = [\"postgres://u:pa/ss-in-url@h/db\", \"mysql://app:Zq9-found-in-url@db/x\"]\n\
         echo = [\"Zq9-found-in-url\"]\n",
    )
    .expect("written");
    let m = m.to_str().expect("utf-8");
    for format in ["table", "json"] {
        let o = dockmatrix(&["plan", m, "--format", format]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        no_secret_in(&format!("plan --format {format}"), &stdout(&o));
    }
    let o = dockmatrix(&["plan", m, "--format", "json"]);
    let doc: Value = serde_json::from_str(&stdout(&o)).expect("JSON");
    let ids: Vec<&str> = doc["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .map(|c| c["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1], "masked ids stay distinct");
    for id in ids {
        assert!(!id.contains("pa") && !id.contains("zq9"), "{id}");
    }
}

/// A run record as a hostile or old tool may have written it: secrets and escapes in
/// every kind of string.
fn poisoned_run(dir: &Path, name: &str, partition: Option<&str>) -> std::path::PathBuf {
    let text = std::fs::read_to_string(root().join("tests/data/run-mixed/run.json")).expect("read");
    let mut run: Value = serde_json::from_str(&text).expect("JSON");
    run["run_id"] = json!("run-\u{1b}[31mred-postgres://u:pa/ss-in-url@h/x");
    run["partition"] = partition.map_or(Value::Null, |p| json!(p));
    run["warnings"] = json!(["a warning with password: hunter22-log \u{9b}2J"]);
    let cells = run["cells"].as_array_mut().expect("cells");
    cells[0]["values"]["dsn"] = json!("mysql://app:Zq9-found-in-url@db/x");
    cells[0]["reason"] = json!("=HYPERLINK(\"http://x\") echo Zq9-found-in-url");
    cells[1]["reason"] = json!("Authorization: Bearer tok-bearer-1234 and --token flag-token-5678");
    cells[1]["checks"][0]["message"] =
        json!("ran mysql -uroot -pdbclient-pw-90 -h db: {\"password\":\"hunter22-log\"}");
    cells[1]["checks"][0]["status"] = json!("fail");
    let out = dir.join(name);
    std::fs::create_dir_all(&out).expect("dir");
    std::fs::write(
        out.join("run.json"),
        serde_json::to_string_pretty(&run).expect("JSON"),
    )
    .expect("written");
    out
}

#[test]
fn compare_masks_in_every_format() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = poisoned_run(dir.path(), "base", None);
    let new = poisoned_run(dir.path(), "new", None);
    let (b, n) = (base.to_str().expect("utf-8"), new.to_str().expect("utf-8"));
    for format in ["table", "markdown", "json"] {
        let o = dockmatrix(&["compare", b, n, "--format", format]);
        assert!(matches!(o.status.code(), Some(0 | 1)), "{}", stderr(&o));
        no_secret_in(&format!("compare --format {format}"), &stdout(&o));
        no_secret_in("compare's stderr", &stderr(&o));
    }
}

#[test]
fn reports_mask_in_every_format_and_csv_defuses_formulas() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = poisoned_run(dir.path(), "run", None);
    let r = run.to_str().expect("utf-8");
    for format in ["table", "markdown", "csv", "json", "junit", "html"] {
        let o = dockmatrix(&["report", r, "--format", format]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        no_secret_in(&format!("report --format {format}"), &stdout(&o));
    }
    let o = dockmatrix(&["report", r, "--format", "csv"]);
    let mut rows = csv::Reader::from_reader(o.stdout.as_slice());
    let header = rows.headers().expect("header").clone();
    let col = |name: &str| header.iter().position(|h| h == name).expect("column");
    let (reason, delta) = (col("cell_reason"), col("p95_delta_pct"));
    let mut saw_formula = false;
    for row in rows.records() {
        let row = row.expect("row");
        for field in row.iter() {
            assert!(
                !field.starts_with(['=', '+', '@']),
                "a text field that a spreadsheet runs: {field}"
            );
        }
        saw_formula |= row[reason].starts_with("'=HYPERLINK");
        let d = &row[delta];
        assert!(
            d.is_empty() || d.parse::<f64>().is_ok(),
            "a number stays a number: {d}"
        );
    }
    assert!(saw_formula, "the formula is kept, defused");
}

#[test]
fn merge_masks_its_warnings_and_the_merged_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = poisoned_run(dir.path(), "a", Some("count:1/2"));
    let b = poisoned_run(dir.path(), "b", Some("count:2/2"));
    let out = dir.path().join("merged");
    let o = dockmatrix(&[
        "merge",
        a.to_str().expect("utf-8"),
        b.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    no_secret_in("merge's stderr", &stderr(&o));
    if o.status.code() == Some(0) {
        for f in std::fs::read_dir(&out).expect("listed") {
            let f = f.expect("entry").path();
            let text = std::fs::read_to_string(&f).expect("text");
            no_secret_in(&f.display().to_string(), &text);
        }
    }
}
