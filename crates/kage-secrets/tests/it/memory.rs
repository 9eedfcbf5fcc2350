//! The in-memory test double through the real dispatch code, and the
//! keychain faults every caller must be able to report.

use std::sync::Arc;

use kage_domain::CredentialSource;
use kage_secrets::{
    ExposeSecret, IN_MEMORY_KEYCHAIN_NAME, InMemorySecretStore, KeychainFault, SecretError,
    SecretStore, SecretString,
};

use crate::story::{assert_not_found, run_keychain_story};
use crate::{CANARY, message_without_canary, name, new_id};

#[tokio::test]
async fn keeps_the_keychain_contract() {
    let store = InMemorySecretStore::new();
    run_keychain_story(&store, IN_MEMORY_KEYCHAIN_NAME).await;
    assert!(
        store.keychain().is_empty(),
        "the story cleans up after itself"
    );
    assert_eq!(
        store.backend_name().await.expect("named"),
        IN_MEMORY_KEYCHAIN_NAME
    );
}

#[tokio::test]
async fn an_entry_deleted_behind_kages_back_is_not_found_with_the_fix() {
    let store = InMemorySecretStore::new();
    let id = new_id();
    store
        .store(
            id,
            &name("work"),
            &CredentialSource::Keychain,
            SecretString::from(CANARY),
        )
        .await
        .expect("store");
    assert!(store.keychain().remove_behind_kage(id));
    let error = store
        .fetch(id, &name("work"), &CredentialSource::Keychain)
        .await
        .expect_err("gone");
    assert_not_found(&error, "work", IN_MEMORY_KEYCHAIN_NAME);
}

#[tokio::test]
async fn a_locked_keychain_says_unlock_it() {
    let store = InMemorySecretStore::new();
    let id = new_id();
    store
        .store(
            id,
            &name("work"),
            &CredentialSource::Keychain,
            SecretString::from(CANARY),
        )
        .await
        .expect("store");
    store.keychain().set_fault(Some(KeychainFault::Locked));

    let fetched = store
        .fetch(id, &name("work"), &CredentialSource::Keychain)
        .await;
    let stored = store
        .store(
            id,
            &name("work"),
            &CredentialSource::Keychain,
            SecretString::from(CANARY),
        )
        .await;
    let deleted = store
        .delete(id, &name("work"), &CredentialSource::Keychain)
        .await;
    for result in [fetched.map(drop), stored, deleted] {
        let error = result.expect_err("locked");
        assert!(
            matches!(error, SecretError::KeychainLocked { .. }),
            "{error:?}"
        );
        let message = message_without_canary(&error);
        assert!(
            message.contains("locked") && message.contains("unlock it, then try again"),
            "{message}"
        );
    }
    // A locked keychain is still the keychain: its name is known.
    assert_eq!(
        store.backend_name().await.expect("named"),
        IN_MEMORY_KEYCHAIN_NAME
    );

    store.keychain().set_fault(None);
    let secret = store
        .fetch(id, &name("work"), &CredentialSource::Keychain)
        .await
        .expect("unlocked");
    assert_eq!(secret.expose_secret(), CANARY);
}

#[tokio::test]
async fn no_keychain_names_the_headless_alternatives() {
    let store = InMemorySecretStore::new();
    store.keychain().set_fault(Some(KeychainFault::Unavailable));
    let error = store
        .store(
            new_id(),
            &name("work"),
            &CredentialSource::Keychain,
            SecretString::from(CANARY),
        )
        .await
        .expect_err("no keychain");
    assert!(
        matches!(error, SecretError::KeychainUnavailable { .. }),
        "{error:?}"
    );
    let message = message_without_canary(&error);
    assert!(message.contains("--credential-command"), "{message}");
    assert!(message.contains("--credential-env"), "{message}");

    let error = store.backend_name().await.expect_err("no keychain");
    assert!(
        matches!(error, SecretError::KeychainUnavailable { .. }),
        "{error:?}"
    );

    // Command and environment sources do not need a keychain.
    let store = store.with_env_lookup(|_| Some(CANARY.into()));
    let secret = store
        .fetch(
            new_id(),
            &name("work"),
            &CredentialSource::Env("TOKEN".to_owned()),
        )
        .await
        .expect("env works without a keychain");
    assert_eq!(secret.expose_secret(), CANARY);
}

#[tokio::test]
async fn an_empty_credential_is_not_stored() {
    let store = InMemorySecretStore::new();
    let error = store
        .store(
            new_id(),
            &name("work"),
            &CredentialSource::Keychain,
            SecretString::from(" \n"),
        )
        .await
        .expect_err("empty");
    let message = message_without_canary(&error);
    assert!(
        message.contains("empty credential for subscription work"),
        "{message}"
    );
    assert!(store.keychain().is_empty());
}

#[tokio::test]
async fn concurrent_fetches_all_get_their_own_credential() {
    let store = Arc::new(InMemorySecretStore::new());
    let mut ids = Vec::new();
    for index in 0..32 {
        let id = new_id();
        let secret = SecretString::from(format!("{CANARY}-{index}"));
        store
            .store(id, &name("work"), &CredentialSource::Keychain, secret)
            .await
            .expect("store");
        ids.push(id);
    }
    let tasks: Vec<_> = ids
        .iter()
        .map(|&id| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .fetch(id, &name("work"), &CredentialSource::Keychain)
                    .await
            })
        })
        .collect();
    for (index, task) in tasks.into_iter().enumerate() {
        let secret = task.await.expect("joined").expect("fetched");
        assert_eq!(secret.expose_secret(), format!("{CANARY}-{index}"));
    }
}

#[test]
fn debug_output_shows_no_secret() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let store = InMemorySecretStore::new();
    runtime.block_on(async {
        store
            .store(
                new_id(),
                &name("work"),
                &CredentialSource::Keychain,
                SecretString::from(CANARY),
            )
            .await
            .expect("store");
    });
    let rendered = format!(
        "{store:?} {:?} {:?}",
        store.keychain(),
        SecretString::from(CANARY)
    );
    assert!(!rendered.contains("CANARY"), "{rendered}");
    assert!(rendered.contains("entries: 1"), "{rendered}");
}
