//! Components built against the `sandpipe:action@0.1.0` package before its worlds were split
//! per profile keep running: `fixtures/probe-wit-0.1.0.wasm` is the probe as it was built then
//! (commit e9054a3), frozen.

use std::sync::Arc;
use std::time::Duration;

use sandpipe_runtime::testing::{invocation, request};
use sandpipe_runtime::{ActionHost, Sandbox};
use sandpipe_store::LocalS3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_built_before_the_profile_worlds_still_runs() {
    let scratch = tempfile::tempdir().unwrap();
    let frozen = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/probe-wit-0.1.0.wasm"),
    )
    .unwrap();
    let host = ActionHost::new(None).unwrap();
    let probe = host.load(frozen.into()).await.unwrap();
    let s3 = Arc::new(LocalS3::open(&scratch.path().join("s3")).unwrap());
    let mut sandbox = Sandbox::create(&scratch.path().join("sandbox")).unwrap();
    let out = sandbox.add_output("Out").unwrap();
    let write = request(
        "Build/Custom/Probe/1",
        &[
            ("Mode", "write"),
            ("Path", "/out/Out/hello.txt"),
            ("Content", "still here"),
        ],
        &[],
        &["Out"],
    );
    let result = host
        .execute(
            &probe,
            invocation(write, Arc::new(sandbox), &s3, Duration::from_secs(20)),
        )
        .await;
    result.outcome.unwrap();
    assert_eq!(
        std::fs::read_to_string(out.join("hello.txt")).unwrap(),
        "still here"
    );
}
