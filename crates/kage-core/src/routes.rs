//! Routing rules: saving, listing and explaining them.

use kage_domain::{
    PassOverReason, Priority, RankKey, RouteEntry, RouteTarget, RoutingRules, SelectionRequest,
    SubscriptionName, SubscriptionState, UnknownRouteTarget, explain,
};
use kage_ports::{Clock, SecretStore, StoreError, SubscriptionStore};

use crate::errors::{PoolError, RouteError};
use crate::pool::Pool;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RouteSource {
    /// Saved with `kage subscription route`.
    Saved,
    /// From `[subscriptions.routing]` in the config file.
    ConfigFile,
}

impl RouteSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Saved => "saved",
            Self::ConfigFile => "config file",
        }
    }
}

/// One rule as `kage subscription routes` shows it.
#[derive(Clone, PartialEq, Debug)]
pub struct RouteView {
    pub target: RouteTarget,
    pub entries: Vec<RouteEntry>,
    pub source: RouteSource,
    /// A saved rule that the config file's rule for the same target hides.
    pub overridden: bool,
}

/// What `route` or `unroute` did, and whether the config file still decides.
#[derive(Clone, PartialEq, Debug)]
pub struct RouteChange {
    pub target: RouteTarget,
    pub entries: Vec<RouteEntry>,
    /// The config file has its own rule for this target, which wins.
    pub config_rule: Option<Vec<RouteEntry>>,
}

/// `kage subscription explain`: every subscription and its verdict.
#[derive(Clone, PartialEq, Debug)]
pub struct Explanation {
    pub request: SelectionRequest,
    pub chosen: Option<SubscriptionName>,
    pub lines: Vec<ExplanationLine>,
}

#[derive(Clone, PartialEq, Debug)]
pub struct ExplanationLine {
    pub name: SubscriptionName,
    pub priority: Priority,
    pub state: SubscriptionState,
    pub live_leases: u32,
    pub window_tokens: u64,
    /// `Ok(rank)`, 0 = chosen; or why it was passed over.
    pub verdict: Result<usize, PassOverReason>,
    pub approaching_limit: bool,
    /// For an eligible line after the first: the key that ranked it lower.
    pub behind_on: Option<RankKey>,
}

impl<S, K, C> Pool<S, K, C>
where
    S: SubscriptionStore,
    K: SecretStore,
    C: Clock,
{
    /// Saved routes with the config file's on top: what selection uses.
    pub async fn effective_rules(&self) -> Result<RoutingRules, StoreError> {
        let saved = self.store.load_routes().await?;
        Ok(saved.merged_with(&self.settings.config_routes))
    }

    /// Check the config file's routes against the pool.
    pub async fn validate_config_routes(&self) -> Result<(), UnknownRouteTarget> {
        let pool = self.store.list_subscriptions().await.unwrap_or_default();
        self.settings.config_routes.validate(&pool)
    }

    /// Save a route after checking that every named subscription exists.
    pub async fn route(
        &self,
        target: RouteTarget,
        entries: Vec<RouteEntry>,
    ) -> Result<RouteChange, RouteError> {
        if entries.is_empty() {
            return Err(RouteError::Empty);
        }
        let pool = self.store.list_subscriptions().await?;
        let mut rule = RoutingRules::new();
        rule.set(target.clone(), entries.clone());
        rule.validate(&pool)
            .map_err(RouteError::UnknownSubscription)?;
        self.store.save_route(&target, &entries).await?;
        let config_rule = self.settings.config_routes.get(&target).map(<[_]>::to_vec);
        Ok(RouteChange {
            target,
            entries,
            config_rule,
        })
    }

    /// Delete a saved route.
    pub async fn unroute(&self, target: RouteTarget) -> Result<RouteChange, RouteError> {
        let saved = self.store.load_routes().await?;
        let entries = saved.get(&target).map(<[_]>::to_vec).unwrap_or_default();
        if !self.store.delete_route(&target).await? {
            return Err(RouteError::NoSuchRoute(target));
        }
        let config_rule = self.settings.config_routes.get(&target).map(<[_]>::to_vec);
        Ok(RouteChange {
            target,
            entries,
            config_rule,
        })
    }

    /// Every rule from both sources; config-file rules first.
    pub async fn routes(&self) -> Result<Vec<RouteView>, PoolError> {
        let saved = self.store.load_routes().await?;
        let config = &self.settings.config_routes;
        let mut views: Vec<RouteView> = config
            .iter()
            .map(|(target, entries)| RouteView {
                target,
                entries: entries.to_vec(),
                source: RouteSource::ConfigFile,
                overridden: false,
            })
            .collect();
        views.extend(saved.iter().map(|(target, entries)| RouteView {
            overridden: config.get(&target).is_some(),
            target,
            entries: entries.to_vec(),
            source: RouteSource::Saved,
        }));
        Ok(views)
    }

    /// Which subscription a request would get now, and why every other one
    /// would not.
    pub async fn explain(&self, request: SelectionRequest) -> Result<Explanation, PoolError> {
        let now = self.clock.now();
        let policy = &self.settings.selection_policy;
        let snapshot = self.store.pool_snapshot(policy.usage_window, now).await?;
        let rules = self.effective_rules().await?;
        let ranked = explain(&snapshot, &rules, policy, &request, now);
        let lines: Vec<ExplanationLine> = ranked
            .into_iter()
            .map(|ranked| {
                let entry = &snapshot.entries[ranked.index];
                ExplanationLine {
                    name: entry.subscription.name.clone(),
                    priority: entry.subscription.priority,
                    state: entry.subscription.health.state.effective(now),
                    live_leases: entry.live_leases,
                    window_tokens: entry.window_tokens,
                    verdict: ranked.verdict,
                    approaching_limit: ranked.approaching_limit,
                    behind_on: ranked.behind_on,
                }
            })
            .collect();
        let chosen = lines
            .first()
            .filter(|line| line.verdict == Ok(0))
            .map(|line| line.name.clone());
        Ok(Explanation {
            request,
            chosen,
            lines,
        })
    }
}
