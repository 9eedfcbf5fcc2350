//! The config file as written: serde types with spans, and the translation of
//! TOML and serde errors into [`ConfigError`]s that name the key.
//!
//! Nothing here judges a value beyond its TOML type; `config.rs` turns these
//! into domain types.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_path_to_error::Segment;
use toml::Spanned;

use crate::keys::{self, Key};
use crate::{ConfigError, Location};

pub(crate) type RawRouting = BTreeMap<Spanned<String>, Spanned<Vec<Spanned<String>>>>;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub(crate) subscriptions: Option<RawSubscriptions>,
    pub(crate) storage: Option<RawStorage>,
    pub(crate) agent: Option<RawAgent>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSubscriptions {
    pub(crate) default_priority: Option<Spanned<String>>,
    pub(crate) rate_limit_window: Option<Spanned<String>>,
    pub(crate) rate_limit_cooldown: Option<Spanned<String>>,
    pub(crate) exhausted_cooldown: Option<Spanned<String>>,
    pub(crate) unhealthy_threshold: Option<Spanned<i64>>,
    pub(crate) approaching_threshold: Option<Spanned<RawNumber>>,
    pub(crate) usage_window: Option<Spanned<String>>,
    pub(crate) lease_ttl: Option<Spanned<String>>,
    pub(crate) alert_thresholds: Option<Spanned<Vec<Spanned<RawNumber>>>>,
    pub(crate) notify_command: Option<Spanned<Vec<Spanned<String>>>>,
    pub(crate) notify_timeout: Option<Spanned<String>>,
    pub(crate) routing: Option<RawRouting>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStorage {
    pub(crate) database_url: Option<Spanned<String>>,
    pub(crate) database_path: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAgent {
    pub(crate) command: Option<Spanned<Vec<Spanned<String>>>>,
    pub(crate) max_api_retries: Option<Spanned<i64>>,
    pub(crate) max_wait: Option<Spanned<String>>,
    pub(crate) parallel: Option<Spanned<i64>>,
    pub(crate) isolation: Option<Spanned<String>>,
}

/// A TOML integer or float, as a float (`approaching_threshold = 1` is fine).
pub(crate) struct RawNumber(pub(crate) f64);

impl<'de> Deserialize<'de> for RawNumber {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl serde::de::Visitor<'_> for Visitor {
            type Value = RawNumber;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a number")
            }

            fn visit_f64<E>(self, value: f64) -> Result<RawNumber, E> {
                Ok(RawNumber(value))
            }

            #[expect(
                clippy::cast_precision_loss,
                reason = "a threshold needs no more precision"
            )]
            fn visit_i64<E>(self, value: i64) -> Result<RawNumber, E> {
                Ok(RawNumber(value as f64))
            }

            #[expect(
                clippy::cast_precision_loss,
                reason = "a threshold needs no more precision"
            )]
            fn visit_u64<E>(self, value: u64) -> Result<RawNumber, E> {
                Ok(RawNumber(value as f64))
            }
        }

        deserializer.deserialize_any(Visitor)
    }
}

/// Parse the file's text.
pub(crate) fn parse(text: &str, path: &Path) -> Result<RawConfig, ConfigError> {
    serde_path_to_error::deserialize(toml::Deserializer::new(text))
        .map_err(|error| translate(error, text, path))
}

/// The segments of an error's path, as config keys: `subscriptions`,
/// `rate_limit_window`, `[1]` …; an unknown map key (a routing key) is `None`.
fn key_segments(path: &serde_path_to_error::Path) -> Vec<Option<String>> {
    path.iter()
        .filter_map(|segment| match segment {
            Segment::Map { key } if key.starts_with("$__") => None,
            Segment::Map { key } => Some(Some(key.clone())),
            Segment::Seq { index } => Some(Some(format!("[{index}]"))),
            Segment::Enum { variant } => Some(Some(variant.clone())),
            Segment::Unknown => Some(None),
        })
        .collect()
}

fn join_key(segments: &[String]) -> String {
    let mut key = String::new();
    for segment in segments {
        if !key.is_empty() && !segment.starts_with('[') {
            key.push('.');
        }
        key.push_str(segment);
    }
    key
}

fn translate(
    error: serde_path_to_error::Error<toml::de::Error>,
    text: &str,
    path: &Path,
) -> ConfigError {
    let segments = key_segments(error.path());
    let error = error.into_inner();
    let offset = error.span().map_or(0, |span| span.start);
    let location = Location::at(path, text, offset);
    let message = error.message().trim().replace('\n', "; ");

    if segments.is_empty() {
        return ConfigError::Syntax { location, message };
    }
    let mut segments: Vec<String> = segments
        .into_iter()
        .map(|segment| {
            segment
                .unwrap_or_else(|| routing_key_at(text, offset).unwrap_or_else(|| "?".to_owned()))
        })
        .collect();
    if segments.len() > 2 && segments[0] == "subscriptions" && segments[1] == "routing" {
        segments[2] = crate::config::toml_key(&segments[2]);
    }

    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (parent, key) = segments.split_at(segments.len() - 1);
        let key = rest.split('`').next().unwrap_or(&key[0]).to_owned();
        let (section, valid) = keys::section_keys(&join_key(parent));
        let suggestion = crate::error::nearest(&key, valid.iter().copied()).map(str::to_owned);
        return ConfigError::UnknownKey {
            location,
            key,
            section,
            suggestion,
            valid,
        };
    }

    let key = join_key(&segments);
    if let Some(rest) = message.strip_prefix("invalid type: ")
        && let Some((found, expected)) = rest.rsplit_once(", expected ")
    {
        return ConfigError::WrongType {
            expected: describe_expected(&key, expected),
            location,
            key,
            found: found.to_owned(),
        };
    }
    if let Some(rest) = message.strip_prefix("invalid value: ")
        && let Some((found, expected)) = rest.rsplit_once(", expected ")
    {
        return ConfigError::InvalidValue {
            message: format!(
                "expected {}, found {found}",
                describe_expected(&key, expected)
            ),
            location,
            key,
        };
    }
    ConfigError::InvalidValue {
        location,
        key,
        message,
    }
}

/// Say what a key wants in a user's words rather than serde's.
fn describe_expected(key: &str, serde_expected: &str) -> String {
    if let Some(key) = Key::from_path(key) {
        return key.expected().to_owned();
    }
    if key.starts_with("subscriptions.routing.") || key == "agent.command" {
        return if key.ends_with(']') {
            "a string".to_owned()
        } else {
            "an array of strings".to_owned()
        };
    }
    if serde_expected.starts_with("struct ") || serde_expected == "a map" {
        return "a table".to_owned();
    }
    serde_expected.to_owned()
}

#[derive(Deserialize)]
struct LenientConfig {
    subscriptions: Option<LenientSubscriptions>,
}

#[derive(Deserialize)]
struct LenientSubscriptions {
    routing: Option<BTreeMap<Spanned<String>, Spanned<IgnoredAny>>>,
}

/// The routing key whose value holds byte `offset`, found by reading the
/// file again, this time ignoring the values.
fn routing_key_at(text: &str, offset: usize) -> Option<String> {
    let lenient: LenientConfig = toml::from_str(text).ok()?;
    let routing = lenient.subscriptions?.routing?;
    routing
        .iter()
        .find(|(_, value)| value.span().contains(&offset) || value.span().start == offset)
        .map(|(key, _)| key.get_ref().clone())
}
