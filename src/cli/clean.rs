//! `dockmatrix clean`: removes labelled objects left by runs whose process is gone, by one
//! run, or all of them.

use super::{CleanArgs, CliError, Outcome};
use dockmatrix::engine::clean::{Scope, clean};

pub fn run(args: &CleanArgs) -> Outcome {
    let scope = match (&args.run, args.all) {
        (Some(id), _) => Scope::Run(id.clone()),
        (None, true) => Scope::All,
        (None, false) => Scope::Dead,
    };
    let rt = super::runtime()?;
    rt.block_on(async {
        let host = match dockmatrix::engine::connect_host().await {
            Ok(h) => h,
            Err(e) => return super::host_unavailable(e),
        };
        if args.cache {
            let (removed, busy) = dockmatrix::engine::cache::remove_all(&host).await;
            let mut text: String = removed
                .iter()
                .map(|v| format!("removed engine cache {v}\n"))
                .collect();
            if removed.is_empty() {
                text.push_str("no engine cache to remove\n");
            }
            for v in &busy {
                eprintln!("engine cache {v} is in use by a live run: left alone");
            }
            return super::print_result(&text);
        }
        let done = clean(&host, &scope).await;
        let mut runs: Vec<&String> = done
            .containers
            .keys()
            .chain(done.networks.keys())
            .chain(done.volumes.keys())
            .collect();
        runs.sort();
        runs.dedup();
        let mut text = String::new();
        for run in &runs {
            let n = |m: &std::collections::BTreeMap<String, usize>| m.get(*run).copied().unwrap_or(0);
            text.push_str(&format!(
                "run {run}: removed {} containers, {} networks, {} volumes\n",
                n(&done.containers),
                n(&done.networks),
                n(&done.volumes)
            ));
        }
        if done.total() == 0 {
            text.push_str("nothing to remove\n");
        }
        // The objects are gone either way; a closed pipe only ends the listing quietly.
        let printed = super::print_result(&text);
        for live in &done.live_runs {
            eprintln!("run {live} is still running (its process is alive): left alone; use --run {live} to remove it anyway");
        }
        for p in &done.problems {
            eprintln!("warning: {p}");
        }
        printed?;
        if done.problems.is_empty() { Ok(()) } else { Err(CliError::Failed) }
    })
}
