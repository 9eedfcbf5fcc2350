//! Rows as the database holds them, and their conversion to and from the
//! domain's types. Shared by both backends: the column types are the same
//! (integers are `i64`, timestamps unix milliseconds, ids UUID text).

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::anyhow;
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use kage_domain::{
    CredentialKind, CredentialSource, Health, LeaseId, ModelFamily, ModelLimit, Namespace, Outcome,
    PoolEntry, Priority, PriorityLevel, QuotaAlert, QuotaReport, QuotaWindow, RouteEntry,
    RouteTarget, StateKind, StateTransition, Subscription, SubscriptionId, SubscriptionName,
    SubscriptionState, Tag, Usage,
};
use kage_ports::{Lease, ReadOffset, RecordedTransition, StoreError, Waiter};

use crate::db::{Db, Query};

/// Milliseconds in one hour: the width of a usage rollup bucket.
pub(crate) const HOUR_MS: i64 = 3_600_000;

/// The store keeps milliseconds; every `now` is cut to them on the way in so
/// that what an operation returns equals what a later read returns.
pub(crate) fn truncate(now: Timestamp) -> Timestamp {
    Timestamp::from_millisecond(now.as_millisecond())
        .unwrap_or(now)
        .clamp(TIME_MIN, TIME_MAX)
}

pub(crate) fn to_ms(at: Timestamp) -> i64 {
    at.as_millisecond()
}

/// A stored time. A value beyond the times Kage can represent (a lease
/// acquired with a huge TTL by an older Kage, a hand-edited row) is read as
/// the nearest bound, with one warning per process: one bad row must never
/// fail every read of the pool.
pub(crate) fn from_ms(ms: i64, what: &str) -> Result<Timestamp, StoreError> {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if let Ok(at) = Timestamp::from_millisecond(ms) {
        return Ok(at);
    }
    if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::warn!(
            value = ms,
            "the database holds a {what} out of range; it is read as the nearest representable time"
        );
    }
    Ok(if ms > 0 { TIME_MAX } else { TIME_MIN })
}

/// The latest and earliest times the store writes and reads (whole
/// milliseconds inside jiff's range, so they read back unchanged).
pub(crate) const TIME_MAX: Timestamp = Timestamp::constant(253_402_207_200, 0);
pub(crate) const TIME_MIN: Timestamp = Timestamp::MIN;

fn opt_from_ms(ms: Option<i64>, what: &str) -> Result<Option<Timestamp>, StoreError> {
    ms.map(|ms| from_ms(ms, what)).transpose()
}

/// `at + duration`, saturating at the end of time.
pub(crate) fn after(at: Timestamp, duration: Duration) -> Timestamp {
    let duration = SignedDuration::try_from(duration).unwrap_or(SignedDuration::MAX);
    truncate(at.checked_add(duration).unwrap_or(Timestamp::MAX))
}

/// `at - duration`, saturating at the start of time.
pub(crate) fn before(at: Timestamp, duration: Duration) -> Timestamp {
    let duration = SignedDuration::try_from(duration).unwrap_or(SignedDuration::MAX);
    truncate(at.checked_sub(duration).unwrap_or(Timestamp::MIN))
}

pub(crate) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

pub(crate) fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn to_u32(value: i64) -> u32 {
    u32::try_from(value.max(0)).unwrap_or(u32::MAX)
}

/// A stored value this Kage cannot read (a hand-edited row, or a bug).
fn invalid(what: &str, value: &str) -> StoreError {
    StoreError::Unknown(anyhow!(
        "the database holds an invalid {what} {value:?}; fix or delete that row"
    ))
}

/// The day number (days since 1970-01-01) of a local day, back to a date.
pub(crate) fn day_to_date(day: i64) -> Result<Date, StoreError> {
    let epoch = Date::constant(1970, 1, 1);
    epoch
        .checked_add(SignedDuration::from_hours(day.saturating_mul(24)))
        .map_err(|_| invalid("usage day", &day.to_string()))
}

/// A credential reference must never be a credential.
pub(crate) fn check_no_secret(subscription: &Subscription) -> Result<(), StoreError> {
    let reference = match &subscription.credential {
        CredentialSource::Keychain => return Ok(()),
        CredentialSource::Command(command) => command,
        CredentialSource::Env(variable) => variable,
    };
    if reference.contains("sk-ant-") {
        return Err(StoreError::Unknown(anyhow!(
            "refusing to store the credential reference of {}: it looks like a credential itself \
             (it holds \"sk-ant-\"); give the command or the variable name, never the token",
            subscription.name
        )));
    }
    Ok(())
}

/// The settings columns of a subscription, ready to bind.
pub(crate) struct SettingsParams {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) priority: i64,
    pub(crate) tags: String,
    pub(crate) kind: &'static str,
    pub(crate) credential_source: &'static str,
    pub(crate) credential_ref: Option<String>,
    pub(crate) max_concurrent: Option<i64>,
    pub(crate) created_at: i64,
}

impl SettingsParams {
    pub(crate) fn new(subscription: &Subscription) -> Result<Self, StoreError> {
        check_no_secret(subscription)?;
        let credential_ref = match &subscription.credential {
            CredentialSource::Keychain => None,
            CredentialSource::Command(command) => Some(command.clone()),
            CredentialSource::Env(variable) => Some(variable.clone()),
        };
        Ok(Self {
            id: subscription.id.to_string(),
            name: subscription.name.to_string(),
            description: subscription.description.clone(),
            priority: i64::from(subscription.priority.value()),
            tags: join_tags(&subscription.tags),
            kind: subscription.kind.as_str(),
            credential_source: subscription.credential.kind_str(),
            credential_ref,
            max_concurrent: subscription.max_concurrent.map(i64::from),
            created_at: to_ms(subscription.created_at),
        })
    }
}

/// The health columns of a subscription, ready to bind.
pub(crate) struct HealthParams {
    pub(crate) state: &'static str,
    pub(crate) until: Option<i64>,
    pub(crate) reason: Option<String>,
    pub(crate) consecutive_errors: i64,
    pub(crate) unhealthy_relapses: i64,
    pub(crate) last_utilization: Option<f64>,
    pub(crate) last_utilization_at: Option<i64>,
    pub(crate) last_limited_at: Option<i64>,
    /// The quota reports and model limits as JSON (migration 0005).
    pub(crate) quota: Option<String>,
}

impl HealthParams {
    pub(crate) fn new(health: &Health) -> Self {
        Self {
            state: health.state.kind().as_str(),
            until: health.state.until().map(to_ms),
            reason: health.state.reason().map(str::to_owned),
            consecutive_errors: i64::from(health.consecutive_errors),
            unhealthy_relapses: i64::from(health.unhealthy_relapses),
            last_utilization: health.last_utilization.map(|(utilization, _)| utilization),
            last_utilization_at: health.last_utilization.map(|(_, at)| to_ms(at)),
            last_limited_at: health.last_limited_at.map(to_ms),
            quota: encode_quota(health),
        }
    }
}

/// The `quota` column: `None` when nothing was reported and no model limit
/// is in place.
pub(crate) fn encode_quota(health: &Health) -> Option<String> {
    if health.quota.is_empty() && health.model_limits.is_empty() {
        return None;
    }
    let windows: Vec<serde_json::Value> = health
        .quota
        .iter()
        .map(|report| {
            serde_json::json!({
                "window": report.window.as_str(),
                "utilization": report.utilization,
                "resets_at": report.resets_at.map(to_ms),
                "reported_at": to_ms(report.reported_at),
            })
        })
        .collect();
    let model_limits: Vec<serde_json::Value> = health
        .model_limits
        .iter()
        .map(|limit| {
            serde_json::json!({
                "family": limit.family.as_str(),
                "until": to_ms(limit.until),
                "reason": limit.reason,
            })
        })
        .collect();
    Some(serde_json::json!({ "windows": windows, "model_limits": model_limits }).to_string())
}

/// Read the `quota` column back. Entries of a window or family this Kage
/// does not know (written by a newer one) are skipped.
pub(crate) fn decode_quota(
    text: Option<&str>,
) -> Result<(Vec<QuotaReport>, Vec<ModelLimit>), StoreError> {
    let Some(text) = text else {
        return Ok((Vec::new(), Vec::new()));
    };
    let bad = || invalid("quota report", text);
    let value: serde_json::Value = serde_json::from_str(text).map_err(|_| bad())?;
    let list = |key: &str| {
        value
            .get(key)
            .and_then(serde_json::Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let millis = |item: &serde_json::Value, key: &str| -> Result<Option<Timestamp>, StoreError> {
        match item.get(key) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(ms) => from_ms(ms.as_i64().ok_or_else(bad)?, key).map(Some),
        }
    };
    let mut quota = Vec::new();
    for item in list("windows") {
        let Some(window) = item
            .get("window")
            .and_then(serde_json::Value::as_str)
            .and_then(QuotaWindow::parse)
        else {
            continue;
        };
        quota.push(QuotaReport {
            window,
            utilization: item
                .get("utilization")
                .and_then(serde_json::Value::as_f64)
                .ok_or_else(bad)?,
            resets_at: millis(&item, "resets_at")?,
            reported_at: millis(&item, "reported_at")?.ok_or_else(bad)?,
        });
    }
    let mut model_limits = Vec::new();
    for item in list("model_limits") {
        let Some(family) = item
            .get("family")
            .and_then(serde_json::Value::as_str)
            .and_then(ModelFamily::parse)
        else {
            continue;
        };
        model_limits.push(ModelLimit {
            family,
            until: millis(&item, "until")?.ok_or_else(bad)?,
            reason: item
                .get("reason")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        });
    }
    Ok((quota, model_limits))
}

fn join_tags(tags: &BTreeSet<Tag>) -> String {
    tags.iter().map(Tag::as_str).collect::<Vec<_>>().join(",")
}

/// The columns of `subscriptions`, selected as `s`.
#[derive(sqlx::FromRow)]
pub(crate) struct SubscriptionRow {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) priority: i64,
    pub(crate) tags: String,
    pub(crate) kind: String,
    pub(crate) credential_source: String,
    pub(crate) credential_ref: Option<String>,
    pub(crate) max_concurrent: Option<i64>,
    pub(crate) state: String,
    pub(crate) state_until: Option<i64>,
    pub(crate) state_reason: Option<String>,
    pub(crate) consecutive_errors: i64,
    pub(crate) unhealthy_relapses: i64,
    pub(crate) last_utilization: Option<f64>,
    pub(crate) last_utilization_at: Option<i64>,
    pub(crate) last_limited_at: Option<i64>,
    pub(crate) created_at: i64,
    pub(crate) quota: Option<String>,
    /// When it was retired (`kage subscription remove`); `None` in the pool.
    pub(crate) retired_at: Option<i64>,
}

pub(crate) fn parse_subscription_id(text: &str) -> Result<SubscriptionId, StoreError> {
    text.parse().map_err(|_| invalid("subscription id", text))
}

pub(crate) fn parse_name(text: &str) -> Result<SubscriptionName, StoreError> {
    SubscriptionName::new(text).map_err(|_| invalid("subscription name", text))
}

pub(crate) fn parse_lease_id(text: &str) -> Result<LeaseId, StoreError> {
    text.parse().map_err(|_| invalid("lease id", text))
}

pub(crate) fn parse_state(text: &str) -> Result<StateKind, StoreError> {
    text.parse().map_err(|_| invalid("state", text))
}

impl SubscriptionRow {
    pub(crate) fn into_domain(self) -> Result<Subscription, StoreError> {
        let id = parse_subscription_id(&self.id)?;
        let name = SubscriptionName::new(&self.name)
            .map_err(|_| invalid("subscription name", &self.name))?;
        let priority = u8::try_from(self.priority)
            .map(Priority)
            .map_err(|_| invalid("priority", &self.priority.to_string()))?;
        let tags = self
            .tags
            .split(',')
            .filter(|tag| !tag.is_empty())
            .map(|tag| Tag::new(tag).map_err(|_| invalid("tag", tag)))
            .collect::<Result<BTreeSet<_>, _>>()?;
        let kind: CredentialKind = self
            .kind
            .parse()
            .map_err(|_| invalid("credential kind", &self.kind))?;
        let credential = match (self.credential_source.as_str(), self.credential_ref) {
            ("keychain", _) => CredentialSource::Keychain,
            ("command", Some(command)) => CredentialSource::Command(command),
            ("env", Some(variable)) => CredentialSource::Env(variable),
            (source, _) => return Err(invalid("credential source", source)),
        };
        let state_kind = parse_state(&self.state)?;
        let until = opt_from_ms(self.state_until, "state end time")?;
        let state = SubscriptionState::from_parts(state_kind, until, self.state_reason);
        let last_utilization = match (self.last_utilization, self.last_utilization_at) {
            (Some(utilization), Some(at)) => Some((utilization, from_ms(at, "utilization time")?)),
            _ => None,
        };
        let (quota, model_limits) = decode_quota(self.quota.as_deref())?;
        let health = Health {
            state,
            consecutive_errors: to_u32(self.consecutive_errors),
            unhealthy_relapses: to_u32(self.unhealthy_relapses),
            last_utilization,
            last_limited_at: opt_from_ms(self.last_limited_at, "last limit time")?,
            quota,
            model_limits,
        };
        Ok(Subscription {
            id,
            name,
            description: self.description,
            priority,
            tags,
            kind,
            credential,
            max_concurrent: self.max_concurrent.map(to_u32),
            health,
            created_at: from_ms(self.created_at, "creation time")?,
        })
    }
}

/// A subscription with the lease and usage figures selection needs.
#[derive(sqlx::FromRow)]
pub(crate) struct SnapshotRow {
    #[sqlx(flatten)]
    pub(crate) subscription: SubscriptionRow,
    pub(crate) live_leases: i64,
    pub(crate) earliest_lease_expiry: Option<i64>,
    pub(crate) last_leased_at: Option<i64>,
    pub(crate) window_tokens: i64,
    /// PostgreSQL's claims (`subscription_claims.net_claims`); 0 where the
    /// snapshot does not read it.
    #[sqlx(default)]
    pub(crate) claims: i64,
}

impl SnapshotRow {
    pub(crate) fn into_domain(self) -> Result<PoolEntry, StoreError> {
        Ok(PoolEntry {
            subscription: self.subscription.into_domain()?,
            live_leases: to_u32(self.live_leases),
            last_leased_at: opt_from_ms(self.last_leased_at, "lease time")?,
            window_tokens: to_u64(self.window_tokens),
            earliest_lease_expiry: opt_from_ms(self.earliest_lease_expiry, "lease expiry")?,
        })
    }
}

/// A lease joined with its subscription's name and kind.
#[derive(sqlx::FromRow)]
pub(crate) struct LeaseRow {
    pub(crate) lease_id: String,
    pub(crate) subscription_id: String,
    pub(crate) subscription_name: String,
    pub(crate) subscription_kind: String,
    pub(crate) namespace: Option<String>,
    pub(crate) level: String,
    pub(crate) holder: String,
    pub(crate) acquired_at: i64,
    pub(crate) expires_at: i64,
    pub(crate) released_at: Option<i64>,
}

impl LeaseRow {
    pub(crate) fn into_domain(self) -> Result<Lease, StoreError> {
        Ok(Lease {
            id: parse_lease_id(&self.lease_id)?,
            subscription_id: parse_subscription_id(&self.subscription_id)?,
            subscription_name: SubscriptionName::new(&self.subscription_name)
                .map_err(|_| invalid("subscription name", &self.subscription_name))?,
            kind: self
                .subscription_kind
                .parse()
                .map_err(|_| invalid("credential kind", &self.subscription_kind))?,
            namespace: self
                .namespace
                .map(|namespace| {
                    Namespace::new(&namespace).map_err(|_| invalid("namespace", &namespace))
                })
                .transpose()?,
            level: self
                .level
                .parse::<PriorityLevel>()
                .map_err(|_| invalid("priority level", &self.level))?,
            holder: self.holder,
            acquired_at: from_ms(self.acquired_at, "lease time")?,
            expires_at: from_ms(self.expires_at, "lease expiry")?,
            released_at: opt_from_ms(self.released_at, "release time")?,
        })
    }
}

/// A lease with its subscription's full row, as a release reads it.
#[derive(sqlx::FromRow)]
pub(crate) struct LeaseWithSubscriptionRow {
    #[sqlx(flatten)]
    pub(crate) lease: LeaseRow,
    #[sqlx(flatten)]
    pub(crate) subscription: SubscriptionRow,
}

#[derive(sqlx::FromRow)]
pub(crate) struct EventRow {
    pub(crate) subscription_id: String,
    pub(crate) at: i64,
    pub(crate) from_state: String,
    pub(crate) to_state: String,
    pub(crate) until: Option<i64>,
    pub(crate) reason: String,
    pub(crate) lease_id: Option<String>,
}

impl EventRow {
    pub(crate) fn into_domain(self) -> Result<RecordedTransition, StoreError> {
        Ok(RecordedTransition {
            subscription_id: parse_subscription_id(&self.subscription_id)?,
            transition: StateTransition {
                at: from_ms(self.at, "transition time")?,
                from: parse_state(&self.from_state)?,
                to: parse_state(&self.to_state)?,
                until: opt_from_ms(self.until, "state end time")?,
                reason: self.reason,
            },
            lease_id: self.lease_id.as_deref().map(parse_lease_id).transpose()?,
        })
    }
}

/// A quota alert joined with its subscription's name.
#[derive(sqlx::FromRow)]
pub(crate) struct QuotaAlertRow {
    pub(crate) subscription_id: String,
    pub(crate) subscription_name: String,
    pub(crate) quota_window: String,
    pub(crate) period: i64,
    pub(crate) threshold_permille: i64,
    pub(crate) utilization: f64,
    pub(crate) resets_at: Option<i64>,
    pub(crate) at: i64,
}

impl QuotaAlertRow {
    pub(crate) fn into_domain(self) -> Result<QuotaAlert, StoreError> {
        Ok(QuotaAlert {
            subscription_id: parse_subscription_id(&self.subscription_id)?,
            subscription_name: parse_name(&self.subscription_name)?,
            window: self.quota_window,
            period: from_ms(self.period, "alert period")?,
            threshold_permille: u16::try_from(self.threshold_permille).unwrap_or(1000),
            utilization: self.utilization,
            resets_at: opt_from_ms(self.resets_at, "alert reset")?,
            at: from_ms(self.at, "alert time")?,
        })
    }
}

/// An acquire waiting for a subscription (`kage top`'s queue).
#[derive(sqlx::FromRow)]
pub(crate) struct WaiterRow {
    pub(crate) id: String,
    pub(crate) holder: String,
    pub(crate) request: String,
    pub(crate) since: i64,
    pub(crate) until: i64,
    pub(crate) deadline: Option<i64>,
    pub(crate) earliest_recovery: Option<i64>,
    pub(crate) earliest_name: Option<String>,
    pub(crate) expires_at: i64,
}

impl WaiterRow {
    pub(crate) fn into_domain(self) -> Result<Waiter, StoreError> {
        Ok(Waiter {
            id: parse_lease_id(&self.id)?,
            holder: self.holder,
            request: self.request,
            since: from_ms(self.since, "waiter start")?,
            until: from_ms(self.until, "waiter look")?,
            deadline: opt_from_ms(self.deadline, "waiter deadline")?,
            earliest_recovery: opt_from_ms(self.earliest_recovery, "waiter recovery")?,
            earliest_name: self.earliest_name.as_deref().map(parse_name).transpose()?,
            expires_at: from_ms(self.expires_at, "waiter expiry")?,
        })
    }
}

/// How far a transcript file's usage is in the store.
#[derive(sqlx::FromRow)]
pub(crate) struct ReadOffsetRow {
    pub(crate) path: String,
    pub(crate) read_to: i64,
}

impl ReadOffsetRow {
    // Same signature as the other rows' `into_domain`, for `decode`.
    #[allow(clippy::unnecessary_wraps)]
    pub(crate) fn into_domain(self) -> Result<ReadOffset, StoreError> {
        Ok(ReadOffset {
            path: self.path,
            offset: to_u64(self.read_to),
        })
    }
}

/// The usage columns of one release, ready to bind.
pub(crate) struct UsageParams {
    pub(crate) input_tokens: i64,
    pub(crate) output_tokens: i64,
    pub(crate) cache_write_tokens: i64,
    pub(crate) cache_read_tokens: i64,
    pub(crate) total_tokens: i64,
    pub(crate) cost_micros: Option<i64>,
    pub(crate) model: Option<String>,
}

impl UsageParams {
    /// Each count cut to [`kage_domain::MAX_PER_RECORD`], so one absurd
    /// record can never overflow a rollup or a sum.
    pub(crate) fn new(usage: &Usage) -> Self {
        let usage = &usage.bounded();
        Self {
            input_tokens: to_i64(usage.input_tokens),
            output_tokens: to_i64(usage.output_tokens),
            cache_write_tokens: to_i64(usage.cache_write_tokens),
            cache_read_tokens: to_i64(usage.cache_read_tokens),
            total_tokens: to_i64(usage.total_tokens()),
            cost_micros: usage.cost_micros_usd.map(to_i64),
            model: usage.model.clone(),
        }
    }
}

/// `utilization 0.42, resets <time>`.
fn utilization_detail(utilization: f64, resets_at: Option<Timestamp>) -> String {
    match resets_at {
        Some(at) => format!("utilization {utilization:.2}, resets {at}"),
        None => format!("utilization {utilization:.2}"),
    }
}

/// What a release stores about its outcome: the label and a line of text.
pub(crate) fn outcome_detail(outcome: &Outcome) -> Option<String> {
    match outcome {
        Outcome::Success | Outcome::Overloaded => None,
        Outcome::ApproachingLimit {
            utilization,
            resets_at,
            ..
        } => Some(utilization_detail(*utilization, *resets_at)),
        Outcome::QuotaReported { readings } => Some(
            readings
                .iter()
                .map(|reading| {
                    format!(
                        "{} {}",
                        reading.window,
                        utilization_detail(reading.utilization, reading.resets_at)
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
        ),
        Outcome::ModelLimitReached {
            resets_at, reason, ..
        } => Some(match resets_at {
            Some(at) => format!("{reason} (resets {at})"),
            None => reason.clone(),
        }),
        Outcome::RateLimited { retry_at, reason } => Some(match retry_at {
            Some(at) => format!("{reason} (retry at {at})"),
            None => reason.clone(),
        }),
        Outcome::QuotaExhausted { resets_at, reason } => Some(match resets_at {
            Some(at) => format!("{reason} (resets {at})"),
            None => reason.clone(),
        }),
        Outcome::CredentialRejected { reason } => Some(reason.clone()),
        Outcome::CredentialUnreadable { detail } => Some(detail.clone()),
        Outcome::Error { kind, detail } if detail.is_empty() => Some(kind.as_str().to_owned()),
        Outcome::Error { kind, detail } => Some(format!("{}: {detail}", kind.as_str())),
    }
}

/// Route storage: the target as (kind, value), entries comma-joined.
pub(crate) fn route_key(target: &RouteTarget) -> (&'static str, String) {
    (target.kind_str(), target.value_str().to_owned())
}

pub(crate) fn join_route_entries(entries: &[RouteEntry]) -> String {
    entries
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

pub(crate) fn parse_route(
    kind: &str,
    value: &str,
    entries: &str,
) -> Result<(RouteTarget, Vec<RouteEntry>), StoreError> {
    let target = match kind {
        "namespace" => RouteTarget::Namespace(
            Namespace::new(value).map_err(|_| invalid("route namespace", value))?,
        ),
        "priority" => RouteTarget::Level(
            value
                .parse()
                .map_err(|_| invalid("route priority level", value))?,
        ),
        other => return Err(invalid("route kind", other)),
    };
    let entries = entries
        .split(',')
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            entry
                .parse::<RouteEntry>()
                .map_err(|_| invalid("route entry", entry))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((target, entries))
}

/// The columns of one row, read by name.
pub(crate) struct Columns<'r, DB: Db>(pub(crate) &'r DB::Row);

impl<DB: Db> Columns<'_, DB> {
    pub(crate) fn int(&self, column: &str) -> Result<i64, sqlx::Error> {
        DB::int(self.0, column)?.ok_or_else(|| null_in(column))
    }

    pub(crate) fn text(&self, column: &str) -> Result<String, sqlx::Error> {
        DB::text(self.0, column)?.ok_or_else(|| null_in(column))
    }

    pub(crate) fn opt_text(&self, column: &str) -> Result<Option<String>, sqlx::Error> {
        DB::text(self.0, column)
    }
}

fn null_in(column: &str) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: "unexpected NULL".into(),
    }
}

impl LeaseWithSubscriptionRow {
    pub(crate) fn into_domain(self) -> Result<(Lease, Subscription), StoreError> {
        Ok((self.lease.into_domain()?, self.subscription.into_domain()?))
    }
}

impl SettingsParams {
    /// Bind `$1..$9`: id, name, description, priority, tags, kind,
    /// credential source and reference, cap (the creation time is bound by
    /// the insert alone).
    pub(crate) fn bind<DB: Db>(self, query: Query<'_, DB>) -> Query<'_, DB> {
        let query = DB::bind_text(query, Some(self.id));
        let query = DB::bind_text(query, Some(self.name));
        let query = DB::bind_text(query, self.description);
        let query = DB::bind_int(query, Some(self.priority));
        let query = DB::bind_text(query, Some(self.tags));
        let query = DB::bind_text(query, Some(self.kind.to_owned()));
        let query = DB::bind_text(query, Some(self.credential_source.to_owned()));
        let query = DB::bind_text(query, self.credential_ref);
        DB::bind_int(query, self.max_concurrent)
    }
}

impl HealthParams {
    /// Bind the next nine parameters: state, until, reason, consecutive
    /// errors, relapses, utilization and its time, last limit time, the
    /// quota reports and model limits.
    pub(crate) fn bind<DB: Db>(self, query: Query<'_, DB>) -> Query<'_, DB> {
        let query = DB::bind_text(query, Some(self.state.to_owned()));
        let query = DB::bind_int(query, self.until);
        let query = DB::bind_text(query, self.reason);
        let query = DB::bind_int(query, Some(self.consecutive_errors));
        let query = DB::bind_int(query, Some(self.unhealthy_relapses));
        let query = DB::bind_real(query, self.last_utilization);
        let query = DB::bind_int(query, self.last_utilization_at);
        let query = DB::bind_int(query, self.last_limited_at);
        DB::bind_text(query, self.quota)
    }
}

impl UsageParams {
    /// Bind the next seven parameters: the four token counts, the total,
    /// the cost, the model.
    pub(crate) fn bind<DB: Db>(self, query: Query<'_, DB>) -> Query<'_, DB> {
        let query = DB::bind_int(query, Some(self.input_tokens));
        let query = DB::bind_int(query, Some(self.output_tokens));
        let query = DB::bind_int(query, Some(self.cache_write_tokens));
        let query = DB::bind_int(query, Some(self.cache_read_tokens));
        let query = DB::bind_int(query, Some(self.total_tokens));
        let query = DB::bind_int(query, self.cost_micros);
        DB::bind_text(query, self.model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_numbers_map_to_dates() {
        assert_eq!(day_to_date(0).unwrap(), Date::constant(1970, 1, 1));
        assert_eq!(day_to_date(19_723).unwrap(), Date::constant(2024, 1, 1));
    }

    #[test]
    fn truncation_keeps_milliseconds() {
        let at: Timestamp = "2025-03-01T10:00:00.123456789Z".parse().unwrap();
        assert_eq!(truncate(at).to_string(), "2025-03-01T10:00:00.123Z");
    }

    #[test]
    fn routes_round_trip() {
        let entries: Vec<RouteEntry> = vec![
            "work-premium".parse().unwrap(),
            "tag:security".parse().unwrap(),
        ];
        let joined = join_route_entries(&entries);
        assert_eq!(joined, "work-premium,tag:security");
        let (target, parsed) = parse_route("namespace", "backend", &joined).unwrap();
        assert_eq!(
            target,
            RouteTarget::Namespace(Namespace::new("backend").unwrap())
        );
        assert_eq!(parsed, entries);
    }

    #[test]
    fn a_token_is_refused_as_a_reference() {
        let mut subscription = Subscription::new(
            SubscriptionId::from_uuid(uuid::Uuid::nil()),
            SubscriptionName::new("work").unwrap(),
            Timestamp::UNIX_EPOCH,
        );
        subscription.credential = CredentialSource::Env("sk-ant-oat01-abc".to_owned());
        let error = check_no_secret(&subscription).unwrap_err().to_string();
        assert!(error.contains("looks like a credential"), "{error}");
        assert!(!error.contains("abc"), "{error}");
        subscription.credential = CredentialSource::Env("CLAUDE_TOKEN_WORK".to_owned());
        check_no_secret(&subscription).unwrap();
    }
}
