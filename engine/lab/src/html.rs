//! `report.html`: one self-contained page (inline CSS and SVG, no scripts, no network): the
//! trade-off in a paragraph, two charts side by side with their legends beside the plots, and
//! the table with each policy set's definition in its row.

use std::fmt::Write as _;

use crate::report::{COLUMNS, Report};
use crate::svg::{esc, memory_chart, recall_chart, style};

const CSS: &str = "\
*{box-sizing:border-box}\
body{font-family:system-ui,sans-serif;margin:0;color:#222;background:#fff;line-height:1.45}\
main{max-width:1360px;margin:0 auto;padding:20px 28px}\
h1{font-size:1.6em;margin:0 0 4px}\
h2{font-size:1.15em;margin:28px 0 8px}\
.workload{color:#555;margin:0 0 14px}\
#trade-off{font-size:1.05em;background:#f3f6fa;border-left:4px solid #1f77b4;padding:10px 16px;margin:0}\
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:20px 32px;margin-top:18px}\
figure{margin:0}\
figure svg{display:block}\
figure>svg{width:100%;height:auto}\
figcaption{font-size:14px;color:#444;margin-bottom:6px}\
figcaption b{color:#222;font-size:15px}\
.legend{list-style:none;display:flex;flex-wrap:wrap;gap:4px 18px;margin:6px 0 0;padding:0 0 0 64px;font-size:13px}\
.legend li{display:flex;align-items:center;gap:6px}\
.legend .mark-key{color:#555}\
table{border-collapse:collapse;width:100%;font-size:14px}\
td,th{border-bottom:1px solid #ddd;padding:6px 8px;text-align:right;vertical-align:top;white-space:nowrap}\
th{border-bottom:2px solid #999;background:#f7f7f7}\
td.policy,th:first-child{text-align:left}\
td.policy{white-space:normal;min-width:18em;max-width:34em}\
td.policy svg{vertical-align:middle;margin-right:6px}\
.definition{color:#444;font-size:13px;margin-top:2px}\
details{font-size:12px;color:#555}\
details pre{background:#f7f7f7;padding:6px 8px;margin:4px 0;white-space:pre-wrap}\
.note{color:#555;font-size:13px}";

/// The table: per policy set its swatch, name, definition (a line, and the TOML behind a
/// toggle) and results.
fn table(r: &Report) -> String {
    let mut rows = String::new();
    for (i, c) in r.configs.iter().enumerate() {
        let (colour, _, _) = style(i);
        let mut cells = c.cells().into_iter();
        let name = cells.next().unwrap_or_default();
        let _ = write!(
            rows,
            r#"<tr data-series="{i}"><td class="policy"><svg width="12" height="12" aria-hidden="true"><circle cx="6" cy="6" r="5" fill="{colour}"/></svg><b>{}</b><div class="definition">{}</div><details><summary>as TOML</summary><pre>{}</pre></details></td>"#,
            esc(&name),
            esc(&c.definition.summary),
            esc(c.definition.toml.trim_end()),
        );
        for cell in cells {
            let _ = write!(rows, "<td>{}</td>", esc(&cell));
        }
        rows.push_str("</tr>");
    }
    // The first column holds each set's name and definition: a "policy set".
    let header: String = COLUMNS
        .iter()
        .enumerate()
        .map(|(i, c)| format!("<th>{}</th>", if i == 0 { "policy set" } else { c }))
        .collect();
    format!("<table><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>")
}

/// The whole page.
pub fn render(r: &Report) -> String {
    let w = &r.workload;
    let (recall, recall_legend) = recall_chart(r);
    let (memory, memory_legend) = memory_chart(r);
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>Weir policy lab: {name}</title>
<style>{CSS}</style>
</head><body><main>
<h1>Policy lab: {name}</h1>
<p class="workload">{traces} traces, {spans} spans over {secs:.0} virtual seconds; {errors} error traces, {slow} slow traces (longer than {thr:.0} ms), {ops} (service, operation) pairs.</p>
<p id="trade-off">{summary}</p>
<section class="charts">
<figure id="recall-figure"><figcaption><b>Cost against value.</b> Further left keeps less; higher catches more error (●) and slow (□) traces. Marks of policy sets with nearly the same kept share are set side by side; hover one, or see the table, for exact numbers.</figcaption>{recall}{recall_legend}</figure>
<figure id="memory-figure"><figcaption><b>Memory.</b> Bytes each sampler buffers over the workload's virtual time. Lines that coincide differ in dash and width.</figcaption>{memory}{memory_legend}</figure>
</section>
<h2>Results and definitions</h2>
{table}
<p class="note">Shares of the workload kept (traces, spans, bytes), kept spans per virtual second, recall of error and slow traces, (service, operation) pairs covered, kept traces complete at decision, traces evicted early, peak buffered MiB, sampler throughput. A policy set keeps a trace when any of its policies keeps it, unless one vetoes it (“never”).</p>
</main></body></html>
"#,
        name = esc(&w.name),
        traces = w.traces,
        spans = w.spans,
        secs = w.virtual_seconds,
        errors = w.error_traces,
        slow = w.slow_traces,
        thr = w.slow_threshold_ms,
        ops = w.operations,
        summary = esc(&r.summary()),
        table = table(r),
    )
}
