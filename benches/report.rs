//! Rendering a synthetic 10,000-cell run in every format (each must stay under a second).
//! `junit_quick_junit` is the JUnit writer as it was (quick-junit), measured in the same
//! run as `junit` so the two figures share one machine's load.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use dockmatrix::report::{self, Format, Options, Pivot};
use dockmatrix::results::{
    AttemptRecord, CellRecord, CellStatus, CheckRecord, CheckStatus, EngineFacts, HostFacts,
    ImageRecord, MatrixInfo, PerfDelta, PerfStats, RunOptions, RunRecord, SCHEMA, ServiceRecord,
    StepDurations,
};
use indexmap::IndexMap;

#[path = "support/junit_reference.rs"]
mod junit_reference;

const ENGINES: [&str; 10] = [
    "20.10.5", "20.10.24", "23.0.6", "24.0.9", "25.0.5", "26.1.5", "27.3.1", "27.5.1", "28.0.4",
    "28.5.2",
];
const DRIVERS: [&str; 4] = ["overlay2", "fuse-overlayfs", "vfs", "btrfs"];
const POSTGRES: [&str; 5] = ["13", "14", "15", "16", "17"];
const REDIS: [&str; 5] = ["6.0", "6.2", "7.0", "7.2", "8.0"];
const MARIADB: [&str; 10] = [
    "10.5", "10.6", "10.11", "11.0", "11.1", "11.2", "11.4", "11.6", "11.7", "11.8",
];

fn check(suite: &str, name: String, status: CheckStatus, perf: Option<PerfStats>) -> CheckRecord {
    let message = match status {
        CheckStatus::Fail => format!(
            "expected 1 row from `SELECT 1`\ngot ERROR: relation \"orders\" does not exist ({name})"
        ),
        CheckStatus::Error => {
            "connection to postgres:5432 lost mid-check: Connection reset by peer (os error 104)"
                .into()
        }
        CheckStatus::Skipped => "`when` redis >=8 does not hold (redis=7.0)".into(),
        CheckStatus::KnownFail => {
            "known incompatibility: overlayfs answers EXDEV to rename(2)".into()
        }
        _ => String::new(),
    };
    CheckRecord {
        suite: suite.into(),
        name,
        status,
        duration_ms: 120,
        message,
        perf,
        phase: None,
    }
}

fn cell(i: usize, values: IndexMap<String, String>) -> CellRecord {
    let status = match i % 40 {
        0 => CellStatus::Fail,
        1 => CellStatus::Unsupported,
        2 => CellStatus::Error,
        3 => CellStatus::Flaky,
        4 => CellStatus::Cancelled,
        _ => CellStatus::Pass,
    };
    let runs_checks = !matches!(
        status,
        CellStatus::Unsupported | CellStatus::Error | CellStatus::Cancelled
    );
    let mut checks = Vec::new();
    if runs_checks {
        for k in 0..5 {
            checks.push(check(
                "connectivity",
                format!("connectivity check {k}"),
                CheckStatus::Pass,
                None,
            ));
        }
        for k in 0..7 {
            let st = match (status, k) {
                (CellStatus::Fail, 0) => CheckStatus::Fail,
                (CellStatus::Fail, 1) => CheckStatus::Error,
                (_, 2) => CheckStatus::Skipped,
                (_, 3) => CheckStatus::KnownFail,
                _ => CheckStatus::Pass,
            };
            checks.push(check(
                "regression",
                format!("regression check {k}"),
                st,
                None,
            ));
        }
        for k in 0..2 {
            let perf = PerfStats {
                ops_per_sec: 4000.0 + i as f64,
                p50_ms: 0.9,
                p95_ms: 1.8 + (i % 7) as f64 * 0.1,
                p99_ms: 3.0,
                mean_ms: 1.0,
                cv: 0.4,
                samples: 40_000,
                concurrency: 8,
                p95_precision_pct: Some(1.9),
                baseline: i.is_multiple_of(2).then(|| PerfDelta {
                    run_id: "20261126T020014Z-7c1e".into(),
                    p95_ms: 1.7,
                    ops_per_sec: 4100.0,
                    p95_delta_pct: 8.0,
                    ops_delta_pct: -2.0,
                    tolerance_pct: 15.0,
                    regressed: i.is_multiple_of(14),
                }),
            };
            checks.push(check(
                "perf",
                format!("perf check {k}"),
                CheckStatus::Pass,
                Some(perf),
            ));
        }
    }
    let failed = status != CellStatus::Pass;
    let services = ["postgres", "mariadb", "redis", "app"]
        .iter()
        .map(|s| ServiceRecord {
            name: s.to_string(),
            kind: s.to_string(),
            image: format!("dockmatrix/{s}:1"),
            peak_memory_bytes: 50_000_000,
            cpu_ms: 1500,
            restarts: 0,
            oom_killed: false,
            ready_ms: Some(2000),
            log_tail: if failed {
                (0..20)
                    .map(|l| format!("2026-11-27 09:14:44.018 UTC [57] LOG:  line {l} of {s} <with> \"markup\" & more"))
                    .collect()
            } else {
                Vec::new()
            },
            exit_code: None,
            lost_networks: Vec::new(),
        })
        .collect();
    CellRecord {
        id: format!("cell-{i:05}-{:08x}", i * 2_654_435_761 % 0xffff_ffff),
        values: values.clone(),
        status,
        reason: failed.then(|| {
            format!("{status}: the reason for cell {i}, as the engine or the runner said it")
        }),
        failed_step: failed.then(|| "checks".to_string()),
        attempts: if status == CellStatus::Flaky { 2 } else { 1 },
        previous_attempts: if status == CellStatus::Flaky {
            vec![AttemptRecord {
                status: CellStatus::Fail,
                reason: Some("service `postgres` did not become ready within 60s".into()),
            }]
        } else {
            Vec::new()
        },
        durations_ms: StepDurations {
            engine: 8000,
            images: 20000,
            services: 6000,
            checks: 25000,
            teardown: 2000,
            total: 61000,
        },
        engine: Some(EngineFacts {
            name: values["engine"].clone(),
            kind: "dind".into(),
            server_version: values["engine"].clone(),
            api_version: "1.51".into(),
            storage_driver: values["storage-driver"].clone(),
            containerd: "2.1.9".into(),
            runc: "1.3.6".into(),
            kernel: "6.1.0-28-amd64".into(),
            cgroup_version: "1".into(),
            os: "Debian GNU/Linux forky/sid".into(),
            arch: "x86_64".into(),
            min_api_version: "1.24".into(),
            image_store: "graphdriver".into(),
            env: Default::default(),
            cache: "fresh".into(),
            start_ms: Some(4000),
            images_ms: Some(20000),
        }),
        images: vec![ImageRecord {
            service: "postgres".into(),
            reference: format!("dockmatrix/postgres:{}", values["postgres"]),
            digest: "sha256:0123456789abcdef".into(),
            labels: Default::default(),
        }],
        services,
        checks,
        kept: None,
        preflight: Vec::new(),
        upgrade: None,
        compose: None,
    }
}

fn synthetic(n: usize) -> RunRecord {
    let mut cells = Vec::with_capacity(n);
    'outer: for e in ENGINES {
        for d in DRIVERS {
            for p in POSTGRES {
                for r in REDIS {
                    for m in MARIADB {
                        if cells.len() == n {
                            break 'outer;
                        }
                        let values: IndexMap<String, String> = [
                            ("engine", e),
                            ("storage-driver", d),
                            ("postgres", p),
                            ("redis", r),
                            ("mariadb", m),
                        ]
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect();
                        cells.push(cell(cells.len(), values));
                    }
                }
            }
        }
    }
    RunRecord {
        schema: SCHEMA,
        run_id: "20261127T090011Z-4be2".into(),
        matrix: MatrixInfo {
            name: "synthetic".into(),
            hash: "9c2f".into(),
            path: "matrices/synthetic.toml".into(),
        },
        partition: None,
        started_at: "2026-11-27T09:00:11Z".into(),
        finished_at: Some("2026-11-27T19:00:11Z".into()),
        tool_version: "0.1.0".into(),
        host: HostFacts::default(),
        options: RunOptions::default(),
        axes: ["engine", "storage-driver", "postgres", "redis", "mariadb"]
            .map(String::from)
            .to_vec(),
        cells,
        interrupted: false,
        warnings: Vec::new(),
        merged_from: Vec::new(),
    }
}

fn bench(c: &mut Criterion) {
    let record = synthetic(10_000);
    assert_eq!(record.cells.len(), 10_000);
    let mut g = c.benchmark_group("render_10k_cells");
    g.sample_size(10);
    let plain = Options::default();
    for (name, format) in [
        ("table", Format::Table),
        ("markdown", Format::Markdown),
        ("csv", Format::Csv),
        ("json", Format::Json),
        ("junit", Format::Junit),
        ("html", Format::Html),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| report::render(format, black_box(&record), &plain))
        });
    }
    g.bench_function("junit_quick_junit", |b| {
        b.iter(|| junit_reference::render_junit(black_box(&record)))
    });
    let pivot = Options {
        color: true,
        pivot: Some(Pivot::new("engine", "storage-driver")),
        width: None,
    };
    g.bench_function("sanitise_only", |b| {
        b.iter(|| report::text::sanitised(black_box(&record)))
    });
    g.bench_function("clone_only", |b| b.iter(|| black_box(&record).clone()));
    g.bench_function("table_pivot", |b| {
        b.iter(|| report::render(Format::Table, black_box(&record), &pivot))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
