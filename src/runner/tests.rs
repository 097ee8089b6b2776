//! The scheduler against a scripted lab: statuses and their precedence, retries, `--keep`,
//! the cell timeout in each step, cancellation, `--fail-fast` and streamed check events,
//! with tokio's clock paused (no Docker, no waiting).

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::RwLock;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::lab::{EmitFn, Lab, StackFailure};
use super::pool::{EngineFailure, EngineKey};
use super::{Event, Keep, RunConfig, run_in};
use crate::checks::OnCheck;
use crate::engine::EngineTrouble;
use crate::engine::images::Loaded;
use crate::matrix::plan::CellPlan;
use crate::matrix::{Cell, Matrix, PullPolicy};
use crate::results::{
    CellRecord, CellStatus, CheckRecord, CheckStatus, EngineFacts, Finding, ImageRecord,
    ServiceRecord,
};

const IMAGE: &str = "dockmatrix/redis:7.0";
const TIMEOUT: Duration = Duration::from_secs(10);

/// What one attempt of one cell meets in the lab.
#[derive(Debug, Clone, Default)]
struct Script {
    provision: Option<StackFailure>,
    provision_takes: Duration,
    /// Each check: how long it runs, how it ends, its name.
    checks: Vec<(Duration, CheckStatus, &'static str)>,
    oom_killed: bool,
}

impl Script {
    fn checks(checks: &[(u64, CheckStatus, &'static str)]) -> Script {
        Script {
            checks: checks
                .iter()
                .map(|&(s, st, n)| (Duration::from_secs(s), st, n))
                .collect(),
            ..Script::default()
        }
    }

    fn passing() -> Script {
        Script::checks(&[(1, CheckStatus::Pass, "ping")])
    }

    fn failing() -> Script {
        Script::checks(&[(1, CheckStatus::Fail, "ping")])
    }
}

/// A lab that plays scripts: per cell (its `case` value) one script per attempt, the last
/// one repeating; and records what the runner asked of it.
#[derive(Default)]
struct Scripted {
    engine: Option<EngineFailure>,
    engine_takes: Duration,
    images_takes: Duration,
    /// The image cannot be had (an error of the images step).
    image_missing: bool,
    /// What the host engine says of the engine after an attempt that did not pass.
    trouble: Option<EngineTrouble>,
    scripts: Mutex<HashMap<String, VecDeque<Script>>>,
    log: Mutex<Vec<String>>,
}

struct Engine {
    facts: EngineFacts,
}

struct Stack {
    case: String,
    script: Script,
}

impl Scripted {
    fn with(scripts: &[(&str, Vec<Script>)]) -> Scripted {
        Scripted {
            scripts: Mutex::new(
                scripts
                    .iter()
                    .map(|(c, s)| (c.to_string(), s.iter().cloned().collect()))
                    .collect(),
            ),
            ..Scripted::default()
        }
    }

    fn note(&self, what: String) {
        self.log.lock().expect("log").push(what);
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().expect("log").clone()
    }
}

fn case(cell: &Cell) -> String {
    cell.values.get("case").cloned().unwrap_or_default()
}

impl Lab for Scripted {
    type Engine = Engine;
    type Stack = Stack;

    async fn engine(&self, key: &EngineKey, _: &EmitFn) -> Result<Engine, EngineFailure> {
        tokio::time::sleep(self.engine_takes).await;
        match &self.engine {
            Some(f) => Err(f.clone()),
            None => Ok(Engine {
                facts: EngineFacts {
                    name: key.engine.clone(),
                    server_version: "28.5.2".into(),
                    ..EngineFacts::default()
                },
            }),
        }
    }

    fn facts(&self, engine: &Engine) -> EngineFacts {
        engine.facts.clone()
    }

    fn findings(&self, _: &EngineKey) -> Vec<Finding> {
        Vec::new()
    }

    async fn images(&self, _: &EngineKey, _: &Engine, _: &EmitFn) -> Arc<Loaded> {
        tokio::time::sleep(self.images_takes).await;
        let got = if self.image_missing {
            Err(format!("image `{IMAGE}` does not exist on the host engine"))
        } else {
            Ok(ImageRecord {
                service: String::new(),
                reference: IMAGE.into(),
                digest: "sha256:0".into(),
                labels: Default::default(),
            })
        };
        Arc::new(Loaded::from([(IMAGE.to_string(), got)]))
    }

    fn stack(&self, _: &Engine, cell: &Cell) -> Stack {
        let case = case(cell);
        let mut scripts = self.scripts.lock().expect("scripts");
        let queue = scripts.entry(case.clone()).or_default();
        let script = match queue.len() {
            0 => Script::passing(),
            1 => queue[0].clone(),
            _ => queue.pop_front().unwrap_or_default(),
        };
        Stack { case, script }
    }

    async fn provision(
        &self,
        stack: &mut Stack,
        _: &Engine,
        _: &Cell,
        _: &CellPlan,
        _: &EmitFn,
    ) -> Result<(), StackFailure> {
        tokio::time::sleep(stack.script.provision_takes).await;
        stack.script.provision.clone().map_or(Ok(()), Err)
    }

    async fn checks(
        &self,
        stack: &Stack,
        _: &Engine,
        _: &Cell,
        gate: &RwLock<()>,
        on_check: OnCheck<'_>,
        _: &EmitFn,
    ) {
        for &(takes, status, name) in &stack.script.checks {
            let _g = gate.read().await;
            tokio::time::sleep(takes).await;
            on_check(&CheckRecord {
                suite: "s".into(),
                name: name.into(),
                status,
                duration_ms: takes.as_millis() as u64,
                message: String::new(),
                perf: None,
                phase: None,
            });
        }
    }

    async fn trouble(&self, _: &Engine, _: std::time::Instant) -> Option<EngineTrouble> {
        self.trouble.clone()
    }

    async fn service_records(&self, stack: &Stack, _: bool) -> Vec<ServiceRecord> {
        self.note(format!("figures {}", stack.case));
        vec![ServiceRecord {
            name: "redis".into(),
            oom_killed: stack.script.oom_killed,
            ..ServiceRecord::default()
        }]
    }

    fn keep(&self, _: &EngineKey, _: &Engine, stack: &Stack, _: &Cell) -> String {
        self.note(format!("keep {}", stack.case));
        format!("kept {}", stack.case)
    }

    async fn teardown(&self, stack: &mut Stack) -> Vec<String> {
        self.note(format!("teardown {}", stack.case));
        Vec::new()
    }

    async fn cell_done(&self, key: &EngineKey, _: &EmitFn) {
        self.note(format!("cell_done {}", key.engine));
    }

    async fn replace(&self, key: &EngineKey, _: &EmitFn) {
        self.note(format!("replace {}", key.engine));
    }

    async fn release_all(&self, _: &EmitFn) {
        self.note("release_all".into());
    }
}

fn config(cases: &[&str], f: impl FnOnce(&mut RunConfig)) -> RunConfig {
    let quoted: Vec<String> = cases.iter().map(|c| format!("\"{c}\"")).collect();
    let source = format!(
        "name = \"lab\"\n\n[axes]\ncase = [{}]\n\n[services.redis]\nkind = \"redis\"\nimage = \"{IMAGE}\"\n",
        quoted.join(", ")
    );
    let matrix = Matrix::from_source(Path::new("lab.toml"), source).expect("matrix");
    let cells = matrix.cells().expect("cells");
    let mut cfg = RunConfig {
        matrix: Arc::new(matrix),
        cells,
        run_id: "test-run".into(),
        jobs: 4,
        retries: 0,
        cell_timeout: TIMEOUT,
        pull: PullPolicy::Never,
        fail_fast: false,
        keep: Keep::None,
        scenarios: Vec::new(),
        baseline: None,
        engine_cache: false,
        max_engines: 2,
    };
    f(&mut cfg);
    cfg
}

/// What a run gave, and every event with when it came (on the paused clock).
struct Ran {
    cells: Vec<CellRecord>,
    events: Vec<(Duration, Event)>,
}

impl Ran {
    fn cell(&self, case: &str) -> &CellRecord {
        self.cells
            .iter()
            .find(|c| c.values.get("case").map(String::as_str) == Some(case))
            .expect("the cell of the case")
    }

    fn checks_sent(&self) -> Vec<(u64, String)> {
        self.events
            .iter()
            .filter_map(|(at, e)| match e {
                Event::CheckFinished { record, .. } => Some((at.as_secs(), record.name.clone())),
                _ => None,
            })
            .collect()
    }

    fn count(&self, what: impl Fn(&Event) -> bool) -> usize {
        self.events.iter().filter(|(_, e)| what(e)).count()
    }
}

async fn run_with(cfg: &RunConfig, lab: &impl Lab, cancel: CancellationToken) -> Ran {
    let start = Instant::now();
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let emit: super::Emit = Arc::new(move |e| {
        sink.lock().expect("events").push((start.elapsed(), e));
    });
    let cells = run_in(cfg, &super::plan_cells(cfg), lab, emit, cancel).await;
    let events = events.lock().expect("events").clone();
    Ran { cells, events }
}

async fn run(cfg: &RunConfig, lab: &impl Lab) -> Ran {
    run_with(cfg, lab, CancellationToken::new()).await
}

fn check(name: &'static str, status: CheckStatus) -> (u64, CheckStatus, &'static str) {
    (1, status, name)
}

#[tokio::test(start_paused = true)]
async fn a_cell_whose_checks_pass_is_pass_and_its_stack_is_torn_down() {
    let cfg = config(&["a"], |_| {});
    let lab = Scripted::default();
    let ran = run(&cfg, &lab).await;
    let c = ran.cell("a");
    assert_eq!(c.status, CellStatus::Pass, "{:?}", c.reason);
    assert_eq!((c.attempts, c.reason.as_deref()), (1, None));
    assert_eq!(c.checks.len(), 1);
    assert_eq!(c.images.len(), 1);
    assert_eq!(c.images[0].service, "redis");
    assert_eq!(c.engine.as_ref().map(|e| e.name.as_str()), Some("host"));
    assert_eq!(c.services.len(), 1, "figures are taken of every cell");
    assert_eq!(
        lab.log(),
        ["figures a", "teardown a", "cell_done host", "release_all"]
    );
    assert!(matches!(
        ran.events.first(),
        Some((_, Event::RunStarted { cells: 1, .. }))
    ));
    assert!(matches!(ran.events.last(), Some((_, Event::RunFinished))));
}

#[tokio::test(start_paused = true)]
async fn a_refused_engine_is_unsupported_a_broken_one_error_and_neither_is_retried() {
    for (unsupported, status) in [(true, CellStatus::Unsupported), (false, CellStatus::Error)] {
        let cfg = config(&["a"], |c| c.retries = 2);
        let lab = Scripted {
            engine: Some(EngineFailure {
                unsupported,
                reason: "dockerd: driver not supported".into(),
            }),
            ..Scripted::default()
        };
        let ran = run(&cfg, &lab).await;
        let c = ran.cell("a");
        assert_eq!(c.status, status);
        assert_eq!(c.attempts, 1, "a refusal is not retried");
        assert_eq!(c.failed_step.as_deref(), Some("engine"));
        assert_eq!(c.reason.as_deref(), Some("dockerd: driver not supported"));
        assert!(c.engine.is_none() && c.checks.is_empty());
        assert_eq!(
            lab.log(),
            ["cell_done host", "release_all"],
            "nothing to tear down"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_failing_check_fails_the_cell_naming_it_and_known_or_skipped_ones_do_not() {
    let cfg = config(&["bad", "good"], |_| {});
    let lab = Scripted::with(&[
        (
            "bad",
            vec![Script::checks(&[
                check("one", CheckStatus::Pass),
                check("two", CheckStatus::Fail),
                check("three", CheckStatus::Error),
            ])],
        ),
        (
            "good",
            vec![Script::checks(&[
                check("one", CheckStatus::Pass),
                check("two", CheckStatus::KnownFail),
                check("three", CheckStatus::Skipped),
            ])],
        ),
    ]);
    let ran = run(&cfg, &lab).await;
    let bad = ran.cell("bad");
    assert_eq!(bad.status, CellStatus::Fail);
    assert_eq!(bad.failed_step.as_deref(), Some("checks"));
    assert_eq!(
        bad.reason.as_deref(),
        Some("2 check(s) failed: two (fail), three (error)")
    );
    assert_eq!(ran.cell("good").status, CellStatus::Pass);
}

#[tokio::test(start_paused = true)]
async fn a_service_oom_killed_turns_a_pass_into_a_fail() {
    let cfg = config(&["a"], |_| {});
    let oom = Script {
        oom_killed: true,
        ..Script::passing()
    };
    let lab = Scripted::with(&[("a", vec![oom])]);
    let ran = run(&cfg, &lab).await;
    let c = ran.cell("a");
    assert_eq!(c.status, CellStatus::Fail);
    assert_eq!(c.failed_step.as_deref(), Some("checks"));
    assert_eq!(
        c.reason.as_deref(),
        Some("service `redis` was OOM-killed while the cell ran")
    );
}

#[tokio::test(start_paused = true)]
async fn an_engine_lost_mid_cell_is_error_replaced_and_not_asked_for_anything_more() {
    let cfg = config(&["a"], |c| {
        c.retries = 0;
        c.keep = Keep::None;
    });
    let lab = Scripted {
        trouble: Some(EngineTrouble::Gone("exited with code 137".into())),
        ..Scripted::with(&[("a", vec![Script::failing()])])
    };
    let ran = run(&cfg, &lab).await;
    let c = ran.cell("a");
    assert_eq!(
        c.status,
        CellStatus::Error,
        "the engine's fault outranks the fail"
    );
    assert_eq!(
        c.reason.as_deref(),
        Some(
            "the engine `host`'s container exited with code 137 during step `checks`; then: 1 check(s) failed: ping (fail)"
        )
    );
    assert!(c.services.is_empty(), "a dead engine has no figures");
    assert_eq!(
        lab.log(),
        ["replace host", "cell_done host", "release_all"],
        "the dead engine is replaced for whoever needs it next, and nothing is torn down on it"
    );

    // With a retry, the retry runs on the new engine: a pass then makes the cell flaky.
    let cfg = config(&["a"], |c| c.retries = 1);
    let lab = Scripted {
        trouble: Some(EngineTrouble::Gone("exited with code 137".into())),
        ..Scripted::with(&[("a", vec![Script::failing(), Script::passing()])])
    };
    let ran = run(&cfg, &lab).await;
    let c = ran.cell("a");
    assert_eq!(c.status, CellStatus::Flaky, "{c:?}");
    assert_eq!(c.attempts, 2);
    assert!(
        c.previous_attempts[0]
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("exited with code 137")),
        "{c:?}"
    );
    assert_eq!(lab.log()[0], "replace host");

    // A passing cell is never asked about its engine.
    let lab = Scripted {
        trouble: Some(EngineTrouble::Paused),
        ..Scripted::default()
    };
    assert_eq!(run(&cfg, &lab).await.cell("a").status, CellStatus::Pass);
}

#[tokio::test(start_paused = true)]
async fn a_cell_failing_then_passing_is_flaky_with_the_reasons_before() {
    let cfg = config(&["a"], |c| c.retries = 2);
    let lab = Scripted::with(&[("a", vec![Script::failing(), Script::passing()])]);
    let ran = run(&cfg, &lab).await;
    let c = ran.cell("a");
    assert_eq!(c.status, CellStatus::Flaky);
    assert_eq!(c.attempts, 2, "the second attempt passed: no third");
    assert_eq!(c.previous_attempts.len(), 1);
    assert_eq!(c.previous_attempts[0].status, CellStatus::Fail);
    assert_eq!(
        c.reason.as_deref(),
        Some("passed on attempt 2 after: 1 check(s) failed: ping (fail)")
    );
    assert_eq!(
        c.checks.len(),
        1,
        "the record holds the last attempt's checks"
    );
    let retrying = ran.count(|e| matches!(e, Event::CellRetrying { attempt: 2, .. }));
    assert_eq!(retrying, 1);
    let started = ran.count(|e| matches!(e, Event::CellStarted { .. }));
    assert_eq!(started, 2);
    assert_eq!(
        lab.log(),
        [
            "figures a",
            "teardown a",
            "figures a",
            "teardown a",
            "cell_done host",
            "release_all"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_missing_image_is_error_for_good_and_not_retried() {
    let cfg = config(&["a"], |c| c.retries = 3);
    let lab = Scripted {
        image_missing: true,
        ..Scripted::default()
    };
    let ran = run(&cfg, &lab).await;
    let c = ran.cell("a");
    assert_eq!(c.status, CellStatus::Error);
    assert_eq!(c.attempts, 1);
    assert_eq!(c.failed_step.as_deref(), Some("images"));
    assert_eq!(
        c.reason.as_deref(),
        Some("image `dockmatrix/redis:7.0` does not exist on the host engine")
    );
    assert_eq!(ran.count(|e| matches!(e, Event::CellRetrying { .. })), 0);
}

#[tokio::test(start_paused = true)]
async fn a_stack_that_never_comes_up_is_retried_but_a_bad_environment_is_not() {
    let not_ready = StackFailure {
        status: CellStatus::Fail,
        reason: "service `redis` did not become ready within 120s".into(),
        for_good: false,
    };
    let bad_env = StackFailure {
        status: CellStatus::Error,
        reason: "failed to prepare the environment of service `redis`".into(),
        for_good: true,
    };
    for (failure, attempts) in [(not_ready, 2), (bad_env, 1)] {
        let cfg = config(&["a"], |c| c.retries = 1);
        let script = Script {
            provision: Some(failure.clone()),
            ..Script::default()
        };
        let lab = Scripted::with(&[("a", vec![script])]);
        let c = run(&cfg, &lab).await.cells.remove(0);
        assert_eq!((c.status, c.attempts), (failure.status, attempts));
        assert_eq!(c.failed_step.as_deref(), Some("services"));
        assert_eq!(c.reason, Some(failure.reason));
        let teardowns = lab.log().iter().filter(|l| *l == "teardown a").count();
        assert_eq!(
            teardowns, attempts as usize,
            "a half-made stack is torn down"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn retried_attempts_are_torn_down_even_with_keep_and_the_last_is_kept() {
    let cfg = config(&["a"], |c| {
        c.retries = 1;
        c.keep = Keep::All;
    });
    let lab = Scripted::with(&[("a", vec![Script::failing()])]);
    let ran = run(&cfg, &lab).await;
    let c = ran.cell("a");
    assert_eq!((c.status, c.attempts), (CellStatus::Fail, 2));
    assert_eq!(c.kept.as_deref(), Some("kept a"));
    assert_eq!(
        lab.log(),
        [
            "figures a",
            "teardown a",
            "figures a",
            "keep a",
            "cell_done host",
            "release_all"
        ]
    );
    let kept = ran.count(|e| matches!(e, Event::CellKept { how, .. } if how == "kept a"));
    assert_eq!(kept, 1);
}

#[tokio::test(start_paused = true)]
async fn keep_failed_keeps_failures_keep_all_every_cell_keep_none_nothing() {
    let expect = [
        (Keep::Failed, vec!["keep bad", "teardown good"]),
        (Keep::All, vec!["keep bad", "keep good"]),
        (Keep::None, vec!["teardown bad", "teardown good"]),
    ];
    for (keep, wanted) in expect {
        let cfg = config(&["bad", "good"], |c| {
            c.keep = keep;
            c.jobs = 1;
        });
        let lab = Scripted::with(&[("bad", vec![Script::failing()])]);
        let ran = run(&cfg, &lab).await;
        let log: Vec<String> = lab
            .log()
            .into_iter()
            .filter(|l| l.starts_with("keep") || l.starts_with("teardown"))
            .collect();
        assert_eq!(log, wanted, "--keep {keep:?}");
        let kept: Vec<bool> = ran.cells.iter().map(|c| c.kept.is_some()).collect();
        let wanted_kept: Vec<bool> = wanted.iter().map(|w| w.starts_with("keep")).collect();
        assert_eq!(kept, wanted_kept, "--keep {keep:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn the_cell_timeout_fails_the_cell_naming_the_step_it_was_in() {
    let long = Duration::from_secs(60);
    for step in ["engine", "images", "services", "checks"] {
        let cfg = config(&["a"], |_| {});
        let mut script = Script::passing();
        let mut lab = Scripted::default();
        match step {
            "engine" => lab.engine_takes = long,
            "images" => lab.images_takes = long,
            "services" => script.provision_takes = long,
            _ => script.checks = vec![(long, CheckStatus::Pass, "slow")],
        }
        lab.scripts = Mutex::new(HashMap::from([("a".to_string(), VecDeque::from([script]))]));
        let started = Instant::now();
        let ran = run(&cfg, &lab).await;
        let c = ran.cell("a");
        assert_eq!(c.status, CellStatus::Fail, "step {step}");
        assert_eq!(c.failed_step.as_deref(), Some(step));
        assert_eq!(
            c.reason,
            Some(format!("timed out after 10s in step `{step}`"))
        );
        assert_eq!(
            started.elapsed(),
            TIMEOUT,
            "ended at the deadline, step {step}"
        );
        // Only a cell that got its stack has one to tear down.
        let torn = lab.log().contains(&"teardown a".to_string());
        assert_eq!(torn, matches!(step, "services" | "checks"), "step {step}");
    }
}

#[tokio::test(start_paused = true)]
async fn check_events_stream_as_each_check_ends_and_a_timeout_keeps_the_checks_that_ran() {
    let cfg = config(&["a"], |_| {});
    let script = Script::checks(&[
        (2, CheckStatus::Pass, "first"),
        (3, CheckStatus::Fail, "second"),
        (60, CheckStatus::Pass, "never ends"),
    ]);
    let lab = Scripted::with(&[("a", vec![script])]);
    let ran = run(&cfg, &lab).await;
    assert_eq!(
        ran.checks_sent(),
        [(2, "first".to_string()), (5, "second".to_string())],
        "each event at the moment its check ended, not in a batch at the end"
    );
    let c = ran.cell("a");
    assert_eq!(c.status, CellStatus::Fail);
    assert_eq!(
        c.reason.as_deref(),
        Some("timed out after 10s in step `checks`")
    );
    let names: Vec<&str> = c.checks.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["first", "second"]);
}

#[tokio::test(start_paused = true)]
async fn cancelling_tears_down_what_runs_and_marks_cells_not_started_cancelled() {
    let cfg = config(&["a", "b"], |c| {
        c.jobs = 1;
        c.keep = Keep::All;
    });
    let slow = Script::checks(&[
        check("quick", CheckStatus::Pass),
        (60, CheckStatus::Pass, "slow"),
    ]);
    let lab = Scripted::with(&[("a", vec![slow.clone()]), ("b", vec![slow])]);
    let cancel = CancellationToken::new();
    let later = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        later.cancel();
    });
    let ran = run_with(&cfg, &lab, cancel).await;
    let (a, b) = (ran.cell("a"), ran.cell("b"));
    assert_eq!(a.status, CellStatus::Cancelled);
    assert_eq!(a.reason.as_deref(), Some("cancelled during step `checks`"));
    assert_eq!(a.checks.len(), 1, "the check that ran is kept");
    assert_eq!(a.kept, None, "--keep all keeps no cancelled stack");
    assert_eq!(b.status, CellStatus::Cancelled);
    assert_eq!(
        b.reason.as_deref(),
        Some("not started: the run was cancelled")
    );
    assert_eq!(b.attempts, 0);
    let log = lab.log();
    assert!(log.contains(&"teardown a".to_string()), "{log:?}");
    assert!(
        !log.iter().any(|l| l.ends_with(" b")),
        "b never started: {log:?}"
    );
    assert_eq!(log.last().map(String::as_str), Some("release_all"));
}

#[tokio::test(start_paused = true)]
async fn fail_fast_cancels_the_rest_after_the_first_failure() {
    let cfg = config(&["a", "b", "c"], |c| {
        c.jobs = 1;
        c.fail_fast = true;
        c.retries = 1;
    });
    let lab = Scripted::with(&[("a", vec![Script::failing()])]);
    let ran = run(&cfg, &lab).await;
    assert_eq!(ran.cell("a").status, CellStatus::Fail);
    assert_eq!(ran.cell("a").attempts, 2, "retries come before --fail-fast");
    for rest in ["b", "c"] {
        let c = ran.cell(rest);
        assert_eq!(c.status, CellStatus::Cancelled, "cell {rest}");
        assert_eq!(
            c.reason.as_deref(),
            Some("not started: the run was cancelled")
        );
    }
    let why: Vec<&str> = ran
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Cancelling { why } => Some(why.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(why.len(), 1, "said once");
    assert!(why[0].starts_with("--fail-fast: cell ") && why[0].ends_with(" is fail"));
    // Every cell is reported finished, and in plan order.
    assert_eq!(ran.count(|e| matches!(e, Event::CellFinished { .. })), 3);
    let order: Vec<String> = ran.cells.iter().map(|c| c.values["case"].clone()).collect();
    assert_eq!(order, ["a", "b", "c"]);
}

#[tokio::test(start_paused = true)]
async fn a_lab_that_cannot_rehearse_upgrades_makes_an_upgrade_cell_error() {
    let source = format!(
        r#"name = "up"

[axes]
upgrade = ["u"]

[[upgrade]]
name = "u"
from = "old"
to = "new"

[engines.old]
kind = "dind"
image = "dockmatrix/engine:20.10.24"

[engines.new]
kind = "dind"
image = "dockmatrix/engine:28.5.2"

[services.redis]
kind = "redis"
image = "{IMAGE}"
"#
    );
    let matrix = Matrix::from_source(Path::new("up.toml"), source).expect("matrix");
    let mut cfg = config(&["a"], |_| {});
    cfg.cells = matrix.cells().expect("cells");
    cfg.matrix = Arc::new(matrix);
    let lab = Scripted::default();
    let c = run(&cfg, &lab).await.cells.remove(0);
    assert_eq!(c.status, CellStatus::Error);
    assert_eq!(
        c.reason.as_deref(),
        Some("this lab does not rehearse upgrades")
    );
    assert!(
        !lab.log().iter().any(|l| l.starts_with("cell_done")),
        "it owns no pool engine"
    );
}
