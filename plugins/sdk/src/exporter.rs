//! Exporters: send each batch to a backend and say how it went; Weir queues, retries with
//! backoff and counts drops.
//!
//! ```ignore
//! use weir_plugin::{Batch, Config, ExportError, Exporter, Sent, http};
//!
//! #[derive(serde::Deserialize)]
//! struct Post { endpoint: String }
//!
//! impl Exporter for Post {
//!     fn init(config: Config) -> Result<Self, String> {
//!         config.parse()
//!     }
//!     fn send(&mut self, batch: &Batch) -> Result<Sent, ExportError> {
//!         let body = batch.otlp_json();
//!         let r = http::post(&self.endpoint, &[("content-type", "application/json")], body.as_bytes())?;
//!         r.outcome()
//!     }
//! }
//! weir_plugin::export_exporter!(Post);
//! ```

use crate::{Batch, Config};

/// What the backend did with a batch it took.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sent {
    /// Items the backend refused for good (a partial success).
    pub rejected: u64,
    /// Why, for Weir's log.
    pub message: String,
}

impl Sent {
    /// Everything was taken.
    pub fn all() -> Sent {
        Sent::default()
    }

    /// `rejected` items were refused for good, because of `message`.
    pub fn partial(rejected: u64, message: impl Into<String>) -> Sent {
        Sent {
            rejected,
            message: message.into(),
        }
    }
}

/// Why a batch was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportError {
    /// Try again later; Weir backs off, waiting at least `retry_after_ms` if given.
    Retryable {
        /// What went wrong.
        message: String,
        /// The backend's requested delay, in milliseconds.
        retry_after_ms: Option<u64>,
    },
    /// Do not retry: Weir drops the batch and counts it.
    Rejected(String),
}

impl ExportError {
    /// A retryable failure without a requested delay.
    pub fn retryable(message: impl Into<String>) -> ExportError {
        ExportError::Retryable {
            message: message.into(),
            retry_after_ms: None,
        }
    }
}

/// An exporter plugin: created once per instance from its config, then given batches.
pub trait Exporter: Sized + 'static {
    /// Builds the exporter from its config; an error stops Weir from starting.
    fn init(config: Config) -> Result<Self, String>;

    /// Sends one batch (read-only) once.
    fn send(&mut self, batch: &Batch) -> Result<Sent, ExportError>;
}

impl From<Sent> for crate::exporter_bindings::Sent {
    fn from(s: Sent) -> Self {
        crate::exporter_bindings::Sent {
            rejected: s.rejected,
            message: s.message,
        }
    }
}

impl From<ExportError> for crate::exporter_bindings::ExportError {
    fn from(e: ExportError) -> Self {
        use crate::exporter_bindings as w;
        match e {
            ExportError::Retryable {
                message,
                retry_after_ms,
            } => w::ExportError::Retryable(w::Retryable {
                message,
                retry_after_ms,
            }),
            ExportError::Rejected(m) => w::ExportError::Rejected(m),
        }
    }
}

/// Exports an [`Exporter`] type as the plugin's implementation of the `exporter` world.
#[macro_export]
macro_rules! export_exporter {
    ($t:ty) => {
        #[doc(hidden)]
        struct __WeirExporterExport;
        impl $crate::__private::ExporterGuest for __WeirExporterExport {
            fn init(config: String) -> Result<(), String> {
                $crate::__private::init_exporter::<$t>(config)
            }
            fn send_batch(
                batch: &$crate::__private::HostBatch,
            ) -> Result<$crate::__private::WitSent, $crate::__private::WitExportError> {
                $crate::__private::send::<$t>(batch)
            }
        }
        $crate::__private::export_exporter!(__WeirExporterExport with_types_in $crate::exporter_bindings);
    };
}
