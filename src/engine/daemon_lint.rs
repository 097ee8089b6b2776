//! The daemon.json lint: keys an engine version no longer accepts (or accepts only as
//! deprecated), from one cited table, and — for engines that have it (23.0 and later) —
//! `dockerd --validate` run in a throwaway container of the engine image.
//!
//! Lint findings are warnings: the engine is still started, so that its own words are
//! recorded; the lint says beforehand why it is going to refuse.

use std::time::Duration;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptions, RemoveContainerOptions, UploadToContainerOptions, WaitContainerOptions,
};
use futures_util::StreamExt;
use serde_json::Value;

use super::labels::{self, RunLabels};
use super::version::package_version;
use crate::results::{Finding, FindingLevel};

/// Where in daemon.json a key lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// A top-level key.
    Key,
    /// An entry of `storage-opts` (`name=value`), by name.
    StorageOpt,
    /// A key of `log-opts`.
    LogOpt,
    /// A value of a top-level key: `(key, value)`.
    Value(&'static str),
}

/// One removed or renamed daemon.json setting.
#[derive(Debug, Clone, Copy)]
pub struct KeyChange {
    pub name: &'static str,
    pub place: Place,
    /// Deprecated from this engine version on (accepted, with a warning at most).
    pub deprecated: Option<&'static str>,
    /// From this engine version on, the setting is gone.
    pub removed: Option<&'static str>,
    /// Whether an engine at or above `removed` refuses to start with it (checked by hand
    /// with the engine images of DESIGN.md), rather than ignoring it.
    pub refused: bool,
    /// What to use instead.
    pub instead: Option<&'static str>,
    pub source: &'static str,
}

/// Every daemon.json change the lint knows, with its source. Versions are the
/// deprecated-features page's; `refused` was seen with 26.1.5 and 28.5.2 (and 20.10.x
/// accepting the key) on this project's machines.
pub const KEY_CHANGES: &[KeyChange] = &[
    KeyChange {
        name: "graph",
        place: Place::Key,
        deprecated: Some("17.05"),
        removed: Some("23.0"),
        refused: true,
        instead: Some("data-root"),
        source: "https://docs.docker.com/engine/deprecated/#-g-and---graph-flags-on-dockerd",
    },
    KeyChange {
        name: "cluster-store",
        place: Place::Key,
        deprecated: Some("20.10"),
        removed: Some("23.0"),
        refused: true,
        instead: Some("Swarm mode (classic Swarm and external key/value stores are gone)"),
        source: "https://docs.docker.com/engine/deprecated/#classic-swarm-and-overlay-networks-using-cluster-store",
    },
    KeyChange {
        name: "cluster-advertise",
        place: Place::Key,
        deprecated: Some("20.10"),
        removed: Some("23.0"),
        refused: true,
        instead: Some("Swarm mode (classic Swarm and external key/value stores are gone)"),
        source: "https://docs.docker.com/engine/deprecated/#classic-swarm-and-overlay-networks-using-cluster-store",
    },
    KeyChange {
        name: "cluster-store-opts",
        place: Place::Key,
        deprecated: Some("20.10"),
        removed: Some("23.0"),
        refused: true,
        instead: Some("Swarm mode (classic Swarm and external key/value stores are gone)"),
        source: "https://docs.docker.com/engine/deprecated/#classic-swarm-and-overlay-networks-using-cluster-store",
    },
    KeyChange {
        name: "disable-legacy-registry",
        place: Place::Key,
        deprecated: None,
        // "dockerd will fail to start when set" from 17.12; the flag itself went in 19.03.
        removed: Some("17.12"),
        refused: true,
        instead: None,
        source: "https://docs.docker.com/engine/deprecated/#--disable-legacy-registry-override-daemon-option",
    },
    KeyChange {
        name: "oom-score-adjust",
        place: Place::Key,
        deprecated: Some("24.0"),
        // No effect from 25.0, refused from 26.0 (docker/cli#5723: "no longer functional
        // since v25.0; fully removed in v26.0").
        removed: Some("26.0"),
        refused: true,
        instead: Some("the OOM score of the service manager (systemd OOMScoreAdjust)"),
        source: "https://docs.docker.com/engine/deprecated/#oom-score-adjust-for-the-daemon",
    },
    KeyChange {
        name: "api-cors-header",
        place: Place::Key,
        deprecated: Some("27.0"),
        removed: Some("28.0"),
        refused: true,
        instead: Some("a reverse proxy"),
        source: "https://docs.docker.com/engine/deprecated/#api-cors-headers",
    },
    KeyChange {
        name: "overlay2.override_kernel_check",
        place: Place::StorageOpt,
        deprecated: Some("19.03"),
        removed: Some("24.0"),
        // `dockerd --validate` passes it; the engine then fails with "overlay2: unknown
        // option overlay2.override_kernel_check" — only the lint can say so beforehand.
        refused: true,
        instead: None,
        source: "https://docs.docker.com/engine/deprecated/#support-for-the-overlay2override_kernel_check-storage-option",
    },
    KeyChange {
        name: "aufs",
        place: Place::Value("storage-driver"),
        deprecated: Some("19.03"),
        removed: Some("24.0"),
        refused: true,
        instead: Some("overlay2"),
        source: "https://docs.docker.com/engine/deprecated/#aufs-storage-driver",
    },
    KeyChange {
        name: "overlay",
        place: Place::Value("storage-driver"),
        deprecated: Some("18.09"),
        removed: Some("24.0"),
        refused: true,
        instead: Some("overlay2"),
        source: "https://docs.docker.com/engine/deprecated/#legacy-overlay-storage-driver",
    },
    KeyChange {
        name: "devicemapper",
        place: Place::Value("storage-driver"),
        deprecated: Some("18.09"),
        removed: Some("25.0"),
        refused: true,
        instead: Some("overlay2"),
        source: "https://docs.docker.com/engine/deprecated/#device-mapper-storage-driver",
    },
    KeyChange {
        name: "logentries",
        place: Place::Value("log-driver"),
        deprecated: Some("24.0"),
        removed: Some("25.0"),
        // 28.5.2 starts with it (containers are moved to the `local` driver).
        refused: false,
        instead: Some("another log driver (the logentries service shut down in 2022)"),
        source: "https://docs.docker.com/engine/deprecated/#logentries-logging-driver",
    },
    KeyChange {
        name: "fluentd-async-connect",
        place: Place::LogOpt,
        deprecated: Some("20.10"),
        removed: None,
        refused: false,
        instead: Some("fluentd-async"),
        source: "https://docs.docker.com/engine/deprecated/#fluentd-async-connect-log-opt",
    },
];

/// Whether `daemon` uses `c`, and how it is written there (for the reason).
fn uses(daemon: &Value, c: &KeyChange) -> Option<String> {
    match c.place {
        Place::Key => daemon.get(c.name).map(|_| format!("`{}`", c.name)),
        Place::LogOpt => daemon
            .get("log-opts")
            .and_then(|o| o.get(c.name))
            .map(|_| format!("log-opts `{}`", c.name)),
        Place::StorageOpt => daemon
            .get("storage-opts")
            .and_then(Value::as_array)
            .and_then(|opts| {
                opts.iter()
                    .filter_map(Value::as_str)
                    .find(|o| o.split('=').next().map(str::trim) == Some(c.name))
            })
            .map(|o| format!("storage-opts `{o}`")),
        Place::Value(key) => daemon
            .get(key)
            .and_then(Value::as_str)
            .filter(|v| *v == c.name)
            .map(|v| format!("`\"{key}\": \"{v}\"`")),
    }
}

/// Lints `daemon` (the daemon.json of engine `engine`) against what Docker
/// `engine_version` accepts: a `warn` per removed or deprecated setting, saying what
/// replaces it and whether the engine will refuse to start; one `ok` when there is none.
/// Keys the table does not know give no finding (`dockerd --validate` judges those).
pub fn lint(engine: &str, engine_version: &str, daemon: &Value) -> Vec<Finding> {
    let version = package_version(engine_version);
    // Whether the engine is at or above `bound`: `None` when its version is unknown.
    let reached = |bound: Option<&str>| {
        let have = version.as_ref()?;
        Some(bound.and_then(package_version).is_some_and(|b| *have >= b))
    };
    let warn = |reason: String| Finding {
        engine: engine.to_string(),
        check: "daemon.json".to_string(),
        level: FindingLevel::Warn,
        reason,
    };
    let mut out = Vec::new();
    for c in KEY_CHANGES {
        let Some(what) = uses(daemon, c) else {
            continue;
        };
        let instead = c.instead.map(|i| format!("; use {i}")).unwrap_or_default();
        let removed_in = c
            .removed
            .map(|r| format!(" (removed in {r})"))
            .unwrap_or_default();
        match (reached(c.removed), reached(c.deprecated)) {
            (Some(true), _) if c.refused => out.push(warn(format!(
                "{what} was removed in {}: Docker {engine_version} will refuse to start with it{instead}",
                c.removed.unwrap_or_default()
            ))),
            (Some(true), _) => out.push(warn(format!(
                "{what} was removed in {}: Docker {engine_version} ignores it{instead}",
                c.removed.unwrap_or_default()
            ))),
            (_, Some(true)) => out.push(warn(format!(
                "{what} is deprecated since {}{removed_in}{instead}",
                c.deprecated.unwrap_or_default()
            ))),
            // Before its deprecation: a valid setting.
            (Some(false), _) => {}
            // The engine's version is not known: say what is known of the setting.
            (None, _) => out.push(warn(format!(
                "{what}: the engine's version is unknown{}{removed_in}{instead}",
                c.deprecated
                    .map(|d| format!("; deprecated since {d}"))
                    .unwrap_or_default()
            ))),
        }
    }
    if out.is_empty() {
        out.push(Finding {
            engine: engine.to_string(),
            check: "daemon.json".to_string(),
            level: FindingLevel::Ok,
            reason: format!(
                "no removed or deprecated setting known for Docker {}",
                if engine_version.is_empty() {
                    "?"
                } else {
                    engine_version
                }
            ),
        });
    }
    out
}

/// How long `dockerd --validate` may take (it reads a file and exits).
const VALIDATE_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `dockerd --validate` on `daemon` in a throwaway container of the engine `image`
/// on the host engine, labelled with `labels` and removed afterwards whatever happens.
/// `None` below Docker 23.0 (or an unknown version), where the flag does not exist; else
/// `ok` ("configuration OK") or a `warn` carrying dockerd's own words — also when the
/// container could not be run, saying so.
pub async fn validate(
    host: &Docker,
    image: &str,
    engine_version: &str,
    daemon: &Value,
    labels: &RunLabels,
) -> Option<Finding> {
    let version = package_version(engine_version)?;
    if version < package_version("23.0")? {
        return None;
    }
    let name = labels::object_name(&["dm", &labels.run_id, "validate", &random_suffix()]);
    let finding = |level, reason: String| Finding {
        engine: image.to_string(),
        check: "daemon.json".to_string(),
        level,
        reason,
    };
    let verdict = tokio::time::timeout(
        VALIDATE_TIMEOUT,
        run_validate(host, image, daemon, labels, &name),
    )
    .await;
    // Removed whatever happened, also after a timeout.
    let _ = host
        .remove_container(
            &name,
            Some(RemoveContainerOptions {
                force: true,
                v: true,
                ..Default::default()
            }),
        )
        .await;
    Some(match verdict {
        Ok(Ok((0, _))) => finding(
            FindingLevel::Ok,
            "dockerd --validate: configuration OK".into(),
        ),
        Ok(Ok((code, words))) => finding(
            FindingLevel::Warn,
            format!(
                "dockerd --validate (exit {code}): {}",
                if words.is_empty() {
                    "no output".into()
                } else {
                    words
                }
            ),
        ),
        Ok(Err(e)) => finding(
            FindingLevel::Warn,
            format!("dockerd --validate could not run: {e}"),
        ),
        Err(_) => finding(
            FindingLevel::Warn,
            format!(
                "dockerd --validate did not finish within {}s",
                VALIDATE_TIMEOUT.as_secs()
            ),
        ),
    })
}

/// Creates, fills, starts and waits for the validating container: its exit code and
/// its output (secrets masked, joined on one line).
async fn run_validate(
    host: &Docker,
    image: &str,
    daemon: &Value,
    labels: &RunLabels,
    name: &str,
) -> Result<(i64, String), String> {
    let body = ContainerCreateBody {
        image: Some(image.to_string()),
        entrypoint: Some(vec!["dockerd".into()]),
        cmd: Some(vec![
            "--validate".into(),
            "--config-file".into(),
            "/etc/docker/daemon.json".into(),
        ]),
        labels: Some(labels.base()),
        network_disabled: Some(true),
        host_config: Some(HostConfig {
            network_mode: Some("none".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    host.create_container(
        Some(CreateContainerOptions {
            name: Some(name.to_string()),
            ..Default::default()
        }),
        body,
    )
    .await
    .map_err(|e| format!("failed to create a container of `{image}`: {e}"))?;
    let json = serde_json::to_vec_pretty(daemon).map_err(|e| e.to_string())?;
    host.upload_to_container(
        name,
        Some(UploadToContainerOptions {
            path: "/".into(),
            ..Default::default()
        }),
        bollard::body_full(super::dind::tar_one_file("etc/docker/daemon.json", &json).into()),
    )
    .await
    .map_err(|e| format!("failed to write daemon.json into it: {e}"))?;
    host.start_container(name, None)
        .await
        .map_err(|e| format!("failed to start it: {e}"))?;
    // A non-zero exit is an `Err` of bollard's wait stream; the code is read afterwards.
    let mut wait = host.wait_container(name, Some(WaitContainerOptions::default()));
    while wait.next().await.is_some() {}
    let code = host
        .inspect_container(name, None)
        .await
        .map_err(|e| format!("failed to inspect it: {e}"))?
        .state
        .and_then(|s| s.exit_code)
        .unwrap_or(-1);
    let words = super::container_log_tail(host, name, 20)
        .await
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" | ");
    Ok((code, words))
}

/// Names of parallel validations of one run must not clash.
fn random_suffix() -> String {
    format!("{:08x}", rand::random::<u32>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DEPRECATED: &str = "https://docs.docker.com/engine/deprecated/";

    fn warns(f: &[Finding]) -> Vec<&str> {
        f.iter()
            .filter(|x| x.level == FindingLevel::Warn)
            .map(|x| x.reason.as_str())
            .collect()
    }

    #[test]
    fn graph_is_refused_from_23_and_deprecated_before() {
        let d = json!({"graph": "/x"});
        let f = lint("28.5.2", "28.5.2", &d);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].check, "daemon.json");
        assert_eq!(f[0].level, FindingLevel::Warn);
        assert!(f[0].reason.contains("removed in 23.0"), "{f:#?}");
        assert!(f[0].reason.contains("refuse to start"), "{f:#?}");
        assert!(f[0].reason.contains("use data-root"), "{f:#?}");

        let f = lint("20.10.5", "20.10.5+dfsg1-1+deb11u4", &d);
        assert_eq!(f[0].level, FindingLevel::Warn);
        assert!(f[0].reason.contains("deprecated since 17.05"), "{f:#?}");
        assert!(!f[0].reason.contains("refuse"), "{f:#?}");
        assert!(f[0].reason.contains("use data-root"), "{f:#?}");
        // Exactly at the removal version.
        assert!(
            lint("e", "23.0.0", &d)[0]
                .reason
                .contains("refuse to start")
        );
    }

    #[test]
    fn cluster_store_keys_are_each_reported() {
        let d = json!({
            "cluster-store": "consul://kv:8500",
            "cluster-advertise": "eth0:2376",
            "cluster-store-opts": {},
        });
        let w = lint("26.1.5", "26.1.5", &d);
        let w = warns(&w);
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(w.iter().all(|r| r.contains("refuse to start")), "{w:?}");
        let old = lint("20.10.24", "20.10.24", &d);
        assert!(
            warns(&old)
                .iter()
                .all(|r| r.contains("deprecated since 20.10"))
        );
    }

    #[test]
    fn storage_opts_override_kernel_check_removed_in_24() {
        let d =
            json!({"storage-opts": ["overlay2.size=10G", "overlay2.override_kernel_check=true"]});
        let f = lint("26.1.5", "26.1.5", &d);
        let w = warns(&f);
        assert_eq!(w.len(), 1, "{f:#?}");
        assert!(
            w[0].contains("overlay2.override_kernel_check=true"),
            "{w:?}"
        );
        assert!(w[0].contains("removed in 24.0"), "{w:?}");
        assert!(warns(&lint("e", "20.10.24", &d))[0].contains("deprecated since 19.03"));
    }

    #[test]
    fn keys_before_their_deprecation_and_unknown_keys_give_no_warning() {
        // api-cors-header is fine on 26.1 (deprecated in 27.0), oom-score-adjust on 20.10.
        let d = json!({"api-cors-header": "*", "oom-score-adjust": -500, "some-future-key": 1});
        let f = lint("20.10.24", "20.10.24", &d);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].level, FindingLevel::Ok);
        let f = lint("28.5.2", "28.5.2", &d);
        let w = warns(&f);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w.iter()
                .any(|r| r.starts_with("`api-cors-header` was removed in 28.0")),
            "{w:?}"
        );
        assert!(
            w.iter()
                .any(|r| r.starts_with("`oom-score-adjust` was removed in 26.0")),
            "{w:?}"
        );
    }

    #[test]
    fn removed_values_and_log_options() {
        let d = json!({"storage-driver": "devicemapper", "log-driver": "logentries",
                       "log-opts": {"fluentd-async-connect": "true"}});
        let f = lint("28.5.2", "28.5.2", &d);
        let w = warns(&f);
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(
            w.iter()
                .any(|r| r.contains("\"storage-driver\": \"devicemapper\"")
                    && r.contains("refuse to start"))
        );
        assert!(
            w.iter()
                .any(|r| r.contains("logentries") && r.contains("ignores it")),
            "{w:?}"
        );
        assert!(
            w.iter()
                .any(|r| r.contains("fluentd-async-connect") && r.contains("use fluentd-async")),
            "{w:?}"
        );
        // Another value of the same key is fine.
        assert_eq!(
            lint("e", "28.5.2", &json!({"storage-driver": "overlay2"}))[0].level,
            FindingLevel::Ok
        );
    }

    #[test]
    fn an_unknown_engine_version_still_names_the_key() {
        let f = lint("custom", "", &json!({"graph": "/x"}));
        assert_eq!(f[0].level, FindingLevel::Warn);
        assert!(f[0].reason.contains("version is unknown"), "{f:#?}");
        assert!(f[0].reason.contains("removed in 23.0"), "{f:#?}");
    }

    #[test]
    fn a_clean_daemon_json_is_one_ok() {
        let f = lint(
            "28.5.2",
            "28.5.2",
            &json!({"log-driver": "json-file", "data-root": "/d"}),
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].level, FindingLevel::Ok);
        assert_eq!(f[0].engine, "28.5.2");
    }

    #[test]
    fn every_change_is_cited_and_parses() {
        for c in KEY_CHANGES {
            assert!(c.source.starts_with(DEPRECATED), "{c:?}");
            assert!(c.deprecated.is_some() || c.removed.is_some(), "{c:?}");
            for v in [c.deprecated, c.removed].into_iter().flatten() {
                assert!(package_version(v).is_some(), "{c:?}");
            }
        }
    }
}
