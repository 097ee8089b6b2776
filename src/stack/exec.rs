//! A command run in a container through the engine's exec API, to its end: exit code,
//! stdout and stderr. Readiness probes (`ready = { exec = … }`), exec checks and
//! reachability checks all run commands through it.

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use futures_util::StreamExt;

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

/// `s` on one line, cut to `max` characters, for messages.
pub(crate) fn show(s: &str, max: usize) -> String {
    let one_line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let cut: String = one_line.chars().take(max).collect();
        format!("{cut}…")
    }
}

/// A command line as a person would type it: arguments with spaces or shell characters
/// in single quotes; cut to `max` characters.
pub(crate) fn show_argv(args: &[String], max: usize) -> String {
    let quoted: Vec<String> = args
        .iter()
        .map(|a| {
            let plain = !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,{}*".contains(c));
            if plain {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect();
    show(&quoted.join(" "), max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_show_as_typed() {
        let argv = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            show_argv(&argv(&["sh", "-c", "echo oops >&2; exit 3"]), 80),
            "sh -c 'echo oops >&2; exit 3'"
        );
        assert_eq!(show_argv(&argv(&["GET", "k:{i}"]), 80), "GET k:{i}");
        assert_eq!(
            show_argv(&argv(&["echo", "it's", ""]), 80),
            r"echo 'it'\''s' ''"
        );
        assert_eq!(show("a\n  b", 80), "a b");
        assert_eq!(show("abcdef", 3), "abc…");
    }
}
