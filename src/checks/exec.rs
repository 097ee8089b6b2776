//! Exec checks: a command run in a service's container through the engine's exec API,
//! its exit code and output compared with what the check expects. Reachability checks
//! use the same helper to run `getent` and bash's `/dev/tcp` inside a container.

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use futures_util::StreamExt;

use super::{Outcome, Target, conn, show, show_argv};
use crate::scenario::ExecAction;

/// Output kept per stream: enough for any pattern a check looks for.
const MAX_OUTPUT: usize = 1 << 20;

#[derive(Debug, Default)]
pub(crate) struct ExecOutput {
    pub exit_code: i64,
    pub stdout: String,
    pub stderr: String,
}

impl ExecOutput {
    /// stdout then stderr, for patterns and messages.
    pub fn combined(&self) -> String {
        match (self.stdout.is_empty(), self.stderr.is_empty()) {
            (_, true) => self.stdout.clone(),
            (true, false) => self.stderr.clone(),
            (false, false) => format!("{}\n{}", self.stdout, self.stderr),
        }
    }
}

/// Runs `cmd` in `container` and waits for it to end.
pub(crate) async fn run_in(
    docker: &Docker,
    container: &str,
    cmd: &[String],
    user: Option<&str>,
) -> Result<ExecOutput, String> {
    let exec = docker
        .create_exec(
            container,
            CreateExecOptions {
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                tty: Some(false),
                cmd: Some(cmd.to_vec()),
                user: user.map(str::to_string),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| format!("failed to create the exec: {e}"))?;
    let started = docker
        .start_exec(
            &exec.id,
            Some(StartExecOptions {
                detach: false,
                tty: false,
                output_capacity: Some(64 * 1024),
            }),
        )
        .await
        .map_err(|e| format!("failed to start `{}`: {e}", show_argv(cmd, 80)))?;
    let mut out = ExecOutput::default();
    if let StartExecResults::Attached { mut output, .. } = started {
        while let Some(item) = output.next().await {
            match item {
                Ok(LogOutput::StdOut { message }) | Ok(LogOutput::Console { message }) => {
                    push(&mut out.stdout, &message);
                }
                Ok(LogOutput::StdErr { message }) => push(&mut out.stderr, &message),
                Ok(LogOutput::StdIn { .. }) => {}
                Err(e) => return Err(format!("the exec's output broke off: {e}")),
            }
        }
    }
    // The output ends a moment before the engine records the exit code.
    for _ in 0..50 {
        let info = docker
            .inspect_exec(&exec.id)
            .await
            .map_err(|e| format!("failed to inspect the exec: {e}"))?;
        if info.running != Some(true) {
            out.exit_code = info.exit_code.unwrap_or(-1);
            return Ok(out);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    Err("the exec's output ended but it kept running".into())
}

fn push(buf: &mut String, bytes: &[u8]) {
    if buf.len() < MAX_OUTPUT {
        buf.push_str(&String::from_utf8_lossy(bytes));
    }
}

pub(crate) async fn run(a: &ExecAction, target: &Target) -> Outcome {
    let svc = match conn::service(target, &a.service) {
        Ok(s) => s,
        Err(e) => return Outcome::Error(e),
    };
    let shown = show_argv(&a.command, 80);
    let out = match run_in(
        &target.docker,
        &svc.container_id,
        &a.command,
        a.user.as_deref(),
    )
    .await
    {
        Ok(o) => o,
        Err(e) => return Outcome::Error(e),
    };
    let combined = out.combined();
    if out.exit_code != a.expect.exit_code {
        return Outcome::Fail(format!(
            "`{shown}` in `{}`: expected exit code {}, got {}; output: {}",
            a.service,
            a.expect.exit_code,
            out.exit_code,
            show(&combined, 300)
        ));
    }
    if let Some(re) = &a.expect.output
        && !re.is_match(&combined)
    {
        return Outcome::Fail(format!(
            "`{shown}` in `{}`: expected output matching /{}/, got {}",
            a.service,
            re.as_str(),
            show(&combined, 300)
        ));
    }
    Outcome::Pass(format!(
        "`{shown}` exited {}; output: {}",
        out.exit_code,
        show(&combined, 120)
    ))
}
