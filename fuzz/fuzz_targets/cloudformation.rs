//! The CloudFormation resolver and converter: templates (JSON, or YAML with the short-form
//! tags) with an `AWS::CodePipeline::Pipeline` resource, through the loader's public entry
//! point. Inputs that are not template-shaped (no `Resources` or `AWSTemplateFormatVersion`
//! at the top) are rejected, so the whole run goes to the resolver; the `declaration` target
//! covers the other shapes.
//!
//! The first byte chooses the format (bit 0: YAML) and the options: bit 1 asks for the last
//! resource by name as `--pipeline`, bits 2-3 choose the value given for every declared
//! parameter (none, `""`, `x`, `a,b`), bit 4 chooses the region.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::{Corpus, fuzz_target};
use sandpipe_fuzz::{exercise, format_and_text};
use sandpipe_model::cloudformation::is_template;
use sandpipe_model::{TemplateOptions, parse_document_with};

/// The top-level keys of `Parameters` and `Resources`, or `None` when the text is not a
/// template (or not parseable, which the loader reports without reaching the resolver).
fn template_keys(text: &str, yaml: bool) -> Option<(Vec<String>, Vec<String>)> {
    let value: serde_json::Value = if yaml {
        let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).ok()?;
        // Only the shape matters here: tags and odd keys are the loader's to judge.
        let mapping = value.as_mapping()?;
        let keys = |name: &str| -> Vec<String> {
            mapping
                .get(name)
                .and_then(serde_yaml_ng::Value::as_mapping)
                .map(|m| {
                    m.keys()
                        .filter_map(|k| k.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        if !mapping.contains_key("Resources") && !mapping.contains_key("AWSTemplateFormatVersion") {
            return None;
        }
        return Some((keys("Parameters"), keys("Resources")));
    } else {
        serde_json::from_str(text).ok()?
    };
    if !is_template(&value) {
        return None;
    }
    let keys = |name: &str| -> Vec<String> {
        value
            .get(name)
            .and_then(serde_json::Value::as_object)
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    Some((keys("Parameters"), keys("Resources")))
}

fuzz_target!(|data: &[u8]| -> Corpus {
    let Some((mode, yaml, text)) = format_and_text(data) else {
        return Corpus::Reject;
    };
    let Some((parameters, resources)) = template_keys(text, yaml) else {
        return Corpus::Reject;
    };
    let value = match (mode >> 2) & 3 {
        0 => None,
        1 => Some(""),
        2 => Some("x"),
        _ => Some("a,b"),
    };
    let options = TemplateOptions {
        parameters: value
            .map(|value| {
                parameters
                    .into_iter()
                    .map(|name| (name, value.to_string()))
                    .collect()
            })
            .unwrap_or_else(BTreeMap::new),
        pipeline: (mode & 2 != 0).then(|| resources.last().cloned()).flatten(),
        region: if mode & 16 != 0 {
            "eu-west-1".into()
        } else {
            String::new()
        },
    };
    match parse_document_with("fuzz.template", text, yaml, &options) {
        Ok(loaded) => exercise(&loaded),
        Err(error) => {
            let _ = error.to_string();
        }
    }
    Corpus::Keep
});
