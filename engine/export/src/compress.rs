//! The request compression both OTLP exporters use: gzip at its fast level, zstd at level 1.
//! A batch is compressed once, for all its attempts ([`crate::worker`]).
//!
//! Gzip reuses one deflate state per thread: a fresh `GzEncoder` allocates and zeroes about
//! 300 KiB of window and hash tables, which profiling showed costing as much as the deflate
//! itself on 100-span requests. The gzip framing (RFC 1952) is ten header bytes and an
//! eight-byte trailer, written here around the raw deflate stream.

use std::cell::RefCell;

use flate2::{Compress, FlushCompress, Status};
use weir_config::Compression;

/// The gzip member header: magic, deflate, no flags, no mtime, "fastest" (XFL 4), unknown OS.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 0xff];

thread_local! {
    /// This thread's deflate state, reset before each use.
    static DEFLATE: RefCell<Option<Compress>> = const { RefCell::new(None) };
}

/// `raw` compressed with `c`; `None` for `Compression::None` (send `raw` as it is).
pub(crate) fn compress(c: Compression, raw: &[u8]) -> std::io::Result<Option<Vec<u8>>> {
    match c {
        Compression::None => Ok(None),
        Compression::Gzip => gzip(raw).map(Some),
        Compression::Zstd => zstd::bulk::compress(raw, 1).map(Some),
    }
}

/// `raw` as one gzip member, deflated at the fast level with this thread's reused state.
fn gzip(raw: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(GZIP_HEADER.len() + raw.len() / 4 + 64);
    out.extend_from_slice(&GZIP_HEADER);
    DEFLATE.with(|cell| -> std::io::Result<()> {
        let mut slot = cell.borrow_mut();
        let deflate = slot.get_or_insert_with(|| Compress::new(flate2::Compression::fast(), false));
        deflate.reset();
        loop {
            // `total_in` never exceeds `raw.len()`: it counts bytes taken from `raw`.
            let taken = usize::try_from(deflate.total_in()).unwrap_or(raw.len());
            let rest = raw.get(taken..).unwrap_or_default();
            // `compress_vec` writes only into spare capacity: grow it until the stream ends.
            match deflate.compress_vec(rest, &mut out, FlushCompress::Finish) {
                Ok(Status::StreamEnd) => return Ok(()),
                Ok(Status::Ok | Status::BufError) => out.reserve(out.capacity().max(4096)),
                Err(e) => return Err(std::io::Error::other(e)),
            }
        }
    })?;
    let mut crc = flate2::Crc::new();
    crc.update(raw);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    // ISIZE is the input length modulo 2^32 (RFC 1952 §2.3.1).
    out.extend_from_slice(&(raw.len() as u32).to_le_bytes());
    Ok(out)
}

/// The name of `c` in `Content-Encoding` and `grpc-encoding`.
pub(crate) fn encoding_name(c: Compression) -> Option<&'static str> {
    match c {
        Compression::None => None,
        Compression::Gzip => Some("gzip"),
        Compression::Zstd => Some("zstd"),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn gunzip(z: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut d = flate2::read::GzDecoder::new(z);
        d.read_to_end(&mut out).expect("a valid gzip member");
        // Nothing may follow the member.
        assert_eq!(
            d.into_inner().len(),
            0,
            "trailing bytes after the gzip member"
        );
        out
    }

    /// Inputs of every shape round-trip through a standard gzip decoder, one after another on
    /// the same thread (so the reused state must be reset between them), including an empty
    /// one and one far larger than the initial output capacity.
    #[test]
    fn reused_deflate_state_writes_valid_gzip_members() {
        let mut noise = Vec::with_capacity(1 << 20);
        let mut x: u32 = 0x2545_f491;
        while noise.len() < (1 << 20) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            noise.extend_from_slice(&x.to_le_bytes());
        }
        let text = b"span name=GET /api/v1/users attr=value ".repeat(5000);
        for raw in [&b""[..], b"a", &text, &noise, &text[..100], &noise[..4096]] {
            let z = gzip(raw).expect("compresses");
            assert_eq!(gunzip(&z), raw, "round trip of {} bytes", raw.len());
        }
        let z = gzip(&text).expect("compresses");
        assert!(
            z.len() < text.len() / 20,
            "repetitive text compresses: {}",
            z.len()
        );
    }

    /// The framing is gzip's: `compress` for `Gzip` gives what `GzDecoder` reads, `None`
    /// passes, zstd round-trips.
    #[test]
    fn each_setting_gives_its_encoding() {
        let raw = b"hello hello hello hello";
        let g = compress(Compression::Gzip, raw).expect("ok").expect("gzip");
        assert_eq!(&g[..2], &[0x1f, 0x8b]);
        assert_eq!(gunzip(&g), raw);
        assert!(compress(Compression::None, raw).expect("ok").is_none());
        let z = compress(Compression::Zstd, raw).expect("ok").expect("zstd");
        assert_eq!(zstd::bulk::decompress(&z, 1024).expect("zstd"), raw);
    }
}
