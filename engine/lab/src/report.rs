//! The lab's report: one entry per policy configuration, each with its definition, as JSON
//! (`report.json`), a terminal table, and a self-contained HTML page with inline SVG charts
//! (`report.html`). The terminal table and the page both carry the trade-off in a paragraph
//! ([`Report::summary`]).

use std::fmt::Write as _;

use serde::Serialize;

use crate::describe::Definition;

/// What the workload held.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WorkloadReport {
    /// The scenario's name or the recording's file name.
    pub name: String,
    /// Traces in it.
    pub traces: u64,
    /// Spans in it.
    pub spans: u64,
    /// Their encoded bytes.
    pub bytes: u64,
    /// Traces with an error span.
    pub error_traces: u64,
    /// Traces longer than `slow_threshold_ms`.
    pub slow_traces: u64,
    /// The slow threshold: the p99 trace duration unless set with `--slow-threshold`.
    pub slow_threshold_ms: f64,
    /// Distinct (service, operation) pairs.
    pub operations: u64,
    /// Virtual seconds the workload covers.
    pub virtual_seconds: f64,
}

/// One policy configuration's results. Shares and recalls are in [0, 1]; a recall whose
/// denominator is 0 (no error traces, say) is 1.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ConfigReport {
    /// The sampler's name.
    pub name: String,
    /// What the policy set is: a line in words and its TOML.
    pub definition: Definition,
    /// Traces kept (at least one span).
    pub kept_traces: u64,
    /// Spans kept.
    pub kept_spans: u64,
    /// Kept traces / traces.
    pub kept_traces_share: f64,
    /// Kept spans / spans.
    pub kept_spans_share: f64,
    /// Kept bytes / bytes.
    pub kept_bytes_share: f64,
    /// Kept spans per virtual second: what the backend would receive.
    pub kept_spans_per_sec: f64,
    /// Kept bytes per virtual second.
    pub kept_bytes_per_sec: f64,
    /// Kept error traces / error traces.
    pub error_recall: f64,
    /// Kept slow traces / slow traces.
    pub slow_recall: f64,
    /// (service, operation) pairs in at least one kept trace / all pairs.
    pub operation_coverage: f64,
    /// Kept traces that had every span when they were decided / kept traces: how often the
    /// policies judged a whole trace.
    pub complete_share: f64,
    /// Kept traces whose every span reached the backend in the end (late spans follow the
    /// cached decision) / kept traces.
    pub delivered_complete_share: f64,
    /// Traces decided before their wait ran out (bounds).
    pub evicted_early: u64,
    /// Most traces buffered at once.
    pub peak_buffered_traces: u64,
    /// Most bytes buffered at once.
    pub peak_buffered_bytes: u64,
    /// Workload spans per second of sampler time (0 with `--no-timing`).
    pub spans_per_sec: f64,
    /// Seconds spent in the sampler and its policies (0 with `--no-timing`).
    pub policy_cpu_seconds: f64,
    /// Buffered bytes once per virtual second: (second, bytes).
    pub memory: Vec<(f64, u64)>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The workload.
    pub workload: WorkloadReport,
    /// One entry per policy configuration, in the order given.
    pub configs: Vec<ConfigReport>,
}

/// `a / b`, or 1 when `b` is 0, rounded to 6 decimals so reports compare byte for byte.
pub(crate) fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        1.0
    } else {
        round6(a as f64 / b as f64)
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// The columns of the terminal table and the HTML table, in order.
pub(crate) const COLUMNS: [&str; 12] = [
    "policy",
    "traces",
    "spans",
    "bytes",
    "spans/s",
    "errors",
    "slow",
    "ops",
    "complete",
    "evicted",
    "peak MiB",
    "sampler/s",
];

impl ConfigReport {
    /// The formatted cells of one row, as [`COLUMNS`] lists them.
    pub(crate) fn cells(&self) -> Vec<String> {
        let percent = |x: f64| format!("{:.1}%", x * 100.0);
        vec![
            self.name.clone(),
            percent(self.kept_traces_share),
            percent(self.kept_spans_share),
            percent(self.kept_bytes_share),
            format!("{:.1}", self.kept_spans_per_sec),
            percent(self.error_recall),
            percent(self.slow_recall),
            percent(self.operation_coverage),
            percent(self.complete_share),
            self.evicted_early.to_string(),
            format!(
                "{:.1}",
                self.peak_buffered_bytes as f64 / (1u64 << 20) as f64
            ),
            if self.spans_per_sec > 0.0 {
                format!("{:.0}k", self.spans_per_sec / 1000.0)
            } else {
                "-".into()
            },
        ]
    }
}

impl Report {
    /// The report as pretty JSON (deterministic for the same workload and `--no-timing`).
    pub fn to_json(&self) -> String {
        let mut r = self.clone();
        for c in &mut r.configs {
            for x in [
                &mut c.kept_spans_per_sec,
                &mut c.kept_bytes_per_sec,
                &mut c.spans_per_sec,
                &mut c.policy_cpu_seconds,
            ] {
                *x = round6(*x);
            }
        }
        r.workload.slow_threshold_ms = round6(r.workload.slow_threshold_ms);
        let mut s = serde_json::to_string_pretty(&r).unwrap_or_default();
        s.push('\n');
        s
    }

    /// The terminal report: the workload, the table, each set's definition in a line, and the
    /// trade-off paragraph wrapped at 100 columns.
    pub fn table(&self) -> String {
        let w = &self.workload;
        let mut out = format!(
            "workload {}: {} traces, {} spans, {:.0} virtual s; {} error traces, {} slow (> {:.0} ms), {} operations\n\n",
            w.name,
            w.traces,
            w.spans,
            w.virtual_seconds,
            w.error_traces,
            w.slow_traces,
            w.slow_threshold_ms,
            w.operations
        );
        let widths = [20, 8, 8, 8, 9, 8, 8, 8, 8, 9, 10, 10];
        let line = |cells: Vec<String>| {
            let mut l = String::new();
            for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
                if i == 0 {
                    let _ = write!(l, "{c:<w$}");
                } else {
                    let _ = write!(l, " {c:>w$}");
                }
            }
            l
        };
        let _ = writeln!(
            out,
            "{}",
            line(COLUMNS.iter().map(|c| c.to_string()).collect())
        );
        for c in &self.configs {
            let _ = writeln!(out, "{}", line(c.cells()));
        }
        out.push('\n');
        for c in &self.configs {
            let _ = writeln!(out, "{}: {}", c.name, c.definition.summary);
        }
        out.push('\n');
        out.push_str(&wrap(&self.summary(), 100));
        out
    }
}

/// `text` broken into lines of at most `width` characters (longer words stay whole).
pub(crate) fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = 0;
    for word in text.split_whitespace() {
        let n = word.chars().count();
        if line > 0 && line + 1 + n > width {
            out.push('\n');
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += n;
    }
    out.push('\n');
    out
}
