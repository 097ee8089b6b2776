//! Text from containers made safe to show: terminal escapes and control characters
//! removed, secrets masked (DESIGN.md's rule, via [`crate::secrets`]), and the escaping
//! each output language needs. Every format renders from [`sanitised`] records.

use std::borrow::Cow;

use rayon::prelude::*;

use crate::results::RunRecord;
use crate::secrets;

/// The text with ANSI escape sequences, control characters (all but `\n` and `\t`) and
/// bidirectional overrides removed, then URL credentials and `SECRET_KEY=value`
/// assignments masked as `***`. Invalid UTF-8 was already replaced (U+FFFD) when the
/// bytes became a `String`.
pub fn clean(text: &str) -> Cow<'_, str> {
    let stripped = strip_controls(text);
    match secrets::mask_text(&stripped) {
        Cow::Owned(masked) => Cow::Owned(masked),
        Cow::Borrowed(_) => stripped,
    }
}

/// Cleans a string in place (no allocation when there is nothing to change).
pub fn clean_in_place(s: &mut String) {
    if let Cow::Owned(o) = clean(s) {
        *s = o;
    }
}

fn needs_stripping(text: &str) -> bool {
    text.chars().any(is_dropped_or_escape)
}

fn is_dropped_or_escape(c: char) -> bool {
    match c {
        '\n' | '\t' => false,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => true,
        // Bidirectional embeddings, overrides and isolates: they can make a report say
        // something other than what its bytes say.
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => true,
        _ => false,
    }
}

/// Removes terminal escape sequences (CSI, OSC, DCS and the short forms) and control
/// characters.
pub fn strip_controls(text: &str) -> Cow<'_, str> {
    if !needs_stripping(text) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.next() {
                Some('[') => skip_csi(&mut chars),
                Some(']' | 'P' | 'X' | '^' | '_') => skip_string(&mut chars),
                Some(' '..='/') => {
                    // nF: intermediates, then one final byte.
                    while chars.next_if(|c| matches!(c, ' '..='/')).is_some() {}
                    chars.next();
                }
                _ => {}
            },
            '\u{9b}' => skip_csi(&mut chars),
            '\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            '\r' => {
                // `\r\n` is a line end; a lone `\r` (a progress bar redrawing) is dropped.
            }
            c if is_dropped_or_escape(c) => {}
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while chars.next_if(|c| matches!(c, '0'..='?')).is_some() {}
    while chars.next_if(|c| matches!(c, ' '..='/')).is_some() {}
    chars.next_if(|c| matches!(c, '@'..='~'));
}

/// OSC/DCS/SOS/PM/APC bodies run until BEL or the string terminator (`ESC \` or U+009C).
fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(c) = chars.next() {
        match c {
            '\u{7}' | '\u{9c}' => return,
            '\u{1b}' => {
                chars.next_if_eq(&'\\');
                return;
            }
            _ => {}
        }
    }
}

/// The record with every string [`clean`]ed: what every format renders from. Borrowed
/// when nothing needs cleaning (a read-only scan is far cheaper than a copy).
pub fn sanitised(record: &RunRecord) -> Cow<'_, RunRecord> {
    if is_clean(record) {
        return Cow::Borrowed(record);
    }
    Cow::Owned(sanitised_copy(record))
}

fn ok(s: &str) -> bool {
    matches!(clean(s), Cow::Borrowed(_))
}

/// The fields are listed once, in [`crate::results`]' string visitors, so a field added to
/// the model is cleaned here as soon as it is listed there.
fn is_clean(r: &RunRecord) -> bool {
    r.all_strings_outside_cells(&mut ok) && r.cells.par_iter().all(|c| c.all_strings(&mut ok))
}

/// A copy with every string cleaned.
fn sanitised_copy(record: &RunRecord) -> RunRecord {
    let mut r = record_without_cells(record);
    // Cells are most of a record: cloned and cleaned in parallel.
    r.cells = record
        .cells
        .par_iter()
        .map(|cell| {
            let mut cell = cell.clone();
            cell.edit_strings(&mut clean_in_place);
            cell
        })
        .collect();
    r.edit_strings_outside_cells(&mut clean_in_place);
    r
}

fn record_without_cells(r: &RunRecord) -> RunRecord {
    RunRecord {
        schema: r.schema,
        run_id: r.run_id.clone(),
        matrix: r.matrix.clone(),
        partition: r.partition.clone(),
        started_at: r.started_at.clone(),
        finished_at: r.finished_at.clone(),
        tool_version: r.tool_version.clone(),
        host: r.host.clone(),
        options: r.options.clone(),
        axes: r.axes.clone(),
        cells: Vec::new(),
        interrupted: r.interrupted,
        warnings: r.warnings.clone(),
        merged_from: r.merged_from.clone(),
    }
}

/// One line: line breaks and tabs become spaces, runs of spaces collapse.
pub fn one_line(text: &str) -> Cow<'_, str> {
    if !text.contains(['\n', '\t']) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// At most `max` characters, with `…` marking a cut.
pub fn truncate(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => Cow::Borrowed(text),
        Some(_) => {
            let cut: String = text.chars().take(max.saturating_sub(1)).collect();
            Cow::Owned(format!("{}…", cut.trim_end()))
        }
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn html(text: &str) -> Cow<'_, str> {
    if !text.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Escapes text for inline Markdown (a table cell, a heading): every character GFM
/// could read as markup is backslash-escaped, and line breaks become spaces.
pub fn markdown_inline(text: &str) -> String {
    let line = one_line(text);
    let mut out = String::with_capacity(line.len() + 8);
    for c in line.chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '&' | '#' | '!' | '$'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A fenced Markdown code block holding `text` literally (the fence is longer than any
/// run of backticks inside).
pub fn markdown_code_block(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    let fence = "`".repeat(longest.max(2) + 1);
    let mut out = String::with_capacity(text.len() + 16);
    out.push_str(&fence);
    out.push_str("text\n");
    out.push_str(text.trim_end_matches('\n'));
    out.push('\n');
    out.push_str(&fence);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_escapes_and_controls() {
        assert_eq!(clean("\x1b[31mred\x1b[0m plain"), "red plain");
        assert_eq!(clean("\x1b]0;title\x07after"), "after");
        assert_eq!(clean("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\"), "link");
        assert_eq!(clean("a\x1b(Bb"), "ab");
        assert_eq!(clean("bell\x07 nul\0 cr\r\nok"), "bell nul cr\nok");
        assert_eq!(clean("\u{9b}1mC1"), "C1");
        assert_eq!(clean("abc\u{202e}cba"), "abccba");
        assert_eq!(clean("tab\tkept\nline"), "tab\tkept\nline");
        assert!(matches!(clean("plain text"), Cow::Borrowed(_)));
        assert_eq!(clean("bad \u{fffd} byte"), "bad \u{fffd} byte");
    }

    #[test]
    fn masks_secrets() {
        assert_eq!(
            clean("connect postgres://app:hunter2@db:5432/x failed"),
            "connect postgres://app:***@db:5432/x failed"
        );
        assert_eq!(
            clean("env POSTGRES_PASSWORD=hunter2 POSTGRES_USER=app"),
            "env POSTGRES_PASSWORD=*** POSTGRES_USER=app"
        );
        assert_eq!(clean("--api-token=abc,next"), "--api-token=***,next");
        assert_eq!(clean("password='a b' host=db"), "password='***' host=db");
        assert_eq!(clean("SECRET= empty"), "SECRET= empty");
        assert_eq!(clean("a == b"), "a == b");
        assert_eq!(
            clean("\x1b[1mMYSQL_ROOT_PASSWORD=s3cret\x1b[0m"),
            "MYSQL_ROOT_PASSWORD=***"
        );
    }

    #[test]
    fn escapes() {
        assert_eq!(html("<script>&\"'"), "&lt;script&gt;&amp;&quot;&#39;");
        assert_eq!(markdown_inline("a|b <i>\nc"), "a\\|b \\<i\\> c");
        assert_eq!(markdown_code_block("x ``` y"), "````text\nx ``` y\n````\n");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
    }
}
