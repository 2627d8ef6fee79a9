//! A processor that reads a file: its component imports `wasi:filesystem`, which Weir refuses
//! at load.

use weir_plugin::{Batch, Config, Level, Processor};

/// Reads `/etc/hostname` into an attribute.
pub struct FsReader;

impl Processor for FsReader {
    fn init(_: Config) -> Result<Self, String> {
        Ok(FsReader)
    }

    fn process(&mut self, batch: &Batch) -> Result<(), String> {
        let host = std::fs::read_to_string("/etc/hostname").map_err(|e| e.to_string())?;
        batch.set_attribute(Level::Item, "host", host);
        Ok(())
    }
}

weir_plugin::export_processor!(FsReader);
