//! The gateway process under test.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::eventually;

/// How long a gateway may take to report ready.
const START_LIMIT: Duration = Duration::from_secs(60);

/// A running `weir run` process with JSON logs captured.
pub struct Gateway {
    child: Child,
    /// The admin listener.
    pub admin: SocketAddr,
    /// `http` or `https` (the admin listener has `tls`).
    pub admin_scheme: &'static str,
    /// Bound receiver addresses by `(receiver, "grpc" | "http")`.
    pub listeners: HashMap<(String, String), SocketAddr>,
    /// Parsed stderr log lines so far.
    pub logs: Arc<Mutex<Vec<serde_json::Value>>>,
    /// Raw stdout lines so far (the debug exporter writes there).
    pub stdout: Arc<Mutex<Vec<String>>>,
    dir: tempfile::TempDir,
    http: reqwest::Client,
}

/// The client the harness talks to the admin listener with: it accepts the throwaway
/// certificates of tests whose admin listener has `tls` (the TLS tests check certificates with
/// clients of their own).
fn admin_client() -> reqwest::Client {
    let trust_any = weir_config::ClientTlsConfig {
        insecure_skip_verify: Some(toml::Spanned::new(0..0, true)),
        ..Default::default()
    };
    let tls = weir_tls::client_config(Some(&trust_any), &|p| PathBuf::from(p), weir_tls::ALPN_HTTP)
        .unwrap();
    reqwest::Client::builder()
        .use_preconfigured_tls((*tls).clone())
        .build()
        .unwrap()
}

/// The gateway binary built for these tests.
pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    dir.join("weir-under-test")
}

impl Gateway {
    /// Writes `config` (with `[admin] listen = "127.0.0.1:0"` added when it has no `[admin]`),
    /// starts `weir run` on it, and waits until it is ready.
    pub async fn start(config: &str) -> Gateway {
        Gateway::start_binary(&binary(), config).await
    }

    /// Like [`Gateway::start`], running the gateway binary at `bin` (the load harness runs a
    /// release build of `weir`).
    pub async fn start_binary(bin: &Path, config: &str) -> Gateway {
        Gateway::start_with(bin, config, &[]).await
    }

    /// Like [`Gateway::start_binary`], with extra environment variables.
    pub async fn start_with(bin: &Path, config: &str, env: &[(&str, &Path)]) -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("weir.toml");
        std::fs::write(&path, with_admin(config)).unwrap();
        let mut child = Command::new(bin)
            .args([
                "run",
                "--log-format",
                "json",
                "--log-level",
                "info,weir_export=debug,weir_service::watch=debug",
                "--config",
            ])
            .arg(&path)
            .env_remove("WEIR_LOG")
            .env_remove("WEIR_WASM_PERFMAP")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));

        let logs = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let v = serde_json::from_str(&line)
                    .unwrap_or_else(|_| serde_json::json!({ "raw": line }));
                sink.lock().unwrap().push(v);
            }
        });
        let stdout_lines = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().unwrap();
        let sink = stdout_lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });

        let ready = eventually(START_LIMIT, || {
            let exited = child.try_wait().ok().flatten().is_some();
            let seen = logs
                .lock()
                .unwrap()
                .iter()
                .any(|l| l["message"] == "weir is ready");
            async move { exited || seen }
        })
        .await;
        let lines = logs.lock().unwrap().clone();
        if !ready || !lines.iter().any(|l| l["message"] == "weir is ready") {
            let _ = child.kill();
            panic!("gateway did not become ready; its logs:\n{}", dump(&lines));
        }
        let mut admin = None;
        let mut admin_scheme = "http";
        let mut listeners = HashMap::new();
        for l in lines.iter().filter(|l| l["message"] == "listening") {
            let addr: SocketAddr = l["address"].as_str().unwrap().parse().unwrap();
            match l["component"].as_str() {
                Some("admin") => {
                    admin = Some(addr);
                    if l["scheme"] == "https" {
                        admin_scheme = "https";
                    }
                }
                _ => {
                    let r = l["receiver"].as_str().unwrap().to_string();
                    let p = l["protocol"].as_str().unwrap().to_string();
                    listeners.insert((r, p), addr);
                }
            }
        }
        let gw = Gateway {
            child,
            admin: admin.expect("admin address logged"),
            admin_scheme,
            listeners,
            logs,
            stdout: stdout_lines,
            dir,
            http: admin_client(),
        };
        let url = format!("{}/readyz", gw.admin_url());
        let client = gw.http.clone();
        let ok = eventually(START_LIMIT, || {
            let (c, u) = (client.clone(), url.clone());
            // 401: the admin listener wants its token for reads too (`token_for_reads`); it
            // answers, and "weir is ready" was logged.
            async move {
                c.get(u)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success() || r.status() == 401)
            }
        })
        .await;
        assert!(ok, "/readyz never answered 200");
        gw
    }

    /// `http://ADDR` or `https://ADDR` of the admin listener.
    pub fn admin_url(&self) -> String {
        format!("{}://{}", self.admin_scheme, self.admin)
    }

    /// The config file the gateway runs.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("weir.toml")
    }

    /// Replaces the config file (adding `[admin]` as [`Gateway::start`] does) the way an editor
    /// or deploy tool would: written aside, then renamed into place.
    pub fn rewrite_config(&self, config: &str) {
        let aside = self.dir.path().join("weir.toml.new");
        std::fs::write(&aside, with_admin(config)).unwrap();
        std::fs::rename(&aside, self.config_path()).unwrap();
    }

    /// `POST /-/reload` on the admin listener; its JSON answer.
    pub async fn reload(&self) -> serde_json::Value {
        let r = self
            .http
            .post(format!("{}/-/reload", self.admin_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        serde_json::from_str(&r.text().await.unwrap()).unwrap()
    }

    /// The address of `receiver`'s `protocol` listener.
    pub fn addr(&self, receiver: &str, protocol: &str) -> SocketAddr {
        self.listeners[&(receiver.to_string(), protocol.to_string())]
    }

    /// POSTs an OTLP protobuf request `body` to `/v1/<signal>` of the `otlp` receiver's HTTP
    /// listener.
    pub async fn post_otlp(
        &self,
        signal: &str,
        body: Vec<u8>,
    ) -> reqwest::Result<reqwest::Response> {
        self.http
            .post(format!("{}/v1/{signal}", self.url("otlp", "http")))
            .header("content-type", "application/x-protobuf")
            .body(body)
            .send()
            .await
    }

    /// `http://ADDR` of a listener.
    pub fn url(&self, receiver: &str, protocol: &str) -> String {
        format!("http://{}", self.addr(receiver, protocol))
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.admin_url()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The value of `name{labels…}` (labels may be a subset of a series' labels; the matching
    /// series are summed). Panics, showing what `/metrics` has, when no series of that family
    /// has those labels: a renamed or never-emitted metric fails the test instead of reading 0.
    pub async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        expect_sample(&self.metrics().await, name, labels)
    }

    /// Like [`Gateway::metric`], `None` when absent (for metrics that appear on first use).
    pub async fn try_metric(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        sample(&self.metrics().await, name, labels)
    }

    /// Waits (up to `limit`) until `name{labels…}` exists and equals `want`; panics with the
    /// last value and the logs otherwise.
    pub async fn wait_metric(
        &self,
        name: &str,
        labels: &[(&str, &str)],
        want: f64,
        limit: Duration,
    ) {
        let reached = eventually(limit, || async {
            self.try_metric(name, labels).await == Some(want)
        })
        .await;
        if !reached {
            let last = self.try_metric(name, labels).await;
            panic!(
                "{name}{labels:?} did not reach {want} within {limit:?} (last: {last:?}); logs:\n{}",
                self.log_text()
            );
        }
    }

    /// Waits (up to `limit`) until the tail sampler has decided `traces` traces: kept by one of
    /// `keepers` or dropped for want of a keeping policy. Returns whether it had.
    pub async fn sampler_decided(&self, traces: usize, keepers: &[&str], limit: Duration) -> bool {
        let decided = |m: &str| {
            let kept: f64 = keepers
                .iter()
                .map(|p| {
                    sample(
                        m,
                        "weir_sampler_traces_decided_total",
                        &[("decision", "keep"), ("policy", p)],
                    )
                    .unwrap_or(0.0)
                })
                .sum();
            kept + sample(
                m,
                "weir_sampler_traces_decided_total",
                &[("decision", "drop"), ("policy", "_none")],
            )
            .unwrap_or(0.0)
        };
        crate::eventually(limit, || async {
            decided(&self.metrics().await) >= traces as f64
        })
        .await
    }

    /// Sends SIGTERM and waits (bounded) for the process to exit.
    pub async fn terminate(&mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success(), "kill -TERM failed");
        self.wait(Duration::from_secs(120)).await
    }

    /// Waits for the process to exit by itself.
    pub async fn wait(&mut self, limit: Duration) -> ExitStatus {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "gateway did not exit within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The gateway's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// The log lines so far whose `message` is `message`.
    pub fn logged(&self, message: &str) -> Vec<serde_json::Value> {
        self.logs
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l["message"] == message)
            .cloned()
            .collect()
    }

    /// Waits (up to `limit`) until `message` was logged at least `count` times; returns those
    /// lines, or panics with the logs.
    pub async fn wait_logged(
        &self,
        message: &str,
        count: usize,
        limit: Duration,
    ) -> Vec<serde_json::Value> {
        let seen = eventually(limit, || async { self.logged(message).len() >= count }).await;
        assert!(
            seen,
            "{message:?} was not logged {count} times within {limit:?}; logs:\n{}",
            self.log_text()
        );
        self.logged(message)
    }

    /// The logs so far, one JSON line each.
    pub fn log_text(&self) -> String {
        dump(&self.logs.lock().unwrap())
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `config` with `[admin] listen = "127.0.0.1:0"` added when it has no `[admin]`.
fn with_admin(config: &str) -> String {
    if config.contains("[admin]") {
        config.to_string()
    } else {
        format!("[admin]\nlisten = \"127.0.0.1:0\"\n\n{config}")
    }
}

fn dump(lines: &[serde_json::Value]) -> String {
    lines
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The sum of the samples of `name` whose labels include `labels`, in Prometheus text; `None`
/// when no series of `name` has those labels.
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut found = None;
    for (n, series, value) in series(text) {
        if n == name
            && labels
                .iter()
                .all(|l| series.contains(&(l.0.to_string(), l.1.to_string())))
        {
            *found.get_or_insert(0.0) += value;
        }
    }
    found
}

/// Like [`sample`], but panics when the family or the label set is absent, listing the label
/// sets the family has (if any).
pub fn expect_sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    if let Some(v) = sample(text, name, labels) {
        return v;
    }
    let present: Vec<String> = series(text)
        .filter(|(n, _, _)| *n == name)
        .map(|(_, l, v)| format!("{l:?} {v}"))
        .collect();
    if present.is_empty() {
        panic!("metric {name} is not exported at all; /metrics:\n{text}");
    }
    panic!(
        "metric {name} has no series with labels {labels:?}; it has:\n{}",
        present.join("\n")
    );
}

/// Every sample line of Prometheus text as (name, labels, value); lines that do not parse are
/// skipped.
fn series(text: &str) -> impl Iterator<Item = (&str, Vec<(String, String)>, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let value = value.parse::<f64>().ok()?;
            let (n, rest) = series.split_once('{').unwrap_or((series, ""));
            Some((n, parse_labels(rest.trim_end_matches('}')), value))
        })
}

/// `a="x",b="y \"q\""` → pairs, with escapes undone.
fn parse_labels(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some((key, after)) = rest.split_once("=\"") {
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => {}
                },
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        out.push((key.trim_start_matches(',').trim().to_string(), value));
        rest = &after[end..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# TYPE weir_x counter\nweir_x_total{a=\"1\",b=\"q\\\"x\"} 2\nweir_x_total{a=\"2\",b=\"z\"} 3\nweir_y 0\n";

    #[test]
    fn samples_are_summed_over_matching_series() {
        assert_eq!(sample(TEXT, "weir_x_total", &[]), Some(5.0));
        assert_eq!(sample(TEXT, "weir_x_total", &[("b", "q\"x")]), Some(2.0));
        assert_eq!(sample(TEXT, "weir_y", &[]), Some(0.0));
    }

    #[test]
    fn absent_families_and_label_sets_are_none() {
        assert_eq!(sample(TEXT, "weir_z", &[]), None);
        assert_eq!(sample(TEXT, "weir_x_total", &[("a", "3")]), None);
        // A label value is matched whole, not as a substring of another label.
        assert_eq!(sample(TEXT, "weir_x_total", &[("a", "")]), None);
    }

    #[test]
    #[should_panic(expected = "has no series with labels")]
    fn expect_sample_fails_on_an_absent_label_set() {
        expect_sample(TEXT, "weir_x_total", &[("a", "3")]);
    }
}
