//! `type = "file"`: appends one OTLP JSON export request per line, the format the sampling lab
//! replays and the Collector's file exporter writes.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::Mutex;

use weir_config::FileExporter;
use weir_core::Batch;

use crate::ExportError;
use crate::attempt::Attempt;

/// Appends JSON lines to a file.
pub(crate) struct FileSink {
    path: String,
    /// Serializes writers, so lines never interleave.
    out: Mutex<File>,
}

impl FileSink {
    pub(crate) fn new(name: &str, config: &FileExporter) -> Result<FileSink, ExportError> {
        let path = config.path.get_ref().clone();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|error| ExportError::File {
                exporter: name.to_string(),
                path: path.clone(),
                error,
            })?;
        Ok(FileSink {
            path,
            out: Mutex::new(file),
        })
    }

    pub(crate) fn send(&self, batch: &Batch) -> Attempt {
        let mut line = match to_json(batch) {
            Ok(l) => l,
            Err(e) => {
                return Attempt::Permanent {
                    message: format!("cannot render the batch as JSON: {e}"),
                };
            }
        };
        let mut out = match self.out.lock() {
            Ok(o) => o,
            Err(poisoned) => poisoned.into_inner(),
        };
        line.push('\n');
        // One unbuffered write per line: a failed write leaves no half line behind in a buffer
        // to be flushed in front of the next one.
        let written = out.write_all(line.as_bytes());
        match written {
            Ok(()) => Attempt::Delivered {
                rejected: 0,
                message: String::new(),
            },
            // A full disk may clear up: retried with the default backoff, then counted.
            Err(e) => Attempt::Retryable {
                message: format!("cannot write to {}: {e}", self.path),
                throttle: None,
            },
        }
    }
}

/// The batch as one line of OTLP JSON (an `Export*ServiceRequest`).
pub(crate) fn to_json(batch: &Batch) -> serde_json::Result<String> {
    batch.to_otlp_json()
}
