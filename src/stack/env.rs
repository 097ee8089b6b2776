//! `${VAR}` and `${VAR:-default}` in service env values, from the caller's environment.

use indexmap::IndexMap;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    #[error(
        "env `{key}` needs ${{{var}}}, which is not set in the environment (set it, or write ${{{var}:-default}})"
    )]
    Unset { key: String, var: String },
    #[error("env `{key}`: unterminated `${{` in its value")]
    Unterminated { key: String },
    #[error("{0}")]
    Template(String),
}

/// Resolves every value; `lookup` reads the caller's environment.
pub fn resolve(
    env: &IndexMap<String, String>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<IndexMap<String, String>, EnvError> {
    env.iter()
        .map(|(k, v)| Ok((k.clone(), expand(k, v, lookup)?)))
        .collect()
}

fn expand(
    key: &str,
    value: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, EnvError> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let close = after.find('}').ok_or_else(|| EnvError::Unterminated {
            key: key.to_string(),
        })?;
        let inner = &after[..close];
        let (var, default) = match inner.split_once(":-") {
            Some((v, d)) => (v, Some(d)),
            None => (inner, None),
        };
        match (
            lookup(var).filter(|v| !v.is_empty() || default.is_none()),
            default,
        ) {
            (Some(v), _) => out.push_str(&v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => {
                return Err(EnvError::Unset {
                    key: key.to_string(),
                    var: var.to_string(),
                });
            }
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> IndexMap<String, String> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn expands_with_defaults() {
        let lookup = |k: &str| (k == "SET").then(|| "yes".to_string());
        let got = resolve(
            &env(&[
                ("A", "${SET}"),
                ("B", "x-${UNSET:-dflt}-y"),
                ("C", "plain"),
                ("D", "${SET:-no}"),
            ]),
            &lookup,
        )
        .expect("resolves");
        assert_eq!(got["A"], "yes");
        assert_eq!(got["B"], "x-dflt-y");
        assert_eq!(got["C"], "plain");
        assert_eq!(got["D"], "yes");
    }

    #[test]
    fn unset_without_default_is_an_error_naming_it() {
        let err = resolve(&env(&[("PW", "${NOPE}")]), &|_| None).expect_err("unset");
        assert!(err.to_string().contains("NOPE"), "{err}");
        assert!(resolve(&env(&[("X", "${OPEN")]), &|_| None).is_err());
    }
}
