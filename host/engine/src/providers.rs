//! Which component runs which action type: the built-in providers, plus components the
//! operator grants explicitly (`--provider Build/Custom/MyTool/1=my_tool.wasm`). A pipeline
//! can name an action type; only the operator can make a component serve it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use sandpipe_model::ActionTypeId;
use sandpipe_runtime::providers::BUILTIN_PROVIDERS;

pub struct ProviderRegistry {
    components: BTreeMap<String, Arc<[u8]>>,
}

impl ProviderRegistry {
    /// The providers built into sandpipe.
    pub fn builtin() -> Self {
        let components = BUILTIN_PROVIDERS
            .iter()
            .map(|p| {
                let id = format!("{}/{}/{}/{}", p.category, p.owner, p.provider, p.version);
                (id, Arc::from(p.component))
            })
            .collect();
        ProviderRegistry { components }
    }

    /// Serve `action_type` with the component at `path` (replacing a built-in one).
    pub fn grant(&mut self, action_type: &ActionTypeId, path: &Path) -> anyhow::Result<()> {
        let wasm = std::fs::read(path).with_context(|| {
            format!(
                "reading the component for {action_type} at {}",
                path.display()
            )
        })?;
        self.components.insert(action_type.to_string(), wasm.into());
        Ok(())
    }

    pub fn component(&self, action_type: &ActionTypeId) -> Option<Arc<[u8]>> {
        self.components.get(&action_type.to_string()).cloned()
    }

    /// Every action type that has a component, sorted.
    pub fn action_types(&self) -> impl Iterator<Item = &str> {
        self.components.keys().map(String::as_str)
    }
}
