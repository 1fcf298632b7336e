//! Waiting without timers on the critical path. Whatever an execution waits for — a stop
//! request, an approval decision, a stage it may enter — is decided through the state store,
//! by this process or another. Decisions made through this process's runner wake the waiters
//! at once ([`Signals`]); decisions of other processes are seen when the waiter next looks,
//! which it does on a poll interval only while it actually waits.

use std::pin::Pin;
use std::sync::OnceLock;
use std::time::Duration;

use sandpipe_state::StopRequest;
use tokio::sync::{Notify, futures::Notified, watch};

/// How often a waiting execution looks for what other processes decided.
pub(crate) const CROSS_PROCESS_POLL: Duration = Duration::from_millis(100);

/// In-process wake-ups, shared by every execution of one runner.
#[derive(Default)]
pub(crate) struct Signals {
    changed: Notify,
}

impl Signals {
    /// Something waiters look at may have changed: a stage was left, a transition enabled, an
    /// approval decided, a stop requested.
    pub(crate) fn notify(&self) {
        self.changed.notify_waiters();
    }

    /// A wake-up registered now: take it before checking the condition, then wait on it,
    /// so a change between the check and the wait is not missed.
    pub(crate) fn next_change(&self) -> Pin<Box<Notified<'_>>> {
        let mut notified = Box::pin(self.changed.notified());
        notified.as_mut().enable();
        notified
    }

    /// Wait for `change` (from [`Self::next_change`]) or the poll interval, whichever first.
    pub(crate) async fn wait(change: Pin<Box<Notified<'_>>>) {
        tokio::select! {
            () = change => {}
            () = tokio::time::sleep(CROSS_PROCESS_POLL) => {}
        }
    }
}

/// How one execution is being controlled from outside.
pub(crate) struct ExecutionControl {
    stop: watch::Sender<Option<StopRequest>>,
    abandon: watch::Sender<bool>,
    /// The stage whose failure asks for a rollback (onFailure or onSuccess ROLLBACK).
    rollback: OnceLock<usize>,
}

impl ExecutionControl {
    pub(crate) fn new() -> Self {
        ExecutionControl {
            stop: watch::Sender::new(None),
            abandon: watch::Sender::new(false),
            rollback: OnceLock::new(),
        }
    }

    pub(crate) fn stop_seen(&self, request: StopRequest) {
        if request.abandons() {
            self.abandon.send_replace(true);
        }
        self.stop.send_replace(Some(request));
    }

    pub(crate) fn stop_requested(&self) -> bool {
        self.stop.borrow().is_some()
    }

    pub(crate) fn stop_request(&self) -> Option<StopRequest> {
        self.stop.borrow().clone()
    }

    /// Resolves when a stop request has been seen.
    pub(crate) fn stops(&self) -> watch::Receiver<Option<StopRequest>> {
        self.stop.subscribe()
    }

    pub(crate) fn abandoning(&self) -> bool {
        *self.abandon.borrow()
    }

    /// Resolves when running actions are to be abandoned.
    pub(crate) fn abandoned(&self) -> watch::Receiver<bool> {
        self.abandon.subscribe()
    }

    pub(crate) fn ask_rollback(&self, stage: usize) {
        let _ = self.rollback.set(stage);
    }

    pub(crate) fn rollback_stage(&self) -> Option<usize> {
        self.rollback.get().copied()
    }
}
