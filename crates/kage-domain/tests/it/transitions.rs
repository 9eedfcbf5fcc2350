//! The state machine of `design.md` ("State machine"): every transition
//! through `apply_outcome`, `enable` and `disable`, automatic recovery, and
//! the contents of the recorded transition events.

use std::time::Duration;

use kage_domain::{
    ErrorKind, Health, Outcome, StateKind, StatePolicy, StateTransition, SubscriptionState,
    Timestamp, TransitionResult, apply_outcome, disable, enable,
};
use rstest::rstest;

use crate::support::{at, disabled, exhausted, health, now, rate_limited, unhealthy};

use StateKind::{Active, Disabled, Exhausted, RateLimited, Unhealthy};

fn rate(retry_in: Option<i64>) -> Outcome {
    Outcome::RateLimited {
        retry_at: retry_in.map(at),
        reason: "rate limited (429)".to_owned(),
    }
}

fn quota(resets_in: Option<i64>) -> Outcome {
    Outcome::QuotaExhausted {
        resets_at: resets_in.map(at),
        reason: "5-hour limit".to_owned(),
    }
}

fn rejected() -> Outcome {
    Outcome::CredentialRejected {
        reason: "authentication failed (401)".to_owned(),
    }
}

fn error(kind: ErrorKind) -> Outcome {
    Outcome::Error {
        kind,
        detail: "HTTP 500".to_owned(),
    }
}

fn approaching(utilization: f64) -> Outcome {
    Outcome::ApproachingLimit {
        window: None,
        utilization,
        resets_at: Some(at(3_600)),
    }
}

/// Apply `outcome` to a subscription in `start` at `now` with the default
/// policy and compare the stored state and the recorded transition.
fn check(
    start: SubscriptionState,
    outcome: Outcome,
    kind: StateKind,
    until: Option<Timestamp>,
    transition: Option<(StateKind, StateKind)>,
) -> TransitionResult {
    let result = apply_outcome(&health(start), &outcome, now(), &StatePolicy::default());
    assert_eq!(result.health.state.kind(), kind, "state after {outcome:?}");
    assert_eq!(
        result.health.state.until(),
        until,
        "until after {outcome:?}"
    );
    assert_eq!(
        result.transition.as_ref().map(|t| (t.from, t.to)),
        transition,
        "transition after {outcome:?}"
    );
    if let Some(recorded) = &result.transition {
        assert_eq!(recorded.at, now());
        assert_eq!(recorded.until, until);
    }
    result
}

#[rstest]
// active → rate_limited: retry-after given, else the cooldown (5m)
#[case::retry_after_given(SubscriptionState::Active, rate(Some(42)), RateLimited, Some(at(42)), Some((Active, RateLimited)))]
#[case::no_retry_after_uses_cooldown(SubscriptionState::Active, rate(None), RateLimited, Some(at(300)), Some((Active, RateLimited)))]
#[case::retry_after_in_the_past_uses_cooldown(SubscriptionState::Active, rate(Some(-5)), RateLimited, Some(at(300)), Some((Active, RateLimited)))]
#[case::retry_after_now_uses_cooldown(SubscriptionState::Active, rate(Some(0)), RateLimited, Some(at(300)), Some((Active, RateLimited)))]
// active → exhausted: reset given, else exhausted_cooldown (1h); a past reset falls back too
#[case::reset_given(SubscriptionState::Active, quota(Some(3 * 3_600)), Exhausted, Some(at(3 * 3_600)), Some((Active, Exhausted)))]
#[case::no_reset_uses_cooldown(SubscriptionState::Active, quota(None), Exhausted, Some(at(3_600)), Some((Active, Exhausted)))]
#[case::reset_in_the_past_uses_cooldown(SubscriptionState::Active, quota(Some(-60)), Exhausted, Some(at(3_600)), Some((Active, Exhausted)))]
// a rejected credential is unhealthy at once, for the maximum backoff (30m)
#[case::credential_rejected(SubscriptionState::Active, rejected(), Unhealthy, Some(at(1_800)), Some((Active, Unhealthy)))]
#[case::credential_rejected_over_a_window(exhausted(at(600)), rejected(), Unhealthy, Some(at(1_800)), Some((Exhausted, Unhealthy)))]
// no change
#[case::overloaded(SubscriptionState::Active, Outcome::Overloaded, Active, None, None)]
#[case::success(SubscriptionState::Active, Outcome::Success, Active, None, None)]
#[case::approaching_limit(SubscriptionState::Active, approaching(0.91), Active, None, None)]
#[case::one_server_error(
    SubscriptionState::Active,
    error(ErrorKind::Server),
    Active,
    None,
    None
)]
#[case::success_keeps_a_limit(
    rate_limited(at(600)),
    Outcome::Success,
    RateLimited,
    Some(at(600)),
    None
)]
#[case::overloaded_keeps_a_limit(
    exhausted(at(600)),
    Outcome::Overloaded,
    Exhausted,
    Some(at(600)),
    None
)]
// disabled stays disabled whatever is reported
#[case::disabled_rate_limited(disabled(), rate(Some(42)), Disabled, None, None)]
#[case::disabled_exhausted(disabled(), quota(Some(3_600)), Disabled, None, None)]
#[case::disabled_rejected(disabled(), rejected(), Disabled, None, None)]
#[case::disabled_success(disabled(), Outcome::Success, Disabled, None, None)]
// a burst limit never shortens an exhausted window
#[case::burst_keeps_a_longer_window(
    exhausted(at(7_200)),
    rate(Some(60)),
    Exhausted,
    Some(at(7_200)),
    None
)]
#[case::cooldown_keeps_a_longer_window(
    exhausted(at(7_200)),
    rate(None),
    Exhausted,
    Some(at(7_200)),
    None
)]
#[case::burst_as_long_as_the_window(
    exhausted(at(60)),
    rate(Some(60)),
    Exhausted,
    Some(at(60)),
    None
)]
#[case::burst_outlasting_the_window(exhausted(at(60)), rate(Some(600)), RateLimited, Some(at(600)), Some((Exhausted, RateLimited)))]
#[case::later_window_extends(exhausted(at(3_600)), quota(Some(10_800)), Exhausted, Some(at(10_800)), Some((Exhausted, Exhausted)))]
#[case::earlier_window_keeps_the_later(
    exhausted(at(10_800)),
    quota(Some(3_600)),
    Exhausted,
    Some(at(10_800)),
    None
)]
#[case::window_over_a_burst(rate_limited(at(30)), quota(Some(3_600)), Exhausted, Some(at(3_600)), Some((RateLimited, Exhausted)))]
// an expired state is active: the new outcome starts from active
#[case::expired_limit_then_success(rate_limited(at(-1)), Outcome::Success, Active, None, None)]
#[case::expired_window_then_burst(exhausted(at(-1)), rate(Some(42)), RateLimited, Some(at(42)), Some((Active, RateLimited)))]
#[case::expiring_now_then_rejected(unhealthy(now()), rejected(), Unhealthy, Some(at(1_800)), Some((Active, Unhealthy)))]
#[case::expired_burst_then_short_burst(exhausted(at(-10)), rate(Some(5)), RateLimited, Some(at(5)), Some((Active, RateLimited)))]
fn apply_outcome_moves_the_state(
    #[case] start: SubscriptionState,
    #[case] outcome: Outcome,
    #[case] kind: StateKind,
    #[case] until: Option<Timestamp>,
    #[case] transition: Option<(StateKind, StateKind)>,
) {
    check(start, outcome, kind, until, transition);
}

#[test]
fn an_expired_state_is_stored_as_active_on_the_next_write() {
    let result = check(exhausted(at(-1)), Outcome::Success, Active, None, None);
    assert_eq!(result.health.state, SubscriptionState::Active);
}

#[test]
fn a_kept_window_keeps_its_reason() {
    let result = check(
        exhausted(at(7_200)),
        rate(Some(60)),
        Exhausted,
        Some(at(7_200)),
        None,
    );
    assert_eq!(result.health.state.reason(), Some("5-hour limit"));
}

#[rstest]
#[case::rate_limited_with_retry_after(rate(Some(42)))]
#[case::rate_limited_without_retry_after(rate(None))]
#[case::exhausted(quota(Some(60)))]
fn limit_signals_record_when_they_came(#[case] outcome: Outcome) {
    for start in [SubscriptionState::Active, disabled()] {
        let result = apply_outcome(&health(start), &outcome, now(), &StatePolicy::default());
        assert_eq!(result.health.last_limited_at, Some(now()));
    }
}

#[rstest]
#[case::while_active(SubscriptionState::Active, Active)]
#[case::while_rate_limited(rate_limited(at(60)), RateLimited)]
#[case::while_disabled(disabled(), Disabled)]
fn approaching_limit_stores_utilization_and_time(
    #[case] start: SubscriptionState,
    #[case] kind: StateKind,
) {
    let result = apply_outcome(
        &health(start),
        &approaching(0.91),
        now(),
        &StatePolicy::default(),
    );
    assert_eq!(result.health.last_utilization, Some((0.91, now())));
    assert_eq!(result.health.state.kind(), kind);
    assert_eq!(result.transition, None);
}

/// Apply `outcomes` one after another at `now` and compare the state after
/// each with `expected`.
fn check_sequence(policy: &StatePolicy, outcomes: &[Outcome], expected: &[StateKind]) -> Health {
    assert_eq!(
        outcomes.len(),
        expected.len(),
        "one expected state per outcome"
    );
    let mut health = Health::default();
    for (step, (outcome, kind)) in outcomes.iter().zip(expected).enumerate() {
        health = apply_outcome(&health, outcome, now(), policy).health;
        assert_eq!(
            health.state.kind(),
            *kind,
            "state after step {step}: {outcome:?}"
        );
    }
    health
}

fn server() -> Outcome {
    error(ErrorKind::Server)
}

#[rstest]
#[case::three_server_errors(vec![server(), server(), server()], vec![Active, Active, Unhealthy])]
#[case::three_timeouts(vec![error(ErrorKind::Timeout); 3], vec![Active, Active, Unhealthy])]
#[case::three_connection_errors(vec![error(ErrorKind::Network); 3], vec![Active, Active, Unhealthy])]
#[case::kinds_add_up(vec![server(), error(ErrorKind::Timeout), error(ErrorKind::Network)], vec![Active, Active, Unhealthy])]
#[case::agent_errors_never_count(vec![error(ErrorKind::Agent); 6], vec![Active; 6])]
#[case::agent_errors_do_not_break_the_row(vec![server(), error(ErrorKind::Agent), server(), server()], vec![Active, Active, Active, Unhealthy])]
#[case::success_resets_the_count(
    vec![server(), server(), Outcome::Success, server(), server(), server()],
    vec![Active, Active, Active, Active, Active, Unhealthy]
)]
#[case::overloaded_neither_counts_nor_resets(
    vec![server(), Outcome::Overloaded, Outcome::Overloaded, server(), server()],
    vec![Active, Active, Active, Active, Unhealthy]
)]
fn errors_in_a_row_make_a_subscription_unhealthy(
    #[case] outcomes: Vec<Outcome>,
    #[case] expected: Vec<StateKind>,
) {
    check_sequence(&StatePolicy::default(), &outcomes, &expected);
}

#[test]
fn the_threshold_comes_from_the_policy() {
    let policy = StatePolicy {
        unhealthy_threshold: 5,
        ..StatePolicy::default()
    };
    let health = check_sequence(
        &policy,
        &[server(), server(), server(), server(), server()],
        &[Active, Active, Active, Active, Unhealthy],
    );
    assert_eq!(health.consecutive_errors, 5);
}

#[test]
fn the_unhealthy_reason_counts_the_errors() {
    let mut health = Health::default();
    let mut result = None;
    for _ in 0..3 {
        let step = apply_outcome(&health, &server(), now(), &StatePolicy::default());
        health = step.health.clone();
        result = Some(step);
    }
    let transition = result
        .and_then(|result| result.transition)
        .expect("a transition");
    assert_eq!(
        transition,
        StateTransition {
            at: now(),
            from: Active,
            to: Unhealthy,
            until: Some(at(30)),
            reason: "3 consecutive server errors (HTTP 500)".to_owned(),
        }
    );
}

/// One more error on a subscription that is `relapses` times in a row back
/// from `unhealthy`: the backoff it gets.
fn check_backoff(consecutive_errors: u32, relapses: u32, expected: Duration) {
    let start = Health {
        consecutive_errors,
        unhealthy_relapses: relapses,
        ..Health::default()
    };
    let result = apply_outcome(&start, &server(), now(), &StatePolicy::default());
    assert_eq!(result.health.state.kind(), Unhealthy);
    let until = result.health.state.until().expect("unhealthy has an end");
    assert_eq!(until.duration_since(now()).unsigned_abs(), expected);
    assert_eq!(result.health.unhealthy_relapses, relapses + 1);
}

#[rstest]
#[case::first(2, 0, 30)]
#[case::first_relapse(3, 1, 60)]
#[case::second_relapse(4, 2, 120)]
#[case::third_relapse(5, 3, 240)]
#[case::fourth_relapse(6, 4, 480)]
#[case::fifth_relapse(7, 5, 960)]
#[case::capped_at_30_minutes(8, 6, 1_800)]
#[case::stays_capped(9, 7, 1_800)]
#[case::no_overflow_at_31(40, 31, 1_800)]
#[case::no_overflow_far_beyond(200, 150, 1_800)]
fn backoff_doubles_per_relapse_up_to_30_minutes(
    #[case] consecutive_errors: u32,
    #[case] relapses: u32,
    #[case] seconds: u64,
) {
    check_backoff(consecutive_errors, relapses, Duration::from_secs(seconds));
}

#[test]
fn relapses_double_over_time_and_a_success_starts_over() {
    let policy = StatePolicy::default();
    let mut health = Health::default();
    let mut clock = now();
    let mut backoffs = Vec::new();
    // Fail until unhealthy, wait until it is over, fail again, eight times.
    while backoffs.len() < 8 {
        health = apply_outcome(&health, &server(), clock, &policy).health;
        if let Some(until) = health.state.until() {
            backoffs.push(until.duration_since(clock).as_secs());
            assert_eq!(
                health.state_at(until).kind(),
                Active,
                "it recovers by itself"
            );
            clock = until;
        }
    }
    assert_eq!(backoffs, [30, 60, 120, 240, 480, 960, 1_800, 1_800]);

    health = apply_outcome(&health, &Outcome::Success, clock, &policy).health;
    assert_eq!(
        (health.consecutive_errors, health.unhealthy_relapses),
        (0, 0)
    );
    for _ in 0..3 {
        health = apply_outcome(&health, &server(), clock, &policy).health;
    }
    let until = health.state.until().expect("unhealthy again");
    assert_eq!(until.duration_since(clock).as_secs(), 30);
}

#[test]
fn success_resets_the_error_counts() {
    let start = Health {
        consecutive_errors: 2,
        unhealthy_relapses: 4,
        ..Health::default()
    };
    let result = apply_outcome(&start, &Outcome::Success, now(), &StatePolicy::default());
    assert_eq!(
        (
            result.health.consecutive_errors,
            result.health.unhealthy_relapses
        ),
        (0, 0)
    );
}

#[rstest]
// Other leases report errors while the subscription is already out: neither
// a relapse nor a longer backoff.
#[case::already_unhealthy(unhealthy(at(30)), Unhealthy, Some(at(30)), 1)]
#[case::exhausted_for_longer(exhausted(at(3_600)), Exhausted, Some(at(3_600)), 1)]
// A limit that ends before the backoff does is replaced.
#[case::rate_limited_for_less(rate_limited(at(10)), Unhealthy, Some(at(60)), 2)]
fn errors_while_out_of_the_pool(
    #[case] start: SubscriptionState,
    #[case] kind: StateKind,
    #[case] until: Option<Timestamp>,
    #[case] relapses_after: u32,
) {
    let start = Health {
        state: start,
        consecutive_errors: 3,
        unhealthy_relapses: 1,
        ..Health::default()
    };
    let result = apply_outcome(&start, &server(), now(), &StatePolicy::default());
    assert_eq!(result.health.state.kind(), kind);
    assert_eq!(result.health.state.until(), until);
    assert_eq!(result.health.consecutive_errors, 4);
    assert_eq!(result.health.unhealthy_relapses, relapses_after);
}

#[test]
fn errors_while_disabled_count_but_do_not_move_the_state() {
    let start = health(disabled());
    let mut health = start;
    for _ in 0..5 {
        let result = apply_outcome(&health, &server(), now(), &StatePolicy::default());
        assert_eq!(result.transition, None);
        health = result.health;
    }
    assert_eq!(health.state.kind(), Disabled);
    assert_eq!(health.consecutive_errors, 5);
}

fn check_enable(start: Health, transition: Option<StateKind>) {
    let result = enable(&start, now());
    assert_eq!(result.health.state, SubscriptionState::Active);
    assert_eq!(
        (
            result.health.consecutive_errors,
            result.health.unhealthy_relapses
        ),
        (0, 0)
    );
    match transition {
        Some(from) => assert_eq!(
            result.transition,
            Some(StateTransition {
                at: now(),
                from,
                to: Active,
                until: None,
                reason: "enabled by user".to_owned(),
            })
        ),
        None => assert_eq!(result.transition, None),
    }
}

#[rstest]
#[case::disabled(disabled(), Some(Disabled))]
#[case::rate_limited(rate_limited(at(60)), Some(RateLimited))]
#[case::exhausted(exhausted(at(3_600)), Some(Exhausted))]
#[case::unhealthy(unhealthy(at(600)), Some(Unhealthy))]
#[case::active(SubscriptionState::Active, None)]
#[case::expired(exhausted(at(-60)), None)]
fn enable_makes_it_active_and_clears_the_counts(
    #[case] start: SubscriptionState,
    #[case] transition: Option<StateKind>,
) {
    let start = Health {
        state: start,
        consecutive_errors: 7,
        unhealthy_relapses: 3,
        ..Health::default()
    };
    check_enable(start, transition);
}

fn check_disable(start: SubscriptionState, reason: &str, stored_reason: &str) {
    let from = start.effective_kind(now());
    let result = disable(&health(start), reason, now());
    assert_eq!(
        result.health.state,
        SubscriptionState::Disabled {
            reason: stored_reason.to_owned()
        }
    );
    assert_eq!(
        result.transition,
        Some(StateTransition {
            at: now(),
            from,
            to: Disabled,
            until: None,
            reason: stored_reason.to_owned(),
        })
    );
}

#[rstest]
#[case::active(SubscriptionState::Active, "over budget", "over budget")]
#[case::empty_reason(SubscriptionState::Active, "", "disabled by user")]
#[case::rate_limited(rate_limited(at(60)), "rotating the token", "rotating the token")]
#[case::unhealthy(unhealthy(at(60)), "", "disabled by user")]
#[case::expired(exhausted(at(-1)), "maintenance", "maintenance")]
fn disable_takes_it_out_of_the_pool(
    #[case] start: SubscriptionState,
    #[case] reason: &str,
    #[case] stored_reason: &str,
) {
    check_disable(start, reason, stored_reason);
}

#[test]
fn disabled_then_enabled_is_active_again() {
    let disabled = disable(&Health::default(), "", now()).health;
    let limited = apply_outcome(&disabled, &rate(Some(60)), now(), &StatePolicy::default());
    assert_eq!(limited.health.state.kind(), Disabled);
    let enabled = enable(&limited.health, now());
    assert_eq!(enabled.health.state, SubscriptionState::Active);
}

#[rstest]
#[case::credential(rejected(), "credential rejected: authentication failed (401)")]
#[case::window(quota(Some(3_600)), "5-hour limit")]
#[case::burst(rate(Some(30)), "rate limited (429)")]
fn the_transition_event_carries_the_reason(#[case] outcome: Outcome, #[case] reason: &str) {
    let result = apply_outcome(&Health::default(), &outcome, now(), &StatePolicy::default());
    let transition = result.transition.expect("a transition");
    assert_eq!(transition.reason, reason);
    assert_eq!(result.health.state.reason(), Some(reason));
    assert_eq!(transition.from, Active);
    assert_eq!(transition.to, result.health.state.kind());
    assert_eq!(transition.until, result.health.state.until());
    assert_eq!(transition.at, now());
}

/// The effective state of `state` at `seconds` after `now`.
fn check_effective(state: SubscriptionState, seconds: i64, expected: StateKind) {
    let health = health(state.clone());
    assert_eq!(state.effective_kind(at(seconds)), expected);
    assert_eq!(state.effective(at(seconds)).kind(), expected);
    assert_eq!(health.state_at(at(seconds)).kind(), expected);
    if expected != Active {
        assert_eq!(
            state.effective(at(seconds)),
            state,
            "a live state is kept whole"
        );
    }
}

#[rstest]
#[case::rate_limited_before(rate_limited(at(60)), 59, RateLimited)]
#[case::rate_limited_at_until(rate_limited(at(60)), 60, Active)]
#[case::rate_limited_after(rate_limited(at(60)), 61, Active)]
#[case::exhausted_before(exhausted(at(3_600)), 3_599, Exhausted)]
#[case::exhausted_after(exhausted(at(3_600)), 3_600, Active)]
#[case::unhealthy_before(unhealthy(at(30)), 29, Unhealthy)]
#[case::unhealthy_after(unhealthy(at(30)), 30, Active)]
#[case::disabled_never_recovers(disabled(), 10 * 365 * 86_400, Disabled)]
#[case::active_stays(SubscriptionState::Active, 0, Active)]
fn recovery_is_automatic(
    #[case] state: SubscriptionState,
    #[case] seconds: i64,
    #[case] expected: StateKind,
) {
    check_effective(state, seconds, expected);
}

#[rstest]
#[case::active(Active, Some(at(5)), Some("x"), SubscriptionState::Active)]
#[case::disabled(Disabled, None, Some("user"), SubscriptionState::Disabled { reason: "user".to_owned() })]
#[case::disabled_without_reason(Disabled, None, None, SubscriptionState::Disabled { reason: String::new() })]
#[case::rate_limited(RateLimited, Some(at(5)), Some("429"), SubscriptionState::RateLimited { until: at(5), reason: "429".to_owned() })]
#[case::exhausted(Exhausted, Some(at(5)), Some("5h"), SubscriptionState::Exhausted { until: at(5), reason: "5h".to_owned() })]
#[case::unhealthy(Unhealthy, Some(at(5)), Some("500"), SubscriptionState::Unhealthy { until: at(5), reason: "500".to_owned() })]
#[case::timed_without_until(Exhausted, None, Some("5h"), SubscriptionState::Active)]
fn states_rebuild_from_stored_parts(
    #[case] kind: StateKind,
    #[case] until: Option<Timestamp>,
    #[case] reason: Option<&str>,
    #[case] expected: SubscriptionState,
) {
    let state = SubscriptionState::from_parts(kind, until, reason.map(str::to_owned));
    assert_eq!(state, expected);
}

#[test]
fn an_unreadable_credential_is_unhealthy_with_the_usual_backoff() {
    let policy = StatePolicy::default();
    let unreadable = Outcome::CredentialUnreadable {
        detail: "command `false` failed (exit status: 1)".to_owned(),
    };
    let first = apply_outcome(&Health::default(), &unreadable, now(), &policy);
    assert_eq!(
        first.health.state,
        SubscriptionState::Unhealthy {
            until: at(30),
            reason: "credential unreadable: command `false` failed (exit status: 1)".to_owned(),
        }
    );
    assert_eq!(first.transition.map(|t| t.to), Some(Unhealthy));
    // Still unreadable after the backoff: it doubles, like any relapse.
    let second = apply_outcome(&first.health, &unreadable, at(31), &policy);
    assert_eq!(second.health.state.until(), Some(at(31 + 60)));
    // A disabled subscription stays disabled.
    let off = apply_outcome(&health(disabled()), &unreadable, now(), &policy);
    assert_eq!(off.health.state.kind(), Disabled);
}
