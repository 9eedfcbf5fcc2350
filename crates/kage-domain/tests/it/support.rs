//! Shared fixtures: a fixed `now`, names, subscriptions and pool entries with
//! small builder methods, so each test states only what matters to it.

use std::collections::BTreeSet;

use kage_domain::{
    Health, Namespace, PoolEntry, PoolSnapshot, Priority, SignedDuration, Subscription,
    SubscriptionId, SubscriptionName, SubscriptionState, Tag, Timestamp,
};
use uuid::Uuid;

/// The fixed "now" of every test: 2026-11-25 20:00 UTC.
pub(crate) fn now() -> Timestamp {
    "2026-11-25T20:00:00Z".parse().expect("a valid timestamp")
}

/// `now` moved by `seconds` (negative: in the past).
pub(crate) fn at(seconds: i64) -> Timestamp {
    now() + SignedDuration::from_secs(seconds)
}

pub(crate) fn ts(text: &str) -> Timestamp {
    text.parse().expect("a valid timestamp")
}

pub(crate) fn name(value: &str) -> SubscriptionName {
    SubscriptionName::new(value).expect("a valid subscription name")
}

pub(crate) fn tag(value: &str) -> Tag {
    Tag::new(value).expect("a valid tag")
}

pub(crate) fn namespace(value: &str) -> Namespace {
    Namespace::new(value).expect("a valid namespace")
}

/// A stable id derived from the name, so equal names give equal ids.
pub(crate) fn id_of(value: &str) -> SubscriptionId {
    let hash = value
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u128, |hash, byte| {
            (hash ^ u128::from(byte)).wrapping_mul(0x0100_0000_01b3)
        });
    SubscriptionId::from_uuid(Uuid::from_u128(hash))
}

pub(crate) fn subscription(value: &str) -> Subscription {
    Subscription::new(id_of(value), name(value), at(-86_400))
}

/// An idle, active pool entry named `value` with priority 100.
pub(crate) fn entry(value: &str) -> PoolEntry {
    PoolEntry::idle(subscription(value))
}

pub(crate) fn pool(entries: Vec<PoolEntry>) -> PoolSnapshot {
    PoolSnapshot { entries }
}

pub(crate) fn health(state: SubscriptionState) -> Health {
    Health {
        state,
        ..Health::default()
    }
}

/// Builder methods for test entries.
pub(crate) trait EntryExt: Sized {
    fn priority(self, priority: u8) -> Self;
    fn tags(self, tags: &[&str]) -> Self;
    fn state(self, state: SubscriptionState) -> Self;
    /// A concurrency cap with `live` unexpired leases, the first of which
    /// expires at `frees_at`.
    fn cap(self, cap: u32, live: u32, frees_at: Option<Timestamp>) -> Self;
    fn leased_at(self, at: Timestamp) -> Self;
    fn tokens(self, tokens: u64) -> Self;
    fn utilization(self, utilization: f64, reported_at: Timestamp) -> Self;
    fn limited_at(self, at: Timestamp) -> Self;
}

impl EntryExt for PoolEntry {
    fn priority(mut self, priority: u8) -> Self {
        self.subscription.priority = Priority(priority);
        self
    }

    fn tags(mut self, tags: &[&str]) -> Self {
        self.subscription.tags = tags.iter().map(|value| tag(value)).collect::<BTreeSet<_>>();
        self
    }

    fn state(mut self, state: SubscriptionState) -> Self {
        self.subscription.health.state = state;
        self
    }

    fn cap(mut self, cap: u32, live: u32, frees_at: Option<Timestamp>) -> Self {
        self.subscription.max_concurrent = Some(cap);
        self.live_leases = live;
        self.earliest_lease_expiry = frees_at;
        self
    }

    fn leased_at(mut self, at: Timestamp) -> Self {
        self.last_leased_at = Some(at);
        self
    }

    fn tokens(mut self, tokens: u64) -> Self {
        self.window_tokens = tokens;
        self
    }

    fn utilization(mut self, utilization: f64, reported_at: Timestamp) -> Self {
        self.subscription.health.last_utilization = Some((utilization, reported_at));
        self
    }

    fn limited_at(mut self, at: Timestamp) -> Self {
        self.subscription.health.last_limited_at = Some(at);
        self
    }
}

pub(crate) fn rate_limited(until: Timestamp) -> SubscriptionState {
    SubscriptionState::RateLimited {
        until,
        reason: "rate limited (429)".to_owned(),
    }
}

pub(crate) fn exhausted(until: Timestamp) -> SubscriptionState {
    SubscriptionState::Exhausted {
        until,
        reason: "5-hour limit".to_owned(),
    }
}

pub(crate) fn unhealthy(until: Timestamp) -> SubscriptionState {
    SubscriptionState::Unhealthy {
        until,
        reason: "3 consecutive server errors".to_owned(),
    }
}

pub(crate) fn disabled() -> SubscriptionState {
    SubscriptionState::Disabled {
        reason: "disabled by user".to_owned(),
    }
}
