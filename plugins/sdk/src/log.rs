//! Writing into Weir's log; lines are tagged with the plugin's configured name.

#[cfg(target_arch = "wasm32")]
fn write(level: crate::bindings::weir::plugin::log::LogLevel, message: &str) {
    crate::bindings::weir::plugin::log::log(level, message);
}

#[cfg(not(target_arch = "wasm32"))]
fn write(level: crate::bindings::weir::plugin::log::LogLevel, message: &str) {
    eprintln!("{level:?}: {message}");
}

/// Logs at debug level.
pub fn debug(message: &str) {
    write(crate::bindings::weir::plugin::log::LogLevel::Debug, message);
}

/// Logs at info level.
pub fn info(message: &str) {
    write(crate::bindings::weir::plugin::log::LogLevel::Info, message);
}

/// Logs at warn level.
pub fn warn(message: &str) {
    write(crate::bindings::weir::plugin::log::LogLevel::Warn, message);
}

/// Logs at error level.
pub fn error(message: &str) {
    write(crate::bindings::weir::plugin::log::LogLevel::Error, message);
}
