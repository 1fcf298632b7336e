//! What the provider's policy grants one action beyond the sandbox, built from the
//! operator's settings: a build runner, the build project and a persistent project cache
//! (`exec`), parameters and secrets (`secrets`), the mapped repository (`git`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use std::sync::Arc;

use sandpipe_runtime::{BuildImages, EXEC, ExecGrant, GIT, Grants, SECRETS};

use crate::pipeline::Run;

impl Run<'_> {
    /// Where a build action's project keeps what outlives a build (build numbers,
    /// `cache.paths`), mounted at `/cache`: one directory per provider and `ProjectName`.
    pub(crate) fn project_cache(
        &self,
        s: usize,
        a: usize,
        configuration: &BTreeMap<String, String>,
    ) -> Option<PathBuf> {
        let action = &self.pipeline().stages[s].actions[a];
        if !self
            .runner
            .providers
            .policy(&action.action_type_id)
            .allows(EXEC)
        {
            return None;
        }
        let key = configuration
            .get("ProjectName")
            .cloned()
            .unwrap_or_else(|| format!("{}.{}", self.pipeline().name, action.name));
        let key: String = key
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let settings = &self.runner.settings;
        let root = settings
            .builds
            .cache_root
            .clone()
            .unwrap_or_else(|| settings.state_dir.join("cache"));
        Some(root.join(format!("{}-{key}", action.action_type_id.provider)))
    }

    /// sandpipe's own directories, which no working tree export includes: the state
    /// directory and the work area (either may be inside the tree).
    pub(crate) fn sandpipe_dirs(&self) -> Vec<PathBuf> {
        let settings = &self.runner.settings;
        vec![
            settings.state_dir.clone(),
            self.runner.work.root().to_path_buf(),
        ]
    }

    pub(crate) fn grants(
        &self,
        s: usize,
        a: usize,
        configuration: &BTreeMap<String, String>,
        images: &Arc<BuildImages>,
    ) -> Grants {
        let action = &self.pipeline().stages[s].actions[a];
        let policy = self.runner.providers.policy(&action.action_type_id);
        let settings = &self.runner.settings;
        let files = &self.launch.files;
        let mut grants = Grants::default();
        if policy.allows(EXEC) {
            let role = action
                .role_arn
                .as_deref()
                .or(self.pipeline().role_arn.as_deref());
            let project = configuration.get("ProjectName").map(|name| {
                let defined = files.projects.get(name).cloned();
                (name.clone(), defined)
            });
            grants.insert(ExecGrant {
                runner: settings.builds.runner.clone(),
                base_environment: settings.builds.base_environment.clone(),
                region: self.launch.region.clone(),
                account_id: crate::builds::account_id(role),
                project,
                deterministic: self.deterministic_build(),
                image_pins: self.launch.start.image_pins.clone(),
                images: images.clone(),
            });
        }
        if policy.allows(SECRETS) {
            match &settings.builds.secrets {
                Some(secrets) => grants.insert_shared(secrets.clone()),
                None => grants.insert(sandpipe_runtime::SecretValues::default()),
            }
        }
        if policy.allows(GIT) {
            grants.insert(crate::sources::git_grant(
                &files.connections,
                self.launch.start.working_tree(s, &action.name),
                action,
                configuration,
                &settings.state_dir,
                &self.sandpipe_dirs(),
            ));
        }
        grants
    }
}
