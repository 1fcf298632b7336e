//! `sandpipe s3 sync` as `aws s3 sync` behaves: what is missing, resized or newer is copied,
//! a second sync does nothing, `--delete` and the filters hold on both sides, and a key that
//! would land outside the target directory is refused.

mod common;

use common::Workspace;

fn lines(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort();
    lines
}

#[test]
fn sync_up_down_and_across_copies_only_what_changed() {
    let ws = Workspace::new();
    std::fs::create_dir_all(ws.path("site/css")).unwrap();
    std::fs::create_dir_all(ws.path("site/logs")).unwrap();
    ws.write("site/index.html", "<h1>one</h1>\n");
    ws.write("site/css/app.css", "body{}\n");
    ws.write("site/logs/build.log", "noise\n");
    ws.ok(&["s3", "mb", "s3://web"]);

    let up = ws.ok(&["s3", "sync", "site", "s3://web/app", "--exclude", "*.log"]);
    assert_eq!(
        lines(&up),
        [
            "upload: site/css/app.css to s3://web/app/css/app.css",
            "upload: site/index.html to s3://web/app/index.html",
        ]
    );
    // Nothing changed: nothing to do, up or (after the first download) down.
    assert_eq!(
        ws.ok(&["s3", "sync", "site", "s3://web/app", "--exclude", "*.log"]),
        ""
    );
    let down = ws.ok(&["s3", "sync", "s3://web/app", "copy"]);
    assert_eq!(down.lines().count(), 2, "{down}");
    assert_eq!(ws.ok(&["s3", "sync", "s3://web/app", "copy"]), "");
    assert_eq!(
        std::fs::read_to_string(ws.path("copy/css/app.css")).unwrap(),
        "body{}\n"
    );

    // A resized file goes up again; with --delete a removed one goes away, but an excluded
    // one on the other side stays; --dryrun only says so.
    ws.write("site/index.html", "<h1>two, longer</h1>\n");
    std::fs::remove_file(ws.path("site/css/app.css")).unwrap();
    ws.ok(&["s3", "cp", "site/logs/build.log", "s3://web/app/old.log"]);
    let args = [
        "s3",
        "sync",
        "site",
        "s3://web/app",
        "--delete",
        "--exclude",
        "*.log",
    ];
    let planned = ws.ok(&[&args[..], &["--dryrun"]].concat());
    assert_eq!(
        lines(&planned),
        [
            "(dryrun) delete: s3://web/app/css/app.css",
            "(dryrun) upload: site/index.html to s3://web/app/index.html",
        ]
    );
    assert!(ws.list("s3://web/app").contains("css/app.css"));
    ws.ok(&args);
    let listed = ws.list("s3://web/app");
    assert!(
        !listed.contains("app.css") && listed.contains("old.log"),
        "{listed}"
    );
    assert_eq!(ws.get("s3://web/app/index.html"), b"<h1>two, longer</h1>\n");

    // Bucket to bucket, with a later --include taking back what an --exclude left out.
    ws.ok(&["s3", "mb", "s3://mirror"]);
    let across = ws.ok(&[
        "s3",
        "sync",
        "s3://web",
        "s3://mirror",
        "--exclude",
        "*",
        "--include",
        "*.log",
    ]);
    assert_eq!(
        across.trim(),
        "copy: s3://web/app/old.log to s3://mirror/app/old.log"
    );
}

#[test]
fn sync_refuses_what_it_cannot_do_with_one_clear_error() {
    let ws = Workspace::new();
    ws.ok(&["s3", "mb", "s3://bkt"]);
    ws.write("f", "x");
    ws.ok(&["s3", "cp", "f", "s3://bkt/p/../../escaped"]);
    let refused = ws.fails(&["s3", "sync", "s3://bkt/p", "out"]);
    assert!(
        refused.contains("the key part '../../escaped' would land outside out: not downloaded"),
        "{refused}"
    );
    assert!(!ws.path("escaped").exists() && !ws.dir.path().join("../escaped").exists());

    let missing = ws.fails(&["s3", "sync", "nothere", "s3://bkt"]);
    assert!(
        missing.contains("the source directory nothere does not exist"),
        "{missing}"
    );
    let pattern = ws.fails(&["s3", "sync", ".", "s3://bkt", "--exclude", "["]);
    assert!(
        pattern.contains("--exclude '[': not a pattern: unclosed character class"),
        "{pattern}"
    );
    let local = ws.fails(&["s3", "sync", "a", "b"]);
    assert!(local.contains("must be an s3:// URL"), "{local}");
}
