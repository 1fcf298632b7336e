//! Test report files parsed into cases: JUnit XML (what most tools write, and CodeBuild's
//! default) and Cucumber JSON. Formats not parsed here are reported as such, not ignored.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use sandpipe_action_sdk::reports::{TestCase, TestStatus};
use serde::Deserialize;

/// Formats CodeBuild accepts and sandpipe parses.
pub const PARSED: &[&str] = &["JUNITXML", "CUCUMBERJSON"];
/// Formats CodeBuild accepts (test and coverage).
pub const KNOWN: &[&str] = &[
    "JUNITXML",
    "CUCUMBERJSON",
    "NUNITXML",
    "NUNIT3XML",
    "TESTNGXML",
    "VISUALSTUDIOTRX",
    "CLOVERXML",
    "COBERTURAXML",
    "JACOCOXML",
    "SIMPLECOV",
];

pub fn parse(format: &str, content: &str) -> Result<Vec<TestCase>, String> {
    match format {
        "JUNITXML" => parse_junit(content),
        "CUCUMBERJSON" => parse_cucumber(content),
        other => Err(format!("file-format {other} is not parsed by sandpipe")),
    }
}

fn attribute(element: &BytesStart<'_>, name: &[u8]) -> Option<String> {
    element
        .attributes()
        .flatten()
        .find(|a| a.key.as_ref() == name)
        .and_then(|a| a.unescape_value().ok())
        .map(|v| v.into_owned())
}

fn seconds_to_ms(text: Option<String>) -> Option<u64> {
    let seconds: f64 = text?.trim().replace(',', "").parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| (seconds * 1000.0).round() as u64)
}

/// JUnit XML: `<testsuites>`/`<testsuite>`/`<testcase>` with `<failure>`, `<error>` or
/// `<skipped>` children.
pub fn parse_junit(content: &str) -> Result<Vec<TestCase>, String> {
    let mut reader = Reader::from_str(content);
    let mut cases = Vec::new();
    let mut suites: Vec<Option<String>> = Vec::new();
    let mut current: Option<TestCase> = None;
    // Inside <failure>/<error>: collect the text as the message when there is no attribute.
    let mut collecting = false;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("not valid XML at byte {}: {e}", reader.error_position()))?;
        match event {
            Event::Start(element) if element.name().as_ref() == b"testsuite" => {
                suites.push(attribute(&element, b"name"));
            }
            Event::Start(element) if element.name().as_ref() == b"testcase" => {
                current = Some(new_case(&element, suites.last().cloned().flatten()));
            }
            Event::Empty(element) if element.name().as_ref() == b"testcase" => {
                cases.push(new_case(&element, suites.last().cloned().flatten()));
            }
            Event::Start(element) | Event::Empty(element) => {
                if let Some(case) = current.as_mut() {
                    let status = match element.name().as_ref() {
                        b"failure" => Some(TestStatus::Failed),
                        b"error" => Some(TestStatus::Error),
                        b"skipped" => Some(TestStatus::Skipped),
                        _ => None,
                    };
                    if let Some(status) = status {
                        // A failure outranks a skip; the first failure or error stays.
                        if !matches!(case.status, TestStatus::Failed | TestStatus::Error) {
                            case.status = status;
                        }
                        if case.message.is_none() {
                            case.message = attribute(&element, b"message");
                        }
                        collecting = case.message.is_none()
                            && matches!(status, TestStatus::Failed | TestStatus::Error);
                    }
                }
            }
            Event::Text(text) if collecting => {
                if let (Some(case), Ok(text)) = (current.as_mut(), text.decode()) {
                    let text = text.trim();
                    if !text.is_empty() {
                        case.message = Some(text.lines().next().unwrap_or(text).to_string());
                        collecting = false;
                    }
                }
            }
            Event::End(element) => match element.name().as_ref() {
                b"testcase" => {
                    if let Some(case) = current.take() {
                        cases.push(case);
                    }
                    collecting = false;
                }
                b"testsuite" => {
                    suites.pop();
                }
                b"failure" | b"error" => collecting = false,
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    if cases.is_empty() && !content.contains("testsuite") {
        return Err("no <testsuite> or <testcase> elements: is this a JUnit XML report?".into());
    }
    Ok(cases)
}

fn new_case(element: &BytesStart<'_>, suite: Option<String>) -> TestCase {
    TestCase {
        name: attribute(element, b"name").unwrap_or_else(|| "(unnamed)".into()),
        prefix: attribute(element, b"classname").or(suite),
        status: TestStatus::Succeeded,
        duration_ms: seconds_to_ms(attribute(element, b"time")),
        message: None,
    }
}

#[derive(Deserialize)]
struct Feature {
    name: Option<String>,
    #[serde(default)]
    elements: Vec<Scenario>,
}

#[derive(Deserialize)]
struct Scenario {
    name: Option<String>,
    #[serde(default)]
    steps: Vec<Step>,
}

#[derive(Deserialize)]
struct Step {
    result: Option<StepResult>,
}

#[derive(Deserialize)]
struct StepResult {
    status: String,
    /// Nanoseconds.
    duration: Option<f64>,
    error_message: Option<String>,
}

/// Cucumber JSON: features → scenarios (elements) → steps; a scenario fails if any step
/// failed, is skipped if any step was skipped, pending or undefined.
pub fn parse_cucumber(content: &str) -> Result<Vec<TestCase>, String> {
    let features: Vec<Feature> =
        serde_json::from_str(content).map_err(|e| format!("not Cucumber JSON: {e}"))?;
    let mut cases = Vec::new();
    for feature in features {
        for scenario in feature.elements {
            let mut status = TestStatus::Succeeded;
            let mut message = None;
            let mut nanos = 0.0;
            for step in &scenario.steps {
                let Some(result) = &step.result else { continue };
                nanos += result.duration.unwrap_or(0.0);
                match result.status.as_str() {
                    "passed" => {}
                    "failed" => {
                        status = TestStatus::Failed;
                        message = message.or(result.error_message.clone());
                    }
                    "skipped" | "pending" | "undefined" => {
                        if status == TestStatus::Succeeded {
                            status = TestStatus::Skipped;
                        }
                    }
                    _ => {
                        if status == TestStatus::Succeeded {
                            status = TestStatus::Unknown;
                        }
                    }
                }
            }
            cases.push(TestCase {
                name: scenario.name.unwrap_or_else(|| "(unnamed)".into()),
                prefix: feature.name.clone(),
                status,
                duration_ms: Some((nanos / 1e6).round() as u64),
                message,
            });
        }
    }
    Ok(cases)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junit_cases_with_failures_errors_and_skips() {
        let xml = r#"<?xml version="1.0"?>
<testsuites>
  <testsuite name="math" tests="4">
    <testcase name="adds" classname="math.add" time="0.012"/>
    <testcase name="divides" classname="math.div" time="1.5">
      <failure message="expected 2, got 3">trace</failure>
    </testcase>
    <testcase name="boom"><error>panicked here
at line 3</error></testcase>
    <testcase name="later"><skipped/></testcase>
  </testsuite>
</testsuites>"#;
        let cases = parse_junit(xml).unwrap();
        assert_eq!(cases.len(), 4);
        assert_eq!(cases[0].status, TestStatus::Succeeded);
        assert_eq!(cases[0].duration_ms, Some(12));
        assert_eq!(cases[0].prefix.as_deref(), Some("math.add"));
        assert_eq!(cases[1].status, TestStatus::Failed);
        assert_eq!(cases[1].message.as_deref(), Some("expected 2, got 3"));
        assert_eq!(cases[2].status, TestStatus::Error);
        assert_eq!(cases[2].message.as_deref(), Some("panicked here"));
        assert_eq!(cases[2].prefix.as_deref(), Some("math"));
        assert_eq!(cases[3].status, TestStatus::Skipped);
    }

    #[test]
    fn cucumber_scenarios() {
        let json = r#"[{"name":"Login","elements":[
            {"name":"ok","steps":[{"result":{"status":"passed","duration":1000000}}]},
            {"name":"bad","steps":[{"result":{"status":"passed"}},{"result":{"status":"failed","error_message":"nope"}}]},
            {"name":"todo","steps":[{"result":{"status":"undefined"}}]}]}]"#;
        let cases = parse_cucumber(json).unwrap();
        assert_eq!(cases.len(), 3);
        assert_eq!(cases[0].duration_ms, Some(1));
        assert_eq!(cases[1].status, TestStatus::Failed);
        assert_eq!(cases[1].message.as_deref(), Some("nope"));
        assert_eq!(cases[2].status, TestStatus::Skipped);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse_junit("<html><body/></html>").is_err());
        assert!(parse_cucumber("{").is_err());
    }
}
