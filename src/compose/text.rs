//! Compose's small text syntaxes: Go durations (`1m30s`, `1.5s`) and the shell word
//! splitting compose applies to a `command` or `entrypoint` string.

use std::time::Duration;

use crate::units::parse_duration;

/// Go's duration syntax as compose reads it (`1m30s`, `1.5s`, `500ms`, `2h`); a bare
/// number is seconds.
pub fn go_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if let Ok(d) = parse_duration(t) {
        return Ok(d);
    }
    let mut total = 0f64;
    let mut rest = t;
    if rest.is_empty() {
        return Err("the duration is empty".into());
    }
    while !rest.is_empty() {
        let n_len = rest.len()
            - rest
                .trim_start_matches(|c: char| c.is_ascii_digit() || c == '.')
                .len();
        let n: f64 = rest[..n_len]
            .parse()
            .map_err(|_| format!("`{s}` is not a duration"))?;
        rest = &rest[n_len..];
        let u_len = rest.len()
            - rest
                .trim_start_matches(|c: char| c.is_ascii_alphabetic() || c == 'µ')
                .len();
        let secs = match &rest[..u_len] {
            "ns" => n / 1e9,
            "us" | "µs" => n / 1e6,
            "ms" => n / 1e3,
            "s" => n,
            "m" => n * 60.0,
            "h" => n * 3600.0,
            _ => return Err(format!("`{s}` is not a duration")),
        };
        rest = &rest[u_len..];
        total += secs;
    }
    if !total.is_finite() || total > 1e9 {
        return Err(format!("`{s}` is too long"));
    }
    Ok(Duration::from_secs_f64(total))
}

/// Splits a command string as a POSIX shell would split words (compose does this for
/// `command: echo "a b"`): quotes group, backslash escapes; no expansion.
pub fn shell_words(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => return Err("unterminated single quote in the command".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(x @ ('"' | '\\' | '$' | '`')) => cur.push(x),
                            Some(x) => {
                                cur.push('\\');
                                cur.push(x);
                            }
                            None => return Err("unterminated double quote in the command".into()),
                        },
                        Some(x) => cur.push(x),
                        None => return Err("unterminated double quote in the command".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(x) = chars.next() {
                    cur.push(x);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(go_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(go_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(go_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(go_duration("soon").is_err());
    }

    #[test]
    fn shell_splitting() {
        assert_eq!(
            shell_words(r#"sh -c "echo 'a b'""#),
            Ok(vec!["sh".into(), "-c".into(), "echo 'a b'".into()])
        );
        assert_eq!(
            shell_words("a  'b c' d\\ e"),
            Ok(vec!["a".into(), "b c".into(), "d e".into()])
        );
        assert!(shell_words("echo \"x").is_err());
    }
}
