//! Config errors, and the places values and errors come from.

use std::fmt;
use std::io;
use std::path::PathBuf;

use kage_domain::{RouteTarget, SubscriptionName};

/// A place in the config file: its path, and a 1-based line and column
/// (the column counts characters, not bytes).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Location {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl Location {
    /// The location of byte `offset` of `text`, the contents of `path`.
    pub(crate) fn at(path: &std::path::Path, text: &str, offset: usize) -> Self {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
        Self {
            path: path.to_owned(),
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.path.display(), self.line, self.column)
    }
}

/// Where a resolved value came from, lowest layer first.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Source {
    /// The compiled default.
    Default,
    /// The config file, at the value's location.
    File(Location),
    /// An environment variable (`KAGE_DATABASE_URL`).
    Env(String),
    /// A command-line flag (`--max-wait`).
    Flag(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("default"),
            Self::File(location) => location.fmt(f),
            Self::Env(variable) => write!(f, "env {variable}"),
            Self::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

/// Everything that can go wrong loading the config. Each message names the
/// file, line and column (or the variable or flag) and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No variable says where the config file is.
    #[error(
        "config error: cannot find the config file: set HOME, XDG_CONFIG_HOME, KAGE_CONFIG_DIR or KAGE_CONFIG"
    )]
    NoConfigLocation,

    /// The file exists but cannot be read.
    #[error("config error: cannot read {}: {source}; check that it is a readable file", path.display())]
    Read { path: PathBuf, source: io::Error },

    /// A file named on purpose (`--config FILE`, `KAGE_CONFIG`) that does not
    /// exist: a typo there must not silently mean the defaults.
    #[error(
        "config error: cannot read {}: no such file (named by {named_by}); fix the path, or {}",
        path.display(),
        without(named_by)
    )]
    Missing {
        path: PathBuf,
        /// `--config` or `KAGE_CONFIG`.
        named_by: &'static str,
    },

    /// The file is not valid TOML.
    #[error("config error: {location}: invalid TOML: {message}")]
    Syntax { location: Location, message: String },

    /// A key that Kage does not know.
    #[error("config error: {location}: unknown key `{key}` in {section}; {}", suggest_key(suggestion.as_deref(), valid))]
    UnknownKey {
        location: Location,
        key: String,
        /// `[subscriptions]`, or `the top level`.
        section: &'static str,
        /// The nearest valid key, when one is close.
        suggestion: Option<String>,
        /// Every key valid in that section.
        valid: &'static [&'static str],
    },

    /// A value of the wrong TOML type.
    #[error("config error: {location}: wrong type for `{key}`: expected {expected}, found {found}")]
    WrongType {
        location: Location,
        key: String,
        expected: String,
        found: String,
    },

    /// A value of the right type that Kage refuses.
    #[error("config error: {location}: invalid value for `{key}`: {message}")]
    InvalidValue {
        location: Location,
        key: String,
        message: String,
    },

    /// An environment variable or a flag gives a value Kage refuses.
    #[error("config error: {origin}: invalid value for `{key}`: {message}")]
    InvalidOverride {
        origin: Source,
        key: String,
        message: String,
    },

    /// A `KAGE_SECTION__KEY` variable that names no config key.
    #[error("config error: unknown environment variable {var}; {}", suggest_var(suggestion.as_deref()))]
    UnknownEnvVar {
        var: String,
        suggestion: Option<String>,
    },

    /// A routing rule of the config file names a subscription the pool lacks.
    #[error(
        "config error: {}the route for {target} names \"{name}\", which is not a registered subscription; {}",
        location.as_ref().map(|location| format!("{location}: ")).unwrap_or_default(),
        suggest_subscription(suggestion.as_ref(), name)
    )]
    UnknownRouteSubscription {
        location: Option<Location>,
        target: RouteTarget,
        name: SubscriptionName,
        suggestion: Option<SubscriptionName>,
    },

    /// No database URL and nowhere to put the embedded database.
    #[error(
        "config error: cannot find a place for the database: set HOME, XDG_DATA_HOME or KAGE_DATABASE_PATH, or set [storage] database_url"
    )]
    NoDataLocation,
}

/// How to fall back to the default location without the flag or variable.
fn without(named_by: &str) -> String {
    if named_by.starts_with('-') {
        format!("leave out {named_by} to use the default location")
    } else {
        format!("unset {named_by} to use the default location")
    }
}

fn suggest_key(suggestion: Option<&str>, valid: &[&'static str]) -> String {
    match suggestion {
        Some(key) => format!("did you mean `{key}`?"),
        None => {
            let keys: Vec<String> = valid.iter().map(|key| format!("`{key}`")).collect();
            format!("valid keys are {}", keys.join(", "))
        }
    }
}

fn suggest_var(suggestion: Option<&str>) -> String {
    match suggestion {
        Some(var) => format!("did you mean {var}?"),
        None => "unset it, or see `kage config show --resolved` for the keys Kage reads".to_owned(),
    }
}

fn suggest_subscription(suggestion: Option<&SubscriptionName>, name: &SubscriptionName) -> String {
    match suggestion {
        Some(known) => format!("did you mean `{known}`?"),
        None => format!(
            "add it with `kage subscription add --name {name}` or remove it from the config file"
        ),
    }
}

/// [`kage_domain::nearest`], plus one alias: the design calls the seed's
/// `default_priority` "the strategy".
pub(crate) fn nearest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let candidates: Vec<&'a str> = candidates.into_iter().collect();
    if word.eq_ignore_ascii_case("strategy") && candidates.contains(&"default_priority") {
        return Some("default_priority");
    }
    kage_domain::nearest(word, candidates)
}

#[cfg(test)]
mod tests {
    use super::nearest;

    #[test]
    fn strategy_means_default_priority() {
        assert_eq!(
            nearest("strategy", ["lease_ttl", "default_priority"]),
            Some("default_priority")
        );
        assert_eq!(nearest("lease_tl", ["lease_ttl"]), Some("lease_ttl"));
    }
}
