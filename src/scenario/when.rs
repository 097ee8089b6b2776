//! `when` on a check: requirements on a cell's axis values or on the engine's measured
//! version, with the filter's operators and version rule (DESIGN.md, "Cells, filters,
//! partitions"). A check whose `when` does not hold is skipped, saying why.

use std::ops::Range;

use crate::matrix::{Cell, Matrix, Requirement};

/// The key that compares the version the engine reports rather than an axis value.
pub const ENGINE_VERSION: &str = "engine-version";

/// Every term must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct When {
    pub terms: Vec<WhenTerm>,
}

/// `postgres = ">=15,<18"`: a key and requirements that must all hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhenTerm {
    pub key: String,
    pub reqs: Vec<Requirement>,
    /// As written (`>=15,<18`), for messages.
    pub text: String,
    /// The key's span in the scenario file.
    pub span: Range<usize>,
}

impl When {
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// `Ok(())` when the check applies; otherwise why not, for the skipped record.
    ///
    /// `lookup` gives the value of a key in the cell (see [`cell_lookup`]), or `None`
    /// when the cell lacks it.
    pub fn evaluate(&self, lookup: impl Fn(&str) -> Option<String>) -> Result<(), String> {
        for term in &self.terms {
            let Some(value) = lookup(&term.key) else {
                return Err(if term.key == ENGINE_VERSION {
                    format!(
                        "when {ENGINE_VERSION} {}: the engine's version is not known",
                        term.text
                    )
                } else {
                    format!(
                        "when {} {}: this cell has no `{}` value",
                        term.key, term.text, term.key
                    )
                });
            };
            if let Some(failed) = term.reqs.iter().find(|r| !r.matches(&value)) {
                let what = if term.key == ENGINE_VERSION {
                    format!("the engine reports {value}")
                } else {
                    format!("this cell has {}={value}", term.key)
                };
                let not_version = !matches!(
                    failed.op,
                    crate::matrix::filter::Op::Eq | crate::matrix::filter::Op::Ne
                ) && crate::matrix::Version::parse(&value).is_none();
                let tail = if not_version { " (not a version)" } else { "" };
                return Err(format!("when {} {}: {what}{tail}", term.key, term.text));
            }
        }
        Ok(())
    }

    /// Evaluates against a cell of `matrix` and the engine's measured version.
    pub fn evaluate_in(
        &self,
        matrix: &Matrix,
        cell: &Cell,
        engine_version: Option<&str>,
    ) -> Result<(), String> {
        self.evaluate(cell_lookup(matrix, cell, engine_version))
    }
}

/// A key's value in a cell: `engine-version` is the engine's measured version; any other
/// key is the cell's value of that axis, or else, for a service whose image has no axis,
/// the service's `version`.
pub fn cell_lookup<'a>(
    matrix: &'a Matrix,
    cell: &'a Cell,
    engine_version: Option<&'a str>,
) -> impl Fn(&str) -> Option<String> + 'a {
    move |key| {
        if key == ENGINE_VERSION {
            return engine_version.map(str::to_string);
        }
        cell.get(key)
            .or_else(|| matrix.services.get(key).and_then(|s| s.version.as_deref()))
            .map(str::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::filter::parse_requirements;

    fn when(pairs: &[(&str, &str)]) -> When {
        When {
            terms: pairs
                .iter()
                .map(|(k, v)| WhenTerm {
                    key: k.to_string(),
                    reqs: parse_requirements(v).expect("valid"),
                    text: v.to_string(),
                    span: 0..0,
                })
                .collect(),
        }
    }

    fn lookup<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(a, _)| *a == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn empty_when_always_applies() {
        assert_eq!(When::default().evaluate(|_| None), Ok(()));
    }

    #[test]
    fn versions_compare_by_the_filter_rule() {
        let cell = [
            ("postgres", "15"),
            ("redis", "7.0"),
            ("engine-version", "20.10.24"),
        ];
        assert_eq!(
            when(&[("postgres", ">=15")]).evaluate(lookup(&cell)),
            Ok(())
        );
        assert_eq!(when(&[("redis", "<8,>=6")]).evaluate(lookup(&cell)), Ok(()));
        assert_eq!(when(&[("redis", "=7.0")]).evaluate(lookup(&cell)), Ok(()));
        assert_eq!(
            when(&[("postgres", ">=17")]).evaluate(lookup(&cell)),
            Err("when postgres >=17: this cell has postgres=15".into())
        );
        assert_eq!(
            when(&[("engine-version", ">=23")]).evaluate(lookup(&cell)),
            Err("when engine-version >=23: the engine reports 20.10.24".into())
        );
        // 20.10 = 20.10.0 < 20.10.24
        assert_eq!(
            when(&[("engine-version", ">20.10")]).evaluate(lookup(&cell)),
            Ok(())
        );
    }

    #[test]
    fn every_term_must_hold() {
        let cell = [("postgres", "17"), ("redis", "7.0")];
        let w = when(&[("postgres", ">=17"), ("redis", ">=8")]);
        assert_eq!(
            w.evaluate(lookup(&cell)),
            Err("when redis >=8: this cell has redis=7.0".into())
        );
    }

    #[test]
    fn a_missing_axis_skips_saying_so() {
        let cell = [("postgres", "17")];
        assert_eq!(
            when(&[("mariadb", ">=11")]).evaluate(lookup(&cell)),
            Err("when mariadb >=11: this cell has no `mariadb` value".into())
        );
        assert_eq!(
            when(&[("engine-version", ">=23")]).evaluate(lookup(&cell)),
            Err("when engine-version >=23: the engine's version is not known".into())
        );
    }

    #[test]
    fn strings_compare_exactly_and_non_versions_never_compare() {
        let cell = [("storage-driver", "vfs"), ("postgres", "latest")];
        assert_eq!(
            when(&[("storage-driver", "!=overlay2")]).evaluate(lookup(&cell)),
            Ok(())
        );
        assert!(
            when(&[("storage-driver", "!=vfs")])
                .evaluate(lookup(&cell))
                .is_err()
        );
        assert_eq!(
            when(&[("postgres", ">=15")]).evaluate(lookup(&cell)),
            Err("when postgres >=15: this cell has postgres=latest (not a version)".into())
        );
    }

    #[test]
    fn pre_releases_sort_below_their_release() {
        let cell = [("engine-version", "29.0.0-rc.1")];
        assert!(
            when(&[("engine-version", ">=29")])
                .evaluate(lookup(&cell))
                .is_err()
        );
        assert!(
            when(&[("engine-version", ">=28.5")])
                .evaluate(lookup(&cell))
                .is_ok()
        );
    }
}
