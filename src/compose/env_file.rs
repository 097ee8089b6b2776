//! Env files as compose reads them (`env_file:` and the matrix's `[compose] env-file`).

use std::path::Path;

use super::raw::Pos;
use super::{diag_in, interp};
use crate::diagnostic::Diagnostic;

/// An env file as compose reads it: `KEY=VALUE` lines, `export ` allowed, `#` comments,
/// single quotes literal, double quotes with `\n` escapes, unquoted values trimmed and
/// ending at ` #`; values interpolated from the lines above and `lookup`.
#[expect(
    clippy::result_large_err,
    reason = "one diagnostic per file, on the way out"
)]
pub fn parse_env_file(
    path: &Path,
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, Diagnostic> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let body = trimmed.strip_prefix("export ").unwrap_or(trimmed);
        let pos = Pos {
            file: 0,
            line: i as u32 + 1,
            column: (line.len() - line.trim_start().len()) as u32 + 1,
        };
        let (k, v) = match body.split_once('=') {
            Some((k, v)) => (k.trim(), v.trim()),
            None => (body.trim(), ""),
        };
        let valid = !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !valid {
            return Err(diag_in(
                path,
                text,
                pos,
                k.chars().count().max(1),
                "",
                format!("`{k}` is not a variable name"),
            )
            .with_help("lines are KEY=VALUE; comments start with #"));
        }
        let value = if let Some(q) = v.strip_prefix('\'') {
            match q.rfind('\'') {
                Some(end) => q[..end].to_string(),
                None => {
                    return Err(diag_in(path, text, pos, 1, k, "unterminated single quote")
                        .with_help("close the quote"));
                }
            }
        } else {
            let (raw, quoted) = if let Some(q) = v.strip_prefix('"') {
                match q.rfind('"') {
                    Some(end) => (q[..end].replace("\\n", "\n").replace("\\\"", "\""), true),
                    None => {
                        return Err(diag_in(path, text, pos, 1, k, "unterminated double quote")
                            .with_help("close the quote"));
                    }
                }
            } else {
                let cut = v.find(" #").map_or(v, |at| &v[..at]);
                (cut.trim().to_string(), false)
            };
            let _ = quoted;
            let earlier = |name: &str| {
                lookup(name).or_else(|| {
                    out.iter()
                        .rev()
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| v.clone())
                })
            };
            match interp::interpolate(&raw, &earlier, &mut |_| {}) {
                Ok(v) => v.into_owned(),
                Err(e) => {
                    return Err(diag_in(path, text, pos, 1, k, e.to_string())
                        .with_help("write `$$` for a literal `$`"));
                }
            }
        };
        out.retain(|(x, _)| x != k);
        out.push((k.to_string(), value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_files() {
        let text = "# c\nA=1\nexport B='x $A'\nC=\"q\\n$A\"\nD=plain # comment\nE=${A}2\n";
        let got = parse_env_file(Path::new(".env"), text, &|_| None).expect("parses");
        let get = |k: &str| got.iter().find(|(x, _)| x == k).map(|(_, v)| v.as_str());
        assert_eq!(get("A"), Some("1"));
        assert_eq!(get("B"), Some("x $A"));
        assert_eq!(get("C"), Some("q\n1"));
        assert_eq!(get("D"), Some("plain"));
        assert_eq!(get("E"), Some("12"));
        let e = parse_env_file(Path::new(".env"), "A=1\nbad key=2\n", &|_| None).expect_err("bad");
        assert_eq!(e.line, 2);
    }
}
