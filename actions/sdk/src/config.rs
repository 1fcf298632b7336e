use crate::Failure;

/// Action configuration: string keys to string values, as CodePipeline stores them.
#[derive(Debug, Clone, Default)]
pub struct Configuration {
    entries: Vec<(String, String)>,
}

impl Configuration {
    pub fn new(entries: Vec<(String, String)>) -> Self {
        Configuration { entries }
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The value of a required property; missing or empty is a ConfigurationError.
    pub fn required(&self, key: &str) -> Result<&str, Failure> {
        match self.get(key) {
            Some(value) if !value.is_empty() => Ok(value),
            _ => Err(Failure::configuration(format!(
                "the required configuration property '{key}' is missing"
            ))),
        }
    }

    /// A `true`/`false` property (case-insensitive, as CodePipeline accepts it).
    pub fn flag(&self, key: &str, default: bool) -> Result<bool, Failure> {
        match self.get(key) {
            None => Ok(default),
            Some(value) if value.eq_ignore_ascii_case("true") => Ok(true),
            Some(value) if value.eq_ignore_ascii_case("false") => Ok(false),
            Some(value) => Err(Failure::configuration(format!(
                "configuration property '{key}' must be true or false, not '{value}'"
            ))),
        }
    }

    /// A required `true`/`false` property.
    pub fn required_flag(&self, key: &str) -> Result<bool, Failure> {
        self.required(key)?;
        self.flag(key, false)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}
