//! Where a check's client connects and as whom: a service's published port as this
//! process reaches it, or a tunnel opened from inside another container of the stack
//! (`via`), and the credentials the matrix configured for the service.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{ServiceTarget, Target};
use crate::matrix::Matrix;
pub(crate) use crate::stack::credentials::{Credentials, credentials};

/// The container port a check means: its own `port`, else the kind's default port, else
/// the service's first port in the matrix.
pub(crate) fn container_port(
    matrix: &Matrix,
    svc: &ServiceTarget,
    port: Option<u16>,
) -> Option<u16> {
    port.or(svc.kind.default_port()).or_else(|| {
        matrix
            .services
            .get(&svc.name)
            .and_then(|s| s.ports.first().copied())
    })
}

pub(crate) fn service<'a>(target: &'a Target, name: &str) -> Result<&'a ServiceTarget, String> {
    target
        .services
        .get(name)
        .ok_or_else(|| format!("service `{name}` is not part of this stack"))
}

/// An address this process connects to; holds the tunnel open while it lives.
pub(crate) struct Endpoint {
    pub addr: SocketAddr,
    /// `service:port` as seen from inside the stack (the HTTP Host header).
    pub authority: String,
    pub tunnel: Option<Tunnel>,
}

impl Endpoint {
    /// What the tunnel's far end said (e.g. "Connection refused"), for messages.
    pub fn tunnel_note(&self) -> String {
        match &self.tunnel {
            Some(t) => {
                let e = t.stderr();
                if e.is_empty() {
                    String::new()
                } else {
                    format!(" (from inside `{}`: {e})", t.from)
                }
            }
            None => String::new(),
        }
    }
}

/// Resolves where to reach `service` on `port`: directly at its published port, or
/// through a tunnel from inside the `via` service's container.
pub(crate) async fn endpoint(
    target: &Target,
    matrix: &Matrix,
    service_name: &str,
    port: Option<u16>,
    via: Option<&str>,
) -> Result<Endpoint, String> {
    let svc = service(target, service_name)?;
    let port = container_port(matrix, svc, port).ok_or_else(|| {
        format!("service `{service_name}` has no port to connect to; give the check a `port`")
    })?;
    let authority = format!("{service_name}:{port}");
    match via {
        None => {
            let addr = svc.ports.get(&port).copied().ok_or_else(|| {
                format!(
                    "port {port} of `{service_name}` is not published to dockmatrix; list it in the service's `ports`, or give the check `via = \"SERVICE\"`"
                )
            })?;
            Ok(Endpoint {
                addr,
                authority,
                tunnel: None,
            })
        }
        Some(from) => {
            let src = service(target, from)?;
            let tunnel = Tunnel::open(&target.docker, src, service_name, port)
                .await
                .map_err(|e| format!("cannot open a tunnel from `{from}`: {e}"))?;
            Ok(Endpoint {
                addr: tunnel.addr,
                authority,
                tunnel: Some(tunnel),
            })
        }
    }
}

/// A TCP forwarder: each connection to `addr` (on 127.0.0.1) becomes a connection opened
/// by bash's `/dev/tcp` inside a container of the stack, relayed over a Docker exec's
/// stdin/stdout. So a native client logs in *from* that container: its name resolution,
/// its network, its view of the service. Needs only bash and cat in the container.
pub(crate) struct Tunnel {
    pub addr: SocketAddr,
    pub from: String,
    stderr: Arc<Mutex<String>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Opens the connection (exit 97 when it cannot), then copies both ways until either
/// side closes. Stdin is saved on fd 4 first: a background job's stdin is /dev/null.
const RELAY: &str = r#"exec 3<>"/dev/tcp/$0/$1" || exit 97
exec 4<&0
cat <&3 &
reader=$!
cat <&4 >&3 &
writer=$!
wait -n
kill "$reader" "$writer" 2>/dev/null
exit 0"#;

impl Tunnel {
    pub async fn open(
        docker: &Docker,
        from: &ServiceTarget,
        host: &str,
        port: u16,
    ) -> Result<Tunnel, String> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| format!("cannot listen on 127.0.0.1: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("cannot listen on 127.0.0.1: {e}"))?;
        let stderr = Arc::new(Mutex::new(String::new()));
        let ctx = Arc::new(RelayCtx {
            docker: docker.clone(),
            container: from.container_id.clone(),
            host: host.to_string(),
            port,
            stderr: stderr.clone(),
        });
        let task = tokio::spawn(async move {
            let mut relays = tokio::task::JoinSet::new();
            while let Ok((sock, _)) = listener.accept().await {
                relays.spawn(relay(ctx.clone(), sock));
            }
        });
        Ok(Tunnel {
            addr,
            from: from.name.clone(),
            stderr,
            task,
        })
    }

    /// What the relay printed on stderr (bash's connect errors), trimmed.
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    }
}

struct RelayCtx {
    docker: Docker,
    container: String,
    host: String,
    port: u16,
    stderr: Arc<Mutex<String>>,
}

async fn relay(ctx: Arc<RelayCtx>, sock: TcpStream) {
    let note = |s: &str| {
        if let Ok(mut e) = ctx.stderr.lock()
            && e.len() < 4096
        {
            e.push_str(s);
        }
    };
    let exec = ctx
        .docker
        .create_exec(
            &ctx.container,
            CreateExecOptions {
                attach_stdin: Some(true),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                tty: Some(false),
                cmd: Some(vec![
                    "bash".to_string(),
                    "-c".to_string(),
                    RELAY.to_string(),
                    ctx.host.clone(),
                    ctx.port.to_string(),
                ]),
                ..Default::default()
            },
        )
        .await;
    let exec = match exec {
        Ok(e) => e,
        Err(e) => return note(&format!("cannot create the relay exec: {e}")),
    };
    let started = ctx
        .docker
        .start_exec(
            &exec.id,
            Some(StartExecOptions {
                detach: false,
                tty: false,
                output_capacity: Some(64 * 1024),
            }),
        )
        .await;
    let (mut output, mut input) = match started {
        Ok(StartExecResults::Attached { output, input }) => (output, input),
        Ok(StartExecResults::Detached) => return note("the relay exec detached"),
        Err(e) => {
            return note(&format!(
                "cannot start the relay exec (is bash in the image?): {e}"
            ));
        }
    };
    let (mut sock_r, mut sock_w) = sock.into_split();
    let upstream = async {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match sock_r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if input.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                    let _ = input.flush().await;
                }
            }
        }
        let _ = input.shutdown().await;
    };
    let downstream = async {
        while let Some(item) = output.next().await {
            match item {
                Ok(LogOutput::StdOut { message }) | Ok(LogOutput::Console { message }) => {
                    if sock_w.write_all(&message).await.is_err() {
                        break;
                    }
                }
                Ok(LogOutput::StdErr { message }) => note(&String::from_utf8_lossy(&message)),
                Ok(LogOutput::StdIn { .. }) => {}
                Err(e) => {
                    note(&format!("relay stream broke: {e}"));
                    break;
                }
            }
        }
        let _ = sock_w.shutdown().await;
    };
    // The client closing ends the exec (stdin reaches EOF), which ends the output; the
    // far end closing ends the exec too, and the client sees EOF.
    tokio::join!(upstream, downstream);
}
