//! What the host engine says of a dind engine that stopped answering: its container
//! exited, was removed or is paused (the engine itself answers nothing then).

use std::time::Duration;

use bollard::Docker;

use super::{EngineHandle, is_not_found};

/// What the host engine says of a dind engine that stopped answering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineTrouble {
    /// Its container is no longer running: the engine's exit, in words
    /// (`exited with code 137`, `was OOM-killed`).
    Gone(String),
    /// Its container is paused (frozen): nothing inside it answers.
    Paused,
}

impl EngineTrouble {
    /// `the engine `28.5.2`'s container exited with code 137`, for a cell's reason.
    pub fn describe(&self, engine: &str) -> String {
        match self {
            EngineTrouble::Gone(how) => format!("the engine `{engine}`'s container {how}"),
            EngineTrouble::Paused => {
                format!(
                    "the engine `{engine}`'s container is paused (frozen): nothing in it answers"
                )
            }
        }
    }
}

/// Whether a dind engine's container still runs, asked of the host engine (the dind
/// engine itself may be dead or frozen). `None` while it runs, for other kinds of
/// engine, and when the host cannot say (within 10 s).
pub async fn dind_trouble(host: &Docker, engine: &EngineHandle) -> Option<EngineTrouble> {
    let d = engine.dind.as_ref()?;
    let inspect = tokio::time::timeout(
        Duration::from_secs(10),
        host.inspect_container(&d.container, None),
    )
    .await;
    let state = match inspect {
        Err(_) => return None,
        Ok(Err(e)) if is_not_found(&e) => {
            return Some(EngineTrouble::Gone("was removed".to_string()));
        }
        Ok(Err(_)) => return None,
        Ok(Ok(i)) => i.state?,
    };
    if state.paused == Some(true) {
        return Some(EngineTrouble::Paused);
    }
    if state.running == Some(true) {
        return None;
    }
    let mut how = match state.exit_code {
        Some(code) => format!("exited with code {code}"),
        None => "is not running".to_string(),
    };
    if state.oom_killed == Some(true) {
        how.push_str(" (OOM-killed)");
    }
    if let Some(err) = state.error.filter(|e| !e.is_empty()) {
        how.push_str(&format!(": {err}"));
    }
    Some(EngineTrouble::Gone(how))
}

/// The host engine records a killed container's exit a moment after the connections into
/// it broke (which is what failed the cell): when the engine itself does not answer, the
/// host is asked again for up to 10 s.
pub async fn settled_trouble(host: &Docker, engine: &EngineHandle) -> Option<EngineTrouble> {
    engine.dind.as_ref()?;
    if let Some(t) = dind_trouble(host, engine).await {
        return Some(t);
    }
    let answers = tokio::time::timeout(Duration::from_secs(3), engine.docker.ping())
        .await
        .is_ok_and(|r| r.is_ok());
    if answers {
        return None;
    }
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if let Some(t) = dind_trouble(host, engine).await {
            return Some(t);
        }
    }
    None
}
