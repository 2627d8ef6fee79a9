//! `builtin:clickhouse`: traces and logs into ClickHouse tables over its HTTP interface, one
//! `INSERT … FORMAT JSONEachRow` per batch and table. The tables are created if missing
//! (`create_schema`), with a schema that works from ClickHouse 18.16 (Debian's) to current
//! releases: times as `DateTime` plus exact nanoseconds, attributes as JSON strings (query them
//! with `JSONExtractString` or `visitParamExtractString`).
//!
//! ```toml
//! [exporters.clickhouse]
//! type = "plugin"
//! plugin = "builtin:clickhouse"
//! config = { endpoint = "http://127.0.0.1:8123", database = "default" }
//! ```

mod rows;

use serde::Deserialize;
use weir_plugin::{Batch, Config, ExportError, Exporter, Sent, Signal, http};

/// The plugin's config.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    /// ClickHouse's HTTP interface, e.g. `http://127.0.0.1:8123`.
    endpoint: String,
    #[serde(default = "default_database")]
    database: String,
    #[serde(default = "default_traces")]
    traces_table: String,
    #[serde(default = "default_logs")]
    logs_table: String,
    /// Create the database's tables if they are missing.
    #[serde(default = "yes")]
    create_schema: bool,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

fn default_database() -> String {
    "default".into()
}
fn default_traces() -> String {
    "otel_traces".into()
}
fn default_logs() -> String {
    "otel_logs".into()
}
fn yes() -> bool {
    true
}

/// `[A-Za-z_][A-Za-z0-9_]*`: names go into SQL unquoted.
fn identifier(key: &str, name: &str) -> Result<(), String> {
    let ok = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{key}: {name:?} is not a plain identifier (letters, digits, _)"
        ))
    }
}

struct ClickHouse {
    s: Settings,
    /// The tables this instance created or found.
    ready: [bool; 2],
}

/// Percent-encodes a query for the URL.
fn encode(query: &str) -> String {
    query
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// ClickHouse error codes worth retrying: timeouts, network, memory, too many parts, read-only
/// replicas, a table being created or altered, a keeper session lost.
const RETRYABLE_CODES: [u32; 9] = [159, 209, 210, 241, 242, 252, 319, 425, 999];

/// The error code of a ClickHouse error: the `X-ClickHouse-Exception-Code` header, or the
/// number after `Code: ` in the text (`Code: 241, e.displayText() …` before ClickHouse 21,
/// `Code: 241. DB::Exception …` since).
fn error_code(response: &http::Response) -> Option<u32> {
    if let Some(c) = response.header("x-clickhouse-exception-code") {
        return c.trim().parse().ok();
    }
    let text = String::from_utf8_lossy(&response.body);
    let at = text.find("Code: ")? + "Code: ".len();
    let digits: String = text[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

impl ClickHouse {
    fn post(&self, query: Option<&str>, body: &[u8]) -> Result<Sent, ExportError> {
        let url = match query {
            Some(q) => format!(
                "{}/?query={}",
                self.s.endpoint.trim_end_matches('/'),
                encode(q)
            ),
            None => format!("{}/", self.s.endpoint.trim_end_matches('/')),
        };
        let mut headers = vec![("content-type", "text/plain; charset=utf-8")];
        if let Some(u) = &self.s.username {
            headers.push(("x-clickhouse-user", u));
        }
        if let Some(p) = &self.s.password {
            headers.push(("x-clickhouse-key", p));
        }
        let r = http::post(&url, &headers, body)?;
        if (200..300).contains(&r.status) {
            return Ok(Sent::all());
        }
        let text = String::from_utf8_lossy(&r.body[..r.body.len().min(1024)]).into_owned();
        let message = format!("HTTP {}: {}", r.status, text.trim());
        let retryable_code = error_code(&r).is_some_and(|c| RETRYABLE_CODES.contains(&c));
        if matches!(r.status, 408 | 429 | 502 | 503 | 504) || retryable_code {
            Err(ExportError::retryable(message))
        } else {
            Err(ExportError::Rejected(message))
        }
    }

    /// Creates the table for `signal` once per instance.
    fn ensure(&mut self, signal: Signal) -> Result<(), ExportError> {
        let i = usize::from(signal == Signal::Logs);
        if self.ready[i] || !self.s.create_schema {
            return Ok(());
        }
        let table = if i == 0 {
            &self.s.traces_table
        } else {
            &self.s.logs_table
        };
        let sql = if i == 0 {
            rows::traces_schema(&self.s.database, table)
        } else {
            rows::logs_schema(&self.s.database, table)
        };
        self.post(None, sql.as_bytes())?;
        self.ready[i] = true;
        Ok(())
    }
}

impl Exporter for ClickHouse {
    fn init(config: Config) -> Result<Self, String> {
        let s: Settings = config.parse()?;
        if !(s.endpoint.starts_with("http://") || s.endpoint.starts_with("https://")) {
            return Err(format!(
                "endpoint: {:?} is not an http:// or https:// URL",
                s.endpoint
            ));
        }
        identifier("database", &s.database)?;
        identifier("traces_table", &s.traces_table)?;
        identifier("logs_table", &s.logs_table)?;
        Ok(ClickHouse {
            s,
            ready: [false; 2],
        })
    }

    fn send(&mut self, batch: &Batch) -> Result<Sent, ExportError> {
        let signal = batch.signal();
        let json: serde_json::Value = serde_json::from_str(&batch.otlp_json())
            .map_err(|e| ExportError::Rejected(format!("reading the batch: {e}")))?;
        let (table, body) = match signal {
            Signal::Traces => (self.s.traces_table.clone(), rows::spans(&json)),
            Signal::Logs => (self.s.logs_table.clone(), rows::logs(&json)),
            Signal::Metrics => {
                return Err(ExportError::Rejected(
                    "the clickhouse exporter writes traces and logs; list it in traces and logs pipelines".into(),
                ));
            }
        };
        if body.is_empty() {
            return Ok(Sent::all());
        }
        self.ensure(signal)?;
        let query = format!("INSERT INTO {}.{table} FORMAT JSONEachRow", self.s.database);
        self.post(Some(&query), body.as_bytes())
    }
}

weir_plugin::export_exporter!(ClickHouse);

#[cfg(test)]
mod tests {
    use super::*;

    fn response(body: &str, header: Option<&str>) -> http::Response {
        http::Response {
            status: 500,
            headers: header
                .map(|h| {
                    vec![(
                        "x-clickhouse-exception-code".to_string(),
                        h.as_bytes().to_vec(),
                    )]
                })
                .unwrap_or_default(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn error_codes_of_old_and_new_servers() {
        let old = "Code: 252, e.displayText() = DB::Exception: Too many parts (300)";
        let new =
            "Code: 241. DB::Exception: Memory limit (total) exceeded. (MEMORY_LIMIT_EXCEEDED)";
        assert_eq!(error_code(&response(old, None)), Some(252));
        assert_eq!(error_code(&response(new, None)), Some(241));
        assert_eq!(error_code(&response("boom", Some("60"))), Some(60));
        assert_eq!(error_code(&response("boom", None)), None);
    }
}
