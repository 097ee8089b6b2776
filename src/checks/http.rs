//! HTTP checks with hyper's HTTP/1 client: one request, then its status, a body
//! substring and JSON fields compared with what the check expects.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::conn;
use super::{Outcome, Target, show};
use crate::matrix::Matrix;
use crate::scenario::{HttpAction, HttpExpect, HttpRequest};

/// Bodies larger than this are an error: checks compare small answers.
const MAX_BODY: usize = 4 << 20;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A keep-alive HTTP/1 connection.
pub(crate) struct HttpConn {
    sender: SendRequest<Full<Bytes>>,
    authority: String,
}

#[derive(Debug)]
pub(crate) struct HttpResponse {
    pub status: u16,
    pub body: Bytes,
}

impl HttpConn {
    pub async fn connect(addr: SocketAddr, authority: &str) -> Result<HttpConn, String> {
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| {
                format!(
                    "no TCP answer from {addr} within {}s",
                    CONNECT_TIMEOUT.as_secs()
                )
            })?
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        let _ = stream.set_nodelay(true);
        HttpConn::over(stream, authority, &addr.to_string()).await
    }

    /// An HTTP/1 connection over an open stream (TCP, a unix socket); `shown` names the
    /// peer in errors.
    pub async fn over<S>(stream: S, authority: &str, shown: &str) -> Result<HttpConn, String>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake with {shown} failed: {e}"))?;
        tokio::spawn(connection);
        Ok(HttpConn {
            sender,
            authority: authority.to_string(),
        })
    }

    pub async fn send(&mut self, r: &HttpRequest) -> Result<HttpResponse, String> {
        let mut req = hyper::Request::builder()
            .method(r.method.as_str())
            .uri(r.path.as_str())
            .header(hyper::header::HOST, self.authority.as_str())
            .header(hyper::header::USER_AGENT, "dockmatrix");
        for (k, v) in &r.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let body = Full::new(Bytes::from(r.body.clone().unwrap_or_default()));
        let req = req
            .body(body)
            .map_err(|e| format!("bad request {} {}: {e}", r.method, r.path))?;
        self.sender
            .ready()
            .await
            .map_err(|e| format!("the connection closed: {e}"))?;
        let resp = self.sender.send_request(req).await.map_err(|e| {
            format!(
                "{} {} failed: {}",
                r.method,
                r.path,
                super::sql::error_chain(&e)
            )
        })?;
        let status = resp.status().as_u16();
        let body = Limited::new(resp.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| format!("cannot read the body of {} {}: {e}", r.method, r.path))?
            .to_bytes();
        Ok(HttpResponse { status, body })
    }
}

pub(crate) async fn connect_for(
    target: &Target,
    matrix: &Matrix,
    a: &HttpAction,
) -> Result<(HttpConn, conn::Endpoint), String> {
    let endpoint = conn::endpoint(target, matrix, &a.service, a.port, a.via.as_deref()).await?;
    match HttpConn::connect(endpoint.addr, &endpoint.authority).await {
        Ok(c) => Ok((c, endpoint)),
        Err(e) => Err(format!("{e}{}", endpoint.tunnel_note())),
    }
}

pub(crate) async fn run(a: &HttpAction, target: &Target, matrix: &Matrix) -> Outcome {
    let (mut c, endpoint) = match connect_for(target, matrix, a).await {
        Ok(x) => x,
        Err(e) => return Outcome::Error(e),
    };
    match c.send(&a.request).await {
        Ok(resp) => judge(&a.expect, &a.request, &resp),
        Err(e) => Outcome::Error(format!("{e}{}", endpoint.tunnel_note())),
    }
}

pub(crate) fn judge(expect: &HttpExpect, req: &HttpRequest, resp: &HttpResponse) -> Outcome {
    let what = format!("{} {}", req.method, req.path);
    let text = String::from_utf8_lossy(&resp.body);
    let body_note = || format!("; body: {}", show(&text, 200));
    let status_ok = match expect.status {
        Some(s) => resp.status == s,
        None => (200..300).contains(&resp.status),
    };
    if !status_ok {
        let want = expect
            .status
            .map_or("a 2xx status".to_string(), |s| format!("status {s}"));
        return Outcome::Fail(format!(
            "{what}: expected {want}, got {}{}",
            resp.status,
            body_note()
        ));
    }
    if let Some(sub) = &expect.body_contains
        && !text.contains(sub.as_str())
    {
        return Outcome::Fail(format!(
            "{what}: expected the body to contain {sub:?}, got {}",
            show(&text, 300)
        ));
    }
    if !expect.json.is_empty() {
        let json: serde_json::Value = match serde_json::from_slice(&resp.body) {
            Ok(j) => j,
            Err(e) => {
                return Outcome::Fail(format!("{what}: the body is not JSON ({e}){}", body_note()));
            }
        };
        for (path, want) in &expect.json {
            let pointer = json_pointer(path);
            match json.pointer(&pointer) {
                Some(got) if json_eq(got, want) => {}
                Some(got) => {
                    return Outcome::Fail(format!("{what}: expected {path} = {want}, got {got}"));
                }
                None => {
                    return Outcome::Fail(format!(
                        "{what}: expected {path} = {want}, but the body has no {path}{}",
                        body_note()
                    ));
                }
            }
        }
    }
    Outcome::Pass(format!("{what} → {}", resp.status))
}

/// `stores.postgres.status` → `/stores/postgres/status`; a path starting with `/` is a
/// JSON pointer already.
fn json_pointer(path: &str) -> String {
    if path.starts_with('/') {
        return path.to_string();
    }
    path.split('.')
        .map(|seg| format!("/{}", seg.replace('~', "~0").replace('/', "~1")))
        .collect()
}

/// Numbers compare by value (`1` = `1.0`); everything else exactly.
fn json_eq(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn get(path: &str) -> HttpRequest {
        HttpRequest {
            method: "GET".into(),
            path: path.into(),
            headers: vec![],
            body: None,
        }
    }

    fn resp(status: u16, body: &str) -> HttpResponse {
        HttpResponse {
            status,
            body: Bytes::from(body.to_string()),
        }
    }

    #[test]
    fn json_fields_by_dotted_path() {
        let body = r#"{"status":"up","stores":{"postgres":{"status":"up","n":1.0}},"a":[10,20]}"#;
        let expect = HttpExpect {
            json: vec![
                ("stores.postgres.status".into(), json!("up")),
                ("stores.postgres.n".into(), json!(1)),
                ("a.1".into(), json!(20)),
                ("/status".into(), json!("up")),
            ],
            ..HttpExpect::default()
        };
        assert!(matches!(
            judge(&expect, &get("/health"), &resp(200, body)),
            Outcome::Pass(_)
        ));
        let expect = HttpExpect {
            json: vec![("stores.redis.status".into(), json!("up"))],
            ..HttpExpect::default()
        };
        let Outcome::Fail(m) = judge(&expect, &get("/health"), &resp(200, body)) else {
            panic!("fails")
        };
        assert!(m.starts_with("GET /health: expected stores.redis.status = \"up\", but the body has no stores.redis.status"), "{m}");
    }

    #[test]
    fn status_defaults_to_2xx() {
        assert!(matches!(
            judge(&HttpExpect::default(), &get("/"), &resp(204, "")),
            Outcome::Pass(_)
        ));
        let Outcome::Fail(m) = judge(&HttpExpect::default(), &get("/x"), &resp(503, "down")) else {
            panic!("fails")
        };
        assert_eq!(m, "GET /x: expected a 2xx status, got 503; body: down");
        let e = HttpExpect {
            status: Some(404),
            body_contains: Some("not found".into()),
            ..HttpExpect::default()
        };
        assert!(matches!(
            judge(&e, &get("/x"), &resp(404, "item not found")),
            Outcome::Pass(_)
        ));
    }
}
