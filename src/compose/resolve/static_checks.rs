//! The compose rules that hold for every cell, checked once when the files are read: keys
//! refused by name, a service without an image, a dependency that names no service, a
//! cycle, volumes and networks the top level does not declare or declares `external`.

use crate::compose::Project;
use crate::compose::merge;
use crate::compose::raw::*;
use crate::diagnostic::Diagnostic;

impl Project {
    /// The rules that hold for every cell: keys refused by name, a service without an
    /// image, a dependency that names no service, a cycle, volumes and networks the
    /// top level does not declare or declares `external`.
    pub(in crate::compose) fn static_checks(&self) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        let names: Vec<&str> = self.service_names().collect();
        for (k, s) in &self.services {
            self.refused_keys(k, s, &mut out);
            self.service_rules(k, s, &names, &mut out);
        }
        out.extend(self.cycles());
        self.external_objects(&mut out);
        out
    }

    /// Keys of a service that dockmatrix refuses by name, each with what to do instead.
    fn refused_keys(&self, k: &Key, s: &RawService, out: &mut Vec<Diagnostic>) {
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
            out,
            pos(&s.secrets),
            "secrets",
            "pass the secret as an environment variable (`${VAR}` from the caller's environment or the env file) or bind-mount a file from the compose folder",
        );
        refuse(
            out,
            pos(&s.configs),
            "configs",
            "bind-mount the file from the compose folder instead",
        );
        refuse(
            out,
            pos(&s.extends),
            "extends",
            "list the file it extends in the matrix's [compose] files (merged in order) instead",
        );
        refuse(
            out,
            pos(&s.network_mode),
            "network_mode",
            "remove it: every service of a cell is on the cell's private networks",
        );
        refuse(
            out,
            pos(&s.links),
            "links",
            "remove it: services reach each other by service name on the cell's networks",
        );
        refuse(
            out,
            pos(&s.external_links),
            "external_links",
            "remove it: a cell reaches only its own services",
        );
        refuse(
            out,
            pos(&s.volumes_from),
            "volumes_from",
            "share a named volume between the services instead",
        );
        refuse(
            out,
            pos(&s.pid),
            "pid",
            "remove it: a cell's containers do not share namespaces",
        );
        refuse(
            out,
            pos(&s.ipc),
            "ipc",
            "remove it: a cell's containers do not share namespaces",
        );
        refuse(
            out,
            pos(&s.devices),
            "devices",
            "remove it: cells must not depend on the host's devices",
        );
        refuse(
            out,
            pos(&s.scale),
            "scale",
            "remove it: each service runs one container per cell",
        );
        refuse(
            out,
            pos(&s.develop),
            "develop",
            "remove it: `develop` is for `docker compose watch`",
        );
    }

    /// A service's image (or a `build` without one), replicas, dependencies and networks.
    fn service_rules(&self, k: &Key, s: &RawService, names: &[&str], out: &mut Vec<Diagnostic>) {
        let key = format!("services.{}", k.v);
        match (&s.image, &s.build) {
            (None, Some(b)) => out.push(self.diag(
                b.pos,
                &format!("{key}.build"),
                format!(
                    "service `{}` has `build` but no `image`: dockmatrix does not build images",
                    k.v
                ),
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

    /// Top-level volumes and networks declared `external`: a cell's are its own.
    fn external_objects(&self, out: &mut Vec<Diagnostic>) {
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
