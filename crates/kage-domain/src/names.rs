//! Validated value types: names, tags, namespaces, priorities, levels, kinds.
//!
//! Each is checked when it is built, so the rest of the code never sees an
//! invalid one.

use std::fmt;
use std::str::FromStr;

/// Why a name, tag, namespace, priority, level or kind was refused.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("invalid {what} {value:?}: {rule}")]
pub struct InvalidName {
    pub what: &'static str,
    pub value: String,
    pub rule: &'static str,
}

const NAME_RULE: &str =
    "use 1 to 64 characters: letters, digits, '-', '_' or '.', starting with a letter or digit";
const LABEL_RULE: &str = "use 1 to 64 characters: lowercase letters, digits, '-', '_' or '.', starting with a letter or digit";

fn check_name(
    what: &'static str,
    value: &str,
    lowercase_only: bool,
) -> Result<String, InvalidName> {
    let rule = if lowercase_only {
        LABEL_RULE
    } else {
        NAME_RULE
    };
    let invalid = || InvalidName {
        what,
        value: value.to_owned(),
        rule,
    };
    let first = value.chars().next().ok_or_else(invalid)?;
    if value.len() > 64 || !first.is_ascii_alphanumeric() {
        return Err(invalid());
    }
    let allowed = |c: char| {
        (c.is_ascii_alphanumeric() && !(lowercase_only && c.is_ascii_uppercase()))
            || matches!(c, '-' | '_' | '.')
    };
    if !value.chars().all(allowed) {
        return Err(invalid());
    }
    Ok(value.to_owned())
}

/// `value` as given, unless it holds a control character (an escape, a
/// line break, a tab, a NUL): free text (descriptions, reasons, holders,
/// credential commands) is printed to other people's terminals, where an
/// escape sequence could repaint the screen.
pub fn plain_text(what: &'static str, value: &str) -> Result<String, InvalidName> {
    if value.chars().any(char::is_control) {
        return Err(InvalidName {
            what,
            value: value.to_owned(),
            rule: "remove the control characters (escapes, line breaks, tabs); use one line of plain text",
        });
    }
    Ok(value.to_owned())
}

macro_rules! string_newtype {
    ($(#[$doc:meta])* $name:ident, $what:literal, $lowercase:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
        pub struct $name(String);

        impl $name {
            pub fn new(value: &str) -> Result<Self, InvalidName> {
                check_name($what, value, $lowercase).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = InvalidName;

            fn from_str(value: &str) -> Result<Self, InvalidName> {
                Self::new(value)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_newtype!(
    /// A subscription's unique, human-chosen name (`work-premium`).
    SubscriptionName,
    "subscription name",
    false
);
string_newtype!(
    /// A routing tag carried by subscriptions (`backend`, `security`).
    Tag,
    "tag",
    true
);
string_newtype!(
    /// The label an agent runs under (`backend`, `frontend`).
    Namespace,
    "namespace",
    true
);

/// Selection priority, 0 (lowest) to 255 (highest); 100 by default.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Priority(pub u8);

impl Priority {
    pub const DEFAULT: Priority = Priority(100);

    pub fn value(self) -> u8 {
        self.0
    }
}

impl Default for Priority {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for Priority {
    type Err = InvalidName;

    fn from_str(value: &str) -> Result<Self, InvalidName> {
        value
            .trim()
            .parse::<u8>()
            .map(Priority)
            .map_err(|_| InvalidName {
                what: "priority",
                value: value.to_owned(),
                rule: "use a whole number from 0 to 255",
            })
    }
}

/// How important a task is; routing rules may reserve subscriptions per level.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub enum PriorityLevel {
    High,
    #[default]
    Normal,
    Low,
    Batch,
}

impl PriorityLevel {
    pub const ALL: [PriorityLevel; 4] = [Self::High, Self::Normal, Self::Low, Self::Batch];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::High => "high",
            Self::Normal => "normal",
            Self::Low => "low",
            Self::Batch => "batch",
        }
    }
}

impl fmt::Display for PriorityLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PriorityLevel {
    type Err = InvalidName;

    fn from_str(value: &str) -> Result<Self, InvalidName> {
        Self::ALL
            .into_iter()
            .find(|level| level.as_str() == value)
            .ok_or_else(|| InvalidName {
                what: "priority level",
                value: value.to_owned(),
                rule: "use one of high, normal, low, batch",
            })
    }
}

/// What kind of credential a subscription holds, which decides the
/// environment variable an agent receives it in.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum CredentialKind {
    /// A Claude Code OAuth token from `claude setup-token`.
    #[default]
    OAuth,
    /// An Anthropic Console API key.
    ApiKey,
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OAuth => "oauth",
            Self::ApiKey => "api-key",
        }
    }

    /// The one environment variable Claude Code reads this kind from.
    pub fn env_var(self) -> &'static str {
        match self {
            Self::OAuth => "CLAUDE_CODE_OAUTH_TOKEN",
            Self::ApiKey => "ANTHROPIC_API_KEY",
        }
    }

    /// The prefix a well-formed credential of this kind starts with.
    pub fn expected_prefix(self) -> &'static str {
        match self {
            Self::OAuth => "sk-ant-oat",
            Self::ApiKey => "sk-ant-api",
        }
    }
}

impl fmt::Display for CredentialKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CredentialKind {
    type Err = InvalidName;

    fn from_str(value: &str) -> Result<Self, InvalidName> {
        match value {
            "oauth" => Ok(Self::OAuth),
            "api-key" | "api_key" | "apikey" => Ok(Self::ApiKey),
            _ => Err(InvalidName {
                what: "credential kind",
                value: value.to_owned(),
                rule: "use oauth or api-key",
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_refuses_every_control_character() {
        assert_eq!(
            plain_text("reason", "5-hour limit é").as_deref(),
            Ok("5-hour limit é")
        );
        for bad in [
            "\u{1b}]0;pwned\u{7}\u{1b}[2J",
            "a\nb",
            "a\tb",
            "nul\0",
            "\u{9b}31m",
        ] {
            let error = plain_text("reason", bad).expect_err(bad);
            assert!(error.to_string().starts_with("invalid reason"), "{error}");
            assert!(!error.to_string().contains('\u{1b}'), "{error}");
        }
    }
}
