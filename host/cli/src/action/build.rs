//! `sandpipe action build`: a plugin's source directory made into `dist/<name>.wasm` — the
//! component its language's toolchain builds, checked against its manifest (it may import
//! only what the capabilities it asks for cover), with the manifest embedded.
//!
//! - Rust: `cargo build --release --target wasm32-wasip2` (a Rust component imports only the
//!   interfaces it calls).
//! - Python: `componentize-py`, JavaScript: `componentize-js` (-d http fetch-event). Both
//!   import every interface of the world they are built against, so the build writes a
//!   world importing exactly what the manifest asks for (and, for JavaScript, WASI's file
//!   system) into `target/sandpipe-wit/`. The tools are found as `$SANDPIPE_COMPONENTIZE_PY`
//!   / `$SANDPIPE_COMPONENTIZE_JS`, in the plugin (`.venv/bin`, `node_modules/.bin`), or on
//!   `PATH`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use sandpipe_engine::plugins::known_capabilities;
use sandpipe_model::plugin::{Language, MANIFEST_FILE, PluginManifest};
use sandpipe_runtime::Capability;
use sandpipe_runtime::component_file::{summarize, with_manifest};
use sandpipe_runtime::host::{ImportNeeds, import_needs};

/// The world a Python or JavaScript plugin is built against.
const WORLD: &str = "plugin";
/// The WASI file system interfaces a JavaScript plugin imports to reach its files.
const WASI_FILESYSTEM: &[&str] = &[
    "wasi:filesystem/preopens@0.2.12",
    "wasi:filesystem/types@0.2.12",
];

/// What a build made.
pub struct Built {
    pub path: PathBuf,
    pub manifest: PluginManifest,
    pub bytes: usize,
}

/// Build the plugin in `dir`.
pub fn build(dir: &Path) -> anyhow::Result<Built> {
    // The tools run in the plugin's directory; every path handed to them is absolute.
    let dir = &std::fs::canonicalize(dir).with_context(|| format!("{}", dir.display()))?;
    let manifest_path = dir.join(MANIFEST_FILE);
    if !manifest_path.is_file() {
        bail!(
            "{} has no {MANIFEST_FILE}: a plugin's directory holds its manifest (`sandpipe \
             action new` makes one)",
            dir.display()
        );
    }
    let manifest = PluginManifest::read(&manifest_path, &known_capabilities())?;
    let Some(language) = manifest.language else {
        bail!(
            "{}: language: say how to build the plugin (rust, python or javascript)",
            manifest_path.display()
        );
    };
    let component = match language {
        Language::Rust => build_rust(dir)?,
        Language::Python => build_componentized(dir, &manifest, language)?,
        Language::Javascript => build_componentized(dir, &manifest, language)?,
    };
    check_imports(&component, &manifest, &manifest_path)?;
    let plugin = with_manifest(&component, &manifest.to_embedded())?;
    let dist = dir.join("dist");
    std::fs::create_dir_all(&dist).with_context(|| format!("creating {}", dist.display()))?;
    let path = dist.join(format!("{}.wasm", manifest.name));
    crate::output_file::write_whole(&path, |out| Ok(std::io::Write::write_all(out, &plugin)?))?;
    Ok(Built {
        path,
        manifest,
        bytes: plugin.len(),
    })
}

/// A component may import only what every action may, and what the capabilities its
/// manifest asks for cover.
fn check_imports(
    component: &[u8],
    manifest: &PluginManifest,
    manifest_path: &Path,
) -> anyhow::Result<()> {
    let summary = summarize(component).context("the component the build made")?;
    for import in &summary.imports {
        match import_needs(import) {
            ImportNeeds::Refused => bail!(
                "the component imports '{import}', which sandpipe does not give actions{}",
                if import.starts_with("wasi:http") {
                    " (JavaScript: build with -d http fetch-event, as `action build` does)"
                } else {
                    ""
                }
            ),
            ImportNeeds::Grant(capability)
                if !manifest.capabilities.iter().any(|c| c == capability.name()) =>
            {
                bail!(
                    "the component imports '{import}', which needs the '{capability}' \
                     capability: add {capability} to capabilities in {}",
                    manifest_path.display()
                )
            }
            _ => {}
        }
    }
    if !summary
        .exports
        .iter()
        .any(|e| e.starts_with("sandpipe:action/runner@"))
    {
        bail!("the component does not export sandpipe:action/runner");
    }
    Ok(())
}

/// The environment a tool the build runs gets: this process's, without what an outer cargo
/// set for its own build (a test harness, `cargo run`).
fn tool(program: impl AsRef<std::ffi::OsStr>, dir: &Path) -> Command {
    let mut command = Command::new(program);
    command.current_dir(dir);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        let outer = matches!(
            key.as_ref(),
            "RUSTFLAGS" | "RUSTC_WRAPPER" | "RUSTC_WORKSPACE_WRAPPER" | "CARGO_TARGET_DIR"
        ) || (key.starts_with("CARGO_") && key != "CARGO_HOME");
        if outer {
            command.env_remove(key.as_ref());
        }
    }
    command
}

fn run(mut command: Command, what: &str, hint: &str) -> anyhow::Result<()> {
    let status = command
        .status()
        .with_context(|| format!("running {what}{hint}"))?;
    if !status.success() {
        bail!("{what} failed ({status}); its output is above{hint}");
    }
    Ok(())
}

fn build_rust(dir: &Path) -> anyhow::Result<Vec<u8>> {
    let hint = " (Rust plugins need the wasm32-wasip2 target: `rustup target add wasm32-wasip2`)";
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = tool(cargo, dir);
    command
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
            "target",
        ])
        // Cargo says which file it built; diagnostics still go to the terminal.
        .arg("--message-format=json-render-diagnostics")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit());
    let output = command
        .output()
        .with_context(|| format!("running cargo build{hint}"))?;
    if !output.status.success() {
        bail!(
            "cargo build failed ({}); its output is above{hint}",
            output.status
        );
    }
    let manifest = dir.join("Cargo.toml");
    let built = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| {
            message["reason"] == "compiler-artifact"
                && message["manifest_path"].as_str().map(Path::new) == Some(manifest.as_path())
        })
        .flat_map(|message| {
            message["filenames"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f.as_str().map(PathBuf::from))
                .collect::<Vec<_>>()
        })
        .find(|file| file.extension().is_some_and(|e| e == "wasm"))
        .with_context(|| {
            format!(
                "cargo built no .wasm for {} (is the crate a cdylib: crate-type = [\"cdylib\"]?)",
                manifest.display()
            )
        })?;
    std::fs::read(&built).with_context(|| format!("reading {}", built.display()))
}

/// Python and JavaScript: the tool, a world for the manifest, and the component.
fn build_componentized(
    dir: &Path,
    manifest: &PluginManifest,
    language: Language,
) -> anyhow::Result<Vec<u8>> {
    let wit = world_dir(dir, manifest, language)?;
    let out = dir.join("target").join("sandpipe-component.wasm");
    let mut command = match language {
        Language::Python => {
            let program = find_tool(
                dir,
                "SANDPIPE_COMPONENTIZE_PY",
                ".venv/bin",
                "componentize-py",
            )
            .context(
                "componentize-py is not installed: `python3 -m venv .venv && \
                     .venv/bin/pip install componentize-py==0.25.1` in the plugin's directory, \
                     or set SANDPIPE_COMPONENTIZE_PY",
            )?;
            let mut command = tool(program, dir);
            command
                .arg("-d")
                .arg(&wit)
                .args(["-w", WORLD, "componentize", "app", "-o"])
                .arg(&out);
            command
        }
        _ => {
            let program = find_tool(
                dir,
                "SANDPIPE_COMPONENTIZE_JS",
                "node_modules/.bin",
                "componentize-js",
            )
            .context(
                "componentize-js is not installed: `npm install` in the plugin's directory \
                 (its package.json names @bytecodealliance/componentize-js), or set \
                 SANDPIPE_COMPONENTIZE_JS",
            )?;
            let mut command = tool(program, dir);
            command
                .arg("app.js")
                .arg("-w")
                .arg(&wit)
                .args(["-n", WORLD, "-d", "http", "fetch-event", "-o"])
                .arg(&out);
            command
        }
    };
    command.stdout(std::process::Stdio::inherit());
    let _ = std::fs::remove_file(&out);
    run(command, "componentizing", "")?;
    std::fs::read(&out).with_context(|| format!("reading {}", out.display()))
}

/// `$variable`, else `<dir>/<local>/<name>`, else `name` on PATH.
fn find_tool(dir: &Path, variable: &str, local: &str, name: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(variable).filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let local = dir.join(local).join(name);
    if local.is_file() {
        return Some(local);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|path| path.join(name))
        .find(|path| path.is_file())
}

/// `target/sandpipe-wit/`: the plugin's `wit/` with a world importing the base interfaces,
/// those of each capability the manifest asks for, and (JavaScript) WASI's file system.
fn world_dir(dir: &Path, manifest: &PluginManifest, language: Language) -> anyhow::Result<PathBuf> {
    let source = dir.join("wit");
    if !source.is_dir() {
        bail!(
            "{} is missing: a {} plugin carries the sandpipe:action WIT (`sandpipe action new` \
             writes it)",
            source.display(),
            language.name()
        );
    }
    let target = dir.join("target").join("sandpipe-wit");
    if target.exists() {
        std::fs::remove_dir_all(&target)
            .with_context(|| format!("clearing {}", target.display()))?;
    }
    copy_dir(&source, &target)?;
    let mut imports = Vec::new();
    for name in &manifest.capabilities {
        let capability: Capability = name.parse().map_err(anyhow::Error::msg)?;
        imports.extend(capability.interfaces().into_iter().map(str::to_string));
    }
    if language == Language::Javascript {
        imports.extend(WASI_FILESYSTEM.iter().map(|i| i.to_string()));
    }
    let mut world = format!(
        "package sandpipe:action@0.1.0;\n\n/// Written by `sandpipe action build` from {MANIFEST_FILE}.\nworld {WORLD} {{\n    include action;\n"
    );
    for import in imports {
        world.push_str(&format!("    import {import};\n"));
    }
    world.push_str("}\n");
    let file = target.join(format!("{WORLD}.wit"));
    std::fs::write(&file, world).with_context(|| format!("writing {}", file.display()))?;
    Ok(target)
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}
