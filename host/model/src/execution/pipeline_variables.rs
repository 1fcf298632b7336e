//! The value of each V2 pipeline variable for one execution, as StartPipelineExecution
//! resolves them: the operator's override, else the declared default.

use std::collections::BTreeMap;

use crate::declaration::PipelineVariableDeclaration;
use crate::validate::Problem;

/// Every declared variable's value. Overrides of undeclared variables, values that are empty
/// or longer than 1000 characters, and variables left without a value are problems;
/// `document_path` turns `variables[i]` into the path in the user's document.
pub fn pipeline_variable_values(
    declared: &[PipelineVariableDeclaration],
    overrides: &BTreeMap<String, String>,
    document_path: impl Fn(&str) -> String,
) -> (BTreeMap<String, String>, Vec<Problem>) {
    let mut problems = Vec::new();
    for (name, value) in overrides {
        if !declared.iter().any(|v| &v.name == name) {
            problems.push(Problem {
                path: format!("--variable {name}"),
                exception: "ValidationException",
                message: format!(
                    "pipeline variable '{name}' is not declared in the pipeline's variables"
                ),
            });
        } else if value.is_empty() || value.chars().count() > 1000 {
            problems.push(Problem {
                path: format!("--variable {name}"),
                exception: "ValidationException",
                message: "a variable's value is 1 to 1000 characters long".into(),
            });
        }
    }
    let mut values = BTreeMap::new();
    for (v, variable) in declared.iter().enumerate() {
        match overrides
            .get(&variable.name)
            .or(variable.default_value.as_ref())
        {
            Some(value) => {
                values.insert(variable.name.clone(), value.clone());
            }
            None => problems.push(Problem {
                path: document_path(&format!("variables[{v}]")),
                exception: "ValidationException",
                message: format!(
                    "pipeline variable '{}' has no default value; pass --variable {}=<value>",
                    variable.name, variable.name
                ),
            }),
        }
    }
    (values, problems)
}
