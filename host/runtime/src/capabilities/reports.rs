//! The `reports` import: test reports an action parsed, passed on as events for the engine to
//! keep with the execution and show in the run. Bounded: a report's cases and messages are
//! capped so that a hostile or enormous report cannot swamp the record.

use std::sync::{Arc, Mutex};

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

fn bounded(text: String, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
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
            case.message = case.message.take().map(|m| bounded(m, MAX_MESSAGE_CHARS));
        }
        published.push(report.clone());
        self.log.report(report);
        Ok(())
    }
}
