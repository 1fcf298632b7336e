//! One action execution: a fresh store and WASI context per call, the call made under a
//! deadline and a memory budget, and the result — or the trap — turned into CodePipeline's
//! success or failure shapes.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sandpipe_store::LocalS3;
use wasmtime::component::ResourceTable;
use wasmtime::{Store, Trap, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;

use crate::bindings::{FailureKind, Outcome, Project, Request, SourceRevision};
use crate::capabilities::exec::{ExecAccess, ExecGrant};
use crate::capabilities::git::{GitAccess, GitGrant};
use crate::capabilities::log::{ActionEvent, CapturedOutput, EventSink, LogCapture, OutputStream};
use crate::capabilities::object_store::ObjectAccess;
use crate::capabilities::projects::ProjectAccess;
use crate::capabilities::secrets::{SecretAccess, SecretValues};
use crate::engine::{ActionEngine, LoadedComponent};
use crate::limits::{ExecutionLimits, StoreLimiter};
use crate::sandbox::Sandbox;
use crate::state::ActionState;

/// Everything one execution needs.
pub struct Invocation {
    pub request: Request,
    pub sandbox: Arc<Sandbox>,
    /// Buckets the action may use (see [`crate::granted_buckets`]).
    pub buckets: BTreeSet<String>,
    pub object_store: Arc<LocalS3>,
    pub limits: ExecutionLimits,
    pub events: Arc<dyn EventSink>,
    /// Set to true to abandon the execution at once (StopPipelineExecution with abandon).
    pub cancel: Option<tokio::sync::watch::Receiver<bool>>,
    /// Capabilities beyond the sandbox, as the operator's policy grants them.
    pub grants: Grants,
}

/// What an execution is granted beyond the sandbox. Nothing by default.
#[derive(Clone, Default)]
pub struct Grants {
    pub exec: Option<Arc<ExecGrant>>,
    pub secrets: Option<Arc<SecretValues>>,
    /// With exec: the action's `ProjectName` and the operator's definition of it, if any.
    pub project: Option<(String, Option<Project>)>,
    /// The repository (or working tree) the operator mapped for a git source.
    pub git: Option<Arc<GitGrant>>,
    /// The revision the execution was started with for this action, if any.
    pub started_with: Option<SourceRevision>,
    /// Values never to appear in the log or the result (configuration secrets).
    pub masked: Vec<String>,
}

/// Resolves when `cancel` is set; never when there is none (or its sender is gone).
async fn cancelled(cancel: Option<tokio::sync::watch::Receiver<bool>>) {
    if let Some(mut cancel) = cancel
        && cancel.wait_for(|abandon| *abandon).await.is_ok()
    {
        return;
    }
    std::future::pending::<()>().await
}

/// The message of an execution abandoned by a stop request.
pub const ABANDONED: &str = "the action was abandoned by a stop request";

/// FailureDetails of a failed execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionFailure {
    pub kind: FailureKind,
    pub message: String,
    pub external_execution_id: Option<String>,
}

impl ActionFailure {
    fn job(message: impl Into<String>) -> Self {
        ActionFailure {
            kind: FailureKind::JobFailed,
            message: message.into(),
            external_execution_id: None,
        }
    }
}

/// How many resources (streams, descriptors…) one execution may hold at once.
const MAX_RESOURCES: usize = 10_000;
/// Most bytes a guest may pass to the host in one call.
const HOSTCALL_FUEL: usize = 16 << 20;
/// Most random bytes one WASI call may ask for.
const MAX_RANDOM_BYTES: u64 = 1 << 20;
/// Output variables per action: CodePipeline's combined limit.
const MAX_OUTPUT_VARIABLE_BYTES: usize = 122_880;

impl ActionEngine {
    /// Run an execution to its end, calling the component again for as long as it answers
    /// with a continuation token, within one overall deadline.
    pub async fn execute(
        &self,
        component: &LoadedComponent,
        invocation: Invocation,
    ) -> Result<Outcome, ActionFailure> {
        let deadline = Instant::now() + invocation.limits.timeout;
        let log = LogCapture::new(invocation.events.clone(), invocation.limits.log_bytes);
        for value in &invocation.grants.masked {
            log.add_mask(value);
        }
        let mut request = invocation.request.clone();
        let mut backoff = Duration::from_millis(100);
        let result = loop {
            let outcome = match self
                .call_once(component, &request, &invocation, &log, deadline)
                .await
            {
                Ok(outcome) => outcome,
                Err(failure) => break Err(failure),
            };
            if let Err(failure) = check_outcome(&outcome) {
                break Err(failure);
            }
            let Some(token) = outcome.continuation_token.clone() else {
                break Ok(outcome);
            };
            invocation.events.emit(ActionEvent::Progress {
                percent: outcome.percent_complete,
                summary: outcome
                    .summary
                    .clone()
                    .unwrap_or_else(|| "in progress".into()),
            });
            if Instant::now() + backoff >= deadline {
                break Err(timeout_failure(invocation.limits.timeout));
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = cancelled(invocation.cancel.clone()) => break Err(ActionFailure::job(ABANDONED)),
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
            request.continuation_token = Some(token);
        };
        log.flush();
        // Secret values the action was given never reach the record either.
        match result {
            Ok(mut outcome) => {
                for (_, value) in &mut outcome.output_variables {
                    *value = log.mask(value);
                }
                outcome.summary = outcome.summary.map(|s| log.mask(&s));
                Ok(outcome)
            }
            Err(mut failure) => {
                failure.message = log.mask(&failure.message);
                Err(failure)
            }
        }
    }

    async fn call_once(
        &self,
        component: &LoadedComponent,
        request: &Request,
        invocation: &Invocation,
        log: &Arc<LogCapture>,
        deadline: Instant,
    ) -> Result<Outcome, ActionFailure> {
        let mut store = self
            .new_store(invocation, log, deadline)
            .map_err(|e| ActionFailure {
                kind: FailureKind::SystemUnavailable,
                message: format!("preparing the sandbox: {e:#}"),
                external_execution_id: None,
            })?;
        let call = async {
            let action = component.pre.instantiate_async(&mut store).await?;
            action
                .sandpipe_action_runner()
                .call_run(&mut store, request)
                .await
        };
        // Epoch interruption stops wasm code; the timeout also bounds time spent in host calls.
        let remaining = deadline.saturating_duration_since(Instant::now());
        // Abandoning drops the call, and with it the store: the guest stops at its next epoch
        // yield (every tick), whatever it is doing.
        let bounded = tokio::time::timeout(remaining + 2 * crate::engine::EPOCH_TICK, call);
        let result = tokio::select! {
            result = bounded => result,
            () = cancelled(invocation.cancel.clone()) => return Err(ActionFailure::job(ABANDONED)),
        };
        match result {
            Err(_elapsed) => Err(timeout_failure(invocation.limits.timeout)),
            Ok(Ok(Ok(outcome))) => Ok(outcome),
            Ok(Ok(Err(failure))) => Err(ActionFailure {
                kind: failure.kind,
                message: truncate(&failure.message, 5000),
                external_execution_id: failure.external_execution_id,
            }),
            Ok(Err(trap)) => Err(classify_trap(
                &trap,
                store.data().limiter.refused,
                invocation.limits,
            )),
        }
    }

    fn new_store(
        &self,
        invocation: &Invocation,
        log: &Arc<LogCapture>,
        deadline: Instant,
    ) -> anyhow::Result<Store<ActionState>> {
        // Deny by default: no env, args, stdin, network or name lookup; only the sandbox.
        let mut wasi = WasiCtxBuilder::new();
        invocation.sandbox.preopen(&mut wasi)?;
        wasi.stdout(CapturedOutput {
            capture: log.clone(),
            stream: OutputStream::Stdout,
        })
        .stderr(CapturedOutput {
            capture: log.clone(),
            stream: OutputStream::Stderr,
        })
        .max_random_size(MAX_RANDOM_BYTES);
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_RESOURCES);
        let state = ActionState {
            wasi: wasi.build(),
            table,
            limiter: StoreLimiter::new(invocation.limits.memory_bytes),
            log: log.clone(),
            objects: ObjectAccess {
                store: invocation.object_store.clone(),
                buckets: invocation.buckets.clone(),
                sandbox: invocation.sandbox.clone(),
                max_object_bytes: invocation.limits.object_bytes,
            },
            exec: invocation.grants.exec.clone().map(|grant| {
                ExecAccess::new(grant, invocation.sandbox.clone(), log.clone(), deadline)
            }),
            projects: match (&invocation.grants.exec, &invocation.grants.project) {
                (Some(_), Some((name, project))) => ProjectAccess::Scoped {
                    name: name.clone(),
                    project: project.clone(),
                },
                _ => ProjectAccess::Denied,
            },
            secrets: SecretAccess {
                values: invocation.grants.secrets.clone(),
                log: log.clone(),
            },
            git: GitAccess::new(
                invocation.grants.git.clone(),
                invocation.sandbox.clone(),
                deadline,
                sandpipe_git::ExportLimits {
                    max_bytes: invocation.limits.object_bytes,
                    ..sandpipe_git::ExportLimits::default()
                },
            ),
            started_with: invocation.grants.started_with.clone(),
            reports_published: 0,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        store.set_hostcall_fuel(HOSTCALL_FUEL);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            Ok(if Instant::now() >= deadline {
                UpdateDeadline::Interrupt
            } else {
                UpdateDeadline::Yield(1)
            })
        });
        Ok(store)
    }
}

/// Enforce what PutJobSuccessResult enforces.
fn check_outcome(outcome: &Outcome) -> Result<(), ActionFailure> {
    if outcome.continuation_token.is_some() && !outcome.output_variables.is_empty() {
        return Err(ActionFailure::job(
            "the action returned output variables together with a continuation token; \
             output variables belong to the final result",
        ));
    }
    let bytes: usize = outcome
        .output_variables
        .iter()
        .map(|(k, v)| k.len() + v.len())
        .sum();
    if bytes > MAX_OUTPUT_VARIABLE_BYTES {
        return Err(ActionFailure::job(format!(
            "the action's output variables total {bytes} bytes; the limit is \
             {MAX_OUTPUT_VARIABLE_BYTES} (OutputVariablesSizeExceededException)"
        )));
    }
    if let Some((name, _)) = outcome.output_variables.iter().find(|(k, _)| {
        k.is_empty()
            || !k
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '@' | '-' | '_'))
    }) {
        return Err(ActionFailure::job(format!(
            "output variable name '{name}' is not valid: use A-Z a-z 0-9 @ - _"
        )));
    }
    Ok(())
}

fn timeout_failure(timeout: Duration) -> ActionFailure {
    ActionFailure::job(format!(
        "the action did not finish within its timeout of {} and was stopped",
        format_duration(timeout)
    ))
}

fn classify_trap(
    error: &wasmtime::Error,
    refused: Option<usize>,
    limits: ExecutionLimits,
) -> ActionFailure {
    if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
        return timeout_failure(limits.timeout);
    }
    if let Some(wanted) = refused {
        return ActionFailure::job(format!(
            "the action exceeded its memory limit of {} MiB (it asked for {} MiB) and was stopped",
            limits.memory_bytes >> 20,
            wanted.div_ceil(1 << 20)
        ));
    }
    if let Some(exit) = error.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return ActionFailure::job(format!(
            "the action exited with status {} before returning a result",
            exit.0
        ));
    }
    let cause = match error.downcast_ref::<Trap>() {
        Some(trap) => trap.to_string(),
        None => format!("{error:#}"),
    };
    ActionFailure::job(format!(
        "the action crashed: {}; its log may say why",
        truncate(&cause, 1000)
    ))
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

pub fn format_duration(duration: Duration) -> String {
    let seconds = duration.as_secs_f64();
    if seconds < 1.0 {
        format!("{}ms", duration.as_millis())
    } else if seconds < 60.0 {
        format!("{seconds:.1}s")
    } else if seconds < 3600.0 {
        format!("{:.0}m", seconds / 60.0)
    } else {
        format!("{:.1}h", seconds / 3600.0)
    }
}
