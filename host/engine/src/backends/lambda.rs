//! `Invoke/AWS/Lambda/1` running the user's own handler, as CodePipeline invokes it: each
//! job's event is the exact `CodePipeline.job` event (id, accountId, the action's
//! configuration with `UserParameters`, input and output artifact S3 locations,
//! `artifactCredentials`, `continuationToken`), and the handler reports through the AWS API
//! — `put_job_success_result` / `put_job_failure_result` and `s3.get_object`, unchanged —
//! with `AWS_ENDPOINT_URL` at a sandpipe endpoint (`sandpipe serve` itself, or one started
//! for the run). A continuation token invokes it again; a handler that never reports times
//! out as CodePipeline's action does.
//!
//! The handler runs on this machine, as a local build does: outside the wasm sandbox, with
//! the user's access, the base environment of builds and the function's own variables.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sandpipe_model::functions::{Function, RuntimeKind};
use sandpipe_state::JobStatus;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use super::{configuration_error, system_failure};
use crate::action::{ActionCall, Completed};
use crate::action_log::ActionLog;
use crate::pipeline::Run;
use sandpipe_runtime::ActionError;

/// Runs a Python handler: reads the event from stdin, calls `module.function(event,
/// context)` with a context like Lambda's. What the handler returns is dropped, as
/// CodePipeline drops it: a job's outcome is what the handler reports through the API.
const PYTHON_BOOTSTRAP: &str = r#"
import importlib, json, os, sys, time
code, module, function = sys.argv[1:4]
sys.path.insert(0, code)
deadline = time.time() + float(os.environ.get("SANDPIPE_LAMBDA_TIMEOUT", "900"))
class Context:
    function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
    function_version = "$LATEST"
    invoked_function_arn = os.environ["SANDPIPE_LAMBDA_ARN"]
    memory_limit_in_mb = 128
    aws_request_id = os.environ["SANDPIPE_LAMBDA_REQUEST_ID"]
    log_group_name = "/aws/lambda/" + function_name
    log_stream_name = "sandpipe"
    def get_remaining_time_in_millis(self):
        return max(0, int((deadline - time.time()) * 1000))
event = json.load(sys.stdin)
handler = getattr(importlib.import_module(module), function)
handler(event, Context())
"#;

/// Runs a Node handler the same way (CommonJS or ES module).
const NODE_BOOTSTRAP: &str = r#"
const path = require('path');
const { pathToFileURL } = require('url');
const [code, module, fn] = process.argv.slice(1);
const deadline = Date.now() + Number(process.env.SANDPIPE_LAMBDA_TIMEOUT || 900) * 1000;
const context = {
  functionName: process.env.AWS_LAMBDA_FUNCTION_NAME, functionVersion: '$LATEST',
  invokedFunctionArn: process.env.SANDPIPE_LAMBDA_ARN, memoryLimitInMB: '128',
  awsRequestId: process.env.SANDPIPE_LAMBDA_REQUEST_ID,
  getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
};
let input = '';
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', async () => {
  const base = path.join(code, module);
  let loaded;
  for (const file of [base + '.js', base + '.mjs', base + '.cjs']) {
    try { loaded = await import(pathToFileURL(file).href); break; } catch (e) {
      if (e.code !== 'ERR_MODULE_NOT_FOUND') throw e;
    }
  }
  if (!loaded) throw new Error(`no module ${module} in ${code}`);
  const handler = loaded[fn] || (loaded.default && loaded.default[fn]);
  await handler(JSON.parse(input), context);
});
"#;

/// How long a handler that has reported may take to return before it is stopped: Lambda
/// ends an invocation when the handler returns, and what it prints meanwhile is its log.
const RETURN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// The longest line of a handler's output kept whole; a longer one is cut into pieces.
const MAX_LINE: u64 = 64 << 10;

/// How much of one invocation's output (both streams) the log keeps. The rest is still
/// read, so the handler never writes into a closed pipe, but not kept.
const MAX_OUTPUT: u64 = 16 << 20;

/// Where a handler's output goes: the action's log, within one budget for all its streams,
/// its last line kept aside.
struct Output {
    log: Arc<ActionLog>,
    kept: Arc<AtomicU64>,
    last_line: Arc<std::sync::Mutex<String>>,
}

/// The most of a handler's last line a failure quotes.
const LAST_LINE_QUOTED: usize = 500;

/// Copy a handler's output stream into the action's log line by line, within the limits:
/// whatever it writes (no newline, invalid UTF-8, gigabytes) costs bounded memory and disk.
async fn copy_output(stream: Box<dyn tokio::io::AsyncRead + Send + Unpin>, output: Output) {
    let Output {
        log,
        kept,
        last_line,
    } = output;
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut reader)
            .take(MAX_LINE)
            .read_until(b'\n', &mut line)
            .await
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let before = kept.fetch_add(line.len() as u64, Ordering::Relaxed);
        if before >= MAX_OUTPUT {
            continue;
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        let text = String::from_utf8_lossy(text.strip_suffix(b"\r").unwrap_or(text));
        if !text.trim().is_empty()
            && let Ok(mut last) = last_line.lock()
        {
            *last = text.chars().take(LAST_LINE_QUOTED).collect();
        }
        log.info(text);
        if before + line.len() as u64 >= MAX_OUTPUT {
            log.warn(format!(
                "the handler's output past {} MiB is not kept",
                MAX_OUTPUT >> 20
            ));
        }
    }
}

/// A handler's process and the tasks copying its output into the action's log.
pub(crate) struct WorkerProcess {
    child: tokio::process::Child,
    readers: Vec<tokio::task::JoinHandle<()>>,
    /// The last line it wrote (either stream), for a failure to quote.
    last_line: Arc<std::sync::Mutex<String>>,
}

impl WorkerProcess {
    /// The process's exit, when it comes.
    pub(crate) async fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.wait().await.ok()
    }

    /// Wait for the process to end (stopping it after [`RETURN_GRACE`]) and for its output to
    /// be in the log; the last line it wrote.
    pub(crate) async fn finish(mut self) -> String {
        if tokio::time::timeout(RETURN_GRACE, self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
        for reader in self.readers {
            let _ = reader.await;
        }
        let last = self.last_line.lock().map(|l| l.clone());
        last.unwrap_or_default()
    }
}

impl Run<'_> {
    pub(crate) async fn invoke_lambda(
        &self,
        call: &ActionCall<'_>,
        function: &Function,
    ) -> Result<Completed, ActionError> {
        let endpoint = self.runner.endpoint_url().map_err(|e| {
            system_failure("starting the endpoint the handler calls")(format!("{e:#}"))
        })?;
        let log = self.action_log(call)?;
        log.info(format!(
            "invoking {} ({}, handler {}, code {}) on this machine, outside the wasm sandbox, \
             with AWS_ENDPOINT_URL={endpoint}",
            call.configured
                .configuration
                .get("FunctionName")
                .map(String::as_str)
                .unwrap_or_default(),
            function.runtime,
            function.handler,
            function.code.display()
        ));
        let invoke = |job: &str, data: &Value| {
            self.start_handler(call, function, &endpoint, job, data)
                .map(Some)
        };
        self.await_jobs(call, JobStatus::InProgress, invoke).await
    }

    /// Start the handler for one job, its output going to the action's log.
    fn start_handler(
        &self,
        call: &ActionCall<'_>,
        function: &Function,
        endpoint: &str,
        job: &str,
        data: &Value,
    ) -> Result<WorkerProcess, ActionError> {
        let configuration = &call.configured.configuration;
        let name = configuration
            .get("FunctionName")
            .cloned()
            .unwrap_or_default();
        let region = &self.launch.region;
        let account = sandpipe_model::cloudformation::LOCAL_ACCOUNT;
        let mut event_data = data.clone();
        // The event CodePipeline sends a function carries its configuration as given.
        event_data["actionConfiguration"] = json!({"configuration": configuration});
        let event =
            json!({"CodePipeline.job": {"id": job, "accountId": account, "data": event_data}});
        // The interpreter, its flag for a script given inline, and the bootstrap script.
        let (default_program, inline, bootstrap) = match function.kind {
            RuntimeKind::Python => ("python3", "-c", PYTHON_BOOTSTRAP),
            RuntimeKind::Node => ("node", "-e", NODE_BOOTSTRAP),
            RuntimeKind::Wasm => {
                return Err(system_failure("invoking the function")(
                    "a wasm function runs as a component, not a handler process",
                ));
            }
        };
        let mut words = function.command.iter().map(String::as_str);
        let program = words.next().unwrap_or(default_program);
        let mut command = tokio::process::Command::new(program);
        command.args(words).arg(inline);
        let (module, entry) = function.handler_parts();
        // The bootstrap runs in the code directory and is handed it: absolute, both ways.
        let code = std::fs::canonicalize(&function.code).unwrap_or_else(|_| function.code.clone());
        command
            .arg(bootstrap)
            .arg(&code)
            .arg(module)
            .arg(entry)
            .current_dir(&code)
            .env_clear()
            .envs(self.runner.settings.builds.base_environment.iter().cloned())
            .envs(&function.environment)
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_REGION", region)
            .env("AWS_DEFAULT_REGION", region)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ACCESS_KEY_ID", "sandpipe-lambda")
            .env("AWS_SECRET_ACCESS_KEY", "sandpipe-lambda")
            .env("AWS_LAMBDA_FUNCTION_NAME", &name)
            .env(
                "AWS_EXECUTION_ENV",
                format!("AWS_Lambda_{}", function.runtime),
            )
            .env("LAMBDA_TASK_ROOT", &code)
            .env(
                "SANDPIPE_LAMBDA_ARN",
                format!("arn:aws:lambda:{region}:{account}:function:{name}"),
            )
            .env(
                "SANDPIPE_LAMBDA_REQUEST_ID",
                uuid::Uuid::new_v4().to_string(),
            )
            // Lambda's runtimes log line by line; a pipe would hold Python's output back.
            .env("PYTHONUNBUFFERED", "1")
            .env(
                "SANDPIPE_LAMBDA_TIMEOUT",
                self.timeout_for(call.s, call.a).as_secs().to_string(),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|e| {
            configuration_error(format!(
                "starting {program} for {name} ({} in {}): {e}",
                function.runtime, function.declared_in
            ))
        })?;
        // One writer for the host's notes and both output streams, each line appended whole.
        let log = Arc::new(self.action_log(call)?);
        let job_id = job.to_string();
        if let Some(mut stdin) = child.stdin.take() {
            let event = event.to_string();
            tokio::spawn(async move {
                let _ = stdin.write_all(event.as_bytes()).await;
            });
        }
        let mut readers = Vec::new();
        let kept = Arc::new(AtomicU64::new(0));
        let last_line = Arc::new(std::sync::Mutex::new(String::new()));
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        ]
        .into_iter()
        .flatten()
        {
            let output = Output {
                log: Arc::clone(&log),
                kept: Arc::clone(&kept),
                last_line: Arc::clone(&last_line),
            };
            readers.push(tokio::spawn(copy_output(stream, output)));
        }
        log.info(format!("job {job_id}: the handler was invoked"));
        Ok(WorkerProcess {
            child,
            readers,
            last_line,
        })
    }
}
