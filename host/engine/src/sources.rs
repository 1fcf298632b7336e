//! What source actions get from the operator: the repository mapped for each git source
//! (the connections file), and working trees given in place of a source (`--source`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sandpipe_git::ExportLimits;
use sandpipe_model::ActionDeclaration;
use sandpipe_model::connections::{Connections, RepositoryRef};
use sandpipe_runtime::{GitGrant, GitSource};

/// The repository (or working tree) a git source action may read. `excluded` are sandpipe's
/// own directories (state, work area), never part of an exported working tree.
pub fn git_grant(
    connections: &Connections,
    working_tree: Option<&Path>,
    action: &ActionDeclaration,
    configuration: &BTreeMap<String, String>,
    state_dir: &Path,
    excluded: &[PathBuf],
) -> GitGrant {
    let reference = RepositoryRef::from_configuration(configuration);
    let provider_type = match &reference {
        Some(RepositoryRef::Connection { arn, .. }) => connections.provider_type(arn),
        Some(RepositoryRef::GitHub { .. }) => "GitHub".into(),
        Some(RepositoryRef::CodeCommit { .. }) => "CodeCommit".into(),
        None => String::new(),
    };
    let source = match (working_tree, &reference) {
        (Some(dir), _) => GitSource::WorkingTree {
            dir: dir.to_path_buf(),
            given_as: format!("--source {}={}", action.name, dir.display()),
        },
        (None, None) => GitSource::NotMapped(
            "the action's configuration names no repository (FullRepositoryId, Owner and \
             Repo, or RepositoryName)"
                .into(),
        ),
        (None, Some(reference)) => match connections.resolve(reference, Path::is_dir) {
            Err(message) => GitSource::NotMapped(message),
            Ok(mapped) => GitSource::Repository {
                location: mapped.location,
                mapped_by: mapped.mapped_by,
            },
        },
    };
    GitGrant {
        name: reference
            .as_ref()
            .map(RepositoryRef::name)
            .unwrap_or_else(|| action.name.clone()),
        provider_type,
        source,
        mirrors: state_dir.join("git").join("mirrors"),
        exclude: excluded.to_vec(),
    }
}

/// For a source provider that cannot read a working tree itself: the host copies the
/// directory's files into the output directory. Returns the content digest.
pub fn copy_working_tree(
    dir: &Path,
    output_dir: &Path,
    excluded: &[PathBuf],
) -> anyhow::Result<sandpipe_git::WorktreeSnapshot> {
    let into = cap_std::fs::Dir::open_ambient_dir(output_dir, cap_std::ambient_authority())?;
    Ok(sandpipe_git::snapshot_worktree(
        dir,
        &into,
        excluded,
        &ExportLimits::default(),
    )?)
}
