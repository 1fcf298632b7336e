//! Which component runs which action type: the built-in providers, plus components the
//! operator registers explicitly (`--provider Build/Custom/MyTool/1=my_tool.wasm`). A
//! pipeline can name an action type; only the operator can make a component serve it, and
//! only the operator grants it capabilities.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use sandpipe_model::ActionTypeId;
use sandpipe_runtime::providers::builtin_providers;
use sandpipe_runtime::{Capability, ProviderPolicy};

/// A component and what it may do beyond the sandbox.
struct Provider {
    wasm: Wasm,
    policy: ProviderPolicy,
}

/// A component's bytes: built into the binary (copied only when an execution uses it), or
/// read from the operator's file.
enum Wasm {
    Embedded(&'static [u8]),
    Read(Arc<[u8]>),
}

pub struct ProviderRegistry {
    components: BTreeMap<ActionTypeId, Provider>,
}

impl ProviderRegistry {
    /// The providers built into sandpipe.
    pub fn builtin() -> Self {
        let components = builtin_providers()
            .into_iter()
            .map(|p| {
                let policy = ProviderPolicy {
                    granted: p.granted.iter().copied().collect(),
                };
                let wasm = Wasm::Embedded(p.component);
                (p.action_type, Provider { wasm, policy })
            })
            .collect();
        ProviderRegistry { components }
    }

    /// Serve `action_type` with the component at `path`, replacing a built-in one and what
    /// sandpipe's policy granted that one: an operator's component gets only what
    /// [`Self::grant`] gives it.
    pub fn register(&mut self, action_type: &ActionTypeId, path: &Path) -> anyhow::Result<()> {
        let wasm = std::fs::read(path).with_context(|| {
            format!(
                "reading the component for {action_type} at {}",
                path.display()
            )
        })?;
        self.components.insert(
            action_type.clone(),
            Provider {
                wasm: Wasm::Read(wasm.into()),
                policy: ProviderPolicy::default(),
            },
        );
        Ok(())
    }

    /// Grant the provider of `action_type` `capabilities` (the operator's `--grant`).
    pub fn grant(
        &mut self,
        action_type: &ActionTypeId,
        capabilities: &[Capability],
    ) -> anyhow::Result<()> {
        let Some(provider) = self.components.get_mut(action_type) else {
            bail!(
                "--grant {action_type}: no provider serves this action type (give one with \
                 --provider {action_type}=<file.wasm>)"
            );
        };
        provider.policy.granted.extend(capabilities.iter().copied());
        Ok(())
    }

    pub fn component(&self, action_type: &ActionTypeId) -> Option<Arc<[u8]>> {
        self.components.get(action_type).map(|p| match &p.wasm {
            Wasm::Embedded(bytes) => Arc::from(*bytes),
            Wasm::Read(bytes) => bytes.clone(),
        })
    }

    /// Whether a component serves `action_type` (without touching its bytes).
    pub fn serves(&self, action_type: &ActionTypeId) -> bool {
        self.components.contains_key(action_type)
    }

    /// What the provider of `action_type` may do beyond the sandbox.
    pub fn policy(&self, action_type: &ActionTypeId) -> ProviderPolicy {
        self.components
            .get(action_type)
            .map(|p| p.policy.clone())
            .unwrap_or_default()
    }

    /// Every action type that has a component, sorted.
    pub fn action_types(&self) -> impl Iterator<Item = &ActionTypeId> {
        self.components.keys()
    }
}
