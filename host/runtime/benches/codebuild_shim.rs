//! What the CodeBuild shim costs over running a build's commands directly with bash: a whole
//! CodeBuild action execution (fresh sandbox, buildspec parsed in wasm, working copy, one shell
//! session with its directory and environment carried between commands) beside `bash -c` for
//! each of the same commands.
//!
//! cargo bench -p sandpipe-runtime --bench codebuild_shim

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use sandpipe_runtime::providers::CODEBUILD_COMPONENT_PATH;
use sandpipe_runtime::testing::{invocation, request, runtime};
use sandpipe_runtime::{
    ActionHost, BuildRunner, EXEC, ExecGrant, LoadedComponent, ProviderPolicy, SECRETS, WorkArea,
    local_base_environment,
};
use sandpipe_store::LocalS3;

fn buildspec(commands: usize) -> String {
    if commands == 0 {
        return "version: 0.2\n".into();
    }
    let mut spec =
        String::from("version: 0.2\nenv:\n  shell: bash\nphases:\n  build:\n    commands:\n");
    for _ in 0..commands {
        spec.push_str("      - 'true'\n");
    }
    spec
}

fn shim(c: &mut Criterion) {
    let rt = runtime();
    let scratch = tempfile::tempdir().unwrap();
    let wasm: Arc<[u8]> = std::fs::read(CODEBUILD_COMPONENT_PATH).unwrap().into();
    let host = ActionHost::new(Some(scratch.path().join("cache"))).unwrap();
    let policy = ProviderPolicy {
        granted: [EXEC, SECRETS].into_iter().collect(),
    };
    let codebuild: LoadedComponent = rt.block_on(host.load_with_policy(wasm, &policy)).unwrap();
    let s3 = Arc::new(LocalS3::open(&scratch.path().join("s3")).unwrap());
    let work = WorkArea::choose(&scratch.path().join("work")).unwrap();
    let grant = ExecGrant {
        runner: BuildRunner::Local,
        base_environment: local_base_environment(&[]),
        region: "us-east-1".into(),
        account_id: "000000000000".into(),
        project: Some(("bench".into(), None)),
        deterministic: None,
        image_pins: Default::default(),
        images: Default::default(),
    };
    let counter = AtomicU64::new(0);
    let run_build = |spec: &str| {
        let n = counter.fetch_add(1, Ordering::Relaxed).to_string();
        let mut sandbox = work.sandbox("codebuild-bench", &n).unwrap();
        let (tree, _) = sandbox.add_input("Src").unwrap();
        std::fs::write(tree.join("buildspec.yml"), spec).unwrap();
        let build = request(
            "Build/AWS/CodeBuild/1",
            &[("ProjectName", "bench")],
            &["Src"],
            &[],
        );
        let mut invocation = invocation(build, Arc::new(sandbox), &s3, Duration::from_secs(60));
        invocation.grants.insert(grant.clone());
        let result = rt.block_on(host.execute(&codebuild, invocation));
        black_box(result.outcome.unwrap());
        std::fs::remove_dir_all(work.root().join("codebuild-bench").join(&n)).unwrap();
    };
    let bash = |commands: usize| {
        for _ in 0..commands {
            let status = std::process::Command::new("bash")
                .args(["-c", "true"])
                .status()
                .unwrap();
            assert!(status.success());
        }
    };

    let mut group = c.benchmark_group("codebuild shim");
    group.sample_size(30);
    let empty = buildspec(0);
    group.bench_function("CodeBuild action, empty buildspec", |b| {
        b.iter(|| run_build(&empty))
    });
    for commands in [1, 10] {
        let spec = buildspec(commands);
        group.bench_function(format!("bash -c true, {commands} command(s)"), |b| {
            b.iter(|| bash(commands))
        });
        group.bench_function(
            format!("CodeBuild action, {commands} command(s) of true"),
            |b| b.iter(|| run_build(&spec)),
        );
    }
    group.finish();
    work.remove_execution("codebuild-bench");
}

criterion_group!(benches, shim);
criterion_main!(benches);
