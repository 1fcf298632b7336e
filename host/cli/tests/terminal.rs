//! What sandpipe writes for people: no panic when a pipe's reader has gone, tables that fit
//! COLUMNS without breaking a name, colour as NO_COLOR and CLICOLOR_FORCE say, and the message
//! for a pipeline with no executions.

use std::os::fd::FromRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

mod common;
use common::Workspace;

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/s3-to-s3/pipeline.json")
}

/// sandpipe in `ws`, with none of the variables these tests are about inherited.
fn sandpipe(ws: &Workspace, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sandpipe"));
    command
        .args(args)
        .current_dir(ws.dir.path())
        .env_remove("SANDPIPE_STATE_DIR")
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("COLUMNS");
    command
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A workspace where the seed tutorial has run once; the execution's id.
fn ran_once() -> (Workspace, String) {
    let ws = Workspace::new();
    ws.tutorial_buckets();
    ws.write("file", "Hello!\n");
    ws.ok(&["s3", "cp", "file", "s3://source-bucket/file"]);
    ws.ok(&["run", example().to_str().unwrap()]);
    let list: serde_json::Value =
        serde_json::from_str(&ws.ok(&["executions", "list", "--json"])).unwrap();
    let id = list[0]["pipelineExecutionId"].as_str().unwrap().to_string();
    (ws, id)
}

/// `sandpipe <args> | head -1` through `sh -c`, with `head` gone before sandpipe writes: the
/// writer's side first gives head its one line, then waits on a FIFO until the reader's side
/// has closed the pipe. A pipe buffer would otherwise swallow a short output whole, and the
/// test would pass on code that panics. Returns what sandpipe said on stderr, and its exit
/// status as the shell saw it.
fn into_gone_head(ws: &Workspace, args: &[&str]) -> (String, String) {
    let script = r#"
        fifo="$PWD/reader-gone"
        mkfifo "$fifo"
        {
            echo first
            read ignored < "$fifo"
            "$SANDPIPE" "$@"
            echo "exit=$?" >&2
        } | {
            head -1 > /dev/null
            exec 0<&-
            : > "$fifo"
        }
        rm "$fifo"
    "#;
    let output = Command::new("sh")
        .args(["-c", script, "sh"])
        .args(args)
        .current_dir(ws.dir.path())
        .env("SANDPIPE", env!("CARGO_BIN_EXE_sandpipe"))
        .env_remove("SANDPIPE_STATE_DIR")
        .env_remove("COLUMNS")
        .output()
        .unwrap();
    let stderr = text(&output.stderr);
    let status = stderr
        .lines()
        .filter_map(|line| line.strip_prefix("exit="))
        .next_back()
        .unwrap_or_else(|| panic!("no exit status from sandpipe {args:?}:\n{stderr}"))
        .to_string();
    (stderr, status)
}

#[test]
fn a_reader_that_went_away_ends_every_command_quietly() {
    let (ws, id) = ran_once();
    let pipeline = example().to_str().unwrap().to_string();
    let commands: [&[&str]; 8] = [
        &["executions", "list"],
        &["executions", "list", "--json"],
        &["executions", "show", &id],
        &["logs", &id],
        &["s3", "ls", "s3://source-bucket"],
        &["graph", &pipeline],
        &["validate", "--json", &pipeline],
        &["run", &pipeline],
    ];
    for args in commands {
        let (stderr, status) = into_gone_head(&ws, args);
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "sandpipe {args:?}:\n{stderr}"
        );
        // 128 + SIGPIPE, as for a command the closed pipe would have killed.
        assert_eq!(status, "141", "sandpipe {args:?}:\n{stderr}");
    }
    // The run went on to its end, recorded, before its summary met the closed pipe.
    assert_eq!(ws.records().len(), 2);
    assert_eq!(ws.records()[1]["status"], "Succeeded");
}

/// The write end of a pipe whose read end is already closed.
fn pipe_without_reader() -> Stdio {
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    unsafe { libc::close(fds[0]) };
    Stdio::from(unsafe { std::fs::File::from_raw_fd(fds[1]) })
}

#[test]
fn a_closed_stderr_loses_the_messages_not_the_run() {
    let (ws, _) = ran_once();
    let output = sandpipe(&ws, &["run", example().to_str().unwrap()])
        .stderr(pipe_without_reader())
        .output()
        .unwrap();
    assert!(output.status.success(), "{:?}", output.status);
    assert!(text(&output.stdout).contains("Succeeded"));

    let output = sandpipe(&ws, &["executions", "list", "--pipeline", "nope"])
        .stderr(pipe_without_reader())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
}

/// A pipeline whose names are longer than 80 columns leave room for.
fn long_named_pipeline(ws: &Workspace) -> PathBuf {
    ws.write(
        "long.json",
        r#"{"pipeline":{"name":"a-pipeline-with-a-rather-long-name","roleArn":"arn:aws:iam::000000000000:role/r",
          "artifactStore":{"type":"S3","location":"artifact-store-bucket"},
          "stages":[
            {"name":"FetchTheSourceFromTheBucket","actions":[{"name":"DownloadTheSourceObject",
              "actionTypeId":{"category":"Source","owner":"AWS","provider":"S3","version":"1"},
              "configuration":{"S3Bucket":"source-bucket","S3ObjectKey":"file","PollForSourceChanges":"false"},
              "outputArtifacts":[{"name":"Site"}]}]},
            {"name":"PublishToTheTargetBucket","actions":[{"name":"CopyTheArtifactAcross",
              "actionTypeId":{"category":"Deploy","owner":"AWS","provider":"S3","version":"1"},
              "configuration":{"BucketName":"target-bucket","Extract":"false","ObjectKey":"published/output-artifact-file"},
              "inputArtifacts":[{"name":"Site"}]}]}]}}"#,
    )
}

/// The cells of each row line of a drawn table (header included), trimmed.
fn table_cells(drawn: &str) -> Vec<Vec<String>> {
    drawn
        .lines()
        .filter(|line| line.starts_with('│'))
        .map(|line| {
            line.trim_matches('│')
                .split('┆')
                .map(|cell| cell.trim().to_string())
                .collect()
        })
        .collect()
}

/// `cell` is one of `whole`, or the start of one cut with an ellipsis.
fn whole_or_ellipsised(cell: &str, whole: &[&str]) -> bool {
    whole.iter().any(|name| {
        *name == cell
            || cell
                .strip_suffix('…')
                .is_some_and(|start| !start.is_empty() && name.starts_with(start))
    })
}

fn summary_of_run(ws: &Workspace, pipeline: &Path, columns: Option<&str>) -> String {
    let mut command = sandpipe(ws, &["run", pipeline.to_str().unwrap()]);
    if let Some(columns) = columns {
        command.env("COLUMNS", columns);
    }
    let output = command.output().unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    text(&output.stdout)
}

#[test]
fn the_summary_table_fits_columns_without_breaking_a_name() {
    let ws = Workspace::new();
    ws.tutorial_buckets();
    ws.write("file", "Hello!\n");
    ws.ok(&["s3", "cp", "file", "s3://source-bucket/file"]);
    let pipeline = long_named_pipeline(&ws);
    let stages = ["FetchTheSourceFromTheBucket", "PublishToTheTargetBucket"];
    let actions = ["DownloadTheSourceObject", "CopyTheArtifactAcross"];
    let providers = ["Source/AWS/S3/1", "Deploy/AWS/S3/1"];
    for columns in ["80", "100", "60"] {
        let summary = summary_of_run(&ws, &pipeline, Some(columns));
        let table: Vec<&str> = summary
            .lines()
            .filter(|l| !l.starts_with("Execution"))
            .collect();
        let width: usize = columns.parse().unwrap();
        for line in &table {
            assert!(
                line.chars().count() <= width,
                "wider than {width}:\n{summary}"
            );
        }
        let rows = table_cells(&table.join("\n"));
        let headers = [
            "Stage", "Action", "Provider", "Status", "Duration", "Details",
        ];
        for (header, cell) in headers.iter().zip(&rows[0]) {
            assert!(whole_or_ellipsised(cell, &[header]), "{summary}");
        }
        let mut seen = 0;
        for row in &rows[1..] {
            // A row's continuation lines leave the name columns empty.
            if row[0].is_empty() {
                assert!(row[1..5].iter().all(String::is_empty), "{summary}");
                continue;
            }
            seen += 1;
            assert!(whole_or_ellipsised(&row[0], &stages), "{row:?}\n{summary}");
            assert!(whole_or_ellipsised(&row[1], &actions), "{row:?}\n{summary}");
            assert!(
                whole_or_ellipsised(&row[2], &providers),
                "{row:?}\n{summary}"
            );
            assert!(
                whole_or_ellipsised(&row[3], &["Succeeded"]),
                "{row:?}\n{summary}"
            );
        }
        assert_eq!(seen, 2, "{summary}");
    }
    // 80 columns hold each provider whole beside names cut short.
    let summary = summary_of_run(&ws, &pipeline, Some("80"));
    for provider in providers {
        assert!(summary.contains(provider), "{summary}");
    }

    // Without COLUMNS, off a terminal, nothing is wrapped: one line per action.
    let summary = summary_of_run(&ws, &pipeline, None);
    let rows = table_cells(&summary);
    assert_eq!(rows.len(), 3, "{summary}");
    assert_eq!(rows[1][0], stages[0]);
    assert!(rows[1][5].contains("s3://source-bucket/file"), "{summary}");

    // `executions list` at 80 columns: ids cut to a prefix, never broken over lines.
    let output = sandpipe(&ws, &["executions", "list"])
        .env("COLUMNS", "80")
        .output()
        .unwrap();
    let list = text(&output.stdout);
    assert!(list.lines().all(|l| l.chars().count() <= 80), "{list}");
    let ids: Vec<String> =
        serde_json::from_str::<serde_json::Value>(&ws.ok(&["executions", "list", "--json"]))
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["pipelineExecutionId"].as_str().unwrap().to_string())
            .collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    for row in &table_cells(&list)[1..] {
        assert!(
            row[0].is_empty() || whole_or_ellipsised(&row[0], &ids),
            "{row:?}\n{list}"
        );
        if let Some(prefix) = row[0].strip_suffix('…') {
            // The prefix shown is one `executions show` takes.
            ws.ok(&["executions", "show", prefix]);
        }
    }
}

fn has_escapes(output: &Output) -> (bool, bool) {
    (output.stdout.contains(&0x1b), output.stderr.contains(&0x1b))
}

#[test]
fn no_color_and_clicolor_force_decide_colour() {
    let (ws, _) = ran_once();
    let pipeline = example();
    let run = |env: &[(&str, &str)]| {
        let mut command = sandpipe(&ws, &["run", pipeline.to_str().unwrap()]);
        command.envs(env.iter().copied());
        let output = command.output().unwrap();
        assert!(output.status.success(), "{}", text(&output.stderr));
        output
    };
    // Off a terminal: no colour, unless forced.
    assert_eq!(has_escapes(&run(&[])), (false, false));
    let forced = run(&[("CLICOLOR_FORCE", "1")]);
    assert_eq!(has_escapes(&forced), (true, true));
    // The live view's marks and the table's status words are what is coloured.
    assert!(
        text(&forced.stderr).contains("\u{1b}[32m✔"),
        "{}",
        text(&forced.stderr)
    );
    assert!(
        text(&forced.stdout).contains("Succeeded\u{1b}["),
        "{}",
        text(&forced.stdout)
    );
    assert_eq!(
        has_escapes(&run(&[("CLICOLOR_FORCE", "0")])),
        (false, false)
    );
    // NO_COLOR wins.
    let both = run(&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]);
    assert_eq!(has_escapes(&both), (false, false));
    // An empty NO_COLOR is as good as none.
    let empty = run(&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "")]);
    assert_eq!(has_escapes(&empty), (true, true));

    let list = sandpipe(&ws, &["executions", "list"])
        .env("CLICOLOR_FORCE", "1")
        .output()
        .unwrap();
    assert!(list.stdout.contains(&0x1b));
}

#[test]
fn a_pipeline_without_executions_is_named_with_those_that_have_some() {
    let (ws, _) = ran_once();
    for json in [false, true] {
        let mut args = vec!["executions", "list", "--pipeline", "nope"];
        if json {
            args.push("--json");
        }
        let output = sandpipe(&ws, &args).output().unwrap();
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert!(output.stdout.is_empty(), "{}", text(&output.stdout));
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains("no executions of pipeline 'nope' in ")
                && stderr.contains(".sandpipe")
                && stderr.contains("'pipeline'"),
            "{stderr}"
        );
    }
    // A pipeline that has run is listed as before.
    let output = sandpipe(&ws, &["executions", "list", "--pipeline", "pipeline"])
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(text(&output.stdout).contains("Succeeded"));
}
