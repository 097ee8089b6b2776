//! One compose service for a cell: each field interpolated and checked into a
//! [`ComposeService`], in named steps (image and command, environment, mounts, limits,
//! the process's settings, networks).

use super::cx::Cx;
use super::{ports, volumes};
use crate::compose::env_file::parse_env_file;
use crate::compose::raw::*;
use crate::compose::*;

/// One service, step by step in the order its problems are reported.
pub(super) fn service(cx: &mut Cx<'_>, name: &Key, s: &RawService) -> ComposeService {
    let n = name.v.clone();
    let key = format!("services.{n}");
    let k = |what: &str| format!("{key}.{what}");
    let mut out = ComposeService {
        name: n.clone(),
        one_shot: cx.project.is_one_shot(&n),
        ..ComposeService::default()
    };
    image_and_command(cx, s, &key, &n, &mut out);
    environment(cx, s, &key, &mut out);
    published_ports(cx, s, &key, &n, &mut out);
    if let Some(d) = &s.depends_on {
        out.depends_on = depends_on(cx, d, &k("depends_on"));
    }
    if let Some(h) = &s.healthcheck {
        out.healthcheck = healthcheck(cx, h, &k("healthcheck"));
    }
    volumes::mounts(cx, s, &key, &n, &mut out);
    limits(cx, s, &key, &mut out);
    process(cx, s, &key, &mut out);
    runtime(cx, s, &key, &mut out);
    networks(cx, s, &key, &mut out);
    ignored_key_warnings(cx, s, &n, &out);
    out
}

/// The image (not empty once interpolated), `command` and `entrypoint`.
fn image_and_command(
    cx: &mut Cx<'_>,
    s: &RawService,
    key: &str,
    n: &str,
    out: &mut ComposeService,
) {
    let k = |what: &str| format!("{key}.{what}");
    if let Some(i) = &s.image
        && let Some(v) = cx.s(i, &k("image"))
    {
        if v.trim().is_empty() {
            cx.err(
                i.pos,
                &k("image"),
                format!("service `{n}` has an empty image after interpolation"),
                "give the variable a value or a default: ${VAR:-name:tag}",
            );
        }
        out.image = v;
    }
    out.command = s
        .command
        .as_ref()
        .and_then(|c| cx.str_or_list(c, &k("command"), true));
    out.entrypoint = s
        .entrypoint
        .as_ref()
        .and_then(|c| cx.str_or_list(c, &k("entrypoint"), true));
}

/// `env_file` (read from the compose folder, in order) then `environment` over it.
fn environment(cx: &mut Cx<'_>, s: &RawService, key: &str, out: &mut ComposeService) {
    let k = |what: &str| format!("{key}.{what}");
    if let Some(files) = &s.env_file {
        let list: Vec<(Sc, bool)> = match &files.v {
            StrOrListOfLong::Str(p) => vec![(At::new(p.clone(), files.pos), true)],
            StrOrListOfLong::List(l) => l
                .iter()
                .map(|x| match &x.v {
                    ShortOrLong::Short(p) => (At::new(p.clone(), x.pos), true),
                    ShortOrLong::Long(e) => (
                        e.path.clone(),
                        e.required.as_ref().is_none_or(|r| r.v.0 != "false"),
                    ),
                })
                .collect(),
        };
        for (i, (p, required)) in list.iter().enumerate() {
            let Some(path) = cx.s(p, &k(&format!("env_file[{i}]"))) else {
                continue;
            };
            let full = cx.project.folder.join(&path);
            if !full.exists() && !required {
                continue;
            }
            match read_bounded(&full, MAX_COMPOSE_BYTES, "env file") {
                Ok(text) => match parse_env_file(&full, &text, cx.lookup) {
                    Ok(vars) => out.environment.extend(vars),
                    Err(d) => cx.problems.push(d),
                },
                Err(_) => cx.err(p.pos, &k(&format!("env_file[{i}]")), format!("env file `{path}` cannot be read (looked for {})", full.display()), "env_file paths are relative to the first compose file's folder; mark optional ones `required: false`"),
            }
        }
    }
    if let Some(e) = &s.environment {
        let env = cx.map(e, &k("environment"), true);
        out.environment.extend(env);
    }
}

/// `ports` and `expose`: the container ports.
fn published_ports(cx: &mut Cx<'_>, s: &RawService, key: &str, n: &str, out: &mut ComposeService) {
    let k = |what: &str| format!("{key}.{what}");
    for (i, p) in s.ports.iter().flatten().enumerate() {
        let pk = k(&format!("ports[{i}]"));
        ports::ports(cx, p, &pk, n, &mut out.ports);
    }
    for (i, e) in s.expose.iter().flatten().enumerate() {
        let ek = k(&format!("expose[{i}]"));
        if let Some(v) = cx.s(e, &ek) {
            let v = v.split('/').next().unwrap_or("").to_string();
            if let Some(p) = cx.port(&v, e.pos, &ek) {
                out.expose.push(p);
            }
        }
    }
}

/// `restart`, memory and CPU limits, and what `deploy` says of them (`deploy` wins, except over an explicit `restart`).
fn limits(cx: &mut Cx<'_>, s: &RawService, key: &str, out: &mut ComposeService) {
    let k = |what: &str| format!("{key}.{what}");
    if let Some(r) = &s.restart {
        out.restart = restart(cx, r, &k("restart"));
    }
    out.memory = s
        .mem_limit
        .as_ref()
        .and_then(|m| cx.bytes(m, &k("mem_limit")));
    if let Some(c) = &s.cpus {
        out.cpus = cpus(cx, c, &k("cpus"));
    }
    if let Some(d) = &s.deploy {
        if let Some(r) = &d.v.resources
            && let Some(l) = &r.v.limits
        {
            if let Some(m) = &l.v.memory {
                out.memory = cx
                    .bytes(m, &k("deploy.resources.limits.memory"))
                    .or(out.memory);
            }
            if let Some(c) = &l.v.cpus {
                out.cpus = cpus(cx, c, &k("deploy.resources.limits.cpus")).or(out.cpus);
            }
            if let Some(p) = &l.v.pids {
                out.pids_limit = cx.int(p, &k("deploy.resources.limits.pids"));
            }
        }
        if let Some(rp) = &d.v.restart_policy
            && out.restart.is_none()
            && let Some(c) = &rp.v.condition
        {
            out.restart = match cx.s(c, &k("deploy.restart_policy.condition")).as_deref() {
                Some("none") => Some(Restart::No),
                Some("on-failure") => Some(Restart::OnFailure),
                Some("any") => Some(Restart::Always),
                Some(other) => {
                    cx.err(
                        c.pos,
                        &k("deploy.restart_policy.condition"),
                        format!("`{other}` is not a restart condition"),
                        "none, on-failure or any",
                    );
                    None
                }
                None => None,
            };
        }
    }
}

/// Who and where the process runs: user, folders, names, labels, hosts, DNS, capabilities.
fn process(cx: &mut Cx<'_>, s: &RawService, key: &str, out: &mut ComposeService) {
    let k = |what: &str| format!("{key}.{what}");
    let opt_s =
        |cx: &mut Cx<'_>, x: &Option<Sc>, what: &str| x.as_ref().and_then(|x| cx.s(x, &k(what)));
    out.user = opt_s(cx, &s.user, "user");
    out.working_dir = opt_s(cx, &s.working_dir, "working_dir");
    out.hostname = opt_s(cx, &s.hostname, "hostname");
    out.domainname = opt_s(cx, &s.domainname, "domainname");
    out.stop_signal = opt_s(cx, &s.stop_signal, "stop_signal");
    if let Some(l) = &s.labels {
        out.labels = cx.map(l, &k("labels"), false);
        if let Some(bad) = out.labels.keys().find(|l| l.starts_with("io.dockmatrix.")) {
            let bad = bad.clone();
            cx.err(
                l.pos,
                &k("labels"),
                format!("label `{bad}` is dockmatrix's own"),
                "use another label name",
            );
        }
    }
    if let Some(h) = &s.extra_hosts {
        for (host, ip) in cx.map(h, &k("extra_hosts"), false) {
            // `host:ip` as a list entry arrives as one key; `host=ip` and maps split.
            out.extra_hosts.push(if ip.is_empty() {
                host
            } else {
                format!("{host}:{ip}")
            });
        }
    }
    if let Some(d) = &s.dns {
        out.dns = cx.str_or_list(d, &k("dns"), false).unwrap_or_default();
    }
    for (list, into, what) in [
        (&s.cap_add, &mut out.cap_add, "cap_add"),
        (&s.cap_drop, &mut out.cap_drop, "cap_drop"),
    ] {
        for (i, c) in list.iter().flatten().enumerate() {
            if let Some(v) = cx.s(c, &k(&format!("{what}[{i}]"))) {
                into.push(v);
            }
        }
    }
}

/// Kernel and runtime settings: ulimits, sysctls, /dev/shm, the stop grace period, init and the boolean flags.
fn runtime(cx: &mut Cx<'_>, s: &RawService, key: &str, out: &mut ComposeService) {
    let k = |what: &str| format!("{key}.{what}");
    if let Some(u) = &s.ulimits {
        for (name, v) in &u.0 {
            let uk = k(&format!("ulimits.{}", name.v));
            let pair = match &v.v {
                ShortOrLong::Short(x) => cx.int(&At::new(x.clone(), v.pos), &uk).map(|n| (n, n)),
                ShortOrLong::Long(l) => match (
                    cx.int(&l.soft, &format!("{uk}.soft")),
                    cx.int(&l.hard, &format!("{uk}.hard")),
                ) {
                    (Some(a), Some(b)) => Some((a, b)),
                    _ => None,
                },
            };
            if let Some((soft, hard)) = pair {
                out.ulimits.push((name.v.clone(), soft, hard));
            }
        }
    }
    if let Some(sy) = &s.sysctls {
        out.sysctls = cx.map(sy, &k("sysctls"), false);
    }
    out.shm_size = s
        .shm_size
        .as_ref()
        .and_then(|x| cx.bytes(x, &k("shm_size")));
    out.stop_grace_period = s
        .stop_grace_period
        .as_ref()
        .and_then(|x| cx.duration(x, &k("stop_grace_period")));
    out.init = s.init.as_ref().and_then(|x| cx.bool(x, &k("init")));
    let flag = |cx: &mut Cx<'_>, x: &Option<Sc>, what: &str| {
        x.as_ref()
            .and_then(|x| cx.bool(x, &k(what)))
            .unwrap_or(false)
    };
    out.privileged = flag(cx, &s.privileged, "privileged");
    out.read_only = flag(cx, &s.read_only, "read_only");
    out.tty = flag(cx, &s.tty, "tty");
    out.stdin_open = flag(cx, &s.stdin_open, "stdin_open");
}

/// The networks and their aliases (`default` when none is named).
fn networks(cx: &mut Cx<'_>, s: &RawService, key: &str, out: &mut ComposeService) {
    let k = |what: &str| format!("{key}.{what}");
    out.networks = match &s.networks {
        None => vec![ServiceNetwork {
            name: "default".into(),
            aliases: Vec::new(),
        }],
        Some(nets) => match &nets.v {
            NamesOrMap::List(ks) => ks
                .iter()
                .map(|x| ServiceNetwork {
                    name: x.v.clone(),
                    aliases: Vec::new(),
                })
                .collect(),
            NamesOrMap::Map(es) => es
                .iter()
                .map(|(name, v)| {
                    let mut aliases = Vec::new();
                    if let Some(v) = &v.v {
                        for (i, a) in v.aliases.iter().enumerate() {
                            if let Some(a) =
                                cx.s(a, &k(&format!("networks.{}.aliases[{i}]", name.v)))
                            {
                                aliases.push(a);
                            }
                        }
                    }
                    ServiceNetwork {
                        name: name.v.clone(),
                        aliases,
                    }
                })
                .collect(),
        },
    };
}

/// Keys that are read but ignored, with a warning.
fn ignored_key_warnings(cx: &mut Cx<'_>, s: &RawService, n: &str, out: &ComposeService) {
    if let Some(c) = &s.container_name {
        cx.warnings.push(format!("service `{n}`: container_name `{}` is ignored (cell containers are named after the cell)", c.v.0));
    }
    if s.build.is_some() && s.image.is_some() {
        let w = format!(
            "service `{n}`: `build` is ignored; the image `{}` must exist",
            out.image
        );
        cx.warnings.push(w);
    }
}

fn depends_on(cx: &mut Cx<'_>, d: &At<NamesOrMap<RawDependsOn>>, key: &str) -> Vec<Dependency> {
    match &d.v {
        NamesOrMap::List(ks) => ks
            .iter()
            .map(|k| Dependency {
                service: k.v.clone(),
                condition: Condition::ServiceStarted,
                required: true,
            })
            .collect(),
        NamesOrMap::Map(es) => {
            let mut out = Vec::new();
            for (k, v) in es {
                let dk = format!("{key}.{}", k.v);
                let mut dep = Dependency {
                    service: k.v.clone(),
                    condition: Condition::ServiceStarted,
                    required: true,
                };
                if let Some(v) = &v.v {
                    if let Some(c) = &v.condition {
                        dep.condition = match cx.s(c, &format!("{dk}.condition")).as_deref() {
                            Some("service_started") | None => Condition::ServiceStarted,
                            Some("service_healthy") => Condition::ServiceHealthy,
                            Some("service_completed_successfully") => {
                                Condition::ServiceCompletedSuccessfully
                            }
                            Some(other) => {
                                cx.err(c.pos, &format!("{dk}.condition"), format!("`{other}` is not a depends_on condition"), "service_started, service_healthy or service_completed_successfully");
                                Condition::ServiceStarted
                            }
                        };
                    }
                    if let Some(r) = &v.required {
                        dep.required = cx.bool(r, &format!("{dk}.required")).unwrap_or(true);
                    }
                    if let Some(r) = &v.restart {
                        cx.bool(r, &format!("{dk}.restart"));
                    }
                }
                out.push(dep);
            }
            out
        }
    }
}

fn healthcheck(cx: &mut Cx<'_>, h: &At<RawHealthcheck>, key: &str) -> Option<Healthcheck> {
    let h_v = &h.v;
    let disabled = h_v
        .disable
        .as_ref()
        .and_then(|d| cx.bool(d, &format!("{key}.disable")))
        .unwrap_or(false);
    if disabled {
        return Some(Healthcheck {
            test: vec!["NONE".into()],
            interval: None,
            timeout: None,
            retries: None,
            start_period: None,
            start_interval: None,
        });
    }
    let test = match &h_v.test {
        None => Vec::new(),
        Some(t) => match &t.v {
            StrOrList::Str(s) => {
                let v = cx.text(&s.0, t.pos, &format!("{key}.test"))?;
                vec!["CMD-SHELL".into(), v]
            }
            StrOrList::List(_) => {
                let list = cx.str_or_list(t, &format!("{key}.test"), false)?;
                match list.first().map(String::as_str) {
                    Some("CMD") | Some("CMD-SHELL") | Some("NONE") => list,
                    _ => {
                        cx.err(t.pos, &format!("{key}.test"), "a healthcheck test list starts with CMD, CMD-SHELL or NONE", "e.g. test: [CMD, pg_isready, -U, postgres] or test: pg_isready -U postgres");
                        return None;
                    }
                }
            }
        },
    };
    let d = |cx: &mut Cx<'_>, x: &Option<Sc>, what: &str| {
        x.as_ref()
            .and_then(|x| cx.duration(x, &format!("{key}.{what}")))
    };
    let retries = h_v.retries.as_ref().and_then(|r| {
        let n = cx.int(r, &format!("{key}.retries"))?;
        u32::try_from(n).ok()
    });
    Some(Healthcheck {
        test,
        interval: d(cx, &h_v.interval, "interval"),
        timeout: d(cx, &h_v.timeout, "timeout"),
        retries,
        start_period: d(cx, &h_v.start_period, "start_period"),
        start_interval: d(cx, &h_v.start_interval, "start_interval"),
    })
}

fn restart(cx: &mut Cx<'_>, r: &Sc, key: &str) -> Option<Restart> {
    let v = cx.s(r, key)?;
    let base = v.split(':').next().unwrap_or("");
    match Restart::parse(base) {
        Some(x) => Some(x),
        None => {
            cx.err(
                r.pos,
                key,
                format!("`{v}` is not a restart policy"),
                "no, always, on-failure[:N] or unless-stopped",
            );
            None
        }
    }
}

fn cpus(cx: &mut Cx<'_>, c: &Sc, key: &str) -> Option<f64> {
    let v = cx.s(c, key)?;
    match v.trim().parse::<f64>() {
        Ok(x) if x > 0.0 && x.is_finite() => Some(x),
        _ => {
            cx.err(
                c.pos,
                key,
                format!("`{v}` is not a positive number of CPUs"),
                "e.g. cpus: 0.5",
            );
            None
        }
    }
}
