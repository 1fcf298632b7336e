//! An action's log file, fed by its events, which also go on to the live view.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use sandpipe_runtime::{ActionEvent, EventSink};
use sandpipe_state::now;

use crate::events::{RunEvent, RunObserver};

pub(crate) struct ActionLog {
    file: Mutex<File>,
    observer: Arc<dyn RunObserver>,
    execution_id: String,
    stage: String,
    action: String,
}

impl ActionLog {
    /// Start the log of an action's run afresh (a retry's run replaces the failed one's).
    pub(crate) fn start(path: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(path.parent().expect("logs live in a directory"))?;
        File::create(path).map(drop)
    }

    /// A writer of the action's log: several may write it (a backend, a worker process's
    /// output readers), each line appended whole.
    pub(crate) fn create(
        path: &Path,
        observer: Arc<dyn RunObserver>,
        execution_id: &str,
        stage: &str,
        action: &str,
    ) -> std::io::Result<Self> {
        std::fs::create_dir_all(path.parent().expect("logs live in a directory"))?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(ActionLog {
            file: Mutex::new(file),
            observer,
            execution_id: execution_id.to_string(),
            stage: stage.to_string(),
            action: action.to_string(),
        })
    }

    /// Say something in the action's own voice (the host's notes about it).
    pub(crate) fn info(&self, message: impl Into<String>) {
        self.emit(ActionEvent::Log {
            level: sandpipe_runtime::LogLevel::Info,
            message: message.into(),
        });
    }

    /// Warn in the action's own voice.
    pub(crate) fn warn(&self, message: impl Into<String>) {
        self.emit(ActionEvent::Log {
            level: sandpipe_runtime::LogLevel::Warn,
            message: message.into(),
        });
    }
}

impl EventSink for ActionLog {
    fn emit(&self, event: ActionEvent) {
        let line = match &event {
            ActionEvent::Log { level, message } => format!("[{level:?}] {message}"),
            ActionEvent::Output { stream, line } => format!("[{stream:?}] {line}"),
            ActionEvent::Progress { percent, summary } => match percent {
                Some(p) => format!("[Progress {p}%] {summary}"),
                None => format!("[Progress] {summary}"),
            },
            ActionEvent::Report(report) => {
                format!("[Report] {}", crate::builds::summarize(report).describe())
            }
        };
        // One write per line, so a follower never reads half of one; a log line that cannot
        // be written is not worth failing the action for.
        let line = format!("{} {line}\n", now());
        let _ = self
            .file
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .write_all(line.as_bytes());
        self.observer.on_event(RunEvent::ActionOutput {
            execution_id: self.execution_id.clone(),
            stage: self.stage.clone(),
            action: self.action.clone(),
            event,
        });
    }
}
