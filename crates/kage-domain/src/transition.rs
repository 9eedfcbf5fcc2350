//! The state machine of `design.md` as pure functions:
//! (health, outcome, now, policy) → new health and the transition it made.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::{
    ErrorKind, Health, ModelLimit, Outcome, QuotaReport, StateKind, StatePolicy, SubscriptionState,
};

/// One recorded change of state, for `kage subscription show`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct StateTransition {
    pub at: Timestamp,
    pub from: StateKind,
    pub to: StateKind,
    pub until: Option<Timestamp>,
    pub reason: String,
}

/// The health after an outcome, and the transition if the state changed.
#[derive(Clone, PartialEq, Debug)]
pub struct TransitionResult {
    pub health: Health,
    pub transition: Option<StateTransition>,
}

fn after(now: Timestamp, duration: Duration) -> Timestamp {
    let duration = SignedDuration::try_from(duration).unwrap_or(SignedDuration::MAX);
    now.checked_add(duration).unwrap_or(Timestamp::MAX)
}

/// A reset time given by the signal if it lies ahead, else `now + fallback`.
fn until_or(now: Timestamp, given: Option<Timestamp>, fallback: Duration) -> Timestamp {
    match given {
        Some(until) if until > now => until,
        _ => after(now, fallback),
    }
}

fn finish(old: &Health, mut health: Health, now: Timestamp) -> TransitionResult {
    let before = old.state.effective(now);
    let transition = (health.state != before).then(|| StateTransition {
        at: now,
        from: before.kind(),
        to: health.state.kind(),
        until: health.state.until(),
        reason: health.state.reason().unwrap_or("recovered").to_owned(),
    });
    // An expired state is stored as `active` on the next write, and expired
    // model limits are dropped.
    if health.state.effective_kind(now) == StateKind::Active {
        health.state = SubscriptionState::Active;
    }
    health.model_limits.retain(|limit| limit.is_in_force(now));
    TransitionResult { health, transition }
}

/// Put a new timed state in place unless the current one is an `exhausted`
/// that lasts at least as long (a burst limit never shortens a window limit).
fn limit(health: &mut Health, now: Timestamp, new_state: SubscriptionState) {
    let current = health.state.effective(now);
    let keeps_current = matches!(current, SubscriptionState::Exhausted { until, .. }
        if new_state.until().is_some_and(|new_until| until >= new_until));
    if !keeps_current {
        health.state = new_state;
    }
}

/// Apply what an agent reported. A `disabled` subscription stays disabled
/// whatever it reports; its counters still move.
pub fn apply_outcome(
    health: &Health,
    outcome: &Outcome,
    now: Timestamp,
    policy: &StatePolicy,
) -> TransitionResult {
    let mut next = health.clone();
    next.state = health.state.effective(now);
    let disabled = next.state.kind() == StateKind::Disabled;

    match outcome {
        Outcome::Success => {
            next.consecutive_errors = 0;
            next.unhealthy_relapses = 0;
        }
        Outcome::ApproachingLimit {
            window,
            utilization,
            resets_at,
        } => {
            next.last_utilization = Some((*utilization, now));
            if let Some(window) = window {
                next.record_quota(QuotaReport {
                    window: *window,
                    utilization: *utilization,
                    resets_at: *resets_at,
                    reported_at: now,
                });
            }
        }
        Outcome::QuotaReported { readings } => {
            for reading in readings {
                next.record_quota(reading.at(now));
            }
        }
        Outcome::ModelLimitReached {
            family,
            resets_at,
            reason,
        } => {
            let until = until_or(now, *resets_at, policy.exhausted_cooldown);
            let keeps_longer = next
                .model_limit(*family, now)
                .is_some_and(|known| known.until >= until);
            if !keeps_longer {
                next.model_limits.retain(|known| known.family != *family);
                next.model_limits.push(ModelLimit {
                    family: *family,
                    until,
                    reason: reason.clone(),
                });
                next.model_limits.sort_by_key(|known| known.family);
            }
        }
        Outcome::Overloaded => {}
        Outcome::RateLimited { retry_at, reason } => {
            next.last_limited_at = Some(now);
            if !disabled {
                let until = until_or(now, *retry_at, policy.rate_limit_cooldown);
                let reason = reason.clone();
                limit(
                    &mut next,
                    now,
                    SubscriptionState::RateLimited { until, reason },
                );
            }
        }
        Outcome::QuotaExhausted { resets_at, reason } => {
            next.last_limited_at = Some(now);
            if !disabled {
                let until = until_or(now, *resets_at, policy.exhausted_cooldown);
                let reason = reason.clone();
                limit(
                    &mut next,
                    now,
                    SubscriptionState::Exhausted { until, reason },
                );
            }
        }
        Outcome::CredentialRejected { reason } => {
            if !disabled {
                let until = after(now, policy.unhealthy_backoff_max);
                let reason = format!("credential rejected: {reason}");
                next.state = SubscriptionState::Unhealthy { until, reason };
            }
        }
        Outcome::CredentialUnreadable { detail } => {
            if !disabled {
                let until = after(now, unhealthy_backoff(policy, next.unhealthy_relapses));
                next.unhealthy_relapses += 1;
                let reason = format!("credential unreadable: {detail}");
                next.state = SubscriptionState::Unhealthy { until, reason };
            }
        }
        Outcome::Error { kind, detail } => {
            if kind.counts_against_subscription() {
                next.consecutive_errors += 1;
                if next.consecutive_errors >= policy.unhealthy_threshold.max(1) && !disabled {
                    let backoff = unhealthy_backoff(policy, next.unhealthy_relapses);
                    let until = after(now, backoff);
                    // Errors that other leases report while the subscription
                    // is already out for at least as long (already unhealthy,
                    // or limited for longer) are no relapse: they neither
                    // escalate the backoff nor shorten a window limit.
                    let already_out = next.state.kind() == StateKind::Unhealthy
                        || next.state.until().is_some_and(|current| current >= until);
                    if !already_out {
                        next.unhealthy_relapses += 1;
                        let reason = error_reason(*kind, detail, next.consecutive_errors);
                        next.state = SubscriptionState::Unhealthy { until, reason };
                    }
                }
            }
        }
    }
    finish(health, next, now)
}

fn unhealthy_backoff(policy: &StatePolicy, relapses: u32) -> Duration {
    let factor = 1u32.checked_shl(relapses.min(31)).unwrap_or(u32::MAX);
    policy
        .unhealthy_backoff
        .saturating_mul(factor)
        .min(policy.unhealthy_backoff_max)
}

fn error_reason(kind: ErrorKind, detail: &str, in_a_row: u32) -> String {
    let plural = if kind == ErrorKind::Server { "s" } else { "" };
    let base = format!("{in_a_row} consecutive {}{plural}", kind.as_str());
    if detail.is_empty() {
        base
    } else {
        format!("{base} ({detail})")
    }
}

/// `kage subscription disable`: out of the pool until enabled.
pub fn disable(health: &Health, reason: &str, now: Timestamp) -> TransitionResult {
    let mut next = health.clone();
    let reason = if reason.is_empty() {
        "disabled by user"
    } else {
        reason
    };
    next.state = SubscriptionState::Disabled {
        reason: reason.to_owned(),
    };
    finish(health, next, now)
}

/// `kage subscription enable`: back to `active` at once, whatever the state,
/// with the error counters cleared.
pub fn enable(health: &Health, now: Timestamp) -> TransitionResult {
    let mut next = health.clone();
    next.state = SubscriptionState::Active;
    next.consecutive_errors = 0;
    next.unhealthy_relapses = 0;
    let mut result = finish(health, next, now);
    if let Some(transition) = &mut result.transition {
        transition.reason = "enabled by user".to_owned();
    }
    result
}
