//! The engine cache against real dind engines: a cached engine is emptied of what an
//! earlier run left before it serves a cell, a cache whose engine was killed is thrown
//! away, a changed engine image or daemon.json never reuses another's cache, and a small
//! matrix gives the same statuses and check counts with the cache off and on.
//!
//! Every test gives its engines a daemon.json label of its own, so that its cache keys
//! are its own (never another engineer's run's); it removes its cache volumes, leases and
//! state files at the end. Objects carry `io.dockmatrix.run=test-cache-<random>`; the cache
//! volumes are removed at the end.

use std::process::Command;

use dockmatrix::engine::cache::{self, Started};
use dockmatrix::engine::labels::{RunLabels, hostname};
use dockmatrix::engine::{Config, connect_host};
use dockmatrix::matrix::{DindSpec, EngineSpec, EngineTarget};
use serde_json::json;

use crate::common::*;

fn run_id(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "test-cache-{what}-{:08x}",
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

fn dind(image: &str) -> DindSpec {
    DindSpec {
        image: image.into(),
        privileged: None,
        args: Vec::new(),
        env: Default::default(),
        data_volume_opts: Default::default(),
    }
}

fn spec(image: &str) -> EngineSpec {
    EngineSpec {
        name: "28.5.2".into(),
        daemon: None,
        target: EngineTarget::Dind(dind(image)),
    }
}

/// The docker CLI against a dind engine (reached on its private IP, never published).
fn inner(s: &Started, args: &[&str]) -> String {
    let host = format!("tcp://{}:2375", s.handle.publish_ip);
    let o = Command::new("docker")
        .arg("-H")
        .arg(&host)
        .args(args)
        .output()
        .expect("docker runs");
    assert!(
        o.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn lines(s: String) -> Vec<String> {
    let mut v: Vec<String> = s
        .lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect();
    v.sort();
    v
}

async fn start(
    host: &bollard::Docker,
    spec: &EngineSpec,
    daemon: &serde_json::Value,
    labels: &RunLabels,
) -> Started {
    let config = Config {
        driver: Some("overlay2"),
        daemon: Some(daemon),
        daemon_config: None,
        ro_folders: &[],
        containerd: false,
    };
    cache::start(host, Some(spec), config, labels, true)
        .await
        .unwrap_or_else(|e| panic!("the engine starts: {e}"))
}

async fn release(host: &bollard::Docker, s: &Started) {
    match &s.lease {
        Some(l) => cache::release(host, &s.handle, l).await,
        None => dockmatrix::engine::release(host, &s.handle).await,
    }
}

/// Removes the test's cache volumes and leases.
fn remove_caches(keys: &[String]) {
    for key in keys {
        let _ = Command::new("docker")
            .args(["rm", "-f", &format!("dm-cache-{key}-lease")])
            .output();
        let _ = Command::new("docker")
            .args(["volume", "rm", "-f", &cache::volume_name(key)])
            .output();
        let _ = std::fs::remove_file(
            dockmatrix::engine::images::cache_dir()
                .join("engines")
                .join(format!("{key}.json")),
        );
    }
}

fn key_of(image: &str, daemon: &serde_json::Value) -> String {
    let id = String::from_utf8_lossy(
        &Command::new("docker")
            .args(["image", "inspect", "-f", "{{.Id}}", image])
            .output()
            .expect("docker runs")
            .stdout,
    )
    .trim()
    .to_string();
    cache::key(&id, Some("overlay2"), Some(daemon), false, &dind(image))
}

#[test]
fn a_cached_engine_is_emptied_of_leftovers_and_a_killed_ones_cache_is_thrown_away() {
    let image = "dockmatrix/engine:28.5.2";
    if !docker_available("engine_cache_leftovers")
        || !images_available("engine_cache_leftovers", &[image])
    {
        return;
    }
    let id = run_id("left");
    let labels = RunLabels::new(&id);
    let daemon = json!({"labels": [format!("dockmatrix-test={id}")]});
    let key = key_of(image, &daemon);
    let spec = spec(image);
    runtime().block_on(async {
        let host = connect_host().await.expect("the host engine answers");
        // A first run: fresh; its cell leaves an image (what a cache is for) and a
        // container, a network and a volume (what a crashed cell leaves).
        let first = start(&host, &spec, &daemon, &labels).await;
        assert_eq!(first.handle.facts.cache, "fresh");
        assert!(
            first
                .lease
                .as_ref()
                .is_some_and(|l| !l.cached && l.key == key)
        );
        let empty_tar = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "tar -cf - -T /dev/null | docker -H tcp://{}:2375 import - leftover/tiny:1",
                first.handle.publish_ip
            ))
            .output()
            .expect("sh runs");
        assert!(
            empty_tar.status.success(),
            "{}",
            String::from_utf8_lossy(&empty_tar.stderr)
        );
        inner(&first, &["network", "create", "leftover-net"]);
        inner(&first, &["volume", "create", "leftover-vol"]);
        inner(
            &first,
            &[
                "create",
                "--name",
                "leftover-box",
                "leftover/tiny:1",
                "/nothing",
            ],
        );
        release(&host, &first).await;

        // The next run: cached; everything but the engine's defaults is gone before use.
        let second = start(&host, &spec, &daemon, &labels).await;
        assert_eq!(second.handle.facts.cache, "cached");
        let removed = second.removed.join(", ");
        for what in [
            "container leftover-box",
            "network leftover-net",
            "volume leftover-vol",
        ] {
            assert!(
                second.removed.iter().any(|r| r == what),
                "removed: {removed}"
            );
        }
        assert_eq!(lines(inner(&second, &["ps", "-aq"])), Vec::<String>::new());
        assert_eq!(
            lines(inner(&second, &["network", "ls", "--format", "{{.Name}}"])),
            ["bridge", "host", "none"]
        );
        assert_eq!(
            lines(inner(&second, &["volume", "ls", "-q"])),
            Vec::<String>::new()
        );
        assert_eq!(
            inner(&second, &["images", "-q", "leftover/tiny:1"])
                .lines()
                .count(),
            1,
            "the cache keeps images"
        );
        release(&host, &second).await;

        // A run whose process died while its engine ran (its lease's owner is gone, the
        // engine was never stopped): the next run must not trust that data.
        let dead = RunLabels {
            run_id: labels.run_id.clone(),
            owner: format!("{}:999999999", hostname()),
        };
        let killed = start(&host, &spec, &daemon, &dead).await;
        assert_eq!(killed.handle.facts.cache, "cached");
        let container = killed.handle.dind.as_ref().expect("dind").container.clone();
        let o = Command::new("docker")
            .args(["rm", "-f", &container])
            .output()
            .expect("docker runs");
        assert!(o.status.success());
        let after = start(&host, &spec, &daemon, &labels).await;
        assert_eq!(
            after.handle.facts.cache, "fresh",
            "a killed engine's cache is thrown away"
        );
        assert_eq!(
            inner(&after, &["images", "-q"]),
            "",
            "nothing of the old data is left"
        );
        release(&host, &after).await;
    });
    remove_caches(&[key]);
    assert_eq!(labelled_objects(&id), Vec::<String>::new());
}

#[test]
fn a_changed_engine_image_or_daemon_config_never_reuses_the_old_cache() {
    let (a, b) = ("dockmatrix/engine:28.5.2", "dockmatrix/engine:20.10.24");
    if !docker_available("engine_cache_keys") || !images_available("engine_cache_keys", &[a, b]) {
        return;
    }
    let id = run_id("keys");
    let labels = RunLabels::new(&id);
    let d1 = json!({"labels": [format!("dockmatrix-test={id}")]});
    let d2 = json!({"labels": [format!("dockmatrix-test={id}")], "log-driver": "local"});
    let keys = vec![key_of(a, &d1), key_of(a, &d2), key_of(b, &d1)];
    runtime().block_on(async {
        let host = connect_host().await.expect("the host engine answers");
        let first = start(&host, &spec(a), &d1, &labels).await;
        assert_eq!(first.handle.facts.cache, "fresh");
        release(&host, &first).await;
        // Another daemon.json: another cache.
        let other_config = start(&host, &spec(a), &d2, &labels).await;
        assert_eq!(other_config.handle.facts.cache, "fresh");
        release(&host, &other_config).await;
        // Another engine image under the same engine name: another cache.
        let other_image = start(&host, &spec(b), &d1, &labels).await;
        assert_eq!(other_image.handle.facts.cache, "fresh");
        assert!(other_image.handle.facts.server_version.starts_with("20.10"));
        release(&host, &other_image).await;
        // The first again: its own cache, kept.
        let again = start(&host, &spec(a), &d1, &labels).await;
        assert_eq!(again.handle.facts.cache, "cached");
        assert!(again.handle.facts.server_version.starts_with("28.5"));
        // While it holds its cache, a concurrent engine of the same key starts fresh.
        let concurrent = start(&host, &spec(a), &d1, &labels).await;
        assert!(concurrent.lease.is_none(), "the cache is busy");
        assert_eq!(concurrent.handle.facts.cache, "fresh");
        release(&host, &concurrent).await;
        release(&host, &again).await;
    });
    let mut distinct = keys.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), 3);
    remove_caches(&keys);
    assert_eq!(labelled_objects(&id), Vec::<String>::new());
}

#[test]
fn statuses_and_check_counts_are_the_same_with_the_cache_off_and_on() {
    let images = ["dockmatrix/engine:28.5.2", "dockmatrix/redis:7.0"];
    if !docker_available("engine_cache_same") || !images_available("engine_cache_same", &images) {
        return;
    }
    let id = run_id("same");
    let matrix = format!(
        r#"
name = "engine-cache-same"
scenarios = ["checks.toml"]
[axes]
engine = ["28.5.2"]
storage-driver = ["overlay2"]
redis = ["7.0"]
[engines."28.5.2"]
kind = "dind"
image = "dockmatrix/engine:28.5.2"
daemon = {{ labels = ["dockmatrix-test={id}"] }}
[services.redis]
kind = "redis"
image = "dockmatrix/redis:{{version}}"
"#,
    );
    let (mdir, path) = matrix_file(&matrix);
    std::fs::write(
        mdir.path().join("checks.toml"),
        r#"kind = "connectivity"
[[check]]
name = "cache: redis answers PING"
service = "redis"
redis = ["PING"]
expect = { reply = "PONG" }
[[check]]
name = "cache: redis keeps a key"
service = "redis"
redis = [["SET", "k", "v"], ["GET", "k"]]
expect = { reply = "v" }
[[check]]
name = "cache: redis is reachable"
reach = "redis"
[[check]]
name = "cache: a check that is skipped"
service = "redis"
when = { redis = ">=99" }
redis = ["PING"]
"#,
    )
    .expect("scenario written");
    let out = tempfile::tempdir().expect("tempdir");
    let mut summaries = Vec::new();
    for (i, flag) in ["off", "on", "on"].into_iter().enumerate() {
        let folder = out.path().join(format!("run{i}"));
        let o = Command::new(env!("CARGO_BIN_EXE_dockmatrix"))
            .args([
                "run",
                path.to_str().expect("utf-8"),
                "--engine-cache",
                flag,
                "--out",
            ])
            .arg(&folder)
            .env("NO_COLOR", "1")
            .output()
            .expect("dockmatrix runs");
        assert_eq!(o.status.code(), Some(0), "run {i} ({flag}): {}", stderr(&o));
        let run = run_json(&folder);
        let c = &run["cells"][0];
        // The engine's own start and image load, measured where it was prepared.
        for field in ["start_ms", "images_ms"] {
            assert!(
                c["engine"][field].as_u64().is_some_and(|ms| ms > 0),
                "run {i}: engine.{field} missing: {}",
                c["engine"]
            );
        }
        let checks = c["checks"].as_array().expect("checks");
        let statuses: Vec<String> = checks
            .iter()
            .map(|ch| format!("{}={}", ch["name"], ch["status"]))
            .collect();
        summaries.push((
            c["status"].to_string(),
            checks.len(),
            statuses,
            c["engine"]["cache"].to_string(),
        ));
    }
    let caches: Vec<&str> = summaries.iter().map(|s| s.3.as_str()).collect();
    assert_eq!(caches, ["\"fresh\"", "\"fresh\"", "\"cached\""]);
    assert!(summaries[0].1 > 0, "the suite ran checks");
    for s in &summaries[1..] {
        assert_eq!(
            (&s.0, s.1, &s.2),
            (&summaries[0].0, summaries[0].1, &summaries[0].2)
        );
    }
    // The cache survives `clean --all` is not tested here (it is every engineer's);
    // remove this test's cache.
    let image_id = String::from_utf8_lossy(
        &Command::new("docker")
            .args([
                "image",
                "inspect",
                "-f",
                "{{.Id}}",
                "dockmatrix/engine:28.5.2",
            ])
            .output()
            .expect("docker")
            .stdout,
    )
    .trim()
    .to_string();
    let key = cache::key(
        &image_id,
        Some("overlay2"),
        Some(&json!({"labels": [format!("dockmatrix-test={id}")]})),
        false,
        &dind("dockmatrix/engine:28.5.2"),
    );
    remove_caches(&[key]);
}
