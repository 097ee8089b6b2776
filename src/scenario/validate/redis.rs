//! `redis` checks: commands (one or several), and what they expect: a reply or an error.

use toml::Spanned;

use super::check::Refs;
use super::foreign_expectations;
use crate::diagnostic::Ctx;
use crate::scenario::raw::{RawCheck, RawExpect};
use crate::scenario::{Action, RedisAction, RedisExpect, Reply, ServiceRole};

/// A `redis` check's action.
pub(super) fn action(cx: &mut Ctx<'_>, c: &RawCheck, key: &str, refs: &mut Refs<'_>) -> Action {
    let service = refs.service(cx, c.service.as_ref(), "service", ServiceRole::Target, true);
    let via = refs.service(cx, c.via.as_ref(), "via", ServiceRole::Source, false);
    let cmds = c
        .redis
        .as_ref()
        .map(|r| commands(cx, r, &format!("{key}.redis")))
        .unwrap_or_default();
    let setup = c
        .setup
        .as_ref()
        .map(|r| commands(cx, r, &format!("{key}.setup")))
        .unwrap_or_default();
    let expect = redis_expect(cx, c.expect.as_ref(), key);
    Action::Redis(RedisAction {
        service: service.unwrap_or_default(),
        via,
        commands: cmds,
        setup,
        expect,
    })
}

/// `["GET", "k"]` (one command) or `[["SET", "k", "v"], ["GET", "k"]]` (several).
fn commands(cx: &mut Ctx<'_>, v: &Spanned<toml::Value>, key: &str) -> Vec<Vec<String>> {
    let help = "write one command as [\"SET\", \"k\", \"v\"] or several as [[\"SET\", \"k\", \"v\"], [\"GET\", \"k\"]]";
    let toml::Value::Array(items) = v.get_ref() else {
        cx.err(
            v.span(),
            key,
            format!(
                "expected a command (an array), found {}",
                v.get_ref().type_str()
            ),
            help,
        );
        return Vec::new();
    };
    let nested = items.iter().any(|i| i.is_array());
    let lists: Vec<&Vec<toml::Value>> = if nested {
        let mut lists = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match item {
                toml::Value::Array(a) => lists.push(a),
                other => cx.err(
                    v.span(),
                    format!("{key}[{i}]"),
                    format!("mixes commands and {}s", other.type_str()),
                    help,
                ),
            }
        }
        lists
    } else {
        vec![items]
    };
    let mut out = Vec::new();
    for (i, list) in lists.iter().enumerate() {
        let mut args = Vec::new();
        for a in list.iter() {
            match a {
                toml::Value::String(s) => args.push(s.clone()),
                toml::Value::Integer(n) => args.push(n.to_string()),
                other => cx.err(
                    v.span(),
                    format!("{key}[{i}]"),
                    format!("a command argument is a {}", other.type_str()),
                    "arguments are strings or integers",
                ),
            }
        }
        if args.first().is_none_or(|a| a.trim().is_empty()) {
            cx.err(v.span(), key, "an empty command", help);
        }
        out.push(args);
    }
    if out.is_empty() {
        cx.err(v.span(), key, "no command", help);
    }
    out
}

fn redis_expect(cx: &mut Ctx<'_>, e: Option<&Spanned<RawExpect>>, key: &str) -> RedisExpect {
    let Some(e) = e else {
        return RedisExpect::Success;
    };
    let span = e.span();
    let e = e.get_ref();
    foreign_expectations(cx, e, key, "redis", &["reply", "error"]);
    if e.reply.is_some() && e.error.is_some() {
        cx.err(
            span,
            format!("{key}.expect"),
            "expect a reply or an error, not both",
            "remove one",
        );
    }
    if let Some(r) = &e.reply {
        return match reply(r.get_ref()) {
            Ok(r) => RedisExpect::Reply(r),
            Err(msg) => {
                cx.err(r.span(), format!("{key}.expect.reply"), msg, "strings match strings (\"OK\" matches +OK), integers match integers, arrays match arrays, \"(nil)\" matches nil");
                RedisExpect::Success
            }
        };
    }
    if let Some(err) = &e.error {
        if err.get_ref().trim().is_empty() {
            cx.err(
                err.span(),
                format!("{key}.expect.error"),
                "the expected error is empty",
                "give the start of the error reply, e.g. \"ERR unknown command\"",
            );
        }
        return RedisExpect::Error(err.get_ref().clone());
    }
    RedisExpect::Success
}

fn reply(v: &toml::Value) -> Result<Reply, String> {
    Ok(match v {
        toml::Value::String(s) if s == "(nil)" => Reply::Nil,
        toml::Value::String(s) => Reply::Str(s.clone()),
        toml::Value::Integer(i) => Reply::Int(*i),
        toml::Value::Array(items) => {
            Reply::Array(items.iter().map(reply).collect::<Result<_, _>>()?)
        }
        other => return Err(format!("a {} is no Redis reply", other.type_str())),
    })
}
