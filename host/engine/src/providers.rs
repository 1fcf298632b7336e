//! Which component runs which action type: the built-in providers, plus components the
//! operator grants explicitly (`--provider Build/Custom/MyTool/1=my_tool.wasm`). A pipeline
//! can name an action type; only the operator can make a component serve it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use sandpipe_model::ActionTypeId;
use sandpipe_runtime::providers::BUILTIN_PROVIDERS;
use sandpipe_runtime::{Capability, ProviderPolicy};

/// A component and what it may do beyond the sandbox.
struct Provider {
    wasm: Arc<[u8]>,
    policy: ProviderPolicy,
}

pub struct ProviderRegistry {
    components: BTreeMap<String, Provider>,
}

impl ProviderRegistry {
    /// The providers built into sandpipe.
    pub fn builtin() -> Self {
        let components = BUILTIN_PROVIDERS
            .iter()
            .map(|p| {
                let id = format!("{}/{}/{}/{}", p.category, p.owner, p.provider, p.version);
                let policy = ProviderPolicy {
                    granted: p.granted.iter().copied().collect(),
                };
                (
                    id,
                    Provider {
                        wasm: Arc::from(p.component),
                        policy,
                    },
                )
            })
            .collect();
        ProviderRegistry { components }
    }

    /// Serve `action_type` with the component at `path` (replacing a built-in one, and what
    /// sandpipe's policy granted that one: an operator's component gets only what
    /// [`Self::allow`] grants it).
    pub fn grant(&mut self, action_type: &ActionTypeId, path: &Path) -> anyhow::Result<()> {
        let wasm = std::fs::read(path).with_context(|| {
            format!(
                "reading the component for {action_type} at {}",
                path.display()
            )
        })?;
        self.components.insert(
            action_type.to_string(),
            Provider {
                wasm: wasm.into(),
                policy: ProviderPolicy::default(),
            },
        );
        Ok(())
    }

    /// Grant the provider of `action_type` `capabilities` (the operator's `--grant`).
    pub fn allow(
        &mut self,
        action_type: &ActionTypeId,
        capabilities: &[Capability],
    ) -> anyhow::Result<()> {
        let Some(provider) = self.components.get_mut(&action_type.to_string()) else {
            bail!(
                "--grant {action_type}: no provider serves this action type (give one with \
                 --provider {action_type}=<file.wasm>)"
            );
        };
        provider.policy.granted.extend(capabilities.iter().copied());
        Ok(())
    }

    pub fn component(&self, action_type: &ActionTypeId) -> Option<Arc<[u8]>> {
        self.components
            .get(&action_type.to_string())
            .map(|p| p.wasm.clone())
    }

    /// What the provider of `action_type` may do beyond the sandbox.
    pub fn policy(&self, action_type: &ActionTypeId) -> ProviderPolicy {
        self.components
            .get(&action_type.to_string())
            .map(|p| p.policy.clone())
            .unwrap_or_default()
    }

    /// Every action type that has a component, sorted.
    pub fn action_types(&self) -> impl Iterator<Item = &str> {
        self.components.keys().map(String::as_str)
    }
}
