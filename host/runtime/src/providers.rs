//! Providers built into the binary: the components of `actions/`, built by this crate's
//! build script and embedded, so `sandpipe` runs with nothing else installed.

use crate::engine::Capability;

/// A built-in provider: its ActionTypeId and its component.
pub struct BuiltinProvider {
    pub category: &'static str,
    pub owner: &'static str,
    pub provider: &'static str,
    pub version: &'static str,
    pub component: &'static [u8],
    /// What sandpipe's own policy grants it beyond the sandbox.
    pub granted: &'static [Capability],
}

const CODEBUILD: &[u8] = include_bytes!(env!("SANDPIPE_COMPONENT_CODEBUILD"));
const GIT_SOURCE: &[u8] = include_bytes!(env!("SANDPIPE_COMPONENT_GIT_SOURCE"));

/// A git source provider: it reads the repository the operator mapped for it, nothing else.
const fn git_source(owner: &'static str, provider: &'static str) -> BuiltinProvider {
    BuiltinProvider {
        category: "Source",
        owner,
        provider,
        version: "1",
        component: GIT_SOURCE,
        granted: &[Capability::Git],
    }
}

pub const BUILTIN_PROVIDERS: &[BuiltinProvider] = &[
    BuiltinProvider {
        category: "Source",
        owner: "AWS",
        provider: "S3",
        version: "1",
        component: include_bytes!(env!("SANDPIPE_COMPONENT_S3_SOURCE")),
        granted: &[],
    },
    git_source("AWS", "CodeStarSourceConnection"),
    git_source("ThirdParty", "GitHub"),
    git_source("AWS", "CodeCommit"),
    BuiltinProvider {
        category: "Deploy",
        owner: "AWS",
        provider: "S3",
        version: "1",
        component: include_bytes!(env!("SANDPIPE_COMPONENT_S3_DEPLOY")),
        granted: &[],
    },
    // Builds run commands, so CodeBuild is granted exec (and the parameters and secrets its
    // buildspecs name); the operator chooses where the commands run.
    BuiltinProvider {
        category: "Build",
        owner: "AWS",
        provider: "CodeBuild",
        version: "1",
        component: CODEBUILD,
        granted: &[Capability::Exec, Capability::Secrets],
    },
    BuiltinProvider {
        category: "Test",
        owner: "AWS",
        provider: "CodeBuild",
        version: "1",
        component: CODEBUILD,
        granted: &[Capability::Exec, Capability::Secrets],
    },
];

pub fn builtin(
    category: &str,
    owner: &str,
    provider: &str,
    version: &str,
) -> Option<&'static BuiltinProvider> {
    BUILTIN_PROVIDERS.iter().find(|p| {
        p.category == category && p.owner == owner && p.provider == provider && p.version == version
    })
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
