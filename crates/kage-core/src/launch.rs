//! How a leased credential reaches a child process: only through its
//! environment, and as the one Anthropic credential it sees.
//!
//! Claude Code reads several credential variables with surprising
//! precedence (`claude-code-signals.md`), so every one is removed and exactly
//! one is set, plus the markers `KAGE_SUBSCRIPTION` and `KAGE_LEASE_ID`.

use kage_domain::{CredentialKind, LeaseId, SubscriptionName};

/// Every variable Claude Code may take a credential from.
pub const CREDENTIAL_VARIABLES: [&str; 3] = [
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "CLAUDE_CODE_OAUTH_TOKEN",
];

/// Set in a leased child: the subscription's name.
pub const SUBSCRIPTION_VARIABLE: &str = "KAGE_SUBSCRIPTION";
/// Set in a leased child: the lease id.
pub const LEASE_VARIABLE: &str = "KAGE_LEASE_ID";

/// The environment changes for one leased child. The secret is not held
/// here; [`ChildEnvironment::credential_variable`] names where it goes.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ChildEnvironment {
    /// Remove these before setting anything.
    pub remove: Vec<&'static str>,
    /// The one variable the credential is set in.
    pub credential_variable: &'static str,
    /// Plain (non-secret) variables to set.
    pub set: Vec<(&'static str, String)>,
}

impl ChildEnvironment {
    pub fn new(kind: CredentialKind, subscription: &SubscriptionName, lease_id: LeaseId) -> Self {
        Self {
            remove: CREDENTIAL_VARIABLES.to_vec(),
            credential_variable: kind.env_var(),
            set: vec![
                (SUBSCRIPTION_VARIABLE, subscription.to_string()),
                (LEASE_VARIABLE, lease_id.to_string()),
            ],
        }
    }
}

/// Whether this process already runs under a Kage lease (so launching
/// another leased child would nest).
pub fn is_nested(lookup: impl Fn(&str) -> Option<String>) -> Option<String> {
    lookup(SUBSCRIPTION_VARIABLE).filter(|value| !value.is_empty())
}
