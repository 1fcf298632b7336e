//! One action execution: a fresh store and WASI context per call, the call made under a
//! deadline and a memory budget, and the result — or the trap — turned into CodePipeline's
//! success or failure shapes.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sandpipe_model::text::clip;
use sandpipe_store::LocalS3;
use wasmtime::component::ResourceTable;
use wasmtime::{Store, Trap, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;

use crate::action::{
    ActionError, ActionOutcome, ActionRequest, ActionResult, FailureDetails, TestReport,
};
use crate::bindings::sandpipe::action::types as wit;
use crate::capabilities::log::{CapturedOutput, EventSink, LogCapture, OutputStream};
use crate::capabilities::{Grants, REGISTRY, Setup, Slots};
use crate::host::{ActionHost, LoadedComponent};
use crate::limits::{ExecutionLimits, StoreLimiter};
use crate::result_limits::{check_outcome, safe_failure, safe_outcome};
use crate::sandbox::Sandbox;
use crate::state::ActionState;
use crate::write_budget::WriteBudget;

/// Everything one execution needs.
pub struct Invocation {
    pub request: ActionRequest,
    pub sandbox: Arc<Sandbox>,
    pub object_store: Arc<LocalS3>,
    pub limits: ExecutionLimits,
    pub events: Arc<dyn EventSink>,
    /// Set to true to abandon the execution at once (StopPipelineExecution with abandon).
    pub cancel: Option<tokio::sync::watch::Receiver<bool>>,
    /// Capabilities beyond the sandbox, as the operator's policy grants them.
    pub grants: Grants,
    /// Fixed clocks and seeded randomness (`--deterministic`); the host's own otherwise.
    pub determinism: Option<crate::Determinism>,
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

/// How many resources (streams, descriptors…) one execution may hold at once.
const MAX_RESOURCES: usize = 10_000;
/// Most bytes a guest may pass to the host in one call.
const HOSTCALL_FUEL: usize = 16 << 20;
/// Most random bytes one WASI call may ask for.
const MAX_RANDOM_BYTES: u64 = 1 << 20;

/// What every call of one execution shares.
struct Calls<'a> {
    component: &'a LoadedComponent,
    invocation: &'a Invocation,
    log: Arc<LogCapture>,
    reports: Arc<Mutex<Vec<TestReport>>>,
    deadline: Instant,
    budget: Arc<WriteBudget>,
}

impl ActionHost {
    /// Run an execution to its end, calling the component again for as long as it answers
    /// with a continuation token, within one overall deadline.
    pub async fn execute(
        &self,
        component: &LoadedComponent,
        invocation: Invocation,
    ) -> ActionResult {
        let log = LogCapture::new(invocation.events.clone(), invocation.limits.log_bytes);
        for value in &invocation.request.masked {
            log.add_mask(value);
        }
        let calls = Calls {
            component,
            invocation: &invocation,
            log: log.clone(),
            reports: Arc::default(),
            deadline: Instant::now() + invocation.limits.timeout,
            budget: Arc::new(WriteBudget::new(
                invocation.limits.output_bytes,
                invocation.limits.output_files,
            )),
        };
        let mut outcome = self.call_until_done(&calls).await;
        // A write refused for the budget fails the action, whatever the guest made of it.
        if let Some(breach) = calls.budget.breach()
            && !matches!(
                outcome,
                Err(ActionError::Abandoned | ActionError::TimedOut(_))
            )
        {
            outcome = Err(ActionError::LimitExceeded(breach));
        }
        log.flush();
        let reports = std::mem::take(&mut *calls.reports.lock().unwrap_or_else(|e| e.into_inner()));
        // Secret values the action was given never reach the record either, nor does text
        // that is unsafe to show.
        let outcome = match outcome {
            Ok(outcome) => Ok(safe_outcome(
                ActionOutcome::from(outcome).masked(|text| log.mask(text)),
            )),
            Err(ActionError::Failed(mut details)) => {
                details.message = log.mask(&details.message);
                details.external_execution_id =
                    details.external_execution_id.map(|id| log.mask(&id));
                Err(ActionError::Failed(safe_failure(details)))
            }
            Err(other) => Err(other),
        };
        ActionResult { outcome, reports }
    }

    async fn call_until_done(&self, calls: &Calls<'_>) -> Result<wit::Outcome, ActionError> {
        let invocation = calls.invocation;
        let mut request = wit::Request::from(&invocation.request);
        let mut backoff = Duration::from_millis(100);
        loop {
            let outcome = self.call_once(calls, &request).await?;
            check_outcome(&outcome)?;
            let Some(token) = outcome.continuation_token.clone() else {
                return Ok(outcome);
            };
            // Through the log, as the action's own progress reports go: masked, escaped
            // and charged to the log's budget.
            calls.log.progress(
                outcome.percent_complete,
                outcome.summary.as_deref().unwrap_or("in progress"),
            );
            if Instant::now() + backoff >= calls.deadline {
                return Err(ActionError::TimedOut(invocation.limits.timeout));
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = cancelled(invocation.cancel.clone()) => return Err(ActionError::Abandoned),
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
            request.continuation_token = Some(token);
        }
    }

    async fn call_once(
        &self,
        calls: &Calls<'_>,
        request: &wit::Request,
    ) -> Result<wit::Outcome, ActionError> {
        let invocation = calls.invocation;
        let mut store = self.new_store(calls).map_err(|e| {
            ActionError::Failed(FailureDetails::new(
                sandpipe_model::execution::FailureKind::SystemUnavailable,
                format!("preparing the sandbox: {e:#}"),
            ))
        })?;
        let call = async {
            let action = calls.component.pre.instantiate_async(&mut store).await?;
            action
                .sandpipe_action_runner()
                .call_run(&mut store, request)
                .await
        };
        // Epoch interruption stops wasm code; the timeout also bounds time spent in host calls.
        let remaining = calls.deadline.saturating_duration_since(Instant::now());
        // Abandoning drops the call, and with it the store: the guest stops at its next epoch
        // yield (every tick), whatever it is doing.
        let bounded = tokio::time::timeout(remaining + 2 * crate::host::EPOCH_TICK, call);
        let result = tokio::select! {
            result = bounded => result,
            () = cancelled(invocation.cancel.clone()) => return Err(ActionError::Abandoned),
        };
        match result {
            Err(_elapsed) => Err(ActionError::TimedOut(invocation.limits.timeout)),
            Ok(Ok(Ok(outcome))) => Ok(outcome),
            Ok(Ok(Err(failure))) => Err(ActionError::Failed(FailureDetails::from(failure))),
            Ok(Err(trap)) => Err(classify_trap(
                &trap,
                store.data().limiter.refused,
                invocation.limits,
            )),
        }
    }

    fn new_store(&self, calls: &Calls<'_>) -> anyhow::Result<Store<ActionState>> {
        let invocation = calls.invocation;
        // Deny by default: no env, args, stdin, network or name lookup; only the sandbox.
        let mut wasi = WasiCtxBuilder::new();
        invocation.sandbox.preopen(&mut wasi)?;
        wasi.stdout(CapturedOutput {
            capture: calls.log.clone(),
            stream: OutputStream::Stdout,
        })
        .stderr(CapturedOutput {
            capture: calls.log.clone(),
            stream: OutputStream::Stderr,
        })
        .max_random_size(MAX_RANDOM_BYTES);
        if let Some(determinism) = &invocation.determinism {
            determinism.apply(&mut wasi);
        }
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_RESOURCES);
        let setup = Setup {
            request: &invocation.request,
            sandbox: &invocation.sandbox,
            log: &calls.log,
            deadline: calls.deadline,
            limits: &invocation.limits,
            grants: &invocation.grants,
            object_store: &invocation.object_store,
            reports: &calls.reports,
            budget: &calls.budget,
        };
        let mut slots = Slots::default();
        for capability in REGISTRY {
            (capability.setup)(&setup, &mut slots);
        }
        let state = ActionState {
            wasi: wasi.build(),
            table,
            limiter: StoreLimiter::new(invocation.limits.memory_bytes),
            log: calls.log.clone(),
            slots,
            budget: calls.budget.clone(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        store.set_hostcall_fuel(HOSTCALL_FUEL);
        store.set_epoch_deadline(1);
        let deadline = calls.deadline;
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

fn classify_trap(
    error: &wasmtime::Error,
    refused: Option<usize>,
    limits: ExecutionLimits,
) -> ActionError {
    if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
        return ActionError::TimedOut(limits.timeout);
    }
    if let Some(wanted) = refused {
        return ActionError::LimitExceeded(format!(
            "the action exceeded its memory limit of {} MiB (it asked for {} MiB) and was stopped",
            limits.memory_bytes >> 20,
            wanted.div_ceil(1 << 20)
        ));
    }
    if let Some(exit) = error.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return ActionError::Failed(FailureDetails::job(format!(
            "the action exited with status {} before returning a result",
            exit.0
        )));
    }
    let cause = match error.downcast_ref::<Trap>() {
        Some(trap) => trap.to_string(),
        None => format!("{error:#}"),
    };
    ActionError::Failed(FailureDetails::job(format!(
        "the action crashed: {}; its log may say why",
        clip(&cause, 1000)
    )))
}
