//! Unit tests of the application services, with mockall mocks of the
//! store and secret ports and a fixed clock.

mod leases;
mod reports;
mod routes;
mod subscriptions;

use std::collections::BTreeSet;

use kage_core::{Pool, PoolSettings};
use kage_domain::{Subscription, SubscriptionId, SubscriptionName, Timestamp};
use kage_ports::{FixedClock, MockSecretStore, MockSubscriptionStore};

pub(crate) type TestPool = Pool<MockSubscriptionStore, MockSecretStore, FixedClock>;

pub(crate) fn t(text: &str) -> Timestamp {
    text.parse().expect("test timestamp")
}

pub(crate) fn name(text: &str) -> SubscriptionName {
    SubscriptionName::new(text).expect("test name")
}

pub(crate) fn subscription(text: &str) -> Subscription {
    let id = SubscriptionId::from_uuid(uuid::Uuid::new_v4());
    let mut subscription = Subscription::new(id, name(text), t("2026-11-25T08:00:00Z"));
    subscription.tags = BTreeSet::new();
    subscription
}

pub(crate) fn pool(
    store: MockSubscriptionStore,
    secrets: MockSecretStore,
    settings: PoolSettings,
) -> TestPool {
    Pool::new(
        store,
        secrets,
        FixedClock::utc(t("2026-11-25T12:00:00Z")),
        settings,
    )
}
