//! The wasm host: runs one action execution as a sandboxed WASI component.
//!
//! - [`engine`]: the process-wide wasmtime engine, compile cache and import audit;
//! - [`invoke`]: one execution — fresh store, deny-by-default WASI, deadline, memory budget;
//! - [`sandbox`]: the per-execution directories and guest-path resolution;
//! - [`capabilities`]: one module per host import (`log`, `object-store`, `reports`,
//!   `execution`, and the granted-only `exec`, `build-projects`, `secrets` and `git`).

pub mod bindings;
pub mod cache;
pub mod capabilities;
pub mod engine;
pub mod invoke;
pub mod limits;
pub mod providers;
pub mod sandbox;
mod state;

pub use bindings::{FailureKind, InputArtifact, Outcome, OutputArtifact, Request};
pub use cache::{CacheOutcome, ComponentCache};
pub use capabilities::exec::{BuildRunner, ContainerKind, ExecGrant, local_base_environment};
pub use capabilities::git::{GitGrant, GitSource};
pub use capabilities::log::{ActionEvent, EventSink, LogLevel, OutputStream};
pub use capabilities::object_store::granted_buckets;
pub use capabilities::secrets::SecretValues;
pub use engine::{ActionEngine, Capability, LoadedComponent, ProviderPolicy};
pub use invoke::{ActionFailure, Grants, Invocation};
pub use limits::ExecutionLimits;
pub use sandbox::Sandbox;
