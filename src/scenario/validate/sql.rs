//! `sql` checks: statements (one string or a list), and what they expect: rows, a row
//! count or a SQLSTATE error.

use toml::Spanned;

use super::check::Refs;
use super::foreign_expectations;
use crate::diagnostic::Ctx;
use crate::scenario::raw::{RawCheck, RawExpect};
use crate::scenario::{Action, ServiceRole, SqlAction, SqlExpect};

/// A `sql` check's action.
pub(super) fn action(cx: &mut Ctx<'_>, c: &RawCheck, key: &str, refs: &mut Refs<'_>) -> Action {
    let service = refs.service(cx, c.service.as_ref(), "service", ServiceRole::Target, true);
    let via = refs.service(cx, c.via.as_ref(), "via", ServiceRole::Source, false);
    let statements = c
        .sql
        .as_ref()
        .map(|s| strings(cx, s, &format!("{key}.sql"), "statement"))
        .unwrap_or_default();
    let setup = c
        .setup
        .as_ref()
        .map(|s| strings(cx, s, &format!("{key}.setup"), "statement"))
        .unwrap_or_default();
    let expect = sql_expect(cx, c.expect.as_ref(), key);
    Action::Sql(SqlAction {
        service: service.unwrap_or_default(),
        via,
        database: c.database.as_ref().map(|s| s.get_ref().clone()),
        user: c.user.as_ref().map(|s| s.get_ref().clone()),
        password: c.password.as_ref().map(|s| s.get_ref().clone()),
        statements,
        setup,
        expect,
    })
}

/// A string or an array of strings (SQL statements).
fn strings(cx: &mut Ctx<'_>, v: &Spanned<toml::Value>, key: &str, what: &str) -> Vec<String> {
    let out = match v.get_ref() {
        toml::Value::String(s) => vec![s.clone()],
        toml::Value::Array(items) => {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                match item {
                    toml::Value::String(s) => out.push(s.clone()),
                    other => {
                        cx.err(
                            v.span(),
                            format!("{key}[{i}]"),
                            format!("expected a {what} (a string), found {}", other.type_str()),
                            format!("write each {what} as a string"),
                        );
                    }
                }
            }
            out
        }
        other => {
            cx.err(
                v.span(),
                key,
                format!(
                    "expected a {what} or a list of them, found {}",
                    other.type_str()
                ),
                "write \"…\" or [\"…\", \"…\"]",
            );
            return Vec::new();
        }
    };
    if out.iter().any(|s| s.trim().is_empty()) || out.is_empty() {
        cx.err(
            v.span(),
            key,
            format!("an empty {what}"),
            format!("give at least one non-empty {what}"),
        );
    }
    out
}

fn sql_expect(cx: &mut Ctx<'_>, e: Option<&Spanned<RawExpect>>, key: &str) -> SqlExpect {
    let Some(e) = e else {
        return SqlExpect::Success;
    };
    let span = e.span();
    let e = e.get_ref();
    foreign_expectations(cx, e, key, "sql", &["rows", "row-count", "error"]);
    let given = [e.rows.is_some(), e.row_count.is_some(), e.error.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    if given > 1 {
        cx.err(
            span.clone(),
            format!("{key}.expect"),
            "expect one of rows, row-count or error",
            "rows already fixes the row count; an error has no rows",
        );
    }
    if let Some(rows) = &e.rows {
        let mut out = Vec::new();
        for (r, row) in rows.get_ref().iter().enumerate() {
            let mut vals = Vec::new();
            for (c, v) in row.get_ref().iter().enumerate() {
                match v.get_ref() {
                    toml::Value::String(s) => vals.push(s.clone()),
                    toml::Value::Integer(i) => vals.push(i.to_string()),
                    toml::Value::Boolean(b) => vals.push(if *b { "t" } else { "f" }.to_string()),
                    other => cx.err(v.span(), format!("{key}.expect.rows[{r}][{c}]"), format!("a {} cannot be compared exactly", other.type_str()), "write values in their text form as the server sends them, e.g. \"1.50\"; NULL is \"NULL\""),
                }
            }
            out.push(vals);
        }
        return SqlExpect::Rows(out);
    }
    if let Some(n) = &e.row_count {
        return match u64::try_from(*n.get_ref()) {
            Ok(n) => SqlExpect::RowCount(n),
            Err(_) => {
                cx.err(
                    n.span(),
                    format!("{key}.expect.row-count"),
                    "the row count is negative",
                    "row-count = 0 or more",
                );
                SqlExpect::Success
            }
        };
    }
    if let Some(err) = &e.error {
        let code = err.get_ref().trim().to_ascii_uppercase();
        if !(code.len() == 2 || code.len() == 5) || !code.chars().all(|c| c.is_ascii_alphanumeric())
        {
            cx.err(err.span(), format!("{key}.expect.error"), format!("`{}` is not a SQLSTATE or SQLSTATE class", err.get_ref()), "give 5 characters (\"23505\": unique violation) or the 2-character class (\"23\": integrity constraint violation)");
        }
        return SqlExpect::Error(code);
    }
    SqlExpect::Success
}
