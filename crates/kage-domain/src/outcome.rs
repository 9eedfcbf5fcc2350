//! What an agent reports when it gives a lease back (or mid-lease).

use jiff::Timestamp;

use crate::{ModelFamily, QuotaReading, QuotaWindow};

/// Tokens and money one lease spent. Every field is a total for the lease.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// `cache_creation_input_tokens`.
    pub cache_write_tokens: u64,
    /// `cache_read_input_tokens`.
    pub cache_read_tokens: u64,
    /// Cost in millionths of a US dollar, when the agent reported one.
    pub cost_micros_usd: Option<u64>,
    pub model: Option<String>,
}

/// The most one usage record may hold per count (tokens of each kind, and
/// the cost in micro-dollars): 10^12.
pub const MAX_PER_RECORD: u64 = 1_000_000_000_000;

impl Usage {
    /// All tokens of every kind: what "usage" means on the status screen.
    pub fn total_tokens(&self) -> u64 {
        self.input_tokens
            .saturating_add(self.output_tokens)
            .saturating_add(self.cache_write_tokens)
            .saturating_add(self.cache_read_tokens)
    }

    /// The first count above [`MAX_PER_RECORD`], as `(field, value)`:
    /// one record's usage beyond it is a mistake or an attack, never real
    /// (a busy day of Claude Code is about 10^9 tokens).
    pub fn out_of_bounds(&self) -> Option<(&'static str, u64)> {
        [
            ("input", self.input_tokens),
            ("output", self.output_tokens),
            ("cache-write", self.cache_write_tokens),
            ("cache-read", self.cache_read_tokens),
            ("cost (micro-dollars)", self.cost_micros_usd.unwrap_or(0)),
        ]
        .into_iter()
        .find(|(_, value)| *value > MAX_PER_RECORD)
    }

    /// This usage with every count cut to [`MAX_PER_RECORD`].
    #[must_use]
    pub fn bounded(&self) -> Usage {
        let cut = |value: u64| value.min(MAX_PER_RECORD);
        Usage {
            input_tokens: cut(self.input_tokens),
            output_tokens: cut(self.output_tokens),
            cache_write_tokens: cut(self.cache_write_tokens),
            cache_read_tokens: cut(self.cache_read_tokens),
            cost_micros_usd: self.cost_micros_usd.map(cut),
            model: self.model.clone(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.total_tokens() == 0 && self.cost_micros_usd.unwrap_or(0) == 0
    }

    /// Add another lease's usage to this one.
    pub fn add(&mut self, other: &Usage) {
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        self.cache_write_tokens = self
            .cache_write_tokens
            .saturating_add(other.cache_write_tokens);
        self.cache_read_tokens = self
            .cache_read_tokens
            .saturating_add(other.cache_read_tokens);
        self.cost_micros_usd = match (self.cost_micros_usd, other.cost_micros_usd) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
        };
        if other.model.is_some() {
            self.model.clone_from(&other.model);
        }
    }
}

/// The kind of a plain error, for the `unhealthy` rule.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ErrorKind {
    /// A 5xx other than 529.
    Server,
    Timeout,
    Network,
    /// The agent failed for a reason that says nothing about the subscription
    /// (bad prompt, max turns, crashed child).
    Agent,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Server => "server error",
            Self::Timeout => "timeout",
            Self::Network => "connection error",
            Self::Agent => "agent error",
        }
    }

    /// Whether the error counts toward `unhealthy_threshold`.
    pub fn counts_against_subscription(self) -> bool {
        !matches!(self, Self::Agent)
    }
}

/// What happened on a subscription, as classified by [`crate::signal`].
#[derive(Clone, PartialEq, Debug)]
pub enum Outcome {
    Success,
    /// An `allowed_warning`: still usable, but near a window limit.
    ApproachingLimit {
        /// The window it warns about, when the signal named it.
        window: Option<QuotaWindow>,
        utilization: f64,
        resets_at: Option<Timestamp>,
    },
    /// Utilization reports that change no state but are remembered, each
    /// as the latest of its window: an `allowed` event with `utilization`
    /// (one window), a status line's "5h 42% · 7d 18%" (both).
    QuotaReported {
        readings: Vec<QuotaReading>,
    },
    /// A limit on one model family (`seven_day_opus`, "You've hit your Opus
    /// limit"): requests for that family pass the subscription over until
    /// `resets_at`; others may still use it.
    ModelLimitReached {
        family: ModelFamily,
        resets_at: Option<Timestamp>,
        reason: String,
    },
    /// A burst / per-minute limit. `retry_at` from `retry-after` when known.
    RateLimited {
        retry_at: Option<Timestamp>,
        reason: String,
    },
    /// A window quota or credit is spent until `resets_at` when known.
    QuotaExhausted {
        resets_at: Option<Timestamp>,
        reason: String,
    },
    /// Kage could not read the credential at lease time (keychain locked or
    /// empty, command failing, variable unset): `unhealthy` with the usual
    /// backoff, so the pool moves on. `detail` says what, never the value.
    CredentialUnreadable {
        detail: String,
    },
    /// The service refused the credential itself (401, disabled org).
    CredentialRejected {
        reason: String,
    },
    Error {
        kind: ErrorKind,
        detail: String,
    },
    /// 529: the service's trouble, not the subscription's.
    Overloaded,
}

impl Outcome {
    /// Whether the work cannot go on on this subscription and moves to
    /// another: a window limit, a limit on one model family (the caller
    /// decides whether it is the family it uses), a rate limit or a refused
    /// credential.
    pub fn moves_work_elsewhere(&self) -> bool {
        matches!(
            self,
            Self::QuotaExhausted { .. }
                | Self::ModelLimitReached { .. }
                | Self::RateLimited { .. }
                | Self::CredentialRejected { .. }
        )
    }

    pub fn label(&self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::ApproachingLimit { .. } => "approaching_limit",
            Self::QuotaReported { .. } => "quota_reported",
            Self::ModelLimitReached { .. } => "model_limit",
            Self::RateLimited { .. } => "rate_limited",
            Self::QuotaExhausted { .. } => "quota_exhausted",
            Self::CredentialRejected { .. } => "credential_rejected",
            Self::CredentialUnreadable { .. } => "credential_unreadable",
            Self::Error { .. } => "error",
            Self::Overloaded => "overloaded",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_beyond_the_bound_are_named_and_cut() {
        let usage = Usage {
            input_tokens: u64::MAX,
            output_tokens: 5,
            ..Usage::default()
        };
        assert_eq!(usage.out_of_bounds(), Some(("input", u64::MAX)));
        assert_eq!(usage.total_tokens(), u64::MAX);
        let bounded = usage.bounded();
        assert_eq!(bounded.input_tokens, MAX_PER_RECORD);
        assert_eq!(bounded.output_tokens, 5);
        assert_eq!(bounded.out_of_bounds(), None);
        let mut sum = usage.clone();
        sum.add(&usage);
        assert_eq!(sum.input_tokens, u64::MAX);
    }
}
