//! The connections file (`sandpipe-connections.yaml`), in JSON or YAML (first byte, bit 0:
//! YAML), through the text entry point `Connections::load` uses; then the lookups a git
//! source makes with it.
#![no_main]

use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use sandpipe_fuzz::format_and_text;
use sandpipe_model::connections::{Connections, RepositoryRef, redact_url};

fuzz_target!(|data: &[u8]| {
    let Some((_, yaml, text)) = format_and_text(data) else {
        return;
    };
    let connections = match Connections::parse(
        Path::new("/pipelines/sandpipe-connections.yaml"),
        text,
        yaml,
    ) {
        Ok(connections) => connections,
        Err(error) => {
            let _ = error.to_string();
            return;
        }
    };
    let repositories = [
        RepositoryRef::Connection {
            arn: "arn:aws:codeconnections:us-east-1:111122223333:connection/abc".into(),
            id: "my-org/my-app".into(),
        },
        RepositoryRef::Connection {
            arn: "arn:c".into(),
            id: "o/r".into(),
        },
        RepositoryRef::GitHub {
            owner: "o".into(),
            repo: "r".into(),
        },
        RepositoryRef::CodeCommit {
            name: "MyDemoRepo".into(),
        },
    ];
    let _ = connections.provider_type("arn:c");
    let with_default = connections
        .clone()
        .with_default_repos_root_from(|| PathBuf::from("/repos"));
    for repository in &repositories {
        for found in [
            connections.resolve(repository, |_| false),
            with_default.resolve(repository, |_| true),
        ] {
            match found {
                Ok(mapped) => {
                    let _ = mapped.location.display();
                    let _ = redact_url(&mapped.mapped_by);
                }
                Err(message) => {
                    let _ = message;
                }
            }
        }
    }
});
