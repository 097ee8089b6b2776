//! `[[known]]`: known incompatibilities, each a filter over the cells' keys, a check name
//! and a reason, none of them empty.

use crate::diagnostic::Ctx;
use crate::matrix::raw::RawMatrix;
use crate::matrix::{Filter, Known};

/// The `[[known]]` entries.
pub(super) fn known(cx: &mut Ctx<'_>, raw: &RawMatrix, all_keys: &[String]) -> Vec<Known> {
    let mut known = Vec::new();
    for (i, k) in raw.known.iter().enumerate() {
        let entry = k.get_ref();
        let key = format!("known[{i}]");
        match Filter::parse(entry.filter.get_ref()).and_then(|f| {
            f.check_axes(all_keys.iter().map(String::as_str))
                .map(|()| f)
        }) {
            Ok(filter) => known.push(Known {
                filter,
                check: entry.check.get_ref().clone(),
                check_span: entry.check.span(),
                reason: entry.reason.get_ref().clone(),
            }),
            Err(e) => {
                let help = e.help();
                cx.err(
                    entry.filter.span(),
                    format!("{key}.filter"),
                    format!("bad filter: {e}"),
                    help,
                );
            }
        }
        if entry.check.get_ref().trim().is_empty() {
            cx.err(
                entry.check.span(),
                format!("{key}.check"),
                "the check name is empty",
                "give the unique name of a check in the matrix's scenarios",
            );
        }
        if entry.reason.get_ref().trim().is_empty() {
            cx.err(
                entry.reason.span(),
                format!("{key}.reason"),
                "the reason is empty",
                "say why this incompatibility is accepted",
            );
        }
    }
    known
}
