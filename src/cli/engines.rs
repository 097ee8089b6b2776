//! `dockmatrix engines`: starts each (engine, storage driver) of a matrix once and prints
//! what it measures, and what preflight and the daemon.json lint found before: a `block`
//! finding means the engine is not started, and the table says why.

use tabled::builder::Builder;
use tabled::settings::Style;

use super::{EnginesArgs, Outcome};
use dockmatrix::engine::labels::RunLabels;
use dockmatrix::engine::{EngineError, EngineHandle, preflight};
use dockmatrix::matrix::plan::{CellPlan, EngineKey, PlannedEngine};
use dockmatrix::matrix::{EngineKind, Matrix};
use dockmatrix::results::{Finding, FindingLevel};
use dockmatrix::runner::pool::error_chain;

/// What became of one (engine, driver).
enum Started {
    Up(Box<EngineHandle>),
    Failed(EngineError),
    /// Preflight blocked it: not started.
    Blocked,
}

pub fn run(args: &EnginesArgs) -> Outcome {
    let (matrix, cells) = match super::plan::select(&args.matrix, &args.selection) {
        Ok(x) => x,
        Err(o) => return o,
    };
    // Each (engine, driver, daemon.json) once, with the images of every cell on it; an
    // upgrade cell's FROM and TO engines both.
    let mut keys: Vec<(EngineKey, Vec<String>, Option<serde_json::Value>)> = Vec::new();
    for plan in cells.iter().map(|c| CellPlan::of(&matrix, c)) {
        let images = plan.image_list();
        for PlannedEngine { key, daemon } in plan.engines {
            let at = match keys.iter().position(|(x, _, _)| *x == key) {
                Some(at) => at,
                None => {
                    keys.push((key, Vec::new(), daemon));
                    keys.len() - 1
                }
            };
            for img in &images {
                if !keys[at].1.contains(img) {
                    keys[at].1.push(img.clone());
                }
            }
        }
    }
    let rt = match super::runtime() {
        Ok(r) => r,
        Err(o) => return o,
    };
    rt.block_on(async {
        let host = match dockmatrix::engine::connect_host().await {
            Ok(h) => h,
            Err(e) => return super::host_unavailable(&e),
        };
        if let Ok(h) = dockmatrix::engine::host::resolved()
            && let Err(o) = super::print_result(&format!("host engine: {h}\n"))
        {
            return o;
        }
        let run_id = format!("engines-{}", dockmatrix::runner::new_run_id());
        let labels = RunLabels::new(&run_id);
        let starts = keys.iter().map(|(k, images, daemon)| {
            let (host, labels, matrix) = (host.clone(), labels.clone(), &matrix);
            async move {
                let (started, findings) =
                    start_checked(&host, matrix, k, images, daemon.as_ref(), &labels).await;
                if let Started::Up(h) = &started {
                    dockmatrix::engine::release(&host, h).await;
                }
                (k, started, findings)
            }
        });
        let results = futures_util::future::join_all(starts).await;
        dockmatrix::engine::clean::remove_run(&host, &run_id).await;
        let text = format!("{}\n{}\n", facts_table(&results), findings_table(&results));
        if let Err(o) = super::print_result(&text) {
            return o;
        }
        if results
            .iter()
            .any(|(_, r, _)| matches!(r, Started::Failed(e) if !e.is_refusal()))
        {
            Outcome::Failed
        } else {
            Outcome::Success
        }
    })
}

/// Preflight (and the lint of the engine's daemon.json) first; then the engine is
/// started unless a finding blocks it. Host and endpoint engines run already: they are
/// measured first and judged on what they measured.
async fn start_checked(
    host: &dockmatrix::engine::Host,
    matrix: &Matrix,
    k: &EngineKey,
    images: &[String],
    daemon: Option<&serde_json::Value>,
    labels: &RunLabels,
) -> (Started, Vec<Finding>) {
    let spec = matrix.engines.get(&k.engine);
    let dind = spec.filter(|s| s.kind == EngineKind::Dind);
    let mut findings = Vec::new();
    if let Some(spec) = dind {
        findings =
            preflight::before_start(host, spec, k.driver.as_deref(), daemon, images, labels).await;
        if findings.iter().any(|f| f.level == FindingLevel::Block) {
            return (Started::Blocked, findings);
        }
    }
    eprintln!("starting {}/{}…", k.engine, k.driver_label());
    let config = dockmatrix::engine::Config {
        driver: k.driver.as_deref(),
        daemon,
        daemon_config: k.daemon_config.as_deref(),
        ro_folders: &[],
        containerd: k.containerd,
    };
    match dockmatrix::engine::start(host, spec, config, labels).await {
        Ok(h) => {
            if dind.is_none() {
                let platforms = preflight::image_platforms(&h.docker, images).await;
                findings = preflight::check(&preflight::Subject::from_facts(&h.facts, platforms));
            }
            (Started::Up(Box::new(h)), findings)
        }
        Err(e) => (Started::Failed(e), findings),
    }
}

fn facts_table(results: &[(&EngineKey, Started, Vec<Finding>)]) -> String {
    let mut b = Builder::default();
    b.push_record([
        "engine",
        "driver",
        "status",
        "server",
        "API",
        "min API",
        "driver (measured)",
        "image store",
        "containerd",
        "runc",
        "kernel",
        "cgroup",
        "os/arch",
    ]);
    for (k, r, findings) in results {
        let mut row = vec![k.engine.clone(), k.driver_label().to_string()];
        match r {
            Started::Up(h) => {
                let f = &h.facts;
                // A host or endpoint engine runs anyway; a block says its cells cannot.
                let status = if findings.iter().any(|f| f.level == FindingLevel::Block) {
                    "⛔ up, blocked by preflight"
                } else {
                    "✅ up"
                };
                row.extend([
                    status.to_string(),
                    f.server_version.clone(),
                    f.api_version.clone(),
                    f.min_api_version.clone(),
                    f.storage_driver.clone(),
                    f.image_store.clone(),
                    f.containerd.clone(),
                    f.runc.clone(),
                    f.kernel.clone(),
                    f.cgroup_version.clone(),
                    format!("{}/{}", f.os, f.arch),
                ]);
            }
            Started::Failed(e) => {
                let status = if e.is_refusal() {
                    "⛔ unsupported"
                } else {
                    "💥 error"
                };
                row.push(status.to_string());
                row.push(dockmatrix::secrets::mask_urls(&error_chain(e)).replace('\n', " | "));
            }
            Started::Blocked => {
                row.push("⛔ unsupported".to_string());
                row.push(format!(
                    "not started: preflight: {}",
                    preflight::blocking(findings)
                ));
            }
        }
        row.resize(13, String::new());
        b.push_record(row);
    }
    let mut t = b.build();
    t.with(Style::rounded());
    t.to_string()
}

fn findings_table(results: &[(&EngineKey, Started, Vec<Finding>)]) -> String {
    let mut b = Builder::default();
    b.push_record(["engine", "driver", "check", "finding", "reason"]);
    for (k, _, findings) in results {
        for f in findings {
            b.push_record([
                k.engine.clone(),
                k.driver_label().to_string(),
                f.check.clone(),
                f.level.to_string(),
                dockmatrix::secrets::mask_urls(&f.reason),
            ]);
        }
    }
    let mut t = b.build();
    t.with(Style::rounded());
    format!("preflight\n{t}")
}
