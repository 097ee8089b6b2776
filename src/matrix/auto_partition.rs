//! `--partition auto`: the shard a CI system's own parallelism variables name, each counted
//! as its system counts, as `hash:M/N` (M from 1). Plain data in, plain data out: the
//! caller passes the environment, so every system is tested without setting any.
//!
//! | system | index | total | index counts from |
//! | --- | --- | --- | --- |
//! | GitLab CI (`parallel:`) | `CI_NODE_INDEX` | `CI_NODE_TOTAL` | 1 |
//! | CircleCI (`parallelism:`) | `CIRCLE_NODE_INDEX` | `CIRCLE_NODE_TOTAL` | 0 |
//! | Buildkite (`parallelism:`) | `BUILDKITE_PARALLEL_JOB` | `BUILDKITE_PARALLEL_JOB_COUNT` | 0 |
//! | Kubernetes Indexed Job | `JOB_COMPLETION_INDEX` | `DOCKMATRIX_SHARDS` | 0 |
//! | anything else | `DOCKMATRIX_SHARD=M/N` | | 1 |
//!
//! GitLab sets `CI_NODE_TOTAL=1` in every job and `CI_NODE_INDEX` only in parallel ones,
//! CircleCI sets `0`/`1` without parallelism: so a total without an index, or `1`, means
//! "not sharded". Two systems naming different shards is an error, never a guess.

use std::fmt;

use super::{Partition, PartitionKind};

/// One system's variables: (label, index variable, total variable, first index).
const SYSTEMS: &[(&str, &str, &str, u32)] = &[
    ("GitLab CI", "CI_NODE_INDEX", "CI_NODE_TOTAL", 1),
    ("CircleCI", "CIRCLE_NODE_INDEX", "CIRCLE_NODE_TOTAL", 0),
    (
        "Buildkite",
        "BUILDKITE_PARALLEL_JOB",
        "BUILDKITE_PARALLEL_JOB_COUNT",
        0,
    ),
    (
        "a Kubernetes Indexed Job",
        "JOB_COMPLETION_INDEX",
        "DOCKMATRIX_SHARDS",
        0,
    ),
];

/// What `--partition auto` chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoPartition {
    /// `None`: no CI system shards this job; the whole matrix.
    pub partition: Option<Partition>,
    /// The system(s) and variables it came from, e.g. `GitLab CI (CI_NODE_INDEX=2,
    /// CI_NODE_TOTAL=3)`; empty for the whole matrix.
    pub from: String,
}

impl fmt::Display for AutoPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.partition {
            Some(p) => write!(f, "--partition auto: {p}, from {}", self.from),
            None => f.write_str(
                "--partition auto: no CI shard variables are set (CI_NODE_INDEX, CIRCLE_NODE_INDEX, BUILDKITE_PARALLEL_JOB, JOB_COMPLETION_INDEX, DOCKMATRIX_SHARD): the whole matrix",
            ),
        }
    }
}

/// Why the variables name no shard.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AutoPartitionError {
    #[error("--partition auto: {var}=`{value}` is not a whole number")]
    NotANumber { var: String, value: String },
    #[error("--partition auto: {index_var} is set but {total_var} is not")]
    MissingTotal {
        index_var: String,
        total_var: String,
    },
    #[error(
        "--partition auto: {index_var}={index} is out of range for {total_var}={total} ({system} counts from {first}, so {index_var} must be {first}..={last})"
    )]
    OutOfRange {
        system: String,
        index_var: String,
        index: u32,
        total_var: String,
        total: u32,
        first: u32,
        last: u32,
    },
    #[error("--partition auto: DOCKMATRIX_SHARD=`{value}`: {why}")]
    BadShard { value: String, why: String },
    #[error("--partition auto: {a} and {b} name different shards; unset one")]
    Disagree { a: String, b: String },
}

/// The shard the environment names; `env` gives a variable's value (empty counts as
/// unset).
pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<AutoPartition, AutoPartitionError> {
    let var = |name: &str| {
        env(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let number = |name: &str, value: &str| {
        value
            .parse::<u32>()
            .map_err(|_| AutoPartitionError::NotANumber {
                var: name.to_string(),
                value: value.to_string(),
            })
    };
    // Every system that names a shard: (shard from 1, total, where from).
    let mut found: Vec<(u32, u32, String)> = Vec::new();
    for &(system, index_var, total_var, first) in SYSTEMS {
        let (index, total) = (var(index_var), var(total_var));
        let Some(index) = index else {
            // A total alone is how GitLab marks every unsharded job (`CI_NODE_TOTAL=1`).
            continue;
        };
        let Some(total) = total else {
            return Err(AutoPartitionError::MissingTotal {
                index_var: index_var.to_string(),
                total_var: total_var.to_string(),
            });
        };
        let (i, n) = (number(index_var, &index)?, number(total_var, &total)?);
        let last = (first + n).saturating_sub(1);
        if n == 0 || i < first || i > last {
            return Err(AutoPartitionError::OutOfRange {
                system: system.to_string(),
                index_var: index_var.to_string(),
                index: i,
                total_var: total_var.to_string(),
                total: n,
                first,
                last,
            });
        }
        found.push((
            i - first + 1,
            n,
            format!("{system} ({index_var}={i}, {total_var}={n})"),
        ));
    }
    if let Some(value) = var("DOCKMATRIX_SHARD") {
        let bad = |why: &str| AutoPartitionError::BadShard {
            value: value.clone(),
            why: why.to_string(),
        };
        let (m, n) = value
            .split_once('/')
            .ok_or_else(|| bad("expected M/N with 1 <= M <= N, e.g. 2/3"))?;
        let (m, n) = match (m.trim().parse::<u32>(), n.trim().parse::<u32>()) {
            (Ok(m), Ok(n)) => (m, n),
            _ => return Err(bad("expected M/N with 1 <= M <= N, e.g. 2/3")),
        };
        if m == 0 || n == 0 || m > n {
            return Err(bad("M counts from 1 and must be at most N"));
        }
        found.push((m, n, format!("DOCKMATRIX_SHARD={m}/{n}")));
    }
    let Some((shard, total, from)) = found.first().cloned() else {
        return Ok(AutoPartition {
            partition: None,
            from: String::new(),
        });
    };
    if let Some((_, _, other)) = found.iter().find(|(s, t, _)| (*s, *t) != (shard, total)) {
        return Err(AutoPartitionError::Disagree {
            a: from,
            b: other.clone(),
        });
    }
    let from = found
        .iter()
        .map(|(_, _, f)| f.as_str())
        .collect::<Vec<_>>()
        .join(" and ");
    Ok(AutoPartition {
        partition: Some(Partition {
            kind: PartitionKind::Hash,
            shard,
            total,
        }),
        from,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn auto(pairs: &[(&str, &str)]) -> Result<AutoPartition, AutoPartitionError> {
        let map: HashMap<&str, &str> = pairs.iter().copied().collect();
        from_env(&|k| map.get(k).map(|v| v.to_string()))
    }

    fn hash(s: &str) -> Option<Partition> {
        Some(s.parse().expect("partition"))
    }

    #[test]
    fn each_system_counts_as_it_counts() {
        // The second of three shards, as each system numbers it.
        let cases: &[&[(&str, &str)]] = &[
            &[("CI_NODE_INDEX", "2"), ("CI_NODE_TOTAL", "3")],
            &[("CIRCLE_NODE_INDEX", "1"), ("CIRCLE_NODE_TOTAL", "3")],
            &[
                ("BUILDKITE_PARALLEL_JOB", "1"),
                ("BUILDKITE_PARALLEL_JOB_COUNT", "3"),
            ],
            &[("JOB_COMPLETION_INDEX", "1"), ("DOCKMATRIX_SHARDS", "3")],
            &[("DOCKMATRIX_SHARD", "2/3")],
        ];
        for env in cases {
            let got = auto(env).expect("a shard");
            assert_eq!(got.partition, hash("hash:2/3"), "{env:?}");
            assert!(got.to_string().contains(env[0].0), "{got}");
        }
        // The edges: first and last of each.
        assert_eq!(
            auto(&[("CI_NODE_INDEX", "1"), ("CI_NODE_TOTAL", "4")])
                .expect("first")
                .partition,
            hash("hash:1/4")
        );
        assert_eq!(
            auto(&[("CIRCLE_NODE_INDEX", "3"), ("CIRCLE_NODE_TOTAL", "4")])
                .expect("last")
                .partition,
            hash("hash:4/4")
        );
    }

    #[test]
    fn unsharded_jobs_run_the_whole_matrix() {
        assert_eq!(auto(&[]).expect("none").partition, None);
        // GitLab marks every job CI_NODE_TOTAL=1; CircleCI sets 0/1 without parallelism.
        assert_eq!(
            auto(&[("CI_NODE_TOTAL", "1")]).expect("gitlab").partition,
            None
        );
        assert_eq!(
            auto(&[("CIRCLE_NODE_INDEX", "0"), ("CIRCLE_NODE_TOTAL", "1")])
                .expect("circle")
                .partition,
            hash("hash:1/1")
        );
        assert!(
            auto(&[])
                .expect("none")
                .to_string()
                .contains("the whole matrix")
        );
    }

    #[test]
    fn out_of_range_and_malformed_name_the_variables() {
        let e = auto(&[("CI_NODE_INDEX", "0"), ("CI_NODE_TOTAL", "3")]).expect_err("gitlab 0");
        assert!(
            e.to_string().contains("CI_NODE_INDEX=0") && e.to_string().contains("CI_NODE_TOTAL=3"),
            "{e}"
        );
        let e = auto(&[("CIRCLE_NODE_INDEX", "3"), ("CIRCLE_NODE_TOTAL", "3")])
            .expect_err("circle 3 of 3");
        assert!(e.to_string().contains("must be 0..=2"), "{e}");
        let e = auto(&[("JOB_COMPLETION_INDEX", "0")]).expect_err("no total");
        assert_eq!(
            e,
            AutoPartitionError::MissingTotal {
                index_var: "JOB_COMPLETION_INDEX".into(),
                total_var: "DOCKMATRIX_SHARDS".into()
            }
        );
        let e = auto(&[
            ("BUILDKITE_PARALLEL_JOB", "x"),
            ("BUILDKITE_PARALLEL_JOB_COUNT", "2"),
        ])
        .expect_err("nan");
        assert!(e.to_string().contains("BUILDKITE_PARALLEL_JOB=`x`"), "{e}");
        for bad in ["0/3", "4/3", "2", "a/b", "1/0"] {
            let e = auto(&[("DOCKMATRIX_SHARD", bad)]).expect_err(bad);
            assert!(e.to_string().contains("DOCKMATRIX_SHARD"), "{e}");
        }
    }

    #[test]
    fn two_systems_must_agree() {
        let same = auto(&[
            ("CI_NODE_INDEX", "2"),
            ("CI_NODE_TOTAL", "3"),
            ("DOCKMATRIX_SHARD", "2/3"),
        ])
        .expect("agree");
        assert_eq!(same.partition, hash("hash:2/3"));
        assert!(same.from.contains("GitLab") && same.from.contains("DOCKMATRIX_SHARD"));
        let e = auto(&[
            ("CI_NODE_INDEX", "2"),
            ("CI_NODE_TOTAL", "3"),
            ("CIRCLE_NODE_INDEX", "2"),
            ("CIRCLE_NODE_TOTAL", "3"),
        ])
        .expect_err("disagree");
        let s = e.to_string();
        assert!(
            s.contains("CI_NODE_INDEX=2") && s.contains("CIRCLE_NODE_INDEX=2"),
            "{s}"
        );
    }
}
