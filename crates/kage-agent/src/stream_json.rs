//! Claude Code's `--output-format stream-json` output, one line at a time.
//!
//! Every line is parsed on its own as it arrives ([`parse_line`]). The shapes
//! are those of `claude-code-signals.md`; this module reads only the fields
//! Kage needs and tolerates everything else: a line that is not JSON, an
//! event type it does not know, a field it does not know or of an
//! unexpected type. Parsing never fails; the worst case is
//! [`Event::NotJson`] or [`Event::Other`].
//!
//! [`Event::signal`] turns an event into the domain's [`Signal`], which
//! `kage_domain::signal::classify` maps to an outcome. [`UsageTally`] adds
//! up the tokens of a run: the `result` event's totals when it came, else
//! the assistant messages seen so far (a run cut short has no result).

use std::collections::HashMap;

use kage_domain::Usage;
use kage_domain::signal::{RateLimitStatus, Signal};
use serde_json::Value;

/// The `model` Claude Code writes on messages it made up itself (a failed
/// turn's error text).
pub const SYNTHETIC_MODEL: &str = kage_claude_code::SYNTHETIC_MODEL;

/// Tokens of one message or one run, as Claude Code reports them.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct TokenCounts {
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// `cache_creation_input_tokens`.
    pub cache_write_tokens: u64,
    /// `cache_read_input_tokens`.
    pub cache_read_tokens: u64,
}

impl TokenCounts {
    /// The counts of a `usage` object; `None` when it is not one, or when a
    /// count is beyond [`kage_domain::MAX_PER_RECORD`] (an agent that
    /// prints absurd numbers is not believed: its usage is refused, not
    /// recorded, so it cannot block the subscription's rollups).
    fn from_value(usage: &Value) -> Option<Self> {
        let object = usage.as_object()?;
        let field = |name: &str| object.get(name).and_then(as_u64).unwrap_or(0);
        let counts = Self {
            input_tokens: field("input_tokens"),
            output_tokens: field("output_tokens"),
            cache_write_tokens: field("cache_creation_input_tokens"),
            cache_read_tokens: field("cache_read_input_tokens"),
        };
        let within = [
            counts.input_tokens,
            counts.output_tokens,
            counts.cache_write_tokens,
            counts.cache_read_tokens,
        ]
        .iter()
        .all(|count| *count <= kage_domain::MAX_PER_RECORD);
        if !within {
            tracing::warn!(
                "an agent reported more than 10^12 tokens in one message; that usage is ignored"
            );
            return None;
        }
        Some(counts)
    }

    pub fn total(&self) -> u64 {
        self.input_tokens
            .saturating_add(self.output_tokens)
            .saturating_add(self.cache_write_tokens)
            .saturating_add(self.cache_read_tokens)
    }

    /// Field by field, the larger of the two (a streamed message's usage
    /// only grows).
    fn max(self, other: Self) -> Self {
        Self {
            input_tokens: self.input_tokens.max(other.input_tokens),
            output_tokens: self.output_tokens.max(other.output_tokens),
            cache_write_tokens: self.cache_write_tokens.max(other.cache_write_tokens),
            cache_read_tokens: self.cache_read_tokens.max(other.cache_read_tokens),
        }
    }

    fn add(self, other: Self) -> Self {
        Self {
            input_tokens: self.input_tokens.saturating_add(other.input_tokens),
            output_tokens: self.output_tokens.saturating_add(other.output_tokens),
            cache_write_tokens: self
                .cache_write_tokens
                .saturating_add(other.cache_write_tokens),
            cache_read_tokens: self
                .cache_read_tokens
                .saturating_add(other.cache_read_tokens),
        }
    }
}

/// `rate_limit_info` of a `rate_limit_event`.
#[derive(Clone, PartialEq, Debug)]
pub struct RateLimitInfo {
    /// `None` when the status is missing or not one Kage knows.
    pub status: Option<RateLimitStatus>,
    pub rate_limit_type: Option<String>,
    /// Epoch seconds (or milliseconds when above 1e12).
    pub resets_at: Option<i64>,
    pub utilization: Option<f64>,
}

/// The final `result` event.
#[derive(Clone, PartialEq, Debug)]
pub struct ResultEvent {
    /// `success`, `error_during_execution`, `error_max_turns`, …
    pub subtype: String,
    pub is_error: bool,
    /// The HTTP status of a failed API call, or `None`.
    pub api_error_status: Option<u16>,
    /// `result` (the answer or the error text) or, for `error_*` subtypes,
    /// the `errors` joined by newlines.
    pub text: String,
    pub session_id: Option<String>,
    pub usage: Option<TokenCounts>,
    /// `total_cost_usd` in millionths of a dollar.
    pub cost_micros_usd: Option<u64>,
    /// The model that spent the most output tokens, from `modelUsage`.
    pub model: Option<String>,
    pub num_turns: Option<u64>,
}

/// One line of output.
#[derive(Clone, PartialEq, Debug)]
pub enum Event {
    /// `system`/`init`: the first line.
    Init {
        session_id: Option<String>,
        model: Option<String>,
    },
    /// An `assistant` message (one per content block while streaming).
    Assistant {
        message_id: Option<String>,
        /// The top-level `request_id` (the API's `request-id` header).
        request_id: Option<String>,
        model: Option<String>,
        usage: Option<TokenCounts>,
        /// The top-level `error` of a synthetic message that ends a failed
        /// turn (`rate_limit`, `authentication_failed`, …).
        error: Option<String>,
        /// The text blocks, joined.
        text: String,
        session_id: Option<String>,
    },
    /// `system`/`api_retry`: Claude Code is about to retry a request.
    ApiRetry {
        attempt: Option<u64>,
        error_status: Option<u16>,
        error: Option<String>,
        retry_delay_ms: Option<u64>,
        session_id: Option<String>,
    },
    /// `rate_limit_event` (subscription credentials only).
    RateLimit {
        info: RateLimitInfo,
        session_id: Option<String>,
    },
    Result(ResultEvent),
    /// Valid JSON of another type or subtype (`user`, `system`/
    /// `model_fallback`, `stream_event`, anything new).
    Other {
        event_type: String,
        session_id: Option<String>,
    },
    /// A line that is not a JSON object: progress text, a warning, a
    /// non-Claude agent's output.
    NotJson,
}

fn as_u64(value: &Value) -> Option<u64> {
    match value {
        Value::Number(number) => number
            .as_u64()
            .or_else(|| number.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

fn as_i64(value: &Value) -> Option<i64> {
    match value {
        Value::Number(number) => number
            .as_i64()
            .or_else(|| number.as_f64().map(|f| f as i64)),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

fn as_f64(value: &Value) -> Option<f64> {
    match value {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

fn string_field(object: &Value, name: &str) -> Option<String> {
    object
        .get(name)
        .and_then(Value::as_str)
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
}

fn status_field(object: &Value, name: &str) -> Option<u16> {
    object
        .get(name)
        .and_then(as_u64)
        .and_then(|status| u16::try_from(status).ok())
}

/// Dollars to millionths of a dollar, rounded; `None` for a negative or
/// non-finite amount.
pub fn dollars_to_micros(dollars: f64) -> Option<u64> {
    if !dollars.is_finite() || dollars < 0.0 {
        return None;
    }
    let micros = (dollars * 1_000_000.0).round();
    (micros <= u64::MAX as f64).then_some(micros as u64)
}

/// The text blocks of a message's `content` (a string or a list of blocks).
fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .filter(|block| block.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|block| block.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// `modelUsage`: the model with the most output tokens (then the most
/// input tokens); ties go to the first name in order.
fn main_model(model_usage: Option<&Value>) -> Option<String> {
    let models = model_usage?.as_object()?;
    let weight = |entry: &Value| {
        let field = |name: &str| entry.get(name).and_then(as_u64).unwrap_or(0);
        (field("outputTokens"), field("inputTokens"))
    };
    let mut best: Option<(&String, (u64, u64))> = None;
    for (name, entry) in models {
        let this = weight(entry);
        if best.is_none_or(|(best_name, best_weight)| {
            this > best_weight || (this == best_weight && name < best_name)
        }) {
            best = Some((name, this));
        }
    }
    best.map(|(name, _)| name.clone())
}

/// Parse one line of stream-json output.
pub fn parse_line(line: &str) -> Event {
    let trimmed = line.trim();
    if !trimmed.starts_with('{') {
        return Event::NotJson;
    }
    let Ok(value) = serde_json::from_str::<Value>(trimmed) else {
        return Event::NotJson;
    };
    parse_value(&value)
}

fn parse_value(value: &Value) -> Event {
    let event_type = value.get("type").and_then(Value::as_str).unwrap_or("");
    let subtype = value.get("subtype").and_then(Value::as_str).unwrap_or("");
    let session_id = string_field(value, "session_id");
    match (event_type, subtype) {
        ("system", "init") => Event::Init {
            session_id,
            model: string_field(value, "model"),
        },
        ("system", "api_retry") => Event::ApiRetry {
            attempt: value.get("attempt").and_then(as_u64),
            error_status: status_field(value, "error_status"),
            error: string_field(value, "error"),
            retry_delay_ms: value.get("retry_delay_ms").and_then(as_u64),
            session_id,
        },
        ("rate_limit_event", _) => {
            let info = value.get("rate_limit_info").unwrap_or(&Value::Null);
            Event::RateLimit {
                info: RateLimitInfo {
                    status: info
                        .get("status")
                        .and_then(Value::as_str)
                        .and_then(RateLimitStatus::parse),
                    rate_limit_type: string_field(info, "rateLimitType"),
                    resets_at: info.get("resetsAt").and_then(as_i64),
                    utilization: info.get("utilization").and_then(as_f64),
                },
                session_id,
            }
        }
        ("assistant", _) => {
            let message = value.get("message").unwrap_or(&Value::Null);
            Event::Assistant {
                message_id: string_field(message, "id"),
                request_id: string_field(value, "request_id"),
                model: string_field(message, "model"),
                usage: message.get("usage").and_then(TokenCounts::from_value),
                error: string_field(value, "error"),
                text: content_text(message.get("content")),
                session_id,
            }
        }
        ("result", _) => {
            let text = match value.get("result").and_then(Value::as_str) {
                Some(text) => text.to_owned(),
                None => value
                    .get("errors")
                    .and_then(Value::as_array)
                    .map(|errors| {
                        errors
                            .iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join("\n")
                    })
                    .unwrap_or_default(),
            };
            let subtype = if subtype.is_empty() {
                "success"
            } else {
                subtype
            };
            Event::Result(ResultEvent {
                subtype: subtype.to_owned(),
                is_error: value
                    .get("is_error")
                    .and_then(Value::as_bool)
                    .unwrap_or(subtype != "success"),
                api_error_status: status_field(value, "api_error_status"),
                text,
                session_id,
                usage: value.get("usage").and_then(TokenCounts::from_value),
                cost_micros_usd: value
                    .get("total_cost_usd")
                    .and_then(as_f64)
                    .and_then(dollars_to_micros),
                model: main_model(value.get("modelUsage")),
                num_turns: value.get("num_turns").and_then(as_u64),
            })
        }
        _ => Event::Other {
            event_type: if subtype.is_empty() {
                event_type.to_owned()
            } else {
                format!("{event_type}/{subtype}")
            },
            session_id,
        },
    }
}

impl Event {
    /// The session id the line carries, if any.
    pub fn session_id(&self) -> Option<&str> {
        match self {
            Self::Init { session_id, .. }
            | Self::Assistant { session_id, .. }
            | Self::ApiRetry { session_id, .. }
            | Self::RateLimit { session_id, .. }
            | Self::Other { session_id, .. } => session_id.as_deref(),
            Self::Result(result) => result.session_id.as_deref(),
            Self::NotJson => None,
        }
    }

    /// The fact this line states about the subscription, for
    /// `kage_domain::signal::classify`. `last_error` is the `error` of the
    /// latest synthetic assistant message, which a failed `result` lacks.
    pub fn signal(&self, last_error: Option<&str>) -> Option<Signal> {
        match self {
            Self::RateLimit { info, .. } => Some(Signal::RateLimitEvent {
                status: info.status?,
                rate_limit_type: info.rate_limit_type.clone(),
                resets_at: info.resets_at,
                utilization: info.utilization,
            }),
            Self::ApiRetry {
                error_status,
                error,
                ..
            } => Some(Signal::ApiRetry {
                error_status: *error_status,
                error: error.clone(),
            }),
            Self::Assistant {
                error: Some(error),
                text,
                ..
            } => Some(Signal::ErrorResult {
                api_error_status: None,
                error: Some(error.clone()),
                text: text.clone(),
            }),
            Self::Result(result) if result.is_error => Some(Signal::ErrorResult {
                api_error_status: result.api_error_status,
                error: last_error.map(str::to_owned),
                text: result.text.clone(),
            }),
            _ => None,
        }
    }
}

/// One assistant message's usage, complete (a later line is another
/// message or no message), keyed as the transcript reader keys it
/// ([`kage_claude_code::message_key`]): record it as it comes.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct MessageTokens {
    pub key: String,
    pub usage: Usage,
}

/// The usage of one run of an agent, from what it printed so far.
#[derive(Clone, Debug, Default)]
pub struct UsageTally {
    /// Per assistant message id, the largest usage seen (a streamed
    /// message repeats its usage on every content block).
    by_message: HashMap<String, TokenCounts>,
    /// Messages without an id, each counted once.
    anonymous: TokenCounts,
    model: Option<String>,
    init_model: Option<String>,
    result: Option<(Option<TokenCounts>, Option<u64>, Option<String>)>,
    /// The message being streamed: its id, key and model.
    streaming: Option<(String, String, Option<String>)>,
    /// Complete messages not taken yet ([`Self::take_complete`]).
    complete: Vec<MessageTokens>,
}

impl UsageTally {
    pub fn observe(&mut self, event: &Event) {
        let same_message = match event {
            Event::Assistant {
                message_id: Some(id),
                ..
            } => self
                .streaming
                .as_ref()
                .is_some_and(|(streaming, _, _)| streaming == id),
            _ => false,
        };
        if !same_message {
            self.end_message();
        }
        match event {
            Event::Init {
                model: Some(model), ..
            } => self.init_model = Some(model.clone()),
            Event::Assistant {
                message_id,
                request_id,
                model,
                usage,
                ..
            } => {
                if model.as_deref() == Some(SYNTHETIC_MODEL) {
                    return;
                }
                if model.is_some() {
                    self.model.clone_from(model);
                }
                let Some(usage) = usage else { return };
                match message_id {
                    Some(id) => {
                        let known = self.by_message.contains_key(id);
                        let entry = self.by_message.entry(id.clone()).or_default();
                        *entry = entry.max(*usage);
                        if !known {
                            let key = kage_claude_code::message_key(id, request_id.as_deref());
                            self.streaming = Some((id.clone(), key, model.clone()));
                        }
                    }
                    None => self.anonymous = self.anonymous.add(*usage),
                }
            }
            Event::Result(result) => {
                self.result = Some((result.usage, result.cost_micros_usd, result.model.clone()));
            }
            _ => {}
        }
    }

    /// The message being streamed is complete.
    fn end_message(&mut self) {
        let Some((id, key, model)) = self.streaming.take() else {
            return;
        };
        let tokens = self.by_message.get(&id).copied().unwrap_or_default();
        self.complete.push(MessageTokens {
            key,
            usage: Usage {
                input_tokens: tokens.input_tokens,
                output_tokens: tokens.output_tokens,
                cache_write_tokens: tokens.cache_write_tokens,
                cache_read_tokens: tokens.cache_read_tokens,
                cost_micros_usd: None,
                model,
            },
        });
    }

    /// The messages complete since the last call; with `all`, the one being
    /// streamed too (the agent has ended).
    pub fn take_complete(&mut self, all: bool) -> Vec<MessageTokens> {
        if all {
            self.end_message();
        }
        std::mem::take(&mut self.complete)
    }

    /// Tokens seen in assistant messages.
    fn streamed(&self) -> TokenCounts {
        self.by_message
            .values()
            .fold(self.anonymous, |sum, usage| sum.add(*usage))
    }

    /// Tokens so far, for the screen.
    pub fn tokens(&self) -> u64 {
        match &self.result {
            Some((Some(usage), _, _)) => usage.total(),
            _ => self.streamed().total(),
        }
    }

    /// The usage to record: the result's when it came, else the assistant
    /// messages' (no cost: Claude Code prices only in the result).
    pub fn usage(&self) -> Usage {
        let streamed_model = self.model.clone().or_else(|| self.init_model.clone());
        let (tokens, cost, model) = match &self.result {
            Some((usage, cost, model)) => (
                usage.unwrap_or_else(|| self.streamed()),
                *cost,
                model.clone().or(streamed_model),
            ),
            None => (self.streamed(), None, streamed_model),
        };
        Usage {
            input_tokens: tokens.input_tokens,
            output_tokens: tokens.output_tokens,
            cache_write_tokens: tokens.cache_write_tokens,
            cache_read_tokens: tokens.cache_read_tokens,
            cost_micros_usd: cost,
            model,
        }
        .bounded()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Lines as `claude-code-signals.md` shows them, with its "…" filled in.
    const INIT: &str = r#"{"type":"system","subtype":"init","cwd":"/work","session_id":"5f0c6d3e-1d2b-4e4f-9a7a-0c1d2e3f4a5b","tools":["Bash"],"model":"claude-sonnet-4-5","permissionMode":"default","apiKeySource":"none","uuid":"u1"}"#;
    const API_RETRY_429: &str = r#"{"type":"system","subtype":"api_retry","attempt":1,"max_retries":10,"retry_delay_ms":2000,"error_status":429,"error":"rate_limit","session_id":"s-1","uuid":"u2"}"#;
    const API_RETRY_TIMEOUT: &str = r#"{"type":"system","subtype":"api_retry","attempt":3,"max_retries":10,"retry_delay_ms":2000,"error_status":null,"error":"unknown","session_id":"s-1","uuid":"u2"}"#;
    const REJECTED_SEVEN_DAY: &str = r#"{"type":"rate_limit_event","rate_limit_info":{"status":"rejected","resetsAt":1795729572,"rateLimitType":"seven_day","overageStatus":"rejected","overageDisabledReason":"org_level_disabled","isUsingOverage":false},"uuid":"u3","session_id":"s-1"}"#;
    const WARNING_FIVE_HOUR: &str = r#"{"type":"rate_limit_event","rate_limit_info":{"status":"allowed_warning","resetsAt":1795473975,"rateLimitType":"five_hour","utilization":0.91,"isUsingOverage":false,"surpassedThreshold":0.9},"uuid":"u4","session_id":"s-1"}"#;
    const MODEL_FALLBACK: &str = r#"{"type":"system","subtype":"model_fallback","trigger":"overloaded","original_model":"claude-opus-4","fallback_model":"claude-sonnet-4-5","content":"Switched","session_id":"s-1","uuid":"u5"}"#;
    const SYNTHETIC_429: &str = r#"{"type":"assistant","message":{"id":"m-syn","model":"<synthetic>","role":"assistant","content":[{"type":"text","text":"API Error: Request rejected (429) · rate limited"}],"usage":{"input_tokens":0,"output_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}},"session_id":"s-1","error":"rate_limit","request_id":"req_1"}"#;
    const RESULT_OK: &str = r#"{"type":"result","subtype":"success","is_error":false,"api_error_status":null,"duration_ms":2310,"num_turns":1,"result":"Done.","session_id":"s-1","total_cost_usd":0.0123,"usage":{"input_tokens":120,"cache_creation_input_tokens":300,"cache_read_input_tokens":4000,"output_tokens":80,"server_tool_use":{"web_search_requests":0}},"modelUsage":{"claude-sonnet-4-5":{"inputTokens":120,"outputTokens":80,"cacheReadInputTokens":4000,"cacheCreationInputTokens":300,"costUSD":0.012},"claude-haiku-4-5":{"inputTokens":50,"outputTokens":5,"cacheReadInputTokens":0,"cacheCreationInputTokens":0,"costUSD":0.0003}},"permission_denials":[],"uuid":"u6"}"#;
    const RESULT_429: &str = r#"{"type":"result","subtype":"success","is_error":true,"api_error_status":429,"duration_ms":180000,"num_turns":1,"result":"API Error: Request rejected (429) · rate limited","session_id":"s-1","total_cost_usd":0,"usage":{"input_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0}}"#;
    const RESULT_FIVE_HOUR: &str = r#"{"type":"result","subtype":"success","is_error":true,"api_error_status":429,"num_turns":1,"result":"You've hit your 5-hour limit · resets 10:52pm (UTC)","session_id":"s-1","total_cost_usd":0,"usage":{"input_tokens":0,"output_tokens":0}}"#;
    const RESULT_NO_SESSION: &str = r#"{"type":"result","subtype":"error_during_execution","is_error":true,"num_turns":0,"errors":["No conversation found with session ID: 0000"],"session_id":"s-2","total_cost_usd":0}"#;

    fn parse(line: &str) -> Event {
        parse_line(line)
    }

    #[test]
    fn init_gives_the_session_and_model() {
        assert_eq!(
            parse(INIT),
            Event::Init {
                session_id: Some("5f0c6d3e-1d2b-4e4f-9a7a-0c1d2e3f4a5b".into()),
                model: Some("claude-sonnet-4-5".into()),
            }
        );
    }

    #[test]
    fn api_retry_with_a_status_and_without() {
        assert_eq!(
            parse(API_RETRY_429),
            Event::ApiRetry {
                attempt: Some(1),
                error_status: Some(429),
                error: Some("rate_limit".into()),
                retry_delay_ms: Some(2000),
                session_id: Some("s-1".into()),
            }
        );
        let Event::ApiRetry { error_status, .. } = parse(API_RETRY_TIMEOUT) else {
            panic!("not an api_retry");
        };
        assert_eq!(error_status, None);
    }

    #[test]
    fn rate_limit_events_keep_status_type_reset_and_utilization() {
        let Event::RateLimit { info, .. } = parse(REJECTED_SEVEN_DAY) else {
            panic!("not a rate_limit_event");
        };
        assert_eq!(
            info,
            RateLimitInfo {
                status: Some(RateLimitStatus::Rejected),
                rate_limit_type: Some("seven_day".into()),
                resets_at: Some(1_795_729_572),
                utilization: None,
            }
        );
        let Event::RateLimit { info, .. } = parse(WARNING_FIVE_HOUR) else {
            panic!("not a rate_limit_event");
        };
        assert_eq!(info.status, Some(RateLimitStatus::AllowedWarning));
        assert_eq!(info.utilization, Some(0.91));
    }

    #[test]
    fn synthetic_message_carries_its_error_and_text() {
        let Event::Assistant {
            model, error, text, ..
        } = parse(SYNTHETIC_429)
        else {
            panic!("not an assistant message");
        };
        assert_eq!(model.as_deref(), Some(SYNTHETIC_MODEL));
        assert_eq!(error.as_deref(), Some("rate_limit"));
        assert!(text.starts_with("API Error: Request rejected (429)"));
    }

    #[test]
    fn result_gives_usage_cost_and_main_model() {
        let Event::Result(result) = parse(RESULT_OK) else {
            panic!("not a result");
        };
        assert!(!result.is_error);
        assert_eq!(result.subtype, "success");
        assert_eq!(result.session_id.as_deref(), Some("s-1"));
        assert_eq!(result.cost_micros_usd, Some(12_300));
        assert_eq!(result.model.as_deref(), Some("claude-sonnet-4-5"));
        assert_eq!(
            result.usage,
            Some(TokenCounts {
                input_tokens: 120,
                output_tokens: 80,
                cache_write_tokens: 300,
                cache_read_tokens: 4000,
            })
        );
    }

    #[test]
    fn failed_result_of_an_error_subtype_joins_its_errors() {
        let Event::Result(result) = parse(RESULT_NO_SESSION) else {
            panic!("not a result");
        };
        assert!(result.is_error);
        assert_eq!(result.subtype, "error_during_execution");
        assert_eq!(result.text, "No conversation found with session ID: 0000");
        assert_eq!(result.api_error_status, None);
    }

    #[test]
    fn tolerates_what_it_does_not_know() {
        assert_eq!(parse(""), Event::NotJson);
        assert_eq!(parse("Warning: something odd"), Event::NotJson);
        assert_eq!(parse("{not json"), Event::NotJson);
        assert_eq!(parse("[1,2]"), Event::NotJson);
        assert_eq!(
            parse(MODEL_FALLBACK),
            Event::Other {
                event_type: "system/model_fallback".into(),
                session_id: Some("s-1".into())
            }
        );
        assert_eq!(
            parse(r#"{"type":"brand_new","x":{"y":1}}"#),
            Event::Other {
                event_type: "brand_new".into(),
                session_id: None
            }
        );
        // Wrong types in known fields do not lose the event.
        let Event::ApiRetry {
            attempt,
            error_status,
            error,
            ..
        } = parse(
            r#"{"type":"system","subtype":"api_retry","attempt":"2","error_status":"529","error":7}"#,
        )
        else {
            panic!("not an api_retry");
        };
        assert_eq!((attempt, error_status, error), (Some(2), Some(529), None));
        let Event::Result(result) = parse(r#"{"type":"result","usage":"n/a","total_cost_usd":-1}"#)
        else {
            panic!("not a result");
        };
        assert_eq!((result.usage, result.cost_micros_usd), (None, None));
        assert!(!result.is_error);
    }

    #[test]
    fn signals_for_the_domain_classifier() {
        assert_eq!(
            parse(API_RETRY_429).signal(None),
            Some(Signal::ApiRetry {
                error_status: Some(429),
                error: Some("rate_limit".into())
            })
        );
        assert_eq!(
            parse(REJECTED_SEVEN_DAY).signal(None),
            Some(Signal::RateLimitEvent {
                status: RateLimitStatus::Rejected,
                rate_limit_type: Some("seven_day".into()),
                resets_at: Some(1_795_729_572),
                utilization: None,
            })
        );
        assert_eq!(
            parse(RESULT_429).signal(Some("rate_limit")),
            Some(Signal::ErrorResult {
                api_error_status: Some(429),
                error: Some("rate_limit".into()),
                text: "API Error: Request rejected (429) · rate limited".into(),
            })
        );
        assert!(matches!(
            parse(RESULT_FIVE_HOUR).signal(None),
            Some(Signal::ErrorResult { text, .. }) if text.contains("5-hour limit")
        ));
        assert_eq!(parse(RESULT_OK).signal(None), None);
        assert_eq!(parse(INIT).signal(None), None);
        assert_eq!(
            parse(r#"{"type":"rate_limit_event","rate_limit_info":{"status":"weird"}}"#)
                .signal(None),
            None
        );
    }

    fn assistant(id: &str, input: u64, output: u64) -> String {
        format!(
            r#"{{"type":"assistant","message":{{"id":"{id}","model":"claude-sonnet-4-5","role":"assistant","content":[{{"type":"text","text":"hi"}}],"usage":{{"input_tokens":{input},"output_tokens":{output},"cache_creation_input_tokens":10,"cache_read_input_tokens":100}}}},"session_id":"s-1"}}"#
        )
    }

    #[test]
    fn tally_without_a_result_sums_each_message_once() {
        let mut tally = UsageTally::default();
        for line in [
            INIT.to_owned(),
            assistant("m1", 5, 1),
            assistant("m1", 5, 40),
            assistant("m2", 7, 20),
            SYNTHETIC_429.to_owned(),
        ] {
            tally.observe(&parse(&line));
        }
        let usage = tally.usage();
        assert_eq!(usage.input_tokens, 12);
        assert_eq!(usage.output_tokens, 60);
        assert_eq!(usage.cache_write_tokens, 20);
        assert_eq!(usage.cache_read_tokens, 200);
        assert_eq!(usage.cost_micros_usd, None);
        assert_eq!(usage.model.as_deref(), Some("claude-sonnet-4-5"));
        assert_eq!(tally.tokens(), 292);
    }

    #[test]
    fn each_message_is_complete_once_with_the_transcript_key() {
        let with_request = |id: &str, output: u64| {
            assistant(id, 5, output).replace(
                r#","session_id":"s-1"}"#,
                &format!(r#","session_id":"s-1","request_id":"req_{id}"}}"#),
            )
        };
        let mut tally = UsageTally::default();
        tally.observe(&parse(INIT));
        tally.observe(&parse(&with_request("m1", 1)));
        tally.observe(&parse(&with_request("m1", 40)));
        assert!(tally.take_complete(false).is_empty(), "m1 may still grow");
        tally.observe(&parse(&with_request("m2", 20)));
        let complete = tally.take_complete(false);
        assert_eq!(complete.len(), 1);
        assert_eq!(
            complete[0].key,
            kage_claude_code::message_key("m1", Some("req_m1"))
        );
        assert_eq!(complete[0].key, "claude:m1:req_m1");
        assert_eq!(
            (
                complete[0].usage.input_tokens,
                complete[0].usage.output_tokens
            ),
            (5, 40)
        );
        assert_eq!(
            complete[0].usage.model.as_deref(),
            Some("claude-sonnet-4-5")
        );
        // A synthetic message ends m2 and is no message of its own; a
        // repeat of m1 (a replay) is not new.
        tally.observe(&parse(SYNTHETIC_429));
        tally.observe(&parse(&with_request("m1", 40)));
        let keys: Vec<String> = tally
            .take_complete(true)
            .into_iter()
            .map(|message| message.key)
            .collect();
        assert_eq!(keys, vec!["claude:m2:req_m2"]);
        assert!(tally.take_complete(true).is_empty());
    }

    #[test]
    fn absurd_token_counts_from_an_agent_are_refused() {
        let mut tally = UsageTally::default();
        for line in [
            assistant("m1", 5, 1),
            assistant("m2", 9_223_372_036_854_775_807, 1),
            assistant("m3", 1_000_000_000_001, 1),
        ] {
            tally.observe(&parse(&line));
        }
        let usage = tally.usage();
        assert_eq!((usage.input_tokens, usage.output_tokens), (5, 1));
        assert_eq!(usage.out_of_bounds(), None);
    }

    #[test]
    fn tally_prefers_the_result() {
        let mut tally = UsageTally::default();
        for line in [assistant("m1", 5, 1), RESULT_OK.to_owned()] {
            tally.observe(&parse(&line));
        }
        let usage = tally.usage();
        assert_eq!(
            (
                usage.input_tokens,
                usage.output_tokens,
                usage.cache_write_tokens,
                usage.cache_read_tokens
            ),
            (120, 80, 300, 4000)
        );
        assert_eq!(usage.cost_micros_usd, Some(12_300));
        assert_eq!(tally.tokens(), 4500);
    }

    #[test]
    fn dollars_round_to_micros() {
        assert_eq!(dollars_to_micros(0.0123), Some(12_300));
        assert_eq!(dollars_to_micros(1.0000005), Some(1_000_001));
        assert_eq!(dollars_to_micros(0.0), Some(0));
        assert_eq!(dollars_to_micros(-0.5), None);
        assert_eq!(dollars_to_micros(f64::NAN), None);
    }
}
