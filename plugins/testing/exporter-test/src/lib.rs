//! Test exporter: POSTs each batch as OTLP protobuf to `url` (any host: the test decides
//! whether it is allowed) and maps the answer as OTLP/HTTP does. With `trap_on_failure`, a
//! failed answer panics instead (a trap), so tests can check that Weir retries a batch whose
//! send trapped.

use serde::Deserialize;
use weir_plugin::{Batch, Config, ExportError, Exporter, Sent, http};

/// The config.
#[derive(Deserialize)]
struct Post {
    url: String,
    #[serde(default)]
    trap_on_failure: bool,
}

impl Exporter for Post {
    fn init(config: Config) -> Result<Self, String> {
        config.parse()
    }

    fn send(&mut self, batch: &Batch) -> Result<Sent, ExportError> {
        let body = batch.otlp();
        let outcome = http::post(
            &self.url,
            &[("content-type", "application/x-protobuf")],
            &body,
        )
        .map_err(ExportError::from)
        .and_then(|r| r.outcome());
        if self.trap_on_failure
            && let Err(e) = &outcome
        {
            panic!("trapping as configured after a failed send: {e:?}");
        }
        outcome
    }
}

weir_plugin::export_exporter!(Post);
