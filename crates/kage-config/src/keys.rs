//! The scalar config keys: their names, environment variables, and how a
//! value for each is checked.
//!
//! File values arrive typed from TOML; environment and flag values arrive as
//! strings and are parsed first. Both then go through the same checks, so a
//! value is refused the same way wherever it comes from.

use std::path::PathBuf;
use std::time::Duration;

use kage_domain::{AlertThresholds, Strategy};

use crate::{DatabaseUrl, Isolation};

/// Every scalar key, in the order `config show --resolved` lists them.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub(crate) enum Key {
    DefaultPriority,
    RateLimitWindow,
    RateLimitCooldown,
    ExhaustedCooldown,
    UnhealthyThreshold,
    ApproachingThreshold,
    UsageWindow,
    LeaseTtl,
    AlertThresholds,
    NotifyCommand,
    NotifyTimeout,
    DatabaseUrl,
    DatabasePath,
    Command,
    MaxApiRetries,
    MaxWait,
    Parallel,
    Isolation,
}

/// What kind of value a key holds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Strategy,
    /// A humantime duration from `min` to `max`.
    Duration {
        min: Duration,
        max: Duration,
    },
    /// A whole number in the range.
    Count {
        min: u32,
        max: u32,
    },
    Fraction,
    Url,
    Path,
    Command,
    Isolation,
    /// Shares of a quota window, each above 0 and at most 1.
    Thresholds,
    /// A program and its arguments, or nothing.
    OptionalCommand,
}

/// A checked value, ready to be stored.
#[derive(Clone, PartialEq, Debug)]
pub(crate) enum Value {
    Strategy(Strategy),
    Duration(Duration),
    Count(u32),
    Fraction(f64),
    Url(DatabaseUrl),
    Path(PathBuf),
    Command(Vec<String>),
    Isolation(Isolation),
    Thresholds(AlertThresholds),
}

/// The longest duration any key accepts, so that adding it to a timestamp
/// can never overflow.
use kage_domain::MAX_DURATION;

/// The longest `usage_window`: the store keeps recent usage in buckets that
/// hold one day.
const MAX_USAGE_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

impl Key {
    pub(crate) const ALL: [Key; 18] = [
        Self::DefaultPriority,
        Self::RateLimitWindow,
        Self::RateLimitCooldown,
        Self::ExhaustedCooldown,
        Self::UnhealthyThreshold,
        Self::ApproachingThreshold,
        Self::UsageWindow,
        Self::LeaseTtl,
        Self::AlertThresholds,
        Self::NotifyCommand,
        Self::NotifyTimeout,
        Self::DatabaseUrl,
        Self::DatabasePath,
        Self::Command,
        Self::MaxApiRetries,
        Self::MaxWait,
        Self::Parallel,
        Self::Isolation,
    ];

    pub(crate) fn section(self) -> &'static str {
        match self {
            Self::DefaultPriority
            | Self::RateLimitWindow
            | Self::RateLimitCooldown
            | Self::ExhaustedCooldown
            | Self::UnhealthyThreshold
            | Self::ApproachingThreshold
            | Self::UsageWindow
            | Self::LeaseTtl
            | Self::AlertThresholds
            | Self::NotifyCommand
            | Self::NotifyTimeout => "subscriptions",
            Self::DatabaseUrl | Self::DatabasePath => "storage",
            Self::Command
            | Self::MaxApiRetries
            | Self::MaxWait
            | Self::Parallel
            | Self::Isolation => "agent",
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::DefaultPriority => "default_priority",
            Self::RateLimitWindow => "rate_limit_window",
            Self::RateLimitCooldown => "rate_limit_cooldown",
            Self::ExhaustedCooldown => "exhausted_cooldown",
            Self::UnhealthyThreshold => "unhealthy_threshold",
            Self::ApproachingThreshold => "approaching_threshold",
            Self::UsageWindow => "usage_window",
            Self::LeaseTtl => "lease_ttl",
            Self::AlertThresholds => "alert_thresholds",
            Self::NotifyCommand => "notify_command",
            Self::NotifyTimeout => "notify_timeout",
            Self::DatabaseUrl => "database_url",
            Self::DatabasePath => "database_path",
            Self::Command => "command",
            Self::MaxApiRetries => "max_api_retries",
            Self::MaxWait => "max_wait",
            Self::Parallel => "parallel",
            Self::Isolation => "isolation",
        }
    }

    /// `subscriptions.rate_limit_window`.
    pub(crate) fn path(self) -> String {
        format!("{}.{}", self.section(), self.name())
    }

    pub(crate) fn from_path(path: &str) -> Option<Key> {
        Self::ALL.into_iter().find(|key| key.path() == path)
    }

    /// `KAGE_SUBSCRIPTIONS__RATE_LIMIT_WINDOW`.
    pub(crate) fn env_var(self) -> String {
        format!("KAGE_{}__{}", self.section(), self.name()).to_ascii_uppercase()
    }

    /// The short variable that also sets this key, and wins over
    /// [`Key::env_var`] when both are set.
    pub(crate) fn alias_var(self) -> Option<&'static str> {
        match self {
            Self::DatabaseUrl => Some("KAGE_DATABASE_URL"),
            Self::DatabasePath => Some("KAGE_DATABASE_PATH"),
            _ => None,
        }
    }

    pub(crate) fn kind(self) -> Kind {
        let second = Duration::from_secs(1);
        match self {
            Self::DefaultPriority => Kind::Strategy,
            Self::RateLimitWindow | Self::RateLimitCooldown | Self::ExhaustedCooldown => {
                Kind::Duration {
                    min: second,
                    max: MAX_DURATION,
                }
            }
            // The store answers it from usage buckets that hold one day.
            Self::UsageWindow => Kind::Duration {
                min: 60 * second,
                max: MAX_USAGE_WINDOW,
            },
            Self::LeaseTtl => Kind::Duration {
                min: kage_domain::MIN_LEASE_TTL,
                max: MAX_DURATION,
            },
            Self::NotifyTimeout => Kind::Duration {
                min: Duration::from_millis(100),
                max: MAX_DURATION,
            },
            Self::AlertThresholds => Kind::Thresholds,
            Self::NotifyCommand => Kind::OptionalCommand,
            Self::MaxWait => Kind::Duration {
                min: Duration::ZERO,
                max: MAX_DURATION,
            },
            Self::UnhealthyThreshold => Kind::Count { min: 1, max: 1000 },
            Self::MaxApiRetries => Kind::Count { min: 0, max: 100 },
            Self::Parallel => Kind::Count { min: 1, max: 1024 },
            Self::ApproachingThreshold => Kind::Fraction,
            Self::DatabaseUrl => Kind::Url,
            Self::DatabasePath => Kind::Path,
            Self::Command => Kind::Command,
            Self::Isolation => Kind::Isolation,
        }
    }

    /// What the key wants, in a user's words, for wrong-type errors.
    pub(crate) fn expected(self) -> &'static str {
        match self.kind() {
            Kind::Strategy => "a string: \"priority\", \"round-robin\" or \"least-used\"",
            Kind::Duration { .. } => "a duration string such as \"30s\", \"5m\" or \"1h\"",
            Kind::Count { .. } => "a whole number",
            Kind::Fraction => "a number from 0 to 1",
            Kind::Url => "a string: a postgres:// URL",
            Kind::Path => "a string: a file path",
            Kind::Command => "an array of strings",
            Kind::Isolation => "a string: \"worktree\" or \"none\"",
            Kind::Thresholds => {
                "an array of numbers above 0 and at most 1, such as [0.5, 0.8, 0.95]"
            }
            Kind::OptionalCommand => "an array of strings: the program and its arguments",
        }
    }

    /// Parse a value given as text (an environment variable or a flag).
    pub(crate) fn parse_text(self, text: &str) -> Result<Value, String> {
        match self.kind() {
            Kind::Strategy | Kind::Duration { .. } | Kind::Url | Kind::Path | Kind::Isolation => {
                self.check_str(text)
            }
            Kind::Count { .. } => {
                let number = text
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| format!("expected a whole number, found {text:?}"))?;
                self.check_integer(number)
            }
            Kind::Fraction => {
                let number = text
                    .trim()
                    .parse::<f64>()
                    .map_err(|_| format!("expected a number from 0 to 1, found {text:?}"))?;
                self.check_float(number)
            }
            Kind::Command | Kind::OptionalCommand => {
                let words = shell_words::split(text).map_err(|error| {
                    format!("cannot split {text:?} into words ({error}); check its quotes")
                })?;
                self.check_command(words)
            }
            Kind::Thresholds => {
                let inner = text.trim().trim_start_matches('[').trim_end_matches(']');
                let numbers = inner
                    .split(|c: char| c == ',' || c.is_whitespace())
                    .filter(|part| !part.is_empty())
                    .map(|part| {
                        part.parse::<f64>().map_err(|_| {
                            format!(
                                "{part:?} is not a number: write shares such as \"0.5,0.8,0.95\""
                            )
                        })
                    })
                    .collect::<Result<Vec<f64>, String>>()?;
                self.check_thresholds(&numbers)
            }
        }
    }

    /// Check a string value. Paths come back as written; the caller
    /// resolves them.
    pub(crate) fn check_str(self, text: &str) -> Result<Value, String> {
        match self.kind() {
            Kind::Strategy => check_strategy(text).map(Value::Strategy),
            Kind::Duration { min, max } => {
                check_duration_within(text, min, max).map(Value::Duration)
            }
            Kind::Url => DatabaseUrl::new(text).map(Value::Url),
            Kind::Path if text.trim().is_empty() => {
                Err("the path is empty; remove the key to use the default location".to_owned())
            }
            Kind::Path => Ok(Value::Path(PathBuf::from(text))),
            Kind::Isolation => text.parse().map(Value::Isolation),
            _ => Err(format!("expected {}", self.expected())),
        }
    }

    pub(crate) fn check_integer(self, number: i64) -> Result<Value, String> {
        match self.kind() {
            Kind::Count { min, max } => u32::try_from(number)
                .ok()
                .filter(|count| (min..=max).contains(count))
                .map(Value::Count)
                .ok_or_else(|| {
                    format!("{number} is out of range: use a whole number from {min} to {max}")
                }),
            _ => Err(format!("expected {}", self.expected())),
        }
    }

    pub(crate) fn check_float(self, number: f64) -> Result<Value, String> {
        if (0.0..=1.0).contains(&number) {
            Ok(Value::Fraction(number))
        } else {
            Err(format!(
                "{number} is out of range: use a number from 0 to 1, such as 0.8"
            ))
        }
    }

    pub(crate) fn check_thresholds(self, numbers: &[f64]) -> Result<Value, String> {
        AlertThresholds::new(numbers)
            .map(Value::Thresholds)
            .map_err(|error| error.to_string())
    }

    pub(crate) fn check_command(self, words: Vec<String>) -> Result<Value, String> {
        if self.kind() == Kind::OptionalCommand {
            return match words.first() {
                None => Ok(Value::Command(words)),
                Some(program) if program.trim().is_empty() => {
                    Err("the program name (the first word) is empty".to_owned())
                }
                Some(_) => Ok(Value::Command(words)),
            };
        }
        match words.first() {
            None => Err("the command is empty; name the agent program, such as [\"claude\", \"-p\", \"{prompt}\"]".to_owned()),
            Some(program) if program.trim().is_empty() => {
                Err("the program name (the first word) is empty".to_owned())
            }
            Some(_) => Ok(Value::Command(words)),
        }
    }
}

fn check_strategy(text: &str) -> Result<Strategy, String> {
    text.parse::<Strategy>().map_err(|error| {
        let names = Strategy::ALL.map(Strategy::as_str);
        match crate::error::nearest(text, names) {
            Some(name) => format!("{error}; did you mean \"{name}\"?"),
            None => error.to_string(),
        }
    })
}

/// `365d`, `24h`, `90s`: a limit in its largest whole unit.
fn whole_units(duration: Duration) -> String {
    let seconds = duration.as_secs();
    match seconds {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// A duration from `text` no shorter than `min` and no longer than
/// [`MAX_DURATION`] (what flags accept).
///
/// # Errors
/// When `text` is not a duration or out of those bounds, saying which.
pub fn check_duration(text: &str, min: Duration) -> Result<Duration, String> {
    check_duration_within(text, min, MAX_DURATION)
}

fn check_duration_within(text: &str, min: Duration, max: Duration) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text.trim()).map_err(|_| {
        format!("{text:?} is not a duration: write a number and a unit, such as \"30s\", \"5m\" or \"1h\"")
    })?;
    if duration < min {
        let min = humantime::format_duration(min);
        return Err(format!("{text:?} is too short: use at least {min}"));
    }
    if duration > max {
        return Err(format!(
            "{text:?} is too long: use at most {}",
            whole_units(max)
        ));
    }
    Ok(duration)
}

/// A section's name as the user writes it, and the keys valid in it, for
/// unknown-key errors (`""` is the top level).
pub(crate) fn section_keys(section: &str) -> (&'static str, &'static [&'static str]) {
    match section {
        "subscriptions" => (
            "[subscriptions]",
            &[
                "default_priority",
                "rate_limit_window",
                "rate_limit_cooldown",
                "exhausted_cooldown",
                "unhealthy_threshold",
                "approaching_threshold",
                "usage_window",
                "lease_ttl",
                "alert_thresholds",
                "notify_command",
                "notify_timeout",
                "routing",
            ],
        ),
        "storage" => ("[storage]", &["database_url", "database_path"]),
        "agent" => (
            "[agent]",
            &[
                "command",
                "max_api_retries",
                "max_wait",
                "parallel",
                "isolation",
            ],
        ),
        _ => ("the top level", &["subscriptions", "storage", "agent"]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_keys_list_every_scalar_key() {
        for key in Key::ALL {
            let (_, valid) = section_keys(key.section());
            assert!(
                valid.contains(&key.name()),
                "{key:?} missing from its section's list"
            );
        }
        let listed: usize = ["subscriptions", "storage", "agent"]
            .into_iter()
            .map(|section| section_keys(section).1.len())
            .sum();
        assert_eq!(
            listed,
            Key::ALL.len() + 1,
            "only `routing` is not a scalar key"
        );
    }
}
