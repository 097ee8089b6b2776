//! Getting images into an engine without an internet registry.
//!
//! Chosen: `docker save` → `docker load`, not a local registry, because we measured both
//! (`benches/image-transfer.sh`, both ways side by side in one invocation) on the demo
//! matrix's 7 images into 3 fresh dind engines (20.10.24, 26.1.5, 28.5.2, overlay2), on
//! 2026-11-27, on a shared 2-core AMD EPYC VM (23 GiB, host engine docker.io 20.10.24,
//! cgroup v1) with other engineers compiling beside it: 1-minute load averages 7.3
//! before, 9.5 after, up to 15 during, so each figure is noisy. Per way and repetition
//! (engines concurrent, each taking its images one after the other, as the tool does):
//!
//! | way                | rep | first time (once) | per run (3 engines, wall) | total   |
//! | ------------------ | --- | ----------------- | ------------------------- | ------- |
//! | save → load        | 1   | save 53.2 s       | load 65.5 s               | 118.7 s |
//! | registry           | 1   | push 274.1 s      | pull + tag 89.5 s         | 363.6 s |
//! | registry           | 2   | push 326.1 s      | pull + tag 71.1 s         | 397.2 s |
//! | save → load        | 2   | save 71.5 s       | load 93.7 s               | 165.2 s |
//! | median save → load |     | 62.4 s            | 79.6 s                    | 141.9 s |
//! | median registry    |     | 300.1 s           | 80.3 s                    | 380.4 s |
//!
//! A second invocation right after (one repetition, load 9.5 before, 8.5 after) agreed:
//! save 66.2 s + load 77.1 s = 143.3 s; push 216.5 s + pull + tag 87.3 s = 303.8 s.
//!
//! - Filling the registry is ~5× slower than saving: `docker push` gzips every layer on
//!   the host (1770 MB of tars become 435 MB of blobs), and on 2 busy cores that
//!   compression is the bottleneck. Save writes the layers as they are.
//! - Once filled/saved, the per-run cost is a tie within the noise (of the three
//!   repetitions, load won two, pull one; medians over all three 77.1 s and 87.3 s). The registry moves 4× fewer bytes (435 MB per engine against 1770 MB:
//!   compressed, and the Debian base layers the images share are stored and pulled once,
//!   where each tar carries them again), yet pulling was not faster: the engines must
//!   gunzip what they pull (our reading, not measured apart), and on this machine CPU,
//!   not bytes over the bridge, is what runs short.
//! - So save → load wins a first run by ~2.7× and is no worse on later ones (the tar cache
//!   below survives runs, as a registry's storage would), with no extra daemon, no
//!   `--insecure-registry` added to the engines under test (their configuration is what a
//!   matrix tests), and it serves `endpoint` engines, which we cannot reconfigure.
//!
//! What switching would take, should a faster machine or bigger images change the figures
//! (rerun the bench; the registry may gain where cores are many and bytes or shared
//! layers dominate): run Debian's `docker-registry` (a new runtime dependency) on the bridge
//! address *and* on 127.0.0.1 (the host engine trusts only 127.0.0.0/8 as insecure, and
//! the inner engines cannot reach the host's loopback; the bench runs two processes on one
//! storage dir), keep its storage in the cache dir so it is filled once per image id, push
//! from the host with bollard, start every dind engine with `--insecure-registry` (or as a
//! `registry-mirrors` entry, which would let official image names work offline), pull and
//! tag in each engine, and keep save → load for `endpoint` engines.
//!
//! The save side is the host engine's work and was the bottleneck when four engines each
//! ran their own save (68–103 s for 466 MB each, measured here): so each image is saved
//! once into a cache file named by its image id (content-addressed: a rebuilt image gets a
//! new file; reruns reuse it), and every engine loads from that file. A user with a
//! registry sets `pull`.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use bollard::Docker;
use bollard::query_parameters::{CreateImageOptions, ImportImageOptions};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::sync::{OnceCell, RwLock, RwLockReadGuard};

use crate::matrix::PullPolicy;
use crate::results::ImageRecord;

/// The outcome of making a set of images available on an engine: per image, its record
/// or why it is missing.
pub type Loaded = HashMap<String, Result<ImageRecord, String>>;

/// Makes `images` available on `target`, taking them from `host` (the local engine)
/// where the policy allows. Each image's bytes cross at most once per engine, and are
/// saved from the host at most once.
/// How far loading an engine's images has come: `done` of `of` loaded, `bytes` of
/// `total_bytes` (the sizes of their saved files).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadProgress {
    pub done: usize,
    pub of: usize,
    pub bytes: u64,
    pub total_bytes: u64,
}

/// Told before the first image and after each one is loaded.
pub type OnLoad<'a> = &'a (dyn Fn(LoadProgress) + Send + Sync);

/// `pace`: the run's perf gate, when the caller holds none of it. Each image's save and
/// load (and each round of inspections) then holds its read side on its own, so that a
/// perf measurement waits for one image, not for an engine's whole load: while it waits,
/// every other cell's next step waits behind it.
pub async fn preload(
    host: &Docker,
    target: &Docker,
    target_is_host: bool,
    images: &[String],
    pull: PullPolicy,
    on_load: Option<OnLoad<'_>>,
    pace: Option<&RwLock<()>>,
) -> Loaded {
    let mut out: Loaded = HashMap::new();
    let mut to_transfer: Vec<String> = Vec::new();
    let step = paced(pace).await;
    for image in images {
        // On an engine that is not the host (a cached one keeps earlier runs' images), the
        // tag is present only if it names the same image id as on the host: a rebuilt
        // image is loaded again.
        let present = match target.inspect_image(image).await {
            Err(_) => false,
            Ok(_) if target_is_host => true,
            Ok(there) => match host.inspect_image(image).await {
                Ok(here) => here.id.is_some() && here.id == there.id,
                Err(_) => true,
            },
        };
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
    drop(step);
    if !to_transfer.is_empty()
        && let Err(e) = transfer(host, target, &to_transfer, on_load, pace).await
    {
        for image in &to_transfer {
            out.insert(
                image.clone(),
                Err(format!("loading `{image}` into the engine failed: {e}")),
            );
        }
    }
    let _step = paced(pace).await;
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

/// The read side of the perf gate, when there is one to take.
async fn paced(pace: Option<&RwLock<()>>) -> Option<RwLockReadGuard<'_, ()>> {
    match pace {
        Some(gate) => Some(gate.read().await),
        None => None,
    }
}

/// Loads each image into `target` from its cache file (saved from `host` once). Every
/// file is saved first, so the bytes to load are known before the first one.
async fn transfer(
    host: &Docker,
    target: &Docker,
    images: &[String],
    on_load: Option<OnLoad<'_>>,
    pace: Option<&RwLock<()>>,
) -> Result<(), String> {
    let mut files = Vec::with_capacity(images.len());
    for image in images {
        let _step = paced(pace).await;
        let file = cached_tar(host, image).await?;
        let size = tokio::fs::metadata(&file).await.map_or(0, |m| m.len());
        files.push((file, size));
    }
    let mut progress = LoadProgress {
        done: 0,
        of: files.len(),
        bytes: 0,
        total_bytes: files.iter().map(|(_, size)| size).sum(),
    };
    if let Some(f) = on_load {
        f(progress);
    }
    for (file, size) in files {
        let _step = paced(pace).await;
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
        progress.done += 1;
        progress.bytes += size;
        if let Some(f) = on_load {
            f(progress);
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
            // Its modification time is its last use, for `cache prune --older-than`.
            let _ = std::fs::File::options()
                .write(true)
                .open(&file)
                .and_then(|f| f.set_modified(std::time::SystemTime::now()));
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
