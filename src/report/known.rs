//! The documented incompatibilities a run saw (`known-fail` checks), each in the words
//! of what refused it: the table a release manager pastes before a rollout ("which
//! client pins break on which engine").

use std::fmt::Write as _;

use super::describe_values;
use super::text::markdown_inline as md;
use crate::results::{CheckStatus, RunRecord};

/// `### Known incompatibilities seen`: one row per known-fail check and cell, with the
/// `[[known]]` reason and what the check got, for the Markdown report.
pub(crate) fn markdown(out: &mut String, record: &RunRecord) {
    let rows: Vec<[String; 4]> = record
        .cells
        .iter()
        .flat_map(|cell| {
            cell.checks
                .iter()
                .filter(|c| c.status == CheckStatus::KnownFail)
                .map(move |c| {
                    let (reason, got) = split(&c.message);
                    [
                        md(&c.name),
                        md(&describe_values(cell)),
                        md(reason),
                        md(&cut(got, 300)),
                    ]
                })
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(out, "### Known incompatibilities seen\n");
    let _ = writeln!(out, "| check | cell | why (`[[known]]`) | what it got |");
    let _ = writeln!(out, "| --- | --- | --- | --- |");
    for [check, cell, reason, got] in rows {
        let _ = writeln!(out, "| 📝 {check} | {cell} | {reason} | {got} |");
    }
    out.push('\n');
}

/// `known incompatibility (FILTER): REASON — MESSAGE` → (REASON, MESSAGE).
fn split(message: &str) -> (&str, &str) {
    let rest = message
        .strip_prefix("known incompatibility (")
        .and_then(|r| r.split_once("): "))
        .map_or(message, |(_, r)| r);
    rest.split_once(" — ").unwrap_or(("", rest))
}

fn cut(s: &str, max: usize) -> String {
    let one: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() <= max {
        one
    } else {
        format!("{}…", one.chars().take(max).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reason_and_the_engines_words_are_told_apart() {
        let m = "known incompatibility (engine=29.0-defaults): Docker 29 raised the floor — GET /v1.41/containers/json: expected status 200; the engine answered 400: \"client version 1.41 is too old.\"";
        let (reason, got) = split(m);
        assert_eq!(reason, "Docker 29 raised the floor");
        assert!(
            got.ends_with("\"client version 1.41 is too old.\""),
            "{got}"
        );
    }
}
