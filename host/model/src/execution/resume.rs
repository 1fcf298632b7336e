//! Where an execution (re)starts: a new execution runs every stage; a retry takes up a failed
//! execution at its failed stage; a rollback runs one stage again on an earlier execution's
//! artifacts; a partial run (`--stage`, `--from`, `--until`) runs some stages, taking the
//! results of the stages before its first from an earlier execution.

use std::collections::BTreeSet;

use crate::PipelineDeclaration;
use crate::plan::{ExecutionPlan, StagePlan};

/// Which stages a run runs, as the operator chose them: `only` (every stage named), or the
/// stages `from` one `until` another (either end open). Empty: every stage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageSelection {
    pub only: Vec<String>,
    pub from: Option<String>,
    pub until: Option<String>,
}

impl StageSelection {
    pub fn is_all(&self) -> bool {
        self.only.is_empty() && self.from.is_none() && self.until.is_none()
    }

    /// The indices of the stages run, or why the selection names no stage of `pipeline`.
    pub fn resolve(&self, pipeline: &PipelineDeclaration) -> Result<BTreeSet<usize>, String> {
        let index = |flag: &str, name: &str| {
            pipeline
                .stages
                .iter()
                .position(|stage| stage.name == name)
                .ok_or_else(|| {
                    let names: Vec<&str> =
                        pipeline.stages.iter().map(|s| s.name.as_str()).collect();
                    format!(
                        "{flag} {name}: the pipeline has no stage '{name}' (its stages: {})",
                        names.join(", ")
                    )
                })
        };
        if !self.only.is_empty() {
            return self
                .only
                .iter()
                .map(|name| index("--stage", name))
                .collect();
        }
        let from = match &self.from {
            Some(name) => index("--from", name)?,
            None => 0,
        };
        let until = match &self.until {
            Some(name) => index("--until", name)?,
            None => pipeline.stages.len().saturating_sub(1),
        };
        if from > until {
            return Err(format!(
                "--from {} comes after --until {}: no stage is left to run",
                self.from.as_deref().unwrap_or_default(),
                self.until.as_deref().unwrap_or_default()
            ));
        }
        Ok((from..=until).collect())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResumePlan {
    /// The first stage to run.
    pub from_stage: usize,
    /// Actions (stage, action) that already succeeded and are not run again; their artifacts
    /// and variables are there to consume.
    pub done: BTreeSet<(usize, usize)>,
    /// Run `from_stage` alone (a rollback).
    pub only_stage: bool,
    /// Stages from `from_stage` on that are not run, recorded Skipped (a partial run).
    pub skipped: BTreeSet<usize>,
}

impl ResumePlan {
    /// A new execution: everything runs.
    pub fn fresh() -> Self {
        ResumePlan::default()
    }

    /// RetryStageExecution of stage `stage`: the stages before it are done, and so are the
    /// stage's actions that succeeded (`succeeded(a)`) unless `all_actions`.
    /// `action_counts` is the number of actions of each stage.
    pub fn retry(
        stage: usize,
        action_counts: &[usize],
        succeeded: impl Fn(usize) -> bool,
        all_actions: bool,
    ) -> Self {
        let mut done = earlier_stages(stage, action_counts);
        if !all_actions {
            let count = action_counts.get(stage).copied().unwrap_or(0);
            done.extend((0..count).filter(|&a| succeeded(a)).map(|a| (stage, a)));
        }
        ResumePlan {
            from_stage: stage,
            done,
            ..ResumePlan::default()
        }
    }

    /// RollbackStage of stage `stage`: it alone runs, on the earlier stages' results.
    pub fn rollback(stage: usize, action_counts: &[usize]) -> Self {
        ResumePlan {
            from_stage: stage,
            done: earlier_stages(stage, action_counts),
            only_stage: true,
            ..ResumePlan::default()
        }
    }

    /// A partial run of the `selected` stages: those before the first are done (their
    /// results taken from an earlier execution), and the others after it are skipped.
    pub fn partial(selected: &BTreeSet<usize>, action_counts: &[usize]) -> Self {
        let first = selected.first().copied().unwrap_or(0);
        ResumePlan {
            from_stage: first,
            done: earlier_stages(first, action_counts),
            only_stage: false,
            skipped: (first..action_counts.len())
                .filter(|s| !selected.contains(s))
                .collect(),
        }
    }

    /// Whether this takes up work done before (an execution event says RESUMED).
    pub fn resumes(&self) -> bool {
        self.from_stage > 0 || !self.done.is_empty()
    }

    pub fn is_done(&self, stage: usize, action: usize) -> bool {
        self.done.contains(&(stage, action))
    }

    /// The stages of `plan` this execution runs, in order.
    pub fn stages<'p>(&self, plan: &'p ExecutionPlan) -> impl Iterator<Item = &'p StagePlan> {
        let count = if self.only_stage { 1 } else { usize::MAX };
        plan.stages.iter().skip(self.from_stage).take(count)
    }
}

fn earlier_stages(stage: usize, action_counts: &[usize]) -> BTreeSet<(usize, usize)> {
    action_counts
        .iter()
        .enumerate()
        .take(stage)
        .flat_map(|(s, &count)| (0..count).map(move |a| (s, a)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_and_rollbacks_resume_where_they_should() {
        let counts = [1, 3, 2];
        let retry = ResumePlan::retry(1, &counts, |a| a == 0, false);
        assert_eq!(retry.from_stage, 1);
        assert_eq!(retry.done, BTreeSet::from([(0, 0), (1, 0)]));
        assert!(retry.resumes() && !retry.only_stage);
        let all = ResumePlan::retry(1, &counts, |a| a == 0, true);
        assert_eq!(all.done, BTreeSet::from([(0, 0)]));
        let rollback = ResumePlan::rollback(2, &counts);
        assert!(rollback.only_stage);
        assert_eq!(rollback.done.len(), 4);
        assert!(!ResumePlan::fresh().resumes());
        let partial = ResumePlan::partial(&BTreeSet::from([1, 3]), &[1, 1, 1, 1, 1]);
        assert_eq!(partial.from_stage, 1);
        assert_eq!(partial.done, BTreeSet::from([(0, 0)]));
        assert_eq!(partial.skipped, BTreeSet::from([2, 4]));
        assert!(partial.resumes());
    }
}
