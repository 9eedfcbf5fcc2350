//! Signal classification: what a parsed fact from Claude Code or the API
//! means for a subscription (`design.md`, "Which signal means what").
//!
//! Adapters parse the formats (stream-json lines, HTTP headers, error
//! bodies) into a [`Signal`]; [`classify`] maps it to an [`Outcome`] with its
//! reset time. Machine-readable fields win over texts.

use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::reset_text::{
    epoch_to_timestamp, first_of_next_month_utc, is_window_limit_text, parse_reset_time,
};
use crate::{ErrorKind, ModelFamily, Outcome, QuotaReading, QuotaWindow};

/// `rate_limit_info.status` of a `rate_limit_event`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RateLimitStatus {
    Allowed,
    AllowedWarning,
    Rejected,
}

impl RateLimitStatus {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "allowed" => Some(Self::Allowed),
            "allowed_warning" => Some(Self::AllowedWarning),
            "rejected" => Some(Self::Rejected),
            _ => None,
        }
    }
}

/// One fact, already parsed out of whatever format carried it.
#[derive(Clone, PartialEq, Debug)]
pub enum Signal {
    /// A stream-json `rate_limit_event` (subscription credentials only).
    RateLimitEvent {
        status: RateLimitStatus,
        /// `five_hour`, `seven_day`, `seven_day_opus`, …
        rate_limit_type: Option<String>,
        /// `resetsAt`, epoch seconds (or milliseconds when above 1e12).
        resets_at: Option<i64>,
        utilization: Option<f64>,
    },
    /// A stream-json `system`/`api_retry` event.
    ApiRetry {
        /// HTTP status, or `None` for timeouts and connection errors.
        error_status: Option<u16>,
        /// `rate_limit`, `authentication_failed`, `server_error`, …
        error: Option<String>,
    },
    /// An HTTP error response of the Messages API.
    HttpResponse {
        status: u16,
        retry_after: Option<Duration>,
        /// Any `anthropic-ratelimit-unified-*` header was present.
        has_window_headers: bool,
        /// The latest `*-reset` among the rejected unified windows.
        window_reset: Option<Timestamp>,
        /// `error.type` of the body (`rate_limit_error`, `billing_error`, …).
        error_type: Option<String>,
        /// `error.details.error_code` (`enforced_spend_limit_reached`).
        error_code: Option<String>,
        message: String,
    },
    /// A failed turn: the `result` event with `is_error` or a synthetic
    /// assistant message with a top-level `error`.
    ErrorResult {
        api_error_status: Option<u16>,
        /// The synthetic assistant message's `error` value, when known.
        error: Option<String>,
        text: String,
    },
    /// The connection failed or timed out before any HTTP status.
    Transport { timed_out: bool, detail: String },
}

/// The classifier's view of the moment: `now` and the local zone for clock
/// times printed without one.
#[derive(Clone, Debug)]
pub struct ClassifyContext {
    pub now: Timestamp,
    pub local_zone: TimeZone,
}

impl ClassifyContext {
    pub fn new(now: Timestamp, local_zone: TimeZone) -> Self {
        Self { now, local_zone }
    }
}

/// Map a signal to an outcome. `None`: the signal says nothing about the
/// subscription (an `allowed` event, a retry that is not the subscription's
/// fault, an unknown error shape).
pub fn classify(signal: &Signal, context: &ClassifyContext) -> Option<Outcome> {
    match signal {
        Signal::RateLimitEvent {
            status,
            rate_limit_type,
            resets_at,
            utilization,
        } => {
            let window = rate_limit_type.as_deref().and_then(QuotaWindow::parse);
            let resets_at_time = resets_at.and_then(epoch_to_timestamp);
            match status {
                RateLimitStatus::Allowed => match (window, utilization) {
                    (Some(window), Some(utilization)) => Some(Outcome::QuotaReported {
                        readings: vec![QuotaReading {
                            window,
                            utilization: *utilization,
                            resets_at: resets_at_time,
                        }],
                    }),
                    _ => None,
                },
                RateLimitStatus::AllowedWarning => {
                    utilization.map(|utilization| Outcome::ApproachingLimit {
                        window,
                        utilization,
                        resets_at: resets_at_time,
                    })
                }
                // A rejection that names no window and no reset is the
                // server's burst limit ("temporarily limiting requests (not
                // your usage limit)"), not a spent quota.
                RateLimitStatus::Rejected if rate_limit_type.is_none() && resets_at.is_none() => {
                    Some(Outcome::RateLimited {
                        retry_at: None,
                        reason: BURST_REASON.to_owned(),
                    })
                }
                RateLimitStatus::Rejected => {
                    let reason = window_reason(rate_limit_type.as_deref(), resets_at_time, context);
                    Some(match window.and_then(QuotaWindow::family) {
                        Some(family) => Outcome::ModelLimitReached {
                            family,
                            resets_at: resets_at_time,
                            reason,
                        },
                        None => Outcome::QuotaExhausted {
                            resets_at: resets_at_time,
                            reason,
                        },
                    })
                }
            }
        }
        // A retry without an HTTP status is a timeout or a connection error
        // (`claude-code-signals.md`); Claude Code then reports `unknown`.
        Signal::ApiRetry {
            error_status: None,
            error,
        } if error.as_deref().is_none_or(|error| error == "unknown") => Some(Outcome::Error {
            kind: ErrorKind::Network,
            detail: "timeout or connection error".to_owned(),
        }),
        Signal::ApiRetry {
            error_status,
            error,
        } => classify_status(*error_status, error.as_deref(), "", context),
        Signal::HttpResponse {
            status,
            retry_after,
            has_window_headers,
            window_reset,
            error_type,
            error_code,
            message,
        } => classify_http(
            *status,
            *retry_after,
            *has_window_headers,
            *window_reset,
            error_type.as_deref(),
            error_code.as_deref(),
            message,
            context,
        ),
        Signal::ErrorResult {
            api_error_status,
            error,
            text,
        } => classify_status(*api_error_status, error.as_deref(), text, context),
        Signal::Transport { timed_out, detail } => Some(Outcome::Error {
            kind: if *timed_out {
                ErrorKind::Timeout
            } else {
                ErrorKind::Network
            },
            detail: detail.clone(),
        }),
    }
}

fn window_name(rate_limit_type: Option<&str>) -> &'static str {
    match rate_limit_type {
        Some("five_hour") => "5-hour limit",
        Some("seven_day") => "weekly limit",
        Some("seven_day_opus") => "weekly Opus limit",
        Some("seven_day_sonnet") => "weekly Sonnet limit",
        Some("seven_day_overage_included") => "weekly overage-included limit",
        Some("overage") => "extra-usage limit",
        _ => "usage limit",
    }
}

fn window_reason(
    rate_limit_type: Option<&str>,
    resets_at: Option<Timestamp>,
    context: &ClassifyContext,
) -> String {
    let name = window_name(rate_limit_type);
    match resets_at {
        Some(at) => format!("{name}, resets {}", describe_time(at, context)),
        None => name.to_owned(),
    }
}

/// `15:00` today, else `Nov 26 15:00`, in the local zone.
pub fn describe_time(at: Timestamp, context: &ClassifyContext) -> String {
    let zoned = at.to_zoned(context.local_zone.clone());
    let today = context.now.to_zoned(context.local_zone.clone()).date();
    if zoned.date() == today {
        zoned.strftime("%H:%M").to_string()
    } else {
        zoned.strftime("%b %-d %H:%M").to_string()
    }
}

fn lowercase_contains(text: &str, needle: &str) -> bool {
    text.to_ascii_lowercase().contains(needle)
}

/// The reason of a burst limit that is not the usage limit.
const BURST_REASON: &str = "requests temporarily limited (not the usage limit)";

fn is_burst_text(text: &str) -> bool {
    lowercase_contains(text, "temporarily limiting requests")
}

fn is_credit_text(text: &str) -> bool {
    lowercase_contains(text, "credit balance is too low")
        || lowercase_contains(text, "out of extra usage")
}

fn is_rejected_credential_text(text: &str) -> bool {
    [
        "invalid api key",
        "failed to authenticate",
        "invalid bearer token",
        "oauth access token has expired",
        "invalid authentication credentials",
        "organization has been disabled",
        "oauth authentication is currently not allowed",
        "only authorized for use with claude code",
    ]
    .iter()
    .any(|needle| lowercase_contains(text, needle))
}

/// The shared rules for a status code, an error kind and a text, as they
/// arrive in `api_retry` and in failed results.
fn classify_status(
    status: Option<u16>,
    error: Option<&str>,
    text: &str,
    context: &ClassifyContext,
) -> Option<Outcome> {
    // Texts that name a window limit carry the reset time: the strongest fact.
    if is_window_limit_text(text) {
        let resets_at = parse_reset_time(text, context.now, &context.local_zone);
        let reason = limit_text_reason(text, resets_at, context);
        return Some(match limit_text_family(text) {
            Some(family) => Outcome::ModelLimitReached {
                family,
                resets_at,
                reason,
            },
            None => Outcome::QuotaExhausted { resets_at, reason },
        });
    }
    if is_burst_text(text) {
        return Some(Outcome::RateLimited {
            retry_at: None,
            reason: BURST_REASON.to_owned(),
        });
    }
    if error == Some("billing_error") || is_credit_text(text) {
        return Some(Outcome::QuotaExhausted {
            resets_at: None,
            reason: "credit balance too low".to_owned(),
        });
    }
    if matches!(
        error,
        Some("authentication_failed" | "oauth_org_not_allowed")
    ) || matches!(status, Some(401 | 403))
        || is_rejected_credential_text(text)
    {
        let organization = error == Some("oauth_org_not_allowed")
            || status == Some(403)
            || lowercase_contains(text, "organization");
        let reason = if organization {
            "organization not allowed or disabled"
        } else {
            "authentication failed (401)"
        };
        return Some(Outcome::CredentialRejected {
            reason: reason.to_owned(),
        });
    }
    if status == Some(529)
        || error == Some("overloaded")
        || lowercase_contains(text, "529 overloaded")
        || lowercase_contains(text, "repeated 529")
    {
        return Some(Outcome::Overloaded);
    }
    if status == Some(429) || error == Some("rate_limit") {
        return Some(Outcome::RateLimited {
            retry_at: None,
            reason: "rate limited (429)".to_owned(),
        });
    }
    match status {
        Some(code @ 500..=599) => Some(Outcome::Error {
            kind: ErrorKind::Server,
            detail: format!("HTTP {code}"),
        }),
        Some(408) => Some(Outcome::Error {
            kind: ErrorKind::Timeout,
            detail: "HTTP 408".to_owned(),
        }),
        Some(_) => Some(Outcome::Error {
            kind: ErrorKind::Agent,
            detail: first_line(text),
        }),
        None => {
            if error == Some("server_error") {
                Some(Outcome::Error {
                    kind: ErrorKind::Server,
                    detail: first_line(text),
                })
            } else if lowercase_contains(text, "timed out") {
                Some(Outcome::Error {
                    kind: ErrorKind::Timeout,
                    detail: first_line(text),
                })
            } else if lowercase_contains(text, "connection error")
                || lowercase_contains(text, "econnrefused")
            {
                Some(Outcome::Error {
                    kind: ErrorKind::Network,
                    detail: first_line(text),
                })
            } else if error.is_some() || !text.is_empty() {
                Some(Outcome::Error {
                    kind: ErrorKind::Agent,
                    detail: first_line(text),
                })
            } else {
                None
            }
        }
    }
}

fn first_line(text: &str) -> String {
    text.lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(200)
        .collect()
}

/// The model family a window-limit text names ("You've hit your Opus
/// limit"); `None` for the 5-hour and weekly limits that cover every model.
fn limit_text_family(text: &str) -> Option<ModelFamily> {
    let lower = text.to_ascii_lowercase();
    if lower.contains("5-hour") || lower.contains("session limit") {
        return None;
    }
    [ModelFamily::Opus, ModelFamily::Sonnet]
        .into_iter()
        .find(|family| lower.contains(&format!("{} limit", family.as_str())))
}

fn limit_text_reason(
    text: &str,
    resets_at: Option<Timestamp>,
    context: &ClassifyContext,
) -> String {
    let lower = text.to_ascii_lowercase();
    let name = if lower.contains("5-hour") || lower.contains("session limit") {
        "5-hour limit"
    } else if lower.contains("opus") {
        "weekly Opus limit"
    } else if lower.contains("sonnet") {
        "weekly Sonnet limit"
    } else if lower.contains("weekly") {
        "weekly limit"
    } else {
        "usage limit"
    };
    match resets_at {
        Some(at) => format!("{name}, resets {}", describe_time(at, context)),
        None => name.to_owned(),
    }
}

#[allow(clippy::too_many_arguments)]
fn classify_http(
    status: u16,
    retry_after: Option<Duration>,
    has_window_headers: bool,
    window_reset: Option<Timestamp>,
    error_type: Option<&str>,
    error_code: Option<&str>,
    message: &str,
    context: &ClassifyContext,
) -> Option<Outcome> {
    let now = context.now;
    if error_code == Some("enforced_spend_limit_reached") {
        return Some(Outcome::QuotaExhausted {
            resets_at: Some(first_of_next_month_utc(now)),
            reason: "monthly API spend limit reached".to_owned(),
        });
    }
    if status == 429 {
        if has_window_headers {
            let resets_at = window_reset.or_else(|| retry_after.and_then(|after| add(now, after)));
            return Some(Outcome::QuotaExhausted {
                resets_at,
                reason: window_reason(None, resets_at, context),
            });
        }
        return Some(Outcome::RateLimited {
            retry_at: retry_after.and_then(|after| add(now, after)),
            reason: match retry_after {
                Some(after) => format!("rate limited (429, retry after {}s)", after.as_secs()),
                None => "rate limited (429)".to_owned(),
            },
        });
    }
    if error_type == Some("billing_error") || status == 402 || is_credit_text(message) {
        return Some(Outcome::QuotaExhausted {
            resets_at: None,
            reason: "credit balance too low".to_owned(),
        });
    }
    if status == 400 && lowercase_contains(message, "usage limits") {
        return Some(Outcome::QuotaExhausted {
            resets_at: None,
            reason: "API usage limit reached".to_owned(),
        });
    }
    let error = match error_type {
        Some("authentication_error") => Some("authentication_failed"),
        Some("permission_error") if is_rejected_credential_text(message) || status == 403 => {
            Some("oauth_org_not_allowed")
        }
        Some("overloaded_error") => Some("overloaded"),
        _ => None,
    };
    if status == 400 && error.is_none() && !is_rejected_credential_text(message) {
        return Some(Outcome::Error {
            kind: ErrorKind::Agent,
            detail: first_line(message),
        });
    }
    classify_status(Some(status), error, message, context)
}

fn add(now: Timestamp, duration: Duration) -> Option<Timestamp> {
    now.checked_add(SignedDuration::try_from(duration).ok()?)
        .ok()
}
