//! `version-broken`: a test plugin for reloads (see ../../version.rs).

/// The tag this version sets.
const VERSION: &str = "broken";

include!("../../version.rs");
