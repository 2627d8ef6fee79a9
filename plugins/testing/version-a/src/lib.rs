//! `version-a`: a test plugin for reloads (see ../../version.rs).

/// The tag this version sets.
const VERSION: &str = "a";

include!("../../version.rs");
