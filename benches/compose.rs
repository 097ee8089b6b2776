//! Planning a compose matrix of 10,000 cells: load the matrix and its compose files,
//! expand, and interpolate and check the compose stack of every cell (what `plan` does).
//! The budget: under 1 s. The compose file reads the axes (and `DOCKMATRIX_CELL`, which
//! differs in every cell, so no two cells share a resolution).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use dockmatrix::matrix::Matrix;

const COMPOSE: &str = r#"
x-hc: &hc
  interval: 1s
  retries: 30
services:
  postgres:
    image: postgres:${POSTGRES:-17}
    environment:
      POSTGRES_PASSWORD: ${PG_PASSWORD:-secret}
      CELL: ${DOCKMATRIX_CELL}
    ports: ["5432"]
    healthcheck: { <<: *hc, test: pg_isready -U postgres }
    volumes: [data:/var/lib/postgresql/data, ./init:/docker-entrypoint-initdb.d:ro]
  redis:
    image: redis:${REDIS:-8.0}
    healthcheck: { <<: *hc, test: [CMD, redis-cli, ping] }
  migrate:
    image: postgres:${POSTGRES:-17}
    command: psql -h postgres -c "select 1"
    depends_on: { postgres: { condition: service_healthy } }
  app:
    image: shop:${APP:-1}
    environment:
      - PG_URL=postgres://postgres:secret@postgres/postgres
      - LEVEL=${LEVEL:-info}
    ports: ["8080"]
    depends_on:
      migrate: { condition: service_completed_successfully }
      redis: { condition: service_healthy }
volumes:
  data:
"#;

fn values(prefix: &str, n: usize) -> String {
    let v: Vec<String> = (0..n).map(|i| format!("\"{prefix}{i}\"")).collect();
    format!("[{}]", v.join(", "))
}

fn setup() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("init")).expect("mkdir");
    std::fs::write(dir.path().join("compose.yaml"), COMPOSE).expect("write");
    // 10 × 10 × 10 × 10 = 10,000 cells.
    let matrix = format!(
        "name = \"compose-10k\"\n[axes]\npostgres = {}\nredis = {}\napp = {}\nlevel = {}\n[compose]\nfiles = [\"compose.yaml\"]\n",
        values("1", 10),
        values("7.", 10),
        values("v", 10),
        values("l", 10),
    );
    let m = dir.path().join("m.toml");
    std::fs::write(&m, matrix).expect("write");
    (dir, m)
}

fn bench(c: &mut Criterion) {
    let (_dir, path) = setup();
    let m = Matrix::load(&path).expect("a valid matrix");
    let cells = m.plan(None, None).expect("plans");
    assert_eq!(cells.len(), 10_000);
    let mut g = c.benchmark_group("compose");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function(
        "plan 10,000 compose cells (load + expand + resolve every cell)",
        |b| {
            b.iter(|| {
                let m = Matrix::load(black_box(&path)).expect("valid");
                black_box(m.plan(None, None).expect("plans"))
            })
        },
    );
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
