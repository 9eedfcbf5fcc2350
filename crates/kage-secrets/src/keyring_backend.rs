//! The real OS keychain, through the `keyring` crate: [`KeyringKeychain`]
//! and the store over it, [`KeyringSecretStore`].
//!
//! Every credential is filed under service `kage` and account = the
//! subscription's id, so renaming a subscription keeps its credential.
//!
//! # Which keychain
//!
//! - **macOS**: the login Keychain (`apple-native`).
//! - **Windows**: the Credential Manager (`windows-native`).
//! - **Linux**: the first that works of
//!   1. the **Secret Service** (GNOME Keyring, KWallet, KeePassXC …) when a
//!      D-Bus session bus is announced (`DBUS_SESSION_BUS_ADDRESS`) and a
//!      Secret Service answers on it;
//!   2. the **kernel keyring** (keyutils). A key is added to the session
//!      keyring and linked to the user's persistent keyring, which every new
//!      Kage process links into its own session, so other logins of the same
//!      user find it too. But the kernel keeps keys in memory only: **every
//!      key is lost at reboot**, and the persistent keyring expires a while
//!      after its last use (`/proc/sys/kernel/keys/persistent_keyring_expiry`,
//!      three days by default) once no session holds the key. After that,
//!      reading the credential fails with `NotFound` and its fix (store it
//!      again). On such hosts a `--credential-command` or `--credential-env`
//!      source is usually the better choice;
//!   3. otherwise every keychain call fails with
//!      [`SecretError::KeychainUnavailable`](kage_ports::SecretError), whose
//!      message names `--credential-command` and `--credential-env`.
//!
//! The choice is made on first use and kept for the life of the process;
//! [`SourceDispatchingSecretStore::backend_name`] reports it. Keyring's
//! in-process mock store is never used: on a platform without a supported
//! keychain, calls fail instead of silently keeping secrets in memory.
//!
//! Calls are serialised (the Secret Service client is not meant for
//! concurrent use) and, like every keychain call, run off the async runtime
//! (see [`SourceDispatchingSecretStore`]).
//!
//! # No system library
//!
//! The Secret Service is reached through keyring's `async-secret-service`
//! backend: the `secret-service` crate over `zbus`, pure Rust, with
//! `crypto-rust` for the session encryption. Its blocking calls run on a
//! small tokio runtime of zbus's own (keyring's `tokio` feature), on the
//! keychain thread, never on Kage's runtime (called from inside a tokio
//! runtime it would panic: "Cannot start a runtime from within a runtime";
//! [`SourceDispatchingSecretStore`] always calls from a thread of its own).
//! So building Kage needs neither
//! libdbus nor pkg-config (a layering rule in `xtask` keeps it that way).

use std::sync::Mutex;

use kage_domain::SubscriptionId;
use secrecy::SecretString;

use crate::dispatch::SourceDispatchingSecretStore;
use crate::keychain::{KeychainBackend, KeychainError};

/// The [`crate::SecretStore`] over the real OS keychain.
pub type KeyringSecretStore = SourceDispatchingSecretStore<KeyringKeychain>;

impl KeyringSecretStore {
    /// The store over the OS keychain. Cheap: the keychain is detected on
    /// first use, so commands that never touch it work without one.
    pub fn new() -> Self {
        Self::from_keychain(std::sync::Arc::new(KeyringKeychain::new()))
    }
}

impl Default for KeyringSecretStore {
    fn default() -> Self {
        Self::new()
    }
}

/// Which OS keychain a [`KeyringKeychain`] settled on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum KeyringBackend {
    /// The freedesktop Secret Service over D-Bus (Linux).
    SecretService,
    /// The Linux kernel keyring (keyutils); cleared at reboot.
    KernelKeyring,
    /// The platform's native store (macOS Keychain, Windows Credential
    /// Manager).
    Native,
}

impl KeyringBackend {
    /// The name shown to people (`kage subscription list`, `kage doctor`)
    /// and used in error messages: `Secret Service`, `kernel keyring`,
    /// `macOS Keychain`, `Windows Credential Manager`.
    pub fn display_name(self) -> &'static str {
        match self {
            Self::SecretService => "Secret Service",
            Self::KernelKeyring => "kernel keyring",
            #[cfg(target_os = "macos")]
            Self::Native => "macOS Keychain",
            #[cfg(target_os = "windows")]
            Self::Native => "Windows Credential Manager",
            #[cfg(not(any(target_os = "macos", target_os = "windows")))]
            Self::Native => "OS keychain",
        }
    }

    /// Whether what it keeps is gone after a reboot (the kernel keyring).
    pub fn lost_at_reboot(self) -> bool {
        self == Self::KernelKeyring
    }
}

/// The OS keychain as a [`KeychainBackend`].
#[derive(Debug, Default)]
pub struct KeyringKeychain {
    /// The backend once detected; the lock also serialises every call.
    selected: Mutex<Option<KeyringBackend>>,
}

impl KeyringKeychain {
    pub fn new() -> Self {
        Self::default()
    }

    /// Detect (once) and return the backend, holding the call lock.
    fn with_backend<T>(
        &self,
        call: impl FnOnce(KeyringBackend) -> Result<T, KeychainError>,
    ) -> Result<T, KeychainError> {
        let mut selected = self
            .selected
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let backend = match *selected {
            Some(backend) => backend,
            None => {
                let backend = platform::detect()?;
                tracing::debug!(backend = backend.display_name(), "keychain selected");
                *selected = Some(backend);
                backend
            }
        };
        call(backend)
    }
}

impl KeychainBackend for KeyringKeychain {
    fn probe(&self) -> Result<String, KeychainError> {
        self.with_backend(|backend| Ok(backend.display_name().to_owned()))
    }

    fn lost_at_reboot(&self) -> bool {
        self.with_backend(|backend| Ok(backend.lost_at_reboot()))
            .unwrap_or(false)
    }

    fn set(&self, account: SubscriptionId, secret: &SecretString) -> Result<(), KeychainError> {
        self.with_backend(|backend| platform::set(backend, &account.to_string(), secret))
    }

    fn get(&self, account: SubscriptionId) -> Result<SecretString, KeychainError> {
        self.with_backend(|backend| platform::get(backend, &account.to_string()))
    }

    fn delete(&self, account: SubscriptionId) -> Result<(), KeychainError> {
        self.with_backend(|backend| platform::delete(backend, &account.to_string()))
    }
}

/// Pick the Linux backend: the Secret Service when a session bus is
/// announced and the service answers, else the kernel keyring, else none.
/// Pure over its probes, so the order and the messages are unit tested.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn choose_linux_backend(
    session_bus_announced: bool,
    probe_secret_service: impl FnOnce() -> Result<(), String>,
    probe_kernel_keyring: impl FnOnce() -> Result<(), String>,
) -> Result<KeyringBackend, KeychainError> {
    let secret_service_failure = if session_bus_announced {
        match probe_secret_service() {
            Ok(()) => return Ok(KeyringBackend::SecretService),
            Err(detail) => format!("no Secret Service answered on the D-Bus session bus: {detail}"),
        }
    } else {
        "no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set), so no Secret Service"
            .to_owned()
    };
    match probe_kernel_keyring() {
        Ok(()) => Ok(KeyringBackend::KernelKeyring),
        Err(detail) => Err(KeychainError::Unavailable {
            detail: format!(
                "{secret_service_failure}; the kernel keyring (keyutils) cannot be used either: {detail}"
            ),
        }),
    }
}

#[cfg(any(target_os = "linux", target_os = "macos", target_os = "windows"))]
mod platform {
    use keyring::Entry;
    use secrecy::{ExposeSecret, SecretString};
    use zeroize::{Zeroize, Zeroizing};

    use super::KeyringBackend;
    use crate::keychain::{KeychainError, SERVICE};

    /// The account the Secret Service probe looks up; never stored.
    #[cfg(target_os = "linux")]
    const PROBE_ACCOUNT: &str = "kage-keychain-probe";

    #[cfg(target_os = "linux")]
    pub(super) fn detect() -> Result<KeyringBackend, KeychainError> {
        let session_bus_announced =
            std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some_and(|address| !address.is_empty());
        super::choose_linux_backend(
            session_bus_announced,
            probe_secret_service,
            probe_kernel_keyring,
        )
    }

    /// Ask the Secret Service for an entry that never exists: any answer
    /// (found, not found, locked) means a service is there.
    #[cfg(target_os = "linux")]
    fn probe_secret_service() -> Result<(), String> {
        let entry =
            entry(KeyringBackend::SecretService, PROBE_ACCOUNT).map_err(|e| e.to_string())?;
        match entry.get_secret() {
            Ok(mut bytes) => {
                bytes.zeroize();
                Ok(())
            }
            Err(
                keyring::Error::NoEntry
                | keyring::Error::NoStorageAccess(_)
                | keyring::Error::Ambiguous(_),
            ) => Ok(()),
            Err(error) => Err(error.to_string()),
        }
    }

    /// The kernel keyring is usable when the session keyring can be reached.
    #[cfg(target_os = "linux")]
    fn probe_kernel_keyring() -> Result<(), String> {
        keyring::keyutils::KeyutilsCredential::new_with_target(None, SERVICE, PROBE_ACCOUNT)
            .map(drop)
            .map_err(|error| error.to_string())
    }

    #[cfg(not(target_os = "linux"))]
    pub(super) fn detect() -> Result<KeyringBackend, KeychainError> {
        detect_native()
    }

    /// The platform's default store, refusing keyring's mock store should a
    /// build ever end up with it. Compiled everywhere so Linux builds check
    /// it too; used on macOS and Windows.
    #[cfg_attr(target_os = "linux", allow(dead_code))]
    fn detect_native() -> Result<KeyringBackend, KeychainError> {
        use keyring::credential::CredentialPersistence;
        match keyring::default::default_credential_builder().persistence() {
            CredentialPersistence::EntryOnly | CredentialPersistence::ProcessOnly => {
                Err(KeychainError::Unavailable {
                    detail: "this build of Kage has no OS keychain support".to_owned(),
                })
            }
            _ => Ok(KeyringBackend::Native),
        }
    }

    /// An entry in the platform's default store (see [`detect_native`]).
    #[cfg_attr(target_os = "linux", allow(dead_code))]
    fn native_entry(account: &str) -> keyring::Result<Entry> {
        Ok(Entry::new_with_credential(
            keyring::default::default_credential_builder().build(None, SERVICE, account)?,
        ))
    }

    fn entry(backend: KeyringBackend, account: &str) -> keyring::Result<Entry> {
        match backend {
            #[cfg(target_os = "linux")]
            KeyringBackend::SecretService => Ok(Entry::new_with_credential(Box::new(
                keyring::secret_service::SsCredential::new_with_target(None, SERVICE, account)?,
            ))),
            #[cfg(target_os = "linux")]
            KeyringBackend::KernelKeyring => Ok(Entry::new_with_credential(Box::new(
                keyring::keyutils::KeyutilsCredential::new_with_target(None, SERVICE, account)?,
            ))),
            #[cfg(not(target_os = "linux"))]
            KeyringBackend::Native => native_entry(account),
            #[cfg(target_os = "linux")]
            KeyringBackend::Native => Err(keyring::Error::Invalid(
                "backend".to_owned(),
                "Linux uses the Secret Service or the kernel keyring".to_owned(),
            )),
            #[cfg(not(target_os = "linux"))]
            other => Err(keyring::Error::Invalid(
                "backend".to_owned(),
                format!("{} is not available on this platform", other.display_name()),
            )),
        }
    }

    pub(super) fn set(
        backend: KeyringBackend,
        account: &str,
        secret: &SecretString,
    ) -> Result<(), KeychainError> {
        entry(backend, account)
            .and_then(|entry| entry.set_password(secret.expose_secret()))
            .map_err(|error| map_error(backend, error))
    }

    pub(super) fn get(
        backend: KeyringBackend,
        account: &str,
    ) -> Result<SecretString, KeychainError> {
        let bytes = Zeroizing::new(
            entry(backend, account)
                .and_then(|entry| entry.get_secret())
                .map_err(|error| map_error(backend, error))?,
        );
        let text = std::str::from_utf8(&bytes).map_err(|_not_utf8| {
            KeychainError::Other(anyhow::anyhow!(
                "the keychain entry (service {SERVICE}, account {account}) is not UTF-8 text; \
                 store the credential again"
            ))
        })?;
        Ok(SecretString::from(text.to_owned()))
    }

    pub(super) fn delete(backend: KeyringBackend, account: &str) -> Result<(), KeychainError> {
        entry(backend, account)
            .and_then(|entry| entry.delete_credential())
            .map_err(|error| map_error(backend, error))
    }

    /// Translate keyring's error. Never includes a secret: the only variant
    /// that carries one ([`keyring::Error::BadEncoding`]) is wiped here.
    fn map_error(backend: KeyringBackend, error: keyring::Error) -> KeychainError {
        match error {
            keyring::Error::NoEntry => KeychainError::NotFound,
            keyring::Error::NoStorageAccess(inner) => {
                let detail = inner.to_string();
                // keyring folds the Secret Service's "no result" (e.g. no
                // default collection, as on WSL) into the same variant as
                // "locked"; only the message tells them apart.
                if detail.contains("no result found") {
                    KeychainError::Unavailable {
                        detail: format!(
                            "the {} has no default collection to keep credentials in: {detail}",
                            backend.display_name()
                        ),
                    }
                } else {
                    KeychainError::Locked { detail }
                }
            }
            keyring::Error::PlatformFailure(inner) => KeychainError::Unavailable {
                detail: format!("the {} failed: {inner}", backend.display_name()),
            },
            keyring::Error::BadEncoding(mut bytes) => {
                bytes.zeroize();
                KeychainError::Other(anyhow::anyhow!(
                    "the keychain entry is not UTF-8 text; store the credential again"
                ))
            }
            keyring::Error::Ambiguous(matches) => KeychainError::Other(anyhow::anyhow!(
                "{} keychain entries match service {SERVICE} and this subscription's id; \
                 delete the extra ones with your keychain tool",
                matches.len()
            )),
            other => {
                KeychainError::Other(anyhow::anyhow!("the keychain refused the entry: {other}"))
            }
        }
    }
}

/// Platforms without a supported keychain: every call fails clearly.
#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
mod platform {
    use secrecy::SecretString;

    use super::KeyringBackend;
    use crate::keychain::KeychainError;

    fn unsupported() -> KeychainError {
        KeychainError::Unavailable {
            detail: "Kage has no OS keychain support on this platform".to_owned(),
        }
    }

    pub(super) fn detect() -> Result<KeyringBackend, KeychainError> {
        Err(unsupported())
    }

    pub(super) fn set(_: KeyringBackend, _: &str, _: &SecretString) -> Result<(), KeychainError> {
        Err(unsupported())
    }

    pub(super) fn get(_: KeyringBackend, _: &str) -> Result<SecretString, KeychainError> {
        Err(unsupported())
    }

    pub(super) fn delete(_: KeyringBackend, _: &str) -> Result<(), KeychainError> {
        Err(unsupported())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detail(result: Result<KeyringBackend, KeychainError>) -> String {
        match result {
            Err(KeychainError::Unavailable { detail }) => detail,
            other => panic!("expected an unavailable keychain, got {other:?}"),
        }
    }

    #[test]
    fn secret_service_wins_when_it_answers() {
        let chosen = choose_linux_backend(true, || Ok(()), || panic!("keyutils not needed"));
        assert_eq!(chosen.unwrap(), KeyringBackend::SecretService);
    }

    #[test]
    fn kernel_keyring_when_the_secret_service_does_not_answer() {
        let chosen = choose_linux_backend(true, || Err("ServiceUnknown".to_owned()), || Ok(()));
        assert_eq!(chosen.unwrap(), KeyringBackend::KernelKeyring);
    }

    #[test]
    fn no_session_bus_skips_the_secret_service() {
        let chosen = choose_linux_backend(
            false,
            || panic!("must not touch D-Bus without a bus"),
            || Ok(()),
        );
        assert_eq!(chosen.unwrap(), KeyringBackend::KernelKeyring);
    }

    #[test]
    fn neither_backend_explains_both_failures() {
        let text = detail(choose_linux_backend(
            true,
            || Err("ServiceUnknown".to_owned()),
            || Err("Operation not permitted".to_owned()),
        ));
        assert!(
            text.contains("no Secret Service answered") && text.contains("ServiceUnknown"),
            "{text}"
        );
        assert!(
            text.contains("kernel keyring") && text.contains("Operation not permitted"),
            "{text}"
        );

        let text = detail(choose_linux_backend(
            false,
            || Ok(()),
            || Err("EPERM".to_owned()),
        ));
        assert!(
            text.contains("DBUS_SESSION_BUS_ADDRESS is not set"),
            "{text}"
        );
    }

    #[test]
    fn backend_names_say_what_they_are() {
        assert_eq!(
            KeyringBackend::SecretService.display_name(),
            "Secret Service"
        );
        assert_eq!(
            KeyringBackend::KernelKeyring.display_name(),
            "kernel keyring"
        );
        assert!(KeyringBackend::KernelKeyring.lost_at_reboot());
        assert!(!KeyringBackend::SecretService.lost_at_reboot());
        assert!(!KeyringBackend::Native.lost_at_reboot());
    }
}
