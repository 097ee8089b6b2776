//! The progress view: cells as they start and finish. Consumes runner events only.
//!
//! On a terminal it is live: a line per running cell saying which step it is in (engine
//! starting, images, services, checks and perf, teardown; an upgrade's phases) and for
//! how long, under the lines of finished cells, and a bottom line with the count, the
//! time so far and an estimate of the time left (the mean time of the cells finished so
//! far, spread over the jobs). Every line fits the terminal's width: long reasons are cut
//! to one line (the whole text is in the reports). Elsewhere (CI logs) it prints plain
//! lines, cut only when a width is known (`COLUMNS`), so logs stay greppable.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use dockmatrix::matrix::axes;
use dockmatrix::report::text::truncate;
use dockmatrix::runner::{Event, Step};

pub struct Progress {
    live: Option<Live>,
    total: usize,
    state: Mutex<State>,
    started: Instant,
    /// Lines are cut to this many columns.
    width: Option<usize>,
}

struct Live {
    multi: MultiProgress,
    main: ProgressBar,
}

#[derive(Default)]
struct State {
    done: usize,
    jobs: usize,
    /// Sum of the finished cells' times, for the estimate.
    finished_ms: u64,
    running: IndexMap<String, Running>,
    /// `engine/driver` → images that engine holds, once loaded.
    images: IndexMap<String, usize>,
    /// `engine/driver` → an engine being prepared: its line, and how far its images are.
    engines: IndexMap<String, Preparing>,
}

struct Preparing {
    /// Images loaded of those to load, bytes loaded of the bytes to load.
    load: Option<(usize, usize, u64, u64)>,
    bar: Option<ProgressBar>,
}

impl Preparing {
    fn line(&self, engine: &str) -> String {
        match self.load {
            None => format!("engine {engine} · starting"),
            Some((done, of, bytes, total)) => format!(
                "engine {engine} · images {done}/{of} loaded ({} of {})",
                mib(bytes),
                mib(total)
            ),
        }
    }
}

/// `312 MiB`.
fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / (1024.0 * 1024.0))
}

struct Running {
    started: Instant,
    step: Option<Step>,
    /// `engine/driver` of the cell, from its values.
    engine: Option<String>,
    bar: Option<ProgressBar>,
    /// Services ready of the cell's services.
    services: Option<(usize, usize)>,
    /// The check running: its place among the cell's checks, its name, whether it measures.
    check: Option<(usize, usize, String, bool)>,
}

/// What a step is doing, for a person.
fn doing(step: Option<Step>) -> &'static str {
    match step {
        None => "queued",
        Some(Step::Engine) => "engine starting",
        Some(Step::Images) => "images loading",
        Some(Step::Services) => "services starting",
        Some(Step::Checks) => "checks and perf running",
        Some(Step::Teardown) => "tearing down",
        Some(Step::Seed) => "upgrade: seeding",
        Some(Step::Upgrade) => "upgrade: upgrading the engine",
        Some(Step::Verify) => "upgrade: verifying",
        Some(Step::Rollback) => "upgrade: rolling back",
    }
}

/// `1m 05s`, `12s`.
fn short(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

impl State {
    /// The time left: cells not started take the mean time each, running ones what is
    /// left of it; `jobs` of them at a time. `None` until a cell has finished.
    fn estimate(&self, total: usize) -> Option<Duration> {
        if self.done == 0 {
            return None;
        }
        let mean = self.finished_ms as f64 / self.done as f64;
        let waiting = total.saturating_sub(self.done + self.running.len()) as f64 * mean;
        let running: f64 = self
            .running
            .values()
            .map(|r| (mean - r.started.elapsed().as_millis() as f64).max(0.0))
            .sum();
        let jobs = self.jobs.max(1) as f64;
        Some(Duration::from_millis(((waiting + running) / jobs) as u64))
    }

    fn line_for(&self, id: &str, r: &Running) -> String {
        let mut what = doing(r.step).to_string();
        match (r.step, &r.services, &r.check) {
            (Some(Step::Images), _, _) => {
                if let Some(n) = r.engine.as_ref().and_then(|e| self.images.get(e)) {
                    what = format!("images {n}/{n} ready");
                }
            }
            (Some(Step::Services), Some((ready, of)), _) => {
                what = format!("services {ready}/{of} ready");
            }
            (Some(Step::Checks), _, Some((n, of, name, perf))) => {
                let kind = if *perf { "perf" } else { "checks" };
                what = format!("{kind} {n}/{of}: {name}");
            }
            _ => {}
        }
        format!("{id} · {what}")
    }
}

impl Progress {
    pub fn new(total: usize, tty: bool) -> Progress {
        let width = super::terminal::stderr_width();
        // The bars' styles (`.dim`) follow `--color` and `NO_COLOR` like the table.
        console::set_colors_enabled_stderr(super::terminal::stderr_colour());
        let live = tty.then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let main = multi.add(ProgressBar::new(total as u64));
            main.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{pos}/{len}] {elapsed_precise} {wide_msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            main.enable_steady_tick(Duration::from_millis(250));
            Live { multi, main }
        });
        Progress {
            live,
            total,
            state: Mutex::new(State::default()),
            started: Instant::now(),
            width,
        }
    }

    /// A line above the live view (or on stderr), cut to the width.
    fn line(&self, text: String) {
        let text = match self.width {
            Some(w) => truncate(&text, w).into_owned(),
            None => text,
        };
        match &self.live {
            Some(l) => {
                let _ = l.multi.println(text);
            }
            None => eprintln!("{text}"),
        }
    }

    fn elapsed(&self) -> String {
        format!("{:>6.1}s", self.started.elapsed().as_secs_f64())
    }

    /// The engine is started and loaded (or failed): its line goes.
    fn done_preparing(&self, st: &mut State, engine: &str) -> Option<Preparing> {
        let p = st.engines.shift_remove(engine)?;
        if let (Some(b), Some(l)) = (&p.bar, &self.live) {
            b.finish_and_clear();
            l.multi.remove(b);
        }
        Some(p)
    }

    fn cell_bar(&self) -> Option<ProgressBar> {
        let l = self.live.as_ref()?;
        let b = l.multi.insert_before(&l.main, ProgressBar::new_spinner());
        b.set_style(
            // `{elapsed}` is the bar's age: the time in the cell, kept fresh by the tick.
            ProgressStyle::with_template("  {spinner:.dim} {elapsed:>4} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        b.enable_steady_tick(Duration::from_millis(250));
        Some(b)
    }

    /// The lines and the live view of engines: starting, loading, up, failed, stopped.
    fn on_engine(&self, st: &mut State, ev: &Event) {
        match ev {
            Event::EngineStarting { engine, driver } => {
                self.line(format!("{} engine {engine}/{driver}: starting", self.elapsed()));
                let bar = self.cell_bar();
                st.engines.insert(format!("{engine}/{driver}"), Preparing { load: None, bar });
            }
            Event::ImagesLoading { engine, driver, done, of, bytes, total_bytes } => {
                if let Some(p) = st.engines.get_mut(&format!("{engine}/{driver}")) {
                    p.load = Some((*done, *of, *bytes, *total_bytes));
                }
            }
            Event::EngineReady { engine, driver, facts, ms } => self.line(format!(
                "{} engine {engine}/{driver}: up in {:.1}s — Docker {} (API {}, min {}), {} ({} image store), containerd {}, runc {}",
                self.elapsed(),
                *ms as f64 / 1000.0,
                facts.server_version,
                facts.api_version,
                facts.min_api_version,
                facts.storage_driver,
                facts.image_store,
                facts.containerd,
                facts.runc
            )),
            Event::EngineFailed { engine, driver, reason, unsupported } => {
                self.done_preparing(st, &format!("{engine}/{driver}"));
                self.line(format!(
                    "{} engine {engine}/{driver}: {} — {}",
                    self.elapsed(),
                    if *unsupported { "refused (unsupported)" } else { "failed" },
                    reason.lines().last().unwrap_or_default()
                ));
            }
            Event::ImagesLoaded { engine, driver, images, ms } => {
                let name = format!("{engine}/{driver}");
                st.images.insert(name.clone(), *images);
                let loaded = self
                    .done_preparing(st, &name)
                    .and_then(|p| p.load)
                    .filter(|&(done, ..)| done > 0)
                    .map(|(done, _, bytes, _)| format!(" ({done} loaded, {})", mib(bytes)))
                    .unwrap_or_default();
                self.line(format!(
                    "{} engine {engine}/{driver}: {images} images ready{loaded} in {:.1}s",
                    self.elapsed(),
                    *ms as f64 / 1000.0
                ));
            }
            Event::EngineStopped { engine, driver } => {
                self.line(format!("{} engine {engine}/{driver}: stopped and removed", self.elapsed()));
            }
            _ => {}
        }
    }

    pub fn handle(&self, ev: &Event) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        match ev {
            Event::RunStarted {
                run_id,
                cells,
                jobs,
            } => {
                st.jobs = *jobs;
                self.line(format!("run {run_id}: {cells} cells, {jobs} at a time"));
            }
            Event::EngineStarting { .. }
            | Event::ImagesLoading { .. }
            | Event::EngineReady { .. }
            | Event::EngineFailed { .. }
            | Event::ImagesLoaded { .. }
            | Event::EngineStopped { .. } => self.on_engine(&mut st, ev),
            Event::CellStarted {
                id,
                values,
                attempt,
            } => {
                if !st.running.contains_key(id) {
                    let engine = values.get(axes::ENGINE).map(|e| {
                        format!(
                            "{e}/{}",
                            values.get(axes::STORAGE_DRIVER).map_or("", String::as_str)
                        )
                    });
                    let bar = self.cell_bar();
                    st.running.insert(
                        id.clone(),
                        Running {
                            started: Instant::now(),
                            step: None,
                            engine,
                            bar,
                            services: None,
                            check: None,
                        },
                    );
                }
                if self.live.is_none() {
                    let again = if *attempt > 1 {
                        format!(" (attempt {attempt})")
                    } else {
                        String::new()
                    };
                    self.line(format!("{} START {id}{again}", self.elapsed()));
                }
            }
            Event::CellStep { id, step } => {
                if let Some(r) = st.running.get_mut(id) {
                    r.step = Some(*step);
                }
            }
            Event::CellRetrying {
                id,
                attempt,
                status,
                reason,
            } => self.line(format!(
                "{} RETRY {id}: {status} ({}); attempt {attempt}",
                self.elapsed(),
                reason.lines().next().unwrap_or_default()
            )),
            Event::CellFinished { record } => {
                st.done += 1;
                st.finished_ms += record.durations_ms.total;
                if let Some(r) = st.running.shift_remove(&record.id)
                    && let Some(b) = r.bar
                {
                    b.finish_and_clear();
                    if let Some(l) = &self.live {
                        l.multi.remove(&b);
                    }
                }
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
                if let Some(l) = &self.live {
                    l.main.set_position(st.done as u64);
                }
            }
            Event::CellKept { id, how } => self.line(format!("kept {id}: {how}")),
            Event::Warning(w) => self.line(format!("warning: {w}")),
            Event::Notice(n) => self.line(n.clone()),
            Event::Cancelling { why } => self.line(format!("cancelling: {why}")),
            Event::ServicesReady { id, ready, of } => {
                if let Some(r) = st.running.get_mut(id) {
                    r.services = Some((*ready, *of));
                }
            }
            Event::CheckStarted {
                cell,
                name,
                perf,
                n,
                of,
            } => {
                if let Some(r) = st.running.get_mut(cell) {
                    r.check = Some((*n, *of, name.clone(), *perf));
                }
            }
            Event::CheckFinished { .. } | Event::RunFinished => {}
        }
        if let Some(l) = &self.live {
            for (engine, p) in &st.engines {
                if let Some(b) = &p.bar {
                    b.set_message(p.line(engine));
                }
            }
            for (id, r) in &st.running {
                if let Some(b) = &r.bar {
                    b.set_message(st.line_for(id, r));
                }
            }
            let eta = match st.estimate(self.total) {
                Some(d) => format!("about {} left", short(d)),
                None => "time left: known after the first cell".to_string(),
            };
            l.main
                .set_message(format!("{} running · {eta}", st.running.len()));
        }
    }

    pub fn finish(&self) {
        if let Some(l) = &self.live {
            if let Ok(mut st) = self.state.lock() {
                for (_, p) in st.engines.drain(..) {
                    if let Some(b) = p.bar {
                        b.finish_and_clear();
                    }
                }
                for (_, r) in st.running.drain(..) {
                    if let Some(b) = r.bar {
                        b.finish_and_clear();
                    }
                }
            }
            l.main.finish_and_clear();
            let _ = l.multi.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate_spreads_the_mean_over_the_jobs() {
        let mut st = State {
            done: 2,
            jobs: 2,
            finished_ms: 20_000,
            ..State::default()
        };
        // 10 cells, 2 done (10 s each), none running: 8 × 10 s over 2 jobs = 40 s.
        assert_eq!(st.estimate(10), Some(Duration::from_secs(40)));
        st.done = 0;
        assert_eq!(st.estimate(10), None);
    }

    #[test]
    fn steps_read_as_words() {
        assert_eq!(doing(Some(Step::Engine)), "engine starting");
        assert_eq!(doing(None), "queued");
        assert_eq!(short(Duration::from_secs(65)), "1m 05s");
    }

    #[test]
    fn running_cells_say_how_far_their_step_is() {
        let st = State::default();
        let mut r = Running {
            started: Instant::now(),
            step: Some(Step::Services),
            engine: None,
            bar: None,
            services: Some((2, 4)),
            check: None,
        };
        assert_eq!(st.line_for("c1", &r), "c1 · services 2/4 ready");
        r.step = Some(Step::Checks);
        r.check = Some((3, 10, "pg answers".into(), false));
        assert_eq!(st.line_for("c1", &r), "c1 · checks 3/10: pg answers");
        r.check = Some((9, 10, "redis GET p95".into(), true));
        assert_eq!(st.line_for("c1", &r), "c1 · perf 9/10: redis GET p95");
        // Before the first check starts, the step's own words.
        r.check = None;
        assert_eq!(st.line_for("c1", &r), "c1 · checks and perf running");
    }

    #[test]
    fn engines_being_prepared_say_images_and_bytes() {
        let mut p = Preparing {
            load: None,
            bar: None,
        };
        assert_eq!(p.line("28.5.2/vfs"), "engine 28.5.2/vfs · starting");
        p.load = Some((1, 4, 100 << 20, 400 << 20));
        assert_eq!(
            p.line("28.5.2/vfs"),
            "engine 28.5.2/vfs · images 1/4 loaded (100 MiB of 400 MiB)"
        );
    }
}
