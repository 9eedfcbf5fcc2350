//! Tunable numbers of the state machine and the selection strategy.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The shortest lease TTL: a shorter lease would be dead on arrival (it
/// expires before its first heartbeat lands).
pub const MIN_LEASE_TTL: Duration = Duration::from_secs(3);

/// The longest duration any setting or flag accepts (a TTL, a wait, a
/// cooldown): 365 days.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// A lease TTL brought inside [`MIN_LEASE_TTL`]..=[`MAX_DURATION`].
pub fn bounded_lease_ttl(ttl: Duration) -> Duration {
    ttl.clamp(MIN_LEASE_TTL, MAX_DURATION)
}

/// How long each non-active state lasts when the signal gives no time, and
/// when errors make a subscription unhealthy. Defaults follow `design.md`.
#[derive(Clone, PartialEq, Debug)]
pub struct StatePolicy {
    /// `rate_limited` for this long when no `retry-after` came.
    pub rate_limit_cooldown: Duration,
    /// `exhausted` for this long when no reset time came.
    pub exhausted_cooldown: Duration,
    /// Errors in a row that make a subscription `unhealthy`.
    pub unhealthy_threshold: u32,
    /// First backoff after `unhealthy_threshold` errors; doubles per relapse.
    pub unhealthy_backoff: Duration,
    /// Ceiling of the doubling backoff, and the backoff of a rejected credential.
    pub unhealthy_backoff_max: Duration,
}

impl Default for StatePolicy {
    fn default() -> Self {
        Self {
            rate_limit_cooldown: Duration::from_secs(5 * 60),
            exhausted_cooldown: Duration::from_secs(60 * 60),
            unhealthy_threshold: 3,
            unhealthy_backoff: Duration::from_secs(30),
            unhealthy_backoff_max: Duration::from_secs(30 * 60),
        }
    }
}

/// How eligible subscriptions are ordered (config key `default_priority`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum Strategy {
    /// Highest priority first; ties go to the least recently leased.
    #[default]
    Priority,
    /// Least recently leased first, whatever the priority.
    RoundRobin,
    /// Fewest tokens in the window first; ties by priority.
    LeastUsed,
}

impl Strategy {
    pub const ALL: [Strategy; 3] = [Self::Priority, Self::RoundRobin, Self::LeastUsed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Priority => "priority",
            Self::RoundRobin => "round-robin",
            Self::LeastUsed => "least-used",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("unknown strategy {0:?}: use \"priority\", \"round-robin\" or \"least-used\"")]
pub struct UnknownStrategy(pub String);

impl FromStr for Strategy {
    type Err = UnknownStrategy;

    fn from_str(value: &str) -> Result<Self, UnknownStrategy> {
        Self::ALL
            .into_iter()
            .find(|strategy| strategy.as_str() == value)
            .ok_or_else(|| UnknownStrategy(value.to_owned()))
    }
}
