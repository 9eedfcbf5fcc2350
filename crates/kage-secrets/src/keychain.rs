//! The keychain half of a secret store: where `CredentialSource::Keychain`
//! credentials are kept.
//!
//! A [`KeychainBackend`] is a small, blocking, secret-in/secret-out map keyed
//! by the subscription id (the keychain *account*; the *service* is always
//! [`SERVICE`]). Implementations: the real OS keychain
//! ([`crate::KeyringKeychain`]), the in-memory test double
//! ([`crate::InMemoryKeychain`]) and the test-only file store
//! ([`crate::InsecureFileKeychain`]). The command and environment sources
//! do not live here: [`crate::SourceDispatchingSecretStore`] handles them the
//! same way for every backend.

use kage_domain::SubscriptionId;
use secrecy::SecretString;

/// The keychain service name every Kage credential is filed under.
pub const SERVICE: &str = "kage";

/// Why a keychain operation failed. No variant ever holds the secret; the
/// `detail` strings come from the platform and name no credential value.
#[derive(Debug, thiserror::Error)]
pub enum KeychainError {
    /// The keychain has no entry for the account.
    #[error("no entry")]
    NotFound,
    /// The keychain exists but is locked (or access was refused).
    #[error("the keychain is locked ({detail})")]
    Locked { detail: String },
    /// No usable keychain on this host.
    #[error("no keychain ({detail})")]
    Unavailable { detail: String },
    /// Anything else.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// A blocking store of keychain credentials, keyed by subscription id.
///
/// Calls may block (D-Bus round trips, system calls, prompts); the
/// dispatching store always runs them off the async runtime, on a thread
/// of their own.
pub trait KeychainBackend: Send + Sync + 'static {
    /// Which store this is, for screens and error messages
    /// (`Secret Service`, `kernel keyring`), or why there is none.
    ///
    /// # Errors
    /// [`KeychainError::Unavailable`] when no store can be used here.
    fn probe(&self) -> Result<String, KeychainError>;

    /// Whether the store forgets its entries at reboot (the Linux kernel
    /// keyring), so people can be told to keep their credential elsewhere.
    /// Only meaningful after a successful [`KeychainBackend::probe`].
    fn lost_at_reboot(&self) -> bool {
        false
    }

    /// Store or replace the credential of `account`.
    ///
    /// # Errors
    /// [`KeychainError::Locked`], [`KeychainError::Unavailable`] or
    /// [`KeychainError::Other`].
    fn set(&self, account: SubscriptionId, secret: &SecretString) -> Result<(), KeychainError>;

    /// Read the credential of `account`.
    ///
    /// # Errors
    /// [`KeychainError::NotFound`] when there is no entry, the others as for
    /// [`KeychainBackend::set`].
    fn get(&self, account: SubscriptionId) -> Result<SecretString, KeychainError>;

    /// Delete the credential of `account`.
    ///
    /// # Errors
    /// [`KeychainError::NotFound`] when there was no entry, the others as for
    /// [`KeychainBackend::set`].
    fn delete(&self, account: SubscriptionId) -> Result<(), KeychainError>;
}
