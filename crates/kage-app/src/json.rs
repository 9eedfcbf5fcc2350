//! The JSON shapes both apps print: one pretty-printed document for a
//! result ([`document`]: every `kage --json`, `kage-agent worktrees
//! --json`), the JSON Lines envelope `{"type": …, "data": …}` (ripgrep's
//! shape) for streams (`kage-agent run --json`), and the records `kage` and
//! `kage-agent` share (a subscription's state, usage).
//!
//! Times are RFC 3339 in UTC; money is US dollars as a number; token counts
//! are integers.

use jiff::Timestamp;
use kage_domain::{SubscriptionState, Usage};
use serde::Serialize;

use crate::format::usd_decimal;

#[derive(Serialize)]
struct Envelope<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'a str,
    data: &'a T,
}

/// One JSON document (pretty-printed: an object, or an array for lists),
/// with its final newline: what `jq .` and `json.load` read whole.
pub fn document<T: Serialize + ?Sized>(data: &T) -> String {
    let mut text = serde_json::to_string_pretty(data)
        .unwrap_or_else(|error| format!(r#"{{"error":{:?}}}"#, error.to_string()));
    text.push('\n');
    text
}

/// One JSON Lines record, with its newline.
pub fn record<T: Serialize>(kind: &str, data: &T) -> String {
    let mut line = serde_json::to_string(&Envelope { kind, data })
        .unwrap_or_else(|error| format!(r#"{{"type":"error","data":{{"message":"{error}"}}}}"#));
    line.push('\n');
    line
}

/// One envelope as a JSON value (for tests and callers that inspect it;
/// print with [`record`], which keeps `type` first).
pub fn envelope<T: Serialize>(kind: &str, data: &T) -> serde_json::Value {
    serde_json::to_value(Envelope { kind, data }).unwrap_or_else(
        |error| serde_json::json!({"type": "error", "data": {"message": error.to_string()}}),
    )
}

/// A time as JSON shows it: RFC 3339 in UTC.
pub fn time(at: Timestamp) -> String {
    at.to_string()
}

/// A subscription's state: `{"state": "rate_limited", "until": …, "reason": …}`.
#[derive(Serialize)]
pub struct StateJson {
    pub state: &'static str,
    pub until: Option<String>,
    pub reason: Option<String>,
}

impl StateJson {
    pub fn new(state: &SubscriptionState) -> Self {
        Self {
            state: state.kind().as_str(),
            until: state.until().map(time),
            reason: state.reason().map(str::to_owned),
        }
    }
}

/// Tokens by kind, their total, the cost in US dollars when known, and the
/// model when the agent reported one.
#[derive(Serialize)]
pub struct UsageJson {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_write_tokens: u64,
    pub cache_read_tokens: u64,
    pub total_tokens: u64,
    pub cost_usd: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

impl UsageJson {
    pub fn new(usage: &Usage) -> Self {
        Self {
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            cache_write_tokens: usage.cache_write_tokens,
            cache_read_tokens: usage.cache_read_tokens,
            total_tokens: usage.total_tokens(),
            cost_usd: usage.cost_micros_usd.map(usd_decimal),
            model: usage.model.clone(),
        }
    }

    /// As a JSON value, for apps that build their records with `json!`.
    pub fn value(usage: &Usage) -> serde_json::Value {
        serde_json::to_value(Self::new(usage)).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn records_are_envelopes_on_one_line() {
        let line = record("warning", &json!({"text": "w"}));
        assert_eq!(line, "{\"type\":\"warning\",\"data\":{\"text\":\"w\"}}\n");
        assert_eq!(
            envelope("warning", &json!({"text": "w"})),
            json!({"type": "warning", "data": {"text": "w"}})
        );
    }

    #[test]
    fn usage_has_totals_dollars_and_the_model_when_known() {
        let usage = Usage {
            input_tokens: 1000,
            output_tokens: 200,
            cost_micros_usd: Some(1_500_000),
            ..Usage::default()
        };
        let value = UsageJson::value(&usage);
        assert_eq!(value["total_tokens"], 1200);
        assert_eq!(value["cost_usd"], 1.5);
        assert!(value.get("model").is_none());
        let value = UsageJson::value(&Usage {
            model: Some("claude-sonnet-4-5".into()),
            ..usage
        });
        assert_eq!(value["model"], "claude-sonnet-4-5");
    }
}

/// A quota alert: `{"subscription": "work", "window": "five_hour",
/// "threshold": 0.8, "utilization": 0.83, "resets_at": …, "at": …}`; the
/// `data` of a `{"type": "quota_alert"}` record, and what `notify_command`
/// reads on stdin.
#[derive(Serialize)]
pub struct QuotaAlertJson {
    pub subscription: String,
    pub window: String,
    pub threshold: f64,
    pub utilization: f64,
    pub resets_at: Option<String>,
    pub at: String,
    /// One line for people: `work passed 80% of its 5-hour quota (83% used)`.
    pub message: String,
}

impl QuotaAlertJson {
    pub fn new(alert: &kage_domain::QuotaAlert) -> Self {
        Self {
            subscription: alert.subscription_name.to_string(),
            window: alert.window.clone(),
            threshold: alert.threshold(),
            utilization: alert.utilization,
            resets_at: alert.resets_at.map(time),
            at: time(alert.at),
            message: alert.to_string(),
        }
    }
}
