//! `type = "debug"`: prints each batch to stdout, as a summary line or as OTLP JSON.

use std::io::Write;

use weir_config::{DebugExporter, Verbosity};
use weir_core::Batch;

use crate::attempt::Attempt;

/// Writes batches to stdout.
pub(crate) struct DebugSink {
    name: String,
    verbosity: Verbosity,
}

impl DebugSink {
    pub(crate) fn new(name: &str, config: &DebugExporter) -> DebugSink {
        DebugSink {
            name: name.to_string(),
            verbosity: config.verbosity,
        }
    }

    pub(crate) fn send(&self, batch: &Batch) -> Attempt {
        let line = match self.verbosity {
            Verbosity::Basic => summary(&self.name, batch),
            Verbosity::Detailed => match crate::file::to_json(batch) {
                Ok(json) => json,
                Err(e) => {
                    return Attempt::Permanent {
                        message: format!("cannot render the batch as JSON: {e}"),
                    };
                }
            },
        };
        let mut out = std::io::stdout().lock();
        match writeln!(out, "{line}").and_then(|()| out.flush()) {
            Ok(()) => Attempt::Delivered {
                rejected: 0,
                message: String::new(),
            },
            Err(e) => Attempt::Permanent {
                message: format!("cannot write to stdout: {e}"),
            },
        }
    }
}

/// `debug/NAME traces: 2 resources, 17 spans`.
pub(crate) fn summary(name: &str, batch: &Batch) -> String {
    let resources = batch.resource_count();
    let signal = batch.signal();
    let items = batch.item_count();
    let item_name = signal.item_name();
    let item_name = if items == 1 {
        item_name.trim_end_matches('s')
    } else {
        item_name
    };
    format!(
        "{name}: {signal}: {resources} resource{}, {items} {item_name}",
        if resources == 1 { "" } else { "s" },
    )
}
