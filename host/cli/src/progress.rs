//! The live view of a run: a spinner per running action on a terminal (plain lines
//! otherwise) on stderr, and the summary table on stdout.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use comfy_table::{Cell, Color, ContentArrangement, Table, presets};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use sandpipe_engine::record::{ActionRecord, ActionStatus, ExecutionRecord};
use sandpipe_engine::{RunEvent, RunObserver};
use sandpipe_runtime::{ActionEvent, LogLevel};

pub struct Progress {
    live: Option<Live>,
}

struct Live {
    multi: MultiProgress,
    bars: Mutex<HashMap<(String, String), ProgressBar>>,
}

impl Progress {
    pub fn new(force_plain: bool) -> Self {
        let live = (!force_plain && std::io::stderr().is_terminal()).then(|| Live {
            multi: MultiProgress::new(),
            bars: Mutex::new(HashMap::new()),
        });
        Progress { live }
    }

    fn line(&self, text: String) {
        match &self.live {
            Some(live) => {
                let _ = live.multi.println(text);
            }
            None => eprintln!("{text}"),
        }
    }

    /// The table of every action and how it ended.
    pub fn summary(&self, record: &ExecutionRecord, record_path: &Path) {
        let mut table = Table::new();
        table
            .load_style(presets::UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_header([
                "Stage", "Action", "Provider", "Status", "Duration", "Details",
            ]);
        if !std::io::stdout().is_terminal() {
            table.force_no_tty().set_width(160);
        }
        for stage in &record.stages {
            for action in &stage.actions {
                let status = format!("{:?}", action.status);
                let color = match action.status {
                    ActionStatus::Succeeded => Color::Green,
                    ActionStatus::Failed => Color::Red,
                    _ => Color::Grey,
                };
                table.add_row(vec![
                    Cell::new(&stage.name),
                    Cell::new(&action.name),
                    Cell::new(&action.action_type),
                    Cell::new(status).fg(color),
                    Cell::new(duration(action).map(format_duration).unwrap_or_default()),
                    Cell::new(details(action)),
                ]);
            }
        }
        println!("{table}");
        let total = elapsed(&record.start_time, record.end_time.as_deref())
            .map(format_duration)
            .unwrap_or_default();
        println!(
            "Execution {} {:?} in {total}. Record: {}",
            record.pipeline_execution_id,
            record.status,
            record_path.display()
        );
    }
}

fn details(action: &ActionRecord) -> String {
    match (&action.error, &action.summary) {
        (Some(error), _) => format!("{}: {}", error.code, error.message),
        (None, Some(summary)) => summary.clone(),
        (None, None) => String::new(),
    }
}

fn elapsed(start: &str, end: Option<&str>) -> Option<Duration> {
    let start: jiff::Timestamp = start.parse().ok()?;
    let end: jiff::Timestamp = end?.parse().ok()?;
    Duration::try_from(end.duration_since(start)).ok()
}

fn duration(action: &ActionRecord) -> Option<Duration> {
    elapsed(action.start_time.as_deref()?, action.end_time.as_deref())
}

fn format_duration(duration: Duration) -> String {
    sandpipe_runtime::invoke::format_duration(duration)
}

impl RunObserver for Progress {
    fn on_event(&self, event: RunEvent) {
        match event {
            RunEvent::ExecutionStarted {
                pipeline,
                execution_id,
            } => self.line(format!("Pipeline {pipeline}: execution {execution_id}")),
            RunEvent::StageStarted { stage } => self.line(format!("Stage {stage}")),
            RunEvent::ActionStarted { stage, action } => match &self.live {
                Some(live) => {
                    let bar = live.multi.add(ProgressBar::new_spinner());
                    bar.set_style(
                        ProgressStyle::with_template("  {spinner} {prefix} {elapsed} {wide_msg}")
                            .expect("the template is valid"),
                    );
                    bar.set_prefix(format!("{stage}/{action}"));
                    bar.enable_steady_tick(Duration::from_millis(100));
                    live.bars.lock().unwrap().insert((stage, action), bar);
                }
                None => eprintln!("  [{stage}/{action}] started"),
            },
            RunEvent::ActionOutput {
                stage,
                action,
                event,
            } => {
                let text = match event {
                    ActionEvent::Log { level, message } if level >= LogLevel::Info => message,
                    ActionEvent::Log { .. } => return,
                    ActionEvent::Output { line, .. } => line,
                    ActionEvent::Progress { percent, summary } => match percent {
                        Some(p) => format!("{p}% {summary}"),
                        None => summary,
                    },
                };
                if let Some(live) = &self.live
                    && let Some(bar) = live
                        .bars
                        .lock()
                        .unwrap()
                        .get(&(stage.clone(), action.clone()))
                {
                    bar.set_message(text.clone());
                }
                self.line(format!("  [{stage}/{action}] | {text}"));
            }
            RunEvent::ActionFinished { stage, record } => {
                let took = duration(&record).map(format_duration).unwrap_or_default();
                let (mark, text) = match record.status {
                    ActionStatus::Succeeded => ("✔", details(&record)),
                    _ => ("✘", details(&record)),
                };
                let line = format!(
                    "  {mark} [{stage}/{}] {:?} in {took}{}{text}",
                    record.name,
                    record.status,
                    if text.is_empty() { "" } else { ": " }
                );
                match &self.live {
                    Some(live) => {
                        if let Some(bar) = live.bars.lock().unwrap().remove(&(stage, record.name)) {
                            bar.finish_and_clear();
                        }
                        let _ = live.multi.println(line);
                    }
                    None => eprintln!("{line}"),
                }
            }
            RunEvent::StageFinished { .. } | RunEvent::ExecutionFinished { .. } => {}
        }
    }
}
