//! Getting images into an engine without an internet registry.
//!
//! Why streaming `docker save` → `docker load` rather than a local registry: measured on
//! these machines (DESIGN.md), a registry must first be filled (16 s for a 234 MB
//! PostgreSQL image) before any engine can pull, and then two engines pulled concurrently
//! in 9–11 s; save→load of the same image took ~16.7 s to one engine with no fill step and
//! no extra daemon. Streaming all the images an engine needs in *one* save keeps shared
//! Debian base layers crossing once, and starts moving bytes as soon as the engine
//! answers, overlapping with other engines' cells. For the demo's 2–3 cells per engine,
//! the registry's fill cost is never repaid. A user with a registry sets `pull`.

use std::collections::{BTreeMap, HashMap};

use bollard::Docker;
use bollard::query_parameters::{CreateImageOptions, ImportImageOptions};
use futures_util::StreamExt;

use crate::matrix::PullPolicy;
use crate::results::ImageRecord;

/// The outcome of making a set of images available on an engine: per image, its record
/// or why it is missing.
pub type Loaded = HashMap<String, Result<ImageRecord, String>>;

/// Makes `images` available on `target`, taking them from `host` (the local engine)
/// where the policy allows. Each image's bytes cross at most once: one save stream for all
/// images the engine lacks.
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
                    out.insert(image.clone(), Err(format!("image `{image}` is not on the engine and pulling it failed: {e}")));
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
            out.insert(image.clone(), Err(format!("loading `{image}` into the engine failed: {e}")));
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
            Err(e) => Err(format!("image `{image}` is not on the engine after loading: {e}")),
        };
        out.insert(image.clone(), record);
    }
    out
}

/// Streams `docker save IMAGES` from `host` into `docker load` on `target`.
async fn transfer(host: &Docker, target: &Docker, images: &[String]) -> Result<(), String> {
    let refs: Vec<&str> = images.iter().map(String::as_str).collect();
    let stream = host.export_images(&refs);
    let mut load = target.import_image_stream(ImportImageOptions { quiet: true, ..Default::default() }, stream, None);
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
    Ok(())
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
