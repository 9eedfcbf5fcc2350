//! The pool's persistent state.

use std::time::Duration;

use std::sync::Arc;

use async_trait::async_trait;
use jiff::civil::Date;
use kage_domain::{
    CredentialKind, LeaseId, Namespace, Outcome, PassOverReason, PoolSnapshot, PriorityLevel,
    QuotaAlert, RouteEntry, RouteTarget, RoutingRules, SelectionPolicy, SelectionRequest,
    StateKind, StatePolicy, StateTransition, Subscription, SubscriptionId, SubscriptionName,
    Timestamp, TransitionResult, Usage,
};

/// Why a store operation failed. Messages name what and where, and never
/// hold a secret (the database holds none).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "a subscription named {0} already exists; pick another name or `kage subscription edit {0}`"
    )]
    NameTaken(SubscriptionName),
    #[error("no subscription with id {0}")]
    SubscriptionNotFound(SubscriptionId),
    #[error(
        "the database at {location} was written by a newer Kage (schema version {found}, this Kage knows up to {supported}); upgrade Kage or point it at another database"
    )]
    NewerSchema {
        location: String,
        found: i64,
        supported: i64,
    },
    #[error(
        "{location} is not a Kage database ({detail}); it was left untouched; move it away or set another path"
    )]
    NotADatabase { location: String, detail: String },
    #[error("cannot open the database at {location}: {detail}")]
    Unavailable { location: String, detail: String },
    /// The database is open but refused a write (disk full, read-only file
    /// system, I/O error): nothing of this operation was stored.
    #[error(
        "could not write to the database at {location}: {detail}; nothing was changed; free disk space or check the file's permissions, then try again"
    )]
    WriteFailed { location: String, detail: String },
    #[error(
        "the database at {location} stayed busy for {seconds}s; another Kage process holds it; try again"
    )]
    Busy { location: String, seconds: u64 },
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Why a lease operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("no lease with id {0}; see `kage lease list`")]
    NotFound(LeaseId),
    #[error("lease {id} expired at {expired_at} without a heartbeat; acquire a new one")]
    Expired { id: LeaseId, expired_at: Timestamp },
    #[error("lease {0} was already released")]
    AlreadyReleased(LeaseId),
    /// The lease's subscription was removed from the pool: the lease can
    /// still be released (its usage is kept), but not renewed.
    #[error(
        "lease {id} is on {name}, which was removed from the pool; release it and acquire another"
    )]
    SubscriptionRetired { id: LeaseId, name: SubscriptionName },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A lease as stored.
#[derive(Clone, PartialEq, Debug)]
pub struct Lease {
    pub id: LeaseId,
    pub subscription_id: SubscriptionId,
    pub subscription_name: SubscriptionName,
    pub kind: CredentialKind,
    pub namespace: Option<Namespace>,
    pub level: PriorityLevel,
    /// Who holds it: a label such as `kage-agent@host:1234`.
    pub holder: String,
    pub acquired_at: Timestamp,
    pub expires_at: Timestamp,
    pub released_at: Option<Timestamp>,
}

/// Everything one acquire needs; the store runs domain selection inside its
/// transaction with exactly these inputs.
#[derive(Clone, PartialEq, Debug)]
pub struct AcquireLeaseRequest {
    /// Made by the caller, so a retried acquire cannot grant twice.
    pub lease_id: LeaseId,
    pub selection: SelectionRequest,
    /// Saved routes merged with the config file's (the file wins).
    pub rules: RoutingRules,
    pub policy: SelectionPolicy,
    pub ttl: Duration,
    pub holder: String,
}

/// A subscription passed over by an acquire, with the reason.
#[derive(Clone, PartialEq, Debug)]
pub struct PassedOver {
    pub name: SubscriptionName,
    pub reason: PassOverReason,
}

#[derive(Clone, PartialEq, Debug)]
pub enum AcquireOutcome {
    Granted(Lease),
    Unavailable {
        earliest_recovery: Option<Timestamp>,
        passed_over: Vec<PassedOver>,
    },
}

#[derive(Clone, PartialEq, Debug)]
pub struct ReleaseLeaseRequest {
    pub lease_id: LeaseId,
    pub outcome: Outcome,
    pub usage: Usage,
    pub policy: StatePolicy,
}

#[derive(Clone, PartialEq, Debug)]
pub struct ReleaseReport {
    pub lease: Lease,
    /// The state change the outcome caused, if any.
    pub transition: Option<StateTransition>,
    /// The lease had expired before this release; usage and outcome were
    /// recorded all the same.
    pub was_expired: bool,
}

/// A subscription taken out of the pool by `kage subscription remove`: its
/// usage, transitions and leases are kept, its name is free again.
#[derive(Clone, PartialEq, Debug)]
pub struct RetiredSubscription {
    /// As it was when retired (its name is the one it had then).
    pub subscription: Subscription,
    pub retired_at: Timestamp,
}

/// A transition as stored, with the lease that caused it.
#[derive(Clone, PartialEq, Debug)]
pub struct RecordedTransition {
    pub subscription_id: SubscriptionId,
    pub transition: StateTransition,
    pub lease_id: Option<LeaseId>,
}

/// An acquire waiting for a subscription, as other processes see it
/// (`kage top`). The waiting process saves it again at least every
/// [`WAITER_REFRESH`]; one not saved by `expires_at` has gone.
#[derive(Clone, PartialEq, Debug)]
pub struct Waiter {
    /// The id the lease will have.
    pub id: LeaseId,
    /// Who waits (`kage-agent@host:pid task-3`).
    pub holder: String,
    /// What it asked for, for people (`namespace backend, level high`).
    pub request: String,
    pub since: Timestamp,
    /// When it looks again.
    pub until: Timestamp,
    /// When it gives up, if ever.
    pub deadline: Option<Timestamp>,
    /// The earliest time a candidate comes back, and which one.
    pub earliest_recovery: Option<Timestamp>,
    pub earliest_name: Option<SubscriptionName>,
    pub expires_at: Timestamp,
}

/// How often a waiting acquire saves its [`Waiter`] again.
pub const WAITER_REFRESH: Duration = Duration::from_secs(30);

/// Usage per subscription and local day in `[from, to)`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct UsageQuery {
    pub from: Timestamp,
    pub to: Timestamp,
    /// The local zone's offset from UTC, in seconds, that days are cut by.
    pub utc_offset_seconds: i32,
    pub subscription: Option<SubscriptionId>,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DailyUsage {
    pub subscription_id: SubscriptionId,
    pub day: Date,
    pub usage: Usage,
    /// Leases with usage on that day (a lease with several records counts
    /// once, on the day of its first).
    pub leases: u64,
}

/// One assistant message's usage, recorded at most once per key.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct KeyedUsage {
    /// What makes the message unique (for Claude Code, its message id and
    /// request id: `kage_claude_code::message_key`).
    pub key: String,
    pub usage: Usage,
    /// When the message was written.
    pub at: Timestamp,
}

/// How many bytes of a transcript file have their usage in the store.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ReadOffset {
    pub path: String,
    pub offset: u64,
}

/// Per-message usage of one subscription, and how far the transcripts it
/// came from are read, stored in one transaction.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct UsageBatch {
    pub subscription_id: SubscriptionId,
    /// The lease the messages were written under; `None` for usage of
    /// sessions run outside Kage (`kage usage import`).
    pub lease_id: Option<LeaseId>,
    pub records: Vec<KeyedUsage>,
    pub offsets: Vec<ReadOffset>,
}

/// The pool's persistent state. Every method is one transaction.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait SubscriptionStore: Send + Sync {
    /// # Errors
    /// [`StoreError::NameTaken`] when the name is in use.
    async fn insert_subscription(&self, subscription: &Subscription) -> Result<(), StoreError>;

    /// Save the settings (name, description, priority, tags, kind,
    /// credential source, cap); the health is left as stored.
    ///
    /// # Errors
    /// [`StoreError::NameTaken`], [`StoreError::SubscriptionNotFound`].
    async fn update_subscription(&self, subscription: &Subscription) -> Result<(), StoreError>;

    /// Delete a subscription, live or retired, with its leases, usage and
    /// events.
    ///
    /// # Errors
    /// [`StoreError::SubscriptionNotFound`].
    async fn delete_subscription(&self, id: SubscriptionId) -> Result<(), StoreError>;

    /// Retire a subscription: it leaves selection, [`Self::list_subscriptions`]
    /// and [`Self::subscription_by_name`] (a new subscription may take its
    /// name), and keeps its leases, usage and transitions. Its unreleased
    /// leases can still be released, not renewed
    /// ([`LeaseError::SubscriptionRetired`]).
    ///
    /// # Errors
    /// [`StoreError::SubscriptionNotFound`] when no subscription in the pool
    /// has this id (retired already, or never there).
    async fn retire_subscription(
        &self,
        id: SubscriptionId,
        now: Timestamp,
    ) -> Result<(), StoreError>;

    /// Every subscription in the pool (retired ones left out), by name.
    async fn list_subscriptions(&self) -> Result<Vec<Subscription>, StoreError>;

    /// The retired subscriptions, by name, then oldest retirement first.
    async fn retired_subscriptions(&self) -> Result<Vec<RetiredSubscription>, StoreError>;

    async fn subscription_by_name(
        &self,
        name: &SubscriptionName,
    ) -> Result<Option<Subscription>, StoreError>;

    /// Apply an outcome outside a release (a mid-lease signal) with
    /// [`kage_domain::apply_outcome`], and record the transition.
    ///
    /// # Errors
    /// [`StoreError::SubscriptionNotFound`].
    async fn record_outcome(
        &self,
        id: SubscriptionId,
        outcome: &Outcome,
        lease_id: Option<LeaseId>,
        policy: &StatePolicy,
        now: Timestamp,
    ) -> Result<TransitionResult, StoreError>;

    /// `disable` (with a reason) or `enable`, recording the transition.
    ///
    /// # Errors
    /// [`StoreError::SubscriptionNotFound`].
    async fn set_disabled(
        &self,
        id: SubscriptionId,
        disabled: Option<String>,
        now: Timestamp,
    ) -> Result<TransitionResult, StoreError>;

    /// The newest `limit` transitions of a subscription, newest first.
    async fn transitions(
        &self,
        id: SubscriptionId,
        limit: u32,
    ) -> Result<Vec<RecordedTransition>, StoreError>;

    /// How many transitions into each state every subscription has made.
    async fn transition_counts(&self) -> Result<Vec<(SubscriptionId, StateKind, u64)>, StoreError>;

    /// Save (or replace) a route.
    async fn save_route(
        &self,
        target: &RouteTarget,
        entries: &[RouteEntry],
    ) -> Result<(), StoreError>;

    /// Delete a saved route; `false` if there was none.
    async fn delete_route(&self, target: &RouteTarget) -> Result<bool, StoreError>;

    /// The saved routes.
    async fn load_routes(&self) -> Result<RoutingRules, StoreError>;

    /// Read the snapshot, select with [`kage_domain::select`] and insert the
    /// lease, in one transaction serialised against every other acquire.
    async fn acquire_lease(
        &self,
        request: &AcquireLeaseRequest,
        now: Timestamp,
    ) -> Result<AcquireOutcome, StoreError>;

    /// Push a live lease's expiry to `now + ttl`.
    ///
    /// # Errors
    /// [`LeaseError::NotFound`], [`LeaseError::Expired`], [`LeaseError::AlreadyReleased`],
    /// [`LeaseError::SubscriptionRetired`].
    async fn heartbeat_lease(
        &self,
        id: LeaseId,
        ttl: Duration,
        now: Timestamp,
    ) -> Result<Lease, LeaseError>;

    /// End a lease: record its usage, apply its outcome and record the
    /// transition, in one transaction. Releasing an expired lease still
    /// records everything.
    ///
    /// # Errors
    /// [`LeaseError::NotFound`]; [`LeaseError::AlreadyReleased`] on a second
    /// release, which records nothing (so a retried release never counts
    /// usage twice).
    async fn release_lease(
        &self,
        request: &ReleaseLeaseRequest,
        now: Timestamp,
    ) -> Result<ReleaseReport, LeaseError>;

    /// Unreleased, unexpired leases (those on retired subscriptions too).
    async fn live_leases(&self, now: Timestamp) -> Result<Vec<Lease>, StoreError>;

    /// The pool as selection sees it (retired subscriptions left out), with
    /// usage in `[now - window, now)`.
    async fn pool_snapshot(
        &self,
        window: Duration,
        now: Timestamp,
    ) -> Result<PoolSnapshot, StoreError>;

    /// Usage per subscription and day, retired subscriptions' too.
    async fn daily_usage(&self, query: &UsageQuery) -> Result<Vec<DailyUsage>, StoreError>;

    /// Record each message's usage unless its key is recorded already (a
    /// repeat changes nothing, also against concurrent processes), and save
    /// the batch's transcript offsets; how many records were new. A release
    /// of the lease later records only what these records do not hold.
    ///
    /// # Errors
    /// [`StoreError::SubscriptionNotFound`] when the subscription was erased.
    async fn record_usage(&self, batch: &UsageBatch, now: Timestamp) -> Result<u64, StoreError>;

    /// Every transcript offset saved by [`Self::record_usage`].
    async fn read_offsets(&self) -> Result<Vec<ReadOffset>, StoreError>;

    /// Record the alerts not recorded before (the key is subscription,
    /// window, period and threshold); the ones this call recorded. Safe
    /// against concurrent processes: each alert is recorded by one call only.
    async fn record_quota_alerts(
        &self,
        alerts: &[QuotaAlert],
    ) -> Result<Vec<QuotaAlert>, StoreError>;

    /// Alerts recorded at or after `since`, oldest first.
    async fn quota_alerts(&self, since: Timestamp) -> Result<Vec<QuotaAlert>, StoreError>;

    /// Save (or refresh) a waiting acquire; drops waiters expired at `now`.
    async fn save_waiter(&self, waiter: &Waiter, now: Timestamp) -> Result<(), StoreError>;

    /// Forget a waiter (granted, given up or interrupted).
    async fn remove_waiter(&self, id: LeaseId) -> Result<(), StoreError>;

    /// Waiters not expired at `now`, oldest first.
    async fn waiters(&self, now: Timestamp) -> Result<Vec<Waiter>, StoreError>;
}

/// Lets apps choose the backend at run time: `Box<dyn SubscriptionStore>`
/// and `Arc<…>` are stores too.
macro_rules! delegate_store {
    ($wrapper:ident) => {
        #[async_trait]
        impl<T: SubscriptionStore + ?Sized> SubscriptionStore for $wrapper<T> {
            async fn insert_subscription(
                &self,
                subscription: &Subscription,
            ) -> Result<(), StoreError> {
                (**self).insert_subscription(subscription).await
            }
            async fn update_subscription(
                &self,
                subscription: &Subscription,
            ) -> Result<(), StoreError> {
                (**self).update_subscription(subscription).await
            }
            async fn delete_subscription(&self, id: SubscriptionId) -> Result<(), StoreError> {
                (**self).delete_subscription(id).await
            }
            async fn retire_subscription(
                &self,
                id: SubscriptionId,
                now: Timestamp,
            ) -> Result<(), StoreError> {
                (**self).retire_subscription(id, now).await
            }
            async fn list_subscriptions(&self) -> Result<Vec<Subscription>, StoreError> {
                (**self).list_subscriptions().await
            }
            async fn retired_subscriptions(&self) -> Result<Vec<RetiredSubscription>, StoreError> {
                (**self).retired_subscriptions().await
            }
            async fn subscription_by_name(
                &self,
                name: &SubscriptionName,
            ) -> Result<Option<Subscription>, StoreError> {
                (**self).subscription_by_name(name).await
            }
            async fn record_outcome(
                &self,
                id: SubscriptionId,
                outcome: &Outcome,
                lease_id: Option<LeaseId>,
                policy: &StatePolicy,
                now: Timestamp,
            ) -> Result<TransitionResult, StoreError> {
                (**self)
                    .record_outcome(id, outcome, lease_id, policy, now)
                    .await
            }
            async fn set_disabled(
                &self,
                id: SubscriptionId,
                disabled: Option<String>,
                now: Timestamp,
            ) -> Result<TransitionResult, StoreError> {
                (**self).set_disabled(id, disabled, now).await
            }
            async fn transitions(
                &self,
                id: SubscriptionId,
                limit: u32,
            ) -> Result<Vec<RecordedTransition>, StoreError> {
                (**self).transitions(id, limit).await
            }
            async fn transition_counts(
                &self,
            ) -> Result<Vec<(SubscriptionId, StateKind, u64)>, StoreError> {
                (**self).transition_counts().await
            }
            async fn save_route(
                &self,
                target: &RouteTarget,
                entries: &[RouteEntry],
            ) -> Result<(), StoreError> {
                (**self).save_route(target, entries).await
            }
            async fn delete_route(&self, target: &RouteTarget) -> Result<bool, StoreError> {
                (**self).delete_route(target).await
            }
            async fn load_routes(&self) -> Result<RoutingRules, StoreError> {
                (**self).load_routes().await
            }
            async fn acquire_lease(
                &self,
                request: &AcquireLeaseRequest,
                now: Timestamp,
            ) -> Result<AcquireOutcome, StoreError> {
                (**self).acquire_lease(request, now).await
            }
            async fn heartbeat_lease(
                &self,
                id: LeaseId,
                ttl: Duration,
                now: Timestamp,
            ) -> Result<Lease, LeaseError> {
                (**self).heartbeat_lease(id, ttl, now).await
            }
            async fn release_lease(
                &self,
                request: &ReleaseLeaseRequest,
                now: Timestamp,
            ) -> Result<ReleaseReport, LeaseError> {
                (**self).release_lease(request, now).await
            }
            async fn live_leases(&self, now: Timestamp) -> Result<Vec<Lease>, StoreError> {
                (**self).live_leases(now).await
            }
            async fn pool_snapshot(
                &self,
                window: Duration,
                now: Timestamp,
            ) -> Result<PoolSnapshot, StoreError> {
                (**self).pool_snapshot(window, now).await
            }
            async fn daily_usage(&self, query: &UsageQuery) -> Result<Vec<DailyUsage>, StoreError> {
                (**self).daily_usage(query).await
            }
            async fn record_usage(
                &self,
                batch: &UsageBatch,
                now: Timestamp,
            ) -> Result<u64, StoreError> {
                (**self).record_usage(batch, now).await
            }
            async fn read_offsets(&self) -> Result<Vec<ReadOffset>, StoreError> {
                (**self).read_offsets().await
            }
            async fn record_quota_alerts(
                &self,
                alerts: &[QuotaAlert],
            ) -> Result<Vec<QuotaAlert>, StoreError> {
                (**self).record_quota_alerts(alerts).await
            }
            async fn quota_alerts(&self, since: Timestamp) -> Result<Vec<QuotaAlert>, StoreError> {
                (**self).quota_alerts(since).await
            }
            async fn save_waiter(&self, waiter: &Waiter, now: Timestamp) -> Result<(), StoreError> {
                (**self).save_waiter(waiter, now).await
            }
            async fn remove_waiter(&self, id: LeaseId) -> Result<(), StoreError> {
                (**self).remove_waiter(id).await
            }
            async fn waiters(&self, now: Timestamp) -> Result<Vec<Waiter>, StoreError> {
                (**self).waiters(now).await
            }
        }
    };
}

delegate_store!(Box);
delegate_store!(Arc);
