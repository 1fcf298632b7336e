//! Per-action overhead of running a no-op wasm action, beside a fork+exec of `/bin/true`
//! measured in the same run: the bare call, and the call with the fresh sandbox directories
//! an action really gets (in the default work area, and on disk for comparison); plus the
//! one-off cost of compiling a component and of loading it from the on-disk cache.
//!
//! cargo bench -p sandpipe-runtime --bench action_overhead

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use sandpipe_runtime::providers::PROBE_COMPONENT_PATH;
use sandpipe_runtime::testing::{invocation, request, runtime};
use sandpipe_runtime::{ActionHost, LoadedComponent, Sandbox, WorkArea};
use sandpipe_store::LocalS3;

fn overhead(c: &mut Criterion) {
    let rt = runtime();
    let scratch = tempfile::tempdir().unwrap();
    let wasm: Arc<[u8]> = std::fs::read(PROBE_COMPONENT_PATH).unwrap().into();
    let cache_dir = scratch.path().join("cache");
    let host = ActionHost::new(Some(cache_dir.clone())).unwrap();
    let probe: LoadedComponent = rt.block_on(host.load(wasm.clone())).unwrap();
    let s3 = Arc::new(LocalS3::open(&scratch.path().join("s3")).unwrap());
    let timeout = Duration::from_secs(30);
    let noop = || request("Build/Custom/Probe/1", &[("Mode", "noop")], &[], &[]);
    let call = |sandbox: Arc<Sandbox>| {
        let result = rt.block_on(host.execute(&probe, invocation(noop(), sandbox, &s3, timeout)));
        black_box(result.outcome.unwrap());
    };
    let shared = Arc::new(Sandbox::create(&scratch.path().join("shared")).unwrap());
    let default_area = WorkArea::choose(&scratch.path().join("work")).unwrap();
    let disk_area = WorkArea::at(&scratch.path().join("disk-work")).unwrap();
    println!(
        "default work area: {} ({})",
        default_area.root().display(),
        if default_area.in_memory() {
            "memory"
        } else {
            "disk"
        }
    );
    let counter = AtomicU64::new(0);
    // A fresh sandbox with one input and one output, used and removed, as the engine does.
    let fresh = |area: &WorkArea| {
        let n = counter.fetch_add(1, Ordering::Relaxed).to_string();
        let mut sandbox = area.sandbox("bench", &n).unwrap();
        sandbox.add_input("In").unwrap();
        sandbox.add_output("Out").unwrap();
        let root = sandbox.root().to_path_buf();
        call(Arc::new(sandbox));
        std::fs::remove_dir_all(root).unwrap();
    };

    let mut group = c.benchmark_group("per-action overhead");
    group.bench_function("fork+exec /bin/true", |b| {
        b.iter(|| {
            let status = std::process::Command::new("/bin/true").status().unwrap();
            assert!(status.success());
        })
    });
    group.bench_function("wasm no-op action (store, instantiate, call)", |b| {
        b.iter(|| call(shared.clone()))
    });
    group.bench_function(
        "wasm no-op action with fresh sandbox dirs, default work area (1 in, 1 out)",
        |b| b.iter(|| fresh(&default_area)),
    );
    group.bench_function(
        "wasm no-op action with fresh sandbox dirs, work area on disk (1 in, 1 out)",
        |b| b.iter(|| fresh(&disk_area)),
    );
    group.finish();
    default_area.remove_execution("bench");

    let mut group = c.benchmark_group("component loading");
    group.sample_size(10);
    group.bench_function("compile the probe component (no cache)", |b| {
        b.iter(|| {
            let host = ActionHost::new(None).unwrap();
            black_box(rt.block_on(host.load(wasm.clone())).unwrap());
        })
    });
    group.bench_function("load the probe component from the disk cache", |b| {
        b.iter(|| {
            let host = ActionHost::new(Some(cache_dir.clone())).unwrap();
            let loaded = rt.block_on(host.load(wasm.clone())).unwrap();
            assert_eq!(loaded.cache, sandpipe_runtime::CacheOutcome::Hit);
        })
    });
    group.finish();
}

criterion_group!(benches, overhead);
criterion_main!(benches);
