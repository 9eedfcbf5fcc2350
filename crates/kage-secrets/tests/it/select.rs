//! Store selection from `KAGE_SECRET_BACKEND` values.

use std::ffi::OsStr;

use kage_domain::CredentialSource;
use kage_secrets::{ExposeSecret, SecretStore, SecretString, secret_store_for};

use crate::{CANARY, message_without_canary, name, new_id};

#[tokio::test]
async fn the_file_backend_persists_between_selections() {
    let dir = tempfile::tempdir().expect("temp dir");
    let value = format!("insecure-test-file:{}", dir.path().display());
    let id = new_id();

    let store = secret_store_for(Some(OsStr::new(&value))).expect("selected");
    assert_eq!(
        store.backend_name().await.expect("named"),
        kage_secrets::INSECURE_FILE_STORE_NAME
    );
    store
        .store(
            id,
            &name("work"),
            &CredentialSource::Keychain,
            SecretString::from(CANARY),
        )
        .await
        .expect("store");

    // A second selection, as a second `kage` process would make.
    let again = secret_store_for(Some(OsStr::new(&value))).expect("selected again");
    let secret = again
        .fetch(id, &name("work"), &CredentialSource::Keychain)
        .await
        .expect("read");
    assert_eq!(secret.expose_secret(), CANARY);
}

#[test]
fn the_selected_store_can_be_shared_across_tasks() {
    fn assert_shareable<T: SecretStore + Send + Sync + Clone + 'static>(_: &T) {}
    let store = secret_store_for(None).expect("the OS keychain store");
    assert_shareable(&store);
    assert_shareable(&kage_secrets::InMemorySecretStore::new());
}

#[test]
fn unset_empty_and_keychain_select_the_os_keychain_without_touching_it() {
    // Construction is lazy: no keychain is contacted until a credential is
    // stored or read, so this passes on hosts without one.
    for value in [None, Some(OsStr::new("")), Some(OsStr::new("keychain"))] {
        let store = secret_store_for(value).expect("the OS keychain store");
        assert!(format!("{store:?}").contains("SourceDispatchingSecretStore"));
    }
}

#[test]
fn unknown_values_are_errors_that_list_the_choices() {
    for value in ["file", "insecure-test-file", "mock"] {
        let error = secret_store_for(Some(OsStr::new(value))).expect_err("unknown");
        let message = message_without_canary(&error);
        assert!(
            message.contains(&format!("unknown KAGE_SECRET_BACKEND value {value:?}")),
            "{message}"
        );
        assert!(message.contains("insecure-test-file:<dir>"), "{message}");
    }
    let error = secret_store_for(Some(OsStr::new("insecure-test-file:"))).expect_err("no folder");
    assert!(message_without_canary(&error).contains("needs a folder"));
}
