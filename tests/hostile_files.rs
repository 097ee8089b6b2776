//! Files a hostile or unlucky user names (issue 13, items 1 and 2): FIFOs, devices,
//! `/proc`, symlinks, a file that is not TOML, an output that is an input. Special files are
//! made here, in temporary folders, with `mkfifo` and `mknod` (never the real `/dev/null`).
//! Every refusal is exit 2 within a second or so; nothing is replaced, nothing is left.

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::common::{root, stderr};

fn mkfifo(path: &Path) {
    let ok = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(ok.success(), "mkfifo {}", path.display());
}

/// A character device node of our own: `null` is (1, 3), `zero` (1, 5), as in /dev.
/// Returns false (and says so) where this process may not make device nodes.
fn mknod_char(path: &Path, major: u32, minor: u32) -> bool {
    let ok = Command::new("mknod")
        .arg(path)
        .args(["c", &major.to_string(), &minor.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("SKIPPED device part: mknod is not permitted here (not root)");
    }
    ok
}

/// Runs the binary with a deadline: a blocked read is a test failure, not a hung suite.
fn within(secs: u64, args: &[&str]) -> Output {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dockmatrix"))
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawned");
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if started.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("dockmatrix {args:?} did not end within {secs} s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

fn refused(o: &Output, needle: &str) {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(2), "exit 2: {e}");
    assert!(e.contains(needle), "says {needle:?}: {e}");
    assert!(!e.contains("panicked"), "{e}");
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8")
}

/// A run folder to render: the committed mixed run, copied.
fn a_run(dir: &Path) -> PathBuf {
    let run = dir.join("run");
    std::fs::create_dir_all(&run).expect("dir");
    std::fs::copy(
        root().join("tests/data/run-mixed/run.json"),
        run.join("run.json"),
    )
    .expect("copied");
    run
}

#[test]
fn fifo_inputs_are_refused_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("matrix.toml");
    mkfifo(&fifo);
    refused(&within(5, &["plan", p(&fifo)]), "FIFO");
    // A FIFO as run.json, to report and to compare.
    let run = dir.path().join("run");
    std::fs::create_dir(&run).expect("dir");
    mkfifo(&run.join("run.json"));
    refused(&within(5, &["report", p(&run)]), "FIFO");
    refused(&within(5, &["compare", p(&run), p(&run)]), "FIFO");
    // A FIFO as a daemon-config file and as a scenario.
    let m = dir.path().join("m.toml");
    mkfifo(&dir.path().join("daemon.json"));
    std::fs::write(
        &m,
        "name = \"t\"\n[axes]\ndaemon-config = [\"daemon.json\"]\nstorage-driver = [\"vfs\"]\n",
    )
    .expect("written");
    let o = within(5, &["plan", p(&m)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("FIFO"), "{}", stderr(&o));
    mkfifo(&dir.path().join("s.toml"));
    std::fs::write(
        &m,
        "name = \"t\"\nscenarios = [\"s.toml\"]\n[axes]\nx = [\"1\"]\n",
    )
    .expect("written");
    refused(&within(5, &["plan", p(&m)]), "FIFO");
}

#[test]
fn endless_devices_are_refused_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let zero = dir.path().join("zero");
    if !mknod_char(&zero, 1, 5) {
        return;
    }
    let t = Instant::now();
    refused(&within(5, &["plan", p(&zero)]), "character device");
    let run = dir.path().join("run");
    std::fs::create_dir(&run).expect("dir");
    assert!(mknod_char(&run.join("run.json"), 1, 9)); // urandom
    refused(&within(5, &["report", p(&run)]), "character device");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

#[test]
fn proc_sys_and_dev_are_refused_and_never_echoed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let m = dir.path().join("m.toml");
    std::fs::write(
        &m,
        "name = \"t\"\nscenarios = [\"/proc/self/environ\"]\n[axes]\nx = [\"1\"]\n",
    )
    .expect("written");
    let o = Command::new(env!("CARGO_BIN_EXE_dockmatrix"))
        .args(["plan", p(&m)])
        .env("DOCKMATRIX_TEST_CANARY", "canary-9f8e7d6c")
        .output()
        .expect("runs");
    refused(&o, "under /proc");
    assert!(!stderr(&o).contains("canary-9f8e7d6c"), "{}", stderr(&o));
    let sys = Path::new("/sys/kernel/mm/transparent_hugepage/enabled");
    if sys.exists() {
        refused(&within(5, &["plan", p(sys)]), "under /sys");
    }
    // Through a symlink of the user's: judged by where it leads.
    let link = dir.path().join("innocent.toml");
    std::os::unix::fs::symlink("/proc/self/status", &link).expect("symlink");
    refused(&within(5, &["plan", p(&link)]), "under /proc");
    refused(&within(5, &["report", "/dev/null"]), "under /dev");
}

/// A file that is not TOML (here a shadow-like file of our own) named as a scenario: the
/// error names its line but never quotes it.
#[test]
fn a_file_that_is_not_toml_is_never_quoted() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("shadow"),
        "root:$y$j9T$Quoted-Hash-Never$x:19000:0:99999:7:::\n",
    )
    .expect("written");
    let m = dir.path().join("m.toml");
    std::fs::write(
        &m,
        "name = \"t\"\nscenarios = [\"shadow\"]\n[axes]\nx = [\"1\"]\n",
    )
    .expect("written");
    let o = within(5, &["plan", p(&m)]);
    refused(&o, "shadow:1:");
    assert!(!stderr(&o).contains("Quoted-Hash-Never"), "{}", stderr(&o));
}

#[test]
fn report_writes_through_a_fifo_and_a_device_and_replaces_neither() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = a_run(dir.path());
    let fifo = dir.path().join("out.fifo");
    mkfifo(&fifo);
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).expect("read the FIFO"))
    };
    let o = within(
        20,
        &["report", p(&run), "--format", "markdown", "-o", p(&fifo)],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let got = reader.join().expect("reader");
    assert!(
        got.contains("demo"),
        "the report went through the FIFO: {got}"
    );
    assert!(
        std::fs::symlink_metadata(&fifo)
            .expect("exists")
            .file_type()
            .is_fifo()
    );

    let null = dir.path().join("null");
    if mknod_char(&null, 1, 3) {
        let o = within(20, &["report", p(&run), "-o", p(&null)]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let t = std::fs::symlink_metadata(&null)
            .expect("exists")
            .file_type();
        assert!(t.is_char_device(), "still a device, not a regular file");
    }
}

#[test]
fn report_refuses_a_symlink_and_its_own_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = a_run(dir.path());
    let target = dir.path().join("elsewhere.md");
    std::fs::write(&target, "keep me").expect("written");
    let link = dir.path().join("link.md");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    refused(
        &within(20, &["report", p(&run), "-o", p(&link)]),
        "symbolic link",
    );
    assert_eq!(std::fs::read_to_string(&target).expect("read"), "keep me");
    assert!(
        std::fs::symlink_metadata(&link)
            .expect("exists")
            .is_symlink()
    );

    let record = run.join("run.json");
    let before = std::fs::read(&record).expect("read");
    refused(
        &within(
            20,
            &[
                "report",
                p(&record),
                "--format",
                "markdown",
                "-o",
                p(&record),
            ],
        ),
        "inputs",
    );
    assert_eq!(
        std::fs::read(&record).expect("read"),
        before,
        "run.json untouched"
    );
    // Nothing half-written was left beside it.
    let names: Vec<String> = std::fs::read_dir(&run)
        .expect("listed")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["run.json"], "{names:?}");
}

#[test]
fn merge_out_refuses_root_a_shard_and_a_foreign_folder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = a_run(dir.path());
    let before = std::fs::read(run.join("run.json")).expect("read");
    refused(
        &within(20, &["merge", p(&run), "--out", "/"]),
        "root folder",
    );
    refused(&within(20, &["merge", p(&run), "--out", p(&run)]), "inputs");
    assert_eq!(std::fs::read(run.join("run.json")).expect("read"), before);
    let foreign = dir.path().join("foreign");
    std::fs::create_dir(&foreign).expect("dir");
    std::fs::write(foreign.join("notes.txt"), "mine").expect("written");
    refused(
        &within(20, &["merge", p(&run), "--out", p(&foreign)]),
        "not empty",
    );
    assert_eq!(
        std::fs::read_dir(&foreign).expect("listed").count(),
        1,
        "nothing written into a foreign folder"
    );
    // A new folder works, and an earlier merge of the same matrix may be merged over.
    let out = dir.path().join("merged");
    let o = within(20, &["merge", p(&run), "--out", p(&out)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = within(20, &["merge", p(&run), "--out", p(&out)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// A merge that cannot write leaves no folder behind (here: its folder's parent is a
/// file, so the folder cannot be made; and a read-only parent for the half-way case is
/// not testable as root, who writes anywhere).
#[test]
fn a_failed_merge_leaves_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = a_run(dir.path());
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").expect("written");
    let out = file.join("merged");
    let o = within(20, &["merge", p(&run), "--out", p(&out)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("listed")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["a-file", "run"], "{names:?}");
}

#[test]
fn run_out_refuses_a_folder_of_another_matrix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = a_run(dir.path()); // a run of the `demo` matrix's hash
    let m = dir.path().join("m.toml");
    std::fs::write(&m, "name = \"t\"\n[axes]\nx = [\"1\"]\n").expect("written");
    let o = within(60, &["run", p(&m), "--out", p(&run)]);
    // Refused before Docker is asked anything (exit 2), or exit 3 where no engine answers
    // — never a run written over another matrix's record.
    assert!(
        matches!(o.status.code(), Some(2 | 3)),
        "{:?}: {}",
        o.status,
        stderr(&o)
    );
    if o.status.code() == Some(2) {
        assert!(stderr(&o).contains("another matrix"), "{}", stderr(&o));
    }
    assert_eq!(
        std::fs::read(run.join("run.json")).expect("read"),
        std::fs::read(root().join("tests/data/run-mixed/run.json")).expect("read")
    );
}

/// Compose and env files come in through the same door: a FIFO as the compose file or the
/// env file, and a compose file under /proc, are refused at once with exit 2.
#[test]
fn compose_and_env_files_are_refused_when_not_regular() {
    let dir = tempfile::tempdir().expect("tempdir");
    let m = dir.path().join("m.toml");
    mkfifo(&dir.path().join("compose.yaml"));
    std::fs::write(
        &m,
        "name = \"t\"\n[compose]\nfiles = [\"compose.yaml\"]\n[axes]\nx = [\"1\"]\n",
    )
    .expect("written");
    let o = within(5, &["plan", p(&m)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    // A regular compose file with a FIFO as its env file.
    std::fs::remove_file(dir.path().join("compose.yaml")).expect("removed");
    std::fs::write(
        dir.path().join("compose.yaml"),
        "services:\n  db:\n    image: dockmatrix/redis:7.0\n",
    )
    .expect("written");
    mkfifo(&dir.path().join("ci.env"));
    std::fs::write(
        &m,
        "name = \"t\"\n[compose]\nfiles = [\"compose.yaml\"]\nenv-file = \"ci.env\"\n[axes]\nx = [\"1\"]\n",
    )
    .expect("written");
    let o = within(5, &["plan", p(&m)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // /proc is refused however it is reached (a symlink in the matrix's folder).
    std::fs::remove_file(dir.path().join("compose.yaml")).expect("removed");
    std::os::unix::fs::symlink("/proc/self/environ", dir.path().join("compose.yaml"))
        .expect("symlink");
    std::fs::write(
        &m,
        "name = \"t\"\n[compose]\nfiles = [\"compose.yaml\"]\n[axes]\nx = [\"1\"]\n",
    )
    .expect("written");
    let o = within(5, &["plan", p(&m)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        !stderr(&o).contains("PATH="),
        "the environment is never echoed"
    );
}
