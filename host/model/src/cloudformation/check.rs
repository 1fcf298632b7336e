//! What CloudFormation refuses before it creates anything — its "Template format error"s —
//! checked before a stack is planned, so a local plan never succeeds where the deploy would
//! fail: every resource has a `Type`; every `Ref`, `Fn::GetAtt`, `Fn::Sub` variable and
//! `DependsOn` names a parameter, a resource or a pseudo parameter; every `Condition` and
//! `Fn::If` names a declared condition; and every `${` in a `Fn::Sub` string is closed.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::TemplateProblem;

/// The pseudo parameters `Ref` and `Fn::Sub` may name.
const PSEUDO_PARAMETERS: &[&str] = &[
    "AWS::AccountId",
    "AWS::NotificationARNs",
    "AWS::NoValue",
    "AWS::Partition",
    "AWS::Region",
    "AWS::StackId",
    "AWS::StackName",
    "AWS::URLSuffix",
];

/// Every problem CloudFormation would refuse `template` for, each with its path.
pub fn template_problems(template: &Value) -> Vec<TemplateProblem> {
    let mut problems = Vec::new();
    let empty = Map::new();
    let section = |name: &str| template.get(name).and_then(Value::as_object);
    let Some(resources) = section("Resources").filter(|r| !r.is_empty()) else {
        problems.push(TemplateProblem {
            path: "Resources".into(),
            message: "a template's Resources is an object of at least one resource".into(),
        });
        return problems;
    };
    // A template that is transformed before CloudFormation reads it (SAM's
    // AWS::Serverless, AWS::LanguageExtensions' Fn::ForEach, macros) gains resources only
    // the transform knows: its references cannot be checked here.
    let transformed = template.get("Transform").is_some()
        || resources.keys().any(|id| id.starts_with("Fn::ForEach::"));
    if transformed {
        return problems;
    }
    let names = |name: &str| -> BTreeSet<&str> {
        section(name)
            .unwrap_or(&empty)
            .keys()
            .map(String::as_str)
            .collect()
    };
    let check = Check {
        parameters: names("Parameters"),
        resources: resources.keys().map(String::as_str).collect(),
        conditions: names("Conditions"),
    };
    for (id, resource) in resources {
        let at = format!("Resources.{id}");
        let Some(resource) = resource.as_object() else {
            problems.push(problem(&at, "a resource is an object with a Type"));
            continue;
        };
        match resource.get("Type").and_then(Value::as_str) {
            Some(kind) if kind.contains("::") => {}
            Some(kind) => problems.push(problem(
                &format!("{at}.Type"),
                &format!("'{kind}' is not a resource type (AWS::Service::Resource)"),
            )),
            None => problems.push(problem(
                &format!("{at}.Type"),
                "every resource needs a Type, such as AWS::S3::Bucket",
            )),
        }
        let depends = match resource.get("DependsOn") {
            Some(Value::String(one)) => vec![one.as_str()],
            Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        for target in depends {
            if !check.resources.contains(target) {
                problems.push(problem(
                    &format!("{at}.DependsOn"),
                    &format!("DependsOn names '{target}', which is not a resource"),
                ));
            }
        }
        check.condition_named(resource.get("Condition"), &at, &mut problems);
        check.walk(
            resource.get("Properties"),
            &format!("{at}.Properties"),
            &mut problems,
        );
    }
    for (name, output) in section("Outputs").unwrap_or(&empty) {
        let at = format!("Outputs.{name}");
        check.condition_named(output.get("Condition"), &at, &mut problems);
        check.walk(Some(output), &at, &mut problems);
    }
    for (name, condition) in section("Conditions").unwrap_or(&empty) {
        check.walk(
            Some(condition),
            &format!("Conditions.{name}"),
            &mut problems,
        );
    }
    problems
}

fn problem(path: &str, message: &str) -> TemplateProblem {
    TemplateProblem {
        path: path.to_string(),
        message: message.to_string(),
    }
}

/// The names a template declares.
struct Check<'a> {
    parameters: BTreeSet<&'a str>,
    resources: BTreeSet<&'a str>,
    conditions: BTreeSet<&'a str>,
}

impl Check<'_> {
    /// Whether `Ref` may name `name`.
    fn referable(&self, name: &str) -> bool {
        self.parameters.contains(name)
            || self.resources.contains(name)
            || PSEUDO_PARAMETERS.contains(&name)
    }

    fn condition_named(
        &self,
        value: Option<&Value>,
        at: &str,
        problems: &mut Vec<TemplateProblem>,
    ) {
        if let Some(name) = value.and_then(Value::as_str)
            && !self.conditions.contains(name)
        {
            problems.push(problem(
                &format!("{at}.Condition"),
                &format!("'{name}' is not one of the template's Conditions"),
            ));
        }
    }

    /// Check every intrinsic function under `value`.
    fn walk(&self, value: Option<&Value>, at: &str, problems: &mut Vec<TemplateProblem>) {
        match value {
            Some(Value::Object(map)) if map.len() == 1 => {
                let (key, argument) = map.iter().next().expect("one entry");
                let here = format!("{at}.{key}");
                self.function(key, argument, &here, problems);
                self.walk(Some(argument), &here, problems);
            }
            Some(Value::Object(map)) => {
                for (key, item) in map {
                    self.walk(Some(item), &format!("{at}.{key}"), problems);
                }
            }
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    self.walk(Some(item), &format!("{at}[{i}]"), problems);
                }
            }
            _ => {}
        }
    }

    /// The names one intrinsic function uses.
    fn function(&self, key: &str, argument: &Value, at: &str, problems: &mut Vec<TemplateProblem>) {
        let mut unknown = |what: &str, name: &str| {
            problems.push(problem(
                at,
                &format!("{what} '{name}', which the template does not declare"),
            ))
        };
        match key {
            "Ref" => {
                if let Some(name) = argument.as_str()
                    && !self.referable(name)
                {
                    unknown("Ref names", name);
                }
            }
            "Fn::GetAtt" => {
                let resource = match argument {
                    Value::Array(parts) => parts.first().and_then(Value::as_str),
                    Value::String(dotted) => dotted.split('.').next(),
                    _ => None,
                };
                if let Some(name) = resource
                    && !self.resources.contains(name)
                {
                    unknown("Fn::GetAtt names the resource", name);
                }
            }
            "Fn::If" => {
                if let Some(name) = argument.get(0).and_then(Value::as_str)
                    && !self.conditions.contains(name)
                {
                    unknown("Fn::If names the condition", name);
                }
            }
            "Condition" => {
                if let Some(name) = argument.as_str()
                    && !self.conditions.contains(name)
                {
                    unknown("Condition names", name);
                }
            }
            "Fn::Sub" => {
                let (text, own) = match argument {
                    Value::String(text) => (Some(text.as_str()), None),
                    Value::Array(parts) => (
                        parts.first().and_then(Value::as_str),
                        parts.get(1).and_then(Value::as_object),
                    ),
                    _ => (None, None),
                };
                let Some(text) = text else { return };
                match sub_variables(text) {
                    Err(message) => problems.push(problem(at, &message)),
                    Ok(variables) => {
                        for variable in variables {
                            let name = variable.split('.').next().unwrap_or(variable);
                            let declared = own.is_some_and(|own| own.contains_key(variable))
                                || if variable.contains('.') {
                                    self.resources.contains(name)
                                } else {
                                    self.referable(name)
                                };
                            if !declared {
                                unknown("Fn::Sub uses", variable);
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

/// The `${Name}` variables of a `Fn::Sub` string (`${!Literal}` is not one); an error for a
/// `${` that is never closed.
fn sub_variables(text: &str) -> Result<Vec<&str>, String> {
    let mut variables = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(format!(
                "'${{' at character {} is never closed with '}}'",
                text.len() - rest.len() + start
            ));
        };
        let name = after[..end].trim();
        if !name.starts_with('!') {
            variables.push(name);
        }
        rest = &after[end + 1..];
    }
    Ok(variables)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_sound_template_has_no_problems() {
        let template = json!({
            "Parameters": {"Env": {"Type": "String"}},
            "Conditions": {"Prod": {"Fn::Equals": [{"Ref": "Env"}, "prod"]}},
            "Resources": {
                "Bucket": {"Type": "AWS::S3::Bucket", "Condition": "Prod",
                    "Properties": {"BucketName": {"Fn::Sub": "${Env}-${AWS::Region}-${!Literal}"}}},
                "Topic": {"Type": "AWS::SNS::Topic", "DependsOn": ["Bucket"],
                    "Properties": {"DisplayName": {"Fn::If": ["Prod", {"Fn::GetAtt": ["Bucket", "Arn"]}, {"Ref": "AWS::NoValue"}]}}}
            },
            "Outputs": {"Name": {"Value": {"Fn::Sub": ["${Bucket.Arn}/${Suffix}", {"Suffix": "x"}]}}}
        });
        assert_eq!(template_problems(&template), Vec::new());
    }

    #[test]
    fn a_transformed_template_is_not_checked_for_what_its_transform_adds() {
        let sam = json!({
            "Transform": "AWS::Serverless-2016-10-31",
            "Resources": {"Fn": {"Type": "AWS::Serverless::Function"}},
            "Outputs": {"Role": {"Value": {"Fn::GetAtt": ["FnRole", "Arn"]}},
                        "Api": {"Value": {"Fn::Sub": "https://${ServerlessRestApi}.execute-api"}}}
        });
        assert_eq!(template_problems(&sam), Vec::new());
        let for_each = json!({"Resources": {"Fn::ForEach::Topics": ["T", ["A", "B"], {}]}});
        assert_eq!(template_problems(&for_each), Vec::new());
    }

    #[test]
    fn what_cloudformation_refuses_is_named_by_path() {
        let template = json!({
            "Resources": {
                "NoType": {"Properties": {}},
                "B": {"Type": "AWS::S3::Bucket", "Condition": "Nope", "DependsOn": "Gone",
                    "Properties": {"A": {"Ref": "Nope1"}, "B": {"Fn::GetAtt": ["Nope2", "Arn"]},
                        "C": {"Fn::Sub": "${Nope3"}, "D": {"Fn::Sub": "${Nope4}"},
                        "E": {"Fn::If": ["Nope5", 1, 2]}}}
            }
        });
        let problems: Vec<String> = template_problems(&template)
            .into_iter()
            .map(|p| format!("{}: {}", p.path, p.message))
            .collect();
        let all = problems.join("\n");
        for expected in [
            "Resources.NoType.Type: every resource needs a Type",
            "Resources.B.DependsOn: DependsOn names 'Gone'",
            "Resources.B.Condition: 'Nope' is not one of the template's Conditions",
            "Resources.B.Properties.A.Ref: Ref names 'Nope1'",
            "Resources.B.Properties.B.Fn::GetAtt: Fn::GetAtt names the resource 'Nope2'",
            "Resources.B.Properties.C.Fn::Sub: '${' at character 0 is never closed",
            "Resources.B.Properties.D.Fn::Sub: Fn::Sub uses 'Nope4'",
            "Resources.B.Properties.E.Fn::If: Fn::If names the condition 'Nope5'",
        ] {
            assert!(all.contains(expected), "{expected} not in:\n{all}");
        }
        assert_eq!(problems.len(), 8, "{all}");
        assert_eq!(
            template_problems(&json!({"Resources": ["a"]}))[0].path,
            "Resources"
        );
    }
}
