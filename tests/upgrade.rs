//! Upgrade rehearsals against real engines: Debian bullseye's docker.io 20.10.5 upgraded in
//! place to sid's 28.5.2 on the same data volume, with a Redis whose data must survive it,
//! then rolled back; the same upgrade switching the storage driver, and switching to the
//! containerd image store (every image and container disappears, and the finding names
//! the cause); and a daemon.json key (`graph`) that 20.10 accepts and 28.5 refuses. One run
//! of four cells: engines are the expensive part.

use crate::common::*;

const SCENARIO: &str = r#"
kind = "regression"

[[check]]
name = "seed: a Redis key"
phase = "seed"
service = "redis"
redis = [["SET", "upgrade:seed", "old engine"], ["GET", "upgrade:seed"]]
expect = { reply = "old engine" }

[[check]]
name = "redis answers"
service = "redis"
redis = ["PING"]
expect = { reply = "PONG" }

[[check]]
name = "verify: the Redis key survived"
phase = "verify"
service = "redis"
redis = ["GET", "upgrade:seed"]
expect = { reply = "old engine" }
"#;

const MATRIX: &str = r#"
name = "upgrade-test"
scenarios = ["upgrade.toml"]

[axes]
upgrade = ["in-place", "to-vfs", "to-containerd"]
storage-driver = ["overlay2"]
daemon-config = ["plain.json", "graph.json"]
redis = ["7.0"]

[[exclude]]
upgrade = "to-vfs"
daemon-config = "graph.json"

[[exclude]]
upgrade = "to-containerd"
daemon-config = "graph.json"

[[upgrade]]
name = "in-place"
from = "20.10.5"
to = "28.5.2"
rollback = true

[[upgrade]]
name = "to-vfs"
from = "20.10.5"
to = "28.5.2"
to-storage-driver = "vfs"

[[upgrade]]
name = "to-containerd"
from = "20.10.5"
to = "28.5.2"
to-image-store = "containerd"
to-storage-driver = "overlayfs"

[engines."20.10.5"]
kind = "dind"
image = "dockmatrix/engine:20.10.5"

[engines."28.5.2"]
kind = "dind"
image = "dockmatrix/engine:28.5.2"

[services.redis]
kind = "redis"
image = "dockmatrix/redis:{version}"
volumes = ["data:/data"]
"#;

#[test]
fn run_upgrade_rehearsal_keeps_data_rolls_back_and_reports_what_breaks() {
    let images = [
        "dockmatrix/engine:20.10.5",
        "dockmatrix/engine:28.5.2",
        "dockmatrix/redis:7.0",
    ];
    if !docker_available("run_upgrade_rehearsal")
        || !images_available("run_upgrade_rehearsal", &images)
    {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in [
        ("matrix.toml", MATRIX),
        ("upgrade.toml", SCENARIO),
        ("plain.json", r#"{"log-driver": "json-file"}"#),
        ("graph.json", r#"{"graph": "/var/lib/docker"}"#),
    ] {
        std::fs::write(dir.path().join(name), text).expect("written");
    }
    let out = dir.path().join("run");
    let o = dockmatrix(&[
        "run",
        dir.path().join("matrix.toml").to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
        "-j",
        "4",
    ]);
    // Two cells fail (the driver and the image-store switches): exit 1.
    assert_eq!(o.status.code(), Some(1), "stderr: {}", stderr(&o));
    let run = run_json(&out);
    assert_eq!(run["cells"].as_array().map(Vec::len), Some(4), "{run}");
    let from_pkg = image_label(
        "dockmatrix/engine:20.10.5",
        "io.dockmatrix.package.docker.io",
    );
    let to_pkg = image_label(
        "dockmatrix/engine:28.5.2",
        "io.dockmatrix.package.docker.io",
    );

    // In place, with rollback: the same container comes back on 28.5.2 with its data, and
    // again on 20.10.5.
    let clean = cell(
        &run,
        &[("upgrade", "in-place"), ("daemon-config", "plain.json")],
    );
    assert_eq!(clean["status"], "pass", "{clean}");
    let up = &clean["upgrade"];
    let from_v = up["from_engine"]["server_version"]
        .as_str()
        .expect("from version");
    let to_v = up["to_engine"]["server_version"]
        .as_str()
        .expect("to version");
    assert!(
        !from_v.is_empty() && from_pkg.starts_with(from_v),
        "{from_v} vs {from_pkg}"
    );
    assert!(
        !to_v.is_empty() && to_pkg.starts_with(to_v),
        "{to_v} vs {to_pkg}"
    );
    let phases: Vec<(&str, &str)> = up["phases"]
        .as_array()
        .expect("phases")
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or(""),
                p["status"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        phases,
        [
            ("seed", "pass"),
            ("upgrade", "pass"),
            ("verify", "pass"),
            ("rollback", "pass")
        ],
        "{up}"
    );
    assert_eq!(up["data_kept"], true, "{up}");
    assert_eq!(
        up["containers_back"],
        serde_json::json!({"ok": 1, "total": 1})
    );
    assert_eq!(
        up["rollback_containers_back"],
        serde_json::json!({"ok": 1, "total": 1})
    );
    // The verify check ran after the upgrade and after the rollback, and passed each time.
    let survived: Vec<(&str, &str)> = clean["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["name"] == "verify: the Redis key survived")
        .map(|c| {
            (
                c["phase"].as_str().unwrap_or(""),
                c["status"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        survived,
        [("verify", "pass"), ("rollback", "pass")],
        "{clean}"
    );

    // Switching the driver: every image and container of the stack is invisible, and the
    // report says so in words.
    let switched = cell(&run, &[("upgrade", "to-vfs")]);
    assert_eq!(switched["status"], "fail", "{switched}");
    assert_eq!(switched["failed_step"], "verify");
    assert_eq!(switched["upgrade"]["to_engine"]["storage_driver"], "vfs");
    let verify = &switched["upgrade"]["phases"][2];
    assert_eq!(verify["name"], "verify");
    let findings = verify["findings"].to_string();
    assert!(
        findings.contains("the storage driver changed from overlay2 to vfs")
            && findings.contains("sees 0 of 1 images and 0 of 1 containers"),
        "{findings}"
    );
    assert_eq!(
        switched["upgrade"]["containers_back"],
        serde_json::json!({"ok": 0, "total": 1})
    );
    assert_eq!(
        switched["upgrade"]["data_kept"], false,
        "the seeded key is out of reach"
    );

    // Switching to the containerd image store: the same loss, and the finding says the
    // store is the cause (the driver's name changes too, overlay2 → overlayfs).
    let store = cell(&run, &[("upgrade", "to-containerd")]);
    assert_eq!(store["status"], "fail", "{store}");
    assert_eq!(store["failed_step"], "verify");
    let up = &store["upgrade"];
    assert_eq!(up["from_engine"]["image_store"], "graphdriver", "{up}");
    assert_eq!(up["to_engine"]["image_store"], "containerd", "{up}");
    assert_eq!(up["to_engine"]["storage_driver"], "overlayfs", "{up}");
    assert_eq!(up["to_driver"], "overlayfs/containerd", "{up}");
    let findings = up["phases"][2]["findings"].to_string();
    assert!(
        findings.contains("the image store changed from the graph driver overlay2 to containerd (snapshotter overlayfs)")
            && findings.contains("sees 0 of 1 images and 0 of 1 containers"),
        "{findings}"
    );
    assert!(
        !findings.contains("the storage driver changed"),
        "{findings}"
    );
    assert_eq!(
        up["containers_back"],
        serde_json::json!({"ok": 0, "total": 1})
    );
    assert_eq!(up["data_kept"], false, "{up}");
    // `graph` in daemon.json: 20.10.5 runs with it, 28.5.2 refuses to start, in its words.
    let graph = cell(&run, &[("daemon-config", "graph.json")]);
    assert_eq!(graph["status"], "unsupported", "{graph}");
    assert_eq!(graph["failed_step"], "upgrade");
    assert_eq!(
        graph["upgrade"]["phases"][0]["status"], "pass",
        "seeded on 20.10.5"
    );
    let reason = graph["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("don't match any configuration option: graph"),
        "dockerd's own words: {reason}"
    );

    let run_id = run["run_id"].as_str().expect("run id");
    assert_eq!(
        labelled_objects(run_id),
        Vec::<String>::new(),
        "nothing left behind"
    );
}
