//! The wasm host of the process: one wasmtime engine, linker and compiled-component cache
//! shared by every execution, and the audit that refuses a component's imports before it
//! can run.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine};

use crate::bindings::ProviderPre;
use crate::cache::{CacheOutcome, ComponentCache};
use crate::capabilities::{Capability, REGISTRY};
use crate::component_file::MAX_COMPONENT_BYTES;
use crate::state::ActionState;

/// How often the epoch advances; deadlines are checked at this granularity.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// What a component may import besides the capabilities: the package's type-only interface
/// and the WASI p2 interfaces Rust's standard library uses. Sockets are linked but the WASI
/// context denies every use.
const BASE_IMPORTS: &[&str] = &[
    "sandpipe:action/types@0.1",
    "wasi:cli/",
    "wasi:clocks/",
    "wasi:filesystem/",
    "wasi:io/",
    "wasi:random/",
    "wasi:sockets/",
];

/// What a component importing an interface needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportNeeds {
    /// Every action may import it.
    Nothing,
    /// The operator must grant this capability.
    Grant(Capability),
    /// No action may import it.
    Refused,
}

/// What importing `name` needs.
pub fn import_needs(name: &str) -> ImportNeeds {
    if BASE_IMPORTS.iter().any(|prefix| name.starts_with(prefix)) {
        return ImportNeeds::Nothing;
    }
    match REGISTRY.iter().find(|module| module.provides(name)) {
        None => ImportNeeds::Refused,
        Some(module) => module
            .requires
            .map_or(ImportNeeds::Nothing, ImportNeeds::Grant),
    }
}

/// What a provider is allowed beyond the sandbox. Comes from the operator (or sandpipe's
/// own policy for its built-in providers), never from the component.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderPolicy {
    pub granted: std::collections::BTreeSet<Capability>,
}

impl ProviderPolicy {
    pub fn allows(&self, capability: Capability) -> bool {
        self.granted.contains(&capability)
    }
}

/// One compiled, type-checked provider component, ready to instantiate.
#[derive(Clone)]
pub struct LoadedComponent {
    pub(crate) pre: ProviderPre<ActionState>,
    /// SHA-256 of the component without its manifest section (the compile cache's key).
    pub digest: [u8; 32],
    pub cache: CacheOutcome,
    /// The granted-only interfaces it imports.
    pub granted_imports: Vec<String>,
}

/// The engine, linker and component caches of this process.
pub struct ActionHost {
    pub(crate) engine: Engine,
    linker: Linker<ActionState>,
    cache: ComponentCache,
    loaded: Mutex<HashMap<[u8; 32], LoadedComponent>>,
}

impl ActionHost {
    /// Build the engine. `cache_dir` holds compiled components across runs (`None`: none).
    pub fn new(cache_dir: Option<std::path::PathBuf>) -> anyhow::Result<Arc<Self>> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        // GC, threads, stack switching and component-model async are not compiled in at all
        // (wasmtime is built without those features): less attack surface.
        config.cranelift_opt_level(wasmtime::OptLevel::Speed);
        let engine = Engine::new(&config)?;

        let mut linker = Linker::<ActionState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        crate::write_budget::filesystem::add_to_linker(&mut linker)?;
        crate::bindings::sandpipe::action::types::add_to_linker::<
            _,
            wasmtime::component::HasSelf<ActionState>,
        >(&mut linker, |state| state)?;
        for capability in REGISTRY {
            (capability.link)(&mut linker)?;
        }

        spawn_epoch_ticker(&engine);
        Ok(Arc::new(ActionHost {
            engine,
            linker,
            cache: ComponentCache::new(cache_dir),
            loaded: Mutex::new(HashMap::new()),
        }))
    }

    /// Compile (or load from cache) and type-check a component. Imports outside the action
    /// world are refused here, before anything runs.
    pub async fn load(self: &Arc<Self>, wasm: Arc<[u8]>) -> anyhow::Result<LoadedComponent> {
        self.load_with_policy(wasm, &ProviderPolicy::default())
            .await
    }

    /// [`Self::load`] for a provider with `policy`: a component importing an interface the
    /// policy does not grant is refused before it can run.
    pub async fn load_with_policy(
        self: &Arc<Self>,
        wasm: Arc<[u8]>,
        policy: &ProviderPolicy,
    ) -> anyhow::Result<LoadedComponent> {
        // Checked again here because the component may come from the in-memory cache,
        // loaded earlier under another policy.
        let loaded = self.compile(wasm, policy.clone()).await?;
        check_policy(&loaded.granted_imports, policy)?;
        Ok(loaded)
    }

    /// Compile `wasm` into the on-disk cache now (`sandpipe action install`), so its first
    /// run loads it: an 18 MB Python component takes seconds to compile. It is linked and
    /// its imports audited as for a run; what it may use is decided when it runs.
    pub async fn precompile(self: &Arc<Self>, wasm: Arc<[u8]>) -> anyhow::Result<CacheOutcome> {
        let everything = ProviderPolicy {
            granted: Capability::all().collect(),
        };
        Ok(self.compile(wasm, everything).await?.cache)
    }

    async fn compile(
        self: &Arc<Self>,
        wasm: Arc<[u8]>,
        policy: ProviderPolicy,
    ) -> anyhow::Result<LoadedComponent> {
        if wasm.len() > MAX_COMPONENT_BYTES {
            bail!(
                "the component is {} bytes; the limit is {MAX_COMPONENT_BYTES}",
                wasm.len()
            );
        }
        // Compiled code does not depend on the embedded manifest: a plugin rebuilt with only
        // its manifest changed keeps its cache entry.
        let digest = crate::component_file::code_digest(&wasm);
        if let Some(loaded) = self.loaded.lock().unwrap().get(&digest) {
            return Ok(loaded.clone());
        }
        let this = self.clone();
        let loaded = tokio::task::spawn_blocking(move || -> anyhow::Result<LoadedComponent> {
            let (component, cache) = this.cache.load_or_compile(&this.engine, &wasm, &digest)?;
            let granted_imports = this.audit_imports(&component)?;
            check_policy(&granted_imports, &policy)?;
            let instance_pre = this
                .linker
                .instantiate_pre(&component)
                .map_err(anyhow::Error::from)
                .context("linking the component")?;
            let pre = ProviderPre::new(instance_pre)
                .map_err(anyhow::Error::from)
                .context("the component does not export sandpipe:action/runner@0.1")?;
            Ok(LoadedComponent {
                pre,
                digest,
                cache,
                granted_imports,
            })
        })
        .await??;
        self.loaded.lock().unwrap().insert(digest, loaded.clone());
        Ok(loaded)
    }

    /// Refuse imports outside the action package; return those that need a grant.
    fn audit_imports(&self, component: &Component) -> anyhow::Result<Vec<String>> {
        let ty = component.component_type();
        let mut granted = Vec::new();
        for (name, item) in ty.imports(&self.engine) {
            let instance = matches!(item.ty, ComponentItem::ComponentInstance(_));
            match import_needs(name) {
                ImportNeeds::Nothing if instance => {}
                ImportNeeds::Grant(_) if instance => granted.push(name.to_string()),
                _ => bail!(
                    "the component imports '{name}', which sandpipe does not grant to actions"
                ),
            }
        }
        Ok(granted)
    }
}

/// Refuse a component whose imports need capabilities `policy` does not grant.
fn check_policy(granted_imports: &[String], policy: &ProviderPolicy) -> anyhow::Result<()> {
    let mut refused = Vec::new();
    let mut needed = std::collections::BTreeSet::new();
    for import in granted_imports {
        let ImportNeeds::Grant(capability) = import_needs(import) else {
            unreachable!("the audit kept only imports that need a grant")
        };
        if !policy.allows(capability) {
            refused.push(format!("'{import}'"));
            needed.insert(capability.name());
        }
    }
    if !refused.is_empty() {
        let needed: Vec<&str> = needed.into_iter().collect();
        let (needs, capability, it) = if needed.len() == 1 {
            ("needs", "capability", "it")
        } else {
            ("need", "capabilities", "them")
        };
        bail!(
            "the component imports {}, which {needs} the '{}' {capability}, and the \
             operator has not granted {it} (grant with --grant <action type>={})",
            refused.join(", "),
            needed.join("' and '"),
            needed.join(",")
        );
    }
    Ok(())
}

/// Advance the engine's epoch every tick for as long as the engine lives.
fn spawn_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("sandpipe-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawning the epoch thread");
}
