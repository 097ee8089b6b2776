//! `[services]`: each service's kind, image and its placeholders, version, env, ports,
//! dependencies (no cycle), limits, volumes and its `ready` probe.

use std::ops::Range;
use std::time::Duration;

use indexmap::IndexMap;
use toml::Spanned;

use super::axes::{valid_name, value_string};
use crate::diagnostic::{Ctx, toml_key};
use crate::matrix::axes::SPECIAL as SPECIAL_AXES;
use crate::matrix::raw::{RawReady, RawService, SpannedMap};
use crate::matrix::{
    DEFAULT_READY_TIMEOUT, Ready, Restart, ServiceKind, ServiceSpec, placeholders,
};
use crate::units::{parse_bytes, parse_duration};

pub(super) fn services(
    cx: &mut Ctx<'_>,
    raw: &SpannedMap<Spanned<RawService>>,
    keys: &[String],
    compose_names: &[String],
) -> IndexMap<String, ServiceSpec> {
    let mut names: Vec<&str> = raw.keys().map(|k| k.get_ref().as_str()).collect();
    names.extend(compose_names.iter().map(String::as_str));
    let mut out = IndexMap::new();
    for (name, s) in raw {
        let n = name.get_ref().clone();
        let key = format!("services.{}", toml_key(&n));
        name_rules(cx, name, &key);
        let s = s.get_ref();
        let kind = kind(cx, s, &key);
        let (image, image_span) = image(cx, s, name, &key, keys, compose_names);
        let version = version(cx, s, &key);
        let env = env(cx, s, &key);
        let ports = ports(cx, s, &key);
        let depends_on = depends_on(cx, s, &n, &key, &names);
        let (ready, ready_timeout) = ready(cx, s.ready.as_ref(), &key, &ports, kind);
        let memory = memory(cx, s, &key);
        let cpus = cpus(cx, s, &key);
        let restart = restart(cx, s, &key);
        let volumes = volumes(cx, s, &key);
        out.insert(
            n.clone(),
            ServiceSpec {
                name: n,
                kind,
                image,
                image_span,
                version,
                env,
                command: s.command.as_ref().map(|c| c.get_ref().clone()),
                ports,
                depends_on,
                ready,
                ready_timeout,
                memory,
                cpus,
                restart,
                volumes,
                from_compose: false,
                compose: None,
                docker_socket: s.docker_socket.as_ref().is_some_and(|d| *d.get_ref()),
            },
        );
    }
    check_cycles(cx, raw);
    out
}

/// A service's name becomes a DNS alias, and must not be a special axis.
fn name_rules(cx: &mut Ctx<'_>, name: &Spanned<String>, key: &str) {
    let n = name.get_ref();
    if !valid_name(n) {
        cx.err(
            name.span(),
            key,
            format!("`{n}` is not a valid service name (it becomes a DNS alias)"),
            "use letters, digits, `-` and `_`",
        );
    }
    if SPECIAL_AXES.contains(&n.as_str()) {
        cx.err(
            name.span(),
            key,
            format!("`{n}` is a special axis and cannot name a service"),
            format!("rename the service; reserved: {}", SPECIAL_AXES.join(", ")),
        );
    }
}

/// `kind` (`generic` when absent).
fn kind(cx: &mut Ctx<'_>, s: &RawService, key: &str) -> ServiceKind {
    match s.kind.as_ref().map(|k| k.get_ref().as_str()) {
        None | Some("generic") => ServiceKind::Generic,
        Some("postgres") => ServiceKind::Postgres,
        Some("mysql") => ServiceKind::Mysql,
        Some("redis") => ServiceKind::Redis,
        Some("http") => ServiceKind::Http,
        Some(other) => {
            if let Some(k) = &s.kind {
                cx.err(
                    k.span(),
                    format!("{key}.kind"),
                    format!("`{other}` is not a service kind"),
                    "kind = \"postgres\", \"mysql\", \"redis\", \"http\" or \"generic\"",
                );
            }
            ServiceKind::Generic
        }
    }
}

/// The image template (a compose service's may be absent: the compose file has it),
/// whose placeholders are `{version}` or axes.
fn image(
    cx: &mut Ctx<'_>,
    s: &RawService,
    name: &Spanned<String>,
    key: &str,
    keys: &[String],
    compose_names: &[String],
) -> (String, Range<usize>) {
    let n = name.get_ref();
    let (image, image_span) = match &s.image {
        Some(i) if !i.get_ref().trim().is_empty() => (i.get_ref().clone(), i.span()),
        Some(i) => {
            cx.err(
                i.span(),
                format!("{key}.image"),
                format!("service `{n}` has an empty image"),
                "image = \"postgres:{version}\"",
            );
            (String::new(), i.span())
        }
        // A compose service's image is the compose file's.
        None if compose_names.contains(n) => (String::new(), name.span()),
        None => {
            cx.err(name.span(), format!("{key}.image"), format!("service `{n}` has no image"), "add image = \"NAME:{version}\" ({version} is the cell's value of the axis named after the service)");
            (String::new(), name.span())
        }
    };
    for p in placeholders(&image) {
        if p != "version" && !keys.iter().any(|k| k == p) {
            cx.err(
                image_span.clone(),
                format!("{key}.image"),
                format!("placeholder `{{{p}}}` names no axis"),
                format!("placeholders: {{version}} or an axis: {}", keys.join(", ")),
            );
        }
    }
    (image, image_span)
}

/// The service's own `version` (else the axis named after it gives one).
fn version(cx: &mut Ctx<'_>, s: &RawService, key: &str) -> Option<String> {
    s.version.as_ref().and_then(|v| {
        let got = value_string(v.get_ref());
        if got.is_none() {
            cx.err(
                v.span(),
                format!("{key}.version"),
                "the version must be a string",
                "version = \"1.4\"",
            );
        }
        got
    })
}

/// `env`: strings (integers and booleans as written).
fn env(cx: &mut Ctx<'_>, s: &RawService, key: &str) -> IndexMap<String, String> {
    let mut env = IndexMap::new();
    for (k, v) in &s.env {
        let val = match v.get_ref() {
            toml::Value::String(x) => Some(x.clone()),
            toml::Value::Integer(i) => Some(i.to_string()),
            toml::Value::Boolean(b) => Some(b.to_string()),
            other => {
                cx.err(
                    v.span(),
                    format!("{key}.env.{}", toml_key(k.get_ref())),
                    format!("expected a string, found {}", other.type_str()),
                    "env values are strings",
                );
                None
            }
        };
        if let Some(val) = val {
            env.insert(k.get_ref().clone(), val);
        }
    }
    env
}

/// `ports`: container ports.
fn ports(cx: &mut Ctx<'_>, s: &RawService, key: &str) -> Vec<u16> {
    let mut ports = Vec::new();
    for (i, p) in s.ports.iter().enumerate() {
        match u16::try_from(*p.get_ref()) {
            Ok(v) if v > 0 => ports.push(v),
            _ => cx.err(
                p.span(),
                format!("{key}.ports[{i}]"),
                format!("{} is not a port", p.get_ref()),
                "ports are container ports between 1 and 65535",
            ),
        }
    }
    ports
}

/// `depends-on`: other services (of the matrix or the compose files), not itself.
fn depends_on(cx: &mut Ctx<'_>, s: &RawService, n: &str, key: &str, names: &[&str]) -> Vec<String> {
    let mut depends_on = Vec::new();
    for (i, d) in s.depends_on.iter().enumerate() {
        let dn = d.get_ref();
        if dn == n {
            cx.err(
                d.span(),
                format!("{key}.depends-on[{i}]"),
                format!("service `{n}` depends on itself"),
                "remove it",
            );
        } else if !names.contains(&dn.as_str()) {
            cx.err(
                d.span(),
                format!("{key}.depends-on[{i}]"),
                format!("`{dn}` is not a service"),
                format!("services: {}", names.join(", ")),
            );
        }
        depends_on.push(dn.clone());
    }
    depends_on
}

/// `memory`: bytes, or a size such as `512m`.
fn memory(cx: &mut Ctx<'_>, s: &RawService, key: &str) -> Option<u64> {
    s.memory.as_ref().and_then(|m| {
        let parsed = match m.get_ref() {
            toml::Value::Integer(i) if *i > 0 => Ok(*i as u64),
            toml::Value::String(x) => parse_bytes(x),
            _ => Err("expected a size".to_string()),
        };
        parsed
            .map_err(|e| {
                cx.err(
                    m.span(),
                    format!("{key}.memory"),
                    format!("bad memory limit: {e}"),
                    "memory = \"512m\" or \"1g\"",
                )
            })
            .ok()
    })
}

/// `cpus`: a positive number.
fn cpus(cx: &mut Ctx<'_>, s: &RawService, key: &str) -> Option<f64> {
    s.cpus.as_ref().and_then(|c| {
        let parsed = match c.get_ref() {
            toml::Value::Integer(i) => Some(*i as f64),
            toml::Value::Float(f) => Some(*f),
            toml::Value::String(x) => x.parse().ok(),
            _ => None,
        };
        match parsed {
            Some(v) if v > 0.0 && v.is_finite() => Some(v),
            _ => {
                cx.err(
                    c.span(),
                    format!("{key}.cpus"),
                    "cpus must be a positive number",
                    "cpus = 0.5",
                );
                None
            }
        }
    })
}

/// `restart`: Docker's restart policies.
fn restart(cx: &mut Ctx<'_>, s: &RawService, key: &str) -> Option<Restart> {
    s.restart.as_ref().and_then(|r| {
        let parsed = Restart::parse(r.get_ref());
        if parsed.is_none() {
            cx.err(
                r.span(),
                format!("{key}.restart"),
                format!("`{}` is not a restart policy", r.get_ref()),
                "restart = \"no\", \"on-failure\", \"always\" or \"unless-stopped\"",
            );
        }
        parsed
    })
}

/// `volumes`: `NAME:/path`, each name once (a named volume per cell).
fn volumes(cx: &mut Ctx<'_>, s: &RawService, key: &str) -> Vec<(String, String)> {
    let mut volumes: Vec<(String, String)> = Vec::new();
    for (i, v) in s.volumes.iter().enumerate() {
        match v.get_ref().split_once(':') {
            Some((name, mount))
                if valid_name(name) && mount.starts_with('/') && !volumes.iter().any(|(n, _)| n == name) =>
            {
                volumes.push((name.to_string(), mount.to_string()));
            }
            _ => cx.err(
                v.span(),
                format!("{key}.volumes[{i}]"),
                format!("`{}` is not NAME:/path with a unique NAME", v.get_ref()),
                "e.g. volumes = [\"data:/data\"] (a named volume per cell, kept across an engine upgrade)",
            ),
        }
    }
    volumes
}

/// `ready`: how the service is known to be ready, and how long to wait for it.
fn ready(
    cx: &mut Ctx<'_>,
    raw: Option<&Spanned<RawReady>>,
    key: &str,
    ports: &[u16],
    kind: ServiceKind,
) -> (Ready, Duration) {
    let Some(r) = raw else {
        return (Ready::Protocol, DEFAULT_READY_TIMEOUT);
    };
    let span = r.span();
    let r = r.get_ref();
    let key = format!("{key}.ready");
    let timeout = ready_timeout(cx, r, &key);
    let chosen = [
        r.http.is_some(),
        r.tcp.is_some(),
        r.log.is_some(),
        r.exec.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if chosen > 1 {
        cx.err(
            span.clone(),
            key.clone(),
            "ready names more than one probe",
            "choose one of http, tcp, log or exec",
        );
    }
    let status = ready_status(cx, r, &key);
    let ready = probe(cx, r, span, &key, ports, kind, status);
    (ready, timeout)
}

/// `ready.timeout` (DEFAULT_READY_TIMEOUT when absent or wrong).
fn ready_timeout(cx: &mut Ctx<'_>, r: &RawReady, key: &str) -> Duration {
    match &r.timeout {
        Some(t) => match parse_duration(t.get_ref()) {
            Ok(d) if !d.is_zero() => d,
            Ok(_) => {
                cx.err(
                    t.span(),
                    format!("{key}.timeout"),
                    "the timeout is zero",
                    "timeout = \"120s\"",
                );
                DEFAULT_READY_TIMEOUT
            }
            Err(e) => {
                cx.err(
                    t.span(),
                    format!("{key}.timeout"),
                    format!("bad duration: {e}"),
                    "timeout = \"120s\"",
                );
                DEFAULT_READY_TIMEOUT
            }
        },
        None => DEFAULT_READY_TIMEOUT,
    }
}

/// `ready.status`: the HTTP status the probe expects.
fn ready_status(cx: &mut Ctx<'_>, r: &RawReady, key: &str) -> Option<u16> {
    r.status
        .as_ref()
        .and_then(|s| match u16::try_from(*s.get_ref()) {
            Ok(v) if (100..=599).contains(&v) => Some(v),
            _ => {
                cx.err(
                    s.span(),
                    format!("{key}.status"),
                    format!("{} is not an HTTP status", s.get_ref()),
                    "a status between 100 and 599, e.g. status = 204",
                );
                None
            }
        })
}

/// The probe `ready` names (the kind's protocol handshake when none), with its port:
/// as given, else the service's only port, else the kind's default.
fn probe(
    cx: &mut Ctx<'_>,
    r: &RawReady,
    span: Range<usize>,
    key: &str,
    ports: &[u16],
    kind: ServiceKind,
    status: Option<u16>,
) -> Ready {
    let mut port_of = |p: &Option<Spanned<i64>>, what: &str| -> u16 {
        match p {
            Some(p) => match u16::try_from(*p.get_ref()) {
                Ok(v) if v > 0 => v,
                _ => {
                    cx.err(
                        p.span(),
                        format!("{key}.{what}"),
                        format!("{} is not a port", p.get_ref()),
                        "a port between 1 and 65535",
                    );
                    0
                }
            },
            None => match (ports, kind.default_port()) {
                ([only], _) => *only,
                (_, Some(d)) => d,
                _ => {
                    cx.err(
                        span.clone(),
                        format!("{key}.port"),
                        "ready needs a port",
                        "add port = 8080 (or give the service exactly one port)",
                    );
                    0
                }
            },
        }
    };
    if let Some(path) = &r.http {
        let port = port_of(&r.port, "port");
        Ready::Http {
            path: path.get_ref().clone(),
            port,
            status,
        }
    } else if r.tcp.is_some() {
        Ready::Tcp {
            port: port_of(&r.tcp, "tcp"),
        }
    } else if let Some(l) = &r.log {
        Ready::Log {
            pattern: l.get_ref().clone(),
        }
    } else if let Some(e) = &r.exec {
        if e.get_ref().is_empty() {
            cx.err(
                e.span(),
                format!("{key}.exec"),
                "the command is empty",
                "exec = [\"pg_isready\"]",
            );
        }
        Ready::Exec {
            command: e.get_ref().clone(),
        }
    } else {
        Ready::Protocol
    }
}

/// Reports a cycle at the `depends-on` entry that closes it.
fn check_cycles(cx: &mut Ctx<'_>, raw: &SpannedMap<Spanned<RawService>>) {
    let deps: IndexMap<&str, Vec<&Spanned<String>>> = raw
        .iter()
        .map(|(k, s)| {
            (
                k.get_ref().as_str(),
                s.get_ref().depends_on.iter().collect(),
            )
        })
        .collect();
    // 0 = unvisited, 1 = on the stack, 2 = done
    let mut state: IndexMap<&str, u8> = deps.keys().map(|k| (*k, 0)).collect();
    let mut reported = false;
    for start in deps.keys() {
        if reported {
            break;
        }
        let mut stack: Vec<&str> = Vec::new();
        visit(start, &deps, &mut state, &mut stack, cx, &mut reported);
    }

    fn visit<'a>(
        node: &'a str,
        deps: &IndexMap<&'a str, Vec<&'a Spanned<String>>>,
        state: &mut IndexMap<&'a str, u8>,
        stack: &mut Vec<&'a str>,
        cx: &mut Ctx<'_>,
        reported: &mut bool,
    ) {
        if state.get(node).copied().unwrap_or(2) != 0 || *reported {
            return;
        }
        state.insert(node, 1);
        stack.push(node);
        for (i, d) in deps.get(node).into_iter().flatten().enumerate() {
            let dn = d.get_ref().as_str();
            if dn == node {
                continue; // reported as "depends on itself"
            }
            match state.get(dn).copied() {
                Some(1) => {
                    let from = stack.iter().position(|s| *s == dn).unwrap_or(0);
                    let mut cycle: Vec<&str> = stack[from..].to_vec();
                    cycle.push(dn);
                    cx.err(
                        d.span(),
                        format!("services.{}.depends-on[{i}]", toml_key(node)),
                        format!("depends-on forms a cycle: {}", cycle.join(" → ")),
                        "a service cannot wait for one that waits for it; remove one of these dependencies",
                    );
                    *reported = true;
                    return;
                }
                Some(0) => visit(dn, deps, state, stack, cx, reported),
                _ => {}
            }
        }
        stack.pop();
        state.insert(node, 2);
    }
}
