//! `dockmatrix cache prune`: removes image cache files whose image is gone from the host
//! engine, or beyond an age or size budget.

use clap::Subcommand;

use super::{CliError, Outcome};
use dockmatrix::engine::image_cache::{self, Budget};

#[derive(Debug, clap::Args)]
pub struct CacheArgs {
    #[command(subcommand)]
    pub command: CacheCommand,
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Remove saved images whose image no longer exists on the host engine, those unused
    /// for longer than --older-than, and the least recently used beyond --max-size.
    Prune(PruneArgs),
}

#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Also remove files not used for this long (e.g. 7d, 12h).
    #[arg(long, value_name = "DURATION", value_parser = super::parse_duration_arg)]
    pub older_than: Option<std::time::Duration>,
    /// Also remove the least recently used files until the cache fits (e.g. 20g).
    #[arg(long, value_name = "SIZE", value_parser = dockmatrix::units::parse_bytes)]
    pub max_size: Option<u64>,
}

pub fn run(args: &CacheArgs) -> Outcome {
    let CacheCommand::Prune(args) = &args.command;
    let dir = dockmatrix::engine::images::cache_dir().join("images");
    let rt = super::runtime()?;
    rt.block_on(async {
        let host = match dockmatrix::engine::connect_host().await {
            Ok(h) => h,
            Err(e) => return super::host_unavailable(e),
        };
        let budget = Budget {
            older_than: args.older_than,
            max_bytes: args.max_size,
        };
        let done = image_cache::prune(&host, &dir, budget).await;
        let mut text: String = done
            .removed
            .iter()
            .map(|(path, bytes, reason)| {
                format!("removed {} ({}): {reason}\n", path.display(), mib(*bytes))
            })
            .collect();
        let freed: u64 = done.removed.iter().map(|(_, b, _)| b).sum();
        text.push_str(&format!(
            "{}: removed {} files ({}), kept {} ({})\n",
            dir.display(),
            done.removed.len(),
            mib(freed),
            done.kept,
            mib(done.kept_bytes)
        ));
        // A closed stdout (`| head`) ends quietly, like every other command.
        super::print_result(&text)?;
        for p in &done.problems {
            eprintln!("warning: {p}");
        }
        if done.problems.is_empty() {
            Ok(())
        } else {
            Err(CliError::Failed)
        }
    })
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}
