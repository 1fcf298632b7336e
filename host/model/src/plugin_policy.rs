//! The operator's policy: which capabilities each action type's provider, or each plugin by
//! its SHA-256 digest, may have, and which plugin file an action type is pinned to. A
//! plugin gets the capabilities its manifest asks for that the policy also allows, never
//! one it did not ask for; one it asks for and is not allowed refuses the run, with the line
//! that would allow it.
//!
//! ```yaml
//! # sandpipe-policy.yaml, beside the pipeline, in the state directory, or --policy FILE
//! actions:
//!   Build/Custom/Lint/1: {allow: [exec]}
//!   Build/Custom/Deploy/1:
//!     allow: [secrets]
//!     sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08   # this file only
//! plugins:
//!   sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae: {allow: [git]}
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;

use crate::action_type::ActionTypeId;
use crate::load::{LoadError, parse_text_document, read_text};
use crate::plugin::unknown_capability;

/// The names the policy file may have beside a pipeline or in the state directory.
pub const POLICY_FILE_NAMES: &[&str] = &[
    "sandpipe-policy.yaml",
    "sandpipe-policy.yml",
    "sandpipe-policy.json",
];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyDocument {
    #[serde(default)]
    actions: BTreeMap<String, RuleDocument>,
    #[serde(default)]
    plugins: BTreeMap<String, RuleDocument>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a policy rule: a map of allow (and sha256)"
)]
struct RuleDocument {
    #[serde(default)]
    allow: Vec<String>,
    sha256: Option<String>,
}

/// The policy as read: allowances by action type and by plugin digest, and pins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// The file it was read from, as messages name it (empty: no policy file).
    pub file: String,
    by_type: BTreeMap<ActionTypeId, BTreeSet<String>>,
    by_digest: BTreeMap<String, BTreeSet<String>>,
    pins: BTreeMap<ActionTypeId, String>,
}

impl Policy {
    /// Read a policy file; each problem names its path (`actions.Build/Custom/X/1.allow[0]`).
    pub fn read(path: &Path, known_capabilities: &[&str]) -> Result<Policy, LoadError> {
        let (file, text, yaml) = read_text(path)?;
        Policy::parse(&file, &text, yaml, known_capabilities)
    }

    pub fn parse(
        file: &str,
        text: &str,
        yaml: bool,
        known_capabilities: &[&str],
    ) -> Result<Policy, LoadError> {
        let document: PolicyDocument = if text.trim().is_empty() {
            PolicyDocument::default()
        } else {
            parse_text_document(file, text, yaml)?
        };
        let shape = |path: String, message: String| LoadError::Shape {
            file: file.to_string(),
            path,
            message,
        };
        let capabilities =
            |path: &str, allow: Vec<String>| -> Result<BTreeSet<String>, LoadError> {
                for (i, name) in allow.iter().enumerate() {
                    if !known_capabilities.contains(&name.as_str()) {
                        return Err(shape(
                            format!("{path}.allow[{i}]"),
                            unknown_capability(name, known_capabilities),
                        ));
                    }
                }
                Ok(allow.into_iter().collect())
            };
        let mut policy = Policy {
            file: file.to_string(),
            ..Policy::default()
        };
        for (key, rule) in document.actions {
            let path = format!("actions.{key}");
            let id: ActionTypeId = key.parse().map_err(|e| shape(path.clone(), e))?;
            if let Some(pin) = rule.sha256 {
                let digest = digest_of(&pin)
                    .ok_or_else(|| shape(format!("{path}.sha256"), not_a_digest(&pin)))?;
                policy.pins.insert(id.clone(), digest);
            }
            policy.by_type.insert(id, capabilities(&path, rule.allow)?);
        }
        for (key, rule) in document.plugins {
            let path = format!("plugins.{key}");
            let digest = digest_of(&key).ok_or_else(|| shape(path.clone(), not_a_digest(&key)))?;
            if rule.sha256.is_some() {
                return Err(shape(
                    format!("{path}.sha256"),
                    "a plugin is already named by its digest; pin an action type instead".into(),
                ));
            }
            let allowed = capabilities(&path, rule.allow)?;
            if policy.by_digest.insert(digest, allowed).is_some() {
                return Err(shape(
                    path,
                    "names a digest another key of plugins: names too".into(),
                ));
            }
        }
        Ok(policy)
    }

    /// This policy and `other` together (a policy file beside the pipeline, and the state
    /// directory's): what either allows, and every pin of either — two pins of one type to
    /// different digests are an error naming both files.
    pub fn merged(mut self, other: Policy) -> Result<Policy, String> {
        for (id, digest) in other.pins {
            if let Some(mine) = self.pins.get(&id)
                && mine != &digest
            {
                return Err(format!(
                    "{} pins {id} to sha256 {mine} and {} to sha256 {digest}: one file can \
                     have only one digest",
                    self.file, other.file
                ));
            }
            self.pins.insert(id, digest);
        }
        for (id, allowed) in other.by_type {
            self.by_type.entry(id).or_default().extend(allowed);
        }
        for (digest, allowed) in other.by_digest {
            self.by_digest.entry(digest).or_default().extend(allowed);
        }
        self.file = format!("{} and {}", self.file, other.file);
        Ok(self)
    }

    /// What the provider of `action_type`, a plugin file with SHA-256 `digest` (hex), may
    /// have beyond the sandbox.
    pub fn allowed(&self, action_type: &ActionTypeId, digest: Option<&str>) -> BTreeSet<String> {
        let by_type = self.by_type.get(action_type).into_iter().flatten();
        let by_digest = digest
            .and_then(|d| self.by_digest.get(d))
            .into_iter()
            .flatten();
        by_type.chain(by_digest).cloned().collect()
    }

    /// The digest `action_type`'s plugin must have, if the policy pins one.
    pub fn pin(&self, action_type: &ActionTypeId) -> Option<&str> {
        self.pins.get(action_type).map(String::as_str)
    }

    /// Whether it names any digest, as a pin or a plugin's key (only then is every plugin
    /// file hashed before a run).
    pub fn names_digests(&self) -> bool {
        !self.pins.is_empty() || !self.by_digest.is_empty()
    }
}

/// The policy line that allows `capabilities` to `action_type`, to go under `actions:`.
pub fn allow_line(action_type: &ActionTypeId, capabilities: &[&str]) -> String {
    format!("  {action_type}: {{allow: [{}]}}", capabilities.join(", "))
}

/// A SHA-256 digest written as 64 hex digits, with or without `sha256:`; lowercased.
fn digest_of(text: &str) -> Option<String> {
    let hex = text.strip_prefix("sha256:").unwrap_or(text);
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| hex.to_lowercase())
}

fn not_a_digest(text: &str) -> String {
    format!("'{text}' is not a SHA-256 digest (64 hex digits, optionally after 'sha256:')")
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &[&str] = &["exec", "git", "secrets"];
    const DIGEST: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn allowances_come_from_the_type_and_the_digest() {
        let text = format!(
            "actions:\n  Build/Custom/Lint/1: {{allow: [exec], sha256: \"sha256:{}\"}}\n\
             plugins:\n  {DIGEST}: {{allow: [git]}}\n",
            DIGEST.to_uppercase()
        );
        let policy = Policy::parse("p.yaml", &text, true, KNOWN).unwrap();
        let lint: ActionTypeId = "Build/Custom/Lint/1".parse().unwrap();
        let other: ActionTypeId = "Build/Custom/Other/1".parse().unwrap();
        assert_eq!(
            policy.allowed(&lint, Some(DIGEST)),
            BTreeSet::from(["exec".to_string(), "git".to_string()])
        );
        assert_eq!(policy.allowed(&other, None), BTreeSet::new());
        assert_eq!(policy.pin(&lint), Some(DIGEST));
        assert_eq!(
            allow_line(&lint, &["exec"]),
            "  Build/Custom/Lint/1: {allow: [exec]}"
        );
        // The line the refusal suggests is itself a valid policy.
        let suggested = format!("actions:\n{}\n", allow_line(&other, &["exec", "git"]));
        let allowed = Policy::parse("p.yaml", &suggested, true, KNOWN).unwrap();
        assert_eq!(allowed.allowed(&other, None).len(), 2);
    }

    #[test]
    fn mistakes_name_their_path() {
        let cases = [
            (
                "actions:\n  Build/Custom/L/1: {allow: [network]}\n",
                "actions.Build/Custom/L/1.allow[0]",
            ),
            ("actions:\n  Lint: {allow: [exec]}\n", "actions.Lint"),
            (
                "actions:\n  Build/Custom/L/1: {sha256: abc}\n",
                "actions.Build/Custom/L/1.sha256",
            ),
            ("plugins:\n  nope: {allow: [exec]}\n", "plugins.nope"),
            ("grants: {}\n", "grants"),
        ];
        for (text, path) in cases {
            let error = Policy::parse("p.yaml", text, true, KNOWN)
                .unwrap_err()
                .to_string();
            assert!(error.contains(path), "{text}: {error}");
        }
        assert_eq!(
            Policy::parse("p.yaml", "", true, KNOWN).unwrap().file,
            "p.yaml"
        );
        let twice = format!("plugins:\n  {DIGEST}: {{allow: [git]}}\n  sha256:{DIGEST}: {{}}\n");
        assert!(Policy::parse("p.yaml", &twice, true, KNOWN).is_err());
    }

    #[test]
    fn two_files_merge_their_allowances_and_keep_every_pin() {
        let lint: ActionTypeId = "Build/Custom/Lint/1".parse().unwrap();
        let beside = Policy::parse(
            "beside.yaml",
            "actions:\n  Build/Custom/Lint/1: {allow: [exec]}\n",
            true,
            KNOWN,
        )
        .unwrap();
        let state = Policy::parse(
            "state.yaml",
            &format!("actions:\n  Build/Custom/Lint/1: {{allow: [git], sha256: {DIGEST}}}\n"),
            true,
            KNOWN,
        )
        .unwrap();
        let both = beside.merged(state).unwrap();
        assert_eq!(both.allowed(&lint, None).len(), 2);
        assert_eq!(both.pin(&lint), Some(DIGEST));
        assert_eq!(both.file, "beside.yaml and state.yaml");
        let other = DIGEST.replace('9', "8");
        let clash = Policy::parse(
            "other.yaml",
            &format!("actions:\n  Build/Custom/Lint/1: {{sha256: {other}}}\n"),
            true,
            KNOWN,
        )
        .unwrap();
        let pinned = both.merged(clash).unwrap_err();
        assert!(pinned.contains("other.yaml"), "{pinned}");
    }
}
