//! Events worth counting, named for what happened (hexarch style).

use kage_domain::{StateKind, SubscriptionName};

#[cfg_attr(feature = "mocks", mockall::automock)]
pub trait UsageMetrics: Send + Sync {
    /// A lease was granted on `subscription`.
    fn record_request_routed(&self, subscription: &SubscriptionName);
    /// No subscription was available for a request.
    fn record_pool_unavailable(&self);
    /// A subscription changed state.
    fn record_state_changed(&self, subscription: &SubscriptionName, from: StateKind, to: StateKind);
    /// A release reported a rate or usage limit.
    fn record_rate_limited(&self, subscription: &SubscriptionName);
}

/// Counts nothing.
#[derive(Clone, Debug, Default)]
pub struct NoopMetrics;

impl UsageMetrics for NoopMetrics {
    fn record_request_routed(&self, _: &SubscriptionName) {}
    fn record_pool_unavailable(&self) {}
    fn record_state_changed(&self, _: &SubscriptionName, _: StateKind, _: StateKind) {}
    fn record_rate_limited(&self, _: &SubscriptionName) {}
}
