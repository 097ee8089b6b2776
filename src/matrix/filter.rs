//! Filters over cells (`engine>=26,storage-driver!=vfs`) and the version rule they share
//! with a check's `when`: a version is the leading run of dot-separated numbers, missing
//! parts are 0; `+…`/`~…` suffixes are ignored, a `-…` pre-release sorts below its release.

use std::cmp::Ordering;
use std::fmt;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }
}

/// A parsed version: numeric parts and an optional pre-release tag. Equality follows
/// the ordering (`20.10` = `20.10.0`).
#[derive(Debug, Clone)]
pub struct Version {
    parts: Vec<u64>,
    pre: Option<String>,
}

impl Version {
    /// Parses the leading version of `s` (`20.10.24+dfsg1` → 20.10.24); `None` when `s`
    /// does not start with a number.
    pub fn parse(s: &str) -> Option<Version> {
        let s = s.trim();
        let s = s.strip_prefix(['v', 'V']).unwrap_or(s);
        let mut parts = Vec::new();
        let mut rest = s;
        loop {
            let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            if digits == 0 {
                break;
            }
            parts.push(rest[..digits].parse().ok()?);
            rest = &rest[digits..];
            match rest.strip_prefix('.') {
                Some(r) if r.starts_with(|c: char| c.is_ascii_digit()) => rest = r,
                _ => break,
            }
        }
        if parts.is_empty() {
            return None;
        }
        let pre = rest
            .strip_prefix('-')
            .map(|p| p.split(['+', '~']).next().unwrap_or_default().to_string());
        Some(Version { parts, pre })
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        let n = self.parts.len().max(other.parts.len());
        for i in 0..n {
            let a = self.parts.get(i).copied().unwrap_or(0);
            let b = other.parts.get(i).copied().unwrap_or(0);
            match a.cmp(&b) {
                Ordering::Equal => {}
                o => return o,
            }
        }
        match (&self.pre, &other.pre) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(a), Some(b)) => natural_cmp(a, b),
        }
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Compares `rc9` < `rc10`: runs of digits by value, the rest by bytes.
fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a, b);
    loop {
        match (a.is_empty(), b.is_empty()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            _ => {}
        }
        let da = a.len() - a.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let db = b.len() - b.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let o = if da > 0 && db > 0 {
            let x: u128 = a[..da].parse().unwrap_or(u128::MAX);
            let y: u128 = b[..db].parse().unwrap_or(u128::MAX);
            let o = x.cmp(&y);
            a = &a[da..];
            b = &b[db..];
            o
        } else {
            let ca = a.chars().next().unwrap_or_default();
            let cb = b.chars().next().unwrap_or_default();
            a = &a[ca.len_utf8()..];
            b = &b[cb.len_utf8()..];
            ca.cmp(&cb)
        };
        if o != Ordering::Equal {
            return o;
        }
    }
}

/// One comparison against a value: `>=15`, `!=vfs`, `=7.0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub op: Op,
    pub operand: String,
    version: Option<Version>,
}

impl Requirement {
    /// Parses `OPvalue`; a bare value means `=value`.
    pub fn parse(s: &str) -> Result<Requirement, FilterError> {
        let s = s.trim();
        let (op, operand) = split_op(s);
        Requirement::new(op, operand)
    }

    fn new(op: Op, operand: &str) -> Result<Requirement, FilterError> {
        let operand = operand.trim();
        if operand.is_empty() {
            return Err(FilterError::EmptyOperand { op: op.as_str() });
        }
        let version = match op {
            Op::Eq | Op::Ne => None,
            _ => Some(
                Version::parse(operand).ok_or_else(|| FilterError::NotAVersion {
                    operand: operand.to_string(),
                    op: op.as_str(),
                })?,
            ),
        };
        Ok(Requirement {
            op,
            operand: operand.to_string(),
            version,
        })
    }

    /// Whether `value` satisfies the requirement; a value that is not a version never
    /// satisfies a comparison.
    pub fn matches(&self, value: &str) -> bool {
        match self.op {
            Op::Eq => value == self.operand,
            Op::Ne => value != self.operand,
            _ => {
                let (Some(want), Some(have)) = (&self.version, Version::parse(value)) else {
                    return false;
                };
                let o = have.cmp(want);
                match self.op {
                    Op::Lt => o == Ordering::Less,
                    Op::Le => o != Ordering::Greater,
                    Op::Gt => o == Ordering::Greater,
                    Op::Ge => o != Ordering::Less,
                    Op::Eq | Op::Ne => unreachable!("handled above"),
                }
            }
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.op.as_str(), self.operand)
    }
}

fn split_op(s: &str) -> (Op, &str) {
    for (prefix, op) in [
        ("==", Op::Eq),
        ("!=", Op::Ne),
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("<", Op::Lt),
        (">", Op::Gt),
        ("=", Op::Eq),
    ] {
        if let Some(rest) = s.strip_prefix(prefix) {
            return (op, rest);
        }
    }
    (Op::Eq, s)
}

/// Several requirements that must all hold: `"<8,>=6"`.
pub fn parse_requirements(s: &str) -> Result<Vec<Requirement>, FilterError> {
    if s.trim().is_empty() {
        return Err(FilterError::Empty);
    }
    s.split(',').map(Requirement::parse).collect()
}

/// `axis OP value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub axis: String,
    pub req: Requirement,
}

/// Terms joined by `,` (and).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filter {
    pub terms: Vec<Term>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("the filter is empty")]
    Empty,
    #[error("`{term}` has no operator")]
    NoOperator { term: String },
    #[error("`{term}` names no axis before its operator")]
    NoAxis { term: String },
    #[error("nothing follows `{op}`")]
    EmptyOperand { op: &'static str },
    #[error("`{operand}` is not a version, so `{op}` cannot compare it")]
    NotAVersion { operand: String, op: &'static str },
    #[error("`{axis}` is not an axis of this matrix (axes: {known})")]
    UnknownAxis { axis: String, known: String },
}

impl FilterError {
    pub fn help(&self) -> &'static str {
        match self {
            FilterError::NotAVersion { .. } => {
                "`<`, `<=`, `>`, `>=` compare versions such as 15, 10.11 or 20.10.24; use `=` or `!=` for other values"
            }
            FilterError::UnknownAxis { .. } => "name one of the matrix's axes",
            _ => "write terms like `engine>=26,storage-driver!=vfs` (operators: = != < <= > >=)",
        }
    }
}

impl Filter {
    pub fn parse(s: &str) -> Result<Filter, FilterError> {
        if s.trim().is_empty() {
            return Err(FilterError::Empty);
        }
        let mut terms = Vec::new();
        for raw in s.split(',') {
            let raw = raw.trim();
            let Some(at) = raw.find(['=', '!', '<', '>']) else {
                return Err(FilterError::NoOperator {
                    term: raw.to_string(),
                });
            };
            let axis = raw[..at].trim();
            if axis.is_empty() {
                return Err(FilterError::NoAxis {
                    term: raw.to_string(),
                });
            }
            let (op, operand) = split_op(&raw[at..]);
            terms.push(Term {
                axis: axis.to_string(),
                req: Requirement::new(op, operand)?,
            });
        }
        Ok(Filter { terms })
    }

    /// Joins several filters (repeated `--filter`) with "and".
    pub fn and(mut self, other: Filter) -> Filter {
        self.terms.extend(other.terms);
        self
    }

    /// Checks that every term names one of `axes`.
    pub fn check_axes<'a>(
        &self,
        axes: impl IntoIterator<Item = &'a str> + Clone,
    ) -> Result<(), FilterError> {
        for t in &self.terms {
            if !axes.clone().into_iter().any(|a| a == t.axis) {
                return Err(FilterError::UnknownAxis {
                    axis: t.axis.clone(),
                    known: axes.into_iter().collect::<Vec<_>>().join(", "),
                });
            }
        }
        Ok(())
    }

    /// A cell lacking an axis does not match a term on it.
    pub fn matches(&self, values: &IndexMap<String, String>) -> bool {
        self.terms
            .iter()
            .all(|t| values.get(&t.axis).is_some_and(|v| t.req.matches(v)))
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.terms.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}{}", t.axis, t.req)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).expect("a version")
    }

    #[test]
    fn version_rule() {
        assert_eq!(v("20.10"), v("20.10.0"));
        assert!(v("10.11") > v("10.5"));
        assert!(v("1.0.0-rc93") < v("1.0.0"));
        assert!(v("1.0.0-rc9") < v("1.0.0-rc93"));
        assert_eq!(v("20.10.24+dfsg1"), v("20.10.24"));
        assert_eq!(v("1.1.5~ds1"), v("1.1.5"));
        assert_eq!(v("28.5.2"), v("28.5.2"));
        assert!(Version::parse("overlay2").is_none());
        assert!(Version::parse("").is_none());
        assert!(v("8.0") > v("7.99"));
    }

    #[test]
    fn requirements() {
        let r = parse_requirements("<8,>=6").expect("valid");
        let ok = |x: &str| r.iter().all(|q| q.matches(x));
        assert!(ok("6.0") && ok("7.0") && !ok("8.0") && !ok("5.9"));
        assert!(
            Requirement::parse("!=vfs")
                .expect("valid")
                .matches("overlay2")
        );
        assert!(Requirement::parse("=7.0").expect("valid").matches("7.0"));
        assert!(!Requirement::parse("=7.0").expect("valid").matches("7"));
        assert!(!Requirement::parse(">=15").expect("valid").matches("latest"));
        assert!(matches!(
            Requirement::parse(">=abc"),
            Err(FilterError::NotAVersion { .. })
        ));
    }

    #[test]
    fn filters() {
        let f = Filter::parse("engine>=26, storage-driver!=vfs").expect("valid");
        let cell: IndexMap<String, String> = [("engine", "28.5"), ("storage-driver", "overlay2")]
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert!(f.matches(&cell));
        assert!(!Filter::parse("engine<26").expect("valid").matches(&cell));
        assert!(!Filter::parse("redis=7.0").expect("valid").matches(&cell));
        assert!(matches!(
            Filter::parse("engine"),
            Err(FilterError::NoOperator { .. })
        ));
        assert!(matches!(
            Filter::parse(">=2"),
            Err(FilterError::NoAxis { .. })
        ));
        assert!(matches!(
            Filter::parse("engine>="),
            Err(FilterError::EmptyOperand { .. })
        ));
        assert!(
            Filter::parse("x=1")
                .expect("valid")
                .check_axes(["engine"])
                .is_err()
        );
    }
}
