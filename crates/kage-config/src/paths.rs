//! Where the config file and the embedded database live.
//!
//! The config file is found by the first rule that applies:
//!
//! 1. `KAGE_CONFIG`: the path of the file itself;
//! 2. `KAGE_CONFIG_DIR`: a folder holding `config.toml`;
//! 3. `$XDG_CONFIG_HOME/kage/config.toml` (when `XDG_CONFIG_HOME` is absolute);
//! 4. `~/.config/kage/config.toml`, on macOS too, as the seed document says.
//!
//! The embedded SQLite database defaults to `$XDG_DATA_HOME/kage/kage.db`,
//! else `~/.local/share/kage/kage.db`.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::{ConfigError, Env};

/// Which rule chose the config file's path.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PathRule {
    /// `KAGE_CONFIG` names the file.
    KageConfig,
    /// `KAGE_CONFIG_DIR` names its folder.
    KageConfigDir,
    /// `$XDG_CONFIG_HOME/kage/config.toml`.
    XdgConfigHome,
    /// `~/.config/kage/config.toml`.
    Home,
}

impl fmt::Display for PathRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::KageConfig => "KAGE_CONFIG",
            Self::KageConfigDir => "KAGE_CONFIG_DIR",
            Self::XdgConfigHome => "XDG_CONFIG_HOME",
            Self::Home => "HOME",
        })
    }
}

/// The config file's path and the rule that chose it. The file need not exist.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ConfigPath {
    pub path: PathBuf,
    pub rule: PathRule,
}

/// Find the config file's path.
///
/// # Errors
///
/// [`ConfigError::NoConfigLocation`] when none of `KAGE_CONFIG`,
/// `KAGE_CONFIG_DIR`, `XDG_CONFIG_HOME` and `HOME` is set.
pub fn config_path(env: &Env) -> Result<ConfigPath, ConfigError> {
    if let Some(file) = env.get("KAGE_CONFIG") {
        return Ok(ConfigPath {
            path: expand_home(file, env),
            rule: PathRule::KageConfig,
        });
    }
    if let Some(dir) = env.get("KAGE_CONFIG_DIR") {
        return Ok(ConfigPath {
            path: expand_home(dir, env).join("config.toml"),
            rule: PathRule::KageConfigDir,
        });
    }
    if let Some(dir) = env.xdg_dir("XDG_CONFIG_HOME") {
        return Ok(ConfigPath {
            path: dir.join("kage").join("config.toml"),
            rule: PathRule::XdgConfigHome,
        });
    }
    if let Some(home) = env.home_dir() {
        return Ok(ConfigPath {
            path: home.join(".config").join("kage").join("config.toml"),
            rule: PathRule::Home,
        });
    }
    Err(ConfigError::NoConfigLocation)
}

/// The embedded database's default path: `$XDG_DATA_HOME/kage/kage.db`, else
/// `~/.local/share/kage/kage.db`; `None` when neither variable is set.
pub fn default_database_path(env: &Env) -> Option<PathBuf> {
    let data_dir = env
        .xdg_dir("XDG_DATA_HOME")
        .or_else(|| env.home_dir().map(|home| home.join(".local").join("share")))?;
    Some(data_dir.join("kage").join("kage.db"))
}

/// `~` and `~/…` become the home directory (when known); anything else is
/// kept as written.
pub(crate) fn expand_home(path: &str, env: &Env) -> PathBuf {
    let rest = match path {
        "~" => Some(""),
        _ => path.strip_prefix("~/"),
    };
    match (rest, env.home_dir()) {
        (Some(""), Some(home)) => home,
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(path),
    }
}

/// A path written in the config file: `~` expanded, and a relative path
/// taken relative to the file's folder.
pub(crate) fn file_relative(path: &str, config_file: &Path, env: &Env) -> PathBuf {
    let expanded = expand_home(path, env);
    if expanded.is_absolute() {
        return expanded;
    }
    match config_file.parent() {
        Some(folder) if !folder.as_os_str().is_empty() => folder.join(expanded),
        _ => expanded,
    }
}
