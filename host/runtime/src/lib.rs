//! The wasm host: runs one action execution as a sandboxed WASI component.
//!
//! - [`host`]: the process-wide wasmtime engine, compile cache and import audit;
//! - [`invoke`]: one execution — fresh store, deny-by-default WASI, deadline, memory budget;
//! - [`sandbox`]: the per-execution directories, the work area they live in, and guest-path
//!   resolution;
//! - [`capabilities`]: one module per capability (`log`, `object-store`, `reports`,
//!   `execution`, and the granted-only `exec`, `secrets` and `git`), listed in one registry;
//! - [`component_file`]: what a component file says about itself (imports, the plugin
//!   manifest) without compiling it;
//! - [`action`]: what an execution is given and gives back, in host types; the WIT bindings
//!   are private, converted at the edge in `boundary`.

pub mod action;
mod bindings;
mod boundary;
pub mod cache;
pub mod capabilities;
pub mod component_file;
pub mod determinism;
pub mod host;
pub mod invoke;
pub mod limits;
pub mod providers;
pub mod result_limits;
pub mod sandbox;
mod state;
#[doc(hidden)]
pub mod testing;
pub mod write_budget;

pub use action::{
    ActionError, ActionOutcome, ActionRequest, ActionResult, ArtifactFile, CurrentRevision,
    FailureDetails, InputArtifact, OutputArtifact, TestCase, TestReport, TestStatus,
    format_duration,
};
pub use cache::{CacheOutcome, ComponentCache};
pub use capabilities::exec::{
    BuildImages, BuildRunner, ContainerKind, DeterministicBuild, EXEC, ExecGrant,
    local_base_environment,
};
pub use capabilities::git::{GIT, GitGrant, GitSource};
pub use capabilities::log::{ActionEvent, EventSink, LogLevel, OutputStream};
pub use capabilities::object_store::granted_buckets;
pub use capabilities::secrets::{SECRETS, SecretValues};
pub use capabilities::{Capability, Grant, Grants};
pub use determinism::Determinism;
pub use host::{ActionHost, LoadedComponent, ProviderPolicy};
pub use invoke::Invocation;
pub use limits::ExecutionLimits;
pub use sandbox::{Sandbox, WorkArea};
