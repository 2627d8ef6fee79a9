//! `wasi:io` for plugins that run on the async runtime's worker: the functions that wait
//! (`blocking-write-and-flush`, `poll`, dropping a stream …) leave the worker only when a plugin
//! calls them.
//!
//! WASI's synchronous bindings run those functions with `Handle::block_on`, which panics on a
//! runtime worker thread. Plugin calls therefore used to run in `block_in_place`, a hand-off of
//! the worker's other tasks to another thread and back on every batch, although most plugins
//! never wait on anything (a processor that does not print, poll or sleep). These
//! implementations wrap exactly the waiting functions in [`weir_core::blocking`], so the
//! hand-off happens inside the call that needs it, and a call that never waits runs inline.
//! Everything else is wasmtime-wasi's own implementation over the store's resource table.

use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::p2::bindings::sync::io::poll::{self, Pollable};
use wasmtime_wasi::p2::bindings::sync::io::streams::{self, InputStream, OutputStream};
use wasmtime_wasi::p2::{StreamError, StreamResult};
use weir_core::blocking;

use crate::host::PluginState;

/// The resource table, seen through the implementations below.
pub(crate) struct LazyIo<'a>(&'a mut ResourceTable);

/// [`HasData`] for [`LazyIo`].
struct HasLazyIo;

impl HasData for HasLazyIo {
    type Data<'a> = LazyIo<'a>;
}

/// Replaces `wasi:io/poll` and `wasi:io/streams` in `linker` (which already has WASI's
/// synchronous bindings) with the lazily blocking versions.
pub(crate) fn shadow(linker: &mut Linker<PluginState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    poll::add_to_linker::<PluginState, HasLazyIo>(linker, |s| LazyIo(&mut s.table))?;
    streams::add_to_linker::<PluginState, HasLazyIo>(linker, |s| LazyIo(&mut s.table))?;
    linker.allow_shadowing(false);
    Ok(())
}

impl poll::Host for LazyIo<'_> {
    fn poll(&mut self, pollables: Vec<Resource<Pollable>>) -> wasmtime::Result<Vec<u32>> {
        blocking(|| poll::Host::poll(self.0, pollables))
    }
}

impl poll::HostPollable for LazyIo<'_> {
    fn ready(&mut self, pollable: Resource<Pollable>) -> wasmtime::Result<bool> {
        blocking(|| poll::HostPollable::ready(self.0, pollable))
    }
    fn block(&mut self, pollable: Resource<Pollable>) -> wasmtime::Result<()> {
        blocking(|| poll::HostPollable::block(self.0, pollable))
    }
    fn drop(&mut self, pollable: Resource<Pollable>) -> wasmtime::Result<()> {
        poll::HostPollable::drop(self.0, pollable)
    }
}

impl streams::Host for LazyIo<'_> {
    fn convert_stream_error(&mut self, err: StreamError) -> wasmtime::Result<streams::StreamError> {
        streams::Host::convert_stream_error(self.0, err)
    }
}

impl streams::HostOutputStream for LazyIo<'_> {
    fn drop(&mut self, stream: Resource<OutputStream>) -> wasmtime::Result<()> {
        blocking(|| streams::HostOutputStream::drop(self.0, stream))
    }
    fn check_write(&mut self, stream: Resource<OutputStream>) -> StreamResult<u64> {
        streams::HostOutputStream::check_write(self.0, stream)
    }
    fn write(&mut self, stream: Resource<OutputStream>, bytes: Vec<u8>) -> StreamResult<()> {
        streams::HostOutputStream::write(self.0, stream, bytes)
    }
    fn blocking_write_and_flush(
        &mut self,
        stream: Resource<OutputStream>,
        bytes: Vec<u8>,
    ) -> StreamResult<()> {
        blocking(|| streams::HostOutputStream::blocking_write_and_flush(self.0, stream, bytes))
    }
    fn blocking_write_zeroes_and_flush(
        &mut self,
        stream: Resource<OutputStream>,
        len: u64,
    ) -> StreamResult<()> {
        blocking(|| streams::HostOutputStream::blocking_write_zeroes_and_flush(self.0, stream, len))
    }
    fn subscribe(
        &mut self,
        stream: Resource<OutputStream>,
    ) -> wasmtime::Result<Resource<Pollable>> {
        streams::HostOutputStream::subscribe(self.0, stream)
    }
    fn write_zeroes(&mut self, stream: Resource<OutputStream>, len: u64) -> StreamResult<()> {
        streams::HostOutputStream::write_zeroes(self.0, stream, len)
    }
    fn flush(&mut self, stream: Resource<OutputStream>) -> StreamResult<()> {
        streams::HostOutputStream::flush(self.0, stream)
    }
    fn blocking_flush(&mut self, stream: Resource<OutputStream>) -> StreamResult<()> {
        blocking(|| streams::HostOutputStream::blocking_flush(self.0, stream))
    }
    fn splice(
        &mut self,
        dst: Resource<OutputStream>,
        src: Resource<InputStream>,
        len: u64,
    ) -> StreamResult<u64> {
        streams::HostOutputStream::splice(self.0, dst, src, len)
    }
    fn blocking_splice(
        &mut self,
        dst: Resource<OutputStream>,
        src: Resource<InputStream>,
        len: u64,
    ) -> StreamResult<u64> {
        blocking(|| streams::HostOutputStream::blocking_splice(self.0, dst, src, len))
    }
}

impl streams::HostInputStream for LazyIo<'_> {
    fn drop(&mut self, stream: Resource<InputStream>) -> wasmtime::Result<()> {
        blocking(|| streams::HostInputStream::drop(self.0, stream))
    }
    fn read(&mut self, stream: Resource<InputStream>, len: u64) -> StreamResult<Vec<u8>> {
        streams::HostInputStream::read(self.0, stream, len)
    }
    fn blocking_read(&mut self, stream: Resource<InputStream>, len: u64) -> StreamResult<Vec<u8>> {
        blocking(|| streams::HostInputStream::blocking_read(self.0, stream, len))
    }
    fn skip(&mut self, stream: Resource<InputStream>, len: u64) -> StreamResult<u64> {
        streams::HostInputStream::skip(self.0, stream, len)
    }
    fn blocking_skip(&mut self, stream: Resource<InputStream>, len: u64) -> StreamResult<u64> {
        blocking(|| streams::HostInputStream::blocking_skip(self.0, stream, len))
    }
    fn subscribe(&mut self, stream: Resource<InputStream>) -> wasmtime::Result<Resource<Pollable>> {
        streams::HostInputStream::subscribe(self.0, stream)
    }
}
