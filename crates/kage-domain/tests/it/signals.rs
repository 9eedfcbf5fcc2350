//! Every row of `design.md` "Which signal means what": each signal goes
//! through `signal::classify` and the outcome through `apply_outcome` on a
//! fresh, active subscription, and the test asserts the resulting state and
//! its `until`. A row mapped to another outcome or state fails its test.

use std::time::Duration;

use jiff::tz::TimeZone;
use kage_domain::signal::{ClassifyContext, RateLimitStatus, Signal, classify};
use kage_domain::{
    ErrorKind, Health, ModelFamily, Outcome, QuotaWindow, StateKind, StatePolicy, Timestamp,
    apply_outcome,
};
use rstest::rstest;

use crate::support::{at, now, ts};

use StateKind::{Active, Exhausted, RateLimited, Unhealthy};

/// `resetsAt` of the observed `rate_limit_event`: 2026-11-26 21:46:12 UTC.
const EPOCH: i64 = 1_795_729_572;

fn epoch() -> Timestamp {
    ts("2026-11-26T21:46:12Z")
}

/// The classifier at `now` (2026-11-25 20:00 UTC) with `zone` as local zone.
fn zone(name: &str) -> ClassifyContext {
    let zone = if name == "UTC" {
        TimeZone::UTC
    } else {
        TimeZone::get(name).expect("a known zone")
    };
    ClassifyContext::new(now(), zone)
}

fn utc() -> ClassifyContext {
    zone("UTC")
}

/// The classifier at another moment, UTC.
fn utc_at(moment: &str) -> ClassifyContext {
    ClassifyContext::new(ts(moment), TimeZone::UTC)
}

fn event(
    status: RateLimitStatus,
    window: &str,
    resets_at: Option<i64>,
    utilization: Option<f64>,
) -> Signal {
    Signal::RateLimitEvent {
        status,
        rate_limit_type: Some(window.to_owned()),
        resets_at,
        utilization,
    }
}

fn rejected(window: &str, resets_at: Option<i64>) -> Signal {
    event(RateLimitStatus::Rejected, window, resets_at, None)
}

/// A failed turn: the `result` line or a synthetic assistant message.
fn failed(status: Option<u16>, error: Option<&str>, text: &str) -> Signal {
    Signal::ErrorResult {
        api_error_status: status,
        error: error.map(str::to_owned),
        text: text.to_owned(),
    }
}

fn retry(status: Option<u16>, error: Option<&str>) -> Signal {
    Signal::ApiRetry {
        error_status: status,
        error: error.map(str::to_owned),
    }
}

/// An HTTP error response without `anthropic-ratelimit-unified-*` headers.
fn http(
    status: u16,
    retry_after: Option<u64>,
    error_type: Option<&str>,
    error_code: Option<&str>,
    message: &str,
) -> Signal {
    Signal::HttpResponse {
        status,
        retry_after: retry_after.map(Duration::from_secs),
        has_window_headers: false,
        window_reset: None,
        error_type: error_type.map(str::to_owned),
        error_code: error_code.map(str::to_owned),
        message: message.to_owned(),
    }
}

/// A 429 with the unified window headers: a window limit, not a burst.
fn http_window(retry_after: Option<u64>, window_reset: Option<Timestamp>) -> Signal {
    Signal::HttpResponse {
        status: 429,
        retry_after: retry_after.map(Duration::from_secs),
        has_window_headers: true,
        window_reset,
        error_type: Some("rate_limit_error".to_owned()),
        error_code: None,
        message: "Error".to_owned(),
    }
}

fn transport(timed_out: bool, detail: &str) -> Signal {
    Signal::Transport {
        timed_out,
        detail: detail.to_owned(),
    }
}

/// Classify `signal`, apply its outcome once to an active subscription, and
/// compare the outcome's label, the state, its `until` and its reason.
fn check(
    signal: Signal,
    context: ClassifyContext,
    label: &str,
    kind: StateKind,
    until: Option<Timestamp>,
    reason_has: &str,
) -> Health {
    let outcome = classify(&signal, &context).expect("the signal means something");
    assert_eq!(outcome.label(), label, "outcome of {signal:?}: {outcome:?}");
    let result = apply_outcome(
        &Health::default(),
        &outcome,
        context.now,
        &StatePolicy::default(),
    );
    let state = &result.health.state;
    assert_eq!(state.kind(), kind, "state after {outcome:?}");
    assert_eq!(state.until(), until, "until after {outcome:?}");
    let reason = state.reason().unwrap_or("");
    assert!(
        reason.contains(reason_has),
        "reason {reason:?} should name {reason_has:?}"
    );
    result.health
}

#[rstest]
// machine-readable: rate_limit_event rejected, resetsAt in seconds or milliseconds
#[case::five_hour_seconds(rejected("five_hour", Some(EPOCH)), epoch(), "5-hour limit")]
#[case::five_hour_milliseconds(rejected("five_hour", Some(EPOCH * 1_000)), epoch(), "5-hour limit")]
#[case::seven_day_seconds(rejected("seven_day", Some(EPOCH)), epoch(), "weekly limit")]
#[case::seven_day_milliseconds(rejected("seven_day", Some(EPOCH * 1_000)), epoch(), "weekly limit")]
#[case::no_resets_at_uses_cooldown(rejected("five_hour", None), at(3_600), "5-hour limit")]
#[case::resets_at_past_uses_cooldown(
    rejected("five_hour", Some(1_795_473_975)),
    at(3_600),
    "5-hour limit"
)]
// texts of Claude Code 2.1.330 and 2.1.197
#[case::five_hour_text(
    failed(
        Some(429),
        Some("rate_limit"),
        "You've hit your 5-hour limit · resets 10:52pm (UTC)"
    ),
    ts("2026-11-25T22:52:00Z"),
    "5-hour limit"
)]
#[case::five_hour_text_without_status(
    failed(None, None, "You've hit your 5-hour limit · resets 10:52pm (UTC)"),
    ts("2026-11-25T22:52:00Z"),
    "5-hour limit"
)]
#[case::session_text(
    failed(
        Some(429),
        Some("rate_limit"),
        "You've hit your session limit · resets 10:44pm (UTC)"
    ),
    ts("2026-11-25T22:44:00Z"),
    "5-hour limit"
)]
#[case::weekly_text(
    failed(
        Some(429),
        Some("rate_limit"),
        "You've hit your weekly limit · resets Nov 26, 9:46pm (UTC)"
    ),
    ts("2026-11-26T21:46:00Z"),
    "weekly limit"
)]
// older and publicly reported texts
#[case::pipe_epoch(
    failed(None, None, "Claude AI usage limit reached|1795729572"),
    epoch(),
    "usage limit"
)]
#[case::pipe_epoch_milliseconds(
    failed(None, None, "Claude AI usage limit reached|1795729572000"),
    epoch(),
    "usage limit"
)]
#[case::reached_clock_passed_today(
    failed(None, None, "5-hour limit reached ∙ resets 3pm"),
    ts("2026-11-26T15:00:00Z"),
    "5-hour limit"
)]
#[case::reached_month_day_passed_this_year(
    failed(None, None, "Weekly limit reached ∙ resets Oct 9, 5pm"),
    ts("2027-10-09T17:00:00Z"),
    "weekly limit"
)]
#[case::iana_zone_progress_saved(
    failed(
        Some(429),
        None,
        "You've hit your limit · resets 4:20am (Europe/Warsaw) · progress saved"
    ),
    ts("2026-11-26T03:20:00Z"),
    "usage limit"
)]
#[case::clock_passed_today_means_tomorrow(
    failed(None, None, "You've hit your 5-hour limit · resets 7:30pm (UTC)"),
    ts("2026-11-26T19:30:00Z"),
    "5-hour limit"
)]
#[case::clock_ahead_today_means_today(
    failed(None, None, "You've hit your 5-hour limit · resets 8:30pm (UTC)"),
    ts("2026-11-25T20:30:00Z"),
    "5-hour limit"
)]
#[case::text_without_reset_uses_cooldown(
    failed(Some(429), None, "You've hit your limit"),
    at(3_600),
    "usage limit"
)]
// a 429 that carries the unified window headers is a window limit
#[case::http_429_with_window_headers(http_window(Some(30), Some(epoch())), epoch(), "usage limit")]
#[case::http_429_window_headers_without_reset(http_window(None, None), at(3_600), "usage limit")]
fn window_limits_exhaust_until_the_reset(
    #[case] signal: Signal,
    #[case] until: Timestamp,
    #[case] window: &str,
) {
    check(
        signal,
        utc(),
        "quota_exhausted",
        Exhausted,
        Some(until),
        window,
    );
}

#[rstest]
// now is 05:00 in Tokyo on Nov 26: 3pm is still ahead today
#[case::local_zone_today(
    zone("Asia/Tokyo"),
    "5-hour limit reached ∙ resets 3pm",
    ts("2026-11-26T06:00:00Z")
)]
// now is 15:00 in New York on Nov 25
#[case::local_zone_ahead(
    zone("America/New_York"),
    "5-hour limit reached ∙ resets 4pm",
    ts("2026-11-25T21:00:00Z")
)]
#[case::local_zone_passed(
    zone("America/New_York"),
    "5-hour limit reached ∙ resets 2:30pm",
    ts("2026-11-26T19:30:00Z")
)]
#[case::named_zone_wins(
    zone("Asia/Tokyo"),
    "You've hit your 5-hour limit · resets 10:52pm (UTC)",
    ts("2026-11-25T22:52:00Z")
)]
#[case::iana_zone_wins(
    zone("Asia/Tokyo"),
    "You've hit your limit · resets 4:20am (Europe/Warsaw) · progress saved",
    ts("2026-11-26T03:20:00Z")
)]
#[case::new_year(
    utc_at("2026-12-31T23:00:00Z"),
    "Weekly limit reached ∙ resets Jan 2, 5pm",
    ts("2027-01-02T17:00:00Z")
)]
fn reset_texts_read_the_right_zone(
    #[case] context: ClassifyContext,
    #[case] text: &str,
    #[case] until: Timestamp,
) {
    check(
        failed(None, None, text),
        context,
        "quota_exhausted",
        Exhausted,
        Some(until),
        "limit",
    );
}

#[rstest]
#[case::http_429_retry_after(
    http(429, Some(30), Some("rate_limit_error"), None, "Rate limited"),
    at(30),
    "retry after 30s"
)]
#[case::http_429_without_retry_after(
    http(429, None, Some("rate_limit_error"), None, "Rate limited"),
    at(300),
    "rate limited"
)]
#[case::oauth_temporarily_limiting(
    failed(
        Some(429),
        Some("rate_limit"),
        "API Error: Server is temporarily limiting requests (not your usage limit) · Rate limited"
    ),
    at(300),
    "temporarily limited"
)]
#[case::oauth_temporarily_limiting_text_only(
    failed(
        None,
        None,
        "API Error: Server is temporarily limiting requests (not your usage limit) · Rate limited"
    ),
    at(300),
    "temporarily limited"
)]
// a rejection that names no window and no reset is the server's burst limit
#[case::rejected_without_window_or_reset(
    Signal::RateLimitEvent {
        status: RateLimitStatus::Rejected,
        rate_limit_type: None,
        resets_at: None,
        utilization: None,
    },
    at(300),
    "temporarily limited"
)]
#[case::api_retry_429(retry(Some(429), Some("rate_limit")), at(300), "rate limited")]
#[case::api_retry_429_without_error(retry(Some(429), None), at(300), "rate limited")]
#[case::api_key_result_429(
    failed(
        Some(429),
        Some("rate_limit"),
        "API Error: Request rejected (429) · This request would exceed the rate limit for your organization"
    ),
    at(300),
    "rate limited"
)]
fn burst_limits_rate_limit_for_retry_after_or_cooldown(
    #[case] signal: Signal,
    #[case] until: Timestamp,
    #[case] reason: &str,
) {
    check(
        signal,
        utc(),
        "rate_limited",
        RateLimited,
        Some(until),
        reason,
    );
}

#[rstest]
#[case::http_400_billing_error(
    http(
        400,
        None,
        Some("billing_error"),
        None,
        "Your credit balance is too low to access the Anthropic API."
    ),
    utc(),
    at(3_600),
    "credit"
)]
#[case::http_400_credit_text(
    http(
        400,
        None,
        Some("invalid_request_error"),
        None,
        "Your credit balance is too low to access the Anthropic API."
    ),
    utc(),
    at(3_600),
    "credit"
)]
#[case::result_billing_error(
    failed(Some(400), Some("billing_error"), "Credit balance is too low"),
    utc(),
    at(3_600),
    "credit"
)]
#[case::result_credit_text(
    failed(None, None, "Credit balance is too low"),
    utc(),
    at(3_600),
    "credit"
)]
#[case::spend_cap(
    http(
        429,
        None,
        Some("rate_limit_error"),
        Some("enforced_spend_limit_reached"),
        "spend limit"
    ),
    utc(),
    ts("2026-12-01T00:00:00Z"),
    "spend limit"
)]
#[case::spend_cap_ignores_retry_after(
    http(
        429,
        Some(30),
        None,
        Some("enforced_spend_limit_reached"),
        "spend limit"
    ),
    utc(),
    ts("2026-12-01T00:00:00Z"),
    "spend limit"
)]
#[case::spend_cap_in_december(
    http(429, None, None, Some("enforced_spend_limit_reached"), "spend limit"),
    utc_at("2026-12-31T23:59:59Z"),
    ts("2027-01-01T00:00:00Z"),
    "spend limit"
)]
#[case::spend_cap_on_the_first(
    http(429, None, None, Some("enforced_spend_limit_reached"), "spend limit"),
    utc_at("2026-12-01T00:00:00Z"),
    ts("2027-01-01T00:00:00Z"),
    "spend limit"
)]
fn api_credit_and_spend_cap_exhaust(
    #[case] signal: Signal,
    #[case] context: ClassifyContext,
    #[case] until: Timestamp,
    #[case] reason: &str,
) {
    check(
        signal,
        context,
        "quota_exhausted",
        Exhausted,
        Some(until),
        reason,
    );
}

#[rstest]
#[case::http_401(
    http(401, None, Some("authentication_error"), None, "invalid x-api-key"),
    "authentication failed"
)]
#[case::api_retry_401(
    retry(Some(401), Some("authentication_failed")),
    "authentication failed"
)]
#[case::oauth_401(
    failed(
        Some(401),
        Some("authentication_failed"),
        "Failed to authenticate. API Error: 401 Invalid bearer token"
    ),
    "authentication failed"
)]
#[case::api_key_401_text(
    failed(Some(401), None, "Invalid API key · Fix external API key"),
    "authentication failed"
)]
#[case::http_403_org_not_allowed(
    http(
        403,
        None,
        Some("permission_error"),
        None,
        "OAuth authentication is currently not allowed for this organization."
    ),
    "organization"
)]
#[case::result_oauth_org_not_allowed(
    failed(
        Some(403),
        Some("oauth_org_not_allowed"),
        "This organization has been disabled."
    ),
    "organization"
)]
#[case::organization_disabled_text(
    failed(None, None, "API Error: This organization has been disabled."),
    "organization"
)]
fn rejected_credentials_are_unhealthy_for_30_minutes(#[case] signal: Signal, #[case] cause: &str) {
    let health = check(
        signal,
        utc(),
        "credential_rejected",
        Unhealthy,
        Some(at(1_800)),
        cause,
    );
    let reason = health.state.reason().unwrap_or("");
    assert!(
        reason.starts_with("credential rejected"),
        "reason {reason:?}"
    );
}

/// Classify `signal` and apply it `expected.len()` times in a row at `now`.
fn check_repeated(signal: Signal, label: &str, expected: &[StateKind]) -> Health {
    let outcome = classify(&signal, &utc()).expect("the signal means something");
    assert_eq!(outcome.label(), label, "outcome of {signal:?}: {outcome:?}");
    let mut health = Health::default();
    for (step, kind) in expected.iter().enumerate() {
        health = apply_outcome(&health, &outcome, now(), &StatePolicy::default()).health;
        assert_eq!(
            health.state.kind(),
            *kind,
            "state after {} × {outcome:?}",
            step + 1
        );
    }
    health
}

#[rstest]
#[case::http_500(http(500, None, Some("api_error"), None, "Internal server error"))]
#[case::http_502(http(502, None, None, None, "Bad gateway"))]
#[case::http_503(http(503, Some(5), None, None, "Service unavailable"))]
#[case::http_408(http(408, None, None, None, "Request timeout"))]
#[case::api_retry_500(retry(Some(500), Some("server_error")))]
#[case::api_retry_502(retry(Some(502), None))]
#[case::api_retry_timeout(retry(None, Some("unknown")))]
#[case::api_retry_no_status(retry(None, None))]
#[case::result_500(failed(
    Some(500),
    Some("server_error"),
    "API Error: 500 Internal server error. This is a server-side issue."
))]
#[case::result_timed_out(failed(None, None, "Request timed out"))]
#[case::result_connection_error(failed(None, None, "API Error: Connection error."))]
#[case::transport_timeout(transport(true, "no headers within 600s"))]
#[case::transport_refused(transport(false, "connection refused"))]
fn server_errors_make_it_unhealthy_after_three_in_a_row(#[case] signal: Signal) {
    let health = check_repeated(signal, "error", &[Active, Active, Unhealthy]);
    assert_eq!(health.state.until(), Some(at(30)));
}

#[rstest]
#[case::http_529(http(529, None, Some("overloaded_error"), None, "Overloaded"))]
#[case::api_retry_529(retry(Some(529), Some("overloaded")))]
#[case::api_retry_overloaded(retry(None, Some("overloaded")))]
#[case::api_retry_529_alone(retry(Some(529), None))]
#[case::http_529_bare(http(529, None, None, None, ""))]
#[case::repeated_529(failed(
    None,
    None,
    "API Error: Repeated 529 Overloaded errors. The service is under heavy load."
))]
#[case::result_529(failed(
    Some(529),
    None,
    "API Error: 529 Overloaded. This is a server-side issue, usually temporary — try again in a moment."
))]
fn overloaded_changes_nothing(#[case] signal: Signal) {
    let health = check_repeated(signal, "overloaded", &[Active; 10]);
    assert_eq!(health, Health::default());
}

#[rstest]
#[case::five_hour(
    event(RateLimitStatus::AllowedWarning, "five_hour", Some(EPOCH), Some(0.91)),
    0.91
)]
#[case::seven_day(
    event(RateLimitStatus::AllowedWarning, "seven_day", None, Some(0.8)),
    0.8
)]
#[case::over_one(
    event(RateLimitStatus::AllowedWarning, "five_hour", Some(EPOCH), Some(1.05)),
    1.05
)]
fn allowed_warning_is_approaching_and_stays_active(
    #[case] signal: Signal,
    #[case] utilization: f64,
) {
    let health = check(signal, utc(), "approaching_limit", Active, None, "");
    assert_eq!(health.last_utilization, Some((utilization, now())));
}

#[rstest]
#[case::rejected_with_window_only(
    Signal::RateLimitEvent {
        status: RateLimitStatus::Rejected,
        rate_limit_type: Some("five_hour".to_owned()),
        resets_at: None,
        utilization: None,
    },
    at(3_600)
)]
#[case::rejected_with_reset_only(
    Signal::RateLimitEvent {
        status: RateLimitStatus::Rejected,
        rate_limit_type: None,
        resets_at: Some(EPOCH),
        utilization: None,
    },
    epoch()
)]
fn a_rejection_with_a_window_or_a_reset_stays_a_window_limit(
    #[case] signal: Signal,
    #[case] until: Timestamp,
) {
    check(
        signal,
        utc(),
        "quota_exhausted",
        Exhausted,
        Some(until),
        "limit",
    );
}

#[rstest]
#[case::seven_day_opus_seconds(
    rejected("seven_day_opus", Some(EPOCH)),
    ModelFamily::Opus,
    epoch(),
    "weekly Opus limit"
)]
#[case::seven_day_opus_milliseconds(rejected("seven_day_opus", Some(EPOCH * 1_000)), ModelFamily::Opus, epoch(), "weekly Opus limit")]
#[case::seven_day_sonnet(
    rejected("seven_day_sonnet", Some(EPOCH)),
    ModelFamily::Sonnet,
    epoch(),
    "weekly Sonnet limit"
)]
#[case::seven_day_opus_without_reset(
    rejected("seven_day_opus", None),
    ModelFamily::Opus,
    at(3_600),
    "weekly Opus limit"
)]
#[case::opus_text(
    failed(
        Some(429),
        Some("rate_limit"),
        "You've hit your Opus limit · resets Nov 25, 9:46pm (UTC)"
    ),
    ModelFamily::Opus,
    ts("2026-11-25T21:46:00Z"),
    "weekly Opus limit"
)]
#[case::sonnet_text(
    failed(
        None,
        None,
        "You've hit your Sonnet limit · resets Nov 26, 9:46pm (UTC)"
    ),
    ModelFamily::Sonnet,
    ts("2026-11-26T21:46:00Z"),
    "weekly Sonnet limit"
)]
fn model_scoped_limits_leave_the_subscription_active_for_other_models(
    #[case] signal: Signal,
    #[case] family: ModelFamily,
    #[case] until: Timestamp,
    #[case] reason: &str,
) {
    let health = check(signal, utc(), "model_limit", Active, None, "");
    let limit = health
        .model_limit(family, now())
        .expect("a limit on the family");
    assert_eq!(limit.until, until);
    assert!(limit.reason.contains(reason), "{:?}", limit.reason);
    let other = ModelFamily::ALL.into_iter().find(|other| *other != family);
    assert!(
        health
            .model_limit(other.expect("another family"), now())
            .is_none()
    );
    assert!(
        health.model_limit(family, until).is_none(),
        "it ends at the reset"
    );
}

#[rstest]
#[case::allowed_five_hour(
    event(RateLimitStatus::Allowed, "five_hour", Some(EPOCH), Some(0.2)),
    QuotaWindow::FiveHour,
    0.2
)]
#[case::allowed_seven_day(
    event(RateLimitStatus::Allowed, "seven_day", Some(EPOCH), Some(0.18)),
    QuotaWindow::SevenDay,
    0.18
)]
#[case::warning_opus(
    event(
        RateLimitStatus::AllowedWarning,
        "seven_day_opus",
        Some(EPOCH),
        Some(0.9)
    ),
    QuotaWindow::SevenDayOpus,
    0.9
)]
fn utilization_is_kept_per_window(
    #[case] signal: Signal,
    #[case] window: QuotaWindow,
    #[case] utilization: f64,
) {
    let outcome = classify(&signal, &utc()).expect("a report");
    let health = apply_outcome(&Health::default(), &outcome, now(), &StatePolicy::default()).health;
    let report = health.quota_report(window).expect("a report of the window");
    assert_eq!(report.utilization, utilization);
    assert_eq!(report.resets_at, Some(epoch()));
    assert_eq!(report.reported_at, now());
    assert_eq!(health.state.kind(), Active);
}

#[rstest]
#[case::allowed_without_utilization(event(
    RateLimitStatus::Allowed,
    "five_hour",
    Some(EPOCH),
    None
))]
#[case::warning_without_utilization(event(
    RateLimitStatus::AllowedWarning,
    "five_hour",
    Some(EPOCH),
    None
))]
fn signals_that_say_nothing(#[case] signal: Signal) {
    assert_eq!(classify(&signal, &utc()), None);
}

#[rstest]
#[case::invalid_request(failed(
    Some(400),
    Some("invalid_request"),
    "API Error: 400 prompt is too long"
))]
#[case::model_not_found(failed(
    Some(404),
    Some("model_not_found"),
    "API Error: 404 model not found"
))]
#[case::http_400(http(
    400,
    None,
    Some("invalid_request_error"),
    None,
    "max_tokens: 100000 > 64000"
))]
#[case::no_conversation(failed(None, None, "No conversation found with session ID: 1234"))]
fn agent_errors_never_touch_the_subscription(#[case] signal: Signal) {
    let health = check_repeated(signal.clone(), "error", &[Active; 5]);
    assert_eq!(health.consecutive_errors, 0);
    assert!(matches!(
        classify(&signal, &utc()),
        Some(Outcome::Error {
            kind: ErrorKind::Agent,
            ..
        })
    ));
}
