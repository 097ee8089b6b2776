//! Scenario files that are wrong: each mistake is a diagnostic naming the file, the line
//! and the key path (never a panic); and the shipped suites, which must load, fit the
//! demo matrix, and run every check in at least one demo cell.
//!
//! The corpus lives in `tests/scenarios/bad/`: each file holds one mistake and says in
//! its leading comments what the error must be, as in `tests/matrices/bad/`:
//!
//! ```text
//! # expect: line=7 key=check[0].sql message=has both `redis` and `sql`
//! # help: split it                (optional: a substring of the help)
//! ```
//!
//! `tests/scenarios/cross/` holds a matrix whose scenarios are valid alone but do not fit
//! it (unknown services, wrong kinds, unknown `when` keys, duplicate names, a `[[known]]`
//! naming no check).

use std::path::{Path, PathBuf};

use dockmatrix::matrix::Matrix;
use dockmatrix::scenario::{self, Action, Scenario, SuiteKind};

use crate::common::{dockmatrix, root, stderr};

struct Expect {
    line: usize,
    key: String,
    message: String,
    help: Option<String>,
}

fn parse_expect(file: &Path) -> Expect {
    let text = std::fs::read_to_string(file).expect("corpus files are UTF-8");
    let first = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("# expect: line="))
        .unwrap_or_else(|| panic!("{} does not start with `# expect: line=`", file.display()));
    let (line, rest) = first.split_once(" key=").expect("then ` key=`");
    let (key, message) = rest.split_once(" message=").expect("then ` message=`");
    let help = text
        .lines()
        .nth(1)
        .and_then(|l| l.strip_prefix("# help: "))
        .map(str::to_string);
    Expect {
        line: line.parse().expect("a line number"),
        key: key.to_string(),
        message: message.to_string(),
        help,
    }
}

fn corpus() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("tests/scenarios/bad"))
        .expect("tests/scenarios/bad exists")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_malformed_scenario_is_a_located_diagnostic() {
    let files = corpus();
    assert!(files.len() >= 15, "the corpus has {} files", files.len());
    let mut problems = Vec::new();
    for file in &files {
        let expect = parse_expect(file);
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Err(diags) = Scenario::load(file) else {
            problems.push(format!("{name}: loaded without error"));
            continue;
        };
        let d = &diags.0[0];
        let shown = diags.to_string();
        if d.file != *file {
            problems.push(format!("{name}: names file {}", d.file.display()));
        }
        if d.line != expect.line {
            problems.push(format!("{name}: line {}, want {}", d.line, expect.line));
        }
        if d.key != expect.key {
            problems.push(format!("{name}: key `{}`, want `{}`", d.key, expect.key));
        }
        if !d.message.contains(&expect.message) {
            problems.push(format!(
                "{name}: message {:?} lacks {:?}",
                d.message, expect.message
            ));
        }
        if let Some(h) = &expect.help
            && !d.help.as_deref().is_some_and(|x| x.contains(h.as_str()))
        {
            problems.push(format!("{name}: help {:?} lacks {h:?}", d.help));
        }
        // Rendered as a user sees it: file:line:column, the line, a caret, the key.
        let location = format!("--> {}:{}:", file.display(), expect.line);
        if !shown.contains(&location) || !shown.contains('^') {
            problems.push(format!(
                "{name}: rendering lacks `{location}` or a caret:\n{shown}"
            ));
        }
        if !expect.key.is_empty() && !shown.contains(&format!("= key: {}", expect.key)) {
            problems.push(format!("{name}: rendering lacks the key:\n{shown}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn unreadable_and_empty_scenarios_are_diagnostics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join("empty.toml");
    std::fs::write(&empty, "  \n").expect("written");
    let d = Scenario::load(&empty).expect_err("empty");
    assert_eq!(
        (d.0[0].line, d.0[0].message.as_str()),
        (0, "the file is empty")
    );
    assert!(
        d.0[0]
            .help
            .as_deref()
            .is_some_and(|h| h.contains("[[check]]"))
    );
    let binary = dir.path().join("binary.toml");
    std::fs::write(&binary, b"kind = \"perf\"\n\xff\xfe").expect("written");
    assert!(
        Scenario::load(&binary).expect_err("binary").0[0]
            .message
            .contains("not valid UTF-8")
    );
    let missing = Scenario::load(&dir.path().join("nope.toml")).expect_err("missing");
    assert!(missing.0[0].message.contains("cannot read the file"));
    assert!(
        Scenario::load(dir.path()).expect_err("a directory").0[0]
            .message
            .contains("directory")
    );
    let no_checks = dir.path().join("no-checks.toml");
    std::fs::write(&no_checks, "kind = \"regression\"\n").expect("written");
    let d = Scenario::load(&no_checks).expect_err("no checks");
    assert_eq!((d.0[0].line, d.0[0].key.as_str()), (1, "check"));
}

#[test]
fn scenarios_that_do_not_fit_their_matrix_are_located_diagnostics() {
    let m = Matrix::load(&root().join("tests/scenarios/cross/matrix.toml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let diags = scenario::load_all(&m).expect_err("does not fit");
    let shown = diags.to_string();
    // (file, line, key, message)
    let want: &[(&str, usize, &str, &str)] = &[
        (
            "b.toml",
            4,
            "check[0].name",
            "two checks are named `redis: LMPOP pops`",
        ),
        (
            "a.toml",
            10,
            "check[1].service",
            "names service `postgress`, which matrix `cross` does not have",
        ),
        (
            "a.toml",
            15,
            "check[2].service",
            "a redis check needs a redis service; `postgres` is a postgres service",
        ),
        (
            "a.toml",
            21,
            "check[3].when.postgress",
            "`when` names `postgress`",
        ),
        (
            "a.toml",
            26,
            "check[4].service",
            "service `worker` lists no port",
        ),
        ("a.toml", 32, "check[5].via", "names service `ghost`"),
        (
            "matrix.toml",
            11,
            "known[0].check",
            "no scenario of the matrix has a check named `redis: LMPOP pop`",
        ),
    ];
    let mut problems = Vec::new();
    for (file, line, key, message) in want {
        let found = diags.0.iter().any(|d| {
            d.file.ends_with(file)
                && d.line == *line
                && d.key == *key
                && d.message.contains(message)
        });
        if !found {
            problems.push(format!("no `{file}:{line}` {key}: {message}"));
        }
    }
    assert!(
        problems.is_empty(),
        "{}\n\ngot:\n{shown}",
        problems.join("\n")
    );
    assert_eq!(
        diags.0.len(),
        want.len(),
        "exactly these problems:\n{shown}"
    );
    assert!(
        shown.contains("did you mean `redis: LMPOP pops`?"),
        "{shown}"
    );
    assert!(shown.contains("the other is at"), "{shown}");
}

/// `dockmatrix run` refuses a matrix whose scenarios do not fit it: exit 2, before it
/// touches Docker, naming the scenario file, line and key.
#[test]
fn run_refuses_scenarios_that_do_not_fit_with_exit_2() {
    let o = dockmatrix(&["run", "tests/scenarios/cross/matrix.toml"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("tests/scenarios/cross/b.toml:4:"), "{err}");
    assert!(err.contains("= key: known[0].check"), "{err}");
}

/// The demo matrix as the runner uses it: with the shipped suites and the `[[known]]`
/// entry for the PostgreSQL 17 monitoring query (added here while `matrices/demo.toml`
/// names no scenarios yet).
fn demo_matrix() -> Matrix {
    let path = root().join("matrices/demo.toml");
    let mut source = std::fs::read_to_string(&path).expect("matrices/demo.toml");
    if source.contains("scenarios = []") {
        source = source.replace(
            "scenarios = []",
            "scenarios = [\"../scenarios/connectivity.toml\", \"../scenarios/regression.toml\", \"../scenarios/perf.toml\"]",
        );
        source.push_str(
            "\n[[known]]\nfilter = \"postgres>=17\"\ncheck = \"postgres: monitoring query reads checkpoints_timed from pg_stat_bgwriter\"\nreason = \"PostgreSQL 17 moved the checkpoint counters to pg_stat_checkpointer\"\n",
        );
    }
    Matrix::from_source(&path, source).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn shipped_suites_fit_the_demo_matrix() {
    let m = demo_matrix();
    let suites = scenario::load_all(&m).unwrap_or_else(|e| panic!("{e}"));
    let kinds: Vec<SuiteKind> = suites.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        [
            SuiteKind::Connectivity,
            SuiteKind::Regression,
            SuiteKind::Perf
        ]
    );
    let cells = m.cells().expect("cells");

    let regression = &suites[1];
    assert!(
        regression.checks.len() >= 30,
        "{} regression checks",
        regression.checks.len()
    );
    let gated = regression
        .checks
        .iter()
        .filter(|c| !c.when.is_empty())
        .count();
    assert!(gated >= 10, "{gated} gated checks");

    // Every check runs (is not skipped by `when`) in at least one demo cell. The engine's
    // version is what the cell asks for (the demo's engine values are exact versions).
    for s in &suites {
        for c in &s.checks {
            let runs = cells
                .iter()
                .any(|cell| c.when.evaluate_in(&m, cell, cell.get("engine")).is_ok());
            assert!(runs, "`{}` runs in no demo cell", c.name);
        }
    }

    // The app's round trip goes through the app and reads back from every store.
    let app_paths: Vec<&str> = regression
        .checks
        .iter()
        .filter_map(|c| match &c.action {
            Action::Http(h) => Some(h.request.path.as_str()),
            _ => None,
        })
        .collect();
    for source in ["postgres", "mysql", "redis"] {
        assert!(
            app_paths
                .iter()
                .any(|p| p.ends_with(&format!("?source={source}"))),
            "no read back from {source}"
        );
    }

    // Perf: the issue's defaults, but 2 s of measuring, which scenarios/perf.toml sets so
    // that the demo's 13 running cells' exclusive perf windows fit its time budget.
    for c in &suites[2].checks {
        let p = c.perf.as_ref().expect("perf settings");
        assert_eq!(
            (
                p.warmup.as_secs(),
                p.duration.as_secs(),
                p.min_samples,
                p.concurrency,
                p.exclusive
            ),
            (1, 2, 1000, 4, true),
            "{}",
            c.name
        );
    }
}

#[test]
fn the_known_demo_check_is_explained_and_not_gated() {
    let m = demo_matrix();
    let suites = scenario::load_all(&m).unwrap_or_else(|e| panic!("{e}"));
    let known = m
        .known
        .iter()
        .find(|k| k.check.contains("checkpoints_timed"))
        .expect("a [[known]] entry");
    let check = suites
        .iter()
        .find_map(|s| s.check(&known.check))
        .expect("the check exists");
    assert!(
        check.when.is_empty(),
        "a known incompatibility must run where it fails"
    );
    assert!(
        check
            .description
            .as_deref()
            .is_some_and(|d| d.contains("PostgreSQL 17"))
    );
    let cells = m.cells().expect("cells");
    assert!(cells.iter().any(|c| m.known_for(c, &known.check).is_some()));
    assert!(
        cells.iter().any(|c| m.known_for(c, &known.check).is_none()),
        "it still passes on 15"
    );
}
