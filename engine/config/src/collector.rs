//! Where the OpenTelemetry Collector's components and keys live in Weir: `weir validate` adds
//! these hints to errors about tables and keys a Collector user would write, so that a
//! Collector-shaped config is one round of fixes away from a Weir one, not eight.

/// The hint for a component a Collector config names: `section` is `receivers`, `processors`
/// or `exporters`, `name` the component id as written (`batch`, `otlp/backend`; the type is
/// the part before `/`). `None` when the name is not a Collector component type.
pub fn component_hint(section: &str, name: &str) -> Option<&'static str> {
    let kind = name.split_once('/').map_or(name, |(k, _)| k);
    let hint = match (section, kind) {
        ("processors", "batch") => {
            "the Collector's batch processor is built into every Weir pipeline: set \
             `batch = { send_batch_size = 8192, timeout = \"200ms\" }` in [pipelines.<signal>] \
             and leave it out of `processors`"
        }
        ("processors", "memory_limiter") => {
            "memory limiting is process-wide in Weir: set `memory_limit = \"512MiB\"` (and \
             optionally `memory_spike`) in [service] and leave it out of `processors`"
        }
        ("processors", "attributes" | "resource") => {
            "use `plugin = \"builtin:enrich\"` with `[[processors.<name>.config.actions]]` \
             (insert, update, upsert, delete, hash, extract, convert); see docs/processors/enrich.md"
        }
        ("processors", "filter") => {
            "use `plugin = \"builtin:filter\"`; see docs/processors/filter.md"
        }
        ("processors", "probabilistic_sampler") => {
            "use `plugin = \"builtin:head-sample\"` with `config.percent`; see \
             docs/processors/head-sample.md"
        }
        ("processors", "tail_sampling") => {
            "a tail sampler is a [samplers.<name>] table with [[samplers.<name>.policies]]; list \
             its name in the traces pipeline's `processors`; see docs/sampling.md"
        }
        ("processors", "redaction") => {
            "use `plugin = \"builtin:redact\"`; see docs/processors/redact.md"
        }
        ("processors", "transform") => {
            "Weir has no OTTL: attribute changes map to `builtin:enrich`; anything else is a \
             processor plugin (docs/plugins)"
        }
        ("processors", "k8sattributes" | "resourcedetection" | "groupbytrace" | "spanmetrics") => {
            "Weir has no built-in equivalent yet: a processor plugin can do it (docs/plugins)"
        }
        ("exporters", "otlp" | "otlp_grpc") => {
            "an OTLP/gRPC exporter is `type = \"otlp-grpc\"` with `endpoint = \"http://host:4317\"`"
        }
        ("exporters", "otlphttp" | "otlp_http") => {
            "an OTLP/HTTP exporter is `type = \"otlp-http\"` with `endpoint = \"http://host:4318\"`"
        }
        ("exporters", "debug" | "logging") => {
            "the debug exporter is `type = \"debug\"` with `verbosity = \"basic\"|\"normal\"|\"detailed\"`"
        }
        ("exporters", "file") => "the file exporter is `type = \"file\"` with `path`",
        ("exporters", "prometheusremotewrite") => {
            "use `type = \"plugin\"` with the prometheus-remote-write exporter plugin; see \
             plugins/prometheus-remote-write"
        }
        ("exporters", "clickhouse") => {
            "use `type = \"plugin\"` with the clickhouse exporter plugin; see plugins/clickhouse"
        }
        ("exporters", "elasticsearch") => {
            "use `type = \"plugin\"` with the elasticsearch exporter plugin; see \
             plugins/elasticsearch"
        }
        ("exporters", "loadbalancing") => {
            "Weir has no load-balancing exporter yet: run one gateway per backend, or route with \
             named pipelines"
        }
        ("receivers", "otlp") => {
            "Weir's OTLP receiver takes its listeners directly, without `protocols`: \
             `grpc = \"127.0.0.1:4317\"` and `http = \"127.0.0.1:4318\"` (or tables with `endpoint`)"
        }
        (
            "receivers",
            "jaeger" | "zipkin" | "prometheus" | "hostmetrics" | "filelog" | "kafka"
            | "fluentforward" | "syslog" | "opencensus" | "statsd" | "kubeletstats" | "k8s_cluster",
        ) => "Weir receives OTLP only (gRPC and HTTP): use an otlp receiver",
        _ => return None,
    };
    Some(hint)
}

/// The hint for a key a Collector config has where Weir has none: `path` is the dotted table
/// it was found in (empty for the top level), `key` the unknown key.
pub fn key_hint(path: &str, key: &str) -> Option<&'static str> {
    let hint = match (path, key) {
        ("" | "service", "extensions") => {
            "Weir has no extensions: health checks are the admin listener's /healthz and \
             /readyz ([admin] listen), and auth and TLS are receiver keys (`auth`, `tls`)"
        }
        ("", "connectors") => {
            "Weir has no connectors: several pipelines may list the same receiver, and named \
             pipelines ([pipelines.traces.<name>]) route to different exporters"
        }
        ("service", "pipelines") => {
            "pipelines are a top-level table in Weir: [pipelines.traces], \
             [pipelines.traces.<name>] for `traces/<name>`"
        }
        ("service", "telemetry") => {
            "Weir's own metrics are served on the admin listener ([admin] listen, /metrics); \
             logs are set with `weir run --log-level` / WEIR_LOG and `--log-format`"
        }
        (p, "protocols") if p.starts_with("receivers.") => {
            "Weir's OTLP receiver takes `grpc` and `http` directly, without `protocols`"
        }
        (p, "sending_queue" | "retry_on_failure" | "timeout") if p.starts_with("processors.") => {
            "this is an exporter key in Weir"
        }
        _ => return None,
    };
    Some(hint)
}

/// The unknown key a serde "unknown field" message names, if it is one.
pub(crate) fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    Some(&rest[..rest.find('`')?])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_weir_place_of_collector_components() {
        assert!(
            component_hint("processors", "batch/large").is_some_and(|h| h.contains("pipelines"))
        );
        assert!(
            component_hint("processors", "tail_sampling").is_some_and(|h| h.contains("samplers"))
        );
        assert!(
            component_hint("exporters", "otlp/backend").is_some_and(|h| h.contains("otlp-grpc"))
        );
        assert_eq!(component_hint("processors", "my-redactor"), None);
        assert_eq!(
            unknown_field("unknown field `protocols`, expected one of `type`"),
            Some("protocols")
        );
        assert!(key_hint("service", "pipelines").is_some());
        assert_eq!(key_hint("service", "shutdown_timeout"), None);
    }
}
