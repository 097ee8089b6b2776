//! Reading one value of a compose service for a cell: interpolated, typed (boolean,
//! duration, size, number, port, string-or-list, map-or-list), each problem and warning
//! collected with its file, line and key rather than stopping at the first.

use std::borrow::Cow;
use std::time::Duration;

use indexmap::IndexMap;

use crate::compose::Project;
use crate::compose::interp::{self, InterpErrorKind};
use crate::compose::merge::entries_of;
use crate::compose::raw::{At, MapOrList, Pos, Sc, StrOrList};
use crate::compose::text::{go_duration, shell_words};
use crate::diagnostic::Diagnostic;
use crate::units::parse_bytes;

/// Collects a cell's problems while its values are read.
pub(super) struct Cx<'a> {
    pub(super) project: &'a Project,
    pub(super) lookup: &'a dyn Fn(&str) -> Option<String>,
    pub(super) problems: Vec<Diagnostic>,
    pub(super) warnings: Vec<String>,
}

impl Cx<'_> {
    pub(super) fn err(
        &mut self,
        pos: Pos,
        key: &str,
        msg: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.problems.push(self.project.diag(pos, key, msg, help));
    }

    /// A scalar, interpolated.
    pub(super) fn s(&mut self, sc: &Sc, key: &str) -> Option<String> {
        self.text(&sc.v.0, sc.pos, key)
    }

    pub(super) fn text(&mut self, text: &str, pos: Pos, key: &str) -> Option<String> {
        let mut unset = Vec::new();
        let r = interp::interpolate(text, self.lookup, &mut |v| unset.push(v.to_string()))
            .map(Cow::into_owned);
        for v in unset {
            let w = format!("the {v} variable is not set; `{key}` uses an empty string for it");
            if !self.warnings.contains(&w) {
                self.warnings.push(w);
            }
        }
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                let column = pos.column + text[..e.offset.min(text.len())].chars().count() as u32;
                let at = Pos { column, ..pos };
                let help = match e.kind {
                    InterpErrorKind::Required { .. } => {
                        "set the variable: an axis of the matrix, the caller's environment, or the env file"
                    }
                    InterpErrorKind::Unterminated => {
                        "close it with `}`, or write `$$` for a literal `$`"
                    }
                    _ => "write `$$` for a literal `$`",
                };
                self.err(at, key, e.to_string(), help);
                None
            }
        }
    }

    pub(super) fn bool(&mut self, sc: &Sc, key: &str) -> Option<bool> {
        let v = self.s(sc, key)?;
        match v.as_str() {
            "true" | "True" | "TRUE" | "yes" => Some(true),
            "false" | "False" | "FALSE" | "no" => Some(false),
            _ => {
                self.err(
                    sc.pos,
                    key,
                    format!("`{v}` is not a boolean"),
                    "write true or false",
                );
                None
            }
        }
    }

    pub(super) fn duration(&mut self, sc: &Sc, key: &str) -> Option<Duration> {
        let v = self.s(sc, key)?;
        match go_duration(&v) {
            Ok(d) => Some(d),
            Err(e) => {
                self.err(
                    sc.pos,
                    key,
                    format!("bad duration: {e}"),
                    "e.g. 10s, 1m30s, 500ms",
                );
                None
            }
        }
    }

    pub(super) fn bytes(&mut self, sc: &Sc, key: &str) -> Option<u64> {
        let v = self.s(sc, key)?;
        match parse_bytes(&v) {
            Ok(b) => Some(b),
            Err(e) => {
                self.err(sc.pos, key, format!("bad size: {e}"), "e.g. 512m, 1g, 64k");
                None
            }
        }
    }

    pub(super) fn int(&mut self, sc: &Sc, key: &str) -> Option<i64> {
        let v = self.s(sc, key)?;
        match v.trim().parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                self.err(
                    sc.pos,
                    key,
                    format!("`{v}` is not a whole number"),
                    "write a number",
                );
                None
            }
        }
    }

    pub(super) fn port(&mut self, text: &str, pos: Pos, key: &str) -> Option<u16> {
        match text.trim().parse::<u16>() {
            Ok(p) if p > 0 => Some(p),
            _ => {
                self.err(
                    pos,
                    key,
                    format!("`{text}` is not a port"),
                    "a port between 1 and 65535",
                );
                None
            }
        }
    }

    pub(super) fn str_or_list(
        &mut self,
        x: &At<StrOrList>,
        key: &str,
        shell_split: bool,
    ) -> Option<Vec<String>> {
        match &x.v {
            StrOrList::Str(s) => {
                let v = self.text(&s.0, x.pos, key)?;
                if shell_split {
                    match shell_words(&v) {
                        Ok(w) => Some(w),
                        Err(e) => {
                            self.err(x.pos, key, e, "close the quote");
                            None
                        }
                    }
                } else {
                    Some(vec![v])
                }
            }
            StrOrList::List(items) => {
                let mut out = Vec::new();
                for (i, it) in items.iter().enumerate() {
                    out.push(self.s(it, &format!("{key}[{i}]"))?);
                }
                Some(out)
            }
        }
    }

    /// A map-or-list as key → value; `None` values (`KEY` alone, `KEY:`) are looked up
    /// in the variables when `from_env`, else empty.
    pub(super) fn map(
        &mut self,
        x: &At<MapOrList>,
        key: &str,
        from_env: bool,
    ) -> IndexMap<String, String> {
        let mut out = IndexMap::new();
        for (k, (_, v)) in entries_of(&x.v) {
            let val = match &v.v {
                Some(s) => self.text(&s.0, v.pos, &format!("{key}.{k}")),
                None if from_env => match (self.lookup)(&k) {
                    Some(val) => Some(val),
                    None => continue,
                },
                None => Some(String::new()),
            };
            if let Some(val) = val {
                out.insert(k, val);
            }
        }
        out
    }
}
