//! Preflight and the daemon.json lint against real engine images: `dockerd --validate`
//! in a throwaway container (23.0 and later only), and `dockmatrix engines` printing
//! the findings — a lint warning does not stop the engine, whose own words are then
//! shown; a `block` finding does, saying why.
//!
//! Objects carry `io.dockmatrix.run=test-preflight-<random>` and none may be left.

use dockmatrix::engine::daemon_lint::validate;
use dockmatrix::engine::labels::RunLabels;
use dockmatrix::results::FindingLevel;
use serde_json::json;

use crate::common::*;

fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "test-preflight-{:08x}",
        nanos ^ std::process::id().rotate_left(16)
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

#[test]
fn preflight_validate_runs_dockerd_validate_where_it_exists() {
    let images = ["dockmatrix/engine:28.5.2", "dockmatrix/engine:20.10.5"];
    if !docker_available("preflight_validate") || !images_available("preflight_validate", &images) {
        return;
    }
    let id = run_id();
    let labels = RunLabels::new(&id);
    let (removed, accepted, old) = runtime().block_on(async {
        let host = dockmatrix::engine::connect_host()
            .await
            .expect("the host engine answers");
        let removed = validate(
            &host,
            "dockmatrix/engine:28.5.2",
            "28.5.2",
            &json!({"graph": "/x"}),
            &labels,
        )
        .await;
        let accepted = validate(
            &host,
            "dockmatrix/engine:28.5.2",
            "28.5.2+dfsg1-1",
            &json!({"data-root": "/var/lib/docker"}),
            &labels,
        )
        .await;
        let old = validate(
            &host,
            "dockmatrix/engine:20.10.5",
            "20.10.5+dfsg1-1+deb11u4",
            &json!({"graph": "/x"}),
            &labels,
        )
        .await;
        (removed, accepted, old)
    });

    let removed = removed.expect("28.5.2 has --validate");
    assert_eq!(removed.level, FindingLevel::Warn, "{removed:?}");
    assert_eq!(removed.check, "daemon.json");
    // dockerd's own words, not ours.
    assert!(
        removed
            .reason
            .contains("the following directives don't match any configuration option: graph"),
        "{removed:?}"
    );
    let accepted = accepted.expect("28.5.2 has --validate");
    assert_eq!(accepted.level, FindingLevel::Ok, "{accepted:?}");
    assert!(accepted.reason.contains("configuration OK"), "{accepted:?}");
    assert_eq!(old, None, "20.10 has no --validate");
    assert_eq!(labelled_objects(&id), Vec::<String>::new());
}

#[test]
fn engine_preflight_blocks_zfs_and_lints_daemon_json_through_the_binary() {
    let images = ["dockmatrix/engine:28.5.2", "dockmatrix/redis:7.0"];
    if !docker_available("engine_preflight") || !images_available("engine_preflight", &images) {
        return;
    }
    // zfs is refused for certain where the kernel lacks it (as here).
    let kernel_has_zfs = std::fs::read_to_string("/proc/filesystems").is_ok_and(|f| {
        f.lines()
            .any(|l| l.split_whitespace().last() == Some("zfs"))
    });
    if kernel_has_zfs {
        eprintln!("SKIPPED engine_preflight: this kernel has zfs");
        return;
    }
    let (_d, path) = matrix_file(
        r#"
name = "preflight"
[axes]
engine = ["28.5.2", "28.5.2-graph"]
storage-driver = ["vfs", "zfs"]

[[exclude]]
engine = "28.5.2-graph"
storage-driver = "zfs"

[engines."28.5.2"]
kind = "dind"
image = "dockmatrix/engine:28.5.2"

[engines."28.5.2-graph"]
kind = "dind"
image = "dockmatrix/engine:28.5.2"
daemon = { graph = "/x" }

[services.redis]
kind = "redis"
image = "dockmatrix/redis:7.0"
"#,
    );
    let o = dockmatrix(&["engines", path.to_str().expect("utf-8")]);
    let (out, err) = (stdout(&o), stderr(&o));
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    let line = |engine: &str, driver: &str| {
        out.lines()
            .find(|l| {
                let cols: Vec<&str> = l.split('│').map(str::trim).collect();
                cols.get(1) == Some(&engine) && cols.get(2) == Some(&driver)
            })
            .unwrap_or_else(|| panic!("no row {engine}/{driver} in:\n{out}"))
            .to_string()
    };
    // Blocked by preflight (this kernel has no zfs): not started, and saying why.
    let zfs = line("28.5.2", "zfs");
    assert!(zfs.contains("⛔ unsupported"), "{zfs}");
    assert!(
        zfs.contains("not started: preflight") && zfs.contains("/proc/filesystems lacks it"),
        "{zfs}"
    );
    assert!(
        !err.contains("starting 28.5.2/zfs"),
        "a blocked engine is not started:\n{err}"
    );
    assert!(line("28.5.2", "vfs").contains("✅ up"), "{out}");
    // A lint warning does not stop the engine: it refuses, in its own words.
    let graph = line("28.5.2-graph", "vfs");
    assert!(graph.contains("⛔ unsupported"), "{graph}");
    assert!(
        graph.contains("don't match any configuration option: graph"),
        "{graph}"
    );
    let findings: Vec<&str> = out
        .lines()
        .skip_while(|l| *l != "preflight")
        .filter(|l| l.contains("daemon.json"))
        .collect();
    assert!(
        findings.iter().any(|l| l.contains("warn")
            && l.contains("removed in 23.0")
            && l.contains("refuse to start")),
        "lint finding in:\n{out}"
    );
    assert!(
        findings
            .iter()
            .any(|l| l.contains("warn") && l.contains("dockerd --validate")),
        "validate finding in:\n{out}"
    );
    // Every engine × driver has its preflight, e.g. the kernel check of vfs engines.
    assert!(
        out.lines().any(|l| l.contains("28.5.2")
            && l.contains("vfs")
            && l.contains("kernel")
            && l.contains("ok")),
        "{out}"
    );
}
