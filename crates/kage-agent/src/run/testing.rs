//! In-memory fakes of the store and the secret store for the runner's unit
//! tests: selection and state changes are the domain's own functions, so
//! the runner is tested against the real rules without a database.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use kage_domain::{
    CredentialSource, LeaseId, Outcome, PoolEntry, PoolSnapshot, QuotaAlert, RouteEntry,
    RouteTarget, RoutingRules, Selection, SignedDuration, StateKind, StatePolicy, Subscription,
    SubscriptionId, SubscriptionName, Timestamp, TransitionResult, Usage, apply_outcome, select,
};
use kage_ports::{
    AcquireLeaseRequest, AcquireOutcome, DailyUsage, Lease, LeaseError, PassedOver, ReadOffset,
    RecordedTransition, ReleaseLeaseRequest, ReleaseReport, RetiredSubscription, SecretError,
    SecretStore, SecretString, StoreError, SubscriptionStore, UsageBatch, UsageQuery, Waiter,
};

fn add(at: Timestamp, duration: Duration) -> Timestamp {
    at.checked_add(SignedDuration::try_from(duration).unwrap())
        .unwrap()
}

fn unsupported<T>() -> Result<T, StoreError> {
    Err(StoreError::Unknown(anyhow::anyhow!(
        "not supported by the test store"
    )))
}

#[derive(Default)]
struct State {
    subscriptions: Vec<Subscription>,
    leases: Vec<Lease>,
    /// Usage recorded per subscription, one entry per release.
    usage: Vec<(SubscriptionId, Usage)>,
    /// Keys of per-message usage recorded, with the lease of each.
    keyed: Vec<(String, Option<LeaseId>, Usage)>,
    transitions: Vec<RecordedTransition>,
    /// Every release: lease, outcome, and whether the lease had expired.
    releases: Vec<(LeaseId, Outcome, bool)>,
    alerts: Vec<QuotaAlert>,
}

/// The pool's state in a mutex.
#[derive(Default)]
pub(super) struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    pub(super) fn add(&self, subscription: Subscription) {
        self.state.lock().unwrap().subscriptions.push(subscription);
    }

    pub(super) fn subscription(&self, name: &str) -> Subscription {
        self.state
            .lock()
            .unwrap()
            .subscriptions
            .iter()
            .find(|s| s.name.as_str() == name)
            .cloned()
            .unwrap()
    }

    /// Total usage recorded on a subscription.
    pub(super) fn usage_of(&self, name: &str) -> Usage {
        let id = self.subscription(name).id;
        let state = self.state.lock().unwrap();
        state.usage.iter().filter(|(owner, _)| *owner == id).fold(
            Usage::default(),
            |mut sum, (_, usage)| {
                sum.add(usage);
                sum
            },
        )
    }

    /// Every release's lease, outcome and expiry, in order.
    pub(super) fn releases(&self) -> Vec<(LeaseId, Outcome, bool)> {
        self.state.lock().unwrap().releases.clone()
    }

    pub(super) fn leases(&self) -> Vec<Lease> {
        self.state.lock().unwrap().leases.clone()
    }
}

#[async_trait]
impl SubscriptionStore for MemoryStore {
    async fn insert_subscription(&self, subscription: &Subscription) -> Result<(), StoreError> {
        self.add(subscription.clone());
        Ok(())
    }

    async fn update_subscription(&self, _: &Subscription) -> Result<(), StoreError> {
        unsupported()
    }

    async fn delete_subscription(&self, _: SubscriptionId) -> Result<(), StoreError> {
        unsupported()
    }

    async fn retire_subscription(&self, _: SubscriptionId, _: Timestamp) -> Result<(), StoreError> {
        unsupported()
    }

    async fn list_subscriptions(&self) -> Result<Vec<Subscription>, StoreError> {
        Ok(self.state.lock().unwrap().subscriptions.clone())
    }

    async fn retired_subscriptions(&self) -> Result<Vec<RetiredSubscription>, StoreError> {
        Ok(Vec::new())
    }

    async fn subscription_by_name(
        &self,
        name: &SubscriptionName,
    ) -> Result<Option<Subscription>, StoreError> {
        Ok(self
            .state
            .lock()
            .unwrap()
            .subscriptions
            .iter()
            .find(|s| &s.name == name)
            .cloned())
    }

    async fn record_outcome(
        &self,
        id: SubscriptionId,
        outcome: &Outcome,
        lease_id: Option<LeaseId>,
        policy: &StatePolicy,
        now: Timestamp,
    ) -> Result<TransitionResult, StoreError> {
        let mut state = self.state.lock().unwrap();
        let subscription = state
            .subscriptions
            .iter_mut()
            .find(|s| s.id == id)
            .ok_or(StoreError::SubscriptionNotFound(id))?;
        let result = apply_outcome(&subscription.health, outcome, now, policy);
        subscription.health = result.health.clone();
        if let Some(transition) = &result.transition {
            state.transitions.push(RecordedTransition {
                subscription_id: id,
                transition: transition.clone(),
                lease_id,
            });
        }
        Ok(result)
    }

    async fn set_disabled(
        &self,
        _: SubscriptionId,
        _: Option<String>,
        _: Timestamp,
    ) -> Result<TransitionResult, StoreError> {
        unsupported()
    }

    async fn transitions(
        &self,
        _: SubscriptionId,
        _: u32,
    ) -> Result<Vec<RecordedTransition>, StoreError> {
        unsupported()
    }

    async fn transition_counts(&self) -> Result<Vec<(SubscriptionId, StateKind, u64)>, StoreError> {
        unsupported()
    }

    async fn save_route(&self, _: &RouteTarget, _: &[RouteEntry]) -> Result<(), StoreError> {
        unsupported()
    }

    async fn delete_route(&self, _: &RouteTarget) -> Result<bool, StoreError> {
        unsupported()
    }

    async fn load_routes(&self) -> Result<RoutingRules, StoreError> {
        Ok(RoutingRules::default())
    }

    async fn acquire_lease(
        &self,
        request: &AcquireLeaseRequest,
        now: Timestamp,
    ) -> Result<AcquireOutcome, StoreError> {
        let snapshot = self.pool_snapshot(Duration::from_secs(60), now).await?;
        let mut state = self.state.lock().unwrap();
        match select(
            &snapshot,
            &request.rules,
            &request.policy,
            &request.selection,
            now,
        ) {
            Selection::Chosen { index, .. } => {
                let subscription = &snapshot.entries[index].subscription;
                let lease = Lease {
                    id: request.lease_id,
                    subscription_id: subscription.id,
                    subscription_name: subscription.name.clone(),
                    kind: subscription.kind,
                    namespace: request.selection.namespace.clone(),
                    level: request.selection.level,
                    holder: request.holder.clone(),
                    acquired_at: now,
                    expires_at: add(now, request.ttl),
                    released_at: None,
                };
                state.leases.push(lease.clone());
                Ok(AcquireOutcome::Granted(lease))
            }
            Selection::Unavailable {
                earliest_recovery,
                passed_over,
            } => Ok(AcquireOutcome::Unavailable {
                earliest_recovery,
                passed_over: passed_over
                    .into_iter()
                    .map(|(index, reason)| PassedOver {
                        name: snapshot.entries[index].subscription.name.clone(),
                        reason,
                    })
                    .collect(),
            }),
        }
    }

    async fn heartbeat_lease(
        &self,
        id: LeaseId,
        ttl: Duration,
        now: Timestamp,
    ) -> Result<Lease, LeaseError> {
        let mut state = self.state.lock().unwrap();
        let lease = state
            .leases
            .iter_mut()
            .find(|l| l.id == id)
            .ok_or(LeaseError::NotFound(id))?;
        if lease.released_at.is_some() {
            return Err(LeaseError::AlreadyReleased(id));
        }
        lease.expires_at = add(now, ttl);
        Ok(lease.clone())
    }

    async fn release_lease(
        &self,
        request: &ReleaseLeaseRequest,
        now: Timestamp,
    ) -> Result<ReleaseReport, LeaseError> {
        let (lease, was_expired) = {
            let mut state = self.state.lock().unwrap();
            let lease = state
                .leases
                .iter_mut()
                .find(|l| l.id == request.lease_id)
                .ok_or(LeaseError::NotFound(request.lease_id))?;
            if lease.released_at.is_some() {
                return Err(LeaseError::AlreadyReleased(request.lease_id));
            }
            lease.released_at = Some(now);
            let lease = lease.clone();
            let expired = lease.expires_at < now;
            // Only what the lease's per-message records do not hold.
            let recorded = state
                .keyed
                .iter()
                .filter(|(_, owner, _)| *owner == Some(lease.id))
                .fold(Usage::default(), |mut sum, (_, _, usage)| {
                    sum.add(usage);
                    sum
                });
            let usage = &request.usage;
            let rest = Usage {
                input_tokens: usage.input_tokens.saturating_sub(recorded.input_tokens),
                output_tokens: usage.output_tokens.saturating_sub(recorded.output_tokens),
                cache_write_tokens: usage
                    .cache_write_tokens
                    .saturating_sub(recorded.cache_write_tokens),
                cache_read_tokens: usage
                    .cache_read_tokens
                    .saturating_sub(recorded.cache_read_tokens),
                cost_micros_usd: usage.cost_micros_usd,
                model: usage.model.clone(),
            };
            state.usage.push((lease.subscription_id, rest));
            state
                .releases
                .push((request.lease_id, request.outcome.clone(), expired));
            (lease, expired)
        };
        let result = self
            .record_outcome(
                lease.subscription_id,
                &request.outcome,
                Some(lease.id),
                &request.policy,
                now,
            )
            .await?;
        Ok(ReleaseReport {
            lease,
            transition: result.transition,
            was_expired,
        })
    }

    async fn live_leases(&self, now: Timestamp) -> Result<Vec<Lease>, StoreError> {
        Ok(self
            .state
            .lock()
            .unwrap()
            .leases
            .iter()
            .filter(|l| l.released_at.is_none() && l.expires_at > now)
            .cloned()
            .collect())
    }

    async fn pool_snapshot(
        &self,
        _window: Duration,
        now: Timestamp,
    ) -> Result<PoolSnapshot, StoreError> {
        let state = self.state.lock().unwrap();
        let entries = state
            .subscriptions
            .iter()
            .map(|subscription| {
                let live: Vec<&Lease> = state
                    .leases
                    .iter()
                    .filter(|l| {
                        l.subscription_id == subscription.id
                            && l.released_at.is_none()
                            && l.expires_at > now
                    })
                    .collect();
                PoolEntry {
                    subscription: subscription.clone(),
                    live_leases: u32::try_from(live.len()).unwrap(),
                    last_leased_at: state
                        .leases
                        .iter()
                        .filter(|l| l.subscription_id == subscription.id)
                        .map(|l| l.acquired_at)
                        .max(),
                    window_tokens: 0,
                    earliest_lease_expiry: live.iter().map(|l| l.expires_at).min(),
                }
            })
            .collect();
        Ok(PoolSnapshot { entries })
    }

    async fn daily_usage(&self, _: &UsageQuery) -> Result<Vec<DailyUsage>, StoreError> {
        Ok(Vec::new())
    }

    async fn record_quota_alerts(
        &self,
        alerts: &[QuotaAlert],
    ) -> Result<Vec<QuotaAlert>, StoreError> {
        let mut state = self.state.lock().unwrap();
        let mut recorded = Vec::new();
        for alert in alerts {
            let known = state.alerts.iter().any(|known| {
                (
                    known.subscription_id,
                    &known.window,
                    known.period,
                    known.threshold_permille,
                ) == (
                    alert.subscription_id,
                    &alert.window,
                    alert.period,
                    alert.threshold_permille,
                )
            });
            if !known {
                state.alerts.push(alert.clone());
                recorded.push(alert.clone());
            }
        }
        Ok(recorded)
    }

    async fn record_usage(&self, batch: &UsageBatch, _: Timestamp) -> Result<u64, StoreError> {
        let mut state = self.state.lock().unwrap();
        let mut recorded = 0;
        for record in &batch.records {
            if state.keyed.iter().any(|(key, _, _)| *key == record.key) {
                continue;
            }
            state
                .keyed
                .push((record.key.clone(), batch.lease_id, record.usage.clone()));
            state
                .usage
                .push((batch.subscription_id, record.usage.clone()));
            recorded += 1;
        }
        Ok(recorded)
    }

    async fn read_offsets(&self) -> Result<Vec<ReadOffset>, StoreError> {
        Ok(Vec::new())
    }

    async fn quota_alerts(&self, since: Timestamp) -> Result<Vec<QuotaAlert>, StoreError> {
        let state = self.state.lock().unwrap();
        Ok(state
            .alerts
            .iter()
            .filter(|alert| alert.at >= since)
            .cloned()
            .collect())
    }

    async fn save_waiter(&self, _: &Waiter, _: Timestamp) -> Result<(), StoreError> {
        Ok(())
    }

    async fn remove_waiter(&self, _: LeaseId) -> Result<(), StoreError> {
        Ok(())
    }

    async fn waiters(&self, _: Timestamp) -> Result<Vec<Waiter>, StoreError> {
        Ok(Vec::new())
    }
}

/// Credentials by subscription id.
#[derive(Default)]
pub(super) struct MemorySecrets {
    secrets: Mutex<HashMap<SubscriptionId, String>>,
}

impl MemorySecrets {
    pub(super) fn put(&self, id: SubscriptionId, secret: &str) {
        self.secrets.lock().unwrap().insert(id, secret.to_owned());
    }
}

#[async_trait]
impl SecretStore for MemorySecrets {
    async fn store(
        &self,
        id: SubscriptionId,
        _: &SubscriptionName,
        _: &CredentialSource,
        secret: SecretString,
    ) -> Result<(), SecretError> {
        use kage_ports::ExposeSecret;
        self.put(id, secret.expose_secret());
        Ok(())
    }

    async fn fetch(
        &self,
        id: SubscriptionId,
        name: &SubscriptionName,
        _: &CredentialSource,
    ) -> Result<SecretString, SecretError> {
        self.secrets
            .lock()
            .unwrap()
            .get(&id)
            .map(|secret| SecretString::from(secret.clone()))
            .ok_or_else(|| SecretError::NotFound {
                subscription: name.clone(),
                store: "test store".to_owned(),
            })
    }

    async fn delete(
        &self,
        _: SubscriptionId,
        _: &SubscriptionName,
        _: &CredentialSource,
    ) -> Result<(), SecretError> {
        Ok(())
    }
}
