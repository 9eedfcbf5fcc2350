//! The JSON Claude Code writes to a status-line command's stdin, reduced to
//! what Kage uses: the session, and the subscription's live quota
//! (`rate_limits.five_hour` / `seven_day`, `used_percentage` 0–100 and
//! `resets_at` as epoch seconds or an ISO-8601 time). The first call of a
//! session, before any response, has no `rate_limits`; a window may be
//! missing too. See `docs/signals.md`.

use jiff::Timestamp;
use kage_domain::reset_text::epoch_to_timestamp;
use serde_json::Value;

/// One rate-limit window as the status line reports it.
#[derive(Clone, PartialEq, Debug)]
pub(crate) struct QuotaWindow {
    /// 0–100 (may exceed 100 past the limit).
    pub(crate) used_percentage: f64,
    pub(crate) resets_at: Option<Timestamp>,
}

impl QuotaWindow {
    /// Used share as 0–1, what `Outcome::ApproachingLimit` carries.
    pub(crate) fn utilization(&self) -> f64 {
        self.used_percentage / 100.0
    }

    /// The window is spent: the next request will be refused.
    pub(crate) fn is_spent(&self) -> bool {
        self.used_percentage >= 100.0
    }
}

/// What Kage reads from one status-line call.
#[derive(Clone, PartialEq, Debug, Default)]
pub(crate) struct StatusInput {
    pub(crate) session_id: Option<String>,
    pub(crate) five_hour: Option<QuotaWindow>,
    pub(crate) seven_day: Option<QuotaWindow>,
}

impl StatusInput {
    /// Parse the status-line JSON. Fields Kage does not know are ignored;
    /// a field of the wrong shape counts as missing.
    ///
    /// # Errors
    /// When the text is not a JSON object.
    pub(crate) fn parse(text: &str) -> Result<Self, serde_json::Error> {
        let value: Value = serde_json::from_str(text)?;
        if !value.is_object() {
            return Err(serde::de::Error::custom(
                "the status line input is not a JSON object",
            ));
        }
        let limits = value.get("rate_limits");
        let window = |name: &str| {
            limits
                .and_then(|limits| limits.get(name))
                .and_then(parse_window)
        };
        Ok(Self {
            session_id: value
                .get("session_id")
                .and_then(Value::as_str)
                .map(str::to_owned),
            five_hour: window("five_hour"),
            seven_day: window("seven_day"),
        })
    }

    /// Every window the input has, as quota readings for alerts.
    pub(crate) fn readings(&self) -> Vec<kage_domain::alert::AlertReading> {
        [
            ("five_hour", &self.five_hour),
            ("seven_day", &self.seven_day),
        ]
        .into_iter()
        .filter_map(|(name, window)| {
            let window = window.as_ref()?;
            Some(kage_domain::alert::AlertReading {
                window: name.to_owned(),
                utilization: window.utilization(),
                resets_at: window.resets_at,
            })
        })
        .collect()
    }

    /// The window nearest its limit (the one that binds), if any.
    pub(crate) fn binding_window(&self) -> Option<(&'static str, &QuotaWindow)> {
        let five = self.five_hour.as_ref().map(|window| ("five_hour", window));
        let seven = self.seven_day.as_ref().map(|window| ("seven_day", window));
        match (five, seven) {
            (Some(a), Some(b)) => Some(if b.1.used_percentage > a.1.used_percentage {
                b
            } else {
                a
            }),
            (a, b) => a.or(b),
        }
    }
}

fn parse_window(value: &Value) -> Option<QuotaWindow> {
    let used_percentage = number(value.get("used_percentage")?)?;
    if !used_percentage.is_finite() || used_percentage < 0.0 {
        return None;
    }
    Some(QuotaWindow {
        used_percentage,
        resets_at: value.get("resets_at").and_then(parse_instant),
    })
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

/// Epoch seconds (milliseconds above 1e12), as a number or digits in a
/// string, or an ISO-8601 / RFC 3339 time.
fn parse_instant(value: &Value) -> Option<Timestamp> {
    match value {
        Value::Number(number) => {
            #[allow(
                clippy::cast_possible_truncation,
                reason = "epoch seconds with a fraction are cut to the second"
            )]
            let seconds = number
                .as_i64()
                .or_else(|| number.as_f64().map(|value| value as i64))?;
            epoch_to_timestamp(seconds)
        }
        Value::String(text) => {
            let text = text.trim();
            if let Ok(seconds) = text.parse::<i64>() {
                return epoch_to_timestamp(seconds);
            }
            text.parse::<Timestamp>().ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("../../tests/fixtures/statusline-input-2.1.197.json");

    #[test]
    fn the_sample_gives_the_five_hour_window() {
        let input = StatusInput::parse(SAMPLE).expect("the sample parses");
        assert_eq!(
            input.session_id.as_deref(),
            Some("c35c102e-2f6a-4729-b852-e6bb1986d38d")
        );
        let five = input.five_hour.clone().expect("a 5-hour window");
        assert!((five.used_percentage - 12.0).abs() < f64::EPSILON);
        assert_eq!(five.resets_at, Timestamp::from_second(1_796_513_551).ok());
        assert_eq!(input.seven_day, None);
        assert_eq!(
            input.binding_window().map(|(name, _)| name),
            Some("five_hour")
        );
    }

    #[test]
    fn iso_and_epoch_reset_times_are_read() {
        let input = StatusInput::parse(
            r#"{"rate_limits":{
                "five_hour":{"used_percentage":42.4,"resets_at":"2026-12-06T03:04:00Z"},
                "seven_day":{"used_percentage":"18","resets_at":1796513525000}}}"#,
        )
        .expect("parses");
        let five = input.five_hour.clone().expect("5-hour");
        assert_eq!(five.resets_at, "2026-12-06T03:04:00Z".parse().ok());
        assert!((five.utilization() - 0.424).abs() < 1e-9);
        let seven = input.seven_day.clone().expect("7-day");
        assert!((seven.used_percentage - 18.0).abs() < f64::EPSILON);
        assert_eq!(seven.resets_at, Timestamp::from_second(1_796_513_525).ok());
        assert_eq!(
            input.binding_window().map(|(name, _)| name),
            Some("five_hour")
        );
        let offset = StatusInput::parse(
            r#"{"rate_limits":{"seven_day":{"used_percentage":100,"resets_at":"2026-12-06T03:04:00+01:00"}}}"#,
        )
        .expect("parses");
        let seven = offset.seven_day.expect("7-day");
        assert!(seven.is_spent());
        assert_eq!(seven.resets_at, "2026-12-06T02:04:00Z".parse().ok());
    }

    #[test]
    fn missing_and_malformed_fields_count_as_absent() {
        let first_call =
            StatusInput::parse(r#"{"session_id":"s","model":{"id":"m"}}"#).expect("parses");
        assert_eq!(first_call.five_hour, None);
        assert_eq!(first_call.binding_window(), None);
        let odd = StatusInput::parse(
            r#"{"rate_limits":{"five_hour":{"resets_at":1796513525},
                "seven_day":{"used_percentage":7,"resets_at":"soon"}}}"#,
        )
        .expect("parses");
        assert_eq!(odd.five_hour, None);
        let seven = odd.seven_day.expect("7-day without a reset time");
        assert_eq!(seven.resets_at, None);
        assert!(StatusInput::parse("not json").is_err());
        assert!(StatusInput::parse("[1,2]").is_err());
        assert!(StatusInput::parse(r#"{"rate_limits":null}"#).is_ok());
    }
}
