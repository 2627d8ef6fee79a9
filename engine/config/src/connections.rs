//! `connections = { … }` on every listener (receivers' `grpc` and `http`, `[admin]`): how many
//! connections it keeps, how long an idle or slow one may stay, HTTP/2 keep-alive pings and the
//! listen backlog. The defaults follow the Collector's (`idle_timeout`, `read_header_timeout`
//! of its HTTP servers) where it has one, and are shorter where a slow client is an attack.

use std::time::Duration;

use serde::Deserialize;

use crate::units::Seconds;

/// Connection limits and timeouts of one listener.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionConfig {
    /// Open connections at most; beyond it a new connection is closed at once (counted in
    /// `weir_listener_connections_closed_total{reason="max_connections"}`). Default 4096.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// A connection with no request in flight for this long is closed (HTTP/2: GOAWAY, so
    /// clients reconnect cleanly). Default `"60s"`; `"0s"` never closes idle connections.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: Seconds,
    /// An HTTP/1 request's headers must arrive within this long, or the connection is closed
    /// (slow-header attacks). Default `"10s"`.
    #[serde(default = "default_header_read_timeout")]
    pub header_read_timeout: Seconds,
    /// A request's body must arrive within this long of its headers, or it is answered 408
    /// (gRPC: DEADLINE_EXCEEDED) and the connection closed. Default `"30s"`.
    #[serde(default = "default_body_read_timeout")]
    pub body_read_timeout: Seconds,
    /// HTTP/2 PING interval, to find dead peers. Default `"30s"`; `"0s"` sends none.
    #[serde(default = "default_keepalive_interval")]
    pub keepalive_interval: Seconds,
    /// A PING not answered within this long closes the connection. Default `"20s"`.
    #[serde(default = "default_keepalive_timeout")]
    pub keepalive_timeout: Seconds,
    /// Connections the kernel queues before Weir accepts them (capped by the system's
    /// `net.core.somaxconn`). Default 4096.
    #[serde(default = "default_backlog")]
    pub backlog: u32,
}

fn default_max_connections() -> usize {
    4096
}
fn default_idle_timeout() -> Seconds {
    Seconds(Duration::from_secs(60))
}
fn default_header_read_timeout() -> Seconds {
    Seconds(Duration::from_secs(10))
}
fn default_body_read_timeout() -> Seconds {
    Seconds(Duration::from_secs(30))
}
fn default_keepalive_interval() -> Seconds {
    Seconds(Duration::from_secs(30))
}
fn default_keepalive_timeout() -> Seconds {
    Seconds(Duration::from_secs(20))
}
fn default_backlog() -> u32 {
    4096
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            max_connections: default_max_connections(),
            idle_timeout: default_idle_timeout(),
            header_read_timeout: default_header_read_timeout(),
            body_read_timeout: default_body_read_timeout(),
            keepalive_interval: default_keepalive_interval(),
            keepalive_timeout: default_keepalive_timeout(),
            backlog: default_backlog(),
        }
    }
}

impl ConnectionConfig {
    /// What is wrong with these settings, if anything (field and why).
    pub fn problem(&self) -> Option<(&'static str, &'static str)> {
        if self.max_connections == 0 {
            return Some(("max_connections", "must be at least 1"));
        }
        if self.header_read_timeout.0.is_zero() {
            return Some(("header_read_timeout", "must be more than 0s"));
        }
        if self.body_read_timeout.0.is_zero() {
            return Some(("body_read_timeout", "must be more than 0s"));
        }
        if self.backlog == 0 {
            return Some(("backlog", "must be at least 1"));
        }
        None
    }
}
