//! The `reports` import: test reports an action parsed, passed on as events for the engine to
//! keep with the execution and show in the run. Bounded: a report's cases and messages are
//! capped so that a hostile or enormous report cannot swamp the record.

use crate::bindings::sandpipe::action::reports::{self as wit, TestReport};
use crate::state::ActionState;

/// Most test cases kept per report.
const MAX_CASES: usize = 100_000;
/// Longest message kept per case.
const MAX_MESSAGE_CHARS: usize = 4096;
/// Most reports per execution.
const MAX_REPORTS: usize = 100;

fn bounded(text: String, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

impl wit::Host for ActionState {
    async fn publish(&mut self, mut report: TestReport) -> wasmtime::Result<()> {
        if self.reports_published >= MAX_REPORTS {
            return Ok(());
        }
        self.reports_published += 1;
        report.cases.truncate(MAX_CASES);
        report.group = bounded(report.group, 200);
        report.file = bounded(report.file, 1024);
        for case in &mut report.cases {
            case.name = bounded(std::mem::take(&mut case.name), 1024);
            case.message = case.message.take().map(|m| bounded(m, MAX_MESSAGE_CHARS));
        }
        self.log.report(report);
        Ok(())
    }
}
