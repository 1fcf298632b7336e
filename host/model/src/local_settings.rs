//! Local settings for the pipelines of a directory — what a run of them does here that a
//! CodePipeline declaration has no field for — in `sandpipe.yaml` beside them:
//!
//! ```yaml
//! deterministic: true        # every pipeline run from this directory
//! pipelines:
//!   release-train:
//!     deterministic: false   # except this one
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::load::{LoadError, parse_text_document, read_text};

/// The names the settings file may have beside a pipeline.
pub const SETTINGS_FILE_NAMES: &[&str] = &["sandpipe.yaml", "sandpipe.yml", "sandpipe.json"];

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "sandpipe settings: a map (deterministic, pipelines)"
)]
pub struct LocalSettings {
    /// Run every action deterministically (`--deterministic`).
    deterministic: Option<bool>,
    /// The same, for one pipeline by name, over the directory's.
    #[serde(default)]
    pipelines: BTreeMap<String, PipelineSettings>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct PipelineSettings {
    deterministic: Option<bool>,
}

impl LocalSettings {
    /// A settings file; each problem names its path (`pipelines.app.deterministic`).
    pub fn read(path: &Path) -> Result<LocalSettings, LoadError> {
        let (file, text, yaml) = read_text(path)?;
        if text.trim().is_empty() {
            return Ok(LocalSettings::default());
        }
        parse_text_document(&file, &text, yaml)
    }

    /// Whether runs of `pipeline` are deterministic: its own setting, else the directory's.
    pub fn deterministic(&self, pipeline: &str) -> bool {
        self.pipelines
            .get(pipeline)
            .and_then(|settings| settings.deterministic)
            .or(self.deterministic)
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<LocalSettings, LoadError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sandpipe.yaml");
        std::fs::write(&path, text).unwrap();
        LocalSettings::read(&path)
    }

    #[test]
    fn a_pipeline_setting_wins_over_the_directory_one() {
        let settings =
            read("deterministic: true\npipelines:\n  app:\n    deterministic: false\n").unwrap();
        assert!(settings.deterministic("other"));
        assert!(!settings.deterministic("app"));
        assert!(!read("").unwrap().deterministic("app"));
    }

    #[test]
    fn a_mistake_is_named_with_its_path() {
        let error = read("pipelines:\n  app:\n    determinstic: true\n").unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("sandpipe.yaml") && text.contains("determinstic"),
            "{text}"
        );
        let error = read("deterministic: sometimes\n").unwrap_err().to_string();
        assert!(error.contains("deterministic"), "{error}");
    }
}
