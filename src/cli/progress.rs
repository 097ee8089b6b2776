//! The progress view: cells as they start and finish. Live (a spinner line under the
//! finished cells) on a TTY; plain lines in CI. Consumes runner events only.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use dockmatrix::runner::Event;

pub struct Progress {
    bar: Option<ProgressBar>,
    total: usize,
    state: Mutex<State>,
    started: Instant,
}

#[derive(Default)]
struct State {
    done: usize,
    running: Vec<String>,
}

impl Progress {
    pub fn new(total: usize, tty: bool) -> Progress {
        let bar = tty.then(|| {
            let b = ProgressBar::new(total as u64);
            b.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{pos}/{len}] {elapsed_precise} {wide_msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            b.enable_steady_tick(Duration::from_millis(120));
            b
        });
        Progress {
            bar,
            total,
            state: Mutex::new(State::default()),
            started: Instant::now(),
        }
    }

    fn line(&self, text: String) {
        match &self.bar {
            Some(b) => b.println(text),
            None => eprintln!("{text}"),
        }
    }

    fn elapsed(&self) -> String {
        format!("{:>6.1}s", self.started.elapsed().as_secs_f64())
    }

    pub fn handle(&self, ev: &Event) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        match ev {
            Event::RunStarted { run_id, cells, jobs } => {
                self.line(format!("run {run_id}: {cells} cells, {jobs} at a time"));
            }
            Event::EngineStarting { engine, driver } => {
                self.line(format!("{} engine {engine}/{driver}: starting", self.elapsed()));
            }
            Event::EngineReady { engine, driver, facts, ms } => self.line(format!(
                "{} engine {engine}/{driver}: up in {:.1}s — Docker {} (API {}), {}, containerd {}, runc {}",
                self.elapsed(),
                *ms as f64 / 1000.0,
                facts.server_version,
                facts.api_version,
                facts.storage_driver,
                facts.containerd,
                facts.runc
            )),
            Event::EngineFailed { engine, driver, reason, unsupported } => self.line(format!(
                "{} engine {engine}/{driver}: {} — {}",
                self.elapsed(),
                if *unsupported { "refused (unsupported)" } else { "failed" },
                reason.lines().last().unwrap_or_default()
            )),
            Event::ImagesLoaded { engine, driver, images, ms } => self.line(format!(
                "{} engine {engine}/{driver}: {images} images ready in {:.1}s",
                self.elapsed(),
                *ms as f64 / 1000.0
            )),
            Event::EngineStopped { engine, driver } => {
                self.line(format!("{} engine {engine}/{driver}: stopped and removed", self.elapsed()));
            }
            Event::CellStarted { id, attempt, .. } => {
                if !st.running.contains(id) {
                    st.running.push(id.clone());
                }
                if self.bar.is_none() {
                    let again = if *attempt > 1 { format!(" (attempt {attempt})") } else { String::new() };
                    self.line(format!("{} START {id}{again}", self.elapsed()));
                }
            }
            Event::CellRetrying { id, attempt, status, reason } => self.line(format!(
                "{} RETRY {id}: {status} ({}); attempt {attempt}",
                self.elapsed(),
                reason.lines().next().unwrap_or_default()
            )),
            Event::CellFinished { record } => {
                st.done += 1;
                st.running.retain(|r| r != &record.id);
                let reason = record
                    .reason
                    .as_deref()
                    .map(|r| format!(" — {}", r.lines().next().unwrap_or_default()))
                    .unwrap_or_default();
                self.line(format!(
                    "{} [{:>3}/{}] {} {:<11} {} ({:.1}s){reason}",
                    self.elapsed(),
                    st.done,
                    self.total,
                    record.status.symbol(),
                    record.status.as_str().to_uppercase(),
                    record.id,
                    record.durations_ms.total as f64 / 1000.0
                ));
                if let Some(b) = &self.bar {
                    b.set_position(st.done as u64);
                }
            }
            Event::CellKept { id, how } => self.line(format!("kept {id}: {how}")),
            Event::Warning(w) => self.line(format!("warning: {w}")),
            Event::Cancelling { why } => self.line(format!("cancelling: {why}")),
            Event::CellStep { .. } | Event::CheckFinished { .. } | Event::RunFinished => {}
        }
        if let Some(b) = &self.bar {
            b.set_message(format!("running: {}", st.running.join(", ")));
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
