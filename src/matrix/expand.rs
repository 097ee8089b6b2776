//! Expansion of axes, `[[exclude]]` and `[[include]]` into combinations, following
//! GitHub Actions' documented `strategy.matrix` rules:
//!
//! 1. the cartesian product of the axes, first axis outermost;
//! 2. every exclude entry removes the combinations that match all its keys (partial match);
//! 3. each include entry, in order, is added to every *original* combination none of whose
//!    original values it would overwrite (values added by an earlier include may be
//!    overwritten); if it can be added to none, it becomes a new combination, which later
//!    includes never extend.

use indexmap::IndexMap;

pub type Values = IndexMap<String, String>;

/// Expands into combinations whose keys follow `key_order` (axes, then keys that include
/// entries introduced, in order of first appearance).
pub fn expand(axes: &[(String, Vec<String>)], exclude: &[Values], include: &[Values]) -> Vec<Values> {
    let mut combos: Vec<(Values, bool)> = product(axes)
        .into_iter()
        .filter(|c| !exclude.iter().any(|ex| matches_all(c, ex)))
        .map(|c| (c, false))
        .collect();

    let is_axis = |k: &str| axes.iter().any(|(name, _)| name == k);
    for inc in include {
        let mut added = false;
        for (combo, from_include) in combos.iter_mut() {
            if *from_include {
                continue;
            }
            let overwrites_original = inc
                .iter()
                .any(|(k, v)| is_axis(k) && combo.get(k).is_some_and(|have| have != v));
            if !overwrites_original {
                for (k, v) in inc {
                    combo.insert(k.clone(), v.clone());
                }
                added = true;
            }
        }
        if !added {
            combos.push((inc.clone(), true));
        }
    }

    let order = key_order(axes, include);
    combos
        .into_iter()
        .map(|(mut c, _)| {
            c.sort_by_cached_key(|k, _| order.get_index_of(k.as_str()).unwrap_or(usize::MAX));
            c
        })
        .collect()
}

/// Axes first, then keys that include entries introduced.
pub fn key_order<'a>(axes: &'a [(String, Vec<String>)], include: &'a [Values]) -> IndexMap<&'a str, ()> {
    let mut order: IndexMap<&str, ()> = axes.iter().map(|(k, _)| (k.as_str(), ())).collect();
    for inc in include {
        for k in inc.keys() {
            order.entry(k.as_str()).or_insert(());
        }
    }
    order
}

fn matches_all(combo: &Values, partial: &Values) -> bool {
    partial.iter().all(|(k, v)| combo.get(k) == Some(v))
}

fn product(axes: &[(String, Vec<String>)]) -> Vec<Values> {
    if axes.is_empty() || axes.iter().any(|(_, vals)| vals.is_empty()) {
        return Vec::new();
    }
    let total: usize = axes.iter().map(|(_, v)| v.len()).product();
    let mut out = Vec::with_capacity(total);
    let mut idx = vec![0usize; axes.len()];
    for _ in 0..total {
        let mut combo = Values::with_capacity(axes.len());
        for ((name, vals), &i) in axes.iter().zip(&idx) {
            combo.insert(name.clone(), vals[i].clone());
        }
        out.push(combo);
        // Odometer: the last axis varies fastest.
        for pos in (0..idx.len()).rev() {
            idx[pos] += 1;
            if idx[pos] < axes[pos].1.len() {
                break;
            }
            idx[pos] = 0;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axes(spec: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
        spec.iter()
            .map(|(k, vs)| (k.to_string(), vs.iter().map(|v| v.to_string()).collect()))
            .collect()
    }

    fn vals(pairs: &[(&str, &str)]) -> Values {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn github_docs_expanding_or_adding_combinations() {
        // "Example: Expanding configurations" of GitHub's strategy.matrix documentation.
        let a = axes(&[("fruit", &["apple", "pear"]), ("animal", &["cat", "dog"])]);
        let include = vec![
            vals(&[("color", "green")]),
            vals(&[("color", "pink"), ("animal", "cat")]),
            vals(&[("fruit", "apple"), ("shape", "circle")]),
            vals(&[("fruit", "banana")]),
            vals(&[("fruit", "banana"), ("animal", "cat")]),
        ];
        let got = expand(&a, &[], &include);
        let want = vec![
            vals(&[("fruit", "apple"), ("animal", "cat"), ("color", "pink"), ("shape", "circle")]),
            vals(&[("fruit", "apple"), ("animal", "dog"), ("color", "green"), ("shape", "circle")]),
            vals(&[("fruit", "pear"), ("animal", "cat"), ("color", "pink")]),
            vals(&[("fruit", "pear"), ("animal", "dog"), ("color", "green")]),
            vals(&[("fruit", "banana")]),
            vals(&[("fruit", "banana"), ("animal", "cat")]),
        ];
        assert_eq!(got, want);
        // Key order too: axes first, then include keys by first appearance.
        assert_eq!(
            got[0].keys().collect::<Vec<_>>(),
            ["fruit", "animal", "color", "shape"]
        );
    }

    #[test]
    fn github_docs_expanding_one_combination() {
        let a = axes(&[("os", &["windows-latest", "ubuntu-latest"]), ("node", &["14", "16"])]);
        let include = vec![vals(&[("os", "windows-latest"), ("node", "16"), ("npm", "6")])];
        let got = expand(&a, &[], &include);
        assert_eq!(got.len(), 4);
        let with_npm: Vec<_> = got.iter().filter(|c| c.contains_key("npm")).collect();
        assert_eq!(with_npm.len(), 1);
        assert_eq!(with_npm[0]["os"], "windows-latest");
        assert_eq!(with_npm[0]["node"], "16");
    }

    #[test]
    fn github_docs_include_only() {
        let include = vec![
            vals(&[("site", "production"), ("datacenter", "site-a")]),
            vals(&[("site", "staging"), ("datacenter", "site-b")]),
        ];
        let got = expand(&[], &[], &include);
        assert_eq!(got, include);
    }

    #[test]
    fn github_docs_excluding() {
        // "Example: Excluding matrix configurations": 12 combinations less 2 (one exclude
        // is partial and removes two).
        let a = axes(&[
            ("os", &["macos-latest", "windows-latest"]),
            ("version", &["12", "14", "16"]),
            ("environment", &["staging", "production"]),
        ]);
        let exclude = vec![
            vals(&[("os", "macos-latest"), ("version", "12"), ("environment", "production")]),
            vals(&[("os", "windows-latest"), ("version", "16")]),
        ];
        let got = expand(&a, &exclude, &[]);
        assert_eq!(got.len(), 12 - 1 - 2);
        assert!(!got.iter().any(|c| c["os"] == "windows-latest" && c["version"] == "16"));
    }

    #[test]
    fn exclude_before_include_and_include_readds() {
        let a = axes(&[("engine", &["20.10", "28.5"]), ("driver", &["overlay2", "vfs"])]);
        let exclude = vec![vals(&[("engine", "20.10"), ("driver", "vfs")])];
        let include = vec![vals(&[("engine", "20.10"), ("driver", "vfs")])];
        let got = expand(&a, &exclude, &include);
        // The include matches no remaining combination without overwriting, so it is added
        // as a new one (at the end).
        assert_eq!(got.len(), 4);
        assert_eq!(got[3], vals(&[("engine", "20.10"), ("driver", "vfs")]));
    }

    #[test]
    fn added_values_may_be_overwritten_original_never() {
        let a = axes(&[("x", &["1", "2"])]);
        let include = vec![vals(&[("extra", "a")]), vals(&[("x", "1"), ("extra", "b")])];
        let got = expand(&a, &[], &include);
        assert_eq!(got, vec![vals(&[("x", "1"), ("extra", "b")]), vals(&[("x", "2"), ("extra", "a")])]);
    }

    #[test]
    fn include_created_combination_is_never_extended() {
        let a = axes(&[("x", &["1"])]);
        let include = vec![vals(&[("x", "9")]), vals(&[("color", "red")])];
        let got = expand(&a, &[], &include);
        assert_eq!(got, vec![vals(&[("x", "1"), ("color", "red")]), vals(&[("x", "9")])]);
    }
}
