//! Kage's config file: where it is, what it may say, and what it means.
//!
//! The file is TOML, found as [`config_path`] describes (`KAGE_CONFIG`,
//! `KAGE_CONFIG_DIR`, `$XDG_CONFIG_HOME/kage/config.toml`,
//! `~/.config/kage/config.toml`). A missing file means the defaults.
//!
//! Loading reads the file into serde types that deny unknown keys, then
//! checks every value into domain types ([`StatePolicy`](kage_domain::StatePolicy),
//! [`SelectionPolicy`](kage_domain::SelectionPolicy),
//! [`RoutingRules`](kage_domain::RoutingRules)). Every error names the file,
//! the 1-based line and column, the key, and for an unknown key the nearest
//! valid one. Then `KAGE_*` variables apply: `KAGE_SECTION__KEY` for each
//! scalar key (`KAGE_SUBSCRIPTIONS__LEASE_TTL`), plus the short
//! `KAGE_DATABASE_URL` and `KAGE_DATABASE_PATH`, which win over
//! `KAGE_STORAGE__…`. Apps apply their flags last with [`Config::set`].
//! [`Config::resolved_entries`] tells where each value came from.
//!
//! Keys (defaults in [`EXAMPLE_CONFIG`]):
//!
//! - `[subscriptions]`: `default_priority` (the strategy: `"priority"`,
//!   `"round-robin"`, `"least-used"`), `rate_limit_window`,
//!   `rate_limit_cooldown`, `exhausted_cooldown`, `unhealthy_threshold`,
//!   `approaching_threshold`, `lease_ttl`;
//! - `[subscriptions.routing]`: `KEY = ["name", "tag:NAME"]`, where `high`,
//!   `normal`, `low` and `batch` are priority levels and any other key is a
//!   namespace;
//! - `[storage]`: `database_url` (`postgres://…`; omit it for the embedded
//!   SQLite file) and `database_path` (where the SQLite file lives; default
//!   `$XDG_DATA_HOME/kage/kage.db`, else `~/.local/share/kage/kage.db`; a
//!   relative path is taken from the config file's folder);
//! - `[agent]`: `command`, `max_api_retries`, `max_wait`, `parallel`,
//!   `isolation` (`"worktree"` or `"none"`; unset, `kage-agent` uses
//!   worktrees in a git repository when more than one agent runs).
//!
//! This crate does no printing; routing names are checked against the pool
//! by the apps with [`Config::check_routing`], once the pool is known.

mod config;
mod env;
mod error;
mod keys;
mod paths;
mod raw;

pub use config::{
    AgentConfig, Config, DEFAULT_AGENT_COMMAND, DatabaseUrl, Isolation, ResolvedEntry,
    StorageBackend, StorageConfig, SubscriptionsConfig,
};
pub use env::Env;
pub use error::{ConfigError, Location, Source};
pub use keys::check_duration as parse_bounded_duration;
pub use paths::{ConfigPath, PathRule, config_path, default_database_path};

/// A commented config file whose values are the defaults, for the CLI to
/// print or write and the docs to quote. A test checks it parses to exactly
/// the defaults.
pub const EXAMPLE_CONFIG: &str = include_str!("../config.example.toml");
