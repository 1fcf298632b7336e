//! Per-action overhead of running a no-op wasm action, beside a fork+exec of `/bin/true`
//! measured in the same run, plus the one-off cost of compiling a component and of loading
//! it from the on-disk cache.
//!
//! cargo bench -p sandpipe-runtime --bench action_overhead

use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use sandpipe_runtime::bindings::{ActionType, Category};
use sandpipe_runtime::providers::PROBE_COMPONENT_PATH;
use sandpipe_runtime::{
    ActionEngine, ActionEvent, EventSink, ExecutionLimits, Invocation, LoadedComponent, Request,
    Sandbox,
};
use sandpipe_store::LocalS3;

struct Discard;
impl EventSink for Discard {
    fn emit(&self, _: ActionEvent) {}
}

fn noop_request() -> Request {
    Request {
        pipeline: "bench".into(),
        stage: "s".into(),
        action: "noop".into(),
        execution_id: "e".into(),
        action_type: ActionType {
            category: Category::Build,
            owner: "Custom".into(),
            provider: "Probe".into(),
            version: "1".into(),
        },
        configuration: vec![("Mode".into(), "noop".into())],
        inputs: Vec::new(),
        outputs: Vec::new(),
        continuation_token: None,
    }
}

fn invocation(sandbox: Arc<Sandbox>, s3: &Arc<LocalS3>) -> Invocation {
    Invocation {
        request: noop_request(),
        sandbox,
        buckets: Default::default(),
        object_store: s3.clone(),
        limits: ExecutionLimits {
            timeout: Duration::from_secs(30),
            ..ExecutionLimits::default()
        },
        events: Arc::new(Discard),
        cancel: None,
        grants: Default::default(),
    }
}

fn overhead(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let wasm: Arc<[u8]> = std::fs::read(PROBE_COMPONENT_PATH).unwrap().into();
    let cache_dir = scratch.path().join("cache");
    let engine = ActionEngine::new(Some(cache_dir.clone())).unwrap();
    let probe: LoadedComponent = rt.block_on(engine.load(wasm.clone())).unwrap();
    let s3 = Arc::new(LocalS3::open(&scratch.path().join("s3")).unwrap());
    let shared = Arc::new(Sandbox::create(&scratch.path().join("shared")).unwrap());

    let mut group = c.benchmark_group("per-action overhead");
    group.bench_function("fork+exec /bin/true", |b| {
        b.iter(|| {
            let status = std::process::Command::new("/bin/true").status().unwrap();
            assert!(status.success());
        })
    });
    group.bench_function("wasm no-op action (store, instantiate, call)", |b| {
        b.iter(|| {
            let result = rt.block_on(engine.execute(&probe, invocation(shared.clone(), &s3)));
            black_box(result.unwrap());
        })
    });
    let counter = Mutex::new(0u64);
    group.bench_function(
        "wasm no-op action with fresh sandbox dirs (1 in, 1 out)",
        |b| {
            b.iter(|| {
                let n = {
                    let mut n = counter.lock().unwrap();
                    *n += 1;
                    *n
                };
                let root = scratch.path().join(format!("sandbox-{n}"));
                let mut sandbox = Sandbox::create(&root).unwrap();
                sandbox.add_input("In").unwrap();
                sandbox.add_output("Out").unwrap();
                let result =
                    rt.block_on(engine.execute(&probe, invocation(Arc::new(sandbox), &s3)));
                black_box(result.unwrap());
                std::fs::remove_dir_all(&root).unwrap();
            })
        },
    );
    group.finish();

    let mut group = c.benchmark_group("component loading");
    group.sample_size(10);
    group.bench_function("compile the probe component (no cache)", |b| {
        b.iter(|| {
            let engine = ActionEngine::new(None).unwrap();
            black_box(rt.block_on(engine.load(wasm.clone())).unwrap());
        })
    });
    group.bench_function("load the probe component from the disk cache", |b| {
        b.iter(|| {
            let engine = ActionEngine::new(Some(cache_dir.clone())).unwrap();
            let loaded = rt.block_on(engine.load(wasm.clone())).unwrap();
            assert_eq!(loaded.cache, sandpipe_runtime::CacheOutcome::Hit);
        })
    });
    group.finish();
}

criterion_group!(benches, overhead);
criterion_main!(benches);
