//! `Source/AWS/S3/1`: the latest version of one object in a versioned bucket becomes the
//! output artifact, byte for byte, as on AWS.

use sandpipe_action_sdk::execution::{self, RevisionType};
use sandpipe_action_sdk::object_store::{self, Error};
use sandpipe_action_sdk::{Action, CurrentRevision, Failure, Outcome, Request, export_action, log};

/// Object metadata whose value CodePipeline shows as the revision summary.
const REVISION_SUMMARY_METADATA: &str = "codepipeline-artifact-revision-summary";

struct S3Source;

impl Action for S3Source {
    fn run(request: Request) -> Result<Outcome, Failure> {
        let config = request.config();
        let bucket = config.required("S3Bucket")?;
        let configured_key = config.required("S3ObjectKey")?;
        // Change detection is the host's job (`sandpipe watch`).
        config.flag("PollForSourceChanges", true)?;
        let key_may_change = config.flag("AllowOverrideForS3ObjectKey", false)?;
        let output = request.single_output()?;

        // StartPipelineExecution's sourceRevisions: a version of the object, or (when the
        // action allows it) another object.
        let (key, version) = match execution::started_with() {
            None => (configured_key.to_string(), None),
            Some(revision) => match revision.revision_type {
                RevisionType::S3ObjectVersionId => {
                    (configured_key.to_string(), Some(revision.revision_value))
                }
                RevisionType::S3ObjectKey if key_may_change => (revision.revision_value, None),
                RevisionType::S3ObjectKey => {
                    return Err(Failure::configuration(
                        "the execution was started with an S3_OBJECT_KEY source revision, but \
                         the action's AllowOverrideForS3ObjectKey is not true",
                    ));
                }
                other => {
                    return Err(Failure::configuration(format!(
                        "the execution was started with a {other:?} source revision; an S3 \
                         source takes S3_OBJECT_VERSION_ID or S3_OBJECT_KEY"
                    )));
                }
            },
        };
        let key = key.as_str();

        let info = object_store::head_bucket(bucket)?;
        if !info.versioning_enabled {
            return Err(Failure::configuration(format!(
                "the S3 source bucket '{bucket}' does not have versioning enabled; CodePipeline \
                 requires a versioned source bucket (sandpipe s3api put-bucket-versioning --bucket \
                 {bucket} --versioning-configuration Status=Enabled)"
            )));
        }

        let file_name = artifact_file_name(key);
        let destination = format!("{}/{}", output.path, file_name);
        let object = object_store::get_object(bucket, key, version.as_deref(), &destination)
            .map_err(|e| match e {
                Error::NoSuchKey(_) => Failure::revision_unavailable(format!(
                    "the object '{key}' does not exist in bucket '{bucket}'"
                )),
                Error::NoSuchVersion(_) => Failure::revision_unavailable(format!(
                    "version {} of '{key}' does not exist in bucket '{bucket}'",
                    version.as_deref().unwrap_or_default()
                )),
                other => Failure::from(other),
            })?;
        let version_id = object
            .version_id
            .clone()
            .unwrap_or_else(|| "null".to_string());
        log::info(format!(
            "fetched s3://{bucket}/{key} version {version_id} ({} bytes, ETag {})",
            object.size, object.etag
        ));

        let summary = object
            .metadata
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(REVISION_SUMMARY_METADATA))
            .map(|(_, v)| v.clone());
        let etag = object.etag.trim_matches('"').to_string();
        Ok(Outcome::new()
            .variable("BucketName", bucket)
            .variable("ObjectKey", key)
            .variable("ETag", etag.clone())
            .variable("VersionId", version_id.clone())
            .summary(
                summary
                    .clone()
                    .unwrap_or_else(|| format!("s3://{bucket}/{key} version {version_id}")),
            )
            .revision(CurrentRevision {
                revision: version_id,
                change_identifier: etag,
                created: Some(object.last_modified),
                revision_summary: summary,
            })
            .artifact_file(output.name.clone(), file_name))
    }
}

/// The last path segment of the key, which is what the artifact file is called when a
/// consumer unpacks a non-zip object.
fn artifact_file_name(key: &str) -> String {
    match key
        .rsplit('/')
        .find(|segment| !segment.is_empty() && *segment != "." && *segment != "..")
    {
        Some(segment) => segment.to_string(),
        None => "object".to_string(),
    }
}

export_action!(S3Source);
