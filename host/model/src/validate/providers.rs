//! What CodePipeline requires of each of its own action types: how many input and output
//! artifacts, which configuration properties are required, and which exist at all.

use crate::declaration::{ActionTypeId, Category, Owner};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionTypeRules {
    /// Inclusive bounds on input artifacts.
    pub inputs: (usize, usize),
    /// Inclusive bounds on output artifacts.
    pub outputs: (usize, usize),
    pub required: &'static [&'static str],
    /// Every configuration property the action type accepts; `None` when not checked.
    pub known: Option<&'static [&'static str]>,
}

const fn rules(
    inputs: (usize, usize),
    outputs: (usize, usize),
    required: &'static [&'static str],
    known: Option<&'static [&'static str]>,
) -> ActionTypeRules {
    ActionTypeRules {
        inputs,
        outputs,
        required,
        known,
    }
}

const CODEBUILD: ActionTypeRules = rules(
    (1, 5),
    (0, 5),
    &["ProjectName"],
    Some(&[
        "ProjectName",
        "PrimarySource",
        "BatchEnabled",
        "CombineArtifacts",
        "EnvironmentVariables",
    ]),
);

/// The rules for a CodePipeline-owned (`AWS`) or `ThirdParty` action type, or `None` when
/// CodePipeline has no such action type. Custom action types are defined by their owners.
pub fn rules_for(id: &ActionTypeId) -> Option<ActionTypeRules> {
    use Category::*;
    if id.version != "1" {
        return None;
    }
    let found = match (id.owner, id.category, id.provider.as_str()) {
        (Owner::AWS, Source, "S3") => rules(
            (0, 0),
            (1, 1),
            &["S3Bucket", "S3ObjectKey"],
            Some(&[
                "S3Bucket",
                "S3ObjectKey",
                "PollForSourceChanges",
                "AllowOverrideForS3ObjectKey",
            ]),
        ),
        (Owner::AWS, Source, "CodeCommit") => rules(
            (0, 0),
            (1, 1),
            &["RepositoryName", "BranchName"],
            Some(&[
                "RepositoryName",
                "BranchName",
                "PollForSourceChanges",
                "OutputArtifactFormat",
            ]),
        ),
        (Owner::AWS, Source, "ECR") => rules(
            (0, 0),
            (1, 1),
            &["RepositoryName"],
            Some(&["RepositoryName", "ImageTag"]),
        ),
        (Owner::AWS, Source, "CodeStarSourceConnection") => rules(
            (0, 0),
            (1, 1),
            &["ConnectionArn", "FullRepositoryId", "BranchName"],
            Some(&[
                "ConnectionArn",
                "FullRepositoryId",
                "BranchName",
                "OutputArtifactFormat",
                "DetectChanges",
            ]),
        ),
        (Owner::ThirdParty, Source, "GitHub") => rules(
            (0, 0),
            (1, 1),
            &["Owner", "Repo", "Branch", "OAuthToken"],
            Some(&[
                "Owner",
                "Repo",
                "Branch",
                "OAuthToken",
                "PollForSourceChanges",
            ]),
        ),
        (Owner::AWS, Build | Test, "CodeBuild") => CODEBUILD,
        (Owner::AWS, Test, "DeviceFarm") => rules((1, 1), (0, 0), &[], None),
        (Owner::AWS, Approval, "Manual") => rules(
            (0, 0),
            (0, 0),
            &[],
            Some(&["NotificationArn", "ExternalEntityLink", "CustomData"]),
        ),
        (Owner::AWS, Deploy, "S3") => rules(
            (1, 1),
            (0, 0),
            &["BucketName", "Extract"],
            Some(&[
                "BucketName",
                "Extract",
                "ObjectKey",
                "KMSEncryptionKeyARN",
                "CannedACL",
                "CacheControl",
            ]),
        ),
        (Owner::AWS, Deploy, "CloudFormation") => rules((0, 10), (0, 1), &["ActionMode"], None),
        (Owner::AWS, Deploy, "CloudFormationStackSet" | "CloudFormationStackInstances") => {
            rules((0, 10), (0, 0), &["StackSetName"], None)
        }
        (Owner::AWS, Deploy, "CodeDeploy") => rules(
            (1, 1),
            (0, 0),
            &["ApplicationName", "DeploymentGroupName"],
            Some(&["ApplicationName", "DeploymentGroupName"]),
        ),
        (Owner::AWS, Deploy, "CodeDeployToECS") => rules(
            (1, 3),
            (0, 0),
            &[
                "ApplicationName",
                "DeploymentGroupName",
                "TaskDefinitionTemplateArtifact",
                "AppSpecTemplateArtifact",
            ],
            None,
        ),
        (Owner::AWS, Deploy, "ECS") => rules((1, 1), (0, 0), &["ClusterName", "ServiceName"], None),
        (Owner::AWS, Deploy, "ElasticBeanstalk") => rules(
            (1, 1),
            (0, 0),
            &["ApplicationName", "EnvironmentName"],
            Some(&["ApplicationName", "EnvironmentName"]),
        ),
        (Owner::AWS, Deploy, "OpsWorks" | "ServiceCatalog") => rules((1, 1), (0, 0), &[], None),
        (Owner::AWS, Deploy, "AppConfig") => rules(
            (1, 1),
            (0, 0),
            &[
                "Application",
                "Environment",
                "ConfigurationProfile",
                "InputArtifactConfigurationPath",
            ],
            None,
        ),
        (Owner::AWS, Deploy, "EKS") => rules((0, 1), (0, 0), &["ClusterName"], None),
        (Owner::AWS, Deploy, "Lambda") => rules((0, 1), (0, 0), &["FunctionName"], None),
        (Owner::AWS, Deploy, "EC2") => rules((1, 1), (0, 0), &[], None),
        (Owner::ThirdParty, Deploy, "AlexaSkillsKit") => rules((1, 2), (0, 0), &[], None),
        (Owner::AWS, Invoke, "Lambda") => rules(
            (0, 5),
            (0, 5),
            &["FunctionName"],
            Some(&["FunctionName", "UserParameters"]),
        ),
        (Owner::AWS, Invoke, "StepFunctions") => rules((0, 1), (0, 1), &["StateMachineArn"], None),
        (Owner::AWS, Invoke, "CodePipeline") => rules((0, 0), (0, 0), &["PipelineName"], None),
        (Owner::AWS, Invoke, "InspectorScan") => rules((0, 1), (0, 0), &["InspectorRunMode"], None),
        (Owner::AWS, Build, "ECRBuildAndPublish") => {
            rules((1, 1), (0, 0), &["ECRRepositoryName"], None)
        }
        (Owner::AWS, Compute, "Commands") => rules((1, 10), (0, 1), &[], Some(&[])),
        _ => return None,
    };
    Some(found)
}

/// Whether the action type is one of CodePipeline's own (which a region either has or not).
pub(crate) fn is_service_owned(id: &ActionTypeId) -> bool {
    id.owner != Owner::Custom
}

/// Configuration properties CodePipeline treats as secret (`secret: true` in the action type):
/// it never returns their values, only `****`.
pub fn secret_properties(id: &ActionTypeId) -> &'static [&'static str] {
    match (id.owner, id.category, id.provider.as_str()) {
        (Owner::ThirdParty, Category::Source, "GitHub") => &["OAuthToken"],
        _ => &[],
    }
}

/// How CodePipeline shows a secret configuration value.
pub const MASKED_SECRET: &str = "****";

/// `pipeline` with every secret configuration value replaced by `****`, as `get-pipeline`
/// returns it.
pub fn mask_secrets(pipeline: &crate::PipelineDeclaration) -> crate::PipelineDeclaration {
    mask_secrets_with(pipeline, |_| Vec::new())
}

/// [`mask_secrets`], also masking the properties `declared` says an action type's provider
/// declares secret (a plugin's manifest).
pub fn mask_secrets_with(
    pipeline: &crate::PipelineDeclaration,
    declared: impl Fn(&ActionTypeId) -> Vec<String>,
) -> crate::PipelineDeclaration {
    let mut masked = pipeline.clone();
    for action in masked
        .stages
        .iter_mut()
        .flat_map(|stage| &mut stage.actions)
    {
        let keys = secret_properties(&action.action_type_id)
            .iter()
            .map(|key| key.to_string())
            .chain(declared(&action.action_type_id));
        for key in keys {
            if let Some(value) = action.configuration.get_mut(&key) {
                *value = MASKED_SECRET.to_string();
            }
        }
    }
    masked
}
