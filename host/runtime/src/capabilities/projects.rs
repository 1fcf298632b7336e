//! The `build-projects` import: the operator's project definition for the action's
//! `ProjectName`, and no other.

use crate::bindings::sandpipe::action::build_projects::{self as wit, Error, Project};
use crate::state::ActionState;

/// What the action may see of the operator's build projects.
pub enum ProjectAccess {
    /// The action was not granted exec.
    Denied,
    /// The action may look up `name`, defined as `project` (or not defined).
    Scoped {
        name: String,
        project: Option<Project>,
    },
}

impl wit::Host for ActionState {
    async fn get_project(
        &mut self,
        name: String,
    ) -> wasmtime::Result<Result<Option<Project>, Error>> {
        Ok(match &self.projects {
            ProjectAccess::Denied => Err(Error::Denied(
                "this action was not granted exec, which build projects come with".into(),
            )),
            ProjectAccess::Scoped {
                name: scoped,
                project,
            } if *scoped == name => Ok(project.clone()),
            ProjectAccess::Scoped { name: scoped, .. } => Err(Error::Denied(format!(
                "this action may look up project '{scoped}' (its ProjectName) only, not '{name}'"
            ))),
        })
    }
}
