//! `From` conversions between the WIT bindings and the host's types, the one place where
//! the two meet.

use sandpipe_model::codebuild::BuildProject;
use sandpipe_model::execution::{FailureKind, RevisionType, SourceRevision};
use sandpipe_model::{ActionTypeId, Category};

use crate::action::{
    ActionOutcome, ActionRequest, ArtifactFile, CurrentRevision, FailureDetails, TestCase,
    TestReport, TestStatus,
};
use crate::bindings::sandpipe::action::build_projects as projects_wit;
use crate::bindings::sandpipe::action::execution as execution_wit;
use crate::bindings::sandpipe::action::reports as reports_wit;
use crate::bindings::sandpipe::action::types as wit;

impl From<&ActionTypeId> for wit::ActionType {
    fn from(id: &ActionTypeId) -> Self {
        let category = match id.category {
            Category::Source => wit::Category::Source,
            Category::Build => wit::Category::Build,
            Category::Deploy => wit::Category::Deploy,
            Category::Test => wit::Category::Test,
            Category::Invoke => wit::Category::Invoke,
            Category::Approval => wit::Category::Approval,
            Category::Compute => wit::Category::Compute,
        };
        wit::ActionType {
            category,
            owner: format!("{:?}", id.owner),
            provider: id.provider.clone(),
            version: id.version.clone(),
        }
    }
}

impl From<&ActionRequest> for wit::Request {
    fn from(request: &ActionRequest) -> Self {
        wit::Request {
            pipeline: request.pipeline.clone(),
            stage: request.stage.clone(),
            action: request.action.clone(),
            execution_id: request.execution_id.clone(),
            action_type: (&request.action_type).into(),
            configuration: request
                .configuration
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            inputs: request
                .inputs
                .iter()
                .map(|input| wit::InputArtifact {
                    name: input.name.clone(),
                    path: input.path.clone(),
                    archive: input.archive.clone(),
                    revision: input.revision.clone(),
                })
                .collect(),
            outputs: request
                .outputs
                .iter()
                .map(|output| wit::OutputArtifact {
                    name: output.name.clone(),
                    path: output.path.clone(),
                })
                .collect(),
            continuation_token: None,
        }
    }
}

impl From<wit::Outcome> for ActionOutcome {
    fn from(outcome: wit::Outcome) -> Self {
        ActionOutcome {
            output_variables: outcome.output_variables,
            summary: outcome.summary,
            external_execution_id: outcome.external_execution_id,
            current_revision: outcome.current_revision.map(|r| CurrentRevision {
                revision_id: r.revision,
                change_identifier: r.change_identifier,
                created: r.created,
                revision_summary: r.revision_summary,
            }),
            artifact_files: outcome
                .artifact_files
                .into_iter()
                .map(|f| ArtifactFile {
                    artifact: f.artifact,
                    file: f.file,
                })
                .collect(),
        }
    }
}

impl From<wit::FailureKind> for FailureKind {
    fn from(kind: wit::FailureKind) -> Self {
        match kind {
            wit::FailureKind::JobFailed => FailureKind::JobFailed,
            wit::FailureKind::ConfigurationError => FailureKind::ConfigurationError,
            wit::FailureKind::PermissionError => FailureKind::PermissionError,
            wit::FailureKind::RevisionOutOfSync => FailureKind::RevisionOutOfSync,
            wit::FailureKind::RevisionUnavailable => FailureKind::RevisionUnavailable,
            wit::FailureKind::SystemUnavailable => FailureKind::SystemUnavailable,
        }
    }
}

impl From<wit::Failure> for FailureDetails {
    fn from(failure: wit::Failure) -> Self {
        FailureDetails {
            kind: failure.kind.into(),
            message: failure.message,
            external_execution_id: failure.external_execution_id,
        }
    }
}

impl From<&SourceRevision> for execution_wit::SourceRevision {
    fn from(revision: &SourceRevision) -> Self {
        execution_wit::SourceRevision {
            revision_type: match revision.revision_type {
                RevisionType::CommitId => execution_wit::RevisionType::CommitId,
                RevisionType::ImageDigest => execution_wit::RevisionType::ImageDigest,
                RevisionType::S3ObjectVersionId => execution_wit::RevisionType::S3ObjectVersionId,
                RevisionType::S3ObjectKey => execution_wit::RevisionType::S3ObjectKey,
            },
            revision_value: revision.revision_value.clone(),
            branch: revision.branch.clone(),
        }
    }
}

impl From<reports_wit::TestReport> for TestReport {
    fn from(report: reports_wit::TestReport) -> Self {
        TestReport {
            group: report.group,
            format: report.format,
            file: report.file,
            cases: report
                .cases
                .into_iter()
                .map(|case| TestCase {
                    name: case.name,
                    prefix: case.prefix,
                    status: match case.status {
                        reports_wit::TestStatus::Succeeded => TestStatus::Succeeded,
                        reports_wit::TestStatus::Failed => TestStatus::Failed,
                        reports_wit::TestStatus::Skipped => TestStatus::Skipped,
                        reports_wit::TestStatus::Error => TestStatus::Error,
                        reports_wit::TestStatus::Unknown => TestStatus::Unknown,
                    },
                    duration_ms: case.duration_ms,
                    message: case.message,
                })
                .collect(),
        }
    }
}

impl From<&BuildProject> for projects_wit::Project {
    fn from(project: &BuildProject) -> Self {
        projects_wit::Project {
            name: project.name.clone(),
            buildspec: project.buildspec.clone(),
            image: project.image.clone(),
            environment_variables: project
                .environment_variables
                .iter()
                .map(|v| projects_wit::EnvironmentVariable {
                    name: v.name.clone(),
                    value: v.value.clone(),
                    type_: v.kind.clone(),
                })
                .collect(),
            timeout_in_minutes: project.timeout_in_minutes,
            defined_in: project.defined_in.clone(),
        }
    }
}
