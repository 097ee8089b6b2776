//! The one error a command ends with: what went wrong, its exit code (README "Exit
//! codes") and its message, rendered once, by [`super::main`].

use dockmatrix::diagnostic::{Diagnostics, error_chain};
use dockmatrix::engine::host::HostError;

/// Why a command did not end with exit 0. Commands return `Result<(), CliError>`;
/// only [`super::main`] prints it ([`CliError::message`]) and exits with
/// [`CliError::exit_code`].
#[derive(Debug)]
pub enum CliError {
    /// 1: a cell failed or errored, or a comparison regressed (already reported).
    Failed,
    /// 2: a matrix or scenario that does not check, with its file, line, column and key path.
    Diagnostics(Diagnostics),
    /// 2: an error and its causes, after what it concerns (a flag, "failed to …").
    Input {
        context: Option<String>,
        source: Box<dyn std::error::Error>,
    },
    /// 2: bad usage, in our own words (with its `= help:` lines).
    Usage(String),
    /// 2 when the host engine cannot be resolved, 3 when it does not answer.
    Host(HostError),
    /// 130: Ctrl-C.
    Interrupted,
    /// 143: SIGTERM.
    Terminated,
    /// 141, quietly: stdout's reader went away (`| head`).
    BrokenPipe,
}

impl CliError {
    /// An error and its causes about `context` (`--resume`, `failed to write to stdout`).
    pub fn input(context: &str, source: impl std::error::Error + 'static) -> Self {
        CliError::Input {
            context: Some(context.to_string()),
            source: Box::new(source),
        }
    }

    /// An error whose own message says what it concerns.
    pub fn from_source(source: impl std::error::Error + 'static) -> Self {
        CliError::Input {
            context: None,
            source: Box::new(source),
        }
    }

    /// The process's exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Failed => 1,
            CliError::Diagnostics(_) | CliError::Input { .. } | CliError::Usage(_) => 2,
            CliError::Host(e) if e.is_bad_input() => 2,
            CliError::Host(_) => 3,
            CliError::Interrupted => 130,
            CliError::BrokenPipe => 141,
            CliError::Terminated => 143,
        }
    }

    /// What stderr shows, if anything: outcomes already reported (a failed cell, a
    /// signal, a closed pipe) print nothing here.
    pub fn message(&self) -> Option<String> {
        match self {
            CliError::Failed
            | CliError::Interrupted
            | CliError::Terminated
            | CliError::BrokenPipe => None,
            CliError::Diagnostics(d) => Some(d.to_string()),
            CliError::Input {
                context: Some(c),
                source,
            } => Some(format!("error: {c}: {}", error_chain(source.as_ref()))),
            CliError::Input {
                context: None,
                source,
            } => Some(format!("error: {}", error_chain(source.as_ref()))),
            CliError::Usage(m) => Some(format!("error: {m}")),
            CliError::Host(e) if e.is_bad_input() => Some(format!("error: {}", error_chain(e))),
            CliError::Host(e) => Some(format!(
                "error: no Docker engine answers: {}",
                error_chain(e)
            )),
        }
    }
}

impl From<Diagnostics> for CliError {
    fn from(d: Diagnostics) -> Self {
        CliError::Diagnostics(d)
    }
}

impl From<HostError> for CliError {
    fn from(e: HostError) -> Self {
        CliError::Host(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(msg: &str) -> std::io::Error {
        std::io::Error::other(msg.to_string())
    }

    #[test]
    fn each_error_has_the_readmes_exit_code() {
        let malformed = HostError::Malformed {
            var: "DOCKER_HOST".into(),
            value: "nope".into(),
            why: "no scheme".into(),
        };
        let cases: Vec<(CliError, u8)> = vec![
            (CliError::Failed, 1),
            (CliError::Diagnostics(Diagnostics(Vec::new())), 2),
            (CliError::input("--out", io("denied")), 2),
            (CliError::from_source(io("denied")), 2),
            (CliError::Usage("bad".into()), 2),
            (CliError::Host(malformed), 2),
            (CliError::Interrupted, 130),
            (CliError::BrokenPipe, 141),
            (CliError::Terminated, 143),
        ];
        for (e, code) in cases {
            assert_eq!(e.exit_code(), code, "{e:?}");
        }
    }

    #[test]
    fn an_engine_that_does_not_answer_is_exit_3_and_says_so() {
        // The engine layer's own error for a socket nobody listens on (no bollard here).
        let dir = tempfile::tempdir().expect("tempdir");
        let sock = format!("unix://{}/nowhere.sock", dir.path().display());
        let env = |name: &str| (name == "DOCKER_HOST").then(|| sock.clone());
        let endpoint = dockmatrix::engine::host::resolve(&env).expect("a well-formed address");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let refused = runtime
            .block_on(endpoint.connect(5))
            .expect_err("nothing listens there");
        let e = CliError::Host(refused);
        assert_eq!(e.exit_code(), 3);
        let shown = e.message().unwrap_or_default();
        assert!(
            shown.starts_with(&format!(
                "error: no Docker engine answers: DOCKER_HOST={sock}"
            )),
            "{shown}"
        );
    }

    #[test]
    fn sources_are_rendered_once_after_their_context() {
        #[derive(Debug, thiserror::Error)]
        #[error("failed to read `run.json`")]
        struct Outer(#[source] std::io::Error);
        let e = CliError::input("--resume", Outer(io("No such file or directory")));
        assert_eq!(
            e.message().as_deref(),
            Some("error: --resume: failed to read `run.json`: No such file or directory")
        );
        assert_eq!(
            CliError::from_source(io("disk full")).message().as_deref(),
            Some("error: disk full")
        );
        assert_eq!(
            CliError::Usage("--pivot works with --format table".into())
                .message()
                .as_deref(),
            Some("error: --pivot works with --format table")
        );
    }

    #[test]
    fn outcomes_already_reported_print_nothing() {
        for e in [
            CliError::Failed,
            CliError::Interrupted,
            CliError::Terminated,
            CliError::BrokenPipe,
        ] {
            assert_eq!(e.message(), None, "{e:?}");
        }
    }
}
