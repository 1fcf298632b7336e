//! Webhooks (GitHub version 1 style): PutWebhook, ListWebhooks, DeleteWebhook and
//! Register/DeregisterWebhookWithThirdParty, and the URL each webhook gets —
//! `http://<server>/_sandpipe/webhooks/<token>` — where a POSTed push payload that passes the
//! webhook's authentication and every filter (`jsonPath` selecting a value equal to
//! `matchEquals`, with `{Property}` taken from the target action's configuration) starts the
//! pipeline, pinned to the payload's `after` commit.

use std::net::IpAddr;

use axum::body::Body;
use axum::http::{HeaderMap, Response, StatusCode};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use sandpipe_model::execution::{RevisionType, SourceRevision};

use super::{empty, pipelines};
use crate::App;
use crate::caller::Caller;
use crate::json::{AwsError, Input, Reply, timestamp};

/// The path webhook URLs live under.
pub const ROUTE: &str = "/_sandpipe/webhooks/";

/// One step of a JSONPath: a member or an index.
enum Step {
    Member(String),
    Index(usize),
}

/// The subset of JSONPath webhook filters use: `$`, `.name`, `['name']`, `[n]`.
fn parse_path(path: &str) -> Result<Vec<Step>, String> {
    let rest = path
        .strip_prefix('$')
        .ok_or_else(|| format!("'{path}' does not start with $"))?;
    let mut steps = Vec::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                let mut name = String::new();
                while let Some(&next) = chars.peek() {
                    if next == '.' || next == '[' {
                        break;
                    }
                    name.push(next);
                    chars.next();
                }
                if name.is_empty() {
                    return Err(format!("'{path}' has an empty member name"));
                }
                steps.push(Step::Member(name));
            }
            '[' => {
                let inside: String = chars.by_ref().take_while(|&c| c != ']').collect();
                let quoted = inside
                    .strip_prefix('\'')
                    .and_then(|s| s.strip_suffix('\''))
                    .or_else(|| inside.strip_prefix('"').and_then(|s| s.strip_suffix('"')));
                match (quoted, inside.parse::<usize>()) {
                    (Some(name), _) => steps.push(Step::Member(name.to_string())),
                    (None, Ok(index)) => steps.push(Step::Index(index)),
                    _ => {
                        return Err(format!(
                            "'{path}': '[{inside}]' is not a member or an index"
                        ));
                    }
                }
            }
            other => return Err(format!("'{path}': unexpected '{other}'")),
        }
    }
    Ok(steps)
}

fn select<'v>(value: &'v Value, steps: &[Step]) -> Option<&'v Value> {
    steps.iter().try_fold(value, |value, step| match step {
        Step::Member(name) => value.get(name),
        Step::Index(index) => value.get(*index),
    })
}

/// `matchEquals` with `{Property}` replaced by the target action's configuration value.
fn expand(pattern: &str, configuration: &std::collections::BTreeMap<String, String>) -> String {
    let mut out = pattern.to_string();
    for (key, value) in configuration {
        out = out.replace(&format!("{{{key}}}"), value);
    }
    out
}

fn invalid_filter(message: String) -> AwsError {
    AwsError::new("InvalidWebhookFilterPatternException", message)
}

/// Check a WebhookDefinition against the pipeline it targets.
fn check(app: &App, definition: &Value) -> Result<(), AwsError> {
    let text = |name: &str| definition[name].as_str().unwrap_or_default();
    if text("name").is_empty() || text("name").len() > 100 {
        return Err(AwsError::validation(
            "webhook.name must be 1–100 characters",
        ));
    }
    let (loaded, _) = pipelines::load(app, text("targetPipeline"))?;
    if loaded
        .pipeline
        .source_action(text("targetAction"))
        .is_none()
    {
        return Err(AwsError::validation(format!(
            "webhook.targetAction '{}' is not a source action of pipeline '{}'",
            text("targetAction"),
            text("targetPipeline")
        )));
    }
    let filters = definition["filters"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if filters.is_empty() || filters.len() > 5 {
        return Err(invalid_filter("a webhook has 1 to 5 filters".into()));
    }
    for filter in &filters {
        parse_path(filter["jsonPath"].as_str().unwrap_or_default()).map_err(invalid_filter)?;
    }
    let configuration = &definition["authenticationConfiguration"];
    let bad_auth = |m: &str| AwsError::new("InvalidWebhookAuthenticationParametersException", m);
    match text("authentication") {
        "GITHUB_HMAC"
            if configuration["SecretToken"]
                .as_str()
                .is_none_or(str::is_empty) =>
        {
            Err(bad_auth(
                "GITHUB_HMAC needs authenticationConfiguration.SecretToken",
            ))
        }
        "IP" if configuration["AllowedIPRange"]
            .as_str()
            .and_then(parse_cidr)
            .is_none() =>
        {
            Err(bad_auth(
                "IP needs authenticationConfiguration.AllowedIPRange as a CIDR",
            ))
        }
        "GITHUB_HMAC" | "IP" | "UNAUTHENTICATED" => Ok(()),
        other => Err(bad_auth(&format!(
            "authentication must be GITHUB_HMAC, IP or UNAUTHENTICATED, not '{other}'"
        ))),
    }
}

fn parse_cidr(text: &str) -> Option<(IpAddr, u8)> {
    let (ip, bits) = text.split_once('/').unwrap_or((text, ""));
    let ip: IpAddr = ip.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let bits = if bits.is_empty() {
        max
    } else {
        bits.parse().ok()?
    };
    (bits <= max).then_some((ip, bits))
}

fn in_cidr(peer: IpAddr, (network, bits): (IpAddr, u8)) -> bool {
    let prefix = |a: u128, width: u32| {
        let shift = width - u32::from(bits);
        if shift >= 128 { 0 } else { a >> shift }
    };
    match (peer, network) {
        (IpAddr::V4(p), IpAddr::V4(n)) => {
            prefix(u32::from(p).into(), 32) == prefix(u32::from(n).into(), 32)
        }
        (IpAddr::V6(p), IpAddr::V6(n)) => prefix(p.into(), 128) == prefix(n.into(), 128),
        _ => false,
    }
}

fn shown(app: &App, caller: &Caller, webhook: &sandpipe_state::Webhook) -> Value {
    let definition: Value = serde_json::from_str(&webhook.definition).unwrap_or_default();
    let mut item = json!({
        "definition": definition,
        "url": format!("{}{ROUTE}{}", app.public_url(), webhook.token),
        "arn": caller.arn("codepipeline", &format!("webhook:{}", webhook.name)),
    });
    if let Some(at) = &webhook.last_triggered {
        item["lastTriggered"] = timestamp(at);
    }
    item
}

pub fn put(app: &App, caller: &Caller, input: Input) -> Reply {
    let definition = input.0.get("webhook").cloned().ok_or_else(|| {
        AwsError::validation("1 validation error detected: Value null at 'webhook'")
    })?;
    check(app, &definition)?;
    let name = definition["name"].as_str().unwrap_or_default();
    let stored = app
        .runner
        .state()
        .webhooks()
        .put(name, &definition.to_string())?;
    Ok(json!({ "webhook": shown(app, caller, &stored) }))
}

pub fn list(app: &App, caller: &Caller, _input: Input) -> Reply {
    let hooks = app.runner.state().webhooks().list()?;
    let items: Vec<Value> = hooks.iter().map(|h| shown(app, caller, h)).collect();
    Ok(json!({ "webhooks": items }))
}

pub fn delete(app: &App, _caller: &Caller, input: Input) -> Reply {
    // Deleting a webhook that is not there succeeds, as on AWS.
    app.runner
        .state()
        .webhooks()
        .delete(&input.string("name")?)?;
    empty()
}

fn set_registered(app: &App, input: &Input, registered: bool) -> Reply {
    let name = input.optional_string("webhookName")?.unwrap_or_default();
    if !app
        .runner
        .state()
        .webhooks()
        .set_registered(&name, registered)?
    {
        return Err(AwsError::new(
            "WebhookNotFoundException",
            format!("no webhook named '{name}'"),
        ));
    }
    empty()
}

pub fn register(app: &App, _caller: &Caller, input: Input) -> Reply {
    set_registered(app, &input, true)
}

pub fn deregister(app: &App, _caller: &Caller, input: Input) -> Reply {
    set_registered(app, &input, false)
}

fn plain(status: StatusCode, body: Value) -> Response<Body> {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        "content-type",
        "application/json".parse().expect("a valid header"),
    );
    response
}

/// A POST to a webhook's URL: authenticate, filter, start.
pub fn deliver(
    app: &App,
    token: &str,
    headers: &HeaderMap,
    peer: IpAddr,
    body: &[u8],
) -> Response<Body> {
    let found = match app.runner.state().webhooks().by_token(token) {
        Ok(Some(found)) => found,
        Ok(None) => return plain(StatusCode::NOT_FOUND, json!({"message": "no such webhook"})),
        Err(e) => {
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"message": e.to_string()}),
            );
        }
    };
    let definition: Value = serde_json::from_str(&found.definition).unwrap_or_default();
    let configuration = &definition["authenticationConfiguration"];
    let authentic = match definition["authentication"].as_str().unwrap_or_default() {
        "GITHUB_HMAC" => {
            let secret = configuration["SecretToken"].as_str().unwrap_or_default();
            let given = headers
                .get("x-hub-signature-256")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("sha256="))
                .and_then(|v| hex::decode(v).ok());
            let mut mac =
                Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
            mac.update(body);
            given.is_some_and(|given| mac.verify_slice(&given).is_ok())
        }
        "IP" => configuration["AllowedIPRange"]
            .as_str()
            .and_then(parse_cidr)
            .is_some_and(|range| in_cidr(peer, range)),
        _ => true,
    };
    if !authentic {
        return plain(
            StatusCode::FORBIDDEN,
            json!({"message": "the request does not pass the webhook's authentication"}),
        );
    }
    let Ok(payload) = serde_json::from_slice::<Value>(body) else {
        return plain(
            StatusCode::BAD_REQUEST,
            json!({"message": "the payload is not JSON"}),
        );
    };
    let pipeline = definition["targetPipeline"].as_str().unwrap_or_default();
    let action = definition["targetAction"].as_str().unwrap_or_default();
    let loaded = match pipelines::load_declared(app, pipeline) {
        Ok((loaded, _)) => loaded,
        Err(e) => return plain(StatusCode::NOT_FOUND, json!({"message": e.message})),
    };
    let configuration = loaded
        .pipeline
        .source_action(action)
        .map(|a| a.configuration.clone())
        .unwrap_or_default();
    for filter in definition["filters"].as_array().into_iter().flatten() {
        let path = filter["jsonPath"].as_str().unwrap_or_default();
        let steps = parse_path(path).unwrap_or_default();
        let wanted = filter["matchEquals"]
            .as_str()
            .map(|m| expand(m, &configuration));
        let value = select(&payload, &steps);
        let matched = match (&wanted, value) {
            (Some(wanted), Some(Value::String(s))) => s == wanted,
            // A number or boolean matches its JSON text.
            (Some(wanted), Some(other)) => wanted.parse::<Value>().is_ok_and(|w| &w == other),
            (None, Some(_)) => true,
            (_, None) => false,
        };
        if !matched {
            return plain(
                StatusCode::OK,
                json!({"ignored": format!("filter {path} does not match {}", wanted.unwrap_or_default())}),
            );
        }
    }
    let mut revisions = std::collections::BTreeMap::new();
    let reads_git = loaded.pipeline.source_action(action).is_some_and(|a| {
        sandpipe_model::connections::RepositoryRef::from_configuration(&a.configuration).is_some()
    });
    if let Some(commit) = payload["after"]
        .as_str()
        .filter(|c| c.len() == 40 && reads_git)
    {
        revisions.insert(
            action.to_string(),
            SourceRevision {
                revision_type: RevisionType::CommitId,
                revision_value: commit.to_string(),
                branch: None,
            },
        );
    }
    let caller = Caller::of(headers);
    let started = tokio::task::block_in_place(|| {
        super::executions::launch(
            app,
            &caller,
            loaded,
            "Webhook",
            (Default::default(), revisions),
        )
    });
    match started {
        Ok(id) => {
            let _ = app.runner.state().webhooks().triggered(&found.name);
            plain(StatusCode::OK, json!({"pipelineExecutionId": id}))
        }
        Err(e) => plain(
            StatusCode::BAD_REQUEST,
            json!({"__type": e.code, "message": e.message}),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_paths_select_members_and_indices() {
        let payload = json!({"ref": "refs/heads/main", "commits": [{"id": "a"}], "x.y": 1});
        let at = |p: &str| select(&payload, &parse_path(p).unwrap()).cloned();
        assert_eq!(at("$.ref"), Some(json!("refs/heads/main")));
        assert_eq!(at("$.commits[0].id"), Some(json!("a")));
        assert_eq!(at("$['x.y']"), Some(json!(1)));
        assert_eq!(at("$.nope"), None);
        assert!(parse_path("ref").is_err());
        assert!(parse_path("$.a[b]").is_err());
    }

    #[test]
    fn ip_ranges_hold_their_addresses() {
        let range = parse_cidr("10.1.0.0/16").unwrap();
        assert!(in_cidr("10.1.200.3".parse().unwrap(), range));
        assert!(!in_cidr("10.2.0.1".parse().unwrap(), range));
        assert!(in_cidr(
            "127.0.0.1".parse().unwrap(),
            parse_cidr("127.0.0.1").unwrap()
        ));
        assert!(in_cidr("::1".parse().unwrap(), parse_cidr("::/0").unwrap()));
        assert!(parse_cidr("10.0.0.0/33").is_none());
    }

    #[test]
    fn match_equals_takes_the_action_configuration() {
        let configuration = [("Branch".to_string(), "main".to_string())].into();
        assert_eq!(
            expand("refs/heads/{Branch}", &configuration),
            "refs/heads/main"
        );
    }
}
