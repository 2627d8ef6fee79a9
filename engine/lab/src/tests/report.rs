//! The report's reading aids: axis choice, mark placement, the trade-off paragraph, policy set
//! definitions, and the page's structure.

use crate::chart::{Scale, dodge, nice_step, percent_tick};
use crate::summary::pct;
use crate::*;

fn set(name: &str, spans: f64, errors: f64, slow: f64) -> ConfigReport {
    ConfigReport {
        name: name.into(),
        kept_traces: 100,
        kept_spans_share: spans,
        kept_bytes_share: spans,
        kept_traces_share: spans,
        error_recall: errors,
        slow_recall: slow,
        complete_share: 1.0,
        peak_buffered_bytes: 1 << 20,
        memory: vec![(0.0, 0), (1.0, 4096), (2.0, 2048)],
        definition: Definition {
            summary: format!("definition of {name}"),
            toml: format!("[samplers.{name}]\n"),
        },
        ..Default::default()
    }
}

fn report(configs: Vec<ConfigReport>) -> Report {
    Report {
        workload: WorkloadReport {
            name: "w".into(),
            traces: 1000,
            error_traces: 20,
            slow_traces: 10,
            ..Default::default()
        },
        configs,
    }
}

#[test]
fn close_shares_get_a_zoomed_linear_axis_ending_on_a_round_tick() {
    // The web shop's four sets: on a 0–1 axis they crowded into the left 15 %.
    let shares = [0.074, 0.083, 0.102, 0.148];
    let s = Scale::for_shares(&shares);
    assert_eq!(
        s,
        Scale::Linear {
            max: 0.2,
            step: 0.05
        }
    );
    let ticks: Vec<String> = s.ticks().into_iter().map(percent_tick).collect();
    assert_eq!(ticks, ["0%", "5%", "10%", "15%", "20%"]);
    assert!(shares.iter().all(|x| s.fraction(*x) > 0.3));
    assert!(s.fraction(0.148) > 0.7 && s.fraction(0.148) < 0.95);
    // Close to 1: the axis stops at 100 %.
    assert_eq!(
        Scale::for_shares(&[0.6, 0.95]),
        Scale::Linear {
            max: 1.0,
            step: 0.2
        }
    );
    assert_eq!(
        Scale::for_shares(&[0.021, 0.03]),
        Scale::Linear {
            max: 0.04,
            step: 0.01
        }
    );
}

#[test]
fn shares_spanning_decades_get_a_log_axis() {
    let s = Scale::for_shares(&[0.044, 1.0, 0.044]);
    assert_eq!(s, Scale::Log { lo: 0.01, hi: 1.0 });
    let ticks: Vec<String> = s.ticks().into_iter().map(percent_tick).collect();
    assert_eq!(ticks, ["1%", "2%", "5%", "10%", "20%", "50%", "100%"]);
    assert!((s.fraction(0.1) - 0.5).abs() < 1e-9);
    assert!(s.fraction(0.044) > 0.3, "not crowded at the left");
    // Many decades: only powers of ten; a set keeping nothing sits at the start.
    let wide = Scale::for_shares(&[0.0, 0.00002, 0.5]);
    assert_eq!(
        wide,
        Scale::Log {
            lo: 0.00001,
            hi: 1.0
        }
    );
    assert_eq!(wide.ticks().len(), 6);
    assert_eq!(wide.fraction(0.0), 0.0);
    // Nothing kept, no sets, or junk: a small linear axis, no panic.
    for shares in [&[0.0, 0.0][..], &[], &[f64::NAN, -1.0]] {
        assert!(matches!(
            Scale::for_shares(shares),
            Scale::Linear { max, .. } if max > 0.0 && max <= 0.01
        ));
    }
}

#[test]
fn round_numbers_and_labels() {
    for (x, want) in [
        (0.0326, 0.05),
        (0.2, 0.2),
        (0.21, 0.25),
        (3.0, 5.0),
        (120.0, 200.0),
    ] {
        assert!(
            (nice_step(x) - want).abs() < 1e-12,
            "{x} → {}",
            nice_step(x)
        );
    }
    assert_eq!(percent_tick(0.025), "2.5%");
    assert_eq!(percent_tick(0.001), "0.1%");
    assert_eq!(percent_tick(1.0), "100%");
    assert_eq!(pct(0.9996), ">99.9%", "a miss is never 100%");
    assert_eq!(pct(0.0004), "<0.1%");
    assert_eq!(pct(0.031), "3.1%");
    assert_eq!(pct(1.0), "100%");
}

#[test]
fn marks_at_the_same_place_are_set_side_by_side() {
    let gap = 14.0;
    let apart = |xs: &[f64]| {
        let mut s = xs.to_vec();
        s.sort_by(f64::total_cmp);
        s.windows(2).all(|w| w[1] - w[0] >= gap - 1e-9)
    };
    let xs = dodge(&[100.0, 100.0, 100.0], gap, 0.0, 500.0);
    assert_eq!(xs, [86.0, 100.0, 114.0]);
    // Far apart: unchanged.
    assert_eq!(
        dodge(&[10.0, 200.0, 400.0], gap, 0.0, 500.0),
        [10.0, 200.0, 400.0]
    );
    // At the edge: they stay inside.
    let xs = dodge(&[500.0, 500.0, 499.0], gap, 0.0, 500.0);
    assert!(
        apart(&xs) && xs.iter().all(|x| (0.0..=500.0).contains(x)),
        "{xs:?}"
    );
    // A chain of near ones merges into one evenly spaced run.
    let xs = dodge(&[50.0, 60.0, 70.0, 75.0, 300.0], gap, 0.0, 500.0);
    assert!(apart(&xs), "{xs:?}");
    assert_eq!(xs[4], 300.0);
}

#[test]
fn the_summary_names_the_trade_off_from_the_numbers() {
    let mut slow_catcher = set("slow-catcher", 0.12, 1.0, 0.98);
    slow_catcher.peak_buffered_bytes = 3 << 20;
    let r = report(vec![
        set("lean", 0.03, 1.0, 0.4),
        slow_catcher,
        set("baseline", 0.10, 0.1, 0.1),
        set("lean-copy", 0.03, 1.0, 0.4),
    ]);
    let s = r.summary();
    for want in [
        "“lean” keeps the fewest spans (3%) while catching 100% of error traces and 40% of slow ones.",
        "“slow-catcher” catches the most slow traces (98%), for 4.0× the spans (12%).",
        "“lean” and “lean-copy” give the same results",
        "“lean” does better than “baseline”",
        "“lean” buffers the least (1.0 MiB at its peak, against 3.0 MiB for “slow-catcher”).",
    ] {
        assert!(s.contains(want), "{want:?} not in {s:?}");
    }
    assert!(!s.contains("most error"), "none catches more errors: {s}");
    // The names come from the data: other names, same sentences.
    let mut renamed = r.clone();
    for (c, n) in renamed.configs.iter_mut().zip(["a", "b", "c", "d"]) {
        c.name = n.into();
    }
    let t = renamed.summary();
    assert!(t.contains("“a” keeps the fewest") && t.contains("“b” catches the most slow"));

    // One set that is best on every count is said to give up nothing.
    let r = report(vec![
        set("best", 0.02, 1.0, 1.0),
        set("wide", 0.5, 1.0, 1.0),
    ]);
    let s = r.summary();
    assert!(s.contains("“best” keeps the fewest spans (2%)"), "{s}");
    assert!(s.contains("gives up nothing"), "{s}");
    assert!(s.contains("“best” does better than “wide”"), "{s}");
    assert!(!s.contains("buffers"), "same memory: not worth a word: {s}");

    // Cut traces and evictions are told; a workload without slow traces does not talk of them.
    let mut cut = set("cut", 0.05, 0.9, 1.0);
    cut.complete_share = 0.8;
    cut.evicted_early = 7;
    let mut r = report(vec![cut, set("whole", 0.06, 1.0, 1.0)]);
    r.workload.slow_traces = 0;
    let s = r.summary();
    assert!(
        s.contains("“cut” decided 20% of the traces it kept before"),
        "{s}"
    );
    assert!(
        s.contains("“cut” hit its buffer bounds and decided 7 traces early"),
        "{s}"
    );
    assert!(
        s.contains("“whole” catches the most error traces (100%), for 1.2× the spans"),
        "{s}"
    );
    assert!(!s.contains("slow"), "{s}");

    assert_eq!(report(Vec::new()).summary(), "No policy sets were run.");
    let one = report(vec![set("only", 0.25, 0.5, 1.0)]).summary();
    assert!(
        one.starts_with("“only” keeps 25% of spans (25% of bytes)"),
        "{one}"
    );
}

const BUDGET: &str = r#"
[samplers.budget-100]
decision_wait = "10s"

[[samplers.budget-100.policies]]
name = "budget"
type = "composite"
max_total_spans_per_second = 100
policies = [
  { name = "errors", type = "status_code", config = { status_codes = ["ERROR"] }, percent = 50 },
  { name = "slow", type = "latency", config = { threshold_ms = 1000 }, percent = 30 },
  { name = "rest", type = "always_sample" },
]

[[samplers.budget-100.policies]]
name = "no-health"
type = "drop"
policies = [{ name = "h", type = "string_attribute", config = { key = "http.route", values = ["/healthz"] } }]

[samplers."odd name"]
decision_wait = "2s"
decision_wait_after_root = "1s"
[[samplers."odd name".policies]]
name = "some"
type = "probabilistic"
config = { sampling_percentage = 12.5 }
[[samplers."odd name".policies]]
name = "mine"
plugin = "plugins/target/keep_service.wasm"
"#;

#[test]
fn definitions_say_what_each_set_is_in_words_and_in_toml() {
    let file: toml::Table = toml::from_str(BUDGET).unwrap();
    let samplers = file["samplers"].as_table().unwrap();
    for (name, want) in [
        (
            "budget-100",
            "within 100 spans/s: status ERROR (50%), latency ≥ 1000 ms (30%), every trace (rest); never http.route = /healthz; wait 10s",
        ),
        (
            "odd name",
            "12.5% of traces or plugin keep_service.wasm; wait 2s (1s after the root)",
        ),
    ] {
        let table = samplers[name].as_table().unwrap();
        let d = describe(name, table);
        assert_eq!(d.summary, want);
        // The TOML reads as written (name and type first, config inline) and means the same.
        let back: toml::Table =
            toml::from_str(&d.toml).unwrap_or_else(|e| panic!("{e}\n{}", d.toml));
        assert_eq!(&back["samplers"][name], &samplers[name], "{}", d.toml);
    }
    let d = describe("budget-100", samplers["budget-100"].as_table().unwrap());
    assert!(d.toml.starts_with("[samplers.budget-100]\ndecision_wait = \"10s\"\n\n[[samplers.budget-100.policies]]\nname = \"budget\"\ntype = \"composite\"\n"), "{}", d.toml);
    assert!(d.toml.contains("  { name = \"errors\", type = \"status_code\", config = { status_codes = [\"ERROR\"] }, percent = 50 },\n"), "{}", d.toml);
    // An empty table: still a definition.
    assert_eq!(
        describe("x", &toml::Table::new()).summary,
        "keeps nothing; wait 30s"
    );
}

#[test]
fn both_reports_carry_definitions_and_the_summary() {
    let r = report(vec![
        set("lean", 0.03, 1.0, 0.4),
        set("wide", 0.5, 1.0, 0.4),
    ]);
    let text = r.table();
    assert!(
        text.contains("lean: definition of lean\nwide: definition of wide\n"),
        "{text}"
    );
    assert!(text.contains("“lean” keeps the fewest spans"), "{text}");
    assert!(
        text.lines()
            .filter(|l| l.contains('“'))
            .all(|l| l.chars().count() <= 100),
        "the paragraph is wrapped: {text}"
    );

    let html = render_html(&r);
    assert!(html.contains("<p id=\"trade-off\">“lean” keeps the fewest spans"));
    for name in ["lean", "wide"] {
        assert!(html.contains(&format!(
            "<div class=\"definition\">definition of {name}</div>"
        )));
        assert!(html.contains(&format!("<pre>[samplers.{name}]</pre>")));
    }
    // Every series has its marks, lines and legend keys; the legends come after their plots.
    for (mark, n) in [
        ("class=\"point error\"", 2),
        ("class=\"point slow\"", 2),
        ("<polyline class=\"series\"", 2),
        ("<li class=\"key\"", 4),
        ("<ul class=\"legend\"", 2),
    ] {
        assert_eq!(html.matches(mark).count(), n, "{mark}");
    }
    for chart in ["recall", "memory"] {
        let svg = html.find(&format!("<svg id=\"{chart}\"")).unwrap();
        let end = svg + html[svg..].find("</svg>").unwrap();
        let legend = html.find(&format!("data-chart=\"{chart}\"")).unwrap();
        assert!(legend > end, "{chart}: the legend is outside the plot");
        assert!(
            html[svg..end].matches("class=\"tick\"").count() >= 6,
            "{chart}: ticks"
        );
    }
    // Two sets 3 % vs 50 %: a log axis.
    assert!(html.contains("(log scale)"));
}

#[test]
fn a_workload_with_nothing_to_catch_claims_nothing_about_catching() {
    let mut r = report(vec![set("a", 0.03, 1.0, 1.0), set("b", 0.10, 1.0, 1.0)]);
    r.workload.error_traces = 0;
    r.workload.slow_traces = 0;
    let text = r.summary();
    assert!(
        text.contains("“a” keeps the fewest spans (3%), with no error"),
        "{text}"
    );
    assert!(!text.contains("while with"), "{text}");
    // Every recall is 1 when there is nothing to catch: no set "does better" by catching.
    assert!(!text.contains("does better"), "{text}");
}

#[test]
fn small_numbers_keep_their_size() {
    let file: toml::Table = toml::from_str(
        "[samplers.tiny]\n[[samplers.tiny.policies]]\nname = \"p\"\ntype = \"probabilistic\"\nconfig = { sampling_percentage = 0.0005 }\n",
    )
    .unwrap();
    let d = describe("tiny", file["samplers"]["tiny"].as_table().unwrap());
    assert!(d.summary.starts_with("0.0005% of traces"), "{}", d.summary);
    let mut small = set("small", 0.03, 0.5, 0.5);
    small.peak_buffered_bytes = 3 << 10;
    let big = set("big", 0.05, 0.5, 0.5);
    let text = report(vec![small, big]).summary();
    assert!(text.contains("3.0 KiB"), "{text}");
}
