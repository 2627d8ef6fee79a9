//! `version-logs-only`: a test plugin for reloads (see ../../version.rs).

/// The tag this version sets.
const VERSION: &str = "logs-only";

include!("../../version.rs");
