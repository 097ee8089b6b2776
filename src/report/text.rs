//! Text from containers made safe to show: terminal escapes and control characters
//! removed, secrets masked (DESIGN.md's rule, via [`crate::secrets`]), and the escaping
//! each output language needs. Every format renders from [`sanitised`] records.

use std::borrow::Cow;

use indexmap::IndexMap;

use rayon::prelude::*;

use crate::results::{CellRecord, RunRecord};
use crate::secrets;

/// The text with ANSI escape sequences, control characters (all but `\n` and `\t`) and
/// bidirectional overrides removed, then URL credentials and `SECRET_KEY=value`
/// assignments masked as `***`. Invalid UTF-8 was already replaced (U+FFFD) when the
/// bytes became a `String`.
pub fn clean(text: &str) -> Cow<'_, str> {
    let stripped = strip_controls(text);
    match mask_secrets(&stripped) {
        Some(masked) => Cow::Owned(masked),
        None => stripped,
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

/// Masks URL credentials and the values of secret-named assignments (`PGPASSWORD=x`,
/// `--api-token=x`, `password='x y'`); `None` when nothing was masked.
fn mask_secrets(text: &str) -> Option<String> {
    let urls_masked = if text.contains("://") {
        let m = secrets::mask_urls(text);
        (m != text).then_some(m)
    } else {
        None
    };
    let base = urls_masked.as_deref().unwrap_or(text);
    match mask_assignments(base) {
        Some(m) => Some(m),
        None => urls_masked,
    }
}

fn mask_assignments(text: &str) -> Option<String> {
    if !text.contains('=') {
        return None;
    }
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'=' {
            i += 1;
            continue;
        }
        let mut start = i;
        while start > 0
            && (bytes[start - 1].is_ascii_alphanumeric()
                || matches!(bytes[start - 1], b'_' | b'-' | b'.'))
        {
            start -= 1;
        }
        let key = &text[start..i];
        if key.is_empty() || !secrets::is_secret_key(key) {
            i += 1;
            continue;
        }
        let value_start = i + 1;
        let (from, to) = match bytes.get(value_start) {
            Some(&q @ (b'"' | b'\'')) => {
                let end = text[value_start + 1..]
                    .find(q as char)
                    .map_or(bytes.len(), |e| value_start + 1 + e);
                (value_start + 1, end)
            }
            _ => {
                let end = text[value_start..]
                    .find(|c: char| c.is_whitespace() || ",;&\"')]}>".contains(c))
                    .map_or(bytes.len(), |e| value_start + e);
                (value_start, end)
            }
        };
        if to > from && &text[from..to] != "***" {
            let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
            o.push_str(&text[copied..from]);
            o.push_str("***");
            copied = to;
        }
        i = to.max(i + 1);
    }
    out.map(|mut o| {
        o.push_str(&text[copied..]);
        o
    })
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

fn is_clean(r: &RunRecord) -> bool {
    let top = [
        &r.run_id,
        &r.matrix.name,
        &r.matrix.hash,
        &r.matrix.path,
        &r.started_at,
        &r.tool_version,
        &r.host.hostname,
        &r.host.os,
        &r.host.kernel,
        &r.options.pull,
    ];
    top.iter().all(|s| ok(s))
        && [
            &r.partition,
            &r.finished_at,
            &r.options.filter,
            &r.options.baseline,
            &r.options.only_failed,
        ]
        .iter()
        .all(|o| o.as_deref().is_none_or(ok))
        && r.axes
            .iter()
            .chain(&r.warnings)
            .chain(&r.merged_from)
            .all(|s| ok(s))
        && r.cells.par_iter().all(cell_is_clean)
}

fn cell_is_clean(c: &CellRecord) -> bool {
    let opt = |o: &Option<String>| o.as_deref().is_none_or(ok);
    ok(&c.id)
        && c.values.iter().all(|(k, v)| ok(k) && ok(v))
        && opt(&c.reason)
        && opt(&c.failed_step)
        && opt(&c.kept)
        && c.previous_attempts.iter().all(|a| opt(&a.reason))
        && c.engine.as_ref().is_none_or(|e| {
            [
                &e.name,
                &e.kind,
                &e.server_version,
                &e.api_version,
                &e.storage_driver,
                &e.containerd,
                &e.runc,
                &e.kernel,
                &e.cgroup_version,
                &e.os,
                &e.arch,
            ]
            .iter()
            .all(|s| ok(s))
        })
        && c.images.iter().all(|i| {
            ok(&i.service)
                && ok(&i.reference)
                && ok(&i.digest)
                && i.labels.iter().all(|(k, v)| ok(k) && ok(v))
        })
        && c.services
            .iter()
            .all(|s| ok(&s.name) && ok(&s.kind) && ok(&s.image) && s.log_tail.iter().all(|l| ok(l)))
        && c.checks.iter().all(|ch| {
            ok(&ch.suite)
                && ok(&ch.name)
                && ok(&ch.message)
                && ch
                    .perf
                    .as_ref()
                    .and_then(|p| p.baseline.as_ref())
                    .is_none_or(|b| ok(&b.run_id))
        })
}

/// A copy with every string cleaned. Lists every field: a field added to the model
/// must be added here (and to the scans above) to be cleaned.
fn sanitised_copy(record: &RunRecord) -> RunRecord {
    let mut r = RunRecord {
        schema: record.schema,
        run_id: record.run_id.clone(),
        matrix: record.matrix.clone(),
        partition: record.partition.clone(),
        started_at: record.started_at.clone(),
        finished_at: record.finished_at.clone(),
        tool_version: record.tool_version.clone(),
        host: record.host.clone(),
        options: record.options.clone(),
        axes: record.axes.clone(),
        // Cells are most of a record: cloned and cleaned in parallel.
        cells: record
            .cells
            .par_iter()
            .map(|cell| {
                let mut cell = cell.clone();
                clean_cell(&mut cell);
                cell
            })
            .collect(),
        interrupted: record.interrupted,
        warnings: record.warnings.clone(),
        merged_from: record.merged_from.clone(),
    };
    let c = clean_in_place;
    c(&mut r.run_id);
    c(&mut r.matrix.name);
    c(&mut r.matrix.hash);
    c(&mut r.matrix.path);
    r.partition.iter_mut().for_each(c);
    c(&mut r.started_at);
    r.finished_at.iter_mut().for_each(c);
    c(&mut r.tool_version);
    c(&mut r.host.hostname);
    c(&mut r.host.os);
    c(&mut r.host.kernel);
    c(&mut r.options.pull);
    r.options.filter.iter_mut().for_each(c);
    r.options.baseline.iter_mut().for_each(c);
    r.options.only_failed.iter_mut().for_each(c);
    r.axes.iter_mut().for_each(c);
    r.warnings.iter_mut().for_each(c);
    r.merged_from.iter_mut().for_each(c);
    r
}

fn clean_cell(cell: &mut CellRecord) {
    let c = clean_in_place;
    c(&mut cell.id);
    if cell
        .values
        .iter()
        .any(|(k, v)| needs_cleaning(k) || needs_cleaning(v))
    {
        cell.values = cell
            .values
            .iter()
            .map(|(k, v)| (clean(k).into_owned(), clean(v).into_owned()))
            .collect::<IndexMap<_, _>>();
    }
    cell.reason.iter_mut().for_each(c);
    cell.failed_step.iter_mut().for_each(c);
    cell.kept.iter_mut().for_each(c);
    for a in &mut cell.previous_attempts {
        a.reason.iter_mut().for_each(c);
    }
    if let Some(e) = &mut cell.engine {
        for s in [
            &mut e.name,
            &mut e.kind,
            &mut e.server_version,
            &mut e.api_version,
            &mut e.storage_driver,
            &mut e.containerd,
            &mut e.runc,
            &mut e.kernel,
            &mut e.cgroup_version,
            &mut e.os,
            &mut e.arch,
        ] {
            c(s);
        }
    }
    for img in &mut cell.images {
        c(&mut img.service);
        c(&mut img.reference);
        c(&mut img.digest);
        if img
            .labels
            .iter()
            .any(|(k, v)| needs_cleaning(k) || needs_cleaning(v))
        {
            img.labels = img
                .labels
                .iter()
                .map(|(k, v)| (clean(k).into_owned(), clean(v).into_owned()))
                .collect();
        }
    }
    for svc in &mut cell.services {
        c(&mut svc.name);
        c(&mut svc.kind);
        c(&mut svc.image);
        svc.log_tail.iter_mut().for_each(c);
    }
    for check in &mut cell.checks {
        c(&mut check.suite);
        c(&mut check.name);
        c(&mut check.message);
        if let Some(b) = check.perf.as_mut().and_then(|p| p.baseline.as_mut()) {
            c(&mut b.run_id);
        }
    }
}

fn needs_cleaning(s: &str) -> bool {
    matches!(clean(s), Cow::Owned(_))
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
