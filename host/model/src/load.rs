//! Reading a pipeline declaration from the documents users have: the input of
//! `aws codepipeline create-pipeline --cli-input-json`, the output of `get-pipeline`, or a bare
//! declaration — in JSON or YAML.

use std::path::Path;

use serde::Deserialize;

use crate::declaration::PipelineDeclaration;

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
}

/// The document a file holds, with the pipeline and where it sits in the file.
#[derive(Debug, Clone)]
pub struct LoadedPipeline {
    pub pipeline: PipelineDeclaration,
    /// The JSON path of the declaration inside the document (`pipeline` or empty).
    pub root: &'static str,
}

pub fn load_file(path: &Path) -> Result<LoadedPipeline, LoadError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|error| LoadError::Read {
        file: file.clone(),
        error,
    })?;
    // By extension; anything else (`.template`, no extension) is JSON when it starts like an
    // object, YAML otherwise.
    let yaml = match path.extension().and_then(|e| e.to_str()) {
        Some("yaml" | "yml") => true,
        Some("json") => false,
        _ => !text.trim_start().starts_with('{'),
    };
    parse_document(&file, &text, yaml)
}

/// Parse `text` (JSON, or YAML when `yaml`) holding any of the accepted document shapes.
pub fn parse_document(file: &str, text: &str, yaml: bool) -> Result<LoadedPipeline, LoadError> {
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
        Ok(LoadedPipeline { pipeline, root: "" })
    }
}

fn parse_yaml(file: &str, text: &str) -> Result<serde_json::Value, LoadError> {
    serde_yaml_ng::from_str::<serde_json::Value>(text).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        LoadError::Syntax {
            file: file.to_string(),
            format: "YAML",
            line,
            column,
            message: strip_position(&e.to_string()),
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
