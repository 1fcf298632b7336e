//! Action types: ListActionTypes (the built-in providers this server runs, the manual
//! approval, and the custom types registered here), CreateCustomActionType,
//! DeleteCustomActionType, GetActionType and UpdateActionType, and ListRuleTypes for the
//! condition rules the engine evaluates.

use serde_json::{Value, json};

use sandpipe_model::validate::{rules_for, secret_properties};
use sandpipe_model::{ActionTypeId, Category, Owner};

use super::empty;
use crate::App;
use crate::caller::Caller;
use crate::json::{AwsError, Input, Reply};

/// `Category/Owner/Provider/Version`, the registry's key.
fn key(category: &str, owner: &str, provider: &str, version: &str) -> String {
    format!("{category}/{owner}/{provider}/{version}")
}

/// A type this server runs as ListActionTypes shows it: its configuration properties
/// (required, secret) and artifact counts, from its plugin's manifest or the rules
/// CodePipeline applies to it.
fn served(app: &App, id: &ActionTypeId) -> Value {
    if let Some(definition) = app.runner.providers().definition(id) {
        return json!({
            "id": id,
            "actionConfigurationProperties": definition.configuration_properties,
            "inputArtifactDetails": definition.input_artifact_details,
            "outputArtifactDetails": definition.output_artifact_details,
        });
    }
    let rules = rules_for(id);
    let secrets = secret_properties(id);
    let properties: Vec<Value> = rules
        .and_then(|r| r.known.map(|known| (r, known)))
        .map(|(r, known)| {
            known
                .iter()
                .map(|name| {
                    json!({
                        "name": name,
                        "required": r.required.contains(name),
                        "key": r.required.contains(name),
                        "secret": secrets.contains(name),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let (inputs, outputs) = rules
        .map(|r| (r.inputs, r.outputs))
        .unwrap_or(((0, 5), (0, 5)));
    json!({
        "id": id,
        "actionConfigurationProperties": properties,
        "inputArtifactDetails": {"minimumCount": inputs.0, "maximumCount": inputs.1},
        "outputArtifactDetails": {"minimumCount": outputs.0, "maximumCount": outputs.1},
    })
}

fn served_types(app: &App) -> Vec<ActionTypeId> {
    let mut types = app.runner.action_types();
    types.push(ActionTypeId::new(
        Category::Approval,
        Owner::AWS,
        "Manual",
        "1",
    ));
    types.sort();
    types
}

pub fn list(app: &App, _caller: &Caller, input: Input) -> Reply {
    let owner = input.optional_string("actionOwnerFilter")?;
    if let Some(owner) = &owner
        && !["AWS", "ThirdParty", "Custom"].contains(&owner.as_str())
    {
        return Err(AwsError::validation(format!(
            "actionOwnerFilter must be AWS, ThirdParty or Custom, not {owner}"
        )));
    }
    let wanted = |o: &str| owner.as_deref().is_none_or(|w| w == o);
    let mut types: Vec<Value> = served_types(app)
        .iter()
        .filter(|id| wanted(&format!("{:?}", id.owner)))
        .map(|id| served(app, id))
        .collect();
    if wanted("Custom") {
        for (_, declaration) in app.runner.state().action_types().list()? {
            types.push(serde_json::from_str(&declaration).unwrap_or_default());
        }
    }
    Ok(json!({ "actionTypes": types }))
}

pub fn create_custom(app: &App, _caller: &Caller, input: Input) -> Reply {
    let category = input.string("category")?;
    let provider = input.string("provider")?;
    let version = input.string("version")?;
    let id: ActionTypeId = key(&category, "Custom", &provider, &version)
        .parse()
        .map_err(AwsError::validation)?;
    if provider.is_empty() || provider.len() > 35 || version.is_empty() || version.len() > 9 {
        return Err(AwsError::validation(
            "provider is 1–35 characters and version 1–9",
        ));
    }
    let details = |name: &str| -> Result<Value, AwsError> {
        let value = input.0.get(name).cloned().ok_or_else(|| {
            AwsError::validation(format!(
                "1 validation error detected: Value null at '{name}' failed to satisfy \
                 constraint: Member must not be null"
            ))
        })?;
        let count = |member: &str| value.get(member).and_then(Value::as_u64);
        match (count("minimumCount"), count("maximumCount")) {
            (Some(min), Some(max)) if min <= max && max <= 5 => Ok(value),
            _ => Err(AwsError::validation(format!(
                "{name} needs minimumCount ≤ maximumCount ≤ 5"
            ))),
        }
    };
    let declaration = json!({
        "id": id,
        "settings": input.0.get("settings").cloned().unwrap_or(json!({})),
        "actionConfigurationProperties": input.0.get("configurationProperties").cloned().unwrap_or(json!([])),
        "inputArtifactDetails": details("inputArtifactDetails")?,
        "outputArtifactDetails": details("outputArtifactDetails")?,
    });
    let registered = app
        .runner
        .state()
        .action_types()
        .create(&id.to_string(), &declaration.to_string())?;
    if !registered {
        return Err(AwsError::new(
            "ActionTypeAlreadyExistsException",
            format!("the action type {id} already exists"),
        ));
    }
    Ok(
        json!({ "actionType": declaration, "tags": input.0.get("tags").cloned().unwrap_or(json!([])) }),
    )
}

pub fn delete_custom(app: &App, _caller: &Caller, input: Input) -> Reply {
    let id = key(
        &input.string("category")?,
        "Custom",
        &input.string("provider")?,
        &input.string("version")?,
    );
    // Deleting a type that is not there succeeds, as on AWS.
    app.runner.state().action_types().delete(&id)?;
    empty()
}

/// GetActionType's ActionTypeDeclaration of a built-in or registered type.
pub fn get(app: &App, _caller: &Caller, input: Input) -> Reply {
    let (category, owner, provider, version) = (
        input.string("category")?,
        input.string("owner")?,
        input.string("provider")?,
        input.string("version")?,
    );
    let text = key(&category, &owner, &provider, &version);
    let not_found = || {
        AwsError::new(
            "ActionTypeNotFoundException",
            format!("the action type {text} does not exist"),
        )
    };
    let id: ActionTypeId = text.parse().map_err(|_| not_found())?;
    let shown = if served_types(app).contains(&id) {
        served(app, &id)
    } else {
        let stored = app
            .runner
            .state()
            .action_types()
            .get(&text)?
            .ok_or_else(not_found)?;
        serde_json::from_str(&stored).unwrap_or_default()
    };
    let properties: Vec<Value> = shown["actionConfigurationProperties"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|p| {
            json!({
                "name": p["name"],
                "optional": !p["required"].as_bool().unwrap_or(false),
                "key": p["key"].as_bool().unwrap_or(false),
                "noEcho": p["secret"].as_bool().unwrap_or(false),
                "queryable": p["queryable"].as_bool().unwrap_or(false),
                "description": p.get("description").cloned().unwrap_or(Value::Null),
            })
        })
        .collect();
    let executor_kind = if owner == "Custom" {
        "JobWorker"
    } else {
        "Lambda"
    };
    Ok(json!({
        "actionType": {
            "id": {"category": category, "owner": owner, "provider": provider, "version": version},
            "executor": {"type": executor_kind, "configuration": {}},
            "inputArtifacts": shown["inputArtifactDetails"],
            "outputArtifacts": shown["outputArtifactDetails"],
            "properties": properties,
        }
    }))
}

/// UpdateActionType: a registered custom type's artifact counts and properties.
pub fn update(app: &App, _caller: &Caller, input: Input) -> Reply {
    let declared = input.0.get("actionType").cloned().unwrap_or_default();
    let id = &declared["id"];
    let part = |name: &str| id[name].as_str().unwrap_or_default().to_string();
    let text = key(
        &part("category"),
        &part("owner"),
        &part("provider"),
        &part("version"),
    );
    let types = app.runner.state().action_types();
    let Some(stored) = types.get(&text)? else {
        return Err(AwsError::new(
            "ActionTypeNotFoundException",
            format!(
                "the action type {text} does not exist (only registered custom types can be updated)"
            ),
        ));
    };
    let mut stored: Value = serde_json::from_str(&stored).unwrap_or_default();
    for (from, to) in [
        ("inputArtifacts", "inputArtifactDetails"),
        ("outputArtifacts", "outputArtifactDetails"),
    ] {
        if let Some(value) = declared.get(from) {
            stored[to] = value.clone();
        }
    }
    if let Some(properties) = declared.get("properties").and_then(Value::as_array) {
        stored["actionConfigurationProperties"] = Value::Array(
            properties
                .iter()
                .map(|p| {
                    json!({
                        "name": p["name"],
                        "required": !p["optional"].as_bool().unwrap_or(true),
                        "key": p["key"],
                        "secret": p["noEcho"],
                        "queryable": p.get("queryable").cloned().unwrap_or(json!(false)),
                        "description": p.get("description").cloned().unwrap_or(Value::Null),
                    })
                })
                .collect(),
        );
    }
    types.update(&text, &stored.to_string())?;
    empty()
}

/// ListRuleTypes: the condition rules the engine evaluates.
pub fn list_rule_types(_app: &App, _caller: &Caller, input: Input) -> Reply {
    if let Some(owner) = input.optional_string("ruleOwnerFilter")?
        && owner != "AWS"
    {
        return Ok(json!({ "ruleTypes": [] }));
    }
    let rule = |provider: &str, properties: Value| {
        json!({
            "id": {"category": "Rule", "owner": "AWS", "provider": provider, "version": "1"},
            "ruleConfigurationProperties": properties,
            "inputArtifactDetails": {"minimumCount": 0, "maximumCount": 1},
        })
    };
    Ok(json!({
        "ruleTypes": [
            rule("VariableCheck", json!([
                {"name": "Variable", "required": true, "key": true, "secret": false},
                {"name": "Value", "required": true, "key": false, "secret": false},
                {"name": "Operator", "required": true, "key": false, "secret": false},
            ])),
        ]
    }))
}
