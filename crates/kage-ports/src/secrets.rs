//! Where credentials live. Implementations never log, print or return a
//! secret except as the `SecretString` of [`SecretStore::fetch`].

use std::sync::Arc;

use async_trait::async_trait;
use kage_domain::{CredentialSource, SubscriptionId, SubscriptionName};
use secrecy::SecretString;

/// Why a credential could not be stored, read or deleted. No variant ever
/// holds the secret: only names, commands, variables and the fix.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(
        "no credential for subscription {subscription} in the {store}; add it again with `kage subscription edit {subscription} --rotate-credential`"
    )]
    NotFound {
        subscription: SubscriptionName,
        store: String,
    },
    #[error(
        "the OS keychain is not available ({detail}); on a headless host use `--credential-command \"…\"` or `--credential-env VAR` instead"
    )]
    KeychainUnavailable { detail: String },
    #[error("the OS keychain is locked ({detail}); unlock it, then try again")]
    KeychainLocked { detail: String },
    #[error(
        "credential command `{command}` for subscription {subscription} failed ({status}){stderr}"
    )]
    CommandFailed {
        subscription: SubscriptionName,
        command: String,
        status: String,
        stderr: String,
    },
    #[error(
        "credential command `{command}` for subscription {subscription} did not finish within {seconds}s"
    )]
    CommandTimedOut {
        subscription: SubscriptionName,
        command: String,
        seconds: u64,
    },
    #[error(
        "credential command `{command}` for subscription {subscription} printed nothing on standard output"
    )]
    CommandEmpty {
        subscription: SubscriptionName,
        command: String,
    },
    #[error(
        "environment variable {variable} for subscription {subscription} is not set or empty; export it before running Kage"
    )]
    EnvUnset {
        subscription: SubscriptionName,
        variable: String,
    },
    #[error(
        "subscription {subscription} reads its credential from {source_description}, so Kage does not store one"
    )]
    NotStorable {
        subscription: SubscriptionName,
        source_description: String,
    },
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// Store (or replace) the credential of a keychain-backed subscription.
    ///
    /// # Errors
    /// [`SecretError::NotStorable`] for command and environment sources;
    /// [`SecretError::KeychainUnavailable`] / [`SecretError::KeychainLocked`].
    async fn store(
        &self,
        id: SubscriptionId,
        name: &SubscriptionName,
        source: &CredentialSource,
        secret: SecretString,
    ) -> Result<(), SecretError>;

    /// Read the credential, from wherever `source` says it lives.
    ///
    /// # Errors
    /// [`SecretError::NotFound`] when the keychain has no entry, the command
    /// and environment variants when those sources fail.
    async fn fetch(
        &self,
        id: SubscriptionId,
        name: &SubscriptionName,
        source: &CredentialSource,
    ) -> Result<SecretString, SecretError>;

    /// Delete a keychain credential; a no-op for other sources and for a
    /// missing entry.
    async fn delete(
        &self,
        id: SubscriptionId,
        name: &SubscriptionName,
        source: &CredentialSource,
    ) -> Result<(), SecretError>;
}

macro_rules! delegate_secrets {
    ($wrapper:ident) => {
        #[async_trait]
        impl<T: SecretStore + ?Sized> SecretStore for $wrapper<T> {
            async fn store(
                &self,
                id: SubscriptionId,
                name: &SubscriptionName,
                source: &CredentialSource,
                secret: SecretString,
            ) -> Result<(), SecretError> {
                (**self).store(id, name, source, secret).await
            }

            async fn fetch(
                &self,
                id: SubscriptionId,
                name: &SubscriptionName,
                source: &CredentialSource,
            ) -> Result<SecretString, SecretError> {
                (**self).fetch(id, name, source).await
            }

            async fn delete(
                &self,
                id: SubscriptionId,
                name: &SubscriptionName,
                source: &CredentialSource,
            ) -> Result<(), SecretError> {
                (**self).delete(id, name, source).await
            }
        }
    };
}

delegate_secrets!(Box);
delegate_secrets!(Arc);
