//! The sandbox, exercised with the test-only probe component: what a hostile action tries,
//! and what it gets.

use std::path::Path;
use std::time::{Duration, Instant};

use sandpipe_model::execution::FailureKind;
use sandpipe_runtime::{ActionEvent, ExecutionLimits};

mod common;

use common::{Harness, failure_message, quick};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_only_what_it_was_given() {
    let h = Harness::new().await;
    let read = [("Mode", "read"), ("Path", "/in/Given/secret.txt")];
    let (outcome, _) = h.succeeds("given", &read).await;
    assert_eq!(
        outcome.output_variables,
        [("Content".to_string(), "given".to_string())]
    );

    for (name, path) in [
        ("passwd", "/etc/passwd"),
        ("other-input", "/in/Other/secret.txt"),
        ("dotdot", "/in/Given/../../../../etc/passwd"),
        ("out-escape", "/out/Out/../../in/Given/secret.txt"),
        (
            "host-path",
            &format!("{}/given/in/Given/secret.txt", h.scratch.path().display()),
        ),
    ] {
        let message = h.fails(name, &[("Mode", "read"), ("Path", path)]).await;
        assert!(message.starts_with(path), "{name}: {message}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cannot_write_inputs_or_outside_outputs() {
    let h = Harness::new().await;
    let write_input = [("Mode", "write"), ("Path", "/in/Given/secret.txt")];
    h.fails("write-in", &write_input).await;
    assert_eq!(
        std::fs::read_to_string(h.scratch.path().join("write-in/in/Given/secret.txt")).unwrap(),
        "given"
    );
    let write_up = [("Mode", "write"), ("Path", "/out/Out/../escaped")];
    h.fails("write-up", &write_up).await;
    assert!(!h.scratch.path().join("write-up/out/escaped").exists());
    let write_output = [("Mode", "write"), ("Path", "/out/Out/ok.txt")];
    let (_, out) = h.succeeds("write-ok", &write_output).await;
    assert_eq!(
        std::fs::read_to_string(out.join("ok.txt")).unwrap(),
        "probe"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_symlink_it_creates_does_not_reach_outside() {
    let h = Harness::new().await;
    // The link itself may be created (it is only a name), but nothing reads through it.
    let (_, _, out) = h
        .run(
            "symlink",
            &[
                ("Mode", "symlink"),
                ("Path", "/out/Out/passwd"),
                ("Target", "/etc/passwd"),
            ],
            quick(),
        )
        .await;
    h.fails("through", &[("Mode", "read"), ("Path", "/out/Out/passwd")])
        .await;
    if let Ok(target) = std::fs::read_link(out.join("passwd")) {
        assert_eq!(target, Path::new("/etc/passwd"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_loop_stops_at_its_deadline_while_another_action_finishes() {
    let h = Harness::new().await;
    let short = ExecutionLimits {
        timeout: Duration::from_secs(3),
        ..ExecutionLimits::default()
    };
    let started = Instant::now();
    let looping = async {
        let (result, _, _) = h.run("loop", &[("Mode", "loop")], short).await;
        (result, started.elapsed())
    };
    let neighbour = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (result, _, _) = h.run("neighbour", &[("Mode", "noop")], quick()).await;
        (result, started.elapsed())
    };
    let ((looped, loop_done), (neighbour, neighbour_done)) = tokio::join!(looping, neighbour);
    assert_eq!(
        failure_message(&looped),
        "the action did not finish within its timeout of 3.0s and was stopped"
    );
    assert!(
        loop_done >= Duration::from_secs(3),
        "stopped early: {loop_done:?}"
    );
    assert!(
        loop_done < Duration::from_secs(10),
        "stopped late: {loop_done:?}"
    );
    neighbour.unwrap();
    assert!(
        neighbour_done < loop_done,
        "the neighbour ({neighbour_done:?}) waited for the loop ({loop_done:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allocating_past_the_memory_limit_fails_with_a_limit_error() {
    let h = Harness::new().await;
    let limits = ExecutionLimits {
        memory_bytes: 64 << 20,
        ..quick()
    };
    let small = [("Mode", "allocate"), ("Megabytes", "16")];
    h.run("alloc-ok", &small, limits).await.0.unwrap();
    let big = [("Mode", "allocate"), ("Megabytes", "200")];
    let message = failure_message(&h.run("alloc-big", &big, limits).await.0);
    assert!(
        message.starts_with("the action exceeded its memory limit of 64 MiB"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buckets_not_named_in_the_configuration_are_denied() {
    let h = Harness::new().await;
    h.s3.create_bucket("granted").unwrap();
    h.s3.create_bucket("secret").unwrap();
    for bucket in ["granted", "secret"] {
        h.s3.put_object(bucket, "k", &mut &b"data"[..], Default::default(), u64::MAX)
            .unwrap();
    }
    // The configuration names `granted` (a key ending in Bucket); the probe reads `secret`.
    let (result, _, _) = h
        .run(
            "denied",
            &[
                ("Mode", "get-object"),
                ("Object", "secret/k"),
                ("TargetBucket", "granted"),
            ],
            quick(),
        )
        .await;
    let failure = result.unwrap_err();
    assert_eq!(failure.kind(), FailureKind::PermissionError);
    assert_eq!(
        failure.message(),
        "access denied: bucket 'secret' is not named in this action's configuration"
    );

    let allowed = [
        ("Mode", "get-object"),
        ("Object", "granted/k"),
        ("TargetBucket", "granted"),
        ("Path", "/out/Out/k"),
    ];
    let (_, out) = h.succeeds("allowed", &allowed).await;
    assert_eq!(std::fs::read(out.join("k")).unwrap(), b"data");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdout_is_captured_line_by_line_and_bounded() {
    let h = Harness::new().await;
    let (result, events, _) = h
        .run("print", &[("Mode", "print"), ("Lines", "3")], quick())
        .await;
    result.unwrap();
    let lines: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            ActionEvent::Output { line, .. } => Some(line.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        lines,
        [
            "line 0 from the probe",
            "line 1 from the probe",
            "line 2 from the probe"
        ]
    );

    let limits = ExecutionLimits {
        log_bytes: 1000,
        ..quick()
    };
    let (result, events, _) = h
        .run("flood", &[("Mode", "print"), ("Lines", "100000")], limits)
        .await;
    result.unwrap();
    let kept: usize = events
        .iter()
        .filter(|e| matches!(e, ActionEvent::Output { .. }))
        .count();
    assert!(kept < 60, "{kept} lines kept");
    assert!(events.iter().any(|e| matches!(e, ActionEvent::Log { message, .. } if message.starts_with("log limit reached"))));
}
