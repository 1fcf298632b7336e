//! Host bindings of the `sandpipe:action/action@0.1.0` world.

wasmtime::component::bindgen!({
    path: "../../wit/action",
    world: "sandpipe:action/action",
    imports: { default: async | trappable },
    exports: { default: async },
    additional_derives: [PartialEq, Eq],
});

pub use sandpipe::action::build_projects::{EnvironmentVariable, Project};
pub use sandpipe::action::execution::{RevisionType, SourceRevision};
pub use sandpipe::action::log::Level;
pub use sandpipe::action::object_store as object_store_wit;
pub use sandpipe::action::reports::{TestCase, TestReport, TestStatus};
pub use sandpipe::action::types::{
    ActionType, ArtifactFile, Category, CurrentRevision, Failure, FailureKind, InputArtifact,
    Outcome, OutputArtifact, Request,
};
