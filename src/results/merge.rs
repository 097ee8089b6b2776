//! Shards joined into one run (`dockmatrix merge`): the shards of a matrix run with
//! `--partition` across CI jobs or machines. Refuses shards of different matrices and
//! shards that share a cell (matched by values): both mean the shards are not one run.

use sha2::{Digest, Sha256};

use super::compare::canonical;
use super::{CellRecord, RunRecord, SCHEMA};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MergeError {
    #[error("nothing to merge: no run given")]
    NoShards,
    #[error("{other} is of another matrix than {first}; only shards of one matrix merge")]
    DifferentMatrix {
        /// `run R (matrix `name`, hash H)`.
        first: String,
        other: String,
    },
    #[error("run {run} is given twice")]
    SameRun { run: String },
    #[error(
        "cell {cell} ({values}) is in both run {first} and run {second}; shards must not overlap"
    )]
    Overlap {
        cell: String,
        values: String,
        first: String,
        second: String,
    },
}

/// Joins shards into one record. Cells keep their shard's order, shard after shard,
/// shards taken in partition order (`M` of `hash:M/N`) when they have one. The merged
/// run's id is the earliest shard's timestamp and a digest of the shard ids (the same
/// shards always merge to the same id); it lists the shards in `merged_from` and their
/// partitions in `partition`, starts at the earliest start and ends at the latest end.
pub fn merge(shards: &[RunRecord]) -> Result<RunRecord, MergeError> {
    let first = shards.first().ok_or(MergeError::NoShards)?;
    for s in &shards[1..] {
        if s.matrix.hash != first.matrix.hash {
            let describe = |r: &RunRecord| {
                format!(
                    "run {} (matrix `{}`, hash {})",
                    r.run_id, r.matrix.name, r.matrix.hash
                )
            };
            return Err(MergeError::DifferentMatrix {
                first: describe(first),
                other: describe(s),
            });
        }
    }
    let mut seen_runs = std::collections::HashSet::new();
    for s in shards {
        if !seen_runs.insert(s.run_id.as_str()) {
            return Err(MergeError::SameRun {
                run: s.run_id.clone(),
            });
        }
    }
    let mut order: Vec<&RunRecord> = shards.iter().collect();
    order.sort_by_key(|s| partition_index(s.partition.as_deref()));

    let mut owner: std::collections::HashMap<Vec<(String, String)>, (&str, &str)> =
        std::collections::HashMap::new();
    let mut cells: Vec<CellRecord> = Vec::new();
    for s in &order {
        for c in &s.cells {
            if let Some((run, _)) = owner.insert(canonical(&c.values), (&s.run_id, &c.id)) {
                return Err(MergeError::Overlap {
                    cell: c.id.clone(),
                    values: c
                        .values
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    first: run.to_string(),
                    second: s.run_id.clone(),
                });
            }
            cells.push(c.clone());
        }
    }

    let mut axes: Vec<String> = Vec::new();
    for s in &order {
        for a in &s.axes {
            if !axes.contains(a) {
                axes.push(a.clone());
            }
        }
    }
    let mut merged_from: Vec<String> = Vec::new();
    for s in &order {
        if s.merged_from.is_empty() {
            merged_from.push(s.run_id.clone());
        } else {
            merged_from.extend(s.merged_from.iter().cloned());
        }
    }
    let partitions: Vec<&str> = order
        .iter()
        .filter_map(|s| s.partition.as_deref())
        .flat_map(|p| p.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let mut warnings: Vec<String> = Vec::new();
    for s in &order {
        for w in &s.warnings {
            if !warnings.contains(w) {
                warnings.push(w.clone());
            }
        }
    }
    if let Some(missing) = missing_shards(&partitions) {
        warnings.push(format!("merged shards are incomplete: {missing} missing"));
    }
    let versions: Vec<&str> = {
        let mut v: Vec<&str> = order.iter().map(|s| s.tool_version.as_str()).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    if versions.len() > 1 {
        warnings.push(format!(
            "shards were made by different dockmatrix versions: {}",
            versions.join(", ")
        ));
    }

    let started = order
        .iter()
        .map(|s| s.started_at.as_str())
        .min_by(|a, b| cmp_time(a, b))
        .unwrap_or_default()
        .to_string();
    let finished = order
        .iter()
        .filter_map(|s| s.finished_at.as_deref())
        .max_by(|a, b| cmp_time(a, b))
        .map(str::to_string);
    let earliest = order
        .iter()
        .min_by(|a, b| cmp_time(&a.started_at, &b.started_at))
        .map_or(first, |s| *s);

    Ok(RunRecord {
        schema: SCHEMA,
        run_id: merged_id(&earliest.run_id, &merged_from),
        matrix: first.matrix.clone(),
        partition: (!partitions.is_empty()).then(|| partitions.join(",")),
        started_at: started,
        finished_at: finished,
        tool_version: first.tool_version.clone(),
        host: earliest.host.clone(),
        options: earliest.options.clone(),
        axes,
        cells,
        interrupted: order.iter().any(|s| s.interrupted),
        warnings,
        merged_from,
    })
}

/// `M` of `kind:M/N` (the first of a list), for ordering; unpartitioned shards last.
fn partition_index(p: Option<&str>) -> (u32, String) {
    let Some(p) = p else {
        return (u32::MAX, String::new());
    };
    let m = p
        .split(',')
        .next()
        .and_then(|first| first.split_once(':'))
        .and_then(|(_, mn)| mn.split_once('/'))
        .and_then(|(m, _)| m.trim().parse().ok())
        .unwrap_or(u32::MAX);
    (m, p.to_string())
}

/// `hash:2/3` when the partitions given are all of one `kind:…/N` and some `M` is absent.
fn missing_shards(partitions: &[&str]) -> Option<String> {
    let parsed: Vec<(&str, u32, u32)> = partitions
        .iter()
        .filter_map(|p| {
            let (kind, mn) = p.split_once(':')?;
            let (m, n) = mn.split_once('/')?;
            Some((kind, m.parse().ok()?, n.parse().ok()?))
        })
        .collect();
    let &(kind, _, n) = parsed.first()?;
    if parsed.len() != partitions.len() || parsed.iter().any(|p| p.0 != kind || p.2 != n) {
        return None;
    }
    let missing: Vec<String> = (1..=n)
        .filter(|m| !parsed.iter().any(|p| p.1 == *m))
        .map(|m| format!("{kind}:{m}/{n}"))
        .collect();
    (!missing.is_empty()).then(|| missing.join(", "))
}

/// RFC 3339 instants compared as instants (offsets may differ); text order otherwise.
fn cmp_time(a: &str, b: &str) -> std::cmp::Ordering {
    match (
        chrono::DateTime::parse_from_rfc3339(a),
        chrono::DateTime::parse_from_rfc3339(b),
    ) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

/// `<earliest shard's timestamp>-m<8 hex>`: the same shards always give the same id.
fn merged_id(earliest: &str, shards: &[String]) -> String {
    let stamp = earliest.split('-').next().unwrap_or(earliest);
    let mut ids: Vec<&str> = shards.iter().map(String::as_str).collect();
    ids.sort_unstable();
    let mut h = Sha256::new();
    for id in ids {
        h.update(id.as_bytes());
        h.update([0u8]);
    }
    let digest = h.finalize();
    format!("{stamp}-m{}", hex::encode(&digest[..4]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing() {
        assert_eq!(
            missing_shards(&["hash:1/3", "hash:3/3"]),
            Some("hash:2/3".into())
        );
        assert_eq!(missing_shards(&["count:2/2", "count:1/2"]), None);
        assert_eq!(missing_shards(&[]), None);
    }

    #[test]
    fn order_and_id() {
        assert!(partition_index(Some("hash:2/3")) < partition_index(Some("hash:3/3")));
        assert!(partition_index(Some("hash:3/3")) < partition_index(None));
        let a = merged_id("20261127T090000Z-3f9a", &["b".into(), "a".into()]);
        let b = merged_id("20261127T090000Z-3f9a", &["a".into(), "b".into()]);
        assert_eq!(a, b);
        assert!(a.starts_with("20261127T090000Z-m"));
    }
}
