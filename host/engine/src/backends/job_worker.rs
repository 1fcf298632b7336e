//! A registered custom action type with no component: the action becomes a job, as on AWS.
//! The job's data names the input artifacts where they are stored and where each output must
//! be uploaded (the artifact bucket of this state's S3, which `sandpipe serve` serves), with
//! credentials the server accepts; a worker polls, acknowledges, works and reports. A report
//! with a continuation token queues the next job of the same action; success adopts the
//! uploaded outputs by digest; the action's timeout or an abandoning stop ends the job.

use serde_json::{Value, json};

use sandpipe_model::execution::FailureKind;
use sandpipe_runtime::{ActionError, ActionOutcome, FailureDetails, format_duration};
use sandpipe_state::JobStatus;

pub(crate) use super::lambda::WorkerProcess;
use super::system_failure;
use crate::action::{ActionCall, Completed};
use crate::artifacts::ArtifactStore;
use crate::control::Signals;
use crate::pipeline::Run;

/// A worker's failure type, as PutJobFailureResult names it.
fn failure_kind(name: &str) -> FailureKind {
    match name {
        "ConfigurationError" => FailureKind::ConfigurationError,
        "PermissionError" => FailureKind::PermissionError,
        "RevisionOutOfSync" => FailureKind::RevisionOutOfSync,
        "RevisionUnavailable" => FailureKind::RevisionUnavailable,
        "SystemUnavailable" => FailureKind::SystemUnavailable,
        _ => FailureKind::JobFailed,
    }
}

impl Run<'_> {
    /// The JobData of one job of action `call`, with `continuation` when a worker asked to
    /// be called again; and the output keys it names.
    fn job_data(
        &self,
        call: &ActionCall<'_>,
        continuation: Option<&str>,
        output_keys: &[(String, String)],
    ) -> Result<Value, ActionError> {
        let (s, a) = (call.s, call.a);
        let stage = &self.pipeline().stages[s];
        let action = &stage.actions[a];
        let bucket = self.artifacts.bucket().to_string();
        let mut inputs = Vec::new();
        let mut records = Vec::new();
        for input in &action.input_artifacts {
            let stored = self
                .outputs()
                .artifacts
                .get(&input.name)
                .cloned()
                .ok_or_else(|| {
                    system_failure("preparing the job")(format!(
                        "input artifact '{}' was never produced",
                        input.name
                    ))
                })?;
            inputs.push(json!({
                "name": input.name,
                "revision": stored.revision,
                "location": {"type": "S3", "s3Location": {"bucketName": stored.bucket, "objectKey": stored.key}},
            }));
            records.push(stored);
        }
        if !records.is_empty() {
            self.keeper
                .update_action(s, a, |entry| entry.input_artifacts = records);
        }
        let outputs: Vec<Value> = output_keys
            .iter()
            .map(|(name, key)| {
                json!({
                    "name": name,
                    "location": {"type": "S3", "s3Location": {"bucketName": bucket, "objectKey": key}},
                })
            })
            .collect();
        let mut data = json!({
            "actionTypeId": action.action_type_id,
            "actionConfiguration": {"configuration": call.configured.configuration},
            "pipelineContext": {
                "pipelineName": self.pipeline().name,
                "stage": {"name": stage.name},
                "action": {"name": action.name},
                "pipelineExecutionId": self.id(),
            },
            "inputArtifacts": inputs,
            "outputArtifacts": outputs,
            // Placeholders: the server hands each worker fresh keys it accepts when it
            // gives the job out (PollForJobs, GetJobDetails).
            "artifactCredentials": {
                "accessKeyId": format!("JOB{}", &uuid::Uuid::new_v4().simple().to_string()[..17].to_uppercase()),
                "secretAccessKey": uuid::Uuid::new_v4().simple().to_string(),
                "sessionToken": uuid::Uuid::new_v4().simple().to_string(),
            },
        });
        if let Some(token) = continuation {
            data["continuationToken"] = json!(token);
        }
        Ok(data)
    }

    pub(crate) async fn await_job_worker(
        &self,
        call: &ActionCall<'_>,
    ) -> Result<Completed, ActionError> {
        let action_type = self.pipeline().stages[call.s].actions[call.a]
            .action_type_id
            .to_string();
        let log = self.action_log(call)?;
        let timeout = self.timeout_for(call.s, call.a);
        let polled = |job: &str, _: &Value| {
            log.info(format!(
                "job {job} queued for a worker of {action_type} (PollForJobs); waiting up to {}",
                format_duration(timeout)
            ));
            Ok(None)
        };
        self.await_jobs(call, JobStatus::Queued, polled).await
    }

    /// Run action `call` as jobs, created as `status`, until one reports success without a
    /// continuation token, fails, times out or is abandoned. `hand_over` gives each job to
    /// its worker (a process it starts is killed once the job is over).
    pub(crate) async fn await_jobs(
        &self,
        call: &ActionCall<'_>,
        status: JobStatus,
        hand_over: impl Fn(&str, &Value) -> Result<Option<WorkerProcess>, ActionError>,
    ) -> Result<Completed, ActionError> {
        let (s, a) = (call.s, call.a);
        let action = &self.pipeline().stages[s].actions[a];
        let action_type = action.action_type_id.to_string();
        let timeout = self.timeout_for(s, a);
        let deadline = tokio::time::Instant::now() + timeout;
        let jobs = self.runner.state.jobs();
        let log = self.action_log(call)?;
        let output_keys: Vec<(String, String)> = action
            .output_artifacts
            .iter()
            .map(|o| {
                let key = ArtifactStore::new_key(&self.pipeline().name, &o.name);
                (o.name.clone(), key)
            })
            .collect();
        let mut continuation: Option<String> = None;
        let mut abandoned = self.control.abandoned();
        loop {
            let data = self.job_data(call, continuation.as_deref(), &output_keys)?;
            let job = jobs
                .create(&action_type, self.id(), &data.to_string(), status)
                .map_err(system_failure("queueing the job"))?;
            self.keeper.update_action(s, a, |entry| {
                entry.external_execution_id = Some(job.clone())
            });
            // Held until the job is over: a worker process is killed when it is dropped.
            let mut worker = hand_over(&job, &data)?;
            let mut ended = false;
            // A handler that failed (a non-zero exit) before reporting, and how it exited.
            let mut crashed = None;
            let report = loop {
                let change = self.signals().next_change();
                let found = jobs
                    .get(&job)
                    .map_err(system_failure("reading the job"))?
                    .ok_or_else(|| system_failure("reading the job")("it is gone"))?;
                match found.status {
                    JobStatus::Succeeded | JobStatus::Failed => break found,
                    _ => {}
                }
                let give_up = if tokio::time::Instant::now() >= deadline {
                    Some(ActionError::TimedOut(timeout))
                } else if self.control.abandoning() {
                    Some(ActionError::Abandoned)
                } else {
                    None
                };
                if let Some(error) = give_up {
                    let _ = jobs.finish(&job, JobStatus::TimedOut, "{}");
                    return Err(error);
                }
                let exit = async {
                    match worker.as_mut() {
                        Some(process) if !ended => process.exited().await,
                        _ => std::future::pending().await,
                    }
                };
                tokio::select! {
                    () = Signals::wait(change) => {}
                    () = tokio::time::sleep_until(deadline) => {}
                    _ = abandoned.wait_for(|abandon| *abandon) => {}
                    status = exit => {
                        ended = true;
                        let reported = jobs.get(&job).ok().flatten().is_some_and(|j| {
                            matches!(j.status, JobStatus::Succeeded | JobStatus::Failed)
                        });
                        match status {
                            _ if reported => {}
                            // It crashed (it could not load, or threw): on AWS the job would
                            // wait out its timeout and fail; here it fails now, saying why.
                            Some(status) if !status.success() => crashed = Some(status),
                            // It returned: something else may still report (a handler may
                            // hand the job on), so the job waits, as on AWS.
                            status => log.info(format!(
                                "job {job}: the handler returned ({}) without reporting a \
                                 result; the action waits for one until it times out in {}",
                                status.map_or("unknown".into(), |s| s.to_string()),
                                format_duration(
                                    deadline.saturating_duration_since(tokio::time::Instant::now())
                                )
                            )),
                        }
                    }
                }
                if let Some(status) = crashed {
                    let last = match worker.take() {
                        Some(worker) => worker.finish().await,
                        None => String::new(),
                    };
                    let message = format!(
                        "the handler failed ({status}) before reporting a result{}; on AWS the \
                         job would wait for its timeout",
                        if last.is_empty() {
                            String::new()
                        } else {
                            format!(": {last}")
                        }
                    );
                    let result =
                        json!({"failureDetails": {"type": "JobFailed", "message": message}});
                    let _ = jobs.finish(&job, JobStatus::Failed, &result.to_string());
                    log.info(format!("job {job} failed: {message}"));
                    return Err(ActionError::Failed(FailureDetails {
                        kind: FailureKind::JobFailed,
                        message,
                        external_execution_id: Some(job.clone()),
                    }));
                }
            };
            // The worker reported; let it end and say its last words before going on.
            if let Some(worker) = worker {
                worker.finish().await;
            }
            let result: Value =
                serde_json::from_str(report.result.as_deref().unwrap_or("{}")).unwrap_or_default();
            let summary = result["executionDetails"]["summary"]
                .as_str()
                .map(str::to_string);
            let external = result["executionDetails"]["externalExecutionId"]
                .as_str()
                .map(str::to_string)
                .or(Some(job.clone()));
            if report.status == JobStatus::Failed {
                let details = &result["failureDetails"];
                let message = details["message"].as_str().unwrap_or("the job failed");
                log.info(format!("job {job} failed: {message}"));
                return Err(ActionError::Failed(FailureDetails {
                    kind: failure_kind(details["type"].as_str().unwrap_or_default()),
                    message: message.to_string(),
                    external_execution_id: external,
                }));
            }
            if let Some(token) = result["continuationToken"].as_str() {
                log.info(format!("job {job} continues (continuation token given)"));
                continuation = Some(token.to_string());
                continue;
            }
            let mut outputs = Vec::new();
            for (name, key) in &output_keys {
                let stored = self.artifacts.adopt(name, key).map_err(|e| {
                    FailureDetails::job(format!(
                        "output artifact '{name}': the worker did not upload it to s3://{}/{key}: {e:#}",
                        self.artifacts.bucket()
                    ))
                })?;
                outputs.push(stored);
            }
            let output_variables: Vec<(String, String)> = result["outputVariables"]
                .as_object()
                .map(|vars| {
                    vars.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect()
                })
                .unwrap_or_default();
            log.info(format!("job {job} succeeded"));
            return Ok(Completed {
                outcome: ActionOutcome {
                    output_variables,
                    summary,
                    external_execution_id: external,
                    ..ActionOutcome::default()
                },
                outputs,
            });
        }
    }
}
