//! Warnings before the limit: recording the thresholds a quota reading
//! reached ([`kage_domain::alert`]), once per subscription, window, period
//! and threshold, and telling the caller which ones to tell a person about.
//! Running `notify_command` is the apps' job (`kage_app::notify`).

use kage_domain::alert::{AlertReading, alerts_for, to_notify};
use kage_domain::{AlertThresholds, QuotaAlert, SubscriptionId, SubscriptionName, Timestamp};
use kage_ports::{Clock, SecretStore, StoreError, SubscriptionStore};

use crate::errors::PoolError;
use crate::pool::Pool;

/// How far back `kage top` looks for alerts: the longest quota window.
pub const ALERT_LOOKBACK: jiff::SignedDuration = jiff::SignedDuration::from_hours(7 * 24);

/// Record the thresholds `readings` reached (those not recorded before)
/// and return the ones to tell: the highest new one per window. For apps
/// that hold a store but no [`Pool`] (`kage statusline`); the pool's
/// [`Pool::record_quota`] is the same.
///
/// # Errors
/// The store's.
pub async fn record_quota_alerts<S: SubscriptionStore + ?Sized>(
    store: &S,
    thresholds: &AlertThresholds,
    subscription_id: SubscriptionId,
    subscription_name: &SubscriptionName,
    readings: &[AlertReading],
    now: Timestamp,
) -> Result<Vec<QuotaAlert>, StoreError> {
    if thresholds.is_empty() || readings.is_empty() {
        return Ok(Vec::new());
    }
    let candidates: Vec<QuotaAlert> = readings
        .iter()
        .flat_map(|reading| {
            alerts_for(subscription_id, subscription_name, reading, thresholds, now)
        })
        .collect();
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let recorded = store.record_quota_alerts(&candidates).await?;
    let told: Vec<QuotaAlert> = to_notify(&recorded).into_iter().cloned().collect();
    for alert in &told {
        tracing::info!(subscription = %alert.subscription_name, window = %alert.window, threshold = alert.threshold(), utilization = alert.utilization, "quota alert");
    }
    Ok(told)
}

impl<S, K, C> Pool<S, K, C>
where
    S: SubscriptionStore,
    K: SecretStore,
    C: Clock,
{
    /// Record the thresholds `readings` reached (those not recorded before)
    /// and return the ones to tell: the highest new one per window. Empty
    /// when `alert_thresholds` is empty.
    pub async fn record_quota(
        &self,
        subscription_id: SubscriptionId,
        subscription_name: &SubscriptionName,
        readings: &[AlertReading],
    ) -> Result<Vec<QuotaAlert>, PoolError> {
        Ok(record_quota_alerts(
            &self.store,
            &self.settings.alert_thresholds,
            subscription_id,
            subscription_name,
            readings,
            self.clock.now(),
        )
        .await?)
    }

    /// Alerts recorded since `since` (for screens).
    pub async fn quota_alerts_since(&self, since: Timestamp) -> Result<Vec<QuotaAlert>, PoolError> {
        Ok(self.store.quota_alerts(since).await?)
    }
}
