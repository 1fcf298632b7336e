//! V2 trigger filters and default change detection, decided for a table of pushes and pull
//! requests.

use sandpipe_model::triggers::{Decision, GitEvent, GitRef, evaluate};
use sandpipe_model::{PipelineDeclaration, PullRequestEvent, parse_document};

fn pipeline(triggers: &str, extra_source_config: &str) -> PipelineDeclaration {
    let text = format!(
        r#"{{
  "pipeline": {{
    "name": "monorepo",
    "pipelineType": "V2",
    "roleArn": "arn:aws:iam::111122223333:role/pipeline",
    "artifactStore": {{"type": "S3", "location": "artifacts"}},
    "triggers": {triggers},
    "stages": [
      {{"name": "Source", "actions": [
        {{"name": "App", "actionTypeId": {{"category": "Source", "owner": "AWS",
          "provider": "CodeStarSourceConnection", "version": "1"}},
          "configuration": {{"ConnectionArn": "arn:aws:codeconnections:us-east-1:111122223333:connection/x",
            "FullRepositoryId": "org/monorepo", "BranchName": "main"{extra_source_config}}},
          "outputArtifacts": [{{"name": "Src"}}]}}]}},
      {{"name": "Build", "actions": [
        {{"name": "Build", "actionTypeId": {{"category": "Build", "owner": "AWS",
          "provider": "CodeBuild", "version": "1"}},
          "configuration": {{"ProjectName": "p"}}, "inputArtifacts": [{{"name": "Src"}}]}}]}}
    ]
  }}
}}"#
    );
    let loaded = parse_document("pipeline.json", &text, false).unwrap();
    let problems = loaded.problems();
    assert!(problems.is_empty(), "{problems:?}");
    loaded.pipeline
}

/// Check a table of events: whether each starts the pipeline.
fn check(pipeline: &PipelineDeclaration, table: impl IntoIterator<Item = (GitEvent, bool)>) {
    for (event, starts) in table {
        let decision = evaluate(pipeline, "App", &event);
        assert_eq!(
            matches!(decision, Decision::Start { .. }),
            starts,
            "{event:?}: {decision:?}"
        );
    }
}

fn push(reference: GitRef, paths: &[&str]) -> GitEvent {
    GitEvent::Push {
        reference,
        changed_paths: paths.iter().map(|p| p.to_string()).collect(),
    }
}

fn branch(name: &str) -> GitRef {
    GitRef::Branch(name.into())
}

fn tag(name: &str) -> GitRef {
    GitRef::Tag(name.into())
}

const MONOREPO_TRIGGER: &str = r#"[{
  "providerType": "CodeStarSourceConnection",
  "gitConfiguration": {
    "sourceActionName": "App",
    "push": [
      {"branches": {"includes": ["main", "release/**"], "excludes": ["release/old-*"]},
       "filePaths": {"includes": ["projectA/**", "common/**/*.js"],
                     "excludes": ["**/README.md"]}},
      {"tags": {"includes": ["v*"], "excludes": ["v0.*", "*-rc?"]}}
    ]
  }
}]"#;

#[test]
fn push_filters_on_branches_tags_and_file_paths() {
    let pipeline = pipeline(MONOREPO_TRIGGER, "");
    // (pushed, changed files, starts?)
    let table: &[(GitRef, &[&str], bool)] = &[
        (branch("main"), &["projectA/src/app.ts"], true),
        (branch("main"), &["common/lib/util.js"], true),
        (branch("main"), &["common/util.js"], true),
        // `*` stays within a segment; the only change is not under an included path.
        (branch("main"), &["common/lib/util.ts"], false),
        (branch("main"), &["projectB/app.ts"], false),
        // Excludes win over includes: a README change alone does not start it...
        (branch("main"), &["projectA/README.md"], false),
        // ...but one included file among excluded ones does.
        (
            branch("main"),
            &["projectA/README.md", "projectA/x.ts"],
            true,
        ),
        (branch("main"), &[], false),
        (branch("release/2024/1"), &["projectA/a"], true),
        (branch("release/old-1"), &["projectA/a"], false),
        (branch("feature/x"), &["projectA/a"], false),
        (branch("mainline"), &["projectA/a"], false),
        (tag("v1.2.0"), &[], true),
        (tag("v0.9.0"), &[], false),
        (tag("v2.0-rc1"), &[], false),
        (tag("release-1"), &[], false),
    ];
    check(
        &pipeline,
        table
            .iter()
            .map(|(reference, paths, starts)| (push(reference.clone(), paths), *starts)),
    );
    // The execution takes the pushed branch, not BranchName; a tag exports no branch.
    assert_eq!(
        evaluate(
            &pipeline,
            "App",
            &push(branch("release/7"), &["projectA/a"])
        ),
        Decision::Start {
            branch: Some("release/7".into()),
            why: "push filter 1 matched: branch 'release/7' is included by 'release/**', and \
                  1 of 1 changed files pass the file path filter"
                .into()
        }
    );
    match evaluate(&pipeline, "App", &push(tag("v3"), &[])) {
        Decision::Start { branch, why } => {
            assert_eq!(branch, None);
            assert_eq!(why, "push filter 2 matched: tag 'v3' is included by 'v*'");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        evaluate(
            &pipeline,
            "App",
            &push(branch("feature/x"), &["projectA/a"])
        ),
        Decision::Ignore {
            why: "push filter 1: branch 'feature/x' matches none of the includes ('main', \
                  'release/**'); push filter 2: it filters tags, and branch 'feature/x' was pushed"
                .into()
        }
    );
    // An exclude says which pattern excluded it, not that it "is not included".
    assert_eq!(
        evaluate(&pipeline, "App", &push(tag("v2.0-rc1"), &[])),
        Decision::Ignore {
            why: "push filter 1: it filters branches, and tag 'v2.0-rc1' was pushed; push \
                  filter 2: tag 'v2.0-rc1' is excluded by '*-rc?'"
                .into()
        }
    );
}

#[test]
fn excludes_alone_accept_everything_else() {
    let pipeline = pipeline(
        r#"[{"providerType": "CodeStarSourceConnection", "gitConfiguration": {
            "sourceActionName": "App",
            "push": [{"branches": {"excludes": ["wip/**", "dependabot/*"]}}]}}]"#,
        "",
    );
    let table = [
        ("main", true),
        ("feature/a/b", true),
        ("wip/x/y", false),
        ("dependabot/npm", false),
        ("dependabot/npm/x", true),
    ]
    .map(|(name, starts)| (push(branch(name), &["a"]), starts));
    check(&pipeline, table);
}

#[test]
fn glob_syntax_is_codepipelines() {
    let pipeline = pipeline(
        r#"[{"providerType": "CodeStarSourceConnection", "gitConfiguration": {
            "sourceActionName": "App",
            "push": [{"branches": {"includes": ["main"]},
                      "filePaths": {"includes": ["*.{java,class}", "docs/?.md", "src/[a-c]*/**",
                                                 "literal\\*star"]}}]}}]"#,
        "",
    );
    let table = [
        ("Main.java", true),
        ("Main.class", true),
        ("pkg/Main.java", false),
        ("docs/a.md", true),
        ("docs/ab.md", false),
        ("src/b1/x/y.rs", true),
        ("src/d1/x.rs", false),
        ("literal*star", true),
        ("literalXstar", false),
    ]
    .map(|(path, starts)| (push(branch("main"), &[path]), starts));
    check(&pipeline, table);
}

#[test]
fn pull_requests_filter_events_destination_branches_and_paths() {
    let pipeline = pipeline(
        r#"[{"providerType": "CodeStarSourceConnection", "gitConfiguration": {
            "sourceActionName": "App",
            "pullRequest": [{"events": ["OPEN", "UPDATED"],
                             "branches": {"includes": ["main", "release/*"]},
                             "filePaths": {"excludes": ["docs/**"]}}]}}]"#,
        "",
    );
    let pr = |event, destination: &str, paths: &[&str]| GitEvent::PullRequest {
        event,
        source_branch: "feature/login".into(),
        destination_branch: destination.into(),
        changed_paths: paths.iter().map(|p| p.to_string()).collect(),
    };
    let table = [
        (pr(PullRequestEvent::Open, "main", &["src/a.rs"]), true),
        (
            pr(PullRequestEvent::Updated, "release/1", &["src/a.rs"]),
            true,
        ),
        (pr(PullRequestEvent::Closed, "main", &["src/a.rs"]), false),
        (pr(PullRequestEvent::Open, "develop", &["src/a.rs"]), false),
        (pr(PullRequestEvent::Open, "main", &["docs/x.md"]), false),
        (
            pr(PullRequestEvent::Open, "main", &["docs/x.md", "src/b.rs"]),
            true,
        ),
    ];
    check(&pipeline, table);
    // The pull request's source branch is what the execution exports.
    assert!(matches!(
        evaluate(&pipeline, "App", &pr(PullRequestEvent::Open, "main", &["a"])),
        Decision::Start { branch: Some(b), .. } if b == "feature/login"
    ));
    // A pipeline with only pull request filters ignores pushes.
    assert_eq!(
        evaluate(&pipeline, "App", &push(branch("main"), &["a"])),
        Decision::Ignore {
            why: "the trigger has no push filters".into()
        }
    );
}

#[test]
fn without_a_trigger_a_push_to_the_tracked_branch_starts_it() {
    let pipeline = pipeline("[]", "");
    assert!(matches!(
        evaluate(&pipeline, "App", &push(branch("main"), &[])),
        Decision::Start { branch: Some(b), .. } if b == "main"
    ));
    assert!(matches!(
        evaluate(&pipeline, "App", &push(branch("dev"), &["a"])),
        Decision::Ignore { .. }
    ));
    assert!(matches!(
        evaluate(&pipeline, "App", &push(tag("v1"), &[])),
        Decision::Ignore { .. }
    ));
    let off = pipeline_with_detection_off();
    assert!(matches!(
        evaluate(&off, "App", &push(branch("main"), &["a"])),
        Decision::Ignore { why } if why.contains("does not detect changes")
    ));
    assert!(matches!(
        evaluate(&off, "Nope", &push(branch("main"), &["a"])),
        Decision::Ignore { why } if why == "'Nope' is not a source action of the pipeline"
    ));
}

fn pipeline_with_detection_off() -> PipelineDeclaration {
    pipeline("[]", r#", "DetectChanges": "false""#)
}

#[test]
fn invalid_patterns_and_combinations_are_validation_problems() {
    let text = |trigger: &str| {
        format!(
            r#"{{"name": "p", "pipelineType": "V2", "roleArn": "arn:aws:iam::111122223333:role/r",
            "artifactStore": {{"type": "S3", "location": "artifacts"}},
            "triggers": [{{"providerType": "CodeStarSourceConnection", "gitConfiguration": {{
                "sourceActionName": "App", "push": [{trigger}]}}}}],
            "stages": [
              {{"name": "Source", "actions": [{{"name": "App", "actionTypeId": {{"category": "Source",
                "owner": "AWS", "provider": "CodeStarSourceConnection", "version": "1"}},
                "configuration": {{"ConnectionArn": "arn:c", "FullRepositoryId": "o/r", "BranchName": "main"}},
                "outputArtifacts": [{{"name": "Src"}}]}}]}},
              {{"name": "Deploy", "actions": [{{"name": "D", "actionTypeId": {{"category": "Deploy",
                "owner": "AWS", "provider": "S3", "version": "1"}},
                "configuration": {{"BucketName": "b", "Extract": "true"}},
                "inputArtifacts": [{{"name": "Src"}}]}}]}}]}}"#
        )
    };
    let problems = |trigger: &str| {
        parse_document("p.json", &text(trigger), false)
            .unwrap()
            .problems()
            .into_iter()
            .map(|p| format!("{}: {}", p.path, p.message))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        problems(r#"{"branches": {"includes": ["feature/[a-"]}}"#),
        vec![
            "triggers[0].gitConfiguration.push[0].branches.includes[0]: 'feature/[a-' is not a \
             valid glob pattern: unclosed character class; missing ']'"
        ]
    );
    assert_eq!(
        problems(r#"{"tags": {"includes": ["v*"]}, "filePaths": {"includes": ["src/**"]}}"#),
        vec![
            "triggers[0].gitConfiguration.push[0].filePaths: File paths filter pushes to \
             branches; a push filter on tags cannot have them (valid: tags, branches, or \
             branches and filePaths)"
        ]
    );
}
