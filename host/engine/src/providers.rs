//! Which component runs which action type, and what it may do beyond the sandbox.
//!
//! Providers come from three places, later ones taking a type from earlier ones: the
//! built-in providers, installed plugins (see [`crate::plugins`]), and the operator's
//! `--provider TYPE=FILE`. A pipeline can name an action type; only the operator can make a
//! component serve it, and only the operator grants it capabilities.
//!
//! What a provider may do: a built-in gets what sandpipe's own policy gives it; any other
//! component gets what the operator allows (the policy file, `--grant`) — and a plugin, whose
//! manifest says what it asks for, only the capabilities it asks for that are also allowed,
//! never one it did not ask for. Asking for more than is allowed refuses the run before
//! anything starts, with the policy line that would allow it.
//!
//! What was decided from a plugin's file (what it asks for, its secret properties, the
//! allowances of its digest) holds only for that file: the bytes a run loads are checked
//! against it, so a file replaced after the registry was built never runs on the old one's
//! decisions.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use sandpipe_model::ActionTypeId;
use sandpipe_model::action_definition::ActionDefinition;
use sandpipe_model::plugin::PluginManifest;
use sandpipe_model::plugin_policy::{Policy, allow_line};
use sandpipe_runtime::component_file::read_component_file;
use sandpipe_runtime::providers::builtin_providers;
use sandpipe_runtime::{Capability, ProviderPolicy};

use crate::plugins::{Discovered, Plugin, digest_of, file_digest, known_capabilities};

/// Where a provider comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    BuiltIn,
    /// An installed plugin.
    Plugin {
        name: String,
        version: String,
        path: PathBuf,
    },
    /// The operator's `--provider TYPE=FILE`.
    Operator(PathBuf),
}

impl Origin {
    /// The component's file, unless it is built in.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Origin::BuiltIn => None,
            Origin::Plugin { path, .. } | Origin::Operator(path) => Some(path),
        }
    }

    /// How messages name it.
    pub fn describe(&self) -> String {
        match self {
            Origin::BuiltIn => "sandpipe's built-in provider".into(),
            Origin::Plugin {
                name,
                version,
                path,
            } => format!("the plugin {name} {version} ({})", path.display()),
            Origin::Operator(path) => format!("the component {}", path.display()),
        }
    }
}

/// A component and what it may do beyond the sandbox.
struct Provider {
    wasm: Wasm,
    origin: Origin,
    /// Its manifest, when it has one: what it asks for, what its type takes.
    manifest: Option<PluginManifest>,
    /// What its manifest asks for; None (a built-in, a component without a manifest): it
    /// gets what it is allowed.
    asked: Option<BTreeSet<Capability>>,
    /// What sandpipe's own policy (built-ins) or the operator allows it.
    allowed: BTreeSet<Capability>,
    definition: Option<ActionDefinition>,
    /// The SHA-256 the operator's policy pins this type's file to.
    pin: Option<String>,
    /// The SHA-256 its policy allowances were looked up by (a policy naming digests).
    looked_up_by: Option<String>,
}

/// A component's bytes: built into the binary (copied only when an execution uses it), read
/// from the operator's file, or a plugin's file, read when a run uses it.
enum Wasm {
    Embedded(&'static [u8]),
    Read(Arc<[u8]>),
    File(PathBuf),
}

#[derive(Default)]
pub struct ProviderRegistry {
    components: BTreeMap<ActionTypeId, Provider>,
    /// Action types two plugin files claim, with why none serves them.
    conflicts: BTreeMap<ActionTypeId, String>,
    /// Plugin files that could not be read, and why.
    unreadable: Vec<String>,
    /// The policy file the operator's allowances came from, as refusals name it.
    policy_file: String,
}

impl ProviderRegistry {
    /// The providers built into sandpipe.
    pub fn builtin() -> Self {
        let components = builtin_providers()
            .into_iter()
            .map(|p| {
                let mut provider =
                    from_manifest(Wasm::Embedded(p.component), Origin::BuiltIn, None);
                provider.allowed = p.granted.iter().copied().collect();
                (p.action_type, provider)
            })
            .collect();
        ProviderRegistry {
            components,
            ..ProviderRegistry::default()
        }
    }

    /// Serve the action types the discovered plugins serve with them; note the types two
    /// files claim, and the files that are not plugins.
    pub fn install_plugins(&mut self, found: &Discovered) {
        for (id, &index) in &found.serving {
            let plugin = &found.plugins[index];
            let wasm = Wasm::File(plugin.path.clone());
            let provider = from_manifest(wasm, plugin.origin(), Some(&plugin.manifest));
            self.components.insert(id.clone(), provider);
        }
        for (id, paths) in &found.conflicts {
            let paths: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
            self.conflicts.insert(
                id.clone(),
                format!(
                    "two plugins claim {id}: {}; remove one, or say which serves it with \
                     --provider {id}=<file.wasm>",
                    paths.join(" and ")
                ),
            );
        }
        self.unreadable.extend(
            found
                .unreadable
                .iter()
                .map(|(path, why)| format!("{}: {why}", path.display())),
        );
    }

    /// The plugin files that could not be read, each with why.
    pub fn unreadable_plugins(&self) -> &[String] {
        &self.unreadable
    }

    /// Serve `action_type` with the component at `path` (the operator's `--provider`),
    /// replacing a plugin or built-in one and what was allowed that one. A manifest in it
    /// is honoured as a plugin's is.
    pub fn register(&mut self, action_type: &ActionTypeId, path: &Path) -> anyhow::Result<()> {
        let wasm = read_component_file(path)
            .with_context(|| format!("the component for {action_type}"))?;
        let summary = sandpipe_runtime::component_file::summarize(&wasm)
            .with_context(|| format!("--provider {action_type}={}", path.display()))?;
        let manifest = summary
            .manifest
            .map(|json| {
                PluginManifest::from_embedded(
                    &path.display().to_string(),
                    &json,
                    &known_capabilities(),
                )
            })
            .transpose()?;
        let origin = Origin::Operator(path.to_path_buf());
        let provider = from_manifest(Wasm::Read(wasm.into()), origin, manifest.as_ref());
        self.components.insert(action_type.clone(), provider);
        // The operator settles which file serves a type two plugins claim.
        self.conflicts.remove(action_type);
        Ok(())
    }

    /// What the operator's policy file allows and pins. A digest is computed only for a
    /// policy that names digests, once per file.
    pub fn apply_policy(&mut self, policy: &Policy) -> anyhow::Result<()> {
        self.policy_file = policy.file.clone();
        let mut digests: BTreeMap<PathBuf, String> = BTreeMap::new();
        for (id, provider) in &mut self.components {
            let digest = match &provider.wasm {
                _ if !policy.names_digests() => None,
                Wasm::Embedded(bytes) => Some(digest_of(bytes)),
                Wasm::Read(bytes) => Some(digest_of(bytes)),
                Wasm::File(path) => Some(match digests.get(path) {
                    Some(digest) => digest.clone(),
                    None => {
                        let digest = file_digest(path)?;
                        digests.insert(path.clone(), digest.clone());
                        digest
                    }
                }),
            };
            for name in policy.allowed(id, digest.as_deref()) {
                let capability: Capability = name.parse().map_err(anyhow::Error::msg)?;
                provider.allowed.insert(capability);
            }
            provider.pin = policy.pin(id).map(str::to_string);
            provider.looked_up_by = digest;
        }
        Ok(())
    }

    /// Allow the provider of `action_type` `capabilities` (the operator's `--grant`).
    pub fn grant(
        &mut self,
        action_type: &ActionTypeId,
        capabilities: &[Capability],
    ) -> anyhow::Result<()> {
        let Some(provider) = self.components.get_mut(action_type) else {
            bail!(
                "--grant {action_type}: no provider serves this action type (install a plugin \
                 serving it with `sandpipe action install`, or give one with --provider \
                 {action_type}=<file.wasm>)"
            );
        };
        provider.allowed.extend(capabilities.iter().copied());
        Ok(())
    }

    /// The component of `action_type`, read now if it is a file — and still the file the
    /// registry's decisions were made from: its manifest the same, its digest the one its
    /// allowances were looked up by and the one the policy pins.
    pub fn component(&self, action_type: &ActionTypeId) -> anyhow::Result<Arc<[u8]>> {
        if let Some(conflict) = self.conflicts.get(action_type) {
            bail!("{conflict}");
        }
        let Some(provider) = self.components.get(action_type) else {
            bail!("no provider serves {action_type}");
        };
        let bytes: Arc<[u8]> = match &provider.wasm {
            Wasm::Embedded(bytes) => Arc::from(*bytes),
            Wasm::Read(bytes) => bytes.clone(),
            Wasm::File(path) => read_component_file(path)?.into(),
        };
        let changed = || {
            format!(
                "{} changed after sandpipe read it; start again so that what it asks for and \
                 is allowed is decided from the file as it is now",
                provider.origin.describe()
            )
        };
        if let (Wasm::File(path), Some(manifest)) = (&provider.wasm, &provider.manifest)
            && Plugin::from_component(path, &bytes)
                .ok()
                .map(|p| p.manifest)
                .as_ref()
                != Some(manifest)
        {
            bail!(changed());
        }
        if provider.pin.is_some() || provider.looked_up_by.is_some() {
            let digest = digest_of(&bytes);
            if let Some(pin) = &provider.pin
                && &digest != pin
            {
                bail!(self.pin_broken(action_type, provider, &digest));
            }
            if provider.looked_up_by.as_ref().is_some_and(|d| d != &digest) {
                bail!(changed());
            }
        }
        Ok(bytes)
    }

    /// Why the provider of `action_type` may not run, if it may not: two plugins claim its
    /// type, its manifest asks for capabilities the operator has not allowed, or it is not
    /// the file the policy pins.
    pub fn refusal(&self, action_type: &ActionTypeId) -> Option<String> {
        if let Some(conflict) = self.conflicts.get(action_type) {
            return Some(conflict.clone());
        }
        let provider = self.components.get(action_type)?;
        if let Some(asked) = &provider.asked {
            let missing: Vec<&str> = asked
                .difference(&provider.allowed)
                .map(|c| c.name())
                .collect();
            if !missing.is_empty() {
                let what = missing.join(" and ");
                let file = if self.policy_file.is_empty() {
                    "sandpipe-policy.yaml (beside the pipeline, in the state directory, or \
                     --policy FILE)"
                        .to_string()
                } else {
                    self.policy_file.clone()
                };
                return Some(format!(
                    "{} asks for {what}, which the operator has not allowed; to allow it, add \
                     under `actions:` in {file}:\n{}\nor run with --grant {action_type}={}",
                    provider.origin.describe(),
                    allow_line(action_type, &missing),
                    missing.join(",")
                ));
            }
        }
        let pin = provider.pin.as_ref()?;
        let digest = match &provider.wasm {
            Wasm::Embedded(bytes) => digest_of(bytes),
            Wasm::Read(bytes) => digest_of(bytes),
            Wasm::File(path) => match file_digest(path) {
                Ok(digest) => digest,
                Err(error) => return Some(format!("{error:#}")),
            },
        };
        (&digest != pin).then(|| self.pin_broken(action_type, provider, &digest))
    }

    fn pin_broken(&self, action_type: &ActionTypeId, provider: &Provider, digest: &str) -> String {
        format!(
            "the policy ({}) pins {action_type} to sha256 {}, but {} has sha256 {digest}: \
             install the pinned file, or pin the new one",
            self.policy_file,
            provider.pin.as_deref().unwrap_or_default(),
            provider.origin.describe(),
        )
    }

    /// Whether a component serves `action_type` (without touching its bytes) — or two
    /// plugins claim it, which a run using it is refused for.
    pub fn serves(&self, action_type: &ActionTypeId) -> bool {
        self.components.contains_key(action_type) || self.conflicts.contains_key(action_type)
    }

    /// What the provider of `action_type` may do beyond the sandbox: what it is allowed, and
    /// for a plugin only what its manifest also asks for.
    pub fn policy(&self, action_type: &ActionTypeId) -> ProviderPolicy {
        let granted = self
            .components
            .get(action_type)
            .map(|p| match &p.asked {
                Some(asked) => asked.intersection(&p.allowed).copied().collect(),
                None => p.allowed.clone(),
            })
            .unwrap_or_default();
        ProviderPolicy { granted }
    }

    /// What `action_type` takes, when its provider's manifest says.
    pub fn definition(&self, action_type: &ActionTypeId) -> Option<&ActionDefinition> {
        self.components.get(action_type)?.definition.as_ref()
    }

    /// Where the provider of `action_type` comes from.
    pub fn origin(&self, action_type: &ActionTypeId) -> Option<&Origin> {
        self.components.get(action_type).map(|p| &p.origin)
    }

    /// The configuration properties of `action_type` its provider's manifest declares
    /// secret: given to the provider, masked in every record and log. (CodePipeline's own
    /// secret properties are `sandpipe_model::validate::secret_properties`.)
    pub fn declared_secret_properties(&self, action_type: &ActionTypeId) -> Vec<String> {
        self.definition(action_type)
            .map(|d| d.secret_properties().map(str::to_string).collect())
            .unwrap_or_default()
    }

    /// Every action type that has a component, sorted.
    pub fn action_types(&self) -> impl Iterator<Item = &ActionTypeId> {
        self.components.keys()
    }
}

fn from_manifest(wasm: Wasm, origin: Origin, manifest: Option<&PluginManifest>) -> Provider {
    Provider {
        wasm,
        origin,
        manifest: manifest.cloned(),
        // The manifest was checked when read: every capability in it is known.
        asked: manifest.map(|m| {
            m.capabilities
                .iter()
                .filter_map(|c| c.parse().ok())
                .collect()
        }),
        allowed: BTreeSet::new(),
        definition: manifest.map(PluginManifest::definition),
        pin: None,
        looked_up_by: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::discover;

    const COMPONENT: &str = r#"(component (core module (func (export "f"))))"#;

    /// A component file whose manifest serves `Build/Custom/<provider>/1`, asking for
    /// `capabilities`.
    fn plugin(path: &Path, name: &str, provider: &str, capabilities: &str) {
        let manifest = format!(
            r#"{{"name": "{name}", "version": "1", "actionTypes": ["Build/Custom/{provider}/1"],
                "inputArtifactDetails": {{"minimumCount": 0, "maximumCount": 1}},
                "outputArtifactDetails": {{"minimumCount": 0, "maximumCount": 1}},
                "capabilities": {capabilities}}}"#
        );
        let component = wat::parse_str(COMPONENT).unwrap();
        let bytes =
            sandpipe_runtime::component_file::with_manifest(&component, manifest.as_bytes())
                .unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    fn id(provider: &str) -> ActionTypeId {
        format!("Build/Custom/{provider}/1").parse().unwrap()
    }

    #[test]
    fn a_plugin_file_replaced_after_it_was_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.wasm");
        plugin(&path, "x", "X", "[]");
        let mut registry = ProviderRegistry::builtin();
        registry.install_plugins(&discover(&[dir.path().to_path_buf()]));
        assert!(registry.component(&id("X")).is_ok());
        // Now asking for exec: what it asks for was decided from the file as it was.
        plugin(&path, "x", "X", r#"["exec"]"#);
        let refused = registry.component(&id("X")).unwrap_err().to_string();
        assert!(
            refused.contains("changed after sandpipe read it"),
            "{refused}"
        );
    }

    #[test]
    fn two_claims_serve_nothing_until_the_operator_says_and_a_broken_file_stops_nothing() {
        let dir = tempfile::tempdir().unwrap();
        plugin(&dir.path().join("a.wasm"), "a", "X", "[]");
        plugin(&dir.path().join("b.wasm"), "b", "X", "[]");
        plugin(&dir.path().join("c.wasm"), "c", "Y", "[]");
        std::fs::write(dir.path().join("junk.wasm"), b"not a component").unwrap();
        let found = discover(&[dir.path().to_path_buf()]);
        assert_eq!(found.unreadable.len(), 1);
        let mut registry = ProviderRegistry::builtin();
        registry.install_plugins(&found);
        let refusal = registry.refusal(&id("X")).unwrap();
        assert!(
            refusal.contains("a.wasm") && refusal.contains("b.wasm"),
            "{refusal}"
        );
        assert!(registry.component(&id("X")).is_err());
        assert!(registry.refusal(&id("Y")).is_none());
        assert_eq!(registry.unreadable_plugins().len(), 1);
        // The same file twice is one plugin.
        let other = tempfile::tempdir().unwrap();
        std::fs::copy(dir.path().join("c.wasm"), other.path().join("c.wasm")).unwrap();
        let twice = discover(&[dir.path().to_path_buf(), other.path().to_path_buf()]);
        assert!(!twice.conflicts.contains_key(&id("Y")));
        // The operator settles a conflict.
        registry
            .register(&id("X"), &dir.path().join("a.wasm"))
            .unwrap();
        assert!(registry.refusal(&id("X")).is_none());
    }

    #[test]
    fn a_plugin_gets_what_it_asks_for_and_is_allowed() {
        let dir = tempfile::tempdir().unwrap();
        plugin(&dir.path().join("x.wasm"), "x", "X", r#"["exec"]"#);
        let mut registry = ProviderRegistry::builtin();
        registry.install_plugins(&discover(&[dir.path().to_path_buf()]));
        assert!(registry.policy(&id("X")).granted.is_empty());
        assert!(
            registry
                .refusal(&id("X"))
                .unwrap()
                .contains("{allow: [exec]}")
        );
        // Allowing more than it asks for gives it only what it asks for.
        let everything: Vec<Capability> = Capability::all().collect();
        registry.grant(&id("X"), &everything).unwrap();
        let granted: Vec<&str> = registry
            .policy(&id("X"))
            .granted
            .iter()
            .map(|c| c.name())
            .collect();
        assert_eq!(granted, ["exec"]);
        assert!(registry.refusal(&id("X")).is_none());
    }
}
