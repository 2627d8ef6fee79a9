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
    assert_eq!(
        c.exporters["backend"]
            .endpoint
            .as_ref()
            .map(|e| e.get_ref().as_str()),
        Some("http://127.0.0.1:9000")
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
         weir.toml:10:8: exporters.a.path: `path` does not apply to exporters of type otlp-http\n\
         weir.toml:13:22: pipelines.traces.receivers: `nope` is not defined: add a [receivers.nope] table (defined: otlp, spare)"
    );
}

#[test]
fn serde_errors_name_the_key() {
    let err = parse("[exporters.a]\ntype = \"debug\"\ntimeout = 5\n").expect_err("invalid");
    assert_eq!(
        err,
        "weir.toml:3:11: exporters.a.timeout: invalid type: integer `5`, expected a string"
    );
    let err = parse("[exporters.a]\ntype = \"debug\"\nverbosty = \"basic\"\n").expect_err("x");
    assert!(
        err.starts_with("weir.toml:3:1: exporters.a.verbosty: unknown field `verbosty`"),
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
    assert_eq!(c.processors["a"].failure_policy(), FailurePolicy::Drop);
    assert_eq!(c.processors["b"].failure_policy(), FailurePolicy::Pass);
    assert_eq!(c.processors["c"].failure_policy(), FailurePolicy::Pass);
}
