//! [`SourceDispatchingSecretStore`]: the one [`SecretStore`] implementation.
//!
//! It dispatches on the subscription's [`CredentialSource`]: keychain
//! credentials go to a [`KeychainBackend`] (the OS keychain, the in-memory
//! test double or the test-only file store), command and environment
//! sources are run and read by the same code whatever the backend.
//!
//! Keychain calls block, so each runs on a thread of its own, bounded by a
//! timeout: a keychain waiting on an unlock prompt must not hang Kage. A
//! detached thread rather than tokio's `spawn_blocking`, because a runtime
//! waits for its blocking tasks when it shuts down, so a call stuck in the
//! keychain would keep `kage` from exiting after it reported the timeout.

use std::ffi::OsString;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kage_domain::{CredentialSource, SubscriptionId, SubscriptionName};
use kage_ports::{SecretError, SecretStore};
use secrecy::{ExposeSecret, SecretString};

use crate::command::{DEFAULT_COMMAND_TIMEOUT, mask_credentials, run_credential_command};
use crate::env::{EnvLookup, process_env, read_env_credential};
use crate::keychain::{KeychainBackend, KeychainError};

/// Which keychain keeps `CredentialSource::Keychain` credentials here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeychainDescription {
    /// `Secret Service`, `kernel keyring`, `macOS Keychain`, `Windows
    /// Credential Manager`, or a test store's name.
    pub name: String,
    /// The kernel keyring: its entries are gone after a reboot.
    pub lost_at_reboot: bool,
}

/// How long one keychain call may take before Kage gives up on it.
pub const DEFAULT_KEYCHAIN_TIMEOUT: Duration = Duration::from_secs(60);

/// A [`SecretStore`] over a keychain backend `K`, plus the command and
/// environment sources.
pub struct SourceDispatchingSecretStore<K: KeychainBackend + ?Sized> {
    keychain: Arc<K>,
    command_timeout: Duration,
    keychain_timeout: Duration,
    env_lookup: EnvLookup,
}

impl<K: KeychainBackend + ?Sized> fmt::Debug for SourceDispatchingSecretStore<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceDispatchingSecretStore")
            .field("command_timeout", &self.command_timeout)
            .field("keychain_timeout", &self.keychain_timeout)
            .finish_non_exhaustive()
    }
}

impl<K: KeychainBackend + ?Sized> Clone for SourceDispatchingSecretStore<K> {
    fn clone(&self) -> Self {
        Self {
            keychain: Arc::clone(&self.keychain),
            command_timeout: self.command_timeout,
            keychain_timeout: self.keychain_timeout,
            env_lookup: Arc::clone(&self.env_lookup),
        }
    }
}

impl<K: KeychainBackend + ?Sized> SourceDispatchingSecretStore<K> {
    /// A store over `keychain`, reading the process environment, with the
    /// default timeouts.
    pub fn from_keychain(keychain: Arc<K>) -> Self {
        Self {
            keychain,
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
            keychain_timeout: DEFAULT_KEYCHAIN_TIMEOUT,
            env_lookup: process_env(),
        }
    }

    /// How long a credential command may run before it is killed
    /// (default [`DEFAULT_COMMAND_TIMEOUT`]).
    #[must_use]
    pub fn with_command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// How long one keychain call may take (default
    /// [`DEFAULT_KEYCHAIN_TIMEOUT`]).
    #[must_use]
    pub fn with_keychain_timeout(mut self, timeout: Duration) -> Self {
        self.keychain_timeout = timeout;
        self
    }

    /// Read `--credential-env` variables through `lookup` instead of the
    /// process environment (tests cannot safely change their own).
    #[must_use]
    pub fn with_env_lookup(
        mut self,
        lookup: impl Fn(&str) -> Option<OsString> + Send + Sync + 'static,
    ) -> Self {
        self.env_lookup = Arc::new(lookup);
        self
    }

    /// The keychain backend, e.g. to inspect or fault an
    /// [`crate::InMemoryKeychain`] in a test.
    pub fn keychain(&self) -> &K {
        &self.keychain
    }

    /// Which keychain this store uses (`Secret Service`, `kernel keyring`,
    /// `macOS Keychain`, …), detecting it if that has not happened yet.
    ///
    /// # Errors
    /// [`SecretError::KeychainUnavailable`] when there is no usable keychain
    /// (the message names `--credential-command` and `--credential-env`).
    pub async fn backend_name(&self) -> Result<String, SecretError> {
        Ok(self.keychain_description().await?.name)
    }

    /// [`Self::backend_name`], and whether that keychain forgets its entries
    /// at reboot (the Linux kernel keyring).
    ///
    /// # Errors
    /// As [`Self::backend_name`].
    pub async fn keychain_description(&self) -> Result<KeychainDescription, SecretError> {
        let keychain = Arc::clone(&self.keychain);
        let probe = run_on_own_thread(move || {
            keychain.probe().map(|name| KeychainDescription {
                name,
                lost_at_reboot: keychain.lost_at_reboot(),
            })
        })?;
        match tokio::time::timeout(self.keychain_timeout, probe).await {
            Err(_elapsed) => Err(SecretError::KeychainUnavailable {
                detail: format!(
                    "it did not answer within {}",
                    describe_duration(self.keychain_timeout)
                ),
            }),
            Ok(Err(_gone)) => Err(SecretError::Unknown(anyhow::anyhow!(
                "the keychain check stopped unexpectedly"
            ))),
            Ok(Ok(Ok(description))) => Ok(description),
            Ok(Ok(Err(error))) => Err(map_unscoped(error)),
        }
    }

    /// Run one blocking keychain call on its own thread and map its error for
    /// `subscription`.
    async fn keychain_call<T: Send + 'static>(
        &self,
        action: &'static str,
        subscription: &SubscriptionName,
        call: impl FnOnce(&K) -> Result<T, KeychainError> + Send + 'static,
    ) -> Result<T, SecretError> {
        let keychain = Arc::clone(&self.keychain);
        let task = run_on_own_thread(move || {
            let result = call(&keychain);
            // The store's name is only needed for errors; the probe is cached.
            let store = match &result {
                Err(KeychainError::NotFound | KeychainError::Other(_)) => {
                    keychain.probe().unwrap_or_else(|_| "keychain".to_owned())
                }
                _ => String::new(),
            };
            (result, store)
        })?;
        match tokio::time::timeout(self.keychain_timeout, task).await {
            Err(_elapsed) => Err(SecretError::KeychainLocked {
                detail: format!(
                    "it did not answer within {}, perhaps it is waiting for an unlock prompt",
                    describe_duration(self.keychain_timeout)
                ),
            }),
            Ok(Err(_gone)) => Err(SecretError::Unknown(anyhow::anyhow!(
                "the keychain call to {action} the credential of subscription {subscription} \
                 stopped unexpectedly"
            ))),
            Ok(Ok((Ok(value), _))) => Ok(value),
            Ok(Ok((Err(error), store))) => Err(match error {
                KeychainError::NotFound => {
                    SecretError::NotFound { subscription: subscription.clone(), store }
                }
                KeychainError::Other(error) => SecretError::Unknown(error.context(format!(
                    "could not {action} the credential of subscription {subscription} in the {store}"
                ))),
                other => map_unscoped(other),
            }),
        }
    }
}

/// Run `work` on a new detached thread; the receiver yields its result, or
/// an error when the thread panicked.
fn run_on_own_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<tokio::sync::oneshot::Receiver<T>, SecretError> {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("kage-keychain".to_owned())
        .spawn(move || {
            // The receiver is gone when the caller gave up waiting.
            let _ = sender.send(work());
        })
        .map_err(|error| {
            SecretError::Unknown(anyhow::anyhow!(
                "could not start a thread for the keychain: {error}"
            ))
        })?;
    Ok(receiver)
}

/// `60s`, or `250ms` for timeouts below a second.
fn describe_duration(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis())
    }
}

/// Map the keychain errors that need no subscription name.
fn map_unscoped(error: KeychainError) -> SecretError {
    match error {
        KeychainError::Locked { detail } => SecretError::KeychainLocked { detail },
        KeychainError::Unavailable { detail } => SecretError::KeychainUnavailable { detail },
        KeychainError::NotFound => {
            SecretError::Unknown(anyhow::anyhow!("the keychain reported a missing entry"))
        }
        KeychainError::Other(error) => SecretError::Unknown(error),
    }
}

#[async_trait]
impl<K: KeychainBackend + ?Sized> SecretStore for SourceDispatchingSecretStore<K> {
    async fn store(
        &self,
        id: SubscriptionId,
        name: &SubscriptionName,
        source: &CredentialSource,
        secret: SecretString,
    ) -> Result<(), SecretError> {
        match source {
            CredentialSource::Keychain => {
                if secret.expose_secret().trim().is_empty() {
                    return Err(SecretError::Unknown(anyhow::anyhow!(
                        "refusing to store an empty credential for subscription {name}; \
                         paste the token again"
                    )));
                }
                self.keychain_call("store", name, move |keychain| keychain.set(id, &secret))
                    .await
            }
            CredentialSource::Command(_) | CredentialSource::Env(_) => {
                Err(SecretError::NotStorable {
                    subscription: name.clone(),
                    source_description: mask_credentials(&source.describe()),
                })
            }
        }
    }

    async fn fetch(
        &self,
        id: SubscriptionId,
        name: &SubscriptionName,
        source: &CredentialSource,
    ) -> Result<SecretString, SecretError> {
        match source {
            CredentialSource::Keychain => {
                self.keychain_call("read", name, move |keychain| keychain.get(id))
                    .await
            }
            CredentialSource::Command(command) => {
                run_credential_command(name, command, self.command_timeout).await
            }
            CredentialSource::Env(variable) => {
                read_env_credential(name, variable, &self.env_lookup)
            }
        }
    }

    async fn delete(
        &self,
        id: SubscriptionId,
        name: &SubscriptionName,
        source: &CredentialSource,
    ) -> Result<(), SecretError> {
        match source {
            CredentialSource::Keychain => {
                match self
                    .keychain_call("delete", name, move |keychain| keychain.delete(id))
                    .await
                {
                    Ok(()) | Err(SecretError::NotFound { .. }) => Ok(()),
                    Err(error) => Err(error),
                }
            }
            CredentialSource::Command(_) | CredentialSource::Env(_) => Ok(()),
        }
    }
}
