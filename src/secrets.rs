//! What counts as a secret (DESIGN.md): env values whose key contains PASSWORD, SECRET,
//! TOKEN or KEY, and credentials inside URLs. They are masked as `***` in every output.

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
