//! The access keys that may sign requests: the operator's (`serve --credentials`) and the
//! temporary ones this server hands out — AssumeRole's session credentials and each job's
//! `artifactCredentials` — so a client or job worker that signs with what it was given is
//! accepted when signatures are checked, as on AWS. Without `--credentials` nothing is
//! checked and nothing is kept.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};

/// The most temporary keys kept at once; past it the one expiring soonest goes first, so
/// a client calling AssumeRole in a loop cannot grow the server without bound.
const MAX_ISSUED: usize = 10_000;

/// Temporary credentials this server issued.
#[derive(Debug, Clone)]
pub struct Temporary {
    pub access_key: String,
    pub secret: String,
    pub session_token: String,
    pub expires: Timestamp,
}

pub struct Keys {
    /// Access key → secret key; None: any key is accepted.
    configured: Option<BTreeMap<String, String>>,
    issued: Mutex<HashMap<String, Temporary>>,
}

impl Keys {
    pub fn new(configured: Option<BTreeMap<String, String>>) -> Keys {
        Keys {
            configured,
            issued: Mutex::new(HashMap::new()),
        }
    }

    /// Whether signatures are checked.
    pub fn checking(&self) -> bool {
        self.configured.is_some()
    }

    /// The secret of `access_key`: a configured one, or an issued one not yet expired.
    pub fn secret(&self, access_key: &str) -> Option<String> {
        if let Some(secret) = self.configured.as_ref()?.get(access_key) {
            return Some(secret.clone());
        }
        let issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        issued
            .get(access_key)
            .filter(|key| key.expires > Timestamp::now())
            .map(|key| key.secret.clone())
    }

    /// New temporary credentials, valid for `lifetime`, whose access key starts with
    /// `prefix` (`ASIA` as AWS's session keys do).
    pub fn issue(&self, prefix: &str, lifetime: SignedDuration) -> Temporary {
        let random = || uuid::Uuid::new_v4().simple().to_string();
        let expires = Timestamp::now()
            .checked_add(lifetime)
            .unwrap_or(Timestamp::MAX);
        let temporary = Temporary {
            access_key: format!("{prefix}{}", &random()[..16].to_uppercase()),
            secret: format!("{}{}", random(), &random()[..8]),
            session_token: format!("{}{}", random(), random()),
            expires,
        };
        if self.checking() {
            let mut issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
            let now = Timestamp::now();
            issued.retain(|_, key| key.expires > now);
            if issued.len() >= MAX_ISSUED
                && let Some(soonest) = issued
                    .values()
                    .min_by_key(|key| key.expires)
                    .map(|key| key.access_key.clone())
            {
                issued.remove(&soonest);
            }
            issued.insert(temporary.access_key.clone(), temporary.clone());
        }
        temporary
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_keys_sign_until_they_expire() {
        let keys = Keys::new(Some(BTreeMap::from([("admin".into(), "s".into())])));
        assert_eq!(keys.secret("admin").as_deref(), Some("s"));
        let live = keys.issue("ASIA", SignedDuration::from_secs(60));
        assert!(live.access_key.starts_with("ASIA"));
        assert_eq!(keys.secret(&live.access_key), Some(live.secret));
        let gone = keys.issue("ASIA", SignedDuration::from_secs(-1));
        assert_eq!(keys.secret(&gone.access_key), None);
        assert_eq!(keys.secret("stranger"), None);
    }

    #[test]
    fn nothing_is_kept_when_nothing_is_checked() {
        let keys = Keys::new(None);
        let key = keys.issue("ASIA", SignedDuration::from_secs(60));
        assert_eq!(keys.secret(&key.access_key), None);
        assert!(keys.issued.lock().unwrap().is_empty());
    }
}
