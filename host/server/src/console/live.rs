//! What keeps a page current, as server-sent events: `change` whenever the state moves (the
//! page then fetches its main part again), and each new line of an action's log while the
//! action runs.
//!
//! Streams wake when this server's runs say something ([`Changes`], the observer every run
//! started here reports to) and otherwise look once in a while, since another process on the
//! same state directory (`sandpipe run`, a second server) changes it without telling us. What
//! they compare is cheap: the state's generation, the log file's length.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::Response;
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use tokio::sync::watch;

use sandpipe_engine::{RunEvent, RunObserver};
use sandpipe_state::{ActionStatus, ExecutionStatus};

use crate::App;

/// How often a stream looks for what another process changed.
const STATE_LOOK: Duration = Duration::from_secs(1);
const LOG_LOOK: Duration = Duration::from_millis(500);
/// The most of a log read at one look; the rest is read at the next, without waiting.
const LOG_READ: u64 = 256 * 1024;
/// A line longer than this is sent in pieces (a log is text for people, not a channel).
const LINE_MAX: usize = 16 * 1024;

/// Wake-ups for the console's streams: one counter for state changes, one for log output,
/// and the server's shutdown, which ends every stream (a browser keeps them open forever,
/// and a graceful shutdown waits for open responses).
pub struct Changes {
    state: watch::Sender<u64>,
    output: watch::Sender<u64>,
    closed: watch::Sender<bool>,
}

impl Default for Changes {
    fn default() -> Self {
        Changes {
            state: watch::Sender::new(0),
            output: watch::Sender::new(0),
            closed: watch::Sender::new(false),
        }
    }
}

impl Changes {
    /// Something was written through the API: streams look at the state now.
    pub fn touched(&self) {
        self.state.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The server is stopping: every stream ends.
    pub fn close(&self) {
        self.closed.send_replace(true);
    }
}

impl RunObserver for Changes {
    fn on_event(&self, event: RunEvent) {
        let counter = match event {
            RunEvent::ActionOutput { .. } => &self.output,
            _ => &self.state,
        };
        counter.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// Wait until `wake` moves, `look` passes, or the server closes (false).
async fn wait(
    wake: &mut watch::Receiver<u64>,
    closed: &mut watch::Receiver<bool>,
    look: Duration,
) -> bool {
    if *closed.borrow() {
        return false;
    }
    tokio::select! {
        _ = wake.changed() => true,
        _ = tokio::time::sleep(look) => true,
        _ = closed.changed() => false,
    }
}

fn sse(
    stream: impl futures::Stream<Item = Result<Event, Infallible>> + Send + 'static,
) -> Response<Body> {
    let mut response = Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response();
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        "no-store".parse().expect("a valid header"),
    );
    response
}

/// `GET /events?since=<generation>`: a `change` event whenever the state's generation moves
/// from the one the page was rendered at.
pub fn events(app: Arc<App>, since: Option<i64>) -> Response<Body> {
    let wake = app.changes.state.subscribe();
    let closed = app.changes.closed.subscribe();
    let stream = futures::stream::unfold(
        (app, wake, closed, since),
        |(app, mut wake, mut closed, mut last)| async move {
            loop {
                let now = tokio::task::block_in_place(|| app.runner.state().generation()).ok();
                if let Some(now) = now {
                    if last.is_some_and(|last| last != now) {
                        let event = Event::default().event("change").data(now.to_string());
                        return Some((Ok(event), (app, wake, closed, Some(now))));
                    }
                    last = Some(now);
                }
                if !wait(&mut wake, &mut closed, STATE_LOOK).await {
                    return None;
                }
            }
        },
    );
    sse(stream)
}

/// Which action's log a stream follows, and how far it has got.
struct LogFollower {
    app: Arc<App>,
    execution: String,
    stage: String,
    action: String,
    /// The log file, once the action has one.
    file: Option<PathBuf>,
    offset: u64,
    /// The start of a line whose end has not been written yet.
    partial: Vec<u8>,
    ready: VecDeque<Event>,
    /// The state generation at which the action was last seen running.
    seen_running_at: Option<i64>,
    done: bool,
}

impl LogFollower {
    /// The log file and whether the action may still write to it.
    fn look(&self) -> (Option<PathBuf>, bool) {
        let Ok(record) = self.app.runner.state().executions().get(&self.execution) else {
            return (None, false);
        };
        let action = record
            .stages
            .iter()
            .find(|s| s.name == self.stage)
            .and_then(|s| s.actions.iter().find(|a| a.name == self.action));
        let execution_running = matches!(
            record.status,
            ExecutionStatus::InProgress | ExecutionStatus::Stopping
        );
        let Some(action) = action else {
            return (None, false);
        };
        let running = execution_running
            && matches!(
                action.status,
                ActionStatus::NotStarted | ActionStatus::InProgress
            );
        let file = action.log_path(&self.app.runner.execution_dir(&self.execution));
        (file, running)
    }

    /// Read what was appended since the last look; whether anything was.
    fn read(&mut self, file: &std::path::Path) -> bool {
        let Ok(mut opened) = std::fs::File::open(file) else {
            return false;
        };
        let length = opened.metadata().map(|m| m.len()).unwrap_or(0);
        if length < self.offset {
            // A retry started the log afresh.
            self.offset = 0;
            self.partial.clear();
        }
        if length == self.offset || opened.seek(SeekFrom::Start(self.offset)).is_err() {
            return false;
        }
        let mut bytes = Vec::new();
        let Ok(read) = opened.take(LOG_READ).read_to_end(&mut bytes) else {
            return false;
        };
        self.offset += read as u64;
        self.partial.extend_from_slice(&bytes);
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            self.send_line(&line[..line.len() - 1]);
        }
        while self.partial.len() > LINE_MAX {
            let piece: Vec<u8> = self.partial.drain(..LINE_MAX).collect();
            self.send_line(&piece);
        }
        read > 0
    }

    fn send_line(&mut self, line: &[u8]) {
        // As `sandpipe logs` shows a line: control characters written out (SSE could not
        // carry a carriage return inside data anyway).
        let text =
            sandpipe_model::text::escape_controls(&String::from_utf8_lossy(line)).into_owned();
        self.ready
            .push_back(Event::default().event("line").data(text));
    }

    /// One step: the next event, after waiting for the log to grow when it has not.
    async fn next(
        mut self,
        wake: &mut watch::Receiver<u64>,
        closed: &mut watch::Receiver<bool>,
    ) -> Option<(Event, Self)> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some((event, self));
            }
            if self.done {
                return None;
            }
            let generation = self.app.runner.state().generation().ok();
            // Nothing committed since the action was seen running: it still is, and its
            // record need not be read again.
            let running = if self.seen_running_at.is_some() && self.seen_running_at == generation {
                true
            } else {
                let (file, running) = tokio::task::block_in_place(|| self.look());
                self.file = file;
                running
            };
            self.seen_running_at = if running { generation } else { None };
            let grew = match self.file.clone() {
                Some(file) => tokio::task::block_in_place(|| self.read(&file)),
                None => false,
            };
            if grew {
                continue;
            }
            if !running {
                if !self.partial.is_empty() {
                    let rest = std::mem::take(&mut self.partial);
                    self.send_line(&rest);
                }
                self.ready
                    .push_back(Event::default().event("end").data("end"));
                self.done = true;
                continue;
            }
            if !wait(wake, closed, LOG_LOOK).await {
                return None;
            }
        }
    }
}

/// `GET …/executions/<id>/logs/<stage>/<action>?from=<offset>`: the log's lines from byte
/// `from` on, as they are written, then `end` once the action is over.
pub fn log(app: Arc<App>, execution: &str, stage: &str, action: &str, from: u64) -> Response<Body> {
    let wake = app.changes.output.subscribe();
    let closed = app.changes.closed.subscribe();
    let follower = LogFollower {
        app,
        execution: execution.to_string(),
        stage: stage.to_string(),
        action: action.to_string(),
        file: None,
        offset: from,
        partial: Vec::new(),
        ready: VecDeque::new(),
        seen_running_at: None,
        done: false,
    };
    let stream = futures::stream::unfold(
        (follower, wake, closed),
        |(follower, mut wake, mut closed)| async move {
            let (event, follower) = follower.next(&mut wake, &mut closed).await?;
            Some((Ok(event), (follower, wake, closed)))
        },
    );
    sse(stream)
}
