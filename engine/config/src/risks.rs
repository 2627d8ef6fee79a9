//! Configurations that are valid but can lose acknowledged data: `weir validate` and `weir run`
//! name them as warnings (a user may have chosen them knowingly).

use weir_core::FailurePolicy;

use crate::{AckMode, Config, Diagnostic, PathStep};

impl Config {
    /// Every place this config can lose data a client was told was accepted, as diagnostics
    /// at the key responsible (warnings: the config is valid).
    pub fn data_loss_risks(&self) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        for p in &self.pipelines {
            let path = pipeline_path(&p.id);
            let sampler_at = p
                .processors
                .iter()
                .position(|n| self.samplers.contains_key(n));
            if p.ack == AckMode::Received && !p.processors.is_empty() {
                out.push(self.warn_at(
                    &[path.as_slice(), &["ack"]].concat(),
                    format!("pipelines.{}.ack", p.id.replace('/', ".")),
                    "clients are answered before the processors run: a processor's failure can \
                     then only drop, and a crash loses what the pipeline holds; the default \
                     \"processed\" answers after them",
                ));
            }
            for (i, name) in p.processors.iter().enumerate() {
                let Some(proc) = self.processors.get(name) else {
                    continue;
                };
                let after_sampler = sampler_at.is_some_and(|s| i > s);
                let message = match proc.failure_policy() {
                    FailurePolicy::Pass => continue,
                    FailurePolicy::Drop => format!(
                        "in pipeline {}, a batch this processor fails on is dropped and its \
                         clients are told it was accepted; on_error = \"refuse\" makes them retry \
                         instead",
                        p.id
                    ),
                    FailurePolicy::Refuse if p.ack == AckMode::Received => format!(
                        "in pipeline {} (ack = \"received\") clients are answered before this \
                         processor runs, so \"refuse\" can only drop",
                        p.id
                    ),
                    FailurePolicy::Refuse if after_sampler => format!(
                        "in pipeline {} this processor runs after a tail sampler, on traces \
                         answered for when buffered, so \"refuse\" can only drop",
                        p.id
                    ),
                    FailurePolicy::Refuse => continue,
                };
                out.push(self.warn_at(
                    &["processors", name, "on_error"],
                    format!("processors.{name}.on_error"),
                    message,
                ));
            }
        }
        for (name, s) in &self.samplers {
            if s.on_shutdown == crate::ShutdownConfig::Drop {
                out.push(self.warn_at(
                    &["samplers", name, "on_shutdown"],
                    format!("samplers.{name}.on_shutdown"),
                    "the traces this sampler buffers were acknowledged when they arrived; \
                     \"drop\" loses them at shutdown (\"decide\" keeps what its policies keep)",
                ));
            }
        }
        out.sort_by_key(|d| (d.line, d.column));
        out.dedup_by(|a, b| a.to_string() == b.to_string());
        out
    }

    /// A diagnostic at `path` (or the deepest part of it that is written in the file).
    fn warn_at(&self, path: &[&str], key: String, message: impl Into<String>) -> Diagnostic {
        let steps: Vec<PathStep<'_>> = path.iter().map(|k| PathStep::Key(k)).collect();
        let span = self.locate(&steps).map_or(0..0, |(span, _)| span);
        self.diagnostic(span, key, message)
    }
}

/// `traces/internal` as the keys `pipelines`, `traces`, `internal`.
fn pipeline_path(id: &str) -> Vec<&str> {
    std::iter::once("pipelines").chain(id.split('/')).collect()
}

#[cfg(test)]
mod tests {
    use crate::Config;

    const BASE: &str = r#"
[receivers.otlp]
grpc = "127.0.0.1:0"

[processors.redact]
plugin = "builtin:redact"

[samplers.tail]
policies = [{ name = "all", type = "always_sample" }]

[exporters.out]
type = "debug"
"#;

    fn risks(pipelines: &str) -> Vec<String> {
        let text = format!("{BASE}{pipelines}");
        let config = Config::parse("w.toml", &text, &|_| None).expect("valid");
        config
            .data_loss_risks()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_sampler_dropping_at_shutdown_is_named() {
        let found = risks(
            "[samplers.tail2]\non_shutdown = \"drop\"\npolicies = [{ name = \"all\", type = \"always_sample\" }]\n\n\
             [pipelines.traces.a]\nreceivers = [\"otlp\"]\nprocessors = [\"redact\", \"tail\"]\nexporters = [\"out\"]\n\n\
             [pipelines.traces.b]\nreceivers = [\"otlp\"]\nprocessors = [\"redact\", \"tail2\"]\nexporters = [\"out\"]\n",
        );
        assert_eq!(
            found,
            [
                "w.toml:14:15: samplers.tail2.on_shutdown: the traces this sampler buffers were acknowledged when they arrived; \"drop\" loses them at shutdown (\"decide\" keeps what its policies keep)"
            ],
            "only tail2 drops (decide is the default)"
        );
    }

    #[test]
    fn the_safe_defaults_have_no_risk() {
        let none = risks(
            "[pipelines.traces]\nreceivers = [\"otlp\"]\nprocessors = [\"redact\", \"tail\"]\nexporters = [\"out\"]\n",
        );
        assert_eq!(none, Vec::<String>::new());
    }

    #[test]
    fn names_drop_received_and_refuse_after_a_sampler() {
        let found = risks(
            "[processors.tag]\nplugin = \"builtin:noop\"\non_error = \"drop\"\n\n\
             [pipelines.traces]\nreceivers = [\"otlp\"]\nprocessors = [\"tail\", \"tag\", \"redact\"]\nexporters = [\"out\"]\n\n\
             [pipelines.logs]\nreceivers = [\"otlp\"]\nprocessors = [\"redact\"]\nexporters = [\"out\"]\nack = \"received\"\n",
        );
        assert_eq!(
            found,
            [
                // builtin:redact refuses by default: the warnings point at its table.
                "w.toml:5:1: processors.redact.on_error: in pipeline logs (ack = \"received\") clients are answered before this processor runs, so \"refuse\" can only drop",
                "w.toml:5:1: processors.redact.on_error: in pipeline traces this processor runs after a tail sampler, on traces answered for when buffered, so \"refuse\" can only drop",
                "w.toml:15:12: processors.tag.on_error: in pipeline traces, a batch this processor fails on is dropped and its clients are told it was accepted; on_error = \"refuse\" makes them retry instead",
                "w.toml:26:7: pipelines.logs.ack: clients are answered before the processors run: a processor's failure can then only drop, and a crash loses what the pipeline holds; the default \"processed\" answers after them",
            ],
            "{found:#?}"
        );
    }
}

#[cfg(test)]
mod ack_tests {
    use crate::{AckMode, Config};

    #[test]
    fn queued_is_another_name_for_processed() {
        let text = "[receivers.otlp]\ngrpc = \"127.0.0.1:0\"\n[exporters.out]\ntype = \"debug\"\n\
                    [pipelines.traces]\nreceivers = [\"otlp\"]\nexporters = [\"out\"]\nack = \"queued\"\n";
        let config = Config::parse("w.toml", text, &|_| None).expect("valid");
        assert_eq!(config.pipelines[0].ack, AckMode::Processed);
    }
}
