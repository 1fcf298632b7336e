//! What the console hands over as files: an artifact from the store and an action's whole
//! log, streamed a chunk at a time (they may be large), never rendered in the console's
//! origin.

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};

use super::{plain, secure};
use crate::App;

/// `GET /artifacts/<bucket>/<key>`: an object from the store, streamed, as a download (never
/// shown in the page's origin: an artifact holding HTML stays a file).
pub async fn artifact(app: &App, bucket: &str, key: &str) -> Response<Body> {
    let store = app.runner.object_store();
    let (bucket, key) = (bucket.to_string(), key.to_string());
    let opened = {
        let (bucket, key) = (bucket.clone(), key.clone());
        tokio::task::spawn_blocking(move || store.open_object(&bucket, &key, None)).await
    };
    let Ok(Ok((info, file))) = opened else {
        return plain(
            StatusCode::NOT_FOUND,
            &format!("no object '{key}' in bucket '{bucket}'"),
        );
    };
    let name = key.rsplit('/').next().unwrap_or("artifact");
    attachment(
        Body::from_stream(crate::s3::download(file.into_std(), 0, info.size)),
        info.size,
        "application/octet-stream",
        name,
    )
}

/// `GET /pipelines/<name>/executions/<id>/provenance.json`: the execution's in-toto
/// Statement (SLSA Provenance v1), as `sandpipe provenance` writes it.
pub fn provenance(app: &App, pipeline: &str, execution: &str) -> Response<Body> {
    let state = app.runner.state();
    let statement = state
        .executions()
        .get(execution)
        .map_err(anyhow::Error::from)
        .and_then(|record| {
            anyhow::ensure!(
                record.pipeline_name == pipeline,
                "execution {execution} is not one of pipeline '{pipeline}'"
            );
            let declaration = state
                .executions()
                .declaration(&record.pipeline_name, record.pipeline_version)?;
            let statement = sandpipe_engine::reproduce::provenance(&record, &declaration)?;
            Ok((
                record.pipeline_execution_id,
                serde_json::to_vec_pretty(&statement)?,
            ))
        });
    match statement {
        Ok((id, bytes)) => {
            let size = bytes.len() as u64;
            attachment(
                Body::from(bytes),
                size,
                "application/json",
                &format!("provenance-{id}.json"),
            )
        }
        Err(error) => plain(StatusCode::NOT_FOUND, &format!("{error:#}")),
    }
}

/// `GET …/logs/<stage>/<action>?raw`: the whole log as text.
pub fn raw_log(
    app: &App,
    pipeline: &str,
    execution: &str,
    stage: &str,
    action: &str,
) -> Response<Body> {
    let record = match app.runner.state().executions().get(execution) {
        Ok(record) if record.pipeline_name == pipeline => record,
        _ => {
            return plain(
                StatusCode::NOT_FOUND,
                &format!("no execution '{execution}'"),
            );
        }
    };
    let file = record
        .stages
        .iter()
        .filter(|s| s.name == stage)
        .flat_map(|s| &s.actions)
        .find(|a| a.name == action)
        .and_then(|a| a.log_path(&app.runner.execution_dir(execution)));
    let Some(path) = file else {
        return plain(
            StatusCode::NOT_FOUND,
            &format!("{stage}/{action} has no log"),
        );
    };
    let Ok(opened) = std::fs::File::open(&path) else {
        return plain(
            StatusCode::NOT_FOUND,
            &format!("{stage}/{action} has no log"),
        );
    };
    let size = opened.metadata().map(|m| m.len()).unwrap_or(0);
    let mut response = Response::new(Body::from_stream(crate::s3::download(opened, 0, size)));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    secure(headers);
    response
}

fn attachment(body: Body, size: u64, content_type: &'static str, name: &str) -> Response<Body> {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    // RFC 6266: a plain ASCII fallback and the exact name, percent-encoded.
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let exact = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
    if let Ok(value) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{exact}"
    )) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    secure(headers);
    response
}
