//! What every check has, whatever it does: a name, `when`, a phase, exactly one action
//! and only the keys that action takes, perf settings in a perf suite only, a timeout,
//! and the services it names (checked against the matrix later).

use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::perf::check_perf;
use super::{duration, exec, http, phase, redis, sql};
use crate::diagnostic::Ctx;
use crate::matrix::filter::parse_requirements;
use crate::scenario::raw::{RawCheck, Str};
use crate::scenario::{
    Action, Check, DEFAULT_TIMEOUT, PerfSpec, Phase, ReachAction, ServiceRef, ServiceRole,
    SuiteKind, When, WhenTerm,
};

const ACTIONS: [&str; 7] = [
    "sql",
    "redis",
    "http",
    "exec",
    "reach",
    "docker-api",
    "command",
];

pub(super) fn check(
    cx: &mut Ctx<'_>,
    raw: &Spanned<RawCheck>,
    key: &str,
    kind: SuiteKind,
    default_timeout: Option<Duration>,
    default_phase: Phase,
    default_perf: &PerfSpec,
) -> Option<Check> {
    let span = raw.span();
    let c = raw.get_ref();
    let before = cx.problems.len();
    let name = c.name.get_ref().trim().to_string();
    if name.is_empty() {
        cx.err(
            c.name.span(),
            format!("{key}.name"),
            "the check name is empty",
            "name the check after what it protects, e.g. \"postgres: MERGE upserts a row\"",
        );
    }
    let when = when(cx, c, key);
    let phase = phase(cx, c.phase.as_ref(), &format!("{key}.phase")).unwrap_or(default_phase);
    let (action_name, action_span) = one_action(cx, c, key, &name)?;
    foreign_keys(cx, c, key, action_name);
    let perf = check_perf(cx, c, key, kind, action_name, action_span, default_perf);
    let timeout = timeout(cx, c, key, default_timeout, perf.as_ref());
    let mut refs = Refs {
        key,
        check: c,
        action: action_name,
        services: Vec::new(),
    };
    let port = port(cx, c, key);
    let action = match action_name {
        "sql" => sql::action(cx, c, key, &mut refs),
        "redis" => redis::action(cx, c, key, &mut refs),
        "http" => http::action(cx, c, key, &mut refs, port),
        "exec" => exec::action(cx, c, key, &mut refs),
        "docker-api" => {
            let expect = http::http_expect(cx, c.expect.as_ref(), key);
            match &c.docker_api {
                Some(d) => {
                    Action::DockerApi(crate::scenario::clients::docker_api(cx, d, expect, key))
                }
                None => return None,
            }
        }
        "command" => {
            let expect = exec::exec_expect(cx, c.expect.as_ref(), key);
            match &c.command {
                Some(argv) => {
                    Action::Command(crate::scenario::clients::command(cx, c, argv, expect, key))
                }
                None => return None,
            }
        }
        _ => reach(cx, c, &mut refs, port),
    };

    if cx.problems.len() > before {
        return None;
    }
    Some(Check {
        name,
        description: c
            .description
            .as_ref()
            .map(|d| d.get_ref().trim().to_string()),
        when,
        phase,
        timeout,
        action,
        perf,
        span,
        name_span: c.name.span(),
        key: key.to_string(),
        services: refs.services,
    })
}

/// Exactly one action: its name and span (`None` when there is none or more than one).
fn one_action(
    cx: &mut Ctx<'_>,
    c: &RawCheck,
    key: &str,
    name: &str,
) -> Option<(&'static str, Range<usize>)> {
    let mut present: Vec<(&str, Range<usize>)> = [
        ("sql", c.sql.as_ref().map(Spanned::span)),
        ("redis", c.redis.as_ref().map(Spanned::span)),
        ("http", c.http.as_ref().map(Spanned::span)),
        ("exec", c.exec.as_ref().map(Spanned::span)),
        ("reach", c.reach.as_ref().map(Spanned::span)),
        ("docker-api", c.docker_api.as_ref().map(Spanned::span)),
        ("command", c.command.as_ref().map(Spanned::span)),
    ]
    .into_iter()
    .filter_map(|(k, s)| s.map(|s| (k, s)))
    .collect();
    // The second one in the file is the one to point at.
    present.sort_by_key(|(_, s)| s.start);
    match present.as_slice() {
        [] => {
            cx.err(
                c.name.span(),
                key,
                format!("check `{name}` does nothing"),
                format!("give it one of: {}", ACTIONS.join(", ")),
            );
            None
        }
        [(one, s)] => Some((*one, s.clone())),
        [(first, _), (second, s), ..] => {
            cx.err(
                s.clone(),
                format!("{key}.{second}"),
                format!("check `{name}` has both `{first}` and `{second}`"),
                "a check does one thing: split it into two checks",
            );
            None
        }
    }
}

/// Keys that belong to other kinds of checks.
fn foreign_keys(cx: &mut Ctx<'_>, c: &RawCheck, key: &str, action_name: &str) {
    let allowed: &[&str] = match action_name {
        "sql" => &[
            "service", "via", "database", "user", "password", "setup", "expect",
        ],
        "redis" => &["service", "via", "setup", "expect"],
        "http" => &["service", "via", "port", "setup", "expect"],
        "exec" => &["service", "user", "expect"],
        "docker-api" => &["expect"],
        "command" => &["dir", "env", "images", "junit", "expect"],
        _ => &["from", "port", "login"],
    };
    let optional: [(&str, Option<Range<usize>>); 14] = [
        ("dir", c.dir.as_ref().map(Spanned::span)),
        ("env", c.env.as_ref().map(Spanned::span)),
        ("images", c.images.as_ref().map(Spanned::span)),
        ("junit", c.junit.as_ref().map(Spanned::span)),
        ("service", c.service.as_ref().map(Spanned::span)),
        ("via", c.via.as_ref().map(Spanned::span)),
        ("from", c.from.as_ref().map(Spanned::span)),
        ("port", c.port.as_ref().map(Spanned::span)),
        ("database", c.database.as_ref().map(Spanned::span)),
        ("user", c.user.as_ref().map(Spanned::span)),
        ("password", c.password.as_ref().map(Spanned::span)),
        ("login", c.login.as_ref().map(Spanned::span)),
        ("setup", c.setup.as_ref().map(Spanned::span)),
        ("expect", c.expect.as_ref().map(Spanned::span)),
    ];
    for (k, s) in optional {
        if let Some(s) = s
            && !allowed.contains(&k)
        {
            cx.err(
                s,
                format!("{key}.{k}"),
                format!("`{k}` means nothing to a `{action_name}` check"),
                format!("a `{action_name}` check takes: {}", allowed.join(", ")),
            );
        }
    }
}

/// The check's timeout: its own, the suite's default, else the warm-up and measuring
/// time plus a minute for a perf check, [`DEFAULT_TIMEOUT`] for the others.
fn timeout(
    cx: &mut Ctx<'_>,
    c: &RawCheck,
    key: &str,
    default_timeout: Option<Duration>,
    perf: Option<&PerfSpec>,
) -> Duration {
    let timeout = duration(cx, c.timeout.as_ref(), &format!("{key}.timeout"))
        .or(default_timeout)
        .unwrap_or(match perf {
            Some(p) => p.warmup + p.duration + Duration::from_secs(60),
            None => DEFAULT_TIMEOUT,
        });
    if timeout.is_zero()
        && let Some(t) = &c.timeout
    {
        cx.err(
            t.span(),
            format!("{key}.timeout"),
            "the timeout is zero",
            "e.g. timeout = \"30s\"",
        );
    }
    timeout
}

/// `port`: a container port.
fn port(cx: &mut Ctx<'_>, c: &RawCheck, key: &str) -> Option<u16> {
    c.port
        .as_ref()
        .and_then(|p| match u16::try_from(*p.get_ref()) {
            Ok(v) if v > 0 => Some(v),
            _ => {
                cx.err(
                    p.span(),
                    format!("{key}.port"),
                    format!("{} is not a port", p.get_ref()),
                    "a container port between 1 and 65535",
                );
                None
            }
        })
}

/// The services a check names (`service`, `via`, `reach`, `from`), collected as they are
/// read so that the matrix can check them.
pub(super) struct Refs<'a> {
    key: &'a str,
    check: &'a RawCheck,
    action: &'a str,
    services: Vec<ServiceRef>,
}

impl Refs<'_> {
    /// The service `s` names as `what` (an error when `required` and absent, or empty).
    pub(super) fn service(
        &mut self,
        cx: &mut Ctx<'_>,
        s: Option<&Str>,
        what: &'static str,
        role: ServiceRole,
        required: bool,
    ) -> Option<String> {
        match s {
            Some(s) if s.get_ref().trim().is_empty() => {
                cx.err(
                    s.span(),
                    format!("{}.{what}", self.key),
                    format!("`{what}` is empty"),
                    "name a service of the matrix",
                );
                None
            }
            Some(s) => {
                self.services.push(ServiceRef {
                    name: s.get_ref().clone(),
                    field: what,
                    role,
                    span: s.span(),
                });
                Some(s.get_ref().clone())
            }
            None => {
                if required {
                    cx.err(
                        self.check.name.span(),
                        format!("{}.{what}", self.key),
                        format!("a `{}` check needs `{what}`", self.action),
                        format!("add {what} = \"NAME\" (a service of the matrix)"),
                    );
                }
                None
            }
        }
    }
}

/// A `reach` check's action.
fn reach(cx: &mut Ctx<'_>, c: &RawCheck, refs: &mut Refs<'_>, port: Option<u16>) -> Action {
    let to = refs.service(cx, c.reach.as_ref(), "reach", ServiceRole::Target, true);
    let from = refs.service(cx, c.from.as_ref(), "from", ServiceRole::Source, false);
    Action::Reach(ReachAction {
        from,
        to: to.unwrap_or_default(),
        port,
        login: c.login.as_ref().map(|l| *l.get_ref()),
    })
}

fn when(cx: &mut Ctx<'_>, c: &RawCheck, key: &str) -> When {
    let mut out = When::default();
    let Some(w) = &c.when else { return out };
    if w.get_ref().is_empty() {
        cx.err(
            w.span(),
            format!("{key}.when"),
            "`when` is empty",
            "write when = { postgres = \">=15\" }, or remove it",
        );
    }
    for (k, v) in w.get_ref() {
        let path = format!("{key}.when.{}", k.get_ref());
        let text = match v.get_ref() {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(_) => {
                let written = cx.source.get(v.span()).unwrap_or("").trim().to_string();
                cx.err(
                    v.span(),
                    path,
                    format!("{written} is a float; requirements are strings"),
                    format!("quote it: \"={written}\" or \">={written}\""),
                );
                continue;
            }
            other => {
                cx.err(
                    v.span(),
                    path,
                    format!("expected a string, found {}", other.type_str()),
                    "write a requirement such as \">=15\", \"<8,>=6\" or \"!=vfs\"",
                );
                continue;
            }
        };
        match parse_requirements(&text) {
            Ok(reqs) => out.terms.push(WhenTerm {
                key: k.get_ref().clone(),
                reqs,
                text,
                span: k.span(),
            }),
            Err(e) => cx.err(
                v.span(),
                path,
                format!("bad requirement `{text}`: {e}"),
                e.help(),
            ),
        }
    }
    out
}
