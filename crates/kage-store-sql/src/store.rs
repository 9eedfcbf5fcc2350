//! [`Store`]: the one `impl SubscriptionStore`, generic over the backend.
//!
//! [`crate::SqliteStore`] is `Store<SqliteBackend>` and
//! [`crate::PostgresStore`] is `Store<PostgresBackend>`. Every operation
//! calls the shared function of the same name in `common.rs`, written once
//! over [`Backend`]; acquire and release, the hot paths each backend writes
//! for itself, are the backend's own [`Backend::acquire`] and
//! [`Backend::release`] (`sqlite.rs`, `postgres.rs`).

use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use kage_domain::{
    LeaseId, Outcome, PoolSnapshot, QuotaAlert, RouteEntry, RouteTarget, RoutingRules, StateKind,
    StatePolicy, Subscription, SubscriptionId, SubscriptionName, TransitionResult,
};
use kage_ports::{
    AcquireLeaseRequest, AcquireOutcome, DailyUsage, Lease, LeaseError, ReadOffset,
    RecordedTransition, ReleaseLeaseRequest, ReleaseReport, RetiredSubscription, StoreError,
    SubscriptionStore, UsageBatch, UsageQuery, Waiter,
};

use crate::common::{self, Backend};

/// The pool store over one backend: [`crate::SqliteBackend`] (one SQLite
/// file) or [`crate::PostgresBackend`] (a PostgreSQL database). Open it
/// with [`crate::SqliteStore::open`] or [`crate::PostgresStore::connect`].
#[derive(Clone)]
pub struct Store<B> {
    pub(crate) backend: B,
}

impl<B: std::fmt::Debug> std::fmt::Debug for Store<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.backend.fmt(f)
    }
}

#[async_trait]
impl<B: Backend> SubscriptionStore for Store<B> {
    async fn insert_subscription(&self, subscription: &Subscription) -> Result<(), StoreError> {
        common::insert_subscription(&self.backend, subscription).await
    }

    async fn update_subscription(&self, subscription: &Subscription) -> Result<(), StoreError> {
        common::update_subscription(&self.backend, subscription).await
    }

    async fn delete_subscription(&self, id: SubscriptionId) -> Result<(), StoreError> {
        common::delete_subscription(&self.backend, id).await
    }

    async fn retire_subscription(
        &self,
        id: SubscriptionId,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        common::retire_subscription(&self.backend, id, now).await
    }

    async fn list_subscriptions(&self) -> Result<Vec<Subscription>, StoreError> {
        common::list_subscriptions(&self.backend).await
    }

    async fn retired_subscriptions(&self) -> Result<Vec<RetiredSubscription>, StoreError> {
        common::retired_subscriptions(&self.backend).await
    }

    async fn subscription_by_name(
        &self,
        name: &SubscriptionName,
    ) -> Result<Option<Subscription>, StoreError> {
        common::subscription_by_name(&self.backend, name).await
    }

    async fn record_outcome(
        &self,
        id: SubscriptionId,
        outcome: &Outcome,
        lease_id: Option<LeaseId>,
        policy: &StatePolicy,
        now: Timestamp,
    ) -> Result<TransitionResult, StoreError> {
        common::record_outcome(&self.backend, id, outcome, lease_id, policy, now).await
    }

    async fn set_disabled(
        &self,
        id: SubscriptionId,
        disabled: Option<String>,
        now: Timestamp,
    ) -> Result<TransitionResult, StoreError> {
        common::set_disabled(&self.backend, id, disabled, now).await
    }

    async fn transitions(
        &self,
        id: SubscriptionId,
        limit: u32,
    ) -> Result<Vec<RecordedTransition>, StoreError> {
        common::transitions(&self.backend, id, limit).await
    }

    async fn transition_counts(&self) -> Result<Vec<(SubscriptionId, StateKind, u64)>, StoreError> {
        common::transition_counts(&self.backend).await
    }

    async fn save_route(
        &self,
        target: &RouteTarget,
        entries: &[RouteEntry],
    ) -> Result<(), StoreError> {
        common::save_route(&self.backend, target, entries).await
    }

    async fn delete_route(&self, target: &RouteTarget) -> Result<bool, StoreError> {
        common::delete_route(&self.backend, target).await
    }

    async fn load_routes(&self) -> Result<RoutingRules, StoreError> {
        common::load_routes(&self.backend).await
    }

    async fn acquire_lease(
        &self,
        request: &AcquireLeaseRequest,
        now: Timestamp,
    ) -> Result<AcquireOutcome, StoreError> {
        self.backend.acquire(request, now).await
    }

    async fn heartbeat_lease(
        &self,
        id: LeaseId,
        ttl: Duration,
        now: Timestamp,
    ) -> Result<Lease, LeaseError> {
        common::heartbeat_lease(&self.backend, id, ttl, now).await
    }

    async fn release_lease(
        &self,
        request: &ReleaseLeaseRequest,
        now: Timestamp,
    ) -> Result<ReleaseReport, LeaseError> {
        self.backend.release(request, now).await
    }

    async fn live_leases(&self, now: Timestamp) -> Result<Vec<Lease>, StoreError> {
        common::live_leases(&self.backend, now).await
    }

    async fn pool_snapshot(
        &self,
        window: Duration,
        now: Timestamp,
    ) -> Result<PoolSnapshot, StoreError> {
        common::pool_snapshot(&self.backend, window, now).await
    }

    async fn daily_usage(&self, query: &UsageQuery) -> Result<Vec<DailyUsage>, StoreError> {
        common::daily_usage(&self.backend, query).await
    }

    async fn record_usage(&self, batch: &UsageBatch, now: Timestamp) -> Result<u64, StoreError> {
        common::record_usage(&self.backend, batch, now).await
    }

    async fn read_offsets(&self) -> Result<Vec<ReadOffset>, StoreError> {
        common::read_offsets(&self.backend).await
    }

    async fn record_quota_alerts(
        &self,
        alerts: &[QuotaAlert],
    ) -> Result<Vec<QuotaAlert>, StoreError> {
        common::record_quota_alerts(&self.backend, alerts).await
    }

    async fn quota_alerts(&self, since: Timestamp) -> Result<Vec<QuotaAlert>, StoreError> {
        common::quota_alerts(&self.backend, since).await
    }

    async fn save_waiter(&self, waiter: &Waiter, now: Timestamp) -> Result<(), StoreError> {
        common::save_waiter(&self.backend, waiter, now).await
    }

    async fn remove_waiter(&self, id: LeaseId) -> Result<(), StoreError> {
        common::remove_waiter(&self.backend, id).await
    }

    async fn waiters(&self, now: Timestamp) -> Result<Vec<Waiter>, StoreError> {
        common::waiters(&self.backend, now).await
    }
}
