//! `exec` checks: a command run in a service's container, and what it expects: an exit
//! code and output (also what a `command` check expects).

use super::check::Refs;
use super::foreign_expectations;
use crate::diagnostic::Ctx;
use crate::scenario::raw::{RawCheck, RawExpect};
use crate::scenario::{Action, ExecAction, ExecExpect, ServiceRole};
use toml::Spanned;

/// An `exec` check's action.
pub(super) fn action(cx: &mut Ctx<'_>, c: &RawCheck, key: &str, refs: &mut Refs<'_>) -> Action {
    let service = refs.service(cx, c.service.as_ref(), "service", ServiceRole::Target, true);
    let command: Vec<String> = c
        .exec
        .as_ref()
        .map(|e| e.get_ref().iter().map(|s| s.get_ref().clone()).collect())
        .unwrap_or_default();
    if command.is_empty()
        && let Some(e) = &c.exec
    {
        cx.err(
            e.span(),
            format!("{key}.exec"),
            "the command is empty",
            "exec = [\"PROGRAM\", \"ARG\", …]",
        );
    }
    let expect = exec_expect(cx, c.expect.as_ref(), key);
    Action::Exec(ExecAction {
        service: service.unwrap_or_default(),
        command,
        user: c.user.as_ref().map(|s| s.get_ref().clone()),
        expect,
    })
}

pub(super) fn exec_expect(
    cx: &mut Ctx<'_>,
    e: Option<&Spanned<RawExpect>>,
    key: &str,
) -> ExecExpect {
    let mut out = ExecExpect {
        exit_code: 0,
        output: None,
    };
    let Some(e) = e else { return out };
    let e = e.get_ref();
    foreign_expectations(cx, e, key, "exec", &["exit-code", "output"]);
    if let Some(c) = &e.exit_code {
        if (0..=255).contains(c.get_ref()) {
            out.exit_code = *c.get_ref();
        } else {
            cx.err(
                c.span(),
                format!("{key}.expect.exit-code"),
                format!("{} is not an exit code", c.get_ref()),
                "an exit code is between 0 and 255",
            );
        }
    }
    if let Some(o) = &e.output {
        match regex::Regex::new(o.get_ref()) {
            Ok(r) => out.output = Some(r),
            Err(err) => cx.err(o.span(), format!("{key}.expect.output"), format!("not a regular expression: {}", first_line(&err.to_string())), "`output` is a regular expression (Rust regex syntax) searched in stdout and stderr"),
        }
    }
    out
}

/// The regex crate's last line says what is wrong (`error: unclosed character class`).
fn first_line(s: &str) -> &str {
    let last = s.lines().last().unwrap_or(s).trim();
    last.strip_prefix("error: ").unwrap_or(last)
}
