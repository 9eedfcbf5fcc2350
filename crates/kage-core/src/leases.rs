//! Leases: acquire (with waiting), heartbeat, release, mid-lease signals,
//! and the credential a lease grants.

use std::time::Duration;

use kage_domain::alert::AlertReading;
use kage_domain::{
    ErrorKind, LeaseId, Outcome, PassOverReason, QuotaAlert, SelectionRequest, SignedDuration,
    SubscriptionName, Timestamp, TransitionResult, Usage,
};
use kage_ports::{
    AcquireLeaseRequest, AcquireOutcome, Clock, Lease, LeaseError, PassedOver, ReadOffset,
    ReleaseLeaseRequest, ReleaseReport, SecretError, SecretStore, SecretString, SubscriptionStore,
    UsageBatch, WAITER_REFRESH, Waiter,
};
use uuid::Uuid;

use crate::errors::{AcquireError, CredentialError};
use crate::pool::Pool;

/// While a subscription is at its cap, a waiter looks again this often:
/// a lease may be released long before it expires.
const CAPACITY_RECHECK: Duration = Duration::from_secs(1);

#[derive(Clone, Debug)]
pub struct AcquireRequest {
    pub selection: SelectionRequest,
    /// Lease TTL; the config's `lease_ttl` when `None`.
    pub ttl: Option<Duration>,
    /// Wait up to this long for a subscription to become available.
    pub max_wait: Option<Duration>,
    /// Who holds the lease (`kage-agent@host:pid`).
    pub holder: String,
}

/// A granted lease.
#[derive(Clone, Debug)]
pub struct LeaseGrant {
    pub lease: Lease,
    /// How long it waited for it.
    pub waited: Duration,
}

/// A granted lease with its credential, read at lease time.
pub struct CredentialedGrant {
    pub grant: LeaseGrant,
    pub credential: SecretString,
    /// Subscriptions chosen first whose credential could not be read: each
    /// was marked `unhealthy` ("credential unreadable: …") and passed over.
    pub unreadable: Vec<UnreadableCredential>,
}

/// A credential that could not be read at lease time.
#[derive(Debug)]
pub struct UnreadableCredential {
    pub subscription: SubscriptionName,
    pub error: SecretError,
}

/// Whether one subscription's credential could be read.
#[derive(Debug)]
pub struct CredentialCheck {
    pub subscription: kage_domain::Subscription,
    pub read: Result<(), SecretError>,
}

/// What could not be read, in a few words for the `unhealthy` reason (the
/// error's own message carries the fix; neither holds the value).
pub fn unreadable_detail(error: &SecretError) -> String {
    match error {
        SecretError::NotFound { store, .. } => format!("no credential in the {store}"),
        SecretError::KeychainUnavailable { detail } => {
            format!("the OS keychain is not available ({detail})")
        }
        SecretError::KeychainLocked { .. } => "the OS keychain is locked".to_owned(),
        SecretError::CommandFailed {
            command, status, ..
        } => format!("command `{command}` failed ({status})"),
        SecretError::CommandTimedOut {
            command, seconds, ..
        } => format!("command `{command}` did not finish within {seconds}s"),
        SecretError::CommandEmpty { command, .. } => {
            format!("command `{command}` printed nothing")
        }
        SecretError::EnvUnset { variable, .. } => {
            format!("environment variable {variable} is not set or empty")
        }
        SecretError::NotStorable { .. } | SecretError::Unknown(_) => error.to_string(),
    }
}

/// Told to the caller each time an acquire starts to wait.
#[derive(Clone, Debug)]
pub struct WaitNotice {
    /// When it will look again.
    pub until: Timestamp,
    /// The earliest time a candidate comes back, and which one.
    pub earliest_recovery: Option<Timestamp>,
    pub earliest_name: Option<SubscriptionName>,
    pub passed_over: Vec<PassedOver>,
}

/// What [`Pool::record_signal`] recorded.
#[derive(Clone, Debug)]
pub struct SignalRecord {
    pub transition: TransitionResult,
    /// Quota alerts to tell a person about (new, the highest per window).
    pub alerts: Vec<QuotaAlert>,
}

#[derive(Clone, Debug)]
pub struct ReleaseRequest {
    pub lease_id: LeaseId,
    pub outcome: Outcome,
    pub usage: Usage,
}

fn add(at: Timestamp, duration: Duration) -> Timestamp {
    at.checked_add(SignedDuration::try_from(duration).unwrap_or(SignedDuration::MAX))
        .unwrap_or(Timestamp::MAX)
}

/// What an acquire asked for, for people: `namespace backend, high, tags fast,eu`.
pub(crate) fn describe_request(selection: &SelectionRequest) -> String {
    let mut parts = Vec::new();
    if let Some(namespace) = &selection.namespace {
        parts.push(format!("namespace {namespace}"));
    }
    parts.push(selection.level.to_string());
    if !selection.required_tags.is_empty() {
        let tags: Vec<&str> = selection
            .required_tags
            .iter()
            .map(|tag| tag.as_str())
            .collect();
        parts.push(format!("tags {}", tags.join(",")));
    }
    parts.join(", ")
}

/// The name of the candidate that recovers first.
fn earliest_name(
    passed_over: &[PassedOver],
    earliest: Option<Timestamp>,
) -> Option<SubscriptionName> {
    let earliest = earliest?;
    passed_over
        .iter()
        .find(|passed| match &passed.reason {
            PassOverReason::NotActive { state } => state.until() == Some(earliest),
            PassOverReason::AtCapacity { frees_at, .. } => *frees_at == Some(earliest),
            PassOverReason::ModelLimited { until, .. } => *until == earliest,
            _ => false,
        })
        .map(|passed| passed.name.clone())
}

impl<S, K, C> Pool<S, K, C>
where
    S: SubscriptionStore,
    K: SecretStore,
    C: Clock,
{
    /// Lease the best subscription for a request. With `max_wait`, waits for
    /// the earliest recovery the store reports (never spinning), telling
    /// `on_wait` each time it starts to wait. While it waits, the store
    /// holds a [`Waiter`] for it (what `kage top` shows), refreshed every
    /// [`WAITER_REFRESH`] and removed when the acquire ends.
    pub async fn acquire(
        &self,
        request: &AcquireRequest,
        on_wait: impl FnMut(&WaitNotice),
    ) -> Result<LeaseGrant, AcquireError> {
        let lease_id = LeaseId::from_uuid(Uuid::new_v4());
        let mut waited = false;
        let result = self
            .acquire_as(lease_id, request, on_wait, &mut waited)
            .await;
        if waited && let Err(error) = self.store.remove_waiter(lease_id).await {
            tracing::debug!("could not forget the waiting acquire {lease_id}: {error}");
        }
        result
    }

    async fn acquire_as(
        &self,
        lease_id: LeaseId,
        request: &AcquireRequest,
        mut on_wait: impl FnMut(&WaitNotice),
        waited: &mut bool,
    ) -> Result<LeaseGrant, AcquireError> {
        let started = self.clock.now();
        let deadline = request.max_wait.map(|max_wait| add(started, max_wait));
        let store_request = AcquireLeaseRequest {
            lease_id,
            selection: request.selection.clone(),
            rules: self.effective_rules().await?,
            policy: self.settings.selection_policy.clone(),
            ttl: kage_domain::bounded_lease_ttl(request.ttl.unwrap_or(self.settings.lease_ttl)),
            holder: request.holder.clone(),
        };
        loop {
            let now = self.clock.now();
            match self.store.acquire_lease(&store_request, now).await? {
                AcquireOutcome::Granted(lease) => {
                    tracing::debug!(lease = %lease.id, subscription = %lease.subscription_name, "lease granted");
                    let waited =
                        Duration::try_from(now.duration_since(started)).unwrap_or_default();
                    return Ok(LeaseGrant { lease, waited });
                }
                AcquireOutcome::Unavailable {
                    earliest_recovery,
                    passed_over,
                } => {
                    let earliest = earliest_name(&passed_over, earliest_recovery);
                    let next_look = match (deadline, earliest_recovery) {
                        (Some(deadline), Some(recovery)) if now < deadline => {
                            let capacity_bound = passed_over
                                .iter()
                                .any(|p| matches!(p.reason, PassOverReason::AtCapacity { .. }));
                            let mut until = recovery.min(deadline);
                            if capacity_bound {
                                until = until.min(add(now, CAPACITY_RECHECK));
                            }
                            Some(until.max(now))
                        }
                        _ => None,
                    };
                    let Some(until) = next_look else {
                        return Err(AcquireError::Unavailable {
                            earliest_recovery,
                            earliest_name: earliest,
                            passed_over,
                            waited: now > started,
                        });
                    };
                    let waiter = Waiter {
                        id: lease_id,
                        holder: request.holder.clone(),
                        request: describe_request(&request.selection),
                        since: started,
                        until,
                        deadline,
                        earliest_recovery,
                        earliest_name: earliest.clone(),
                        expires_at: now,
                    };
                    on_wait(&WaitNotice {
                        until,
                        earliest_recovery,
                        earliest_name: earliest,
                        passed_over,
                    });
                    *waited = true;
                    self.wait_as(waiter).await;
                }
            }
        }
    }

    /// Lease the best subscription and read its credential. A credential
    /// that cannot be read marks its subscription `unhealthy` ("credential
    /// unreadable: …", the usual backoff) by releasing the lease with
    /// [`Outcome::CredentialUnreadable`], and the acquire moves on to the
    /// next candidate in the same call: one broken entry never stalls the
    /// pool.
    pub async fn acquire_with_credential(
        &self,
        request: &AcquireRequest,
        mut on_wait: impl FnMut(&WaitNotice),
    ) -> Result<CredentialedGrant, AcquireError> {
        let mut unreadable = Vec::new();
        loop {
            let grant = self.acquire(request, &mut on_wait).await?;
            let error = match self.credential(&grant.lease).await {
                Ok(credential) => {
                    return Ok(CredentialedGrant {
                        grant,
                        credential,
                        unreadable,
                    });
                }
                Err(CredentialError::Secret(error)) => error,
                Err(CredentialError::Pool(error)) => {
                    self.release_quietly(grant.lease.id).await;
                    return Err(AcquireError::Pool(error));
                }
            };
            let name = grant.lease.subscription_name.clone();
            tracing::warn!(subscription = %name, error = %error, "credential unreadable; trying the next subscription");
            self.release(ReleaseRequest {
                lease_id: grant.lease.id,
                outcome: Outcome::CredentialUnreadable {
                    detail: unreadable_detail(&error),
                },
                usage: Usage::default(),
            })
            .await?;
            unreadable.push(UnreadableCredential {
                subscription: name,
                error,
            });
        }
    }

    /// Give a lease back without an outcome, ignoring failures (it expires
    /// by itself).
    async fn release_quietly(&self, lease_id: LeaseId) {
        let released = self
            .release(ReleaseRequest {
                lease_id,
                outcome: Outcome::Error {
                    kind: ErrorKind::Agent,
                    detail: "the subscription could not be read".to_owned(),
                },
                usage: Usage::default(),
            })
            .await;
        if let Err(error) = released {
            tracing::debug!(lease = %lease_id, error = %error, "could not release the lease");
        }
    }

    /// Read the credential of each subscription (every one when `names` is
    /// empty), dropping the value at once: whether each can be read now.
    /// Nothing is leased and no state changes.
    pub async fn test_credentials(
        &self,
        names: &[SubscriptionName],
    ) -> Result<Vec<CredentialCheck>, crate::PoolError> {
        let subscriptions = if names.is_empty() {
            self.list().await?
        } else {
            let mut found = Vec::with_capacity(names.len());
            for name in names {
                found.push(self.find(name).await?);
            }
            found
        };
        let mut checks = Vec::with_capacity(subscriptions.len());
        for subscription in subscriptions {
            let read = self
                .secrets
                .fetch(
                    subscription.id,
                    &subscription.name,
                    &subscription.credential,
                )
                .await
                .map(drop);
            checks.push(CredentialCheck { subscription, read });
        }
        Ok(checks)
    }

    /// Sleep until `waiter.until`, saving the waiter now and every
    /// [`WAITER_REFRESH`] (a failure to save is logged, never fatal).
    async fn wait_as(&self, mut waiter: Waiter) {
        loop {
            let now = self.clock.now();
            if now >= waiter.until {
                return;
            }
            let wake = waiter.until.min(add(now, WAITER_REFRESH));
            waiter.expires_at = add(wake, WAITER_REFRESH);
            if let Err(error) = self.store.save_waiter(&waiter, now).await {
                tracing::debug!("could not save the waiting acquire {}: {error}", waiter.id);
            }
            self.clock.sleep_until(wake).await;
        }
    }

    /// Keep a lease alive for another TTL.
    pub async fn heartbeat(
        &self,
        lease_id: LeaseId,
        ttl: Option<Duration>,
    ) -> Result<Lease, LeaseError> {
        let ttl = kage_domain::bounded_lease_ttl(ttl.unwrap_or(self.settings.lease_ttl));
        self.store
            .heartbeat_lease(lease_id, ttl, self.clock.now())
            .await
    }

    /// End a lease with its outcome and usage, in one transaction.
    pub async fn release(&self, request: ReleaseRequest) -> Result<ReleaseReport, LeaseError> {
        let report = self
            .store
            .release_lease(
                &ReleaseLeaseRequest {
                    lease_id: request.lease_id,
                    outcome: request.outcome,
                    usage: request.usage,
                    policy: self.settings.state_policy.clone(),
                },
                self.clock.now(),
            )
            .await?;
        let name = &report.lease.subscription_name;
        if let Some(transition) = &report.transition {
            tracing::info!(subscription = %name, from = %transition.from, to = %transition.to, reason = %transition.reason, "state changed");
        }
        Ok(report)
    }

    /// Record a signal seen while a lease is still held (an approaching
    /// limit, or a limit that is about to end the lease), and the quota
    /// alerts its utilization raises.
    pub async fn record_signal(
        &self,
        lease: &Lease,
        outcome: &Outcome,
    ) -> Result<SignalRecord, crate::PoolError> {
        let transition = self
            .store
            .record_outcome(
                lease.subscription_id,
                outcome,
                Some(lease.id),
                &self.settings.state_policy,
                self.clock.now(),
            )
            .await?;
        let alerts = self.quota_alerts_for(lease, outcome).await?;
        Ok(SignalRecord { transition, alerts })
    }

    /// Record per-message usage (each key at most once) and how far the
    /// transcripts it came from are read; how many records were new.
    /// Without a lease (`batch.lease_id` is `None`) the usage is the
    /// subscription's, from sessions run outside Kage.
    pub async fn record_usage(&self, batch: &UsageBatch) -> Result<u64, crate::PoolError> {
        Ok(self.store.record_usage(batch, self.clock.now()).await?)
    }

    /// How far each transcript's usage is recorded.
    pub async fn read_offsets(&self) -> Result<Vec<ReadOffset>, crate::PoolError> {
        Ok(self.store.read_offsets().await?)
    }

    /// The quota alerts an outcome reported on a lease raises (recorded
    /// once; see [`Pool::record_quota`]). For a release's outcome, after
    /// [`Pool::release`].
    pub async fn quota_alerts_for(
        &self,
        lease: &Lease,
        outcome: &Outcome,
    ) -> Result<Vec<QuotaAlert>, crate::PoolError> {
        let readings: Vec<AlertReading> = AlertReading::of(outcome);
        self.record_quota(lease.subscription_id, &lease.subscription_name, &readings)
            .await
    }

    /// Live leases of the whole pool.
    pub async fn live_leases(&self) -> Result<Vec<Lease>, crate::PoolError> {
        Ok(self.store.live_leases(self.clock.now()).await?)
    }

    /// The environment changes for a child on `lease`: the leased
    /// credential under its kind's variable, and every variable that any
    /// subscription reads its credential from removed.
    pub async fn child_environment(
        &self,
        lease: &Lease,
    ) -> Result<crate::launch::ChildEnvironment, crate::PoolError> {
        // Removed subscriptions' variables too: they still hold tokens.
        let mut subscriptions = self.store.list_subscriptions().await?;
        subscriptions.extend(
            self.store
                .retired_subscriptions()
                .await?
                .into_iter()
                .map(|retired| retired.subscription),
        );
        let variables =
            subscriptions
                .iter()
                .filter_map(|subscription| match &subscription.credential {
                    kage_domain::CredentialSource::Env(variable) => Some(variable.as_str()),
                    _ => None,
                });
        Ok(
            crate::launch::ChildEnvironment::new(lease.kind, &lease.subscription_name, lease.id)
                .removing(variables),
        )
    }

    /// The credential of the leased subscription, read from its source.
    /// A failure here never marks the subscription: Kage could not read
    /// the credential, the service did not reject it.
    pub async fn credential(&self, lease: &Lease) -> Result<SecretString, CredentialError> {
        // By id: a subscription added under the name of a removed one is
        // not the leased one.
        let subscription = self
            .store
            .subscription_by_name(&lease.subscription_name)
            .await?
            .filter(|subscription| subscription.id == lease.subscription_id)
            .ok_or_else(|| crate::PoolError::Removed {
                name: lease.subscription_name.clone(),
            })?;
        Ok(self
            .secrets
            .fetch(
                subscription.id,
                &subscription.name,
                &subscription.credential,
            )
            .await?)
    }
}
