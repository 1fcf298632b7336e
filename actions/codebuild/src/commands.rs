//! `Compute/AWS/Commands/1` (V2): shell commands run as a build with no project. The host
//! hands the action's own fields over as configuration (`Commands`, `OutputFiles`,
//! `OutputVariables`, `EnvironmentVariables`, each JSON); they become the buildspec a
//! CodeBuild project would have — `phases.build.commands`, `artifacts.files`,
//! `env.exported-variables` — so the commands run through the same runners, environment
//! rules and masking as a CodeBuild build.

use sandpipe_action_sdk::{ActionType, Category, Failure, Request};

/// Whether this request is a Commands action's.
pub fn is_commands(action_type: &ActionType) -> bool {
    action_type.category == Category::Compute
        && action_type.owner == "AWS"
        && action_type.provider == "Commands"
}

/// The buildspec of a Commands action, and how messages name it.
pub fn buildspec(request: &Request) -> Result<(String, String), Failure> {
    let config = request.config();
    let list = |key: &str| -> Result<Vec<String>, Failure> {
        match config.get(key) {
            None => Ok(Vec::new()),
            Some(json) => serde_json::from_str(json).map_err(|e| {
                Failure::configuration(format!("{key}: expected a JSON list of strings: {e}"))
            }),
        }
    };
    let commands = list("Commands")?;
    if commands.is_empty() || commands.len() > 50 {
        return Err(Failure::configuration(format!(
            "a Commands action runs 1 to 50 commands; this one has {}",
            commands.len()
        )));
    }
    let mut spec = serde_json::json!({
        "version": "0.2",
        "phases": {"build": {"commands": commands}},
    });
    let variables = list("OutputVariables")?;
    if !variables.is_empty() {
        spec["env"] = serde_json::json!({ "exported-variables": variables });
    }
    if !request.outputs.is_empty() {
        // Without a files filter, the whole working directory is the artifact.
        let mut files = list("OutputFiles")?;
        if files.is_empty() {
            files.push("**/*".into());
        }
        spec["artifacts"] = serde_json::json!({ "files": files });
    }
    // JSON is YAML: the buildspec parser reads it as it reads any buildspec.
    Ok((
        spec.to_string(),
        format!("the commands of action '{}'", request.action),
    ))
}
