//! A registered subscription: settings plus health. Never the secret itself.

use std::collections::BTreeSet;

use jiff::Timestamp;

use crate::{CredentialKind, Health, Priority, SubscriptionId, SubscriptionName, Tag};

/// Where a subscription's credential lives. This is a reference only; the
/// value is fetched by a secret store at lease time.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub enum CredentialSource {
    /// The OS keychain, service `kage`, account = the subscription id.
    #[default]
    Keychain,
    /// A command whose standard output is the credential (split into argv,
    /// never run through a shell).
    Command(String),
    /// An environment variable read at lease time.
    Env(String),
}

impl CredentialSource {
    pub fn kind_str(&self) -> &'static str {
        match self {
            Self::Keychain => "keychain",
            Self::Command(_) => "command",
            Self::Env(_) => "env",
        }
    }

    /// A description fit for screens and logs (holds no secret).
    pub fn describe(&self) -> String {
        match self {
            Self::Keychain => "OS keychain".to_owned(),
            Self::Command(command) => format!("command `{command}`"),
            Self::Env(variable) => format!("environment variable {variable}"),
        }
    }
}

#[derive(Clone, PartialEq, Debug)]
pub struct Subscription {
    pub id: SubscriptionId,
    pub name: SubscriptionName,
    pub description: Option<String>,
    pub priority: Priority,
    pub tags: BTreeSet<Tag>,
    pub kind: CredentialKind,
    pub credential: CredentialSource,
    /// At most this many live leases at once; `None` means no cap.
    pub max_concurrent: Option<u32>,
    pub health: Health,
    pub created_at: Timestamp,
}

impl Subscription {
    /// A new, active subscription with default settings.
    pub fn new(id: SubscriptionId, name: SubscriptionName, created_at: Timestamp) -> Self {
        Self {
            id,
            name,
            description: None,
            priority: Priority::DEFAULT,
            tags: BTreeSet::new(),
            kind: CredentialKind::default(),
            credential: CredentialSource::default(),
            max_concurrent: None,
            health: Health::default(),
            created_at,
        }
    }

    pub fn has_tag(&self, tag: &Tag) -> bool {
        self.tags.contains(tag)
    }
}
