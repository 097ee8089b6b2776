//! Readiness by a real handshake: PostgreSQL startup + `SELECT 1`, MySQL/MariaDB
//! handshake + `SELECT 1`, Redis `PING`, an HTTP status, a TCP connect, a log line or an
//! exec command; polled from 50 ms doubling to 1 s, until the service's timeout.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bollard::Docker;
use indexmap::IndexMap;

use super::credentials::{self, Credentials};
use super::{RunningService, StackError};
use crate::matrix::{Ready, ServiceKind, ServiceSpec};

/// How long one probe may take before it counts as "not yet".
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Container ports to publish: the declared ones, the kind's default and the ready port.
pub fn ports_to_publish(spec: &ServiceSpec) -> Vec<u16> {
    let mut ports = spec.ports.clone();
    let extra = [
        spec.kind.default_port(),
        match &spec.ready {
            Ready::Http { port, .. } | Ready::Tcp { port } => Some(*port),
            _ => None,
        },
    ];
    for p in extra.into_iter().flatten() {
        if !ports.contains(&p) {
            ports.push(p);
        }
    }
    ports
}

/// Login details from a service's env, read exactly as the checks read them.
fn credentials(kind: ServiceKind, env: &IndexMap<String, String>) -> Credentials {
    credentials::credentials(kind, env, None, None, None)
}

/// Waits until `svc` answers its probe, or fails with its last log lines' cause. The
/// published ports are read again on every poll (a restarted container gets new ones);
/// `svc.ports` holds the ones that answered.
/// How long a restarted engine may take to bring a container with a restart policy back.
pub const RESTART_GRACE: Duration = Duration::from_secs(60);

/// Waits until the engine runs the container again (after the engine restarted), up to
/// [`RESTART_GRACE`]; the error says what state it stayed in.
pub async fn wait_running(docker: &Docker, container: &str) -> Result<(), String> {
    let started = Instant::now();
    let mut delay = Duration::from_millis(100);
    loop {
        let state = match docker.inspect_container(container, None).await {
            Ok(i) => i.state.unwrap_or_default(),
            Err(e) if crate::engine::is_not_found(&e) => {
                return Err("its container does not exist on this engine".into());
            }
            Err(e) => return Err(format!("inspecting its container failed: {e}")),
        };
        if state.running.unwrap_or(false) {
            return Ok(());
        }
        if started.elapsed() > RESTART_GRACE {
            let status = state
                .status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "unknown".into());
            return Err(format!(
                "its container is not running again after {}s (state {status}, exit code {})",
                RESTART_GRACE.as_secs(),
                state.exit_code.unwrap_or_default()
            ));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(1));
    }
}

pub async fn wait(
    docker: &Docker,
    svc: &mut RunningService,
    publish_ip: std::net::IpAddr,
) -> Result<(), StackError> {
    let started = Instant::now();
    let timeout = svc.spec.ready_timeout;
    let mut delay = Duration::from_millis(50);
    let mut last;
    loop {
        let inspect = docker.inspect_container(&svc.container_id, None).await.ok();
        if let Some(i) = &inspect {
            let ports = super::published_ports(i, publish_ip);
            if !ports.is_empty() {
                svc.ports = ports;
            }
        }
        if let Some(state) = inspect.as_ref().and_then(|i| i.state.as_ref()) {
            let running = state.running.unwrap_or(false);
            let restarting = state.restarting.unwrap_or(false);
            if !running && !restarting {
                if state.oom_killed.unwrap_or(false) {
                    return Err(StackError::OomKilled {
                        service: svc.name.clone(),
                        limit: svc
                            .spec
                            .memory
                            .map_or("none".into(), |m| format!("{} MiB", m >> 20)),
                    });
                }
                return Err(StackError::Exited {
                    service: svc.name.clone(),
                    code: state.exit_code.unwrap_or_default(),
                });
            }
        }
        match tokio::time::timeout(PROBE_TIMEOUT, probe(docker, svc)).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => last = e,
            Err(_) => last = format!("the probe took longer than {}s", PROBE_TIMEOUT.as_secs()),
        }
        if started.elapsed() >= timeout {
            return Err(StackError::NotReady {
                service: svc.name.clone(),
                waited: timeout,
                last: crate::secrets::mask_urls(&last),
            });
        }
        tokio::time::sleep(delay.min(timeout.saturating_sub(started.elapsed()))).await;
        delay = (delay * 2).min(Duration::from_secs(1));
    }
}

fn addr_of(svc: &RunningService, port: u16) -> Result<SocketAddr, String> {
    svc.ports
        .get(&port)
        .copied()
        .ok_or_else(|| format!("container port {port} is not published"))
}

async fn probe(docker: &Docker, svc: &RunningService) -> Result<(), String> {
    match &svc.spec.ready {
        Ready::Protocol => match svc.spec.kind {
            ServiceKind::Postgres => {
                postgres_select_1(addr_of(svc, 5432)?, &credentials(svc.spec.kind, &svc.env)).await
            }
            ServiceKind::Mysql => {
                mysql_select_1(addr_of(svc, 3306)?, &credentials(svc.spec.kind, &svc.env)).await
            }
            ServiceKind::Redis => {
                redis_ping(addr_of(svc, 6379)?, &credentials(svc.spec.kind, &svc.env)).await
            }
            ServiceKind::Http | ServiceKind::Generic => match svc.spec.ports.first() {
                Some(p) => tcp_connect(addr_of(svc, *p)?).await,
                None => Ok(()), // running is all we can know
            },
        },
        Ready::Http { path, port, status } => {
            let (got, _) = http_get(addr_of(svc, *port)?, path).await?;
            match status {
                Some(want) if got == *want => Ok(()),
                Some(want) => Err(format!("GET {path} answered {got}, waiting for {want}")),
                None if (200..300).contains(&got) => Ok(()),
                None => Err(format!("GET {path} answered {got}")),
            }
        }
        Ready::Tcp { port } => tcp_connect(addr_of(svc, *port)?).await,
        Ready::Log { pattern } => {
            let lines = crate::engine::container_log_tail(docker, &svc.container_id, 2000).await;
            if lines.iter().any(|l| l.contains(pattern.as_str())) {
                Ok(())
            } else {
                Err(format!("the log has no line with `{pattern}` yet"))
            }
        }
        Ready::Exec { command } => {
            let out = super::exec::run_in(docker, &svc.container_id, command, None).await?;
            let code = out.exit_code;
            if code == 0 {
                Ok(())
            } else {
                Err(format!(
                    "`{}` exited {code}: {}",
                    command.join(" "),
                    out.combined().trim()
                ))
            }
        }
    }
}

/// A TCP connect that is not fooled by Docker's userland proxy: the proxy accepts on the
/// published port whether or not the container listens, then closes at once when its own
/// connect is refused. So a connection counts only if it stays open (or the server
/// speaks) for a moment.
pub async fn tcp_connect(addr: SocketAddr) -> Result<(), String> {
    use tokio::io::AsyncReadExt;
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("TCP connect to {addr}: {e}"))?;
    let mut buf = [0u8; 1];
    match tokio::time::timeout(Duration::from_millis(300), stream.read(&mut buf)).await {
        Err(_) | Ok(Ok(1..)) => Ok(()),
        Ok(Ok(0)) => Err(format!(
            "TCP {addr}: accepted, then closed at once (nothing listens behind the published port)"
        )),
        Ok(Err(e)) => Err(format!("TCP {addr}: {e}")),
    }
}

pub(crate) async fn postgres_select_1(addr: SocketAddr, c: &Credentials) -> Result<(), String> {
    let mut cfg = tokio_postgres::Config::new();
    cfg.host(addr.ip().to_string())
        .port(addr.port())
        .user(&c.user)
        .connect_timeout(PROBE_TIMEOUT);
    if let Some(pw) = &c.password {
        cfg.password(pw);
    }
    if let Some(db) = &c.database {
        cfg.dbname(db);
    }
    let (client, conn) = cfg
        .connect(tokio_postgres::NoTls)
        .await
        .map_err(|e| format!("PostgreSQL: {e}"))?;
    let task = tokio::spawn(conn);
    let r = client
        .query_one("SELECT 1", &[])
        .await
        .map(drop)
        .map_err(|e| format!("PostgreSQL SELECT 1: {e}"));
    drop(client);
    task.abort();
    r
}

pub(crate) async fn mysql_select_1(addr: SocketAddr, c: &Credentials) -> Result<(), String> {
    use mysql_async::prelude::Queryable;
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(addr.ip().to_string())
        .tcp_port(addr.port())
        .user(Some(c.user.clone()))
        .pass(c.password.clone())
        .db_name(c.database.clone())
        .prefer_socket(false);
    let mut conn = mysql_async::Conn::new(opts)
        .await
        .map_err(|e| format!("MySQL: {e}"))?;
    let r = conn
        .query_drop("SELECT 1")
        .await
        .map_err(|e| format!("MySQL SELECT 1: {e}"));
    let _ = conn.disconnect().await;
    r
}

pub(crate) async fn redis_ping(addr: SocketAddr, c: &Credentials) -> Result<(), String> {
    use redis::IntoConnectionInfo;
    let info = redis::ConnectionAddr::Tcp(addr.ip().to_string(), addr.port())
        .into_connection_info()
        .map_err(|e| format!("Redis: {e}"))?;
    let info = match &c.password {
        Some(pw) => {
            info.set_redis_settings(redis::RedisConnectionInfo::default().set_password(pw.clone()))
        }
        None => info,
    };
    let client = redis::Client::open(info).map_err(|e| format!("Redis: {e}"))?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| format!("Redis: {e}"))?;
    let pong: String = redis::cmd("PING")
        .query_async(&mut conn)
        .await
        .map_err(|e| format!("Redis PING: {e}"))?;
    if pong == "PONG" {
        Ok(())
    } else {
        Err(format!("Redis PING answered {pong}"))
    }
}

/// A minimal HTTP/1.1 GET: status and body (lossy UTF-8).
pub async fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    use http_body_util::{BodyExt, Empty};
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("HTTP connect to {addr}: {e}"))?;
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Empty<bytes::Bytes>>(io)
        .await
        .map_err(|e| format!("HTTP handshake: {e}"))?;
    let task = tokio::spawn(conn);
    let req = hyper::Request::get(path)
        .header("host", addr.to_string())
        .body(Empty::new())
        .map_err(|e| format!("HTTP request: {e}"))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("HTTP GET {path}: {e}"))?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("HTTP body: {e}"))?
        .to_bytes();
    task.abort();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}
