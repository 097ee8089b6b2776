//! A comparison of two runs rendered: a terminal table, Markdown, JSON, or an HTML page
//! with the perf deltas as bars. Cells are shown by their values (runs are matched by
//! values, never by id).

use std::fmt::Write as _;

use indexmap::IndexMap;
use tabled::builder::Builder;
use tabled::settings::Style;

use super::svg::{DeltaRow, delta_chart, glyph_defs, with_glyphs};
use super::text::{clean, html as esc, markdown_inline as md, one_line, truncate};
use super::{fmt_p95, fmt_pct};
use crate::results::compare::{Change, Comparison};

const NOTE_WIDTH: usize = 80;

fn values(v: &IndexMap<String, String>) -> String {
    let s: Vec<String> = v.iter().map(|(k, v)| format!("{k}={v}")).collect();
    clean(&s.join(" ")).into_owned()
}

fn note(text: &str) -> String {
    truncate(&one_line(&clean(text)), NOTE_WIDTH).into_owned()
}

/// `2 cells broken, 1 fixed, 3 checks changed, 1 perf regression`.
pub fn headline(c: &Comparison) -> String {
    let count = |ch: Change| c.cells.iter().filter(|x| x.change == ch).count();
    let broken_checks = c
        .checks
        .iter()
        .filter(|x| x.change == Change::Broken)
        .count();
    let perf_reg = c.perf.iter().filter(|p| p.regressed).count();
    let mut parts = vec![
        format!("{} cells newly broken", count(Change::Broken)),
        format!("{} fixed", count(Change::Fixed)),
        format!("{} otherwise changed", count(Change::Changed)),
        format!("{} unchanged", c.unchanged),
        format!(
            "{} checks changed ({broken_checks} newly failing)",
            c.checks.len()
        ),
        format!(
            "{} perf changes beyond {}% ({perf_reg} regressions)",
            c.perf.len(),
            c.tolerance_pct
        ),
    ];
    if !c.only_in_base.is_empty() {
        parts.push(format!(
            "{} cells only in the base run",
            c.only_in_base.len()
        ));
    }
    if !c.only_in_new.is_empty() {
        parts.push(format!("{} cells only in the new run", c.only_in_new.len()));
    }
    format!(
        "{}: {} → {}: {}",
        if c.regressed {
            "REGRESSED"
        } else {
            "no regression"
        },
        clean(&c.base_run),
        clean(&c.new_run),
        parts.join(", ")
    )
}

fn table(rows: Vec<Vec<String>>) -> String {
    let mut b = Builder::default();
    for r in rows {
        b.push_record(r);
    }
    let mut t = b.build();
    t.with(Style::rounded());
    format!("{t}\n")
}

struct Sections {
    cells: Vec<Vec<String>>,
    checks: Vec<Vec<String>>,
    perf: Vec<Vec<String>>,
}

fn sections(c: &Comparison) -> Sections {
    let mut cells = vec![
        vec!["change", "cell", "base", "new", "reason (new run)"]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>(),
    ];
    for x in &c.cells {
        cells.push(vec![
            format!("{} {}", x.change.symbol(), x.change.as_str()),
            values(&x.values),
            format!("{} {}", x.base.symbol(), x.base),
            format!("{} {}", x.new.symbol(), x.new),
            x.reason.as_deref().map(note).unwrap_or_default(),
        ]);
    }
    let mut checks = vec![
        vec![
            "change",
            "cell",
            "check",
            "base",
            "new",
            "message (new run)",
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>(),
    ];
    for x in &c.checks {
        checks.push(vec![
            format!("{} {}", x.change.symbol(), x.change.as_str()),
            values(&x.values),
            format!(
                "{} › {}",
                clean(&x.suite),
                clean(&super::upgrade::phased_name(x.phase, &x.name))
            ),
            format!("{} {}", x.base.symbol(), x.base),
            format!("{} {}", x.new.symbol(), x.new),
            note(&x.message),
        ]);
    }
    let mut perf = vec![
        vec![
            "",
            "cell",
            "check",
            "p95 base → new",
            "Δ p95",
            "ops/s base → new",
            "Δ ops/s",
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>(),
    ];
    for p in &c.perf {
        perf.push(vec![
            if p.regressed {
                "▼ slower".into()
            } else {
                "▲ faster".into()
            },
            values(&p.values),
            format!("{} › {}", clean(&p.suite), clean(&p.name)),
            format!(
                "{} → {}",
                fmt_p95(p.base_p95_ms, p.base_p95_precision_pct),
                fmt_p95(p.new_p95_ms, p.new_p95_precision_pct)
            ),
            fmt_pct(p.p95_delta_pct),
            format!("{:.0} → {:.0}", p.base_ops_per_sec, p.new_ops_per_sec),
            fmt_pct(p.ops_delta_pct),
        ]);
    }
    Sections {
        cells,
        checks,
        perf,
    }
}

pub fn render_table(c: &Comparison) -> String {
    let s = sections(c);
    let mut out = String::new();
    if s.cells.len() > 1 {
        out.push_str("Cells whose status changed\n");
        out.push_str(&table(s.cells));
    }
    if s.checks.len() > 1 {
        out.push_str("Checks whose status changed\n");
        out.push_str(&table(s.checks));
    }
    if s.perf.len() > 1 {
        let _ = writeln!(out, "Performance beyond ±{}%", c.tolerance_pct);
        out.push_str(&table(s.perf));
    }
    for v in &c.only_in_base {
        let _ = writeln!(out, "only in the base run: {}", values(v));
    }
    for v in &c.only_in_new {
        let _ = writeln!(out, "only in the new run: {}", values(v));
    }
    out.push_str(&headline(c));
    out.push('\n');
    out
}

pub fn render_markdown(c: &Comparison) -> String {
    let s = sections(c);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## dockmatrix compare: {} → {}\n\n**{}**\n",
        md(&c.base_run),
        md(&c.new_run),
        md(&headline(c))
    );
    for (title, rows) in [
        ("Cells whose status changed", s.cells),
        ("Checks whose status changed", s.checks),
        ("Performance beyond the tolerance", s.perf),
    ] {
        if rows.len() <= 1 {
            continue;
        }
        let _ = writeln!(out, "### {title}\n");
        for (i, r) in rows.iter().enumerate() {
            out.push('|');
            for col in r {
                let cell = md(col);
                let _ = write!(
                    out,
                    " {} |",
                    if cell.is_empty() { " ".into() } else { cell }
                );
            }
            out.push('\n');
            if i == 0 {
                out.push('|');
                out.push_str(&" --- |".repeat(r.len()));
                out.push('\n');
            }
        }
        out.push('\n');
    }
    for (label, list) in [
        ("Only in the base run", &c.only_in_base),
        ("Only in the new run", &c.only_in_new),
    ] {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(out, "### {label}\n");
        for v in list {
            let _ = writeln!(out, "- {}", md(&values(v)));
        }
        out.push('\n');
    }
    out
}

pub fn render_json(c: &Comparison) -> String {
    let mut c = c.clone();
    for x in &mut c.cells {
        if let Some(r) = &mut x.reason {
            *r = clean(r).into_owned();
        }
    }
    for x in &mut c.checks {
        x.message = clean(&x.message).into_owned();
    }
    let mut s = serde_json::to_string_pretty(&c)
        .unwrap_or_else(|e| format!("{{\"error\": \"failed to serialise the comparison: {e}\"}}"));
    s.push('\n');
    s
}

/// The comparison as one self-contained page (inline CSS and SVG, no script): the
/// headline, the perf deltas as bars around zero with the tolerance band, and the tables
/// of status changes.
pub fn render_html(c: &Comparison) -> String {
    let s = sections(c);
    let mut out = String::with_capacity(8192);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>dockmatrix compare · {} → {}</title>\n<style>{COMPARE_CSS}</style>\n</head>\n<body>\n{}",
        esc(&c.base_run),
        esc(&c.new_run),
        glyph_defs()
    );
    let _ = writeln!(
        out,
        "<h1>dockmatrix compare</h1>\n<p class=\"headline {}\">{}</p>",
        if c.regressed { "regressed" } else { "ok" },
        esc(&headline(c))
    );
    if !c.perf.is_empty() {
        let rows: Vec<DeltaRow> = c
            .perf
            .iter()
            .map(|p| DeltaRow {
                // The check first: a long label is cut at its end.
                label: format!(
                    "{} › {} · {}",
                    clean(&p.suite),
                    clean(&p.name),
                    values(&p.values)
                ),
                p95_delta_pct: p.p95_delta_pct,
                ops_loss_pct: -p.ops_delta_pct,
                regressed: p.regressed,
            })
            .collect();
        let _ = writeln!(
            out,
            "<section id=\"perf\">\n<h2>Performance beyond ±{}%</h2>",
            c.tolerance_pct
        );
        out.push_str(&delta_chart(&rows, c.tolerance_pct));
        html_table(&mut out, &s.perf);
        out.push_str("</section>\n");
    }
    for (id, title, rows) in [
        ("cells", "Cells whose status changed", &s.cells),
        ("checks", "Checks whose status changed", &s.checks),
    ] {
        if rows.len() > 1 {
            let _ = writeln!(out, "<section id=\"{id}\">\n<h2>{title}</h2>");
            html_table(&mut out, rows);
            out.push_str("</section>\n");
        }
    }
    for (label, list) in [
        ("Only in the base run", &c.only_in_base),
        ("Only in the new run", &c.only_in_new),
    ] {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(out, "<h2>{label}</h2>\n<ul>");
        for v in list {
            let _ = writeln!(out, "<li>{}</li>", esc(&values(v)));
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</body>\n</html>\n");
    out
}

fn html_table(out: &mut String, rows: &[Vec<String>]) {
    out.push_str("<div class=\"scroll\"><table>\n");
    for (i, r) in rows.iter().enumerate() {
        out.push_str("<tr>");
        let tag = if i == 0 { "th" } else { "td" };
        for col in r {
            let _ = write!(out, "<{tag}>{}</{tag}>", with_glyphs(col));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table></div>\n");
}

const COMPARE_CSS: &str = r#"
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "Noto Sans", Helvetica, Arial, sans-serif; color: #1f2328; margin: 0 auto; padding: 24px 24px 48px; max-width: 1600px; overflow-wrap: anywhere; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 10px; padding-bottom: 4px; border-bottom: 1px solid #d1d9e0; }
.headline { font-weight: 600; padding: 8px 12px; border-radius: 6px; }
.headline.regressed { background: #ffebe9; color: #a40e26; }
.headline.ok { background: #dafbe1; color: #116329; }
svg.g { width: 1.15em; height: 1.15em; vertical-align: -0.22em; }
.scroll { max-width: 100%; overflow-x: auto; }
figure.chart { margin: 8px 0 20px; max-width: 1000px; }
figure.chart svg { display: block; height: auto; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
th, td { border: 1px solid #d1d9e0; padding: 4px 6px; text-align: left; vertical-align: top; overflow-wrap: normal; }
th { background: #f6f8fa; }
"#;
