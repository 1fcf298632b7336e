//! `Build/AWS/CodeBuild/1` and `Test/AWS/CodeBuild/1`: the buildspec is read and interpreted
//! here, inside the sandbox; only its commands leave it, through the `exec` capability the
//! operator's policy grants (the local runner or a container). Phases, environment,
//! artifacts, reports and cache follow CodeBuild's buildspec reference. The V2 Commands
//! action (`Compute/AWS/Commands/1`) is a build whose buildspec its own fields make
//! (`commands`).

#![cfg_attr(not(target_family = "wasm"), allow(dead_code))]

mod buildspec;
mod commands;
mod environment;
mod files;
mod outputs;
mod reports;

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use sandpipe_action_sdk::exec::{self, Project, Session, SessionOptions};
use sandpipe_action_sdk::reports::TestReport;
use sandpipe_action_sdk::{Action, Failure, InputArtifact, Outcome, Request, log};

use buildspec::{ArtifactSet, Buildspec, OnFailure};
use environment::Environment;

struct CodeBuild;

impl Action for CodeBuild {
    fn run(request: Request) -> Result<Outcome, Failure> {
        Build::prepare(&request)?.run(&request)
    }
}

// Unit tests of the pure modules run natively, where there is no host to export to.
#[cfg(target_family = "wasm")]
sandpipe_action_sdk::export_action!(CodeBuild);

/// Where the working copies of the inputs go (commands may write to them, as on CodeBuild).
const SOURCES: &str = "/tmp/src";
/// The project's persistent directory (build numbers, cached paths), mounted by the host.
const PROJECT_DIR: &str = "/cache";

struct Build {
    project_name: String,
    project: Option<Project>,
    buildspec: Buildspec,
    buildspec_file: String,
    environment: Environment,
    /// Sandbox path of the primary source's working copy.
    source_dir: String,
    shell: String,
    image: Option<String>,
    build_id: String,
    runner: String,
}

/// Why the phases stopped early.
enum Stop {
    TimedOut,
    /// A failed phase ends the build (an install or pre_build failure, without CONTINUE).
    Aborted,
    /// The host could not run a command.
    System(String),
}

/// How one phase ended.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PhaseState {
    Succeeded,
    Failed,
}

fn config_error(message: impl Into<String>) -> Failure {
    Failure::configuration(message)
}

fn exec_failure(what: &str) -> impl Fn(exec::Error) -> Failure + '_ {
    move |e| Failure::job(format!("{what}: {}", exec::describe(&e)))
}

impl Build {
    fn prepare(request: &Request) -> Result<Build, Failure> {
        let config = request.config();
        let is_commands = commands::is_commands(&request.action_type);
        // A Commands action has no project: it is named after its pipeline and action.
        let project_name = if is_commands {
            format!("{}-{}", request.pipeline, request.action)
        } else {
            config.required("ProjectName")?.to_string()
        };
        if config
            .get("BatchEnabled")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        {
            return Err(config_error(
                "BatchEnabled: batch builds are not supported by sandpipe; set BatchEnabled to \
                 false or remove it",
            ));
        }
        let runner = exec::runner();
        let project = if is_commands {
            None
        } else {
            exec::project(&project_name).map_err(config_error)?
        };
        match &project {
            _ if is_commands => log::info("Running the action's commands"),
            Some(project) => log::info(format!(
                "Project '{project_name}' from {}",
                project.defined_in
            )),
            None => log::info(format!(
                "Project '{project_name}' has no local definition; using buildspec.yml from the \
                 primary source and default settings"
            )),
        }

        let primary = primary_input(request)?;
        log::info("Entering phase DOWNLOAD_SOURCE");
        for input in &request.inputs {
            let destination = format!("{SOURCES}/{}", input.name);
            exec::copy(&input.path, &destination).map_err(exec_failure(&format!(
                "copying input artifact '{}'",
                input.name
            )))?;
        }
        let source_dir = match primary {
            Some(input) => format!("{SOURCES}/{}", input.name),
            None => {
                std::fs::create_dir_all(format!("{SOURCES}/NO_SOURCE"))
                    .map_err(|e| Failure::job(format!("creating the source directory: {e}")))?;
                format!("{SOURCES}/NO_SOURCE")
            }
        };

        let (buildspec_text, buildspec_file) = if is_commands {
            commands::buildspec(request)?
        } else {
            read_buildspec(project.as_ref(), &source_dir, primary)?
        };
        let buildspec = buildspec::parse(&buildspec_text, &buildspec_file).map_err(config_error)?;

        let mut build = Build {
            build_id: format!("{project_name}:{}", uuid::Uuid::new_v4()),
            image: project.as_ref().and_then(|p| p.image.clone()),
            shell: buildspec.env.shell.clone().unwrap_or_else(|| "sh".into()),
            project_name,
            project,
            buildspec,
            buildspec_file,
            environment: Environment::default(),
            source_dir,
            runner: runner.kind.clone(),
        };
        build.compute_environment(request, &runner, primary)?;
        build.check_outputs(request)?;
        Ok(build)
    }

    /// CodeBuild's precedence: image defaults < buildspec < project < action (the start-build
    /// override); `CODEBUILD_*` last.
    fn compute_environment(
        &mut self,
        request: &Request,
        runner: &exec::RunnerInfo,
        primary: Option<&InputArtifact>,
    ) -> Result<(), Failure> {
        let env = &mut self.environment;
        for (name, value) in &runner.base_environment {
            env.set(name, value.clone());
        }
        env.set("AWS_REGION", runner.region.clone());
        env.set("AWS_DEFAULT_REGION", runner.region.clone());
        env.apply_buildspec(&self.buildspec.env)?;
        if let Some(project) = &self.project {
            let variables: Vec<environment::Variable> = project
                .environment_variables
                .iter()
                .map(|v| environment::Variable {
                    name: v.name.clone(),
                    value: v.value.clone(),
                    kind: v.type_.clone(),
                })
                .collect();
            env.apply_variables(&variables, &format!("project '{}'", self.project_name))?;
        }
        if let Some(json) = request.config().get("EnvironmentVariables") {
            let variables = environment::parse_action_variables(json)?;
            env.apply_variables(&variables, "EnvironmentVariables")?;
        }

        let reserved: Vec<String> = env
            .values
            .keys()
            .filter(|name| name.starts_with("CODEBUILD_"))
            .cloned()
            .collect();
        for name in reserved {
            log::warn(format!(
                "{name}: the CODEBUILD_ prefix is reserved; the build's own value is used"
            ));
        }
        let uuid = self
            .build_id
            .rsplit(':')
            .next()
            .unwrap_or_default()
            .to_string();
        let arn_prefix = format!("arn:aws:codebuild:{}:{}", runner.region, runner.account_id);
        let number = next_build_number();
        let start = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let process_path = |path: &str| {
            exec::process_path(path).map_err(exec_failure("mapping the source directory"))
        };
        let builtins = [
            (
                "CODEBUILD_BUILD_ARN",
                format!("{arn_prefix}:build/{}", self.build_id),
            ),
            ("CODEBUILD_BUILD_ID", self.build_id.clone()),
            (
                "CODEBUILD_BUILD_IMAGE",
                self.image
                    .clone()
                    .unwrap_or_else(|| format!("sandpipe/{}", self.runner)),
            ),
            ("CODEBUILD_BUILD_NUMBER", number.to_string()),
            ("CODEBUILD_BUILD_SUCCEEDING", "1".into()),
            ("CODEBUILD_CI", "true".into()),
            (
                "CODEBUILD_INITIATOR",
                format!("codepipeline/{}", request.pipeline),
            ),
            (
                "CODEBUILD_KMS_KEY_ID",
                format!(
                    "arn:aws:kms:{}:{}:alias/aws/s3",
                    runner.region, runner.account_id
                ),
            ),
            ("CODEBUILD_LOG_PATH", uuid),
            (
                "CODEBUILD_PROJECT_ARN",
                format!("{arn_prefix}:project/{}", self.project_name),
            ),
            ("CODEBUILD_SRC_DIR", process_path(&self.source_dir)?),
            ("CODEBUILD_START_TIME", start.to_string()),
        ];
        for (name, value) in builtins {
            env.set(name, value);
        }
        if let Some(revision) = primary.and_then(|p| p.revision.clone()) {
            env.set("CODEBUILD_RESOLVED_SOURCE_VERSION", revision.clone());
            env.set("CODEBUILD_SOURCE_VERSION", revision);
        }
        for input in &request.inputs {
            if primary.is_some_and(|p| p.name == input.name) {
                continue;
            }
            let dir = process_path(&format!("{SOURCES}/{}", input.name))?;
            env.set(&format!("CODEBUILD_SRC_DIR_{}", input.name), dir);
        }
        Ok(())
    }

    /// One output artifact takes the buildspec's `artifacts`; several must each be a
    /// `secondary-artifacts` identifier.
    fn check_outputs(&self, request: &Request) -> Result<(), Failure> {
        if request.outputs.is_empty() {
            return Ok(());
        }
        let Some(artifacts) = &self.buildspec.artifacts else {
            return Err(config_error(format!(
                "{}: the action declares output artifact '{}' but the buildspec has no \
                 artifacts section",
                self.buildspec_file, request.outputs[0].name
            )));
        };
        if request.outputs.len() > 1 {
            for output in &request.outputs {
                if !artifacts.secondary_artifacts.contains_key(&output.name) {
                    return Err(config_error(format!(
                        "{}: the action declares {} output artifacts, so each must be an \
                         identifier under artifacts.secondary-artifacts; '{}' is not (found: {})",
                        self.buildspec_file,
                        request.outputs.len(),
                        output.name,
                        artifacts
                            .secondary_artifacts
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
            }
        }
        Ok(())
    }

    fn run(self, request: &Request) -> Result<Outcome, Failure> {
        let started = Instant::now();
        let legacy = self.buildspec.version.0 == "0.1";
        warn_about_accepted_keys(&self.buildspec);
        self.restore_cache();
        let options = SessionOptions {
            shell: self.shell.clone(),
            working_directory: self.source_dir.clone(),
            environment: self.environment.values.clone().into_iter().collect(),
            image: self.image.clone(),
            timeout_ms: self
                .project
                .as_ref()
                .and_then(|p| p.timeout_in_minutes)
                .map(|minutes| u64::from(minutes) * 60_000),
        };
        let mut session =
            exec::open_session(&options).map_err(exec_failure("starting the build"))?;

        let mut succeeding = true;
        let mut failure: Option<String> = None;
        let mut stop: Option<Stop> = None;
        for (name, phase) in self.buildspec.phases.in_order() {
            let Some(phase) = phase else { continue };
            if stop.is_some() {
                break;
            }
            log::info(format!("Entering phase {name}"));
            let phase_started = Instant::now();
            let mut state = PhaseState::Succeeded;
            let mut commands = phase
                .commands
                .iter()
                .map(|c| c.0.as_str())
                .collect::<Vec<_>>();
            commands.extend(phase.finally.iter().map(|c| c.0.as_str()));
            let finally_from = phase.commands.len();
            for (index, command) in commands.iter().enumerate() {
                // After a failed command the rest of `commands` is skipped; `finally` runs.
                if state == PhaseState::Failed && index < finally_from {
                    continue;
                }
                if legacy {
                    session =
                        exec::open_session(&options).map_err(exec_failure("starting a shell"))?;
                }
                match run_command(
                    &session,
                    name,
                    command,
                    succeeding && state == PhaseState::Succeeded,
                ) {
                    Ok(true) => {}
                    Ok(false) => {
                        state = PhaseState::Failed;
                        failure.get_or_insert_with(|| {
                            format!(
                                "Phase: {name}, Code: COMMAND_EXECUTION_ERROR, Message: Error \
                                 while executing command: {command}"
                            )
                        });
                    }
                    Err(reason) => {
                        stop = Some(reason);
                        state = PhaseState::Failed;
                        failure.get_or_insert_with(|| format!("Phase: {name}"));
                        break;
                    }
                }
            }
            log::info(format!(
                "Phase complete: {name} State: {} ({:.1}s)",
                if state == PhaseState::Succeeded {
                    "SUCCEEDED"
                } else {
                    "FAILED"
                },
                phase_started.elapsed().as_secs_f64()
            ));
            if state == PhaseState::Failed {
                succeeding = false;
                let continues = phase.on_failure == Some(OnFailure::Continue)
                    // POST_BUILD runs after a failed BUILD, as on CodeBuild.
                    || name == "BUILD";
                if !continues && stop.is_none() {
                    stop = Some(Stop::Aborted);
                }
            }
        }

        self.publish_reports();
        let exported = session.environment();
        drop(session);
        let elapsed = started.elapsed().as_secs_f64();

        if let Some(Stop::TimedOut) = stop {
            let minutes = self.project.as_ref().and_then(|p| p.timeout_in_minutes);
            return Err(Failure::job(format!(
                "Build terminated with state: TIMED_OUT. {}, Code: BUILD_TIMED_OUT, Message: \
                 Build has timed out{}; its processes were killed",
                failure.unwrap_or_default(),
                minutes
                    .map(|m| format!(" after {m} minutes"))
                    .unwrap_or_default()
            ))
            .with_external_execution_id(self.build_id.clone()));
        }
        if let Some(Stop::System(reason)) = &stop {
            return Err(
                Failure::job(reason.clone()).with_external_execution_id(self.build_id.clone())
            );
        }
        if !succeeding {
            return Err(Failure::job(format!(
                "Build terminated with state: FAILED. {}",
                failure.unwrap_or_default()
            ))
            .with_external_execution_id(self.build_id.clone()));
        }

        log::info("Entering phase UPLOAD_ARTIFACTS");
        self.upload_artifacts(request)?;
        self.save_cache();
        let mut outcome = Outcome::new()
            .summary(format!(
                "Build succeeded in {elapsed:.1}s ({})",
                self.build_id
            ))
            .external_execution_id(self.build_id.clone());
        for name in &self.buildspec.env.exported_variables {
            if self.environment.secret_names.contains(name) {
                log::warn(format!(
                    "exported variable {name} holds a parameter-store or secrets-manager value \
                     and is not exported"
                ));
                continue;
            }
            match exported.iter().find(|(k, _)| k == name) {
                Some((_, value)) => outcome = outcome.variable(name, value),
                None => log::warn(format!("exported variable {name} is not set; not exported")),
            }
        }
        Ok(outcome)
    }
}

/// Run one command; false when it failed.
fn run_command(
    session: &Session,
    phase: &str,
    command: &str,
    succeeding: bool,
) -> Result<bool, Stop> {
    log::info(format!("Running command {command}"));
    let script = format!(
        "export CODEBUILD_BUILD_SUCCEEDING={}\n{command}",
        u8::from(succeeding)
    );
    let status = session
        .run(&script, phase)
        .map_err(|e| Stop::System(format!("running '{command}': {}", exec::describe(&e))))?;
    if status.timed_out {
        log::error(format!("Command timed out and was killed: {command}"));
        return Err(Stop::TimedOut);
    }
    match (status.code, status.signal) {
        (Some(0), _) => Ok(true),
        (Some(code), _) => {
            log::error(format!(
                "Command did not exit successfully {command} exit status {code}"
            ));
            Ok(false)
        }
        (None, signal) => {
            log::error(format!(
                "Command was killed by signal {}: {command}",
                signal.unwrap_or_default()
            ));
            Ok(false)
        }
    }
}

fn primary_input(request: &Request) -> Result<Option<&InputArtifact>, Failure> {
    match request.config().get("PrimarySource") {
        Some(name) => request
            .inputs
            .iter()
            .find(|input| input.name == name)
            .map(Some)
            .ok_or_else(|| {
                config_error(format!(
                    "PrimarySource '{name}' is not one of the action's input artifacts ({})",
                    request
                        .inputs
                        .iter()
                        .map(|i| i.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }),
        None if request.inputs.len() > 1 => Err(config_error(
            "PrimarySource is required when the action has more than one input artifact",
        )),
        None => Ok(request.inputs.first()),
    }
}

/// The buildspec: the project's (inline, or a path in the primary source), else
/// `buildspec.yml` at the root of the primary source.
fn read_buildspec(
    project: Option<&Project>,
    source_dir: &str,
    primary: Option<&InputArtifact>,
) -> Result<(String, String), Failure> {
    let source_name = primary.map_or("NO_SOURCE", |p| p.name.as_str());
    if let Some(spec) = project.and_then(|p| p.buildspec.as_ref()) {
        let inline = spec.contains('\n') || spec.trim_start().starts_with("version");
        if inline {
            let project = project.expect("a buildspec comes from a project");
            return Ok((
                spec.clone(),
                format!("{} (source.buildspec)", project.defined_in),
            ));
        }
        let relative = spec.trim_start_matches("./");
        if relative.split('/').any(|part| part == "..") {
            return Err(config_error(format!(
                "source.buildspec '{spec}' leaves the source directory"
            )));
        }
        let path = format!("{source_dir}/{relative}");
        return std::fs::read_to_string(&path)
            .map(|text| (text, format!("{source_name}/{relative}")))
            .map_err(|e| {
                config_error(format!(
                    "the project's source.buildspec names '{relative}', which cannot be read in \
                     the primary source '{source_name}': {e}"
                ))
            });
    }
    let path = format!("{source_dir}/buildspec.yml");
    std::fs::read_to_string(&path)
        .map(|text| (text, format!("{source_name}/buildspec.yml")))
        .map_err(|_| {
            config_error(format!(
                "no buildspec: the primary source '{source_name}' has no buildspec.yml at its \
                 root and no project definition gives source.buildspec"
            ))
        })
}

fn next_build_number() -> u64 {
    let path = format!("{PROJECT_DIR}/.sandpipe/build-number");
    let number = std::fs::read_to_string(&path)
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok())
        .unwrap_or(0)
        + 1;
    if std::fs::create_dir_all(format!("{PROJECT_DIR}/.sandpipe")).is_ok() {
        let _ = std::fs::write(&path, number.to_string());
    }
    number
}

/// Keys CodeBuild honours that a local build accepts but does not act on: say so.
fn warn_about_accepted_keys(buildspec: &Buildspec) {
    if buildspec.run_as.is_some() {
        log::warn("run-as is accepted but not applied: commands run as the runner's user");
    }
    for (name, phase) in buildspec.phases.in_order() {
        let Some(phase) = phase else { continue };
        if let Some(versions) = &phase.runtime_versions {
            log::warn(format!(
                "{name}: runtime-versions ({}) is accepted but not applied: the runner's own \
                 tools are used",
                versions
                    .iter()
                    .map(|(k, v)| format!("{k}: {}", v.0))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if phase.run_as.is_some() {
            log::warn(format!("{name}: run-as is accepted but not applied"));
        }
    }
    if buildspec.batch.is_some() {
        log::info("batch: ignored (BatchEnabled is not set)");
    }
    if let Some(proxy) = &buildspec.proxy {
        log::info(format!(
            "proxy (upload-artifacts: {}, logs: {}): accepted; there is no proxy locally",
            buildspec::yes(&proxy.upload_artifacts),
            buildspec::yes(&proxy.logs)
        ));
    }
    if buildspec::yes(&buildspec.env.git_credential_helper) {
        log::info("env.git-credential-helper: accepted; git uses this machine's own helpers");
    }
    if let Some(artifacts) = &buildspec.artifacts {
        let sets =
            std::iter::once(&artifacts.primary).chain(artifacts.secondary_artifacts.values());
        for set in sets {
            if let Some(name) = &set.name {
                log::info(format!(
                    "artifacts name '{}': CodePipeline names its artifacts itself; ignored",
                    name.0
                ));
            }
            if set.s3_prefix.is_some() {
                log::info("artifacts s3-prefix: CodePipeline stores artifacts itself; ignored");
            }
            if buildspec::yes(&set.enable_symlinks) {
                log::warn("artifacts enable-symlinks: symbolic links are never packaged");
            }
        }
    }
}
