//! Getting the tool: `--version` names the commit and the build date; completions and the
//! man page come from clap's own generators; `cargo install --path .` works; the tool's
//! own image (`scripts/setup.sh tool`) runs `plan` and a one-cell run beside the host
//! engine, as README.md documents it for GitLab CI and Jenkins.

use std::process::Command;

use crate::common::*;

#[test]
fn version_names_the_commit_and_the_build_date() {
    let o = dockmatrix(&["--version"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    let re = regex::Regex::new(
        r"^dockmatrix (\d+\.\d+\.\d+) \(commit ([0-9a-f]{12}|unknown), built (\d{4}-\d{2}-\d{2})\)\n$",
    )
    .expect("regex");
    let caps = re
        .captures(&out)
        .unwrap_or_else(|| panic!("unexpected --version: {out:?}"));
    assert_eq!(&caps[1], env!("CARGO_PKG_VERSION"));
    // In a checkout, the commit the binary was built from is HEAD.
    if let Ok(head) = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(root())
        .output()
        && head.status.success()
    {
        assert_eq!(&caps[2], String::from_utf8_lossy(&head.stdout).trim());
    }
}

#[test]
fn completions_and_man_page_come_from_clap() {
    for (shell, marker) in [
        ("bash", "_dockmatrix()"),
        ("zsh", "#compdef dockmatrix"),
        ("fish", "complete -c dockmatrix"),
        ("elvish", "dockmatrix"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let o = dockmatrix(&["completions", shell]);
        assert_eq!(o.status.code(), Some(0), "{shell}: {}", stderr(&o));
        let out = stdout(&o);
        assert!(out.contains(marker), "{shell}: no {marker:?}");
        assert!(out.contains("partition"), "{shell} completes --partition");
    }
    let o = dockmatrix(&["completions", "tcsh"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );

    let o = dockmatrix(&["man"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let man = stdout(&o);
    assert!(man.contains(".TH dockmatrix 1"), "{man}");
    for sub in ["plan", "run", "merge", "completions"] {
        assert!(man.contains(sub), "the man page lists `{sub}`");
    }
}

/// `cargo install --path .` into a temporary root, offline, reusing this checkout's
/// compiled dependencies (`--debug`, the same target folder). Dependencies built with
/// other features for the tests are compiled again: 78 s on the shared 2-core machine
/// (2026-12-01), so it runs on demand (`cargo nextest run --profile ci --run-ignored only
/// -E 'test(/cargo_install/)'`) and `scripts/test.sh` does not wait for it.
#[test]
#[ignore = "over a minute of compiling; run on demand"]
fn cargo_install_into_a_temporary_root() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let dest = tempfile::tempdir().expect("tempdir");
    let t = std::time::Instant::now();
    let o = Command::new(cargo)
        .args([
            "install",
            "--path",
            ".",
            "--offline",
            "--locked",
            "--debug",
            "--root",
        ])
        .arg(dest.path())
        .arg("--target-dir")
        .arg(root().join("target"))
        .current_dir(root())
        .output()
        .expect("cargo runs");
    assert!(
        o.status.success(),
        "cargo install failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    eprintln!("cargo install in {:?}", t.elapsed());
    let bin = dest.path().join("bin").join("dockmatrix");
    let o = Command::new(&bin)
        .args(["plan", "matrices/demo.toml", "--format", "json"])
        .current_dir(root())
        .output()
        .expect("the installed binary runs");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("\"cells\""));
}

const TOOL_IMAGE: &str = concat!("dockmatrix/dockmatrix:", env!("CARGO_PKG_VERSION"));
const REDIS_IMAGE: &str = "dockmatrix/redis:7.0";

/// `docker run` of the tool's image as README.md documents it: the host's network, the
/// engine's socket, `dir` at the same path inside and outside, working there.
fn in_tool_image(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let dir = dir.to_str().expect("utf-8");
    let mount = format!("{dir}:{dir}");
    let mut all = vec![
        "run",
        "--rm",
        "--network",
        "host",
        "-v",
        "/var/run/docker.sock:/var/run/docker.sock",
        "-v",
        &mount,
        "-w",
        dir,
        "-e",
        "NO_COLOR=1",
        // Tests leave no engine cache behind on the shared host engine.
        "-e",
        "DOCKMATRIX_ENGINE_CACHE=off",
        TOOL_IMAGE,
    ];
    all.extend(args);
    Command::new("docker")
        .args(&all)
        .output()
        .expect("docker runs")
}

#[test]
fn tool_image_runs_plan_and_a_one_cell_run_beside_the_host_engine() {
    if !docker_available("tool_image")
        || !images_available("tool_image", &["dockmatrix/base:bookworm", REDIS_IMAGE])
    {
        return;
    }
    // This test's own build of the binary goes into the image (setup.sh's recipe then
    // names that binary, so a later plain `setup.sh tool` builds a release one again).
    let o = Command::new(root().join("scripts/setup.sh"))
        .arg("tool")
        .env("DOCKMATRIX_TOOL_BIN", env!("CARGO_BIN_EXE_dockmatrix"))
        .current_dir(root())
        .output()
        .expect("setup.sh runs");
    assert!(
        o.status.success(),
        "setup.sh tool:\n{}\n{}",
        stdout(&o),
        stderr(&o)
    );

    // `plan` in the image: the same cells as on the host.
    let inside = in_tool_image(&root(), &["plan", "matrices/demo.toml", "--format", "json"]);
    assert!(inside.status.success(), "{}", stderr(&inside));
    let outside = dockmatrix(&["plan", "matrices/demo.toml", "--format", "json"]);
    assert_eq!(stdout(&inside), stdout(&outside));

    // A one-cell run on the host engine from inside the image: the service's published
    // port is reached over the host's network, the run folder lands on the host.
    let (dir, matrix) = matrix_file(
        r#"
name = "tool-image"
[axes]
redis = ["7.0"]

[services.redis]
kind = "redis"
image = "dockmatrix/redis:{version}"
ports = [6379]
"#,
    );
    let run_dir = dir.path().join("run");
    let o = in_tool_image(
        dir.path(),
        &[
            "run",
            matrix.to_str().expect("utf-8"),
            "--out",
            run_dir.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    let run = run_json(&run_dir);
    assert_eq!(run["cells"][0]["status"], "pass", "{run}");
    assert!(labelled_objects(run["run_id"].as_str().expect("id")).is_empty());
}
