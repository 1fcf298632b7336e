//! Binding `#{namespace.variable}` references to values: what an execution knows at the
//! moment an action (or a stage condition) is about to be evaluated.

use std::collections::{BTreeMap, HashMap};

use crate::variables::{self, CODEPIPELINE_NAMESPACE, PIPELINE_VARIABLES_NAMESPACE};

/// The values references resolve to: `#{codepipeline.PipelineExecutionId}`, the V2 pipeline
/// variables (`#{variables.name}`) and the output variables of every namespace whose action
/// has succeeded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VariableScope {
    pub execution_id: String,
    pub pipeline_variables: BTreeMap<String, String>,
    pub namespaces: HashMap<String, BTreeMap<String, String>>,
}

/// A configuration value that refers to something without a value (yet).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration property '{key}' refers to {reference}, which has no value")]
pub struct Unresolved {
    pub key: String,
    /// The reference as written, `#{Build.Version}`.
    pub reference: String,
}

impl VariableScope {
    pub fn new(execution_id: &str, pipeline_variables: BTreeMap<String, String>) -> Self {
        VariableScope {
            execution_id: execution_id.to_string(),
            pipeline_variables,
            namespaces: HashMap::new(),
        }
    }

    /// Publish an action's output variables under its namespace.
    pub fn publish(&mut self, namespace: &str, values: BTreeMap<String, String>) {
        self.namespaces.insert(namespace.to_string(), values);
    }

    fn lookup(&self, reference: &variables::VariableReference<'_>) -> Option<String> {
        match reference.namespace {
            CODEPIPELINE_NAMESPACE if reference.name == "PipelineExecutionId" => {
                Some(self.execution_id.clone())
            }
            PIPELINE_VARIABLES_NAMESPACE => self.pipeline_variables.get(reference.name).cloned(),
            namespace => self.namespaces.get(namespace)?.get(reference.name).cloned(),
        }
    }

    /// Every value of `configuration` with its references replaced.
    pub fn resolve(
        &self,
        configuration: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, Unresolved> {
        configuration
            .iter()
            .map(|(key, value)| {
                variables::resolve(value, |reference| self.lookup(reference))
                    .map(|resolved| (key.clone(), resolved))
                    .map_err(|reference| Unresolved {
                        key: key.clone(),
                        reference: reference.to_string(),
                    })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_resolve_against_the_scope() {
        let mut scope = VariableScope::new(
            "e-1",
            BTreeMap::from([("Env".to_string(), "prod".to_string())]),
        );
        scope.publish(
            "Build",
            BTreeMap::from([("Version".to_string(), "1.2".to_string())]),
        );
        let configuration = BTreeMap::from([(
            "Key".to_string(),
            "#{variables.Env}/#{Build.Version}/#{codepipeline.PipelineExecutionId}".to_string(),
        )]);
        assert_eq!(
            scope.resolve(&configuration).unwrap()["Key"],
            "prod/1.2/e-1"
        );
        let missing = BTreeMap::from([("K".to_string(), "#{Deploy.Url}".to_string())]);
        assert_eq!(
            scope.resolve(&missing).unwrap_err().to_string(),
            "configuration property 'K' refers to #{Deploy.Url}, which has no value"
        );
    }
}
