//! Integration tests of kage-config: one binary, one module per concern.

mod env_overrides;
mod errors;
mod files;
mod paths;
mod routing;

use std::path::Path;

use kage_config::{Config, ConfigError, Env};

/// The path every in-memory config pretends to come from.
pub(crate) const PATH: &str = "/home/u/.config/kage/config.toml";

/// A hermetic environment with a home and nothing else.
pub(crate) fn home_env() -> Env {
    Env::empty().with("HOME", "/home/u")
}

pub(crate) fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml(text, Path::new(PATH), &home_env())
}

pub(crate) fn parse_ok(text: &str) -> Config {
    parse(text).unwrap_or_else(|error| panic!("config should parse: {error}"))
}

/// The error's one-line message; fails when the text parses.
pub(crate) fn error_of(text: &str) -> String {
    match parse(text) {
        Ok(config) => panic!("config should fail, got {config:?}"),
        Err(error) => error.to_string(),
    }
}
