//! `[run]`: the matrix's run settings (engine cache, parallelism, retries, cell timeout,
//! pull policy), each within its bounds.

use crate::diagnostic::Ctx;
use crate::matrix::RunSettings;
use crate::matrix::raw::RawRun;
use crate::units::parse_duration;

/// The `[run]` table's settings (defaults where it has none).
pub(super) fn run_settings(cx: &mut Ctx<'_>, raw: Option<&RawRun>) -> RunSettings {
    let mut run = RunSettings::default();
    let Some(r) = raw else { return run };
    if let Some(v) = &r.engine_cache {
        match v.get_ref() {
            toml::Value::Boolean(b) => run.engine_cache = Some(*b),
            toml::Value::String(s) if s == "on" || s == "off" => {
                run.engine_cache = Some(s == "on");
            }
            _ => cx.err(
                v.span(),
                "run.engine-cache",
                "engine-cache must be \"on\" or \"off\"",
                "e.g. engine-cache = \"off\" (every dind engine starts on an empty volume)",
            ),
        }
    }
    if let Some(n) = &r.max_parallel {
        match usize::try_from(*n.get_ref()) {
            Ok(v) if (1..=256).contains(&v) => run.max_parallel = Some(v),
            _ => cx.err(
                n.span(),
                "run.max-parallel",
                format!(
                    "max-parallel must be between 1 and 256, not {}",
                    n.get_ref()
                ),
                "e.g. max-parallel = 4",
            ),
        }
    }
    if let Some(n) = &r.retries {
        match u32::try_from(*n.get_ref()) {
            Ok(v) if v <= 10 => run.retries = Some(v),
            _ => cx.err(
                n.span(),
                "run.retries",
                format!("retries must be between 0 and 10, not {}", n.get_ref()),
                "e.g. retries = 1",
            ),
        }
    }
    if let Some(d) = &r.cell_timeout {
        match parse_duration(d.get_ref()) {
            Ok(t) if !t.is_zero() => run.cell_timeout = Some(t),
            Ok(_) => cx.err(
                d.span(),
                "run.cell-timeout",
                "the cell timeout is zero",
                "e.g. cell-timeout = \"10m\"",
            ),
            Err(e) => cx.err(
                d.span(),
                "run.cell-timeout",
                format!("bad duration: {e}"),
                "write a duration like \"90s\", \"10m\" or \"1h30m\"",
            ),
        }
    }
    if let Some(p) = &r.pull {
        match p.get_ref().parse() {
            Ok(policy) => run.pull = Some(policy),
            Err(e) => cx.err(
                p.span(),
                "run.pull",
                e,
                "pull = \"never\", \"missing\" or \"always\"",
            ),
        }
    }
    run
}
