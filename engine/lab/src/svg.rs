//! The report's two charts as inline SVG, each with its legend as an HTML list beside it (out
//! of the plot): kept share against recall, and buffered bytes over virtual time.
//!
//! Every series stays visible: policies with (nearly) the same kept share are set side by side
//! ([`dodge`]), and lines that coincide differ in dash pattern and width, the first drawn
//! widest.

use std::fmt::Write as _;

use crate::chart::{Scale, byte_unit, dodge, percent_tick, trim};
use crate::report::{ConfigReport, Report};

/// Series colours (Tableau 10), cycled.
const COLOURS: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

/// Dash patterns per series (the first is solid), so coinciding lines show through each other.
const DASHES: [&str; 10] = [
    "", "9 4", "3 3", "12 4 3 4", "6 6", "2 5", "14 5", "5 3 1 3", "10 2", "1 3",
];

/// Line widths per series: each narrower than the one drawn before it.
const WIDTHS: [f64; 10] = [4.0, 3.0, 2.5, 2.0, 2.0, 1.75, 1.75, 1.5, 1.5, 1.5];

/// The colour, dash pattern and width of series `i`.
pub(crate) fn style(i: usize) -> (&'static str, &'static str, f64) {
    (
        COLOURS[i % COLOURS.len()],
        // Shifted each time the colours come round again, so series 0 and 10 differ.
        DASHES[(i + i / COLOURS.len()) % DASHES.len()],
        WIDTHS[i % WIDTHS.len()],
    )
}

/// `s` safe in HTML text and attributes.
pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The SVG's size in user units; it scales to the width of its column.
const W: f64 = 600.0;
const H: f64 = 360.0;
/// The plot area: left, right, top, bottom.
const L: f64 = 64.0;
const R: f64 = W - 20.0;
const T: f64 = 16.0;
const B: f64 = H - 52.0;
/// Horizontal distance between marks of policies with (nearly) the same kept share.
const GAP: f64 = 14.0;
/// At most this many points per memory line (the highest of each run is kept).
const MAX_POINTS: usize = 600;

fn x_at(scale: &Scale, v: f64) -> f64 {
    L + scale.fraction(v) * (R - L)
}

fn y_at(scale: &Scale, v: f64) -> f64 {
    B - scale.fraction(v) * (B - T)
}

/// The opening tag, the plot area, grid lines, ticks with labels and axis titles.
fn frame(
    id: &str,
    label: &str,
    (x, x_title, x_label): (&Scale, &str, &dyn Fn(f64) -> String),
    (y, y_title, y_label): (&Scale, &str, &dyn Fn(f64) -> String),
) -> String {
    let mut svg = format!(
        r##"<svg id="{id}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" role="img" aria-label="{label}" font-family="system-ui,sans-serif"><rect class="plot-area" x="{L}" y="{T}" width="{pw}" height="{ph}" fill="#fafafa"/>"##,
        pw = R - L,
        ph = B - T,
    );
    for v in x.ticks() {
        let px = x_at(x, v);
        let _ = write!(
            svg,
            r##"<line x1="{px:.1}" y1="{T}" x2="{px:.1}" y2="{B}" stroke="#e4e4e4"/><line x1="{px:.1}" y1="{B}" x2="{px:.1}" y2="{tb}" stroke="#444"/><text class="tick" x="{px:.1}" y="{ty}" font-size="12" text-anchor="middle">{}</text>"##,
            x_label(v),
            tb = B + 5.0,
            ty = B + 19.0,
        );
    }
    for v in y.ticks() {
        let py = y_at(y, v);
        let _ = write!(
            svg,
            r##"<line x1="{L}" y1="{py:.1}" x2="{R}" y2="{py:.1}" stroke="#e4e4e4"/><line x1="{tl}" y1="{py:.1}" x2="{L}" y2="{py:.1}" stroke="#444"/><text class="tick" x="{tx}" y="{ty:.1}" font-size="12" text-anchor="end">{}</text>"##,
            y_label(v),
            tl = L - 5.0,
            tx = L - 8.0,
            ty = py + 4.0,
        );
    }
    let _ = write!(
        svg,
        r##"<line x1="{L}" y1="{B}" x2="{R}" y2="{B}" stroke="#444"/><line x1="{L}" y1="{T}" x2="{L}" y2="{B}" stroke="#444"/><text class="title" x="{cx}" y="{xt}" font-size="13" text-anchor="middle">{x_title}</text><text class="title" x="16" y="{cy}" font-size="13" text-anchor="middle" transform="rotate(-90 16 {cy})">{y_title}</text>"##,
        cx = (L + R) / 2.0,
        xt = H - 10.0,
        cy = (T + B) / 2.0,
    );
    svg
}

/// The legend of one chart, outside its plot: per policy its colour with the chart's marks or
/// line style, then `extra` (keys to the marks).
fn legend(chart: &str, r: &Report, marks: bool, extra: &str) -> String {
    let mut out = format!(r#"<ul class="legend" data-chart="{chart}">"#);
    for (i, c) in r.configs.iter().enumerate() {
        let (colour, dash, width) = style(i);
        let swatch = if marks {
            format!(
                r#"<circle cx="9" cy="7" r="5" fill="{colour}"/><rect x="21.5" y="1.5" width="11" height="11" fill="none" stroke="{colour}" stroke-width="2"/>"#
            )
        } else {
            format!(
                r#"<line x1="0" y1="7" x2="34" y2="7" stroke="{colour}" stroke-width="{width}" stroke-dasharray="{dash}"/>"#
            )
        };
        let _ = write!(
            out,
            r#"<li class="key" data-series="{i}"><svg width="34" height="14" aria-hidden="true">{swatch}</svg>{}</li>"#,
            esc(&c.name)
        );
    }
    out.push_str(extra);
    out.push_str("</ul>");
    out
}

/// The kept-share axis: zoomed to the data, or logarithmic when the shares span decades.
pub(crate) fn share_scale(r: &Report) -> Scale {
    let shares: Vec<f64> = r.configs.iter().map(|c| c.kept_spans_share).collect();
    Scale::for_shares(&shares)
}

/// Kept share (x) against recall (y): per policy a filled circle (error recall) and a hollow
/// square (slow recall) joined by a thin line; the chart and its legend.
pub(crate) fn recall_chart(r: &Report) -> (String, String) {
    let x = share_scale(r);
    let y = Scale::Linear {
        max: 1.0,
        step: 0.2,
    };
    let log = matches!(x, Scale::Log { .. });
    let x_title = if log {
        "kept spans, share of the workload (log scale)"
    } else {
        "kept spans, share of the workload"
    };
    let mut svg = frame(
        "recall",
        "kept share against error and slow recall per policy set",
        (&x, x_title, &percent_tick),
        (&y, "recall", &percent_tick),
    );
    let wanted: Vec<f64> = r
        .configs
        .iter()
        .map(|c| x_at(&x, c.kept_spans_share))
        .collect();
    let xs = dodge(&wanted, GAP, L, R);
    let tip = |c: &ConfigReport, what: &str, v: f64| {
        format!(
            "{}: {what} recall {}, {} of spans kept",
            esc(&c.name),
            crate::summary::pct(v),
            crate::summary::pct(c.kept_spans_share)
        )
    };
    // Joins first, then squares, then circles: a circle inside its own square stays visible.
    for (i, c) in r.configs.iter().enumerate() {
        let (colour, _, _) = style(i);
        let _ = write!(
            svg,
            r#"<line class="join" x1="{px:.1}" y1="{ye:.1}" x2="{px:.1}" y2="{ys:.1}" stroke="{colour}" stroke-width="1.5" stroke-opacity="0.6"/>"#,
            px = xs[i],
            ye = y_at(&y, c.error_recall),
            ys = y_at(&y, c.slow_recall),
        );
    }
    for (i, c) in r.configs.iter().enumerate() {
        let (colour, _, _) = style(i);
        let _ = write!(
            svg,
            r#"<rect class="point slow" data-series="{i}" x="{sx:.1}" y="{sy:.1}" width="11" height="11" fill="none" stroke="{colour}" stroke-width="2"><title>{}</title></rect>"#,
            tip(c, "slow", c.slow_recall),
            sx = xs[i] - 5.5,
            sy = y_at(&y, c.slow_recall) - 5.5,
        );
    }
    for (i, c) in r.configs.iter().enumerate() {
        let (colour, _, _) = style(i);
        let _ = write!(
            svg,
            r#"<circle class="point error" data-series="{i}" cx="{px:.1}" cy="{py:.1}" r="4.5" fill="{colour}"><title>{}</title></circle>"#,
            tip(c, "error", c.error_recall),
            px = xs[i],
            py = y_at(&y, c.error_recall),
        );
    }
    svg.push_str("</svg>");
    let keys = r##"<li class="mark-key"><svg width="14" height="14" aria-hidden="true"><circle cx="7" cy="7" r="4.5" fill="#555"/></svg>error recall</li><li class="mark-key"><svg width="14" height="14" aria-hidden="true"><rect x="1.5" y="1.5" width="11" height="11" fill="none" stroke="#555" stroke-width="2"/></svg>slow recall</li>"##;
    (svg, legend("recall", r, true, keys))
}

/// At most `MAX_POINTS` of `memory`, keeping the highest of each run so peaks survive.
fn thin(memory: &[(f64, u64)]) -> Vec<(f64, u64)> {
    let run = memory.len().div_ceil(MAX_POINTS).max(1);
    memory
        .chunks(run)
        .filter_map(|c| c.iter().copied().max_by_key(|(_, b)| *b))
        .collect()
}

/// Buffered bytes over virtual time, one line per policy set; the chart and its legend.
pub(crate) fn memory_chart(r: &Report) -> (String, String) {
    let t_max = r
        .configs
        .iter()
        .flat_map(|c| c.memory.iter().map(|(t, _)| *t))
        .fold(0.0f64, f64::max);
    let b_max = r
        .configs
        .iter()
        .flat_map(|c| c.memory.iter().map(|(_, b)| *b))
        .max()
        .unwrap_or(0) as f64;
    let (unit, size) = byte_unit(b_max);
    let x = Scale::linear_exact(t_max);
    let y = Scale::linear(b_max / size, 1.05);
    let y_title = format!("buffered {unit}");
    let mut svg = frame(
        "memory",
        "buffered bytes over virtual time per policy set",
        (&x, "virtual seconds", &|v| trim(v)),
        (&y, &y_title, &|v| trim(v)),
    );
    for (i, c) in r.configs.iter().enumerate() {
        let (colour, dash, width) = style(i);
        let points: Vec<String> = thin(&c.memory)
            .iter()
            .map(|(t, b)| format!("{:.1},{:.1}", x_at(&x, *t), y_at(&y, *b as f64 / size)))
            .collect();
        let _ = write!(
            svg,
            r#"<polyline class="series" data-series="{i}" fill="none" stroke="{colour}" stroke-width="{width}" stroke-dasharray="{dash}" stroke-linejoin="round" points="{}"><title>{}: peak {} {unit}</title></polyline>"#,
            points.join(" "),
            esc(&c.name),
            trim(((c.peak_buffered_bytes as f64 / size) * 100.0).round() / 100.0),
        );
    }
    svg.push_str("</svg>");
    (svg, legend("memory", r, false, ""))
}
