//! The `build-projects` import: the operator's project definition for the action's
//! `ProjectName`, and no other. It comes with the `exec` grant.

use super::ExecAccess;
use crate::bindings::sandpipe::action::build_projects::{self as wit, Error, Project};
use crate::state::ActionState;

denied_as!(Error);

impl wit::Host for ActionState {
    async fn get_project(
        &mut self,
        name: String,
    ) -> wasmtime::Result<Result<Option<Project>, Error>> {
        let exec = match self.granted::<ExecAccess>() {
            Ok(exec) => exec,
            Err(denied) => return Ok(Err(denied.into())),
        };
        Ok(match &exec.grant.project {
            Some((scoped, project)) if *scoped == name => Ok(project.as_ref().map(Project::from)),
            Some((scoped, _)) => Err(Error::Denied(format!(
                "this action may look up project '{scoped}' (its ProjectName) only, not '{name}'"
            ))),
            None => Err(Error::Denied(
                "this action's configuration names no ProjectName, the only project it may \
                 look up"
                    .into(),
            )),
        })
    }
}
