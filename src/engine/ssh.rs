//! How an `ssh://` host engine is reached: as the docker CLI's connection helper does
//! (`cli/connhelper`), each connection is an `ssh` child running `docker system
//! dial-stdio` on the far side, its stdin and stdout carrying the API's HTTP.
//!
//! Why not bollard's own ssh transport: it hands `user@host:port` to `ssh` as one
//! destination, so a port in `DOCKER_HOST` became part of the host name ("Could not
//! resolve hostname 127.0.0.1:2222"), and it leaves `ControlPersist` masters running
//! after the process ends. Here the port and user go to `ssh` as `-p` and `-l`, the child
//! is killed with its connection, and what `ssh` says on stderr becomes the error.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bollard::{BollardRequest, Docker};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, Join};
use tokio::process::{Child, ChildStdin, ChildStdout};

/// A client of the engine behind `ssh [-l user] [-p port] host`.
pub fn connect(
    user: Option<&str>,
    host: &str,
    port: Option<u16>,
    timeout_secs: u64,
) -> Result<Docker, bollard::errors::Error> {
    let args = ssh_args(user, host, port);
    let said = Arc::new(Mutex::new(String::new()));
    let connector = Dialer {
        args: Arc::new(args),
        said: said.clone(),
    };
    let client = Client::builder(TokioExecutor::new()).build(connector);
    Docker::connect_with_custom_transport(
        move |req: BollardRequest| {
            let client = client.clone();
            let said = said.clone();
            async move {
                match client.request(req).await {
                    Ok(r) => Ok(r),
                    Err(e) => Err(explained(e, &said).await),
                }
            }
        },
        // The docker CLI's placeholder host for connection helpers: the request goes
        // wherever the child takes it.
        Some("http://docker.example.com"),
        timeout_secs,
        bollard::API_DEFAULT_VERSION,
    )
}

/// `ssh`'s arguments: the user and port as options (never inside the destination, where
/// ssh would read `host:port` as a host name), `--` so that a host is never an option.
fn ssh_args(user: Option<&str>, host: &str, port: Option<u16>) -> Vec<String> {
    let mut args: Vec<String> = vec!["-o".into(), "BatchMode=yes".into()];
    if let Some(u) = user {
        args.extend(["-l".into(), u.to_string()]);
    }
    if let Some(p) = port {
        args.extend(["-p".into(), p.to_string()]);
    }
    args.extend(["--".into(), host.to_string()]);
    args.extend(["docker", "system", "dial-stdio"].map(String::from));
    args
}

/// The request's error, or what `ssh` said on stderr when it said something: "connect
/// to host 127.0.0.1 port 2222: Connection refused" tells more than "connection closed".
async fn explained(
    err: hyper_util::client::legacy::Error,
    said: &Mutex<String>,
) -> bollard::errors::Error {
    // ssh has exited (its stdout closed); give its stderr reader a moment to finish.
    for _ in 0..20 {
        if said.lock().is_ok_and(|s| !s.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let text = said
        .lock()
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    if text.is_empty() {
        return err.into();
    }
    bollard::errors::Error::IOError {
        err: io::Error::other(format!("`ssh` says: {text}")),
    }
}

/// Starts one `ssh` child per connection.
#[derive(Clone)]
struct Dialer {
    args: Arc<Vec<String>>,
    /// The last stderr of an `ssh` child, for [`explained`].
    said: Arc<Mutex<String>>,
}

impl tower_service::Service<hyper::Uri> for Dialer {
    type Response = SshStream;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<SshStream>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: hyper::Uri) -> Self::Future {
        let args = self.args.clone();
        let said = self.said.clone();
        Box::pin(async move {
            let mut child = tokio::process::Command::new("ssh")
                .args(args.iter())
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| io::Error::new(e.kind(), format!("cannot run `ssh`: {e}")))?;
            let (Some(stdin), Some(stdout), Some(mut stderr)) =
                (child.stdin.take(), child.stdout.take(), child.stderr.take())
            else {
                return Err(io::Error::other("ssh started without its pipes"));
            };
            tokio::spawn(async move {
                let mut text = String::new();
                let _ = stderr.read_to_string(&mut text).await;
                if !text.trim().is_empty()
                    && let Ok(mut s) = said.lock()
                {
                    *s = text;
                }
            });
            Ok(SshStream {
                _child: child,
                io: TokioIo::new(tokio::io::join(stdout, stdin)),
            })
        })
    }
}

/// One connection: the child's stdout to read, its stdin to write; the child dies with it.
struct SshStream {
    _child: Child,
    io: TokioIo<Join<ChildStdout, ChildStdin>>,
}

impl Connection for SshStream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for SshStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for SshStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_and_user_are_options_and_the_host_comes_after_the_separator() {
        assert_eq!(
            ssh_args(Some("qa"), "10.0.0.5", Some(2222)).join(" "),
            "-o BatchMode=yes -l qa -p 2222 -- 10.0.0.5 docker system dial-stdio"
        );
        assert_eq!(
            ssh_args(None, "-oProxyCommand=x", None).join(" "),
            "-o BatchMode=yes -- -oProxyCommand=x docker system dial-stdio"
        );
    }
}
