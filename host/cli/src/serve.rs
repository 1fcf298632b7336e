//! `sandpipe serve`: the AWS endpoint (CodePipeline, S3, IAM, STS on one port) over this
//! state directory, so the aws CLI, `awslocal`, boto3 and the SDKs drive the same pipelines
//! and buckets the CLI does — and the web console on the same port, for a browser.
//! `sandpipe console` is the same server, opening a browser at it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, ValueEnum};
use sandpipe_server::{App, ConsoleMode, ServeOptions};

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

    /// The web console at the server's root: its pages and their actions (read-write), its
    /// pages only, for a dashboard many people look at (read-only), or none (off).
    #[arg(long, value_enum, default_value_t = ConsoleArg::ReadWrite, value_name = "MODE")]
    console: ConsoleArg,

    #[command(flatten)]
    runner: RunnerArgs,
}

#[derive(Clone, Copy, ValueEnum)]
enum ConsoleArg {
    ReadWrite,
    ReadOnly,
    Off,
}

impl From<ConsoleArg> for ConsoleMode {
    fn from(arg: ConsoleArg) -> Self {
        match arg {
            ConsoleArg::ReadWrite => ConsoleMode::ReadWrite,
            ConsoleArg::ReadOnly => ConsoleMode::ReadOnly,
            ConsoleArg::Off => ConsoleMode::Off,
        }
    }
}

#[derive(Args)]
pub struct ConsoleArgs {
    /// Print the console's address without opening a browser.
    #[arg(long)]
    no_open: bool,

    #[command(flatten)]
    serve: ServeArgs,
}

/// How clients name the address: `localhost` for loopback (S3 virtual hosts resolve under
/// it, and the console answers only to loopback names there).
fn domain_of(address: std::net::SocketAddr) -> String {
    match address.ip().is_loopback() {
        true => format!("localhost:{}", address.port()),
        false => address.to_string(),
    }
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
    serve_then(state_dir, args, |_| {})
}

/// `sandpipe console`: serve, and open the console in a browser where one can be opened.
pub fn console(state_dir: &Path, args: ConsoleArgs) -> anyhow::Result<ExitCode> {
    if matches!(args.serve.console, ConsoleArg::Off) {
        anyhow::bail!("sandpipe console --console off: there would be no console to open");
    }
    let open = !args.no_open;
    serve_then(state_dir, args.serve, move |url| {
        outln!("  console: {url}");
        if open && let Err(why) = open_browser(url) {
            outln!("  (open it in a browser: {why})");
        }
    })
}

/// Start the system's browser at `url`, without waiting for it: `$BROWSER`, else the
/// platform's opener. Why not, when none can be started.
fn open_browser(url: &str) -> Result<(), String> {
    let openers = match std::env::var("BROWSER") {
        Ok(browsers) if !browsers.trim().is_empty() => browser_commands(&browsers, url),
        _ if cfg!(target_os = "macos") => vec![vec!["open".into(), url.into()]],
        _ if cfg!(windows) => vec![vec!["explorer".into(), url.into()]],
        _ => {
            let graphical = ["DISPLAY", "WAYLAND_DISPLAY"]
                .iter()
                .any(|v| std::env::var_os(v).is_some_and(|d| !d.is_empty()));
            if !graphical {
                return Err("no display here".into());
            }
            vec![vec!["xdg-open".into(), url.into()]]
        }
    };
    let mut failures = Vec::new();
    for words in openers {
        let Some((program, args)) = words.split_first() else {
            continue;
        };
        let started = std::process::Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        match started {
            Ok(_) => return Ok(()),
            Err(e) => failures.push(format!("{program}: {e}")),
        }
    }
    Err(failures.join("; "))
}

/// The commands `$BROWSER` names, in the convention Python's `webbrowser` and `xdg-open`
/// share: browsers separated by `:`, tried in turn, each a command whose `%s` is the URL
/// (appended when there is none).
fn browser_commands(browsers: &str, url: &str) -> Vec<Vec<String>> {
    browsers
        .split(':')
        .filter(|b| !b.trim().is_empty())
        .map(|browser| {
            let mut words: Vec<String> = browser
                .split_whitespace()
                .map(|w| w.replace("%s", url))
                .collect();
            if !browser.contains("%s") {
                words.push(url.into());
            }
            words
        })
        .collect()
}

fn serve_then(
    state_dir: &Path,
    args: ServeArgs,
    listening: impl FnOnce(&str),
) -> anyhow::Result<ExitCode> {
    let credentials = args
        .credentials
        .as_deref()
        .map(read_credentials)
        .transpose()?;
    let runtime = runtime()?;
    let runner = Arc::new(args.runner.runner(state_dir, None)?);
    let files = args.runner.pipeline_files(None)?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port))
            .await
            .with_context(|| format!("listening on {}:{}", args.host, args.port))?;
        let address = listener.local_addr()?;
        let domain = domain_of(address);
        let options = ServeOptions {
            allow_reset: args.allow_reset,
            credentials,
            domain: Some(domain.clone()),
            url: Some(format!("http://{address}")),
            console: args.console.into(),
        };
        runner.set_endpoint_url(format!("http://{address}"));
        let app = Arc::new(App::new(runner, files, options));
        outln!("sandpipe serve: listening on http://{address}");
        outln!("  state: {}", state_dir.display());
        if !matches!(args.console, ConsoleArg::Off) {
            listening(&format!("http://{domain}/"));
        }
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

#[cfg(test)]
mod tests {
    use super::browser_commands;

    #[test]
    fn browser_lists_are_tried_in_turn_with_the_url_where_they_say() {
        let url = "http://127.0.0.1:4566/";
        assert_eq!(
            browser_commands("firefox --new-tab:lynx %s :", url),
            vec![vec!["firefox", "--new-tab", url], vec!["lynx", url],]
        );
    }
}
