//! Reachability checks: from inside a container of the stack (or from dockmatrix's own
//! process, to the published port), a service's name resolves, its port accepts TCP, and
//! the credentials the matrix configured log in. Inside a container this needs only
//! what a Debian minbase image has: `getent`, bash's `/dev/tcp`, `timeout`.

use std::net::SocketAddr;
use std::time::Duration;

use super::conn::{self, Tunnel};
use super::sql::SqlConn;
use super::{Outcome, ServiceTarget, Target, show};
use crate::matrix::{Matrix, ServiceKind};
use crate::scenario::ReachAction;
use crate::stack::exec::run_in;

const TCP_TIMEOUT_SECS: u64 = 5;

pub(crate) async fn run(a: &ReachAction, target: &Target, matrix: &Matrix) -> Outcome {
    let to = match conn::service(target, &a.to) {
        Ok(s) => s,
        Err(e) => return Outcome::Error(e),
    };
    let Some(port) = conn::container_port(matrix, to, a.port) else {
        return Outcome::Error(format!("service `{}` has no port to reach", a.to));
    };
    let login = a.login.unwrap_or(matches!(
        to.kind,
        ServiceKind::Postgres | ServiceKind::Mysql | ServiceKind::Redis
    ));
    let mut done = Vec::new();
    match &a.from {
        Some(from_name) => {
            let from = match conn::service(target, from_name) {
                Ok(s) => s,
                Err(e) => return Outcome::Error(e),
            };
            let route = format!("`{from_name}` → {}:{port}", a.to);
            // Name resolution, with the container's own resolver.
            let cmd = ["getent".to_string(), "hosts".to_string(), a.to.clone()];
            match run_in(&target.docker, &from.container_id, &cmd, None).await {
                Err(e) => return Outcome::Error(format!("{route}: {e}")),
                Ok(o) if o.exit_code != 0 => {
                    return Outcome::Fail(format!(
                        "{route}: the name `{}` does not resolve inside `{from_name}` (getent hosts exited {}{})",
                        a.to,
                        o.exit_code,
                        note(&o.combined())
                    ));
                }
                Ok(o) => {
                    let ips: Vec<&str> = o
                        .stdout
                        .lines()
                        .filter_map(|l| l.split_whitespace().next())
                        .collect();
                    done.push(format!("resolves to {}", ips.join(", ")));
                }
            }
            // TCP, from the container's network namespace.
            let cmd = [
                "timeout".to_string(),
                TCP_TIMEOUT_SECS.to_string(),
                "bash".to_string(),
                "-c".to_string(),
                r#"exec 3<>"/dev/tcp/$0/$1""#.to_string(),
                a.to.clone(),
                port.to_string(),
            ];
            match run_in(&target.docker, &from.container_id, &cmd, None).await {
                Err(e) => return Outcome::Error(format!("{route}: {e}")),
                Ok(o) if o.exit_code == 124 => {
                    return Outcome::Fail(format!(
                        "{route}: resolves, but TCP connect got no answer within {TCP_TIMEOUT_SECS}s"
                    ));
                }
                Ok(o) if o.exit_code != 0 => {
                    return Outcome::Fail(format!(
                        "{route}: resolves, but TCP connect failed (exit {}{})",
                        o.exit_code,
                        note(&o.combined())
                    ));
                }
                Ok(_) => done.push("accepts TCP".into()),
            }
            if login {
                let tunnel = match Tunnel::open(&target.docker, from, &a.to, port).await {
                    Ok(t) => t,
                    Err(e) => return Outcome::Error(format!("{route}: {e}")),
                };
                match log_in(to, tunnel.addr).await {
                    Ok(how) => done.push(how),
                    Err(e) => {
                        let far = tunnel.stderr();
                        let far = if far.is_empty() {
                            String::new()
                        } else {
                            format!(" ({far})")
                        };
                        return Outcome::Fail(format!(
                            "{route}: resolves and accepts TCP, but {e}{far}"
                        ));
                    }
                }
            }
            Outcome::Pass(format!("{route}: {}", done.join(", ")))
        }
        None => {
            let route = format!("dockmatrix → {}:{port}", a.to);
            let Some(addr) = to.ports.get(&port).copied() else {
                return Outcome::Fail(format!(
                    "{route}: port {port} is not published (published: {})",
                    published(to)
                ));
            };
            let connect = tokio::net::TcpStream::connect(addr);
            match tokio::time::timeout(Duration::from_secs(TCP_TIMEOUT_SECS), connect).await {
                Err(_) => {
                    return Outcome::Fail(format!(
                        "{route}: the published port {addr} gave no answer within {TCP_TIMEOUT_SECS}s"
                    ));
                }
                Ok(Err(e)) => {
                    return Outcome::Fail(format!(
                        "{route}: the published port {addr} refused: {e}"
                    ));
                }
                Ok(Ok(_)) => done.push(format!("published at {addr} accepts TCP")),
            }
            if login {
                match log_in(to, addr).await {
                    Ok(how) => done.push(how),
                    Err(e) => return Outcome::Fail(format!("{route}: accepts TCP, but {e}")),
                }
            }
            Outcome::Pass(format!("{route}: {}", done.join(", ")))
        }
    }
}

/// Logs in with the service's configured credentials and runs the kind's no-op.
async fn log_in(to: &ServiceTarget, addr: SocketAddr) -> Result<String, String> {
    let creds = conn::credentials(to.kind, &to.env, None, None, None);
    match to.kind {
        ServiceKind::Postgres | ServiceKind::Mysql => {
            let mut c = SqlConn::connect(to.kind, addr, &creds)
                .await
                .map_err(|e| format!("login as `{}` failed: {e}", creds.user))?;
            let r = c.query("SELECT 1").await;
            c.close().await;
            r.map_err(|e| format!("logged in as `{}`, but SELECT 1 failed: {e}", creds.user))?;
            Ok(format!("logs in as `{}`", creds.user))
        }
        ServiceKind::Redis => {
            let mut c = super::redis::connect(addr, &creds)
                .await
                .map_err(|e| format!("connecting failed: {e}"))?;
            match super::redis::send(&mut c, &["PING".to_string()]).await {
                Ok(super::redis::Got::Str(s)) if s == "PONG" => Ok(if creds.password.is_some() {
                    "authenticates and answers PING".into()
                } else {
                    "answers PING".into()
                }),
                Ok(other) => Err(format!("PING got {other}")),
                Err(e) => Err(format!("PING failed: {e}")),
            }
        }
        ServiceKind::Http | ServiceKind::Generic => Ok(String::new()),
    }
}

fn published(s: &ServiceTarget) -> String {
    if s.ports.is_empty() {
        "none".into()
    } else {
        s.ports
            .keys()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn note(output: &str) -> String {
    let t = output.trim();
    if t.is_empty() {
        String::new()
    } else {
        format!(": {}", show(t, 200))
    }
}
