//! Shared by this crate's tests and benchmarks: a state directory with a source object, and a
//! runner that serves the test-only probe component.

use std::path::{Path, PathBuf};

use sandpipe_runtime::providers::PROBE_COMPONENT_PATH;
use sandpipe_runtime::{ActionHost, ComponentCache};
use sandpipe_store::{LocalS3, PutOptions};

use crate::{PipelineRunner, ProviderRegistry, RunnerSettings};

/// `<dir>/state`, whose S3 has a versioned bucket `sources` holding object `file`.
pub fn state_with_source(dir: &Path) -> PathBuf {
    let state_dir = dir.join("state");
    let s3 = LocalS3::open(&state_dir.join("s3")).expect("opening the S3 emulation");
    s3.create_bucket("sources").expect("creating the bucket");
    s3.set_versioning("sources", true).expect("versioning it");
    let put = PutOptions::default();
    s3.put_object("sources", "file", &mut &b"hi"[..], put, u64::MAX)
        .expect("putting the object");
    state_dir
}

/// A runner on `state_dir` with the built-in providers and the probe as
/// `Build/Custom/Probe/1`, its sandboxes in `work_dir` (or the default work area).
pub fn probe_runner(state_dir: PathBuf, work_dir: Option<PathBuf>) -> PipelineRunner {
    probe_runner_with(RunnerSettings {
        work_dir,
        ..RunnerSettings::new(state_dir)
    })
}

/// [`probe_runner`] with the operator's `settings`.
pub fn probe_runner_with(settings: RunnerSettings) -> PipelineRunner {
    let mut providers = ProviderRegistry::builtin();
    let probe = "Build/Custom/Probe/1".parse().expect("an action type");
    providers
        .register(&probe, Path::new(PROBE_COMPONENT_PATH))
        .expect("reading the probe");
    let host = ActionHost::new(ComponentCache::default_dir()).expect("starting the wasm host");
    PipelineRunner::new(settings, providers, host).expect("opening the runner")
}

/// A memory figure of this process from `/proc/self/status` (`VmRSS`, `VmHWM`), in MiB.
pub fn memory_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}
