//! Everything that can go wrong before an action runs: the preflight (see [`crate::preflight`]),
//! the artifact bucket, and compiling every component — so bad input never leaves half a run
//! behind. Each action's backend is chosen here, by kind.

use std::collections::{BTreeMap, HashMap};

use anyhow::Context;
use sandpipe_model::LoadedPipeline;
use sandpipe_model::functions::RuntimeKind;
use sandpipe_runtime::component_file::read_component_file;
use sandpipe_runtime::{GIT, LoadedComponent};

use crate::backends::Backend;
use crate::launch::LaunchContext;
use crate::request::Start;
use crate::runner::{PipelineRunner, RunError};

/// What `prepare` established.
pub(crate) struct Prepared {
    pub(crate) backends: HashMap<(usize, usize), Backend>,
    pub(crate) bucket: String,
    /// Every pipeline variable's value for this execution.
    pub(crate) variables: BTreeMap<String, String>,
}

impl PipelineRunner {
    pub(crate) async fn prepare(
        &self,
        loaded: &LoadedPipeline,
        file: &str,
        variables: &BTreeMap<String, String>,
        start: &Start,
        context: &LaunchContext,
    ) -> Result<Prepared, RunError> {
        let pipeline = &loaded.pipeline;
        let job_worker_types = self.job_worker_types()?;
        let report = crate::preflight::Preflight {
            loaded,
            file,
            files: &context.files,
            providers: &self.providers,
            job_worker_types: &job_worker_types,
            store: Some(&self.s3),
            secrets: self.settings.builds.secrets.as_deref(),
            start,
            variables,
        }
        .check(self.settings.create_buckets);
        if !report.findings.is_empty() {
            return Err(RunError::Invalid(report.findings));
        }
        for (bucket, versioned) in &report.missing_buckets {
            let created = self.s3.create_bucket(bucket).and_then(|_| match versioned {
                true => self.s3.set_versioning(bucket, true).map(drop),
                false => Ok(()),
            });
            created
                .with_context(|| format!("creating the bucket '{bucket}' (--create-buckets)"))?;
        }

        let bucket = pipeline
            .artifact_store_for(&context.region)
            .with_context(|| {
                format!(
                    "{file}: {}: no artifact store for region {}",
                    loaded.document_path("artifactStores"),
                    context.region
                )
            })?
            .location
            .clone();
        // The artifact bucket is infrastructure CodePipeline users create beside the pipeline
        // (the seed templates do); create it rather than fail on a fresh state directory.
        if self.s3.bucket_info(&bucket).is_err() {
            self.s3.create_bucket(&bucket).with_context(|| {
                format!("{file}: {}", loaded.document_path("artifactStore.location"))
            })?;
        }

        Ok(Prepared {
            backends: self.backends(loaded, start, &context.files).await?,
            bucket,
            variables: report.variables,
        })
    }

    /// The backend of every action: the host's own approval, the host copying a working
    /// tree in place of a source that cannot read one itself, or the action type's component
    /// (loaded once per type; the host keeps compiled components by digest).
    async fn backends(
        &self,
        loaded: &LoadedPipeline,
        start: &Start,
        files: &crate::settings::PipelineFiles,
    ) -> Result<HashMap<(usize, usize), Backend>, RunError> {
        let mut loaded_types: HashMap<&sandpipe_model::ActionTypeId, LoadedComponent> =
            HashMap::new();
        let mut backends = HashMap::new();
        // A stage the run skips needs no backend (nor, perhaps, has a provider).
        let selected = start.stages.resolve(&loaded.pipeline).unwrap_or_default();
        for (s, stage) in loaded.pipeline.stages.iter().enumerate() {
            if !selected.contains(&s) {
                continue;
            }
            for (a, action) in stage.actions.iter().enumerate() {
                let action_type = &action.action_type_id;
                let policy = self.providers.policy(action_type);
                let double = files
                    .doubles
                    .for_action(&stage.name, &action.name, action_type);
                // A declared double is the operator's word: it stands in even for a provider.
                let backend = if let Some(earlier) = start.recorded(s, &action.name) {
                    Backend::Recorded(Box::new(earlier.clone()))
                } else if let Some(double) = double {
                    Backend::Double(Box::new(double.clone()))
                } else if action_type.is_cloudformation_deploy()
                    && !self.providers.serves(action_type)
                {
                    Backend::CloudFormation
                } else if action_type.is_stack_set_deploy() && !self.providers.serves(action_type) {
                    Backend::StackSet
                } else if action_type.is_ecr_source() && !self.providers.serves(action_type) {
                    Backend::LocalImage
                } else if let Some(function) = files.lambda_function(action)
                    && !self.providers.serves(action_type)
                {
                    match function.kind {
                        // The sandboxed alternative: the function is an action component.
                        RuntimeKind::Wasm => {
                            let wasm = read_component_file(&function.code).with_context(|| {
                                format!("the function's component ({})", function.declared_in)
                            })?;
                            let component =
                                self.host.load(wasm.into()).await.with_context(|| {
                                    format!("loading {}", function.code.display())
                                })?;
                            Backend::Component(Box::new(component))
                        }
                        _ => Backend::Lambda(Box::new(function.clone())),
                    }
                } else if action_type.is_manual_approval() {
                    Backend::ManualApproval
                } else if !self.providers.serves(action_type) {
                    // The preflight let it through: a registered custom type.
                    Backend::JobWorker
                } else if let Some(dir) = start.working_tree(s, &action.name)
                    && !policy.allows(GIT)
                {
                    Backend::WorkingTree(dir.to_path_buf())
                } else {
                    let component = match loaded_types.get(action_type) {
                        Some(component) => component.clone(),
                        None => {
                            let wasm = self.providers.component(action_type)?;
                            let component = self
                                .host
                                .load_with_policy(wasm, &policy)
                                .await
                                .with_context(|| {
                                    format!("loading the component for {action_type}")
                                })?;
                            loaded_types.insert(action_type, component.clone());
                            component
                        }
                    };
                    Backend::Component(Box::new(component))
                };
                backends.insert((s, a), backend);
            }
        }
        Ok(backends)
    }
}
