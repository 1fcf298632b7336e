//! What the write budget costs: a guest writing 256 MiB through sandpipe's budgeted
//! `wasi:filesystem` until the budget stops it, beside `dd` writing the same 256 MiB in 1 MiB
//! blocks to the same work area, measured in the same run.
//!
//! cargo bench -p sandpipe-runtime --bench write_budget

use std::sync::Arc;
use std::time::{Duration, Instant};

use sandpipe_runtime::providers::PROBE_COMPONENT_PATH;
use sandpipe_runtime::testing::{invocation, request, runtime};
use sandpipe_runtime::{ActionError, ActionHost, WorkArea};
use sandpipe_store::LocalS3;

const BYTES: u64 = 256 << 20;
const ROUNDS: usize = 5;

fn main() {
    let rt = runtime();
    let scratch = tempfile::tempdir().unwrap();
    let host = ActionHost::new(Some(scratch.path().join("cache"))).unwrap();
    let wasm: Arc<[u8]> = std::fs::read(PROBE_COMPONENT_PATH).unwrap().into();
    let probe = rt.block_on(host.load(wasm)).unwrap();
    let s3 = Arc::new(LocalS3::open(&scratch.path().join("s3")).unwrap());
    let area = WorkArea::choose(&scratch.path().join("work")).unwrap();
    println!(
        "work area {} ({}); {} MiB per round, best of {ROUNDS}",
        area.root().display(),
        if area.in_memory() { "memory" } else { "disk" },
        BYTES >> 20
    );
    let mut guest = Duration::MAX;
    let mut dd = Duration::MAX;
    for round in 0..ROUNDS {
        let sandbox = area.sandbox("bench", &format!("guest-{round}")).unwrap();
        let root = sandbox.root().to_path_buf();
        let mut call = invocation(
            request(
                "Build/Custom/Probe/1",
                &[("Mode", "fill"), ("Path", "/tmp/flood")],
                &[],
                &[],
            ),
            Arc::new(sandbox),
            &s3,
            Duration::from_secs(120),
        );
        call.limits.output_bytes = BYTES;
        let started = Instant::now();
        let result = rt.block_on(host.execute(&probe, call));
        guest = guest.min(started.elapsed());
        assert!(matches!(result.outcome, Err(ActionError::LimitExceeded(_))));
        let written = std::fs::metadata(root.join("tmp/flood")).unwrap().len();
        assert_eq!(
            written, BYTES,
            "the guest wrote up to the budget and no further"
        );
        std::fs::remove_dir_all(&root).unwrap();

        let target = area.root().join(format!("dd-{round}"));
        let started = Instant::now();
        let status = std::process::Command::new("dd")
            .args([
                "if=/dev/zero",
                &format!("of={}", target.display()),
                "bs=1M",
                &format!("count={}", BYTES >> 20),
                "status=none",
            ])
            .status()
            .unwrap();
        dd = dd.min(started.elapsed());
        assert!(status.success());
        std::fs::remove_file(target).unwrap();
    }
    let rate = |d: Duration| (BYTES >> 20) as f64 / d.as_secs_f64();
    println!(
        "guest through the budget: {:.0} ms ({:.0} MiB/s, including instantiation); dd: {:.0} ms ({:.0} MiB/s); ratio {:.2}x",
        guest.as_secs_f64() * 1000.0,
        rate(guest),
        dd.as_secs_f64() * 1000.0,
        rate(dd),
        guest.as_secs_f64() / dd.as_secs_f64()
    );
}
