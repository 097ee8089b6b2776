//! Small Docker helpers shared by every room that talks to Docker (engine, stack, checks):
//! reading bollard's errors, a container's last log lines. They sit here, below all of them.

use bollard::Docker;
use bollard::query_parameters::LogsOptions;
use futures_util::StreamExt;

/// 404 on removal means "already done".
pub fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// The last `n` lines of a container's output (stdout and stderr), secrets masked.
pub async fn container_log_tail(docker: &Docker, container: &str, n: usize) -> Vec<String> {
    let mut stream = docker.logs(
        container,
        Some(LogsOptions {
            stdout: true,
            stderr: true,
            tail: n.to_string(),
            ..Default::default()
        }),
    );
    let mut text = Vec::new();
    while let Some(Ok(chunk)) = stream.next().await {
        text.extend_from_slice(&chunk.into_bytes());
    }
    String::from_utf8_lossy(&text)
        .lines()
        .map(crate::secrets::mask_urls)
        .collect()
}
