//! The `log` import and the capture of the guest's stdout and stderr. Everything the guest
//! says becomes [`ActionEvent`]s: sanitised (no terminal escape sequences or control
//! characters reach the operator's terminal), split into lines, and bounded per execution.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use sandpipe_model::text::{clip, strip_escapes};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

use crate::bindings::sandpipe::action::log as wit;
use crate::state::ActionState;

// Every action may log; the log itself is the store's, shared with WASI's stdout and stderr.
capability_module!(["sandpipe:action/log@0.1"], None, [wit], |_, _| {});

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputStream {
    Stdout,
    Stderr,
}

/// Something an action said or reported while running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionEvent {
    Log {
        level: LogLevel,
        message: String,
    },
    Output {
        stream: OutputStream,
        line: String,
    },
    Progress {
        percent: Option<u8>,
        summary: String,
    },
    /// A test report the action published (see the `reports` import).
    Report(crate::action::TestReport),
}

/// Where an execution's events go (the engine writes them to the action log and the
/// progress view).
pub trait EventSink: Send + Sync {
    fn emit(&self, event: ActionEvent);
}

/// Longest line kept whole; longer output is split.
const MAX_LINE_BYTES: usize = 16 * 1024;

/// The shared, bounded log of one execution.
pub(crate) struct LogCapture {
    sink: Arc<dyn EventSink>,
    state: Mutex<CaptureState>,
    /// Secret values handed to the action; replaced by `***` in everything it says.
    masked: Mutex<Vec<String>>,
}

struct CaptureState {
    remaining: usize,
    truncated: bool,
    partial: [Vec<u8>; 2],
}

impl LogCapture {
    pub(crate) fn new(sink: Arc<dyn EventSink>, budget: usize) -> Arc<Self> {
        Arc::new(LogCapture {
            sink,
            state: Mutex::new(CaptureState {
                remaining: budget,
                truncated: false,
                partial: [Vec::new(), Vec::new()],
            }),
            masked: Mutex::new(Vec::new()),
        })
    }

    /// Mask `value` from now on, in this log and in the action's result.
    pub(crate) fn add_mask(&self, value: &str) {
        let value = value.trim();
        if value.is_empty() {
            return;
        }
        let mut masked = self.masked.lock().unwrap();
        if !masked.iter().any(|m| m == value) {
            masked.push(value.to_string());
            // Longest first, so a secret containing another is masked whole.
            masked.sort_by_key(|m| std::cmp::Reverse(m.len()));
        }
    }

    /// `text` with every masked value replaced by `***`.
    pub(crate) fn mask(&self, text: &str) -> String {
        let masked = self.masked.lock().unwrap();
        let mut text = text.to_string();
        for value in masked.iter() {
            if text.contains(value.as_str()) {
                text = text.replace(value.as_str(), "***");
            }
        }
        text
    }

    fn emit(&self, event: ActionEvent) {
        let event = match event {
            ActionEvent::Log { level, message } => ActionEvent::Log {
                level,
                message: self.mask(&message),
            },
            ActionEvent::Output { stream, line } => ActionEvent::Output {
                stream,
                line: self.mask(&line),
            },
            ActionEvent::Progress { percent, summary } => ActionEvent::Progress {
                percent,
                summary: self.mask(&summary),
            },
            other => other,
        };
        self.sink.emit(event);
    }

    /// One line a command run through the `exec` import printed, tagged (e.g. with the
    /// build phase).
    pub(crate) fn command_line(&self, stream: OutputStream, tag: &str, line: &[u8]) {
        let mut state = self.state.lock().unwrap();
        if self.charge(&mut state, line.len() + tag.len() + 3) {
            self.emit(ActionEvent::Output {
                stream,
                line: format!(
                    "[{}] {}",
                    strip_escapes(tag.as_bytes()),
                    strip_escapes(line)
                ),
            });
        }
    }

    pub(crate) fn report(&self, report: crate::action::TestReport) {
        let mut state = self.state.lock().unwrap();
        let bytes: usize = report
            .cases
            .iter()
            .map(|c| c.name.len() + c.message.as_ref().map_or(0, String::len))
            .sum();
        if self.charge(&mut state, bytes.min(64 << 10)) {
            self.emit(ActionEvent::Report(report));
        }
    }

    /// Charge `bytes` against the budget; false once it is spent (after one marker event).
    fn charge(&self, state: &mut CaptureState, bytes: usize) -> bool {
        if bytes <= state.remaining {
            state.remaining -= bytes;
            return true;
        }
        state.remaining = 0;
        if !state.truncated {
            state.truncated = true;
            self.sink.emit(ActionEvent::Log {
                level: LogLevel::Warn,
                message: "log limit reached: further output from this action is dropped".into(),
            });
        }
        false
    }

    pub(crate) fn log(&self, level: LogLevel, message: &str) {
        let mut state = self.state.lock().unwrap();
        if self.charge(&mut state, message.len()) {
            self.emit(ActionEvent::Log {
                level,
                message: strip_escapes(message.as_bytes()),
            });
        }
    }

    pub(crate) fn progress(&self, percent: Option<u8>, summary: &str) {
        let mut state = self.state.lock().unwrap();
        if self.charge(&mut state, summary.len()) {
            self.emit(ActionEvent::Progress {
                percent: percent.map(|p| p.min(100)),
                // ExecutionDetails.summary's limit: a progress line is a summary in waiting.
                summary: clip(
                    &strip_escapes(summary.as_bytes()),
                    crate::result_limits::SUMMARY_CHARS,
                )
                .into_owned(),
            });
        }
    }

    fn write(&self, stream: OutputStream, mut bytes: &[u8]) {
        let mut state = self.state.lock().unwrap();
        if !self.charge(&mut state, bytes.len()) {
            return;
        }
        let index = stream as usize;
        while !bytes.is_empty() {
            let (chunk, rest, complete) = match bytes.iter().position(|&b| b == b'\n') {
                Some(newline) => (&bytes[..newline], &bytes[newline + 1..], true),
                None => (bytes, &[][..], false),
            };
            state.partial[index].extend_from_slice(chunk);
            if complete || state.partial[index].len() >= MAX_LINE_BYTES {
                let line = std::mem::take(&mut state.partial[index]);
                self.emit(ActionEvent::Output {
                    stream,
                    line: strip_escapes(&line),
                });
            }
            bytes = rest;
        }
    }

    /// Emit whatever partial lines remain (the guest's last output without a newline).
    pub(crate) fn flush(&self) {
        let mut state = self.state.lock().unwrap();
        for (index, stream) in [OutputStream::Stdout, OutputStream::Stderr]
            .into_iter()
            .enumerate()
        {
            let line = std::mem::take(&mut state.partial[index]);
            if !line.is_empty() {
                self.emit(ActionEvent::Output {
                    stream,
                    line: strip_escapes(&line),
                });
            }
        }
    }
}

/// The guest's stdout or stderr.
pub(crate) struct CapturedOutput {
    pub(crate) capture: Arc<LogCapture>,
    pub(crate) stream: OutputStream,
}

impl IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(CaptureWriter {
            capture: self.capture.clone(),
            stream: self.stream,
        })
    }
}

struct CaptureWriter {
    capture: Arc<LogCapture>,
    stream: OutputStream,
}

impl AsyncWrite for CaptureWriter {
    /// Always accepts everything: over the budget, output is dropped rather than making the
    /// guest's write fail or trap.
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.capture.write(self.stream, buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl wit::Host for ActionState {
    async fn log(&mut self, level: wit::Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            wit::Level::Trace => LogLevel::Trace,
            wit::Level::Debug => LogLevel::Debug,
            wit::Level::Info => LogLevel::Info,
            wit::Level::Warn => LogLevel::Warn,
            wit::Level::Error => LogLevel::Error,
        };
        self.log.log(level, &message);
        Ok(())
    }

    async fn progress(&mut self, percent: Option<u8>, summary: String) -> wasmtime::Result<()> {
        self.log.progress(percent, &summary);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Collect(Mutex<Vec<ActionEvent>>);
    impl EventSink for Collect {
        fn emit(&self, event: ActionEvent) {
            self.0.lock().unwrap().push(event);
        }
    }

    #[test]
    fn splits_lines_and_stops_at_the_budget() {
        let sink = Arc::new(Collect::default());
        let capture = LogCapture::new(sink.clone(), 20);
        capture.write(OutputStream::Stdout, b"one\ntw");
        capture.write(OutputStream::Stdout, b"o\nthree");
        capture.write(OutputStream::Stdout, b"0123456789");
        capture.flush();
        let events = sink.0.lock().unwrap().clone();
        let line = |l: &str| ActionEvent::Output {
            stream: OutputStream::Stdout,
            line: l.into(),
        };
        assert_eq!(events[0], line("one"));
        assert_eq!(events[1], line("two"));
        assert!(matches!(
            &events[2],
            ActionEvent::Log {
                level: LogLevel::Warn,
                ..
            }
        ));
        assert_eq!(events[3], line("three"));
        assert_eq!(events.len(), 4);
    }
}
