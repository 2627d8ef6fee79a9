//! Weir's sampling policy lab: runs tail-sampling policy configurations — the very samplers and
//! Wasm policies the gateway runs — over a synthetic or recorded workload on a virtual clock,
//! faster than real time, and reports what each keeps and what it costs.
//!
//! ```text
//! Scenario (TOML) ─▶ Synthetic ─┐                      ┌─▶ Sampler A ─┐
//!                               ├─▶ batches by arrival ┼─▶ Sampler B ─┼─▶ Report (JSON, table, HTML)
//! recording ─────▶ Recorded ────┘   + ground truth     └─▶ …          ┘
//! ```
//!
//! Each report says what each policy set is ([`describe`]: a line in words and its TOML) and
//! sums the trade-off up in a paragraph ([`Report::summary`]).

mod chart;
mod describe;
mod html;
mod recording;
mod report;
mod run;
mod scenario;
mod summary;
mod svg;
mod workload;

pub use describe::{Definition, describe};
pub use html::render as render_html;
pub use recording::Recorded;
pub use report::{ConfigReport, Report, WorkloadReport};
pub use run::{Candidate, Options, run};
pub use scenario::{Call, Latency, Operation, Scenario};
pub use workload::{Source, Synthetic, Truth, Truths, WINDOW};

/// Problems with a lab's inputs.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The scenario file is invalid.
    #[error("{file}: {message}")]
    Scenario {
        /// The file.
        file: String,
        /// What is wrong, starting with the key.
        message: String,
    },
    /// The recording cannot be read.
    #[error("{file}: {message}")]
    Recording {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
    },
}

#[cfg(test)]
mod tests;
