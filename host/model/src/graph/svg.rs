//! The graph as SVG: stages as columns from left to right, each runOrder group a column
//! inside its stage with parallel actions stacked, and each artifact a labelled curve from
//! the action that makes it to every action that reads it. Plain text out, every name
//! escaped, so the web console can inline it and `sandpipe graph --format svg` can write a
//! file a browser opens.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::{Notes, artifact_edges, header};
use crate::declaration::PipelineDeclaration;
use crate::plan::plan;
use crate::text::xml_escape as xml;

const MARGIN: u32 = 16;
const TITLE: u32 = 28;
/// A stage's name, then the run order over each group.
const STAGE_HEADER: u32 = 44;
const STAGE_PAD: u32 = 14;
const STAGE_GAP: u32 = 44;
const GROUP_GAP: u32 = 36;
const ROW_GAP: u32 = 14;
const BOX_W: u32 = 196;
const BOX_H: u32 = 44;
/// An action with a note gets a third line.
const NOTE_H: u32 = 16;
/// What fits in a box at 12px before the ellipsis; the whole text is in the `<title>`.
const BOX_CHARS: usize = 27;
/// Lanes under the stages for artifacts that skip a column.
const LANE_GAP: u32 = 14;
const LANE_H: u32 = 16;

/// Colours for a file opened on its own; the console's stylesheet styles the same classes
/// (its Content-Security-Policy forbids inline style, so it asks for none).
const STYLE: &str = "\
.sp-graph{font:12px system-ui,sans-serif}\
.sp-graph text{fill:#1d2330}\
.sp-graph .sp-muted{fill:#5b6472}\
.sp-stage{fill:#f4f5f7;stroke:#c9ced6}\
.sp-action{fill:#fff;stroke:#8a94a3}\
.sp-order{fill:none;stroke:#9aa3ae;stroke-width:3}\
.sp-edge{fill:none;stroke:#3f6fb5;stroke-width:1.5}\
.sp-arrow{fill:#3f6fb5}\
.sp-arrow-order{fill:#9aa3ae}\
.sp-graph .sp-label{fill:#2b4b7a;stroke:#fff;stroke-width:4px;paint-order:stroke}\
@media (prefers-color-scheme:dark){\
.sp-graph text{fill:#e3e6eb}.sp-graph .sp-muted{fill:#a3abb7}\
.sp-stage{fill:#1f242c;stroke:#3b434f}.sp-action{fill:#272d36;stroke:#5b6472}\
.sp-edge{stroke:#7fa7e0}.sp-arrow{fill:#7fa7e0}\
.sp-graph .sp-label{fill:#a9c6ef;stroke:#171a1f}}";

struct Placed {
    x: u32,
    y: u32,
    h: u32,
}

/// The pipeline as an SVG document; `styled` adds the `<style>` a standalone file needs.
pub(super) fn svg(pipeline: &PipelineDeclaration, notes: &Notes, styled: bool) -> String {
    let plan = plan(pipeline);
    let box_h = |s: usize, a: usize| {
        BOX_H
            + if notes.contains_key(&(s, a)) {
                NOTE_H
            } else {
                0
            }
    };

    // Place every action: x by stage and group, y by its place in the group.
    let mut placed: BTreeMap<(usize, usize), Placed> = BTreeMap::new();
    let mut stages = Vec::new();
    let mut x = MARGIN;
    let top = MARGIN + TITLE;
    let mut tallest = 0;
    for stage_plan in &plan.stages {
        let s = stage_plan.stage;
        let groups = stage_plan.groups.len().max(1) as u32;
        let width = 2 * STAGE_PAD + groups * BOX_W + (groups - 1) * GROUP_GAP;
        let mut runs = Vec::new();
        for (g, group) in stage_plan.groups.iter().enumerate() {
            let gx = x + STAGE_PAD + g as u32 * (BOX_W + GROUP_GAP);
            let mut y = top + STAGE_HEADER;
            for &a in &group.actions {
                let h = box_h(s, a);
                placed.insert((s, a), Placed { x: gx, y, h });
                y += h + ROW_GAP;
            }
            tallest = tallest.max(y - top);
            runs.push((gx, group.run_order));
        }
        stages.push((s, x, width, runs));
        x += width + STAGE_GAP;
    }
    let stage_h = tallest.max(STAGE_HEADER + BOX_H + ROW_GAP) + STAGE_PAD - ROW_GAP;
    let width = (x - STAGE_GAP + MARGIN).max(2 * MARGIN + BOX_W);
    // Each artifact reader, as (x1, y1) at the maker's right edge and (x2, y2) at the
    // reader's left edge; the ones that skip a column take a lane under the stages.
    let flows: Vec<_> = artifact_edges(pipeline)
        .into_iter()
        .filter_map(|(from, to, artifact)| {
            let (f, t) = (placed.get(&from)?, placed.get(&to)?);
            let ends = (f.x + BOX_W, f.y + f.h / 2, t.x, t.y + t.h / 2);
            Some((ends, artifact))
        })
        .collect();
    let adjacent = |x1: u32, x2: u32| x2 > x1 && x2 - x1 <= STAGE_GAP + 2 * STAGE_PAD;
    let long = flows
        .iter()
        .filter(|((x1, _, x2, _), _)| !adjacent(*x1, *x2))
        .count() as u32;
    let lanes_h = if long > 0 {
        LANE_GAP + long * LANE_H
    } else {
        0
    };
    let height = top + stage_h + lanes_h + MARGIN;

    let mut out = String::new();
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"sp-graph\" role=\"img\" \
         aria-labelledby=\"sp-graph-title\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\">\n<title id=\"sp-graph-title\">{}</title>\n",
        xml(&header(pipeline))
    );
    if styled {
        let _ = writeln!(out, "<style>{STYLE}</style>");
    }
    out.push_str(
        "<defs>\
         <marker id=\"sp-arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" \
         markerHeight=\"7\" orient=\"auto\"><path class=\"sp-arrow\" d=\"M0,0L10,5L0,10z\"/></marker>\
         <marker id=\"sp-arrow-order\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"5\" \
         markerHeight=\"5\" orient=\"auto\"><path class=\"sp-arrow-order\" d=\"M0,0L10,5L0,10z\"/></marker>\
         </defs>\n",
    );
    let _ = writeln!(
        out,
        "<text x=\"{MARGIN}\" y=\"{}\" font-weight=\"600\">{}</text>",
        MARGIN + 14,
        xml(&header(pipeline))
    );

    for (i, (s, sx, sw, runs)) in stages.iter().enumerate() {
        let stage = &pipeline.stages[*s];
        let _ = writeln!(
            out,
            "<g class=\"sp-stage-group\"><title>{}</title>\
             <rect class=\"sp-stage\" x=\"{sx}\" y=\"{top}\" width=\"{sw}\" height=\"{stage_h}\" rx=\"8\"/>\
             <text x=\"{}\" y=\"{}\" font-weight=\"600\">{}</text>",
            xml(&stage.name),
            sx + STAGE_PAD,
            top + 20,
            xml(&cut(
                &stage.name,
                BOX_CHARS * (*sw as usize) / BOX_W as usize
            ))
        );
        for (gx, run_order) in runs {
            let _ = writeln!(
                out,
                "<text class=\"sp-muted\" x=\"{gx}\" y=\"{}\">run {run_order}</text>",
                top + 36
            );
        }
        out.push_str("</g>\n");
        // Stages run one after the other.
        if i + 1 < stages.len() {
            let y = top + 16;
            let _ = writeln!(
                out,
                "<path class=\"sp-order\" marker-end=\"url(#sp-arrow-order)\" d=\"M{},{y}H{}\"/>",
                sx + sw + 4,
                sx + sw + STAGE_GAP - 6
            );
        }
    }

    for ((s, a), at) in &placed {
        let action = &pipeline.stages[*s].actions[*a];
        let kind = action.action_type_id.to_string();
        let mut title = format!("{}\n{kind}", action.name);
        let note = notes.get(&(*s, *a));
        if let Some(note) = note {
            let _ = write!(title, "\n{note}");
        }
        let _ = write!(
            out,
            "<g class=\"sp-node\" data-stage=\"{}\" data-action=\"{}\"><title>{}</title>\
             <rect class=\"sp-action\" x=\"{}\" y=\"{}\" width=\"{BOX_W}\" height=\"{}\" rx=\"5\"/>\
             <text x=\"{}\" y=\"{}\">{}</text>\
             <text class=\"sp-muted\" x=\"{}\" y=\"{}\">{}</text>",
            xml(&pipeline.stages[*s].name),
            xml(&action.name),
            xml(&title),
            at.x,
            at.y,
            at.h,
            at.x + 10,
            at.y + 18,
            xml(&cut(&action.name, BOX_CHARS)),
            at.x + 10,
            at.y + 35,
            xml(&cut(&kind, BOX_CHARS + 3))
        );
        if let Some(note) = note {
            let _ = write!(
                out,
                "<text class=\"sp-muted\" x=\"{}\" y=\"{}\" font-style=\"italic\">{}</text>",
                at.x + 10,
                at.y + 51,
                xml(&cut(note, BOX_CHARS + 3))
            );
        }
        out.push_str("</g>\n");
    }

    // Artifacts: from the right edge of the maker to the left edge of each reader — straight
    // across to the next column, or, when columns lie between, down to a lane of its own
    // under the stages so the curve never crosses another action.
    let mut lanes = 0;
    for ((x1, y1, x2, y2), artifact) in &flows {
        let (path, label_x, label_y) = if adjacent(*x1, *x2) {
            let bend = (x2 - x1) / 2;
            (
                format!("M{x1},{y1}C{},{y1} {},{y2} {x2},{y2}", x1 + bend, x2 - bend),
                (x1 + x2) / 2,
                (y1 + y2) / 2 - 4,
            )
        } else {
            let lane = top + stage_h + LANE_GAP + lanes * LANE_H;
            lanes += 1;
            (
                format!(
                    "M{x1},{y1}C{a},{y1} {a},{lane} {b},{lane}H{c}C{d},{lane} {d},{y2} {x2},{y2}",
                    a = x1 + 16,
                    b = x1 + 30,
                    c = x2.saturating_sub(30),
                    d = x2.saturating_sub(16),
                ),
                (x1 + x2) / 2,
                lane - 4,
            )
        };
        let _ = writeln!(
            out,
            "<g class=\"sp-flow\"><title>{}</title>\
             <path class=\"sp-edge\" marker-end=\"url(#sp-arrow)\" d=\"{path}\"/>\
             <text class=\"sp-label\" x=\"{label_x}\" y=\"{label_y}\" text-anchor=\"middle\">{}</text></g>",
            xml(artifact),
            xml(&cut(artifact, 20))
        );
    }
    out.push_str("</svg>\n");
    out
}

/// Text cut to `chars` characters, the last an ellipsis.
fn cut(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        return text.to_string();
    }
    let mut short: String = text.chars().take(chars.saturating_sub(1)).collect();
    short.push('…');
    short
}
