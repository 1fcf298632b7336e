//! What an action may hand back, checked when its call returns: CodePipeline's own limits on
//! PutJobSuccessResult and PutJobFailureResult where it has them, sandpipe's where it has
//! none, and everything meant to be read (summaries, messages, ids) made safe to show
//! ([`sandpipe_model::text`]). Over a limit, a success is the action's failure naming the
//! limit; a failure's message is clipped with a visible marker, since it fails either way.

use sandpipe_model::text::{clip, escape_controls};
use sandpipe_model::variables::is_variable_name;

use crate::action::{ActionError, ActionOutcome, FailureDetails};
use crate::bindings::sandpipe::action::types as wit;

/// ExecutionDetails.summary.
pub const SUMMARY_CHARS: usize = 2048;
/// ExecutionDetails.externalExecutionId and FailureDetails.externalExecutionId.
pub const EXTERNAL_ID_CHARS: usize = 1500;
/// FailureDetails.message.
pub const FAILURE_MESSAGE_CHARS: usize = 5000;
/// PutJobSuccessResult.continuationToken.
pub const CONTINUATION_TOKEN_CHARS: usize = 2048;
/// CurrentRevision.revision, .changeIdentifier and .revisionSummary.
pub const REVISION_CHARS: usize = 1500;
pub const CHANGE_IDENTIFIER_CHARS: usize = 100;
pub const REVISION_SUMMARY_CHARS: usize = 2048;
/// All output variables of one action together, names and values
/// (OutputVariablesSizeExceededException).
pub const OUTPUT_VARIABLE_BYTES: usize = 122_880;
/// sandpipe's: CodePipeline bounds only the variables' total size, and no real action
/// publishes more than a few dozen.
pub const OUTPUT_VARIABLES: usize = 256;
/// sandpipe's: longest output variable name.
pub const OUTPUT_VARIABLE_NAME_CHARS: usize = sandpipe_model::variables::MAX_OUTPUT_VARIABLE_NAME;

fn over(field: &str, value: &str, limit: usize) -> Option<String> {
    let chars = value.chars().count();
    (chars > limit)
        .then(|| format!("the action's {field} is {chars} characters long; the limit is {limit}"))
}

/// The first limit `outcome` breaks, as the action's failure.
pub(crate) fn check_outcome(outcome: &wit::Outcome) -> Result<(), ActionError> {
    match first_problem(outcome) {
        None => Ok(()),
        Some(problem) => Err(ActionError::Failed(FailureDetails::job(problem))),
    }
}

fn first_problem(outcome: &wit::Outcome) -> Option<String> {
    if outcome.continuation_token.is_some() && !outcome.output_variables.is_empty() {
        return Some(
            "the action returned output variables together with a continuation token; \
             output variables belong to the final result"
                .into(),
        );
    }
    let texts = [
        (
            "summary (executionDetails.summary)",
            &outcome.summary,
            SUMMARY_CHARS,
        ),
        (
            "external execution id (executionDetails.externalExecutionId)",
            &outcome.external_execution_id,
            EXTERNAL_ID_CHARS,
        ),
        (
            "continuation token",
            &outcome.continuation_token,
            CONTINUATION_TOKEN_CHARS,
        ),
    ];
    for (field, value, limit) in texts {
        if let Some(problem) = value.as_deref().and_then(|v| over(field, v, limit)) {
            return Some(problem);
        }
    }
    if let Some(percent) = outcome.percent_complete.filter(|p| *p > 100) {
        return Some(format!(
            "the action's percent complete is {percent}; it must be 0 to 100"
        ));
    }
    if let Some(revision) = &outcome.current_revision
        && let Some(problem) = revision_problem(revision)
    {
        return Some(problem);
    }
    variables_problem(&outcome.output_variables)
}

fn revision_problem(revision: &wit::CurrentRevision) -> Option<String> {
    if revision.revision.is_empty() {
        return Some("the action's current revision has an empty revision id".into());
    }
    over("current revision id", &revision.revision, REVISION_CHARS)
        .or_else(|| {
            over(
                "current revision's change identifier",
                &revision.change_identifier,
                CHANGE_IDENTIFIER_CHARS,
            )
        })
        .or_else(|| {
            let summary = revision.revision_summary.as_deref()?;
            over(
                "current revision's summary",
                summary,
                REVISION_SUMMARY_CHARS,
            )
        })
}

fn variables_problem(variables: &[(String, String)]) -> Option<String> {
    if variables.len() > OUTPUT_VARIABLES {
        return Some(format!(
            "the action returned {} output variables; the limit is {OUTPUT_VARIABLES}",
            variables.len()
        ));
    }
    let bytes: usize = variables.iter().map(|(k, v)| k.len() + v.len()).sum();
    if bytes > OUTPUT_VARIABLE_BYTES {
        return Some(format!(
            "the action's output variables total {bytes} bytes; the limit is \
             {OUTPUT_VARIABLE_BYTES} (OutputVariablesSizeExceededException)"
        ));
    }
    let bad_name = |k: &String| !is_variable_name(k, OUTPUT_VARIABLE_NAME_CHARS);
    let (name, _) = variables.iter().find(|(k, _)| bad_name(k))?;
    Some(format!(
        "output variable name '{}' is not valid: use 1 to {OUTPUT_VARIABLE_NAME_CHARS} of \
         A-Z a-z 0-9 @ - _",
        clip(&escape_controls(name), 200)
    ))
}

/// The outcome with what is meant to be read escaped. Variable values stay as returned:
/// they are data that later actions' configuration takes in, and every printer escapes
/// them.
pub(crate) fn safe_outcome(mut outcome: ActionOutcome) -> ActionOutcome {
    let escape = |text: &mut String| {
        if let std::borrow::Cow::Owned(escaped) = escape_controls(text) {
            *text = escaped;
        }
    };
    for text in [&mut outcome.summary, &mut outcome.external_execution_id]
        .into_iter()
        .flatten()
    {
        escape(text);
    }
    if let Some(revision) = &mut outcome.current_revision {
        escape(&mut revision.revision_id);
        escape(&mut revision.change_identifier);
        if let Some(summary) = &mut revision.revision_summary {
            escape(summary);
        }
    }
    outcome
}

/// A failure as it is kept: its message and external id escaped and clipped to
/// CodePipeline's lengths.
pub(crate) fn safe_failure(mut details: FailureDetails) -> FailureDetails {
    details.message = clip(&escape_controls(&details.message), FAILURE_MESSAGE_CHARS).into_owned();
    details.external_execution_id = details
        .external_execution_id
        .map(|id| clip(&escape_controls(&id), EXTERNAL_ID_CHARS).into_owned());
    details
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome() -> wit::Outcome {
        wit::Outcome {
            output_variables: Vec::new(),
            summary: None,
            external_execution_id: None,
            percent_complete: None,
            continuation_token: None,
            current_revision: None,
            artifact_files: Vec::new(),
        }
    }

    #[test]
    fn each_limit_is_named_when_broken() {
        let long = "x".repeat(SUMMARY_CHARS + 1);
        let with = |f: &dyn Fn(&mut wit::Outcome)| {
            let mut o = outcome();
            f(&mut o);
            first_problem(&o)
        };
        assert_eq!(with(&|_| {}), None);
        assert!(
            with(&|o| o.summary = Some(long.clone()))
                .unwrap()
                .contains("summary")
        );
        assert!(
            with(&|o| o.summary = Some("é".repeat(SUMMARY_CHARS))).is_none(),
            "characters, not bytes"
        );
        assert!(
            with(&|o| o.external_execution_id = Some(long.clone()))
                .unwrap()
                .contains("externalExecutionId")
        );
        assert!(
            with(&|o| o.percent_complete = Some(101))
                .unwrap()
                .contains("0 to 100")
        );
        let many = (0..1000).map(|i| (format!("v{i}"), "1".into())).collect();
        assert!(
            with(&|o| o.output_variables = Vec::clone(&many))
                .unwrap()
                .contains("1000 output variables; the limit is 256")
        );
        let bad = vec![("a\x1b[2Jb".to_string(), String::new())];
        let problem = with(&|o| o.output_variables = bad.clone()).unwrap();
        assert!(problem.contains("'a\\x1b[2Jb'"), "{problem}");
        let revision = |id: &str| wit::CurrentRevision {
            revision: id.into(),
            change_identifier: "c".into(),
            created: None,
            revision_summary: None,
        };
        assert!(with(&|o| o.current_revision = Some(revision(""))).is_some());
        assert!(with(&|o| o.current_revision = Some(revision("abc"))).is_none());
    }

    #[test]
    fn what_is_read_is_escaped_and_a_long_failure_clipped() {
        let safe = safe_outcome(ActionOutcome {
            summary: Some("ok\r\x1b]0;t\x07".into()),
            output_variables: vec![("v".into(), "line1\nline2".into())],
            ..ActionOutcome::default()
        });
        assert_eq!(safe.summary.as_deref(), Some("ok\\r\\x1b]0;t\\x07"));
        assert_eq!(safe.output_variables[0].1, "line1\nline2");
        let failure = safe_failure(FailureDetails::job("\x1b".repeat(10_000)));
        assert!(failure.message.starts_with("\\x1b\\x1b"));
        assert!(failure.message.ends_with("more characters]"));
        assert!(failure.message.chars().count() < FAILURE_MESSAGE_CHARS + 40);
    }
}
