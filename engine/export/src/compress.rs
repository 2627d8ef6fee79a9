//! The request compression both OTLP exporters use: gzip at its fast level, zstd at level 1.
//! A batch is compressed once, for all its attempts ([`crate::worker`]).

use std::io::Write;

use weir_config::Compression;

/// `raw` compressed with `c`; `None` for `Compression::None` (send `raw` as it is).
pub(crate) fn compress(c: Compression, raw: &[u8]) -> std::io::Result<Option<Vec<u8>>> {
    match c {
        Compression::None => Ok(None),
        Compression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(
                Vec::with_capacity(raw.len() / 4),
                flate2::Compression::fast(),
            );
            enc.write_all(raw)?;
            enc.finish().map(Some)
        }
        Compression::Zstd => zstd::bulk::compress(raw, 1).map(Some),
    }
}

/// The name of `c` in `Content-Encoding` and `grpc-encoding`.
pub(crate) fn encoding_name(c: Compression) -> Option<&'static str> {
    match c {
        Compression::None => None,
        Compression::Gzip => Some("gzip"),
        Compression::Zstd => Some("zstd"),
    }
}
