//! The `reports` import: test reports an action parsed, passed on as events for the engine to
//! keep with the execution and show in the run. Bounded: a report's cases and messages are
//! capped so that a hostile or enormous report cannot swamp the record.

use std::sync::{Arc, Mutex};

use sandpipe_model::text::one_line;

use crate::action::TestReport;
use crate::bindings::sandpipe::action::reports as wit;
use crate::capabilities::{Setup, Slots};
use crate::state::ActionState;

// Every action may publish reports; they are kept for the whole execution.
capability_module!(["sandpipe:action/reports@0.1"], None, [wit], setup);

fn setup(setup: &Setup<'_>, slots: &mut Slots) {
    slots.insert(Published(setup.reports.clone()));
}

/// The reports published so far in this execution.
struct Published(Arc<Mutex<Vec<TestReport>>>);

/// Most test cases kept per report.
const MAX_CASES: usize = 100_000;
/// Longest message kept per case.
const MAX_MESSAGE_CHARS: usize = 4096;
/// Most reports per execution.
const MAX_REPORTS: usize = 100;
/// Most bytes of case names and messages kept per execution, all reports together: the
/// record holds them.
const MAX_REPORT_BYTES: usize = 32 << 20;

fn case_bytes(case: &crate::action::TestCase) -> usize {
    case.name.len()
        + case.prefix.as_ref().map_or(0, String::len)
        + case.message.as_ref().map_or(0, String::len)
        + 16
}

/// Text kept from a report: escaped (it is shown in the run and the record) and clipped.
fn bounded(text: String, max: usize) -> String {
    one_line(&text, max)
}

impl wit::Host for ActionState {
    async fn publish(&mut self, report: wit::TestReport) -> wasmtime::Result<()> {
        let mut report = TestReport::from(report);
        let published = self.slot::<Published>().0.clone();
        let mut published = published.lock().unwrap_or_else(|e| e.into_inner());
        if published.len() >= MAX_REPORTS {
            return Ok(());
        }
        report.cases.truncate(MAX_CASES);
        report.group = bounded(report.group, 200);
        report.file = bounded(report.file, 1024);
        for case in &mut report.cases {
            case.name = bounded(std::mem::take(&mut case.name), 1024);
            case.prefix = case.prefix.take().map(|p| bounded(p, 1024));
            case.message = case.message.take().map(|m| bounded(m, MAX_MESSAGE_CHARS));
        }
        let mut used: usize = published
            .iter()
            .flat_map(|r| &r.cases)
            .map(case_bytes)
            .sum();
        let kept = report
            .cases
            .iter()
            .take_while(|case| {
                used += case_bytes(case);
                used <= MAX_REPORT_BYTES
            })
            .count();
        if kept < report.cases.len() {
            self.log.log(
                crate::LogLevel::Warn,
                &format!(
                    "test report '{}': {} of its {} cases dropped; the execution's reports \
                     reached {} MiB",
                    report.group,
                    report.cases.len() - kept,
                    report.cases.len(),
                    MAX_REPORT_BYTES >> 20
                ),
            );
            report.cases.truncate(kept);
        }
        published.push(report.clone());
        self.log.report(report);
        Ok(())
    }
}
