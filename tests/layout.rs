//! The source's shape: no file in `src/` over 900 lines before its tests, no function over
//! 150 lines (issue 10: a file is a room, a function a step a reader can hold).

use std::path::{Path, PathBuf};

use crate::common::root;

/// Lines a file may hold before its first `#[cfg(test)]`.
const MAX_FILE_LINES: usize = 900;
/// Lines a function may span, from its `fn` line to its closing brace.
const MAX_FN_LINES: usize = 150;

/// Functions over the limit that other branches of issue 10 are splitting while this
/// test lands (file, fn, whose): the test passes over them only while they are still
/// too long, so each entry must go once its split is merged (the test says so).
const PENDING: [(&str, &str, &str); 0] = [];

#[test]
fn layout_no_file_over_900_lines_before_its_tests_and_no_fn_over_150_lines() {
    let mut problems = Vec::new();
    let mut pending_seen = Vec::new();
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    files.sort();
    assert!(
        files.len() > 20,
        "src/ holds only {} .rs files",
        files.len()
    );
    for path in &files {
        let text = std::fs::read_to_string(path).expect("read a source file");
        let shown = path
            .strip_prefix(root())
            .unwrap_or(path)
            .display()
            .to_string();
        let lines: Vec<&str> = text.lines().collect();
        let before_tests = lines
            .iter()
            .position(|l| l.trim() == "#[cfg(test)]")
            .unwrap_or(lines.len());
        if before_tests > MAX_FILE_LINES {
            problems.push(format!(
                "{shown}: {before_tests} lines before its #[cfg(test)] (at most {MAX_FILE_LINES})"
            ));
        }
        for (name, start, len) in long_fns(&lines) {
            if let Some(p) = PENDING.iter().find(|p| p.0 == shown && p.1 == name) {
                pending_seen.push(*p);
                continue;
            }
            problems.push(format!(
                "{shown}:{}: fn {name} is {len} lines long (at most {MAX_FN_LINES})",
                start + 1
            ));
        }
    }
    for (file, name, whose) in PENDING.iter().filter(|p| !pending_seen.contains(p)) {
        problems.push(format!(
            "{file}: fn {name} is no longer over {MAX_FN_LINES} lines ({whose}): remove it from PENDING"
        ));
    }
    assert!(problems.is_empty(), "split these:\n{}", problems.join("\n"));
}

#[test]
fn layout_scan_finds_a_long_fn_and_skips_braces_in_strings_and_declarations() {
    let mut src = vec!["pub(crate) async fn long(x: &str) -> usize {".to_string()];
    src.extend((0..MAX_FN_LINES).map(|i| format!("    let _a{i} = \"}}\"; // }}")));
    src.push("    let _t = r#\"[a]".into());
    src.push("    b = { c = \"}\" }\"#; /* } */".into());
    src.push("    '}'.len_utf8() + '\\''.len_utf8()".into());
    src.push("}".into());
    src.push("fn declared(&self);".into());
    src.push("fn short<'a>(x: &'a str) -> &'a str {".into());
    src.push("    x".into());
    src.push("}".into());
    let lines: Vec<&str> = src.iter().map(String::as_str).collect();
    assert_eq!(
        long_fns(&lines),
        vec![("long".to_string(), 0, MAX_FN_LINES + 5)]
    );
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read a source folder") {
        let path = entry.expect("a folder entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The functions longer than [`MAX_FN_LINES`]: (name, index of the `fn` line, lines).
///
/// A simple scan, not a parser: a function starts at a line that begins (after
/// indentation) with `fn`, optionally after `pub`/`pub(..)`, `const`, `async` or `unsafe`,
/// and ends where the braces opened after it balance again. Braces inside comments and
/// string, raw string and char literals (also those spanning lines, as the tests' TOML
/// does) are skipped; macros that generate `fn`s are not seen. Enough for this code base.
fn long_fns(lines: &[&str]) -> Vec<(String, usize, usize)> {
    let code = code_chars(lines);
    let mut out = Vec::new();
    for (start, line) in lines.iter().enumerate() {
        let Some(name) = fn_name(line) else { continue };
        let mut depth = 0usize;
        let mut opened = false;
        let mut end = None;
        'scan: for (i, l) in code.iter().enumerate().skip(start) {
            for c in l {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => {
                        depth = depth.saturating_sub(1);
                        if opened && depth == 0 {
                            end = Some(i);
                            break 'scan;
                        }
                    }
                    // A declaration without a body (a trait's `fn x();`).
                    ';' if !opened => break 'scan,
                    _ => {}
                }
            }
        }
        if let Some(end) = end {
            let len = end - start + 1;
            if len > MAX_FN_LINES {
                out.push((name, start, len));
            }
        }
    }
    out
}

/// The name of the function a line starts, if it starts one.
fn fn_name(line: &str) -> Option<String> {
    let mut rest = line.trim_start();
    if let Some(r) = rest.strip_prefix("pub") {
        rest = match r.strip_prefix('(') {
            Some(r) => r.split_once(')')?.1,
            None => r,
        }
        .trim_start();
    }
    for word in ["const ", "async ", "unsafe "] {
        if let Some(r) = rest.strip_prefix(word) {
            rest = r.trim_start();
        }
    }
    let rest = rest.strip_prefix("fn ")?;
    let name: String = rest
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// Where the scan is between characters.
#[derive(Clone, Copy, PartialEq)]
enum In {
    Code,
    Str,
    /// A raw string closed by `"` and this many `#`.
    Raw(usize),
    /// Nested block comments.
    Comment(usize),
}

/// Each line's characters outside comments and string and char literals.
fn code_chars(lines: &[&str]) -> Vec<Vec<char>> {
    let mut state = In::Code;
    let mut out = Vec::with_capacity(lines.len());
    for line in lines {
        let chars: Vec<char> = line.chars().collect();
        let at = |i: usize| chars.get(i).copied();
        let mut code = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            match state {
                In::Str => match c {
                    '\\' => i += 2,
                    '"' => {
                        state = In::Code;
                        i += 1;
                    }
                    _ => i += 1,
                },
                In::Raw(n) => {
                    if c == '"' && (1..=n).all(|k| at(i + k) == Some('#')) {
                        state = In::Code;
                        i += 1 + n;
                    } else {
                        i += 1;
                    }
                }
                In::Comment(depth) => {
                    if c == '*' && at(i + 1) == Some('/') {
                        state = if depth == 1 {
                            In::Code
                        } else {
                            In::Comment(depth - 1)
                        };
                        i += 2;
                    } else if c == '/' && at(i + 1) == Some('*') {
                        state = In::Comment(depth + 1);
                        i += 2;
                    } else {
                        i += 1;
                    }
                }
                In::Code => match c {
                    '/' if at(i + 1) == Some('/') => break,
                    '/' if at(i + 1) == Some('*') => {
                        state = In::Comment(1);
                        i += 2;
                    }
                    '"' => {
                        state = In::Str;
                        i += 1;
                    }
                    'r' | 'b'
                        if (i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_'))
                            && raw_start(&chars[i..]).is_some() =>
                    {
                        let (skip, hashes) = raw_start(&chars[i..]).unwrap_or((1, 0));
                        state = In::Raw(hashes);
                        i += skip;
                    }
                    // A char literal ('x', '\n', '\''), not a lifetime ('a).
                    '\'' if at(i + 1) == Some('\\') => {
                        i += 3;
                        while i < chars.len() && chars[i] != '\'' {
                            i += 1;
                        }
                        i += 1;
                    }
                    '\'' if at(i + 2) == Some('\'') => i += 3,
                    _ => {
                        code.push(c);
                        i += 1;
                    }
                },
            }
        }
        out.push(code);
    }
    out
}

/// `r"`, `r#"`, `br##"`: the characters up to the quote, and the number of `#`.
fn raw_start(s: &[char]) -> Option<(usize, usize)> {
    let r = if s.first() == Some(&'b') { 1 } else { 0 };
    if s.get(r) != Some(&'r') {
        return None;
    }
    let hashes = s[r + 1..].iter().take_while(|c| **c == '#').count();
    (s.get(r + 1 + hashes) == Some(&'"')).then_some((r + 2 + hashes, hashes))
}
