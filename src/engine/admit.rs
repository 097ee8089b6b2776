//! One engine admission, the same for `run` and `dockmatrix engines`: preflight before the
//! start (a dind engine: its image, driver, daemon.json), start or connect, measure, then
//! preflight of what was measured (a host or endpoint engine, which runs already), and one
//! judgement of the findings: any `block` refuses the engine, with the same reason.

use std::future::Future;

use super::labels::RunLabels;
use super::{Config, EngineError, EngineHandle, Host, preflight};
use crate::matrix::EngineSpec;
use crate::results::{EngineFacts, Finding, FindingLevel};

/// What became of an engine, and everything preflight and the daemon.json lint said.
pub struct Admitted<T> {
    pub outcome: Admission<T>,
    pub findings: Vec<Finding>,
}

pub enum Admission<T> {
    /// Started (or connected), measured, and nothing blocks it.
    Up(T),
    /// A finding before the start blocked it: not started.
    Blocked { reason: String },
    /// It runs already (host, endpoint), but what it measured blocks its cells. The
    /// engine is kept so that its facts can be shown; it was not started by us.
    BlockedUp { engine: T, reason: String },
    /// The start or connection failed.
    Failed(EngineError),
}

impl<T> Admission<T> {
    /// The outcome as `run` takes it: a blocked engine is a refusal (`unsupported`)
    /// with the blocking findings as its reason.
    pub fn into_result(self) -> Result<T, EngineError> {
        match self {
            Admission::Up(t) => Ok(t),
            Admission::Blocked { reason } | Admission::BlockedUp { reason, .. } => {
                Err(EngineError::Blocked { reason })
            }
            Admission::Failed(e) => Err(e),
        }
    }
}

/// The judgement of a set of findings: `Err` with the blocking ones in one line
/// (`check: reason | …`) when any blocks.
pub fn judge(findings: &[Finding]) -> Result<(), String> {
    if findings.iter().any(|f| f.level == FindingLevel::Block) {
        Err(preflight::blocking(findings))
    } else {
        Ok(())
    }
}

/// Preflight of an engine that runs already, from what it measured and the platforms of
/// the images as it holds them. Pure.
pub fn after_measure(facts: &EngineFacts, images: Vec<preflight::ImagePlatform>) -> Vec<Finding> {
    preflight::check(&preflight::Subject::from_facts(facts, images))
}

/// Admits the engine of `spec` (`None`: the host engine) for cells whose services use
/// `images`. `start` starts or connects to it (the pool starts on the engine cache,
/// `engines` without); `handle` reads the engine out of what `start` gave.
pub async fn admit<T, F, Fut>(
    host: &Host,
    spec: Option<&EngineSpec>,
    config: Config<'_>,
    images: &[String],
    labels: &RunLabels,
    handle: fn(&T) -> &EngineHandle,
    start: F,
) -> Admitted<T>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, EngineError>>,
{
    let dind = spec.and_then(|s| Some((s.name.as_str(), s.dind()?)));
    let mut findings = Vec::new();
    if let Some((name, dind)) = dind {
        findings = preflight::before_start(
            host,
            name,
            dind,
            config.driver,
            config.daemon,
            images,
            labels,
        )
        .await;
        if let Err(reason) = judge(&findings) {
            return Admitted {
                outcome: Admission::Blocked { reason },
                findings,
            };
        }
    }
    let started = match start().await {
        Ok(t) => t,
        Err(e) => {
            return Admitted {
                outcome: Admission::Failed(e),
                findings,
            };
        }
    };
    if dind.is_none() {
        let h = handle(&started);
        let platforms = preflight::image_platforms(&h.docker, images).await;
        findings = after_measure(&h.facts, platforms);
    }
    let outcome = match judge(&findings) {
        Ok(()) => Admission::Up(started),
        Err(reason) if dind.is_none() => Admission::BlockedUp {
            engine: started,
            reason,
        },
        // A dind engine was judged before it started and nothing was added since.
        Err(reason) => Admission::Blocked { reason },
    };
    Admitted { outcome, findings }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::preflight::{ImagePlatform, Platform};

    fn facts(version: &str, cgroup: &str) -> EngineFacts {
        EngineFacts {
            name: "host".into(),
            kind: "host".into(),
            server_version: version.into(),
            containerd: "1.7.27".into(),
            runc: "1.2.5".into(),
            storage_driver: "overlay2".into(),
            kernel: "6.1.0".into(),
            cgroup_version: cgroup.into(),
            os: "Debian GNU/Linux 12".into(),
            arch: "x86_64".into(),
            ..EngineFacts::default()
        }
    }

    fn image() -> Vec<ImagePlatform> {
        vec![ImagePlatform {
            reference: "dockmatrix/redis:7.0".into(),
            platform: Some(Platform::new("linux", "amd64")),
        }]
    }

    #[test]
    fn a_running_engine_that_measures_well_is_admitted() {
        let findings = after_measure(&facts("28.5.2", "2"), image());
        assert!(!findings.is_empty(), "every check says something");
        assert_eq!(judge(&findings), Ok(()));
    }

    #[test]
    fn a_running_engine_too_old_for_its_cgroup_is_refused_with_the_blocking_reason() {
        let findings = after_measure(&facts("19.03.15", "2"), image());
        let reason = judge(&findings).expect_err("blocked");
        assert!(
            reason.starts_with("cgroup: ") && reason.contains("cgroup v2 since 20.10"),
            "{reason}"
        );
        assert_eq!(reason, preflight::blocking(&findings));
        // What `run` makes of it: a refusal, with the same reason as `engines` prints.
        let refused = Admission::BlockedUp {
            engine: (),
            reason: reason.clone(),
        }
        .into_result()
        .expect_err("refused");
        assert!(refused.is_refusal());
        assert_eq!(
            refused.to_string(),
            format!("not started: preflight: {reason}")
        );
    }

    #[test]
    fn warnings_alone_do_not_block() {
        let warn = Finding {
            engine: "e".into(),
            check: "runc".into(),
            level: FindingLevel::Warn,
            reason: "unknown".into(),
        };
        assert_eq!(judge(std::slice::from_ref(&warn)), Ok(()));
        let block = Finding {
            level: FindingLevel::Block,
            reason: "too old".into(),
            ..warn.clone()
        };
        assert_eq!(judge(&[warn, block]), Err("runc: too old".into()));
    }
}
