//! Per-service resource figures gathered while a cell runs: peak memory, CPU time,
//! restarts and OOM kills (from the engine's stats stream and the container's state).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::StatsOptions;
use futures_util::StreamExt;
use tokio::task::JoinHandle;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Figures {
    pub peak_memory_bytes: u64,
    pub cpu_ms: u64,
    pub restarts: u64,
    pub oom_killed: bool,
    /// Its exit code, when the container is not running.
    pub exit_code: Option<i64>,
}

#[derive(Debug, Default)]
struct State {
    peak: u64,
    /// CPU nanoseconds of earlier runs of the container (the counter restarts with it).
    cpu_done_ns: u64,
    cpu_last_ns: u64,
    oom_seen: bool,
}

/// Follows a container's stats until stopped.
#[derive(Debug)]
pub struct Collector {
    container: String,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl Collector {
    pub fn start(docker: Docker, container: String) -> Collector {
        let state = Arc::new(Mutex::new(State::default()));
        let task = tokio::spawn(follow(docker, container.clone(), state.clone()));
        Collector {
            container,
            state,
            task,
        }
    }

    pub fn stop(&self) {
        self.task.abort();
    }

    /// The figures so far, with restarts and OOM state read from the container now, and
    /// one last stats sample (a short-lived cell may end before the stream's first one).
    pub async fn snapshot(&self, docker: &Docker) -> Figures {
        let mut last = docker.stats(
            &self.container,
            Some(StatsOptions {
                stream: false,
                one_shot: true,
            }),
        );
        if let Some(Ok(st)) = last.next().await {
            record(&self.state, &st);
        }
        let inspect = docker.inspect_container(&self.container, None).await.ok();
        let restarts = inspect
            .as_ref()
            .and_then(|i| i.restart_count)
            .unwrap_or(0)
            .max(0) as u64;
        let oom_now = inspect
            .as_ref()
            .and_then(|i| i.state.as_ref())
            .and_then(|s| s.oom_killed)
            .unwrap_or(false);
        let exit_code = inspect
            .as_ref()
            .and_then(|i| i.state.as_ref())
            .filter(|s| s.running == Some(false))
            .and_then(|s| s.exit_code);
        let s = self
            .state
            .lock()
            .map(|g| (g.peak, g.cpu_done_ns + g.cpu_last_ns, g.oom_seen));
        let (peak, cpu_ns, oom_seen) = s.unwrap_or_default();
        Figures {
            peak_memory_bytes: peak,
            cpu_ms: cpu_ns / 1_000_000,
            restarts,
            oom_killed: oom_now || oom_seen,
            exit_code,
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn follow(docker: Docker, container: String, state: Arc<Mutex<State>>) {
    loop {
        let mut stream = docker.stats(
            &container,
            Some(StatsOptions {
                stream: true,
                one_shot: false,
            }),
        );
        while let Some(Ok(st)) = stream.next().await {
            record(&state, &st);
        }
        // The stream ends when the container stops: record an OOM kill before a restart
        // policy brings it back and clears the flag.
        if let Ok(i) = docker.inspect_container(&container, None).await {
            let oom = i.state.as_ref().and_then(|s| s.oom_killed).unwrap_or(false);
            if oom && let Ok(mut s) = state.lock() {
                s.oom_seen = true;
            }
        } else {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Folds one stats sample into the running figures.
fn record(state: &Mutex<State>, st: &bollard::models::ContainerStatsResponse) {
    let mem = st.memory_stats.as_ref();
    // cgroup v1 keeps the high-water mark; v2 only the current usage.
    let usage = mem.and_then(|m| m.max_usage.or(m.usage)).unwrap_or(0);
    let cpu = st
        .cpu_stats
        .as_ref()
        .and_then(|c| c.cpu_usage.as_ref())
        .and_then(|u| u.total_usage)
        .unwrap_or(0);
    if let Ok(mut s) = state.lock() {
        s.peak = s.peak.max(usage);
        if cpu < s.cpu_last_ns {
            // The container restarted: its cgroup's counter began again.
            s.cpu_done_ns += s.cpu_last_ns;
        }
        if cpu > 0 {
            s.cpu_last_ns = cpu;
        }
    }
}
