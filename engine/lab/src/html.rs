//! `report.html`: one self-contained page (inline CSS and SVG, no scripts, no network) with the
//! table, a chart of cost (kept share) against recall per policy, and buffered memory over
//! virtual time.

use std::fmt::Write as _;

use crate::report::{COLUMNS, Report};

/// Series colours, cycled.
const COLOURS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const W: f64 = 640.0;
const H: f64 = 360.0;
const PAD: f64 = 50.0;

/// Kept share (x) against error and slow recall (y): one circle (errors) and one square (slow)
/// per policy.
fn recall_chart(r: &Report) -> String {
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg id="recall" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="kept share against recall">"#
    );
    axes(&mut svg, ("kept spans (share)", "1"), ("recall", "1"));
    for (i, c) in r.configs.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let x = PAD + c.kept_spans_share * (W - 2.0 * PAD);
        let ye = H - PAD - c.error_recall * (H - 2.0 * PAD);
        let ys = H - PAD - c.slow_recall * (H - 2.0 * PAD);
        let _ = write!(
            svg,
            r#"<circle class="point" cx="{x:.1}" cy="{ye:.1}" r="6" fill="{colour}"><title>{n}: error recall {e:.3} at {k:.3} kept</title></circle><rect class="point" x="{xs:.1}" y="{ys2:.1}" width="10" height="10" fill="none" stroke="{colour}" stroke-width="2"><title>{n}: slow recall {s:.3} at {k:.3} kept</title></rect><text x="{tx:.1}" y="{ty:.1}" font-size="11" fill="{colour}">{n}</text>"#,
            n = esc(&c.name),
            e = c.error_recall,
            s = c.slow_recall,
            k = c.kept_spans_share,
            xs = x - 5.0,
            ys2 = ys - 5.0,
            tx = x + 8.0,
            // Labels of nearby points would overlap: stagger them.
            ty = ye - 8.0 - 12.0 * (i % 3) as f64,
        );
    }
    svg.push_str(
        r##"<text x="460" y="20" font-size="11">● error recall  □ slow recall</text></svg>"##,
    );
    svg
}

/// Buffered bytes over virtual time, one line per policy.
fn memory_chart(r: &Report) -> String {
    let t_max = r
        .configs
        .iter()
        .flat_map(|c| c.memory.iter().map(|(t, _)| *t))
        .fold(1.0f64, f64::max);
    let b_max = r
        .configs
        .iter()
        .flat_map(|c| c.memory.iter().map(|(_, b)| *b))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg id="memory" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="buffered bytes over time">"#
    );
    let t_label = format!("{t_max:.0} s");
    let b_label = format!("{:.2} MiB", b_max / (1u64 << 20) as f64);
    axes(
        &mut svg,
        ("virtual seconds", &t_label),
        ("buffered bytes", &b_label),
    );
    for (i, c) in r.configs.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let points: Vec<String> = c
            .memory
            .iter()
            .map(|(t, b)| {
                format!(
                    "{:.1},{:.1}",
                    PAD + t / t_max * (W - 2.0 * PAD),
                    H - PAD - *b as f64 / b_max * (H - 2.0 * PAD)
                )
            })
            .collect();
        let _ = write!(
            svg,
            r#"<polyline class="series" fill="none" stroke="{colour}" stroke-width="2" points="{}"><title>{}</title></polyline><text x="{lx}" y="{ly}" font-size="11" fill="{colour}">{}</text>"#,
            points.join(" "),
            esc(&c.name),
            esc(&c.name),
            lx = W - PAD - 120.0,
            ly = PAD + 14.0 * (i as f64 + 1.0),
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Both axes with their names, `0` at the origin and the maximum at each end.
fn axes(svg: &mut String, (x_label, x_max): (&str, &str), (y_label, y_max): (&str, &str)) {
    let _ = write!(
        svg,
        r##"<line x1="{PAD}" y1="{b}" x2="{r}" y2="{b}" stroke="#444"/><line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{b}" stroke="#444"/><text x="{cx}" y="{xl}" font-size="12" text-anchor="middle">{x_label}</text><text x="14" y="{cy}" font-size="12" text-anchor="middle" transform="rotate(-90 14 {cy})">{y_label}</text><text x="{PAD}" y="{t0}" font-size="10" text-anchor="middle">0</text><text x="{r}" y="{t0}" font-size="10" text-anchor="middle">{x_max}</text><text x="{yl}" y="{ym}" font-size="10" text-anchor="end">{y_max}</text>"##,
        b = H - PAD,
        r = W - PAD,
        cx = W / 2.0,
        xl = H - 12.0,
        cy = H / 2.0,
        t0 = H - PAD + 14.0,
        yl = PAD - 4.0,
        ym = PAD + 4.0,
    );
}

/// The whole page.
pub fn render(r: &Report) -> String {
    let mut rows = String::new();
    for c in &r.configs {
        rows.push_str("<tr>");
        for cell in c.cells() {
            let _ = write!(rows, "<td>{}</td>", esc(&cell));
        }
        rows.push_str("</tr>");
    }
    let header: String = COLUMNS.iter().map(|c| format!("<th>{c}</th>")).collect();
    let w = &r.workload;
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Weir policy lab: {name}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}td:first-child,th:first-child{{text-align:left}}figure{{display:inline-block;margin:1em}}</style>
</head><body>
<h1>Policy lab: {name}</h1>
<p>{traces} traces, {spans} spans over {secs:.0} virtual seconds; {errors} error traces, {slow} slow traces (longer than {thr:.0} ms), {ops} (service, operation) pairs.</p>
<p>Shares of the workload kept (traces, spans, bytes), kept spans per virtual second, recall of error and slow traces, (service, operation) pairs covered, kept traces complete at decision, traces evicted early, peak buffered MiB, sampler throughput.</p>
<table><thead><tr>{header}</tr></thead>
<tbody>{rows}</tbody></table>
<figure>{recall}<figcaption>Cost against value: further left keeps less, higher misses fewer error (●) and slow (□) traces.</figcaption></figure>
<figure>{memory}<figcaption>Bytes buffered by each sampler over the workload's virtual time.</figcaption></figure>
</body></html>
"#,
        name = esc(&w.name),
        traces = w.traces,
        spans = w.spans,
        secs = w.virtual_seconds,
        errors = w.error_traces,
        slow = w.slow_traces,
        thr = w.slow_threshold_ms,
        ops = w.operations,
        recall = recall_chart(r),
        memory = memory_chart(r),
    )
}
