//! Which execution a command means: an id or a unique prefix of one (resolved by the state
//! store, for every command alike), or — given none, or `latest` — the latest execution that
//! fits the command.

use std::path::Path;

use sandpipe_state::{ExecutionStatus, ExecutionSummary, StateStore};

/// The word that names the latest execution instead of an id.
pub const LATEST: &str = "latest";

/// How many executions a "which one?" answer lists.
const SHOWN: usize = 10;

/// What "the latest execution" means to a command.
#[derive(Clone, Copy)]
pub enum Latest {
    /// The newest execution (`executions show`, `logs`).
    Any,
    /// The one running (`stop`; one already stopping too, when abandoning it); two running
    /// are a question for the operator.
    Running { stopping_too: bool },
    /// The newest failed execution (`retry`).
    Failed,
}

impl Latest {
    fn statuses(self) -> &'static [ExecutionStatus] {
        match self {
            Latest::Any => &[],
            Latest::Running {
                stopping_too: false,
            } => &[ExecutionStatus::InProgress],
            Latest::Running { stopping_too: true } => {
                &[ExecutionStatus::InProgress, ExecutionStatus::Stopping]
            }
            Latest::Failed => &[ExecutionStatus::Failed],
        }
    }

    fn adjective(self) -> &'static str {
        match self {
            Latest::Any => "",
            Latest::Running { .. } => "running ",
            Latest::Failed => "failed ",
        }
    }
}

/// The execution a command names: `given` (an id, a unique prefix of one, or `latest`), or
/// without it the latest one `latest` describes — of `pipeline` when one is given.
pub fn execution(
    state: &StateStore,
    state_dir: &Path,
    given: Option<&str>,
    pipeline: Option<&str>,
    latest: Latest,
) -> anyhow::Result<ExecutionSummary> {
    if let Some(id) = given.filter(|id| *id != LATEST) {
        let found = state.executions().resolve(id)?;
        if let Some(pipeline) = pipeline.filter(|p| *p != found.pipeline) {
            anyhow::bail!(
                "execution {} is an execution of '{}', not of '{pipeline}'",
                found.id,
                found.pipeline
            );
        }
        return Ok(found);
    }
    let mut found = state
        .executions()
        .list_in(pipeline, latest.statuses(), SHOWN + 1)?;
    let of = match pipeline {
        Some(pipeline) => format!(" of '{pipeline}'"),
        None => String::new(),
    };
    match (latest, found.len()) {
        (_, 0) => {
            let newest = state.executions().list(pipeline, 1)?;
            let also = match (newest.first(), latest) {
                (Some(newest), Latest::Running { .. } | Latest::Failed) => {
                    format!("; the latest is {}", newest.describe())
                }
                _ => String::new(),
            };
            anyhow::bail!(
                "no {}execution{of} in {}{also}",
                latest.adjective(),
                state_dir.display()
            )
        }
        (Latest::Running { .. }, n) if n > 1 => {
            // One more than is shown was asked for, to know whether there are more.
            let (count, more) = match n > SHOWN {
                true => (format!("more than {SHOWN}"), " and more"),
                false => (n.to_string(), ""),
            };
            let listed: Vec<String> = found
                .iter()
                .take(SHOWN)
                .map(ExecutionSummary::describe)
                .collect();
            anyhow::bail!(
                "{count} executions{of} are running: {}{more}; name the one you mean by its id",
                listed.join(", ")
            )
        }
        _ => Ok(found.remove(0)),
    }
}

/// The record of the execution a command names, as [`execution`] chooses it.
pub fn record(
    state: &StateStore,
    state_dir: &Path,
    given: Option<&str>,
    pipeline: Option<&str>,
    latest: Latest,
) -> anyhow::Result<sandpipe_state::ExecutionRecord> {
    let chosen = execution(state, state_dir, given, pipeline, latest)?;
    Ok(state.executions().get(&chosen.id)?)
}
