//! The guest SDK for sandpipe action providers.
//!
//! An action is a type implementing [`Action`] plus one [`export_action!`] call:
//!
//! ```ignore
//! use sandpipe_action_sdk::{Action, Failure, Outcome, Request, export_action};
//!
//! struct Hello;
//! impl Action for Hello {
//!     fn run(request: Request) -> Result<Outcome, Failure> {
//!         let name = request.config().required("Name")?;
//!         Ok(Outcome::new().variable("Greeting", format!("hello {name}")))
//!     }
//! }
//! export_action!(Hello);
//! ```
//!
//! Build it with `cargo build --target wasm32-wasip2 --release`; the `.wasm` is a component
//! of the `sandpipe:action@0.1.0` package that imports only the interfaces it calls (the SDK
//! binds the package's `provider` world; an action that never calls `exec` does not import
//! it). Files are plain `std::fs`: inputs are read-only directories under `/in`, outputs
//! read-write directories under `/out`, scratch space is `/tmp`.

// Lets the generated bindings name this crate the same way from inside and outside it.
extern crate self as sandpipe_action_sdk;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        // The crate's own copy of the WIT (in this repository a link to `wit/action`), so the
        // crate builds wherever it is copied.
        path: "wit",
        world: "sandpipe:action/provider@0.1.0",
        pub_export_macro: true,
        export_macro_name: "__export_world",
        default_bindings_module: "::sandpipe_action_sdk::bindings",
        runtime_path: "::sandpipe_action_sdk::__wit_bindgen::rt",
    });
}

#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

pub mod exec;
pub mod execution;
pub mod files;
pub mod git;
pub mod log;
pub mod object_store;
pub mod reports;
pub mod secrets;

mod config;
mod outcome;

pub use bindings::sandpipe::action::types::{
    ActionType, ArtifactFile, Category, CurrentRevision, FailureKind, InputArtifact, OutputArtifact,
};
pub use config::Configuration;
pub use outcome::{Failure, Outcome};

/// One execution of an action, as the host describes it.
pub struct Request {
    pub pipeline: String,
    pub stage: String,
    pub action: String,
    pub execution_id: String,
    pub action_type: ActionType,
    pub inputs: Vec<InputArtifact>,
    pub outputs: Vec<OutputArtifact>,
    pub continuation_token: Option<String>,
    config: Configuration,
}

impl Request {
    /// The action configuration, with variables already resolved by the host.
    pub fn config(&self) -> &Configuration {
        &self.config
    }

    /// The input artifact of an action that takes exactly one.
    pub fn single_input(&self) -> Result<&InputArtifact, Failure> {
        match self.inputs.as_slice() {
            [only] => Ok(only),
            other => Err(Failure::configuration(format!(
                "this action takes exactly one input artifact, but {} were given",
                other.len()
            ))),
        }
    }

    /// The output artifact of an action that produces exactly one.
    pub fn single_output(&self) -> Result<&OutputArtifact, Failure> {
        match self.outputs.as_slice() {
            [only] => Ok(only),
            other => Err(Failure::configuration(format!(
                "this action produces exactly one output artifact, but {} were declared",
                other.len()
            ))),
        }
    }
}

impl From<bindings::sandpipe::action::types::Request> for Request {
    fn from(raw: bindings::sandpipe::action::types::Request) -> Self {
        Request {
            pipeline: raw.pipeline,
            stage: raw.stage,
            action: raw.action,
            execution_id: raw.execution_id,
            action_type: raw.action_type,
            inputs: raw.inputs,
            outputs: raw.outputs,
            continuation_token: raw.continuation_token,
            config: Configuration::new(raw.configuration),
        }
    }
}

/// An action provider.
pub trait Action {
    /// Run one job. Return an [`Outcome`] with a continuation token to be called again later.
    fn run(request: Request) -> Result<Outcome, Failure>;
}

#[doc(hidden)]
pub fn __run<A: Action>(
    raw: bindings::sandpipe::action::types::Request,
) -> Result<bindings::sandpipe::action::types::Outcome, bindings::sandpipe::action::types::Failure>
{
    A::run(Request::from(raw))
        .map(Outcome::into_raw)
        .map_err(Failure::into_raw)
}

/// Export a type implementing [`Action`] as this component's `runner`.
#[macro_export]
macro_rules! export_action {
    ($action:ty) => {
        struct __SandpipeRunner;

        impl $crate::bindings::exports::sandpipe::action::runner::Guest for __SandpipeRunner {
            fn run(
                request: $crate::bindings::sandpipe::action::types::Request,
            ) -> ::core::result::Result<
                $crate::bindings::sandpipe::action::types::Outcome,
                $crate::bindings::sandpipe::action::types::Failure,
            > {
                $crate::__run::<$action>(request)
            }
        }

        $crate::bindings::__export_world!(__SandpipeRunner);
    };
}
