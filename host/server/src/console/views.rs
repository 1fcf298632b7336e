//! The console's pages: the pipelines, one pipeline (stages as columns of action cards, the
//! transitions between them, the graph), its execution history, and one execution (its
//! timeline, revisions, variables, artifacts with their digests, reports and live logs).
//! What they show comes from the API's operations, as the aws CLI gets it; what only the
//! record keeps (artifact digests, logs, durations) from the record.

use maud::{Markup, PreEscaped, html};
use serde_json::{Value, json};

use sandpipe_model::{GraphFormat, Notes, PipelineDeclaration, render, svg_unstyled};
use sandpipe_state::{ActionRecord, ExecutionRecord};

use super::page::{age, duration, form, path, pipeline_path, record_time, status, time};
use super::{Console, page};
use crate::json::AwsError;

/// The most of a log a page shows at once; the rest streams or is downloaded whole.
const LOG_SHOWN: u64 = 256 * 1024;

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

fn items<'v>(value: &'v Value, key: &str) -> &'v [Value] {
    value[key].as_array().map(Vec::as_slice).unwrap_or_default()
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

impl Console<'_> {
    /// `/`: every pipeline, with its latest execution.
    pub fn pipelines(&self) -> Result<Markup, AwsError> {
        let mut pipelines = Vec::new();
        let mut next = Value::Null;
        loop {
            let page = self.api("ListPipelines", json!({"nextToken": next}))?;
            pipelines.extend(items(&page, "pipelines").iter().cloned());
            next = page["nextToken"].clone();
            if next.is_null() {
                break;
            }
        }
        let mut rows = Vec::new();
        for pipeline in &pipelines {
            let name = text(&pipeline["name"]);
            let latest = self.api(
                "ListPipelineExecutions",
                json!({"pipelineName": name, "maxResults": 1}),
            )?;
            rows.push((
                pipeline.clone(),
                items(&latest, "pipelineExecutionSummaries")
                    .first()
                    .cloned(),
            ));
        }
        Ok(html! {
            h1 { "Pipelines" }
            @if rows.is_empty() {
                p { "No pipelines yet: create one with the aws CLI (" code { "aws codepipeline create-pipeline" } ") or run one with " code { "sandpipe run" } "." }
            } @else {
                table {
                    thead { tr { th { "Name" } th { "Type" } th { "Latest execution" } th { "Status" } th { "Updated" } } }
                    tbody {
                        @for (pipeline, latest) in &rows {
                            @let name = text(&pipeline["name"]);
                            tr {
                                td { a href=(pipeline_path(name, &[])) { (name) } }
                                td { (text(&pipeline["pipelineType"])) }
                                @match latest {
                                    Some(latest) => {
                                        @let id = text(&latest["pipelineExecutionId"]);
                                        td { a href=(pipeline_path(name, &["executions", id])) { code { (short(id)) } } }
                                        td { (status(text(&latest["status"]))) }
                                        td title=(time(&latest["lastUpdateTime"])) { (age(&latest["lastUpdateTime"])) }
                                    }
                                    None => { td class="muted" { "none" } td {} td {} }
                                }
                            }
                        }
                    }
                }
            }
        })
    }

    /// `/pipelines/<name>`: the pipeline's stages and actions as they are now.
    pub fn pipeline(&self, name: &str) -> Result<Markup, AwsError> {
        let got = self.api("GetPipeline", json!({"name": name}))?;
        let declaration: Option<PipelineDeclaration> =
            serde_json::from_value(got["pipeline"].clone()).ok();
        let state = self.api("GetPipelineState", json!({"name": name}))?;
        let executions = self.api(
            "ListPipelineExecutions",
            json!({"pipelineName": name, "maxResults": 20}),
        )?;
        let succeeded: Vec<String> = items(&executions, "pipelineExecutionSummaries")
            .iter()
            .filter(|e| e["status"] == "Succeeded")
            .map(|e| text(&e["pipelineExecutionId"]).to_string())
            .collect();
        let stages = items(&state, "stageStates");
        let latest = items(&executions, "pipelineExecutionSummaries").first();
        let refused = self
            .app
            .refused_starts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned();
        Ok(html! {
            h1 { (name) }
            p class="muted" {
                "Version " (got["pipeline"]["version"]) " · "
                a href=(pipeline_path(name, &["executions"])) { "Execution history" }
            }
            @if let Some((trigger, message)) = &refused {
                p class="status bad" role="alert" {
                    "The last start (" (trigger) ") was refused: " (message)
                }
            }
            @if let Some(latest) = latest {
                @let id = text(&latest["pipelineExecutionId"]);
                p id="latest" {
                    "Latest execution "
                    a href=(pipeline_path(name, &["executions", id])) { code { (short(id)) } }
                    " " (status(text(&latest["status"])))
                    " " span class="muted" title=(time(&latest["lastUpdateTime"])) { (age(&latest["lastUpdateTime"])) }
                }
            }
            @if self.writable() {
                (self.start_form(name, declaration.as_ref()))
            }
            h2 { "Stages" }
            div class="stages" {
                @for (s, stage) in stages.iter().enumerate() {
                    @if s > 0 {
                        (self.transition(name, stage))
                    }
                    (self.stage(name, s, stage, declaration.as_ref(), &succeeded))
                }
            }
            @if let Some(declaration) = &declaration {
                section id="graph" aria-labelledby="graph-title" {
                    h2 id="graph-title" { "Graph" }
                    // Drawn by the model and escaped there: the same picture
                    // `sandpipe graph --format svg` writes.
                    div class="graph" { (PreEscaped(svg_unstyled(declaration, &Notes::new()))) }
                    details {
                        summary { "As text (" code { "sandpipe graph" } ")" }
                        pre class="graph-text" { (render(declaration, GraphFormat::Text)) }
                    }
                }
            }
        })
    }

    fn start_form(&self, name: &str, declaration: Option<&PipelineDeclaration>) -> Markup {
        let variables = declaration
            .map(|d| d.variables.as_slice())
            .unwrap_or_default();
        let sources: Vec<&str> = declaration
            .and_then(|d| d.stages.first())
            .map(|s| s.actions.iter().map(|a| a.name.as_str()).collect())
            .unwrap_or_default();
        form(
            &pipeline_path(name, &["start"]),
            None,
            html! {
                details id="release" {
                    summary { "Release change" }
                    fieldset {
                        legend { "Start an execution" }
                        @for variable in variables {
                            label { (variable.name) " "
                                input name={ "variable:" (variable.name) } value=[variable.default_value.as_deref()];
                            }
                            br;
                        }
                        @if !sources.is_empty() {
                            label { "Source revision for "
                                select name="revisionAction" {
                                    option value="" { "(latest)" }
                                    @for source in &sources { option value=(source) { (source) } }
                                }
                            }
                            " "
                            select name="revisionType" aria-label="Revision type" {
                                option { "COMMIT_ID" } option { "IMAGE_DIGEST" } option { "S3_OBJECT_VERSION_ID" } option { "S3_OBJECT_KEY" }
                            }
                            " "
                            input name="revisionValue" aria-label="Revision" placeholder="revision";
                            br;
                        }
                        button type="submit" { "Release change" }
                    }
                }
            },
        )
    }

    fn transition(&self, name: &str, stage: &Value) -> Markup {
        let stage_name = text(&stage["stageName"]);
        let inbound = &stage["inboundTransitionState"];
        let enabled = inbound["enabled"].as_bool().unwrap_or(true);
        html! {
            div class={ "transition" @if !enabled { " disabled" } } aria-label={ "Transition into " (stage_name) } {
                span aria-hidden="true" { "↓ " }
                @if enabled { "Transition enabled" } @else {
                    strong { "Transition disabled" }
                    @if let Some(reason) = inbound["disabledReason"].as_str() { ": " span { (reason) } }
                    @if let Some(by) = inbound["lastChangedBy"].as_str() { " " span class="muted" { "(" (by) ", " (age(&inbound["lastChangedAt"])) ")" } }
                }
                @if self.writable() {
                    @if enabled {
                        details id={ "disable-" (stage_name) } {
                            summary { "Disable transition" }
                            (form(&pipeline_path(name, &["transition"]), Some("Disable this transition? Executions will wait before the stage."), html! {
                                input type="hidden" name="stageName" value=(stage_name);
                                input type="hidden" name="enable" value="false";
                                input name="reason" aria-label={ "Reason to disable the transition into " (stage_name) } placeholder="reason" required maxlength="300";
                                " " button type="submit" { "Disable transition" }
                            }))
                        }
                    } @else {
                        (form(&pipeline_path(name, &["transition"]), None, html! {
                            input type="hidden" name="stageName" value=(stage_name);
                            input type="hidden" name="enable" value="true";
                            button type="submit" { "Enable transition" }
                        }))
                    }
                }
            }
        }
    }

    fn stage(
        &self,
        name: &str,
        s: usize,
        stage: &Value,
        declaration: Option<&PipelineDeclaration>,
        succeeded: &[String],
    ) -> Markup {
        let stage_name = text(&stage["stageName"]);
        let latest = &stage["latestExecution"];
        let execution = text(&latest["pipelineExecutionId"]);
        let declared_stage =
            declaration.and_then(|d| d.stages.iter().find(|st| st.name == stage_name));
        let declared = |action: &Value| {
            declared_stage.and_then(|st| {
                st.actions
                    .iter()
                    .find(|a| a.name == text(&action["actionName"]))
            })
        };
        // Actions that run together (one runOrder) side by side, the groups in order.
        let mut groups: std::collections::BTreeMap<u32, Vec<&Value>> = Default::default();
        for action in items(stage, "actionStates") {
            let order = declared(action).map_or(1, |a| a.run_order());
            groups.entry(order).or_default().push(action);
        }
        html! {
            section class="stage" aria-label={ "Stage " (stage_name) } {
                h3 { (stage_name) " " @if !latest.is_null() { (status(text(&latest["status"]))) }
                    @if !execution.is_empty() {
                        " " span class="muted" { "execution " a href=(pipeline_path(name, &["executions", execution])) { code { (short(execution)) } } }
                    }
                }
                @for (order, actions) in &groups {
                    div class="actions" aria-label={ "Run order " (order) } {
                        @if groups.len() > 1 { span class="order" title="runOrder" { (order) } }
                        @for action in actions {
                            (self.action_card(name, stage_name, action, declared(action)))
                        }
                    }
                }
                @if self.writable() && latest["status"] == "Failed" {
                    (form(&pipeline_path(name, &["retry"]), Some("Retry this stage?"), html! {
                        input type="hidden" name="stageName" value=(stage_name);
                        input type="hidden" name="pipelineExecutionId" value=(execution);
                        select name="retryMode" aria-label="Which actions to retry" {
                            option value="FAILED_ACTIONS" { "Failed actions" }
                            option value="ALL_ACTIONS" { "All actions" }
                        }
                        " " button type="submit" { "Retry stage" }
                    }))
                }
                @if self.writable() && s > 0 && !succeeded.is_empty() {
                    details id={ "rollback-" (s) } {
                        summary { "Roll back" }
                        (form(&pipeline_path(name, &["rollback"]), Some("Roll this stage back to the chosen execution?"), html! {
                            input type="hidden" name="stageName" value=(stage_name);
                            select name="targetPipelineExecutionId" aria-label="Execution to roll back to" {
                                @for id in succeeded { option value=(id) { (short(id)) } }
                            }
                            " " button type="submit" { "Roll back" }
                        }))
                    }
                }
            }
        }
    }

    fn action_card(
        &self,
        name: &str,
        stage_name: &str,
        action: &Value,
        declared: Option<&sandpipe_model::ActionDeclaration>,
    ) -> Markup {
        let action_name = text(&action["actionName"]);
        let latest = &action["latestExecution"];
        let provider = declared
            .map(|d| d.action_type_id.to_string())
            .unwrap_or_default();
        let approval = declared.is_some_and(|d| d.action_type_id.is_manual_approval());
        let token = text(&latest["token"]);
        let waiting = approval && latest["status"] == "InProgress" && !token.is_empty();
        let configuration = declared.map(|d| &d.configuration);
        html! {
            article class={ "action " (page::status_class(text(&latest["status"]))) } aria-label={ "Action " (action_name) } {
                strong { (action_name) } " "
                @if !latest.is_null() { (status(text(&latest["status"]))) }
                div class="muted" { (provider) }
                @if !latest.is_null() {
                    div class="muted" title=(time(&latest["lastStatusChange"])) { (age(&latest["lastStatusChange"])) }
                }
                @if let Some(summary) = latest["summary"].as_str() { div { (summary) } }
                @if let Some(message) = latest["errorDetails"]["message"].as_str() { div class="status bad" { (message) } }
                @if let Some(url) = latest["externalExecutionUrl"].as_str() {
                    @if url.starts_with("http://") || url.starts_with("https://") {
                        div { a href=(url) rel="noreferrer" { "Details" } }
                    }
                }
                @if waiting {
                    @if let Some(data) = configuration.and_then(|c| c.get("CustomData")) { p { "Comments: " (data) } }
                    @if let Some(link) = configuration.and_then(|c| c.get("ExternalEntityLink")) {
                        @if link.starts_with("http://") || link.starts_with("https://") {
                            p { "Review: " a href=(link) rel="noreferrer" { (link) } }
                        } @else { p { "Review: " (link) } }
                    }
                    @if self.writable() {
                        (form(&pipeline_path(name, &["approval"]), None, html! {
                            input type="hidden" name="stageName" value=(stage_name);
                            input type="hidden" name="actionName" value=(action_name);
                            input type="hidden" name="token" value=(token);
                            label { "Summary " textarea name="summary" rows="2" {} }
                            br;
                            button type="submit" name="status" value="Approved" { "Approve" }
                            " "
                            button type="submit" name="status" value="Rejected" data-confirm="Reject this approval?" { "Reject" }
                        }))
                    }
                }
            }
        }
    }

    /// `/pipelines/<name>/executions`: the history, filtered and paged as the API pages it.
    pub fn history(&self, name: &str, query: &[(String, String)]) -> Result<Markup, AwsError> {
        let get = |key: &str| {
            query
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
                .filter(|v| !v.is_empty())
        };
        let mut request = json!({"pipelineName": name, "maxResults": 25, "nextToken": get("next")});
        if let Some(stage) = get("succeededInStage") {
            request["filter"] = json!({"succeededInStage": {"stageName": stage}});
        }
        let page = self.api("ListPipelineExecutions", request)?;
        let wanted = get("status");
        let rows: Vec<&Value> = items(&page, "pipelineExecutionSummaries")
            .iter()
            .filter(|e| wanted.is_none_or(|w| e["status"] == w))
            .collect();
        let next = page["nextToken"].as_str().map(|token| {
            let mut link = format!(
                "{}?next={}",
                pipeline_path(name, &["executions"]),
                encode(token)
            );
            for key in ["status", "succeededInStage"] {
                if let Some(value) = get(key) {
                    link.push_str(&format!("&{key}={}", encode(value)));
                }
            }
            link
        });
        Ok(html! {
            h1 { "Execution history: " (name) }
            form method="get" {
                label { "Status "
                    select name="status" {
                        option value="" { "any" }
                        @for s in ["InProgress", "Succeeded", "Failed", "Stopped", "Stopping", "Superseded", "Cancelled"] {
                            option selected[wanted == Some(s)] { (s) }
                        }
                    }
                }
                " "
                label { "Succeeded in stage " input name="succeededInStage" value=[get("succeededInStage")]; }
                " " button type="submit" { "Filter" }
            }
            table {
                thead { tr { th { "Execution" } th { "Status" } th { "Trigger" } th { "Started" } th { "Updated" } th { "Source revisions" } } }
                tbody {
                    @for execution in &rows {
                        @let id = text(&execution["pipelineExecutionId"]);
                        tr {
                            td { a href=(pipeline_path(name, &["executions", id])) { code { (short(id)) } } }
                            td { (status(text(&execution["status"]))) }
                            td { (text(&execution["trigger"]["triggerType"])) }
                            td { (time(&execution["startTime"])) }
                            td title=(time(&execution["lastUpdateTime"])) { (age(&execution["lastUpdateTime"])) }
                            td { @for revision in items(execution, "sourceRevisions") {
                                div { (text(&revision["actionName"])) ": " code { (text(&revision["revisionId"])) } }
                            } }
                        }
                    }
                }
            }
            @if rows.is_empty() { p class="muted" { "No executions on this page match." } }
            @if let Some(next) = next { p { a href=(next) { "Older executions →" } } }
        })
    }

    /// `/pipelines/<name>/executions/<id>`: one execution, whole.
    pub fn execution(&self, name: &str, id: &str) -> Result<Markup, AwsError> {
        let got = self.api(
            "GetPipelineExecution",
            json!({"pipelineName": name, "pipelineExecutionId": id}),
        )?;
        let execution = &got["pipelineExecution"];
        let record = self
            .app
            .runner
            .state()
            .executions()
            .get(text(&execution["pipelineExecutionId"]))?;
        let running = matches!(text(&execution["status"]), "InProgress" | "Stopping");
        Ok(html! {
            h1 { "Execution " code { (record.pipeline_execution_id) } }
            p { (status(text(&execution["status"]))) " "
                @if let Some(summary) = execution["statusSummary"].as_str() { span { (summary) } } }
            table {
                tr { th { "Pipeline" } td { a href=(pipeline_path(name, &[])) { (name) } " (version " (execution["pipelineVersion"]) ")" } }
                tr { th { "Trigger" } td { (text(&execution["trigger"]["triggerType"])) " " span class="muted" { (text(&execution["trigger"]["triggerDetail"])) } } }
                tr { th { "Started" } td { (record_time(&Some(record.start_time.clone()))) } }
                tr { th { "Duration" } td { (duration(&Some(record.start_time.clone()), &record.end_time)) } }
                tr { th { "Source revisions" } td { @for revision in items(execution, "artifactRevisions") {
                    div { (text(&revision["name"])) ": " code { (text(&revision["revisionId"])) } " " span class="muted" { (text(&revision["revisionSummary"])) } }
                } } }
                tr { th { "Variables" } td { @for variable in items(execution, "variables") {
                    div { code { (text(&variable["name"])) } " = " code { (text(&variable["resolvedValue"])) } }
                } } }
                tr { th { "Reproducibility" } td {
                    @if let Some(original) = &record.replay_of {
                        div { "Replay of " a href=(pipeline_path(name, &["executions", original])) { code { (original) } } }
                    }
                    @match &record.determinism {
                        Some(fixed) => div { "Deterministic: clock fixed at " code { (fixed.clock) } ", seeded by " code { (fixed.seed) } },
                        None => div class="muted" { "Not deterministic (run with --deterministic to fix clocks and randomness)" },
                    }
                    div { a href=(pipeline_path(name, &["executions", &record.pipeline_execution_id, "provenance.json"])) download { "Provenance" } " " span class="muted" { "(in-toto Statement, SLSA Provenance v1)" } }
                } }
            }
            @if self.writable() && running {
                (form(&pipeline_path(name, &["stop"]), Some("Stop this execution?"), html! {
                    input type="hidden" name="pipelineExecutionId" value=(record.pipeline_execution_id);
                    input name="reason" aria-label="Reason to stop" placeholder="reason";
                    " " label { input type="checkbox" name="abandon" value="true"; " Abandon running actions" }
                    " " button type="submit" { "Stop execution" }
                }))
            }
            h2 { "Timeline" }
            @for (s, stage) in record.stages.iter().enumerate() {
                section aria-label={ "Stage " (stage.name) } {
                    h3 { (stage.name) " " (status(stage.status.as_str())) }
                    @for (a, action) in stage.actions.iter().enumerate() {
                        (self.action_detail(name, &record, (s, &stage.name), (a, action)))
                    }
                }
            }
        })
    }

    fn action_detail(
        &self,
        name: &str,
        record: &ExecutionRecord,
        (s, stage): (usize, &str),
        (a, action): (usize, &ActionRecord),
    ) -> Markup {
        let id = &record.pipeline_execution_id;
        let (log, offset) = self.log_text(record, action);
        let running = action.status == sandpipe_state::ActionStatus::InProgress;
        html! {
            article class={ "action " (page::status_class(action.status.as_str())) } aria-label={ "Action " (action.name) } {
                strong { (action.name) } " " (status(action.status.as_str())) " "
                span class="muted" {
                    (action.action_type)
                    @if action.start_time.is_some() {
                        " · " (record_time(&action.start_time)) " · " (duration(&action.start_time, &action.end_time))
                    }
                }
                @if action.double.is_some() { div class="muted" { "a double, declared in " (action.double.as_deref().unwrap_or_default()) } }
                @if let Some(summary) = &action.summary { div { (summary) } }
                @if let Some(error) = &action.error { div class="status bad" { (error.code) ": " (error.message) } }
                @if !action.output_variables.is_empty() {
                    div { "Output variables: " @for (k, v) in &action.output_variables { code { (k) "=" (v) } " " } }
                }
                @if !action.input_artifacts.is_empty() || !action.output_artifacts.is_empty() {
                    table {
                        thead { tr { th { "Artifact" } th { "Direction" } th { "SHA-256" } th { "Bytes" } } }
                        tbody {
                            @for (direction, artifacts) in [("input", &action.input_artifacts), ("output", &action.output_artifacts)] {
                                @for artifact in artifacts.iter() {
                                    tr {
                                        td { a href=(path(&["artifacts", &artifact.bucket, &artifact.key])) download { (artifact.name) } }
                                        td { (direction) }
                                        td { code title=(artifact.sha256) { (artifact.sha256.get(..16).unwrap_or_default()) "…" } }
                                        td { (artifact.size) }
                                    }
                                }
                            }
                        }
                    }
                }
                @for report in &action.reports {
                    div {
                        "Test report " strong { (report.group) } " (" (report.format) ", " code { (report.file) } "): "
                        (report.passed) " of " (report.total) " passed"
                        @if report.failed > 0 { ", " span class="status bad" { (report.failed) " failed" } }
                        @if report.errors > 0 { ", " span class="status bad" { (report.errors) " errors" } }
                        @if report.skipped > 0 { ", " (report.skipped) " skipped" }
                        " in " (report.duration_ms) " ms"
                        @if !report.failures.is_empty() {
                            ul { @for failure in &report.failures { li { code { (failure.name) } " " (failure.status) ": " (failure.message.as_deref().unwrap_or_default()) } } }
                        }
                    }
                }
                @if action.log_file.is_some() { details id={ "log-" (s) "-" (a) } open[running] {
                    summary { "Log " a href=(format!("{}?raw", pipeline_path(name, &["executions", id, "logs", stage, &action.name]))) { "(whole file)" } }
                    // Only a running action's log is followed; a finished one is all here.
                    pre data-stream=[running.then(|| format!("{}?from={offset}", pipeline_path(name, &["executions", id, "logs", stage, &action.name])))] { (log) }
                } }
            }
        }
    }

    /// The action's log as the page shows it (its last [`LOG_SHOWN`] bytes), and where in
    /// the file it ends, for the stream to go on from.
    fn log_text(&self, record: &ExecutionRecord, action: &ActionRecord) -> (String, u64) {
        use std::io::{Read, Seek, SeekFrom};
        let execution_dir = self.app.runner.execution_dir(&record.pipeline_execution_id);
        let Some(path) = action.log_path(&execution_dir) else {
            return (String::new(), 0);
        };
        let Ok(mut opened) = std::fs::File::open(&path) else {
            return (String::new(), 0);
        };
        let length = opened.metadata().map(|m| m.len()).unwrap_or(0);
        let start = length.saturating_sub(LOG_SHOWN);
        let mut bytes = Vec::new();
        let _ = opened.seek(SeekFrom::Start(start));
        let _ = opened.take(length - start).read_to_end(&mut bytes);
        // As `sandpipe logs` shows it: control characters (a bidi override, an escape
        // sequence) written out, lines kept.
        let mut text =
            sandpipe_model::text::escape_controls_keep_lines(&String::from_utf8_lossy(&bytes))
                .into_owned();
        if start > 0 {
            text.insert_str(
                0,
                &format!("… the first {start} bytes are in the log file\n"),
            );
        }
        (text, length)
    }
}

/// A query value, percent-encoded.
fn encode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}
