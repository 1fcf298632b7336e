//! The providers of a command that runs or checks pipelines, assembled once from the
//! operator's settings: the built-ins, the plugins installed in the plugin directories, the
//! `--provider` components, what the policy file allows and pins, and `--grant`.

use std::path::{Path, PathBuf};

use clap::Args;
use sandpipe_engine::ProviderRegistry;
use sandpipe_engine::plugins::{discover, known_capabilities, plugin_dirs};
use sandpipe_model::plugin_policy::{POLICY_FILE_NAMES, Policy};

use crate::flags::{GrantFlag, ProviderFlag, grant, provider};

/// Where providers come from and what they may do: the operator's flags.
#[derive(Args)]
pub struct ProviderArgs {
    /// Serve an action type with a WebAssembly component: TYPE=FILE, where TYPE is
    /// Category/Owner/Provider/Version (e.g. Build/Custom/Lint/1=lint.wasm). Repeatable;
    /// takes the type from an installed plugin or a built-in provider.
    #[arg(global = true, long = "provider", value_name = "TYPE=FILE", value_parser = provider)]
    providers: Vec<ProviderFlag>,

    /// A directory of plugins (components built by `sandpipe action build`), looked in
    /// besides <state-dir>/actions and ~/.config/sandpipe/actions. Repeatable.
    #[arg(global = true, long = "plugins", value_name = "DIR")]
    plugin_dirs: Vec<PathBuf>,

    /// The operator's policy: which capabilities each action type or plugin may have, and
    /// digest pins. By default sandpipe-policy.yaml beside the pipeline and the state
    /// directory's, both applying.
    #[arg(global = true, long, value_name = "FILE", env = "SANDPIPE_POLICY")]
    policy: Option<PathBuf>,

    /// Grant a provider capabilities beyond the sandbox: TYPE=CAP[,CAP], where CAP is `exec`
    /// (run commands through the build runner), `secrets` (read values from --secrets) or
    /// `git` (read the repository the connections file maps for the action): the
    /// command-line form of the policy file. The built-in CodeBuild provider has exec and
    /// secrets, the built-in git sources git; nothing else has any unless allowed, and a
    /// plugin only what its manifest asks for.
    #[arg(global = true, long = "grant", value_name = "TYPE=CAPS", value_parser = grant)]
    grants: Vec<GrantFlag>,
}

impl ProviderArgs {
    /// Serve these types with these components too, as `--provider` does (a bundle's).
    pub(crate) fn add_providers(&mut self, components: impl IntoIterator<Item = ProviderFlag>) {
        self.providers.extend(components);
    }

    /// The plugin directories, in the order they are looked in.
    pub(crate) fn plugin_dirs(&self, state_dir: Option<&Path>) -> Vec<PathBuf> {
        plugin_dirs(&self.plugin_dirs, state_dir)
    }

    /// The providers for a pipeline in `pipeline_file` (its policy file may be beside it),
    /// with the plugins installed in `state_dir` when there is one.
    pub(crate) fn registry(
        &self,
        state_dir: Option<&Path>,
        pipeline_file: Option<&Path>,
    ) -> anyhow::Result<ProviderRegistry> {
        self.registry_beside(state_dir, pipeline_file.map(directory_of))
    }

    /// [`ProviderArgs::registry`] for pipelines in `pipelines_dir` (the current directory,
    /// for commands about no one pipeline).
    pub(crate) fn registry_beside(
        &self,
        state_dir: Option<&Path>,
        pipelines_dir: Option<&Path>,
    ) -> anyhow::Result<ProviderRegistry> {
        let mut providers = ProviderRegistry::builtin();
        providers.install_plugins(&discover(&self.plugin_dirs(state_dir)));
        for flag in &self.providers {
            providers.register(&flag.action_type, &flag.file)?;
        }
        if let Some(policy) = self.policy_file(state_dir, pipelines_dir)? {
            providers.apply_policy(&policy)?;
        }
        for flag in &self.grants {
            providers.grant(&flag.action_type, &flag.capabilities)?;
        }
        Ok(providers)
    }

    /// The operator's policy: `--policy FILE`, else sandpipe-policy.yaml beside the
    /// pipelines and the state directory's, merged (what either allows; every pin of
    /// either); none is no policy (nothing beyond the built-ins' own).
    fn policy_file(
        &self,
        state_dir: Option<&Path>,
        pipelines_dir: Option<&Path>,
    ) -> anyhow::Result<Option<Policy>> {
        if let Some(path) = &self.policy {
            return Ok(Some(Policy::read(path, &known_capabilities())?));
        }
        let mut merged: Option<Policy> = None;
        for dir in pipelines_dir.into_iter().chain(state_dir) {
            let found = POLICY_FILE_NAMES
                .iter()
                .map(|name| dir.join(name))
                .find(|path| path.is_file());
            let Some(path) = found else {
                continue;
            };
            // The error names the file, and the path in it.
            let policy = Policy::read(&path, &known_capabilities())?;
            merged = Some(match merged {
                None => policy,
                Some(first) => first.merged(policy).map_err(anyhow::Error::msg)?,
            });
        }
        Ok(merged)
    }
}

/// The directory a file is in (`.` for a bare name).
fn directory_of(file: &Path) -> &Path {
    file.parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}
