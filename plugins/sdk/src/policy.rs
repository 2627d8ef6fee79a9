//! Tail-sampling policies: one verdict over one assembled trace.
//!
//! ```ignore
//! use weir_plugin::{Batch, Config, Decision, Policy, Verdict};
//!
//! #[derive(serde::Deserialize)]
//! struct TouchedService { service: String }
//!
//! impl Policy for TouchedService {
//!     fn init(config: Config) -> Result<Self, String> {
//!         config.parse()
//!     }
//!     fn evaluate(&mut self, trace: &Batch) -> Result<Verdict, String> {
//!         let hit = trace.resources().any(|r| {
//!             r.attribute("service.name").and_then(|v| v.as_str()) == Some(self.service.as_str())
//!         });
//!         Ok(if hit { Verdict::keep("touched checkout") } else { Verdict::no_opinion() })
//!     }
//! }
//! weir_plugin::export_policy!(TouchedService);
//! ```

use crate::{Batch, Config};

pub use crate::sampler_bindings::Decision;

/// A policy's verdict: the decision and a short reason (recorded as `weir.sampling.reason` on
/// kept spans when the sampler has `record_policy = true`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Keep, drop (a veto over every other policy) or no opinion.
    pub decision: Decision,
    /// Why, e.g. `status=ERROR`; may be empty.
    pub reason: String,
}

impl Verdict {
    /// Keep the trace, because of `reason`.
    pub fn keep(reason: impl Into<String>) -> Verdict {
        Verdict {
            decision: Decision::Sample,
            reason: reason.into(),
        }
    }

    /// Drop the trace whatever other policies say, because of `reason`.
    pub fn drop(reason: impl Into<String>) -> Verdict {
        Verdict {
            decision: Decision::Drop,
            reason: reason.into(),
        }
    }

    /// Let the other policies decide.
    pub fn no_opinion() -> Verdict {
        Verdict {
            decision: Decision::NoOpinion,
            reason: String::new(),
        }
    }
}

/// A tail-sampling policy: created once per instance from its config, then asked about each
/// trace. The trace is read-only: writing to it is an error.
pub trait Policy: Sized + 'static {
    /// Builds the policy from its config; an error stops Weir from starting.
    fn init(config: Config) -> Result<Self, String>;

    /// Judges one trace: every span buffered for one trace id, as a traces batch. An `Err`
    /// gives the trace the policy's `on_error` fallback.
    fn evaluate(&mut self, trace: &Batch) -> Result<Verdict, String>;
}

/// Exports a [`Policy`] type as the plugin's implementation of the `sampler` world.
#[macro_export]
macro_rules! export_policy {
    ($t:ty) => {
        #[doc(hidden)]
        struct __WeirPolicyExport;
        impl $crate::__private::SamplerGuest for __WeirPolicyExport {
            fn init(config: String) -> Result<(), String> {
                $crate::__private::init_policy::<$t>(config)
            }
            fn evaluate(
                trace: &$crate::__private::HostBatch,
            ) -> Result<$crate::__private::WitVerdict, String> {
                $crate::__private::evaluate::<$t>(trace)
            }
        }
        $crate::__private::export_sampler!(__WeirPolicyExport with_types_in $crate::sampler_bindings);
    };
}
