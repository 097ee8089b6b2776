//! A service's `volumes` and `tmpfs`: named and anonymous volumes, binds inside the
//! compose folder (symlinks followed), tmpfs mounts and the engine's socket.

use std::path::{Component, Path, PathBuf};

use super::cx::Cx;
use crate::compose::raw::*;
use crate::compose::{Mount, MountSource};

/// The socket paths a bind may name although they are outside the compose folder: the
/// cell's own engine's socket.
const DOCKER_SOCKETS: [&str; 2] = ["/var/run/docker.sock", "/run/docker.sock"];

/// A `volumes` entry: a named volume, an anonymous one, a bind inside the compose
/// folder, a tmpfs, or the engine's socket.
pub(super) fn volume(
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
