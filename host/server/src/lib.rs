//! `sandpipe serve`: an AWS endpoint on one port — CodePipeline, S3, IAM and STS — for the
//! aws CLI, `awslocal`, boto3 and the SDKs, over the same state directory the CLI uses.
//!
//! One axum router; every request that is not sandpipe's own (`/_sandpipe/…`) goes to
//! [`dispatch::classify`], which decides from the headers alone which protocol it speaks:
//!
//! - [`dispatch`]: the service a request is for;
//! - `caller`: the account and region, from the SigV4 credential scope;
//! - `json` + `codepipeline`: AWS JSON 1.1 and CodePipeline's 44 operations, which drive
//!   the engine's [`PipelineRunner`];
//! - `query` + `iam` + `sts`: the awsQuery protocol, IAM roles and STS identities;
//! - `sigv4` + `keys`: signatures, checked against the operator's keys and the temporary
//!   ones this server issues;
//! - [`s3`]: the S3 REST protocol through `s3s`, over the embedded store;
//! - `console`: the web console, for what a browser asks (pages, event streams);
//! - `host_names`: on loopback, only loopback's names are answered (DNS rebinding).

mod caller;
mod codepipeline;
mod console;
pub mod dispatch;
mod host_names;
mod iam;
mod json;
mod keys;
mod query;
pub mod s3;
mod sigv4;
mod sts;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Response, StatusCode};
use axum::routing::get;

use sandpipe_engine::{PipelineFiles, PipelineRunner, RunObserver};

use crate::caller::Caller;
use crate::dispatch::Service;

pub use crate::console::ConsoleMode;

/// What the operator chose for the server.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Serve `POST /_sandpipe/reset` (wipes all state; for test harnesses).
    pub allow_reset: bool,
    /// Access key → secret key. None: any key is accepted, as local emulators do.
    pub credentials: Option<BTreeMap<String, String>>,
    /// `host:port` clients reach the server by, for S3 virtual-host addressing.
    pub domain: Option<String>,
    /// `http://host:port`, as URLs the server hands out (webhooks) name it.
    pub url: Option<String>,
    /// What the web console may do.
    pub console: ConsoleMode,
}

/// A GetPipelineState answer, also serialized, and the state generation it was read at.
pub(crate) struct CachedState {
    pub(crate) generation: i64,
    pub(crate) answer: serde_json::Value,
    pub(crate) serialized: bytes::Bytes,
}

/// What every request shares.
pub struct App {
    pub(crate) runner: Arc<PipelineRunner>,
    /// Project, connection and secrets files the operator gave `serve`.
    pub(crate) files: PipelineFiles,
    pub(crate) observer: Arc<dyn RunObserver>,
    /// What the console's live streams wake on: the runs started here report to it.
    pub(crate) changes: Arc<console::Changes>,
    /// Held while a start checks and records its idempotency token.
    pub(crate) starting: Mutex<()>,
    /// GetPipelineState answers by pipeline, with the state generation they were read at:
    /// dashboards poll it, and an answer holds until anything in the state changes.
    pub(crate) pipeline_states: Mutex<std::collections::HashMap<String, CachedState>>,
    /// Declarations whose stored form masks secrets (a plugin's secret properties), as
    /// declared, by pipeline name with their version: memory only, never written.
    pub(crate) declared:
        Mutex<std::collections::HashMap<String, (u32, sandpipe_model::LoadedPipeline)>>,
    /// By pipeline, why its last start was refused (how it was started, and the error)
    /// until one succeeds: a start nobody waits on (CreatePipeline's, a webhook's) has no
    /// caller to tell, and the console shows it instead.
    pub(crate) refused_starts: Mutex<std::collections::HashMap<String, (String, String)>>,
    pub(crate) s3: s3::S3Front,
    /// The keys that may sign requests, shared with the S3 front.
    pub(crate) keys: Arc<keys::Keys>,
    pub(crate) options: ServeOptions,
}

impl App {
    pub fn new(runner: Arc<PipelineRunner>, files: PipelineFiles, options: ServeOptions) -> App {
        let keys = Arc::new(keys::Keys::new(options.credentials.clone()));
        let s3 = s3::S3Front::new(runner.object_store(), keys.clone(), options.domain.clone());
        let changes = Arc::new(console::Changes::default());
        App {
            runner,
            files,
            observer: changes.clone(),
            changes,
            starting: Mutex::new(()),
            pipeline_states: Mutex::new(Default::default()),
            declared: Mutex::new(Default::default()),
            refused_starts: Mutex::new(Default::default()),
            s3,
            keys,
            options,
        }
    }

    /// Where clients reach this server.
    pub fn public_url(&self) -> String {
        self.options
            .url
            .clone()
            .unwrap_or_else(|| "http://localhost:4566".into())
    }

    /// With keys configured, a JSON or query request must be signed with one of them.
    fn check_signature(
        &self,
        method: &axum::http::Method,
        uri: &axum::http::Uri,
        headers: &axum::http::HeaderMap,
        body: &[u8],
        dialect: sigv4::Dialect,
    ) -> Result<(), json::AwsError> {
        if self.keys.checking() {
            sigv4::verify(method, uri, headers, body, &self.keys, dialect)
        } else {
            Ok(())
        }
    }

    /// The router serving every protocol.
    pub fn router(self: Arc<Self>) -> Router {
        let guarded = Router::new()
            .route("/_sandpipe/health", get(health))
            .route("/_sandpipe/reset", axum::routing::post(reset))
            .route("/_sandpipe/console/{asset}", get(console::assets::serve))
            .fallback(dispatch)
            .layer(axum::middleware::from_fn_with_state(
                Arc::clone(&self),
                host_names::only_loopback_names,
            ));
        // A webhook's delivery may come through a tunnel by the tunnel's name; its secret
        // URL (and the HMAC it is checked with) is what guards it, not the name.
        Router::new()
            .route("/_sandpipe/webhooks/{token}", axum::routing::post(webhook))
            .merge(guarded)
            .with_state(self)
    }
}

async fn health(State(app): State<Arc<App>>) -> Response<Body> {
    let body = serde_json::json!({
        "status": "running",
        "services": {"codepipeline": "running", "s3": "running", "iam": "running", "sts": "running"},
        "stateDir": app.runner.state_dir().display().to_string(),
        "version": env!("CARGO_PKG_VERSION"),
    });
    let mut response = Response::new(Body::from(body.to_string()));
    response.headers_mut().insert(
        "content-type",
        "application/json".parse().expect("a valid header"),
    );
    response
}

async fn reset(State(app): State<Arc<App>>) -> Response<Body> {
    let (status, text) = if !app.options.allow_reset {
        (
            StatusCode::FORBIDDEN,
            "reset is off: start the server with --allow-reset".to_string(),
        )
    } else {
        match tokio::task::block_in_place(|| wipe(&app)) {
            Ok(()) => (StatusCode::OK, "{\"reset\": true}".to_string()),
            Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{error:#}")),
        }
    };
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = status;
    response
}

/// `POST /_sandpipe/reset`: abandon what runs, then forget every pipeline, execution, role
/// and bucket, so a test harness starts each test from nothing.
fn wipe(app: &App) -> anyhow::Result<()> {
    app.refused_starts
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clear();
    let state = app.runner.state();
    let running = state.executions().list_in(
        None,
        &[
            sandpipe_state::ExecutionStatus::InProgress,
            sandpipe_state::ExecutionStatus::Stopping,
        ],
        usize::MAX >> 1,
    )?;
    for execution in &running {
        let _ = app.runner.request_stop(
            &execution.id,
            sandpipe_state::StopMode::Abandon,
            Some("reset"),
        );
    }
    // Abandoning ends them promptly; what still writes after this is wiped with the rest.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline
        && !state
            .executions()
            .list_in(
                None,
                &[
                    sandpipe_state::ExecutionStatus::InProgress,
                    sandpipe_state::ExecutionStatus::Stopping,
                ],
                1,
            )?
            .is_empty()
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    state.wipe()?;
    app.declared
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clear();
    let store = app.runner.object_store();
    for entry in std::fs::read_dir(store.path())? {
        let path = entry?.path();
        if path.is_dir() {
            std::fs::remove_dir_all(&path)?;
        } else {
            std::fs::remove_file(&path)?;
        }
    }
    let executions = app.runner.state_dir().join("executions");
    if executions.exists() {
        std::fs::remove_dir_all(executions)?;
    }
    Ok(())
}

/// A POST to a webhook's URL.
async fn webhook(
    State(app): State<Arc<App>>,
    axum::extract::Path(token): axum::extract::Path<String>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    request: Request,
) -> Response<Body> {
    let headers = request.headers().clone();
    match read_body(request, json::MAX_REQUEST_BYTES).await {
        Ok(body) => codepipeline::deliver_webhook(&app, &token, &headers, peer.ip(), &body),
        Err(error) => {
            let mut response = Response::new(Body::from(error.message));
            *response.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
            response
        }
    }
}

/// Every request that is not one of sandpipe's own routes.
async fn dispatch(State(app): State<Arc<App>>, request: Request) -> Response<Body> {
    let service = dispatch::classify(
        request.uri().path(),
        request.uri().query(),
        request.headers(),
    );
    match service {
        Service::Console if app.options.console != ConsoleMode::Off => {
            console::handle(app, request).await
        }
        Service::S3 | Service::Console => app.s3.handle(request).await,
        Service::Sandpipe => {
            let mut response = Response::new(Body::from("no such sandpipe route"));
            *response.status_mut() = StatusCode::NOT_FOUND;
            response
        }
        Service::OtherJsonTarget { target } => {
            let caller = Caller::of(request.headers());
            json::respond(
                Err(json::AwsError::new(
                    "UnknownOperationException",
                    format!("sandpipe serves CodePipeline, S3, IAM and STS, not '{target}'"),
                )),
                &caller.request_id,
            )
        }
        Service::RpcV2Cbor { service, operation } => {
            let caller = Caller::of(request.headers());
            json::respond_cbor_error(
                json::AwsError::new(
                    "UnknownOperationException",
                    format!(
                        "sandpipe speaks AWS JSON 1.1 (X-Amz-Target), not Smithy RPC v2 CBOR: \
                         configure the client's protocol as json to call {service}.{operation}"
                    ),
                ),
                &caller.request_id,
            )
        }
        Service::CodePipeline { operation } => {
            let caller = Caller::of(request.headers());
            let (method, uri, headers) = (
                request.method().clone(),
                request.uri().clone(),
                request.headers().clone(),
            );
            let checked = read_body(request, json::MAX_REQUEST_BYTES)
                .await
                .and_then(|body| {
                    app.check_signature(&method, &uri, &headers, &body, sigv4::Dialect::Json)
                        .map(|()| body)
                });
            match checked {
                Ok(body) => codepipeline::handle(&app, &caller, &operation, &body).await,
                Err(error) => json::respond(Err(error), &caller.request_id),
            }
        }
        Service::Iam | Service::Sts => {
            let caller = Caller::of(request.headers());
            let (method, uri, headers) = (
                request.method().clone(),
                request.uri().clone(),
                request.headers().clone(),
            );
            let checked = read_body(request, query::MAX_REQUEST_BYTES)
                .await
                .and_then(|body| {
                    app.check_signature(&method, &uri, &headers, &body, sigv4::Dialect::Query)
                        .map(|()| body)
                });
            let body = match checked {
                Ok(body) => body,
                Err(error) => return query::respond_error(&error, &caller),
            };
            match service {
                Service::Iam => iam::handle(&app, &caller, &body),
                _ => sts::handle(&app.keys, &caller, &body),
            }
        }
    }
}

/// A request body up to `limit` bytes; a larger one is refused, never buffered whole.
async fn read_body(request: Request, limit: usize) -> Result<bytes::Bytes, json::AwsError> {
    axum::body::to_bytes(request.into_body(), limit)
        .await
        .map_err(|e| {
            json::AwsError::new(
                "SerializationException",
                format!("the request body could not be read (at most {limit} bytes): {e}"),
            )
        })
}

/// Serve `app` on `listener` until `shutdown` completes.
pub async fn serve(
    app: Arc<App>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let changes = app.changes.clone();
    let service = app
        .router()
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    // The console's event streams stay open as long as a page does: they end first.
    let shutdown = async move {
        shutdown.await;
        changes.close();
    };
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}
