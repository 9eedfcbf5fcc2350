//! Parsing the values people type: durations, points in time, usage lists
//! and money. Each parser returns a message clap shows on a bad value, so
//! both apps accept the same spellings.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use kage_domain::Usage;

/// A lease TTL flag (`90s`, `5m`, `1h 30m`): bounded like the config's
/// `lease_ttl`, 3s to 365d.
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
    kage_config::parse_bounded_duration(text, kage_domain::MIN_LEASE_TTL)
}

/// A wait flag: 0s to 365d, like the config's `max_wait`.
pub fn parse_wait(text: &str) -> Result<Duration, String> {
    kage_config::parse_bounded_duration(text, Duration::ZERO)
}

/// A point in time as typed: an RFC 3339 time, Unix seconds, or a
/// duration from now (`5m`, `in 5m`, `+5m`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    At(Timestamp),
    After(Duration),
}

impl When {
    pub fn resolve(self, now: Timestamp) -> Timestamp {
        match self {
            Self::At(at) => at,
            Self::After(duration) => now
                .checked_add(SignedDuration::try_from(duration).unwrap_or(SignedDuration::MAX))
                .unwrap_or(Timestamp::MAX),
        }
    }
}

pub fn parse_when(text: &str) -> Result<When, String> {
    let text = text.trim();
    if let Ok(at) = text.parse::<Timestamp>() {
        return Ok(When::At(at));
    }
    if let Ok(seconds) = text.parse::<i64>() {
        return Timestamp::from_second(seconds)
            .map(When::At)
            .map_err(|error| format!("{seconds} is not a valid Unix time: {error}"));
    }
    let relative = text
        .strip_prefix("in ")
        .or_else(|| text.strip_prefix('+'))
        .unwrap_or(text);
    humantime::parse_duration(relative.trim())
        .map_err(|_| ())
        .and_then(|duration| {
            if duration > kage_domain::MAX_DURATION {
                Err(())
            } else {
                Ok(When::After(duration))
            }
        })
        .map_err(|()| {
            "write an RFC 3339 time (2025-06-02T15:00:00Z), Unix seconds (1748876400) or a duration from now (5m)".to_owned()
        })
}

/// `input=1200,output=340,cache-write=0,cache-read=5000`.
pub fn parse_usage(text: &str) -> Result<Usage, String> {
    let mut usage = Usage::default();
    for pair in text
        .split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
    {
        let (key, value) = pair.split_once('=').ok_or_else(|| {
            format!("`{pair}` is not KIND=N; write input=N,output=N,cache-write=N,cache-read=N")
        })?;
        let count: u64 = value
            .trim()
            .replace('_', "")
            .parse()
            .map_err(|_| format!("`{value}` is not a whole number of tokens"))?;
        let slot = match key.trim() {
            "input" => &mut usage.input_tokens,
            "output" => &mut usage.output_tokens,
            "cache-write" | "cache_write" | "cache-creation" => &mut usage.cache_write_tokens,
            "cache-read" | "cache_read" => &mut usage.cache_read_tokens,
            other => {
                return Err(format!(
                    "unknown token kind `{other}`; use input, output, cache-write or cache-read"
                ));
            }
        };
        *slot = slot.saturating_add(count);
    }
    if let Some((kind, count)) = usage.out_of_bounds() {
        return Err(too_large(&format!("{count} {kind} tokens")));
    }
    Ok(usage)
}

fn too_large(what: &str) -> String {
    format!(
        "{what} is more than one release can report (at most {} per kind); check the number",
        kage_domain::MAX_PER_RECORD
    )
}

/// `0.42` US dollars → 420000 millionths.
pub fn parse_cost(text: &str) -> Result<u64, String> {
    let text = text.trim().trim_start_matches('$');
    let invalid = || format!("`{text}` is not an amount of US dollars such as 0.42");
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 6 || (whole.is_empty() && fraction.is_empty()) {
        return Err(invalid());
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| invalid())?
    };
    let fraction: u64 = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<6}").parse().map_err(|_| invalid())?
    };
    let micros = whole
        .checked_mul(1_000_000)
        .and_then(|micros| micros.checked_add(fraction))
        .ok_or_else(invalid)?;
    if micros > kage_domain::MAX_PER_RECORD {
        return Err(too_large(&format!("${text}")));
    }
    Ok(micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_accepts_times_epochs_and_durations() {
        let now: Timestamp = "2025-06-02T12:00:00Z".parse().unwrap();
        let cases = [
            ("2025-06-02T15:00:00Z", "2025-06-02T15:00:00Z"),
            ("1748876400", "2025-06-02T15:00:00Z"),
            ("5m", "2025-06-02T12:05:00Z"),
            ("in 1h", "2025-06-02T13:00:00Z"),
            ("+90s", "2025-06-02T12:01:30Z"),
        ];
        for (text, expected) in cases {
            let at = parse_when(text).unwrap().resolve(now);
            assert_eq!(at.to_string(), expected, "{text}");
        }
        assert!(parse_when("tomorrow-ish").is_err());
    }

    #[test]
    fn usage_lists_add_up_by_kind() {
        let usage = parse_usage("input=1200, output=340,cache-write=10,cache-read=5_000").unwrap();
        assert_eq!(
            (
                usage.input_tokens,
                usage.output_tokens,
                usage.cache_write_tokens,
                usage.cache_read_tokens
            ),
            (1200, 340, 10, 5000)
        );
        assert!(parse_usage("input=many").is_err());
        assert!(
            parse_usage("inputs=3")
                .unwrap_err()
                .contains("unknown token kind")
        );
        assert!(parse_usage("input").is_err());
    }

    #[test]
    fn costs_become_micro_dollars() {
        assert_eq!(parse_cost("0.42"), Ok(420_000));
        assert_eq!(parse_cost("$1.5"), Ok(1_500_000));
        assert_eq!(parse_cost("3"), Ok(3_000_000));
        assert_eq!(parse_cost(".000001"), Ok(1));
        assert!(parse_cost("0.0000001").is_err());
        assert!(parse_cost("abc").is_err());
    }
}
