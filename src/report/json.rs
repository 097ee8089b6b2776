//! JSON: the run record itself (run.json, with its `schema` version), sanitised like
//! every other format.

use super::Options;
use super::text::sanitised;
use crate::results::RunRecord;

pub fn render_json(record: &RunRecord, _opts: &Options) -> String {
    let mut s = serde_json::to_string_pretty(&sanitised(record))
        .unwrap_or_else(|e| format!("{{\"error\": \"failed to serialise the run record: {e}\"}}"));
    s.push('\n');
    s
}
