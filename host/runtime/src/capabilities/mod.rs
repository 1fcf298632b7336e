//! Host capabilities, one module per import the action world defines. WASI itself comes
//! from wasmtime-wasi, configured deny-by-default in [`crate::invoke`].
//!
//! `log`, `object-store`, `reports` and `execution` are every action's; `exec` (with
//! `build-projects`), `secrets` and `git` only reach components the operator's policy grants
//! them to.

pub mod exec;
pub mod execution;
pub mod git;
pub mod log;
pub mod object_store;
pub mod projects;
pub mod reports;
pub mod secrets;
