//! The intrinsic functions of a template, evaluated against its parameters, conditions,
//! mappings and resources as far as that can be done on this machine.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::{LOCAL_ACCOUNT, TemplateOptions, TemplateProblem, base64, scalar_text};

/// The most text the functions of one template may produce, in bytes, all results together
/// (CloudFormation takes templates of at most 1 MB). References can repeat each other — a
/// name joining two references to a name joining two references… — so without a bound a
/// small template would resolve to more text than the machine has memory.
pub(super) const MAX_RESOLVED_BYTES: usize = 16 * 1024 * 1024;

/// Evaluates intrinsic functions against one template.
pub(super) struct Resolver<'a> {
    template: &'a Value,
    options: &'a TemplateOptions,
    pub(super) problems: Vec<TemplateProblem>,
    /// Conditions and resource names being resolved, to refuse cycles rather than recurse
    /// forever.
    resolving: Vec<String>,
    /// Each condition's value and each resource's local name, worked out once: a condition
    /// (or a name) used twice by each of the ones it is used by would otherwise be worked
    /// out exponentially many times.
    conditions: HashMap<String, Option<bool>>,
    names: HashMap<String, String>,
    /// Bytes the functions produced so far, against [`MAX_RESOLVED_BYTES`].
    produced: usize,
    /// Set once the budget is spent (reported once).
    exhausted: bool,
}

impl<'a> Resolver<'a> {
    pub(super) fn new(template: &'a Value, options: &'a TemplateOptions) -> Self {
        Resolver {
            template,
            options,
            problems: Vec::new(),
            resolving: Vec::new(),
            conditions: HashMap::new(),
            names: HashMap::new(),
            produced: 0,
            exhausted: false,
        }
    }

    /// Count `bytes` more of produced text; past the budget, a problem (reported once) and
    /// `false`.
    fn spend(&mut self, bytes: usize, path: &str) -> bool {
        self.produced = self.produced.saturating_add(bytes);
        if self.produced <= MAX_RESOLVED_BYTES {
            return true;
        }
        if !self.exhausted {
            self.exhausted = true;
            self.fail(
                path,
                format!(
                    "the template's functions produce more than {MAX_RESOLVED_BYTES} bytes of \
                     text (references that repeat each other?)"
                ),
            );
        }
        false
    }

    /// `text` as a function's result, if the budget allows it.
    fn produced_text(&mut self, text: String, path: &str) -> Option<Value> {
        self.spend(text.len(), path).then_some(Value::String(text))
    }

    fn fail(&mut self, path: &str, message: String) -> Option<Value> {
        self.problems.push(TemplateProblem {
            path: path.to_string(),
            message,
        });
        None
    }

    /// The resolved value, or `None` for `AWS::NoValue` (and after a reported problem).
    pub(super) fn resolve(&mut self, value: &Value, path: &str) -> Option<Value> {
        match value {
            Value::Object(map) if map.len() == 1 => {
                let (key, argument) = map.iter().next().unwrap();
                if key == "Ref" || key.starts_with("Fn::") || key == "Condition" {
                    return self.intrinsic(key, argument, &format!("{path}.{key}"));
                }
                let resolved = self.resolve(argument, &format!("{path}.{key}"));
                let mut out = Map::new();
                if let Some(v) = resolved {
                    out.insert(key.clone(), v);
                }
                Some(Value::Object(out))
            }
            Value::Object(map) => {
                let mut out = Map::new();
                for (key, v) in map {
                    if let Some(v) = self.resolve(v, &format!("{path}.{key}")) {
                        out.insert(key.clone(), v);
                    }
                }
                Some(Value::Object(out))
            }
            Value::Array(items) => Some(Value::Array(
                items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| self.resolve(v, &format!("{path}[{i}]")))
                    .collect(),
            )),
            Value::String(text) => Some(Value::String(text.clone())),
            other => Some(other.clone()),
        }
    }

    fn resolve_text(&mut self, value: &Value, path: &str) -> Option<String> {
        let resolved = self.resolve(value, path)?;
        match scalar_text(&resolved) {
            Some(text) => Some(text),
            None => {
                self.fail(path, format!("expected text, found {resolved}"));
                None
            }
        }
    }

    fn intrinsic(&mut self, function: &str, argument: &Value, path: &str) -> Option<Value> {
        match function {
            "Ref" => {
                let name = argument.as_str().map(str::to_string);
                match name {
                    Some(name) => {
                        let value = self.reference(&name, path)?;
                        let size = value.as_str().map_or(0, str::len);
                        self.spend(size, path).then_some(value)
                    }
                    None => self.fail(path, "Ref takes the name of a parameter or resource".into()),
                }
            }
            "Fn::GetAtt" => {
                let parts: Option<(String, String)> = match argument {
                    Value::String(s) => s
                        .split_once('.')
                        .map(|(a, b)| (a.to_string(), b.to_string())),
                    Value::Array(items) if items.len() == 2 => {
                        let resource = items[0].as_str().map(str::to_string);
                        let attribute = self.resolve_text(&items[1], path);
                        resource.zip(attribute)
                    }
                    _ => None,
                };
                match parts {
                    Some((resource, attribute)) => {
                        let text = self.attribute(&resource, &attribute, path)?;
                        self.produced_text(text, path)
                    }
                    None => self.fail(
                        path,
                        "Fn::GetAtt takes [LogicalId, Attribute] or 'LogicalId.Attribute'".into(),
                    ),
                }
            }
            "Fn::Sub" => {
                let (template, variables) = match argument {
                    Value::String(s) => (s.clone(), Map::new()),
                    Value::Array(items) if items.len() == 2 => {
                        let template = items[0].as_str().unwrap_or_default().to_string();
                        let variables = items[1].as_object().cloned().unwrap_or_default();
                        (template, variables)
                    }
                    _ => {
                        return self.fail(
                            path,
                            "Fn::Sub takes a string or [string, {variables}]".into(),
                        );
                    }
                };
                let text = self.substitute(&template, &variables, path)?;
                self.produced_text(text, path)
            }
            "Fn::Join" => {
                let Some([delimiter, items]) = argument
                    .as_array()
                    .map(Vec::as_slice)
                    .and_then(|s| <&[Value; 2]>::try_from(s).ok())
                else {
                    return self.fail(path, "Fn::Join takes [delimiter, [values]]".into());
                };
                let delimiter = delimiter.as_str().unwrap_or_default().to_string();
                let items = self.resolve(items, &format!("{path}[1]"))?;
                let mut joined = String::new();
                for (i, item) in items
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .enumerate()
                {
                    let part = self.resolve_text(item, &format!("{path}[1][{i}]"))?;
                    if i > 0 {
                        joined.push_str(&delimiter);
                    }
                    joined.push_str(&part);
                    if joined.len() > MAX_RESOLVED_BYTES {
                        self.spend(joined.len(), path);
                        return None;
                    }
                }
                self.produced_text(joined, path)
            }
            "Fn::If" => {
                let Some([condition, yes, no]) = argument
                    .as_array()
                    .map(Vec::as_slice)
                    .and_then(|s| <&[Value; 3]>::try_from(s).ok())
                else {
                    return self.fail(
                        path,
                        "Fn::If takes [condition, value if true, value if false]".into(),
                    );
                };
                let condition = condition.as_str().unwrap_or_default().to_string();
                let chosen = if self.condition(&condition, path)? {
                    yes
                } else {
                    no
                };
                self.resolve(chosen, path)
            }
            "Condition" => {
                let name = argument.as_str().unwrap_or_default().to_string();
                self.condition(&name, path).map(Value::Bool)
            }
            "Fn::Equals" | "Fn::Not" | "Fn::And" | "Fn::Or" => {
                let mut wrapped = Map::new();
                wrapped.insert(function.to_string(), argument.clone());
                self.evaluate(&Value::Object(wrapped), path)
                    .map(Value::Bool)
            }
            "Fn::Select" => {
                let Some([index, list]) = argument
                    .as_array()
                    .map(Vec::as_slice)
                    .and_then(|s| <&[Value; 2]>::try_from(s).ok())
                else {
                    return self.fail(path, "Fn::Select takes [index, [values]]".into());
                };
                let index: usize = self.resolve_text(index, path)?.parse().ok()?;
                let list = self.resolve(list, path)?;
                match list.as_array().and_then(|items| items.get(index)) {
                    Some(item) => Some(item.clone()),
                    None => self.fail(path, format!("Fn::Select index {index} is out of range")),
                }
            }
            "Fn::Split" => {
                let Some([delimiter, text]) = argument
                    .as_array()
                    .map(Vec::as_slice)
                    .and_then(|s| <&[Value; 2]>::try_from(s).ok())
                else {
                    return self.fail(path, "Fn::Split takes [delimiter, string]".into());
                };
                let delimiter = delimiter.as_str().unwrap_or_default().to_string();
                let text = self.resolve_text(text, path)?;
                if !self.spend(text.len(), path) {
                    return None;
                }
                Some(Value::Array(
                    text.split(delimiter.as_str())
                        .map(|s| Value::String(s.to_string()))
                        .collect(),
                ))
            }
            "Fn::FindInMap" => {
                let Some(keys) = argument.as_array().filter(|a| a.len() >= 3) else {
                    return self.fail(
                        path,
                        "Fn::FindInMap takes [map, top-level key, second-level key]".into(),
                    );
                };
                let mut names = Vec::new();
                for key in &keys[..3] {
                    names.push(self.resolve_text(key, path)?);
                }
                let found = self
                    .template
                    .get("Mappings")
                    .and_then(|m| m.get(&names[0]))
                    .and_then(|m| m.get(&names[1]))
                    .and_then(|m| m.get(&names[2]))
                    .cloned();
                match found {
                    Some(value) => {
                        // A large mapping may be looked up many times.
                        let size = value.to_string().len();
                        self.spend(size, path).then_some(value)
                    }
                    None => self.fail(
                        path,
                        format!("Mappings has no {}.{}.{}", names[0], names[1], names[2]),
                    ),
                }
            }
            "Fn::Base64" => {
                let text = self.resolve_text(argument, path)?;
                // Checked before encoding: nested, each level is a third longer.
                if !self.spend(text.len().div_ceil(3) * 4, path) {
                    return None;
                }
                Some(Value::String(base64(text.as_bytes())))
            }
            "Fn::GetAZs" => {
                let region = &self.options.region;
                Some(Value::Array(
                    ["a", "b", "c"]
                        .iter()
                        .map(|z| Value::String(format!("{region}{z}")))
                        .collect(),
                ))
            }
            "Fn::ImportValue" => self.fail(
                path,
                "Fn::ImportValue reads another stack's exports, which do not exist locally; \
                 use a parameter instead"
                    .into(),
            ),
            other => self.fail(path, format!("{other} cannot be resolved locally")),
        }
    }

    /// Run `work` unless `key` is already being resolved further up.
    fn guarded<T>(
        &mut self,
        key: String,
        path: &str,
        work: impl FnOnce(&mut Self) -> Option<T>,
    ) -> Option<T> {
        if self.resolving.contains(&key) {
            self.fail(path, format!("{key} refers to itself"));
            return None;
        }
        self.resolving.push(key);
        let result = work(self);
        self.resolving.pop();
        result
    }

    /// The value of the template's condition `name` (None after a reported problem).
    pub(super) fn condition_value(&mut self, name: &str, path: &str) -> Option<bool> {
        self.condition(name, path)
    }

    fn condition(&mut self, name: &str, path: &str) -> Option<bool> {
        if let Some(known) = self.conditions.get(name) {
            return *known;
        }
        let definition = self
            .template
            .get("Conditions")
            .and_then(|c| c.get(name))
            .cloned();
        match definition {
            Some(definition) => {
                let key = format!("condition '{name}'");
                if self.resolving.contains(&key) {
                    // A cycle: reported, and not remembered as the condition's value.
                    return self.guarded(key, path, |_| None);
                }
                let value = self.guarded(key, path, |this| this.evaluate(&definition, path));
                self.conditions.insert(name.to_string(), value);
                value
            }
            None => {
                self.fail(path, format!("the template has no condition '{name}'"));
                None
            }
        }
    }

    fn evaluate(&mut self, expression: &Value, path: &str) -> Option<bool> {
        let Some((function, argument)) = expression
            .as_object()
            .filter(|m| m.len() == 1)
            .and_then(|m| m.iter().next())
        else {
            return match expression {
                Value::Bool(b) => Some(*b),
                _ => {
                    self.fail(path, format!("{expression} is not a condition"));
                    None
                }
            };
        };
        let items = argument.as_array().cloned().unwrap_or_default();
        match function.as_str() {
            "Fn::Equals" if items.len() == 2 => {
                let left = self.resolve(&items[0], path)?;
                let right = self.resolve(&items[1], path)?;
                Some(
                    scalar_text(&left).unwrap_or(left.to_string())
                        == scalar_text(&right).unwrap_or(right.to_string()),
                )
            }
            "Fn::Not" if items.len() == 1 => self.evaluate(&items[0], path).map(|b| !b),
            "Fn::And" => items
                .iter()
                .try_fold(true, |all, item| Some(all & self.evaluate(item, path)?)),
            "Fn::Or" => items
                .iter()
                .try_fold(false, |any, item| Some(any | self.evaluate(item, path)?)),
            "Condition" => {
                let name = argument.as_str().unwrap_or_default().to_string();
                self.condition(&name, path)
            }
            other => {
                self.fail(path, format!("{other} is not a condition function"));
                None
            }
        }
    }

    /// `Ref`: a parameter, a pseudo parameter, or another resource's local name.
    fn reference(&mut self, name: &str, path: &str) -> Option<Value> {
        let account = self.account();
        if let Some(value) = self.pseudo_parameter(name) {
            return value;
        }
        if let Some(parameter) = self.template.get("Parameters").and_then(|p| p.get(name)) {
            if let Some(value) = self.options.parameters.get(name) {
                return Some(Value::String(value.clone()));
            }
            return match parameter.get("Default").and_then(scalar_text) {
                Some(default) => Some(Value::String(default)),
                None => self.fail(
                    path,
                    format!("parameter '{name}' has no Default; pass --parameter {name}=<value>"),
                ),
            };
        }
        let resource_type = self
            .template
            .get("Resources")
            .and_then(|r| r.get(name))
            .and_then(|r| r.get("Type"))
            .and_then(Value::as_str)
            .map(str::to_string);
        match resource_type {
            Some(resource_type) => {
                let local = self.local_name(name, &resource_type);
                let value = match resource_type.as_str() {
                    "AWS::SNS::Topic" => {
                        format!("arn:aws:sns:{}:{account}:{local}", self.options.region)
                    }
                    "AWS::KMS::Key" => {
                        format!("arn:aws:kms:{}:{account}:key/{local}", self.options.region)
                    }
                    _ => local,
                };
                Some(Value::String(value))
            }
            None => self.fail(
                path,
                format!("'{name}' is neither a parameter nor a resource of the template"),
            ),
        }
    }

    fn pseudo_parameter(&self, name: &str) -> Option<Option<Value>> {
        let account = self.account();
        let text = |s: String| Some(Some(Value::String(s)));
        match name {
            "AWS::Region" => text(self.options.region.clone()),
            "AWS::AccountId" => text(account.clone()),
            "AWS::Partition" => text("aws".into()),
            "AWS::URLSuffix" => text("amazonaws.com".into()),
            "AWS::StackName" => text(self.stack_name().into()),
            "AWS::StackId" => text(format!(
                "arn:aws:cloudformation:{}:{account}:stack/{}/local",
                self.options.region,
                self.stack_name()
            )),
            "AWS::NotificationARNs" => Some(Some(Value::Array(Vec::new()))),
            "AWS::NoValue" => Some(None),
            _ => None,
        }
    }

    /// The account ARNs and `AWS::AccountId` name: a stack instance's, or the local one.
    fn account(&self) -> String {
        self.options
            .account_id
            .clone()
            .unwrap_or_else(|| LOCAL_ACCOUNT.to_string())
    }

    /// The stack being planned, or `sandpipe` for a pipeline's own template.
    fn stack_name(&self) -> &str {
        self.options.stack_name.as_deref().unwrap_or("sandpipe")
    }

    /// The name a resource would have: its explicit name property, or its logical id
    /// (lower case for buckets, whose names must be).
    fn local_name(&mut self, logical_id: &str, resource_type: &str) -> String {
        if let Some(known) = self.names.get(logical_id) {
            return known.clone();
        }
        let name = self.work_out_local_name(logical_id, resource_type);
        self.names.insert(logical_id.to_string(), name.clone());
        name
    }

    fn work_out_local_name(&mut self, logical_id: &str, resource_type: &str) -> String {
        let name_property = match resource_type {
            "AWS::S3::Bucket" => "BucketName",
            "AWS::IAM::Role" => "RoleName",
            "AWS::CodeBuild::Project" => "Name",
            "AWS::ECR::Repository" => "RepositoryName",
            "AWS::Lambda::Function" => "FunctionName",
            "AWS::SNS::Topic" => "TopicName",
            "AWS::CodeCommit::Repository" => "RepositoryName",
            "AWS::CodeStarConnections::Connection" => "ConnectionName",
            _ => "Name",
        };
        let explicit = self
            .template
            .get("Resources")
            .and_then(|r| r.get(logical_id))
            .and_then(|r| r.get("Properties"))
            .and_then(|p| p.get(name_property))
            .cloned();
        if let Some(explicit) = explicit {
            let at = format!("Resources.{logical_id}.Properties.{name_property}");
            let key = format!("the name of resource '{logical_id}'");
            if let Some(name) = self.guarded(key, &at, |this| this.resolve_text(&explicit, &at)) {
                return name;
            }
        }
        if resource_type == "AWS::S3::Bucket" {
            logical_id.to_ascii_lowercase()
        } else {
            logical_id.to_string()
        }
    }

    /// `Fn::GetAtt` of another resource, for the attributes pipelines use.
    fn attribute(&mut self, logical_id: &str, attribute: &str, path: &str) -> Option<String> {
        let resource_type = self
            .template
            .get("Resources")
            .and_then(|r| r.get(logical_id))
            .and_then(|r| r.get("Type"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let Some(resource_type) = resource_type else {
            return self
                .fail(
                    path,
                    format!("'{logical_id}' is not a resource of the template"),
                )
                .and(None);
        };
        let name = self.local_name(logical_id, &resource_type);
        let region = self.options.region.clone();
        let account = self.account();
        let value = match (resource_type.as_str(), attribute) {
            ("AWS::IAM::Role", "Arn") => format!("arn:aws:iam::{account}:role/{name}"),
            ("AWS::IAM::Role", "RoleId") => format!("AROA{account}{name}"),
            ("AWS::S3::Bucket", "Arn") => format!("arn:aws:s3:::{name}"),
            ("AWS::S3::Bucket", "DomainName") => format!("{name}.s3.amazonaws.com"),
            ("AWS::S3::Bucket", "RegionalDomainName") => {
                format!("{name}.s3.{region}.amazonaws.com")
            }
            ("AWS::S3::Bucket", "WebsiteURL") => {
                format!("http://{name}.s3-website-{region}.amazonaws.com")
            }
            ("AWS::CodeBuild::Project", "Arn") => {
                format!("arn:aws:codebuild:{region}:{account}:project/{name}")
            }
            ("AWS::ECR::Repository", "Arn") => {
                format!("arn:aws:ecr:{region}:{account}:repository/{name}")
            }
            ("AWS::ECR::Repository", "RepositoryUri") => {
                format!("{account}.dkr.ecr.{region}.amazonaws.com/{name}")
            }
            ("AWS::Lambda::Function", "Arn") => {
                format!("arn:aws:lambda:{region}:{account}:function:{name}")
            }
            ("AWS::SNS::Topic", "TopicArn") => {
                format!("arn:aws:sns:{region}:{account}:{name}")
            }
            ("AWS::SNS::Topic", "TopicName") => name,
            ("AWS::KMS::Key", "Arn") => format!("arn:aws:kms:{region}:{account}:key/{name}"),
            ("AWS::CodeCommit::Repository", "Arn") => {
                format!("arn:aws:codecommit:{region}:{account}:{name}")
            }
            ("AWS::CodeCommit::Repository", "Name") => name,
            ("AWS::CodeStarConnections::Connection", "ConnectionArn") => {
                format!("arn:aws:codestar-connections:{region}:{account}:connection/{name}")
            }
            _ => {
                return self.fail(path, format!("Fn::GetAtt {logical_id}.{attribute} ({resource_type}) cannot be resolved locally")).and(None);
            }
        };
        Some(value)
    }

    /// `Fn::Sub`: `${Name}`, `${Resource.Attribute}`, `${!Literal}`.
    fn substitute(
        &mut self,
        template: &str,
        variables: &Map<String, Value>,
        path: &str,
    ) -> Option<String> {
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                out.push_str(&rest[start..]);
                rest = "";
                break;
            };
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(value) = variables.get(name) {
                out.push_str(&self.resolve_text(value, path)?);
            } else if let Some((resource, attribute)) = name.split_once('.')
                && !name.starts_with("AWS::")
            {
                out.push_str(&self.attribute(resource, attribute, path)?);
            } else {
                let value = self.reference(name, path)?;
                out.push_str(&scalar_text(&value).unwrap_or_default());
            }
            if out.len() > MAX_RESOLVED_BYTES {
                self.spend(out.len(), path);
                return None;
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Some(out)
    }
}
