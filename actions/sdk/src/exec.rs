//! Running commands outside the wasm sandbox (the `exec` import). Only components the
//! operator's policy grants `exec` to may use this module; any other component that uses it
//! is refused before it runs. Build projects (`build-projects`) come with the same grant.

use crate::bindings::sandpipe::action::build_projects as projects_host;
use crate::bindings::sandpipe::action::exec as host;

pub use host::{Error, ExitStatus, RunnerInfo, Session, SessionOptions};
pub use projects_host::{EnvironmentVariable, Project};

/// The runner the operator chose, and the environment a build starts from.
pub fn runner() -> RunnerInfo {
    host::runner()
}

/// The path commands see for a sandbox path (e.g. `/tmp/src`).
pub fn process_path(sandbox_path: &str) -> Result<String, Error> {
    host::process_path(sandbox_path)
}

/// Open a shell session. Dropping it kills every process it started.
pub fn open_session(options: &SessionOptions) -> Result<Session, Error> {
    host::open_session(options)
}

/// The operator's definition of build project `name` (the action's `ProjectName`).
pub fn project(name: &str) -> Result<Option<Project>, String> {
    projects_host::get_project(name).map_err(|projects_host::Error::Denied(reason)| reason)
}

pub use host::CopySummary;

/// Copy a file or directory tree from a sandbox path to a writable one, keeping executable
/// bits; symbolic links are copied as links, never followed.
pub fn copy(source: &str, destination: &str) -> Result<CopySummary, Error> {
    host::copy(source, destination)
}

/// A readable description of an [`Error`].
pub fn describe(error: &Error) -> String {
    match error {
        Error::Denied(m) => format!("denied: {m}"),
        Error::InvalidArgument(m) => format!("invalid argument: {m}"),
        Error::Unavailable(m) => format!("unavailable: {m}"),
        Error::Io(m) => format!("i/o error: {m}"),
    }
}
