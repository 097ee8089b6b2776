//! `dockmatrix cache prune`: the image cache ([`super::images::cache_dir`]`/images`, one
//! `<image id>.tar` per image saved from the host engine) only grows as images are rebuilt,
//! since a rebuilt image gets a new id and so a new file. Prune removes the files whose
//! image no longer exists on the host engine (nothing can ask for them again), those not
//! used for longer than `--older-than` (a file's modification time is its last use: a
//! load touches it), the oldest ones beyond `--max-size`, and `.partial` files that a dead
//! process left mid-save.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use bollard::Docker;
use bollard::query_parameters::ListImagesOptions;

/// One file of the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: PathBuf,
    /// The image id's hex digest (the file's stem), or `None` for a `.partial` file.
    pub digest: Option<String>,
    /// For a `.partial` file: the pid of the process that was writing it.
    pub writer: Option<u32>,
    pub bytes: u64,
    pub modified: SystemTime,
}

/// What to keep.
#[derive(Debug, Clone, Copy, Default)]
pub struct Budget {
    /// Remove files not used for longer than this.
    pub older_than: Option<Duration>,
    /// Remove the least recently used files until the rest fit.
    pub max_bytes: Option<u64>,
}

/// Why a file goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    ImageGone,
    Unused(Duration),
    OverBudget,
    AbandonedPartial,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::ImageGone => f.write_str("its image no longer exists on the host engine"),
            Reason::Unused(d) => write!(f, "unused for {} h", d.as_secs() / 3600),
            Reason::OverBudget => f.write_str("least recently used beyond --max-size"),
            Reason::AbandonedPartial => f.write_str("an unfinished save of a process that is gone"),
        }
    }
}

/// What prune did.
#[derive(Debug, Default)]
pub struct Pruned {
    pub removed: Vec<(PathBuf, u64, Reason)>,
    pub kept: usize,
    pub kept_bytes: u64,
    pub problems: Vec<String>,
}

/// The files of the cache folder `dir` (missing: none).
pub fn entries(dir: &Path) -> std::io::Result<Vec<Entry>> {
    let read = match std::fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for item in read {
        let item = item?;
        let meta = item.metadata()?;
        if !meta.is_file() {
            continue;
        }
        let name = item.file_name().to_string_lossy().into_owned();
        // `<digest>.tar` or `<digest>.tar.<pid>.partial`.
        let (digest, writer) = if let Some(rest) = name.strip_suffix(".partial") {
            let pid = rest.rsplit_once('.').and_then(|(_, p)| p.parse().ok());
            (None, pid)
        } else if let Some(d) = name.strip_suffix(".tar") {
            (Some(d.to_string()), None)
        } else {
            continue;
        };
        out.push(Entry {
            path: item.path(),
            digest,
            writer,
            bytes: meta.len(),
            modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        });
    }
    Ok(out)
}

/// Which entries go, and why: a plain function of the files, the host engine's image
/// digests, whether a writer pid is alive, the time and the budget.
pub fn choose(
    mut entries: Vec<Entry>,
    present: &HashSet<String>,
    alive: &dyn Fn(u32) -> bool,
    now: SystemTime,
    budget: Budget,
) -> (Vec<(Entry, Reason)>, Vec<Entry>) {
    let mut gone = Vec::new();
    let mut kept = Vec::new();
    // Most recently used first, so that the size budget keeps those.
    entries.sort_by_key(|e| std::cmp::Reverse(e.modified));
    for e in entries {
        let age = now.duration_since(e.modified).unwrap_or_default();
        let reason = match (&e.digest, e.writer) {
            (None, Some(pid)) if alive(pid) => None,
            (None, _) => Some(Reason::AbandonedPartial),
            (Some(d), _) if !present.contains(d) => Some(Reason::ImageGone),
            _ => budget
                .older_than
                .filter(|limit| age > *limit)
                .map(|_| Reason::Unused(age)),
        };
        match reason {
            Some(r) => gone.push((e, r)),
            None => kept.push(e),
        }
    }
    if let Some(max) = budget.max_bytes {
        let mut total = 0u64;
        let mut within = Vec::new();
        for e in kept {
            // A save in progress is not ours to judge by size.
            if e.digest.is_none() || total + e.bytes <= max {
                total += e.bytes;
                within.push(e);
            } else {
                gone.push((e, Reason::OverBudget));
            }
        }
        kept = within;
    }
    (gone, kept)
}

/// Prunes the image cache in `dir` against the images `host` has.
pub async fn prune(host: &Docker, dir: &Path, budget: Budget) -> Pruned {
    let mut out = Pruned::default();
    let files = match entries(dir) {
        Ok(f) => f,
        Err(e) => {
            out.problems.push(format!("{}: {e}", dir.display()));
            return out;
        }
    };
    let present: HashSet<String> = match host
        .list_images(Some(ListImagesOptions {
            all: true,
            ..Default::default()
        }))
        .await
    {
        Ok(list) => list
            .into_iter()
            .map(|i| i.id.trim_start_matches("sha256:").to_string())
            .collect(),
        Err(e) => {
            // Without the list every file would look orphaned: remove nothing.
            out.problems
                .push(format!("listing the host engine's images: {e}"));
            return out;
        }
    };
    let alive =
        |pid: u32| super::labels::owner_alive(&format!("{}:{pid}", super::labels::hostname()));
    let (gone, kept) = choose(files, &present, &alive, SystemTime::now(), budget);
    for (e, reason) in gone {
        match std::fs::remove_file(&e.path) {
            Ok(()) => out.removed.push((e.path, e.bytes, reason)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => out.problems.push(format!("{}: {err}", e.path.display())),
        }
    }
    out.kept = kept.len();
    out.kept_bytes = kept.iter().map(|e| e.bytes).sum();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, bytes: u64, hours_ago: u64, now: SystemTime) -> Entry {
        let (digest, writer) = match name.strip_suffix(".partial") {
            Some(rest) => (
                None,
                rest.rsplit_once('.').and_then(|(_, p)| p.parse().ok()),
            ),
            None => (Some(name.trim_end_matches(".tar").to_string()), None),
        };
        Entry {
            path: PathBuf::from(name),
            digest,
            writer,
            bytes,
            modified: now - Duration::from_secs(hours_ago * 3600),
        }
    }

    #[test]
    fn chooses_by_image_presence_age_and_size() {
        let now = SystemTime::now();
        let files = vec![
            entry("aaa.tar", 100, 1, now),
            entry("bbb.tar", 100, 50, now),
            entry("gone.tar", 100, 0, now),
            entry("ccc.tar", 300, 2, now),
            entry("ddd.tar.42.partial", 10, 0, now),
            entry("eee.tar.43.partial", 10, 0, now),
        ];
        let present: HashSet<String> = ["aaa", "bbb", "ccc"].map(String::from).into();
        let alive = |pid: u32| pid == 43;
        let (gone, kept) = choose(files.clone(), &present, &alive, now, Budget::default());
        let names = |v: &[(Entry, Reason)]| {
            v.iter()
                .map(|(e, r)| (e.path.display().to_string(), *r))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(&gone),
            vec![
                ("gone.tar".to_string(), Reason::ImageGone),
                ("ddd.tar.42.partial".to_string(), Reason::AbandonedPartial),
            ]
        );
        assert_eq!(kept.len(), 4);

        let (gone, _) = choose(
            files.clone(),
            &present,
            &alive,
            now,
            Budget {
                older_than: Some(Duration::from_secs(24 * 3600)),
                max_bytes: None,
            },
        );
        assert!(
            gone.iter()
                .any(|(e, r)| e.path == Path::new("bbb.tar") && matches!(r, Reason::Unused(_)))
        );

        // 450 bytes: the most recently used fit (aaa 100 + ccc 300), bbb does not.
        let (gone, kept) = choose(
            files,
            &present,
            &alive,
            now,
            Budget {
                older_than: None,
                max_bytes: Some(450),
            },
        );
        assert!(
            gone.iter()
                .any(|(e, r)| e.path == Path::new("bbb.tar") && *r == Reason::OverBudget)
        );
        let kept: Vec<_> = kept.iter().map(|e| e.path.display().to_string()).collect();
        assert_eq!(kept, ["eee.tar.43.partial", "aaa.tar", "ccc.tar"]);
    }
}
