//! Pivot grids: rows = the values of one axis, columns = those of another; each square
//! aggregates the cells sharing both values (DESIGN.md: one status shows its symbol, a
//! mix shows `◐ p/t`).

use std::fmt;
use std::str::FromStr;

use indexmap::IndexMap;

use crate::results::axes::{ENGINE, STORAGE_DRIVER};
use crate::results::{CellStatus, RunRecord};

/// `ROWS,COLS`: two axis names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pivot {
    pub rows: String,
    pub cols: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PivotError {
    #[error("a pivot is two axis names separated by a comma (`engine,storage-driver`), not `{0}`")]
    Syntax(String),
    #[error("a pivot needs two different axes, not `{0}` twice")]
    SameAxis(String),
    #[error("the run has no axis `{axis}` (its axes: {known})")]
    UnknownAxis { axis: String, known: String },
}

impl FromStr for Pivot {
    type Err = PivotError;

    fn from_str(s: &str) -> Result<Pivot, PivotError> {
        let (rows, cols) = s
            .split_once(',')
            .map(|(r, c)| (r.trim(), c.trim()))
            .filter(|(r, c)| !r.is_empty() && !c.is_empty() && !c.contains(','))
            .ok_or_else(|| PivotError::Syntax(s.to_string()))?;
        if rows == cols {
            return Err(PivotError::SameAxis(rows.to_string()));
        }
        Ok(Pivot {
            rows: rows.to_string(),
            cols: cols.to_string(),
        })
    }
}

impl fmt::Display for Pivot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} × {}", self.rows, self.cols)
    }
}

impl Pivot {
    pub fn new(rows: &str, cols: &str) -> Pivot {
        Pivot {
            rows: rows.to_string(),
            cols: cols.to_string(),
        }
    }

    /// Refuses axes the run does not have.
    pub fn check(&self, record: &RunRecord) -> Result<(), PivotError> {
        let axes = all_axes(record);
        for a in [&self.rows, &self.cols] {
            if !axes.iter().any(|x| x == a) {
                return Err(PivotError::UnknownAxis {
                    axis: a.clone(),
                    known: axes.join(", "),
                });
            }
        }
        Ok(())
    }
}

/// The run's axes: `axes` as recorded, then any key a cell has that it does not list.
pub fn all_axes(record: &RunRecord) -> Vec<String> {
    let mut axes: IndexMap<&str, ()> = record.axes.iter().map(|a| (a.as_str(), ())).collect();
    for c in &record.cells {
        for k in c.values.keys() {
            axes.entry(k.as_str()).or_default();
        }
    }
    axes.into_keys().map(str::to_string).collect()
}

/// The grids shown when none is asked for: engine × storage-driver when the run has both,
/// then engine × each other axis (up to three); without an engine axis, the first two
/// axes.
pub fn default_pivots(record: &RunRecord) -> Vec<Pivot> {
    let axes = all_axes(record);
    let has = |a: &str| axes.iter().any(|x| x == a);
    let mut out = Vec::new();
    if has(ENGINE) {
        if has(STORAGE_DRIVER) {
            out.push(Pivot::new(ENGINE, STORAGE_DRIVER));
        }
        out.extend(
            axes.iter()
                .filter(|a| *a != ENGINE && *a != STORAGE_DRIVER)
                .filter(|a| distinct_values(record, a) > 1)
                .take(3)
                .map(|a| Pivot::new(ENGINE, a)),
        );
    } else if axes.len() >= 2 {
        out.push(Pivot::new(&axes[0], &axes[1]));
    }
    out
}

fn distinct_values(record: &RunRecord, axis: &str) -> usize {
    let mut seen: IndexMap<&str, ()> = IndexMap::new();
    for c in &record.cells {
        if let Some(v) = c.values.get(axis) {
            seen.insert(v, ());
        }
    }
    seen.len()
}

/// One square: the statuses of the cells sharing its row and column values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Square {
    pub statuses: Vec<CellStatus>,
}

impl Square {
    pub fn is_empty(&self) -> bool {
        self.statuses.is_empty()
    }

    /// The one status all its cells share.
    pub fn uniform(&self) -> Option<CellStatus> {
        let first = *self.statuses.first()?;
        self.statuses.iter().all(|s| *s == first).then_some(first)
    }

    /// Cells `pass` or `flaky`.
    pub fn passed(&self) -> usize {
        self.statuses
            .iter()
            .filter(|s| matches!(s, CellStatus::Pass | CellStatus::Flaky))
            .count()
    }

    /// All cells but the `unsupported` ones.
    pub fn total(&self) -> usize {
        self.statuses
            .iter()
            .filter(|s| **s != CellStatus::Unsupported)
            .count()
    }

    /// `✅`, `⛔`, … for a uniform square, `◐ p/t` for a mix, empty for no cell.
    pub fn label(&self) -> String {
        if self.is_empty() {
            return String::new();
        }
        match self.uniform() {
            Some(s) => s.symbol().to_string(),
            None => format!("◐ {}/{}", self.passed(), self.total()),
        }
    }

    /// A word for styling: the uniform status, `mixed`, or `empty`.
    pub fn class(&self) -> &'static str {
        if self.is_empty() {
            return "empty";
        }
        self.uniform().map_or("mixed", CellStatus::as_str)
    }

    /// `3 cells: 2 pass, 1 unsupported`.
    pub fn describe(&self) -> String {
        let mut counts: IndexMap<CellStatus, usize> = IndexMap::new();
        for s in &self.statuses {
            *counts.entry(*s).or_default() += 1;
        }
        counts.sort_keys();
        let parts: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
        let n = self.statuses.len();
        format!(
            "{n} cell{}: {}",
            if n == 1 { "" } else { "s" },
            parts.join(", ")
        )
    }
}

/// A built grid.
#[derive(Debug, Clone)]
pub struct Grid {
    pub pivot: Pivot,
    /// Row values, in the order the run first shows them.
    pub rows: Vec<String>,
    pub cols: Vec<String>,
    /// `squares[row][col]`.
    pub squares: Vec<Vec<Square>>,
    /// Cells lacking one of the two axes (left out of the grid).
    pub left_out: usize,
}

impl Grid {
    pub fn build(record: &RunRecord, pivot: &Pivot) -> Grid {
        let mut rows: IndexMap<&str, Vec<Square>> = IndexMap::new();
        let mut cols: IndexMap<&str, usize> = IndexMap::new();
        let mut left_out = 0;
        for cell in &record.cells {
            let (Some(r), Some(c)) = (cell.values.get(&pivot.rows), cell.values.get(&pivot.cols))
            else {
                left_out += 1;
                continue;
            };
            let next = cols.len();
            let ci = *cols.entry(c.as_str()).or_insert(next);
            let row = rows.entry(r.as_str()).or_default();
            if row.len() <= ci {
                row.resize(ci + 1, Square::default());
            }
            row[ci].statuses.push(cell.status);
        }
        let ncols = cols.len();
        Grid {
            pivot: pivot.clone(),
            rows: rows.keys().map(|s| s.to_string()).collect(),
            cols: cols.keys().map(|s| s.to_string()).collect(),
            squares: rows
                .into_values()
                .map(|mut r| {
                    r.resize(ncols, Square::default());
                    r
                })
                .collect(),
            left_out,
        }
    }

    /// The header of the corner square: `engine \ storage-driver`.
    pub fn corner(&self) -> String {
        format!("{} \\ {}", self.pivot.rows, self.pivot.cols)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(
            "engine,storage-driver".parse::<Pivot>(),
            Ok(Pivot::new("engine", "storage-driver"))
        );
        assert!(matches!(
            "engine".parse::<Pivot>(),
            Err(PivotError::Syntax(_))
        ));
        assert!(matches!(
            "a,b,c".parse::<Pivot>(),
            Err(PivotError::Syntax(_))
        ));
        assert!(matches!(
            "a,a".parse::<Pivot>(),
            Err(PivotError::SameAxis(_))
        ));
    }

    #[test]
    fn squares() {
        use CellStatus::*;
        let sq = |s: &[CellStatus]| Square {
            statuses: s.to_vec(),
        };
        assert_eq!(sq(&[Pass, Pass]).label(), "✅");
        assert_eq!(sq(&[Unsupported]).label(), "⛔");
        assert_eq!(sq(&[Pass, Flaky, Fail, Unsupported]).label(), "◐ 2/3");
        assert_eq!(sq(&[]).label(), "");
        assert_eq!(sq(&[Fail, Pass]).describe(), "2 cells: 1 pass, 1 fail");
    }
}
