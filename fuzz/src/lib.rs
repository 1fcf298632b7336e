//! What the fuzz targets share: how an input names its format, and what is run on a
//! pipeline that loaded.

use sandpipe_model::validate::mask_secrets;
use sandpipe_model::{GraphFormat, LoadedPipeline, plan, render, triggers, variables};

/// An input's first byte chooses the format (odd: YAML, even: JSON; the seeds use `y` and
/// `j`), the rest is the document. Files are read with `read_to_string`, so text that is not
/// UTF-8 never reaches a parser.
pub fn format_and_text(data: &[u8]) -> Option<(u8, bool, &str)> {
    let (&mode, rest) = data.split_first()?;
    let text = std::str::from_utf8(rest).ok()?;
    Some((mode, mode & 1 == 1, text))
}

/// Everything sandpipe does with a pipeline before running it: validation (with paths into
/// the document), planning, the three graph renderings, masking secrets, variable
/// references in configuration, and trigger evaluation for each source action.
pub fn exercise(loaded: &LoadedPipeline) {
    for problem in loaded.problems() {
        let _ = problem.to_string();
    }
    let pipeline = &loaded.pipeline;
    let _ = loaded.document_path("stages[0].actions[0]");
    let _ = plan(pipeline);
    for format in [GraphFormat::Text, GraphFormat::Mermaid, GraphFormat::Dot] {
        let _ = render(pipeline, format);
    }
    let _ = mask_secrets(pipeline);
    for (_, action) in pipeline.actions() {
        for value in action.configuration.values() {
            let _ = variables::references(value);
        }
        let _ = triggers::tracked_branch(action);
        let _ = triggers::detects_changes(action);
    }
    let events = [
        triggers::GitEvent::Push {
            reference: triggers::GitRef::Branch("main".into()),
            changed_paths: vec!["src/a.rs".into(), "README.md".into()],
        },
        triggers::GitEvent::Push {
            reference: triggers::GitRef::Tag("v1.0".into()),
            changed_paths: vec![],
        },
        triggers::GitEvent::PullRequest {
            event: sandpipe_model::PullRequestEvent::Open,
            source_branch: "feature/x".into(),
            destination_branch: "main".into(),
            changed_paths: vec!["docs/x.md".into()],
        },
    ];
    let sources: Vec<String> = pipeline.source_actions().map(|a| a.name.clone()).collect();
    for name in sources.iter().map(String::as_str).chain(["missing"]) {
        for event in &events {
            let _ = triggers::evaluate(pipeline, name, event);
        }
    }
}
