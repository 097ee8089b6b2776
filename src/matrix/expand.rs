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
pub fn expand(
    axes: &[(String, Vec<String>)],
    exclude: &[Values],
    include: &[Values],
) -> Vec<Values> {
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
        // Two equal entries that both extend nothing would make two identical cells (one
        // id, one set of container names): the second adds nothing.
        if !added && !combos.iter().any(|(c, created)| *created && c == inc) {
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
pub fn key_order<'a>(
    axes: &'a [(String, Vec<String>)],
    include: &'a [Values],
) -> IndexMap<&'a str, ()> {
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

/// The same combinations as [`expand`], in compact form: an original combination is its
/// index in the cartesian product plus, for each key that includes add, which include
/// last set it; combinations that includes made are kept whole. Filtering and
/// partitioning this form, then materialising only the combinations kept, is what lets
/// a 100,000-cell matrix plan in milliseconds and a few tens of MB. Needs validated
/// axes: unique names, unique values (a property test holds it equal to [`expand`]).
#[derive(Debug)]
pub struct Expansion<'a> {
    axes: &'a [(String, Vec<String>)],
    include: &'a [Values],
    /// Keys that includes introduced, in order of first appearance (after the axes).
    extra_keys: Vec<&'a str>,
    /// Per axis, how far one step of its value moves in the product (last axis: 1).
    strides: Vec<usize>,
    /// Product indices of the original combinations no exclude removed, in order.
    originals: Vec<usize>,
    /// `originals.len() × extra_keys.len()`: 0 when the key is absent, else 1 + the
    /// index of the include that last set it.
    setters: Vec<u32>,
    /// Combinations that includes made, keys in plan order.
    created: Vec<Values>,
}

impl<'a> Expansion<'a> {
    pub fn new(
        axes: &'a [(String, Vec<String>)],
        exclude: &[Values],
        include: &'a [Values],
    ) -> Expansion<'a> {
        let mut strides = vec![1usize; axes.len()];
        for i in (0..axes.len().saturating_sub(1)).rev() {
            strides[i] = strides[i + 1].saturating_mul(axes[i + 1].1.len());
        }
        let total = if axes.is_empty() {
            0
        } else {
            axes.iter()
                .try_fold(1usize, |n, (_, v)| n.checked_mul(v.len()))
                .unwrap_or(0)
        };
        let axis_of = |k: &str| axes.iter().position(|(name, _)| name == k);
        // An entry's axis keys as (axis, value index); `None` when a value is no value of
        // its axis (so that the entry matches no original combination).
        let constraints = |entry: &Values| -> Option<Vec<(usize, usize)>> {
            entry
                .iter()
                .filter_map(|(k, v)| axis_of(k).map(|a| (a, v)))
                .map(|(a, v)| axes[a].1.iter().position(|x| x == v).map(|i| (a, i)))
                .collect()
        };
        let holds = |p: usize, cs: &[(usize, usize)]| {
            cs.iter()
                .all(|&(a, i)| (p / strides[a]) % axes[a].1.len() == i)
        };

        // An exclude naming a key that is no axis matches nothing, as in `expand`.
        let excludes: Vec<Vec<(usize, usize)>> = exclude
            .iter()
            .filter(|ex| ex.keys().all(|k| axis_of(k).is_some()))
            .filter_map(constraints)
            .collect();
        let originals: Vec<usize> = (0..total)
            .filter(|&p| !excludes.iter().any(|cs| holds(p, cs)))
            .collect();

        let mut extra_keys: Vec<&'a str> = Vec::new();
        for inc in include {
            for k in inc.keys() {
                if axis_of(k).is_none() && !extra_keys.contains(&k.as_str()) {
                    extra_keys.push(k);
                }
            }
        }
        let width = extra_keys.len();
        let mut setters = vec![0u32; originals.len() * width];
        let mut created: Vec<Values> = Vec::new();
        for (n, inc) in include.iter().enumerate() {
            let sets: Vec<usize> = inc
                .keys()
                .filter_map(|k| extra_keys.iter().position(|e| e == k))
                .collect();
            let mut added = false;
            if let Some(cs) = constraints(inc) {
                for (o, &p) in originals.iter().enumerate() {
                    if holds(p, &cs) {
                        for &j in &sets {
                            setters[o * width + j] = n as u32 + 1;
                        }
                        added = true;
                    }
                }
            }
            if !added && !created.iter().any(|c| c == inc) {
                created.push(inc.clone());
            }
        }
        let order = key_order(axes, include);
        for c in &mut created {
            c.sort_by_cached_key(|k, _| order.get_index_of(k.as_str()).unwrap_or(usize::MAX));
        }
        Expansion {
            axes,
            include,
            extra_keys,
            strides,
            originals,
            setters,
            created,
        }
    }

    /// How many combinations: the originals kept, then those includes made.
    pub fn len(&self) -> usize {
        self.originals.len() + self.created.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value of `key` in combination `i` (plan order).
    pub fn get(&self, i: usize, key: &str) -> Option<&str> {
        match self.originals.get(i) {
            Some(&p) => match self.axes.iter().position(|(name, _)| name == key) {
                Some(a) => Some(self.axis_value(p, a)),
                None => {
                    let j = self.extra_keys.iter().position(|e| *e == key)?;
                    self.extra_value(i, j)
                }
            },
            None => self.created[i - self.originals.len()]
                .get(key)
                .map(String::as_str),
        }
    }

    fn axis_value(&self, p: usize, a: usize) -> &str {
        let vals = &self.axes[a].1;
        &vals[(p / self.strides[a]) % vals.len()]
    }

    fn extra_value(&self, original: usize, j: usize) -> Option<&str> {
        let set = self.setters[original * self.extra_keys.len() + j];
        let inc = self.include.get((set as usize).checked_sub(1)?)?;
        inc.get(self.extra_keys[j]).map(String::as_str)
    }

    /// The key/value pairs of combination `i`, in plan order.
    pub fn pairs(&self, i: usize) -> Vec<(&str, &str)> {
        match self.originals.get(i) {
            Some(&p) => {
                let mut out = Vec::with_capacity(self.axes.len() + self.extra_keys.len());
                for (a, (name, _)) in self.axes.iter().enumerate() {
                    out.push((name.as_str(), self.axis_value(p, a)));
                }
                for (j, key) in self.extra_keys.iter().enumerate() {
                    if let Some(v) = self.extra_value(i, j) {
                        out.push((key, v));
                    }
                }
                out
            }
            None => self.created[i - self.originals.len()]
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
        }
    }

    /// Combination `i` as owned values, in plan order.
    pub fn values(&self, i: usize) -> Values {
        match self.originals.get(i) {
            Some(&p) => {
                let mut out = Values::with_capacity(self.axes.len() + self.extra_keys.len());
                for (a, (name, _)) in self.axes.iter().enumerate() {
                    out.insert(name.clone(), self.axis_value(p, a).to_string());
                }
                for (j, key) in self.extra_keys.iter().enumerate() {
                    if let Some(v) = self.extra_value(i, j) {
                        out.insert(key.to_string(), v.to_string());
                    }
                }
                out
            }
            None => self.created[i - self.originals.len()].clone(),
        }
    }

    /// Which keys combination `i` has beyond the axes: for an original combination, one
    /// flag per include-added key; the key sets of all originals are few.
    pub fn extra_keys_present(&self, i: usize) -> Option<impl Iterator<Item = bool> + '_> {
        let w = self.extra_keys.len();
        (i < self.originals.len()).then(|| self.setters[i * w..(i + 1) * w].iter().map(|s| *s != 0))
    }

    /// Indices (plan order) of the combinations whose value of `key` satisfies `ok`, for
    /// every `(key, ok)` of `terms`; a combination lacking a key does not match. Each
    /// `ok` is asked once per distinct value, not once per combination.
    pub fn matching<F: Fn(&str) -> bool>(&self, terms: &[(&str, F)]) -> Vec<usize> {
        enum Judged {
            Axis(usize, Vec<bool>),
            Extra(usize, Vec<bool>),
            Never,
        }
        let judged: Vec<Judged> = terms
            .iter()
            .map(|(key, ok)| {
                if let Some(a) = self.axes.iter().position(|(name, _)| name == key) {
                    Judged::Axis(a, self.axes[a].1.iter().map(|v| ok(v)).collect())
                } else if let Some(j) = self.extra_keys.iter().position(|e| e == key) {
                    // Per include: does the value it sets satisfy the term?
                    let by_include = self
                        .include
                        .iter()
                        .map(|inc| inc.get(*key).is_some_and(|v| ok(v)))
                        .collect();
                    Judged::Extra(j, by_include)
                } else {
                    Judged::Never
                }
            })
            .collect();
        let w = self.extra_keys.len();
        let mut out: Vec<usize> = self
            .originals
            .iter()
            .enumerate()
            .filter(|&(o, &p)| {
                judged.iter().all(|j| match j {
                    Judged::Axis(a, ok) => ok[(p / self.strides[*a]) % ok.len()],
                    Judged::Extra(k, ok) => match self.setters[o * w + k] {
                        0 => false,
                        set => ok[set as usize - 1],
                    },
                    Judged::Never => false,
                })
            })
            .map(|(o, _)| o)
            .collect();
        let base = self.originals.len();
        out.extend(
            self.created
                .iter()
                .enumerate()
                .filter(|(_, c)| {
                    terms
                        .iter()
                        .all(|(key, ok)| c.get(*key).is_some_and(|v| ok(v)))
                })
                .map(|(n, _)| base + n),
        );
        out
    }
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
            vals(&[
                ("fruit", "apple"),
                ("animal", "cat"),
                ("color", "pink"),
                ("shape", "circle"),
            ]),
            vals(&[
                ("fruit", "apple"),
                ("animal", "dog"),
                ("color", "green"),
                ("shape", "circle"),
            ]),
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
        let a = axes(&[
            ("os", &["windows-latest", "ubuntu-latest"]),
            ("node", &["14", "16"]),
        ]);
        let include = vec![vals(&[
            ("os", "windows-latest"),
            ("node", "16"),
            ("npm", "6"),
        ])];
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
            vals(&[
                ("os", "macos-latest"),
                ("version", "12"),
                ("environment", "production"),
            ]),
            vals(&[("os", "windows-latest"), ("version", "16")]),
        ];
        let got = expand(&a, &exclude, &[]);
        assert_eq!(got.len(), 12 - 1 - 2);
        assert!(
            !got.iter()
                .any(|c| c["os"] == "windows-latest" && c["version"] == "16")
        );
    }

    #[test]
    fn exclude_before_include_and_include_readds() {
        let a = axes(&[
            ("engine", &["20.10", "28.5"]),
            ("driver", &["overlay2", "vfs"]),
        ]);
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
        assert_eq!(
            got,
            vec![
                vals(&[("x", "1"), ("extra", "b")]),
                vals(&[("x", "2"), ("extra", "a")])
            ]
        );
    }

    #[test]
    fn equal_includes_that_extend_nothing_make_one_combination() {
        let a = axes(&[("x", &["1"])]);
        let include = vec![vals(&[("x", "9")]), vals(&[("x", "9")])];
        assert_eq!(
            expand(&a, &[], &include),
            vec![vals(&[("x", "1")]), vals(&[("x", "9")])]
        );
    }

    #[test]
    fn include_created_combination_is_never_extended() {
        let a = axes(&[("x", &["1"])]);
        let include = vec![vals(&[("x", "9")]), vals(&[("color", "red")])];
        let got = expand(&a, &[], &include);
        assert_eq!(
            got,
            vec![vals(&[("x", "1"), ("color", "red")]), vals(&[("x", "9")])]
        );
    }
}

#[cfg(test)]
mod proptests {
    //! GitHub's rules checked on random matrices: 1–5 axes of 1–6 values (unicode and
    //! punctuation included), random excludes and includes.

    use std::collections::{BTreeMap, BTreeSet, HashSet};

    use proptest::prelude::*;
    use proptest::sample::Index;

    use super::*;
    use crate::matrix::cell::{Cell, Partition, PartitionKind};

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => "[a-z0-9][a-z0-9.]{0,3}",
            1 => "[ -~]{1,8}",
            1 => "\\PC{1,6}",
        ]
    }

    type Axes = Vec<(String, Vec<String>)>;

    fn axes() -> impl Strategy<Value = Axes> {
        prop::collection::btree_map(text(), prop::collection::btree_set(text(), 1..=6), 1..=5)
            .prop_map(|m: BTreeMap<String, BTreeSet<String>>| {
                m.into_iter()
                    .map(|(k, vs)| (k, vs.into_iter().collect()))
                    .collect()
            })
    }

    /// One key = value of an include/exclude entry: mostly an axis and one of its values,
    /// sometimes a value no axis has, or (for includes) a key no axis has.
    #[derive(Debug, Clone)]
    struct Pick {
        axis: Index,
        value: Index,
        foreign_value: Option<String>,
        foreign_key: Option<String>,
    }

    fn pick() -> impl Strategy<Value = Pick> {
        (
            any::<Index>(),
            any::<Index>(),
            prop::option::weighted(0.15, text()),
            prop::option::weighted(
                0.25,
                prop_oneof![Just("extra".to_string()), Just("color".to_string()), text()],
            ),
        )
            .prop_map(|(axis, value, foreign_value, foreign_key)| Pick {
                axis,
                value,
                foreign_value,
                foreign_key,
            })
    }

    fn entry(axes: &Axes, picks: &[Pick], foreign_keys: bool) -> Values {
        let mut out = Values::new();
        for p in picks {
            let (name, vals) = &axes[p.axis.index(axes.len())];
            let key = match (&p.foreign_key, foreign_keys) {
                (Some(k), true) => k.clone(),
                _ => name.clone(),
            };
            let value = p
                .foreign_value
                .clone()
                .unwrap_or_else(|| vals[p.value.index(vals.len())].clone());
            out.insert(key, value);
        }
        out
    }

    fn matrix() -> impl Strategy<Value = (Axes, Vec<Values>, Vec<Values>)> {
        let entries = || prop::collection::vec(prop::collection::vec(pick(), 1..=3), 0..=4);
        (axes(), entries(), entries()).prop_map(|(axes, ex, inc)| {
            // Excludes may only name axes (validation refuses other keys).
            let exclude = ex.iter().map(|p| entry(&axes, p, false)).collect();
            let include = inc.iter().map(|p| entry(&axes, p, true)).collect();
            (axes, exclude, include)
        })
    }

    fn matches_all(combo: &Values, partial: &Values) -> bool {
        partial.iter().all(|(k, v)| combo.get(k) == Some(v))
    }

    /// Whether `inc` would overwrite one of the original (axis) values of `combo`.
    fn overwrites(axes: &Axes, combo: &Values, inc: &Values) -> bool {
        inc.iter().any(|(k, v)| {
            axes.iter().any(|(a, _)| a == k) && combo.get(k).is_some_and(|have| have != v)
        })
    }

    /// The cartesian product, first axis outermost, written independently of `product`.
    fn reference_product(axes: &Axes) -> Vec<Values> {
        axes.iter().fold(vec![Values::new()], |acc, (name, vals)| {
            acc.iter()
                .flat_map(|c| {
                    vals.iter().map(move |v| {
                        let mut c = c.clone();
                        c.insert(name.clone(), v.clone());
                        c
                    })
                })
                .collect()
        })
    }

    fn project(combo: &Values, axes: &Axes) -> Values {
        axes.iter()
            .filter_map(|(a, _)| combo.get(a).map(|v| (a.clone(), v.clone())))
            .collect()
    }

    proptest! {
        #[test]
        fn expansion_follows_githubs_rules((axes, exclude, include) in matrix(), total in 1..8u32) {
            let got = expand(&axes, &exclude, &include);

            // Every original combination that no exclude matches is there, in order, with
            // its original values untouched; the excluded ones are not.
            let kept: Vec<Values> = reference_product(&axes)
                .into_iter()
                .filter(|c| !exclude.iter().any(|ex| matches_all(c, ex)))
                .collect();
            prop_assert!(got.len() >= kept.len());
            for (i, want) in kept.iter().enumerate() {
                prop_assert_eq!(&project(&got[i], &axes), want, "combination {}", i);
            }

            // Each include that overwrites no original value of a kept combination extends
            // it; the last one to do so leaves all its values there.
            for (i, orig) in kept.iter().enumerate() {
                if let Some(last) = include.iter().rev().find(|inc| !overwrites(&axes, orig, inc)) {
                    prop_assert!(matches_all(&got[i], last), "{:?} lacks {:?}", got[i], last);
                }
                let allowed: HashSet<&String> = axes
                    .iter()
                    .map(|(a, _)| a)
                    .chain(include.iter().filter(|inc| !overwrites(&axes, orig, inc)).flat_map(|inc| inc.keys()))
                    .collect();
                prop_assert!(got[i].keys().all(|k| allowed.contains(k)), "{:?}", got[i]);
            }

            // The rest are include entries that extend nothing, as written, once each.
            let created = &got[kept.len()..];
            for inc in &include {
                if kept.iter().all(|orig| overwrites(&axes, orig, inc)) {
                    prop_assert_eq!(created.iter().filter(|c| *c == inc).count(), 1, "{:?}", inc);
                }
            }
            for c in created {
                prop_assert!(include.contains(c), "{:?} comes from no include", c);
                prop_assert!(kept.iter().all(|orig| overwrites(&axes, orig, c)));
            }

            // Keys: axes first, then include keys by first appearance.
            let order = key_order(&axes, &include);
            for c in &got {
                let idx: Vec<usize> = c.keys().map(|k| order.get_index_of(k.as_str()).unwrap_or(usize::MAX)).collect();
                prop_assert!(idx.windows(2).all(|w| w[0] < w[1]), "{:?}", c);
            }

            // Cells: distinct, with unique, safe ids.
            let cells: Vec<Cell> = got.into_iter().map(Cell::new).collect();
            let ids: HashSet<&str> = cells.iter().map(|c| c.id.as_str()).collect();
            prop_assert_eq!(ids.len(), cells.len(), "duplicate ids");
            for c in &cells {
                let (head, hash) = c.id.rsplit_once('-').expect("a digest");
                prop_assert!(!head.is_empty());
                prop_assert!(hash.len() == 8 && hash.chars().all(|ch| ch.is_ascii_digit() || ('a'..='f').contains(&ch)), "{}", c.id);
                prop_assert!(
                    c.id.chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || matches!(ch, '_' | '.' | '-')),
                    "{}", c.id
                );
            }

            // Shards of the expanded plan, hash and count, partition it.
            for kind in [PartitionKind::Hash, PartitionKind::Count] {
                let mut seen: Vec<String> = Vec::new();
                for shard in 1..=total {
                    seen.extend(Partition { kind, shard, total }.select(cells.clone()).into_iter().map(|c| c.id));
                }
                let unique: HashSet<&str> = seen.iter().map(String::as_str).collect();
                prop_assert_eq!(unique.len(), seen.len(), "{:?} {}: overlap", kind, total);
                prop_assert_eq!(&unique, &ids, "{:?} {}: not covered", kind, total);
            }
        }

        #[test]
        fn the_compact_expansion_is_the_expansion(
            (axes, exclude, include) in matrix(),
            wanted in prop::collection::vec((any::<Index>(), any::<Index>(), any::<bool>()), 0..=3),
        ) {
            let got = expand(&axes, &exclude, &include);
            let exp = Expansion::new(&axes, &exclude, &include);
            prop_assert_eq!(exp.len(), got.len());
            for (i, want) in got.iter().enumerate() {
                let pairs: Vec<(&str, &str)> = want.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                // In order: IndexMap's == ignores it.
                prop_assert_eq!(exp.pairs(i), pairs, "combination {}", i);
                for (k, v) in want {
                    prop_assert_eq!(exp.get(i, k), Some(v.as_str()));
                }
                prop_assert_eq!(exp.get(i, "no such key"), None);
            }

            // Filter terms on keys the combinations have (or not): `key = a value seen`, or
            // `key != it`. The compact judge agrees with judging each materialised one.
            let keys: Vec<&str> = key_order(&axes, &include).keys().copied().chain(["no such key"]).collect();
            let terms: Vec<(&str, String, bool)> = wanted
                .iter()
                .map(|(k, v, eq)| {
                    let key = keys[k.index(keys.len())];
                    let values: Vec<&String> = got.iter().filter_map(|c| c.get(key)).collect();
                    let value = if values.is_empty() { String::new() } else { values[v.index(values.len())].clone() };
                    (key, value, *eq)
                })
                .collect();
            let judges: Vec<(&str, _)> = terms
                .iter()
                .map(|(k, v, eq)| (*k, move |x: &str| (x == v) == *eq))
                .collect();
            let want: Vec<usize> = (0..got.len())
                .filter(|&i| terms.iter().all(|(k, v, eq)| got[i].get(*k).is_some_and(|x| (x == v) == *eq)))
                .collect();
            prop_assert_eq!(exp.matching(&judges), want);
        }

        #[test]
        fn expand_never_panics_on_any_input(
            axes in prop::collection::vec((text(), prop::collection::vec(text(), 0..=4)), 0..=4),
            exclude in prop::collection::vec(prop::collection::vec((text(), text()), 0..=3), 0..=3),
            include in prop::collection::vec(prop::collection::vec((text(), text()), 0..=3), 0..=3),
        ) {
            // Unvalidated input: duplicate values, empty axes, foreign exclude keys.
            let exclude: Vec<Values> = exclude.into_iter().map(|e| e.into_iter().collect()).collect();
            let include: Vec<Values> = include.into_iter().map(|e| e.into_iter().collect()).collect();
            let got = expand(&axes, &exclude, &include);
            prop_assert!(got.len() <= axes.iter().map(|(_, v)| v.len()).product::<usize>() + include.len());
        }
    }
}
