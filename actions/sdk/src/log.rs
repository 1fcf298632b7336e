//! Structured log lines and progress, shown live by the host and kept with the execution.
//! Anything the action prints to stdout or stderr is captured into the same log.

use crate::bindings::sandpipe::action::log as host;

pub use host::Level;

pub fn log(level: Level, message: impl AsRef<str>) {
    host::log(level, message.as_ref());
}

pub fn debug(message: impl AsRef<str>) {
    log(Level::Debug, message);
}

pub fn info(message: impl AsRef<str>) {
    log(Level::Info, message);
}

pub fn warn(message: impl AsRef<str>) {
    log(Level::Warn, message);
}

pub fn error(message: impl AsRef<str>) {
    log(Level::Error, message);
}

/// Report progress of a long-running job (percent is clamped to 100).
pub fn progress(percent_complete: Option<u8>, summary: impl AsRef<str>) {
    host::progress(percent_complete.map(|p| p.min(100)), summary.as_ref());
}
