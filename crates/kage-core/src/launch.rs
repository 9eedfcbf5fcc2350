//! How a leased credential reaches a child process: only through its
//! environment, and as the one Anthropic credential it sees.
//!
//! Claude Code reads several credential variables with surprising
//! precedence (`claude-code-signals.md`), so every one is removed and exactly
//! one is set, plus the markers `KAGE_SUBSCRIPTION` and `KAGE_LEASE_ID`.
//! Every variable that any subscription names as its credential source
//! (`--credential-env VAR`) is removed too, so a child never sees another
//! subscription's credential ([`ChildEnvironment::removing`]).

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
    pub remove: Vec<String>,
    /// The one variable the credential is set in.
    pub credential_variable: &'static str,
    /// Plain (non-secret) variables to set.
    pub set: Vec<(&'static str, String)>,
}

impl ChildEnvironment {
    pub fn new(kind: CredentialKind, subscription: &SubscriptionName, lease_id: LeaseId) -> Self {
        Self {
            remove: CREDENTIAL_VARIABLES.map(str::to_owned).to_vec(),
            credential_variable: kind.env_var(),
            set: vec![
                (SUBSCRIPTION_VARIABLE, subscription.to_string()),
                (LEASE_VARIABLE, lease_id.to_string()),
            ],
        }
    }

    /// Also remove `variables` (the credential variables other
    /// subscriptions read from); each is removed once.
    #[must_use]
    pub fn removing<'a>(mut self, variables: impl IntoIterator<Item = &'a str>) -> Self {
        for variable in variables {
            if !self.remove.iter().any(|known| known == variable) {
                self.remove.push(variable.to_owned());
            }
        }
        self
    }
}

/// Whether this process already runs under a Kage lease (so launching
/// another leased child would nest).
pub fn is_nested(lookup: impl Fn(&str) -> Option<String>) -> Option<String> {
    lookup(SUBSCRIPTION_VARIABLE).filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_credential_variables_are_removed_once() {
        let name = SubscriptionName::new("work").expect("name");
        let environment = ChildEnvironment::new(
            CredentialKind::OAuth,
            &name,
            LeaseId::from_uuid(uuid::Uuid::nil()),
        )
        .removing(["TOK_A", "TOK_B", "TOK_A", "ANTHROPIC_API_KEY"]);
        assert_eq!(
            environment.remove,
            [
                "ANTHROPIC_API_KEY",
                "ANTHROPIC_AUTH_TOKEN",
                "CLAUDE_CODE_OAUTH_TOKEN",
                "TOK_A",
                "TOK_B"
            ]
        );
    }
}
