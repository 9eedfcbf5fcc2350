//! The [`Pool`] service and its settings.

use std::time::Duration;

use kage_domain::{
    AlertThresholds, RoutingRules, SelectionPolicy, StatePolicy, Subscription, SubscriptionName,
};
use kage_ports::{Clock, SecretStore, SubscriptionStore};

use crate::errors::PoolError;

/// The settings the config file gives the services.
#[derive(Clone, Debug)]
pub struct PoolSettings {
    pub state_policy: StatePolicy,
    pub selection_policy: SelectionPolicy,
    pub lease_ttl: Duration,
    /// Routes from the config file; they win over saved routes.
    pub config_routes: RoutingRules,
    /// `alert_thresholds`: the shares of a quota window that raise an alert.
    pub alert_thresholds: AlertThresholds,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            state_policy: StatePolicy::default(),
            selection_policy: SelectionPolicy::default(),
            lease_ttl: Duration::from_secs(120),
            config_routes: RoutingRules::default(),
            alert_thresholds: AlertThresholds::default(),
        }
    }
}

/// The application services over one pool.
pub struct Pool<S, K, C> {
    pub(crate) store: S,
    pub(crate) secrets: K,
    pub(crate) clock: C,
    pub(crate) settings: PoolSettings,
}

impl<S, K, C> Pool<S, K, C>
where
    S: SubscriptionStore,
    K: SecretStore,
    C: Clock,
{
    pub fn new(store: S, secrets: K, clock: C, settings: PoolSettings) -> Self {
        Self {
            store,
            secrets,
            clock,
            settings,
        }
    }

    pub fn settings(&self) -> &PoolSettings {
        &self.settings
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// The subscription with this name, or an error that suggests the
    /// nearest existing name.
    pub async fn find(&self, name: &SubscriptionName) -> Result<Subscription, PoolError> {
        if let Some(subscription) = self.store.subscription_by_name(name).await? {
            return Ok(subscription);
        }
        Err(self.missing(name).await)
    }

    /// The error for a name no subscription in the pool has, suggesting
    /// the nearest one.
    pub(crate) async fn missing(&self, name: &SubscriptionName) -> PoolError {
        match self.store.list_subscriptions().await {
            Ok(known) => PoolError::not_found(name, known.iter().map(|s| s.name.as_str())),
            Err(error) => error.into(),
        }
    }

    /// Every subscription, by name.
    pub async fn list(&self) -> Result<Vec<Subscription>, PoolError> {
        Ok(self.store.list_subscriptions().await?)
    }
}
