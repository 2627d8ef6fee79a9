//! A peer gateway (Rotel, the Collector, any OTLP/gRPC → OTLP/gRPC gateway) run from a command
//! line, so that the harness measures it and Weir in one invocation, on the same traffic and
//! sink.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

/// A running peer; killed when dropped.
pub(crate) struct Peer {
    child: Child,
    /// Its OTLP/gRPC receiver.
    pub listen: SocketAddr,
}

impl Peer {
    /// Runs `command` with a shell after filling in its placeholders: `{listen}` (the
    /// `127.0.0.1:port` its OTLP/gRPC receiver must listen on), `{listen_http}` (a second free
    /// port, for peers that always open an HTTP receiver too), `{sink}` (the sink's
    /// `127.0.0.1:port`) and `{sink_url}` (`http://` and that). Waits until `{listen}` accepts
    /// connections.
    pub(crate) async fn start(command: &str, sink: SocketAddr) -> anyhow::Result<Peer> {
        let listen = free_port()?;
        let listen_http = free_port()?;
        let command = command
            .replace("{listen_http}", &listen_http.to_string())
            .replace("{listen}", &listen.to_string())
            .replace("{sink_url}", &format!("http://{sink}"))
            .replace("{sink}", &sink.to_string());
        anyhow::ensure!(
            command.contains(&listen.to_string()),
            "--peer: the command must contain {{listen}} (where its OTLP/gRPC receiver listens)"
        );
        println!("peer: {command}");
        let child = Command::new("sh")
            .arg("-c")
            .arg(format!("exec {command}"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot run the --peer command with sh")?;
        let mut peer = Peer { child, listen };
        let deadline = Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(listen).await.is_err() {
            if let Some(status) = peer.child.try_wait()? {
                anyhow::bail!("the peer exited before it listened on {listen}: {status}");
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the peer did not listen on {listen} within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(peer)
    }

    /// Its process id (the shell `exec`s it, so this is the peer itself).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on now (bound and released).
fn free_port() -> anyhow::Result<SocketAddr> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?)
}
