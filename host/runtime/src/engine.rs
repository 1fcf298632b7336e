//! The wasmtime engine shared by every execution in the process, and loading components.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine};

use crate::bindings::{Action, ActionPre};
use crate::cache::{CacheOutcome, ComponentCache};
use crate::state::ActionState;

/// How often the epoch advances; deadlines are checked at this granularity.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The largest component the host will compile (untrusted input; compiling is costly).
const MAX_COMPONENT_BYTES: usize = 64 << 20;

/// Interfaces a component may import: its own world and the WASI p2 interfaces Rust's
/// standard library uses. Sockets are linked but the WASI context denies every use.
const ALLOWED_IMPORT_PACKAGES: &[&str] = &[
    "sandpipe:action/log@0.1",
    "sandpipe:action/object-store@0.1",
    "sandpipe:action/reports@0.1",
    "sandpipe:action/types@0.1",
    "sandpipe:action/execution@0.1",
    "sandpipe:action/git@0.1",
    "sandpipe:action/exec@0.1",
    "sandpipe:action/build-projects@0.1",
    "sandpipe:action/secrets@0.1",
    "wasi:cli/",
    "wasi:clocks/",
    "wasi:filesystem/",
    "wasi:io/",
    "wasi:random/",
    "wasi:sockets/",
];

/// Imports a component may have only when the operator's policy grants them, and the
/// capability that grants each.
const GRANTED_IMPORTS: &[(&str, Capability)] = &[
    ("sandpipe:action/exec@0.1", Capability::Exec),
    ("sandpipe:action/build-projects@0.1", Capability::Exec),
    ("sandpipe:action/secrets@0.1", Capability::Secrets),
    ("sandpipe:action/git@0.1", Capability::Git),
];

/// A capability beyond the sandbox that a provider may be granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Capability {
    /// Run commands outside the wasm sandbox (the `exec` and `build-projects` imports).
    Exec,
    /// Read the operator's parameters and secrets (the `secrets` import).
    Secrets,
    /// Read the repository the operator mapped for the action (the `git` import).
    Git,
}

impl Capability {
    pub fn name(self) -> &'static str {
        match self {
            Capability::Exec => "exec",
            Capability::Secrets => "secrets",
            Capability::Git => "git",
        }
    }
}

impl std::str::FromStr for Capability {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "exec" => Ok(Capability::Exec),
            "secrets" => Ok(Capability::Secrets),
            "git" => Ok(Capability::Git),
            other => Err(format!(
                "unknown capability '{other}' (known: exec, secrets, git)"
            )),
        }
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
    pub(crate) pre: ActionPre<ActionState>,
    pub digest: [u8; 32],
    pub cache: CacheOutcome,
    /// The granted-only interfaces it imports.
    pub granted_imports: Vec<String>,
}

/// The engine, linker and component caches of this process.
pub struct ActionEngine {
    pub(crate) engine: Engine,
    linker: Linker<ActionState>,
    cache: ComponentCache,
    loaded: Mutex<HashMap<[u8; 32], LoadedComponent>>,
}

impl ActionEngine {
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
        Action::add_to_linker::<_, wasmtime::component::HasSelf<ActionState>>(&mut linker, |s| s)?;

        spawn_epoch_ticker(&engine);
        Ok(Arc::new(ActionEngine {
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
        let digest: [u8; 32] = Sha256::digest(&wasm).into();
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
            let pre = ActionPre::new(instance_pre)
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

    /// Refuse imports outside the action world; return those that need a grant.
    fn audit_imports(&self, component: &Component) -> anyhow::Result<Vec<String>> {
        let ty = component.component_type();
        let mut granted = Vec::new();
        for (name, item) in ty.imports(&self.engine) {
            let allowed = matches!(item.ty, ComponentItem::ComponentInstance(_))
                && ALLOWED_IMPORT_PACKAGES
                    .iter()
                    .any(|prefix| name.starts_with(prefix));
            if !allowed {
                bail!("the component imports '{name}', which sandpipe does not grant to actions");
            }
            if GRANTED_IMPORTS
                .iter()
                .any(|(prefix, _)| name.starts_with(prefix))
            {
                granted.push(name.to_string());
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
        let (_, capability) = GRANTED_IMPORTS
            .iter()
            .find(|(prefix, _)| import.starts_with(prefix))
            .expect("granted imports are listed");
        if !policy.allows(*capability) {
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
