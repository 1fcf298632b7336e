//! The compiled-component cache: a second load does not recompile, and an entry that was
//! tampered with is recompiled rather than loaded.

use std::sync::Arc;

use sandpipe_runtime::providers::PROBE_COMPONENT_PATH;
use sandpipe_runtime::{ActionHost, CacheOutcome, EXEC, ProviderPolicy};

fn entries(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir.join("components"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_engine_loads_from_the_cache_and_tampering_forces_a_recompile() {
    let scratch = tempfile::tempdir().unwrap();
    let cache = scratch.path().join("cache");
    let wasm: Arc<[u8]> = std::fs::read(PROBE_COMPONENT_PATH).unwrap().into();

    let first = ActionHost::new(Some(cache.clone())).unwrap();
    assert_eq!(
        first.load(wasm.clone()).await.unwrap().cache,
        CacheOutcome::Compiled
    );
    // The same engine keeps what it loaded.
    assert_eq!(
        first.load(wasm.clone()).await.unwrap().cache,
        CacheOutcome::Compiled
    );

    let second = ActionHost::new(Some(cache.clone())).unwrap();
    assert_eq!(
        second.load(wasm.clone()).await.unwrap().cache,
        CacheOutcome::Hit
    );

    let [entry] = entries(&cache).try_into().unwrap();
    let mut bytes = std::fs::read(&entry).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&entry, &bytes).unwrap();
    let third = ActionHost::new(Some(cache.clone())).unwrap();
    assert_eq!(
        third.load(wasm.clone()).await.unwrap().cache,
        CacheOutcome::Compiled
    );
    let fourth = ActionHost::new(Some(cache)).unwrap();
    assert_eq!(fourth.load(wasm).await.unwrap().cache, CacheOutcome::Hit);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_importing_what_is_not_granted_is_refused_before_it_runs() {
    let engine = ActionHost::new(None).unwrap();
    // An interface outside the action world is refused at load, before instantiation.
    let wat = r#"(component
        (import "sandpipe:action/network@0.1.0" (instance))
    )"#;
    let error = engine
        .load(wasmtime_wat(wat).into())
        .await
        .err()
        .expect("refused");
    assert_eq!(
        error.to_string(),
        "the component imports 'sandpipe:action/network@0.1.0', which sandpipe does not grant to actions"
    );

    // exec is in the world, but only for providers whose policy grants it.
    let wat = r#"(component
        (import "sandpipe:action/exec@0.1.0" (instance))
    )"#;
    let wasm: Arc<[u8]> = wasmtime_wat(wat).into();
    let error = engine.load(wasm.clone()).await.err().expect("refused");
    assert_eq!(
        error.to_string(),
        "the component imports 'sandpipe:action/exec@0.1.0', which needs the 'exec' capability, \
         and the operator has not granted it (grant with --grant <action type>=exec)"
    );
    let granted = ProviderPolicy {
        granted: [EXEC].into_iter().collect(),
    };
    // Granted, it passes the audit (and then fails only for not exporting a runner).
    let error = engine
        .load_with_policy(wasm, &granted)
        .await
        .err()
        .expect("no runner export");
    assert!(!error.to_string().contains("capability"), "{error:#}");
}

fn wasmtime_wat(text: &str) -> Vec<u8> {
    wat::parse_str(text).unwrap()
}
