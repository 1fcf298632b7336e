//! CodeBuild project files (`create-project` input, lists, `batch-get-projects` output), in
//! JSON or YAML (first byte, bit 0: YAML), through the text entry point `load_projects` uses
//! for each file. The same text added twice must be refused once it defined a project.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sandpipe_fuzz::format_and_text;
use sandpipe_model::codebuild::BuildProjects;

fuzz_target!(|data: &[u8]| {
    let Some((_, yaml, text)) = format_and_text(data) else {
        return;
    };
    let mut projects = BuildProjects::default();
    match projects.add_document("codebuild-projects.json", text, yaml) {
        Ok(()) => {
            for project in projects.projects.values() {
                let _ = (&project.buildspec, &project.image, &project.defined_in);
            }
            let again = projects.add_document("again.json", text, yaml);
            assert!(
                projects.projects.is_empty() || again.is_err(),
                "the same projects were accepted twice"
            );
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
});
