//! What each provider accepts and the output variables it publishes, exactly as CodePipeline
//! documents them.

use sandpipe_action_sdk::git::{Commit, RepositoryInfo};
use sandpipe_action_sdk::{Configuration, Failure, Outcome};

use crate::message_variable;

/// Which provider this execution is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// `Source/AWS/CodeStarSourceConnection/1`.
    Connection,
    /// `Source/ThirdParty/GitHub/1`.
    GitHubV1,
    /// `Source/AWS/CodeCommit/1`.
    CodeCommit,
}

/// What the variables are computed from.
pub struct SourceFacts<'a> {
    /// The exported commit (a working tree outside any repository has none).
    pub commit: Option<Commit>,
    pub branch: String,
    pub repository: &'a RepositoryInfo,
    /// CommitId when there is no commit: the working tree's digest.
    pub commit_id_fallback: String,
}

impl Provider {
    pub fn of(provider: &str) -> Result<Self, Failure> {
        match provider {
            "CodeStarSourceConnection" => Ok(Provider::Connection),
            "GitHub" => Ok(Provider::GitHubV1),
            "CodeCommit" => Ok(Provider::CodeCommit),
            other => Err(Failure::configuration(format!(
                "this component serves CodeStarSourceConnection, GitHub and CodeCommit \
                 sources, not {other}"
            ))),
        }
    }

    pub fn branch_key(self) -> &'static str {
        match self {
            Provider::GitHubV1 => "Branch",
            _ => "BranchName",
        }
    }

    pub fn can_clone(self) -> bool {
        self != Provider::GitHubV1
    }

    pub fn formats(self) -> &'static str {
        if self.can_clone() {
            "CODE_ZIP or CODEBUILD_CLONE_REF"
        } else {
            "CODE_ZIP"
        }
    }

    /// The required properties and the flags; change detection itself is `sandpipe watch`'s.
    pub fn check_configuration(self, config: &Configuration) -> Result<(), Failure> {
        match self {
            Provider::Connection => {
                config.required("ConnectionArn")?;
                config.required("FullRepositoryId")?;
                config.flag("DetectChanges", true)?;
            }
            Provider::GitHubV1 => {
                config.required("Owner")?;
                config.required("Repo")?;
                config.required("OAuthToken")?;
                config.flag("PollForSourceChanges", true)?;
            }
            Provider::CodeCommit => {
                config.required("RepositoryName")?;
                config.flag("PollForSourceChanges", true)?;
            }
        }
        Ok(())
    }

    /// The output variables, added to `outcome`.
    pub fn variables(
        self,
        config: &Configuration,
        facts: &SourceFacts<'_>,
        outcome: Outcome,
    ) -> Outcome {
        let commit = facts.commit.as_ref();
        let commit_id = commit
            .map(|c| c.id.clone())
            .unwrap_or_else(|| facts.commit_id_fallback.clone());
        let author_date = commit.map(|c| c.author.date.clone()).unwrap_or_default();
        let committer_date = commit.map(|c| c.committer.date.clone()).unwrap_or_default();
        let message = commit.map(message_variable).unwrap_or_default();
        let outcome = outcome
            .variable("AuthorDate", author_date)
            .variable("BranchName", facts.branch.clone())
            .variable("CommitId", commit_id.clone())
            .variable("CommitMessage", message);
        let value = |key: &str| config.get(key).unwrap_or_default().to_string();
        match self {
            Provider::Connection => outcome
                .variable("ConnectionArn", value("ConnectionArn"))
                .variable("FullRepositoryName", value("FullRepositoryId"))
                .variable("ProviderType", facts.repository.provider_type.clone()),
            Provider::GitHubV1 => outcome
                .variable("CommitterDate", committer_date)
                .variable(
                    "CommitUrl",
                    format!(
                        "https://github.com/{}/{}/commit/{commit_id}",
                        value("Owner"),
                        value("Repo")
                    ),
                )
                .variable("RepositoryName", value("Repo")),
            Provider::CodeCommit => outcome
                .variable("CommitterDate", committer_date)
                .variable("RepositoryName", value("RepositoryName")),
        }
    }

    /// The source revision's summary, as CodePipeline shows it: a connection's is JSON with
    /// the provider type and the commit message; the others', the commit message.
    pub fn revision_summary(self, repository: &RepositoryInfo, commit: &Commit) -> String {
        let message = message_variable(commit);
        match self {
            Provider::Connection => serde_json::json!({
                "ProviderType": repository.provider_type,
                "CommitMessage": message,
            })
            .to_string(),
            _ => message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sandpipe_action_sdk::git::Signature;

    fn commit(message: &str) -> Commit {
        let signature = Signature {
            name: "Ada".into(),
            email: "ada@example.com".into(),
            date: "2024-05-01T10:00:00Z".into(),
        };
        Commit {
            id: "4f1e".into(),
            parents: Vec::new(),
            author: signature.clone(),
            committer: signature,
            message: message.into(),
        }
    }

    #[test]
    fn commit_messages_lose_the_trailing_newline_and_stop_at_100_kib() {
        assert_eq!(
            message_variable(&commit("Fix it\n\nBody.\n")),
            "Fix it\n\nBody."
        );
        // A multi-byte character across the limit is not cut in half.
        let long = format!("{}é{}", "a".repeat(100 * 1024 - 1), "b".repeat(10));
        let variable = message_variable(&commit(&long));
        assert_eq!(variable.len(), 100 * 1024 - 1);
        assert!(variable.chars().all(|c| c == 'a'));
    }

    #[test]
    fn a_connections_revision_summary_is_json() {
        let repository = RepositoryInfo {
            name: "o/r".into(),
            location: "/srv/r".into(),
            mapped_by: "test".into(),
            provider_type: "GitLab".into(),
            working_tree: None,
        };
        let summary = Provider::Connection.revision_summary(&repository, &commit("Say \"hi\"\n"));
        assert_eq!(
            summary,
            r#"{"CommitMessage":"Say \"hi\"","ProviderType":"GitLab"}"#
        );
        assert_eq!(
            Provider::CodeCommit.revision_summary(&repository, &commit("Plain\n")),
            "Plain"
        );
    }

    #[test]
    fn providers_know_their_branch_key_and_formats() {
        assert_eq!(Provider::of("GitHub").unwrap().branch_key(), "Branch");
        assert_eq!(
            Provider::of("CodeCommit").unwrap().branch_key(),
            "BranchName"
        );
        assert!(!Provider::GitHubV1.can_clone());
        assert!(Provider::of("S3").is_err());
    }
}
