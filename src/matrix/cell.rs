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

    /// The `[engines.*]` entry the cell names (`None`: the host engine, or an upgrade cell).
    pub fn engine(&self) -> Option<&str> {
        self.get(super::axes::ENGINE)
    }

    /// The storage driver asked (`None`: the engine's default).
    pub fn storage_driver(&self) -> Option<&str> {
        self.get(super::axes::STORAGE_DRIVER)
    }

    /// The `[daemon-configs.*]` file the cell's engine starts with.
    pub fn daemon_config(&self) -> Option<&str> {
        self.get(super::axes::DAEMON_CONFIG)
    }

    /// The `[upgrades.*]` path of an upgrade cell.
    pub fn upgrade(&self) -> Option<&str> {
        self.get(super::axes::UPGRADE)
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
    pairs_digest(
        values
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect(),
    )
}

/// [`values_digest`] of values not (yet) held in a map.
pub fn pairs_digest(mut pairs: Vec<(&str, &str)>) -> [u8; 32] {
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

/// The most characters of an id before its `-` and digest.
pub const MAX_READABLE_ID: usize = 100;

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
        if id.len() > MAX_READABLE_ID {
            break;
        }
    }
    // Long values would make an id no file system accepts as a name (255 bytes); the
    // digest keeps shortened ids distinct. Sanitised ids are ASCII: any cut is safe.
    if id.len() > MAX_READABLE_ID {
        id.truncate(MAX_READABLE_ID);
        if !id.ends_with('-') {
            id.push('-');
        }
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
        let (kind, rest) = s.split_once(':').ok_or_else(|| format!("`{s}`: {usage}"))?;
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
        cells
            .into_iter()
            .enumerate()
            .filter(|(i, c)| self.keeps(*i, || values_digest(&c.values)))
            .map(|(_, c)| c)
            .collect()
    }

    /// Whether the cell at `position` of the plan (before partitioning), whose values
    /// have `digest` ([`values_digest`]), belongs to this shard.
    pub fn keeps(&self, position: usize, digest: impl FnOnce() -> [u8; 32]) -> bool {
        let n = u64::from(self.total);
        let want = u64::from(self.shard - 1);
        match self.kind {
            PartitionKind::Count => position as u64 % n == want,
            PartitionKind::Hash => {
                let d = digest();
                let mut head = [0u8; 8];
                head.copy_from_slice(&d[..8]);
                u64::from_be_bytes(head) % n == want
            }
        }
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
        let c = Cell::new(vals(&[
            ("engine", "28.5"),
            ("storage-driver", "Fuse Overlayfs"),
        ]));
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
        for bad in [
            "hash:0/3", "hash:4/3", "hash:1", "mod:1/2", "hash:a/b", "hash:1/0",
        ] {
            assert!(bad.parse::<Partition>().is_err(), "{bad}");
        }
    }
}

#[cfg(test)]
mod proptests {
    //! Ids and partitions over random values: unicode, punctuation, long and short.

    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;

    /// Keys and values as users might write them, and worse.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9][a-z0-9.-]{0,7}",
            "[ -~]{1,12}",
            "\\PC{1,10}",
            "[A-Za-z0-9]{90,140}",
        ]
    }

    fn values() -> impl Strategy<Value = IndexMap<String, String>> {
        prop::collection::vec((text(), text()), 1..=5)
            .prop_map(|pairs| pairs.into_iter().collect::<IndexMap<_, _>>())
    }

    /// Plans for partition properties, which do not depend on what values look like
    /// (kept simple: generating exotic strings is what costs in a debug build).
    fn cells() -> impl Strategy<Value = Vec<Cell>> {
        let values = prop::collection::vec(("[a-e]{1,2}", "[a-z0-9.]{1,4}"), 1..=3)
            .prop_map(|pairs| pairs.into_iter().collect::<IndexMap<String, String>>());
        prop::collection::vec(values, 0..40).prop_map(|vs| {
            let mut seen = HashSet::new();
            vs.into_iter()
                .map(Cell::new)
                // A plan never holds two cells with the same values.
                .filter(|c| seen.insert(values_digest(&c.values)))
                .collect()
        })
    }

    fn is_id(id: &str) -> bool {
        let Some((head, hash)) = id.rsplit_once('-') else {
            return false;
        };
        !head.is_empty()
            && head.len() <= MAX_READABLE_ID
            && hash.len() == 8
            && hash
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
            && id.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-')
            })
    }

    proptest! {
        #[test]
        fn ids_are_safe_readable_and_end_in_a_digest(v in values()) {
            let c = Cell::new(v.clone());
            prop_assert!(is_id(&c.id), "{:?}", c.id);
            prop_assert!(c.id.ends_with(&hex::encode(&values_digest(&v)[..4])));
            // A file name on every common file system.
            prop_assert!(c.id.len() < 255);
        }

        #[test]
        fn ids_of_different_values_differ(a in values(), b in values()) {
            prop_assume!(values_digest(&a) != values_digest(&b));
            prop_assert_ne!(Cell::new(a).id, Cell::new(b).id);
        }

        #[test]
        fn shards_are_disjoint_cover_every_cell_and_keep_plan_order(
            cells in cells(),
            total in 1u32..8,
            hash in any::<bool>(),
        ) {
            let kind = if hash { PartitionKind::Hash } else { PartitionKind::Count };
            let all: Vec<String> = cells.iter().map(|c| c.id.clone()).collect();
            let mut seen: Vec<String> = Vec::new();
            for shard in 1..=total {
                let p = Partition { kind, shard, total };
                let part: Vec<String> = p.select(cells.clone()).into_iter().map(|c| c.id).collect();
                let in_order: Vec<&String> = all.iter().filter(|id| part.contains(id)).collect();
                prop_assert_eq!(in_order, part.iter().collect::<Vec<_>>(), "{}", p);
                seen.extend(part);
            }
            let unique: HashSet<&String> = seen.iter().collect();
            prop_assert_eq!(unique.len(), seen.len(), "shards overlap");
            prop_assert_eq!(unique, all.iter().collect::<HashSet<_>>(), "shards miss cells");
        }

    }

    proptest! {
        // Two plans and N shards each per case: fewer cases keep a debug run short.
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn a_hash_shard_does_not_move_when_cells_are_added(
            cells in cells(),
            more in cells(),
            total in 1u32..8,
        ) {
            let shards = |plan: &[Cell]| -> IndexMap<String, u32> {
                (1..=total)
                    .flat_map(|m| {
                        Partition { kind: PartitionKind::Hash, shard: m, total }
                            .select(plan.to_vec())
                            .into_iter()
                            .map(move |c| (c.id, m))
                    })
                    .collect()
            };
            let mut bigger = cells.clone();
            let known: HashSet<[u8; 32]> = cells.iter().map(|c| values_digest(&c.values)).collect();
            bigger.extend(more.into_iter().filter(|c| !known.contains(&values_digest(&c.values))));
            let (before, after) = (shards(&cells), shards(&bigger));
            for (id, m) in &before {
                prop_assert_eq!(after.get(id), Some(m), "{} moved", id);
            }
        }

        #[test]
        fn partitions_read_back_what_they_print(total in 1u32..1000, pick in any::<prop::sample::Index>(), hash in any::<bool>()) {
            let kind = if hash { PartitionKind::Hash } else { PartitionKind::Count };
            let p = Partition { kind, shard: pick.index(total as usize) as u32 + 1, total };
            prop_assert_eq!(p.to_string().parse::<Partition>(), Ok(p));
        }
    }
}
