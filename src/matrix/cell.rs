//! Cells: one combination of axis values, with a readable id that is safe as a Docker
//! name and a file name, and partitions of a plan into disjoint shards.

use std::fmt;
use std::str::FromStr;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One combination of axis values: one stack, one row of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cell {
    pub id: String,
    /// Axis → value, in axis order (include-added keys after the axes).
    pub values: IndexMap<String, String>,
}

impl Cell {
    /// Builds a cell and its id from values already in axis order.
    pub fn new(values: IndexMap<String, String>) -> Cell {
        let id = cell_id(&values);
        Cell { id, values }
    }

    pub fn get(&self, axis: &str) -> Option<&str> {
        self.values.get(axis).map(String::as_str)
    }

    /// `engine=28.5 storage-driver=vfs`: for messages.
    pub fn describe(&self) -> String {
        self.values
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// SHA-256 of the canonical values: keys sorted, each `key=value` then a NUL. Matching
/// runs by this never depends on axis order.
pub fn values_digest(values: &IndexMap<String, String>) -> [u8; 32] {
    let mut pairs: Vec<(&String, &String)> = values.iter().collect();
    pairs.sort_unstable();
    let mut h = Sha256::new();
    for (k, v) in pairs {
        h.update(k.as_bytes());
        h.update(b"=");
        h.update(v.as_bytes());
        h.update([0u8]);
    }
    h.finalize().into()
}

/// The values in axis order, sanitised to `[a-z0-9_.-]`, joined by `-`, then `-` and the
/// first 8 hex digits of [`values_digest`] (so that sanitising never makes two ids equal).
pub fn cell_id(values: &IndexMap<String, String>) -> String {
    let mut id = String::with_capacity(64);
    for v in values.values() {
        for c in v.chars() {
            let c = c.to_ascii_lowercase();
            id.push(
                if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-') {
                    c
                } else {
                    '_'
                },
            );
        }
        id.push('-');
    }
    let digest = values_digest(values);
    id.push_str(&hex::encode(&digest[..4]));
    id
}

/// `hash:M/N` (stable when cells are added) or `count:M/N` (round robin in plan order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    pub kind: PartitionKind,
    /// 1-based shard number.
    pub shard: u32,
    pub total: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PartitionKind {
    Hash,
    Count,
}

impl FromStr for Partition {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let usage = "expected hash:M/N or count:M/N with 1 <= M <= N, e.g. hash:1/3";
        let (kind, rest) = s
            .split_once(':')
            .ok_or_else(|| format!("`{s}`: {usage}"))?;
        let kind = match kind {
            "hash" => PartitionKind::Hash,
            "count" => PartitionKind::Count,
            other => return Err(format!("`{other}` is no partition kind; {usage}")),
        };
        let (m, n) = rest
            .split_once('/')
            .ok_or_else(|| format!("`{s}`: {usage}"))?;
        let shard: u32 = m.trim().parse().map_err(|_| format!("`{m}`: {usage}"))?;
        let total: u32 = n.trim().parse().map_err(|_| format!("`{n}`: {usage}"))?;
        if shard == 0 || total == 0 || shard > total {
            return Err(format!("`{s}`: {usage}"));
        }
        Ok(Partition { kind, shard, total })
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            PartitionKind::Hash => "hash",
            PartitionKind::Count => "count",
        };
        write!(f, "{kind}:{}/{}", self.shard, self.total)
    }
}

impl Partition {
    /// Keeps the cells of this shard, in plan order.
    pub fn select(&self, cells: Vec<Cell>) -> Vec<Cell> {
        let n = u64::from(self.total);
        let want = u64::from(self.shard - 1);
        cells
            .into_iter()
            .enumerate()
            .filter(|(i, c)| match self.kind {
                PartitionKind::Count => *i as u64 % n == want,
                PartitionKind::Hash => {
                    let d = values_digest(&c.values);
                    let mut head = [0u8; 8];
                    head.copy_from_slice(&d[..8]);
                    u64::from_be_bytes(head) % n == want
                }
            })
            .map(|(_, c)| c)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(pairs: &[(&str, &str)]) -> IndexMap<String, String> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn ids_are_readable_and_safe() {
        let c = Cell::new(vals(&[("engine", "28.5"), ("storage-driver", "Fuse Overlayfs")]));
        let (head, hash) = c.id.rsplit_once('-').expect("has a hash");
        assert_eq!(head, "28.5-fuse_overlayfs");
        assert_eq!(hash.len(), 8);
        assert!(
            c.id.chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || "_.-".contains(ch))
        );
    }

    #[test]
    fn sanitising_never_collides() {
        let a = Cell::new(vals(&[("x", "a b")]));
        let b = Cell::new(vals(&[("x", "a/b")]));
        assert_ne!(a.id, b.id);
    }

    #[test]
    fn digest_ignores_axis_order() {
        let a = vals(&[("x", "1"), ("y", "2")]);
        let b = vals(&[("y", "2"), ("x", "1")]);
        assert_eq!(values_digest(&a), values_digest(&b));
    }

    #[test]
    fn partitions_parse() {
        assert!("hash:1/3".parse::<Partition>().is_ok());
        assert!("count:3/3".parse::<Partition>().is_ok());
        for bad in ["hash:0/3", "hash:4/3", "hash:1", "mod:1/2", "hash:a/b", "hash:1/0"] {
            assert!(bad.parse::<Partition>().is_err(), "{bad}");
        }
    }
}
