//! Pictures for the HTML pages, as inline SVG (no script, no external asset, no font
//! needed): status glyphs that render where no emoji font is installed (the emoji kept
//! as their accessible text), one chart per perf check (p50 and p95 per cell, grouped by
//! engine and storage driver, with the baseline's p95 and tolerance band when the run
//! had one), and the deltas of a comparison as bars around zero.
//!
//! Every string is escaped with [`esc`] (SVG inside HTML follows the same rules), and
//! comes from an already sanitised record.

use std::fmt::Write as _;

use indexmap::IndexMap;

use super::text::html as esc;
use super::{describe_values, fmt_ms, fmt_pct};
use crate::results::{CellRecord, PerfStats, RunRecord};

// ---- status glyphs ----

/// (symbol, id) of every symbol DESIGN.md gives a status, and the two the reports
/// add (`◐` a mixed square, `⚠` a warning).
const GLYPHS: [(&str, &str); 11] = [
    ("✅", "pass"),
    ("❌", "fail"),
    ("🔁", "flaky"),
    ("⛔", "unsupported"),
    ("💥", "error"),
    ("⏹", "cancelled"),
    ("–", "skipped"),
    ("📝", "known-fail"),
    ("✨", "fixed"),
    ("◐", "mixed"),
    ("⚠", "warn"),
];

/// The glyphs' drawings, once per page (a hidden `<svg>` of `<symbol>`s that each glyph
/// `<use>`s): simple shapes in a 16×16 box, no text, so no font is needed.
pub fn glyph_defs() -> &'static str {
    concat!(
        "<svg class=\"defs\" aria-hidden=\"true\" width=\"0\" height=\"0\" style=\"position:absolute\"><defs>\n",
        "<symbol id=\"g-pass\" viewBox=\"0 0 16 16\"><circle cx=\"8\" cy=\"8\" r=\"7.5\" fill=\"#1a7f37\"/><path d=\"M4.2 8.4l2.6 2.6 5-5.4\" fill=\"none\" stroke=\"#fff\" stroke-width=\"2\" stroke-linecap=\"round\" stroke-linejoin=\"round\"/></symbol>\n",
        "<symbol id=\"g-fail\" viewBox=\"0 0 16 16\"><circle cx=\"8\" cy=\"8\" r=\"7.5\" fill=\"#cf222e\"/><path d=\"M5 5l6 6M11 5l-6 6\" stroke=\"#fff\" stroke-width=\"2\" stroke-linecap=\"round\"/></symbol>\n",
        "<symbol id=\"g-flaky\" viewBox=\"0 0 16 16\"><circle cx=\"8\" cy=\"8\" r=\"7.5\" fill=\"#bf8700\"/><path d=\"M11.6 6.2A4 4 0 1 0 12 9\" fill=\"none\" stroke=\"#fff\" stroke-width=\"1.8\" stroke-linecap=\"round\"/><path d=\"M12.6 3.6v3.2H9.4z\" fill=\"#fff\"/></symbol>\n",
        "<symbol id=\"g-unsupported\" viewBox=\"0 0 16 16\"><circle cx=\"8\" cy=\"8\" r=\"7.5\" fill=\"#8250df\"/><rect x=\"3.5\" y=\"6.8\" width=\"9\" height=\"2.4\" rx=\"0.6\" fill=\"#fff\"/></symbol>\n",
        "<symbol id=\"g-error\" viewBox=\"0 0 16 16\"><path d=\"M8 0.5l7.5 7.5-7.5 7.5-7.5-7.5z\" fill=\"#82071e\"/><rect x=\"7\" y=\"3.8\" width=\"2\" height=\"5.6\" rx=\"0.8\" fill=\"#fff\"/><circle cx=\"8\" cy=\"11.6\" r=\"1.1\" fill=\"#fff\"/></symbol>\n",
        "<symbol id=\"g-cancelled\" viewBox=\"0 0 16 16\"><rect x=\"0.5\" y=\"0.5\" width=\"15\" height=\"15\" rx=\"3\" fill=\"#6e7781\"/><rect x=\"5\" y=\"5\" width=\"6\" height=\"6\" fill=\"#fff\"/></symbol>\n",
        "<symbol id=\"g-skipped\" viewBox=\"0 0 16 16\"><rect x=\"3\" y=\"7\" width=\"10\" height=\"2\" rx=\"1\" fill=\"#6e7781\"/></symbol>\n",
        "<symbol id=\"g-known-fail\" viewBox=\"0 0 16 16\"><rect x=\"1.5\" y=\"0.5\" width=\"13\" height=\"15\" rx=\"2\" fill=\"#0969da\"/><path d=\"M4.5 5h7M4.5 8h7M4.5 11h4.5\" stroke=\"#fff\" stroke-width=\"1.5\" stroke-linecap=\"round\"/></symbol>\n",
        "<symbol id=\"g-fixed\" viewBox=\"0 0 16 16\"><path d=\"M8 0.5l2 5.5 5.5 2-5.5 2-2 5.5-2-5.5-5.5-2 5.5-2z\" fill=\"#0969da\"/></symbol>\n",
        "<symbol id=\"g-mixed\" viewBox=\"0 0 16 16\"><circle cx=\"8\" cy=\"8\" r=\"6.8\" fill=\"#fff\" stroke=\"#953800\" stroke-width=\"1.4\"/><path d=\"M8 1.2a6.8 6.8 0 0 0 0 13.6z\" fill=\"#953800\"/></symbol>\n",
        "<symbol id=\"g-warn\" viewBox=\"0 0 16 16\"><path d=\"M8 0.8l7.4 14H0.6z\" fill=\"#bf8700\"/><rect x=\"7.1\" y=\"5.2\" width=\"1.8\" height=\"5\" rx=\"0.7\" fill=\"#fff\"/><circle cx=\"8\" cy=\"12.3\" r=\"1\" fill=\"#fff\"/></symbol>\n",
        "</defs></svg>\n"
    )
}

/// The inline glyph of a status symbol: the drawing, with the emoji as its accessible
/// name (the status's word is beside it on the page). Short, since a large run has
/// several per cell. `None` for a symbol it does not know.
pub fn glyph(symbol: &str) -> Option<String> {
    let (sym, id) = GLYPHS.iter().find(|(s, _)| *s == symbol)?;
    Some(format!(
        "<svg class=\"g\" role=\"img\" aria-label=\"{sym}\"><use href=\"#g-{id}\"/></svg>"
    ))
}

/// `text` escaped, with every status symbol in it drawn as its [`glyph`]. For labels made
/// of symbols and counts (`✅ 30/30`, `◐ 2/3`), not for text a container printed.
pub fn with_glyphs(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let mut rest = text;
    'outer: while !rest.is_empty() {
        for (sym, _) in &GLYPHS {
            if let Some(after) = rest.strip_prefix(sym) {
                out.push_str(&glyph(sym).unwrap_or_default());
                rest = after;
                continue 'outer;
            }
        }
        let next = rest
            .char_indices()
            .skip(1)
            .find(|(i, _)| GLYPHS.iter().any(|(s, _)| rest[*i..].starts_with(s)))
            .map_or(rest.len(), |(i, _)| i);
        out.push_str(&esc(&rest[..next]));
        rest = &rest[next..];
    }
    out
}

// ---- perf charts ----

/// Chart geometry, in SVG user units (the chart scales to the page's width).
const WIDTH: f64 = 960.0;
const LABEL_W: f64 = 330.0;
const BAR_X: f64 = LABEL_W + 8.0;
/// Room right of the longest bar for its figure.
const VALUE_W: f64 = 110.0;
const TOP: f64 = 46.0;
const GROUP_H: f64 = 22.0;
const ROW_H: f64 = 26.0;

const P50_FILL: &str = "#8cb4e8";
const P95_FILL: &str = "#0969da";
const REGRESSED_FILL: &str = "#cf222e";
const BAND_FILL: &str = "#f2cc60";

/// One chart per perf check of the run (by suite and name, in the order cells first show
/// them); an empty string when the run measured none.
pub fn perf_charts(r: &RunRecord) -> String {
    let mut checks: IndexMap<(&str, &str), Vec<(&CellRecord, &PerfStats)>> = IndexMap::new();
    for c in &r.cells {
        for ch in &c.checks {
            if let Some(p) = &ch.perf {
                checks
                    .entry((ch.suite.as_str(), ch.name.as_str()))
                    .or_default()
                    .push((c, p));
            }
        }
    }
    let mut out = String::new();
    for (i, ((suite, name), rows)) in checks.iter().enumerate() {
        chart(&mut out, i, suite, name, rows);
    }
    out
}

/// `engine 28.5.2 · overlay2`: a cell's group, from its values, else from what its engine
/// measured.
fn group_of(c: &CellRecord) -> String {
    format!("engine {} · {}", c.engine_version(), c.storage_driver())
}

/// The rest of a cell's values, for its row.
fn row_label(c: &CellRecord) -> String {
    let rest: Vec<String> = c
        .values_but_engine()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if rest.is_empty() {
        describe_values(c)
    } else {
        rest.join(", ")
    }
}

/// A round step for about four gridlines up to `max`.
fn nice_step(max: f64) -> f64 {
    if !(max.is_finite() && max > 0.0) {
        return 1.0;
    }
    let raw = max / 4.0;
    let mag = 10f64.powf(raw.log10().floor());
    let m = raw / mag;
    let nice = if m <= 1.0 {
        1.0
    } else if m <= 2.0 {
        2.0
    } else if m <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

/// A number for a user unit (no trailing noise).
fn n(x: f64) -> String {
    format!("{x:.1}")
}

/// At most `max` characters, with `…` marking a cut (a label must stay in its column).
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let cut: String = s.chars().take(max.saturating_sub(1)).collect();
    format!("{}…", cut.trim_end())
}

fn chart(
    out: &mut String,
    index: usize,
    suite: &str,
    name: &str,
    rows: &[(&CellRecord, &PerfStats)],
) {
    let mut groups: IndexMap<String, Vec<(&CellRecord, &PerfStats)>> = IndexMap::new();
    for (c, p) in rows {
        groups.entry(group_of(c)).or_default().push((c, p));
    }
    let max = rows
        .iter()
        .map(|(_, p)| p.p95_ms.max(p.p50_ms).max(band_top(p)))
        .filter(|x| x.is_finite())
        .fold(0.0, f64::max);
    let step = nice_step(max);
    let top = (max / step).ceil().max(1.0) * step;
    let span = WIDTH - BAR_X - VALUE_W;
    let x = |ms: f64| BAR_X + (ms.max(0.0) / top).min(1.0) * span;
    let any_baseline = rows.iter().any(|(_, p)| p.baseline.is_some());
    let height = TOP + groups.len() as f64 * GROUP_H + rows.len() as f64 * ROW_H + 8.0;
    let title = format!("{suite} › {name}: p50 and p95 latency per cell");
    let id = format!("perf-chart-{index}");
    let _ = writeln!(
        out,
        "<figure class=\"chart\" data-check=\"{}\">\n<figcaption>{}</figcaption>\n<svg class=\"perf-chart\" viewBox=\"0 0 {} {}\" width=\"100%\" role=\"img\" aria-labelledby=\"{id}-title {id}-desc\" font-size=\"12\">\n<title id=\"{id}-title\">{}</title>\n<desc id=\"{id}-desc\">{} cells, grouped by engine and storage driver; bars from 0 to {}{}.</desc>",
        esc(name),
        esc(&format!("{suite} › {name}")),
        n(WIDTH),
        n(height),
        esc(&title),
        rows.len(),
        esc(&fmt_ms(top)),
        if any_baseline {
            "; the shaded band runs from the baseline's p95 to its tolerance"
        } else {
            ""
        }
    );
    // Legend.
    let mut lx = BAR_X;
    let mut legend = |out: &mut String, fill: &str, label: &str| {
        let _ = write!(
            out,
            "<rect x=\"{}\" y=\"6\" width=\"12\" height=\"10\" fill=\"{fill}\"/><text x=\"{}\" y=\"15\">{}</text>",
            n(lx),
            n(lx + 16.0),
            esc(label)
        );
        lx += 16.0 + 7.0 * label.chars().count() as f64 + 18.0;
    };
    legend(out, P50_FILL, "p50");
    legend(out, P95_FILL, "p95");
    if any_baseline {
        legend(out, BAND_FILL, "baseline p95 → + tolerance");
        legend(out, REGRESSED_FILL, "p95 regressed");
    }
    out.push('\n');
    // Gridlines and their figures.
    let bottom = height - 8.0;
    let mut t = 0.0;
    while t <= top + step / 2.0 {
        let gx = x(t);
        let _ = write!(
            out,
            "<line x1=\"{gx}\" y1=\"{}\" x2=\"{gx}\" y2=\"{}\" stroke=\"#d1d9e0\"/><text x=\"{gx}\" y=\"{}\" text-anchor=\"middle\" fill=\"#59636e\">{}</text>",
            n(TOP - 6.0),
            n(bottom),
            n(TOP - 10.0),
            esc(&fmt_ms(t)),
            gx = n(gx)
        );
        t += step;
    }
    out.push('\n');
    let mut y = TOP;
    for (group, cells) in &groups {
        let _ = writeln!(
            out,
            "<text class=\"group\" x=\"4\" y=\"{}\" font-weight=\"600\">{}</text>",
            n(y + 15.0),
            esc(&clip(group, 48))
        );
        y += GROUP_H;
        for (c, p) in cells {
            row(out, c, p, y, &x);
            y += ROW_H;
        }
    }
    out.push_str("</svg>\n</figure>\n");
}

/// One cell's row of a chart at height `y`: its label, the baseline band, the p50 and p95
/// bars and their figures.
fn row(out: &mut String, c: &CellRecord, p: &PerfStats, y: f64, x: &impl Fn(f64) -> f64) {
    let label = row_label(c);
    let _ = write!(
        out,
        "<g class=\"row\" data-cell=\"{}\"><text x=\"{}\" y=\"{}\" text-anchor=\"end\"><title>{}</title>{}</text>",
        esc(&c.id),
        n(LABEL_W),
        n(y + 17.0),
        esc(&describe_values(c)),
        esc(&clip(&label, 46))
    );
    if let Some(b) = &p.baseline {
        let (b0, b1) = (x(b.p95_ms), x(band_top(p)));
        let _ = write!(
            out,
            "<rect class=\"band\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{BAND_FILL}\" fill-opacity=\"0.45\"><title>baseline p95 {} (run {}), tolerance {:.0}%: up to {}</title></rect><line class=\"baseline\" x1=\"{b0}\" y1=\"{}\" x2=\"{b0}\" y2=\"{}\" stroke=\"#7d4e00\" stroke-width=\"2\"/>",
            n(b0),
            n(y + 1.0),
            n((b1 - b0).max(1.0)),
            n(ROW_H - 2.0),
            esc(&fmt_ms(b.p95_ms)),
            esc(&b.run_id),
            b.tolerance_pct,
            esc(&fmt_ms(band_top(p))),
            n(y + 1.0),
            n(y + ROW_H - 1.0),
            b0 = n(b0)
        );
    }
    let regressed = p.baseline.as_ref().is_some_and(|b| b.regressed);
    let p95_fill = if regressed { REGRESSED_FILL } else { P95_FILL };
    let _ = write!(
        out,
        "<rect class=\"p50\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"8\" fill=\"{P50_FILL}\"><title>p50 {}</title></rect>\
         <rect class=\"p95\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"10\" fill=\"{p95_fill}\"><title>p95 {}</title></rect>",
        n(BAR_X),
        n(y + 3.0),
        n(x(p.p50_ms) - BAR_X),
        esc(&fmt_ms(p.p50_ms)),
        n(BAR_X),
        n(y + 12.0),
        n(x(p.p95_ms) - BAR_X),
        esc(&fmt_ms(p.p95_ms)),
    );
    let mut figure = format!("{} / {}", fmt_ms(p.p50_ms), fmt_ms(p.p95_ms));
    if let Some(b) = &p.baseline {
        figure.push_str(&format!(" {}", fmt_pct(b.p95_delta_pct)));
    }
    let fx = x(p.p95_ms.max(p.p50_ms)).max(x(band_top(p))) + 4.0;
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"{}\" fill=\"{}\">{}</text></g>",
        n(fx),
        n(y + 17.0),
        if regressed { REGRESSED_FILL } else { "#1f2328" },
        esc(&figure)
    );
}

/// Where the baseline's tolerance band ends (0 without a baseline).
fn band_top(p: &PerfStats) -> f64 {
    p.baseline
        .as_ref()
        .map_or(0.0, |b| b.p95_ms * (1.0 + b.tolerance_pct.max(0.0) / 100.0))
}

// ---- comparison deltas ----

/// One bar row of [`delta_chart`]: a label and deltas in percent, positive = worse.
pub struct DeltaRow {
    pub label: String,
    pub p95_delta_pct: f64,
    /// Positive = less throughput (drawn the same way round as p95: right is worse).
    pub ops_loss_pct: f64,
    pub regressed: bool,
}

/// The perf deltas of a comparison as bars around zero (right = slower or less
/// throughput), with the tolerance band shaded; empty when there is nothing to draw.
pub fn delta_chart(rows: &[DeltaRow], tolerance_pct: f64) -> String {
    if rows.is_empty() {
        return String::new();
    }
    // From the most negative to the most positive delta, the tolerance band always in.
    let finite = || {
        rows.iter()
            .flat_map(|r| [r.p95_delta_pct, r.ops_loss_pct])
            .filter(|x| x.is_finite())
    };
    let margin = (tolerance_pct.abs() * 1.5).max(1.0);
    let lo_raw = finite().fold(-margin, f64::min);
    let hi_raw = finite().fold(margin, f64::max);
    let step = nice_step(hi_raw - lo_raw);
    let lo = (lo_raw / step).floor() * step;
    let hi = (hi_raw / step).ceil() * step;
    let span = WIDTH - BAR_X - VALUE_W;
    let x = |pct: f64| BAR_X + ((pct.clamp(lo, hi) - lo) / (hi - lo)) * span;
    let height = TOP + rows.len() as f64 * ROW_H + 8.0;
    let bottom = height - 8.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<figure class=\"chart\">\n<svg class=\"delta-chart\" viewBox=\"0 0 {} {}\" width=\"100%\" role=\"img\" aria-labelledby=\"delta-title\" font-size=\"12\">\n<title id=\"delta-title\">Performance deltas, new run against base: Δ p95 and Δ throughput (right = worse)</title>",
        n(WIDTH),
        n(height)
    );
    let _ = write!(
        out,
        "<rect class=\"band\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{BAND_FILL}\" fill-opacity=\"0.35\"><title>tolerance ±{tolerance_pct}%</title></rect>",
        n(x(-tolerance_pct)),
        n(TOP - 6.0),
        n(x(tolerance_pct) - x(-tolerance_pct)),
        n(bottom - TOP + 6.0)
    );
    let _ = write!(
        out,
        "<rect x=\"{}\" y=\"6\" width=\"12\" height=\"10\" fill=\"{P95_FILL}\"/><text x=\"{}\" y=\"15\">Δ p95</text><rect x=\"{}\" y=\"6\" width=\"12\" height=\"10\" fill=\"{P50_FILL}\"/><text x=\"{}\" y=\"15\">Δ throughput (loss)</text><rect x=\"{}\" y=\"6\" width=\"12\" height=\"10\" fill=\"{BAND_FILL}\"/><text x=\"{}\" y=\"15\">tolerance ±{tolerance_pct}%</text>",
        n(BAR_X),
        n(BAR_X + 16.0),
        n(BAR_X + 80.0),
        n(BAR_X + 96.0),
        n(BAR_X + 250.0),
        n(BAR_X + 266.0),
    );
    let mut t = lo;
    while t <= hi + step / 2.0 {
        let gx = n(x(t));
        let _ = write!(
            out,
            "<line x1=\"{gx}\" y1=\"{}\" x2=\"{gx}\" y2=\"{}\" stroke=\"{}\"/><text x=\"{gx}\" y=\"{}\" text-anchor=\"middle\" fill=\"#59636e\">{}</text>",
            n(TOP - 6.0),
            n(bottom),
            if t.abs() < step / 2.0 {
                "#59636e"
            } else {
                "#d1d9e0"
            },
            n(TOP - 10.0),
            esc(&format!("{t:+.0}%"))
        );
        t += step;
    }
    out.push('\n');
    let mut y = TOP;
    for r in rows {
        let bar = |out: &mut String, pct: f64, dy: f64, h: f64, fill: &str, what: &str| {
            let (a, b) = (x(0.0), x(pct));
            let _ = write!(
                out,
                "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{h}\" fill=\"{fill}\"><title>{what} {}</title></rect>",
                n(a.min(b)),
                n(y + dy),
                n((b - a).abs().max(1.0)),
                esc(&fmt_pct(pct))
            );
        };
        let _ = write!(
            out,
            "<g class=\"row\"><text x=\"{}\" y=\"{}\" text-anchor=\"end\"><title>{}</title>{}</text>",
            n(LABEL_W),
            n(y + 17.0),
            esc(&r.label),
            esc(&clip(&r.label, 46))
        );
        bar(
            &mut out,
            r.p95_delta_pct,
            3.0,
            10.0,
            if r.regressed {
                REGRESSED_FILL
            } else {
                P95_FILL
            },
            "Δ p95",
        );
        bar(
            &mut out,
            r.ops_loss_pct,
            14.0,
            8.0,
            P50_FILL,
            "throughput loss",
        );
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" fill=\"{}\">{}</text></g>",
            n(WIDTH - VALUE_W + 6.0),
            n(y + 17.0),
            if r.regressed {
                REGRESSED_FILL
            } else {
                "#1f2328"
            },
            esc(&format!("p95 {}", fmt_pct(r.p95_delta_pct)))
        );
        y += ROW_H;
    }
    out.push_str("</svg>\n</figure>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glyphs_replace_symbols_and_escape_the_rest() {
        let s = with_glyphs("✅ 3/3 <b> ◐ 1/2");
        assert!(s.starts_with("<svg class=\"g\""), "{s}");
        assert!(s.contains("#g-pass"));
        assert!(s.contains("aria-label=\"✅\""));
        assert!(s.contains("&lt;b&gt;"));
        assert!(s.contains("g-mixed"));
        assert!(!s.contains('◐') || s.contains("aria-label=\"◐\""));
        assert_eq!(with_glyphs("plain"), "plain");
        for (sym, id) in GLYPHS {
            assert!(glyph_defs().contains(&format!("id=\"g-{id}\"")), "{sym}");
        }
    }

    #[test]
    fn nice_steps() {
        assert_eq!(nice_step(4.0), 1.0);
        assert_eq!(nice_step(7.0), 2.0);
        assert_eq!(nice_step(18.0), 5.0);
        assert_eq!(nice_step(0.0), 1.0);
    }
}
