//! Routing rules: which subscriptions a namespace or a priority level may use.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::{InvalidName, Namespace, PriorityLevel, Subscription, SubscriptionName, Tag};

/// One entry of a rule: a subscription by name, or `tag:NAME` for every
/// subscription that carries the tag.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum RouteEntry {
    Subscription(SubscriptionName),
    Tag(Tag),
}

impl RouteEntry {
    pub fn matches(&self, subscription: &Subscription) -> bool {
        match self {
            Self::Subscription(name) => subscription.name == *name,
            Self::Tag(tag) => subscription.has_tag(tag),
        }
    }
}

impl fmt::Display for RouteEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Subscription(name) => write!(f, "{name}"),
            Self::Tag(tag) => write!(f, "tag:{tag}"),
        }
    }
}

impl FromStr for RouteEntry {
    type Err = InvalidName;

    fn from_str(value: &str) -> Result<Self, InvalidName> {
        let value = value.trim();
        match value.strip_prefix("tag:") {
            Some(tag) => Tag::new(tag).map(Self::Tag),
            None => SubscriptionName::new(value).map(Self::Subscription),
        }
    }
}

/// What a rule applies to: a namespace, or a priority level. In the config
/// file the keys `high`, `normal`, `low` and `batch` are levels; any other key
/// is a namespace.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum RouteTarget {
    Namespace(Namespace),
    Level(PriorityLevel),
}

impl RouteTarget {
    /// Read a config-file routing key.
    pub fn from_key(key: &str) -> Result<Self, InvalidName> {
        match key.parse::<PriorityLevel>() {
            Ok(level) => Ok(Self::Level(level)),
            Err(_) => Namespace::new(key).map(Self::Namespace),
        }
    }

    pub fn kind_str(&self) -> &'static str {
        match self {
            Self::Namespace(_) => "namespace",
            Self::Level(_) => "priority",
        }
    }

    pub fn value_str(&self) -> &str {
        match self {
            Self::Namespace(namespace) => namespace.as_str(),
            Self::Level(level) => level.as_str(),
        }
    }
}

impl fmt::Display for RouteTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind_str(), self.value_str())
    }
}

/// A rule names a subscription the pool does not have.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("the route for {target} names {name}, which is not a registered subscription")]
pub struct UnknownRouteTarget {
    pub target: RouteTarget,
    pub name: SubscriptionName,
}

/// Every routing rule in force.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct RoutingRules {
    namespaces: BTreeMap<Namespace, Vec<RouteEntry>>,
    levels: BTreeMap<PriorityLevel, Vec<RouteEntry>>,
}

impl RoutingRules {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.namespaces.is_empty() && self.levels.is_empty()
    }

    /// Set (or replace) the rule for a target.
    pub fn set(&mut self, target: RouteTarget, entries: Vec<RouteEntry>) {
        match target {
            RouteTarget::Namespace(namespace) => {
                self.namespaces.insert(namespace, entries);
            }
            RouteTarget::Level(level) => {
                self.levels.insert(level, entries);
            }
        }
    }

    pub fn remove(&mut self, target: &RouteTarget) -> Option<Vec<RouteEntry>> {
        match target {
            RouteTarget::Namespace(namespace) => self.namespaces.remove(namespace),
            RouteTarget::Level(level) => self.levels.remove(level),
        }
    }

    pub fn get(&self, target: &RouteTarget) -> Option<&[RouteEntry]> {
        match target {
            RouteTarget::Namespace(namespace) => self.namespaces.get(namespace),
            RouteTarget::Level(level) => self.levels.get(level),
        }
        .map(Vec::as_slice)
    }

    /// Every rule, namespaces first, each in key order.
    pub fn iter(&self) -> impl Iterator<Item = (RouteTarget, &[RouteEntry])> {
        let namespaces = self.namespaces.iter().map(|(namespace, entries)| {
            (
                RouteTarget::Namespace(namespace.clone()),
                entries.as_slice(),
            )
        });
        let levels = self
            .levels
            .iter()
            .map(|(level, entries)| (RouteTarget::Level(*level), entries.as_slice()));
        namespaces.chain(levels)
    }

    /// Rules of `overrides` replace the rules of `self` for the same target.
    pub fn merged_with(&self, overrides: &RoutingRules) -> RoutingRules {
        let mut merged = self.clone();
        for (target, entries) in overrides.iter() {
            merged.set(target, entries.to_vec());
        }
        merged
    }

    /// Fails on the first rule entry that names an unknown subscription.
    /// Tag entries never fail: a tag may have no subscription yet.
    pub fn validate(&self, pool: &[Subscription]) -> Result<(), UnknownRouteTarget> {
        for (target, entries) in self.iter() {
            for entry in entries {
                if let RouteEntry::Subscription(name) = entry
                    && !pool.iter().any(|subscription| subscription.name == *name)
                {
                    return Err(UnknownRouteTarget {
                        target,
                        name: name.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    /// The rules that apply to a request: its namespace rule and its level
    /// rule, each only if it exists.
    pub fn applicable(
        &self,
        namespace: Option<&Namespace>,
        level: PriorityLevel,
    ) -> (Option<&[RouteEntry]>, Option<&[RouteEntry]>) {
        let namespace_rule = namespace
            .and_then(|namespace| self.namespaces.get(namespace))
            .map(Vec::as_slice);
        let level_rule = self.levels.get(&level).map(Vec::as_slice);
        (namespace_rule, level_rule)
    }
}
