//! `sandpipe stacks`: the local CloudFormation stacks `Deploy/AWS/CloudFormation/1` actions
//! planned — each one's resolved parameters, resources and outputs. Nothing in them was
//! deployed anywhere.

use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;
use sandpipe_engine::StateStore;
use sandpipe_model::cloudformation::StackPlan;
use sandpipe_model::text::Escaped;

use crate::terminal::outln;

#[derive(Subcommand)]
pub enum StacksCommand {
    /// The stacks planned here.
    List,
    /// One stack's plan: parameters, resources, outputs, and what could not be resolved.
    Show {
        /// The StackName.
        name: String,
        /// The plan as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn stacks(state_dir: &Path, command: StacksCommand) -> anyhow::Result<ExitCode> {
    let state = StateStore::open(state_dir)?;
    let stacks = state.stacks();
    match command {
        StacksCommand::List => {
            let names = stacks.names()?;
            if names.is_empty() {
                outln!("no stacks planned here (a Deploy/AWS/CloudFormation/1 action plans one)");
            }
            for name in names {
                outln!("{}", Escaped(&name));
            }
        }
        StacksCommand::Show { name, json } => {
            let Some(stored) = stacks.get(&name)? else {
                anyhow::bail!("no stack '{name}' has been planned here (`sandpipe stacks list`)");
            };
            if json {
                outln!("{}", stored.plan);
                return Ok(ExitCode::SUCCESS);
            }
            let plan: StackPlan = serde_json::from_str(&stored.plan)?;
            outln!(
                "stack {} (planned {}; nothing was deployed to AWS)",
                Escaped(&plan.stack_name),
                stored.stored
            );
            outln!("parameters:");
            for (key, value) in &plan.parameters {
                outln!("  {} = {}", Escaped(key), Escaped(value));
            }
            outln!("resources:");
            for (id, resource) in &plan.resources {
                outln!("  {} ({})", Escaped(id), Escaped(&resource.resource_type));
            }
            outln!("outputs:");
            for (key, value) in &plan.outputs {
                outln!("  {} = {}", Escaped(key), Escaped(value));
            }
            for unresolved in &plan.unresolved {
                outln!(
                    "not resolved here: {}: {}",
                    Escaped(&unresolved.path),
                    Escaped(&unresolved.message)
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
