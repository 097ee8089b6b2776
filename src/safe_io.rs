//! The only doors between dockmatrix and a user's files. Every file the tool reads for
//! the user (matrices, scenarios, daemon configs, TLS files, run records) comes in through
//! [`read_user_file`]; every file it writes for the user (`-o`, `--out`, a run folder's
//! records and reports) goes out through [`write_output`] and [`OutDir`].
//!
//! Why one room: the holes were all at the edges. An atomic write renamed a temporary file
//! over whatever the path was (`-o /dev/null` as root replaced the device with a regular
//! file); a size cap read from the file's length let `/dev/zero` be read until memory ran
//! out (a device's length is 0); opening a FIFO blocked forever; `/proc/self/environ` named
//! as a scenario was quoted into a diagnostic. Here:
//! - inputs are opened without blocking (`O_NONBLOCK`: a FIFO opens at once), then
//!   judged by what was opened (`fstat`, not the path): only a regular file is read, and
//!   the cap is counted while reading; `/proc`, `/sys` and `/dev` are refused by their
//!   resolved path (their files look regular and have no length);
//! - outputs never rename over anything but a regular file: a FIFO or a character device
//!   is written through, a symlink or anything else is refused, and a temporary file is
//!   removed when the write fails;
//! - an output folder is new, empty, or a run folder of the same matrix, never `/` nor an
//!   input; a folder the tool made itself is removed again when writing into it fails.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Larger than any matrix, scenario or daemon.json a person writes.
pub const MAX_CONFIG_BYTES: u64 = 8 << 20;
/// A run record of 100,000 cells with every figure is ~200 MB; more is not a record.
pub const MAX_RECORD_BYTES: u64 = 1 << 30;

/// Why a user's file was not read or written.
#[derive(Debug, thiserror::Error)]
pub enum SafeIoError {
    #[error("failed to read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("refused to read {}: {why}", path.display())]
    RefusedInput { path: PathBuf, why: String },
    #[error("refused to read {}: the file is too big (more than {} MiB), so no line can be named", path.display(), cap >> 20)]
    TooBig { path: PathBuf, cap: u64 },
    #[error("failed to write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("refused to write {}: {why}", path.display())]
    RefusedOutput { path: PathBuf, why: String },
}

impl SafeIoError {
    /// A refusal of the user's input or output path (exit 2), as against an I/O failure.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            SafeIoError::RefusedInput { .. }
                | SafeIoError::TooBig { .. }
                | SafeIoError::RefusedOutput { .. }
        )
    }
}

impl SafeIoError {
    /// What went wrong, without the path (for messages that name the file themselves).
    pub fn reason(&self) -> String {
        match self {
            SafeIoError::Read { source, .. } | SafeIoError::Write { source, .. } => {
                source.to_string()
            }
            SafeIoError::RefusedInput { why, .. } | SafeIoError::RefusedOutput { why, .. } => {
                format!("refused: {why}")
            }
            SafeIoError::TooBig { cap, .. } => format!(
                "the file is too big (more than {} MiB), so no line can be named",
                cap >> 20
            ),
        }
    }
}

/// Pseudo-file systems whose files look regular, report no length and hold the machine's
/// state (`/proc/self/environ`: every secret of the CI job).
const REFUSED_ROOTS: [&str; 3] = ["/proc", "/sys", "/dev"];

fn under_refused_root(resolved: &Path) -> Option<&'static str> {
    REFUSED_ROOTS
        .into_iter()
        .find(|root| resolved.starts_with(root))
}

/// What kind of file a metadata describes, in words for an error.
fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

/// Reads a user's file whole: a regular file of at most `cap` bytes, counted while
/// reading. FIFOs, devices, sockets and directories are refused at once (the open never
/// blocks), and so is anything under `/proc`, `/sys` or `/dev`.
pub fn read_user_file(path: &Path, cap: u64) -> Result<Vec<u8>, SafeIoError> {
    let refused = |why: String| SafeIoError::RefusedInput {
        path: path.to_path_buf(),
        why,
    };
    let io = |source| SafeIoError::Read {
        path: path.to_path_buf(),
        source,
    };
    let resolved = std::fs::canonicalize(path).map_err(io)?;
    if let Some(root) = under_refused_root(&resolved) {
        return Err(refused(format!(
            "it is under {root} ({}), which holds the machine's state, not a user's file",
            resolved.display()
        )));
    }
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(&resolved)
        .map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.file_type().is_file() {
        return Err(refused(format!(
            "it is {}; give a regular file",
            kind_of(&meta)
        )));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len().min(cap)).unwrap_or(0));
    file.take(cap + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > cap {
        return Err(SafeIoError::TooBig {
            path: path.to_path_buf(),
            cap,
        });
    }
    Ok(bytes)
}

/// [`read_user_file`] as UTF-8 text.
pub fn read_user_text(path: &Path, cap: u64) -> Result<String, SafeIoError> {
    let bytes = read_user_file(path, cap)?;
    String::from_utf8(bytes).map_err(|e| SafeIoError::Read {
        path: path.to_path_buf(),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "the file is not valid UTF-8 (byte {})",
                e.utf8_error().valid_up_to()
            ),
        ),
    })
}

/// The identity of a file (device and inode), to tell whether an output is an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    /// The file (or folder) `path` names, following symlinks; `None` when it does not exist.
    pub fn of(path: &Path) -> Option<FileId> {
        std::fs::metadata(path).ok().map(|m| FileId {
            dev: m.dev(),
            ino: m.ino(),
        })
    }
}

/// Writes `bytes` to the user's `path`, never replacing what is not a regular file:
/// - a new path or a regular file: a temporary file beside it, renamed over it (a reader
///   never sees half of it; the temporary file is removed when anything fails);
/// - a FIFO or a character device (`/dev/null`, a terminal): written through;
/// - a symlink, a directory, a block device or a socket: refused;
/// - a file in `inputs` (what this command read): refused.
pub fn write_output(path: &Path, bytes: &[u8], inputs: &[FileId]) -> Result<(), SafeIoError> {
    let refused = |why: String| SafeIoError::RefusedOutput {
        path: path.to_path_buf(),
        why,
    };
    let io = |source| SafeIoError::Write {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
        Ok(meta) => {
            let t = meta.file_type();
            let id = FileId {
                dev: meta.dev(),
                ino: meta.ino(),
            };
            if inputs.contains(&id) {
                return Err(refused(
                    "it is one of this command's inputs; write elsewhere".to_string(),
                ));
            }
            if t.is_fifo() || t.is_char_device() {
                let mut f = OpenOptions::new()
                    .write(true)
                    .custom_flags(libc::O_NOCTTY)
                    .open(path)
                    .map_err(io)?;
                return f.write_all(bytes).and_then(|()| f.flush()).map_err(io);
            }
            if !t.is_file() {
                return Err(refused(format!(
                    "it is {}, which would be replaced; give a regular file or a new path",
                    kind_of(&meta)
                )));
            }
        }
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| refused("it names no file (it ends in `..` or is a root)".to_string()))?;
    let tmp = dir.join(format!(
        ".{}.tmp.{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_data()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    Ok(())
}

/// An output folder (`--out`), checked before anything is written into it.
#[derive(Debug)]
pub struct OutDir {
    path: PathBuf,
    /// Made by this process: removed again if the command fails.
    created: bool,
}

/// What a folder may already hold to be written into.
#[derive(Debug, Clone, Copy)]
pub struct OutRules<'a> {
    /// The SHA-256 of the matrix this command writes a run of: a folder holding a run of
    /// the same matrix may be written over.
    pub matrix_hash: &'a str,
    /// Folders and files this command reads (merge's shards): never written into.
    pub inputs: &'a [FileId],
    /// The name of a run folder's record (`results::RUN_FILE`), whose `matrix.hash` says
    /// which matrix a folder holds a run of (given, so that this room needs no `results`).
    pub record_file: &'a str,
}

impl OutDir {
    /// Checks `path` (see [`OutRules`]) and creates it when it does not exist.
    pub fn prepare(path: &Path, rules: OutRules<'_>) -> Result<OutDir, SafeIoError> {
        let refused = |why: String| SafeIoError::RefusedOutput {
            path: path.to_path_buf(),
            why,
        };
        let io = |source| SafeIoError::Write {
            path: path.to_path_buf(),
            source,
        };
        match std::fs::symlink_metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(path).map_err(io)?;
                return Ok(OutDir {
                    path: path.to_path_buf(),
                    created: true,
                });
            }
            Err(e) => return Err(io(e)),
            Ok(_) => {}
        }
        let meta = std::fs::metadata(path).map_err(io)?;
        if !meta.is_dir() {
            return Err(refused(format!("it is {}, not a folder", kind_of(&meta))));
        }
        let resolved = std::fs::canonicalize(path).map_err(io)?;
        if resolved.parent().is_none() {
            return Err(refused("it is the root folder `/`".to_string()));
        }
        if let Some(root) = under_refused_root(&resolved) {
            return Err(refused(format!("it is under {root}")));
        }
        let id = FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        };
        if rules.inputs.contains(&id) {
            return Err(refused(
                "it is one of this command's inputs; write the result elsewhere".to_string(),
            ));
        }
        let mut entries = std::fs::read_dir(path).map_err(io)?;
        if entries.next().is_none() {
            return Ok(OutDir {
                path: path.to_path_buf(),
                created: false,
            });
        }
        let record = path.join(rules.record_file);
        let hash = read_user_file(&record, MAX_RECORD_BYTES)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["matrix"]["hash"].as_str().map(str::to_string));
        match hash {
            Some(h) if h == rules.matrix_hash => Ok(OutDir {
                path: path.to_path_buf(),
                created: false,
            }),
            Some(_) => Err(refused(
                "it holds a run of another matrix; give a new or empty folder".to_string(),
            )),
            None => Err(refused(
                "it is a folder that is not empty and holds no run of this matrix; give a new or empty folder"
                    .to_string(),
            )),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writing into the folder failed: a folder this process made is removed again, so no
    /// half-written run is left.
    pub fn abandon(self) {
        if self.created {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Writes `text` to stdout. A closed pipe (`| head`) is reported as
/// [`std::io::ErrorKind::BrokenPipe`] for the caller to end quietly.
pub fn print_stdout(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// Opens `path` for appending a record line by line (cells.jsonl), refusing what
/// [`write_output`] refuses to replace.
pub fn create_record_file(path: &Path) -> Result<File, SafeIoError> {
    if let Ok(meta) = std::fs::symlink_metadata(path)
        && !meta.file_type().is_file()
    {
        return Err(SafeIoError::RefusedOutput {
            path: path.to_path_buf(),
            why: format!("it is {}", kind_of(&meta)),
        });
    }
    File::create(path).map_err(|source| SafeIoError::Write {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_regular_file_under_the_cap() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("m.toml");
        std::fs::write(&p, "name = \"x\"\n").expect("written");
        assert_eq!(read_user_file(&p, 100).expect("read"), b"name = \"x\"\n");
        let e = read_user_file(&p, 4).expect_err("over the cap");
        assert!(matches!(e, SafeIoError::TooBig { .. }), "{e}");
        assert!(e.is_refusal());
    }

    #[test]
    fn refuses_proc_and_directories() {
        let e = read_user_file(Path::new("/proc/self/environ"), 100).expect_err("refused");
        assert!(e.to_string().contains("under /proc"), "{e}");
        let dir = tempfile::tempdir().expect("tempdir");
        let e = read_user_file(dir.path(), 100).expect_err("refused");
        assert!(e.to_string().contains("a directory"), "{e}");
    }

    #[test]
    fn a_failed_write_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("no-such-folder").join("out.md");
        write_output(&missing, b"x", &[]).expect_err("no folder");
        assert_eq!(std::fs::read_dir(dir.path()).expect("listed").count(), 0);
    }

    #[test]
    fn refuses_to_rename_over_a_symlink_and_an_input() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("target");
        std::fs::write(&target, "keep").expect("written");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        let e = write_output(&link, b"x", &[]).expect_err("refused");
        assert!(e.to_string().contains("symbolic link"), "{e}");
        let input = FileId::of(&target).expect("exists");
        let e = write_output(&target, b"x", &[input]).expect_err("refused");
        assert!(e.to_string().contains("inputs"), "{e}");
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "keep");
        assert!(
            std::fs::symlink_metadata(&link)
                .expect("still")
                .is_symlink()
        );
    }
}
