//! What is known of an engine that stopped answering. A dind engine: the host engine says
//! whether its container exited, was removed or is paused (the engine itself answers
//! nothing then). An engine this process did not start (host, endpoint): [`Contact`]
//! holds a stream of its events open for as long as the engine is used, and the engine
//! closes it when it stops or restarts — which a quick restart would otherwise hide (its
//! containers just stopped, as if they had failed).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::query_parameters::EventsOptions;
use futures_util::StreamExt;

use super::{EngineHandle, is_not_found};

/// What the host engine says of a dind engine that stopped answering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineTrouble {
    /// Its container is no longer running: the engine's exit, in words
    /// (`exited with code 137`, `was OOM-killed`).
    Gone(String),
    /// Its container is paused (frozen): nothing inside it answers.
    Paused,
    /// An engine this process did not start (host, endpoint) closed its connection: it
    /// stopped or restarted. How, in words (`closed its connection at 04:19:00 UTC (it
    /// stopped or restarted) and answered again 4.1 s later`), and whether it is back.
    Lost { how: String, back: bool },
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
            EngineTrouble::Lost { how, .. } => format!("the engine `{engine}` {how}"),
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

/// How often a lost engine is asked whether it answers again.
const CONTACT_POLL: Duration = Duration::from_millis(500);
/// Breaks kept per engine (the latest): enough for any cell's reason.
const CONTACT_BREAKS_KEPT: usize = 32;
/// Streams in a row that end at once while the engine answers: something before the
/// engine (a proxy) does not hold them open, and watching stops rather than cry wolf.
const CONTACT_GIVE_UP_AFTER: usize = 5;

/// One break of contact: when the events stream ended, and when the engine answered again.
#[derive(Debug, Clone)]
struct Break {
    at: Instant,
    at_utc: chrono::DateTime<chrono::Utc>,
    back: Option<Instant>,
}

/// Contact with an engine this process did not start, watched through its events stream
/// (filtered to daemon events, so that it carries next to nothing). Clones share the
/// watch; the watching task ends with the last clone.
#[derive(Clone)]
pub struct Contact {
    breaks: Arc<Mutex<Vec<Break>>>,
    _task: Arc<AbortOnDrop>,
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl std::fmt::Debug for Contact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Contact").finish_non_exhaustive()
    }
}

impl Contact {
    /// Starts watching `docker` (an engine that answered a moment ago).
    pub fn watch(docker: Docker) -> Contact {
        let breaks = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn(follow(docker, breaks.clone()));
        Contact {
            breaks,
            _task: Arc::new(AbortOnDrop(task)),
        }
    }

    /// What happened to the engine's contact since `since` (an attempt's start): the
    /// first break within it, or an earlier one the engine had not come back from by
    /// then. `None` when contact held.
    pub fn lost_since(&self, since: Instant) -> Option<EngineTrouble> {
        let breaks = self.breaks.lock().ok()?;
        lost(&breaks, since)
    }

    /// [`Contact::lost_since`], once the engine had time to say it: a cell's connections
    /// break as soon as dockerd begins to stop (it closes its API and stops the
    /// containers), its events stream only as the process exits, seconds later. So when
    /// no break is known and the engine does not answer, the break is waited for, up to
    /// 10 s; an engine that neither answers nor closes (a host gone from the network) is
    /// said not to answer.
    pub async fn settled(&self, docker: &Docker, since: Instant) -> Option<EngineTrouble> {
        if let Some(t) = self.lost_since(since) {
            return Some(t);
        }
        let answers = tokio::time::timeout(Duration::from_secs(3), docker.ping())
            .await
            .is_ok_and(|r| r.is_ok());
        if answers {
            return None;
        }
        for _ in 0..20 {
            tokio::time::sleep(CONTACT_POLL).await;
            if let Some(t) = self.lost_since(since) {
                return Some(t);
            }
        }
        Some(EngineTrouble::Lost {
            how: "does not answer (no reply to a ping within 3 s, and its connection did not close either)".into(),
            back: false,
        })
    }
}

/// The first break of `breaks` within [since, now], or an earlier one the engine had not
/// come back from by `since`, in words.
fn lost(breaks: &[Break], since: Instant) -> Option<EngineTrouble> {
    let b = breaks
        .iter()
        .find(|b| b.at >= since || b.back.is_none_or(|back| back > since))?;
    let at = b.at_utc.format("%H:%M:%S UTC");
    let how = match b.back {
        Some(back) => format!(
            "closed its connection at {at} (it stopped or restarted) and answered again {:.1} s later",
            back.duration_since(b.at).as_secs_f64()
        ),
        None => format!(
            "closed its connection at {at} (it stopped or restarted) and has not answered since"
        ),
    };
    Some(EngineTrouble::Lost {
        how,
        back: b.back.is_some(),
    })
}

/// Holds the engine's events stream open; each time it ends, records a break and waits
/// until the engine answers again.
async fn follow(docker: Docker, breaks: Arc<Mutex<Vec<Break>>>) {
    let mut at_once = 0;
    loop {
        let opened = Instant::now();
        let mut stream = docker.events(Some(EventsOptions {
            filters: Some(HashMap::from([("type".into(), vec!["daemon".into()])])),
            ..Default::default()
        }));
        loop {
            match stream.next().await {
                Some(Ok(_)) => {}
                // The engine (or a proxy before it) answers, but offers no events.
                Some(Err(bollard::errors::Error::DockerResponseServerError { .. })) => return,
                Some(Err(_)) | None => break,
            }
        }
        let at = Instant::now();
        at_once = if at.duration_since(opened) < Duration::from_secs(1) {
            at_once + 1
        } else {
            0
        };
        if let Ok(mut b) = breaks.lock() {
            if b.len() == CONTACT_BREAKS_KEPT {
                b.remove(0);
            }
            b.push(Break {
                at,
                at_utc: chrono::Utc::now(),
                back: None,
            });
        }
        loop {
            tokio::time::sleep(CONTACT_POLL).await;
            let answers = tokio::time::timeout(Duration::from_secs(5), docker.ping())
                .await
                .is_ok_and(|r| r.is_ok());
            if answers {
                break;
            }
        }
        if let Ok(mut b) = breaks.lock()
            && let Some(last) = b.last_mut()
        {
            last.back = Some(Instant::now());
        }
        if at_once >= CONTACT_GIVE_UP_AFTER {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t0: Instant, s: u64) -> Instant {
        t0 + Duration::from_secs(s)
    }

    #[test]
    fn a_break_counts_for_the_attempts_it_overlaps() {
        let t0 = Instant::now();
        let breaks = [Break {
            at: at(t0, 10),
            at_utc: chrono::DateTime::from_timestamp(1_764_649_056, 0).expect("time"),
            back: Some(at(t0, 14)),
        }];
        // Began before the break, or while the engine was away: told.
        for since in [at(t0, 5), at(t0, 12)] {
            assert_eq!(
                lost(&breaks, since),
                Some(EngineTrouble::Lost {
                    how: "closed its connection at 04:17:36 UTC (it stopped or restarted) and answered again 4.0 s later".into(),
                    back: true,
                })
            );
        }
        // Began once it was back: not this attempt's trouble.
        assert_eq!(lost(&breaks, at(t0, 15)), None);
    }

    #[test]
    fn an_engine_still_away_is_said_to_be() {
        let t0 = Instant::now();
        let breaks = [Break {
            at: at(t0, 10),
            at_utc: chrono::DateTime::from_timestamp(1_764_649_056, 0).expect("time"),
            back: None,
        }];
        let Some(EngineTrouble::Lost { how, back }) = lost(&breaks, at(t0, 60)) else {
            panic!("still away");
        };
        assert!(!back);
        assert!(how.ends_with("and has not answered since"), "{how}");
    }
}
