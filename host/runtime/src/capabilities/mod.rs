//! Host capabilities: one module per capability, each owning its WIT imports, the grant it
//! needs (if any), its per-invocation state and its linker hook — the way wasmtime-wasi gives
//! each interface its own view and Spin each factor its own lifecycle.
//!
//! [`REGISTRY`] lists them. The import audit (which imports a component may have, and which
//! need a grant), the capability names the operator may grant and the linker all derive from
//! it, so adding a capability is one new module and one line here. WASI itself comes from
//! wasmtime-wasi, configured deny-by-default in [`crate::invoke`].

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use sandpipe_store::LocalS3;
use wasmtime::component::Linker;

use crate::action::{ActionRequest, TestReport};
use crate::capabilities::log::LogCapture;
use crate::limits::ExecutionLimits;
use crate::sandbox::Sandbox;
use crate::state::ActionState;

/// A capability module's registry entry, `MODULE`: the imports it provides, the capability
/// they need (`None`: every action's), the WIT interfaces it links to the store data, and
/// what it sets up for each call.
macro_rules! capability_module {
    ([$($import:literal),+], $requires:expr, [$($wit:ident),+], $setup:expr) => {
        pub(crate) const MODULE: $crate::capabilities::CapabilityModule =
            $crate::capabilities::CapabilityModule {
                imports: &[$($import),+],
                requires: $requires,
                link: |linker| {
                    $($wit::add_to_linker::<
                        _,
                        wasmtime::component::HasSelf<$crate::state::ActionState>,
                    >(linker, |state| state)?;)+
                    Ok(())
                },
                setup: $setup,
            };
    };
}

/// `$access` is the per-call state of `$capability`; `$error`, an interface's error type,
/// says `denied` when it is missing.
macro_rules! granted_access {
    ($access:ty, $capability:expr, $error:ty) => {
        impl $crate::capabilities::GrantedAccess for $access {
            const CAPABILITY: $crate::capabilities::Capability = $capability;
        }
        denied_as!($error);
    };
}

/// How interface error type `$error` says an action lacks a grant.
macro_rules! denied_as {
    ($error:ty) => {
        impl From<$crate::capabilities::NotGranted> for $error {
            fn from(not_granted: $crate::capabilities::NotGranted) -> Self {
                <$error>::Denied(not_granted.to_string())
            }
        }
    };
}

pub mod exec;
pub mod execution;
pub mod git;
pub mod log;
pub mod object_store;
pub mod reports;
pub mod secrets;

/// Every capability the host provides, in linking order.
pub(crate) const REGISTRY: &[&CapabilityModule] = &[
    &log::MODULE,
    &object_store::MODULE,
    &reports::MODULE,
    &execution::MODULE,
    &exec::MODULE,
    &secrets::MODULE,
    &git::MODULE,
];

/// Run a capability's blocking work (files, the object store, libgit2) off the async
/// executor; `failed` turns a task that did not finish into the interface's error.
pub(crate) async fn blocking<T: Send + 'static, E: Send + 'static>(
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
    failed: impl FnOnce(String) -> E,
) -> Result<T, E> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(failed(format!("host task failed: {e}"))))
}

/// A capability beyond the sandbox that the operator (or sandpipe's policy for its
/// built-in providers) may grant a provider; never the component itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Capability(&'static str);

impl Capability {
    pub(crate) const fn named(name: &'static str) -> Self {
        Capability(name)
    }

    pub fn name(self) -> &'static str {
        self.0
    }

    /// Every capability that can be granted.
    pub fn all() -> impl Iterator<Item = Capability> {
        REGISTRY.iter().filter_map(|module| module.requires)
    }

    /// The interfaces of the `sandpipe:action` package a component imports to use it
    /// (`exec`, `build-projects`): what a world for a plugin asking for it must import.
    pub fn interfaces(self) -> Vec<&'static str> {
        REGISTRY
            .iter()
            .filter(|module| module.requires == Some(self))
            .flat_map(|module| module.imports.iter())
            .filter_map(|import| import.strip_prefix("sandpipe:action/"))
            .map(|import| import.split('@').next().unwrap_or(import))
            .collect()
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::str::FromStr for Capability {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        Capability::all()
            .find(|capability| capability.0 == text)
            .ok_or_else(|| {
                let known: Vec<&str> = Capability::all().map(Capability::name).collect();
                format!("unknown capability '{text}' (known: {})", known.join(", "))
            })
    }
}

/// One capability: what it links, and what each invocation of an action gets from it.
pub(crate) struct CapabilityModule {
    /// Import name prefixes of its WIT interfaces (`sandpipe:action/git@0.1`).
    pub(crate) imports: &'static [&'static str],
    /// The grant a component needs to import them; `None`: every action may.
    pub(crate) requires: Option<Capability>,
    /// Adds its host functions to the linker, once per process.
    pub(crate) link: fn(&mut Linker<ActionState>) -> wasmtime::Result<()>,
    /// Puts its per-invocation state into the store's slots, once per call.
    pub(crate) setup: fn(&Setup<'_>, &mut Slots),
}

impl CapabilityModule {
    pub(crate) fn provides(&self, import: &str) -> bool {
        self.imports.iter().any(|prefix| import.starts_with(prefix))
    }
}

/// What a capability's setup can see of the invocation.
pub(crate) struct Setup<'a> {
    pub(crate) request: &'a ActionRequest,
    pub(crate) sandbox: &'a Arc<Sandbox>,
    pub(crate) log: &'a Arc<LogCapture>,
    pub(crate) deadline: Instant,
    pub(crate) limits: &'a ExecutionLimits,
    pub(crate) grants: &'a Grants,
    pub(crate) object_store: &'a Arc<LocalS3>,
    /// Test reports published during the whole execution (across continuation calls).
    pub(crate) reports: &'a Arc<Mutex<Vec<TestReport>>>,
    /// What the action may still write into its sandbox, whoever writes it.
    pub(crate) budget: &'a Arc<crate::write_budget::WriteBudget>,
}

/// What an operator's grant carries for one capability (the runner of `exec`, the values
/// of `secrets`, the repository of `git`).
pub trait Grant: Any + Send + Sync {
    const CAPABILITY: Capability;
}

/// The grants of one invocation: nothing by default.
#[derive(Clone, Default)]
pub struct Grants {
    granted: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
}

impl Grants {
    pub fn insert<G: Grant>(&mut self, grant: G) {
        self.insert_shared(Arc::new(grant));
    }

    /// Grant what several invocations share (the operator's secrets, say) without a copy.
    pub fn insert_shared<G: Grant>(&mut self, grant: Arc<G>) {
        self.granted.insert(TypeId::of::<G>(), grant);
    }

    pub fn get<G: Grant>(&self) -> Option<Arc<G>> {
        let grant = self.granted.get(&TypeId::of::<G>())?.clone();
        grant.downcast().ok()
    }
}

/// Per-invocation state of the capabilities, one value per type.
#[derive(Default)]
pub(crate) struct Slots {
    values: HashMap<TypeId, Box<dyn Any + Send>>,
}

impl Slots {
    pub(crate) fn insert<T: Any + Send>(&mut self, value: T) {
        self.values.insert(TypeId::of::<T>(), Box::new(value));
    }

    pub(crate) fn get_mut<T: Any + Send>(&mut self) -> Option<&mut T> {
        self.values.get_mut(&TypeId::of::<T>())?.downcast_mut()
    }
}

/// The per-invocation state of a capability that needs a grant.
pub(crate) trait GrantedAccess: Any + Send {
    const CAPABILITY: Capability;
}

/// The one way a host call says the action lacks a grant; each interface turns it into its
/// own `denied` error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NotGranted(pub(crate) Capability);

impl fmt::Display for NotGranted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "this action was not granted {0}; the operator grants it with --grant \
             <action type>={0}",
            self.0
        )
    }
}

impl ActionState {
    /// The state of a capability every action has.
    pub(crate) fn slot<T: Any + Send>(&mut self) -> &mut T {
        self.slots
            .get_mut()
            .expect("every action's capabilities are set up for every call")
    }

    /// The state of a granted capability, or why there is none.
    pub(crate) fn granted<T: GrantedAccess>(&mut self) -> Result<&mut T, NotGranted> {
        self.slots.get_mut().ok_or(NotGranted(T::CAPABILITY))
    }
}
