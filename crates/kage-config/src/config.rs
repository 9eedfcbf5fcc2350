//! The validated config: domain types, each value with its source.
//!
//! Layers, lowest first: compiled defaults, the file, `KAGE_*` environment
//! variables, then command-line flags (applied by the apps with
//! [`Config::set`]). Loading returns a whole [`Config`] or an error; nothing is
//! half-applied.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kage_domain::{
    AlertThresholds, RouteEntry, RouteTarget, RoutingRules, SelectionPolicy, StatePolicy, Strategy,
    SubscriptionName,
};
use toml::Spanned;

use crate::keys::{Key, Value};
use crate::raw::{self, RawConfig};
use crate::{ConfigError, Env, Location, Source, paths};

/// The `[subscriptions]` table: strategy, timings and thresholds.
#[derive(Clone, PartialEq, Debug)]
pub struct SubscriptionsConfig {
    /// Config key `default_priority` (the seed's name for the strategy).
    pub strategy: Strategy,
    pub rate_limit_window: Duration,
    pub rate_limit_cooldown: Duration,
    pub exhausted_cooldown: Duration,
    pub unhealthy_threshold: u32,
    pub approaching_threshold: f64,
    /// What `least-used` compares over (the 5-hour session window by default).
    pub usage_window: Duration,
    pub lease_ttl: Duration,
    /// Shares of a quota window that raise an alert, once per window.
    pub alert_thresholds: AlertThresholds,
    /// Run (without a shell) with each alert as JSON on stdin; empty: none.
    pub notify_command: Vec<String>,
    /// How long `notify_command` may run before it is stopped.
    pub notify_timeout: Duration,
}

impl Default for SubscriptionsConfig {
    fn default() -> Self {
        let state = StatePolicy::default();
        let selection = SelectionPolicy::default();
        Self {
            strategy: selection.strategy,
            rate_limit_window: selection.rate_limit_window,
            rate_limit_cooldown: state.rate_limit_cooldown,
            exhausted_cooldown: state.exhausted_cooldown,
            unhealthy_threshold: state.unhealthy_threshold,
            approaching_threshold: selection.approaching_threshold,
            usage_window: selection.usage_window,
            lease_ttl: Duration::from_secs(2 * 60),
            alert_thresholds: AlertThresholds::default(),
            notify_command: Vec::new(),
            notify_timeout: Duration::from_secs(10),
        }
    }
}

/// A PostgreSQL URL. `Debug` and `Display` hide its password; only
/// [`DatabaseUrl::expose`] gives the URL to connect with.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// Check that `url` is a `postgres://` or `postgresql://` URL.
    ///
    /// # Errors
    ///
    /// A message saying what to write instead.
    pub fn new(url: &str) -> Result<Self, String> {
        let url = url.trim();
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"));
        match rest {
            Some(rest) if !rest.is_empty() => Ok(Self(url.to_owned())),
            _ => Err(format!(
                "{} is not a PostgreSQL URL: write \"postgres://USER@HOST/DATABASE\", or remove the key to use the embedded SQLite file",
                kage_domain::redact_url(url)
            )),
        }
    }

    /// The full URL, password included, for connecting. Never print it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL without its password (`kage_domain::redact_url`).
    pub fn redacted(&self) -> String {
        kage_domain::redact_url(&self.0)
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DatabaseUrl")
            .field(&self.redacted())
            .finish()
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// The `[storage]` table.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct StorageConfig {
    /// A shared PostgreSQL database; when set, `database_path` is not used.
    pub database_url: Option<DatabaseUrl>,
    /// The embedded SQLite file: the configured path, else the default
    /// (`$XDG_DATA_HOME/kage/kage.db`); `None` only when no home is known.
    pub database_path: Option<PathBuf>,
}

/// Which database the apps open.
#[derive(Clone, PartialEq, Debug)]
pub enum StorageBackend {
    Sqlite(PathBuf),
    Postgres(DatabaseUrl),
}

impl StorageConfig {
    /// PostgreSQL when `database_url` is set, else the SQLite file.
    ///
    /// # Errors
    ///
    /// [`ConfigError::NoDataLocation`] when neither is known.
    pub fn backend(&self) -> Result<StorageBackend, ConfigError> {
        match (&self.database_url, &self.database_path) {
            (Some(url), _) => Ok(StorageBackend::Postgres(url.clone())),
            (None, Some(path)) => Ok(StorageBackend::Sqlite(path.clone())),
            (None, None) => Err(ConfigError::NoDataLocation),
        }
    }
}

/// The `[agent]` table, read by `kage-agent`.
#[derive(Clone, PartialEq, Debug)]
pub struct AgentConfig {
    /// The agent program and its arguments; `{prompt}` stands for the task's prompt.
    pub command: Vec<String>,
    /// Rate-limit retries an agent may make before Kage stops it and fails over.
    pub max_api_retries: u32,
    /// The longest an agent waits for a subscription to become available.
    pub max_wait: Duration,
    /// Agents run at once.
    pub parallel: u32,
    /// Whether each task gets its own git worktree; `None` lets
    /// `kage-agent` choose (worktrees in a git repository when more than
    /// one agent runs).
    pub isolation: Option<Isolation>,
}

/// `agent.isolation`: how tasks are kept apart.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Isolation {
    /// One git worktree (and branch) per task.
    Worktree,
    /// Every agent in the same working directory.
    None,
}

impl Isolation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Worktree => "worktree",
            Self::None => "none",
        }
    }
}

impl std::str::FromStr for Isolation {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim() {
            "worktree" => Ok(Self::Worktree),
            "none" => Ok(Self::None),
            other => Err(format!(
                "{other:?} is not an isolation: use \"worktree\" (one git worktree per task) or \"none\""
            )),
        }
    }
}

/// The default agent: Claude Code in print mode with streaming JSON output.
pub const DEFAULT_AGENT_COMMAND: [&str; 6] = [
    "claude",
    "-p",
    "{prompt}",
    "--output-format",
    "stream-json",
    "--verbose",
];

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            command: DEFAULT_AGENT_COMMAND.map(str::to_owned).to_vec(),
            max_api_retries: 2,
            max_wait: Duration::from_secs(30 * 60),
            parallel: 4,
            isolation: None,
        }
    }
}

/// One line of `kage config show --resolved`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ResolvedEntry {
    /// The dotted key: `subscriptions.rate_limit_window`,
    /// `subscriptions.routing.backend`.
    pub key: String,
    /// The value as a TOML literal (`"1m"`, `3`, `["a", "b"]`); a database
    /// URL's password is hidden.
    pub value: String,
    pub source: Source,
}

/// Where one routing rule of the file was written.
#[derive(Clone, PartialEq, Eq, Debug)]
struct RouteLocations {
    key: Location,
    entries: Vec<(RouteEntry, Location)>,
}

/// The validated config.
#[derive(Clone, PartialEq, Debug)]
pub struct Config {
    subscriptions: SubscriptionsConfig,
    storage: StorageConfig,
    agent: AgentConfig,
    routing: RoutingRules,
    route_locations: BTreeMap<RouteTarget, RouteLocations>,
    sources: BTreeMap<Key, Source>,
    file: Option<PathBuf>,
}

impl Config {
    /// The compiled defaults alone. `env` only supplies the default database
    /// path (`XDG_DATA_HOME`, `HOME`); no override is read.
    pub fn defaults(env: &Env) -> Self {
        Self {
            subscriptions: SubscriptionsConfig::default(),
            storage: StorageConfig {
                database_url: None,
                database_path: paths::default_database_path(env),
            },
            agent: AgentConfig::default(),
            routing: RoutingRules::new(),
            route_locations: BTreeMap::new(),
            sources: Key::ALL
                .into_iter()
                .map(|key| (key, Source::Default))
                .collect(),
            file: None,
        }
    }

    /// Find the config file (see [`crate::config_path`]), read it if it
    /// exists, and apply the `KAGE_*` variables of `env`.
    ///
    /// # Errors
    ///
    /// Any [`ConfigError`]: no location, an unreadable file, a bad key or value.
    pub fn load(env: &Env) -> Result<Self, ConfigError> {
        let location = paths::config_path(env)?;
        Self::load_path(&location.path, env)
    }

    /// [`Config::load`] with the file's path given. A missing file means
    /// the defaults.
    ///
    /// # Errors
    ///
    /// As [`Config::load`].
    pub fn load_path(path: &Path, env: &Env) -> Result<Self, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_toml(&text, path, env),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let mut config = Self::defaults(env);
                config.apply_env(env)?;
                Ok(config)
            }
            Err(source) => Err(ConfigError::Read {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Read `text` as the contents of the config file at `path`, then apply
    /// the `KAGE_*` variables of `env`.
    ///
    /// # Errors
    ///
    /// As [`Config::load`].
    pub fn from_toml(text: &str, path: &Path, env: &Env) -> Result<Self, ConfigError> {
        let raw = raw::parse(text, path)?;
        let mut config = Self::defaults(env);
        config.apply_file(raw, text, path, env)?;
        config.apply_env(env)?;
        Ok(config)
    }

    /// Set one scalar key from text, as a command-line flag does:
    /// `config.set("agent.max_wait", "10m", Source::Flag("--max-wait".into()))`.
    /// Keys are those of [`Config::resolved_entries`] except routing. On
    /// error the config is unchanged.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidOverride`] for an unknown key or a bad value.
    pub fn set(&mut self, key: &str, value: &str, source: Source) -> Result<(), ConfigError> {
        let invalid = |message: String| ConfigError::InvalidOverride {
            origin: source.clone(),
            key: key.to_owned(),
            message,
        };
        let Some(parsed_key) = Key::from_path(key) else {
            let paths: Vec<String> = Key::ALL.into_iter().map(Key::path).collect();
            let message = match crate::error::nearest(key, paths.iter().map(String::as_str)) {
                Some(path) => format!("unknown key; did you mean `{path}`?"),
                None => format!("unknown key; use one of {}", paths.join(", ")),
            };
            return Err(invalid(message));
        };
        let value = parsed_key.parse_text(value).map_err(invalid)?;
        let value = resolve_text_path(value, &Env::empty());
        self.store(parsed_key, value, source);
        Ok(())
    }

    pub fn subscriptions(&self) -> &SubscriptionsConfig {
        &self.subscriptions
    }

    pub fn storage(&self) -> &StorageConfig {
        &self.storage
    }

    pub fn agent(&self) -> &AgentConfig {
        &self.agent
    }

    /// The routing rules of the file (empty without a file or a
    /// `[subscriptions.routing]` table). They are not yet checked against
    /// the pool: see [`Config::check_routing`].
    pub fn routing(&self) -> &RoutingRules {
        &self.routing
    }

    /// The file the values were read from; `None` when there was none.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    pub fn strategy(&self) -> Strategy {
        self.subscriptions.strategy
    }

    pub fn lease_ttl(&self) -> Duration {
        self.subscriptions.lease_ttl
    }

    /// The state machine's policy: the configured cooldowns and threshold,
    /// the domain's default backoffs.
    pub fn state_policy(&self) -> StatePolicy {
        StatePolicy {
            rate_limit_cooldown: self.subscriptions.rate_limit_cooldown,
            exhausted_cooldown: self.subscriptions.exhausted_cooldown,
            unhealthy_threshold: self.subscriptions.unhealthy_threshold,
            ..StatePolicy::default()
        }
    }

    /// Selection's policy: the configured strategy, threshold and windows,
    /// the domain's default utilization lifetime.
    pub fn selection_policy(&self) -> SelectionPolicy {
        SelectionPolicy {
            strategy: self.subscriptions.strategy,
            approaching_threshold: self.subscriptions.approaching_threshold,
            rate_limit_window: self.subscriptions.rate_limit_window,
            usage_window: self.subscriptions.usage_window,
            ..SelectionPolicy::default()
        }
    }

    /// Where the file's rule for `target` starts (its key).
    pub fn route_location(&self, target: &RouteTarget) -> Option<&Location> {
        self.route_locations
            .get(target)
            .map(|locations| &locations.key)
    }

    /// Where `entry` is written in the file's rule for `target`.
    pub fn route_entry_location(
        &self,
        target: &RouteTarget,
        entry: &RouteEntry,
    ) -> Option<&Location> {
        self.route_locations
            .get(target)?
            .entries
            .iter()
            .find(|(written, _)| written == entry)
            .map(|(_, location)| location)
    }

    /// Check the file's routing rules against the pool's subscription names:
    /// the first entry (in file order) naming an unknown subscription fails,
    /// with its location and the nearest known name. `tag:` entries never fail.
    ///
    /// # Errors
    ///
    /// [`ConfigError::UnknownRouteSubscription`].
    pub fn check_routing<'a>(
        &self,
        pool: impl IntoIterator<Item = &'a SubscriptionName>,
    ) -> Result<(), ConfigError> {
        let known: Vec<&SubscriptionName> = pool.into_iter().collect();
        let mut unknown: Vec<(Option<&Location>, RouteTarget, &SubscriptionName)> = Vec::new();
        for (target, entries) in self.routing.iter() {
            for entry in entries {
                if let RouteEntry::Subscription(name) = entry
                    && !known.contains(&name)
                {
                    unknown.push((
                        self.route_entry_location(&target, entry),
                        target.clone(),
                        name,
                    ));
                }
            }
        }
        unknown.sort_by_key(|(location, _, _)| {
            location.map(|location| (location.line, location.column))
        });
        match unknown.into_iter().next() {
            None => Ok(()),
            Some((location, target, name)) => {
                let suggestion =
                    crate::error::nearest(name.as_str(), known.iter().map(|known| known.as_str()))
                        .and_then(|nearest| SubscriptionName::new(nearest).ok());
                Err(ConfigError::UnknownRouteSubscription {
                    location: location.cloned(),
                    target,
                    name: name.clone(),
                    suggestion,
                })
            }
        }
    }

    /// Where a scalar key's value came from (`subscriptions.lease_ttl`).
    pub fn source(&self, key: &str) -> Option<&Source> {
        self.sources.get(&Key::from_path(key)?)
    }

    /// Every resolved value with its source: the scalar keys in a fixed order
    /// (`storage.database_url` and `storage.database_path` only when set),
    /// then one entry per routing rule of the file.
    pub fn resolved_entries(&self) -> Vec<ResolvedEntry> {
        let mut entries: Vec<ResolvedEntry> = Key::ALL
            .into_iter()
            .filter_map(|key| {
                Some(ResolvedEntry {
                    key: key.path(),
                    value: self.render(key)?,
                    source: self.sources.get(&key).cloned().unwrap_or(Source::Default),
                })
            })
            .collect();
        for (target, rule) in self.routing.iter() {
            let value = toml::Value::Array(
                rule.iter()
                    .map(|entry| toml::Value::String(entry.to_string()))
                    .collect(),
            );
            let source = self
                .route_location(&target)
                .cloned()
                .map_or(Source::Default, Source::File);
            entries.push(ResolvedEntry {
                key: format!("subscriptions.routing.{}", toml_key(target.value_str())),
                value: value.to_string(),
                source,
            });
        }
        entries
    }

    fn render(&self, key: Key) -> Option<String> {
        let text = |text: String| toml::Value::String(text).to_string();
        let duration = |duration: Duration| text(humantime::format_duration(duration).to_string());
        let subscriptions = &self.subscriptions;
        Some(match key {
            Key::DefaultPriority => text(subscriptions.strategy.as_str().to_owned()),
            Key::RateLimitWindow => duration(subscriptions.rate_limit_window),
            Key::RateLimitCooldown => duration(subscriptions.rate_limit_cooldown),
            Key::ExhaustedCooldown => duration(subscriptions.exhausted_cooldown),
            Key::UnhealthyThreshold => subscriptions.unhealthy_threshold.to_string(),
            Key::ApproachingThreshold => {
                toml::Value::Float(subscriptions.approaching_threshold).to_string()
            }
            Key::UsageWindow => duration(subscriptions.usage_window),
            Key::LeaseTtl => duration(subscriptions.lease_ttl),
            Key::AlertThresholds => toml::Value::Array(
                subscriptions
                    .alert_thresholds
                    .values()
                    .iter()
                    .map(|value| toml::Value::Float(*value))
                    .collect(),
            )
            .to_string(),
            Key::NotifyCommand => toml::Value::Array(
                subscriptions
                    .notify_command
                    .iter()
                    .cloned()
                    .map(toml::Value::String)
                    .collect(),
            )
            .to_string(),
            Key::NotifyTimeout => duration(subscriptions.notify_timeout),
            Key::DatabaseUrl => text(self.storage.database_url.as_ref()?.redacted()),
            Key::DatabasePath => text(self.storage.database_path.as_ref()?.display().to_string()),
            Key::Command => toml::Value::Array(
                self.agent
                    .command
                    .iter()
                    .cloned()
                    .map(toml::Value::String)
                    .collect(),
            )
            .to_string(),
            Key::MaxApiRetries => self.agent.max_api_retries.to_string(),
            Key::MaxWait => duration(self.agent.max_wait),
            Key::Parallel => self.agent.parallel.to_string(),
            Key::Isolation => text(self.agent.isolation?.as_str().to_owned()),
        })
    }

    fn store(&mut self, key: Key, value: Value, source: Source) {
        let subscriptions = &mut self.subscriptions;
        match (key, value) {
            (Key::DefaultPriority, Value::Strategy(strategy)) => subscriptions.strategy = strategy,
            (Key::RateLimitWindow, Value::Duration(duration)) => {
                subscriptions.rate_limit_window = duration
            }
            (Key::RateLimitCooldown, Value::Duration(duration)) => {
                subscriptions.rate_limit_cooldown = duration
            }
            (Key::ExhaustedCooldown, Value::Duration(duration)) => {
                subscriptions.exhausted_cooldown = duration
            }
            (Key::UnhealthyThreshold, Value::Count(count)) => {
                subscriptions.unhealthy_threshold = count
            }
            (Key::ApproachingThreshold, Value::Fraction(fraction)) => {
                subscriptions.approaching_threshold = fraction;
            }
            (Key::UsageWindow, Value::Duration(duration)) => subscriptions.usage_window = duration,
            (Key::LeaseTtl, Value::Duration(duration)) => subscriptions.lease_ttl = duration,
            (Key::AlertThresholds, Value::Thresholds(thresholds)) => {
                subscriptions.alert_thresholds = thresholds;
            }
            (Key::NotifyCommand, Value::Command(command)) => subscriptions.notify_command = command,
            (Key::NotifyTimeout, Value::Duration(duration)) => {
                subscriptions.notify_timeout = duration;
            }
            (Key::DatabaseUrl, Value::Url(url)) => self.storage.database_url = Some(url),
            (Key::DatabasePath, Value::Path(path)) => self.storage.database_path = Some(path),
            (Key::Command, Value::Command(command)) => self.agent.command = command,
            (Key::MaxApiRetries, Value::Count(count)) => self.agent.max_api_retries = count,
            (Key::MaxWait, Value::Duration(duration)) => self.agent.max_wait = duration,
            (Key::Parallel, Value::Count(count)) => self.agent.parallel = count,
            (Key::Isolation, Value::Isolation(isolation)) => {
                self.agent.isolation = Some(isolation);
            }
            (key, value) => unreachable!("Key::kind gave {value:?} for {key:?}"),
        }
        self.sources.insert(key, source);
    }

    fn apply_file(
        &mut self,
        raw: RawConfig,
        text: &str,
        path: &Path,
        env: &Env,
    ) -> Result<(), ConfigError> {
        let mut file = FileValues {
            text,
            path,
            env,
            values: Vec::new(),
            errors: Vec::new(),
        };
        let RawConfig {
            subscriptions,
            storage,
            agent,
        } = raw;
        let mut routing = None;
        if let Some(table) = subscriptions {
            file.string(Key::DefaultPriority, table.default_priority);
            file.string(Key::RateLimitWindow, table.rate_limit_window);
            file.string(Key::RateLimitCooldown, table.rate_limit_cooldown);
            file.string(Key::ExhaustedCooldown, table.exhausted_cooldown);
            file.integer(Key::UnhealthyThreshold, table.unhealthy_threshold);
            if let Some(number) = table.approaching_threshold {
                let span = number.span();
                let result = Key::ApproachingThreshold.check_float(number.into_inner().0);
                file.push(Key::ApproachingThreshold, span, result);
            }
            file.string(Key::UsageWindow, table.usage_window);
            file.string(Key::LeaseTtl, table.lease_ttl);
            if let Some(list) = table.alert_thresholds {
                let span = list.span();
                let numbers: Vec<f64> = list
                    .into_inner()
                    .into_iter()
                    .map(|number| number.into_inner().0)
                    .collect();
                let result = Key::AlertThresholds.check_thresholds(&numbers);
                file.push(Key::AlertThresholds, span, result);
            }
            if let Some(command) = table.notify_command {
                let span = command.span();
                let words = command
                    .into_inner()
                    .into_iter()
                    .map(Spanned::into_inner)
                    .collect();
                let result = Key::NotifyCommand.check_command(words);
                file.push(Key::NotifyCommand, span, result);
            }
            file.string(Key::NotifyTimeout, table.notify_timeout);
            routing = table.routing;
        }
        if let Some(table) = storage {
            file.string(Key::DatabaseUrl, table.database_url);
            file.string(Key::DatabasePath, table.database_path);
        }
        if let Some(table) = agent {
            if let Some(command) = table.command {
                let span = command.span();
                let words = command
                    .into_inner()
                    .into_iter()
                    .map(Spanned::into_inner)
                    .collect();
                file.push(Key::Command, span, Key::Command.check_command(words));
            }
            file.integer(Key::MaxApiRetries, table.max_api_retries);
            file.string(Key::MaxWait, table.max_wait);
            file.integer(Key::Parallel, table.parallel);
            file.string(Key::Isolation, table.isolation);
        }
        let rules = routing
            .map(|routing| file.routing(routing))
            .unwrap_or_default();

        let FileValues {
            values, mut errors, ..
        } = file;
        errors.sort_by_key(|(offset, _)| *offset);
        if let Some((_, error)) = errors.into_iter().next() {
            return Err(error);
        }
        for (key, value, location) in values {
            self.store(key, value, Source::File(location));
        }
        for (target, entries, locations) in rules {
            self.routing.set(target.clone(), entries);
            self.route_locations.insert(target, locations);
        }
        self.file = Some(path.to_owned());
        Ok(())
    }

    /// Apply `KAGE_SECTION__KEY` variables, then the short aliases
    /// (`KAGE_DATABASE_URL`, `KAGE_DATABASE_PATH`), which win. Checks every
    /// variable before changing anything.
    fn apply_env(&mut self, env: &Env) -> Result<(), ConfigError> {
        let nested: Vec<(String, Key)> = Key::ALL
            .into_iter()
            .map(|key| (key.env_var(), key))
            .collect();
        let mut values = Vec::new();
        for (var, text) in env.iter() {
            if !var.starts_with("KAGE_") || !var.contains("__") {
                continue;
            }
            let Some((_, key)) = nested.iter().find(|(name, _)| name == var) else {
                let suggestion = suggest_env_var(var);
                return Err(ConfigError::UnknownEnvVar {
                    var: var.to_owned(),
                    suggestion,
                });
            };
            values.push((*key, var.to_owned(), text));
        }
        for key in Key::ALL {
            if let Some(var) = key.alias_var()
                && let Some(text) = env.get(var)
            {
                values.push((key, var.to_owned(), text));
            }
        }
        let mut checked = Vec::new();
        for (key, var, text) in values {
            let value = key
                .parse_text(text)
                .map_err(|message| ConfigError::InvalidOverride {
                    origin: Source::Env(var.clone()),
                    key: key.path(),
                    message,
                })?;
            checked.push((key, resolve_text_path(value, env), Source::Env(var)));
        }
        for (key, value, source) in checked {
            self.store(key, value, source);
        }
        Ok(())
    }
}

/// The variable an unknown `KAGE_SECTION__KEY` was probably meant to be:
/// the nearest section, then the nearest key in it. Routing has no variables.
fn suggest_env_var(var: &str) -> Option<String> {
    let (section, name) = var.strip_prefix("KAGE_")?.split_once("__")?;
    let sections = ["subscriptions", "storage", "agent"];
    let section = crate::error::nearest(section, sections)?;
    if name.to_ascii_lowercase().starts_with("routing") {
        return None;
    }
    let names = Key::ALL
        .into_iter()
        .filter(|key| key.section() == section)
        .map(Key::name);
    let name = crate::error::nearest(name, names)?;
    Some(format!("KAGE_{section}__{name}").to_ascii_uppercase())
}

/// A path given as text (environment or flag): `~` expanded, a relative
/// path kept relative to the working directory.
fn resolve_text_path(value: Value, env: &Env) -> Value {
    match value {
        Value::Path(path) => Value::Path(paths::expand_home(&path.to_string_lossy(), env)),
        other => other,
    }
}

/// A routing key as a TOML key: bare when it can be, quoted otherwise.
pub(crate) fn toml_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if bare {
        key.to_owned()
    } else {
        toml::Value::String(key.to_owned()).to_string()
    }
}

type Rule = (RouteTarget, Vec<RouteEntry>, RouteLocations);

/// Values checked from the file, with their errors, kept apart until every
/// value has been checked.
struct FileValues<'a> {
    text: &'a str,
    path: &'a Path,
    env: &'a Env,
    values: Vec<(Key, Value, Location)>,
    errors: Vec<(usize, ConfigError)>,
}

impl FileValues<'_> {
    fn location(&self, offset: usize) -> Location {
        Location::at(self.path, self.text, offset)
    }

    fn push(&mut self, key: Key, span: std::ops::Range<usize>, result: Result<Value, String>) {
        let location = self.location(span.start);
        match result {
            Ok(Value::Path(path)) => {
                let path = paths::file_relative(&path.to_string_lossy(), self.path, self.env);
                self.values.push((key, Value::Path(path), location));
            }
            Ok(value) => self.values.push((key, value, location)),
            Err(message) => self.errors.push((
                span.start,
                ConfigError::InvalidValue {
                    location,
                    key: key.path(),
                    message,
                },
            )),
        }
    }

    fn string(&mut self, key: Key, value: Option<Spanned<String>>) {
        if let Some(value) = value {
            let result = key.check_str(value.get_ref());
            self.push(key, value.span(), result);
        }
    }

    fn integer(&mut self, key: Key, value: Option<Spanned<i64>>) {
        if let Some(value) = value {
            let result = key.check_integer(*value.get_ref());
            self.push(key, value.span(), result);
        }
    }

    fn error(&mut self, offset: usize, key: String, message: String) {
        let location = self.location(offset);
        self.errors.push((
            offset,
            ConfigError::InvalidValue {
                location,
                key,
                message,
            },
        ));
    }

    fn routing(&mut self, routing: raw::RawRouting) -> Vec<Rule> {
        let mut rules = Vec::new();
        for (key, list) in routing {
            let key_span = key.span();
            let key = key.into_inner();
            let dotted = format!("subscriptions.routing.{}", toml_key(&key));
            let target = match RouteTarget::from_key(&key) {
                Ok(target) => target,
                Err(error) => {
                    let message = format!(
                        "{error}; a routing key is a priority level (high, normal, low, batch) or a namespace"
                    );
                    self.error(key_span.start, dotted, message);
                    continue;
                }
            };
            let list_span = list.span();
            let list = list.into_inner();
            if list.is_empty() {
                let message = "the list is empty, so nothing could run there; name subscriptions or `tag:NAME`, or remove the key to allow every subscription".to_owned();
                self.error(list_span.start, dotted, message);
                continue;
            }
            let mut entries = Vec::new();
            let mut locations = Vec::new();
            for (index, item) in list.into_iter().enumerate() {
                match item.get_ref().parse::<RouteEntry>() {
                    Ok(entry) => {
                        locations.push((entry.clone(), self.location(item.span().start)));
                        entries.push(entry);
                    }
                    Err(error) => {
                        let message = format!("{error}; write a subscription name or `tag:NAME`");
                        self.error(item.span().start, format!("{dotted}[{index}]"), message);
                    }
                }
            }
            let key_location = self.location(key_span.start);
            rules.push((
                target,
                entries,
                RouteLocations {
                    key: key_location,
                    entries: locations,
                },
            ));
        }
        rules
    }
}
