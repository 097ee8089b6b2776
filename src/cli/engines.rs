//! `dockmatrix engines`: starts each (engine, storage driver) of a matrix once and prints
//! what it measures.

use tabled::builder::Builder;
use tabled::settings::Style;

use super::{EnginesArgs, Outcome};
use crate::engine::labels::RunLabels;
use crate::runner::pool::{EngineKey, error_chain};

pub fn run(args: &EnginesArgs) -> Outcome {
    let (matrix, cells) = match super::plan::select(&args.matrix, &args.selection) {
        Ok(x) => x,
        Err(o) => return o,
    };
    let mut keys: Vec<EngineKey> = Vec::new();
    for c in &cells {
        let k = EngineKey::of(c);
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let rt = match super::runtime() {
        Ok(r) => r,
        Err(o) => return o,
    };
    rt.block_on(async {
        let host = match crate::engine::connect_host().await {
            Ok(h) => h,
            Err(e) => return Outcome::NoDocker(super::chain(&e)),
        };
        let run_id = format!("engines-{}", crate::runner::new_run_id());
        let labels = RunLabels::new(&run_id);
        let starts = keys.iter().map(|k| {
            let (host, labels, spec) = (
                host.clone(),
                labels.clone(),
                matrix.engines.get(&k.engine).cloned(),
            );
            async move {
                eprintln!("starting {}/{}…", k.engine, k.driver_label());
                let config = crate::engine::Config {
                    driver: k.driver.as_deref(),
                    daemon: spec.as_ref().and_then(|s| s.daemon.as_ref()),
                    daemon_config: None,
                };
                let r = crate::engine::start(&host, spec.as_ref(), config, &labels).await;
                if let Ok(h) = &r {
                    crate::engine::release(&host, h).await;
                }
                (k, r)
            }
        });
        let results = futures_util::future::join_all(starts).await;
        crate::engine::clean::remove_run(&host, &run_id).await;
        let mut b = Builder::default();
        b.push_record([
            "engine",
            "driver",
            "status",
            "server",
            "API",
            "driver (measured)",
            "containerd",
            "runc",
            "kernel",
            "cgroup",
            "os/arch",
        ]);
        for (k, r) in &results {
            match r {
                Ok(h) => {
                    let f = &h.facts;
                    b.push_record([
                        k.engine.clone(),
                        k.driver_label().to_string(),
                        "✅ up".to_string(),
                        f.server_version.clone(),
                        f.api_version.clone(),
                        f.storage_driver.clone(),
                        f.containerd.clone(),
                        f.runc.clone(),
                        f.kernel.clone(),
                        f.cgroup_version.clone(),
                        format!("{}/{}", f.os, f.arch),
                    ]);
                }
                Err(e) => {
                    let status = if e.is_refusal() {
                        "⛔ unsupported"
                    } else {
                        "💥 error"
                    };
                    let mut row = vec![
                        k.engine.clone(),
                        k.driver_label().to_string(),
                        status.to_string(),
                    ];
                    row.push(crate::secrets::mask_urls(&error_chain(e)).replace('\n', " | "));
                    row.resize(11, String::new());
                    b.push_record(row);
                }
            }
        }
        let mut t = b.build();
        t.with(Style::rounded());
        println!("{t}");
        if results
            .iter()
            .any(|(_, r)| matches!(r, Err(e) if !e.is_refusal()))
        {
            Outcome::Failed
        } else {
            Outcome::Success
        }
    })
}
