//! Plugins once built: `install` (into `<state-dir>/actions/`, compiled ahead so the first
//! run does not wait), `list` (what is installed, where, and what each may do under the
//! operator's policy) and `inspect` (one file: its manifest, imports and what they need).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use sandpipe_engine::plugins::{Plugin, discover, file_digest, installed_dir, plugin_dirs};
use sandpipe_model::action_definition::ArtifactDetails;
use sandpipe_model::text::Escaped;
use sandpipe_runtime::component_file::{read_component_file, summarize_file};
use sandpipe_runtime::host::{ImportNeeds, import_needs};
use sandpipe_runtime::{ActionHost, ComponentCache};
use serde_json::json;

use crate::providers::ProviderArgs;
use crate::terminal::outln;

/// What an install did.
pub struct Installed {
    pub plugin: Plugin,
    /// Whether a plugin of the same name was replaced.
    pub replaced: bool,
    /// Seconds spent compiling it ahead, or None when it was already compiled.
    pub compiled_in: Option<f64>,
}

/// Install the plugin in `file` into `state_dir`'s plugins as `<name>.wasm`: read once,
/// checked and compiled from those bytes, then written beside its final name and renamed,
/// so a failed install leaves what was there before.
pub fn install(state_dir: &Path, file: &Path, precompile: bool) -> anyhow::Result<Installed> {
    let bytes = read_component_file(file)?;
    let plugin = Plugin::from_component(file, &bytes)?;
    let dir = installed_dir(state_dir);
    let target = dir.join(format!("{}.wasm", plugin.manifest.name));
    // Another plugin claiming one of its types would make runs using them refuse.
    let found = discover(&plugin_dirs(&[], Some(state_dir)));
    for other in &found.plugins {
        if other.path == target {
            continue;
        }
        let shared: Vec<&String> = other
            .manifest
            .action_types
            .iter()
            .filter(|t| plugin.manifest.action_types.contains(t))
            .collect();
        if !shared.is_empty() {
            let shared: Vec<&str> = shared.iter().map(|t| t.as_str()).collect();
            bail!(
                "{} also serves {}: remove it first, so one plugin serves each action type",
                other.describe(),
                shared.join(", ")
            );
        }
    }
    let compiled_in = if precompile {
        compile_ahead(bytes.clone())?
    } else {
        None
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let replaced = target.exists();
    let partial = dir.join(format!(
        ".{}.wasm.{}.partial",
        plugin.manifest.name,
        std::process::id()
    ));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&partial)
        .and_then(|mut out| {
            out.write_all(&bytes)?;
            out.sync_all()
        });
    if let Err(error) = written {
        let _ = std::fs::remove_file(&partial);
        return Err(error).with_context(|| format!("writing {}", partial.display()));
    }
    std::fs::rename(&partial, &target)
        .with_context(|| format!("installing {}", target.display()))?;
    Ok(Installed {
        plugin: Plugin {
            path: target,
            ..plugin
        },
        replaced,
        compiled_in,
    })
}

/// Compile the component into the user's compile cache; the seconds it took, or None when
/// it was there already.
fn compile_ahead(wasm: Vec<u8>) -> anyhow::Result<Option<f64>> {
    let Some(cache) = ComponentCache::default_dir() else {
        return Ok(None);
    };
    let started = std::time::Instant::now();
    let runtime = crate::run::runtime()?;
    let outcome = runtime.block_on(async {
        let host = ActionHost::new(Some(cache))?;
        host.precompile(wasm.into()).await
    })?;
    Ok(match outcome {
        sandpipe_runtime::CacheOutcome::Hit => None,
        sandpipe_runtime::CacheOutcome::Compiled => Some(started.elapsed().as_secs_f64()),
    })
}

/// `action list`: every plugin found, with what it asks for and what it gets.
pub fn list(
    state_dir: Option<&Path>,
    providers: &ProviderArgs,
    as_json: bool,
) -> anyhow::Result<()> {
    let dirs = providers.plugin_dirs(state_dir);
    let found = discover(&dirs);
    let registry = providers.registry_beside(state_dir, Some(Path::new(".")))?;
    let mut rows = Vec::new();
    for plugin in &found.plugins {
        let mut granted = serde_json::Map::new();
        let mut refused = Vec::new();
        for id in plugin.manifest.action_type_ids() {
            let names: Vec<&str> = registry
                .policy(&id)
                .granted
                .iter()
                .map(|c| c.name())
                .collect();
            granted.insert(id.to_string(), json!(names));
            refused.extend(registry.refusal(&id));
        }
        rows.push(json!({
            "name": plugin.manifest.name,
            "version": plugin.manifest.version,
            "actionTypes": plugin.manifest.action_types,
            "file": plugin.path.display().to_string(),
            "sha256": plugin.digest()?,
            "capabilities": plugin.manifest.capabilities,
            "granted": granted,
            "refused": refused,
        }));
    }
    let unreadable: Vec<serde_json::Value> = found
        .unreadable
        .iter()
        .map(|(path, why)| json!({"file": path.display().to_string(), "error": why}))
        .collect();
    if as_json {
        let report = json!({"plugins": rows, "unreadable": unreadable});
        outln!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    if rows.is_empty() && unreadable.is_empty() {
        let dirs: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        outln!(
            "no plugins installed (looked in {}); `sandpipe action install <file.wasm>` adds one",
            dirs.join(", ")
        );
        return Ok(());
    }
    let text = |value: &serde_json::Value| -> String {
        let list: Vec<&str> = value
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str())
            .collect();
        if list.is_empty() {
            "none".into()
        } else {
            list.join(", ")
        }
    };
    for row in &rows {
        outln!(
            "{} {}  {}",
            row["name"].as_str().unwrap_or_default(),
            row["version"].as_str().unwrap_or_default(),
            text(&row["actionTypes"])
        );
        outln!("  file       {}", row["file"].as_str().unwrap_or_default());
        outln!(
            "  sha256     {}",
            row["sha256"].as_str().unwrap_or_default()
        );
        outln!("  asks for   {}", text(&row["capabilities"]));
        for (id, names) in row["granted"].as_object().into_iter().flatten() {
            outln!("  granted    {} ({id})", text(names));
        }
        for refusal in row["refused"].as_array().into_iter().flatten() {
            outln!("  refused    {}", refusal.as_str().unwrap_or_default());
        }
    }
    for entry in &unreadable {
        outln!(
            "unreadable {}: {}",
            entry["file"].as_str().unwrap_or_default(),
            entry["error"].as_str().unwrap_or_default()
        );
    }
    Ok(())
}

/// `action inspect`: one component file — its manifest, its imports and what each needs.
pub fn inspect(file: &Path, as_json: bool) -> anyhow::Result<()> {
    let summary = summarize_file(file)?;
    let manifest = match &summary.manifest {
        Some(_) => Some(Plugin::read(file)?.manifest),
        None => None,
    };
    let imports: Vec<serde_json::Value> = summary
        .imports
        .iter()
        .map(|import| {
            let needs = match import_needs(import) {
                ImportNeeds::Nothing => json!(null),
                ImportNeeds::Grant(capability) => json!(capability.name()),
                ImportNeeds::Refused => json!("refused: sandpipe gives actions no such import"),
            };
            json!({"name": import, "needs": needs})
        })
        .collect();
    let size = std::fs::metadata(file)?.len();
    let report = json!({
        "file": file.display().to_string(),
        "bytes": size,
        "sha256": file_digest(file)?,
        "manifest": manifest,
        "imports": imports,
        "exports": summary.exports,
    });
    if as_json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    outln!("{} ({size} bytes)", file.display());
    outln!("sha256 {}", report["sha256"].as_str().unwrap_or_default());
    match &manifest {
        None => outln!(
            "no manifest: serve it with --provider TYPE={}, or build it with `sandpipe action \
             build` to make it a plugin",
            file.display()
        ),
        Some(manifest) => {
            // A manifest that failed its checks is shown too: every text from it escaped.
            outln!(
                "plugin {} {}",
                Escaped(&manifest.name),
                Escaped(&manifest.version)
            );
            if !manifest.description.is_empty() {
                outln!("  {}", Escaped(&manifest.description));
            }
            outln!("serves {}", manifest.action_types.join(", "));
            let definition = manifest.definition();
            let range = |d: ArtifactDetails| {
                if d.minimum_count == d.maximum_count {
                    d.minimum_count.to_string()
                } else {
                    format!("{}–{}", d.minimum_count, d.maximum_count)
                }
            };
            outln!(
                "artifacts: {} in, {} out",
                range(definition.input_artifact_details),
                range(definition.output_artifact_details)
            );
            for property in &definition.configuration_properties {
                let mut marks = Vec::new();
                if property.required {
                    marks.push("required");
                }
                if property.secret {
                    marks.push("secret");
                }
                if property.queryable {
                    marks.push("queryable");
                }
                outln!(
                    "  configuration {}{}{}",
                    Escaped(&property.name),
                    if marks.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", marks.join(", "))
                    },
                    property
                        .description
                        .as_deref()
                        .map(|d| format!(": {}", Escaped(d)))
                        .unwrap_or_default()
                );
            }
            let asks = if manifest.capabilities.is_empty() {
                "nothing beyond the sandbox".to_string()
            } else {
                manifest.capabilities.join(", ")
            };
            outln!("asks for {asks}");
        }
    }
    outln!("imports:");
    for import in &imports {
        let needs = match &import["needs"] {
            serde_json::Value::Null => String::new(),
            serde_json::Value::String(text) if text.starts_with("refused") => format!("  ({text})"),
            other => format!("  (needs {})", other.as_str().unwrap_or_default()),
        };
        outln!(
            "  {}{needs}",
            Escaped(import["name"].as_str().unwrap_or_default())
        );
    }
    Ok(())
}

/// The path an install prints: relative to the working directory when under it.
pub fn shown(path: &Path) -> PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
}
