//! The environment source: a subscription names a variable that holds its
//! credential, read each time the credential is fetched (so a rotated value
//! is picked up by the next lease). Surrounding whitespace is trimmed.

use std::ffi::OsString;
use std::sync::Arc;

use kage_domain::SubscriptionName;
use kage_ports::SecretError;
use secrecy::SecretString;
use zeroize::Zeroizing;

/// Looks a variable up; the process environment by default
/// ([`process_env`]), a fixed map in tests.
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<OsString> + Send + Sync>;

/// The real process environment.
pub fn process_env() -> EnvLookup {
    Arc::new(|variable| std::env::var_os(variable))
}

/// Read the credential of `subscription` from `variable`.
///
/// # Errors
/// [`SecretError::EnvUnset`] when the variable is unset, empty or only
/// whitespace; [`SecretError::Unknown`] when it is not UTF-8 text.
pub(crate) fn read_env_credential(
    subscription: &SubscriptionName,
    variable: &str,
    lookup: &EnvLookup,
) -> Result<SecretString, SecretError> {
    let unset = || SecretError::EnvUnset {
        subscription: subscription.clone(),
        variable: variable.to_owned(),
    };
    if variable.is_empty() || variable.contains('=') || variable.contains('\0') {
        return Err(SecretError::Unknown(anyhow::anyhow!(
            "subscription {subscription} names an invalid environment variable {variable:?}; \
             fix it with `kage subscription edit {subscription} --credential-env VAR`"
        )));
    }
    let value = lookup(variable).ok_or_else(unset)?;
    let value = Zeroizing::new(value.into_string().map_err(|_not_utf8| {
        SecretError::Unknown(anyhow::anyhow!(
            "environment variable {variable} for subscription {subscription} is not UTF-8 text; \
             export the credential again"
        ))
    })?);
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(unset());
    }
    Ok(SecretString::from(trimmed.to_owned()))
}
