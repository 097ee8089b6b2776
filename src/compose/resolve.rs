//! A cell's compose services: each value interpolated with the cell's variables and
//! checked into a [`ComposeService`]; also the rules that need no cell (refused keys,
//! missing dependencies and images, cycles, undeclared volumes and networks).

use std::borrow::Cow;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;

use super::interp::{self, InterpErrorKind};
use super::merge::{self, entries_of};
use super::raw::*;
use super::*;
use crate::matrix::units::{parse_bytes, parse_duration};

/// A cell's services, in file order, with the warnings their values gave.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub services: Vec<ComposeService>,
    /// Named volumes the services use (compose names).
    pub volumes: Vec<String>,
    /// Networks the services use (compose names; `default` included when used).
    pub networks: Vec<String>,
    pub warnings: Vec<String>,
}

/// The socket paths a bind may name although they are outside the compose folder: the
/// cell's own engine's socket.
const DOCKER_SOCKETS: [&str; 2] = ["/var/run/docker.sock", "/run/docker.sock"];

impl Project {
    /// The rules that hold for every cell: keys refused by name, a service without an
    /// image, a dependency that names no service, a cycle, volumes and networks the
    /// top level does not declare or declares `external`.
    pub(super) fn static_checks(&self) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        let names: Vec<&str> = self.service_names().collect();
        for (k, s) in &self.services {
            let key = format!("services.{}", k.v);
            let refuse = |out: &mut Vec<Diagnostic>, at: Option<Pos>, what: &str, help: &str| {
                if let Some(pos) = at {
                    out.push(self.diag(
                        pos,
                        &format!("{key}.{what}"),
                        format!("service `{}`: `{what}` is not supported", k.v),
                        help,
                    ));
                }
            };
            let pos = |x: &Option<At<serde::de::IgnoredAny>>| x.as_ref().map(|x| x.pos);
            refuse(
                &mut out,
                pos(&s.secrets),
                "secrets",
                "pass the secret as an environment variable (`${VAR}` from the caller's environment or the env file) or bind-mount a file from the compose folder",
            );
            refuse(
                &mut out,
                pos(&s.configs),
                "configs",
                "bind-mount the file from the compose folder instead",
            );
            refuse(
                &mut out,
                pos(&s.extends),
                "extends",
                "list the file it extends in the matrix's [compose] files (merged in order) instead",
            );
            refuse(
                &mut out,
                pos(&s.network_mode),
                "network_mode",
                "remove it: every service of a cell is on the cell's private networks",
            );
            refuse(
                &mut out,
                pos(&s.links),
                "links",
                "remove it: services reach each other by service name on the cell's networks",
            );
            refuse(
                &mut out,
                pos(&s.external_links),
                "external_links",
                "remove it: a cell reaches only its own services",
            );
            refuse(
                &mut out,
                pos(&s.volumes_from),
                "volumes_from",
                "share a named volume between the services instead",
            );
            refuse(
                &mut out,
                pos(&s.pid),
                "pid",
                "remove it: a cell's containers do not share namespaces",
            );
            refuse(
                &mut out,
                pos(&s.ipc),
                "ipc",
                "remove it: a cell's containers do not share namespaces",
            );
            refuse(
                &mut out,
                pos(&s.devices),
                "devices",
                "remove it: cells must not depend on the host's devices",
            );
            refuse(
                &mut out,
                pos(&s.scale),
                "scale",
                "remove it: each service runs one container per cell",
            );
            refuse(
                &mut out,
                pos(&s.develop),
                "develop",
                "remove it: `develop` is for `docker compose watch`",
            );
            match (&s.image, &s.build) {
                (None, Some(b)) => out.push(self.diag(
                    b.pos,
                    &format!("{key}.build"),
                    format!("service `{}` has `build` but no `image`: dockmatrix does not build images", k.v),
                    "build the image beforehand (e.g. `docker compose build`) and name it in `image`",
                )),
                (None, None) => out.push(self.diag(
                    k.pos,
                    &format!("{key}.image"),
                    format!("service `{}` has no image", k.v),
                    "add `image: NAME:TAG` (it may use variables, e.g. postgres:${POSTGRES:-16})",
                )),
                _ => {}
            }
            if let Some(r) = s.deploy.as_ref().and_then(|d| d.v.replicas.as_ref())
                && r.v.0 != "1"
            {
                out.push(self.diag(
                    r.pos,
                    &format!("{key}.deploy.replicas"),
                    "only one replica per service is supported",
                    "remove `replicas`: each service runs one container per cell",
                ));
            }
            for (dep, p, _) in merge::dependencies(s) {
                if dep == k.v {
                    out.push(self.diag(
                        p,
                        &format!("{key}.depends_on.{dep}"),
                        format!("service `{dep}` depends on itself"),
                        "remove the dependency",
                    ));
                } else if !names.contains(&dep.as_str()) && !self.profile_disabled(&dep) {
                    out.push(self.diag(
                        p,
                        &format!("{key}.depends_on.{dep}"),
                        format!(
                            "service `{}` depends on `{dep}`, which is not a service",
                            k.v
                        ),
                        format!("services: {}", names.join(", ")),
                    ));
                }
            }
            if let Some(n) = &s.networks {
                let used: Vec<&Key> = match &n.v {
                    NamesOrMap::List(ks) => ks.iter().collect(),
                    NamesOrMap::Map(es) => es.iter().map(|(k, _)| k).collect(),
                };
                for net in used {
                    if net.v != "default" && !self.networks.iter().any(|(n, _)| n.v == net.v) {
                        out.push(self.diag(net.pos, &format!("{key}.networks.{}", net.v), format!("service `{}` uses network `{}`, which the top-level `networks` does not declare", k.v, net.v), "declare it under the top-level `networks:`"));
                    }
                }
                if let NamesOrMap::Map(es) = &n.v {
                    for (nk, v) in es {
                        if let Some(v) = &v.v {
                            for (x, what) in [
                                (&v.ipv4_address, "ipv4_address"),
                                (&v.ipv6_address, "ipv6_address"),
                            ] {
                                if let Some(x) = x {
                                    out.push(self.diag(x.pos, &format!("{key}.networks.{}.{what}", nk.v), format!("`{what}` is not supported: cells sharing an engine would clash"), "remove it; reach the service by its name or an alias"));
                                }
                            }
                        }
                    }
                }
            }
        }
        out.extend(self.cycles());
        for (k, v) in &self.volumes {
            if let Some(v) = v
                && let Some(e) = &v.external
                && e.v.0 != "false"
            {
                out.push(self.diag(e.pos, &format!("volumes.{}.external", k.v), format!("volume `{}` is external: a cell's volumes are its own", k.v), "remove `external`: dockmatrix creates the volume per cell (seed it with a bind-mounted init script)"));
            }
        }
        for (k, v) in &self.networks {
            if let Some(v) = v
                && let Some(e) = &v.external
                && e.v.0 != "false"
            {
                out.push(self.diag(
                    e.pos,
                    &format!("networks.{}.external", k.v),
                    format!(
                        "network `{}` is external: a cell's networks are its own",
                        k.v
                    ),
                    "remove `external`: dockmatrix creates the network per cell",
                ));
            }
        }
        out
    }

    fn profile_disabled(&self, _name: &str) -> bool {
        // A dependency on a profile-disabled service was reported (or dropped when not
        // required) by `apply_profiles`.
        false
    }

    /// Dependency cycles, each named once.
    fn cycles(&self) -> Vec<Diagnostic> {
        let deps: Vec<(String, Vec<String>)> = self
            .services
            .iter()
            .map(|(k, s)| (k.v.clone(), merge::dependency_names(s)))
            .collect();
        let mut out = Vec::new();
        let mut reported: Vec<Vec<String>> = Vec::new();
        for (start, _) in &deps {
            let mut path = vec![start.clone()];
            if let Some(cycle) = find_cycle(&deps, &mut path) {
                let mut key = cycle.clone();
                key.sort();
                if reported.contains(&key) {
                    continue;
                }
                reported.push(key);
                let pos = self.service_pos(&cycle[0]).unwrap_or_default();
                let mut shown = cycle.clone();
                shown.push(cycle[0].clone());
                out.push(self.diag(
                    pos,
                    &format!("services.{}.depends_on", cycle[0]),
                    format!("depends_on makes a cycle: {}", shown.join(" → ")),
                    "remove one of these dependencies",
                ));
            }
        }
        out
    }
}

fn find_cycle(deps: &[(String, Vec<String>)], path: &mut Vec<String>) -> Option<Vec<String>> {
    if path.len() > deps.len() + 1 {
        return None;
    }
    let last = path.last()?.clone();
    let next = deps
        .iter()
        .find(|(n, _)| *n == last)
        .map(|(_, d)| d.clone())?;
    for d in next {
        if d == path[0] {
            return Some(path.clone());
        }
        if path.contains(&d) {
            continue;
        }
        path.push(d);
        if let Some(c) = find_cycle(deps, path) {
            return Some(c);
        }
        path.pop();
    }
    None
}

/// Collects a cell's problems while its values are read.
struct Cx<'a> {
    project: &'a Project,
    lookup: &'a dyn Fn(&str) -> Option<String>,
    problems: Vec<Diagnostic>,
    warnings: Vec<String>,
}

impl Cx<'_> {
    fn err(&mut self, pos: Pos, key: &str, msg: impl Into<String>, help: impl Into<String>) {
        self.problems.push(self.project.diag(pos, key, msg, help));
    }

    /// A scalar, interpolated.
    fn s(&mut self, sc: &Sc, key: &str) -> Option<String> {
        self.text(&sc.v.0, sc.pos, key)
    }

    fn text(&mut self, text: &str, pos: Pos, key: &str) -> Option<String> {
        let mut unset = Vec::new();
        let r = interp::interpolate(text, self.lookup, &mut |v| unset.push(v.to_string()))
            .map(Cow::into_owned);
        for v in unset {
            let w = format!("the {v} variable is not set; `{key}` uses an empty string for it");
            if !self.warnings.contains(&w) {
                self.warnings.push(w);
            }
        }
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                let column = pos.column + text[..e.offset.min(text.len())].chars().count() as u32;
                let at = Pos { column, ..pos };
                let help = match e.kind {
                    InterpErrorKind::Required { .. } => {
                        "set the variable: an axis of the matrix, the caller's environment, or the env file"
                    }
                    InterpErrorKind::Unterminated => {
                        "close it with `}`, or write `$$` for a literal `$`"
                    }
                    _ => "write `$$` for a literal `$`",
                };
                self.err(at, key, e.to_string(), help);
                None
            }
        }
    }

    fn bool(&mut self, sc: &Sc, key: &str) -> Option<bool> {
        let v = self.s(sc, key)?;
        match v.as_str() {
            "true" | "True" | "TRUE" | "yes" => Some(true),
            "false" | "False" | "FALSE" | "no" => Some(false),
            _ => {
                self.err(
                    sc.pos,
                    key,
                    format!("`{v}` is not a boolean"),
                    "write true or false",
                );
                None
            }
        }
    }

    fn duration(&mut self, sc: &Sc, key: &str) -> Option<Duration> {
        let v = self.s(sc, key)?;
        match go_duration(&v) {
            Ok(d) => Some(d),
            Err(e) => {
                self.err(
                    sc.pos,
                    key,
                    format!("bad duration: {e}"),
                    "e.g. 10s, 1m30s, 500ms",
                );
                None
            }
        }
    }

    fn bytes(&mut self, sc: &Sc, key: &str) -> Option<u64> {
        let v = self.s(sc, key)?;
        match parse_bytes(&v) {
            Ok(b) => Some(b),
            Err(e) => {
                self.err(sc.pos, key, format!("bad size: {e}"), "e.g. 512m, 1g, 64k");
                None
            }
        }
    }

    fn int(&mut self, sc: &Sc, key: &str) -> Option<i64> {
        let v = self.s(sc, key)?;
        match v.trim().parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                self.err(
                    sc.pos,
                    key,
                    format!("`{v}` is not a whole number"),
                    "write a number",
                );
                None
            }
        }
    }

    fn port(&mut self, text: &str, pos: Pos, key: &str) -> Option<u16> {
        match text.trim().parse::<u16>() {
            Ok(p) if p > 0 => Some(p),
            _ => {
                self.err(
                    pos,
                    key,
                    format!("`{text}` is not a port"),
                    "a port between 1 and 65535",
                );
                None
            }
        }
    }

    fn str_or_list(
        &mut self,
        x: &At<StrOrList>,
        key: &str,
        shell_split: bool,
    ) -> Option<Vec<String>> {
        match &x.v {
            StrOrList::Str(s) => {
                let v = self.text(&s.0, x.pos, key)?;
                if shell_split {
                    match shell_words(&v) {
                        Ok(w) => Some(w),
                        Err(e) => {
                            self.err(x.pos, key, e, "close the quote");
                            None
                        }
                    }
                } else {
                    Some(vec![v])
                }
            }
            StrOrList::List(items) => {
                let mut out = Vec::new();
                for (i, it) in items.iter().enumerate() {
                    out.push(self.s(it, &format!("{key}[{i}]"))?);
                }
                Some(out)
            }
        }
    }

    /// A map-or-list as key → value; `None` values (`KEY` alone, `KEY:`) are looked up
    /// in the variables when `from_env`, else empty.
    fn map(&mut self, x: &At<MapOrList>, key: &str, from_env: bool) -> IndexMap<String, String> {
        let mut out = IndexMap::new();
        for (k, (_, v)) in entries_of(&x.v) {
            let val = match &v.v {
                Some(s) => self.text(&s.0, v.pos, &format!("{key}.{k}")),
                None if from_env => match (self.lookup)(&k) {
                    Some(val) => Some(val),
                    None => continue,
                },
                None => Some(String::new()),
            };
            if let Some(val) = val {
                out.insert(k, val);
            }
        }
        out
    }
}

/// Resolves every active service for one cell.
pub(super) fn resolve(
    project: &Project,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Resolved, Vec<Diagnostic>> {
    let mut cx = Cx {
        project,
        lookup,
        problems: Vec::new(),
        warnings: Vec::new(),
    };
    let mut services = Vec::new();
    let mut volumes: Vec<String> = Vec::new();
    let mut networks: Vec<String> = Vec::new();
    for (k, s) in &project.services {
        let svc = service(&mut cx, k, s);
        for m in &svc.mounts {
            if let MountSource::Volume { name } = &m.source
                && !volumes.contains(name)
            {
                volumes.push(name.clone());
            }
        }
        for n in &svc.networks {
            if !networks.contains(&n.name) {
                networks.push(n.name.clone());
            }
        }
        services.push(svc);
    }
    if cx.problems.is_empty() {
        Ok(Resolved {
            services,
            volumes,
            networks,
            warnings: cx.warnings,
        })
    } else {
        Err(cx.problems)
    }
}

fn service(cx: &mut Cx<'_>, name: &Key, s: &RawService) -> ComposeService {
    let n = name.v.clone();
    let key = format!("services.{n}");
    let k = |what: &str| format!("{key}.{what}");
    let mut out = ComposeService {
        name: n.clone(),
        one_shot: cx.project.is_one_shot(&n),
        ..ComposeService::default()
    };
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
    for (i, p) in s.ports.iter().flatten().enumerate() {
        let pk = k(&format!("ports[{i}]"));
        ports(cx, p, &pk, &n, &mut out.ports);
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
    if let Some(d) = &s.depends_on {
        out.depends_on = depends_on(cx, d, &k("depends_on"));
    }
    if let Some(h) = &s.healthcheck {
        out.healthcheck = healthcheck(cx, h, &k("healthcheck"));
    }
    for (i, m) in s.volumes.iter().flatten().enumerate() {
        if let Some(mount) = volume(cx, m, &k(&format!("volumes[{i}]")), &n) {
            out.mounts.push(mount);
        }
    }
    if let Some(t) = &s.tmpfs {
        for t in cx.str_or_list(t, &k("tmpfs"), false).unwrap_or_default() {
            let (target, opts) = t.split_once(':').unwrap_or((&t, ""));
            let size = opts
                .split(',')
                .find_map(|o| o.strip_prefix("size="))
                .and_then(|s| parse_bytes(s).ok());
            out.mounts.push(Mount {
                source: MountSource::Tmpfs { size },
                target: target.to_string(),
                read_only: false,
                nocopy: false,
            });
        }
    }
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
    out
}

fn ports(
    cx: &mut Cx<'_>,
    p: &At<ShortOrLong<RawPort>>,
    key: &str,
    service: &str,
    into: &mut Vec<u16>,
) {
    let mut push = |cx: &mut Cx<'_>, container: &str, proto: &str, pos: Pos, host: bool| {
        if host {
            let w = format!(
                "service `{service}`: `{key}` names a host IP or port, ignored (cell ports are always ephemeral, so cells sharing an engine never clash)"
            );
            if !cx.warnings.contains(&w) {
                cx.warnings.push(w);
            }
        }
        if proto != "tcp" {
            cx.warnings.push(format!(
                "service `{service}`: `{key}` is {proto}; only TCP ports are published"
            ));
            return;
        }
        let (lo, hi) = match container.split_once('-') {
            Some((a, b)) => (cx.port(a, pos, key), cx.port(b, pos, key)),
            None => {
                let p = cx.port(container, pos, key);
                (p, p)
            }
        };
        if let (Some(lo), Some(hi)) = (lo, hi) {
            if hi < lo || hi - lo > 1000 {
                cx.err(
                    pos,
                    key,
                    format!("`{container}` is not a port range"),
                    "e.g. 8000-8010",
                );
                return;
            }
            for port in lo..=hi {
                if !into.contains(&port) {
                    into.push(port);
                }
            }
        }
    };
    match &p.v {
        ShortOrLong::Short(s) => {
            let Some(v) = cx.text(&s.0, p.pos, key) else {
                return;
            };
            let (spec, proto) = v.rsplit_once('/').unwrap_or((&v, "tcp"));
            // The container port is the last `:` part; an IPv6 host IP is in brackets.
            let container = spec.rsplit(':').next().unwrap_or(spec);
            let host = spec.contains(':');
            push(cx, container, proto, p.pos, host);
        }
        ShortOrLong::Long(l) => {
            let Some(target) = cx.s(&l.target, &format!("{key}.target")) else {
                return;
            };
            let proto = l
                .protocol
                .as_ref()
                .and_then(|x| cx.s(x, &format!("{key}.protocol")))
                .unwrap_or_else(|| "tcp".into());
            let host = l.published.is_some() || l.host_ip.is_some();
            push(cx, &target, &proto, l.target.pos, host);
        }
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

/// A `volumes` entry: a named volume, an anonymous one, a bind inside the compose
/// folder, a tmpfs, or the engine's socket.
fn volume(
    cx: &mut Cx<'_>,
    m: &At<ShortOrLong<RawMount>>,
    key: &str,
    service: &str,
) -> Option<Mount> {
    let (kind, source, target, read_only, nocopy, size, pos) = match &m.v {
        ShortOrLong::Short(s) => {
            let v = cx.text(&s.0, m.pos, key)?;
            let parts: Vec<&str> = v.split(':').collect();
            let (src, tgt, mode) = match parts.as_slice() {
                [t] => (None, t.to_string(), ""),
                [s, t] => (Some(s.to_string()), t.to_string(), ""),
                [s, t, mode] => (Some(s.to_string()), t.to_string(), *mode),
                _ => {
                    cx.err(m.pos, key, format!("`{v}` is not SOURCE:TARGET[:MODE]"), "e.g. ./init:/docker-entrypoint-initdb.d:ro or data:/var/lib/postgresql/data");
                    return None;
                }
            };
            let opts: Vec<&str> = mode.split(',').filter(|o| !o.is_empty()).collect();
            for o in &opts {
                if !matches!(
                    *o,
                    "ro" | "rw"
                        | "z"
                        | "Z"
                        | "nocopy"
                        | "cached"
                        | "delegated"
                        | "consistent"
                        | "rprivate"
                        | "private"
                        | "rshared"
                        | "shared"
                        | "rslave"
                        | "slave"
                ) {
                    cx.err(
                        m.pos,
                        key,
                        format!("`{o}` is not a volume mode"),
                        "ro or rw",
                    );
                    return None;
                }
            }
            let kind = match &src {
                None => "volume",
                Some(s) if s.starts_with('.') || s.starts_with('/') || s.starts_with('~') => "bind",
                Some(_) => "volume",
            };
            (
                kind.to_string(),
                src,
                tgt,
                opts.contains(&"ro"),
                opts.contains(&"nocopy"),
                None,
                m.pos,
            )
        }
        ShortOrLong::Long(l) => {
            let kind = cx.s(&l.kind, &format!("{key}.type"))?;
            let source = l
                .source
                .as_ref()
                .and_then(|x| cx.s(x, &format!("{key}.source")));
            let Some(target) = l
                .target
                .as_ref()
                .and_then(|x| cx.s(x, &format!("{key}.target")))
            else {
                cx.err(
                    l.kind.pos,
                    &format!("{key}.target"),
                    "the mount has no target",
                    "add `target: /path/in/container`",
                );
                return None;
            };
            let ro = l
                .read_only
                .as_ref()
                .and_then(|x| cx.bool(x, &format!("{key}.read_only")))
                .unwrap_or(false);
            let nocopy = l
                .volume
                .as_ref()
                .and_then(|v| v.v.nocopy.as_ref())
                .and_then(|x| cx.bool(x, &format!("{key}.volume.nocopy")))
                .unwrap_or(false);
            let size = l
                .tmpfs
                .as_ref()
                .and_then(|t| t.v.size.as_ref())
                .and_then(|x| cx.bytes(x, &format!("{key}.tmpfs.size")));
            (kind, source, target, ro, nocopy, size, l.kind.pos)
        }
    };
    if !target.starts_with('/') {
        cx.err(
            pos,
            key,
            format!("the mount target `{target}` is not an absolute path"),
            "targets are paths in the container, e.g. /data",
        );
        return None;
    }
    let source = match (kind.as_str(), source) {
        ("tmpfs", _) => MountSource::Tmpfs { size },
        ("volume", None) => MountSource::Anonymous,
        ("volume", Some(name)) => {
            if !cx.project.volumes.iter().any(|(k, _)| k.v == name) {
                cx.err(pos, key, format!("service `{service}` uses volume `{name}`, which the top-level `volumes` does not declare"), format!("declare it: volumes: {{ {name}: }} (or write ./{name} for a bind mount of a folder)"));
                return None;
            }
            MountSource::Volume { name }
        }
        ("bind", None) => {
            cx.err(
                pos,
                key,
                "the bind mount has no source",
                "add `source: ./path` (inside the compose file's folder)",
            );
            return None;
        }
        ("bind", Some(src)) => {
            if DOCKER_SOCKETS.contains(&src.as_str()) {
                MountSource::DockerSocket
            } else {
                let folder = &cx.project.folder;
                let full = normalise(&if let Some(rest) = src.strip_prefix("~/") {
                    PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(rest)
                } else {
                    folder.join(&src)
                });
                // Symlinks are followed: a link inside the folder to a file outside it is
                // outside.
                let real = std::fs::canonicalize(&full).unwrap_or_else(|_| full.clone());
                if !real.starts_with(folder) {
                    cx.err(pos, key, format!("the bind source `{src}` is outside the compose file's folder ({})", folder.display()), "bind only files inside the folder of the first compose file (they are mounted into each dind engine); /var/run/docker.sock is the one exception");
                    return None;
                }
                let Ok(meta) = std::fs::metadata(&real) else {
                    cx.err(
                        pos,
                        key,
                        format!(
                            "the bind source `{src}` does not exist (looked for {})",
                            full.display()
                        ),
                        "create it, or fix the path (relative to the first compose file's folder)",
                    );
                    return None;
                };
                MountSource::Bind {
                    path: real,
                    is_dir: meta.is_dir(),
                }
            }
        }
        (other, _) => {
            cx.err(
                pos,
                &format!("{key}.type"),
                format!("mount type `{other}` is not supported"),
                "volume, bind or tmpfs",
            );
            return None;
        }
    };
    Some(Mount {
        source,
        target,
        read_only,
        nocopy,
    })
}

/// `a/./b/../c` → `a/c`, without touching the filesystem.
fn normalise(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Go's duration syntax as compose reads it (`1m30s`, `1.5s`, `500ms`, `2h`); a bare
/// number is seconds.
pub fn go_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if let Ok(d) = parse_duration(t) {
        return Ok(d);
    }
    let mut total = 0f64;
    let mut rest = t;
    if rest.is_empty() {
        return Err("the duration is empty".into());
    }
    while !rest.is_empty() {
        let n_len = rest.len()
            - rest
                .trim_start_matches(|c: char| c.is_ascii_digit() || c == '.')
                .len();
        let n: f64 = rest[..n_len]
            .parse()
            .map_err(|_| format!("`{s}` is not a duration"))?;
        rest = &rest[n_len..];
        let u_len = rest.len()
            - rest
                .trim_start_matches(|c: char| c.is_ascii_alphabetic() || c == 'µ')
                .len();
        let secs = match &rest[..u_len] {
            "ns" => n / 1e9,
            "us" | "µs" => n / 1e6,
            "ms" => n / 1e3,
            "s" => n,
            "m" => n * 60.0,
            "h" => n * 3600.0,
            _ => return Err(format!("`{s}` is not a duration")),
        };
        rest = &rest[u_len..];
        total += secs;
    }
    if !total.is_finite() || total > 1e9 {
        return Err(format!("`{s}` is too long"));
    }
    Ok(Duration::from_secs_f64(total))
}

/// Splits a command string as a POSIX shell would split words (compose does this for
/// `command: echo "a b"`): quotes group, backslash escapes; no expansion.
pub fn shell_words(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => return Err("unterminated single quote in the command".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(x @ ('"' | '\\' | '$' | '`')) => cur.push(x),
                            Some(x) => {
                                cur.push('\\');
                                cur.push(x);
                            }
                            None => return Err("unterminated double quote in the command".into()),
                        },
                        Some(x) => cur.push(x),
                        None => return Err("unterminated double quote in the command".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(x) = chars.next() {
                    cur.push(x);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// An env file as compose reads it: `KEY=VALUE` lines, `export ` allowed, `#` comments,
/// single quotes literal, double quotes with `\n` escapes, unquoted values trimmed and
/// ending at ` #`; values interpolated from the lines above and `lookup`.
#[expect(
    clippy::result_large_err,
    reason = "one diagnostic per file, on the way out"
)]
pub fn parse_env_file(
    path: &Path,
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, Diagnostic> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let body = trimmed.strip_prefix("export ").unwrap_or(trimmed);
        let pos = Pos {
            file: 0,
            line: i as u32 + 1,
            column: (line.len() - line.trim_start().len()) as u32 + 1,
        };
        let (k, v) = match body.split_once('=') {
            Some((k, v)) => (k.trim(), v.trim()),
            None => (body.trim(), ""),
        };
        let valid = !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !valid {
            return Err(diag_in(
                path,
                text,
                pos,
                k.chars().count().max(1),
                "",
                format!("`{k}` is not a variable name"),
            )
            .with_help("lines are KEY=VALUE; comments start with #"));
        }
        let value = if let Some(q) = v.strip_prefix('\'') {
            match q.rfind('\'') {
                Some(end) => q[..end].to_string(),
                None => {
                    return Err(diag_in(path, text, pos, 1, k, "unterminated single quote")
                        .with_help("close the quote"));
                }
            }
        } else {
            let (raw, quoted) = if let Some(q) = v.strip_prefix('"') {
                match q.rfind('"') {
                    Some(end) => (q[..end].replace("\\n", "\n").replace("\\\"", "\""), true),
                    None => {
                        return Err(diag_in(path, text, pos, 1, k, "unterminated double quote")
                            .with_help("close the quote"));
                    }
                }
            } else {
                let cut = v.find(" #").map_or(v, |at| &v[..at]);
                (cut.trim().to_string(), false)
            };
            let _ = quoted;
            let earlier = |name: &str| {
                lookup(name).or_else(|| {
                    out.iter()
                        .rev()
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| v.clone())
                })
            };
            match interp::interpolate(&raw, &earlier, &mut |_| {}) {
                Ok(v) => v.into_owned(),
                Err(e) => {
                    return Err(diag_in(path, text, pos, 1, k, e.to_string())
                        .with_help("write `$$` for a literal `$`"));
                }
            }
        };
        out.retain(|(x, _)| x != k);
        out.push((k.to_string(), value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(go_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(go_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(go_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(go_duration("soon").is_err());
    }

    #[test]
    fn shell_splitting() {
        assert_eq!(
            shell_words(r#"sh -c "echo 'a b'""#),
            Ok(vec!["sh".into(), "-c".into(), "echo 'a b'".into()])
        );
        assert_eq!(
            shell_words("a  'b c' d\\ e"),
            Ok(vec!["a".into(), "b c".into(), "d e".into()])
        );
        assert!(shell_words("echo \"x").is_err());
    }

    #[test]
    fn env_files() {
        let text = "# c\nA=1\nexport B='x $A'\nC=\"q\\n$A\"\nD=plain # comment\nE=${A}2\n";
        let got = parse_env_file(Path::new(".env"), text, &|_| None).expect("parses");
        let get = |k: &str| got.iter().find(|(x, _)| x == k).map(|(_, v)| v.as_str());
        assert_eq!(get("A"), Some("1"));
        assert_eq!(get("B"), Some("x $A"));
        assert_eq!(get("C"), Some("q\n1"));
        assert_eq!(get("D"), Some("plain"));
        assert_eq!(get("E"), Some("12"));
        let e = parse_env_file(Path::new(".env"), "A=1\nbad key=2\n", &|_| None).expect_err("bad");
        assert_eq!(e.line, 2);
    }
}
