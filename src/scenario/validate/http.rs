//! `http` checks: the request (method, path, headers, body), perf setup requests, and
//! what they expect: a status, a body fragment, JSON values (also what a `docker-api`
//! check expects).

use toml::Spanned;

use super::check::Refs;
use super::foreign_expectations;
use crate::diagnostic::Ctx;
use crate::scenario::raw::{RawCheck, RawExpect, RawHttp};
use crate::scenario::{Action, HttpAction, HttpExpect, HttpRequest, ServiceRole};

/// An `http` check's action.
pub(super) fn action(
    cx: &mut Ctx<'_>,
    c: &RawCheck,
    key: &str,
    refs: &mut Refs<'_>,
    port: Option<u16>,
) -> Action {
    let service = refs.service(cx, c.service.as_ref(), "service", ServiceRole::Target, true);
    let via = refs.service(cx, c.via.as_ref(), "via", ServiceRole::Source, false);
    let request = c
        .http
        .as_ref()
        .map(|h| http_request(cx, h.get_ref(), &format!("{key}.http")));
    let setup = c
        .setup
        .as_ref()
        .map(|s| http_setup(cx, s, &format!("{key}.setup")))
        .unwrap_or_default();
    let expect = http_expect(cx, c.expect.as_ref(), key);
    Action::Http(HttpAction {
        service: service.unwrap_or_default(),
        via,
        port,
        request: request.unwrap_or_else(|| HttpRequest {
            method: "GET".into(),
            path: "/".into(),
            headers: vec![],
            body: None,
        }),
        setup,
        expect,
    })
}

fn http_request(cx: &mut Ctx<'_>, h: &RawHttp, key: &str) -> HttpRequest {
    let method = h
        .method
        .as_ref()
        .map_or("GET".to_string(), |m| m.get_ref().to_ascii_uppercase());
    if (!method.chars().all(|c| c.is_ascii_alphabetic()) || method.is_empty())
        && let Some(m) = &h.method
    {
        cx.err(
            m.span(),
            format!("{key}.method"),
            format!("`{}` is not an HTTP method", m.get_ref()),
            "e.g. method = \"GET\", \"PUT\" or \"POST\"",
        );
    }
    if !h.path.get_ref().starts_with('/') {
        cx.err(
            h.path.span(),
            format!("{key}.path"),
            "the path must start with `/`",
            "e.g. path = \"/health\"",
        );
    }
    let mut headers = Vec::new();
    for (k, v) in &h.headers {
        let ok_name = !k.get_ref().is_empty()
            && k.get_ref()
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b':');
        if !ok_name {
            cx.err(
                k.span(),
                format!("{key}.headers"),
                format!("`{}` is not a header name", k.get_ref()),
                "header names are visible ASCII without `:`",
            );
        }
        if v.get_ref().contains(['\r', '\n']) {
            cx.err(
                v.span(),
                format!("{key}.headers.{}", k.get_ref()),
                "a header value cannot hold a line break",
                "remove the line break",
            );
        }
        headers.push((k.get_ref().clone(), v.get_ref().clone()));
    }
    HttpRequest {
        method,
        path: h.path.get_ref().clone(),
        headers,
        body: h.body.as_ref().map(|b| b.get_ref().clone()),
    }
}

fn http_setup(cx: &mut Ctx<'_>, v: &Spanned<toml::Value>, key: &str) -> Vec<HttpRequest> {
    let toml::Value::Array(items) = v.get_ref() else {
        cx.err(
            v.span(),
            key,
            "expected a list of requests",
            "setup = [{ method = \"PUT\", path = \"/items/k\", body = \"v\" }]",
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match item.clone().try_into::<RawHttpPlain>() {
            Ok(r) => out.push(HttpRequest {
                method: r
                    .method
                    .unwrap_or_else(|| "GET".into())
                    .to_ascii_uppercase(),
                path: r.path,
                headers: r.headers.into_iter().collect(),
                body: r.body,
            }),
            Err(e) => cx.err(
                v.span(),
                format!("{key}[{i}]"),
                format!("bad request: {}", e.message()),
                "each request is { method = \"…\", path = \"/…\", headers = {…}, body = \"…\" }",
            ),
        }
    }
    out
}

/// An HTTP request inside `setup` (no spans: toml::Value has lost them).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttpPlain {
    method: Option<String>,
    path: String,
    #[serde(default)]
    headers: indexmap::IndexMap<String, String>,
    body: Option<String>,
}

pub(super) fn http_expect(
    cx: &mut Ctx<'_>,
    e: Option<&Spanned<RawExpect>>,
    key: &str,
) -> HttpExpect {
    let Some(e) = e else {
        return HttpExpect::default();
    };
    let e = e.get_ref();
    foreign_expectations(cx, e, key, "http", &["status", "body-contains", "json"]);
    let mut out = HttpExpect::default();
    if let Some(s) = &e.status {
        match u16::try_from(*s.get_ref()) {
            Ok(v) if (100..=599).contains(&v) => out.status = Some(v),
            _ => cx.err(
                s.span(),
                format!("{key}.expect.status"),
                format!("{} is not an HTTP status", s.get_ref()),
                "a status between 100 and 599",
            ),
        }
    }
    out.body_contains = e.body_contains.as_ref().map(|b| b.get_ref().clone());
    if let Some(j) = &e.json {
        for (k, v) in j.get_ref() {
            match serde_json::to_value(v.get_ref()) {
                Ok(json) => out.json.push((k.get_ref().clone(), json)),
                Err(err) => cx.err(
                    v.span(),
                    format!("{key}.expect.json.{}", k.get_ref()),
                    format!("cannot be compared with JSON: {err}"),
                    "give a string, number, boolean, array or table",
                ),
            }
        }
    }
    out
}
