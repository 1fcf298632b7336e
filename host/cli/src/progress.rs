//! The live view of a run: a spinner per running action on a terminal (plain lines
//! otherwise) on stderr, and the summary table on stdout.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use sandpipe_engine::{RunEvent, RunObserver};
use sandpipe_model::text::{Escaped, one_line};
use sandpipe_runtime::{ActionEvent, LogLevel, format_duration};
use sandpipe_state::{
    ActionRecord, ActionStatus, ExecutionRecord, ExecutionStatus, ExecutionSummary,
};

use crate::terminal::{self, Fit, Stream, Table, Tone, cell, errln, outln};

/// Longest details shown in a table cell or a live line; `executions show` prints them whole.
const DETAILS_CHARS: usize = 300;
/// Longest text on an action's spinner line.
const SPINNER_CHARS: usize = 120;

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
            None => errln!("{text}"),
        }
    }

    /// The table of every action and how it ended, and where to look further.
    pub fn summary(&self, record: &ExecutionRecord) {
        print_execution_table(record);
        outln!(
            "Execution {} {} in {}. Details: sandpipe executions show {}",
            record.pipeline_execution_id,
            terminal::paint(
                Stream::Stdout,
                execution_tone(record.status),
                &format!("{:?}", record.status)
            ),
            elapsed(&record.start_time, record.end_time.as_deref())
                .map(format_duration)
                .unwrap_or_default(),
            record.pipeline_execution_id
        );
    }
}

fn action_tone(status: ActionStatus) -> Tone {
    match status {
        ActionStatus::Succeeded => Tone::Good,
        ActionStatus::Failed => Tone::Bad,
        _ => Tone::Muted,
    }
}

fn execution_tone(status: ExecutionStatus) -> Tone {
    match status {
        ExecutionStatus::Succeeded => Tone::Good,
        ExecutionStatus::Failed => Tone::Bad,
        _ => Tone::Muted,
    }
}

/// A column of names (a stage, an action, a pipeline): whole, or cut with an ellipsis.
const NAME: Fit = Fit::Token { keep: 10 };

fn print_execution_table(record: &ExecutionRecord) {
    let mut table = Table::new(&[
        ("Stage", NAME),
        ("Action", NAME),
        // An action type is cut only when nothing else can give: it says what ran.
        ("Provider", Fit::Token { keep: 24 }),
        ("Status", Fit::Token { keep: 10 }),
        ("Duration", Fit::Token { keep: 8 }),
        ("Details", Fit::Text),
    ]);
    for stage in &record.stages {
        for action in &stage.actions {
            table.row(vec![
                cell(Escaped(&stage.name)),
                cell(Escaped(&action.name)),
                cell(Escaped(&action.action_type)),
                cell(format!("{:?}", action.status)).tone(action_tone(action.status)),
                cell(duration(action).map(format_duration).unwrap_or_default()),
                cell(one_line(&details(action), DETAILS_CHARS)),
            ]);
        }
    }
    outln!("{}", table.render());
    print_test_reports(record);
}

/// Each action's test reports, with the cases that did not pass (the first few).
fn print_test_reports(record: &ExecutionRecord) {
    const SHOWN: usize = 10;
    for stage in &record.stages {
        for action in &stage.actions {
            for report in &action.reports {
                outln!(
                    "{}/{}: {}",
                    Escaped(&stage.name),
                    Escaped(&action.name),
                    Escaped(&report.describe())
                );
                for failure in report.failures.iter().take(SHOWN) {
                    let name = match &failure.prefix {
                        Some(prefix) => format!("{prefix} › {}", failure.name),
                        None => failure.name.clone(),
                    };
                    let message = failure.message.as_deref().unwrap_or_default();
                    outln!(
                        "  {} {}: {}",
                        failure.status,
                        one_line(&name, DETAILS_CHARS),
                        one_line(message, DETAILS_CHARS)
                    );
                }
                let more = (report.failed + report.errors) as usize;
                if more > SHOWN {
                    outln!("  … and {} more", more - SHOWN);
                }
            }
        }
    }
}

/// `sandpipe executions list`.
pub fn print_execution_list(executions: &[ExecutionSummary]) {
    let mut table = Table::new(&[
        // Cut, an id is still a prefix every command takes.
        ("Execution", Fit::Token { keep: 9 }),
        ("Pipeline", NAME),
        ("Version", Fit::Token { keep: 7 }),
        ("Status", Fit::Token { keep: 10 }),
        ("Started", Fit::Words),
        ("Duration", Fit::Token { keep: 8 }),
        ("Summary", Fit::Text),
    ]);
    for execution in executions {
        table.row(vec![
            cell(&execution.id),
            cell(Escaped(&execution.pipeline)),
            cell(execution.pipeline_version),
            cell(format!("{:?}", execution.status)).tone(execution_tone(execution.status)),
            cell(
                execution
                    .start_time
                    .get(..19)
                    .unwrap_or(&execution.start_time)
                    .replace('T', " "),
            ),
            cell(
                elapsed(&execution.start_time, execution.end_time.as_deref())
                    .map(format_duration)
                    .unwrap_or_default(),
            ),
            cell(one_line(
                execution.status_summary.as_deref().unwrap_or_default(),
                DETAILS_CHARS,
            )),
        ]);
    }
    outln!("{}", table.render());
}

/// `sandpipe executions show`: the table, then each action's configuration, variables and
/// artifacts.
pub fn print_execution(record: &ExecutionRecord) {
    outln!(
        "Execution {} of pipeline {}: {:?}{}",
        record.pipeline_execution_id,
        Escaped(&record.pipeline_name),
        record.status,
        record
            .status_summary
            .as_deref()
            .map(|s| format!(" ({})", Escaped(s)))
            .unwrap_or_default()
    );
    if let Some(trigger) = &record.trigger {
        match trigger.trigger_detail.as_str() {
            "" => outln!("Trigger: {}", Escaped(&trigger.trigger_type)),
            detail => outln!(
                "Trigger: {} ({})",
                Escaped(&trigger.trigger_type),
                Escaped(detail)
            ),
        }
    }
    for revision in record.source_revisions() {
        outln!(
            "Source revision: {} {}{}",
            Escaped(&revision.action_name),
            Escaped(&revision.revision_id),
            revision
                .revision_summary
                .map(|s| format!(" ({})", Escaped(&s)))
                .unwrap_or_default()
        );
    }
    // The V2 pipeline variables, as resolved for this execution.
    for (name, value) in &record.variables {
        outln!("Variable: {} = {}", Escaped(name), Escaped(value));
    }
    print_execution_table(record);
    for stage in &record.stages {
        for action in stage.actions.iter().filter(|a| a.start_time.is_some()) {
            outln!(
                "{}/{} ({})",
                Escaped(&stage.name),
                Escaped(&action.name),
                Escaped(&action.action_type)
            );
            let details = details(action);
            if details.chars().count() > DETAILS_CHARS {
                outln!("  details {}", Escaped(&details));
            }
            for (key, value) in &action.resolved_configuration {
                outln!("  configuration {} = {}", Escaped(key), Escaped(value));
            }
            for (direction, artifacts) in [
                ("input ", &action.input_artifacts),
                ("output", &action.output_artifacts),
            ] {
                for artifact in artifacts {
                    outln!(
                        "  {direction} {} sha256:{} s3://{}/{}",
                        Escaped(&artifact.name),
                        artifact.sha256,
                        Escaped(&artifact.bucket),
                        Escaped(&artifact.key)
                    );
                }
            }
            for (name, value) in &action.output_variables {
                outln!("  variable {} = {}", Escaped(name), Escaped(value));
            }
        }
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

impl RunObserver for Progress {
    fn on_event(&self, event: RunEvent) {
        match event {
            RunEvent::ExecutionStarted {
                pipeline,
                execution_id,
                resumed,
                ..
            } => self.line(format!(
                "Pipeline {pipeline}: execution {execution_id}{}",
                if resumed { " (retry)" } else { "" }
            )),
            RunEvent::StageStarted { stage, .. } => self.line(format!("Stage {stage}")),
            RunEvent::StageNote { stage, message, .. } => {
                self.line(format!("Stage {}: {}", Escaped(&stage), Escaped(&message)))
            }
            RunEvent::ActionStarted { stage, action, .. } => match &self.live {
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
                None => errln!("  [{stage}/{action}] started"),
            },
            RunEvent::ActionOutput {
                stage,
                action,
                event,
                ..
            } => {
                let text = match event {
                    ActionEvent::Log { level, message } if level >= LogLevel::Info => message,
                    ActionEvent::Log { .. } => return,
                    ActionEvent::Output { line, .. } => line,
                    ActionEvent::Progress { percent, summary } => match percent {
                        Some(p) => format!("{p}% {summary}"),
                        None => summary,
                    },
                    ActionEvent::Report(report) => {
                        sandpipe_engine::builds::summarize(&report).describe()
                    }
                };
                if let Some(live) = &self.live
                    && let Some(bar) = live
                        .bars
                        .lock()
                        .unwrap()
                        .get(&(stage.clone(), action.clone()))
                {
                    bar.set_message(one_line(&text, SPINNER_CHARS));
                }
                self.line(format!(
                    "  [{}/{}] | {}",
                    Escaped(&stage),
                    Escaped(&action),
                    Escaped(&text)
                ));
            }
            RunEvent::ActionFinished { stage, record, .. } => {
                let took = duration(&record).map(format_duration).unwrap_or_default();
                let (mark, tone) = match record.status {
                    ActionStatus::Succeeded => ("✔", Tone::Good),
                    _ => ("✘", Tone::Bad),
                };
                let mark = terminal::paint(Stream::Stderr, tone, mark);
                let text = details(&record);
                let line = format!(
                    "  {mark} [{}/{}] {:?} in {took}{}{}",
                    Escaped(&stage),
                    Escaped(&record.name),
                    record.status,
                    if text.is_empty() { "" } else { ": " },
                    one_line(&text, DETAILS_CHARS)
                );
                match &self.live {
                    Some(live) => {
                        if let Some(bar) = live.bars.lock().unwrap().remove(&(stage, record.name)) {
                            bar.finish_and_clear();
                        }
                        let _ = live.multi.println(line);
                    }
                    None => errln!("{line}"),
                }
            }
            RunEvent::StopRequested {
                abandon, reason, ..
            } => self.line(format!(
                "Stopping{}{}",
                if abandon {
                    ": running actions are abandoned"
                } else {
                    ": running actions finish, nothing new starts"
                },
                reason
                    .map(|r| format!(" ({})", Escaped(&r)))
                    .unwrap_or_default()
            )),
            RunEvent::StageFinished { .. } | RunEvent::ExecutionFinished { .. } => {}
        }
    }
}
