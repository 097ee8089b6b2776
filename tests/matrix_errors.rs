//! `dockmatrix plan` on malformed matrices: every mistake is exit 2 with a message that
//! names the file, the line and the key path, and never a panic; and on valid ones: the
//! demo plan, its JSON shape, filters and partitions.
//!
//! The corpus lives in `tests/matrices/bad/`: each file holds one mistake and says in its
//! leading comments what the error must be:
//!
//! ```text
//! # expect: line=7 key=axes.redis[2] message=duplicate value
//! # help: remove one          (optional: a substring of the `= help:` line)
//! # absent: hunter2           (optional: text that must not appear in the output)
//! ```
//!
//! `line=0` means a problem of the whole file (no line to show); an empty `key=` means
//! the error has no key path (a TOML syntax error). Files that cannot be committed as
//! text (empty, binary, not UTF-8, a directory, 10 MB of junk) are generated here.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{dockmatrix, root, stderr, stdout};

/// What a corpus file's leading comments promise.
#[derive(Debug)]
struct Expect {
    line: usize,
    key: String,
    message: String,
    help: Option<String>,
    absent: Vec<String>,
}

fn parse_expect(file: &Path) -> Expect {
    let text = std::fs::read_to_string(file).expect("corpus files are UTF-8");
    let first = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("# expect: "))
        .unwrap_or_else(|| panic!("{} does not start with `# expect: `", file.display()));
    let rest = first.strip_prefix("line=").expect("`line=` first");
    let (line, rest) = rest.split_once(" key=").expect("then ` key=`");
    let (key, message) = rest.split_once(" message=").expect("then ` message=`");
    let mut expect = Expect {
        line: line.parse().expect("line is a number"),
        key: key.to_string(),
        message: message.to_string(),
        help: None,
        absent: Vec::new(),
    };
    for l in text.lines().skip(1).take_while(|l| l.starts_with('#')) {
        if let Some(h) = l.strip_prefix("# help: ") {
            expect.help = Some(h.to_string());
        } else if let Some(a) = l.strip_prefix("# absent: ") {
            expect.absent.push(a.to_string());
        }
    }
    expect
}

/// The corpus, sorted, as paths relative to the repository root (as a user types them).
fn corpus() -> Vec<PathBuf> {
    let dir = root().join("tests/matrices/bad");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/matrices/bad exists")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| {
            p.strip_prefix(root())
                .expect("under the root")
                .to_path_buf()
        })
        .collect();
    files.sort();
    files
}

/// Problems with one run's exit code, panics and stdout, common to every bad input.
fn failed_cleanly(o: &Output) -> Vec<String> {
    let mut problems = Vec::new();
    let err = stderr(o);
    if o.status.code() != Some(2) {
        problems.push(format!("exit code {:?}, want 2", o.status.code()));
    }
    if err.contains("panicked") || err.contains("RUST_BACKTRACE") {
        problems.push("it panicked".to_string());
    }
    if !err.starts_with("error: ") {
        problems.push("stderr does not start with `error: `".to_string());
    }
    if !stdout(o).is_empty() {
        problems.push(format!("stdout is not empty: {}", stdout(o)));
    }
    problems
}

/// The first diagnostic of stderr: everything before its first blank line.
fn first_diagnostic(err: &str) -> &str {
    err.split("\n\n").next().unwrap_or(err)
}

fn check_corpus_file(file: &Path) -> Vec<String> {
    let expect = parse_expect(file);
    let shown = file.display().to_string();
    let o = dockmatrix(&["plan", &shown]);
    let err = stderr(&o);
    let first = first_diagnostic(&err);
    let mut problems = failed_cleanly(&o);

    let location = if expect.line == 0 {
        // A whole-file problem: the path alone, no line.
        format!("  --> {shown}\n")
    } else {
        format!("  --> {shown}:{}:", expect.line)
    };
    if !first.contains(&location) && !first.ends_with(location.trim_end()) {
        problems.push(format!("no `{}` in the first error", location.trim_end()));
    }
    let key_line = format!("  = key: {}", expect.key);
    let has_key = first.lines().any(|l| l == key_line);
    let has_no_key = !first.lines().any(|l| l.starts_with("  = key: "));
    if expect.key.is_empty() && !has_no_key {
        problems.push("the error has a key path, want none".to_string());
    } else if !expect.key.is_empty() && !has_key {
        problems.push(format!("no `{key_line}` line in the first error"));
    }
    let headline = first.lines().next().unwrap_or_default();
    if !headline.contains(&expect.message) {
        problems.push(format!("the headline lacks `{}`", expect.message));
    }
    if let Some(help) = &expect.help
        && !first
            .lines()
            .any(|l| l.starts_with("  = help: ") && l.contains(help.as_str()))
    {
        problems.push(format!("no help containing `{help}`"));
    }
    for a in &expect.absent {
        if err.contains(a.as_str()) {
            problems.push(format!("the output shows `{a}`"));
        }
    }
    problems
        .into_iter()
        .map(|p| format!("{shown}: {p}\n--- stderr:\n{err}---"))
        .collect()
}

#[test]
fn every_bad_matrix_is_exit_2_naming_file_line_key_and_message() {
    let files = corpus();
    assert!(files.len() >= 30, "only {} corpus files", files.len());
    // Each file is one process: run them on a few threads.
    let chunks: Vec<Vec<PathBuf>> = files.chunks(8).map(<[PathBuf]>::to_vec).collect();
    let problems: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .flat_map(|f| check_corpus_file(f))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a checker thread"))
            .collect()
    });
    assert!(
        problems.is_empty(),
        "{} problems:\n\n{}",
        problems.len(),
        problems.join("\n\n")
    );
}

#[test]
fn corpus_expectations_are_well_formed() {
    // A typo in an `# expect:` line must not make a case vacuous.
    for f in corpus() {
        let e = parse_expect(&root().join(&f));
        assert!(
            !e.message.trim().is_empty(),
            "{}: empty message",
            f.display()
        );
        assert!(
            e.line > 0 || !e.key.is_empty(),
            "{}: a whole-file error still names a key here",
            f.display()
        );
    }
}

/// A deterministic byte stream (xorshift64*), so that a failure can be reproduced.
fn junk(len: usize, seed: u64, printable: bool) -> Vec<u8> {
    let mut x = seed.max(1);
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            let b = (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8;
            if printable {
                // Printable ASCII with some newlines: UTF-8 that TOML must reject.
                if b.is_multiple_of(23) {
                    b'\n'
                } else {
                    b' ' + b % 95
                }
            } else {
                b
            }
        })
        .collect()
}

/// Runs `plan` on `path` (absolute) and checks the common promises of a bad input: exit
/// 2, no panic, the file named, a message containing `message`, in good time.
fn assert_refused(path: &Path, message: &str) -> String {
    let shown = path.display().to_string();
    let started = Instant::now();
    let o = dockmatrix(&["plan", &shown]);
    let took = started.elapsed();
    let err = stderr(&o);
    let problems = failed_cleanly(&o);
    assert!(problems.is_empty(), "{shown}: {problems:?}\n{err}");
    assert!(
        err.contains(&format!("  --> {shown}")),
        "{shown} is not named:\n{err}"
    );
    assert!(err.contains(message), "no `{message}` in:\n{err}");
    // A debug build refuses 6 MB in ~1–4 s of CPU (a loaded machine stretches the wall
    // clock); a hang or a quadratic pass (minutes) would not.
    assert!(took < Duration::from_secs(30), "{shown} took {took:?}");
    // Never a wall of text: a snippet is one line, shortened.
    assert!(
        err.len() < 4096,
        "{} bytes of stderr for {shown}",
        err.len()
    );
    err
}

#[test]
fn empty_and_blank_files_are_refused() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let empty = dir.path().join("empty.toml");
    std::fs::write(&empty, "").expect("write");
    let err = assert_refused(&empty, "the file is empty");
    assert!(
        err.contains(&format!("  --> {}\n", empty.display())),
        "{err}"
    );

    let blank = dir.path().join("blank.toml");
    std::fs::write(&blank, "\n   \n\t\n").expect("write");
    assert_refused(&blank, "the file is empty");

    let comments = dir.path().join("comments.toml");
    std::fs::write(&comments, "# only a comment\n").expect("write");
    assert_refused(&comments, "missing field `name`");
}

#[test]
fn binary_junk_is_refused() {
    let dir = tempfile::tempdir().expect("a temp dir");
    for seed in 1..=5 {
        let file = dir.path().join(format!("junk-{seed}.toml"));
        std::fs::write(&file, junk(4096, seed, false)).expect("write");
        assert_refused(&file, "error: ");
    }
    // NUL bytes and control characters are valid UTF-8: TOML refuses them, and the
    // snippet must not copy them to the terminal.
    let file = dir.path().join("controls.toml");
    std::fs::write(&file, b"name = \"t\"\n\x00\x1b[2J\x07 = 1\n").expect("write");
    let err = assert_refused(&file, ":2:");
    assert!(!err.contains('\u{1b}') && !err.contains('\0'), "{err:?}");
}

#[test]
fn text_that_is_not_utf8_is_refused_at_its_line() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("latin1.toml");
    // "café" in Latin-1 on line 3.
    std::fs::write(&file, b"name = \"t\"\n[axes]\nredis = [\"caf\xe9\"]\n").expect("write");
    let err = assert_refused(&file, "not valid UTF-8");
    assert!(err.contains(&format!("{}:3:", file.display())), "{err}");
}

#[test]
fn a_directory_is_refused() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let sub = dir.path().join("matrix.toml");
    std::fs::create_dir(&sub).expect("mkdir");
    assert_refused(&sub, "is a directory");
}

#[test]
fn a_missing_file_is_refused() {
    let dir = tempfile::tempdir().expect("a temp dir");
    assert_refused(&dir.path().join("nowhere.toml"), "cannot read the file");
}

#[test]
fn ten_megabytes_of_junk_are_refused_quickly() {
    const TEN_MB: usize = 10 << 20;
    let dir = tempfile::tempdir().expect("a temp dir");

    // Over the size limit: refused before it is read, whatever it holds.
    let bytes = dir.path().join("bytes.toml");
    std::fs::write(&bytes, junk(TEN_MB, 7, false)).expect("write");
    assert_refused(&bytes, "the file is 10.0 MiB");
    let text = dir.path().join("text.toml");
    std::fs::write(&text, junk(TEN_MB, 11, true)).expect("write");
    assert_refused(&text, "may be at most 8 MiB");
}

#[test]
fn large_junk_under_the_size_limit_is_refused_quickly() {
    const SIX_MB: usize = 6 << 20;
    let dir = tempfile::tempdir().expect("a temp dir");

    let text = dir.path().join("text.toml");
    std::fs::write(&text, junk(SIX_MB, 11, true)).expect("write");
    assert_refused(&text, "error: ");

    // One line of opening brackets: toml's recursion limit, not a stack overflow.
    let deep = dir.path().join("deep.toml");
    let mut doc = b"name = \"t\"\nx = ".to_vec();
    doc.resize(1 << 20, b'[');
    std::fs::write(&deep, doc).expect("write");
    assert_refused(&deep, ":2:");

    // A valid axis of ~500,000 values, wrong only in its last one: validation must be
    // linear (it was quadratic in the axis length).
    let long = dir.path().join("long-axis.toml");
    let mut doc = String::from("name = \"t\"\n[axes]\nx = [\n");
    let mut n = 0;
    while doc.len() < SIX_MB {
        doc.push_str(&format!("  \"v{n}\",\n"));
        n += 1;
    }
    doc.push_str("  \"v0\",\n]\n");
    std::fs::write(&long, &doc).expect("write");
    let err = assert_refused(&long, "duplicate value \"v0\"");
    assert!(err.contains(&format!("= key: axes.x[{n}]")), "{err}");
    assert!(err.contains(&format!(":{}:", n + 4)), "{err}");
}

// ---------------------------------------------------------------------------------------
// The valid side.

fn plan_json(args: &[&str]) -> Value {
    let mut all = vec!["plan"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    let o = dockmatrix(&all);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    serde_json::from_str(&stdout(&o)).expect("plan --format json prints JSON")
}

fn ids(plan: &Value) -> Vec<String> {
    plan["cells"]
        .as_array()
        .expect("cells is an array")
        .iter()
        .map(|c| c["id"].as_str().expect("id is a string").to_string())
        .collect()
}

const DEMO: &str = "matrices/demo.toml";
const DEMO_KEYS: [&str; 5] = ["engine", "storage-driver", "postgres", "mariadb", "redis"];

#[test]
fn the_demo_matrix_plans_14_cells() {
    let o = dockmatrix(&["plan", DEMO]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("14 cells of matrix `demo`"),
        "{}",
        stdout(&o)
    );
    assert_eq!(ids(&plan_json(&[DEMO])).len(), 14);
}

#[test]
fn plan_json_has_the_documented_shape() {
    let plan = plan_json(&[DEMO]);
    let top = plan.as_object().expect("an object");
    assert_eq!(top.keys().collect::<Vec<_>>(), ["cells"]);
    for cell in plan["cells"].as_array().expect("an array") {
        let cell = cell.as_object().expect("a cell is an object");
        assert_eq!(cell.keys().collect::<Vec<_>>(), ["id", "values"]);
        let id = cell["id"].as_str().expect("a string id");
        let (head, hash) = id.rsplit_once('-').expect("id ends in -HASH");
        assert!(!head.is_empty());
        assert!(
            hash.len() == 8
                && hash
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
            "{id}"
        );
        assert!(
            id.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c)),
            "{id}"
        );
        let values = cell["values"].as_object().expect("values is an object");
        // Axes in file order, then keys that include entries introduced.
        assert_eq!(values.keys().collect::<Vec<_>>(), DEMO_KEYS, "{id}");
        assert!(values.values().all(Value::is_string), "{id}: {values:?}");
    }
    // Plan order: the product first (first axis outermost), then include-made cells.
    let first = &plan["cells"][0]["values"];
    assert_eq!(first["engine"], "20.10.24");
    assert_eq!(first["storage-driver"], "overlay2");
    assert_eq!(first["postgres"], "15");
    assert_eq!(first["redis"], "7.0", "a string, never the float 7");
    assert_eq!(plan["cells"][13]["values"]["storage-driver"], "btrfs");
}

#[test]
fn filters_select_and_a_filter_matching_nothing_is_exit_2() {
    let all = ids(&plan_json(&[DEMO]));
    let new = ids(&plan_json(&[
        DEMO,
        "--filter",
        "engine>=26,storage-driver!=vfs",
    ]));
    assert_eq!(new.len(), 9, "{new:?}");
    // Repeating --filter means "and", and keeps plan order.
    let both = ids(&plan_json(&[
        DEMO,
        "--filter",
        "engine>=26",
        "--filter",
        "storage-driver!=vfs",
    ]));
    assert_eq!(both, new);
    let in_order: Vec<&String> = all.iter().filter(|id| new.contains(id)).collect();
    assert_eq!(in_order, new.iter().collect::<Vec<_>>());

    for (filter, says) in [
        ("engine>=99", "matches no cell"),
        ("storage-driver=zfs", "matches no cell"),
        ("mysql=8.0", "is not an axis"),
        ("storage-driver>=overlay", "is not a version"),
        ("engine", "has no operator"),
        ("", "the filter is empty"),
    ] {
        let o = dockmatrix(&["plan", DEMO, "--filter", filter]);
        assert_eq!(
            o.status.code(),
            Some(2),
            "--filter {filter:?}: {}",
            stderr(&o)
        );
        assert!(
            stderr(&o).contains(says),
            "--filter {filter:?}: {}",
            stderr(&o)
        );
        assert!(!stderr(&o).contains("panicked"));
        assert!(stdout(&o).is_empty());
    }
}

#[test]
fn partitions_are_disjoint_and_cover_the_plan() {
    let all = ids(&plan_json(&[DEMO]));
    for kind in ["hash", "count"] {
        let mut seen: Vec<String> = Vec::new();
        for m in 1..=3 {
            let shard = ids(&plan_json(&[DEMO, "--partition", &format!("{kind}:{m}/3")]));
            // Each shard keeps plan order.
            let in_order: Vec<&String> = all.iter().filter(|id| shard.contains(id)).collect();
            assert_eq!(in_order, shard.iter().collect::<Vec<_>>(), "{kind}:{m}/3");
            seen.extend(shard);
        }
        let unique: HashSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "{kind}: shards overlap: {seen:?}");
        assert_eq!(
            unique,
            all.iter().collect::<HashSet<_>>(),
            "{kind}: shards miss cells"
        );
    }
    // A partition applies after the filter.
    let filtered = ids(&plan_json(&[DEMO, "--filter", "postgres=17"]));
    let mut seen: Vec<String> = (1..=2)
        .flat_map(|m| {
            ids(&plan_json(&[
                DEMO,
                "--filter",
                "postgres=17",
                "--partition",
                &format!("hash:{m}/2"),
            ]))
        })
        .collect();
    seen.sort();
    let mut want = filtered;
    want.sort();
    assert_eq!(seen, want);
}

#[test]
fn an_empty_shard_is_exit_0_and_says_so() {
    let o = dockmatrix(&["plan", DEMO, "--partition", "count:20/20"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("is empty"), "{}", stderr(&o));
}

#[test]
fn a_bad_partition_is_exit_2() {
    for bad in [
        "hash:0/3",
        "hash:4/3",
        "hash:1/0",
        "hash:1",
        "hash:a/b",
        "mod:1/2",
        "1/3",
        "",
        "count:-1/3",
    ] {
        let o = dockmatrix(&["plan", DEMO, "--partition", bad]);
        assert_eq!(
            o.status.code(),
            Some(2),
            "--partition {bad:?}: {}",
            stderr(&o)
        );
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
        assert!(
            stderr(&o).contains("hash:M/N"),
            "--partition {bad:?}: {}",
            stderr(&o)
        );
        assert!(stdout(&o).is_empty());
    }
}
