//! Getting images into an engine without an internet registry.
//!
//! Why `docker save` → `docker load` rather than a local registry: measured on these
//! machines (DESIGN.md), a registry must first be filled (16 s for a 234 MB PostgreSQL
//! image) before any engine can pull, and then two engines pulled concurrently in 9–11 s;
//! save→load of the same image took ~16.7 s to one engine with no fill step and no extra
//! daemon. The save side is the host engine's work and was the bottleneck when four
//! engines each ran their own save (68–103 s for 466 MB each, measured here): so each
//! image is saved once into a cache file named by its image id (content-addressed: a
//! rebuilt image gets a new file; reruns reuse it), and every engine loads from that file.
//! A user with a registry sets `pull`.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use bollard::Docker;
use bollard::query_parameters::{CreateImageOptions, ImportImageOptions};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::sync::OnceCell;

use crate::matrix::PullPolicy;
use crate::results::ImageRecord;

/// The outcome of making a set of images available on an engine: per image, its record
/// or why it is missing.
pub type Loaded = HashMap<String, Result<ImageRecord, String>>;

/// Makes `images` available on `target`, taking them from `host` (the local engine)
/// where the policy allows. Each image's bytes cross at most once per engine, and are
/// saved from the host at most once.
pub async fn preload(
    host: &Docker,
    target: &Docker,
    target_is_host: bool,
    images: &[String],
    pull: PullPolicy,
) -> Loaded {
    let mut out: Loaded = HashMap::new();
    let mut to_transfer: Vec<String> = Vec::new();
    for image in images {
        let present = target.inspect_image(image).await.is_ok();
        let want_pull = match pull {
            PullPolicy::Always => true,
            PullPolicy::Missing => !present,
            PullPolicy::Never => false,
        };
        if want_pull {
            match pull_image(target, image).await {
                Ok(()) => continue,
                Err(e) if present => {
                    // `always` on an image the engine has: keep the local copy, but say so.
                    out.insert(image.clone(), Err(format!("pulling `{image}` failed: {e}")));
                    continue;
                }
                Err(_) if !target_is_host => {} // fall back to the host's copy below
                Err(e) => {
                    out.insert(
                        image.clone(),
                        Err(format!(
                            "image `{image}` is not on the engine and pulling it failed: {e}"
                        )),
                    );
                    continue;
                }
            }
        } else if present {
            continue;
        }
        if target_is_host {
            out.insert(
                image.clone(),
                Err(format!(
                    "image `{image}` does not exist on the engine (build it with scripts/setup.sh, or run with --pull missing)"
                )),
            );
        } else if host.inspect_image(image).await.is_ok() {
            to_transfer.push(image.clone());
        } else {
            out.insert(
                image.clone(),
                Err(format!(
                    "image `{image}` does not exist on the host engine, so it cannot be loaded into the engine under test (build it with scripts/setup.sh, or run with --pull missing)"
                )),
            );
        }
    }
    if !to_transfer.is_empty()
        && let Err(e) = transfer(host, target, &to_transfer).await
    {
        for image in &to_transfer {
            out.insert(
                image.clone(),
                Err(format!("loading `{image}` into the engine failed: {e}")),
            );
        }
    }
    for image in images {
        if out.contains_key(image) {
            continue;
        }
        let record = match target.inspect_image(image).await {
            Ok(info) => Ok(ImageRecord {
                service: String::new(),
                reference: image.clone(),
                digest: info.id.unwrap_or_default(),
                labels: info
                    .config
                    .and_then(|c| c.labels)
                    .map(|l| l.into_iter().collect::<BTreeMap<_, _>>())
                    .unwrap_or_default(),
            }),
            Err(e) => Err(format!(
                "image `{image}` is not on the engine after loading: {e}"
            )),
        };
        out.insert(image.clone(), record);
    }
    out
}

/// Loads each image into `target` from its cache file (saved from `host` once).
async fn transfer(host: &Docker, target: &Docker, images: &[String]) -> Result<(), String> {
    for image in images {
        let file = cached_tar(host, image).await?;
        let reader = tokio::fs::File::open(&file)
            .await
            .map_err(|e| format!("{}: {e}", file.display()))?;
        let stream = tokio_util::io::ReaderStream::with_capacity(reader, 1 << 20);
        let mut load = target.import_image_stream(
            ImportImageOptions {
                quiet: true,
                ..Default::default()
            },
            stream,
            None,
        );
        while let Some(item) = load.next().await {
            match item {
                Ok(info) => {
                    if let Some(err) = info.error_detail.and_then(|d| d.message) {
                        return Err(err);
                    }
                }
                Err(e) => return Err(e.to_string()),
            }
        }
    }
    Ok(())
}

/// Where saved images are kept: `$DOCKMATRIX_CACHE`, else `$XDG_CACHE_HOME/dockmatrix`,
/// else `~/.cache/dockmatrix`.
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("DOCKMATRIX_CACHE") {
        return PathBuf::from(d);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("dockmatrix")
}

/// One save per image id per process, however many engines want it at once.
type SaveCell = Arc<OnceCell<Result<PathBuf, String>>>;
static SAVES: std::sync::OnceLock<std::sync::Mutex<HashMap<String, SaveCell>>> =
    std::sync::OnceLock::new();

/// The image saved as a tar file named by its id, made on first use.
async fn cached_tar(host: &Docker, image: &str) -> Result<PathBuf, String> {
    let id = host
        .inspect_image(image)
        .await
        .map_err(|e| format!("inspecting `{image}` on the host engine: {e}"))?
        .id
        .unwrap_or_default();
    let digest = id.trim_start_matches("sha256:").to_string();
    let cell = {
        let saves = SAVES.get_or_init(Default::default);
        let mut map = saves
            .lock()
            .map_err(|_| "image cache lock poisoned".to_string())?;
        map.entry(digest.clone()).or_default().clone()
    };
    cell.get_or_init(|| async {
        let dir = cache_dir().join("images");
        let file = dir.join(format!("{digest}.tar"));
        if file.is_file() {
            return Ok(file);
        }
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        let tmp = dir.join(format!("{digest}.tar.{}.partial", std::process::id()));
        let mut out = tokio::fs::File::create(&tmp)
            .await
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
        let mut stream = host.export_image(image);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| format!("saving `{image}`: {e}"))?;
            out.write_all(&chunk)
                .await
                .map_err(|e| format!("{}: {e}", tmp.display()))?;
        }
        out.flush()
            .await
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
        tokio::fs::rename(&tmp, &file)
            .await
            .map_err(|e| format!("{}: {e}", file.display()))?;
        Ok(file)
    })
    .await
    .clone()
}

async fn pull_image(target: &Docker, image: &str) -> Result<(), String> {
    let mut stream = target.create_image(
        Some(CreateImageOptions {
            from_image: Some(image.to_string()),
            ..Default::default()
        }),
        None,
        None,
    );
    while let Some(item) = stream.next().await {
        if let Err(e) = item {
            return Err(e.to_string());
        }
    }
    Ok(())
}
