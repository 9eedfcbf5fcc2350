//! The dispatching store over a keychain backend written here, as another
//! crate could: hung, failing and panicking keychains.

use std::sync::Arc;
use std::time::Duration;

use kage_domain::{CredentialSource, SubscriptionId};
use kage_secrets::{
    KeychainBackend, KeychainError, SecretError, SecretStore, SecretString,
    SourceDispatchingSecretStore,
};

use crate::{message_without_canary, name, new_id};

/// A keychain that misbehaves in one chosen way on every call.
enum Misbehaving {
    Hangs,
    Fails,
    Panics,
}

impl Misbehaving {
    fn act<T>(&self) -> Result<T, KeychainError> {
        match self {
            Self::Hangs => {
                std::thread::sleep(Duration::from_secs(5));
                Err(KeychainError::NotFound)
            }
            Self::Fails => Err(KeychainError::Other(anyhow::anyhow!("disk quota exceeded"))),
            Self::Panics => panic!("backend bug"),
        }
    }
}

impl KeychainBackend for Misbehaving {
    fn probe(&self) -> Result<String, KeychainError> {
        Ok("misbehaving keychain".to_owned())
    }

    fn set(&self, _: SubscriptionId, _: &SecretString) -> Result<(), KeychainError> {
        self.act()
    }

    fn get(&self, _: SubscriptionId) -> Result<SecretString, KeychainError> {
        self.act()
    }

    fn delete(&self, _: SubscriptionId) -> Result<(), KeychainError> {
        self.act()
    }
}

async fn fetch(keychain: Misbehaving) -> SecretError {
    // A hang is cut at 200ms; a failure or a panic must be reported as
    // itself, not as a hang, even when a loaded machine takes long to print
    // the panic's backtrace: those get a generous timeout.
    let timeout = match keychain {
        Misbehaving::Hangs => Duration::from_millis(200),
        Misbehaving::Fails | Misbehaving::Panics => Duration::from_secs(30),
    };
    SourceDispatchingSecretStore::from_keychain(Arc::new(keychain))
        .with_keychain_timeout(timeout)
        .fetch(new_id(), &name("work"), &CredentialSource::Keychain)
        .await
        .expect_err("the keychain misbehaves")
}

#[tokio::test]
async fn a_keychain_that_does_not_answer_is_reported_as_probably_locked() {
    let error = fetch(Misbehaving::Hangs).await;
    assert!(
        matches!(error, SecretError::KeychainLocked { .. }),
        "{error:?}"
    );
    let message = message_without_canary(&error);
    assert!(message.contains("did not answer within 200ms"), "{message}");
    assert!(message.contains("unlock"), "{message}");
}

#[tokio::test]
async fn other_keychain_failures_name_the_subscription_and_the_store() {
    let error = fetch(Misbehaving::Fails).await;
    let message = message_without_canary(&error);
    assert!(
        message.contains(
            "could not read the credential of subscription work in the misbehaving keychain"
        ),
        "{message}"
    );
    assert!(message.contains("disk quota exceeded"), "{message}");
}

#[tokio::test]
async fn a_panicking_keychain_is_an_error_not_a_crash() {
    let error = fetch(Misbehaving::Panics).await;
    let message = message_without_canary(&error);
    assert!(message.contains("stopped unexpectedly"), "{message}");
}

#[tokio::test]
async fn a_dyn_backend_works_the_same() {
    let keychain: Arc<dyn KeychainBackend> = Arc::new(Misbehaving::Fails);
    let store = SourceDispatchingSecretStore::from_keychain(keychain);
    assert_eq!(
        store.backend_name().await.expect("named"),
        "misbehaving keychain"
    );
    let error = store
        .delete(new_id(), &name("work"), &CredentialSource::Keychain)
        .await
        .expect_err("fails");
    assert!(message_without_canary(&error).contains("could not delete the credential"));
}
