//! The store's own tests: migrations, concurrent opening, versions, records, the stage gate,
//! ownership and the targeted queries.

use rusqlite::Connection;

use crate::testing::{orphan_and_alive, record};
use crate::*;

#[test]
fn a_database_made_before_the_trigger_column_gets_it() {
    let dir = tempfile::tempdir().unwrap();
    let old = Connection::open(dir.path().join("state.db")).unwrap();
    old.execute_batch(
        "CREATE TABLE executions (id TEXT PRIMARY KEY, pipeline TEXT NOT NULL, \
         pipeline_version INTEGER NOT NULL, status TEXT NOT NULL, status_summary TEXT, \
         source_file TEXT NOT NULL, variables TEXT NOT NULL DEFAULT '{}', \
         execution_type TEXT NOT NULL DEFAULT 'STANDARD', rollback_target TEXT, \
         start_time TEXT NOT NULL, end_time TEXT, owner_pid INTEGER, owner_started TEXT, \
         stop_request TEXT, stop_reason TEXT);",
    )
    .unwrap();
    drop(old);
    let state = StateStore::open(dir.path()).unwrap();
    let record = record("e-old");
    state
        .executions()
        .create(&record, &ProcessOwner::current())
        .unwrap();
    assert_eq!(
        state.executions().get("e-old").unwrap().trigger,
        record.trigger
    );
    // Opening again finds the column there.
    drop(state);
    StateStore::open(dir.path()).unwrap();
}

#[test]
fn many_processes_may_open_a_new_database_at_once() {
    // Threads stand in for processes: each opens its own connection to a fresh database.
    for _ in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let openers: Vec<_> = (0..6)
            .map(|_| {
                let path = dir.path().to_path_buf();
                std::thread::spawn(move || {
                    StateStore::open(&path)
                        .and_then(|state| state.executions().list(None, 1))
                        .map(drop)
                })
            })
            .collect();
        for opener in openers {
            opener.join().unwrap().unwrap();
        }
    }
}

#[test]
fn a_changed_declaration_is_a_new_version() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateStore::open(dir.path()).unwrap();
    for (name, declaration, version) in [
        ("p", "{\"a\":1}", 1),
        ("p", "{\"a\":1}", 1),
        ("p", "{\"a\":2}", 2),
        ("q", "{\"a\":2}", 1),
    ] {
        let registered = state
            .executions()
            .register_pipeline(name, declaration, "f.json");
        assert_eq!(registered.unwrap(), version, "{name} {declaration}");
    }
}

#[test]
fn records_round_trip_and_update_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateStore::open(dir.path()).unwrap();
    let mut execution = record("0123-abcd");
    state
        .executions()
        .create(&execution, &ProcessOwner::current())
        .unwrap();
    execution.stages[1].actions[1].status = ActionStatus::Succeeded;
    execution.stages[1].actions[1]
        .output_variables
        .insert("K".into(), "V".into());
    state
        .executions()
        .save_action("0123-abcd", 1, 1, &execution.stages[1].actions[1])
        .unwrap();
    execution.stages[1].status = StageStatus::Succeeded;
    state
        .executions()
        .save_stage("0123-abcd", 1, &execution.stages[1])
        .unwrap();
    execution.status = ExecutionStatus::Succeeded;
    execution.end_time = Some(now());
    state.executions().save_status(&execution).unwrap();
    // Reopened, by a unique prefix of the id.
    let reopened = StateStore::open(dir.path()).unwrap();
    assert_eq!(reopened.executions().get("0123").unwrap(), execution);
    for unknown in ["9", "", "%", "0123-abcd-"] {
        assert!(
            matches!(
                reopened.executions().get(unknown),
                Err(StateError::NoSuchExecution { .. })
            ),
            "{unknown}"
        );
    }
    let list = reopened.executions().list(Some("p"), 10).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].status, ExecutionStatus::Succeeded);
}

/// Store executions owned by this process.
fn store<const N: usize>(state: &StateStore, records: [&ExecutionRecord; N]) {
    for record in records {
        let owner = ProcessOwner::current();
        state.executions().create(record, &owner).unwrap();
    }
}

#[test]
fn executions_of_dead_processes_are_orphans() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateStore::open(dir.path()).unwrap();
    orphan_and_alive(&state);
    let orphans = state.ownership().orphans().unwrap();
    assert_eq!(
        orphans,
        [Orphan {
            id: "orphan".into(),
            pid: u32::MAX - 1,
            status: ExecutionStatus::InProgress,
        }]
    );
    // Claimed by this process, it is no orphan.
    state
        .ownership()
        .claim("orphan", &ProcessOwner::current())
        .unwrap();
    assert!(state.ownership().orphans().unwrap().is_empty());
}

#[test]
fn a_superseded_execution_learns_by_whom() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateStore::open(dir.path()).unwrap();
    let older = record("older");
    let mut newer = record("newer");
    newer.start_time = "9999-01-01T00:00:00.000Z".into();
    store(&state, [&older, &newer]);
    let gate = state.stage_gate();
    assert_eq!(
        gate.enter("p", "Deploy", "older", StageSharing::Superseded)
            .unwrap(),
        StageEntry::Entered
    );
    gate.leave("p", "Deploy", "older").unwrap();
    // Both wait at the next door; the holder is elsewhere.
    gate.disable_transition("p", "Next", "freeze").unwrap();
    assert_eq!(
        gate.enter("p", "Next", "older", StageSharing::Superseded)
            .unwrap(),
        StageEntry::TransitionDisabled {
            reason: "freeze".into()
        }
    );
    assert_eq!(
        gate.enter("p", "Next", "newer", StageSharing::Superseded)
            .unwrap(),
        StageEntry::TransitionDisabled {
            reason: "freeze".into()
        }
    );
    assert_eq!(
        gate.enter("p", "Next", "older", StageSharing::Superseded)
            .unwrap(),
        StageEntry::Superseded { by: "newer".into() }
    );
    let older = state.executions().get("older").unwrap();
    assert_eq!(older.status, ExecutionStatus::Superseded);
    assert_eq!(
        older.status_summary.as_deref(),
        Some("superseded by execution newer, which is waiting for stage 'Next'")
    );
}

#[test]
fn rollback_targets_and_newer_executions_are_found_by_query() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateStore::open(dir.path()).unwrap();
    let mut first = record("first");
    first.start_time = "2026-01-01T00:00:00.000Z".into();
    first.stages[1].status = StageStatus::Succeeded;
    let mut second = record("second");
    second.start_time = "2026-01-02T00:00:00.000Z".into();
    second.stages[1].status = StageStatus::Failed;
    store(&state, [&first, &second]);
    let executions = state.executions();
    assert_eq!(
        executions
            .latest_succeeded_in_stage("p", 1)
            .unwrap()
            .as_deref(),
        Some("first")
    );
    assert_eq!(executions.latest_succeeded_in_stage("p", 0).unwrap(), None);
    assert_eq!(
        executions.newer_in_stage(&first, 1).unwrap().as_deref(),
        Some("second")
    );
    assert_eq!(executions.newer_in_stage(&first, 0).unwrap(), None);
    assert_eq!(executions.newer_in_stage(&second, 1).unwrap(), None);
}

#[test]
fn an_execution_id_is_exact_or_a_unique_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateStore::open(dir.path()).unwrap();
    let empty = state.executions().resolve("ab").unwrap_err().to_string();
    assert_eq!(
        empty,
        format!(
            "no execution 'ab' in {} (it has no executions)",
            dir.path().display()
        )
    );
    let mut records = Vec::new();
    for (n, id) in ["ab", "abc", "abd", "b1"].into_iter().enumerate() {
        let mut record = record(id);
        record.start_time = format!("2026-01-0{}T10:11:12.000Z", n + 1);
        records.push(record);
    }
    store(&state, [&records[0], &records[1], &records[2], &records[3]]);
    let executions = state.executions();
    // An exact id wins over the longer ids it begins.
    assert_eq!(executions.resolve("ab").unwrap().id, "ab");
    assert_eq!(executions.resolve("abd").unwrap().id, "abd");
    assert_eq!(executions.get("b").unwrap().pipeline_execution_id, "b1");
    // Prefixes are case-sensitive, and characters LIKE would treat specially are plain.
    assert!(executions.resolve("AB").is_err());
    assert!(executions.resolve("a_").is_err());
    let ambiguous = executions.resolve("a").unwrap_err();
    assert_eq!(
        ambiguous.to_string(),
        "ambiguous execution id 'a': it begins 3 executions: \
         abd (p, InProgress, 2026-01-03 10:11:12), abc (p, InProgress, 2026-01-02 10:11:12), \
         ab (p, InProgress, 2026-01-01 10:11:12)"
    );
    let unknown = executions.get("x").unwrap_err().to_string();
    assert_eq!(
        unknown,
        format!(
            "no execution 'x' in {}; the latest is b1 (p, InProgress, 2026-01-04 10:11:12)",
            dir.path().display()
        )
    );
    // Many candidates: the newest ten, and how many more.
    for n in 0..12 {
        let mut record = record(&format!("c{n:02}"));
        record.start_time = format!("2026-02-01T00:00:{n:02}.000Z");
        store(&state, [&record]);
    }
    let many = state.executions().resolve("c").unwrap_err().to_string();
    assert!(
        many.starts_with("ambiguous execution id 'c': it begins 12 executions: c11 ("),
        "{many}"
    );
    assert!(
        many.ends_with("c02 (p, InProgress, 2026-02-01 00:00:02) and 2 more"),
        "{many}"
    );
}

#[test]
fn executions_are_listed_by_status() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateStore::open(dir.path()).unwrap();
    let mut failed = record("failed");
    failed.status = ExecutionStatus::Failed;
    failed.start_time = "2026-01-01T00:00:00.000Z".into();
    let mut other = record("other");
    other.pipeline_name = "q".into();
    other.start_time = "2026-01-02T00:00:00.000Z".into();
    store(&state, [&failed, &other]);
    let ids = |pipeline, statuses: &[ExecutionStatus]| -> Vec<String> {
        let list = state.executions().list_in(pipeline, statuses, 10).unwrap();
        list.into_iter().map(|e| e.id).collect()
    };
    assert_eq!(ids(None, &[]), ["other", "failed"]);
    assert_eq!(ids(None, &[ExecutionStatus::Failed]), ["failed"]);
    assert_eq!(
        ids(
            None,
            &[ExecutionStatus::InProgress, ExecutionStatus::Stopping]
        ),
        ["other"]
    );
    assert!(ids(Some("q"), &[ExecutionStatus::Failed]).is_empty());
}

#[test]
fn a_failure_summary_names_the_failed_action_and_clips_its_error() {
    let mut execution = record("e");
    assert_eq!(execution.failure_summary(1), None, "nothing failed");
    for action in &mut execution.stages[1].actions {
        action.status = ActionStatus::Failed;
        action.error = Some(ErrorDetails {
            code: "JobFailed".into(),
            message: format!("line one\n  line two {}", "x".repeat(300)),
        });
    }
    let summary = execution.failure_summary(1).unwrap();
    assert!(
        summary.starts_with("Deploy/B failed: line one line two xxx"),
        "{summary}"
    );
    assert!(
        summary.ends_with("… [118 more characters] (and 1 more action)"),
        "{summary}"
    );
    assert_eq!(execution.failure_summary(7), None);
}

#[test]
fn the_generation_moves_with_every_commit_from_any_connection() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateStore::open(dir.path()).unwrap();
    let first = state.generation().unwrap();
    assert_eq!(state.generation().unwrap(), first, "nothing changed");
    state
        .stage_gate()
        .disable_transition("p", "Deploy", "held")
        .unwrap();
    let after_own = state.generation().unwrap();
    assert_ne!(after_own, first, "this store's own commit");
    // Another process's store is another connection.
    let other = StateStore::open(dir.path()).unwrap();
    other.stage_gate().enable_transition("p", "Deploy").unwrap();
    assert_ne!(state.generation().unwrap(), after_own, "another's commit");
}
