//! The real OS keychain through [`KeyringSecretStore`]. Compiled only with
//! the `keychain-tests` feature and run by `tests/run-keychain-tests.sh`,
//! which sets `KAGE_TEST_KEYCHAIN` to the backend it prepared:
//!
//! - `secret-service`: a throwaway D-Bus session with an unlocked
//!   gnome-keyring-daemon;
//! - `keyutils`: a fresh kernel session keyring and no usable session bus.
//!
//! With the feature on, these tests FAIL (never skip) when the variable is
//! missing or the backend cannot be used.

use std::process::Command;
use std::time::Duration;

use kage_domain::{CredentialSource, SubscriptionId};
use kage_secrets::{
    ExposeSecret, KeyringBackend, KeyringSecretStore, SERVICE, SecretError, SecretStore,
    SecretString,
};

use crate::story::{assert_not_found, run_keychain_story};
use crate::{CANARY, message_without_canary, name, new_id};

fn expected_backend() -> KeyringBackend {
    match std::env::var("KAGE_TEST_KEYCHAIN").as_deref() {
        Ok("secret-service") => KeyringBackend::SecretService,
        Ok("keyutils") => KeyringBackend::KernelKeyring,
        other => panic!(
            "KAGE_TEST_KEYCHAIN must be `secret-service` or `keyutils` (it is {other:?}); \
             run crates/kage-secrets/tests/run-keychain-tests.sh"
        ),
    }
}

/// Run a helper program and return its trimmed standard output.
fn run(program: &str, arguments: &[&str]) -> String {
    let output = Command::new(program)
        .args(arguments)
        .output()
        .unwrap_or_else(|error| panic!("could not run {program}: {error}"));
    assert!(
        output.status.success(),
        "{program} {arguments:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Delete the entry with another client than Kage's store, as a user
/// cleaning up their keychain would.
fn delete_behind_kages_back(backend: KeyringBackend, id: SubscriptionId) {
    let account = id.to_string();
    match backend {
        KeyringBackend::KernelKeyring => {
            let description = format!("keyring-rs:{account}@{SERVICE}");
            let key = run("keyctl", &["search", "@s", "user", &description]);
            run("keyctl", &["invalidate", &key]);
        }
        KeyringBackend::SecretService => {
            // The pure-Rust client blocks on a tokio runtime of its own, which
            // cannot start inside the test's runtime: use a plain thread, as
            // Kage's store does for every keychain call.
            std::thread::spawn(move || {
                let credential =
                    keyring::secret_service::SsCredential::new_with_target(None, SERVICE, &account)
                        .expect("credential");
                keyring::Entry::new_with_credential(Box::new(credential))
                    .delete_credential()
                    .expect("deleted through a second Secret Service client");
            })
            .join()
            .expect("the deleting thread");
        }
        KeyringBackend::Native => unreachable!("only Linux backends are tested here"),
    }
}

#[tokio::test]
async fn the_expected_backend_is_picked() {
    let expected = expected_backend();
    let store = KeyringSecretStore::new();
    let picked = store
        .backend_name()
        .await
        .unwrap_or_else(|error| panic!("the {} cannot be used: {error}", expected.display_name()));
    assert_eq!(picked, expected.display_name());
    let description = store.keychain_description().await.expect("described");
    assert_eq!(
        description.lost_at_reboot,
        expected == KeyringBackend::KernelKeyring,
        "only the kernel keyring is lost at reboot: {description:?}"
    );
}

#[tokio::test]
async fn store_read_replace_delete() {
    let expected = expected_backend();
    run_keychain_story(&KeyringSecretStore::new(), expected.display_name()).await;
}

#[tokio::test]
async fn a_second_store_sees_the_same_entries() {
    let expected = expected_backend();
    let id = new_id();
    let keychain = CredentialSource::Keychain;
    KeyringSecretStore::new()
        .store(id, &name("shared"), &keychain, SecretString::from(CANARY))
        .await
        .unwrap_or_else(|error| panic!("the {} cannot be used: {error}", expected.display_name()));
    let other = KeyringSecretStore::new();
    let secret = other
        .fetch(id, &name("shared"), &keychain)
        .await
        .expect("read by another store");
    assert_eq!(secret.expose_secret(), CANARY);
    other
        .delete(id, &name("shared"), &keychain)
        .await
        .expect("clean up");
}

#[tokio::test]
async fn an_entry_deleted_behind_kages_back_is_not_found_with_the_fix() {
    let expected = expected_backend();
    let store = KeyringSecretStore::new();
    let id = new_id();
    let keychain = CredentialSource::Keychain;
    store
        .store(id, &name("work"), &keychain, SecretString::from(CANARY))
        .await
        .unwrap_or_else(|error| panic!("the {} cannot be used: {error}", expected.display_name()));
    delete_behind_kages_back(expected, id);
    let error = store
        .fetch(id, &name("work"), &keychain)
        .await
        .expect_err("deleted");
    assert_not_found(&error, "work", expected.display_name());
    store
        .delete(id, &name("work"), &keychain)
        .await
        .expect("deleting a missing entry is a no-op");
}

/// Locks the whole login collection, so the script runs it alone in its own
/// D-Bus session.
#[tokio::test]
async fn locked_secret_service_is_reported_locked() {
    assert_eq!(
        expected_backend(),
        KeyringBackend::SecretService,
        "this test locks a Secret Service collection; run it with KAGE_TEST_KEYCHAIN=secret-service \
         in a throwaway session (tests/run-keychain-tests.sh)"
    );
    let store = KeyringSecretStore::new().with_keychain_timeout(Duration::from_secs(20));
    let id = new_id();
    let keychain = CredentialSource::Keychain;
    store
        .store(id, &name("work"), &keychain, SecretString::from(CANARY))
        .await
        .expect("store while unlocked");

    let default_collection = run(
        "dbus-send",
        &[
            "--session",
            "--print-reply=literal",
            "--dest=org.freedesktop.secrets",
            "/org/freedesktop/secrets",
            "org.freedesktop.Secret.Service.ReadAlias",
            "string:default",
        ],
    );
    run(
        "dbus-send",
        &[
            "--session",
            "--print-reply",
            "--dest=org.freedesktop.secrets",
            "/org/freedesktop/secrets",
            "org.freedesktop.Secret.Service.Lock",
            &format!("array:objpath:{default_collection}"),
        ],
    );

    let error = store
        .fetch(id, &name("work"), &keychain)
        .await
        .expect_err("locked");
    assert!(
        matches!(error, SecretError::KeychainLocked { .. }),
        "{error:?}"
    );
    let message = message_without_canary(&error);
    assert!(message.contains("unlock it, then try again"), "{message}");
}
