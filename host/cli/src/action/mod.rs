//! `sandpipe action …`: the plugin author's and installer's workflow — new, build, install,
//! list, inspect. A plugin is one `.wasm` file: a component with its manifest embedded.
//!
//! - `scaffold`: `new`, a working plugin in Rust, Python or JavaScript;
//! - `build`: `build`, the language's toolchain, the imports checked, the manifest embedded;
//! - `installed`: `install`, `list`, `inspect`.

mod build;
mod installed;
mod scaffold;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use sandpipe_model::ActionTypeId;
use sandpipe_model::plugin::Language;

use crate::providers::ProviderArgs;
use crate::state_location::StateLocation;
use crate::terminal::outln;

#[derive(Subcommand)]
pub enum ActionCommand {
    /// Create a plugin that works as it is: it copies its input artifacts to its output
    /// artifact, writes greeting.txt holding `Hello, <Name>` from its Name property, and sets
    /// the output variable Greeting to the same text.
    New(NewArgs),
    /// Build a plugin's directory into dist/<name>.wasm, its manifest embedded.
    Build(BuildArgs),
    /// Install a plugin into <state-dir>/actions, compiled ahead for its first run.
    Install(InstallArgs),
    /// The installed plugins: their action types, files, digests and what they may do.
    List(ListArgs),
    /// What a component file says about itself: its manifest, imports and what they need.
    Inspect(InspectArgs),
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum LanguageChoice {
    Rust,
    Python,
    Javascript,
}

impl From<LanguageChoice> for Language {
    fn from(choice: LanguageChoice) -> Language {
        match choice {
            LanguageChoice::Rust => Language::Rust,
            LanguageChoice::Python => Language::Python,
            LanguageChoice::Javascript => Language::Javascript,
        }
    }
}

#[derive(Args)]
pub struct NewArgs {
    /// The directory to create.
    dir: PathBuf,
    /// The language to write it in.
    #[arg(long, value_enum)]
    lang: LanguageChoice,
    /// The action type it serves, Category/Owner/Provider/Version; by default
    /// Build/Custom/<Name>/1 after the directory.
    #[arg(long = "type", value_name = "TYPE", value_parser = |s: &str| s.parse::<ActionTypeId>())]
    action_type: Option<ActionTypeId>,
    /// The plugin's name (a-z 0-9 - _); by default the directory's.
    #[arg(long)]
    name: Option<String>,
}

#[derive(Args)]
pub struct BuildArgs {
    /// The plugin's directory (holding sandpipe-action.yaml).
    #[arg(default_value = ".")]
    dir: PathBuf,
}

#[derive(Args)]
pub struct InstallArgs {
    /// The plugin file (dist/<name>.wasm).
    file: PathBuf,
    /// Do not compile it now (its first run will).
    #[arg(long)]
    no_precompile: bool,
}

#[derive(Args)]
pub struct ListArgs {
    /// One JSON array instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    providers: ProviderArgs,
}

#[derive(Args)]
pub struct InspectArgs {
    /// The component file.
    file: PathBuf,
    /// JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub fn action(state: &StateLocation, command: ActionCommand) -> anyhow::Result<ExitCode> {
    match command {
        ActionCommand::New(args) => {
            let language = Language::from(args.lang);
            let names = scaffold::Names::choose(&args.dir, args.name, args.action_type)?;
            let written = scaffold::create(&args.dir, language, &names)?;
            outln!(
                "created {} ({} plugin {}, serving {}): {} files",
                args.dir.display(),
                language.name(),
                names.name,
                names.action_type,
                written.len()
            );
            outln!(
                "next: sandpipe action build {0} && sandpipe action install {0}/dist/{1}.wasm",
                args.dir.display(),
                names.name
            );
        }
        ActionCommand::Build(args) => {
            let started = std::time::Instant::now();
            let built = build::build(&args.dir)?;
            outln!(
                "built {} ({} {}, serving {}; {} bytes) in {:.1}s",
                installed::shown(&built.path).display(),
                built.manifest.name,
                built.manifest.version,
                built.manifest.action_types.join(", "),
                built.bytes,
                started.elapsed().as_secs_f64()
            );
        }
        ActionCommand::Install(args) => {
            let state_dir = state.for_writing();
            let done = installed::install(&state_dir, &args.file, !args.no_precompile)?;
            let manifest = &done.plugin.manifest;
            outln!(
                "{} {} {} ({}) → {}",
                if done.replaced {
                    "replaced"
                } else {
                    "installed"
                },
                manifest.name,
                manifest.version,
                manifest.action_types.join(", "),
                installed::shown(&done.plugin.path).display()
            );
            if let Some(seconds) = done.compiled_in {
                outln!("compiled for this machine in {seconds:.1}s");
            }
            if !manifest.capabilities.is_empty() {
                outln!(
                    "it asks for {}: runs are refused until the operator's policy allows it \
                     (`sandpipe action list` shows what it is granted)",
                    manifest.capabilities.join(", ")
                );
            }
        }
        ActionCommand::List(args) => {
            installed::list(state.optional().as_deref(), &args.providers, args.json)?
        }
        ActionCommand::Inspect(args) => installed::inspect(&args.file, args.json)?,
    }
    Ok(ExitCode::SUCCESS)
}
