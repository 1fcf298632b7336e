//! What build actions (those granted `exec`) are told about the account they run in, and
//! their test reports summarised for the record.

use sandpipe_runtime::{TestReport, TestStatus};
use sandpipe_state::{TestFailure, TestReportSummary};

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
