//! A real ClickHouse server (Debian's `clickhouse-server`, which `scripts/test.sh` installs) on
//! ephemeral 127.0.0.1 ports with a throwaway data directory, for tests that query what Weir
//! wrote.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running ClickHouse, killed when dropped.
pub struct ClickHouse {
    child: Child,
    /// `http://127.0.0.1:PORT` of its HTTP interface.
    pub url: String,
    http: reqwest::Client,
    dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl ClickHouse {
    /// Starts a server and waits until it answers `SELECT 1`.
    pub async fn start() -> ClickHouse {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let http = reqwest::Client::new();
        // Ports are found by binding and releasing them; a start that loses the race is
        // retried on new ones.
        for _ in 0..3 {
            let (http_port, tcp_port) = (free_port(), free_port());
            std::fs::write(
                dir.path().join("config.xml"),
                format!(
                    "<?xml version=\"1.0\"?>\n<yandex>\n<logger><level>warning</level><console>1</console></logger>\n\
                     <http_port>{http_port}</http_port><tcp_port>{tcp_port}</tcp_port><listen_host>127.0.0.1</listen_host>\n\
                     <path>{d}/data/</path><tmp_path>{d}/tmp/</tmp_path><user_files_path>{d}/user_files/</user_files_path>\n\
                     <format_schema_path>{d}/format_schemas/</format_schema_path><users_config>{d}/users.xml</users_config>\n\
                     <default_profile>default</default_profile><default_database>default</default_database>\n\
                     <mark_cache_size>104857600</mark_cache_size><uncompressed_cache_size>104857600</uncompressed_cache_size>\n</yandex>\n"
                ),
            )
            .unwrap();
            std::fs::write(
                dir.path().join("users.xml"),
                "<?xml version=\"1.0\"?>\n<yandex><profiles><default></default></profiles>\
                 <users><default><password></password><networks><ip>127.0.0.1</ip></networks>\
                 <profile>default</profile><quota>default</quota></default></users>\
                 <quotas><default></default></quotas></yandex>\n",
            )
            .unwrap();
            let mut child = Command::new("clickhouse-server")
                .arg(format!("--config-file={d}/config.xml"))
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(dir.path().join("clickhouse.log")).unwrap())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("cannot start clickhouse-server ({e}): run `bash scripts/test.sh` once, it installs Debian's clickhouse-server")
                });
            let url = format!("http://127.0.0.1:{http_port}");
            let mut exited = false;
            let ready = crate::eventually(Duration::from_secs(30), || {
                exited = exited || child.try_wait().ok().flatten().is_some();
                let (http, url, exited) = (&http, &url, exited);
                async move {
                    exited
                        || http
                            .get(format!("{url}/?query=SELECT%201"))
                            .send()
                            .await
                            .is_ok_and(|r| r.status().is_success())
                }
            })
            .await;
            if ready && !exited {
                return ClickHouse {
                    child,
                    url,
                    http,
                    dir,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let log = std::fs::read_to_string(dir.path().join("clickhouse.log")).unwrap_or_default();
        panic!("clickhouse-server did not become ready; its log:\n{log}");
    }

    /// Runs `sql` and returns its rows (`FORMAT JSONEachRow` is appended).
    pub async fn rows(&self, sql: &str) -> Vec<serde_json::Value> {
        let r = self
            .http
            .post(format!("{}/", self.url))
            .body(format!("{sql} FORMAT JSONEachRow"))
            .send()
            .await
            .unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        assert!(status.is_success(), "{sql}: {text}");
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The number `sql` (a `SELECT count() …`) yields, or `None` while it fails (e.g. the table
    /// does not exist yet).
    pub async fn count(&self, sql: &str) -> Option<u64> {
        let r = self
            .http
            .post(format!("{}/", self.url))
            .body(sql.to_string())
            .send()
            .await
            .ok()?;
        if !r.status().is_success() {
            return None;
        }
        r.text().await.ok()?.trim().parse().ok()
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("clickhouse.log")).unwrap_or_default()
    }
}

impl Drop for ClickHouse {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
