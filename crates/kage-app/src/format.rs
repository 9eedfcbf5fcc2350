//! Formatting numbers, money, states and times for people, the same in
//! `kage` and `kage-agent`. Pure: the apps print what these return.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use kage_domain::{StateKind, SubscriptionState};

/// `45230` → `45,230`.
pub fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Stored free text (a description, reason, holder, credential command)
/// made safe for a terminal: every control character is shown escaped
/// (`\u{1b}`), so text another writer stored cannot repaint the screen.
/// JSON output keeps the text exact.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The placeholder for "nothing here".
pub const NONE: &str = "—";

/// A token count, or `—` for none.
pub fn tokens(value: u64) -> String {
    if value == 0 {
        NONE.to_owned()
    } else {
        thousands(value)
    }
}

/// Millionths of a dollar as `$1.23` (`$0.0042` under a cent), `—` when unknown.
pub fn cost(micros: Option<u64>) -> String {
    match micros {
        None => NONE.to_owned(),
        Some(micros) => usd(micros),
    }
}

/// Millionths of a dollar as `$1.23`.
pub fn usd(micros: u64) -> String {
    let dollars = micros / 1_000_000;
    let rest = micros % 1_000_000;
    if micros > 0 && micros < 10_000 {
        format!("${dollars}.{:04}", rest / 100)
    } else {
        format!("${}.{:02}", thousands(dollars), rest / 10_000)
    }
}

/// Millionths of a dollar as a plain decimal (`1.234567`), for JSON and metrics.
pub fn usd_decimal(micros: u64) -> f64 {
    // Exact for any realistic amount (below 2^53 micro-dollars).
    #[allow(clippy::cast_precision_loss, reason = "amounts stay far below 2^53")]
    let value = micros as f64 / 1_000_000.0;
    value
}

/// The short state label of the status table (`rate_ltd`, as in the seed).
pub fn state_short(kind: StateKind) -> &'static str {
    match kind {
        StateKind::Active => "active",
        StateKind::RateLimited => "rate_ltd",
        StateKind::Exhausted => "exhausted",
        StateKind::Disabled => "disabled",
        StateKind::Unhealthy => "unhealthy",
    }
}

/// A state with its end and reason: `rate_limited until 14:05 (in 4m): …`.
pub fn state_long(state: &SubscriptionState, now: Timestamp, zone: &TimeZone) -> String {
    let mut text = state.kind().as_str().to_owned();
    if let Some(until) = state.until() {
        text.push_str(&format!(
            " until {} ({})",
            local_time(until, now, zone),
            relative(until, now)
        ));
    }
    if let Some(reason) = state.reason().filter(|reason| !reason.is_empty()) {
        text.push_str(": ");
        text.push_str(&printable(reason));
    }
    text
}

/// A time in the local zone: `14:05` today, `Tue 3 Jun 14:05` within a
/// week, else `2025-06-12 14:05`.
pub fn local_time(at: Timestamp, now: Timestamp, zone: &TimeZone) -> String {
    let at = at.to_zoned(zone.clone());
    let today = now.to_zoned(zone.clone()).date();
    let days = (at.date() - today).get_days();
    if at.date() == today {
        at.strftime("%H:%M").to_string()
    } else if (-6..=6).contains(&days) {
        at.strftime("%a %-d %b %H:%M").to_string()
    } else {
        at.strftime("%Y-%m-%d %H:%M").to_string()
    }
}

/// A full local date and time with the offset: `2025-06-02 14:05:00 +02:00`.
pub fn local_datetime(at: Timestamp, zone: &TimeZone) -> String {
    at.to_zoned(zone.clone())
        .strftime("%Y-%m-%d %H:%M:%S %:z")
        .to_string()
}

/// `in 4m 30s`, `2h 5m ago`, `now`.
pub fn relative(at: Timestamp, now: Timestamp) -> String {
    let span = at.duration_since(now);
    if span.is_zero() {
        return "now".to_owned();
    }
    let text = duration(span.abs());
    if span.is_positive() {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

/// A duration rounded for people: `45s`, `4m 30s`, `2h 5m`, `3d 4h`.
pub fn duration(span: SignedDuration) -> String {
    let seconds = span.as_secs().unsigned_abs();
    let (days, hours, minutes, secs) = (
        seconds / 86_400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    if days > 0 {
        if hours > 0 {
            format!("{days}d {hours}h")
        } else {
            format!("{days}d")
        }
    } else if hours > 0 {
        if minutes > 0 {
            format!("{hours}h {minutes}m")
        } else {
            format!("{hours}h")
        }
    } else if minutes > 0 {
        if secs > 0 {
            format!("{minutes}m {secs}s")
        } else {
            format!("{minutes}m")
        }
    } else {
        format!("{secs}s")
    }
}

/// How long something ran: tenths of a second under a minute (`12.3s`),
/// else as [`duration`] (`4m 30s`, `2h 5m`).
pub fn elapsed(span: std::time::Duration) -> String {
    if span.as_secs() < 60 {
        format!("{:.1}s", span.as_secs_f64())
    } else {
        duration(SignedDuration::try_from(span).unwrap_or(SignedDuration::MAX))
    }
}

/// A path (or `path:line:col`) with the home directory shown as `~`, for
/// tables; commands meant for scripts print paths whole.
pub fn home_relative(text: &str) -> String {
    let Some(home) = std::env::var_os("HOME").and_then(|home| home.into_string().ok()) else {
        return text.to_owned();
    };
    let home = home.trim_end_matches('/');
    match text.strip_prefix(home) {
        Some(rest) if !home.is_empty() && (rest.is_empty() || rest.starts_with('/')) => {
            format!("~{rest}")
        }
        _ => text.to_owned(),
    }
}

/// `a, b, c`, or `—` when empty.
pub fn list<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    let text = items
        .into_iter()
        .map(|item| item.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    if text.is_empty() {
        NONE.to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_by_three() {
        let cases = [
            (0, "0"),
            (7, "7"),
            (999, "999"),
            (1000, "1,000"),
            (45_230, "45,230"),
            (1_234_567, "1,234,567"),
        ];
        for (value, expected) in cases {
            assert_eq!(thousands(value), expected, "{value}");
        }
    }

    #[test]
    fn usd_shows_cents_and_fractions_of_a_cent() {
        let cases = [
            (0, "$0.00"),
            (4_200, "$0.0042"),
            (10_000, "$0.01"),
            (1_234_567, "$1.23"),
            (1_500_000_000, "$1,500.00"),
        ];
        for (micros, expected) in cases {
            assert_eq!(usd(micros), expected, "{micros}");
        }
    }

    #[test]
    fn durations_round_for_people() {
        let cases = [
            (0, "0s"),
            (45, "45s"),
            (270, "4m 30s"),
            (300, "5m"),
            (7_500, "2h 5m"),
            (3 * 86_400 + 4 * 3600 + 59, "3d 4h"),
        ];
        for (seconds, expected) in cases {
            assert_eq!(duration(SignedDuration::from_secs(seconds)), expected);
        }
    }

    #[test]
    fn elapsed_times_show_tenths_under_a_minute() {
        use std::time::Duration;
        assert_eq!(elapsed(Duration::from_millis(12_340)), "12.3s");
        assert_eq!(elapsed(Duration::from_millis(0)), "0.0s");
        assert_eq!(elapsed(Duration::from_secs(270)), "4m 30s");
        assert_eq!(elapsed(Duration::from_secs(7_500)), "2h 5m");
    }

    #[test]
    fn relative_times_say_in_or_ago() {
        let now: Timestamp = "2025-06-02T12:00:00Z".parse().unwrap();
        let later: Timestamp = "2025-06-02T12:04:30Z".parse().unwrap();
        assert_eq!(relative(later, now), "in 4m 30s");
        assert_eq!(relative(now, later), "4m 30s ago");
        assert_eq!(relative(now, now), "now");
    }

    #[test]
    fn local_time_is_short_today_and_dated_otherwise() {
        let zone = TimeZone::get("Europe/Berlin").unwrap();
        let now: Timestamp = "2025-06-02T10:00:00Z".parse().unwrap();
        let today: Timestamp = "2025-06-02T12:05:00Z".parse().unwrap();
        let tomorrow: Timestamp = "2025-06-03T07:00:00Z".parse().unwrap();
        let later: Timestamp = "2025-07-01T07:00:00Z".parse().unwrap();
        assert_eq!(local_time(today, now, &zone), "14:05");
        assert_eq!(local_time(tomorrow, now, &zone), "Tue 3 Jun 09:00");
        assert_eq!(local_time(later, now, &zone), "2025-07-01 09:00");
    }
}
