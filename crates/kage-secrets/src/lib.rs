//! Kage's secret stores: where subscription credentials live, implementing
//! the [`SecretStore`] port.
//!
//! One implementation, [`SourceDispatchingSecretStore`], dispatches on the
//! subscription's [`CredentialSource`](kage_domain::CredentialSource):
//!
//! - `Keychain` → a [`KeychainBackend`]: the OS keychain
//!   ([`KeyringSecretStore`], see [`keyring_backend`] for which keychain is
//!   picked, including the Linux kernel keyring that is **cleared at
//!   reboot**), the in-memory test double ([`InMemorySecretStore`]) or the
//!   insecure test-only file store ([`InsecureFileSecretStore`]);
//! - `Command` → runs the command without a shell and reads its standard
//!   output ([`command`]);
//! - `Env` → reads the variable at fetch time ([`mod@env`]).
//!
//! Applications construct the store with [`secret_store_from_env`] (the OS
//! keychain unless `KAGE_SECRET_BACKEND` selects the test file store) and
//! may show [`SourceDispatchingSecretStore::backend_name`].
//!
//! Secrets only ever travel as [`secrecy::SecretString`] (wiped on drop, no
//! revealing `Debug`); command output is read into zeroized buffers; no
//! error, log line or `Debug` output contains a credential.

pub mod command;
mod dispatch;
pub mod env;
mod file;
mod keychain;
pub mod keyring_backend;
mod memory;
mod select;
mod shape;

pub use command::DEFAULT_COMMAND_TIMEOUT;
pub use dispatch::{DEFAULT_KEYCHAIN_TIMEOUT, KeychainDescription, SourceDispatchingSecretStore};
pub use env::{EnvLookup, process_env};
pub use file::{INSECURE_FILE_STORE_NAME, InsecureFileKeychain, InsecureFileSecretStore};
pub use keychain::{KeychainBackend, KeychainError, SERVICE};
pub use keyring_backend::{KeyringBackend, KeyringKeychain, KeyringSecretStore};
pub use memory::{IN_MEMORY_KEYCHAIN_NAME, InMemoryKeychain, InMemorySecretStore, KeychainFault};
pub use select::{
    INSECURE_TEST_FILE_PREFIX, SECRET_BACKEND_ENV, SelectedSecretStore, secret_store_for,
    secret_store_from_env,
};
pub use shape::{check_credential_shape, looks_like_credential};

pub use kage_ports::{SecretError, SecretStore};
pub use secrecy::{ExposeSecret, SecretString};
