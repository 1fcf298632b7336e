//! Providers built into the binary: the components of `actions/`, built by this crate's
//! build script and embedded, so `sandpipe` runs with nothing else installed.

/// A built-in provider: its ActionTypeId and its component.
pub struct BuiltinProvider {
    pub category: &'static str,
    pub owner: &'static str,
    pub provider: &'static str,
    pub version: &'static str,
    pub component: &'static [u8],
}

pub const BUILTIN_PROVIDERS: &[BuiltinProvider] = &[
    BuiltinProvider {
        category: "Source",
        owner: "AWS",
        provider: "S3",
        version: "1",
        component: include_bytes!(env!("SANDPIPE_COMPONENT_S3_SOURCE")),
    },
    BuiltinProvider {
        category: "Deploy",
        owner: "AWS",
        provider: "S3",
        version: "1",
        component: include_bytes!(env!("SANDPIPE_COMPONENT_S3_DEPLOY")),
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
