//! The pipeline file every command reads, and how to read a CloudFormation template.

use std::path::PathBuf;

use clap::Args;
use sandpipe_model::{LoadError, LoadedPipeline, TemplateOptions, load_file_with};

use crate::flags::{KeyValue, key_value};

#[derive(Args)]
pub struct DocumentArgs {
    /// The pipeline: create-pipeline --cli-input-json input, get-pipeline output, a bare
    /// declaration, or a CloudFormation template; JSON or YAML.
    pub file: PathBuf,

    /// A template parameter's value: KEY=VALUE (repeatable); others take their Default.
    #[arg(global = true, long = "parameter", value_name = "KEY=VALUE", value_parser = key_value)]
    pub parameters: Vec<KeyValue>,

    /// The logical id of the pipeline to take from a template holding several.
    #[arg(global = true, long, value_name = "LOGICAL_ID")]
    pub pipeline: Option<String>,

    /// The region: AWS::Region in templates, and the artifactStores entry a run uses.
    #[arg(global = true, long, default_value = sandpipe_engine::DEFAULT_REGION, env = "AWS_REGION")]
    pub region: String,
}

impl DocumentArgs {
    pub fn template_options(&self) -> TemplateOptions {
        TemplateOptions {
            parameters: self
                .parameters
                .iter()
                .map(|p| (p.key.clone(), p.value.clone()))
                .collect(),
            pipeline: self.pipeline.clone(),
            region: self.region.clone(),
            stack_name: None,
            account_id: None,
        }
    }

    pub fn load(&self) -> Result<LoadedPipeline, LoadError> {
        load_file_with(&self.file, &self.template_options())
    }

    pub fn file_name(&self) -> String {
        self.file.display().to_string()
    }
}
