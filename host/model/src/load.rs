//! Reading a pipeline declaration from the documents users have: the input of
//! `aws codepipeline create-pipeline --cli-input-json`, the output of `get-pipeline`, or a bare
//! declaration — in JSON or YAML.

use std::path::Path;

use serde::Deserialize;

use crate::cloudformation::{self, TemplateOptions, TemplateProblem};
use crate::declaration::PipelineDeclaration;
use crate::validate::{Problem, validate};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{file}: cannot read: {error}")]
    Read { file: String, error: std::io::Error },
    #[error("{file}: invalid {format} at line {line}, column {column}: {message}")]
    Syntax {
        file: String,
        format: &'static str,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}: {path}: {message}")]
    Shape {
        file: String,
        path: String,
        message: String,
    },
    #[error("{}", problems.iter().map(|p| format!("{file}: {}: {}", p.path, p.message)).collect::<Vec<_>>().join("\n"))]
    Template {
        file: String,
        problems: Vec<TemplateProblem>,
    },
}

impl LoadError {
    /// The failure as findings: where and what kind, as the service would say.
    pub fn findings(self) -> Vec<crate::validate::Finding> {
        use crate::validate::Finding;
        match self {
            LoadError::Shape {
                file,
                path,
                message,
            } => vec![Finding::new(&file, path, "ValidationException", message)],
            LoadError::Syntax {
                file,
                line,
                column,
                message,
                format,
            } => vec![Finding::new(
                &file,
                "$".into(),
                "SerializationException",
                format!("invalid {format} at line {line}, column {column}: {message}"),
            )],
            LoadError::Read { file, error } => {
                let message = match error.kind() {
                    std::io::ErrorKind::NotFound => "no such file".to_string(),
                    _ => format!("cannot read it: {error}"),
                };
                vec![Finding::new(
                    &file,
                    "$".into(),
                    "ValidationException",
                    message,
                )]
            }
            LoadError::Template { file, problems } => problems
                .into_iter()
                .map(|p| Finding::new(&file, p.path, "ValidationException", p.message))
                .collect(),
        }
    }
}

/// The document a file holds, with the pipeline and where it sits in the file.
#[derive(Debug, Clone)]
pub struct LoadedPipeline {
    pub pipeline: PipelineDeclaration,
    /// The JSON path of the declaration inside the document (`pipeline` or empty).
    pub root: &'static str,
    /// Set when the pipeline came from a CloudFormation template.
    pub template: Option<TemplateSource>,
}

/// What a CloudFormation template said beyond the declaration itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateSource {
    pub logical_id: String,
    /// DisableInboundStageTransitions: stage name → reason.
    pub disabled_transitions: std::collections::BTreeMap<String, String>,
    pub restart_execution_on_update: bool,
    pub tags: std::collections::BTreeMap<String, String>,
}

impl LoadedPipeline {
    /// Every validation problem, with paths into the document the pipeline came from.
    pub fn problems(&self) -> Vec<Problem> {
        let mut problems = validate(&self.pipeline, "");
        for problem in &mut problems {
            problem.path = self.document_path(&problem.path);
        }
        problems
    }

    /// Where a path of the declaration (`stages[1].actions[0]`) is in the document.
    pub fn document_path(&self, declaration_path: &str) -> String {
        match (&self.template, self.root) {
            (Some(template), _) => {
                cloudformation::template_path(&template.logical_id, declaration_path)
            }
            (None, "") => declaration_path.to_string(),
            (None, root) => format!("{root}.{declaration_path}"),
        }
    }
}

pub fn load_file(path: &Path) -> Result<LoadedPipeline, LoadError> {
    load_file_with(path, &TemplateOptions::default())
}

/// Load a file, resolving a CloudFormation template with `options`.
pub fn load_file_with(path: &Path, options: &TemplateOptions) -> Result<LoadedPipeline, LoadError> {
    let (file, text, yaml) = read_text(path)?;
    parse_document_with(&file, &text, yaml, options)
}

/// A file's name, text, and whether it is YAML: by extension; anything else (`.template`, no
/// extension) is JSON when it starts like an object or a list, YAML otherwise.
pub(crate) fn read_text(path: &Path) -> Result<(String, String, bool), LoadError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|error| LoadError::Read {
        file: file.clone(),
        error,
    })?;
    let yaml = match path.extension().and_then(|e| e.to_str()) {
        Some("yaml" | "yml") => true,
        Some("json") => false,
        _ => !text.trim_start().starts_with(['{', '[']),
    };
    Ok((file, text, yaml))
}

/// Read a JSON or YAML file of another kind of document (build projects, secrets) as
/// `T`, with the same syntax errors and JSON-path shape errors as pipelines.
pub(crate) fn read_document<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, LoadError> {
    let (file, text, yaml) = read_text(path)?;
    parse_text_document(&file, &text, yaml)
}

/// [`read_document`] of text already read: `file` names it in messages.
pub(crate) fn parse_text_document<T: serde::de::DeserializeOwned>(
    file: &str,
    text: &str,
    yaml: bool,
) -> Result<T, LoadError> {
    let value = if yaml {
        parse_yaml(file, text)?
    } else {
        serde_json::from_str::<serde_json::Value>(text).map_err(|e| LoadError::Syntax {
            file: file.to_string(),
            format: "JSON",
            line: e.line(),
            column: e.column(),
            message: strip_position(&e.to_string()),
        })?
    };
    deserialize_with_path(value).map_err(|(path, message)| LoadError::Shape {
        file: file.to_string(),
        path,
        message,
    })
}

/// A CloudFormation template's text (YAML with its short forms, or JSON) as JSON; `file`
/// names it in messages.
pub fn parse_template(file: &str, text: &str) -> Result<serde_json::Value, LoadError> {
    let json = text.trim_start().starts_with('{');
    parse_text_document(file, text, !json)
}

/// Parse `text` (JSON, or YAML when `yaml`) holding any of the accepted document shapes.
pub fn parse_document(file: &str, text: &str, yaml: bool) -> Result<LoadedPipeline, LoadError> {
    parse_document_with(file, text, yaml, &TemplateOptions::default())
}

pub fn parse_document_with(
    file: &str,
    text: &str,
    yaml: bool,
    options: &TemplateOptions,
) -> Result<LoadedPipeline, LoadError> {
    let value = if yaml {
        parse_yaml(file, text)?
    } else {
        serde_json::from_str::<serde_json::Value>(text).map_err(|e| LoadError::Syntax {
            file: file.to_string(),
            format: "JSON",
            line: e.line(),
            column: e.column(),
            message: strip_position(&e.to_string()),
        })?
    };
    let shape_error = |path: String, message: String| LoadError::Shape {
        file: file.to_string(),
        path,
        message,
    };
    if cloudformation::is_template(&value) {
        let options = TemplateOptions {
            region: if options.region.is_empty() {
                "us-east-1".into()
            } else {
                options.region.clone()
            },
            ..options.clone()
        };
        let converted =
            cloudformation::convert(&value, &options).map_err(|problems| LoadError::Template {
                file: file.to_string(),
                problems,
            })?;
        let pipeline =
            deserialize_with_path(converted.declaration).map_err(|(path, message)| {
                let path = if path == "$" { String::new() } else { path };
                shape_error(
                    cloudformation::template_path(&converted.logical_id, &path),
                    message,
                )
            })?;
        return Ok(LoadedPipeline {
            pipeline,
            root: "",
            template: Some(TemplateSource {
                logical_id: converted.logical_id,
                disabled_transitions: converted.disabled_transitions,
                restart_execution_on_update: converted.restart_execution_on_update,
                tags: converted.tags,
            }),
        });
    }
    let Some(object) = value.as_object() else {
        return Err(shape_error(
            "$".into(),
            "expected an object holding a pipeline declaration".into(),
        ));
    };
    if object.contains_key("pipeline") {
        // create-pipeline input ({pipeline, tags}) or get-pipeline output ({pipeline, metadata}).
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Wrapper {
            pipeline: PipelineDeclaration,
            #[serde(default)]
            tags: Option<serde_json::Value>,
            #[serde(default)]
            metadata: Option<serde_json::Value>,
        }
        let wrapper: Wrapper =
            deserialize_with_path(value).map_err(|(path, message)| shape_error(path, message))?;
        Ok(LoadedPipeline {
            pipeline: wrapper.pipeline,
            root: "pipeline",
            template: None,
        })
    } else {
        let pipeline = deserialize_with_path(value).map_err(|(path, message)| {
            let hint = if path == "$" && message.contains("missing field") {
                format!(
                    "{message} (expected a pipeline declaration, or an object with a 'pipeline' \
                     member as create-pipeline --cli-input-json takes)"
                )
            } else {
                message
            };
            shape_error(path, hint)
        })?;
        Ok(LoadedPipeline {
            pipeline,
            root: "",
            template: None,
        })
    }
}

fn parse_yaml(file: &str, text: &str) -> Result<serde_json::Value, LoadError> {
    let syntax_error = |e: serde_yaml_ng::Error| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        let message = strip_position(&e.to_string());
        let hint = crate::buildspec::tab_hint(text, &message);
        LoadError::Syntax {
            file: file.to_string(),
            format: "YAML",
            line,
            column,
            message: format!("{message}{hint}"),
        }
    };
    let mut value: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).map_err(syntax_error)?;
    value.apply_merge().map_err(syntax_error)?;
    yaml_to_json(value).map_err(|(message, written)| {
        // The parsed value has no positions: find what was written in the text.
        let (line, column) = position_of(text, &written).unwrap_or((1, 1));
        LoadError::Syntax {
            file: file.to_string(),
            format: "YAML",
            line,
            column,
            message,
        }
    })
}

/// The line and column (from 1) of the first `needle` in `text` that stands as a token.
fn position_of(text: &str, needle: &str) -> Option<(usize, usize)> {
    text.lines().enumerate().find_map(|(l, line)| {
        line.match_indices(needle)
            .find(|(at, _)| {
                let after = line[at + needle.len()..].chars().next();
                after.is_none_or(|c| c.is_whitespace() || matches!(c, ',' | ']' | '}'))
            })
            .map(|(at, _)| (l + 1, line[..at].chars().count() + 1))
    })
}

/// CloudFormation's short-form tags and the functions they stand for.
const SHORT_FORMS: &[(&str, &str)] = &[
    ("Ref", "Ref"),
    ("Condition", "Condition"),
    ("GetAtt", "Fn::GetAtt"),
    ("Sub", "Fn::Sub"),
    ("Join", "Fn::Join"),
    ("If", "Fn::If"),
    ("Equals", "Fn::Equals"),
    ("Not", "Fn::Not"),
    ("And", "Fn::And"),
    ("Or", "Fn::Or"),
    ("Select", "Fn::Select"),
    ("Split", "Fn::Split"),
    ("FindInMap", "Fn::FindInMap"),
    ("Base64", "Fn::Base64"),
    ("Cidr", "Fn::Cidr"),
    ("GetAZs", "Fn::GetAZs"),
    ("ImportValue", "Fn::ImportValue"),
    ("Transform", "Fn::Transform"),
];

/// YAML to JSON, turning `!Ref x` into `{"Ref": "x"}`, `!GetAtt a.b` into
/// `{"Fn::GetAtt": ["a", "b"]}` and the other short forms into their `Fn::` objects. An
/// error says what is wrong and what was written there (to find it in the text by).
fn yaml_to_json(value: serde_yaml_ng::Value) -> Result<serde_json::Value, (String, String)> {
    use serde_yaml_ng::Value as Yaml;
    Ok(match value {
        Yaml::Null => serde_json::Value::Null,
        Yaml::Bool(b) => serde_json::Value::Bool(b),
        Yaml::Number(n) => serde_json::to_value(&n).map_err(|e| (e.to_string(), n.to_string()))?,
        Yaml::String(s) => serde_json::Value::String(s),
        Yaml::Sequence(items) => serde_json::Value::Array(
            items
                .into_iter()
                .map(yaml_to_json)
                .collect::<Result<_, _>>()?,
        ),
        Yaml::Mapping(mapping) => {
            let mut object = serde_json::Map::new();
            for (key, value) in mapping {
                let key = match key {
                    Yaml::String(s) => s,
                    Yaml::Number(n) => n.to_string(),
                    Yaml::Bool(b) => b.to_string(),
                    other => {
                        return Err((
                            format!("a mapping key must be a scalar, not {other:?}"),
                            String::new(),
                        ));
                    }
                };
                object.insert(key, yaml_to_json(value)?);
            }
            serde_json::Value::Object(object)
        }
        Yaml::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let Some((_, function)) = SHORT_FORMS.iter().find(|(short, _)| *short == name) else {
                return Err((
                    format!(
                        "unknown tag {tag} (CloudFormation short forms are !Ref, !Sub, !GetAtt, …)"
                    ),
                    tag,
                ));
            };
            let argument = match (name, tagged.value) {
                ("GetAtt", Yaml::String(s)) => match s.split_once('.') {
                    Some((resource, attribute)) => serde_json::json!([resource, attribute]),
                    None => {
                        return Err((
                            format!("!GetAtt {s}: expected LogicalId.Attribute"),
                            format!("!GetAtt {s}"),
                        ));
                    }
                },
                (_, other) => yaml_to_json(other)?,
            };
            let mut object = serde_json::Map::new();
            object.insert(function.to_string(), argument);
            serde_json::Value::Object(object)
        }
    })
}

/// Deserialize, reporting the JSON path of the first problem.
fn deserialize_with_path<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
) -> Result<T, (String, String)> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { "$".to_string() } else { path };
        (path, e.into_inner().to_string())
    })
}

/// serde_json and serde_yaml append " at line L column C"; we report the position separately.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BARE: &str = r#"{"name":"p","stages":[{"name":"s","actions":[{"name":"a",
        "actionTypeId":{"category":"Source","owner":"AWS","provider":"S3","version":"1"},
        "outputArtifacts":[{"name":"out"}]}]}]}"#;

    #[test]
    fn accepts_bare_create_input_and_get_output() {
        let bare = parse_document("f.json", BARE, false).unwrap();
        assert_eq!(bare.root, "");
        let create = format!(r#"{{"pipeline":{BARE},"tags":[{{"key":"k","value":"v"}}]}}"#);
        assert_eq!(
            parse_document("f.json", &create, false).unwrap().pipeline,
            bare.pipeline
        );
        let get = format!(r#"{{"pipeline":{BARE},"metadata":{{"pipelineArn":"arn"}}}}"#);
        assert_eq!(
            parse_document("f.json", &get, false).unwrap().root,
            "pipeline"
        );
    }

    #[test]
    fn a_tab_in_yaml_indentation_is_named() {
        let text = "pipeline:\n  name: x\n  stages:\n\t- name: a\n";
        let error = parse_document("p.yaml", text, true)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("line 4 is indented with a tab: YAML indents with spaces only"),
            "{error}"
        );
    }

    #[test]
    fn yaml_scalars_become_configuration_strings() {
        let yaml = "name: p\nstages:\n  - name: s\n    actions:\n      - name: a\n        \
                    actionTypeId: {category: Deploy, owner: AWS, provider: S3, version: '1'}\n        \
                    configuration: {Extract: false, BucketName: b}\n";
        let loaded = parse_document("f.yaml", yaml, true).unwrap();
        let config = &loaded.pipeline.stages[0].actions[0].configuration;
        assert_eq!(config["Extract"], "false");
    }

    #[test]
    fn reports_the_path_of_an_unknown_field() {
        let text = BARE
            .replace("\"runOrder\"", "x")
            .replace(r#""name":"a","#, r#""name":"a","runOrdr":1,"#);
        let error = parse_document("f.json", &text, false)
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("f.json: stages[0].actions[0].runOrdr: unknown field `runOrdr`"),
            "{error}"
        );
    }

    #[test]
    fn reports_json_syntax_errors_with_line_and_column() {
        let error = parse_document("f.json", "{\n  \"name\": ,\n}", false)
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "f.json: invalid JSON at line 2, column 11: expected value"
        );
    }

    #[test]
    fn reports_yaml_syntax_errors_with_line() {
        let error = parse_document("f.yaml", "name: p\nstages: [\n", true)
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("f.yaml: invalid YAML at line "),
            "{error}"
        );
    }

    #[test]
    fn reports_a_bad_enum_value_with_its_path() {
        let text = BARE.replace("\"Source\"", "\"Sauce\"");
        let error = parse_document("f.json", &text, false)
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(
                "f.json: stages[0].actions[0].actionTypeId.category: unknown variant `Sauce`"
            ),
            "{error}"
        );
    }
}
