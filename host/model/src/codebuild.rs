//! Build projects for the CodeBuild action, defined locally in the shape of
//! `aws codebuild create-project --cli-input-json` input (or `batch-get-projects` output):
//! what the CodeBuild service would hold for a ProjectName.
//!
//! Where they are found: every file given with `--projects` (a file, or a directory of
//! `*.json`/`*.yaml`/`*.yml`), and beside the pipeline file a `codebuild/` directory or a
//! `codebuild-projects.{json,yaml,yml}` file. A file holds one project, a list of them, or
//! `{"projects": [...]}`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::load::{LoadError, parse_text_document, read_text};

/// One environment variable of a project.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectVariable {
    pub name: String,
    pub value: String,
    #[serde(rename = "type", default = "plaintext")]
    pub kind: String,
}

fn plaintext() -> String {
    "PLAINTEXT".into()
}

#[derive(Debug, Clone, Deserialize)]
// Every field create-project takes is declared so that a misspelt one is an error; sandpipe
// uses a few of them.
#[allow(dead_code)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ProjectSource {
    #[serde(rename = "type")]
    kind: Option<String>,
    location: Option<String>,
    buildspec: Option<String>,
    git_clone_depth: Option<serde_json::Value>,
    git_submodules_config: Option<serde_json::Value>,
    report_build_status: Option<bool>,
    build_status_config: Option<serde_json::Value>,
    insecure_ssl: Option<bool>,
    source_identifier: Option<String>,
    auth: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize)]
// Every field create-project takes is declared so that a misspelt one is an error; sandpipe
// uses a few of them.
#[allow(dead_code)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ProjectEnvironment {
    #[serde(rename = "type")]
    kind: Option<String>,
    image: Option<String>,
    compute_type: Option<String>,
    #[serde(default)]
    environment_variables: Vec<ProjectVariable>,
    privileged_mode: Option<bool>,
    certificate: Option<String>,
    registry_credential: Option<serde_json::Value>,
    image_pull_credentials_type: Option<String>,
    fleet: Option<serde_json::Value>,
    compute_configuration: Option<serde_json::Value>,
    docker_server: Option<serde_json::Value>,
}

/// `create-project` input (plus the read-only fields `batch-get-projects` adds).
#[derive(Debug, Clone, Deserialize)]
// Every field create-project takes is declared so that a misspelt one is an error; sandpipe
// uses a few of them.
#[allow(dead_code)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ProjectDocument {
    name: String,
    description: Option<String>,
    source: Option<ProjectSource>,
    secondary_sources: Option<serde_json::Value>,
    source_version: Option<String>,
    secondary_source_versions: Option<serde_json::Value>,
    artifacts: Option<serde_json::Value>,
    secondary_artifacts: Option<serde_json::Value>,
    cache: Option<serde_json::Value>,
    environment: Option<ProjectEnvironment>,
    service_role: Option<String>,
    timeout_in_minutes: Option<u32>,
    queued_timeout_in_minutes: Option<u32>,
    encryption_key: Option<String>,
    tags: Option<serde_json::Value>,
    vpc_config: Option<serde_json::Value>,
    badge_enabled: Option<bool>,
    logs_config: Option<serde_json::Value>,
    file_system_locations: Option<serde_json::Value>,
    build_batch_config: Option<serde_json::Value>,
    concurrent_build_limit: Option<u32>,
    auto_retry_limit: Option<u32>,
    // Read-only fields of batch-get-projects output.
    arn: Option<String>,
    created: Option<serde_json::Value>,
    last_modified: Option<serde_json::Value>,
    badge: Option<serde_json::Value>,
    webhook: Option<serde_json::Value>,
    project_visibility: Option<String>,
    public_project_alias: Option<String>,
    resource_access_role: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ProjectFile {
    Many {
        projects: Vec<serde_json::Value>,
        #[serde(rename = "projectsNotFound", default)]
        _not_found: Vec<String>,
    },
    List(Vec<serde_json::Value>),
    One(serde_json::Value),
}

/// What sandpipe uses of a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildProject {
    pub name: String,
    /// `source.buildspec`: inline YAML or a path in the primary source.
    pub buildspec: Option<String>,
    pub image: Option<String>,
    pub environment_variables: Vec<ProjectVariable>,
    pub timeout_in_minutes: Option<u32>,
    /// `file` and JSON path of the definition, for messages.
    pub defined_in: String,
}

/// Every project found, by name.
#[derive(Debug, Clone, Default)]
pub struct BuildProjects {
    pub projects: BTreeMap<String, BuildProject>,
}

/// A problem with a project file: the file, the JSON path, what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("{file}: {path}: {message}")]
    Invalid {
        file: String,
        path: String,
        message: String,
    },
    #[error("{path}: cannot list the directory: {error}")]
    Directory { path: String, error: std::io::Error },
}

impl ProjectError {
    /// The problem as findings, in the file it is in.
    pub fn findings(self) -> Vec<crate::Finding> {
        use crate::Finding;
        match self {
            ProjectError::Load(error) => error.findings(),
            ProjectError::Invalid {
                file,
                path,
                message,
            } => vec![Finding::new(&file, path, "ValidationException", message)],
            ProjectError::Directory { path, error } => vec![Finding::new(
                &path,
                "$".into(),
                "ValidationException",
                format!("cannot list the directory: {error}"),
            )],
        }
    }
}

/// The files to read: the operator's, then the conventional ones beside the pipeline.
pub fn project_files(
    given: &[PathBuf],
    pipeline_file: Option<&Path>,
) -> Result<Vec<PathBuf>, ProjectError> {
    let mut files = Vec::new();
    let add_dir = |dir: &Path, files: &mut Vec<PathBuf>| -> Result<(), ProjectError> {
        let listing = std::fs::read_dir(dir).map_err(|error| ProjectError::Directory {
            path: dir.display().to_string(),
            error,
        })?;
        let mut found: Vec<PathBuf> = listing
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.is_file()
                    && p.extension()
                        .is_some_and(|e| e == "json" || e == "yaml" || e == "yml")
            })
            .collect();
        found.sort();
        files.extend(found);
        Ok(())
    };
    for path in given {
        if path.is_dir() {
            add_dir(path, &mut files)?;
        } else {
            files.push(path.clone());
        }
    }
    if let Some(dir) = pipeline_file.and_then(Path::parent) {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if dir.join("codebuild").is_dir() {
            add_dir(&dir.join("codebuild"), &mut files)?;
        }
        for extension in ["json", "yaml", "yml"] {
            let file = dir.join(format!("codebuild-projects.{extension}"));
            if file.is_file() {
                files.push(file);
            }
        }
    }
    Ok(files)
}

/// Read and check every project in `files`; names must be unique across them.
pub fn load_projects(files: &[PathBuf]) -> Result<BuildProjects, ProjectError> {
    let (projects, mut errors) = load_every_project(files);
    match errors.is_empty() {
        true => Ok(projects),
        false => Err(errors.remove(0)),
    }
}

/// Every project of the files that can be read, and what is wrong with each file that
/// cannot: one bad file does not hide the problems of the others, nor their projects.
pub fn load_every_project(files: &[PathBuf]) -> (BuildProjects, Vec<ProjectError>) {
    let mut projects = BuildProjects::default();
    let mut errors = Vec::new();
    for path in files {
        let result = read_text(path)
            .map_err(ProjectError::from)
            .and_then(|(file, text, yaml)| projects.add_document(&file, &text, yaml));
        if let Err(error) = result {
            errors.push(error);
        }
    }
    (projects, errors)
}

impl BuildProjects {
    /// Read and check the projects of one file's `text` (JSON, or YAML when `yaml`), named
    /// `file` in messages; a name already known is an error.
    pub fn add_document(&mut self, file: &str, text: &str, yaml: bool) -> Result<(), ProjectError> {
        let file = file.to_string();
        let documents: Vec<(String, serde_json::Value)> =
            match parse_text_document(&file, text, yaml)? {
                ProjectFile::Many { projects, .. } => projects
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| (format!("projects[{i}]"), v))
                    .collect(),
                ProjectFile::List(list) => list
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| (format!("[{i}]"), v))
                    .collect(),
                ProjectFile::One(value) => vec![("$".to_string(), value)],
            };
        for (at, value) in documents {
            let invalid = |path: String, message: String| ProjectError::Invalid {
                file: file.clone(),
                path,
                message,
            };
            let document: ProjectDocument =
                serde_path_to_error::deserialize(value).map_err(|e| {
                    let inner = e.path().to_string();
                    let path = match (at.as_str(), inner.as_str()) {
                        ("$", ".") => "$".to_string(),
                        ("$", inner) => inner.to_string(),
                        (at, ".") => at.to_string(),
                        (at, inner) => format!("{at}.{inner}"),
                    };
                    invalid(path, e.into_inner().to_string())
                })?;
            let place = |field: &str| {
                if at == "$" {
                    field.to_string()
                } else {
                    format!("{at}.{field}")
                }
            };
            check_project(&document).map_err(|(field, message)| invalid(place(field), message))?;
            let defined_in = if at == "$" {
                file.clone()
            } else {
                format!("{file} ({at})")
            };
            if let Some(existing) = self.projects.get(&document.name) {
                return Err(invalid(
                    place("name"),
                    format!(
                        "project '{}' is already defined in {}",
                        document.name, existing.defined_in
                    ),
                ));
            }
            let environment = document.environment.clone();
            self.projects.insert(
                document.name.clone(),
                BuildProject {
                    name: document.name.clone(),
                    buildspec: document.source.and_then(|s| s.buildspec),
                    image: environment.as_ref().and_then(|e| e.image.clone()),
                    environment_variables: environment
                        .map(|e| e.environment_variables)
                        .unwrap_or_default(),
                    timeout_in_minutes: document.timeout_in_minutes,
                    defined_in,
                },
            );
        }
        Ok(())
    }
}

/// CodeBuild's own constraints on the fields sandpipe uses.
fn check_project(project: &ProjectDocument) -> Result<(), (&'static str, String)> {
    let name = &project.name;
    let name_ok = (2..=255).contains(&name.len())
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !name_ok {
        return Err((
            "name",
            format!(
                "'{name}' is not a valid project name (2 to 255 characters: letters, digits, \
                 '-' and '_', starting with a letter or digit)"
            ),
        ));
    }
    if let Some(minutes) = project.timeout_in_minutes
        && !(5..=2160).contains(&minutes)
    {
        return Err((
            "timeoutInMinutes",
            format!("{minutes} is outside 5 to 2160 minutes"),
        ));
    }
    if let Some(environment) = &project.environment {
        for variable in &environment.environment_variables {
            if !matches!(
                variable.kind.as_str(),
                "PLAINTEXT" | "PARAMETER_STORE" | "SECRETS_MANAGER"
            ) {
                return Err((
                    "environment.environmentVariables",
                    format!(
                        "variable '{}' has type '{}'; use PLAINTEXT, PARAMETER_STORE or \
                         SECRETS_MANAGER",
                        variable.name, variable.kind
                    ),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn reads_create_project_input_lists_and_batch_get_output() {
        let dir = tempfile::tempdir().unwrap();
        let one = write(
            dir.path(),
            "one.json",
            r#"{"name": "app-build", "source": {"type": "CODEPIPELINE", "buildspec": "ci/build.yml"},
                "environment": {"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                  "computeType": "BUILD_GENERAL1_SMALL",
                  "environmentVariables": [{"name": "STAGE", "value": "test"}]},
                "serviceRole": "arn:aws:iam::123456789012:role/cb", "timeoutInMinutes": 15,
                "artifacts": {"type": "CODEPIPELINE"}}"#,
        );
        let many = write(
            dir.path(),
            "many.yaml",
            "projects:\n  - name: app-test\n    arn: arn:aws:codebuild:us-east-1:1:project/app-test\n    created: 1700000000\n",
        );
        let projects = load_projects(&[one.clone(), many]).unwrap().projects;
        let build = &projects["app-build"];
        assert_eq!(build.buildspec.as_deref(), Some("ci/build.yml"));
        assert_eq!(build.image.as_deref(), Some("aws/codebuild/standard:7.0"));
        assert_eq!(build.timeout_in_minutes, Some(15));
        assert_eq!(build.environment_variables[0].kind, "PLAINTEXT");
        assert!(projects.contains_key("app-test"));

        let duplicate = load_projects(&[one.clone(), one]).unwrap_err().to_string();
        assert!(
            duplicate.contains("one.json: name: project 'app-build' is already defined in"),
            "{duplicate}"
        );
    }

    #[test]
    fn problems_name_the_file_and_path() {
        let dir = tempfile::tempdir().unwrap();
        let typo = write(
            dir.path(),
            "p.json",
            r#"[{"name": "ok-project", "enviroment": {}}]"#,
        );
        let error = load_projects(&[typo]).unwrap_err().to_string();
        assert!(
            error.contains("p.json: [0].enviroment: unknown field `enviroment`"),
            "{error}"
        );

        let bad_type = write(
            dir.path(),
            "q.yml",
            "name: proj\nenvironment:\n  environmentVariables:\n    - {name: A, value: b, type: SECRET}\n",
        );
        let error = load_projects(&[bad_type]).unwrap_err().to_string();
        assert!(
            error.contains(
                "q.yml: environment.environmentVariables: variable 'A' has type 'SECRET'"
            ),
            "{error}"
        );

        let timeout = write(
            dir.path(),
            "t.json",
            r#"{"name": "proj", "timeoutInMinutes": 1}"#,
        );
        let error = load_projects(&[timeout]).unwrap_err().to_string();
        assert_eq!(
            error,
            format!(
                "{}: timeoutInMinutes: 1 is outside 5 to 2160 minutes",
                dir.path().join("t.json").display()
            )
        );
    }
}
