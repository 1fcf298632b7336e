//! The buildspec parser of the CodeBuild guest (`actions/codebuild/src/buildspec.rs`).
//!
//! The guest crate is a `cdylib` for wasm32-wasip2 whose other modules need the action SDK
//! and its WIT bindings, and it keeps `buildspec` private, so it cannot be a dependency here.
//! The module itself uses only std, serde, serde_yaml_ng and serde_path_to_error, so it is
//! compiled in from its own file: the code fuzzed is exactly the code the guest runs, with no
//! copy to keep in step (its unit tests are `#[cfg(test)]` and stay out of this build).
#![no_main]

#[path = "../../actions/codebuild/src/buildspec.rs"]
#[allow(dead_code)]
mod buildspec;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The guest reads the file as UTF-8 text.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(spec) = buildspec::parse(text, "buildspec.yml") else {
        return;
    };
    // What the guest reads of a parsed buildspec before running anything.
    for (_, phase) in spec.phases.in_order() {
        if let Some(phase) = phase {
            let _ = (phase.commands.len(), phase.finally.len(), phase.on_failure);
        }
    }
    let _ = buildspec::yes(&spec.env.git_credential_helper);
    if let Some(artifacts) = &spec.artifacts {
        let _ = buildspec::yes(&artifacts.primary.discard_paths);
        let _ = buildspec::yes(&artifacts.primary.enable_symlinks);
        for set in artifacts.secondary_artifacts.values() {
            let _ = buildspec::yes(&set.discard_paths);
        }
    }
    for group in spec.reports.values() {
        let _ = buildspec::yes(&group.discard_paths);
    }
});
