//! One error enum per operation, each message saying what to do next.

use kage_domain::{RouteTarget, SubscriptionName, Timestamp, UnknownRouteTarget};
use kage_ports::{LeaseError, PassedOver, SecretError, StoreError};

/// Errors shared by most operations: a missing subscription or the store.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("no subscription named {name}{hint}; see `kage subscription list`")]
    NotFound {
        name: SubscriptionName,
        hint: String,
    },
    /// The leased subscription was removed from the pool (or renamed)
    /// since the lease was granted.
    #[error("{name} was removed from the pool after this lease was granted; acquire another lease")]
    Removed { name: SubscriptionName },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl PoolError {
    pub(crate) fn not_found<'a>(
        name: &SubscriptionName,
        known: impl Iterator<Item = &'a str>,
    ) -> Self {
        let hint = kage_domain::nearest(name.as_str(), known)
            .map(|candidate| format!(" (did you mean {candidate}?)"))
            .unwrap_or_default();
        Self::NotFound {
            name: name.clone(),
            hint,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AddSubscriptionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("could not store the credential of {name}: {source}")]
    Secret {
        name: SubscriptionName,
        source: SecretError,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum EditSubscriptionError {
    #[error(transparent)]
    Pool(#[from] PoolError),
    #[error("could not store the new credential of {name}: {source}")]
    Secret {
        name: SubscriptionName,
        source: SecretError,
    },
    #[error("nothing to change; pass at least one option (see `kage subscription edit --help`)")]
    NothingToChange,
}

impl From<StoreError> for EditSubscriptionError {
    fn from(error: StoreError) -> Self {
        Self::Pool(PoolError::Store(error))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RemoveSubscriptionError {
    #[error(transparent)]
    Pool(#[from] PoolError),
    #[error(
        "{name} holds {live} live lease(s); wait for them to end, or pass --force to remove it anyway"
    )]
    HasLiveLeases { name: SubscriptionName, live: usize },
    #[error(
        "{name} was already removed; its usage and history are kept (`kage subscription list --all`); pass --purge to erase them"
    )]
    AlreadyRemoved { name: SubscriptionName },
}

impl From<StoreError> for RemoveSubscriptionError {
    fn from(error: StoreError) -> Self {
        Self::Pool(PoolError::Store(error))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error(transparent)]
    Pool(#[from] PoolError),
    #[error("{0}; add it first with `kage subscription add --name {name}`", name = .0.name)]
    UnknownSubscription(UnknownRouteTarget),
    #[error("a route needs at least one subscription or tag:NAME")]
    Empty,
    #[error("no saved route for {0}; see `kage subscription routes`")]
    NoSuchRoute(RouteTarget),
}

impl From<StoreError> for RouteError {
    fn from(error: StoreError) -> Self {
        Self::Pool(PoolError::Store(error))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AcquireError {
    #[error("{}", unavailable_message(.earliest_recovery, .passed_over, .waited))]
    Unavailable {
        earliest_recovery: Option<Timestamp>,
        /// When the earliest one comes back, with its name.
        earliest_name: Option<SubscriptionName>,
        passed_over: Vec<PassedOver>,
        waited: bool,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Pool(PoolError),
    #[error(transparent)]
    Lease(#[from] LeaseError),
}

fn unavailable_message(
    earliest: &Option<Timestamp>,
    passed_over: &[PassedOver],
    waited: &bool,
) -> String {
    let waited = if *waited { " after waiting" } else { "" };
    if passed_over.is_empty() {
        return format!(
            "no subscription is registered{waited}; add one with `kage subscription add --name NAME`"
        );
    }
    let what = if passed_over.iter().all(|passed| passed.reason.is_limited()) {
        "all subscriptions are limited, busy or disabled"
    } else {
        "no subscription matches this request"
    };
    match earliest {
        Some(at) => format!(
            "{what}{waited}; the first one is available again at {at}; see `kage subscription status` or wait with --wait"
        ),
        None => format!(
            "{what}{waited}, and none comes back by itself; see `kage subscription explain` and `kage subscription status`"
        ),
    }
}

/// The credential of a leased subscription could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error(transparent)]
    Pool(#[from] PoolError),
    #[error(transparent)]
    Secret(#[from] SecretError),
}

impl From<StoreError> for CredentialError {
    fn from(error: StoreError) -> Self {
        Self::Pool(PoolError::Store(error))
    }
}
