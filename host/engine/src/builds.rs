//! What build actions (those granted `exec`) get from the operator: the runner, the build
//! projects, the secrets; and their test reports summarised for the record.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use sandpipe_model::codebuild::BuildProject;
use sandpipe_runtime::bindings::{self, TestReport, TestStatus};
use sandpipe_runtime::{BuildRunner, ExecGrant, SecretValues};
use sandpipe_state::{TestFailure, TestReportSummary};

/// The operator's settings for build actions.
#[derive(Clone)]
pub struct BuildSettings {
    pub runner: BuildRunner,
    /// Variables of this machine local builds start with.
    pub base_environment: Vec<(String, String)>,
    pub projects: BTreeMap<String, BuildProject>,
    /// The secrets file's values; `None` when no file was given.
    pub secrets: Option<Arc<SecretValues>>,
    /// Where each project's persistent directory (`cache.paths`, build numbers) lives; the
    /// state directory's `cache/` when unset.
    pub cache_root: Option<PathBuf>,
}

impl Default for BuildSettings {
    fn default() -> Self {
        BuildSettings {
            runner: BuildRunner::Local,
            base_environment: sandpipe_runtime::local_base_environment(&[]),
            projects: BTreeMap::new(),
            secrets: None,
            cache_root: None,
        }
    }
}

impl BuildSettings {
    pub fn exec_grant(&self, region: &str, account_id: &str) -> ExecGrant {
        ExecGrant {
            runner: self.runner.clone(),
            base_environment: self.base_environment.clone(),
            region: region.to_string(),
            account_id: account_id.to_string(),
        }
    }

    /// The project as the `build-projects` import hands it out.
    pub fn project(&self, name: &str) -> Option<bindings::Project> {
        self.projects.get(name).map(|project| bindings::Project {
            name: project.name.clone(),
            buildspec: project.buildspec.clone(),
            image: project.image.clone(),
            environment_variables: project
                .environment_variables
                .iter()
                .map(|v| bindings::EnvironmentVariable {
                    name: v.name.clone(),
                    value: v.value.clone(),
                    type_: v.kind.clone(),
                })
                .collect(),
            timeout_in_minutes: project.timeout_in_minutes,
            defined_in: project.defined_in.clone(),
        })
    }
}

/// The account of a role ARN (`arn:aws:iam::123456789012:role/x`), for the ARNs a build
/// sees; LocalStack's `000000000000` when there is none.
pub fn account_id(role_arn: Option<&str>) -> String {
    role_arn
        .and_then(|arn| arn.split(':').nth(4))
        .filter(|account| account.len() == 12 && account.chars().all(|c| c.is_ascii_digit()))
        .unwrap_or("000000000000")
        .to_string()
}

/// Most non-passing cases kept per report in the record.
const MAX_FAILURES_KEPT: usize = 50;

pub fn summarize(report: &TestReport) -> TestReportSummary {
    let mut summary = TestReportSummary {
        group: report.group.clone(),
        format: report.format.clone(),
        file: report.file.clone(),
        total: report.cases.len() as u64,
        passed: 0,
        failed: 0,
        errors: 0,
        skipped: 0,
        unknown: 0,
        duration_ms: 0,
        failures: Vec::new(),
    };
    for case in &report.cases {
        summary.duration_ms += case.duration_ms.unwrap_or(0);
        let status = match case.status {
            TestStatus::Succeeded => {
                summary.passed += 1;
                continue;
            }
            TestStatus::Skipped => {
                summary.skipped += 1;
                continue;
            }
            TestStatus::Unknown => {
                summary.unknown += 1;
                continue;
            }
            TestStatus::Failed => {
                summary.failed += 1;
                "FAILED"
            }
            TestStatus::Error => {
                summary.errors += 1;
                "ERROR"
            }
        };
        if summary.failures.len() < MAX_FAILURES_KEPT {
            summary.failures.push(TestFailure {
                name: case.name.clone(),
                prefix: case.prefix.clone(),
                status: status.into(),
                message: case.message.clone(),
            });
        }
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_come_from_role_arns() {
        assert_eq!(
            account_id(Some("arn:aws:iam::123456789012:role/pipeline")),
            "123456789012"
        );
        assert_eq!(account_id(Some("not-an-arn")), "000000000000");
        assert_eq!(account_id(None), "000000000000");
    }
}
