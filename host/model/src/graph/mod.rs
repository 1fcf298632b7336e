//! A picture of a pipeline: stages in order, actions grouped by runOrder, and the artifacts
//! flowing between actions — as terminal text, Mermaid, Graphviz DOT or SVG.

mod svg;

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::declaration::{ExecutionMode, PipelineDeclaration, PipelineType};
use crate::plan::plan;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphFormat {
    Text,
    Mermaid,
    Dot,
    /// A standalone SVG file.
    Svg,
}

pub fn render(pipeline: &PipelineDeclaration, format: GraphFormat) -> String {
    render_with(pipeline, format, &Notes::new())
}

/// A note for an action, by (stage index, action index): how it would run here, say.
pub type Notes = BTreeMap<(usize, usize), String>;

/// [`render`], each action with its note.
pub fn render_with(pipeline: &PipelineDeclaration, format: GraphFormat, notes: &Notes) -> String {
    match format {
        GraphFormat::Text => text(pipeline, notes),
        GraphFormat::Mermaid => mermaid(pipeline, notes),
        GraphFormat::Dot => dot(pipeline, notes),
        GraphFormat::Svg => svg::svg(pipeline, notes, true),
    }
}

/// The SVG drawing without its own `<style>`, for a page whose stylesheet styles its classes
/// (`sp-graph`, `sp-stage`, `sp-action`, `sp-edge`, `sp-label`, `sp-muted`, …).
pub fn svg_unstyled(pipeline: &PipelineDeclaration, notes: &Notes) -> String {
    svg::svg(pipeline, notes, false)
}

/// An artifact edge: producer (stage, action) → consumer (stage, action), artifact name.
type Edge = ((usize, usize), (usize, usize), String);

fn artifact_edges(pipeline: &PipelineDeclaration) -> Vec<Edge> {
    let mut producers: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (s, stage) in pipeline.stages.iter().enumerate() {
        for (a, action) in stage.actions.iter().enumerate() {
            for output in &action.output_artifacts {
                producers.entry(output.name.as_str()).or_insert((s, a));
            }
        }
    }
    let mut edges = Vec::new();
    for (s, stage) in pipeline.stages.iter().enumerate() {
        for (a, action) in stage.actions.iter().enumerate() {
            for input in &action.input_artifacts {
                if let Some(&from) = producers.get(input.name.as_str()) {
                    edges.push((from, (s, a), input.name.clone()));
                }
            }
        }
    }
    edges
}

fn header(pipeline: &PipelineDeclaration) -> String {
    format!(
        "{} ({:?}, {})",
        pipeline.name,
        pipeline.pipeline_type.unwrap_or(PipelineType::V1),
        match pipeline.execution_mode.unwrap_or_default() {
            ExecutionMode::Queued => "QUEUED",
            ExecutionMode::Superseded => "SUPERSEDED",
            ExecutionMode::Parallel => "PARALLEL",
        }
    )
}

fn text(pipeline: &PipelineDeclaration, notes: &Notes) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", header(pipeline));
    let plan = plan(pipeline);
    // Columns line up across the whole pipeline.
    let name_width = pipeline
        .actions()
        .map(|(_, a)| a.name.chars().count())
        .max()
        .unwrap_or(0);
    let type_width = pipeline
        .actions()
        .map(|(_, a)| a.action_type_id.to_string().len())
        .max()
        .unwrap_or(0);
    for (index, stage_plan) in plan.stages.iter().enumerate() {
        let stage = &pipeline.stages[stage_plan.stage];
        let last_stage = index + 1 == plan.stages.len();
        let corner = match (index, last_stage) {
            (0, _) => "┌─",
            (_, true) => "└─",
            _ => "├─",
        };
        let _ = writeln!(out, "{corner} {}", stage.name);
        let rail = if last_stage { "  " } else { "│ " };
        for group in &stage_plan.groups {
            for (position, &a) in group.actions.iter().enumerate() {
                let action = &stage.actions[a];
                let order = if position == 0 {
                    format!("{:>3}", group.run_order)
                } else {
                    "   ".to_string()
                };
                let parallel = if group.actions.len() > 1 { "║" } else { "·" };
                let inputs: Vec<&str> = action
                    .input_artifacts
                    .iter()
                    .map(|i| i.name.as_str())
                    .collect();
                let outputs: Vec<&str> = action
                    .output_artifacts
                    .iter()
                    .map(|o| o.name.as_str())
                    .collect();
                let mut flow = match (inputs.is_empty(), outputs.is_empty()) {
                    (true, true) => String::new(),
                    (true, false) => format!("→ {}", outputs.join(", ")),
                    (false, true) => format!("{} →", inputs.join(", ")),
                    (false, false) => format!("{} → {}", inputs.join(", "), outputs.join(", ")),
                };
                if let Some(note) = notes.get(&(stage_plan.stage, a)) {
                    flow = if flow.is_empty() {
                        format!("[{note}]")
                    } else {
                        format!("{flow}  [{note}]")
                    };
                }
                let _ = writeln!(
                    out,
                    "{rail}{order} {parallel} {:<name_width$}  {:<type_width$}  {flow}",
                    action.name,
                    action.action_type_id.to_string()
                );
            }
        }
        if !last_stage {
            let _ = writeln!(out, "│");
        }
    }
    out.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn mermaid_text(text: &str) -> String {
    text.replace('"', "#quot;")
}

fn mermaid(pipeline: &PipelineDeclaration, notes: &Notes) -> String {
    let mut out = String::from("flowchart LR\n");
    let _ = writeln!(out, "  %% {}", mermaid_text(&header(pipeline)));
    for (s, stage) in pipeline.stages.iter().enumerate() {
        let _ = writeln!(out, "  subgraph s{s}[\"{}\"]", mermaid_text(&stage.name));
        let _ = writeln!(out, "    direction TB");
        for (a, action) in stage.actions.iter().enumerate() {
            let note = notes
                .get(&(s, a))
                .map(|n| format!("<br/><small>{}</small>", mermaid_text(n)))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "    s{s}a{a}[\"{}. {}<br/><small>{}</small>{note}\"]",
                action.run_order(),
                mermaid_text(&action.name),
                mermaid_text(&action.action_type_id.to_string())
            );
        }
        let _ = writeln!(out, "  end");
    }
    for s in 1..pipeline.stages.len() {
        let _ = writeln!(out, "  s{} ==> s{s}", s - 1);
    }
    for ((fs, fa), (ts, ta), artifact) in artifact_edges(pipeline) {
        let _ = writeln!(
            out,
            "  s{fs}a{fa} -- \"{}\" --> s{ts}a{ta}",
            mermaid_text(&artifact)
        );
    }
    out
}

fn dot_text(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

fn dot(pipeline: &PipelineDeclaration, notes: &Notes) -> String {
    let mut out = String::from("digraph pipeline {\n");
    let _ = writeln!(out, "  label=\"{}\";", dot_text(&header(pipeline)));
    let _ = writeln!(
        out,
        "  rankdir=LR;\n  compound=true;\n  node [shape=box, style=rounded];"
    );
    for (s, stage) in pipeline.stages.iter().enumerate() {
        let _ = writeln!(out, "  subgraph cluster_s{s} {{");
        let _ = writeln!(out, "    label=\"{}\";", dot_text(&stage.name));
        for (a, action) in stage.actions.iter().enumerate() {
            let note = notes
                .get(&(s, a))
                .map(|n| format!("\\n{}", dot_text(n)))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "    s{s}a{a} [label=\"{}. {}\\n{}{note}\"];",
                action.run_order(),
                dot_text(&action.name),
                dot_text(&action.action_type_id.to_string())
            );
        }
        let _ = writeln!(out, "  }}");
    }
    // Stage order, drawn between the clusters' first actions.
    for s in 1..pipeline.stages.len() {
        if !pipeline.stages[s - 1].actions.is_empty() && !pipeline.stages[s].actions.is_empty() {
            let _ = writeln!(
                out,
                "  s{}a0 -> s{s}a0 [ltail=cluster_s{}, lhead=cluster_s{s}, style=bold, color=gray];",
                s - 1,
                s - 1
            );
        }
    }
    for ((fs, fa), (ts, ta), artifact) in artifact_edges(pipeline) {
        let _ = writeln!(
            out,
            "  s{fs}a{fa} -> s{ts}a{ta} [label=\"{}\"];",
            dot_text(&artifact)
        );
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::parse_document;

    const PIPELINE: &str = r#"{"name":"app","stages":[
      {"name":"Source","actions":[{"name":"Code","actionTypeId":{"category":"Source","owner":"AWS","provider":"S3","version":"1"},"outputArtifacts":[{"name":"Src"}]}]},
      {"name":"Build","actions":[
        {"name":"Linux","actionTypeId":{"category":"Build","owner":"AWS","provider":"CodeBuild","version":"1"},"inputArtifacts":[{"name":"Src"}],"outputArtifacts":[{"name":"Bin"}]},
        {"name":"Lint","actionTypeId":{"category":"Test","owner":"AWS","provider":"CodeBuild","version":"1"},"inputArtifacts":[{"name":"Src"}]},
        {"name":"Package","runOrder":2,"actionTypeId":{"category":"Build","owner":"AWS","provider":"CodeBuild","version":"1"},"inputArtifacts":[{"name":"Bin"}],"outputArtifacts":[{"name":"Pkg"}]}]}]}"#;

    fn pipeline() -> PipelineDeclaration {
        parse_document("p.json", PIPELINE, false).unwrap().pipeline
    }

    #[test]
    fn text_shows_stages_run_order_groups_and_artifacts() {
        assert_eq!(
            render(&pipeline(), GraphFormat::Text),
            "app (V1, SUPERSEDED)
┌─ Source
│   1 · Code     Source/AWS/S3/1        → Src
│
└─ Build
    1 ║ Linux    Build/AWS/CodeBuild/1  Src → Bin
      ║ Lint     Test/AWS/CodeBuild/1   Src →
    2 · Package  Build/AWS/CodeBuild/1  Bin → Pkg
"
        );
    }

    #[test]
    fn mermaid_and_dot_draw_the_artifact_flow() {
        let mermaid = render(&pipeline(), GraphFormat::Mermaid);
        assert!(mermaid.starts_with("flowchart LR\n"));
        assert!(mermaid.contains("  s0a0 -- \"Src\" --> s1a0\n"));
        assert!(mermaid.contains("  s1a0 -- \"Bin\" --> s1a2\n"));
        assert!(mermaid.contains("  s0 ==> s1\n"));
        let dot = render(&pipeline(), GraphFormat::Dot);
        assert!(dot.contains("  s0a0 -> s1a1 [label=\"Src\"];\n"));
        assert!(dot.contains("subgraph cluster_s1 {"));
        assert!(dot.ends_with("}\n"));
    }

    #[test]
    fn svg_draws_a_box_per_action_and_a_curve_per_artifact_reader() {
        let svg = render(&pipeline(), GraphFormat::Svg);
        assert!(
            svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
            "{svg}"
        );
        assert!(svg.contains("<style>"));
        assert_eq!(svg.matches("class=\"sp-action\"").count(), 4);
        assert_eq!(svg.matches("class=\"sp-stage\"").count(), 2);
        // Src is read twice, Bin once.
        assert_eq!(svg.matches("class=\"sp-edge\"").count(), 3);
        assert!(svg.contains(">run 2</text>"));
        assert!(!svg_unstyled(&pipeline(), &Notes::new()).contains("<style>"));
    }

    #[test]
    fn svg_escapes_names_and_cuts_long_ones() {
        let mut pipeline = pipeline();
        pipeline.stages[0].name = "A<b>&\"c\"".into();
        pipeline.stages[1].actions[0].name = "x".repeat(100);
        let notes = Notes::from([((1, 1), "<i>double</i>".to_string())]);
        let svg = render_with(&pipeline, GraphFormat::Svg, &notes);
        assert!(svg.contains("A&lt;b&gt;&amp;&quot;c&quot;"), "{svg}");
        assert!(!svg.contains("<b>") && !svg.contains("<i>"));
        assert!(svg.contains(&format!(">{}…</text>", "x".repeat(26))));
        assert!(svg.contains(&format!(
            "<title>{}\nBuild/AWS/CodeBuild/1</title>",
            "x".repeat(100)
        )));
        assert!(svg.contains("&lt;i&gt;double&lt;/i&gt;</text>"));
    }
}
