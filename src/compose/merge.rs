//! Several compose files merged in order, as `docker compose -f a.yaml -f b.yaml` does:
//! a later file's scalars replace the earlier ones; `environment`, `labels`, `sysctls`,
//! `extra_hosts`, `ulimits`, `depends_on`, `networks` and top-level maps merge by key;
//! `ports`, `expose`, `dns`, `cap_add`, `cap_drop` and `env_file` append; `volumes`
//! merge by target path; `healthcheck` and `deploy` merge field by field; `command`,
//! `entrypoint` and `profiles` are replaced whole.

use super::raw::*;

/// A key refused by name, found while merging (top-level keys we do not support).
pub struct Refused {
    pub pos: Pos,
    pub key: String,
    pub message: String,
    pub help: String,
}

pub struct Merged {
    pub name: Option<Sc>,
    pub services: Vec<(Key, RawService)>,
    pub volumes: Vec<(Key, Option<RawVolume>)>,
    pub networks: Vec<(Key, Option<RawNetwork>)>,
    pub refused: Vec<Refused>,
}

pub fn merge(files: Vec<RawFile>) -> Merged {
    let mut out = Merged {
        name: None,
        services: Vec::new(),
        volumes: Vec::new(),
        networks: Vec::new(),
        refused: Vec::new(),
    };
    for f in files {
        for (key, what, help) in [
            (
                &f.secrets,
                "secrets",
                "pass the secret as an environment variable (`${VAR}` from the caller's environment or the env file) or bind-mount a file from the compose folder",
            ),
            (
                &f.configs,
                "configs",
                "bind-mount the file from the compose folder instead",
            ),
            (
                &f.include,
                "include",
                "list the included files in the matrix's [compose] files instead",
            ),
            (
                &f.models,
                "models",
                "remove it: dockmatrix starts no models",
            ),
        ] {
            if let Some(k) = key {
                out.refused.push(Refused {
                    pos: k.pos,
                    key: what.into(),
                    message: format!("top-level `{what}` is not supported"),
                    help: help.into(),
                });
            }
        }
        if f.name.is_some() {
            out.name = f.name;
        }
        for (k, s) in f.services.unwrap_or_default().0 {
            let s = s.v.unwrap_or_default();
            match out.services.iter_mut().find(|(n, _)| n.v == k.v) {
                Some((_, base)) => service(base, s),
                None => out.services.push((k, s)),
            }
        }
        for (k, v) in f.volumes.unwrap_or_default().0 {
            upsert(&mut out.volumes, k, v.v);
        }
        for (k, v) in f.networks.unwrap_or_default().0 {
            upsert(&mut out.networks, k, v.v);
        }
    }
    out
}

fn upsert<T>(into: &mut Vec<(Key, Option<T>)>, k: Key, v: Option<T>) {
    match into.iter_mut().find(|(n, _)| n.v == k.v) {
        Some(slot) => {
            if v.is_some() {
                slot.1 = v;
            }
        }
        None => into.push((k, v)),
    }
}

fn over<T>(base: &mut Option<T>, later: Option<T>) {
    if later.is_some() {
        *base = later;
    }
}

fn append<T: PartialEq>(base: &mut Option<Vec<T>>, later: Option<Vec<T>>) {
    if let Some(l) = later {
        let b = base.get_or_insert_with(Vec::new);
        for x in l {
            if !b.contains(&x) {
                b.push(x);
            }
        }
    }
}

/// `ports`/`expose`/`cap_*` entries compare by their text, not by where they are written.
fn append_scalars(base: &mut Option<Vec<Sc>>, later: Option<Vec<Sc>>) {
    if let Some(l) = later {
        let b = base.get_or_insert_with(Vec::new);
        for x in l {
            if !b.iter().any(|y| y.v == x.v) {
                b.push(x);
            }
        }
    }
}

fn map_or_list(base: &mut Option<At<MapOrList>>, later: Option<At<MapOrList>>) {
    let Some(l) = later else { return };
    let Some(b) = base.as_mut() else {
        *base = Some(l);
        return;
    };
    // Merged as a map of key → entry; a list entry's key is the text before `=`.
    let mut entries = entries_of(&b.v);
    for (k, e) in entries_of(&l.v) {
        match entries.iter_mut().find(|(x, _)| *x == k) {
            Some(slot) => slot.1 = e,
            None => entries.push((k, e)),
        }
    }
    b.v = MapOrList::Map(entries.into_iter().map(|(_, e)| e).collect());
}

/// A map-or-list's entries by key: list items `K=V` become map entries at the item's place.
pub fn entries_of(m: &MapOrList) -> Vec<(String, (Key, OptSc))> {
    match m {
        MapOrList::Map(es) => es
            .iter()
            .map(|(k, v)| (k.v.clone(), (k.clone(), v.clone())))
            .collect(),
        MapOrList::List(items) => items
            .iter()
            .map(|it| {
                let text = &it.v.0;
                let (k, v) = match text.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(Scalar(v.to_string()))),
                    None => (text.clone(), None),
                };
                let key = At::new(k.clone(), it.pos);
                // The value's place is the item's; columns of errors inside it are off by
                // the key's length, the line is right.
                (k, (key, At::new(v, it.pos)))
            })
            .collect(),
    }
}

fn names_or_map<T: Clone>(base: &mut Option<At<NamesOrMap<T>>>, later: Option<At<NamesOrMap<T>>>) {
    let Some(l) = later else { return };
    let Some(b) = base.as_mut() else {
        *base = Some(l);
        return;
    };
    let as_map = |n: &NamesOrMap<T>| -> Vec<(Key, At<Option<T>>)> {
        match n {
            NamesOrMap::List(ks) => ks
                .iter()
                .map(|k| (k.clone(), At::new(None, k.pos)))
                .collect(),
            NamesOrMap::Map(es) => es.clone(),
        }
    };
    let mut entries = as_map(&b.v);
    for (k, v) in as_map(&l.v) {
        match entries.iter_mut().find(|(x, _)| x.v == k.v) {
            Some(slot) => *slot = (k, v),
            None => entries.push((k, v)),
        }
    }
    b.v = NamesOrMap::Map(entries);
}

fn mount_target(m: &At<ShortOrLong<RawMount>>) -> String {
    match &m.v {
        ShortOrLong::Short(s) => {
            let parts: Vec<&str> = s.0.split(':').collect();
            match parts.len() {
                1 => parts[0].to_string(),
                _ => parts[1].to_string(),
            }
        }
        ShortOrLong::Long(l) => l.target.as_ref().map(|t| t.v.0.clone()).unwrap_or_default(),
    }
}

fn service(b: &mut RawService, l: RawService) {
    over(&mut b.image, l.image);
    over(&mut b.build, l.build);
    over(&mut b.command, l.command);
    over(&mut b.entrypoint, l.entrypoint);
    map_or_list(&mut b.environment, l.environment);
    match (&mut b.env_file, l.env_file) {
        (Some(base), Some(later)) => {
            let to_list = |x: At<StrOrListOfLong>| match x.v {
                StrOrListOfLong::Str(s) => vec![At::new(ShortOrLong::Short(s), x.pos)],
                StrOrListOfLong::List(l) => l,
            };
            let mut all = to_list(base.clone());
            all.extend(to_list(later));
            base.v = StrOrListOfLong::List(all);
        }
        (slot, later) => over(slot, later),
    }
    append(&mut b.ports, l.ports);
    append_scalars(&mut b.expose, l.expose);
    names_or_map(&mut b.depends_on, l.depends_on);
    match (&mut b.healthcheck, l.healthcheck) {
        (Some(base), Some(later)) => {
            let (h, lh) = (&mut base.v, later.v);
            over(&mut h.test, lh.test);
            over(&mut h.interval, lh.interval);
            over(&mut h.timeout, lh.timeout);
            over(&mut h.retries, lh.retries);
            over(&mut h.start_period, lh.start_period);
            over(&mut h.start_interval, lh.start_interval);
            over(&mut h.disable, lh.disable);
        }
        (slot, later) => over(slot, later),
    }
    if let Some(later) = l.volumes {
        let base = b.volumes.get_or_insert_with(Vec::new);
        for m in later {
            let t = mount_target(&m);
            match base.iter_mut().find(|x| mount_target(x) == t) {
                Some(slot) => *slot = m,
                None => base.push(m),
            }
        }
    }
    over(&mut b.tmpfs, l.tmpfs);
    over(&mut b.restart, l.restart);
    over(&mut b.mem_limit, l.mem_limit);
    over(&mut b.memswap_limit, l.memswap_limit);
    over(&mut b.cpus, l.cpus);
    match (&mut b.deploy, l.deploy) {
        (Some(base), Some(later)) => {
            let (d, ld) = (&mut base.v, later.v);
            match (&mut d.resources, ld.resources) {
                (Some(r), Some(lr)) => {
                    match (&mut r.v.limits, lr.v.limits) {
                        (Some(lim), Some(ll)) => {
                            over(&mut lim.v.cpus, ll.v.cpus);
                            over(&mut lim.v.memory, ll.v.memory);
                            over(&mut lim.v.pids, ll.v.pids);
                        }
                        (slot, later) => over(slot, later),
                    }
                    over(&mut r.v.reservations, lr.v.reservations);
                }
                (slot, later) => over(slot, later),
            }
            over(&mut d.replicas, ld.replicas);
            over(&mut d.restart_policy, ld.restart_policy);
            over(&mut d.mode, ld.mode);
            over(&mut d.labels, ld.labels);
        }
        (slot, later) => over(slot, later),
    }
    over(&mut b.user, l.user);
    over(&mut b.working_dir, l.working_dir);
    map_or_list(&mut b.labels, l.labels);
    over(&mut b.hostname, l.hostname);
    over(&mut b.domainname, l.domainname);
    map_or_list(&mut b.extra_hosts, l.extra_hosts);
    over(&mut b.dns, l.dns);
    append_scalars(&mut b.cap_add, l.cap_add);
    append_scalars(&mut b.cap_drop, l.cap_drop);
    if let Some(later) = l.ulimits {
        let base = b.ulimits.get_or_insert_with(Entries::default);
        for (k, v) in later.0 {
            match base.0.iter_mut().find(|(x, _)| x.v == k.v) {
                Some(slot) => *slot = (k, v),
                None => base.0.push((k, v)),
            }
        }
    }
    map_or_list(&mut b.sysctls, l.sysctls);
    over(&mut b.shm_size, l.shm_size);
    over(&mut b.stop_signal, l.stop_signal);
    over(&mut b.stop_grace_period, l.stop_grace_period);
    over(&mut b.init, l.init);
    over(&mut b.privileged, l.privileged);
    over(&mut b.read_only, l.read_only);
    over(&mut b.tty, l.tty);
    over(&mut b.stdin_open, l.stdin_open);
    names_or_map(&mut b.networks, l.networks);
    over(&mut b.profiles, l.profiles);
    over(&mut b.container_name, l.container_name);
    over(&mut b.pull_policy, l.pull_policy);
    over(&mut b.platform, l.platform);
    match (&mut b.x_dockmatrix, l.x_dockmatrix) {
        (Some(base), Some(later)) => {
            over(&mut base.v.kind, later.v.kind);
            over(&mut base.v.version, later.v.version);
            over(&mut base.v.ready, later.v.ready);
        }
        (slot, later) => over(slot, later),
    }
    over(&mut b.secrets, l.secrets);
    over(&mut b.configs, l.configs);
    over(&mut b.extends, l.extends);
    over(&mut b.network_mode, l.network_mode);
    over(&mut b.links, l.links);
    over(&mut b.external_links, l.external_links);
    over(&mut b.volumes_from, l.volumes_from);
    over(&mut b.pid, l.pid);
    over(&mut b.ipc, l.ipc);
    over(&mut b.devices, l.devices);
    over(&mut b.scale, l.scale);
    over(&mut b.develop, l.develop);
}

/// The dependencies of a service: name, where it is written, and `required`.
pub fn dependencies(s: &RawService) -> Vec<(String, Pos, bool)> {
    let Some(d) = &s.depends_on else {
        return Vec::new();
    };
    match &d.v {
        NamesOrMap::List(ks) => ks.iter().map(|k| (k.v.clone(), k.pos, true)).collect(),
        NamesOrMap::Map(es) => es
            .iter()
            .map(|(k, v)| {
                let required =
                    v.v.as_ref()
                        .and_then(|x| x.required.as_ref())
                        .is_none_or(|r| r.v.0 != "false");
                (k.v.clone(), k.pos, required)
            })
            .collect(),
    }
}

pub fn dependency_names(s: &RawService) -> Vec<String> {
    dependencies(s).into_iter().map(|(n, _, _)| n).collect()
}

/// (dependency, condition as written)
pub fn dependency_conditions(s: &RawService) -> Vec<(String, Option<String>)> {
    let Some(d) = &s.depends_on else {
        return Vec::new();
    };
    match &d.v {
        NamesOrMap::List(ks) => ks.iter().map(|k| (k.v.clone(), None)).collect(),
        NamesOrMap::Map(es) => es
            .iter()
            .map(|(k, v)| {
                (
                    k.v.clone(),
                    v.v.as_ref()
                        .and_then(|x| x.condition.as_ref())
                        .map(|c| c.v.0.clone()),
                )
            })
            .collect(),
    }
}

/// Calls `f` on every scalar of a service (for listing the variables it reads).
pub fn each_scalar(s: &RawService, f: &mut dyn FnMut(&Sc)) {
    let opt = |x: &Option<Sc>, f: &mut dyn FnMut(&Sc)| {
        if let Some(x) = x {
            f(x);
        }
    };
    let sol = |x: &Option<At<StrOrList>>, f: &mut dyn FnMut(&Sc)| {
        if let Some(x) = x {
            match &x.v {
                StrOrList::Str(s) => f(&At::new(s.clone(), x.pos)),
                StrOrList::List(l) => l.iter().for_each(&mut *f),
            }
        }
    };
    let mol = |x: &Option<At<MapOrList>>, f: &mut dyn FnMut(&Sc)| {
        if let Some(x) = x {
            match &x.v {
                MapOrList::Map(es) => es.iter().for_each(|(_, v)| {
                    if let Some(s) = &v.v {
                        f(&At::new(s.clone(), v.pos));
                    }
                }),
                MapOrList::List(l) => l.iter().for_each(&mut *f),
            }
        }
    };
    for x in [
        &s.image,
        &s.restart,
        &s.mem_limit,
        &s.memswap_limit,
        &s.cpus,
        &s.user,
        &s.working_dir,
        &s.hostname,
        &s.domainname,
        &s.shm_size,
        &s.stop_signal,
        &s.stop_grace_period,
        &s.init,
        &s.privileged,
        &s.read_only,
        &s.tty,
        &s.stdin_open,
    ] {
        opt(x, f);
    }
    sol(&s.command, f);
    sol(&s.entrypoint, f);
    sol(&s.tmpfs, f);
    sol(&s.dns, f);
    mol(&s.environment, f);
    mol(&s.labels, f);
    mol(&s.extra_hosts, f);
    mol(&s.sysctls, f);
    for x in s
        .expose
        .iter()
        .flatten()
        .chain(s.cap_add.iter().flatten())
        .chain(s.cap_drop.iter().flatten())
    {
        f(x);
    }
    for p in s.ports.iter().flatten() {
        match &p.v {
            ShortOrLong::Short(x) => f(&At::new(x.clone(), p.pos)),
            ShortOrLong::Long(l) => {
                f(&l.target);
                opt(&l.published, f);
                opt(&l.protocol, f);
            }
        }
    }
    for m in s.volumes.iter().flatten() {
        match &m.v {
            ShortOrLong::Short(x) => f(&At::new(x.clone(), m.pos)),
            ShortOrLong::Long(l) => {
                opt(&l.source, f);
                opt(&l.target, f);
                opt(&l.read_only, f);
                if let Some(t) = &l.tmpfs {
                    opt(&t.v.size, f);
                }
            }
        }
    }
    if let Some(e) = &s.env_file {
        match &e.v {
            StrOrListOfLong::Str(x) => f(&At::new(x.clone(), e.pos)),
            StrOrListOfLong::List(l) => l.iter().for_each(|x| match &x.v {
                ShortOrLong::Short(p) => f(&At::new(p.clone(), x.pos)),
                ShortOrLong::Long(l) => f(&l.path),
            }),
        }
    }
    if let Some(h) = &s.healthcheck {
        sol(&h.v.test, f);
        for x in [
            &h.v.interval,
            &h.v.timeout,
            &h.v.retries,
            &h.v.start_period,
            &h.v.start_interval,
            &h.v.disable,
        ] {
            opt(x, f);
        }
    }
    if let Some(d) = &s.deploy
        && let Some(r) = &d.v.resources
        && let Some(l) = &r.v.limits
    {
        opt(&l.v.cpus, f);
        opt(&l.v.memory, f);
        opt(&l.v.pids, f);
    }
    if let Some(u) = &s.ulimits {
        for (_, v) in &u.0 {
            match &v.v {
                ShortOrLong::Short(x) => f(&At::new(x.clone(), v.pos)),
                ShortOrLong::Long(l) => {
                    f(&l.soft);
                    f(&l.hard);
                }
            }
        }
    }
    if let Some(n) = &s.networks
        && let NamesOrMap::Map(es) = &n.v
    {
        for (_, v) in es {
            if let Some(v) = &v.v {
                v.aliases.iter().for_each(&mut *f);
            }
        }
    }
}
