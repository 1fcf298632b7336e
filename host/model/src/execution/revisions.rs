//! StartPipelineExecution's `sourceRevisions`: the revision a source action takes instead of
//! its latest, given by the operator or by the event that triggered the execution.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RevisionType {
    CommitId,
    ImageDigest,
    S3ObjectVersionId,
    S3ObjectKey,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceRevision {
    pub revision_type: RevisionType,
    pub revision_value: String,
    /// The branch to export when a trigger started the execution for another branch than the
    /// configured one (a push filter's branch, a pull request's source branch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
}

/// PutJobSuccessResult.currentRevision: the revision a source action took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CurrentRevision {
    /// The commit id, S3 version id, or working-tree digest.
    pub revision_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision_summary: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub change_identifier: String,
}

/// Parse StartPipelineExecution's shorthand for a source revision, as the AWS CLI takes it:
/// `actionName=Source,revisionType=COMMIT_ID,revisionValue=4f1e…`.
pub fn parse_source_revision(text: &str) -> Result<(String, SourceRevision), String> {
    let mut action = None;
    let mut kind = None;
    let mut value = None;
    for pair in text.split(',') {
        let (key, item) = pair
            .split_once('=')
            .ok_or_else(|| format!("'{pair}' is not KEY=VALUE"))?;
        match key.trim() {
            "actionName" => action = Some(item.trim().to_string()),
            "revisionType" => kind = Some(item.trim().to_string()),
            "revisionValue" => value = Some(item.trim().to_string()),
            other => {
                return Err(format!(
                    "unknown key '{other}' (actionName, revisionType, revisionValue)"
                ));
            }
        }
    }
    let missing = |key: &str| format!("{key} is missing");
    let action = action
        .filter(|a| !a.is_empty())
        .ok_or_else(|| missing("actionName"))?;
    let value = value
        .filter(|v| !v.is_empty())
        .ok_or_else(|| missing("revisionValue"))?;
    let revision_type = match kind.as_deref() {
        Some("COMMIT_ID") => RevisionType::CommitId,
        Some("IMAGE_DIGEST") => RevisionType::ImageDigest,
        Some("S3_OBJECT_VERSION_ID") => RevisionType::S3ObjectVersionId,
        Some("S3_OBJECT_KEY") => RevisionType::S3ObjectKey,
        Some(other) => {
            return Err(format!(
                "revisionType '{other}' is not one of COMMIT_ID, IMAGE_DIGEST, \
                 S3_OBJECT_VERSION_ID, S3_OBJECT_KEY"
            ));
        }
        None => return Err(missing("revisionType")),
    };
    Ok((
        action,
        SourceRevision {
            revision_type,
            revision_value: value,
            branch: None,
        },
    ))
}

/// How a replay gives a source action the revision it took before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pin {
    /// Started with this revision, as StartPipelineExecution's sourceRevisions would.
    Revision(SourceRevision),
    /// It read a working tree: its recorded output is the snapshot to read again.
    Snapshot,
    /// Nothing recorded can pin it, and why.
    Unpinnable(String),
}

/// What the summary of a working tree read in place of a source starts with.
pub const WORKING_TREE_SUMMARY: &str = "working tree ";

/// The pin of a source action of type `action_type` that took `revision`: an S3 object's
/// version, an image's digest, a commit, or the snapshot of a working tree.
pub fn pin(action_type: &crate::ActionTypeId, revision: Option<&CurrentRevision>) -> Pin {
    let Some(revision) = revision else {
        return Pin::Unpinnable("it recorded no revision".into());
    };
    if revision
        .revision_summary
        .as_deref()
        .is_some_and(|summary| summary.starts_with(WORKING_TREE_SUMMARY))
    {
        return Pin::Snapshot;
    }
    let revision_type = if action_type.is_s3_source() {
        RevisionType::S3ObjectVersionId
    } else if action_type.is_ecr_source() {
        RevisionType::ImageDigest
    } else if matches!(
        action_type.provider.as_str(),
        "CodeStarSourceConnection" | "GitHub" | "CodeCommit"
    ) {
        RevisionType::CommitId
    } else {
        return Pin::Unpinnable(format!(
            "{action_type} takes no source revision to start with"
        ));
    };
    Pin::Revision(SourceRevision {
        revision_type,
        revision_value: revision.revision_id.clone(),
        branch: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_revisions_use_the_aws_cli_shorthand() {
        let (action, revision) =
            parse_source_revision("actionName=Source,revisionType=COMMIT_ID,revisionValue=4f1e2d")
                .unwrap();
        assert_eq!(action, "Source");
        assert_eq!(revision.revision_type, RevisionType::CommitId);
        assert_eq!(revision.revision_value, "4f1e2d");
        assert_eq!(
            parse_source_revision("actionName=S,revisionType=S3_OBJECT_KEY,revisionValue=k.zip")
                .unwrap()
                .1
                .revision_type,
            RevisionType::S3ObjectKey
        );
        assert_eq!(
            parse_source_revision("actionName=S,revisionType=TAG,revisionValue=v1").unwrap_err(),
            "revisionType 'TAG' is not one of COMMIT_ID, IMAGE_DIGEST, S3_OBJECT_VERSION_ID, \
             S3_OBJECT_KEY"
        );
        assert_eq!(
            parse_source_revision("actionName=S,revisionType=COMMIT_ID").unwrap_err(),
            "revisionValue is missing"
        );
        assert!(parse_source_revision("Source").is_err());
    }

    #[test]
    fn replays_pin_commits_versions_digests_and_working_trees() {
        let revision = |summary: &str| CurrentRevision {
            revision_id: "abc".into(),
            created: None,
            revision_summary: Some(summary.into()),
            change_identifier: String::new(),
        };
        let kind = |text: &str| text.parse::<crate::ActionTypeId>().unwrap();
        let git = pin(
            &kind("Source/AWS/CodeStarSourceConnection/1"),
            Some(&revision("fix")),
        );
        assert!(matches!(git, Pin::Revision(r) if r.revision_type == RevisionType::CommitId));
        let s3 = pin(&kind("Source/AWS/S3/1"), Some(&revision("v")));
        assert!(
            matches!(s3, Pin::Revision(r) if r.revision_type == RevisionType::S3ObjectVersionId)
        );
        let tree = pin(
            &kind("Source/AWS/S3/1"),
            Some(&revision("working tree /src (3 files)")),
        );
        assert_eq!(tree, Pin::Snapshot);
        assert!(matches!(
            pin(&kind("Source/Custom/Thing/1"), Some(&revision("x"))),
            Pin::Unpinnable(_)
        ));
        assert!(matches!(
            pin(&kind("Source/AWS/S3/1"), None),
            Pin::Unpinnable(_)
        ));
    }
}
