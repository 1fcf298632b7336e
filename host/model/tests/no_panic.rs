//! Property tests: no input makes the loader, the template converter, the validator, the
//! planner or the graph renderer panic — whatever it is, the answer is a value or an error.

use std::path::Path;

use proptest::prelude::*;
use sandpipe_model::{GraphFormat, TemplateOptions, parse_document_with, plan, render};
use serde_json::Value;

/// Every valid corpus document, as JSON values (templates included), read once.
fn corpus() -> &'static [Value] {
    static CORPUS: std::sync::OnceLock<Vec<Value>> = std::sync::OnceLock::new();
    CORPUS.get_or_init(read_corpus)
}

fn read_corpus() -> Vec<Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/valid");
    let mut documents = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            documents.push(serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap());
        }
    }
    documents.sort_by_key(|d: &Value| d.to_string());
    documents
}

/// Run everything that reads a document; only panics can fail the test.
fn exercise(text: &str, yaml: bool) {
    let options = TemplateOptions {
        region: "us-east-1".into(),
        ..TemplateOptions::default()
    };
    if let Ok(loaded) = parse_document_with("fuzz", text, yaml, &options) {
        let _ = loaded.problems();
        let _ = plan(&loaded.pipeline);
        for format in [GraphFormat::Text, GraphFormat::Mermaid, GraphFormat::Dot] {
            let _ = render(&loaded.pipeline, format);
        }
    }
}

/// A JSON value of any shape, including the strings validation is sensitive to.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
        prop_oneof![
            Just("#{"),
            Just("#{a.b}"),
            Just("#{codepipeline.x}"),
            Just("${AWS::Region}"),
            Just("Source"),
            Just("AWS"),
            Just("S3"),
            Just("1"),
            Just(".."),
            Just("ü🦀\u{0}"),
        ]
        .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    ".{0,12}",
                    Just("Ref".to_string()),
                    Just("Fn::If".to_string()),
                    Just("Fn::Sub".to_string())
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    Replace(usize, Value),
    Remove(usize),
    Duplicate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any_json()).prop_map(|(at, v)| Mutation::Replace(at, v)),
        any::<usize>().prop_map(Mutation::Remove),
        any::<usize>().prop_map(Mutation::Duplicate),
    ]
}

/// Every position in a document: JSON pointers to each value.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                pointers(
                    v,
                    format!("{at}/{}", key.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                pointers(v, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn apply(document: &mut Value, mutation: &Mutation) {
    let mut all = Vec::new();
    pointers(document, String::new(), &mut all);
    let pick = |n: usize| all[n % all.len()].clone();
    match mutation {
        Mutation::Replace(at, value) => {
            if let Some(target) = document.pointer_mut(&pick(*at)) {
                *target = value.clone();
            }
        }
        Mutation::Remove(at) | Mutation::Duplicate(at) => {
            let pointer = pick(*at);
            let Some((parent, key)) = pointer.rsplit_once('/') else {
                return;
            };
            let key = key.replace("~1", "/").replace("~0", "~");
            match (document.pointer_mut(parent), mutation) {
                (Some(Value::Object(map)), Mutation::Remove(_)) => {
                    map.remove(&key);
                }
                (Some(Value::Array(items)), Mutation::Remove(_)) => {
                    if let Ok(i) = key.parse::<usize>() {
                        items.remove(i);
                    }
                }
                (Some(Value::Array(items)), Mutation::Duplicate(_)) => {
                    if let Some(item) = key
                        .parse::<usize>()
                        .ok()
                        .and_then(|i| items.get(i).cloned())
                    {
                        items.push(item);
                    }
                }
                _ => {}
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn mutated_corpus_documents_never_panic(
        base in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let mut document = base.get(corpus()).clone();
        for m in &mutations {
            apply(&mut document, m);
        }
        exercise(&document.to_string(), false);
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,400}", yaml in any::<bool>()) {
        exercise(&text, yaml);
    }

    #[test]
    fn arbitrary_json_never_panics(document in any_json()) {
        exercise(&document.to_string(), false);
        let wrapped = serde_json::json!({"pipeline": document.clone()});
        exercise(&wrapped.to_string(), false);
        let template = serde_json::json!({"Resources": {"P": {"Type": "AWS::CodePipeline::Pipeline", "Properties": document}}});
        exercise(&template.to_string(), false);
    }
}

#[test]
fn yaml_with_every_short_form_and_odd_shapes_never_panics() {
    let cases = [
        "Resources: {P: {Type: AWS::CodePipeline::Pipeline, Properties: !Ref P}}",
        "Resources: {P: {Type: AWS::CodePipeline::Pipeline, Properties: {Name: !Sub [x, !Ref y]}}}",
        "Resources: {P: {Type: AWS::CodePipeline::Pipeline, Properties: {Stages: !Split [',', 'a,b']}}}",
        "Resources: {P: {Type: AWS::CodePipeline::Pipeline, Properties: {Name: !Select [99, []]}}}",
        "Resources: {P: {Type: AWS::CodePipeline::Pipeline, Properties: {Name: !Select [-1, [a]]}}}",
        "Resources: {P: {Type: AWS::CodePipeline::Pipeline, Properties: {Name: !If [Nope, a, b]}}}",
        "Conditions: {C: !Condition C}\nResources: {P: {Type: AWS::CodePipeline::Pipeline, Properties: {Name: !If [C, a, b]}}}",
        "Resources: {P: {Type: AWS::CodePipeline::Pipeline, Properties: {Name: !GetAtt [P, !Ref AWS::Region]}}}",
        "Resources: {P: {Type: AWS::CodePipeline::Pipeline, Properties: {Name: !Base64 !Join ['', []]}}}",
        "Resources: {P: {Type: AWS::CodePipeline::Pipeline, Properties: {Name: !FindInMap [a]}}}",
        "a: &x [*x]",
        "? [a, b]\n: c",
        "<<: 5",
    ];
    for text in cases {
        exercise(text, true);
    }
}
