//! Reset times in the texts Claude Code prints when a window limit is hit.
//!
//! The forms (see `claude-code-signals.md`):
//! - `Claude AI usage limit reached|1795729572` (epoch seconds; milliseconds
//!   when above 1e12)
//! - `You've hit your 5-hour limit · resets 10:52pm (UTC)`
//! - `You've hit your weekly limit · resets Nov 26, 9:46pm (UTC)`
//! - `5-hour limit reached ∙ resets 3pm`, `Weekly limit reached ∙ resets Oct 9, 5pm`
//! - `You've hit your limit · resets 4:20am (Europe/Warsaw) · progress saved`
//!
//! A clock time without a date that has already passed today means tomorrow;
//! a month and day already passed this year mean next year. Without a zone
//! in parentheses, the caller's local zone applies.

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

/// Whether a text is one of Claude Code's window-limit messages.
pub fn is_window_limit_text(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    if lower.contains("not your usage limit") {
        return false;
    }
    lower.contains("usage limit reached")
        || lower.contains("limit reached ∙")
        || lower.contains("limit reached ·")
        || (lower.contains("hit your") && lower.contains("limit"))
        || (lower.contains("reached your") && lower.contains("limit"))
}

/// The reset time a window-limit text announces, if it carries one that
/// parses. `local` is the zone for times given without one.
pub fn parse_reset_time(text: &str, now: Timestamp, local: &TimeZone) -> Option<Timestamp> {
    if let Some(epoch) = parse_pipe_epoch(text) {
        return Some(epoch);
    }
    let start = text.find("resets ")? + "resets ".len();
    parse_clock_phrase(&text[start..], now, local)
}

/// `…limit reached|1795729572` → that instant.
fn parse_pipe_epoch(text: &str) -> Option<Timestamp> {
    let (_, after) = text.split_once('|')?;
    let digits: String = after
        .trim()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let value: i64 = digits.parse().ok()?;
    epoch_to_timestamp(value)
}

/// Epoch seconds, or milliseconds when the value is above 1e12.
pub fn epoch_to_timestamp(value: i64) -> Option<Timestamp> {
    if value > 1_000_000_000_000 {
        Timestamp::from_millisecond(value).ok()
    } else {
        Timestamp::from_second(value).ok()
    }
}

/// `[Mon D, ]H[:MM](am|pm)[ (Zone)]…`
fn parse_clock_phrase(phrase: &str, now: Timestamp, local: &TimeZone) -> Option<Timestamp> {
    let phrase = phrase.trim_start();
    let (month_day, rest) = parse_month_day(phrase);
    let (time, rest) = parse_clock(rest)?;
    let zone = parse_zone(rest).unwrap_or_else(|| local.clone());

    let now_zoned = now.to_zoned(zone.clone());
    let today = now_zoned.date();
    let candidate = |date: Date| -> Option<Timestamp> {
        DateTime::from_parts(date, time)
            .to_zoned(zone.clone())
            .ok()
            .map(|z| z.timestamp())
    };
    match month_day {
        Some((month, day)) => {
            let this_year = Date::new(today.year(), month, day).ok()?;
            let at = candidate(this_year)?;
            if at > now {
                Some(at)
            } else {
                candidate(Date::new(today.year() + 1, month, day).ok()?)
            }
        }
        None => {
            let at = candidate(today)?;
            if at > now {
                Some(at)
            } else {
                candidate(today.checked_add(1.day()).ok()?)
            }
        }
    }
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// `Nov 26, ` → (11, 26) and the rest; otherwise nothing and the input.
fn parse_month_day(phrase: &str) -> (Option<(i8, i8)>, &str) {
    let Some((word, rest)) = phrase.split_once(' ') else {
        return (None, phrase);
    };
    let lower = word.to_ascii_lowercase();
    let Some(month) = MONTHS.iter().position(|m| lower.starts_with(m)) else {
        return (None, phrase);
    };
    let rest = rest.trim_start();
    let digits_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let Ok(day) = rest[..digits_end].parse::<i8>() else {
        return (None, phrase);
    };
    let rest = rest[digits_end..].trim_start_matches(',').trim_start();
    (Some((month as i8 + 1, day)), rest)
}

/// `10:44pm`, `3pm`, `12:30am`, `17:05` → the time and the rest.
fn parse_clock(phrase: &str) -> Option<(Time, &str)> {
    let end = phrase
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == ':'))
        .unwrap_or(phrase.len());
    let token = phrase[..end].to_ascii_lowercase();
    let rest = &phrase[end..];
    let (clock, meridiem) = if let Some(clock) = token.strip_suffix("am") {
        (clock, Some(false))
    } else if let Some(clock) = token.strip_suffix("pm") {
        (clock, Some(true))
    } else {
        (token.as_str(), None)
    };
    let (hour, minute) = match clock.split_once(':') {
        Some((hour, minute)) => (hour.parse::<i8>().ok()?, minute.parse::<i8>().ok()?),
        None => (clock.parse::<i8>().ok()?, 0),
    };
    let hour = match meridiem {
        Some(pm) => {
            if !(1..=12).contains(&hour) {
                return None;
            }
            (hour % 12) + if pm { 12 } else { 0 }
        }
        None => hour,
    };
    Some((Time::new(hour, minute, 0, 0).ok()?, rest))
}

/// ` (UTC)` or ` (Europe/Warsaw)` right after the time.
fn parse_zone(rest: &str) -> Option<TimeZone> {
    let rest = rest.trim_start().strip_prefix('(')?;
    let name = &rest[..rest.find(')')?];
    if name.eq_ignore_ascii_case("utc") {
        return Some(TimeZone::UTC);
    }
    TimeZone::get(name).ok()
}

/// 00:00 UTC on the first day of the month after `now`: when a monthly API
/// spend cap lifts.
pub fn first_of_next_month_utc(now: Timestamp) -> Timestamp {
    let today = now.to_zoned(TimeZone::UTC).date();
    let first = today.first_of_month();
    let next = first.checked_add(1.month()).unwrap_or(first);
    next.to_zoned(TimeZone::UTC)
        .map(|z| z.timestamp())
        .unwrap_or(now)
}
