//! The five subscription states and the health record that carries them.
//!
//! Recovery is a read-time rule: a state whose `until` has passed *is*
//! `active` (see [`SubscriptionState::effective`]); no daemon flips it.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;

use crate::{ModelFamily, ModelLimit, QuotaReport, QuotaWindow};

/// The name of a state, without its data.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum StateKind {
    Active,
    RateLimited,
    Exhausted,
    Disabled,
    Unhealthy,
}

impl StateKind {
    pub const ALL: [StateKind; 5] = [
        Self::Active,
        Self::RateLimited,
        Self::Exhausted,
        Self::Disabled,
        Self::Unhealthy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::RateLimited => "rate_limited",
            Self::Exhausted => "exhausted",
            Self::Disabled => "disabled",
            Self::Unhealthy => "unhealthy",
        }
    }
}

impl fmt::Display for StateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("unknown state {0:?}: use active, rate_limited, exhausted, disabled or unhealthy")]
pub struct UnknownStateKind(pub String);

impl FromStr for StateKind {
    type Err = UnknownStateKind;

    fn from_str(value: &str) -> Result<Self, UnknownStateKind> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == value)
            .ok_or_else(|| UnknownStateKind(value.to_owned()))
    }
}

/// A subscription's state. Every non-active state except `Disabled` carries
/// the time it ends and a reason a person can read.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub enum SubscriptionState {
    #[default]
    Active,
    RateLimited {
        until: Timestamp,
        reason: String,
    },
    Exhausted {
        until: Timestamp,
        reason: String,
    },
    Disabled {
        reason: String,
    },
    Unhealthy {
        until: Timestamp,
        reason: String,
    },
}

impl SubscriptionState {
    pub fn kind(&self) -> StateKind {
        match self {
            Self::Active => StateKind::Active,
            Self::RateLimited { .. } => StateKind::RateLimited,
            Self::Exhausted { .. } => StateKind::Exhausted,
            Self::Disabled { .. } => StateKind::Disabled,
            Self::Unhealthy { .. } => StateKind::Unhealthy,
        }
    }

    /// When a timed state ends; `None` for `Active` and `Disabled`.
    pub fn until(&self) -> Option<Timestamp> {
        match self {
            Self::RateLimited { until, .. }
            | Self::Exhausted { until, .. }
            | Self::Unhealthy { until, .. } => Some(*until),
            Self::Active | Self::Disabled { .. } => None,
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Active => None,
            Self::RateLimited { reason, .. }
            | Self::Exhausted { reason, .. }
            | Self::Disabled { reason }
            | Self::Unhealthy { reason, .. } => Some(reason),
        }
    }

    /// Build a state from its stored parts. Timed states without `until` and
    /// unknown combinations fall back to the nearest sensible state.
    pub fn from_parts(kind: StateKind, until: Option<Timestamp>, reason: Option<String>) -> Self {
        let reason = reason.unwrap_or_default();
        match (kind, until) {
            (StateKind::Active, _) => Self::Active,
            (StateKind::Disabled, _) => Self::Disabled { reason },
            (StateKind::RateLimited, Some(until)) => Self::RateLimited { until, reason },
            (StateKind::Exhausted, Some(until)) => Self::Exhausted { until, reason },
            (StateKind::Unhealthy, Some(until)) => Self::Unhealthy { until, reason },
            (_, None) => Self::Active,
        }
    }

    /// The state as it is at `now`: a timed state whose `until` has passed
    /// is `Active`.
    pub fn effective(&self, now: Timestamp) -> SubscriptionState {
        match self.until() {
            Some(until) if until <= now => Self::Active,
            _ => self.clone(),
        }
    }

    /// The kind as it is at `now`, without cloning the reason.
    pub fn effective_kind(&self, now: Timestamp) -> StateKind {
        match self.until() {
            Some(until) if until <= now => StateKind::Active,
            _ => self.kind(),
        }
    }
}

/// Everything the state machine remembers about a subscription's health.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct Health {
    pub state: SubscriptionState,
    /// Errors in a row since the last success.
    pub consecutive_errors: u32,
    /// How many times in a row it fell `unhealthy` from errors; the backoff
    /// doubles with each relapse and resets on success.
    pub unhealthy_relapses: u32,
    /// The latest utilization reported by an `allowed_warning` (0..1, may
    /// exceed 1) and when it was reported.
    pub last_utilization: Option<(f64, Timestamp)>,
    /// The latest time this subscription was rate limited or exhausted.
    pub last_limited_at: Option<Timestamp>,
    /// The latest report per quota window (at most one per window), from
    /// `rate_limit_event`s or any other utilization source.
    pub quota: Vec<QuotaReport>,
    /// Limits on one model family (at most one per family); expired ones
    /// are dropped on the next write.
    pub model_limits: Vec<ModelLimit>,
}

impl Health {
    /// The effective state at `now`.
    pub fn state_at(&self, now: Timestamp) -> SubscriptionState {
        self.state.effective(now)
    }

    /// The latest report of `window`, current or not.
    pub fn quota_report(&self, window: QuotaWindow) -> Option<&QuotaReport> {
        self.quota.iter().find(|report| report.window == window)
    }

    /// Keep `report` as the latest of its window.
    pub fn record_quota(&mut self, report: QuotaReport) {
        match self
            .quota
            .iter_mut()
            .find(|known| known.window == report.window)
        {
            Some(known) => *known = report,
            None => {
                self.quota.push(report);
                self.quota.sort_by_key(|known| known.window);
            }
        }
    }

    /// The limit on `family` in force at `now`, if any.
    pub fn model_limit(&self, family: ModelFamily, now: Timestamp) -> Option<&ModelLimit> {
        self.model_limits
            .iter()
            .find(|limit| limit.family == family && limit.is_in_force(now))
    }

    /// The model limits in force at `now`.
    pub fn model_limits_at(&self, now: Timestamp) -> impl Iterator<Item = &ModelLimit> {
        self.model_limits
            .iter()
            .filter(move |limit| limit.is_in_force(now))
    }
}
