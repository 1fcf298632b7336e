//! The real AWS clients the server tests drive: awscli 1.46.3, awscli-local 0.23.0 and boto3
//! 1.44.8 from PyPI, in a Python venv made once per target directory (or the one
//! `$SANDPIPE_AWS_VENV` names, as `.ci/run` makes it), and the environment that points them
//! at one server and nowhere else.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The clients, and jsonschema, which checks `sandpipe provenance` against the in-toto and
/// SLSA schemas.
const PACKAGES: &[&str] = &[
    "awscli==1.46.3",
    "awscli-local==0.23.0",
    "boto3==1.44.8",
    "jsonschema==4.25.1",
];

/// The venv, made if needed. Several test binaries may ask at once: a file lock makes one
/// of them build it while the others wait.
pub fn venv() -> PathBuf {
    if let Some(dir) = std::env::var_os("SANDPIPE_AWS_VENV") {
        return PathBuf::from(dir);
    }
    let target = Path::new(env!("CARGO_BIN_EXE_sandpipe"))
        .parent()
        .and_then(Path::parent)
        .expect("the binary is in <target>/<profile>/");
    let dir = target.join("aws-venv");
    let lock = std::fs::File::create(target.join("aws-venv.lock")).unwrap();
    lock.lock().unwrap();
    let marker = dir.join("sandpipe-packages");
    let wanted = PACKAGES.join(" ");
    if std::fs::read_to_string(&marker).ok().as_deref() != Some(wanted.as_str()) {
        let _ = std::fs::remove_dir_all(&dir);
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&dir)
            .status()
            .expect("python3 is needed for the server tests (the aws CLI and boto3)");
        assert!(made.success(), "python3 -m venv {}", dir.display());
        let installed = Command::new(dir.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .args(PACKAGES)
            .status()
            .unwrap();
        assert!(installed.success(), "pip install {wanted}");
        std::fs::write(&marker, &wanted).unwrap();
    }
    dir
}

/// Environment for the clients: credentials, region, every endpoint at `url`, no metadata
/// probing, no user configuration, path-style S3, and one attempt per request.
pub fn client_env(url: &str, home: &Path) -> Vec<(String, String)> {
    let config = home.join("aws-config");
    std::fs::write(
        &config,
        "[default]\nregion = us-east-1\ncli_timestamp_format = iso8601\ns3 =\n    addressing_style = path\n",
    )
    .unwrap();
    let bin = venv().join("bin");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let port = url.rsplit(':').next().unwrap_or_default();
    [
        ("PATH", path),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("AWS_CONFIG_FILE", config.display().to_string()),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".into()),
        ("AWS_ENDPOINT_URL", url.into()),
        ("AWS_RETRY_MODE", "standard".into()),
        ("AWS_MAX_ATTEMPTS", "1".into()),
        ("AWS_PAGER", String::new()),
        ("LOCALSTACK_HOST", format!("127.0.0.1:{port}")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Run a client command (`aws …`, `awslocal …`, `python …`) in `dir` against the server.
pub fn client(dir: &Path, env: &[(String, String)], program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"))
}
