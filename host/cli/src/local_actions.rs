//! What actions that cannot run on AWS run as here: the Lambda functions' local code
//! (`sandpipe-functions.yaml` beside the pipeline, or `--functions FILE`) and the declared
//! doubles (`sandpipe-doubles.yaml`, or `--doubles FILE`, and `--double TYPE[=FILE]` over
//! it).

use std::path::{Path, PathBuf};

use clap::Args;
use sandpipe_model::ActionTypeId;
use sandpipe_model::Finding;
use sandpipe_model::doubles::{DOUBLES_FILE_NAMES, Double, Doubles};
use sandpipe_model::functions::{FUNCTIONS_FILE_NAMES, Functions};

/// `--double TYPE[=FILE]`.
#[derive(Debug, Clone)]
pub struct DoubleFlag {
    pub action_type: ActionTypeId,
    pub file: Option<PathBuf>,
}

fn double_flag(text: &str) -> Result<DoubleFlag, String> {
    let (action_type, file) = match text.split_once('=') {
        Some((action_type, file)) => (action_type, Some(PathBuf::from(file))),
        None => (text, None),
    };
    Ok(DoubleFlag {
        action_type: action_type.parse()?,
        file,
    })
}

#[derive(Args)]
pub struct LocalActionArgs {
    /// Where Lambda functions' code is: a file mapping FunctionName to runtime, handler and
    /// code directory; by default sandpipe-functions.yaml beside the pipeline.
    #[arg(global = true, long = "functions", value_name = "FILE")]
    functions_file: Option<PathBuf>,

    /// Let actions of a type that cannot run here run as a double: TYPE alone succeeds,
    /// passing its first input artifact through; TYPE=FILE does what FILE declares (outcome
    /// succeed, fail or approval; message; outputVariables; outputArtifacts). Repeatable;
    /// the run records each as a double.
    #[arg(global = true, long = "double", value_name = "TYPE[=FILE]", value_parser = double_flag)]
    doubles: Vec<DoubleFlag>,

    /// The doubles file (a `doubles:` map by action type or Stage/Action); by default
    /// sandpipe-doubles.yaml beside the pipeline.
    #[arg(global = true, long = "doubles", value_name = "FILE")]
    doubles_file: Option<PathBuf>,
}

/// The first of `names` in the directory `pipeline_file` is in.
pub(crate) fn beside(pipeline_file: Option<&Path>, names: &[&str]) -> Option<PathBuf> {
    let file = pipeline_file?;
    let dir = file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    names
        .iter()
        .map(|name| dir.join(name))
        .find(|p| p.is_file())
}

impl LocalActionArgs {
    /// The functions for the pipeline in `pipeline_file`; a file's problem is a finding.
    pub(crate) fn functions(&self, pipeline_file: Option<&Path>) -> (Functions, Vec<Finding>) {
        let path = self
            .functions_file
            .clone()
            .or_else(|| beside(pipeline_file, FUNCTIONS_FILE_NAMES));
        match path.map(|path| Functions::read(&path)) {
            None => (Functions::default(), Vec::new()),
            Some(Ok(functions)) => (functions, Vec::new()),
            Some(Err(error)) => (Functions::default(), error.findings()),
        }
    }

    /// The doubles for the pipeline in `pipeline_file`; a file's problem is a finding,
    /// reported with every other before the run.
    pub(crate) fn doubles(&self, pipeline_file: Option<&Path>) -> (Doubles, Vec<Finding>) {
        let mut problems = Vec::new();
        let found = beside(pipeline_file, DOUBLES_FILE_NAMES);
        let mut doubles = match self.doubles_file.clone().or(found) {
            None => Doubles::default(),
            Some(path) => Doubles::read(&path).unwrap_or_else(|error| {
                problems.extend(error.findings());
                Doubles::default()
            }),
        };
        for flag in &self.doubles {
            let double = match &flag.file {
                None => Double::passing("--double"),
                Some(file) => match Double::read(file) {
                    Ok(double) => double,
                    Err(error) => {
                        problems.extend(error.findings());
                        continue;
                    }
                },
            };
            doubles.declare(flag.action_type.clone(), double);
        }
        (doubles, problems)
    }
}
