//! `sandpipe serve`: the AWS endpoint (CodePipeline, S3, IAM, STS on one port) over this
//! state directory, so the aws CLI, `awslocal`, boto3 and the SDKs drive the same pipelines
//! and buckets the CLI does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use sandpipe_server::{App, ServeOptions};

use crate::run::{RunnerArgs, runtime};
use crate::terminal::{errln, outln};

#[derive(Args)]
pub struct ServeArgs {
    /// The address to listen on. Loopback by default: the endpoint has no real auth unless
    /// --credentials is given.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,

    /// The port; 4566 (LocalStack's, so `awslocal` works as it is); 0 picks a free one.
    #[arg(long, default_value_t = 4566)]
    port: u16,

    /// Serve POST /_sandpipe/reset, which wipes all state (for test harnesses).
    #[arg(long)]
    allow_reset: bool,

    /// A JSON file mapping access key ids to secret keys ({"AKID": "secret"}): requests must
    /// be signed with one of them. By default any key is accepted, as local emulators do.
    #[arg(long, value_name = "FILE")]
    credentials: Option<PathBuf>,

    #[command(flatten)]
    runner: RunnerArgs,
}

fn read_credentials(file: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("--credentials {}", file.display()))?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "--credentials {}: expected a JSON object of access key id → secret key",
            file.display()
        )
    })
}

pub fn serve(state_dir: &Path, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let credentials = args
        .credentials
        .as_deref()
        .map(read_credentials)
        .transpose()?;
    let runtime = runtime()?;
    let runner = Arc::new(args.runner.runner(state_dir)?);
    let files = args.runner.pipeline_files(None)?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port))
            .await
            .with_context(|| format!("listening on {}:{}", args.host, args.port))?;
        let address = listener.local_addr()?;
        let domain = match address.ip().is_loopback() {
            true => format!("localhost:{}", address.port()),
            false => address.to_string(),
        };
        let options = ServeOptions {
            allow_reset: args.allow_reset,
            credentials,
            domain: Some(domain),
            url: Some(format!("http://{address}")),
        };
        let app = Arc::new(App::new(runner, files, options));
        outln!("sandpipe serve: listening on http://{address}");
        outln!("  state: {}", state_dir.display());
        if args.runner.builds_on_host() {
            errln!(
                "sandpipe: note: build commands run on this machine, outside the wasm \
                 sandbox, with your user's access (--build-runner container runs them in a \
                 container)"
            );
        }
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        sandpipe_server::serve(app, listener, shutdown).await
    })?;
    outln!("sandpipe serve: stopped");
    Ok(ExitCode::SUCCESS)
}
