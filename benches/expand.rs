//! Planning a 100,000-cell matrix: parse + validate, expand (include/exclude, ids, image
//! checks), filter and partition. The budget: expanding and filtering 100,000 cells in
//! under 200 ms, in under 100 MB of memory.
//!
//! The matrix is built here, in memory. It is also written to
//! `target/bench-matrices/expand-100k.toml`, so that the binary's peak memory can be
//! measured on exactly what is benched:
//!
//! ```text
//! cargo bench --bench expand
//! /usr/bin/time -v target/release/dockmatrix plan target/bench-matrices/expand-100k.toml \
//!     --filter 'engine>=25,storage-driver!=vfs' --format json > /dev/null
//! ```

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use dockmatrix::matrix::{Filter, Matrix, Partition};

/// Five axes of 10 or 11 values: 110,000 combinations before exclude and include.
const ENGINES: [&str; 10] = [
    "20.10.5", "20.10.24", "23.0.6", "24.0.9", "25.0.5", "26.1.5", "27.3.1", "27.5.1", "28.0.4",
    "28.5.2",
];
const DRIVERS: [&str; 11] = [
    "overlay2",
    "fuse-overlayfs",
    "vfs",
    "btrfs",
    "zfs",
    "devicemapper",
    "aufs",
    "overlay",
    "native",
    "windowsfilter",
    "lcfs",
];
const POSTGRES: [&str; 10] = ["9.6", "10", "11", "12", "13", "14", "15", "16", "17", "18"];
const REDIS: [&str; 10] = [
    "5.0", "6.0", "6.2", "7.0", "7.2", "7.4", "8.0", "8.2", "9.0", "9.1",
];
const MARIADB: [&str; 10] = [
    "10.5", "10.6", "10.11", "11.0", "11.1", "11.2", "11.4", "11.6", "11.7", "11.8",
];

const FILTER: &str = "engine>=25,storage-driver!=vfs";

fn list(values: &[&str]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("\"{v}\"")).collect();
    format!("[{}]", quoted.join(", "))
}

/// The matrix: 110,000 combinations, an exclude that removes 1,000 of them, includes that
/// extend every cell, a tenth of them, and add 3 new ones (109,003 cells); 10 engines;
/// 4 services whose images take `{version}` (and one also `{engine}`).
fn matrix_toml() -> String {
    let mut t = String::new();
    let _ = writeln!(t, "name = \"bench-100k\"\nscenarios = []\n");
    let _ = writeln!(
        t,
        "[run]\nmax-parallel = 8\nretries = 1\ncell-timeout = \"10m\"\n"
    );
    let _ = writeln!(t, "[axes]");
    let _ = writeln!(t, "engine = {}", list(&ENGINES));
    let _ = writeln!(t, "storage-driver = {}", list(&DRIVERS));
    let _ = writeln!(t, "postgres = {}", list(&POSTGRES));
    let _ = writeln!(t, "redis = {}", list(&REDIS));
    let _ = writeln!(t, "mariadb = {}\n", list(&MARIADB));
    // 20.10.5 never ran btrfs here: 1 × 1 × 10 × 10 × 10 = 1,000 combinations less.
    let _ = writeln!(
        t,
        "[[exclude]]\nengine = \"20.10.5\"\nstorage-driver = \"btrfs\"\n"
    );
    // Extends every combination with a free variable.
    let _ = writeln!(t, "[[include]]\ntier = \"nightly\"\n");
    // Extends the 10,000 combinations with postgres 17.
    let _ = writeln!(
        t,
        "[[include]]\npostgres = \"17\"\npg-extra = \"pgvector\"\n"
    );
    // Overwrite original values of every combination: new cells (a later include never
    // extends them).
    for (engine, driver) in [("28.5.2", "ext4"), ("27.5.1", "xfs"), ("26.1.5", "tmpfs")] {
        let _ = writeln!(
            t,
            "[[include]]\nengine = \"{engine}\"\nstorage-driver = \"{driver}\"\npostgres = \"17\"\nredis = \"8.0\"\nmariadb = \"11.8\"\n"
        );
    }
    for e in ENGINES {
        let _ = writeln!(
            t,
            "[engines.\"{e}\"]\nkind = \"dind\"\nimage = \"dockmatrix/engine:{e}\"\n"
        );
    }
    let _ = writeln!(
        t,
        "[services.postgres]\nkind = \"postgres\"\nimage = \"postgres:{{version}}\"\nenv = {{ POSTGRES_PASSWORD = \"${{PG_PASSWORD:-secret}}\" }}\nports = [5432]\n"
    );
    let _ = writeln!(
        t,
        "[services.redis]\nkind = \"redis\"\nimage = \"redis:{{version}}\"\nports = [6379]\n"
    );
    let _ = writeln!(
        t,
        "[services.mariadb]\nkind = \"mysql\"\nimage = \"mariadb:{{version}}\"\nports = [3306]\n"
    );
    let _ = writeln!(
        t,
        "[services.app]\nkind = \"http\"\nimage = \"shop:{{version}}-{{engine}}\"\nversion = \"1.4\"\ndepends-on = [\"postgres\", \"redis\", \"mariadb\"]\nports = [8080]\nready = {{ http = \"/health\", port = 8080 }}\nmemory = \"512m\""
    );
    t
}

/// Where the benched matrix is written for `/usr/bin/time -v dockmatrix plan`.
fn write_matrix(source: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let path = target.join("bench-matrices/expand-100k.toml");
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = std::fs::write(&path, source);
    path
}

fn bench(c: &mut Criterion) {
    let source = matrix_toml();
    let path = write_matrix(&source);
    let matrix = Matrix::from_source(&path, source.clone()).expect("the bench matrix is valid");
    let filter = Filter::parse(FILTER).expect("a valid filter");
    let partition: Partition = "hash:2/3".parse().expect("a valid partition");

    let cells = matrix.cells().expect("cells");
    let kept = matrix.plan(Some(&filter), None).expect("plan").len();
    eprintln!(
        "bench matrix: {} cells, {kept} after `{FILTER}` ({} bytes of TOML at {})",
        cells.len(),
        source.len(),
        path.display()
    );
    assert!(cells.len() >= 100_000, "{} cells", cells.len());
    drop(cells);

    // Wall-clock figures suffer when other processes share the CPUs; CPU time per
    // run (all threads, user + system) does not, so it is printed too.
    let runs = 20;
    let before = cpu_time();
    for _ in 0..runs {
        drop(black_box(matrix.plan(Some(&filter), None).expect("plan")));
    }
    eprintln!(
        "expand+filter: {:.1} ms of CPU per run (mean of {runs}, drop included)",
        (cpu_time() - before).as_secs_f64() * 1000.0 / f64::from(runs)
    );

    let mut g = c.benchmark_group("expand-100k");
    g.sample_size(20).measurement_time(Duration::from_secs(10));
    g.bench_function("parse+validate", |b| {
        b.iter(|| Matrix::from_source(&path, black_box(source.clone())).expect("valid"))
    });
    // Dropping 100,000 cells is not planning them: `iter_with_large_drop` leaves it out.
    g.bench_function("cells", |b| {
        b.iter_with_large_drop(|| black_box(&matrix).cells().expect("cells"))
    });
    g.bench_function("expand+filter", |b| {
        b.iter_with_large_drop(|| {
            black_box(&matrix)
                .plan(Some(black_box(&filter)), None)
                .expect("plan")
        })
    });
    g.bench_function("expand+filter+partition", |b| {
        b.iter_with_large_drop(|| {
            black_box(&matrix)
                .plan(Some(black_box(&filter)), Some(partition))
                .expect("plan")
        })
    });
    g.bench_function("parse+expand+filter", |b| {
        b.iter_with_large_drop(|| {
            let m = Matrix::from_source(&path, black_box(source.clone())).expect("valid");
            m.plan(Some(&filter), None).expect("plan")
        })
    });
    g.finish();
}

/// User + system CPU time of this process so far, all threads, from `/proc/self/stat`
/// (in clock ticks, which Linux always reports at 100 per second); zero elsewhere.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command (which may hold spaces) and its closing parenthesis:
    // utime and stime are the 12th and 13th.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: u64 = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

criterion_group!(benches, bench);
criterion_main!(benches);
