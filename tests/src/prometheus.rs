//! A real Prometheus server (Debian's `prometheus` package, which `scripts/test.sh` installs) on
//! an ephemeral 127.0.0.1 port with a throwaway data directory, for tests that check what a
//! Prometheus makes of Weir's output.

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running Prometheus, killed when dropped.
pub struct Prometheus {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    http: reqwest::Client,
    _data: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus scraping `targets` (their `/metrics`) every second, and waits until it
    /// is ready. `flags` are extra command-line flags (e.g. `--web.enable-remote-write-receiver`).
    pub async fn start(targets: &[SocketAddr], flags: &[&str]) -> Prometheus {
        let data = tempfile::tempdir().unwrap();
        let targets: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: weir\n    static_configs:\n      - targets: [{}]\n",
            targets.join(", ")
        );
        std::fs::write(data.path().join("prometheus.yml"), config).unwrap();
        let http = reqwest::Client::new();
        // The port is found by binding and releasing it; another process could take it in
        // between, so a start that does not become ready is retried on a new port.
        for _ in 0..3 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut child = Command::new("prometheus")
                .arg(format!(
                    "--config.file={}",
                    data.path().join("prometheus.yml").display()
                ))
                .arg(format!("--storage.tsdb.path={}", data.path().join("tsdb").display()))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .args(flags)
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(data.path().join("prometheus.log")).unwrap())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("cannot start prometheus ({e}): run `bash scripts/test.sh` once, it installs Debian's prometheus")
                });
            let url = format!("http://127.0.0.1:{port}");
            let mut exited = false;
            let ready = crate::eventually(Duration::from_secs(30), || {
                // A Prometheus that lost the port race exits at once: stop waiting then.
                exited = exited || child.try_wait().ok().flatten().is_some();
                let (http, url, exited) = (&http, &url, exited);
                async move {
                    exited
                        || http
                            .get(format!("{url}/-/ready"))
                            .send()
                            .await
                            .is_ok_and(|r| r.status().is_success())
                }
            })
            .await
                && !exited;
            if ready {
                return Prometheus {
                    child,
                    url,
                    http,
                    _data: data,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let log = std::fs::read_to_string(data.path().join("prometheus.log")).unwrap_or_default();
        panic!("prometheus did not become ready on three ports; its last log:\n{log}");
    }

    /// The result vector of an instant PromQL query: `[{"metric": {...}, "value": [t, "v"]}]`.
    pub async fn query(&self, expr: &str) -> Vec<serde_json::Value> {
        let text = self
            .http
            .get(format!("{}/api/v1/query", self.url))
            .query(&[("query", expr)])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let r: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(r["status"], "success", "query {expr}: {r}");
        r["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// The value of a query that yields one sample, or None.
    pub async fn value(&self, expr: &str) -> Option<f64> {
        let result = self.query(expr).await;
        let v = result.first()?["value"][1].as_str()?.parse().ok()?;
        Some(v)
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
