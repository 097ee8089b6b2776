//! `dockmatrix engines`: starts each (engine, storage driver) of a matrix once and prints
//! what it measures, and what preflight and the daemon.json lint found before: a `block`
//! finding means the engine is not started, and the table says why.

use tabled::builder::Builder;
use tabled::settings::Style;

use super::{CliError, EnginesArgs, Outcome};
use dockmatrix::engine::EngineHandle;
use dockmatrix::engine::admit::{self, Admission};
use dockmatrix::engine::labels::RunLabels;
use dockmatrix::matrix::Matrix;
use dockmatrix::matrix::plan::{CellPlan, EngineKey, PlannedEngine};
use dockmatrix::results::Finding;
use dockmatrix::runner::pool::error_chain;

pub fn run(args: &EnginesArgs) -> Outcome {
    let (matrix, cells) = super::plan::select(&args.matrix, &args.selection)?;
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
    let rt = super::runtime()?;
    rt.block_on(async {
        let host = match dockmatrix::engine::connect_host().await {
            Ok(h) => h,
            Err(e) => return super::host_unavailable(e),
        };
        if let Ok(h) = dockmatrix::engine::host::resolved()
            && let Err(o) = super::print_result(&format!("host engine: {h}\n"))
        {
            return Err(o);
        }
        let run_id = format!("engines-{}", dockmatrix::runner::new_run_id());
        let labels = RunLabels::new(&run_id);
        let starts = keys.iter().map(|(k, images, daemon)| {
            let (host, labels, matrix) = (host.clone(), labels.clone(), &matrix);
            async move {
                let (started, findings) =
                    start_checked(&host, matrix, k, images, daemon.as_ref(), &labels).await;
                if let Admission::Up(h) | Admission::BlockedUp { engine: h, .. } = &started {
                    dockmatrix::engine::release(&host, h).await;
                }
                (k, started, findings)
            }
        });
        let results = futures_util::future::join_all(starts).await;
        dockmatrix::engine::clean::remove_run(&host, &run_id).await;
        let text = format!("{}\n{}\n", facts_table(&results), findings_table(&results));
        super::print_result(&text)?;
        if results
            .iter()
            .any(|(_, r, _)| matches!(r, Admission::Failed(e) if !e.is_refusal()))
        {
            Err(CliError::Failed)
        } else {
            Ok(())
        }
    })
}

/// The engine's admission, as `run` makes it (`engine::admit`); only announced here.
async fn start_checked(
    host: &dockmatrix::engine::Host,
    matrix: &Matrix,
    k: &EngineKey,
    images: &[String],
    daemon: Option<&serde_json::Value>,
    labels: &RunLabels,
) -> (Admission<EngineHandle>, Vec<Finding>) {
    let spec = matrix.engines.get(&k.engine);
    let config = dockmatrix::engine::Config {
        driver: k.driver.as_deref(),
        daemon,
        daemon_config: k.daemon_config.as_deref(),
        ro_folders: &[],
        containerd: k.containerd,
    };
    let admitted = admit::admit(
        host,
        spec,
        config,
        images,
        labels,
        |h| h,
        || {
            eprintln!("starting {}/{}…", k.engine, k.driver_label());
            dockmatrix::engine::start(host, spec, config, labels)
        },
    )
    .await;
    (admitted.outcome, admitted.findings)
}

fn facts_table(results: &[(&EngineKey, Admission<EngineHandle>, Vec<Finding>)]) -> String {
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
    for (k, r, _) in results {
        let mut row = vec![k.engine.clone(), k.driver_label().to_string()];
        match r {
            Admission::Up(h) | Admission::BlockedUp { engine: h, .. } => {
                let f = &h.facts;
                // A host or endpoint engine runs anyway; a block says its cells cannot
                // (`run` refuses them with the same reason).
                let status = if matches!(r, Admission::BlockedUp { .. }) {
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
            Admission::Failed(e) => {
                let status = if e.is_refusal() {
                    "⛔ unsupported"
                } else {
                    "💥 error"
                };
                row.push(status.to_string());
                row.push(dockmatrix::secrets::mask_urls(&error_chain(e)).replace('\n', " | "));
            }
            Admission::Blocked { reason } => {
                row.push("⛔ unsupported".to_string());
                row.push(format!("not started: preflight: {reason}"));
            }
        }
        row.resize(13, String::new());
        b.push_record(row);
    }
    let mut t = b.build();
    t.with(Style::rounded());
    t.to_string()
}

fn findings_table(results: &[(&EngineKey, Admission<EngineHandle>, Vec<Finding>)]) -> String {
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
