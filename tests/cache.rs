//! `dockmatrix cache prune` against the real host engine: a cache file named by an image id
//! the engine has is kept, one whose image is gone is removed, an abandoned `.partial` is
//! removed, and `--older-than` removes what was not used recently.

use std::time::{Duration, SystemTime};

use crate::common::*;

const REDIS_IMAGE: &str = "dockmatrix/redis:7.0";

#[test]
fn cache_prune_removes_what_no_image_or_budget_keeps() {
    if !docker_available("cache_prune") || !images_available("cache_prune", &[REDIS_IMAGE]) {
        return;
    }
    let id = image_id(REDIS_IMAGE);
    let cache = tempfile::tempdir().expect("cache");
    let images = cache.path().join("images");
    std::fs::create_dir_all(&images).expect("mkdir");
    let present = images.join(format!("{id}.tar"));
    let gone = images.join(format!("{}.tar", "0".repeat(64)));
    // A pid that has exited: its unfinished save is abandoned.
    let mut child = std::process::Command::new("true").spawn().expect("spawn");
    let dead_pid = child.id();
    child.wait().expect("wait");
    let partial = images.join(format!("{id}.tar.{dead_pid}.partial"));
    for f in [&present, &gone, &partial] {
        std::fs::write(f, b"not really a tar").expect("write");
    }
    let home = tempfile::tempdir().expect("home");
    let env = [
        ("HOME", home.path().to_str().expect("utf-8")),
        ("DOCKMATRIX_CACHE", cache.path().to_str().expect("utf-8")),
    ];
    let o = dockmatrix_env(&["cache", "prune"], &env);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(present.exists(), "an image the engine has is kept:\n{out}");
    assert!(!gone.exists(), "{out}");
    assert!(!partial.exists(), "{out}");
    assert!(
        out.contains("its image no longer exists on the host engine"),
        "{out}"
    );
    assert!(out.contains("removed 2 files"), "{out}");

    // Not used for two days: --older-than 1d removes it too.
    let two_days_ago = SystemTime::now() - Duration::from_secs(2 * 86_400);
    std::fs::File::options()
        .write(true)
        .open(&present)
        .and_then(|f| f.set_modified(two_days_ago))
        .expect("mtime");
    let o = dockmatrix_env(&["cache", "prune", "--older-than", "36h"], &env);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!present.exists(), "{}", stdout(&o));
    assert!(stdout(&o).contains("unused for 48 h"), "{}", stdout(&o));

    // A bad budget is a usage error.
    let o = dockmatrix_env(&["cache", "prune", "--max-size", "lots"], &env);
    assert_eq!(o.status.code(), Some(2));
}

/// The hex digest of a local image's id.
fn image_id(image: &str) -> String {
    let o = std::process::Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", image])
        .output()
        .expect("docker runs");
    String::from_utf8_lossy(&o.stdout)
        .trim()
        .trim_start_matches("sha256:")
        .to_string()
}

/// `clean` judges a run's owner alive by kill(pid, 0), not by /proc: run here with /proc
/// unmounted (a private mount namespace), as on a macOS runner, it removes a dead owner's
/// objects and keeps a live one's.
#[test]
fn clean_tells_live_from_dead_owners_without_proc() {
    if !docker_available("clean_without_proc") {
        return;
    }
    let probe = std::process::Command::new("unshare")
        .args([
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            "umount -l /proc",
        ])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("SKIPPED clean_without_proc: cannot unshare a mount namespace here");
        return;
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("hostname")
        .trim()
        .to_string();
    let mut child = std::process::Command::new("true").spawn().expect("spawn");
    let dead_pid = child.id();
    child.wait().expect("wait");
    let tag = format!("{}-{dead_pid}", std::process::id());
    let dead_run = format!("test-noproc-dead-{tag}");
    let live_run = format!("test-noproc-live-{tag}");
    for (run, pid) in [(&dead_run, dead_pid), (&live_run, std::process::id())] {
        let o = std::process::Command::new("docker")
            .args([
                "volume",
                "create",
                "--label",
                &format!("io.dockmatrix.run={run}"),
                "--label",
                &format!("io.dockmatrix.owner={host}:{pid}"),
                &format!("dm-{run}"),
            ])
            .output()
            .expect("docker runs");
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let o = std::process::Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c"])
        .arg(format!(
            "umount -l /proc && test ! -e /proc/self && exec {} clean",
            env!("CARGO_BIN_EXE_dockmatrix")
        ))
        .env("NO_COLOR", "1")
        .output()
        .expect("unshare runs");
    let (out, err) = (stdout(&o), stderr(&o));
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(
        labelled_objects(&dead_run).is_empty(),
        "a dead owner's volume is removed:\n{out}\n{err}"
    );
    assert_eq!(
        labelled_objects(&live_run),
        vec![format!("volume:dm-{live_run}")],
        "a live owner's volume is kept:\n{out}\n{err}"
    );
    assert!(
        err.contains(&format!("run {live_run} is still running")),
        "{err}"
    );
    let o = dockmatrix(&["clean", "--run", &live_run]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(labelled_objects(&live_run).is_empty());
}
