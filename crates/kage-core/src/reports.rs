//! Read models: pool status, usage reports, one subscription's story, and
//! the figures `kage metrics` exports.

use std::collections::BTreeMap;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, Zoned};
use kage_domain::{
    QuotaAlert, StateKind, Subscription, SubscriptionId, SubscriptionName, SubscriptionState,
    Usage, is_approaching_limit,
};
use kage_ports::{
    Clock, DailyUsage, Lease, RecordedTransition, SecretStore, SubscriptionStore, UsageQuery,
    Waiter,
};

use crate::errors::PoolError;
use crate::pool::Pool;

/// One subscription on the status screen.
#[derive(Clone, PartialEq, Debug)]
pub struct SubscriptionStatus {
    pub subscription: Subscription,
    /// The effective state now.
    pub state: SubscriptionState,
    pub live_leases: u32,
    pub approaching_limit: bool,
    /// Usage since local midnight.
    pub today: Usage,
}

/// `kage subscription status`.
#[derive(Clone, PartialEq, Debug)]
pub struct PoolStatus {
    pub now: Timestamp,
    pub time_zone: TimeZone,
    /// By priority, highest first, then name.
    pub subscriptions: Vec<SubscriptionStatus>,
    /// Usage since local midnight of subscriptions removed from the pool
    /// (retired): part of the pool's total.
    pub retired_today: Usage,
}

impl PoolStatus {
    pub fn count(&self, kind: StateKind) -> usize {
        self.subscriptions
            .iter()
            .filter(|s| s.state.kind() == kind)
            .count()
    }

    /// Tokens since local midnight, removed subscriptions' included.
    pub fn total_today(&self) -> u64 {
        self.usage_today().total_tokens()
    }

    /// Usage since local midnight of the whole pool, removed subscriptions'
    /// included.
    pub fn usage_today(&self) -> Usage {
        let mut total = self.retired_today.clone();
        for subscription in &self.subscriptions {
            total.add(&subscription.today);
        }
        total
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Period {
    /// Since local midnight.
    Day,
    /// The last 7 local days, today included.
    Week,
    /// The last 30 local days, today included.
    Month,
}

impl Period {
    pub fn days(self) -> i64 {
        match self {
            Self::Day => 1,
            Self::Week => 7,
            Self::Month => 30,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
        }
    }
}

#[derive(Clone, Debug)]
pub struct UsageRequest {
    pub period: Period,
    pub subscription: Option<SubscriptionName>,
}

/// Whose usage a row of a report is: a subscription in the pool, or one
/// removed from it (retired; a new one may have its name).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub struct UsageOwner {
    pub name: SubscriptionName,
    pub retired: bool,
}

/// One subscription's usage on one local day.
#[derive(Clone, PartialEq, Debug)]
pub struct UsageRow {
    pub day: Date,
    pub subscription: UsageOwner,
    pub usage: Usage,
    pub leases: u64,
}

/// `kage subscription usage`.
#[derive(Clone, PartialEq, Debug)]
pub struct UsageReport {
    pub period: Period,
    pub from: Date,
    pub to: Date,
    /// By day, then subscription name.
    pub rows: Vec<UsageRow>,
    /// Per subscription over the whole period, by name (every subscription
    /// in the pool; removed ones when they used something).
    pub totals: Vec<(UsageOwner, Usage)>,
}

impl UsageReport {
    pub fn grand_total(&self) -> Usage {
        let mut total = Usage::default();
        for (_, usage) in &self.totals {
            total.add(usage);
        }
        total
    }
}

/// `kage subscription show`.
#[derive(Clone, PartialEq, Debug)]
pub struct SubscriptionDetails {
    pub status: SubscriptionStatus,
    pub leases: Vec<Lease>,
    pub transitions: Vec<RecordedTransition>,
    pub last_7_days: Usage,
    pub last_30_days: Usage,
}

/// `kage top`: everything one frame shows, read in one go.
#[derive(Clone, PartialEq, Debug)]
pub struct TopSnapshot {
    pub status: PoolStatus,
    /// Live leases, oldest first.
    pub leases: Vec<Lease>,
    /// Acquires waiting for a subscription, oldest first.
    pub waiters: Vec<Waiter>,
    /// Alerts whose window has not reset yet, oldest first.
    pub alerts: Vec<QuotaAlert>,
}

/// `kage metrics`.
#[derive(Clone, PartialEq, Debug)]
pub struct MetricsSnapshot {
    pub status: PoolStatus,
    pub transitions: Vec<(SubscriptionName, StateKind, u64)>,
}

fn local_midnight(now: &Zoned, days_back: i64) -> Timestamp {
    let day = now
        .date()
        .checked_sub(days_back.days())
        .unwrap_or(now.date());
    day.to_zoned(now.time_zone().clone())
        .map(|z| z.timestamp())
        .unwrap_or(now.timestamp())
}

impl<S, K, C> Pool<S, K, C>
where
    S: SubscriptionStore,
    K: SecretStore,
    C: Clock,
{
    fn usage_query(&self, days: i64, subscription: Option<SubscriptionId>) -> (UsageQuery, Zoned) {
        let now = self.clock.now().to_zoned(self.clock.time_zone());
        let query = UsageQuery {
            from: local_midnight(&now, days - 1),
            to: now
                .timestamp()
                .checked_add(1.millisecond())
                .unwrap_or(now.timestamp()),
            utc_offset_seconds: now.offset().seconds(),
            subscription,
        };
        (query, now)
    }

    /// The state, load and today's usage of every subscription.
    pub async fn status(&self) -> Result<PoolStatus, PoolError> {
        let now = self.clock.now();
        let policy = &self.settings.selection_policy;
        let snapshot = self
            .store
            .pool_snapshot(policy.rate_limit_window, now)
            .await?;
        let (query, _) = self.usage_query(1, None);
        let mut today: BTreeMap<SubscriptionId, Usage> = BTreeMap::new();
        for daily in self.store.daily_usage(&query).await? {
            today
                .entry(daily.subscription_id)
                .or_default()
                .add(&daily.usage);
        }
        let mut subscriptions: Vec<SubscriptionStatus> = snapshot
            .entries
            .iter()
            .map(|entry| SubscriptionStatus {
                state: entry.subscription.health.state.effective(now),
                live_leases: entry.live_leases,
                approaching_limit: is_approaching_limit(entry, policy, now),
                today: today.remove(&entry.subscription.id).unwrap_or_default(),
                subscription: entry.subscription.clone(),
            })
            .collect();
        subscriptions.sort_by(|a, b| {
            b.subscription
                .priority
                .cmp(&a.subscription.priority)
                .then_with(|| a.subscription.name.cmp(&b.subscription.name))
        });
        // What is left is the usage of subscriptions removed from the pool.
        let mut retired_today = Usage::default();
        for usage in today.values() {
            retired_today.add(usage);
        }
        Ok(PoolStatus {
            now,
            time_zone: self.clock.time_zone(),
            subscriptions,
            retired_today,
        })
    }

    /// Usage per local day over a period, for one subscription or all.
    pub async fn usage(&self, request: &UsageRequest) -> Result<UsageReport, PoolError> {
        let filter = match &request.subscription {
            Some(name) => Some(self.find(name).await?),
            None => None,
        };
        let owner = |name: SubscriptionName, retired: bool| UsageOwner { name, retired };
        let names: BTreeMap<SubscriptionId, UsageOwner> = match &filter {
            Some(subscription) => {
                [(subscription.id, owner(subscription.name.clone(), false))].into()
            }
            None => {
                let live = self.store.list_subscriptions().await?;
                let retired = self.store.retired_subscriptions().await?;
                live.into_iter()
                    .map(|s| (s.id, owner(s.name, false)))
                    .chain(
                        retired
                            .into_iter()
                            .map(|r| (r.subscription.id, owner(r.subscription.name, true))),
                    )
                    .collect()
            }
        };
        let (query, now) = self.usage_query(request.period.days(), filter.as_ref().map(|s| s.id));
        let daily = self.store.daily_usage(&query).await?;
        let mut rows: Vec<UsageRow> = daily
            .into_iter()
            .filter_map(
                |DailyUsage {
                     subscription_id,
                     day,
                     usage,
                     leases,
                 }| {
                    Some(UsageRow {
                        day,
                        subscription: names.get(&subscription_id)?.clone(),
                        usage,
                        leases,
                    })
                },
            )
            .collect();
        rows.sort_by(|a, b| {
            a.day
                .cmp(&b.day)
                .then_with(|| a.subscription.cmp(&b.subscription))
        });
        // Every subscription in the pool has a total; a removed one only
        // when it used something in the period.
        let mut totals: BTreeMap<UsageOwner, Usage> = names
            .values()
            .filter(|owner| !owner.retired)
            .map(|owner| (owner.clone(), Usage::default()))
            .collect();
        for row in &rows {
            totals
                .entry(row.subscription.clone())
                .or_default()
                .add(&row.usage);
        }
        let to = now.date();
        let from = to
            .checked_sub((request.period.days() - 1).days())
            .unwrap_or(to);
        Ok(UsageReport {
            period: request.period,
            from,
            to,
            rows,
            totals: totals.into_iter().collect(),
        })
    }

    /// Settings, state, leases, recent transitions and usage of one subscription.
    pub async fn show(
        &self,
        name: &SubscriptionName,
        transitions: u32,
    ) -> Result<SubscriptionDetails, PoolError> {
        let subscription = self.find(name).await?;
        let status = self
            .status()
            .await?
            .subscriptions
            .into_iter()
            .find(|s| s.subscription.id == subscription.id)
            .ok_or_else(|| PoolError::not_found(name, std::iter::empty()))?;
        let now = self.clock.now();
        let leases = self
            .store
            .live_leases(now)
            .await?
            .into_iter()
            .filter(|lease| lease.subscription_id == subscription.id)
            .collect();
        let history = self.store.transitions(subscription.id, transitions).await?;
        let sum = |rows: Vec<DailyUsage>| {
            let mut total = Usage::default();
            for row in rows {
                total.add(&row.usage);
            }
            total
        };
        let (week, _) = self.usage_query(7, Some(subscription.id));
        let (month, _) = self.usage_query(30, Some(subscription.id));
        let last_7_days = sum(self.store.daily_usage(&week).await?);
        let last_30_days = sum(self.store.daily_usage(&month).await?);
        Ok(SubscriptionDetails {
            status,
            leases,
            transitions: history,
            last_7_days,
            last_30_days,
        })
    }

    /// Everything `kage top` shows: status, live leases, waiters, and the
    /// quota alerts still current.
    pub async fn top(&self) -> Result<TopSnapshot, PoolError> {
        let status = self.status().await?;
        let now = status.now;
        let leases = self.store.live_leases(now).await?;
        let waiters = self.store.waiters(now).await?;
        let since = now
            .checked_sub(crate::alerts::ALERT_LOOKBACK)
            .unwrap_or(Timestamp::MIN);
        let alerts = self
            .store
            .quota_alerts(since)
            .await?
            .into_iter()
            .filter(|alert| {
                alert.is_current(now)
                    && status
                        .subscriptions
                        .iter()
                        .any(|entry| entry.subscription.id == alert.subscription_id)
            })
            .collect();
        Ok(TopSnapshot {
            status,
            leases,
            waiters,
            alerts,
        })
    }

    /// Everything `kage metrics` exports.
    pub async fn metrics_snapshot(&self) -> Result<MetricsSnapshot, PoolError> {
        let status = self.status().await?;
        let names: BTreeMap<SubscriptionId, SubscriptionName> = status
            .subscriptions
            .iter()
            .map(|s| (s.subscription.id, s.subscription.name.clone()))
            .collect();
        let transitions = self
            .store
            .transition_counts()
            .await?
            .into_iter()
            .filter_map(|(id, kind, count)| Some((names.get(&id)?.clone(), kind, count)))
            .collect();
        Ok(MetricsSnapshot {
            status,
            transitions,
        })
    }
}
