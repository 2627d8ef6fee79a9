//! What a plugin may touch: the imports its world in `wit/sandbox.wit` allows, a WASI context with no filesystem, no
//! sockets and (unless granted) no environment and frozen clocks, a memory cap that remembers
//! being hit, and stdout/stderr forwarded into Weir's log.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::AsyncWrite;
use wasmtime::component::Component;
use wasmtime::component::types::ComponentItem;
use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx};

use crate::contract::World;

/// Capabilities a plugin's config grants beyond the default sandbox.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Real wall and monotonic clocks; without it both read zero.
    pub clocks: bool,
    /// Environment variables the plugin sees, `(name, value)`.
    pub env: Vec<(String, String)>,
}

/// Every import of `component` that a plugin of `world` may not have (see
/// [`World::refuses`]), with the reason.
pub(crate) fn refused_imports(component: &Component, world: World) -> Vec<(String, String)> {
    let engine = component.engine();
    component
        .component_type()
        .imports(engine)
        // Type imports (`use telemetry.{batch}` in a world) are not capabilities.
        .filter(|(_, item)| !matches!(item.ty, ComponentItem::Type(_) | ComponentItem::Resource(_)))
        .filter_map(|(name, _)| world.refuses(name).map(|why| (name.to_string(), why)))
        .collect()
}

/// A clock that always reads zero: plugins without the `clocks` grant cannot observe time.
struct Frozen;

impl HostWallClock for Frozen {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for Frozen {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// Builds the WASI context of one plugin instance.
pub(crate) fn wasi_ctx(grants: &Grants, stdout: OutputTail, stderr: OutputTail) -> WasiCtx {
    let mut b = WasiCtx::builder();
    b.stdout(stdout)
        .stderr(stderr)
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
    b.envs(&grants.env);
    if !grants.clocks {
        b.wall_clock(Frozen).monotonic_clock(Frozen);
    }
    b.build()
}

/// The store's resource limiter: [`StoreLimits`] plus a flag saying the memory cap was hit,
/// so that the host can tell a memory-cap trap from any other.
pub(crate) struct Limiter {
    limits: StoreLimits,
    /// Set when a memory grow was refused.
    pub(crate) memory_hit: bool,
    /// This instance's memory in the accounting ([`crate::plugin_memory`]).
    share: crate::memory::MemoryShare,
}

impl Limiter {
    /// A limiter capping linear memory at `bytes` per instance of `plugin`.
    pub(crate) fn new(plugin: std::sync::Arc<str>, bytes: usize) -> Limiter {
        let limits = StoreLimitsBuilder::new()
            .memory_size(bytes)
            .table_elements(100_000)
            .instances(64)
            .tables(16)
            .memories(8)
            .trap_on_grow_failure(true)
            .build();
        Limiter {
            limits,
            memory_hit: false,
            share: crate::memory::MemoryShare::new(plugin),
        }
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let r = self.limits.memory_growing(current, desired, maximum);
        if matches!(r, Ok(true)) {
            self.share.grew(current, desired);
        } else {
            self.memory_hit = true;
        }
        r
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

/// The most recent plugin output kept for error messages.
const TAIL_BYTES: usize = 2048;

#[derive(Default)]
struct Tail {
    partial: Vec<u8>,
    recent: VecDeque<String>,
    recent_bytes: usize,
}

/// A plugin's stdout or stderr: each line goes to Weir's log tagged with the plugin's name, and
/// the last few lines are kept to explain the next failure (a Rust panic message, say).
#[derive(Clone)]
pub(crate) struct OutputTail {
    plugin: Arc<str>,
    stream: &'static str,
    tail: Arc<Mutex<Tail>>,
}

impl OutputTail {
    /// Output of `plugin` on `stream` (`stdout` or `stderr`).
    pub(crate) fn new(plugin: Arc<str>, stream: &'static str) -> OutputTail {
        OutputTail {
            plugin,
            stream,
            tail: Arc::default(),
        }
    }

    /// Remembers `line` as recent output without logging it again.
    pub(crate) fn note(&self, line: &str) {
        if let Ok(mut t) = self.tail.lock() {
            remember(&mut t, line.to_string());
        }
    }

    /// The recent output, oldest first, and forgets it.
    pub(crate) fn take(&self) -> String {
        let Ok(mut t) = self.tail.lock() else {
            return String::new();
        };
        if !t.partial.is_empty() {
            let rest = String::from_utf8_lossy(&std::mem::take(&mut t.partial)).into_owned();
            remember(&mut t, rest);
        }
        t.recent_bytes = 0;
        t.recent.drain(..).collect::<Vec<_>>().join("\n")
    }

    fn write(&self, bytes: &[u8]) {
        let Ok(mut t) = self.tail.lock() else { return };
        t.partial.extend_from_slice(bytes);
        while let Some(pos) = t.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = t.partial.drain(..=pos).collect();
            let line = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
            tracing::info!(plugin = &*self.plugin, stream = self.stream, "{line}");
            remember(&mut t, line);
        }
        if t.partial.len() > TAIL_BYTES {
            let line = String::from_utf8_lossy(&std::mem::take(&mut t.partial)).into_owned();
            tracing::info!(plugin = &*self.plugin, stream = self.stream, "{line}");
            remember(&mut t, line);
        }
    }
}

fn remember(t: &mut Tail, line: String) {
    t.recent_bytes += line.len();
    t.recent.push_back(line);
    while t.recent_bytes > TAIL_BYTES && t.recent.len() > 1 {
        if let Some(old) = t.recent.pop_front() {
            t.recent_bytes -= old.len();
        }
    }
}

impl IsTerminal for OutputTail {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for OutputTail {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for OutputTail {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.write(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
