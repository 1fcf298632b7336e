//! The pipeline file every command reads, and how to read a CloudFormation template.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use sandpipe_model::{LoadError, LoadedPipeline, TemplateOptions, load_file_with};

#[derive(Args)]
pub struct DocumentArgs {
    /// The pipeline: create-pipeline --cli-input-json input, get-pipeline output, a bare
    /// declaration, or a CloudFormation template; JSON or YAML.
    pub file: PathBuf,

    /// A template parameter's value: KEY=VALUE (repeatable); others take their Default.
    #[arg(long = "parameter", value_name = "KEY=VALUE")]
    pub parameters: Vec<String>,

    /// The logical id of the pipeline to take from a template holding several.
    #[arg(long, value_name = "LOGICAL_ID")]
    pub pipeline: Option<String>,

    /// The region: AWS::Region in templates, and the artifactStores entry a run uses.
    #[arg(long, default_value = "us-east-1", env = "AWS_REGION")]
    pub region: String,
}

impl DocumentArgs {
    pub fn template_options(&self) -> anyhow::Result<TemplateOptions> {
        let mut parameters = std::collections::BTreeMap::new();
        for pair in &self.parameters {
            let (key, value) = pair
                .split_once('=')
                .with_context(|| format!("--parameter '{pair}': expected KEY=VALUE"))?;
            parameters.insert(key.to_string(), value.to_string());
        }
        Ok(TemplateOptions {
            parameters,
            pipeline: self.pipeline.clone(),
            region: self.region.clone(),
        })
    }

    pub fn load(&self) -> anyhow::Result<Result<LoadedPipeline, LoadError>> {
        Ok(load_file_with(&self.file, &self.template_options()?))
    }

    pub fn file_name(&self) -> String {
        self.file.display().to_string()
    }
}
