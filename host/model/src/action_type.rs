//! ActionTypeId: which provider an action is for, in the one form the whole host uses (the
//! wasm boundary converts it to the WIT record; records print it as
//! `Category/Owner/Provider/Version`), and what CodePipeline says about particular types.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActionTypeId {
    pub category: Category,
    pub owner: Owner,
    pub provider: String,
    pub version: String,
}

impl fmt::Display for ActionTypeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?}/{:?}/{}/{}",
            self.category, self.owner, self.provider, self.version
        )
    }
}

impl std::str::FromStr for ActionTypeId {
    type Err = String;

    /// `Category/Owner/Provider/Version`, as sandpipe prints it.
    fn from_str(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.split('/').collect();
        let [category, owner, provider, version] = parts.as_slice() else {
            return Err(format!(
                "'{text}' is not an action type: write Category/Owner/Provider/Version, \
                 e.g. Build/Custom/MyTool/1"
            ));
        };
        fn enum_value<T: serde::de::DeserializeOwned>(
            value: &str,
            what: &str,
            text: &str,
        ) -> Result<T, String> {
            serde_json::from_value(serde_json::Value::String(value.to_string()))
                .map_err(|_| format!("'{value}' is not a valid {what} in '{text}'"))
        }
        Ok(ActionTypeId {
            category: enum_value(category, "category", text)?,
            owner: enum_value(owner, "owner", text)?,
            provider: provider.to_string(),
            version: version.to_string(),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Category {
    Source,
    Build,
    Deploy,
    Test,
    Invoke,
    Approval,
    Compute,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Owner {
    AWS,
    ThirdParty,
    Custom,
}

impl ActionTypeId {
    pub fn new(category: Category, owner: Owner, provider: &str, version: &str) -> Self {
        ActionTypeId {
            category,
            owner,
            provider: provider.to_string(),
            version: version.to_string(),
        }
    }

    /// Whether this is AWS's `provider`, version 1, in `category`.
    fn is_aws(&self, category: Category, provider: &str) -> bool {
        self.category == category
            && self.owner == Owner::AWS
            && self.provider == provider
            && self.version == "1"
    }

    /// `Approval/AWS/Manual/1`, which CodePipeline (and sandpipe) runs itself.
    pub fn is_manual_approval(&self) -> bool {
        self.is_aws(Category::Approval, "Manual")
    }

    /// `Compute/AWS/Commands/1` (V2 pipelines).
    pub fn is_commands(&self) -> bool {
        self.is_aws(Category::Compute, "Commands")
    }

    /// `Source/AWS/S3/1`.
    pub fn is_s3_source(&self) -> bool {
        self.is_aws(Category::Source, "S3")
    }

    /// `Source/AWS/ECR/1`, read from a local container engine.
    pub fn is_ecr_source(&self) -> bool {
        self.is_aws(Category::Source, "ECR")
    }

    /// `Deploy/AWS/S3/1`.
    pub fn is_s3_deploy(&self) -> bool {
        self.is_aws(Category::Deploy, "S3")
    }

    /// `Invoke/AWS/Lambda/1`.
    pub fn is_lambda_invoke(&self) -> bool {
        self.is_aws(Category::Invoke, "Lambda")
    }

    /// `Deploy/AWS/CloudFormation/1`, which sandpipe plans itself.
    pub fn is_cloudformation_deploy(&self) -> bool {
        self.is_aws(Category::Deploy, "CloudFormation")
    }

    /// `Deploy/AWS/CloudFormationStackSet/1` or `…StackInstances/1`, planned per instance.
    pub fn is_stack_set_deploy(&self) -> bool {
        self.is_aws(Category::Deploy, "CloudFormationStackSet")
            || self.is_aws(Category::Deploy, "CloudFormationStackInstances")
    }

    /// How long an action of this type may run when its declaration sets no
    /// `timeoutInMinutes`: CodePipeline's per-provider defaults.
    pub fn default_timeout(&self) -> Duration {
        let minutes = match (&self.category, self.provider.as_str()) {
            (Category::Deploy, "S3") => 90,
            (Category::Build | Category::Test, "CodeBuild") => 8 * 60,
            (Category::Approval, _) => 7 * 24 * 60,
            _ => 60,
        };
        Duration::from_secs(minutes * 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_types_print_and_parse_as_one_form() {
        let id: ActionTypeId = "Approval/AWS/Manual/1".parse().unwrap();
        assert_eq!(
            id,
            ActionTypeId::new(Category::Approval, Owner::AWS, "Manual", "1")
        );
        assert_eq!(id.to_string(), "Approval/AWS/Manual/1");
        assert!(id.is_manual_approval());
        assert!(
            !"Approval/AWS/Manual/2"
                .parse::<ActionTypeId>()
                .unwrap()
                .is_manual_approval()
        );
        assert_eq!(id.default_timeout(), Duration::from_secs(7 * 24 * 3600));
        assert_eq!(
            "Deploy/AWS/S3/1"
                .parse::<ActionTypeId>()
                .unwrap()
                .default_timeout(),
            Duration::from_secs(90 * 60)
        );
        assert!("Build/Nobody/X/1".parse::<ActionTypeId>().is_err());
    }
}
