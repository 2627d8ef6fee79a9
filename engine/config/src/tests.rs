//! Config parsing and validation, by example.

use super::*;
use weir_core::FailurePolicy;

fn parse(text: &str) -> Result<Config, String> {
    Config::parse("weir.toml", text, &|k| {
        (k == "PORT").then(|| "9000".to_string())
    })
    .map_err(|e| e.to_string())
}

const GOOD: &str = r#"
[admin]
listen = "127.0.0.1:0"

[receivers.otlp]
grpc = { endpoint = "127.0.0.1:0", max_recv_msg_size = "1MiB" }
http = "127.0.0.1:0"

[exporters.backend]
type = "otlp-grpc"
endpoint = "http://127.0.0.1:${PORT}"
timeout = "2s"
retry_on_failure = { initial_interval = "10ms", max_interval = "1s" }

[exporters.debug]
type = "debug"

[pipelines.traces]
receivers = ["otlp"]
exporters = ["backend", "debug"]
batch = { send_batch_size = 100, timeout = "50ms" }

[pipelines.traces.internal]
receivers = ["otlp"]
exporters = ["debug"]

[pipelines.logs]
receivers = ["otlp"]
exporters = ["debug"]
"#;

#[test]
fn a_good_config_resolves_every_pipeline() {
    let c = parse(GOOD).expect("valid");
    let ids: Vec<_> = c.pipelines.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["logs", "traces", "traces/internal"]);
    let traces = &c.pipelines[1];
    assert_eq!(traces.exporters, ["backend", "debug"]);
    assert_eq!(traces.batch.send_batch_size, 100);
    let crate::ExporterConfig::OtlpGrpc(backend) = &c.exporters["backend"] else {
        panic!(
            "backend is an otlp-grpc exporter: {:?}",
            c.exporters["backend"]
        );
    };
    assert_eq!(backend.endpoint.get_ref(), "http://127.0.0.1:9000");
    assert_eq!(backend.timeout.0, std::time::Duration::from_secs(2));
    // Defaults are filled in by the typed config, not by whoever reads it.
    assert_eq!(backend.compression, crate::Compression::Gzip);
    assert!(backend.retry_on_failure.enabled);
    assert_eq!(
        backend.retry_on_failure.max_elapsed_time.0,
        std::time::Duration::from_secs(300)
    );
    assert_eq!(
        c.receivers["otlp"]
            .grpc
            .as_ref()
            .map(|g| g.max_recv_msg_size.0),
        Some(1 << 20)
    );
}

#[test]
fn the_embedded_default_is_valid() {
    let c = Config::embedded_default().expect("valid");
    assert_eq!(c.pipelines.len(), 3);
}

#[test]
fn reports_every_problem_with_line_and_key() {
    let text = r#"
[receivers.otlp]
grpc = "127.0.0.1:0"

[receivers.spare]
http = "127.0.0.1:0"

[exporters.a]
type = "otlp-http"
path = "x"

[pipelines.traces]
receivers = ["otlp", "nope"]
exporters = ["a"]
"#;
    let err = parse(text).expect_err("invalid");
    assert_eq!(
        err,
        "weir.toml:5:12: receivers.spare: `spare` is defined but no pipeline uses it\n\
         weir.toml:8:1: exporters.a.endpoint: exporters of type otlp-http need an `endpoint` URL\n\
         weir.toml:10:8: exporters.a.path: `path` does not apply to exporters of type otlp-http (only to file)\n\
         weir.toml:13:22: pipelines.traces.receivers: `nope` is not defined: add a [receivers.nope] table (defined: otlp, spare)"
    );
}

#[test]
fn serde_errors_name_the_key() {
    let err = parse("[exporters.a]\ntype = \"debug\"\ntimeout = 5\n").expect_err("invalid");
    assert_eq!(
        err,
        "weir.toml:1:1: pipelines: no pipelines: add at least one [pipelines.<signal>] table\n\
         weir.toml:3:11: exporters.a.timeout: invalid type: integer `5`, expected a string"
    );
    let err = parse("[exporters.a]\ntype = \"debug\"\nverbosty = \"basic\"\n").expect_err("x");
    assert!(
        err.contains("\nweir.toml:3:1: exporters.a.verbosty: unknown field `verbosty`"),
        "{err}"
    );
}

#[test]
fn redaction_fails_closed_unless_told_otherwise() {
    let with = |processors: &str| {
        let text = GOOD.replace(
            "[pipelines.logs]\nreceivers = [\"otlp\"]\nexporters = [\"debug\"]",
            &format!(
                "[pipelines.logs]\nreceivers = [\"otlp\"]\nexporters = [\"debug\"]\nprocessors = [\"a\", \"b\", \"c\"]\n{processors}"
            ),
        );
        parse(&text).expect("valid")
    };
    let c = with(
        "[processors.a]\nplugin = \"builtin:redact\"\n\
         [processors.b]\nplugin = \"builtin:redact\"\non_error = \"pass\"\n\
         [processors.c]\nplugin = \"builtin:enrich\"\n",
    );
    assert_eq!(c.processors["a"].failure_policy(), FailurePolicy::Refuse);
    assert_eq!(c.processors["b"].failure_policy(), FailurePolicy::Pass);
    assert_eq!(c.processors["c"].failure_policy(), FailurePolicy::Pass);
}

const SAMPLER_BASE: &str = "[receivers.otlp]\nhttp = \"127.0.0.1:0\"\n[exporters.debug]\ntype = \"debug\"\n\
     [pipelines.traces]\nreceivers = [\"otlp\"]\nexporters = [\"debug\"]\nprocessors = [\"tail\"]\n";

#[test]
fn a_sampler_with_nested_policies_resolves() {
    let c = parse(&format!(
        "{SAMPLER_BASE}[samplers.tail]\ndecision_wait = \"5s\"\n\
         [[samplers.tail.policies]]\nname = \"errors\"\ntype = \"status_code\"\nconfig = {{ status_codes = [\"ERROR\"] }}\n\
         [[samplers.tail.policies]]\nname = \"budget\"\ntype = \"composite\"\nmax_total_spans_per_second = 100\n\
         policies = [ {{ name = \"slow\", type = \"latency\", percent = 60 }}, {{ name = \"rest\", type = \"always_sample\" }} ]\n"
    ))
    .unwrap();
    let s = &c.samplers["tail"];
    assert_eq!(s.decision_wait.0, std::time::Duration::from_secs(5));
    assert_eq!(s.policies.len(), 2);
    assert_eq!(
        s.policies[1].get_ref().policies[0].get_ref().percent,
        Some(60.0)
    );
    assert_eq!(c.pipelines[0].processors, ["tail"]);
}

#[test]
fn bad_policy_trees_are_reported_with_their_key() {
    let err = parse(&format!(
        "{SAMPLER_BASE}[samplers.tail]\n\
         [[samplers.tail.policies]]\nname = \"a\"\ntype = \"latencyy\"\n\
         [[samplers.tail.policies]]\nname = \"a\"\ntype = \"rate_limiting\"\n\
         [[samplers.tail.policies]]\nname = \"n\"\ntype = \"not\"\n\
         [[samplers.tail.policies]]\nname = \"c\"\ntype = \"composite\"\nmax_total_spans_per_second = 1\n\
         policies = [ {{ name = \"x\", type = \"always_sample\", percent = 70 }}, {{ name = \"y\", type = \"always_sample\", percent = 40 }} ]\n\
         [[samplers.tail.policies]]\nname = \"both\"\ntype = \"and\"\nplugin = \"p.wasm\"\n\
         [[samplers.tail.policies]]\nname = \"pc\"\ntype = \"always_sample\"\npercent = 5\n"
    ))
    .unwrap_err();
    for want in [
        "samplers.tail.policies[0].type: unknown policy type `latencyy`",
        "samplers.tail.policies[1].name: `a` is used by another policy",
        "samplers.tail.policies[1].spans_per_second: required by `rate_limiting`",
        "samplers.tail.policies[2].policies: a `not` policy takes exactly one sub-policy",
        "samplers.tail.policies[3].policies: the sub-policies' percents add up to 110",
        "samplers.tail.policies[4]: set either `type` or `plugin`, not both",
        "samplers.tail.policies[5].percent: only a sub-policy of `composite`",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    // The unknown type points at its own line (12), the others at their policy's table.
    assert!(
        err.contains("weir.toml:12:8: samplers.tail.policies[0].type"),
        "{err}"
    );
    assert!(
        err.contains("weir.toml:13:1: samplers.tail.policies[1].name"),
        "{err}"
    );
}

#[test]
fn samplers_only_in_traces_pipelines_and_not_named_like_a_processor() {
    let err = parse(
        "[receivers.otlp]\nhttp = \"127.0.0.1:0\"\n[exporters.debug]\ntype = \"debug\"\n\
         [pipelines.logs]\nreceivers = [\"otlp\"]\nexporters = [\"debug\"]\nprocessors = [\"tail\"]\n\
         [processors.tail]\nplugin = \"builtin:noop\"\n\
         [samplers.tail]\n[[samplers.tail.policies]]\nname = \"all\"\ntype = \"always_sample\"\n",
    )
    .unwrap_err();
    assert!(err.contains("is also a processor's name"), "{err}");
    assert!(err.contains("only traces pipelines can use one"), "{err}");
    let unused = parse(&format!(
        "{}[samplers.tail]\n[[samplers.tail.policies]]\nname = \"all\"\ntype = \"always_sample\"\n\
         [samplers.other]\n[[samplers.other.policies]]\nname = \"all\"\ntype = \"always_sample\"\n",
        SAMPLER_BASE
    ))
    .unwrap_err();
    assert!(
        unused.contains("samplers.other: `other` is defined but no pipeline uses it"),
        "{unused}"
    );
}

#[test]
fn sampler_bounds_and_budgets_must_be_usable() {
    let err = parse(&format!(
        "{SAMPLER_BASE}[samplers.tail]\nmax_buffered_bytes = 0\nmax_trace_bytes = \"1MiB\"\n\
         [[samplers.tail.policies]]\nname = \"r\"\ntype = \"rate_limiting\"\nspans_per_second = 0\n\
         [[samplers.tail.policies]]\nname = \"b\"\ntype = \"bytes_limiting\"\nbytes_per_second = \"1MiB\"\nburst = 0\n"
    ))
    .unwrap_err();
    for want in [
        "samplers.tail.max_buffered_bytes: must be above 0",
        "samplers.tail.max_trace_bytes: must be above 0 and at most max_buffered_bytes",
        "samplers.tail.policies[0].spans_per_second: required by `rate_limiting`, above 0",
        "samplers.tail.policies[1].burst: must be above 0",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
}

#[test]
fn max_trace_bytes_defaults_to_at_most_the_buffer() {
    let small = parse(&format!(
        "{SAMPLER_BASE}[samplers.tail]\nmax_buffered_bytes = \"4MiB\"\n\
         [[samplers.tail.policies]]\nname = \"all\"\ntype = \"always_sample\"\n"
    ))
    .unwrap();
    assert_eq!(
        small.samplers["tail"].trace_bytes(),
        units::ByteSize(4 << 20)
    );
    let default = parse(&format!(
        "{SAMPLER_BASE}[samplers.tail]\n[[samplers.tail.policies]]\nname = \"all\"\ntype = \"always_sample\"\n"
    ))
    .unwrap();
    assert_eq!(
        default.samplers["tail"].trace_bytes(),
        units::ByteSize(8 << 20)
    );
}

#[test]
fn a_pipeline_may_list_several_samplers_but_each_once() {
    let samplers = "[samplers.head]\n[[samplers.head.policies]]\nname = \"p\"\ntype = \"probabilistic\"\n\
         config = { sampling_percentage = 50 }\n\
         [samplers.tail]\n[[samplers.tail.policies]]\nname = \"all\"\ntype = \"always_sample\"\n\
         [processors.tag]\nplugin = \"builtin:noop\"\n";
    let base = "[receivers.otlp]\nhttp = \"127.0.0.1:0\"\n[exporters.debug]\ntype = \"debug\"\n\
         [pipelines.traces]\nreceivers = [\"otlp\"]\nexporters = [\"debug\"]\n";
    let c = parse(&format!(
        "{base}processors = [\"head\", \"tag\", \"tail\"]\n{samplers}"
    ))
    .unwrap();
    assert_eq!(c.pipelines[0].processors, ["head", "tag", "tail"]);
    let twice = parse(&format!(
        "{base}processors = [\"head\", \"tag\", \"head\", \"tail\"]\n{samplers}"
    ))
    .unwrap_err();
    assert!(
        twice.contains("pipelines.traces.processors: `head` is listed twice"),
        "{twice}"
    );
}

#[test]
fn the_embedded_default_takes_its_addresses_from_the_lookup() {
    let c = Config::embedded_default_with(&|k| match k {
        "WEIR_GRPC" => Some("127.0.0.1:14317".into()),
        "WEIR_ADMIN" => Some("127.0.0.1:18888".into()),
        _ => None,
    })
    .expect("valid");
    let otlp = &c.receivers["otlp"];
    assert_eq!(
        otlp.grpc
            .as_ref()
            .map(|g| g.endpoint.0.to_string())
            .as_deref(),
        Some("127.0.0.1:14317")
    );
    assert_eq!(
        otlp.http
            .as_ref()
            .map(|h| h.endpoint.0.to_string())
            .as_deref(),
        Some("127.0.0.1:4318"),
        "unset ones keep the standard port"
    );
    assert_eq!(c.admin.listen.0.to_string(), "127.0.0.1:18888");
}

#[test]
fn one_run_reports_every_independent_problem() {
    // A policy-type typo, a bad plugin key and a dangling reference: all three at once, and no
    // "not defined" noise about the sampler and processor whose tables did not read.
    let text = r#"
[receivers.otlp]
grpc = "127.0.0.1:4317"

[processors.scrub]
plugin = "builtin:redact"
confg = {}

[samplers.tail]
[[samplers.tail.policies]]
name = "errors"
type = "status-cod"

[exporters.out]
type = "debug"

[pipelines.traces]
receivers = ["otlp"]
processors = ["scrub", "tail"]
exporters = ["out", "missing"]
"#;
    let err = parse(text).expect_err("invalid");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert!(
        lines[0].starts_with("weir.toml:7:1: processors.scrub.confg: unknown field `confg`"),
        "{err}"
    );
    assert!(
        lines[1].starts_with("weir.toml:12:8: samplers.tail.policies[0].type:"),
        "{err}"
    );
    assert!(lines[1].contains("status-cod"), "{err}");
    assert!(
        lines[2]
            .starts_with("weir.toml:20:21: pipelines.traces.exporters: `missing` is not defined"),
        "{err}"
    );
}

#[test]
fn collector_shaped_configs_get_pointed_at_weir_places() {
    let text = r#"
extensions = {}

[receivers.otlp]
protocols = { grpc = { endpoint = "127.0.0.1:4317" } }

[processors.batch]
send_batch_size = 1000

[exporters.out]
type = "debug"

[service]
pipelines = {}

[pipelines.traces]
receivers = ["otlp"]
processors = ["memory_limiter"]
exporters = ["out"]
"#;
    let err = parse(text).expect_err("invalid");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 5, "{err}");
    assert!(
        lines[0].contains("extensions") && lines[0].contains("/healthz"),
        "{err}"
    );
    assert!(
        lines[1].contains("receivers.otlp.protocols") && lines[1].contains("without `protocols`"),
        "{err}"
    );
    assert!(
        lines[2].contains("processors.batch")
            && lines[2].contains("built into every Weir pipeline"),
        "{err}"
    );
    assert!(
        lines[3].contains("service.pipelines") && lines[3].contains("top-level"),
        "{err}"
    );
    assert!(
        lines[4].contains("`memory_limiter` is not defined") && lines[4].contains("[service]"),
        "{err}"
    );
}
