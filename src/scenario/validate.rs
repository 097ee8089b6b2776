//! Raw scenario → checked [`Scenario`]: each check does exactly one thing, carries only
//! the keys that thing understands, and every violation is a diagnostic pointing at the
//! offending key's span.

use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::raw::{RawCheck, RawDefaults, RawExpect, RawHttp, RawScenario, Str};
use super::*;
use crate::diagnostic::Ctx;
use crate::matrix::filter::parse_requirements;
use crate::matrix::units::parse_duration;

const ACTIONS: [&str; 7] = [
    "sql",
    "redis",
    "http",
    "exec",
    "reach",
    "docker-api",
    "command",
];

pub(super) fn validate(
    path: &Path,
    source: String,
    raw: RawScenario,
) -> Result<Scenario, Diagnostics> {
    let mut cx = Ctx::new(path, &source);
    let kind = match raw.kind.get_ref().as_str() {
        "connectivity" => SuiteKind::Connectivity,
        "regression" => SuiteKind::Regression,
        "perf" => SuiteKind::Perf,
        other => {
            cx.err(
                raw.kind.span(),
                "kind",
                format!("`{other}` is not a scenario kind"),
                "kind = \"connectivity\", \"regression\" or \"perf\"",
            );
            SuiteKind::Regression
        }
    };
    let name = match &raw.name {
        Some(n) if n.get_ref().trim().is_empty() => {
            cx.err(
                n.span(),
                "name",
                "the scenario name is empty",
                "remove `name` (the file's stem is used) or give one",
            );
            String::new()
        }
        Some(n) => n.get_ref().trim().to_string(),
        None => path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };

    let empty = RawDefaults::default();
    let defaults = raw.defaults.as_ref().map_or(&empty, |d| d.get_ref());
    let default_timeout = duration(&mut cx, defaults.timeout.as_ref(), "defaults.timeout");
    let default_phase =
        phase(&mut cx, defaults.phase.as_ref(), "defaults.phase").unwrap_or_default();
    let default_perf = {
        let keys = PerfKeys {
            warmup: defaults.warmup.as_ref(),
            duration: defaults.duration.as_ref(),
            iterations: defaults.iterations.as_ref(),
            concurrency: defaults.concurrency.as_ref(),
            min_samples: defaults.min_samples.as_ref(),
            exclusive: defaults.exclusive.as_ref(),
            tolerance: defaults.tolerance.as_ref(),
            precision: defaults.precision.as_ref(),
        };
        if kind != SuiteKind::Perf {
            if let Some((k, span)) = keys.first() {
                cx.err(
                    span,
                    format!("defaults.{k}"),
                    "perf settings in a suite that is not `kind = \"perf\"`",
                    "move the check to a perf suite, or remove the perf settings",
                );
            }
            PerfSpec::default()
        } else {
            perf_spec(&mut cx, &keys, &PerfSpec::default(), "defaults")
        }
    };

    if raw.check.is_empty() {
        cx.err(
            raw.kind.span(),
            "check",
            "the scenario has no check",
            "add at least one [[check]] with a name and one of sql, redis, http, exec or reach",
        );
    }

    let mut checks: Vec<Check> = Vec::new();
    for (i, c) in raw.check.iter().enumerate() {
        let key = format!("check[{i}]");
        if let Some(check) = check(
            &mut cx,
            c,
            &key,
            kind,
            default_timeout,
            default_phase,
            &default_perf,
        ) {
            if let Some(first) = checks.iter().find(|x| x.name == check.name) {
                let line = line_of(cx.source, first.name_span.start);
                cx.err(
                    check.name_span.clone(),
                    format!("{key}.name"),
                    format!("two checks are named `{}`", check.name),
                    format!("check names are unique ([[known]] entries name them); the other is on line {line}"),
                );
            }
            checks.push(check);
        }
    }

    if !cx.problems.is_empty() {
        return Err(Diagnostics(cx.problems));
    }
    Ok(Scenario {
        path: path.to_path_buf(),
        source,
        name,
        kind,
        description: raw.description.map(|d| d.into_inner()),
        checks,
    })
}

fn duration(cx: &mut Ctx<'_>, raw: Option<&Str>, key: &str) -> Option<Duration> {
    let d = raw?;
    match parse_duration(d.get_ref()) {
        Ok(t) => Some(t),
        Err(e) => {
            cx.err(
                d.span(),
                key,
                format!("bad duration: {e}"),
                "write a duration like \"500ms\", \"30s\" or \"2m\"",
            );
            None
        }
    }
}

fn phase(cx: &mut Ctx<'_>, raw: Option<&Str>, key: &str) -> Option<Phase> {
    let p = raw?;
    let parsed = Phase::parse(p.get_ref());
    if parsed.is_none() {
        cx.err(
            p.span(),
            key,
            format!("`{}` is not a phase", p.get_ref()),
            "phase = \"seed\", \"run\" (the default) or \"verify\"",
        );
    }
    parsed
}

struct PerfKeys<'a> {
    warmup: Option<&'a Str>,
    duration: Option<&'a Str>,
    iterations: Option<&'a Spanned<i64>>,
    concurrency: Option<&'a Spanned<i64>>,
    min_samples: Option<&'a Spanned<i64>>,
    exclusive: Option<&'a Spanned<bool>>,
    tolerance: Option<&'a Spanned<toml::Value>>,
    precision: Option<&'a Spanned<toml::Value>>,
}

impl PerfKeys<'_> {
    /// The first perf setting written, and its span.
    fn first(&self) -> Option<(&'static str, Range<usize>)> {
        [
            ("warmup", self.warmup.map(Spanned::span)),
            ("duration", self.duration.map(Spanned::span)),
            ("iterations", self.iterations.map(Spanned::span)),
            ("concurrency", self.concurrency.map(Spanned::span)),
            ("min-samples", self.min_samples.map(Spanned::span)),
            ("exclusive", self.exclusive.map(Spanned::span)),
            ("tolerance", self.tolerance.map(Spanned::span)),
            ("precision", self.precision.map(Spanned::span)),
        ]
        .into_iter()
        .find_map(|(k, s)| s.map(|s| (k, s)))
    }
}

fn perf_spec(cx: &mut Ctx<'_>, k: &PerfKeys<'_>, base: &PerfSpec, key: &str) -> PerfSpec {
    let mut p = base.clone();
    if let Some(d) = duration(cx, k.warmup, &format!("{key}.warmup")) {
        p.warmup = d;
    }
    if let Some(d) = duration(cx, k.duration, &format!("{key}.duration")) {
        if d.is_zero()
            && let Some(s) = k.duration
        {
            cx.err(
                s.span(),
                format!("{key}.duration"),
                "the measuring duration is zero",
                "e.g. duration = \"5s\"",
            );
        }
        p.duration = d;
    }
    let mut count = |v: Option<&Spanned<i64>>, name: &str, max: i64| -> Option<u64> {
        let v = v?;
        if (1..=max).contains(v.get_ref()) {
            u64::try_from(*v.get_ref()).ok()
        } else {
            cx.err(
                v.span(),
                format!("{key}.{name}"),
                format!("{name} must be between 1 and {max}, not {}", v.get_ref()),
                format!("e.g. {name} = 4"),
            );
            None
        }
    };
    if let Some(n) = count(k.iterations, "iterations", 100_000_000) {
        p.iterations = Some(n);
    }
    if let Some(n) = count(k.concurrency, "concurrency", 256) {
        p.concurrency = u32::try_from(n).unwrap_or(4);
    }
    if let Some(n) = count(k.min_samples, "min-samples", 100_000_000) {
        p.min_samples = n;
    }
    if let Some(e) = k.exclusive {
        p.exclusive = *e.get_ref();
    }
    if let Some(t) = k.tolerance {
        match tolerance(t.get_ref()) {
            Some(pct) => p.tolerance_pct = pct,
            None => cx.err(
                t.span(),
                format!("{key}.tolerance"),
                "the tolerance must be a percentage between 0% and 1000%",
                "e.g. tolerance = \"15%\" (or 15)",
            ),
        }
    }
    if let Some(t) = k.precision {
        match tolerance(t.get_ref()).filter(|pct| *pct <= 100.0) {
            Some(pct) => p.precision_pct = pct,
            None => cx.err(
                t.span(),
                format!("{key}.precision"),
                "the precision must be a percentage between 0% and 100%",
                "e.g. precision = \"2%\" (0% measures for the whole duration)",
            ),
        }
    }
    p
}

/// `"15%"`, `15` or `15.5` → 15.0 (percent).
fn tolerance(v: &toml::Value) -> Option<f64> {
    let pct = match v {
        toml::Value::String(s) => s
            .trim()
            .strip_suffix('%')
            .unwrap_or(s)
            .trim()
            .parse()
            .ok()?,
        toml::Value::Integer(i) => *i as f64,
        toml::Value::Float(f) => *f,
        _ => return None,
    };
    (0.0..=1000.0).contains(&pct).then_some(pct)
}

fn check(
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

    // Exactly one action.
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
    let action_name = match present.as_slice() {
        [] => {
            cx.err(
                c.name.span(),
                key,
                format!("check `{name}` does nothing"),
                format!("give it one of: {}", ACTIONS.join(", ")),
            );
            return None;
        }
        [(one, _)] => *one,
        [(first, _), (second, s), ..] => {
            cx.err(
                s.clone(),
                format!("{key}.{second}"),
                format!("check `{name}` has both `{first}` and `{second}`"),
                "a check does one thing: split it into two checks",
            );
            return None;
        }
    };

    // Keys that belong to other kinds of checks.
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

    let perf_keys = PerfKeys {
        warmup: c.warmup.as_ref(),
        duration: c.duration.as_ref(),
        iterations: c.iterations.as_ref(),
        concurrency: c.concurrency.as_ref(),
        min_samples: c.min_samples.as_ref(),
        exclusive: c.exclusive.as_ref(),
        tolerance: c.tolerance.as_ref(),
        precision: c.precision.as_ref(),
    };
    let perf = if kind == SuiteKind::Perf {
        if matches!(action_name, "exec" | "reach" | "docker-api" | "command") {
            cx.err(
                present[0].1.clone(),
                format!("{key}.{action_name}"),
                format!("a perf suite cannot measure `{action_name}` checks"),
                "perf checks measure sql, redis or http operations",
            );
        }
        if let Some(v) = &c.via {
            cx.err(
                v.span(),
                format!("{key}.via"),
                "a perf check measures from dockmatrix's process, not via a container",
                "remove `via` (perf goes to the published port)",
            );
        }
        Some(perf_spec(cx, &perf_keys, default_perf, key))
    } else {
        if let Some((k, s)) = perf_keys.first() {
            cx.err(
                s,
                format!("{key}.{k}"),
                "perf settings in a suite that is not `kind = \"perf\"`",
                "move the check to a perf suite, or remove the perf settings",
            );
        }
        if let Some(s) = &c.setup {
            cx.err(
                s.span(),
                format!("{key}.setup"),
                "`setup` is for perf checks",
                "put the setup statements or commands first in the check's own list",
            );
        }
        None
    };

    let timeout = duration(cx, c.timeout.as_ref(), &format!("{key}.timeout"))
        .or(default_timeout)
        .unwrap_or(match &perf {
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

    let mut services = Vec::new();
    let mut svc_ref = |cx: &mut Ctx<'_>,
                       s: Option<&Str>,
                       what: &'static str,
                       role: ServiceRole,
                       required: bool| {
        match s {
            Some(s) if s.get_ref().trim().is_empty() => {
                cx.err(
                    s.span(),
                    format!("{key}.{what}"),
                    format!("`{what}` is empty"),
                    "name a service of the matrix",
                );
                None
            }
            Some(s) => {
                services.push(ServiceRef {
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
                        c.name.span(),
                        format!("{key}.{what}"),
                        format!("a `{action_name}` check needs `{what}`"),
                        format!("add {what} = \"NAME\" (a service of the matrix)"),
                    );
                }
                None
            }
        }
    };
    let port = c
        .port
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
        });

    let action = match action_name {
        "sql" => {
            let service = svc_ref(cx, c.service.as_ref(), "service", ServiceRole::Target, true);
            let via = svc_ref(cx, c.via.as_ref(), "via", ServiceRole::Source, false);
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
        "redis" => {
            let service = svc_ref(cx, c.service.as_ref(), "service", ServiceRole::Target, true);
            let via = svc_ref(cx, c.via.as_ref(), "via", ServiceRole::Source, false);
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
        "http" => {
            let service = svc_ref(cx, c.service.as_ref(), "service", ServiceRole::Target, true);
            let via = svc_ref(cx, c.via.as_ref(), "via", ServiceRole::Source, false);
            let request = c
                .http
                .as_ref()
                .map(|h| http_request(cx, h.get_ref(), &format!("{key}.http")));
            let setup = c
                .setup
                .as_ref()
                .map(|s| http_setup(cx, s, &format!("{key}.setup")))
                .unwrap_or_default();
            let expect = http_expect(cx, c.expect.as_ref(), key);
            Action::Http(HttpAction {
                service: service.unwrap_or_default(),
                via,
                port,
                request: request.unwrap_or_else(|| HttpRequest {
                    method: "GET".into(),
                    path: "/".into(),
                    headers: vec![],
                    body: None,
                }),
                setup,
                expect,
            })
        }
        "exec" => {
            let service = svc_ref(cx, c.service.as_ref(), "service", ServiceRole::Target, true);
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
        "docker-api" => {
            let expect = http_expect(cx, c.expect.as_ref(), key);
            match &c.docker_api {
                Some(d) => Action::DockerApi(super::clients::docker_api(cx, d, expect, key)),
                None => return None,
            }
        }
        "command" => {
            let expect = exec_expect(cx, c.expect.as_ref(), key);
            match &c.command {
                Some(argv) => Action::Command(super::clients::command(cx, c, argv, expect, key)),
                None => return None,
            }
        }
        _ => {
            let to = svc_ref(cx, c.reach.as_ref(), "reach", ServiceRole::Target, true);
            let from = svc_ref(cx, c.from.as_ref(), "from", ServiceRole::Source, false);
            Action::Reach(ReachAction {
                from,
                to: to.unwrap_or_default(),
                port,
                login: c.login.as_ref().map(|l| *l.get_ref()),
            })
        }
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
        services,
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

fn http_request(cx: &mut Ctx<'_>, h: &RawHttp, key: &str) -> HttpRequest {
    let method = h
        .method
        .as_ref()
        .map_or("GET".to_string(), |m| m.get_ref().to_ascii_uppercase());
    if (!method.chars().all(|c| c.is_ascii_alphabetic()) || method.is_empty())
        && let Some(m) = &h.method
    {
        cx.err(
            m.span(),
            format!("{key}.method"),
            format!("`{}` is not an HTTP method", m.get_ref()),
            "e.g. method = \"GET\", \"PUT\" or \"POST\"",
        );
    }
    if !h.path.get_ref().starts_with('/') {
        cx.err(
            h.path.span(),
            format!("{key}.path"),
            "the path must start with `/`",
            "e.g. path = \"/health\"",
        );
    }
    let mut headers = Vec::new();
    for (k, v) in &h.headers {
        let ok_name = !k.get_ref().is_empty()
            && k.get_ref()
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b':');
        if !ok_name {
            cx.err(
                k.span(),
                format!("{key}.headers"),
                format!("`{}` is not a header name", k.get_ref()),
                "header names are visible ASCII without `:`",
            );
        }
        if v.get_ref().contains(['\r', '\n']) {
            cx.err(
                v.span(),
                format!("{key}.headers.{}", k.get_ref()),
                "a header value cannot hold a line break",
                "remove the line break",
            );
        }
        headers.push((k.get_ref().clone(), v.get_ref().clone()));
    }
    HttpRequest {
        method,
        path: h.path.get_ref().clone(),
        headers,
        body: h.body.as_ref().map(|b| b.get_ref().clone()),
    }
}

fn http_setup(cx: &mut Ctx<'_>, v: &Spanned<toml::Value>, key: &str) -> Vec<HttpRequest> {
    let toml::Value::Array(items) = v.get_ref() else {
        cx.err(
            v.span(),
            key,
            "expected a list of requests",
            "setup = [{ method = \"PUT\", path = \"/items/k\", body = \"v\" }]",
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match item.clone().try_into::<RawHttpPlain>() {
            Ok(r) => out.push(HttpRequest {
                method: r
                    .method
                    .unwrap_or_else(|| "GET".into())
                    .to_ascii_uppercase(),
                path: r.path,
                headers: r.headers.into_iter().collect(),
                body: r.body,
            }),
            Err(e) => cx.err(
                v.span(),
                format!("{key}[{i}]"),
                format!("bad request: {}", e.message()),
                "each request is { method = \"…\", path = \"/…\", headers = {…}, body = \"…\" }",
            ),
        }
    }
    out
}

/// An HTTP request inside `setup` (no spans: toml::Value has lost them).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttpPlain {
    method: Option<String>,
    path: String,
    #[serde(default)]
    headers: indexmap::IndexMap<String, String>,
    body: Option<String>,
}

/// Refuses expectations that belong to other kinds of checks.
fn foreign_expectations(cx: &mut Ctx<'_>, e: &RawExpect, key: &str, kind: &str, allowed: &[&str]) {
    let present: [(&str, Option<Range<usize>>); 9] = [
        ("rows", e.rows.as_ref().map(Spanned::span)),
        ("row-count", e.row_count.as_ref().map(Spanned::span)),
        ("error", e.error.as_ref().map(Spanned::span)),
        ("reply", e.reply.as_ref().map(Spanned::span)),
        ("status", e.status.as_ref().map(Spanned::span)),
        ("body-contains", e.body_contains.as_ref().map(Spanned::span)),
        ("json", e.json.as_ref().map(Spanned::span)),
        ("exit-code", e.exit_code.as_ref().map(Spanned::span)),
        ("output", e.output.as_ref().map(Spanned::span)),
    ];
    for (k, s) in present {
        if let Some(s) = s
            && !allowed.contains(&k)
        {
            cx.err(
                s,
                format!("{key}.expect.{k}"),
                format!("`{k}` is not an expectation of a `{kind}` check"),
                format!("a `{kind}` check expects: {}", allowed.join(", ")),
            );
        }
    }
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

fn http_expect(cx: &mut Ctx<'_>, e: Option<&Spanned<RawExpect>>, key: &str) -> HttpExpect {
    let Some(e) = e else {
        return HttpExpect::default();
    };
    let e = e.get_ref();
    foreign_expectations(cx, e, key, "http", &["status", "body-contains", "json"]);
    let mut out = HttpExpect::default();
    if let Some(s) = &e.status {
        match u16::try_from(*s.get_ref()) {
            Ok(v) if (100..=599).contains(&v) => out.status = Some(v),
            _ => cx.err(
                s.span(),
                format!("{key}.expect.status"),
                format!("{} is not an HTTP status", s.get_ref()),
                "a status between 100 and 599",
            ),
        }
    }
    out.body_contains = e.body_contains.as_ref().map(|b| b.get_ref().clone());
    if let Some(j) = &e.json {
        for (k, v) in j.get_ref() {
            match serde_json::to_value(v.get_ref()) {
                Ok(json) => out.json.push((k.get_ref().clone(), json)),
                Err(err) => cx.err(
                    v.span(),
                    format!("{key}.expect.json.{}", k.get_ref()),
                    format!("cannot be compared with JSON: {err}"),
                    "give a string, number, boolean, array or table",
                ),
            }
        }
    }
    out
}

fn exec_expect(cx: &mut Ctx<'_>, e: Option<&Spanned<RawExpect>>, key: &str) -> ExecExpect {
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
