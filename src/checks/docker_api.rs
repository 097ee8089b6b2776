//! `docker-api` checks: one request to the cell's engine as a client pinned to an API
//! version sends it (`GET /v1.41/containers/json`), with hyper's HTTP/1 client over the
//! engine's own address (a dind engine's private IP, a unix socket). What the engine
//! answers is quoted verbatim: its refusal ("client version 1.41 is too old…") is the
//! finding. Over a TLS endpoint the check is an error that says so: the engine's
//! certificates would need a second TLS stack beside bollard's.

use std::time::Duration;

use super::http::HttpConn;
use super::{Outcome, Target};
use crate::engine::EngineAddress;
use crate::scenario::DockerApiAction;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) async fn run(a: &DockerApiAction, target: &Target) -> Outcome {
    let mut conn = match connect(&target.engine).await {
        Ok(c) => c,
        Err(e) => return Outcome::Error(e),
    };
    let request = a.versioned();
    let resp = match conn.send(&request).await {
        Ok(r) => r,
        Err(e) => return Outcome::Error(e),
    };
    judge(
        a,
        &request,
        resp.status,
        &String::from_utf8_lossy(&resp.body),
    )
}

/// The verdict, with the engine's answer quoted as it came (its `message`, or the body).
fn judge(
    a: &DockerApiAction,
    request: &crate::scenario::HttpRequest,
    status: u16,
    body: &str,
) -> Outcome {
    let what = format!("{} {}", request.method, request.path);
    let answer = engine_words(body);
    let status_ok = match a.expect.status {
        Some(s) => status == s,
        None => (200..300).contains(&status),
    };
    let got = format!("the engine answered {status}: {answer}");
    if !status_ok {
        let want = a
            .expect
            .status
            .map_or("a 2xx status".to_string(), |s| format!("status {s}"));
        return Outcome::Fail(format!("{what}: expected {want}; {got}"));
    }
    if let Some(sub) = &a.expect.body_contains
        && !body.contains(sub.as_str())
    {
        return Outcome::Fail(format!(
            "{what}: expected the answer to contain {sub:?}; {got}"
        ));
    }
    // A pass needs no quote of the answer (a container list can be long).
    Outcome::Pass(format!(
        "{what}: the engine answered {status} ({} bytes)",
        body.len()
    ))
}

/// The engine's error message (`{"message": "…"}`) as it wrote it, else the body's start.
fn engine_words(body: &str) -> String {
    let message = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|j| {
            j.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        });
    match message {
        Some(m) => format!("\"{m}\""),
        None if body.trim().is_empty() => "(empty body)".to_string(),
        None => {
            let t = body.trim();
            if t.chars().count() > 300 {
                format!(
                    "{}… ({} bytes)",
                    t.chars().take(300).collect::<String>(),
                    body.len()
                )
            } else {
                t.to_string()
            }
        }
    }
}

async fn connect(address: &EngineAddress) -> Result<HttpConn, String> {
    match address {
        EngineAddress::Unix(path) => {
            let shown = path.display().to_string();
            let stream =
                tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::UnixStream::connect(path))
                    .await
                    .map_err(|_| format!("no answer from the engine's socket {shown}"))?
                    .map_err(|e| format!("cannot connect to the engine's socket {shown}: {e}"))?;
            HttpConn::over(stream, "docker", &shown).await
        }
        EngineAddress::Tcp { tls: Some(_), url } => Err(format!(
            "docker-api checks do not speak TLS yet: the engine at {} is a TLS endpoint",
            crate::secrets::mask_url(url)
        )),
        EngineAddress::Tcp { url, tls: None } => {
            let hostport = url.trim_start_matches("tcp://").trim_end_matches('/');
            let stream =
                tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(hostport))
                    .await
                    .map_err(|_| format!("no TCP answer from the engine at {hostport}"))?
                    .map_err(|e| format!("cannot connect to the engine at {hostport}: {e}"))?;
            HttpConn::over(stream, hostport, hostport).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{HttpExpect, HttpRequest};

    fn action(status: Option<u16>, contains: Option<&str>) -> DockerApiAction {
        DockerApiAction {
            version: "1.41".into(),
            request: HttpRequest {
                method: "GET".into(),
                path: "/containers/json".into(),
                headers: vec![],
                body: None,
            },
            expect: HttpExpect {
                status,
                body_contains: contains.map(str::to_string),
                json: vec![],
            },
        }
    }

    #[test]
    fn the_engines_refusal_is_quoted_verbatim() {
        let a = action(Some(200), None);
        let body = r#"{"message":"client version 1.41 is too old. Minimum supported API version is 1.44, please upgrade your client to a newer version"}"#;
        let Outcome::Fail(m) = judge(&a, &a.versioned(), 400, body) else {
            panic!("a 400 where 200 is expected fails");
        };
        assert!(m.starts_with("GET /v1.41/containers/json: expected status 200; the engine answered 400: \"client version 1.41 is too old. Minimum supported API version is 1.44, please upgrade your client to a newer version\""), "{m}");
        let a = action(Some(400), Some("too old"));
        assert!(matches!(
            judge(&a, &a.versioned(), 400, body),
            Outcome::Pass(_)
        ));
    }
}
