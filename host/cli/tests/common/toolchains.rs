//! The guest toolchains plugin tests build with: componentize-py 0.25.1 (PyPI, in a venv)
//! and componentize-js 0.23.0 (npm), installed once per target directory — or taken from
//! `$SANDPIPE_COMPONENTIZE_PY` / `$SANDPIPE_COMPONENTIZE_JS`, as `.ci/run` installs them.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `<target>/<name>`, made by `make` under a file lock (test binaries run at once) unless
/// its marker says `version` is there already.
fn once(name: &str, version: &str, make: impl FnOnce(&Path)) -> PathBuf {
    let target = Path::new(env!("CARGO_BIN_EXE_sandpipe"))
        .parent()
        .and_then(Path::parent)
        .expect("the binary is in <target>/<profile>/");
    let dir = target.join(name);
    let lock = std::fs::File::create(target.join(format!("{name}.lock"))).unwrap();
    lock.lock().unwrap();
    let marker = dir.join("sandpipe-version");
    if std::fs::read_to_string(&marker).ok().as_deref() != Some(version) {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        make(&dir);
        std::fs::write(&marker, version).unwrap();
    }
    dir
}

/// The componentize-py program.
pub fn componentize_py() -> PathBuf {
    if let Some(path) = std::env::var_os("SANDPIPE_COMPONENTIZE_PY") {
        return PathBuf::from(path);
    }
    let venv = once("componentize-py", "componentize-py==0.25.1", |dir| {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(dir)
            .status()
            .expect("python3 is needed to build Python plugins");
        assert!(made.success(), "python3 -m venv {}", dir.display());
        let installed = Command::new(dir.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .arg("componentize-py==0.25.1")
            .status()
            .unwrap();
        assert!(installed.success(), "pip install componentize-py==0.25.1");
    });
    venv.join("bin/componentize-py")
}

/// The componentize-js program.
pub fn componentize_js() -> PathBuf {
    if let Some(path) = std::env::var_os("SANDPIPE_COMPONENTIZE_JS") {
        return PathBuf::from(path);
    }
    let prefix = once(
        "componentize-js",
        "@bytecodealliance/componentize-js@0.23.0",
        |dir| {
            let installed = Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "--prefix"])
                .arg(dir)
                .arg("@bytecodealliance/componentize-js@0.23.0")
                .status()
                .expect("npm is needed to build JavaScript plugins");
            assert!(installed.success(), "npm install componentize-js");
        },
    );
    prefix.join("node_modules/.bin/componentize-js")
}
