//! One self-contained HTML page (inline CSS and SVG, no script, no external asset, no
//! font needed): the summary, the pivot grids, the cell table, a chart per perf check and
//! the figures, and for every cell that did not pass its reason, failing checks and
//! service log tails. Status symbols are drawn ([`svg::glyph`]), the emoji kept as their
//! accessible text, since a viewer without an emoji font shows empty boxes. The layout
//! fits a 1280 px window: wide tables scroll inside their own box, long words wrap.
//! Every string is escaped (and was sanitised before), so nothing a container printed
//! can become markup.

use std::fmt::Write as _;

use rayon::prelude::*;

use super::pivot::{Grid, all_axes};
use super::svg::{self, glyph_defs, with_glyphs};
use super::text::{html as esc, sanitised};
use super::upgrade;
use super::{
    Options, cell_note, cells_needing_attention, check_totals, describe_values, fmt_duration,
    fmt_ms, fmt_pct, grids_for, measured_engine, perf_headline, suites, summary_line, tallies,
};
use crate::results::{CellRecord, CellStatus, CheckStatus, RunRecord};

const CSS: &str = r#"
:root { color-scheme: light; --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --head: #f6f8fa; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "Noto Sans", Helvetica, Arial, sans-serif; color: var(--fg); margin: 0 auto; padding: 24px 24px 48px; background: #fff; max-width: 1600px; overflow-wrap: anywhere; }
svg.g { width: 1.15em; height: 1.15em; vertical-align: -0.22em; flex: none; }
.scroll { max-width: 100%; overflow-x: auto; }
figure.chart { margin: 8px 0 20px; max-width: 1000px; }
figure.chart svg { display: block; height: auto; }
figure.chart figcaption { font-weight: 600; font-size: 15px; margin: 0 0 4px; }
figure.chart text { fill: var(--fg); }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 0 0 6px; }
.meta, .facts, .muted { color: var(--muted); }
.meta { margin: 0; }
ul.counts { list-style: none; display: flex; flex-wrap: wrap; gap: 8px; padding: 0; margin: 8px 0; }
ul.counts li { border-radius: 6px; padding: 6px 12px; font-weight: 600; }
ul.counts .n { font-size: 18px; margin-right: 4px; }
table { border-collapse: collapse; margin: 8px 0 16px; }
th, td { border: 1px solid var(--line); padding: 4px 6px; text-align: left; vertical-align: top; overflow-wrap: normal; }
thead th { background: var(--head); font-weight: 600; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
table.pivot td.sq { text-align: center; font-size: 18px; min-width: 88px; padding: 8px 12px; white-space: nowrap; }
table.pivot th.corner { color: var(--muted); font-weight: 500; }
table.pivot tbody th { background: var(--head); }
table.cells td.status, table.cells td.tally { white-space: nowrap; text-align: center; }
table.cells { font-size: 13px; width: 100%; }
table.cells th, table.cells td { padding: 3px 5px; }
table.cells td.note { min-width: 14em; overflow-wrap: anywhere; }
table.perf td.num { text-align: right; font-variant-numeric: tabular-nums; }
.st-pass { background: #dafbe1; color: #116329; }
.st-flaky { background: #fff8c5; color: #7d4e00; }
.st-unsupported { background: #fbefff; color: #6e40c9; }
.st-fail { background: #ffebe9; color: #a40e26; }
.st-error { background: #ffd8d3; color: #82071e; }
.st-cancelled { background: #eaeef2; color: #424a53; }
.st-mixed { background: #fff1e5; color: #953800; }
.st-empty { background: #fff; }
.st-known-fail, .st-fixed { background: #ddf4ff; color: #0550ae; }
.st-skipped { color: var(--muted); }
table.cells tr > td:not(.status):not(.tally) { background: #fff; color: var(--fg); }
.regressed { color: #a40e26; font-weight: 600; }
article.detail { border: 1px solid var(--line); border-left-width: 6px; border-radius: 6px; padding: 12px 16px; margin: 12px 0; background: #fff; color: var(--fg); }
article.detail.st-fail, article.detail.st-error { border-left-color: #cf222e; }
article.detail.st-flaky { border-left-color: #d4a72c; }
article.detail.st-unsupported { border-left-color: #8250df; }
article.detail.st-cancelled { border-left-color: #818b98; }
ul.checks { padding-left: 18px; }
table.upgrades td.status { white-space: nowrap; text-align: center; }
ol.phases li.phase { margin: 4px 0; }
ol.phases li.phase.st-pass { background: none; }
pre { background: #f6f8fa; border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; overflow-x: auto; white-space: pre-wrap; word-break: break-word; font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; margin: 4px 0 10px; }
details summary { cursor: pointer; color: var(--muted); }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
"#;

pub fn render_html(record: &RunRecord, opts: &Options) -> String {
    let r = sanitised(record);
    let mut o = String::with_capacity(8192 + r.cells.len() * 900);
    let title = format!("dockmatrix · {} · run {}", r.matrix.name, r.run_id);
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{}",
        esc(&title),
        glyph_defs()
    );
    header(&mut o, &r);
    summary(&mut o, &r);
    for g in grids_for(&r, opts, true) {
        pivot(&mut o, &g);
    }
    cells(&mut o, &r);
    upgrades(&mut o, &r);
    perf(&mut o, &r);
    failures(&mut o, &r);
    notes(&mut o, &r);
    let _ = write!(
        o,
        "<footer>Rendered by dockmatrix {} from run.json (schema {}).</footer>\n</body>\n</html>\n",
        esc(&r.tool_version),
        r.schema
    );
    o
}

fn header(o: &mut String, r: &RunRecord) {
    let _ = writeln!(o, "<header>\n<h1>dockmatrix: {}</h1>", esc(&r.matrix.name));
    let mut meta = vec![format!("run <code>{}</code>", esc(&r.run_id))];
    if let Some(p) = &r.partition {
        meta.push(format!("partition {}", esc(p)));
    }
    meta.push(format!("started {}", esc(&r.started_at)));
    if let Some(f) = &r.finished_at {
        meta.push(format!("finished {}", esc(f)));
    }
    if !r.host.hostname.is_empty() {
        meta.push(format!("host {}", esc(&r.host.hostname)));
    }
    if !r.merged_from.is_empty() {
        meta.push(format!("merged from {} shards", r.merged_from.len()));
    }
    if !r.matrix.path.is_empty() {
        meta.push(format!("matrix {}", esc(&r.matrix.path)));
    }
    let _ = writeln!(o, "<p class=\"meta\">{}</p>\n</header>", meta.join(" · "));
}

fn summary(o: &mut String, r: &RunRecord) {
    let s = r.summary();
    let _ = writeln!(
        o,
        "<section id=\"summary\">\n<h2>Summary</h2>\n<ul class=\"counts\">"
    );
    for (n, st) in [
        (s.pass, CellStatus::Pass),
        (s.flaky, CellStatus::Flaky),
        (s.unsupported, CellStatus::Unsupported),
        (s.fail, CellStatus::Fail),
        (s.error, CellStatus::Error),
        (s.cancelled, CellStatus::Cancelled),
    ] {
        if n > 0 {
            let _ = writeln!(
                o,
                "<li class=\"st-{st}\" data-status=\"{st}\"><span class=\"n\">{n}</span> {} {st}</li>",
                with_glyphs(st.symbol())
            );
        }
    }
    let (passed, run) = check_totals(r);
    let _ = writeln!(
        o,
        "</ul>\n<p class=\"summary-line\">{}</p>\n<p class=\"muted\">{passed} of {run} checks passed (skipped ones not counted). {}</p>\n</section>",
        with_glyphs(&summary_line(r)),
        with_glyphs(
            "✅ pass · ❌ fail · 🔁 flaky · ⛔ unsupported · 💥 error · ⏹ cancelled · – skipped · 📝 known-fail · ✨ fixed · ◐ p/t: p cells pass or flaky of t cells (unsupported not counted)"
        )
    );
}

fn pivot(o: &mut String, g: &Grid) {
    if g.rows.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "<section class=\"grid\">\n<h2>{} × {}</h2>\n<div class=\"scroll\"><table class=\"pivot\" data-rows=\"{}\" data-cols=\"{}\">\n<thead><tr><th class=\"corner\">{}</th>",
        esc(&g.pivot.rows),
        esc(&g.pivot.cols),
        esc(&g.pivot.rows),
        esc(&g.pivot.cols),
        esc(&g.corner())
    );
    for c in &g.cols {
        let _ = write!(o, "<th scope=\"col\">{}</th>", esc(c));
    }
    o.push_str("</tr></thead>\n<tbody>\n");
    for (row, squares) in g.rows.iter().zip(&g.squares) {
        let _ = write!(o, "<tr><th scope=\"row\">{}</th>", esc(row));
        for (col, sq) in g.cols.iter().zip(squares) {
            let _ = write!(
                o,
                "<td class=\"sq st-{cls}\" data-row=\"{}\" data-col=\"{}\" data-status=\"{cls}\" title=\"{}\">{}</td>",
                esc(row),
                esc(col),
                esc(&if sq.is_empty() {
                    "no cell".to_string()
                } else {
                    sq.describe()
                }),
                with_glyphs(&sq.label()),
                cls = sq.class(),
            );
        }
        o.push_str("</tr>\n");
    }
    o.push_str("</tbody>\n</table></div>\n");
    if g.left_out > 0 {
        let _ = writeln!(
            o,
            "<p class=\"muted\">{} cells lack {} or {} and are not in this grid.</p>",
            g.left_out,
            esc(&g.pivot.rows),
            esc(&g.pivot.cols)
        );
    }
    o.push_str("</section>\n");
}

fn cells(o: &mut String, r: &RunRecord) {
    let axes = all_axes(r);
    let suites = suites(r);
    o.push_str(
        "<section id=\"cells\">\n<h2>Cells</h2>\n<div class=\"scroll\"><table class=\"cells\">\n<thead><tr>",
    );
    for a in &axes {
        let _ = write!(o, "<th>{}</th>", esc(a));
    }
    o.push_str("<th>status</th>");
    for s in &suites {
        let _ = write!(o, "<th>{}</th>", esc(s));
    }
    o.push_str(
        "<th>measured engine</th><th>p95</th><th>time</th><th>note</th></tr></thead>\n<tbody>\n",
    );
    // Rows are independent: rendered in parallel, joined in order.
    let rows: Vec<String> = r
        .cells
        .par_iter()
        .map(|c| {
            let mut o = String::with_capacity(1024);
            let o = &mut o;
            let st = c.status.as_str();
            let _ = write!(o, "<tr id=\"cell-{}\" data-status=\"{st}\">", esc(&c.id));
            for a in &axes {
                let _ = write!(
                    o,
                    "<td>{}</td>",
                    esc(c.values.get(a).map_or("–", String::as_str))
                );
            }
            let _ = write!(
                o,
                "<td class=\"status st-{st}\">{} {st}</td>",
                with_glyphs(c.status.symbol())
            );
            for t in tallies(c, &suites) {
                match t {
                    Some(t) => {
                        let _ = write!(
                            o,
                            "<td class=\"tally st-{}\">{}</td>",
                            t.class(),
                            with_glyphs(&t.label())
                        );
                    }
                    None => o.push_str("<td class=\"tally\"></td>"),
                }
            }
            let _ = write!(o, "<td>{}</td>", esc(&measured_engine(c)));
            match perf_headline(c) {
                Some(p) if p.regressed => {
                    let _ = write!(
                        o,
                        "<td class=\"regressed\" title=\"{}\">{}</td>",
                        esc(&p.check),
                        with_glyphs(&p.label())
                    );
                }
                Some(p) => {
                    let _ = write!(
                        o,
                        "<td title=\"{}\">{}</td>",
                        esc(&p.check),
                        esc(&p.label())
                    );
                }
                None => o.push_str("<td></td>"),
            }
            let _ = write!(o, "<td>{}</td>", fmt_duration(c.durations_ms.total));
            let note = cell_note(c);
            if needs_detail(c) {
                let _ = write!(
                    o,
                    "<td class=\"note\"><a href=\"#detail-{}\">{}</a></td>",
                    esc(&c.id),
                    if note.is_empty() {
                        "details".into()
                    } else {
                        esc(&note)
                    }
                );
            } else {
                let _ = write!(o, "<td class=\"note\">{}</td>", esc(&note));
            }
            o.push_str("</tr>\n");

            std::mem::take(o)
        })
        .collect();
    for row in rows {
        o.push_str(&row);
    }
    o.push_str("</tbody>\n</table></div>\n</section>\n");
}

fn needs_detail(c: &CellRecord) -> bool {
    super::needs_attention(c)
}

/// "Tested upgrade paths": the table, then each upgrade cell's phases in the order they
/// ran, with their reasons and findings.
fn upgrades(o: &mut String, r: &RunRecord) {
    let rows = upgrade::rows(r);
    if rows.is_empty() {
        return;
    }
    let with_stack = upgrade::has_stack(&rows);
    o.push_str("<section id=\"upgrades\">\n<h2>Tested upgrade paths</h2>\n<div class=\"scroll\"><table class=\"upgrades\">\n<thead><tr>");
    for c in upgrade::columns(with_stack) {
        let _ = write!(o, "<th>{}</th>", esc(c));
    }
    o.push_str("</tr></thead>\n<tbody>\n");
    for row in &rows {
        let st = row.cell.status.as_str();
        let _ = write!(
            o,
            "<tr id=\"upgrade-{}\" data-status=\"{st}\">",
            esc(&row.cell.id)
        );
        let cols = row.columns(with_stack);
        let last = cols.len() - 1;
        for (i, c) in cols.iter().enumerate() {
            if i == last {
                let _ = write!(o, "<td class=\"status st-{st}\">{}</td>", with_glyphs(c));
            } else {
                let _ = write!(o, "<td>{}</td>", with_glyphs(c));
            }
        }
        o.push_str("</tr>\n");
    }
    o.push_str("</tbody>\n</table></div>\n");
    for row in &rows {
        let _ = writeln!(
            o,
            "<article class=\"upgrade detail st-{}\" data-cell=\"{}\">\n<h3>{} · {}</h3>\n<ol class=\"phases\">",
            row.cell.status.as_str(),
            esc(&row.cell.id),
            esc(&row.path),
            esc(&row.driver)
        );
        for p in &row.upgrade.phases {
            let st = p.status.as_str();
            let _ = write!(
                o,
                "<li class=\"phase st-{st}\" data-phase=\"{}\" data-status=\"{st}\">{} <b>{}</b> {st} ({})",
                esc(p.name.as_str()),
                with_glyphs(p.status.symbol()),
                esc(p.name.as_str()),
                fmt_duration(p.duration_ms)
            );
            if let Some(reason) = p.reason.as_deref().filter(|x| !x.trim().is_empty()) {
                let _ = write!(o, "<pre class=\"reason\">{}</pre>", esc(reason));
            }
            if !p.findings.is_empty() {
                o.push_str("<ul class=\"findings\">");
                for f in &p.findings {
                    let _ = write!(o, "<li>{}</li>", esc(f));
                }
                o.push_str("</ul>");
            }
            o.push_str("</li>\n");
        }
        o.push_str("</ol>\n</article>\n");
    }
    o.push_str("</section>\n");
}

/// A cell's preflight findings worth a look (`warn`, `block`).
fn preflight(o: &mut String, c: &CellRecord) {
    let findings = upgrade::notable_findings(c);
    if findings.is_empty() {
        return;
    }
    o.push_str("<ul class=\"preflight\">\n");
    for f in findings {
        let _ = writeln!(
            o,
            "<li data-level=\"{}\">{} <b>{}</b> of engine {}: {}</li>",
            f.level,
            with_glyphs(upgrade::level_label(f.level)),
            esc(&f.check),
            esc(&f.engine),
            esc(&f.reason)
        );
    }
    o.push_str("</ul>\n");
}

fn perf(o: &mut String, r: &RunRecord) {
    let rows: Vec<(
        &CellRecord,
        &crate::results::CheckRecord,
        &crate::results::PerfStats,
    )> = r
        .cells
        .iter()
        .flat_map(|c| {
            c.checks
                .iter()
                .filter_map(move |ch| ch.perf.as_ref().map(|p| (c, ch, p)))
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    o.push_str("<section id=\"perf\">\n<h2>Performance</h2>\n");
    o.push_str(&svg::perf_charts(r));
    let _ = writeln!(
        o,
        "<details class=\"figures\"><summary>All {} figures</summary>",
        rows.len()
    );
    o.push_str(
        "<div class=\"scroll\"><table class=\"perf\">\n<thead><tr><th>cell</th><th>check</th>\
         <th>ops/s</th><th>p50</th><th>p95</th><th>p99</th><th>cv</th><th>samples</th><th>baseline p95</th><th>Δ p95</th><th>Δ ops/s</th></tr></thead>\n<tbody>\n",
    );
    for (c, ch, p) in rows {
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{:.0}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{:.2}</td><td class=\"num\">{}</td>",
            esc(&describe_values(c)),
            esc(&ch.name),
            p.ops_per_sec,
            fmt_ms(p.p50_ms),
            super::fmt_p95(p.p95_ms, p.p95_precision_pct),
            fmt_ms(p.p99_ms),
            p.cv,
            p.samples
        );
        match &p.baseline {
            Some(b) => {
                let cls = if b.regressed { " regressed" } else { "" };
                let _ = write!(
                    o,
                    "<td class=\"num\">{}</td><td class=\"num{cls}\">{}</td><td class=\"num{cls}\">{}</td>",
                    fmt_ms(b.p95_ms),
                    fmt_pct(b.p95_delta_pct),
                    fmt_pct(b.ops_delta_pct)
                );
            }
            None => o.push_str("<td></td><td></td><td></td>"),
        }
        o.push_str("</tr>\n");
    }
    o.push_str("</tbody>\n</table></div>\n</details>\n</section>\n");
}

fn failures(o: &mut String, r: &RunRecord) {
    let cells = cells_needing_attention(r);
    if cells.is_empty() {
        return;
    }
    o.push_str("<section id=\"failures\">\n<h2>What failed</h2>\n");
    let details: Vec<String> = cells
        .par_iter()
        .map(|c| {
            let mut o = String::with_capacity(2048);
            let o = &mut o;
                let st = c.status.as_str();
                let _ = writeln!(
                    o,
                    "<article class=\"detail st-{st}\" id=\"detail-{}\" data-status=\"{st}\">\n<h3>{} {st} · {}</h3>",
                    esc(&c.id),
                    with_glyphs(c.status.symbol()),
                    esc(&describe_values(c))
                );
                let mut facts = vec![format!("cell <code>{}</code>", esc(&c.id))];
                facts.push(format!(
                    "{} attempt{}",
                    c.attempts,
                    if c.attempts == 1 { "" } else { "s" }
                ));
                if let Some(step) = &c.failed_step {
                    facts.push(format!("failed in step <b>{}</b>", esc(step)));
                }
                let engine = measured_engine(c);
                if let Some(e) = &c.engine {
                    let api = if e.min_api_version.is_empty() {
                        esc(&e.api_version).to_string()
                    } else {
                        format!("{}, min {}", esc(&e.api_version), esc(&e.min_api_version))
                    };
                    let store = if e.image_store.is_empty() {
                        String::new()
                    } else {
                        format!("{} image store, ", esc(&e.image_store))
                    };
                    facts.push(format!(
                        "engine {} (API {api}, {store}containerd {}, runc {}, cgroup v{})",
                        esc(&engine),
                        esc(&e.containerd),
                        esc(&e.runc),
                        esc(&e.cgroup_version)
                    ));
                }
                if let Some(k) = &c.kept {
                    facts.push(format!("kept: {}", esc(k)));
                }
                let _ = writeln!(o, "<p class=\"facts\">{}</p>", facts.join(" · "));
                if let Some(reason) = c.reason.as_deref().filter(|x| !x.trim().is_empty()) {
                    let label = if c.status == CellStatus::Unsupported {
                        "The engine's reason"
                    } else {
                        "Reason"
                    };
                    let _ = writeln!(
                        o,
                        "<p>{label}:</p>\n<pre class=\"reason\">{}</pre>",
                        esc(reason)
                    );
                }
                if !c.previous_attempts.is_empty() {
                    o.push_str("<ul class=\"attempts\">\n");
                    for (i, a) in c.previous_attempts.iter().enumerate() {
                        let _ = writeln!(
                            o,
                            "<li>attempt {}: {} {}{}</li>",
                            i + 1,
                            with_glyphs(a.status.symbol()),
                            a.status,
                            a.reason
                                .as_deref()
                                .map(|x| format!(": {}", esc(x)))
                                .unwrap_or_default()
                        );
                    }
                    let _ = writeln!(
                        o,
                        "<li>attempt {}: {} {}</li>\n</ul>",
                        c.attempts,
                        with_glyphs(c.status.symbol()),
                        c.status
                    );
                }
                preflight(o, c);
                let failing: Vec<_> = c
                    .checks
                    .iter()
                    .filter(|ch| ch.status.fails_cell())
                    .collect();
                if !failing.is_empty() {
                    o.push_str("<ul class=\"checks\">\n");
                    for ch in failing {
                        let _ = write!(
                            o,
                            "<li class=\"check\" data-status=\"{}\">{} <b>{} › {}</b> ({}, {})",
                            ch.status,
                            with_glyphs(ch.status.symbol()),
                            esc(&ch.suite),
                            esc(&upgrade::phased_name(ch.phase, &ch.name)),
                            ch.status,
                            fmt_duration(ch.duration_ms)
                        );
                        if !ch.message.trim().is_empty() {
                            let _ = write!(o, "<pre>{}</pre>", esc(&ch.message));
                        }
                        o.push_str("</li>\n");
                    }
                    o.push_str("</ul>\n");
                }
                for svc in c.services.iter().filter(|s| !s.log_tail.is_empty()) {
                    let mut facts = vec![esc(&svc.image).into_owned()];
                    if svc.oom_killed {
                        facts.push("OOM-killed".into());
                    }
                    if svc.restarts > 0 {
                        facts.push(format!("{} restarts", svc.restarts));
                    }
                    let _ = writeln!(
                        o,
                        "<details class=\"log\"{}><summary>{} log, {} ({})</summary>\n<pre>{}</pre>\n</details>",
                        if c.status == CellStatus::Pass {
                            ""
                        } else {
                            " open"
                        },
                        esc(&svc.name),
                        super::markdown::last_lines(svc.log_tail.len()),
                        facts.join(", "),
                        esc(&svc.log_tail.join("\n"))
                    );
                }
                o.push_str("</article>\n");

            std::mem::take(o)
        })
        .collect();
    for d in details {
        o.push_str(&d);
    }
    o.push_str("</section>\n");
}

fn notes(o: &mut String, r: &RunRecord) {
    let mut items = Vec::new();
    // Preflight findings of cells "What failed" does not detail.
    for c in r.cells.iter().filter(|c| !needs_detail(c)) {
        for f in upgrade::notable_findings(c) {
            items.push(format!(
                "<li data-level=\"{}\">{} preflight <b>{}</b> of engine {} on {}: {}</li>",
                f.level,
                with_glyphs(upgrade::level_label(f.level)),
                esc(&f.check),
                esc(&f.engine),
                esc(&describe_values(c)),
                esc(&f.reason)
            ));
        }
    }
    for c in &r.cells {
        for ch in c.checks.iter().filter(|ch| ch.status == CheckStatus::Fixed) {
            items.push(format!(
                "<li class=\"st-fixed\">{} <b>{}</b> now passes on {}: its <code>[[known]]</code> entry can go</li>",
                with_glyphs("✨"),
                esc(&ch.name),
                esc(&describe_values(c))
            ));
        }
    }
    items.extend(
        r.warnings
            .iter()
            .map(|w| format!("<li>{} {}</li>", with_glyphs("⚠"), esc(w))),
    );
    if items.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "<section id=\"notes\">\n<h2>Notes</h2>\n<ul>\n{}\n</ul>\n</section>",
        items.join("\n")
    );
}
