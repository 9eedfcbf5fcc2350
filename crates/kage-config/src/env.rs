//! The environment variables config loading reads, captured as a value.
//!
//! Every function of this crate that looks at the environment takes an
//! [`Env`], so tests are hermetic: they build one from pairs instead of
//! touching the process environment.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// A snapshot of environment variables.
///
/// An empty value counts as unset everywhere in this crate, as `XDG_*`
/// variables do by the XDG base directory specification. `Debug` shows the
/// names only: the environment may hold credentials.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Env {
    vars: BTreeMap<String, String>,
}

impl Env {
    /// No variables at all.
    pub fn empty() -> Self {
        Self::default()
    }

    /// The current process's environment. Variables whose name or value is
    /// not valid UTF-8 are left out.
    pub fn from_process() -> Self {
        std::env::vars_os()
            .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
            .collect()
    }

    /// Builder: add or replace one variable.
    #[must_use]
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.vars.insert(name.into(), value.into());
        self
    }

    /// The value of `name`, or `None` when it is unset or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|value| !value.is_empty())
    }

    /// Every set, non-empty variable, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars
            .iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(name, value)| (name.as_str(), value.as_str()))
    }

    /// The user's home directory: `HOME`, else `USERPROFILE` (Windows).
    pub fn home_dir(&self) -> Option<PathBuf> {
        self.get("HOME")
            .or_else(|| self.get("USERPROFILE"))
            .map(PathBuf::from)
    }

    /// An absolute directory from an `XDG_*` variable; relative values are
    /// ignored, as the XDG base directory specification requires.
    pub(crate) fn xdg_dir(&self, name: &str) -> Option<PathBuf> {
        self.get(name)
            .map(PathBuf::from)
            .filter(|path| path.is_absolute())
    }
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env")
            .field("names", &self.vars.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Env {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self {
            vars: iter
                .into_iter()
                .map(|(name, value)| (name.into(), value.into()))
                .collect(),
        }
    }
}
