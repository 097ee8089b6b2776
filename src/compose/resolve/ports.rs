//! A service's `ports` and `expose`: the container ports a cell publishes (host IPs and
//! fixed host ports are ignored with a warning: cell ports are always ephemeral).

use super::cx::Cx;
use crate::compose::raw::*;

pub(super) fn ports(
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
