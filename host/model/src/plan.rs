//! The execution plan: what runs in which order. Pure data, computed before anything runs.

use crate::declaration::PipelineDeclaration;

/// Stages in declaration order; inside each, groups of actions by ascending runOrder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionPlan {
    pub stages: Vec<StagePlan>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagePlan {
    /// Index into `PipelineDeclaration::stages`.
    pub stage: usize,
    pub groups: Vec<RunGroup>,
}

/// Actions of one stage sharing a runOrder: they run concurrently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunGroup {
    pub run_order: u32,
    /// Indices into the stage's `actions`, in declaration order.
    pub actions: Vec<usize>,
}

pub fn plan(pipeline: &PipelineDeclaration) -> ExecutionPlan {
    let stages = pipeline
        .stages
        .iter()
        .enumerate()
        .map(|(stage_index, stage)| {
            let mut orders: Vec<u32> = stage.actions.iter().map(|a| a.run_order()).collect();
            orders.sort_unstable();
            orders.dedup();
            let groups = orders
                .into_iter()
                .map(|run_order| RunGroup {
                    run_order,
                    actions: stage
                        .actions
                        .iter()
                        .enumerate()
                        .filter(|(_, a)| a.run_order() == run_order)
                        .map(|(i, _)| i)
                        .collect(),
                })
                .collect();
            StagePlan {
                stage: stage_index,
                groups,
            }
        })
        .collect();
    ExecutionPlan { stages }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::parse_document;

    #[test]
    fn groups_by_run_order_keeping_declaration_order() {
        let json = r#"{"name":"p","stages":[
          {"name":"Source","actions":[{"name":"S","actionTypeId":{"category":"Source","owner":"AWS","provider":"S3","version":"1"}}]},
          {"name":"Deploy","actions":[
            {"name":"late","runOrder":5,"actionTypeId":{"category":"Deploy","owner":"AWS","provider":"S3","version":"1"}},
            {"name":"b","actionTypeId":{"category":"Deploy","owner":"AWS","provider":"S3","version":"1"}},
            {"name":"a","runOrder":1,"actionTypeId":{"category":"Deploy","owner":"AWS","provider":"S3","version":"1"}}]}]}"#;
        let pipeline = parse_document("p.json", json, false).unwrap().pipeline;
        let plan = plan(&pipeline);
        assert_eq!(plan.stages.len(), 2);
        assert_eq!(
            plan.stages[1].groups,
            vec![
                RunGroup {
                    run_order: 1,
                    actions: vec![1, 2]
                },
                RunGroup {
                    run_order: 5,
                    actions: vec![0]
                },
            ]
        );
    }
}
