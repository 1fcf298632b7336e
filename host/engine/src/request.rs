//! What one execution is asked to be: started (a pipeline, its variables, source overrides
//! and revisions, and what triggered it), a retry of a failed stage, or a rollback of a stage.
//! Start, retry and rollback are three ways to make an [`ExecutionRequest`]; the runner turns
//! each into a launch the same way.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sandpipe_model::execution::{SourceRevision, StageSelection};
use sandpipe_model::{LoadedPipeline, PipelineDeclaration, Problem};
use sandpipe_state::{ActionRecord, ExecutionTrigger};

use crate::settings::PipelineFiles;

/// One execution to run.
pub struct ExecutionRequest {
    pub(crate) kind: RequestKind,
    pub(crate) files: PipelineFiles,
    pub(crate) region: String,
    /// For a retry or rollback: the declaration as its caller still has it (its file, the
    /// server's memory), secrets included. Secret values are never stored, so one that
    /// masks to the stored declaration is run in its place.
    pub(crate) declared: Option<PipelineDeclaration>,
    /// Fixed clocks, seeded randomness and a fixed build environment (`--deterministic`).
    pub(crate) deterministic: bool,
}

pub(crate) enum RequestKind {
    /// StartPipelineExecution.
    Start {
        pipeline: Box<LoadedPipeline>,
        source_file: String,
        variables: BTreeMap<String, String>,
        start: Start,
    },
    /// RetryStageExecution: the failed stage of a failed execution, then the stages after it.
    Retry {
        execution_id: String,
        stage: String,
        all_actions: bool,
    },
    /// RollbackStage: a new ROLLBACK execution runs `stage` again on the artifacts of
    /// `target` (by default the latest execution that succeeded in it).
    Rollback {
        pipeline: String,
        stage: String,
        target: Option<String>,
        start: Start,
    },
    /// A new execution with exactly the recorded inputs of `execution_id`: its pipeline
    /// version, variables, source revisions (a working tree's snapshot) and components;
    /// with `from_stage`, the stages before it are the original's.
    Replay {
        execution_id: String,
        from_stage: Option<String>,
        allow_changed_components: bool,
        sources: ReplaySources,
    },
}

/// How a replay's source actions get what they took in the original.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplaySources {
    /// Read again at the recorded revision (a commit, an object version), a working tree
    /// from its stored snapshot: the sources are where the original read them.
    Revisions,
    /// The recorded output artifacts delivered again: the sources are not here (a bundle).
    Recorded,
}

/// The region an execution runs in when the request names none.
pub const DEFAULT_REGION: &str = "us-east-1";

impl ExecutionRequest {
    fn new(kind: RequestKind) -> Self {
        ExecutionRequest {
            kind,
            files: PipelineFiles::default(),
            region: DEFAULT_REGION.into(),
            declared: None,
            deterministic: false,
        }
    }

    /// A replay of execution `execution_id` (an id or unique prefix), from its first stage
    /// or from `from_stage`. A component that changed since refuses it unless
    /// `allow_changed_components`.
    pub fn replay(
        execution_id: &str,
        from_stage: Option<&str>,
        allow_changed_components: bool,
    ) -> Self {
        ExecutionRequest::new(RequestKind::Replay {
            execution_id: execution_id.into(),
            from_stage: from_stage.map(str::to_string),
            allow_changed_components,
            sources: ReplaySources::Revisions,
        })
    }

    /// Where a replay's source actions take what they took before (a replay only).
    pub fn with_replay_sources(mut self, chosen: ReplaySources) -> Self {
        if let RequestKind::Replay { sources, .. } = &mut self.kind {
            *sources = chosen;
        }
        self
    }

    /// Run every action deterministically (a retry keeps what its execution had, and a
    /// replay of a deterministic execution is deterministic whatever this says).
    pub fn deterministic(mut self, on: bool) -> Self {
        self.deterministic = on;
        self
    }

    /// A new execution of `pipeline`, read from `source_file`.
    pub fn start(pipeline: LoadedPipeline, source_file: impl Into<String>) -> Self {
        ExecutionRequest::new(RequestKind::Start {
            pipeline: Box::new(pipeline),
            source_file: source_file.into(),
            variables: BTreeMap::new(),
            start: Start::default(),
        })
    }

    /// RetryStageExecution of `stage` of execution `execution_id` (an id or unique prefix).
    pub fn retry(execution_id: &str, stage: &str, all_actions: bool) -> Self {
        ExecutionRequest::new(RequestKind::Retry {
            execution_id: execution_id.into(),
            stage: stage.into(),
            all_actions,
        })
    }

    /// RollbackStage of `stage` of `pipeline`, to `target` or the latest execution that
    /// succeeded in the stage.
    pub fn rollback(pipeline: &str, stage: &str, target: Option<&str>) -> Self {
        ExecutionRequest::new(RequestKind::Rollback {
            pipeline: pipeline.into(),
            stage: stage.into(),
            target: target.map(str::to_string),
            start: Start::by("ManualRollback", "RollbackStage"),
        })
    }

    /// Values for the pipeline's V2 variables, overriding their defaults (a new execution).
    pub fn with_variables(mut self, values: BTreeMap<String, String>) -> Self {
        if let RequestKind::Start { variables, .. } = &mut self.kind {
            *variables = values;
        }
        self
    }

    /// What started the execution, and the sources it overrides (a new execution or a
    /// rollback).
    pub fn started_by(mut self, by: Start) -> Self {
        match &mut self.kind {
            RequestKind::Start { start, .. } | RequestKind::Rollback { start, .. } => *start = by,
            RequestKind::Retry { .. } | RequestKind::Replay { .. } => {}
        }
        self
    }

    /// The declaration as the caller has it, secrets included (see [`ExecutionRequest`]).
    pub fn with_declared(mut self, pipeline: PipelineDeclaration) -> Self {
        self.declared = Some(pipeline);
        self
    }

    pub fn with_files(mut self, files: PipelineFiles) -> Self {
        self.files = files;
        self
    }

    pub fn in_region(mut self, region: &str) -> Self {
        self.region = region.to_string();
        self
    }
}

/// How a new execution starts: what triggered it, and what it takes instead of its sources'
/// latest (StartPipelineExecution's arguments, or a trigger's event).
#[derive(Debug, Clone)]
pub struct Start {
    pub trigger: ExecutionTrigger,
    /// The revision a source action takes instead of the latest, by action name.
    pub source_revisions: BTreeMap<String, SourceRevision>,
    /// A directory whose current files replace a source action's output, by action name.
    pub working_trees: BTreeMap<String, PathBuf>,
    /// What a source action took in an earlier execution, delivered again instead of read
    /// (a replay of a bundle, whose sources are not on this machine), by action name.
    pub recorded: BTreeMap<String, ActionRecord>,
    /// The image id a container build runs for an image reference (a replay runs what its
    /// original ran).
    pub image_pins: BTreeMap<String, String>,
    /// The stages to run (all by default).
    pub stages: StageSelection,
}

impl Default for Start {
    fn default() -> Self {
        Start::by("StartPipelineExecution", "")
    }
}

impl Start {
    /// A start with nothing overridden.
    pub fn by(trigger_type: &str, detail: &str) -> Self {
        Start {
            trigger: ExecutionTrigger {
                trigger_type: trigger_type.into(),
                trigger_detail: detail.into(),
            },
            source_revisions: BTreeMap::new(),
            working_trees: BTreeMap::new(),
            recorded: BTreeMap::new(),
            image_pins: BTreeMap::new(),
            stages: StageSelection::default(),
        }
    }

    /// The working tree replacing action `action` of stage `stage`. Only the source stage's
    /// actions are replaced: action names are unique within a stage, not across stages.
    pub fn working_tree(&self, stage: usize, action: &str) -> Option<&Path> {
        (stage == 0)
            .then(|| self.working_trees.get(action))
            .flatten()
            .map(PathBuf::as_path)
    }

    /// The earlier run of source action `action` that is delivered again in its place.
    pub fn recorded(&self, stage: usize, action: &str) -> Option<&ActionRecord> {
        (stage == 0).then(|| self.recorded.get(action)).flatten()
    }

    /// Whether source action `action` reads something other than its configured location
    /// (a working tree, or an earlier run's artifacts), so that location need not exist.
    pub fn replaces_source(&self, stage: usize, action: &str) -> bool {
        self.working_tree(stage, action).is_some() || self.recorded(stage, action).is_some()
    }

    /// The revision action `action` of stage `stage` starts with (source actions only).
    pub fn source_revision(&self, stage: usize, action: &str) -> Option<&SourceRevision> {
        (stage == 0)
            .then(|| self.source_revisions.get(action))
            .flatten()
    }

    /// Problems with the overrides: each must name a source action of the pipeline, and a
    /// working tree must be a directory.
    pub fn problems(&self, pipeline: &PipelineDeclaration) -> Vec<Problem> {
        let mut problems = Vec::new();
        for (flag, names) in [
            ("--source", self.working_trees.keys().collect::<Vec<_>>()),
            (
                "--source-revision",
                self.source_revisions.keys().collect::<Vec<_>>(),
            ),
        ] {
            for name in names {
                if pipeline.source_action(name).is_none() {
                    problems.push(Problem {
                        path: format!("{flag} {name}"),
                        exception: "InvalidActionDeclarationException",
                        message: format!(
                            "'{name}' is not a source action of the pipeline (its source \
                             actions: {})",
                            pipeline.source_action_names()
                        ),
                    });
                }
            }
        }
        if let Err(message) = self.stages.resolve(pipeline) {
            problems.push(Problem {
                path: "--stage".into(),
                exception: "StageNotFoundException",
                message,
            });
        }
        for (name, dir) in &self.working_trees {
            if !dir.is_dir() {
                problems.push(Problem {
                    path: format!("--source {name}"),
                    exception: "ValidationException",
                    message: format!("{} is not a directory", dir.display()),
                });
            }
        }
        problems
    }
}
