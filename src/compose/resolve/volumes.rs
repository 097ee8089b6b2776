//! A service's `volumes` and `tmpfs`: named and anonymous volumes, binds inside the
//! compose folder (symlinks followed), tmpfs mounts and the engine's socket.

use std::path::{Component, Path, PathBuf};

use super::cx::Cx;
use crate::compose::raw::*;
use crate::compose::{ComposeService, Mount, MountSource};
use crate::units::parse_bytes;

/// The socket paths a bind may name although they are outside the compose folder: the
/// cell's own engine's socket.
const DOCKER_SOCKETS: [&str; 2] = ["/var/run/docker.sock", "/run/docker.sock"];

/// `volumes` and `tmpfs`.
pub(super) fn mounts(
    cx: &mut Cx<'_>,
    s: &RawService,
    key: &str,
    n: &str,
    out: &mut ComposeService,
) {
    let k = |what: &str| format!("{key}.{what}");
    for (i, m) in s.volumes.iter().flatten().enumerate() {
        if let Some(mount) = volume(cx, m, &k(&format!("volumes[{i}]")), n) {
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
}

/// A `volumes` entry as written, before its source is checked.
struct Written {
    kind: String,
    source: Option<String>,
    target: String,
    read_only: bool,
    nocopy: bool,
    size: Option<u64>,
    pos: Pos,
}

/// A `volumes` entry: a named volume, an anonymous one, a bind inside the compose
/// folder, a tmpfs, or the engine's socket.
pub(super) fn volume(
    cx: &mut Cx<'_>,
    m: &At<ShortOrLong<RawMount>>,
    key: &str,
    service: &str,
) -> Option<Mount> {
    let Written {
        kind,
        source,
        target,
        read_only,
        nocopy,
        size,
        pos,
    } = match &m.v {
        ShortOrLong::Short(s) => short_form(cx, s, m.pos, key)?,
        ShortOrLong::Long(l) => long_form(cx, l, key)?,
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
        ("bind", Some(src)) => bind_source(cx, &src, pos, key)?,
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

/// `SOURCE:TARGET[:MODE]` (a source starting with `.`, `/` or `~` is a bind).
fn short_form(cx: &mut Cx<'_>, s: &Scalar, at: Pos, key: &str) -> Option<Written> {
    let v = cx.text(&s.0, at, key)?;
    let parts: Vec<&str> = v.split(':').collect();
    let (src, tgt, mode) = match parts.as_slice() {
        [t] => (None, t.to_string(), ""),
        [s, t] => (Some(s.to_string()), t.to_string(), ""),
        [s, t, mode] => (Some(s.to_string()), t.to_string(), *mode),
        _ => {
            cx.err(
                at,
                key,
                format!("`{v}` is not SOURCE:TARGET[:MODE]"),
                "e.g. ./init:/docker-entrypoint-initdb.d:ro or data:/var/lib/postgresql/data",
            );
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
            cx.err(at, key, format!("`{o}` is not a volume mode"), "ro or rw");
            return None;
        }
    }
    let kind = match &src {
        None => "volume",
        Some(s) if s.starts_with('.') || s.starts_with('/') || s.starts_with('~') => "bind",
        Some(_) => "volume",
    };
    Some(Written {
        kind: kind.to_string(),
        source: src,
        target: tgt,
        read_only: opts.contains(&"ro"),
        nocopy: opts.contains(&"nocopy"),
        size: None,
        pos: at,
    })
}

/// The long form: `type`, `source`, `target`, `read_only`, `volume.nocopy`, `tmpfs.size`.
fn long_form(cx: &mut Cx<'_>, l: &RawMount, key: &str) -> Option<Written> {
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
    Some(Written {
        kind,
        source,
        target,
        read_only: ro,
        nocopy,
        size,
        pos: l.kind.pos,
    })
}

/// A bind's source: the engine's socket, or a file or folder inside the compose folder
/// (symlinks followed) that exists.
fn bind_source(cx: &mut Cx<'_>, src: &str, pos: Pos, key: &str) -> Option<MountSource> {
    if DOCKER_SOCKETS.contains(&src) {
        return Some(MountSource::DockerSocket);
    }
    let folder = &cx.project.folder;
    let full = normalise(&if let Some(rest) = src.strip_prefix("~/") {
        PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(rest)
    } else {
        folder.join(src)
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
    Some(MountSource::Bind {
        path: real,
        is_dir: meta.is_dir(),
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
