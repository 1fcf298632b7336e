//! What a build leaves behind, after its phases: artifacts uploaded into the action's
//! outputs, test reports published to the host, and the project's cache saved (and restored
//! before the build).

use super::*;

impl Build {
    pub(crate) fn upload_artifacts(&self, request: &Request) -> Result<(), Failure> {
        let Some(artifacts) = &self.buildspec.artifacts else {
            return Ok(());
        };
        for output in &request.outputs {
            let set = if request.outputs.len() == 1 {
                artifacts
                    .secondary_artifacts
                    .get(&output.name)
                    .unwrap_or(&artifacts.primary)
            } else {
                &artifacts.secondary_artifacts[&output.name]
            };
            let count = self.collect(set, &output.path).map_err(|message| {
                Failure::job(format!(
                    "Build terminated with state: FAILED. Phase: UPLOAD_ARTIFACTS, Code: \
                     CLIENT_ERROR, Message: {message} (output artifact '{}')",
                    output.name
                ))
            })?;
            log::info(format!("Output artifact {}: {count} files", output.name));
        }
        Ok(())
    }

    fn collect(&self, set: &ArtifactSet, destination: &str) -> Result<usize, String> {
        let selection = files::select(
            &self.source_dir,
            &files::Rule {
                files: &set.files,
                base_directory: set.base_directory.as_deref(),
                exclude: &set.exclude_paths,
                discard_paths: buildspec::yes(&set.discard_paths),
            },
        )?;
        for link in &selection.links {
            log::warn(format!("{link} is a symbolic link; links are not packaged"));
        }
        if selection.files.is_empty() {
            return Err(format!(
                "no matching artifact paths found for files {:?}{}",
                set.files.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(),
                set.base_directory
                    .as_ref()
                    .map(|b| format!(" in base-directory '{b}'"))
                    .unwrap_or_default()
            ));
        }
        for file in &selection.files {
            exec::copy(&file.path, &format!("{destination}/{}", file.relative))
                .map_err(|e| format!("copying {}: {}", file.relative, exec::describe(&e)))?;
        }
        Ok(selection.files.len())
    }

    pub(crate) fn publish_reports(&self) {
        for (group, spec) in &self.buildspec.reports {
            let format = spec
                .file_format
                .clone()
                .unwrap_or_else(|| "JUNITXML".into());
            if !reports::KNOWN.contains(&format.as_str()) {
                log::warn(format!(
                    "report group {group}: unknown file-format {format}"
                ));
                continue;
            }
            if !reports::PARSED.contains(&format.as_str()) {
                log::warn(format!(
                    "report group {group}: file-format {format} is not parsed by sandpipe (it \
                     reads {}); the report is not kept",
                    reports::PARSED.join(", ")
                ));
                continue;
            }
            let selection = match files::select(
                &self.source_dir,
                &files::Rule {
                    files: &spec.files,
                    base_directory: spec.base_directory.as_deref(),
                    exclude: &[],
                    discard_paths: false,
                },
            ) {
                Ok(selection) => selection,
                Err(e) => {
                    log::warn(format!("report group {group}: {e}"));
                    continue;
                }
            };
            if selection.files.is_empty() {
                log::warn(format!("report group {group}: no report files found"));
            }
            for file in selection.files {
                let shown = if buildspec::yes(&spec.discard_paths) {
                    file.relative
                        .rsplit('/')
                        .next()
                        .unwrap_or_default()
                        .to_string()
                } else {
                    file.path
                        .trim_start_matches(&self.source_dir)
                        .trim_start_matches('/')
                        .to_string()
                };
                let parsed = std::fs::read_to_string(&file.path)
                    .map_err(|e| e.to_string())
                    .and_then(|content| reports::parse(&format, &content));
                match parsed {
                    Ok(cases) => sandpipe_action_sdk::reports::publish(&TestReport {
                        group: group.clone(),
                        format: format.clone(),
                        file: shown,
                        cases,
                    }),
                    Err(e) => log::warn(format!("report group {group}: {shown}: {e}")),
                }
            }
        }
    }

    /// Cached paths saved by an earlier build of this project, put back into the source.
    pub(crate) fn restore_cache(&self) {
        for directory in self.cache_directories() {
            let saved = format!("{PROJECT_DIR}/paths/{directory}");
            if std::path::Path::new(&saved).is_dir() {
                match exec::copy(&saved, &format!("{}/{directory}", self.source_dir)) {
                    Ok(summary) => log::info(format!(
                        "cache: restored {directory} ({} files)",
                        summary.files
                    )),
                    Err(e) => log::warn(format!(
                        "cache: restoring {directory}: {}",
                        exec::describe(&e)
                    )),
                }
            }
        }
    }

    pub(crate) fn save_cache(&self) {
        for directory in self.cache_directories() {
            let source = format!("{}/{directory}", self.source_dir);
            if !std::path::Path::new(&source).is_dir() {
                continue;
            }
            let saved = format!("{PROJECT_DIR}/paths/{directory}");
            let _ = std::fs::remove_dir_all(&saved);
            match exec::copy(&source, &saved) {
                Ok(summary) => log::info(format!(
                    "cache: saved {directory} ({} files)",
                    summary.files
                )),
                Err(e) => log::warn(format!("cache: saving {directory}: {}", exec::describe(&e))),
            }
        }
    }

    fn cache_directories(&self) -> Vec<String> {
        let Some(cache) = &self.buildspec.cache else {
            return Vec::new();
        };
        if !std::path::Path::new(PROJECT_DIR).is_dir() {
            log::warn("cache: no project directory was granted; cache.paths are not kept");
            return Vec::new();
        }
        cache
            .paths
            .iter()
            .filter_map(|path| match files::cache_directory(&path.0) {
                Ok(directory) => Some(directory),
                Err(e) => {
                    log::warn(format!("cache: {e}"));
                    None
                }
            })
            .collect()
    }
}
