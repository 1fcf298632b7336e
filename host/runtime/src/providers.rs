//! Providers built into the binary: the components of `actions/`, built by this crate's
//! build script and embedded, so `sandpipe` runs with nothing else installed.

use sandpipe_model::{ActionTypeId, Category, Owner};

use crate::capabilities::Capability;
use crate::capabilities::exec::EXEC;
use crate::capabilities::git::GIT;
use crate::capabilities::secrets::SECRETS;

/// A built-in provider: the action type it serves and its component.
pub struct BuiltinProvider {
    pub action_type: ActionTypeId,
    pub component: &'static [u8],
    /// What sandpipe's own policy grants it beyond the sandbox.
    pub granted: &'static [Capability],
}

const S3_SOURCE: &[u8] = include_bytes!(env!("SANDPIPE_COMPONENT_S3_SOURCE"));
const S3_DEPLOY: &[u8] = include_bytes!(env!("SANDPIPE_COMPONENT_S3_DEPLOY"));
const CODEBUILD: &[u8] = include_bytes!(env!("SANDPIPE_COMPONENT_CODEBUILD"));
const GIT_SOURCE: &[u8] = include_bytes!(env!("SANDPIPE_COMPONENT_GIT_SOURCE"));

/// Every built-in provider.
pub fn builtin_providers() -> Vec<BuiltinProvider> {
    let provider = |category, owner, name: &str, component, granted| BuiltinProvider {
        action_type: ActionTypeId::new(category, owner, name, "1"),
        component,
        granted,
    };
    // A git source reads the repository the operator mapped for it, nothing else.
    let git: &'static [Capability] = &[GIT];
    // Builds run commands, so CodeBuild is granted exec (and the parameters and secrets its
    // buildspecs name); the operator chooses where the commands run.
    let build: &'static [Capability] = &[EXEC, SECRETS];
    vec![
        provider(Category::Source, Owner::AWS, "S3", S3_SOURCE, &[]),
        provider(
            Category::Source,
            Owner::AWS,
            "CodeStarSourceConnection",
            GIT_SOURCE,
            git,
        ),
        provider(
            Category::Source,
            Owner::ThirdParty,
            "GitHub",
            GIT_SOURCE,
            git,
        ),
        provider(Category::Source, Owner::AWS, "CodeCommit", GIT_SOURCE, git),
        provider(Category::Deploy, Owner::AWS, "S3", S3_DEPLOY, &[]),
        provider(Category::Build, Owner::AWS, "CodeBuild", CODEBUILD, build),
        provider(Category::Test, Owner::AWS, "CodeBuild", CODEBUILD, build),
        // V2's Commands action is a build whose buildspec its own `commands` make.
        provider(Category::Compute, Owner::AWS, "Commands", CODEBUILD, build),
    ]
}

/// Path of the test-only probe component (never built in; tests grant it explicitly).
#[doc(hidden)]
pub const PROBE_COMPONENT_PATH: &str = env!("SANDPIPE_COMPONENT_PROBE");

/// Path of the CodeBuild component, for tests that grant it under another action type.
#[doc(hidden)]
pub const CODEBUILD_COMPONENT_PATH: &str = env!("SANDPIPE_COMPONENT_CODEBUILD");

/// Path of the git source component, for tests that serve it under another action type.
#[doc(hidden)]
pub const GIT_SOURCE_COMPONENT_PATH: &str = env!("SANDPIPE_COMPONENT_GIT_SOURCE");
