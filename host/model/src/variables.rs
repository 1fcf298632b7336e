//! `#{namespace.variable}` references in action configuration.

/// One `#{namespace.name}` reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableReference<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
}

impl std::fmt::Display for VariableReference<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{{{}.{}}}", self.namespace, self.name)
    }
}

/// The namespace CodePipeline reserves for execution-wide values.
pub const CODEPIPELINE_NAMESPACE: &str = "codepipeline";
/// The namespace of V2 pipeline-level variables.
pub const PIPELINE_VARIABLES_NAMESPACE: &str = "variables";

/// Every reference in `text`, in order. Text that merely looks like `#{` without a well-formed
/// `namespace.name}` is left alone, as CodePipeline does.
pub fn references(text: &str) -> Vec<VariableReference<'_>> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("#{") {
        let after = &rest[start + 2..];
        match parse_reference(after) {
            Some((reference, consumed)) => {
                found.push(reference);
                rest = &after[consumed..];
            }
            None => rest = after,
        }
    }
    found
}

/// Replace every reference using `lookup`; the first reference it cannot answer is the error.
pub fn resolve<'a>(
    text: &'a str,
    mut lookup: impl FnMut(&VariableReference<'_>) -> Option<String>,
) -> Result<String, VariableReference<'a>> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("#{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match parse_reference(after) {
            Some((reference, consumed)) => {
                match lookup(&reference) {
                    Some(value) => out.push_str(&value),
                    None => return Err(reference),
                }
                rest = &after[consumed..];
            }
            None => {
                out.push_str("#{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The longest output variable name CodePipeline takes.
pub const MAX_OUTPUT_VARIABLE_NAME: usize = 128;

/// Whether `name` is a variable name or namespace as CodePipeline takes one: 1 to `max` of
/// `A-Z a-z 0-9 @ - _`.
pub fn is_variable_name(name: &str, max: usize) -> bool {
    !name.is_empty()
        && name.chars().count() <= max
        && name.chars().all(crate::validate::variable_char)
}

/// `namespace.name}` at the start of `text`, and how many bytes it spans.
fn parse_reference(text: &str) -> Option<(VariableReference<'_>, usize)> {
    let end = text.find('}')?;
    let inner = &text[..end];
    let (namespace, name) = inner.split_once('.')?;
    let valid = |s: &str| is_variable_name(s, usize::MAX);
    (valid(namespace) && valid(name)).then_some((VariableReference { namespace, name }, end + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_and_resolves_references() {
        let text = "s3://#{SourceVariables.BucketName}/#{codepipeline.PipelineExecutionId}.zip";
        let refs = references(text);
        assert_eq!(refs.len(), 2);
        assert_eq!(refs[0].namespace, "SourceVariables");
        assert_eq!(refs[1].name, "PipelineExecutionId");
        let resolved = resolve(text, |r| Some(format!("<{}>", r.name))).unwrap();
        assert_eq!(resolved, "s3://<BucketName>/<PipelineExecutionId>.zip");
    }

    #[test]
    fn leaves_malformed_text_alone() {
        assert_eq!(
            resolve("#{ not a ref } #{", |_| None).unwrap(),
            "#{ not a ref } #{"
        );
        assert!(references("#{nodot}").is_empty());
    }

    #[test]
    fn reports_the_unresolved_reference() {
        let error = resolve("x #{A.b} #{C.d}", |r| {
            (r.namespace == "A").then(|| "1".into())
        });
        assert_eq!(error.unwrap_err().to_string(), "#{C.d}");
    }
}
