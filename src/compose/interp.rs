//! Variable interpolation exactly as `docker compose` does it in compose files:
//! `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?message}`,
//! `${VAR?message}`, `${VAR:+alt}`, `${VAR+alt}`, defaults that hold further
//! interpolations, and `$$` for a literal `$`. A `$` followed by anything else, or an
//! unterminated `${`, is an error, as in compose.

use std::borrow::Cow;

/// Why a template could not be interpolated. `offset` is the byte offset in the template
/// where the problem starts (the caller turns it into a column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterpError {
    pub offset: usize,
    pub kind: InterpErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterpErrorKind {
    /// `${` without its `}`.
    Unterminated,
    /// `$` followed by something that is neither a name, `{` nor `$`.
    Invalid,
    /// `${…}` whose name is not `[A-Za-z_][A-Za-z0-9_]*`.
    BadName(String),
    /// `${VAR:?message}` / `${VAR?message}` with VAR unset (or empty).
    Required { var: String, message: String },
}

impl std::fmt::Display for InterpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            InterpErrorKind::Unterminated => f.write_str("unterminated `${`: a `}` is missing"),
            InterpErrorKind::Invalid => {
                f.write_str("invalid interpolation: `$` must start `$NAME`, `${NAME}` or `$$`")
            }
            InterpErrorKind::BadName(n) => write!(f, "`{n}` is not a variable name"),
            InterpErrorKind::Required { var, message } if message.is_empty() => {
                write!(f, "required variable {var} is missing a value")
            }
            InterpErrorKind::Required { var, message } => {
                write!(f, "required variable {var} is missing a value: {message}")
            }
        }
    }
}

/// Interpolates `template`; `lookup` gives a variable's value (`None`: unset). `unset`
/// is told of each variable used without a default that had no value (compose warns and
/// uses an empty string). Templates without `$` are returned borrowed.
pub fn interpolate<'a>(
    template: &'a str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut dyn FnMut(&str),
) -> Result<Cow<'a, str>, InterpError> {
    if !template.contains('$') {
        return Ok(Cow::Borrowed(template));
    }
    let mut out = String::with_capacity(template.len());
    expand(template, 0, lookup, unset, &mut out)?;
    Ok(Cow::Owned(out))
}

fn is_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Expands `s` (which starts at byte `base` of the whole template) into `out`.
fn expand(
    s: &str,
    base: usize,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut dyn FnMut(&str),
    out: &mut String,
) -> Result<(), InterpError> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut literal_from = 0;
    while i < b.len() {
        if b[i] != b'$' {
            i += 1;
            continue;
        }
        out.push_str(&s[literal_from..i]);
        let at = i;
        match b.get(i + 1) {
            Some(b'$') => {
                out.push('$');
                i += 2;
            }
            Some(b'{') => {
                let close = matching_brace(b, i + 2).ok_or(InterpError {
                    offset: base + at,
                    kind: InterpErrorKind::Unterminated,
                })?;
                braced(&s[i + 2..close], base + i + 2, lookup, unset, out)?;
                i = close + 1;
            }
            Some(&c) if is_name_start(c) => {
                let mut j = i + 1;
                while j < b.len() && is_name_char(b[j]) {
                    j += 1;
                }
                let name = &s[i + 1..j];
                match lookup(name) {
                    Some(v) => out.push_str(&v),
                    None => unset(name),
                }
                i = j;
            }
            _ => {
                return Err(InterpError {
                    offset: base + at,
                    kind: InterpErrorKind::Invalid,
                });
            }
        }
        literal_from = i;
    }
    out.push_str(&s[literal_from..]);
    Ok(())
}

/// The index of the `}` closing a `${` whose body starts at `from`, counting nested `${`.
fn matching_brace(b: &[u8], from: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = from;
    while i < b.len() {
        match b[i] {
            b'$' if b.get(i + 1) == Some(&b'$') => i += 1,
            b'$' if b.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

/// The inside of `${…}`: a name, then optionally an operator and its word.
fn braced(
    body: &str,
    base: usize,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut dyn FnMut(&str),
    out: &mut String,
) -> Result<(), InterpError> {
    let b = body.as_bytes();
    let name_end = b
        .iter()
        .position(|&c| matches!(c, b':' | b'-' | b'?' | b'+'))
        .unwrap_or(b.len());
    let name = &body[..name_end];
    let valid =
        !name.is_empty() && is_name_start(name.as_bytes()[0]) && name.bytes().all(is_name_char);
    if !valid {
        return Err(InterpError {
            offset: base,
            kind: InterpErrorKind::BadName(name.to_string()),
        });
    }
    let rest = &body[name_end..];
    let (colon, op, word, word_base) = if let Some(r) = rest.strip_prefix(':') {
        let op = r.as_bytes().first().copied();
        (true, op, r.get(1..).unwrap_or(""), base + name_end + 2)
    } else {
        let op = rest.as_bytes().first().copied();
        (false, op, rest.get(1..).unwrap_or(""), base + name_end + 1)
    };
    let value = lookup(name);
    // With `:`, an empty value counts as unset.
    let set = match &value {
        Some(v) => !colon || !v.is_empty(),
        None => false,
    };
    match op {
        None if !colon => match value {
            Some(v) => out.push_str(&v),
            None => unset(name),
        },
        Some(b'-') => {
            if set {
                out.push_str(value.as_deref().unwrap_or(""));
            } else {
                expand(word, word_base, lookup, unset, out)?;
            }
        }
        Some(b'+') => {
            if set {
                expand(word, word_base, lookup, unset, out)?;
            }
        }
        Some(b'?') => {
            if set {
                out.push_str(value.as_deref().unwrap_or(""));
            } else {
                let mut message = String::new();
                expand(word, word_base, lookup, &mut |_| {}, &mut message)?;
                return Err(InterpError {
                    offset: base.saturating_sub(2),
                    kind: InterpErrorKind::Required {
                        var: name.to_string(),
                        message,
                    },
                });
            }
        }
        _ => {
            return Err(InterpError {
                offset: base + name_end,
                kind: InterpErrorKind::BadName(body.to_string()),
            });
        }
    }
    Ok(())
}

/// Every variable a template may read (for deciding which cells can differ).
pub fn variables(template: &str, into: &mut Vec<String>) {
    let b = template.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'$' {
            i += 1;
            continue;
        }
        match b.get(i + 1) {
            Some(b'$') => i += 2,
            Some(b'{') => {
                let mut j = i + 2;
                while j < b.len() && is_name_char(b[j]) {
                    j += 1;
                }
                push_unique(into, &template[i + 2..j]);
                i = j;
            }
            Some(&c) if is_name_start(c) => {
                let mut j = i + 1;
                while j < b.len() && is_name_char(b[j]) {
                    j += 1;
                }
                push_unique(into, &template[i + 1..j]);
                i = j;
            }
            _ => i += 1,
        }
    }
}

fn push_unique(into: &mut Vec<String>, name: &str) {
    if !name.is_empty() && !into.iter().any(|n| n == name) {
        into.push(name.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(t: &str) -> Result<String, InterpError> {
        let vars = |k: &str| match k {
            "SET" => Some("v".to_string()),
            "EMPTY" => Some(String::new()),
            "PG" => Some("16".to_string()),
            _ => None,
        };
        interpolate(t, &vars, &mut |_| {}).map(Cow::into_owned)
    }

    #[test]
    fn plain_forms() {
        assert_eq!(run("no dollars").as_deref(), Ok("no dollars"));
        assert_eq!(run("$SET").as_deref(), Ok("v"));
        assert_eq!(run("a${SET}b").as_deref(), Ok("avb"));
        assert_eq!(run("$SET.x").as_deref(), Ok("v.x"));
        assert_eq!(run("${UNSET}").as_deref(), Ok(""));
        assert_eq!(run("$UNSET-x").as_deref(), Ok("-x"));
        assert_eq!(run("postgres:${PG:-15}").as_deref(), Ok("postgres:16"));
        assert_eq!(run("$$SET").as_deref(), Ok("$SET"));
        assert_eq!(run("$${SET}").as_deref(), Ok("${SET}"));
        assert_eq!(run("cost: $$5").as_deref(), Ok("cost: $5"));
    }

    #[test]
    fn defaults_distinguish_empty_from_unset() {
        assert_eq!(run("${EMPTY:-d}").as_deref(), Ok("d"));
        assert_eq!(run("${EMPTY-d}").as_deref(), Ok(""));
        assert_eq!(run("${UNSET-d}").as_deref(), Ok("d"));
        assert_eq!(run("${UNSET:-d}").as_deref(), Ok("d"));
        assert_eq!(run("${SET:-d}").as_deref(), Ok("v"));
    }

    #[test]
    fn alternatives() {
        assert_eq!(run("${SET:+alt}").as_deref(), Ok("alt"));
        assert_eq!(run("${EMPTY:+alt}").as_deref(), Ok(""));
        assert_eq!(run("${EMPTY+alt}").as_deref(), Ok("alt"));
        assert_eq!(run("${UNSET+alt}").as_deref(), Ok(""));
    }

    #[test]
    fn nested_defaults() {
        assert_eq!(run("${UNSET:-${PG}}").as_deref(), Ok("16"));
        assert_eq!(run("${UNSET:-${ALSO:-deep}}").as_deref(), Ok("deep"));
        assert_eq!(run("${UNSET:-a$${b}}").as_deref(), Ok("a${b}"));
        assert_eq!(run("${SET:+[${PG}]}").as_deref(), Ok("[16]"));
    }

    #[test]
    fn required_variables() {
        let e = run("x ${UNSET:?set it please}").expect_err("unset");
        assert_eq!(e.offset, 2);
        assert_eq!(
            e.to_string(),
            "required variable UNSET is missing a value: set it please"
        );
        assert!(run("${EMPTY:?no}").is_err());
        assert_eq!(run("${EMPTY?no}").as_deref(), Ok(""));
        assert!(run("${UNSET?}").is_err());
        assert_eq!(run("${SET:?no}").as_deref(), Ok("v"));
    }

    #[test]
    fn errors_carry_their_offset() {
        let e = run("ab ${SET").expect_err("unterminated");
        assert_eq!((e.offset, e.kind), (3, InterpErrorKind::Unterminated));
        let e = run("echo $1").expect_err("invalid");
        assert_eq!((e.offset, e.kind), (5, InterpErrorKind::Invalid));
        assert!(matches!(
            run("${1X}").map_err(|e| e.kind),
            Err(InterpErrorKind::BadName(_))
        ));
        assert!(matches!(
            run("${}").map_err(|e| e.kind),
            Err(InterpErrorKind::BadName(_))
        ));
        assert!(matches!(
            run("${SET*x}").map_err(|e| e.kind),
            Err(InterpErrorKind::BadName(_))
        ));
        assert!(run("trailing $").is_err());
    }

    #[test]
    fn unset_variables_are_reported() {
        let mut seen = Vec::new();
        let _ = interpolate(
            "$A ${B} ${C:-x} ${SET}",
            &|k| (k == "SET").then(|| "1".into()),
            &mut |v| seen.push(v.to_string()),
        );
        assert_eq!(seen, ["A", "B"]);
    }

    #[test]
    fn lists_variables() {
        let mut v = Vec::new();
        variables("$A ${B:-${C}} $$D ${E?x}", &mut v);
        assert_eq!(v, ["A", "B", "C", "E"]);
    }
}
