//! What the terminal wants: colour (`--color auto|always|never` beside `NO_COLOR`) and
//! width (the tty's, or `COLUMNS`), decided once here for the table and the progress
//! view alike.
//!
//! Width: `COLUMNS`, when set to a number, wins (tty or not: a script that sets it asks
//! for it); else a terminal's own width; else none, and output that is not a terminal is
//! not fitted at all, so scripts reading it see the same full lines whatever runs them.

use std::io::IsTerminal;
use std::sync::OnceLock;

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set and not empty.
    #[default]
    Auto,
    /// Always, even piped or with `NO_COLOR` (the flag is the more explicit ask).
    Always,
    /// Never.
    Never,
}

static CHOICE: OnceLock<ColorChoice> = OnceLock::new();

/// Records `--color` for the rest of the process (the first call wins).
pub fn set_color(choice: ColorChoice) {
    let _ = CHOICE.set(choice);
}

/// https://no-color.org: `NO_COLOR` present *and not empty* turns colour off; an empty
/// one is as if it were unset. `--color always|never` overrides both.
pub(crate) fn colour_wanted(
    choice: ColorChoice,
    terminal: bool,
    no_color: Option<&std::ffi::OsStr>,
) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => terminal && no_color.is_none_or(|v| v.is_empty()),
    }
}

fn choice() -> ColorChoice {
    CHOICE.get().copied().unwrap_or_default()
}

/// Colour on stdout (the table).
pub fn stdout_colour() -> bool {
    colour_wanted(
        choice(),
        std::io::stdout().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    )
}

/// Colour on stderr (the progress view).
pub fn stderr_colour() -> bool {
    colour_wanted(
        choice(),
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    )
}

/// `COLUMNS` as a width, when it is a positive number.
fn columns_env() -> Option<usize> {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|w| *w > 0)
}

/// The width stdout's lines must fit (module comment); `None`: not fitted.
pub fn stdout_width() -> Option<usize> {
    columns_env().or_else(|| {
        std::io::stdout()
            .is_terminal()
            .then(|| {
                console::Term::stdout()
                    .size_checked()
                    .map(|(_, w)| usize::from(w))
            })
            .flatten()
    })
}

/// The width stderr's lines must fit; `None`: not fitted.
pub fn stderr_width() -> Option<usize> {
    columns_env().or_else(|| {
        std::io::stderr()
            .is_terminal()
            .then(|| {
                console::Term::stderr()
                    .size_checked()
                    .map(|(_, w)| usize::from(w))
            })
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_rules() {
        use std::ffi::OsStr;
        let auto = ColorChoice::Auto;
        assert!(colour_wanted(auto, true, None));
        assert!(!colour_wanted(auto, false, None));
        assert!(!colour_wanted(auto, true, Some(OsStr::new("1"))));
        assert!(
            colour_wanted(auto, true, Some(OsStr::new(""))),
            "empty NO_COLOR is unset"
        );
        assert!(colour_wanted(
            ColorChoice::Always,
            false,
            Some(OsStr::new("1"))
        ));
        assert!(!colour_wanted(ColorChoice::Never, true, None));
    }
}
