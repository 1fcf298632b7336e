//! Where `Invoke/AWS/Lambda/1` actions' functions live on this machine: the operator's
//! functions file maps a FunctionName to local code, as SAM's template maps a function to
//! its code directory.
//!
//! ```yaml
//! # sandpipe-functions.yaml, beside the pipeline (or --functions FILE)
//! functions:
//!   release-notes:                 # FunctionName (or the last part of its ARN)
//!     runtime: python3.12          # python3.x or nodejs<N>.x
//!     handler: app.handler         # module.function (file.export for Node)
//!     code: ./lambda/release-notes # the code directory, relative to this file
//!     environment: {LOG_LEVEL: debug}
//!     command: [.venv/bin/python]  # the interpreter, when not python3 / node on PATH
//!   sandboxed:
//!     runtime: wasm                # a sandpipe action component, run in the wasm sandbox
//!     code: ./fn.wasm
//! ```
//!
//! A `wasm` function is the sandboxed alternative: the component gets the action's request
//! (its configuration with `FunctionName` and `UserParameters`, its artifacts as directories)
//! like any provider, with nothing beyond the sandbox.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::load::{LoadError, parse_text_document, read_text};

/// The names the functions file may have beside a pipeline.
pub const FUNCTIONS_FILE_NAMES: &[&str] = &[
    "sandpipe-functions.yaml",
    "sandpipe-functions.yml",
    "sandpipe-functions.json",
];

/// The language a function's runtime runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeKind {
    Python,
    Node,
    /// A sandpipe action component (`code` is the `.wasm` file).
    Wasm,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a functions file: a `functions:` map of names"
)]
struct FunctionsDocument {
    #[serde(default)]
    functions: BTreeMap<String, FunctionDocument>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FunctionDocument {
    runtime: String,
    #[serde(default)]
    handler: String,
    code: String,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    #[serde(default)]
    command: Vec<String>,
}

/// One function, as this machine runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    pub runtime: String,
    pub kind: RuntimeKind,
    /// `module.function`.
    pub handler: String,
    /// The code directory, absolute or relative to the working directory.
    pub code: PathBuf,
    pub environment: BTreeMap<String, String>,
    /// The interpreter and its arguments; empty: `python3` or `node` on PATH.
    pub command: Vec<String>,
    /// The file that declared it, as messages name it.
    pub declared_in: String,
}

impl Function {
    /// Why the function cannot run from its code, when it cannot: the code directory (or a
    /// wasm function's component) is not there, or the handler's module is not in it — found
    /// before the run rather than by a handler process that cannot start.
    pub fn missing_code(&self) -> Option<String> {
        let code = self.code.display();
        if self.kind == RuntimeKind::Wasm {
            return (!self.code.is_file())
                .then(|| format!("the function's component {code} is not a file"));
        }
        if !self.code.is_dir() {
            return Some(if self.code.exists() {
                format!(
                    "the function's code {code} is a file; `code` names the directory the \
                     handler's module is in"
                )
            } else {
                format!("the function's code directory {code} does not exist")
            });
        }
        let (module, _) = self.handler_parts();
        // A Python handler may also come from the interpreter's own packages (one `command`
        // names, a virtualenv's): only the code directory's are looked for without one.
        if self.kind == RuntimeKind::Python && !self.command.is_empty() {
            return None;
        }
        let candidates: Vec<String> = match self.kind {
            RuntimeKind::Python => {
                let path = module.replace('.', "/");
                vec![
                    format!("{path}.py"),
                    format!("{path}/__init__.py"),
                    format!("{path}.pyc"),
                ]
            }
            _ => ["js", "mjs", "cjs"]
                .iter()
                .map(|extension| format!("{module}.{extension}"))
                .collect(),
        };
        // A compiled extension module: `app.cpython-311-x86_64-linux-gnu.so`, `app.so`.
        let extension_module = || {
            let path = self.code.join(module.replace('.', "/"));
            let (Some(dir), Some(stem)) = (path.parent(), path.file_name()) else {
                return false;
            };
            let prefix = format!("{}.", stem.to_string_lossy());
            std::fs::read_dir(dir).is_ok_and(|entries| {
                entries.flatten().any(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.starts_with(&prefix) && name.ends_with(".so")
                })
            })
        };
        let found = candidates.iter().any(|c| self.code.join(c).is_file())
            || (self.kind == RuntimeKind::Python && extension_module());
        (!found).then(|| {
            format!(
                "the handler {} needs its module '{module}' in {code} ({}), and it is not there",
                self.handler,
                candidates.join(" or ")
            )
        })
    }

    /// `(module, function)` of the handler.
    pub fn handler_parts(&self) -> (&str, &str) {
        self.handler
            .rsplit_once('.')
            .unwrap_or((self.handler.as_str(), "handler"))
    }
}

/// Every function the operator mapped, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Functions {
    by_name: BTreeMap<String, Function>,
}

impl Functions {
    /// A functions file; each problem names its path (`functions.x.runtime`).
    pub fn read(path: &Path) -> Result<Functions, LoadError> {
        let (file, text, yaml) = read_text(path)?;
        let document: FunctionsDocument = parse_text_document(&file, &text, yaml)?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let shape = |path: String, message: String| LoadError::Shape {
            file: file.clone(),
            path,
            message,
        };
        let mut by_name = BTreeMap::new();
        for (name, entry) in document.functions {
            let digits = |v: &str| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
            let runtime = entry.runtime.as_str();
            let kind =
                if runtime == "python3" || runtime.strip_prefix("python3.").is_some_and(digits) {
                    RuntimeKind::Python
                } else if runtime
                    .strip_prefix("nodejs")
                    .and_then(|v| v.strip_suffix(".x"))
                    .is_some_and(digits)
                {
                    RuntimeKind::Node
                } else if entry.runtime == "wasm" {
                    RuntimeKind::Wasm
                } else {
                    return Err(shape(
                        format!("functions.{name}.runtime"),
                        format!(
                            "'{}' is not a runtime sandpipe runs locally (python3.x, nodejs<N>.x, \
                         wasm)",
                            entry.runtime
                        ),
                    ));
                };
            if kind != RuntimeKind::Wasm && !entry.handler.contains('.') {
                return Err(shape(
                    format!("functions.{name}.handler"),
                    format!("'{}' is not module.function", entry.handler),
                ));
            }
            by_name.insert(
                name,
                Function {
                    runtime: entry.runtime,
                    kind,
                    handler: entry.handler,
                    code: base.join(entry.code),
                    environment: entry.environment,
                    command: entry.command,
                    declared_in: file.clone(),
                },
            );
        }
        Ok(Functions { by_name })
    }

    /// Every function, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Function)> {
        self.by_name.iter()
    }

    /// The function a Lambda action's `FunctionName` (a name, or an ARN ending in one, with
    /// or without a version or alias) names.
    pub fn find(&self, function_name: &str) -> Option<&Function> {
        let name = match function_name.strip_prefix("arn:") {
            Some(_) => function_name.split(':').nth(6).unwrap_or(function_name),
            None => function_name.split(':').next().unwrap_or(function_name),
        };
        self.by_name.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_function_is_found_by_name_or_arn() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sandpipe-functions.yaml");
        std::fs::write(
            &file,
            "functions:\n  notes: {runtime: python3.12, handler: app.handler, code: lambda}\n",
        )
        .unwrap();
        let functions = Functions::read(&file).unwrap();
        let notes = functions.find("notes").unwrap();
        assert_eq!(notes.kind, RuntimeKind::Python);
        assert_eq!(notes.code, dir.path().join("lambda"));
        assert_eq!(notes.handler_parts(), ("app", "handler"));
        assert!(
            functions
                .find("arn:aws:lambda:us-east-1:123456789012:function:notes")
                .is_some()
        );
        assert!(functions.find("notes:live").is_some());
        assert!(functions.find("other").is_none());
    }

    #[test]
    fn mistakes_name_their_path() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f.yaml");
        for (text, path) in [
            (
                "functions:\n  x: {runtime: java21, handler: a.b, code: c}\n",
                "functions.x.runtime",
            ),
            (
                "functions:\n  x: {runtime: python3.12, handler: ab, code: c}\n",
                "functions.x.handler",
            ),
            (
                "functions:\n  x: {runtime: python3.12, handler: a.b}\n",
                "functions.x",
            ),
        ] {
            std::fs::write(&file, text).unwrap();
            let error = Functions::read(&file).unwrap_err().to_string();
            assert!(error.contains(path), "{text}: {error}");
        }
    }
}
