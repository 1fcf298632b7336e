//! Validation with CodePipeline's rules and limits. Every problem is reported at once, each
//! with its JSON path, the exception CodePipeline answers with, and a message — in AWS's
//! words where AWS documents them (shape constraints use the service's ValidationException
//! wording).
//!
//! - [`structure`]: the pipeline and its stages (names, counts, stores, source stage);
//! - [`actions`]: each action's fields, its artifacts and variable references;
//! - [`providers`]: what each built-in action type requires (artifact counts, configuration);
//! - [`v2`]: V2-only features (variables, triggers, conditions, execution modes).

mod actions;
mod providers;
mod structure;
mod v2;

use std::fmt;

use crate::declaration::PipelineDeclaration;

pub use actions::{RulesView, check_against_rules};
pub use providers::{
    ActionTypeRules, MASKED_SECRET, mask_secrets, mask_secrets_with, rules_for, secret_properties,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// JSON path from the document root, e.g. `pipeline.stages[1].actions[0].inputArtifacts[0]`.
    pub path: String,
    /// The CodePipeline exception, e.g. `InvalidStructureException`.
    pub exception: &'static str,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.path, self.exception, self.message)
    }
}

/// A problem in a named file: the pipeline's own, or one it uses (a project file, the
/// connections file), so problems from several files can be reported together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub file: String,
    pub problem: Problem,
}

impl Finding {
    pub fn new(file: &str, path: String, exception: &'static str, message: String) -> Self {
        Finding {
            file: file.to_string(),
            problem: Problem {
                path,
                exception,
                message,
            },
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.problem)
    }
}

pub(crate) const INVALID_STRUCTURE: &str = "InvalidStructureException";
pub(crate) const INVALID_STAGE: &str = "InvalidStageDeclarationException";
pub const INVALID_ACTION: &str = "InvalidActionDeclarationException";
pub(crate) const INVALID_BLOCKER: &str = "InvalidBlockerDeclarationException";
pub(crate) const VALIDATION: &str = "ValidationException";
pub(crate) const LIMIT_EXCEEDED: &str = "LimitExceededException";

/// Check `pipeline`, whose declaration sits at JSON path `root` of its document.
pub fn validate(pipeline: &PipelineDeclaration, root: &str) -> Vec<Problem> {
    let mut problems = Problems::new(root);
    structure::check(pipeline, &mut problems);
    actions::check(pipeline, &mut problems);
    v2::check(pipeline, &mut problems);
    problems.list
}

/// The problems found so far, with paths made absolute.
pub(crate) struct Problems {
    root: String,
    list: Vec<Problem>,
}

impl Problems {
    fn new(root: &str) -> Self {
        Problems {
            root: if root.is_empty() {
                String::new()
            } else {
                format!("{root}.")
            },
            list: Vec::new(),
        }
    }

    pub(crate) fn add(
        &mut self,
        path: impl AsRef<str>,
        exception: &'static str,
        message: impl Into<String>,
    ) {
        self.list.push(Problem {
            path: format!("{}{}", self.root, path.as_ref()),
            exception,
            message: message.into(),
        });
    }

    /// A shape constraint, worded as the service's ValidationException.
    pub(crate) fn constraint(
        &mut self,
        path: impl AsRef<str>,
        value: impl fmt::Display,
        constraint: impl fmt::Display,
    ) {
        let path = path.as_ref();
        let message = format!(
            "Value '{value}' at '{}{path}' failed to satisfy constraint: {constraint}",
            self.root
        );
        self.add(path, VALIDATION, message);
    }

    /// A string length in `min..=max` characters.
    pub(crate) fn length(
        &mut self,
        path: impl AsRef<str>,
        value: &str,
        min: usize,
        max: usize,
    ) -> bool {
        let length = value.chars().count();
        if length < min || length > max {
            self.constraint(
                path,
                value,
                format!("Member must have length between {min} and {max}, inclusive"),
            );
            return false;
        }
        true
    }

    /// A string of `min..=max` characters, each allowed by `allowed`, described as `pattern`.
    pub(crate) fn pattern(
        &mut self,
        path: impl AsRef<str>,
        value: &str,
        (min, max): (usize, usize),
        allowed: fn(char) -> bool,
        pattern: &str,
    ) {
        let path = path.as_ref();
        if self.length(path, value, min, max) && !value.chars().all(allowed) {
            self.constraint(
                path,
                value,
                format!("Member must satisfy regular expression pattern: {pattern}"),
            );
        }
    }

    /// A list of `min..=max` entries.
    pub(crate) fn count<T>(
        &mut self,
        path: impl AsRef<str>,
        items: &[T],
        min: usize,
        max: usize,
    ) -> bool {
        if items.len() < min || items.len() > max {
            self.add(
                path,
                VALIDATION,
                format!(
                    "the list has {} entries; it must have between {min} and {max}",
                    items.len()
                ),
            );
            return false;
        }
        true
    }

    /// A list of `count.0..=count.1` strings, each `length.0..=length.1` characters long.
    pub(crate) fn strings(
        &mut self,
        path: &str,
        items: &[String],
        count: (usize, usize),
        length: (usize, usize),
    ) {
        if self.count(path, items, count.0, count.1) {
            for (i, item) in items.iter().enumerate() {
                self.length(format!("{path}[{i}]"), item, length.0, length.1);
            }
        }
    }

    /// A number in `min..=max`.
    pub(crate) fn range(&mut self, path: impl AsRef<str>, value: u32, min: u32, max: u32) {
        if value < min {
            self.constraint(
                path,
                value,
                format!("Member must have value greater than or equal to {min}"),
            );
        } else if value > max {
            self.constraint(
                path,
                value,
                format!("Member must have value less than or equal to {max}"),
            );
        }
    }
}

/// `[A-Za-z0-9.@\-_]+`: pipeline, stage, action and rule names.
pub(crate) fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '@' | '-' | '_')
}
pub(crate) const NAME_PATTERN: &str = "[A-Za-z0-9.@\\-_]+";

/// `[A-Za-z0-9@\-_]+`: namespaces and variable names.
pub(crate) fn variable_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '@' | '-' | '_')
}
pub(crate) const VARIABLE_PATTERN: &str = "[A-Za-z0-9@\\-_]+";

#[cfg(test)]
mod tests;
