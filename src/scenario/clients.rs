//! Validation of the checks that speak to the cell's engine or run the team's own tests:
//! `docker-api` (a request with a pinned API version) and `command` (a program on this
//! machine with the cell in its environment).

use std::path::Path;

use toml::Spanned;

use super::raw::{RawCheck, RawDockerApi};
use super::{CommandAction, DockerApiAction, ExecExpect, HttpExpect, HttpRequest};
use crate::diagnostic::{Ctx, toml_key};

/// Whether `v` is an API version as Docker writes it: `N.M` (`1.41`, `1.44`).
pub fn is_api_version(v: &str) -> bool {
    match v.split_once('.') {
        Some((major, minor)) => {
            let digits =
                |s: &str| !s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit());
            digits(major) && digits(minor)
        }
        None => false,
    }
}

pub(super) fn docker_api(
    cx: &mut Ctx<'_>,
    raw: &Spanned<RawDockerApi>,
    expect: HttpExpect,
    key: &str,
) -> DockerApiAction {
    let d = raw.get_ref();
    let version = d
        .version
        .get_ref()
        .trim()
        .trim_start_matches('v')
        .to_string();
    if !is_api_version(&version) {
        cx.err(
            d.version.span(),
            format!("{key}.docker-api.version"),
            format!("`{}` is not an API version", d.version.get_ref()),
            "an API version is N.M, e.g. version = \"1.41\" (sent as /v1.41/…)",
        );
    }
    let method = d
        .method
        .as_ref()
        .map_or("GET".to_string(), |m| m.get_ref().to_ascii_uppercase());
    if (method.is_empty() || !method.chars().all(|c| c.is_ascii_alphabetic()))
        && let Some(m) = &d.method
    {
        cx.err(
            m.span(),
            format!("{key}.docker-api.method"),
            format!("`{}` is not an HTTP method", m.get_ref()),
            "e.g. method = \"GET\" or \"POST\"",
        );
    }
    let path = d.path.get_ref();
    if !path.starts_with('/') || path.starts_with("/v1.") {
        cx.err(
            d.path.span(),
            format!("{key}.docker-api.path"),
            format!("`{path}` is not an API path without its version"),
            "e.g. path = \"/containers/json\" (the version prefix comes from `version`)",
        );
    }
    let body = d.body.as_ref().map(|b| b.get_ref().clone());
    let headers = match &body {
        Some(_) => vec![("Content-Type".to_string(), "application/json".to_string())],
        None => Vec::new(),
    };
    DockerApiAction {
        version,
        request: HttpRequest {
            method,
            path: path.clone(),
            headers,
            body,
        },
        expect,
    }
}

pub(super) fn command(
    cx: &mut Ctx<'_>,
    c: &RawCheck,
    argv: &Spanned<Vec<super::raw::Str>>,
    expect: ExecExpect,
    key: &str,
) -> CommandAction {
    let args: Vec<String> = argv.get_ref().iter().map(|s| s.get_ref().clone()).collect();
    if args.first().is_none_or(|p| p.trim().is_empty()) {
        cx.err(
            argv.span(),
            format!("{key}.command"),
            "the command is empty",
            "command = [\"PROGRAM\", \"ARG\", …] (run on this machine, not in a container)",
        );
    }
    let base = cx.path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let dir = match &c.dir {
        Some(d) => {
            let resolved = base.join(d.get_ref());
            if !resolved.is_dir() {
                cx.err(
                    d.span(),
                    format!("{key}.dir"),
                    format!(
                        "`{}` is not a folder (looked for {})",
                        d.get_ref(),
                        resolved.display()
                    ),
                    "dir is relative to the scenario file",
                );
            }
            resolved
        }
        None => base,
    };
    let mut env = Vec::new();
    if let Some(e) = &c.env {
        for (k, v) in e.get_ref() {
            let value = match v.get_ref() {
                toml::Value::String(x) => x.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => {
                    cx.err(
                        v.span(),
                        format!("{key}.env.{}", toml_key(k.get_ref())),
                        format!("expected a string, found {}", other.type_str()),
                        "env values are strings",
                    );
                    continue;
                }
            };
            env.push((k.get_ref().clone(), value));
        }
    }
    let images = c
        .images
        .as_ref()
        .map(|i| i.get_ref().iter().map(|s| s.get_ref().clone()).collect())
        .unwrap_or_default();
    let junit = c
        .junit
        .as_ref()
        .map(|j| Path::new(j.get_ref()).to_path_buf());
    CommandAction {
        argv: args,
        dir,
        env,
        images,
        junit,
        expect,
    }
}
