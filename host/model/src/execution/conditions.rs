//! Stage conditions (beforeEntry, onSuccess, onFailure): every rule of every condition must
//! pass. Only the `VariableCheck` rule can be evaluated locally; the others need AWS services
//! and fail, saying so.

use crate::declaration::{Condition, ConditionResult, RuleDeclaration};
use crate::execution::scope::VariableScope;

/// How a list of conditions turned out: one note per rule evaluated (the engine shows them),
/// and the result of the condition that failed, if one did.
#[derive(Debug, Clone, PartialEq)]
pub struct ConditionCheck {
    pub notes: Vec<String>,
    pub failed: Option<ConditionResult>,
    /// Each rule evaluated, in order: the rule, whether it passed, and what was found.
    pub rules: Vec<(RuleDeclaration, bool, String)>,
}

/// Evaluate `conditions` of kind `kind` (`beforeEntry`, `onSuccess`) until one fails.
pub fn check_conditions(
    kind: &str,
    conditions: &[Condition],
    scope: &VariableScope,
) -> ConditionCheck {
    let mut notes = Vec::new();
    let mut rules = Vec::new();
    for condition in conditions {
        let result = condition.result.unwrap_or(ConditionResult::Fail);
        for rule in condition.rules.as_deref().unwrap_or_default() {
            match evaluate_rule(rule, scope) {
                Ok(what) => {
                    notes.push(format!("{kind} rule '{}' passed: {what}", rule.name));
                    rules.push((rule.clone(), true, what));
                }
                Err(why) => {
                    notes.push(format!(
                        "{kind} rule '{}' failed ({result:?}): {why}",
                        rule.name
                    ));
                    rules.push((rule.clone(), false, why));
                    return ConditionCheck {
                        notes,
                        failed: Some(result),
                        rules,
                    };
                }
            }
        }
    }
    ConditionCheck {
        notes,
        failed: None,
        rules,
    }
}

/// VariableCheck: compare a resolved variable with a value; what held, or why not.
pub fn evaluate_rule(rule: &RuleDeclaration, scope: &VariableScope) -> Result<String, String> {
    if rule.rule_type_id.provider != "VariableCheck" {
        return Err(format!(
            "rule provider {} cannot be evaluated locally",
            rule.rule_type_id.provider
        ));
    }
    let resolved = scope
        .resolve(&rule.configuration)
        .map_err(|unresolved| unresolved.to_string())?;
    let field = |name: &str| resolved.get(name).cloned().unwrap_or_default();
    let (variable, value, operator) = (field("Variable"), field("Value"), field("Operator"));
    let holds = match operator.as_str() {
        "EQ" => variable == value,
        "NE" => variable != value,
        "CONTAINS" => variable.contains(&value),
        "MATCHES" => regex::Regex::new(&value)
            .map_err(|e| format!("'{value}' is not a regular expression: {e}"))?
            .is_match(&variable),
        other => return Err(format!("unknown operator '{other}'")),
    };
    let description = format!("'{variable}' {operator} '{value}'");
    if holds {
        Ok(description)
    } else {
        Err(format!("{description} does not hold"))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn rule(name: &str, provider: &str, config: &[(&str, &str)]) -> RuleDeclaration {
        serde_json::from_value(serde_json::json!({
            "name": name,
            "ruleTypeId": {"category": "Rule", "owner": "AWS", "provider": provider, "version": "1"},
            "configuration": config.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
        }))
        .unwrap()
    }

    #[test]
    fn the_first_failing_rule_decides() {
        let scope = VariableScope::new("e", BTreeMap::from([("Env".into(), "prod".into())]));
        let passing = rule(
            "env",
            "VariableCheck",
            &[
                ("Variable", "#{variables.Env}"),
                ("Operator", "EQ"),
                ("Value", "prod"),
            ],
        );
        let failing = rule(
            "pattern",
            "VariableCheck",
            &[
                ("Variable", "#{variables.Env}"),
                ("Operator", "MATCHES"),
                ("Value", "^dev"),
            ],
        );
        let conditions = vec![Condition {
            result: Some(ConditionResult::Skip),
            rules: Some(vec![
                passing,
                failing,
                rule("alarm", "CloudWatchAlarm", &[]),
            ]),
        }];
        let check = check_conditions("beforeEntry", &conditions, &scope);
        assert_eq!(check.failed, Some(ConditionResult::Skip));
        assert_eq!(
            check.notes,
            [
                "beforeEntry rule 'env' passed: 'prod' EQ 'prod'",
                "beforeEntry rule 'pattern' failed (Skip): 'prod' MATCHES '^dev' does not hold",
            ]
        );
        let alarm = evaluate_rule(&rule("alarm", "CloudWatchAlarm", &[]), &scope);
        assert_eq!(
            alarm.unwrap_err(),
            "rule provider CloudWatchAlarm cannot be evaluated locally"
        );
    }
}
