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

/// Masks every `scheme://user:password@` found in free text (logs, messages).
pub fn mask_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '/' | '"' | '\'' | '>' | '<'))
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at_sign) => {
                let userinfo = &authority[..at_sign];
                match userinfo.split_once(':') {
                    Some((user, _)) => {
                        out.push_str(user);
                        out.push_str(":***");
                    }
                    None => out.push_str("***"),
                }
                out.push_str(&authority[at_sign..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Masks URL credentials and the values of secret-named assignments (`PGPASSWORD=x`,
/// `--api-token=x`, `password='x y'`) in free text: what every output applies to
/// messages, reasons and log lines. Borrowed when nothing was masked.
pub fn mask_text(text: &str) -> Cow<'_, str> {
    let urls_masked = if text.contains("://") {
        let m = mask_urls(text);
        (m != text).then_some(m)
    } else {
        None
    };
    let assignments_masked = mask_assignments(urls_masked.as_deref().unwrap_or(text));
    match (assignments_masked, urls_masked) {
        (Some(m), _) | (None, Some(m)) => Cow::Owned(m),
        (None, None) => Cow::Borrowed(text),
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
        if key.is_empty() || !is_secret_key(key) {
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
    fn values() {
        assert_eq!(redact_values("pw is hunter2", ["hunter2"]), "pw is ***");
        assert_eq!(mask_env("MYSQL_ROOT_PASSWORD", "x"), "***");
        assert_eq!(mask_env("HOST", "db"), "db");
    }
}
