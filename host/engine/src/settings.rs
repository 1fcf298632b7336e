//! What the operator sets once for every execution a runner runs (process-wide), and what
//! belongs to one pipeline's files (per execution).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sandpipe_model::Finding;
use sandpipe_model::codebuild::BuildProject;
use sandpipe_model::connections::Connections;
use sandpipe_model::doubles::Doubles;
use sandpipe_model::functions::Functions;
use sandpipe_runtime::{BuildRunner, ExecutionLimits, SecretValues};

/// The operator's settings, the same for every execution of one [`crate::PipelineRunner`].
#[derive(Clone)]
pub struct RunnerSettings {
    /// `.sandpipe/` by default: the S3 emulation, execution records, logs.
    pub state_dir: PathBuf,
    /// Where action sandboxes are made. `None`: a private directory on a memory file system
    /// when the machine has one with room, else `<state_dir>/work`; with `keep_work`,
    /// always `<state_dir>/work`.
    pub work_dir: Option<PathBuf>,
    /// Replaces every action's own timeout.
    pub action_timeout: Option<Duration>,
    pub limits: ExecutionLimits,
    /// Keep each action's sandbox after it finishes (for debugging).
    pub keep_work: bool,
    /// Free space no action may take, on the state directory's and the work area's file
    /// systems: below it no action starts, and an action's output budget is cut to what
    /// stays above it.
    pub disk_reserve: u64,
    /// Create the buckets actions read or write when they do not exist, instead of refusing
    /// the run (the artifact bucket is always created).
    pub create_buckets: bool,
    pub builds: BuildSettings,
}

/// 1 GiB: enough for the state store to record what happened when the disk is nearly full.
pub const DEFAULT_DISK_RESERVE: u64 = 1 << 30;

impl RunnerSettings {
    /// Defaults for a state directory.
    pub fn new(state_dir: PathBuf) -> Self {
        RunnerSettings {
            state_dir,
            work_dir: None,
            action_timeout: None,
            limits: ExecutionLimits::default(),
            keep_work: false,
            disk_reserve: DEFAULT_DISK_RESERVE,
            create_buckets: false,
            builds: BuildSettings::default(),
        }
    }
}

/// The operator's settings for build actions (those granted `exec`).
#[derive(Clone)]
pub struct BuildSettings {
    pub runner: BuildRunner,
    /// Variables of this machine local builds start with.
    pub base_environment: Vec<(String, String)>,
    /// The secrets file's values; `None` when no file was given.
    pub secrets: Option<Arc<SecretValues>>,
    /// Where each project's persistent directory (`cache.paths`, build numbers) lives; the
    /// state directory's `cache/` when unset.
    pub cache_root: Option<PathBuf>,
}

impl Default for BuildSettings {
    fn default() -> Self {
        BuildSettings {
            runner: BuildRunner::Local,
            base_environment: sandpipe_runtime::local_base_environment(&[]),
            secrets: None,
            cache_root: None,
        }
    }
}

/// What one pipeline's files say beyond the declaration: the build projects its actions
/// may name, and where its git sources' repositories are (files found beside the pipeline,
/// or given by the operator for it).
#[derive(Debug, Clone, Default)]
pub struct PipelineFiles {
    pub projects: BTreeMap<String, BuildProject>,
    pub connections: Connections,
    /// What actions that cannot run here do instead (sandpipe-doubles.yaml, --double).
    pub doubles: Doubles,
    /// The local code of Lambda functions (sandpipe-functions.yaml, --functions).
    pub functions: Functions,
    /// What was wrong with the files themselves (a misspelt project field), reported with
    /// every other problem before a run rather than one at a time.
    pub problems: Vec<Finding>,
    /// Whether a functions or doubles file could not be read (its problems are above): an
    /// action it may have served is then not also said to have no provider.
    pub local_actions_unread: bool,
}

impl PipelineFiles {
    /// The local function a Lambda invoke action's `FunctionName` is mapped to.
    pub fn lambda_function(
        &self,
        action: &sandpipe_model::ActionDeclaration,
    ) -> Option<&sandpipe_model::functions::Function> {
        if !action.action_type_id.is_lambda_invoke() {
            return None;
        }
        self.functions
            .find(action.configuration.get("FunctionName")?)
    }
}
