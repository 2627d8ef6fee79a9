//! `weir-load --tls`: the same measurement with TLS on both sides of the gateway — clients speak
//! gRPC over TLS to the receiver, and the exporter speaks `https://` to a TLS-terminating proxy
//! in front of the sink — plus a handshake-rate phase (new connection + full handshake each).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, ServerConfig};
use tonic::transport::{Channel, Endpoint};
use weir_tls::pki::{Issued, TestPki};

/// The generated PKI of one run.
pub struct Pki {
    pub ca: std::path::PathBuf,
    pub server: Issued,
    pub client: Arc<ClientConfig>,
}

impl Pki {
    pub fn new(dir: &Path) -> anyhow::Result<Pki> {
        let pki = TestPki::new(dir, "load")?;
        let server = pki.server("server")?;
        let ca = pki.ca_file("load");
        let cfg = weir_config::ClientTlsConfig {
            ca_file: Some(toml::Spanned::new(0..0, ca.display().to_string())),
            ..Default::default()
        };
        let client = weir_tls::client_config(Some(&cfg), &|p| p.into(), weir_tls::ALPN_H2)?;
        Ok(Pki { ca, server, client })
    }

    /// The `tls = { … }` of the receiver.
    pub fn receiver_toml(&self) -> String {
        format!(
            "tls = {{ cert_file = \"{}\", key_file = \"{}\" }}",
            self.server.cert.display(),
            self.server.key.display()
        )
    }

    /// The `tls = { … }` of the exporter.
    pub fn exporter_toml(&self) -> String {
        format!("tls = {{ ca_file = \"{}\" }}", self.ca.display())
    }

    fn server_config(&self) -> anyhow::Result<Arc<ServerConfig>> {
        let files = weir_tls::ServerFiles {
            cert: self.server.cert.clone(),
            key: self.server.key.clone(),
            client_ca: None,
            min_version: weir_config::TlsVersion::V1_2,
            alpn: vec![b"h2".to_vec()],
            reload_interval: Duration::ZERO,
        };
        let t = weir_core::telemetry::Telemetry::new();
        Ok(weir_tls::ServerTls::load(files, "sink-proxy", t.tls("p"))?.config())
    }
}

/// A TLS-terminating proxy to the plaintext sink at `sink`; its address.
pub async fn proxy(pki: &Pki, sink: SocketAddr) -> anyhow::Result<SocketAddr> {
    let acceptor = tokio_rustls::TlsAcceptor::from(pki.server_config()?);
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // No Nagle on either leg: small gRPC frames would wait for delayed ACKs.
                let _ = tcp.set_nodelay(true);
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut plain) = TcpStream::connect(sink).await else {
                    return;
                };
                let _ = plain.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    Ok(addr)
}

/// A gRPC client of `url` (`https://localhost:PORT`) over TLS.
pub async fn channel(url: &str, tls: Arc<ClientConfig>) -> anyhow::Result<Channel> {
    let connector = tower::service_fn(move |uri: http::Uri| {
        let tls = tls.clone();
        async move {
            let port = uri.port_u16().unwrap_or(443);
            let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
            tcp.set_nodelay(true)?;
            let name = ServerName::try_from("localhost").map_err(std::io::Error::other)?;
            let s = tokio_rustls::TlsConnector::from(tls)
                .connect(name, tcp)
                .await?;
            Ok::<_, std::io::Error>(TokioIo::new(s))
        }
    });
    let channel = Endpoint::from_shared(url.to_string())?
        .connect_with_connector(connector)
        .await?;
    Ok(channel)
}

/// Full handshakes per second against `addr` from `tasks` concurrent dialers for `secs`.
pub async fn handshakes(addr: SocketAddr, tls: Arc<ClientConfig>, tasks: usize, secs: u64) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut joins = Vec::new();
    for _ in 0..tasks {
        let (stop, done, tls) = (stop.clone(), done.clone(), tls.clone());
        joins.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let Ok(tcp) = TcpStream::connect(addr).await else {
                    continue;
                };
                let Ok(name) = ServerName::try_from("localhost") else {
                    return;
                };
                if tokio_rustls::TlsConnector::from(tls.clone())
                    .connect(name, tcp)
                    .await
                    .is_ok()
                {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    for j in joins {
        let _ = j.await;
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}
