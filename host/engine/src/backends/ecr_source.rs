//! `Source/AWS/ECR/1` from a local image: the image `RepositoryName:ImageTag` that the
//! machine's docker or podman engine holds stands in for the ECR repository's. Its digest
//! is the revision, and the output artifact is the `imageDetail.json` CodePipeline writes
//! (ImageDigest, ImageURI, RepositoryName, RegistryId, ImageTags, …), with the same output
//! variables. Without an engine that answers, the run is refused before it starts, naming
//! the double that would let it run.

use sandpipe_model::cloudformation::LOCAL_ACCOUNT;
use sandpipe_model::execution::FailureKind;
use sandpipe_runtime::{ActionError, ActionOutcome, BuildRunner, CurrentRevision, FailureDetails};
use serde_json::{Value, json};

use super::configuration_error;
use super::staging::Staged;
use crate::action::{ActionCall, Completed};
use crate::pipeline::Run;

/// The program of a container engine that answers, or what each said.
pub(crate) fn container_engine() -> Result<std::path::PathBuf, String> {
    // Asking an engine (`docker info`) takes a process and often a second: the preflight asks,
    // then the action would ask again. An engine that answered is kept for the process; one
    // that did not is asked again next time, as it may have been started since.
    static ANSWERED: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    if let Some(program) = ANSWERED.get() {
        return Ok(program.clone());
    }
    match BuildRunner::container(None) {
        Ok(BuildRunner::Container { program, .. }) => Ok(ANSWERED.get_or_init(|| program).clone()),
        Ok(BuildRunner::Local) => Err("no container engine".into()),
        Err(error) => Err(format!("{error:#}")),
    }
}

impl Run<'_> {
    pub(crate) async fn read_local_image(
        &self,
        call: &ActionCall<'_>,
    ) -> Result<Completed, ActionError> {
        let read = async |staged: &Staged| self.local_image(call, staged).await;
        self.sandboxed(call, read).await
    }

    async fn local_image(
        &self,
        call: &ActionCall<'_>,
        staged: &Staged,
    ) -> Result<ActionOutcome, ActionError> {
        let config = &call.configured.configuration;
        let repository = config.get("RepositoryName").cloned().unwrap_or_default();
        let tag = config
            .get("ImageTag")
            .cloned()
            .unwrap_or_else(|| "latest".into());
        let log = self.action_log(call)?;
        let failure = |kind, message: String| ActionError::from(FailureDetails::new(kind, message));
        let engine = container_engine().map_err(configuration_error)?;
        let image = format!("{repository}:{tag}");
        let output = tokio::process::Command::new(&engine)
            .args(["image", "inspect", "--format", "{{json .}}", &image])
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .map_err(|e| {
                failure(
                    FailureKind::SystemUnavailable,
                    format!("{}: {e}", engine.display()),
                )
            })?;
        if !output.status.success() {
            return Err(failure(
                FailureKind::RevisionUnavailable,
                format!(
                    "the local engine has no image {image}: {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                ),
            ));
        }
        let inspected: Value = serde_json::from_slice(&output.stdout).map_err(|e| {
            failure(
                FailureKind::SystemUnavailable,
                format!("reading what {} said of {image}: {e}", engine.display()),
            )
        })?;
        // A pushed image's repository digest, else the local image id.
        let digest = inspected["RepoDigests"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .find_map(|d| d.split_once('@').map(|(_, digest)| digest.to_string()))
            .or_else(|| inspected["Id"].as_str().map(str::to_string))
            .unwrap_or_default();
        let region = &self.launch.region;
        let uri = format!("{LOCAL_ACCOUNT}.dkr.ecr.{region}.amazonaws.com/{repository}@{digest}");
        let detail = json!({
            "ImageSizeInBytes": inspected["Size"].as_u64().unwrap_or_default().to_string(),
            "ImageDigest": digest,
            "Version": "1.0",
            "ImagePushedAt": inspected["Created"],
            "RegistryId": LOCAL_ACCOUNT,
            "RepositoryName": repository,
            "ImageURI": uri,
            "ImageTags": [tag],
        });
        let action = &self.pipeline().stages[call.s].actions[call.a];
        if let Some(artifact) = action.output_artifacts.first() {
            let file = staged
                .sandbox
                .output_dir(&artifact.name)
                .join("imageDetail.json");
            std::fs::write(&file, serde_json::to_string_pretty(&detail).expect("json"))
                .map_err(|e| failure(FailureKind::SystemUnavailable, format!("{e}")))?;
        }
        let summary = format!("local image {image} ({digest}) from {}", engine.display());
        log.info(&summary);
        Ok(ActionOutcome {
            summary: Some(summary.clone()),
            output_variables: vec![
                ("RegistryId".into(), LOCAL_ACCOUNT.into()),
                ("RepositoryName".into(), repository.clone()),
                ("ImageTag".into(), tag.clone()),
                ("ImageDigest".into(), digest.clone()),
                ("ImageURI".into(), uri),
            ],
            current_revision: Some(CurrentRevision {
                revision_id: digest.clone(),
                change_identifier: digest,
                created: None,
                revision_summary: Some(summary),
            }),
            ..ActionOutcome::default()
        })
    }
}
