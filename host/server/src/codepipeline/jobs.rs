//! The job-worker protocol: PollForJobs, AcknowledgeJob, GetJobDetails, PutJobSuccessResult
//! and PutJobFailureResult, so a worker written for AWS serves a custom action type here
//! unchanged. The engine queues the jobs (an action of a registered custom type with no
//! component) and waits for their results.

use serde_json::{Value, json};

use sandpipe_state::{Job, JobStatus};

use super::empty;
use crate::App;
use crate::caller::Caller;
use crate::json::{AwsError, Input, Reply};

/// The most output variable text one job may report, as the service limits it.
const MAX_OUTPUT_VARIABLES: usize = 122_880;

fn refused(error: sandpipe_state::JobError) -> AwsError {
    AwsError::from_refusal(&error.to_string(), "JobNotFoundException")
}

/// How long the artifact credentials handed with a job sign requests, as AWS's do.
const CREDENTIALS_LIFETIME: jiff::SignedDuration = jiff::SignedDuration::from_hours(1);

fn data(job: &Job) -> Value {
    serde_json::from_str(&job.data).unwrap_or_default()
}

/// The job's data as a worker is given it, with fresh `artifactCredentials` this server
/// accepts for the artifact buckets (also when `--credentials` makes it check signatures).
fn handed_out(app: &App, job: &Job) -> Value {
    let mut data = data(job);
    let issued = app.keys.issue("ASIA", CREDENTIALS_LIFETIME);
    data["artifactCredentials"] = json!({
        "accessKeyId": issued.access_key,
        "secretAccessKey": issued.secret,
        "sessionToken": issued.session_token,
    });
    data
}

fn job_of(app: &App, id: &str) -> Result<Job, AwsError> {
    app.runner
        .state()
        .jobs()
        .get(id)?
        .ok_or_else(|| AwsError::new("JobNotFoundException", format!("no job with id '{id}'")))
}

pub fn poll(app: &App, caller: &Caller, input: Input) -> Reply {
    #[derive(serde::Deserialize)]
    struct TypeId {
        category: String,
        owner: String,
        provider: String,
        version: String,
    }
    let id: TypeId = input.typed("actionTypeId")?.ok_or_else(|| {
        AwsError::validation("1 validation error detected: Value null at 'actionTypeId'")
    })?;
    let max = match input.0.get("maxBatchSize") {
        None | Some(Value::Null) => 1,
        Some(v) => v
            .as_u64()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| AwsError::validation("maxBatchSize must be between 1 and 100"))?
            as usize,
    };
    let query: Vec<(String, String)> = input
        .typed::<std::collections::BTreeMap<String, String>>("queryParam")?
        .unwrap_or_default()
        .into_iter()
        .collect();
    if query.len() > 1 {
        return Err(AwsError::validation("queryParam takes at most one entry"));
    }
    let action_type = format!(
        "{}/{}/{}/{}",
        id.category, id.owner, id.provider, id.version
    );
    let registered = app.runner.state().action_types().get(&action_type)?;
    if registered.is_none() {
        return Err(AwsError::new(
            "ActionTypeNotFoundException",
            format!("the action type {action_type} is not registered (CreateCustomActionType)"),
        ));
    }
    let matches = |job: &Job| {
        query.iter().all(|(key, value)| {
            data(job)["actionConfiguration"]["configuration"][key].as_str() == Some(value)
        })
    };
    let jobs = app.runner.state().jobs().poll(&action_type, max, matches)?;
    let jobs: Vec<Value> = jobs
        .iter()
        .map(|job| {
            json!({"id": job.id, "data": handed_out(app, job), "nonce": job.nonce, "accountId": caller.account})
        })
        .collect();
    Ok(json!({ "jobs": jobs }))
}

pub fn acknowledge(app: &App, _caller: &Caller, input: Input) -> Reply {
    let id = input.string("jobId")?;
    let nonce = input.string("nonce")?;
    let status = app
        .runner
        .state()
        .jobs()
        .acknowledge(&id, &nonce)?
        .map_err(refused)?;
    Ok(json!({ "status": status.as_str() }))
}

pub fn details(app: &App, caller: &Caller, input: Input) -> Reply {
    let job = job_of(app, &input.string("jobId")?)?;
    Ok(
        json!({"jobDetails": {"id": job.id, "data": handed_out(app, &job), "accountId": caller.account}}),
    )
}

pub fn succeed(app: &App, _caller: &Caller, input: Input) -> Reply {
    let id = input.string("jobId")?;
    job_of(app, &id)?;
    let size: usize = input
        .0
        .get("outputVariables")
        .and_then(Value::as_object)
        .map(|vars| {
            vars.iter()
                .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
                .sum()
        })
        .unwrap_or(0);
    if size > MAX_OUTPUT_VARIABLES {
        return Err(AwsError::new(
            "OutputVariablesSizeExceededException",
            format!(
                "the output variables hold {size} characters, more than {MAX_OUTPUT_VARIABLES}"
            ),
        ));
    }
    let result = Value::Object(input.0).to_string();
    app.runner
        .finish_job(&id, JobStatus::Succeeded, &result)?
        .map_err(refused)?;
    empty()
}

pub fn fail(app: &App, _caller: &Caller, input: Input) -> Reply {
    let id = input.string("jobId")?;
    job_of(app, &id)?;
    let details = input.0.get("failureDetails").cloned().unwrap_or_default();
    let message = details["message"]
        .as_str()
        .ok_or_else(|| AwsError::validation("failureDetails.message must be given"))?;
    if message.len() > 5000 {
        return Err(AwsError::validation(
            "failureDetails.message must be at most 5000 characters",
        ));
    }
    let result = Value::Object(input.0).to_string();
    app.runner
        .finish_job(&id, JobStatus::Failed, &result)?
        .map_err(refused)?;
    empty()
}
