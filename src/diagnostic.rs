//! Errors in a user's file (matrix or scenario): where (file, line, column, key path),
//! what is wrong, and what would be valid, rendered with the offending line and a caret
//! under it, the way rustc and just do.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;

/// One problem found in a TOML file the user wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    /// 1-based line; 0 when the problem concerns the whole file (e.g. it is empty).
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// Dotted key path, e.g. `axes.redis[2]`; empty for the document itself.
    pub key: String,
    pub message: String,
    /// What would be valid.
    pub help: Option<String>,
    /// The offending source line and the width of the caret under it.
    snippet: Option<(String, usize)>,
}

impl Diagnostic {
    /// A problem located by a byte span of `source`.
    pub fn at(
        file: &Path,
        source: &str,
        span: Range<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        let (line, column, text, width) = locate(source, span);
        Self {
            file: file.to_path_buf(),
            line,
            column,
            key: key.into(),
            message: message.into(),
            help: None,
            snippet: Some((text, width)),
        }
    }

    /// A problem with the file as a whole (unreadable, empty, not UTF-8).
    pub fn whole_file(file: &Path, message: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            line: 0,
            column: 0,
            key: String::new(),
            message: message.into(),
            help: None,
            snippet: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// Line (1-based), column (1-based, in characters), the line's text and a caret width.
fn locate(source: &str, span: Range<usize>) -> (usize, usize, String, usize) {
    let start = floor_char_boundary(source, span.start.min(source.len()));
    let end = floor_char_boundary(source, span.end.clamp(start, source.len()));
    let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = source[start..]
        .find('\n')
        .map_or(source.len(), |i| start + i);
    let line = source[..start].matches('\n').count() + 1;
    let column = source[line_start..start].chars().count() + 1;
    let text: String = source[line_start..line_end]
        .trim_end_matches('\r')
        .chars()
        .map(|c| if c.is_control() && c != '\t' { '?' } else { c })
        .take(200)
        .collect();
    let text = mask_snippet(&text);
    let caret_end = end.min(line_end);
    let width = source[start..caret_end].chars().count().max(1);
    (line, column, text, width)
}

/// Masks what DESIGN.md calls secrets in a quoted source line, so that an error in a
/// matrix never prints a password to a CI log: string values of keys containing
/// PASSWORD, SECRET, TOKEN or KEY, and the password of `scheme://user:password@` URLs.
/// Each masked character becomes one `*`, so the caret under the line stays aligned.
fn mask_snippet(text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    let mut mask = vec![false; chars.len()];
    // String literals whose key is a secret one.
    let mut i = 0;
    while i < chars.len() {
        let quote = chars[i];
        if quote != '"' && quote != '\'' {
            i += 1;
            continue;
        }
        let open = i;
        i += 1;
        while i < chars.len() && chars[i] != quote {
            if quote == '"' && chars[i] == '\\' {
                i += 1;
            }
            i += 1;
        }
        let close = i.min(chars.len());
        i += 1;
        let before: String = chars[..open].iter().collect();
        let Some(lhs) = before.trim_end().strip_suffix('=') else {
            continue;
        };
        let lhs = lhs.trim_end();
        let key_start = lhs
            .char_indices()
            .rev()
            .find(|(_, c)| {
                !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '"' | '\''))
            })
            .map_or(0, |(i, c)| i + c.len_utf8());
        let key = &lhs[key_start..];
        if crate::secrets::is_secret_key(key) {
            mask[open + 1..close].iter_mut().for_each(|m| *m = true);
        }
    }
    // URL credentials.
    let mut from = 0;
    while let Some(at) = find_chars(&chars, &[':', '/', '/'], from) {
        let start = at + 3;
        let end = (start..chars.len())
            .find(|&j| chars[j].is_whitespace() || matches!(chars[j], '/' | '"' | '\'' | '<' | '>'))
            .unwrap_or(chars.len());
        if let Some(at_sign) = (start..end).rev().find(|&j| chars[j] == '@') {
            let secret_from = (start..at_sign)
                .find(|&j| chars[j] == ':')
                .map_or(start, |colon| colon + 1);
            mask[secret_from..at_sign]
                .iter_mut()
                .for_each(|m| *m = true);
        }
        from = end.max(start);
    }
    mask_yaml_pairs(&chars, &mut mask);
    for (c, m) in chars.iter_mut().zip(&mask) {
        if *m {
            *c = '*';
        }
    }
    chars.into_iter().collect()
}

/// The YAML and env-file forms of a secret: `POSTGRES_PASSWORD: value` and
/// `POSTGRES_PASSWORD=value` (also as a list item `- KEY=value`): the value to the end of
/// the line (or its closing quote) is masked.
fn mask_yaml_pairs(chars: &[char], mask: &mut [bool]) {
    let is_key_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    let mut i = 0;
    while i < chars.len() {
        if !is_key_char(chars[i]) || (i > 0 && is_key_char(chars[i - 1])) {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && is_key_char(chars[i]) {
            i += 1;
        }
        let key: String = chars[start..i].iter().collect();
        let sep = match chars.get(i) {
            Some('=') => Some(i + 1),
            Some(':') if matches!(chars.get(i + 1), Some(' ') | None) => Some(i + 1),
            _ => None,
        };
        let Some(from) = sep else { continue };
        if !crate::secrets::is_secret_key(&key) {
            continue;
        }
        let mut j = from;
        while j < chars.len() && chars[j] == ' ' {
            j += 1;
        }
        let end = match chars.get(j) {
            Some(q @ ('"' | '\'')) => {
                j += 1;
                (j..chars.len())
                    .find(|&k| chars[k] == *q)
                    .unwrap_or(chars.len())
            }
            _ => (j..chars.len())
                .find(|&k| {
                    chars[k] == '"'
                        || chars[k] == '\''
                        || (chars[k] == '#' && k > 0 && chars[k - 1] == ' ')
                })
                .unwrap_or(chars.len()),
        };
        let end = end.min(chars.len());
        if j < end {
            mask[j..end].iter_mut().for_each(|m| *m = true);
        }
        i = end.max(i);
    }
}

fn find_chars(hay: &[char], needle: &[char], from: usize) -> Option<usize> {
    (from..hay.len().saturating_sub(needle.len() - 1)).find(|&i| hay[i..].starts_with(needle))
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "error: {}", self.message)?;
        if self.line == 0 {
            write!(f, "  --> {}", self.file.display())?;
        } else {
            write!(
                f,
                "  --> {}:{}:{}",
                self.file.display(),
                self.line,
                self.column
            )?;
        }
        if let Some((text, width)) = &self.snippet {
            let gutter = self.line.to_string().len();
            let pad: String = text
                .chars()
                .take(self.column.saturating_sub(1))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            write!(
                f,
                "\n{:gutter$} |\n{} | {}\n{:gutter$} | {}{}",
                "",
                self.line,
                text,
                "",
                pad,
                "^".repeat((*width).min(120)),
            )?;
        }
        if !self.key.is_empty() {
            write!(f, "\n  = key: {}", self.key)?;
        }
        if let Some(help) = &self.help {
            write!(f, "\n  = help: {help}")?;
        }
        Ok(())
    }
}

/// Several diagnostics of one file, shown together so that a user fixes them in one go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        if self.0.len() > 1 {
            write!(f, "\n\n{} errors", self.0.len())?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// Larger than any matrix or scenario a person writes (a 100,000-cell matrix is 1 KB).
pub const MAX_FILE_BYTES: u64 = 8 << 20;

/// Reads a user's TOML file as text: a directory, unreadable bytes or an empty file are
/// diagnostics, not panics.
pub fn read_toml_source(file: &Path) -> Result<String, Diagnostics> {
    let one = |d| Diagnostics(vec![d]);
    let meta = std::fs::metadata(file).map_err(|e| {
        one(Diagnostic::whole_file(
            file,
            format!("cannot read the file: {e}"),
        ))
    })?;
    if meta.is_dir() {
        return Err(one(Diagnostic::whole_file(
            file,
            "this is a directory, not a TOML file",
        )
        .with_help("give the path of a .toml file")));
    }
    if meta.len() > MAX_FILE_BYTES {
        // toml's lexer holds every token at once: 10 MB of `[` takes ~500 MB of memory.
        return Err(one(Diagnostic::whole_file(
            file,
            format!(
                "the file is {:.1} MiB; a matrix or scenario file may be at most {} MiB",
                meta.len() as f64 / f64::from(1u32 << 20),
                MAX_FILE_BYTES >> 20
            ),
        )
        .with_help("is this the right file?")));
    }
    let bytes = std::fs::read(file).map_err(|e| {
        one(Diagnostic::whole_file(
            file,
            format!("cannot read the file: {e}"),
        ))
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let valid = String::from_utf8_lossy(&e.as_bytes()[..offset]).into_owned();
        one(Diagnostic::at(
            file,
            &valid,
            offset..offset,
            "",
            format!("the file is not valid UTF-8 (byte {offset})"),
        )
        .with_help("TOML files must be UTF-8 text"))
    })?;
    if text.trim().is_empty() {
        return Err(one(Diagnostic::whole_file(file, "the file is empty")
            .with_help(
                "a matrix needs at least `name` and `[axes]` or `[[include]]`",
            )));
    }
    Ok(text)
}

/// Deserializes `source` into `T`, turning toml's error into a diagnostic that carries
/// the key path (from serde_path_to_error) as well as toml's span.
pub fn parse_toml<T: serde::de::DeserializeOwned>(
    file: &Path,
    source: &str,
) -> Result<T, Diagnostics> {
    let de = toml::de::Deserializer::parse(source).map_err(|e| toml_error(file, source, &e, ""))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        // serde_path_to_error cannot see map keys that are `Spanned` (it shows `?`), so the
        // path is read from the document at the error's span; its own path is the fallback.
        let inner = e.inner();
        let at = inner.span().map(|span| key_path_at(source, span));
        let mut key = match &at {
            Some(KeyAt::Path(path)) => path.clone(),
            Some(KeyAt::Document) => String::new(),
            None | Some(KeyAt::Unknown) => clean_path(&e.path().to_string()),
        };
        // "missing field `kind`" points at the table: the key path names the missing key.
        if let Some(missing) = inner
            .message()
            .strip_prefix("missing field `")
            .and_then(|m| m.split('`').next())
        {
            if !key.is_empty() {
                key.push('.');
            }
            key.push_str(&toml_key(missing));
        }
        if matches!(at, Some(KeyAt::Document)) {
            let message = inner.message().trim().to_string();
            let help = help_for(&message);
            let d = Diagnostic {
                key,
                ..Diagnostic::whole_file(file, message)
            };
            return Diagnostics(vec![match help {
                Some(h) => d.with_help(h),
                None => d,
            }]);
        }
        toml_error(file, source, inner, &key)
    })
}

/// A TOML key as it is written in a dotted key path: bare when it can be, else quoted.
pub fn toml_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if bare {
        key.to_string()
    } else {
        format!("{key:?}")
    }
}

/// Deeper than toml's own recursion limit: the walk below never overflows the stack.
const MAX_KEY_DEPTH: usize = 256;

/// Where in the document an error's span lies.
enum KeyAt {
    /// The document as a whole (e.g. a missing top-level key).
    Document,
    /// The dotted key path (`services.redis.ports[1]`) of the innermost key or value
    /// holding the span's start.
    Path(String),
    Unknown,
}

fn key_path_at(source: &str, span: Range<usize>) -> KeyAt {
    use toml::de::{DeTable, DeValue};

    fn in_table(table: &DeTable<'_>, at: usize, path: &mut String, depth: usize) -> bool {
        if depth > MAX_KEY_DEPTH {
            return false;
        }
        for (k, v) in table {
            let len = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(&toml_key(k.get_ref()));
            if k.span().contains(&at) || in_value(v, at, path, depth + 1) {
                return true;
            }
            path.truncate(len);
        }
        false
    }

    fn in_value(v: &Spanned<DeValue<'_>>, at: usize, path: &mut String, depth: usize) -> bool {
        if depth > MAX_KEY_DEPTH {
            return false;
        }
        match v.get_ref() {
            DeValue::Table(t) => in_table(t, at, path, depth) || v.span().contains(&at),
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    if in_value(item, at, path, depth + 1) {
                        return true;
                    }
                    path.truncate(len);
                }
                v.span().contains(&at)
            }
            _ => v.span().contains(&at),
        }
    }

    let Ok(doc) = DeTable::parse(source) else {
        return KeyAt::Unknown;
    };
    if doc.span() == span {
        return KeyAt::Document;
    }
    let at = span.start;
    let mut path = String::new();
    if in_table(doc.get_ref(), at, &mut path, 0) {
        KeyAt::Path(path)
    } else {
        KeyAt::Unknown
    }
}

fn toml_error(file: &Path, source: &str, e: &toml::de::Error, key: &str) -> Diagnostics {
    let message = e.message().trim().to_string();
    let help = help_for(&message);
    let d = match e.span() {
        Some(span) => Diagnostic::at(file, source, span, key, message),
        None => Diagnostic::whole_file(file, message),
    };
    Diagnostics(vec![match help {
        Some(h) => d.with_help(h),
        None => d,
    }])
}

/// serde_path_to_error shows Spanned's private fields and `?` for unknown positions.
fn clean_path(path: &str) -> String {
    path.split('.')
        .filter(|seg| !seg.contains("$__serde_spanned") && *seg != "?")
        .collect::<Vec<_>>()
        .join(".")
}

fn help_for(message: &str) -> Option<String> {
    if message.starts_with("unknown field") {
        Some("remove the key or fix its spelling (the valid keys are listed above)".into())
    } else if message.starts_with("missing field") {
        Some("add the key".into())
    } else if message.starts_with("invalid type") {
        Some("change the value to the expected type".into())
    } else {
        None
    }
}

/// Collects the problems of one file during validation: each a diagnostic at a span.
pub(crate) struct Ctx<'a> {
    pub path: &'a Path,
    pub source: &'a str,
    pub problems: Vec<Diagnostic>,
}

impl<'a> Ctx<'a> {
    pub fn new(path: &'a Path, source: &'a str) -> Ctx<'a> {
        Ctx {
            path,
            source,
            problems: Vec::new(),
        }
    }

    pub fn err(
        &mut self,
        span: Range<usize>,
        key: impl Into<String>,
        msg: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.problems
            .push(Diagnostic::at(self.path, self.source, span, key, msg).with_help(help));
    }
}

/// An error and its causes on one line, `a: b: c`: the one renderer of error chains (the
/// runner's reasons, the checks' messages, the CLI's errors). Our errors carry their cause
/// in `#[source]` only; a third-party error that also prints its cause (tokio-postgres:
/// `db error: ERROR: …`) ends with that text already, and the cause is not written twice.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let msg = c.to_string();
        if !out.ends_with(&msg) {
            out.push_str(": ");
            out.push_str(&msg);
        }
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("failed to start")]
    struct Outer(#[source] Inner);
    #[derive(Debug, thiserror::Error)]
    #[error("db error: {0}")]
    struct Inner(#[source] Leaf);
    #[derive(Debug, thiserror::Error)]
    #[error("ERROR: no such table")]
    struct Leaf;

    #[test]
    fn error_chains_print_each_cause_once() {
        assert_eq!(
            error_chain(&Outer(Inner(Leaf))),
            "failed to start: db error: ERROR: no such table"
        );
    }

    #[test]
    fn locates_line_and_column_in_characters() {
        let src = "a = 1\nbé = \"x\"\n";
        let at = src.find("\"x\"").expect("present");
        let d = Diagnostic::at(Path::new("m.toml"), src, at..at + 3, "bé", "bad");
        assert_eq!((d.line, d.column), (2, 6));
        let shown = d.to_string();
        assert!(shown.contains("m.toml:2:6"), "{shown}");
        assert!(shown.contains("     ^^^"), "{shown}");
    }

    #[test]
    fn snippets_mask_secrets() {
        let src =
            "env = { POSTGRES_PASSWORD = \"hunter2\", URL = \"postgres://u:pw@db/x\", N = [1] }\n";
        let at = src.find('[').expect("present");
        let d = Diagnostic::at(Path::new("m.toml"), src, at..at + 3, "env.N", "bad");
        let shown = d.to_string();
        assert!(
            !shown.contains("hunter2") && !shown.contains(":pw@"),
            "{shown}"
        );
        assert!(shown.contains("POSTGRES_PASSWORD = \"*******\""), "{shown}");
        assert!(shown.contains("postgres://u:**@db/x"), "{shown}");
        // The caret stays under the offending value.
        let line = shown.lines().find(|l| l.contains('^')).expect("a caret");
        assert_eq!(
            line.find('^'),
            shown.lines().nth(3).and_then(|l| l.find('[')),
            "{shown}"
        );
    }

    #[test]
    fn yaml_snippets_mask_secrets() {
        for src in [
            "      POSTGRES_PASSWORD: hunter2\n",
            "      - POSTGRES_PASSWORD=hunter2\n",
            "      - \"API_TOKEN=hunter2\"\n",
            "DB_SECRET='hunter2'\n",
        ] {
            let d = Diagnostic::at(Path::new("c.yaml"), src, 0..1, "k", "bad");
            assert!(!d.to_string().contains("hunter2"), "{d}");
        }
    }

    #[test]
    fn span_past_the_end_does_not_panic() {
        let d = Diagnostic::at(Path::new("m.toml"), "é", 1..99, "", "bad");
        assert_eq!(d.line, 1);
    }
}
