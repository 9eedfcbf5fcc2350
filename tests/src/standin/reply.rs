//! The stand-in's answers: message bodies (JSON and SSE), error bodies and
//! the rate-limit headers, shaped like the real API's
//! (`/work/shared/protocol.md` §1–§5).

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

/// Tokens of one response, or a credential's total.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_input_tokens: u64,
    pub cache_read_input_tokens: u64,
}

impl Usage {
    pub fn add(&mut self, other: Usage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cache_creation_input_tokens += other.cache_creation_input_tokens;
        self.cache_read_input_tokens += other.cache_read_input_tokens;
    }

    /// Input, output, cache write and cache read together.
    pub fn total(&self) -> u64 {
        self.input_tokens
            + self.output_tokens
            + self.cache_creation_input_tokens
            + self.cache_read_input_tokens
    }

    fn json(&self) -> Value {
        json!({
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cache_creation": {
                "ephemeral_5m_input_tokens": self.cache_creation_input_tokens,
                "ephemeral_1h_input_tokens": 0,
            },
            "output_tokens": self.output_tokens,
            "service_tier": "standard",
        })
    }
}

/// The wall clock in epoch seconds: the stand-in plays Anthropic's servers,
/// whose reset times are real times.
#[allow(
    clippy::disallowed_methods,
    reason = "the stand-in plays the API server, which reads the real time"
)]
pub(super) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(0))
        .unwrap_or(0)
}

/// A deterministic input count for `request`: 100 plus 10 per message.
pub(super) fn input_tokens(request: &Value) -> u64 {
    let messages = request["messages"].as_array().map_or(0, Vec::len);
    100 + 10 * u64::try_from(messages).unwrap_or(0)
}

/// The usage of reply number `reply` (1-based, over the whole stand-in) to
/// `request`: deterministic, different from reply to reply.
pub(super) fn usage_for(request: &Value, reply: u64) -> Usage {
    Usage {
        input_tokens: input_tokens(request),
        output_tokens: 5 + reply,
        cache_creation_input_tokens: 40,
        cache_read_input_tokens: 1000 + reply,
    }
}

pub(super) struct Message {
    pub(super) id: String,
    pub(super) model: String,
    pub(super) text: String,
    pub(super) usage: Usage,
}

impl Message {
    pub(super) fn json(&self) -> Value {
        json!({
            "id": self.id, "type": "message", "role": "assistant", "model": self.model,
            "content": [{"type": "text", "text": self.text}],
            "stop_reason": "end_turn", "stop_sequence": null, "usage": self.usage.json(),
        })
    }
}

/// The SSE stream of `message`: `message_start` (input side, output 1),
/// one text block in two deltas, `message_delta` with the cumulative usage,
/// `message_stop`, and a `ping` in between.
pub(super) fn stream(message: &Message) -> Response {
    let start_usage = Usage {
        output_tokens: 1,
        ..message.usage
    };
    let (first, second) = message
        .text
        .split_at(message.text.find(' ').unwrap_or(message.text.len()));
    let events = [
        json!({"type": "message_start", "message": {
            "id": message.id, "type": "message", "role": "assistant", "model": message.model,
            "content": [], "stop_reason": null, "stop_sequence": null, "usage": start_usage.json(),
        }}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        json!({"type": "ping"}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": first}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": second}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
               "usage": message.usage.json()}),
        json!({"type": "message_stop"}),
    ];
    let body: String = events
        .iter()
        .map(|event| {
            let name = event["type"].as_str().unwrap_or("unknown");
            format!("event: {name}\ndata: {event}\n\n")
        })
        .collect();
    let mut response = super::response(StatusCode::OK, "text/event-stream", body);
    set(response.headers_mut(), "cache-control", "no-cache");
    response
}

pub(super) fn json(status: StatusCode, body: &Value) -> Response {
    super::response(status, "application/json", body.to_string())
}

/// `{"type":"error","error":{"type":…,"message":…},"request_id":…}`.
pub(super) fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    let mut response = json(status, &Value::Null);
    let request_id = response
        .headers()
        .get("request-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = json!({
        "type": "error", "error": {"type": kind, "message": message}, "request_id": request_id,
    });
    *response.body_mut() = body.to_string().into();
    response
}

pub(super) fn unauthorized(bearer: bool) -> Response {
    let message = if bearer {
        "Invalid bearer token"
    } else {
        "invalid x-api-key"
    };
    error(StatusCode::UNAUTHORIZED, "authentication_error", message)
}

/// A burst 429: `retry-after`, `x-should-retry: true`, no unified headers.
pub(super) fn burst(retry_after_secs: u64) -> Response {
    let mut response = error(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limit_error",
        "Number of request tokens has exceeded your per-minute rate limit",
    );
    let headers = response.headers_mut();
    set(headers, "retry-after", &retry_after_secs.to_string());
    set(headers, "x-should-retry", "true");
    response
}

/// The 429 of a spent 5-hour window (protocol.md §3.2 (a)).
pub(super) fn five_hour_limit(bearer: bool, resets_at: i64, seven_day_reset: i64) -> Response {
    let mut response = error(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limit_error",
        "This request would exceed your account's rate limit. Please try again later.",
    );
    let headers = response.headers_mut();
    set(
        headers,
        "retry-after",
        &(resets_at - now()).max(1).to_string(),
    );
    set(headers, "x-should-retry", "true");
    if bearer {
        let unified = [
            ("status", "rejected".to_owned()),
            ("reset", resets_at.to_string()),
            ("representative-claim", "five_hour".to_owned()),
            ("5h-status", "rejected".to_owned()),
            ("5h-utilization", "1.01".to_owned()),
            ("5h-reset", resets_at.to_string()),
            ("5h-surpassed-threshold", "1.0".to_owned()),
            ("7d-status", "allowed".to_owned()),
            ("7d-utilization", "0.69".to_owned()),
            ("7d-reset", seven_day_reset.to_string()),
            ("fallback-percentage", "0.5".to_owned()),
            ("overage-status", "rejected".to_owned()),
            ("overage-disabled-reason", "org_level_disabled".to_owned()),
        ];
        for (name, value) in unified {
            set(
                headers,
                &format!("anthropic-ratelimit-unified-{name}"),
                &value,
            );
        }
    }
    response
}

/// The rate-limit state a successful response reports.
pub(super) struct Limits {
    pub(super) status: &'static str,
    pub(super) five_hour_utilization: f64,
    pub(super) five_hour_reset: i64,
    pub(super) seven_day_reset: i64,
}

/// Unified headers for bearer (subscription) traffic, the documented
/// API-key headers otherwise.
pub(super) fn add_limit_headers(headers: &mut HeaderMap, bearer: bool, limits: &Limits) {
    if bearer {
        let surpassed = limits.status == "allowed_warning";
        let mut unified = vec![
            ("status", limits.status.to_owned()),
            ("reset", limits.five_hour_reset.to_string()),
            ("representative-claim", "five_hour".to_owned()),
            ("5h-status", limits.status.to_owned()),
            (
                "5h-utilization",
                format!("{:.2}", limits.five_hour_utilization),
            ),
            ("5h-reset", limits.five_hour_reset.to_string()),
            ("7d-status", "allowed".to_owned()),
            ("7d-utilization", "0.18".to_owned()),
            ("7d-reset", limits.seven_day_reset.to_string()),
            ("fallback-percentage", "0.5".to_owned()),
            ("overage-status", "rejected".to_owned()),
            ("overage-disabled-reason", "org_level_disabled".to_owned()),
        ];
        if surpassed {
            unified.push(("5h-surpassed-threshold", "0.9".to_owned()));
        }
        for (name, value) in unified {
            set(
                headers,
                &format!("anthropic-ratelimit-unified-{name}"),
                &value,
            );
        }
    } else {
        let reset = jiff::Timestamp::from_second(now() + 60)
            .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_default();
        for (name, value) in [
            ("requests-limit", "1000"),
            ("requests-remaining", "999"),
            ("tokens-limit", "96000"),
            ("tokens-remaining", "95000"),
            ("input-tokens-limit", "80000"),
            ("input-tokens-remaining", "79000"),
            ("output-tokens-limit", "16000"),
            ("output-tokens-remaining", "16000"),
        ] {
            set(headers, &format!("anthropic-ratelimit-{name}"), value);
        }
        for window in ["requests", "tokens", "input-tokens", "output-tokens"] {
            set(
                headers,
                &format!("anthropic-ratelimit-{window}-reset"),
                &reset,
            );
        }
    }
}

/// The model list (`GET /v1/models`).
pub(super) fn models() -> Value {
    let models: Vec<Value> = ["claude-opus-4-1", "claude-sonnet-4-5", "claude-haiku-4-5"]
        .iter()
        .map(|id| {
            json!({"type": "model", "id": id, "display_name": id, "created_at": "2025-09-29T00:00:00Z"})
        })
        .collect();
    json!({"data": models, "has_more": false, "first_id": "claude-opus-4-1", "last_id": "claude-haiku-4-5"})
}

pub(super) fn set(headers: &mut HeaderMap, name: &str, value: &str) {
    if let (Ok(name), Ok(value)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        headers.insert(name, value);
    }
}
