//! Warnings before the limit: recording the thresholds a quota reading
//! reached ([`kage_domain::alert`]), once per subscription, window, period
//! and threshold, and telling the caller which ones to tell a person about.
//! Running `notify_command` is the apps' job (`kage_app::notify`).

use kage_domain::alert::{alerts_for, to_notify};
use kage_domain::{QuotaAlert, QuotaReading, SubscriptionId, SubscriptionName, Timestamp};
use kage_ports::{Clock, SecretStore, SubscriptionStore};

use crate::errors::PoolError;
use crate::pool::Pool;

/// How far back `kage top` looks for alerts: the longest quota window.
pub const ALERT_LOOKBACK: jiff::SignedDuration = jiff::SignedDuration::from_hours(7 * 24);

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
        readings: &[QuotaReading],
    ) -> Result<Vec<QuotaAlert>, PoolError> {
        let thresholds = &self.settings.alert_thresholds;
        if thresholds.is_empty() || readings.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.clock.now();
        let candidates: Vec<QuotaAlert> = readings
            .iter()
            .flat_map(|reading| {
                alerts_for(subscription_id, subscription_name, reading, thresholds, now)
            })
            .collect();
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let recorded = self.store.record_quota_alerts(&candidates).await?;
        let told: Vec<QuotaAlert> = to_notify(&recorded).into_iter().cloned().collect();
        for alert in &told {
            tracing::info!(subscription = %alert.subscription_name, window = %alert.window, threshold = alert.threshold(), utilization = alert.utilization, "quota alert");
        }
        Ok(told)
    }

    /// Alerts recorded since `since` (for screens).
    pub async fn quota_alerts_since(&self, since: Timestamp) -> Result<Vec<QuotaAlert>, PoolError> {
        Ok(self.store.quota_alerts(since).await?)
    }
}
