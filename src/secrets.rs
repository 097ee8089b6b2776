//! What counts as a secret (DESIGN.md): env values whose key contains PASSWORD, SECRET,
//! TOKEN or KEY, and credentials inside URLs. They are masked as `***` in every output.

use std::borrow::Cow;

/// Whether an environment variable's value is a secret, judged by its name.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_uppercase();
    ["PASSWORD", "SECRET", "TOKEN", "KEY"]
        .iter()
        .any(|w| k.contains(w))
}

/// `KEY=value` with the value masked when the key is a secret one, and any URL
/// credentials masked otherwise.
pub fn mask_env(key: &str, value: &str) -> String {
    if is_secret_key(key) {
        "***".to_string()
    } else {
        mask_urls(value)
    }
}

/// Masks the password of a URL's userinfo: `postgres://u:pw@h/db` → `postgres://u:***@h/db`.
pub fn mask_url(url: &str) -> String {
    mask_urls(url)
}

/// Secret values seen so far by this process: the values of secret-named env entries of
/// the matrix and every password found in a URL. Each is masked wherever it appears
/// afterwards, alone or inside other text (a `DB_PASS` found in `mysql://u:DB_PASS@h`
/// and then echoed by a log line on its own).
static KNOWN: std::sync::RwLock<Vec<String>> = std::sync::RwLock::new(Vec::new());

/// Shorter values would mask ordinary words (`pw`, `db`) everywhere they occur.
const MIN_KNOWN_LEN: usize = 4;

/// Remembers `value` as a secret: masked in every later output of this process.
pub fn remember(value: &str) {
    let value = value.trim();
    if value.chars().count() < MIN_KNOWN_LEN || value.contains("***") {
        return;
    }
    // A plain word (`password`, `postgres`, `example`) would mask that word everywhere,
    // image names and messages included; it stays masked where the key rule finds it.
    if value.len() <= 8 && value.chars().all(|c| c.is_ascii_alphabetic()) {
        return;
    }
    if let Ok(mut known) = KNOWN.write()
        && !known.iter().any(|k| k == value)
    {
        known.push(value.to_string());
        // Longest first, so that a secret containing another is masked whole.
        known.sort_by_key(|k| std::cmp::Reverse(k.len()));
    }
}

/// Remembers the secrets of an env map: the values of secret-named keys, and the
/// passwords of URLs in any value.
pub fn remember_env<'a>(env: impl IntoIterator<Item = (&'a String, &'a String)>) {
    for (k, v) in env {
        if is_secret_key(k) {
            remember(v);
        }
        let _ = mask_urls(v);
    }
}

fn mask_known(text: &str) -> Option<String> {
    let known = KNOWN.read().ok()?;
    let mut out: Option<String> = None;
    for k in known.iter() {
        let cur = out.as_deref().unwrap_or(text);
        if cur.contains(k.as_str()) {
            out = Some(cur.replace(k.as_str(), "***"));
        }
    }
    out
}

/// Masks every `scheme://user:password@` found in free text (logs, messages); a
/// password may hold `/` (`postgres://u:pa/ss@h/db`). Each password found is remembered.
pub fn mask_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let token_end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '>' | '<'))
            .unwrap_or(tail.len());
        let token = &tail[..token_end];
        let first_slash = token.find('/').unwrap_or(token.len());
        let authority = &token[..first_slash];
        // Where the userinfo ends: the last `@` of the authority; or, when a password
        // holds a `/`, the first `@` after it, provided what precedes the slash is
        // `user:password`, not `host:port`.
        let userinfo_end = authority.rfind('@').or_else(|| {
            let (_, after_colon) = authority.split_once(':')?;
            let is_port =
                !after_colon.is_empty() && after_colon.bytes().all(|b| b.is_ascii_digit());
            if is_port || first_slash == token.len() {
                return None;
            }
            token[first_slash..].find('@').map(|i| first_slash + i)
        });
        let consumed = match userinfo_end {
            Some(at_sign) => {
                let userinfo = &token[..at_sign];
                match userinfo.split_once(':') {
                    Some((user, password)) => {
                        remember(password);
                        out.push_str(user);
                        out.push_str(":***");
                    }
                    None => {
                        remember(userinfo);
                        out.push_str("***");
                    }
                }
                out.push('@');
                at_sign + 1
            }
            None => 0,
        };
        // The host and path are copied as they are, up to the next URL.
        let next = tail[consumed..token_end]
            .find("://")
            .map(|i| {
                // Keep the scheme of the next URL for the next round.
                let before = &tail[consumed..consumed + i];
                consumed
                    + before
                        .rfind(|c: char| {
                            !c.is_ascii_alphanumeric() && c != '+' && c != '-' && c != '.'
                        })
                        .map_or(0, |j| j + 1)
            })
            .unwrap_or(token_end);
        out.push_str(&tail[consumed..next]);
        rest = &tail[next..];
    }
    out.push_str(rest);
    out
}

/// Masks URL credentials, the values of secret-named keys however a log writes them
/// (`PGPASSWORD=x`, `password: x`, `{"password":"x"}`, `API_KEY = x`, `--token x`,
/// `--api-token=x`), `Authorization` headers, `-pSECRET` on database-client command
/// lines, and every value [`remember`]ed: what every output applies to messages, reasons
/// and log lines. Borrowed when nothing was masked.
pub fn mask_text(text: &str) -> Cow<'_, str> {
    let mut cur: Cow<'_, str> = Cow::Borrowed(text);
    if cur.contains("://") {
        let m = mask_urls(&cur);
        if m != *cur {
            cur = Cow::Owned(m);
        }
    }
    for step in [
        mask_assignments,
        mask_flags,
        mask_authorization,
        mask_db_client_password,
        mask_known,
    ] {
        if let Some(m) = step(&cur) {
            cur = Cow::Owned(m);
        }
    }
    cur
}

/// `KEY=value`, `KEY = value`, `key: value`, `"key": "value"` and `'key'='v'` for secret
/// keys: the value masked.
fn mask_assignments(text: &str) -> Option<String> {
    if !text.contains('=') && !text.contains(':') {
        return None;
    }
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        let sep = bytes[i];
        if sep != b'=' && sep != b':' {
            i += 1;
            continue;
        }
        // `://` is a URL, `::` a path; neither separates a key from a value.
        if sep == b':' && matches!(bytes.get(i + 1), Some(b'/' | b':')) {
            i += 1;
            continue;
        }
        let mut key_end = i;
        while key_end > 0 && bytes[key_end - 1] == b' ' {
            key_end -= 1;
        }
        if key_end > 0 && matches!(bytes[key_end - 1], b'"' | b'\'') {
            key_end -= 1;
        }
        let mut start = key_end;
        while start > 0
            && (bytes[start - 1].is_ascii_alphanumeric()
                || matches!(bytes[start - 1], b'_' | b'-' | b'.'))
        {
            start -= 1;
        }
        let key = &text[start..key_end];
        if key.is_empty() || !is_secret_key(key) {
            i += 1;
            continue;
        }
        // `KEY = x` and `key: x` put blanks after the separator; `KEY= x` is an empty
        // value followed by other text.
        let spaced = sep == b':' || (i > 0 && bytes[i - 1] == b' ');
        let mut value_start = i + 1;
        while spaced && bytes.get(value_start) == Some(&b' ') {
            value_start += 1;
        }
        let (from, to) = value_bounds(text, value_start);
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

/// The value starting at `at`: inside its quotes, or up to a blank or punctuation that
/// ends a value in logs and JSON.
fn value_bounds(text: &str, at: usize) -> (usize, usize) {
    let bytes = text.as_bytes();
    match bytes.get(at) {
        Some(&q @ (b'"' | b'\'')) => {
            let mut j = at + 1;
            while j < bytes.len() && bytes[j] != q {
                if q == b'"' && bytes[j] == b'\\' {
                    j += 1;
                }
                j += 1;
            }
            (at + 1, j.min(bytes.len()))
        }
        _ => {
            let end = text[at..]
                .find(|c: char| c.is_whitespace() || ",;&\"')]}>".contains(c))
                .map_or(bytes.len(), |e| at + e);
            (at, end)
        }
    }
}

/// `--token x`, `--db-password x`: a secret-named long option and the word after it.
fn mask_flags(text: &str) -> Option<String> {
    if !text.contains("--") {
        return None;
    }
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut search = 0;
    while let Some(rel) = text[search..].find("--") {
        let at = search + rel;
        let name_start = at + 2;
        let name_end = text[name_start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .map_or(text.len(), |e| name_start + e);
        search = name_end.max(at + 2);
        let name = &text[name_start..name_end];
        let preceded_ok = at == 0
            || text[..at].ends_with(|c: char| {
                c.is_whitespace() || c == '"' || c == '\'' || c == '[' || c == ','
            });
        if name.is_empty() || !preceded_ok || !is_secret_key(name) {
            continue;
        }
        let rest = &text[name_end..];
        let gap = rest.len() - rest.trim_start_matches(' ').len();
        if gap == 0 {
            continue; // `--token=x` is an assignment, handled there
        }
        let (from, to) = value_bounds(text, name_end + gap);
        if to > from && !text[from..to].starts_with('-') && &text[from..to] != "***" {
            let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
            o.push_str(&text[copied..from]);
            o.push_str("***");
            copied = to;
            search = to;
        }
    }
    out.map(|mut o| {
        o.push_str(&text[copied..]);
        o
    })
}

/// `Authorization: Bearer x`, `Proxy-Authorization: Basic x`: the credentials masked,
/// the scheme kept.
fn mask_authorization(text: &str) -> Option<String> {
    if !(text.contains("uthorization") || text.contains("UTHORIZATION")) {
        return None;
    }
    let lower = text.to_ascii_lowercase();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut search = 0;
    while let Some(rel) = lower[search..].find("authorization") {
        let at = search + rel;
        let mut j = at + "authorization".len();
        search = j;
        let bytes = text.as_bytes();
        if matches!(bytes.get(j), Some(b'"' | b'\'')) {
            j += 1;
        }
        while bytes.get(j) == Some(&b' ') {
            j += 1;
        }
        if !matches!(bytes.get(j), Some(b':' | b'=')) {
            continue;
        }
        j += 1;
        while matches!(bytes.get(j), Some(b' ' | b'"' | b'\'')) {
            j += 1;
        }
        // Skip the scheme word (`Bearer`, `Basic`, `Token`) when one comes first.
        let word_end = text[j..]
            .find(|c: char| !c.is_ascii_alphabetic())
            .map_or(text.len(), |e| j + e);
        let scheme = &lower[j..word_end];
        if matches!(
            scheme,
            "bearer" | "basic" | "token" | "digest" | "negotiate"
        ) && bytes.get(word_end) == Some(&b' ')
        {
            j = word_end + 1;
        }
        let (from, to) = value_bounds(text, j);
        if to > from && &text[from..to] != "***" {
            let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
            o.push_str(&text[copied..from]);
            o.push_str("***");
            copied = to;
            search = to;
        }
    }
    out.map(|mut o| {
        o.push_str(&text[copied..]);
        o
    })
}

/// The database clients that take their password glued to `-p` (`mysql -uroot -pSECRET`).
const DB_CLIENTS: [&str; 6] = [
    "mysql",
    "mariadb",
    "mysqladmin",
    "mysqldump",
    "mariadb-admin",
    "mariadb-dump",
];

/// `-pSECRET` masked, only on a line that runs a database client (elsewhere `-p` is a
/// port, a parent flag, a profile).
fn mask_db_client_password(text: &str) -> Option<String> {
    if !text.contains("-p") {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    for (n, line) in text.split('\n').enumerate() {
        if n > 0 {
            out.push('\n');
        }
        let runs_client = line
            .split(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == ',' || c == '[')
            .any(|w| {
                let base = w.rsplit('/').next().unwrap_or(w);
                DB_CLIENTS.contains(&base)
            });
        if !runs_client {
            out.push_str(line);
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("-p") {
            let before_ok = at == 0
                || rest[..at].ends_with(|c: char| c.is_whitespace() || c == '"' || c == '\'');
            let after = &rest[at + 2..];
            let end = after
                .find(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == ',' || c == ']')
                .unwrap_or(after.len());
            out.push_str(&rest[..at + 2]);
            if before_ok && end > 0 && &after[..end] != "***" && !after.starts_with("assword") {
                out.push_str("***");
                changed = true;
            } else {
                out.push_str(&after[..end]);
            }
            rest = &after[end..];
        }
        out.push_str(rest);
    }
    changed.then_some(out)
}

/// Replaces each known secret value by `***` in free text (e.g. a container's log that
/// echoes its password).
pub fn redact_values<'a>(text: &str, secrets: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = mask_urls(text);
    for s in secrets {
        if s.len() >= 3 {
            out = out.replace(s, "***");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert!(is_secret_key("POSTGRES_PASSWORD"));
        assert!(is_secret_key("api_token"));
        assert!(is_secret_key("AWS_SECRET_ACCESS_KEY"));
        assert!(!is_secret_key("POSTGRES_USER"));
    }

    #[test]
    fn urls() {
        assert_eq!(
            mask_urls("PG_URL=postgres://app:hunter2@db:5432/x ok"),
            "PG_URL=postgres://app:***@db:5432/x ok"
        );
        assert_eq!(mask_urls("redis://:pw@r:6379/0"), "redis://:***@r:6379/0");
        assert_eq!(mask_urls("http://h:80/a@b"), "http://h:80/a@b");
        assert_eq!(mask_urls("tcp://tok@h"), "tcp://***@h");
        assert_eq!(mask_urls("no url here"), "no url here");
    }

    #[test]
    fn url_passwords_with_a_slash_are_masked() {
        assert_eq!(
            mask_urls("postgres://u:pa/ss@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(mask_urls("http://h:80/a@b"), "http://h:80/a@b");
        assert_eq!(
            mask_urls("a://u:p1@h b://v:p2@k"),
            "a://u:***@h b://v:***@k"
        );
    }

    #[test]
    fn log_forms() {
        for (line, secret) in [
            ("password: hunter22", "hunter22"),
            ("{\"password\":\"hunter22\"}", "hunter22"),
            ("{\"db_password\": \"hunter22\"}", "hunter22"),
            ("API_KEY = hunter22", "hunter22"),
            ("Authorization: Bearer abc.def.ghi", "abc.def.ghi"),
            ("authorization=Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
            ("curl --token hunter22 http://x", "hunter22"),
            ("mysql -uroot -phunter22 -h db", "hunter22"),
            ("/usr/bin/mariadb-admin -phunter22 ping", "hunter22"),
        ] {
            let m = mask_text(line);
            assert!(!m.contains(secret), "{line} → {m}");
            assert!(m.contains("***"), "{line} → {m}");
        }
        // `-p` elsewhere is not a password.
        assert_eq!(mask_text("ssh -p2222 host"), "ssh -p2222 host");
        assert_eq!(mask_text("mkdir -p /x"), "mkdir -p /x");
        assert_eq!(
            mask_text("Authorization: Bearer abc"),
            "Authorization: Bearer ***"
        );
    }

    #[test]
    fn a_password_found_in_a_url_is_masked_when_it_appears_alone() {
        let _ = mask_text("connecting to mysql://app:Zq9-found-in-url@db/x");
        assert_eq!(mask_text("echo Zq9-found-in-url"), "echo ***");
        remember_env([(
            &"SOME_PASSWORD".to_string(),
            &"Remembered-Env-Val".to_string(),
        )]);
        assert_eq!(mask_text("x Remembered-Env-Val y"), "x *** y");
    }

    #[test]
    fn values() {
        assert_eq!(redact_values("pw is hunter2", ["hunter2"]), "pw is ***");
        assert_eq!(mask_env("MYSQL_ROOT_PASSWORD", "x"), "***");
        assert_eq!(mask_env("HOST", "db"), "db");
    }
}
