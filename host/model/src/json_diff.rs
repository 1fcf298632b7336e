//! A structural diff of two JSON documents — two versions of a pipeline declaration: every
//! path whose value was added, removed or changed. Arrays of objects that carry a `name`
//! (stages, actions, artifacts, variables) are matched by name, so inserting a stage reads as
//! one stage added, not as every later stage changed.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;

/// One difference: `before` absent for an addition, `after` absent for a removal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JsonChange {
    /// `stages[Build].actions[Compile].configuration.ProjectName`.
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
}

/// Every difference between `before` and `after`, in document order.
pub fn json_diff(before: &Value, after: &Value) -> Vec<JsonChange> {
    let mut changes = Vec::new();
    walk("", before, after, &mut changes);
    changes
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn walk(path: &str, before: &Value, after: &Value, changes: &mut Vec<JsonChange>) {
    match (before, after) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                let here = join(path, key);
                match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => walk(&here, x, y, changes),
                    (x, y) => changes.push(JsonChange {
                        path: here,
                        before: x.cloned(),
                        after: y.cloned(),
                    }),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if named(a) && named(b) => {
            let name = |v: &Value| v["name"].as_str().unwrap_or_default().to_string();
            for x in a {
                let here = format!("{path}[{}]", name(x));
                match b.iter().find(|y| name(y) == name(x)) {
                    Some(y) => walk(&here, x, y, changes),
                    None => changes.push(JsonChange {
                        path: here,
                        before: Some(x.clone()),
                        after: None,
                    }),
                }
            }
            for y in b.iter().filter(|y| !a.iter().any(|x| name(x) == name(y))) {
                changes.push(JsonChange {
                    path: format!("{path}[{}]", name(y)),
                    before: None,
                    after: Some(y.clone()),
                });
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for i in 0..a.len().max(b.len()) {
                let here = format!("{path}[{i}]");
                match (a.get(i), b.get(i)) {
                    (Some(x), Some(y)) => walk(&here, x, y, changes),
                    (x, y) => changes.push(JsonChange {
                        path: here,
                        before: x.cloned(),
                        after: y.cloned(),
                    }),
                }
            }
        }
        (x, y) if x != y => changes.push(JsonChange {
            path: path.to_string(),
            before: Some(x.clone()),
            after: Some(y.clone()),
        }),
        _ => {}
    }
}

/// Whether every element is an object with a distinct string `name`.
fn named(items: &[Value]) -> bool {
    let mut seen = BTreeSet::new();
    items
        .iter()
        .all(|item| item["name"].as_str().is_some_and(|name| seen.insert(name)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn named_elements_are_matched_by_name() {
        let before = json!({"stages": [
            {"name": "Source", "actions": [{"name": "A", "configuration": {"K": "1"}}]},
            {"name": "Build", "actions": []}]});
        let after = json!({"stages": [
            {"name": "Source", "actions": [{"name": "A", "configuration": {"K": "2", "N": "x"}}]},
            {"name": "Test", "actions": []},
            {"name": "Build", "actions": []}]});
        let changes = json_diff(&before, &after);
        let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "stages[Source].actions[A].configuration.K",
                "stages[Source].actions[A].configuration.N",
                "stages[Test]"
            ]
        );
        assert_eq!(changes[0].before, Some(json!("1")));
        assert_eq!(changes[1].before, None);
        assert!(json_diff(&before, &before).is_empty());
    }

    #[test]
    fn unnamed_arrays_compare_by_position() {
        let changes = json_diff(&json!({"c": ["a", "b"]}), &json!({"c": ["a"]}));
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].path, "c[1]");
        assert_eq!(changes[0].after, None);
    }
}
