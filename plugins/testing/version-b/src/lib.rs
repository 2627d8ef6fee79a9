//! `version-b`: a test plugin for reloads (see ../../version.rs).

/// The tag this version sets.
const VERSION: &str = "b";

include!("../../version.rs");
