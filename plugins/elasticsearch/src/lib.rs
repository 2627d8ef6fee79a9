//! `builtin:elasticsearch`: logs and spans as documents through Elasticsearch's `_bulk` API
//! (also OpenSearch), into indices named from a template with the record's date and resource
//! attributes. Items the bulk response reports as failed are handled one by one: those refused
//! for load (429, 5xx) are sent again a few times within the same call, the others (mapping
//! errors …) are reported as rejected, so a partial failure never re-sends what was indexed.
//!
//! ```toml
//! [exporters.elasticsearch]
//! type = "plugin"
//! plugin = "builtin:elasticsearch"
//! config = { endpoint = "https://es.example.com:9200", api_key = "${ES_API_KEY}" }
//! ```

mod bulk;
mod docs;

use std::collections::BTreeMap;

use serde::Deserialize;
use weir_plugin::{Batch, Config, ExportError, Exporter, Sent, Signal, http};

/// The plugin's config.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    /// The cluster URL, e.g. `http://127.0.0.1:9200`.
    endpoint: String,
    #[serde(default = "default_logs_index")]
    logs_index: String,
    #[serde(default = "default_traces_index")]
    traces_index: String,
    /// `Authorization: ApiKey <api_key>` (the base64 `id:key` Elasticsearch hands out).
    api_key: Option<String>,
    username: Option<String>,
    password: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// How often items refused for load (429, 5xx) are sent again within one call.
    #[serde(default = "default_item_retries")]
    item_retries: u32,
}

fn default_logs_index() -> String {
    "logs-{service.name}-{yyyy.MM.dd}".into()
}
fn default_traces_index() -> String {
    "traces-{service.name}-{yyyy.MM.dd}".into()
}
fn default_item_retries() -> u32 {
    2
}

struct Elasticsearch {
    s: Settings,
    url: String,
    auth: Option<String>,
}

impl Exporter for Elasticsearch {
    fn init(config: Config) -> Result<Self, String> {
        let s: Settings = config.parse()?;
        if !(s.endpoint.starts_with("http://") || s.endpoint.starts_with("https://")) {
            return Err(format!(
                "endpoint: {:?} is not an http:// or https:// URL",
                s.endpoint
            ));
        }
        let auth = match (&s.api_key, &s.username, &s.password) {
            (Some(k), None, None) => Some(format!("ApiKey {k}")),
            (None, Some(u), Some(p)) => Some(format!(
                "Basic {}",
                bulk::base64(format!("{u}:{p}").as_bytes())
            )),
            (None, None, None) => None,
            _ => return Err("api_key: use either api_key, or username and password".into()),
        };
        if s.item_retries > 5 {
            return Err(format!(
                "item_retries: at most 5 (got {}); Weir retries whole batches with backoff",
                s.item_retries
            ));
        }
        let url = format!("{}/_bulk", s.endpoint.trim_end_matches('/'));
        Ok(Elasticsearch { s, url, auth })
    }

    fn send(&mut self, batch: &Batch) -> Result<Sent, ExportError> {
        let json: serde_json::Value = serde_json::from_str(&batch.otlp_json())
            .map_err(|e| ExportError::Rejected(format!("reading the batch: {e}")))?;
        let docs = match batch.signal() {
            Signal::Logs => docs::logs(&json, &self.s.logs_index),
            Signal::Traces => docs::spans(&json, &self.s.traces_index),
            Signal::Metrics => {
                return Err(ExportError::Rejected(
                    "the elasticsearch exporter writes logs and spans; list it in logs and traces pipelines".into(),
                ));
            }
        };
        let mut headers: Vec<(&str, &str)> = self
            .s
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        headers.push(("content-type", "application/x-ndjson"));
        if let Some(a) = &self.auth {
            headers.push(("authorization", a));
        }
        bulk::send_all(
            &self.url,
            &headers,
            docs,
            self.s.item_retries,
            &mut |url, h, body| http::post(url, h, body),
        )
    }
}

weir_plugin::export_exporter!(Elasticsearch);
