//! Choosing the secret store an application uses: [`secret_store_from_env`].
//!
//! | `KAGE_SECRET_BACKEND` | store |
//! |---|---|
//! | unset, empty or `keychain` | the OS keychain ([`crate::KeyringSecretStore`]) |
//! | `insecure-test-file:<dir>` | plain files in `<dir>` ([`crate::InsecureFileSecretStore`]); **tests only**, logs a warning |
//!
//! Anything else is an error, so a typo never silently picks a store.

use std::ffi::OsStr;
use std::sync::Arc;

use kage_ports::SecretError;

use crate::dispatch::SourceDispatchingSecretStore;
use crate::file::InsecureFileKeychain;
use crate::keychain::KeychainBackend;
use crate::keyring_backend::KeyringKeychain;

/// The variable that selects the secret store.
pub const SECRET_BACKEND_ENV: &str = "KAGE_SECRET_BACKEND";

/// The value prefix that selects the insecure test file store.
pub const INSECURE_TEST_FILE_PREFIX: &str = "insecure-test-file:";

/// The store an application runs with, whichever keychain backs it.
pub type SelectedSecretStore = SourceDispatchingSecretStore<dyn KeychainBackend>;

/// The secret store selected by `KAGE_SECRET_BACKEND`: the OS keychain
/// unless a test asks for the insecure file store.
///
/// # Errors
/// [`SecretError::Unknown`] for an unknown value or a file-store folder that
/// cannot be created. A missing keychain is not an error here: it is
/// reported by the first call that needs it.
pub fn secret_store_from_env() -> Result<SelectedSecretStore, SecretError> {
    secret_store_for(std::env::var_os(SECRET_BACKEND_ENV).as_deref())
}

/// [`secret_store_from_env`] for a given `KAGE_SECRET_BACKEND` value.
///
/// # Errors
/// As [`secret_store_from_env`].
pub fn secret_store_for(value: Option<&OsStr>) -> Result<SelectedSecretStore, SecretError> {
    let value = value.unwrap_or_default();
    let text = value.to_str().ok_or_else(|| {
        SecretError::Unknown(anyhow::anyhow!("{SECRET_BACKEND_ENV} is not UTF-8 text"))
    })?;
    let keychain: Arc<dyn KeychainBackend> = match text {
        "" | "keychain" => Arc::new(KeyringKeychain::new()),
        _ if text.starts_with(INSECURE_TEST_FILE_PREFIX) => {
            let dir = &text[INSECURE_TEST_FILE_PREFIX.len()..];
            let keychain = InsecureFileKeychain::open(dir)?;
            // Once per process, however many stores an application builds.
            static WARNED: std::sync::Once = std::sync::Once::new();
            WARNED.call_once(|| {
                tracing::warn!(
                    dir = %keychain.dir().display(),
                    "{SECRET_BACKEND_ENV} selects the INSECURE test file store: credentials are \
                     kept in plain files; use it only in tests"
                );
            });
            Arc::new(keychain)
        }
        _ => {
            return Err(SecretError::Unknown(anyhow::anyhow!(
                "unknown {SECRET_BACKEND_ENV} value {text:?}; unset it to use the OS keychain \
                 (`keychain`), or use `{INSECURE_TEST_FILE_PREFIX}<dir>` in tests"
            )));
        }
    };
    Ok(SourceDispatchingSecretStore::from_keychain(keychain))
}
