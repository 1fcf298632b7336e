//! Everything about a run that can be checked before it starts, checked at once: the
//! declaration, a provider for every action type, the files the pipeline uses (projects,
//! connections), the source overrides and variables, the buckets actions read and write,
//! the repositories git sources read, the buildspecs that can be read now (inline, or in a
//! working tree given for the source), and the parameters and secrets builds name.
//!
//! One check serves `validate`, `run --dry-run` and the start of `run`, so a problem found
//! by one is found by all, and never after a 14-second approval. It reads and never writes:
//! creating missing buckets (`--create-buckets`) is the caller's decision.

mod doubles;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use sandpipe_model::buildspec::{self, Buildspec};
use sandpipe_model::codebuild::BuildProject;
use sandpipe_model::connections::{Location, RepositoryRef};
use sandpipe_model::execution::pipeline_variable_values;
use sandpipe_model::{ActionDeclaration, Finding, LoadedPipeline, Problem};
use sandpipe_runtime::{EXEC, GIT, SecretValues};
use sandpipe_store::LocalS3;
use sandpipe_store::s3::Versioning;

use crate::providers::ProviderRegistry;
use crate::request::Start;
use crate::settings::PipelineFiles;

const NOT_FOUND: &str = "ResourceNotFoundException";
const INVALID_ACTION: &str = "InvalidActionDeclarationException";

/// What one check looks at.
pub struct Preflight<'a> {
    pub loaded: &'a LoadedPipeline,
    /// The pipeline's file, as messages name it.
    pub file: &'a str,
    pub files: &'a PipelineFiles,
    pub providers: &'a ProviderRegistry,
    /// Custom action types registered with CreateCustomActionType (`Category/Custom/P/V`):
    /// served by job workers when no component serves them.
    pub job_worker_types: &'a BTreeSet<String>,
    /// The embedded S3 store, when a state directory exists (without one, no bucket does).
    pub store: Option<&'a LocalS3>,
    pub secrets: Option<&'a SecretValues>,
    pub start: &'a Start,
    /// The values given for the pipeline's variables.
    pub variables: &'a BTreeMap<String, String>,
}

/// What the check found.
#[derive(Debug, Default)]
pub struct PreflightReport {
    pub findings: Vec<Finding>,
    /// Buckets actions need that do not exist (each also a finding unless created first),
    /// each with whether an S3 source reads it: those are created versioned, as CodePipeline
    /// requires of a source bucket.
    pub missing_buckets: BTreeMap<String, bool>,
    /// Every pipeline variable's value for the execution.
    pub variables: BTreeMap<String, String>,
}

impl Preflight<'_> {
    /// Check everything. With `create_buckets`, a missing bucket is not a finding (the caller
    /// creates those listed in `missing_buckets`).
    pub fn check(&self, create_buckets: bool) -> PreflightReport {
        let mut report = PreflightReport {
            findings: self.files.problems.clone(),
            ..PreflightReport::default()
        };
        let mut problems = self.loaded.problems();
        // What is checked below reads the declaration; a broken one has said enough.
        let declared = problems.is_empty();
        problems.extend(self.start.problems(&self.loaded.pipeline));
        let selected = self.selected();
        self.providers_problems(&selected, &mut problems);
        let (values, variable_problems) =
            pipeline_variable_values(&self.loaded.pipeline.variables, self.variables, |path| {
                self.loaded.document_path(path)
            });
        problems.extend(variable_problems);
        report.variables = values;
        if declared {
            self.inputs_of_skipped_stages(&selected, &mut problems);
        }
        let checked = self.loaded.pipeline.stages.iter().enumerate();
        for (s, stage) in checked.filter(|(s, _)| declared && selected.contains(s)) {
            for (a, action) in stage.actions.iter().enumerate() {
                let at = |key: &str| {
                    self.loaded
                        .document_path(&format!("stages[{s}].actions[{a}].{key}"))
                };
                self.buckets(s, action, &at, create_buckets, &mut report, &mut problems);
                self.repository(s, action, &at, &mut problems);
                self.build(action, &at, &mut problems);
            }
        }
        report
            .findings
            .extend(problems.into_iter().map(|problem| Finding {
                file: self.file.to_string(),
                problem,
            }));
        report
    }

    /// The stages this run runs (every stage when the selection names none of them; that
    /// problem is the start's).
    fn selected(&self) -> BTreeSet<usize> {
        let pipeline = &self.loaded.pipeline;
        self.start
            .stages
            .resolve(pipeline)
            .unwrap_or_else(|_| (0..pipeline.stages.len()).collect())
    }

    /// An input artifact a run stage needs from a stage this run skips (stages before the
    /// first run one are taken from an earlier execution).
    fn inputs_of_skipped_stages(&self, selected: &BTreeSet<usize>, problems: &mut Vec<Problem>) {
        let stages = &self.loaded.pipeline.stages;
        let first = selected.first().copied().unwrap_or(0);
        let producer = |artifact: &str| {
            stages.iter().position(|stage| {
                stage
                    .actions
                    .iter()
                    .any(|a| a.output_artifacts.iter().any(|o| o.name == artifact))
            })
        };
        for &s in selected {
            for (a, action) in stages[s].actions.iter().enumerate() {
                for (i, input) in action.input_artifacts.iter().enumerate() {
                    let Some(p) = producer(&input.name) else {
                        continue;
                    };
                    if p >= first && !selected.contains(&p) {
                        problems.push(Problem {
                            path: self.loaded.document_path(&format!(
                                "stages[{s}].actions[{a}].inputArtifacts[{i}]"
                            )),
                            exception: INVALID_ACTION,
                            message: format!(
                                "'{}' is made by stage '{}', which this run skips: run that \
                                 stage too",
                                input.name, stages[p].name
                            ),
                        });
                    }
                }
            }
        }
    }

    /// An action type no provider serves.
    fn providers_problems(&self, selected: &BTreeSet<usize>, problems: &mut Vec<Problem>) {
        for (s, stage) in self.loaded.pipeline.stages.iter().enumerate() {
            if !selected.contains(&s) {
                continue;
            }
            for (a, action) in stage.actions.iter().enumerate() {
                // Delivered from an earlier run: no provider runs it.
                if self.start.recorded(s, &action.name).is_some() {
                    continue;
                }
                let action_type = &action.action_type_id;
                let double = self
                    .files
                    .doubles
                    .for_action(&stage.name, &action.name, action_type);
                if let Some(double) = double {
                    self.double_problems(s, a, action, double, problems);
                    continue;
                }
                if self.providers.serves(action_type) {
                    self.provider_accepts(s, a, action, problems);
                    continue;
                }
                if action_type.is_cloudformation_deploy() {
                    self.cloudformation_problems(s, a, action, problems);
                    continue;
                }
                if action_type.is_ecr_source() {
                    if let Err(why) = crate::backends::container_engine() {
                        problems.push(Problem {
                            path: self
                                .loaded
                                .document_path(&format!("stages[{s}].actions[{a}].actionTypeId")),
                            exception: "ActionTypeNotFoundException",
                            message: format!(
                                "{action_type} reads the image from a local docker or podman \
                                 engine, and none answered ({why}); run it as a double with \
                                 --double {action_type}"
                            ),
                        });
                    }
                    continue;
                }
                if action_type.is_stack_set_deploy() {
                    let at = format!("stages[{s}].actions[{a}].configuration");
                    for message in sandpipe_model::cloudformation::stack_set_configuration_problems(
                        &action_type.provider,
                        &action.configuration,
                    ) {
                        problems.push(Problem {
                            path: self.loaded.document_path(&at),
                            exception: INVALID_ACTION,
                            message,
                        });
                    }
                    continue;
                }
                if let Some(function) = self.files.lambda_function(action) {
                    if let Some(why) = function.missing_code() {
                        problems.push(Problem {
                            path: self.loaded.document_path(&format!(
                                "stages[{s}].actions[{a}].configuration.FunctionName"
                            )),
                            exception: NOT_FOUND,
                            message: format!("{why} ({})", function.declared_in),
                        });
                    }
                    continue;
                }
                // Manual approval is the host's own, as it is CodePipeline's.
                if action_type.is_manual_approval()
                    || self.job_worker_types.contains(&action_type.to_string())
                {
                    continue;
                }
                let path = self
                    .loaded
                    .document_path(&format!("stages[{s}].actions[{a}].actionTypeId"));
                // Validation may already have said this action type does not exist; and a
                // functions or doubles file that could not be read (said already) may be
                // what would have served it.
                if problems.iter().any(|p| p.path == path) || self.files.local_actions_unread {
                    continue;
                }
                let mut available: Vec<String> = self
                    .providers
                    .action_types()
                    .map(ToString::to_string)
                    .chain(["Approval/AWS/Manual/1".to_string()])
                    .collect();
                available.sort();
                // A plugin file that could not be read may be the one meant to serve it.
                let unreadable = self.providers.unreadable_plugins();
                let mut hints = match unreadable {
                    [] => String::new(),
                    files => format!(
                        "; plugin files that could not be read: {}",
                        files.join("; ")
                    ),
                };
                // An unmapped function is the FunctionName's problem, where the user looks.
                let mut at = path;
                if action_type.is_lambda_invoke() {
                    let name = action
                        .configuration
                        .get("FunctionName")
                        .map(String::as_str)
                        .unwrap_or_default();
                    hints.push_str(&format!(
                        "; or map FunctionName '{name}' to its local code (runtime, handler, \
                         code) in sandpipe-functions.yaml beside the pipeline"
                    ));
                    if !name.is_empty() {
                        at = self.loaded.document_path(&format!(
                            "stages[{s}].actions[{a}].configuration.FunctionName"
                        ));
                    }
                }
                problems.push(Problem {
                    path: at,
                    exception: "ActionTypeNotFoundException",
                    message: format!(
                        "no provider for {action_type} (sandpipe serves {}); let it run as a \
                         double with --double {action_type} (or a doubles: entry in \
                         sandpipe-doubles.yaml), install a plugin serving it with `sandpipe \
                         action install <file.wasm>`, serve it with --provider \
                         {action_type}=<component.wasm>, or leave its stage out with --until or \
                         --stage{hints}",
                        available.join(", ")
                    ),
                });
            }
        }
    }

    /// What the provider of a served action's type says of it: the operator may not have
    /// allowed what its plugin asks for, and a plugin's manifest says what configuration and
    /// artifacts its types take.
    fn provider_accepts(
        &self,
        s: usize,
        a: usize,
        action: &ActionDeclaration,
        problems: &mut Vec<Problem>,
    ) {
        let action_type = &action.action_type_id;
        let at = format!("stages[{s}].actions[{a}]");
        if let Some(refusal) = self.providers.refusal(action_type) {
            problems.push(Problem {
                path: self.loaded.document_path(&format!("{at}.actionTypeId")),
                exception: "AccessDeniedException",
                message: refusal,
            });
        }
        let Some(definition) = self.providers.definition(action_type) else {
            return;
        };
        let by = self
            .providers
            .origin(action_type)
            .map(|origin| origin.describe())
            .unwrap_or_default();
        for mut problem in definition.check_action(action, &at, &by) {
            problem.path = self.loaded.document_path(&problem.path);
            problems.push(problem);
        }
    }

    /// A CloudFormation deploy's mode and what it needs (the host plans it).
    fn cloudformation_problems(
        &self,
        s: usize,
        a: usize,
        action: &ActionDeclaration,
        problems: &mut Vec<Problem>,
    ) {
        let at = format!("stages[{s}].actions[{a}].configuration");
        let inputs: Vec<&str> = action
            .input_artifacts
            .iter()
            .map(|i| i.name.as_str())
            .collect();
        for (key, message) in sandpipe_model::cloudformation::deploy_configuration_problems(
            &action.configuration,
            &inputs,
        ) {
            let path = match key.as_str() {
                "" => at.clone(),
                key => format!("{at}.{key}"),
            };
            problems.push(Problem {
                path: self.loaded.document_path(&path),
                exception: INVALID_ACTION,
                message,
            });
        }
    }

    /// The buckets an S3 source reads (and its object) and an S3 deploy writes.
    fn buckets(
        &self,
        s: usize,
        action: &ActionDeclaration,
        at: &dyn Fn(&str) -> String,
        create_buckets: bool,
        report: &mut PreflightReport,
        problems: &mut Vec<Problem>,
    ) {
        let action_type = &action.action_type_id;
        let (bucket_key, object_key) = if action_type.is_s3_source() {
            ("S3Bucket", Some("S3ObjectKey"))
        } else if action_type.is_s3_deploy() {
            ("BucketName", None)
        } else {
            return;
        };
        // A working tree (or an earlier run's artifacts) replaces what the source would read.
        if self.start.replaces_source(s, &action.name) {
            return;
        }
        let Some(bucket) = known(&action.configuration, bucket_key) else {
            return;
        };
        let info = self.store.and_then(|store| store.bucket_info(bucket).ok());
        let Some(info) = info else {
            let versioned =
                object_key.is_some() || report.missing_buckets.get(bucket) == Some(&true);
            report.missing_buckets.insert(bucket.to_string(), versioned);
            if !create_buckets {
                problems.push(Problem {
                    path: at(&format!("configuration.{bucket_key}")),
                    exception: NOT_FOUND,
                    message: format!(
                        "the bucket '{bucket}' does not exist: create it with `sandpipe s3 mb \
                         s3://{bucket}`, or run with --create-buckets"
                    ),
                });
            }
            return;
        };
        let (Some(store), Some(object_key)) = (self.store, object_key) else {
            return;
        };
        if info.versioning != Versioning::Enabled {
            problems.push(Problem {
                path: at(&format!("configuration.{bucket_key}")),
                exception: "InvalidActionDeclarationException",
                message: format!(
                    "the S3 source bucket '{bucket}' does not have versioning enabled, which \
                     CodePipeline requires: `sandpipe s3api put-bucket-versioning --bucket \
                     {bucket} --versioning-configuration Status=Enabled`"
                ),
            });
            return;
        }
        let Some(key) = known(&action.configuration, object_key) else {
            return;
        };
        // A revision given for the source names a version, checked when it is read.
        if self.start.source_revision(s, &action.name).is_none()
            && store.head_object(bucket, key, None).is_err()
        {
            problems.push(Problem {
                path: at(&format!("configuration.{object_key}")),
                exception: NOT_FOUND,
                message: format!(
                    "s3://{bucket}/{key} does not exist: upload the source with `sandpipe s3 cp \
                     <file.zip> s3://{bucket}/{key}`, or give a directory with --source {}=<dir>",
                    action.name
                ),
            });
        }
    }

    /// The repository a git source reads: mapped, and there.
    fn repository(
        &self,
        s: usize,
        action: &ActionDeclaration,
        at: &dyn Fn(&str) -> String,
        problems: &mut Vec<Problem>,
    ) {
        let policy = self.providers.policy(&action.action_type_id);
        if !policy.allows(GIT) || self.start.replaces_source(s, &action.name) {
            return;
        }
        if action.configuration.values().any(|v| v.contains("#{")) {
            return;
        }
        let Some(reference) = RepositoryRef::from_configuration(&action.configuration) else {
            return;
        };
        let connections = &self.files.connections;
        let message = match connections.resolve(&reference, Path::is_dir) {
            Err(message) => message,
            Ok(mapped) => match mapped.location {
                Location::Local(dir) if !dir.exists() => format!(
                    "the repository {} is mapped to {} ({}), which does not exist",
                    reference.name(),
                    dir.display(),
                    mapped.mapped_by
                ),
                _ => return,
            },
        };
        problems.push(Problem {
            path: at("configuration"),
            exception: NOT_FOUND,
            message: format!(
                "{message}; map it in sandpipe-connections.yaml, or give a directory with \
                 --source {}=<dir>",
                action.name
            ),
        });
    }

    /// A build's buildspec, where it can be read before the run, and the parameters and
    /// secrets the build names.
    fn build(
        &self,
        action: &ActionDeclaration,
        at: &dyn Fn(&str) -> String,
        problems: &mut Vec<Problem>,
    ) {
        if !self.providers.policy(&action.action_type_id).allows(EXEC) {
            return;
        }
        let Some(name) = known(&action.configuration, "ProjectName") else {
            return;
        };
        let project = self.files.projects.get(name);
        let path = at("configuration.ProjectName");
        let mut problem = |message: String| {
            problems.push(Problem {
                path: path.clone(),
                exception: INVALID_ACTION,
                message,
            })
        };
        let mut names = Vec::new();
        if let Some(project) = project {
            for variable in &project.environment_variables {
                match variable.kind.as_str() {
                    "PARAMETER_STORE" => names.push(Named::Parameter(variable.value.clone())),
                    "SECRETS_MANAGER" => names.push(Named::Secret(variable.value.clone())),
                    _ => {}
                }
            }
        }
        match self.readable_buildspec(action, project) {
            None => {}
            Some(Err(message)) => problem(message),
            Some(Ok((spec, _))) => {
                names.extend(
                    spec.env
                        .parameter_store
                        .values()
                        .cloned()
                        .map(Named::Parameter),
                );
                names.extend(
                    spec.env
                        .secrets_manager
                        .values()
                        .cloned()
                        .map(Named::Secret),
                );
            }
        }
        for named in names {
            if let Some(message) = self.missing(&named, name) {
                problem(message);
            }
        }
    }

    /// The buildspec of a build when it can be read now: the project's inline one, or the
    /// file in a working tree given for the source that produces the primary input.
    fn readable_buildspec(
        &self,
        action: &ActionDeclaration,
        project: Option<&BuildProject>,
    ) -> Option<Result<(Buildspec, String), String>> {
        let spec = project.and_then(|p| p.buildspec.as_deref());
        if let Some(spec) = spec.filter(|spec| is_inline(spec)) {
            let project = project.expect("a buildspec comes from a project");
            let name = format!("the inline buildspec of {}", project.defined_in);
            return Some(buildspec::parse(spec, &name).map(|b| (b, name)));
        }
        let primary = action
            .configuration
            .get("PrimarySource")
            .or_else(|| action.input_artifacts.first().map(|i| &i.name))?;
        let dir = self.working_tree_producing(primary)?;
        let relative = spec.unwrap_or("buildspec.yml");
        let file = dir.join(relative);
        let shown = file.display().to_string();
        Some(match std::fs::read_to_string(&file) {
            Ok(text) => buildspec::parse(&text, &shown).map(|b| (b, shown)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Err(format!(
                "no buildspec: the working tree {} given for the source has no {relative}",
                dir.display()
            )),
            Err(error) => Err(format!("{shown}: cannot read it: {error}")),
        })
    }

    /// The working tree given for the source action whose output is `artifact`.
    fn working_tree_producing(&self, artifact: &str) -> Option<&Path> {
        let pipeline = &self.loaded.pipeline;
        pipeline.stages.iter().enumerate().find_map(|(s, stage)| {
            stage
                .actions
                .iter()
                .find(|a| a.output_artifacts.iter().any(|o| o.name == artifact))
                .and_then(|a| self.start.working_tree(s, &a.name))
        })
    }

    /// Why a parameter or secret a build names has no value, if it has none.
    fn missing(&self, named: &Named, project: &str) -> Option<String> {
        let (found, what) = match (named, self.secrets) {
            (_, None) => (false, named.describe()),
            (Named::Parameter(name), Some(values)) => {
                (values.parameters.contains_key(name), named.describe())
            }
            (Named::Secret(reference), Some(values)) => (
                values.secret(secret_id(reference)).is_some(),
                named.describe(),
            ),
        };
        if found {
            return None;
        }
        Some(match self.secrets.and_then(|s| s.source.as_deref()) {
            Some(file) => {
                format!("the build of project '{project}' reads {what}, which {file} lacks")
            }
            None => format!(
                "the build of project '{project}' reads {what}: pass --secrets <file> holding \
                 it (the local stand-in for Parameter Store and Secrets Manager)"
            ),
        })
    }
}

/// A parameter or secret a build reads.
enum Named {
    Parameter(String),
    /// `secret-id[:json-key[:version-stage[:version-id]]]`.
    Secret(String),
}

impl Named {
    fn describe(&self) -> String {
        match self {
            Named::Parameter(name) => format!("the parameter '{name}' (parameters.{name})"),
            Named::Secret(reference) => {
                let id = secret_id(reference);
                format!("the secret '{id}' (secrets.{id})")
            }
        }
    }
}

/// The secret a Secrets Manager reference names: an ARN's first seven fields, or the text
/// before the first colon.
fn secret_id(reference: &str) -> &str {
    let fields = if reference.starts_with("arn:") { 7 } else { 1 };
    match reference.match_indices(':').nth(fields - 1) {
        Some((at, _)) => &reference[..at],
        None => reference,
    }
}

/// A buildspec written into the project rather than a path in the source (as the CodeBuild
/// action decides).
fn is_inline(spec: &str) -> bool {
    spec.contains('\n') || spec.trim_start().starts_with("version")
}

/// A configuration value known before the run (one naming a variable is resolved later).
fn known<'a>(configuration: &'a BTreeMap<String, String>, key: &str) -> Option<&'a str> {
    configuration
        .get(key)
        .map(String::as_str)
        .filter(|value| !value.is_empty() && !value.contains("#{"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_ids_are_names_or_whole_arns() {
        assert_eq!(secret_id("db:password"), "db");
        assert_eq!(secret_id("db"), "db");
        assert_eq!(
            secret_id("arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf:password"),
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"
        );
    }
}
