//! The buildspec (version 0.1 and 0.2), as CodeBuild reads it: every key typed, unknown keys
//! refused with their path, YAML errors with line and column.

use std::collections::BTreeMap;

use serde::Deserialize;

/// A scalar written as a string, number or boolean; CodeBuild takes all three as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Scalar {
            String(String),
            Integer(i64),
            Float(f64),
            Bool(bool),
        }
        match Scalar::deserialize(deserializer) {
            Ok(Scalar::String(s)) => Ok(Text(s)),
            Ok(Scalar::Integer(i)) => Ok(Text(i.to_string())),
            Ok(Scalar::Float(f)) => Ok(Text(f.to_string())),
            Ok(Scalar::Bool(b)) => Ok(Text(b.to_string())),
            Err(_) => Err(serde::de::Error::custom(
                "expected a string (quote a command or value that contains ': ' or starts \
                 with a YAML special character)",
            )),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Buildspec {
    pub version: Text,
    pub run_as: Option<String>,
    #[serde(default)]
    pub env: Env,
    pub proxy: Option<Proxy>,
    pub batch: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    pub phases: Phases,
    #[serde(default)]
    pub reports: BTreeMap<String, ReportGroup>,
    pub artifacts: Option<Artifacts>,
    pub cache: Option<Cache>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Env {
    pub shell: Option<String>,
    #[serde(default)]
    pub variables: BTreeMap<String, Text>,
    #[serde(default)]
    pub parameter_store: BTreeMap<String, String>,
    #[serde(default)]
    pub secrets_manager: BTreeMap<String, String>,
    #[serde(default)]
    pub exported_variables: Vec<String>,
    pub git_credential_helper: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Proxy {
    pub upload_artifacts: Option<Text>,
    pub logs: Option<Text>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phases {
    pub install: Option<Phase>,
    pub pre_build: Option<Phase>,
    pub build: Option<Phase>,
    pub post_build: Option<Phase>,
}

impl Phases {
    /// The phases in the order they run, with CodeBuild's names.
    pub fn in_order(&self) -> [(&'static str, Option<&Phase>); 4] {
        [
            ("INSTALL", self.install.as_ref()),
            ("PRE_BUILD", self.pre_build.as_ref()),
            ("BUILD", self.build.as_ref()),
            ("POST_BUILD", self.post_build.as_ref()),
        ]
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Phase {
    pub run_as: Option<String>,
    pub on_failure: Option<OnFailure>,
    pub runtime_versions: Option<BTreeMap<String, Text>>,
    #[serde(default)]
    pub commands: Vec<Text>,
    #[serde(default)]
    pub finally: Vec<Text>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum OnFailure {
    #[serde(rename = "ABORT")]
    Abort,
    #[serde(rename = "CONTINUE")]
    Continue,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ReportGroup {
    pub files: Vec<Text>,
    pub base_directory: Option<String>,
    pub discard_paths: Option<Text>,
    pub file_format: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ArtifactSet {
    pub files: Vec<Text>,
    pub name: Option<Text>,
    pub discard_paths: Option<Text>,
    pub base_directory: Option<String>,
    #[serde(default)]
    pub exclude_paths: Vec<Text>,
    pub enable_symlinks: Option<Text>,
    pub s3_prefix: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Artifacts {
    #[serde(flatten)]
    pub primary: ArtifactSet,
    #[serde(default)]
    pub secondary_artifacts: BTreeMap<String, ArtifactSet>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cache {
    #[serde(default)]
    pub paths: Vec<Text>,
}

/// `yes`/`no` (and YAML booleans) as CodeBuild reads them.
pub fn yes(value: &Option<Text>) -> bool {
    value
        .as_ref()
        .is_some_and(|v| matches!(v.0.to_ascii_lowercase().as_str(), "yes" | "true"))
}

/// What to add to a YAML syntax error when a line is indented with a tab, which YAML forbids
/// and YAML parsers rarely name ("found character that cannot start any token"). The
/// pipeline loader uses it too: the model compiles this file in.
pub fn tab_hint(text: &str, message: &str) -> String {
    if message.contains("tab") {
        return String::new();
    }
    let tabbed = text.lines().position(|line| {
        line.chars()
            .take_while(|c| c.is_whitespace())
            .any(|c| c == '\t')
    });
    match tabbed {
        Some(index) => format!(
            " (line {} is indented with a tab: YAML indents with spaces only)",
            index + 1
        ),
        None => String::new(),
    }
}

/// Parse a buildspec; the error names `file`, the line and column, and the key path.
pub fn parse(text: &str, file: &str) -> Result<Buildspec, String> {
    let deserializer = serde_yaml_ng::Deserializer::from_str(text);
    let buildspec: Buildspec = serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.inner();
        let location = inner
            .location()
            .map(|l| format!("line {}, column {}: ", l.line(), l.column()))
            .unwrap_or_default();
        let message = inner.to_string();
        // serde_yaml_ng appends " at line L column C"; the location is already in front.
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_string();
        // serde_yaml_ng may name a (less precise) key path itself: use ours.
        let message = match message.split_once(": ") {
            Some((head, rest)) if !head.contains(' ') => rest.to_string(),
            _ => message,
        };
        let hint = tab_hint(text, &message);
        if path == "." || path.is_empty() {
            format!("{file}: {location}{message}{hint}")
        } else {
            format!("{file}: {location}{path}: {message}{hint}")
        }
    })?;
    match buildspec.version.0.as_str() {
        "0.1" | "0.2" => Ok(buildspec),
        other => Err(format!(
            "{file}: version: '{other}' is not a buildspec version (0.2, or the legacy 0.1)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_phase_is_named_with_its_position() {
        let text =
            "version: 0.2\nphases:\n  build:\n    commands: [make]\n  biuld:\n    commands: [x]\n";
        let error = parse(text, "buildspec.yml").unwrap_err();
        assert!(
            error.starts_with(
                "buildspec.yml: line 5, column 3: phases.biuld: unknown field `biuld`"
            ),
            "{error}"
        );
        assert!(
            error.contains("expected one of `install`, `pre_build`, `build`, `post_build`"),
            "{error}"
        );
    }

    #[test]
    fn a_tab_in_the_indentation_is_named() {
        let error = parse(
            "version: 0.2\nphases:\n  build:\n\tcommands: [make]\n",
            "b.yml",
        )
        .unwrap_err();
        assert!(
            error.contains("line 4 is indented with a tab: YAML indents with spaces only"),
            "{error}"
        );
    }

    #[test]
    fn malformed_yaml_has_line_and_column() {
        let error = parse(
            "version: 0.2\nphases:\n  build:\n    commands: [make\n",
            "b.yml",
        )
        .unwrap_err();
        assert!(error.starts_with("b.yml: line "), "{error}");
        assert!(error.contains("column"), "{error}");
    }

    #[test]
    fn a_command_that_yaml_reads_as_a_map_is_explained() {
        let error = parse(
            "version: 0.2\nphases:\n  build:\n    commands:\n      - echo a: b\n",
            "b.yml",
        )
        .unwrap_err();
        assert!(error.contains("phases.build.commands[0]"), "{error}");
        assert!(error.contains("quote"), "{error}");
    }

    #[test]
    fn scalars_become_text() {
        let spec = parse(
            "version: 0.2\nenv:\n  variables:\n    N: 3\n    B: true\n",
            "b",
        )
        .unwrap();
        assert_eq!(spec.env.variables["N"], Text("3".into()));
        assert_eq!(spec.env.variables["B"], Text("true".into()));
    }
}
