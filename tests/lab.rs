//! `weir lab` end to end: a recording made by the gateway's `file` exporter from a run of the
//! OpenTelemetry Python SDK replays with exact ground truth; a scenario gives a byte-identical
//! report for the same seed; bad inputs are reported with file and key; the HTML report, laid
//! out by headless Chromium, shows every series with legends beside the plots and each policy
//! set's definition.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;
use weir_tests::gateway::binary;
use weir_tests::{Gateway, eventually, python};

fn weir(args: &[&str]) -> Output {
    Command::new(binary()).args(args).output().unwrap()
}

/// `weir lab` on `workload` with each of `policies`, writing to `out`, plus `extra` flags.
fn weir_lab(workload: &Path, policies: &[&Path], out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["lab", "--workload", workload.to_str().unwrap()];
    for p in policies {
        args.extend(["--policies", p.to_str().unwrap()]);
    }
    args.extend(["--out", out.to_str().unwrap()]);
    args.extend(extra);
    weir(&args)
}

fn lab(workload: &Path, policies: &Path, out: &Path) -> Value {
    let o = weir_lab(workload, &[policies], out, &["--no-timing"]);
    assert!(
        o.status.success(),
        "weir lab failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap()
}

const POLICIES: &str = r#"
[samplers.all]
decision_wait = "5s"
[[samplers.all.policies]]
name = "all"
type = "always_sample"

[samplers.errors]
decision_wait = "5s"
[[samplers.errors.policies]]
name = "errors"
type = "status_code"
config = { status_codes = ["ERROR"] }
"#;

fn config(report: &Value, name: &str) -> Value {
    report["configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no {name} in {report}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_a_recording_of_a_python_sdk_run_with_exact_truth() {
    let dir = tempfile::tempdir().unwrap();
    let recording = dir.path().join("spans.jsonl");
    let gw = Gateway::start(&format!(
        r#"
[receivers.otlp]
grpc = "127.0.0.1:0"

[exporters.record]
type = "file"
path = "{}"

[pipelines.traces]
receivers = ["otlp"]
exporters = ["record"]
"#,
        recording.display()
    ))
    .await;
    let out = python::run_json(
        "emit_services.py",
        &["--endpoint", &gw.url("otlp", "grpc"), "--traces", "50"],
    )
    .await;
    assert_eq!(out["ok"], true, "{out}");
    let traces = out["traces"].as_array().unwrap();
    let spans: u64 = traces.iter().map(|t| t["spans"].as_u64().unwrap()).sum();
    let errors = traces.iter().filter(|t| t["error"] == true).count() as u64;
    let services = ["frontend", "cart", "search", "checkout"];
    let written = eventually(Duration::from_secs(30), || {
        let recording = recording.clone();
        async move {
            let text = std::fs::read_to_string(&recording).unwrap_or_default();
            text.matches("\"spanId\"").count() as u64 >= spans
        }
    })
    .await;
    assert!(written, "the file exporter did not write every span");

    let policies = dir.path().join("policies.toml");
    std::fs::write(&policies, POLICIES).unwrap();
    let report = lab(&recording, &policies, &dir.path().join("out"));
    let w = &report["workload"];
    assert_eq!(w["traces"], traces.len() as u64, "{w}");
    assert_eq!(w["spans"], spans);
    assert_eq!(w["error_traces"], errors);
    assert!(w["operations"].as_u64().unwrap() >= services.len() as u64);

    let all = config(&report, "all");
    assert_eq!(all["kept_traces_share"], 1.0);
    assert_eq!(all["kept_spans_share"], 1.0);
    assert_eq!(all["complete_share"], 1.0);
    let e = config(&report, "errors");
    assert_eq!(e["error_recall"], 1.0);
    assert_eq!(e["kept_traces"], errors, "exactly the error traces");
    assert!(dir.path().join("out/report.html").exists());
}

const SCENARIO: &str = r#"
name = "tiny shop"
seed = 11
duration = "60s"
traces_per_second = 20
export_delay = "3s"

[[operations]]
name = "GET /"
service = "frontend"
root_weight = 1
latency = { median = "20ms", p99 = "2s" }
error_rate = 0.05
calls = [{ operation = "db", count = 2 }]

[[operations]]
name = "db"
service = "postgres"
latency = { median = "2ms", p99 = "50ms" }
"#;

#[test]
fn the_same_seed_gives_a_byte_identical_report_json() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("shop.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let policies = dir.path().join("policies.toml");
    std::fs::write(&policies, POLICIES).unwrap();
    let a = lab(&scenario, &policies, &dir.path().join("a"));
    let b = lab(&scenario, &policies, &dir.path().join("b"));
    let bytes = |d: &str| std::fs::read(dir.path().join(d).join("report.json")).unwrap();
    assert_eq!(bytes("a"), bytes("b"));
    assert_eq!(a, b);
    assert_eq!(config(&a, "errors")["error_recall"], 1.0);
    // The terminal table (stdout is not a terminal here: no progress bar on stderr).
    let o = weir_lab(&scenario, &[&policies], &dir.path().join("c"), &[]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("workload tiny shop") && stdout.contains("errors"),
        "{stdout}"
    );
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains('#'),
        "no progress bar"
    );
}

#[test]
fn bad_inputs_name_the_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("shop.toml");
    std::fs::write(
        &scenario,
        SCENARIO.replace("count = 2", "count = 2, probability = 3"),
    )
    .unwrap();
    let policies = dir.path().join("policies.toml");
    std::fs::write(&policies, POLICIES.replace("\"ERROR\"", "\"BROKEN\"")).unwrap();
    let good_policies = dir.path().join("good.toml");
    std::fs::write(&good_policies, POLICIES).unwrap();
    let out = dir.path().join("out");
    let run = |w: &Path, p: &Path| {
        let o = weir_lab(w, &[p], &out, &[]);
        assert!(!o.status.success());
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let err = run(&scenario, &good_policies);
    assert!(
        err.contains("shop.toml: operations[0].calls[0].probability: must be between 0 and 1"),
        "{err}"
    );
    let std_scenario = dir.path().join("ok.toml");
    std::fs::write(&std_scenario, SCENARIO).unwrap();
    let err = run(&std_scenario, &policies);
    assert!(
        err.contains("policies.toml:13:28: samplers.errors.policies[0].config.status_codes[0]"),
        "{err}"
    );
    let not_a_recording = dir.path().join("junk.bin");
    std::fs::write(&not_a_recording, b"\x00\x01junk").unwrap();
    let err = run(&not_a_recording, &good_policies);
    assert!(
        err.contains("junk.bin: neither OTLP/JSON lines nor OTLP protobuf"),
        "{err}"
    );
}

/// Runs headless Chromium (Debian's `chromium`, installed by scripts/test.sh) on `args`, killed
/// after a minute: a hung browser fails the test instead of stalling the suite.
fn chromium(args: &[&str]) -> Output {
    let mut command = tokio::process::Command::new("chromium");
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .args([
            "--window-size=1400,1100",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .args(args)
        .kill_on_drop(true);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(async {
            // Spawned inside the runtime, which owns the child's pipes.
            tokio::time::timeout(Duration::from_secs(60), command.output()).await
        })
        .unwrap_or_else(|_| panic!("chromium {args:?} ran over a minute"))
        .unwrap_or_else(|e| {
            panic!("cannot run chromium ({e}): run `bash scripts/test.sh`, it installs it")
        })
}

/// Measures the laid-out report in the browser and appends the result, as JSON, in
/// `<pre id="measure">`: per chart its plot area, legend and keys, overlapping labels, and per
/// mark how many of its sample points hit it (`elementFromPoint`: hidden under another mark,
/// a point misses); the figures' boxes; the table's names and definitions; the summary.
const MEASURE: &str = r#"<script>(function () {
  const box = e => { const r = e.getBoundingClientRect(); return { l: r.left, t: r.top, r: r.right, b: r.bottom }; };
  const overlap = (a, b) => a.l < b.r - 0.5 && b.l < a.r - 0.5 && a.t < b.b - 0.5 && b.t < a.b - 0.5;
  const hit = (m, x, y) => document.elementFromPoint(x, y) === m ? 1 : 0;
  const out = { charts: {} };
  for (const id of ['recall', 'memory']) {
    const svg = document.getElementById(id);
    const legend = document.querySelector('.legend[data-chart="' + id + '"]');
    const labels = [...svg.querySelectorAll('text')].map(box);
    let overlaps = 0;
    for (let i = 0; i < labels.length; i++)
      for (let j = i + 1; j < labels.length; j++) overlaps += overlap(labels[i], labels[j]) ? 1 : 0;
    const marks = [...svg.querySelectorAll('[data-series]')].map(m => {
      let hits = 0;
      if (m.tagName === 'polyline') {
        const len = m.getTotalLength(), ctm = m.getScreenCTM();
        for (let k = 0; k <= 400; k++) {
          const at = m.getPointAtLength(len * k / 400);
          const p = new DOMPoint(at.x, at.y).matrixTransform(ctm);
          hits += hit(m, p.x, p.y);
        }
      } else {
        const b = box(m);
        for (let i = 0; i <= 8; i++)
          for (let j = 0; j <= 8; j++) hits += hit(m, b.l + (b.r - b.l) * i / 8, b.t + (b.b - b.t) * j / 8);
      }
      return { series: Number(m.dataset.series), kind: m.getAttribute('class'), hits: hits, box: box(m) };
    });
    out.charts[id] = {
      svg: box(svg), plot: box(svg.querySelector('.plot-area')), legend: box(legend),
      keys: [...legend.querySelectorAll('li.key')].map(li => ({ series: Number(li.dataset.series), text: li.textContent, box: box(li) })),
      ticks: svg.querySelectorAll('text.tick').length, overlaps: overlaps, marks: marks,
    };
  }
  out.figures = [...document.querySelectorAll('figure')].map(box);
  out.page = { width: innerWidth, scroll_width: document.documentElement.scrollWidth, main: box(document.querySelector('main')) };
  out.rows = [...document.querySelectorAll('tbody tr')].map(tr => ({ name: tr.querySelector('b').textContent, definition: tr.querySelector('.definition').textContent }));
  out.summary = document.getElementById('trade-off').textContent;
  const pre = document.createElement('pre');
  pre.id = 'measure';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();</script>"#;

/// The report at `page` laid out by Chromium, as [`MEASURE`] reports it.
fn measure(page: &Path) -> Value {
    let html = std::fs::read_to_string(page).unwrap();
    let measured = page.with_file_name("measure.html");
    std::fs::write(
        &measured,
        html.replace("</body>", &format!("{MEASURE}</body>")),
    )
    .unwrap();
    let dom = chromium(&["--dump-dom", &format!("file://{}", measured.display())]);
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    let open = "<pre id=\"measure\">";
    let start = dom.find(open).expect("the measuring script ran") + open.len();
    let end = start + dom[start..].find("</pre>").unwrap();
    let json = dom[start..end]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    serde_json::from_str(&json).unwrap()
}

/// A box from [`MEASURE`]: (left, top, right, bottom) in CSS pixels.
fn rect(v: &Value) -> [f64; 4] {
    ["l", "t", "r", "b"].map(|k| v[k].as_f64().unwrap())
}

fn overlaps(a: [f64; 4], b: [f64; 4]) -> bool {
    a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3]
}

#[test]
fn the_html_report_renders_readably_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("shop.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    // The same file twice: two pairs of identical series, which must not hide each other.
    let a = dir.path().join("a.toml");
    let b = dir.path().join("b.toml");
    std::fs::write(&a, POLICIES).unwrap();
    std::fs::write(&b, POLICIES).unwrap();
    let o = weir_lab(
        &scenario,
        &[&a, &b],
        &dir.path().join("out"),
        &["--no-timing"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let names = ["all", "errors", "b/all", "b/errors"];
    let report_html = dir.path().join("out/report.html");
    let page = format!("file://{}", report_html.display());

    // The rendered DOM has both charts with a mark per policy set, and the page logged no
    // errors.
    let dom = chromium(&["--dump-dom", &page]);
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let html = String::from_utf8_lossy(&dom.stdout);
    assert!(html.contains("<svg id=\"recall\"") && html.contains("<svg id=\"memory\""));
    for mark in [
        "<circle class=\"point error\"",
        "<rect class=\"point slow\"",
        "<polyline class=\"series\"",
    ] {
        assert_eq!(html.matches(mark).count(), names.len(), "{mark}");
    }
    let log = String::from_utf8_lossy(&dom.stderr);
    assert!(
        !log.contains("CONSOLE") && !log.contains("Uncaught"),
        "the page logged errors:\n{log}"
    );

    // Laid out: every series visible, legends beside the plots, no overlapping labels.
    let m = measure(&report_html);
    for (chart, marks_per_set) in [("recall", 2), ("memory", 1)] {
        let c = &m["charts"][chart];
        let plot = rect(&c["plot"]);
        let svg = rect(&c["svg"]);
        assert!(
            !overlaps(rect(&c["legend"]), plot),
            "{chart}: the legend sits on the plot: {c}"
        );
        let keys = c["keys"].as_array().unwrap();
        let texts: Vec<&str> = keys.iter().map(|k| k["text"].as_str().unwrap()).collect();
        assert_eq!(texts, names, "{chart}: a legend key per set, in order");
        assert!(keys.iter().all(|k| !overlaps(rect(&k["box"]), plot)));
        assert_eq!(c["overlaps"], 0, "{chart}: labels overlap: {c}");
        assert!(c["ticks"].as_u64().unwrap() >= 6, "{chart}: tick labels");
        let marks = c["marks"].as_array().unwrap();
        assert_eq!(marks.len(), names.len() * marks_per_set, "{chart}");
        for mark in marks {
            // A real share in sight, not a pixel: 20 of a line's 401 centreline points (a wide
            // line under narrower dashed ones shows in their gaps there, and along its edges
            // everywhere), or 12 of a mark's 81 (a hollow square's outline is 32 of them).
            let enough = if chart == "memory" { 20 } else { 12 };
            assert!(
                mark["hits"].as_u64().unwrap() >= enough,
                "{chart}: {} of {} is hidden under another mark ({} hits)",
                mark["kind"],
                names[mark["series"].as_u64().unwrap() as usize],
                mark["hits"]
            );
            let b = rect(&mark["box"]);
            assert!(
                b[0] >= svg[0] && b[2] <= svg[2] && b[1] >= svg[1] && b[3] <= svg[3],
                "{chart}: {mark} is cut off"
            );
        }
    }
    // The charts sit side by side across the page, and nothing scrolls sideways.
    let figures: Vec<[f64; 4]> = m["figures"].as_array().unwrap().iter().map(rect).collect();
    assert_eq!(figures.len(), 2);
    let main = rect(&m["page"]["main"]);
    assert!(
        (figures[0][1] - figures[1][1]).abs() < 1.0 && figures[1][0] > figures[0][2],
        "side by side: {figures:?}"
    );
    assert!(
        figures[1][2] - figures[0][0] > 0.85 * (main[2] - main[0]),
        "the charts fill the width: {figures:?} in {main:?}"
    );
    let layout = &m["page"];
    assert!(
        layout["scroll_width"].as_f64().unwrap() <= layout["width"].as_f64().unwrap(),
        "nothing scrolls sideways: {layout}"
    );
    // Each set's definition is in its row; the summary names the trade-off.
    let rows = m["rows"].as_array().unwrap();
    let defs: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap(),
                r["definition"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        defs,
        [
            ("all", "every trace; wait 5s"),
            ("errors", "status ERROR; wait 5s"),
            ("b/all", "every trace; wait 5s"),
            ("b/errors", "status ERROR; wait 5s"),
        ]
    );
    let summary = m["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("“errors” keeps the fewest spans (4.")
            && summary.contains("“all” and “b/all” give the same results"),
        "{summary}"
    );

    // The screenshot shows it: much more drawn than on an empty page of the same size.
    let empty = dir.path().join("empty.html");
    std::fs::write(&empty, "<!doctype html><html><body></body></html>").unwrap();
    let shot = |url: &str, png: &Path| {
        let o = chromium(&[&format!("--screenshot={}", png.display()), url]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        std::fs::metadata(png).unwrap().len()
    };
    let report_png = shot(&page, &dir.path().join("report.png"));
    let empty_png = shot(
        &format!("file://{}", empty.display()),
        &dir.path().join("empty.png"),
    );
    assert!(
        report_png > empty_png * 5,
        "the report's screenshot ({report_png} B) is hardly more than an empty page's ({empty_png} B)"
    );
}

#[test]
fn same_named_samplers_of_two_files_are_told_apart() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("shop.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let a = dir.path().join("a.toml");
    let b = dir.path().join("b.toml");
    std::fs::write(&a, POLICIES).unwrap();
    std::fs::write(
        &b,
        POLICIES.replace("decision_wait = \"5s\"", "decision_wait = \"1s\""),
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = weir_lab(&scenario, &[&a, &b], &out, &["--no-timing"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let names: Vec<&str> = report["configs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["all", "errors", "b/all", "b/errors"]);
    // A shorter wait cuts more traces: the two "all" columns are measured apart.
    assert!(
        config(&report, "b/all")["complete_share"].as_f64().unwrap()
            < config(&report, "all")["complete_share"].as_f64().unwrap()
    );
}
