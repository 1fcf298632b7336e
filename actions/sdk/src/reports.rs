//! Publish parsed test reports; the host keeps them with the execution and shows a summary,
//! whether or not the action then succeeds.

use crate::bindings::sandpipe::action::reports as host;

pub use host::{TestCase, TestReport, TestStatus};

pub fn publish(report: &TestReport) {
    host::publish(report);
}
