//! The insecure test-only file store: same contract, persists across
//! store instances (as across `kage` processes), private file modes.

use kage_domain::CredentialSource;
use kage_secrets::{ExposeSecret, InsecureFileSecretStore, SecretStore, SecretString};

use crate::story::{assert_not_found, run_keychain_story};
use crate::{CANARY, message_without_canary, name, new_id};

#[tokio::test]
async fn keeps_the_keychain_contract() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = InsecureFileSecretStore::open(dir.path()).expect("open");
    let store_name = kage_secrets::INSECURE_FILE_STORE_NAME;
    assert_eq!(store.backend_name().await.expect("named"), store_name);
    let description = store.keychain_description().await.expect("described");
    assert!(!description.lost_at_reboot, "{description:?}");
    run_keychain_story(&store, store_name).await;
    let left: Vec<_> = std::fs::read_dir(dir.path()).expect("list").collect();
    assert!(left.is_empty(), "files left behind: {left:?}");
}

#[tokio::test]
async fn credentials_survive_a_new_store_instance() {
    let dir = tempfile::tempdir().expect("temp dir");
    let id = new_id();
    InsecureFileSecretStore::open(dir.path())
        .expect("open")
        .store(
            id,
            &name("work"),
            &CredentialSource::Keychain,
            SecretString::from(CANARY),
        )
        .await
        .expect("store");
    let secret = InsecureFileSecretStore::open(dir.path())
        .expect("reopen")
        .fetch(id, &name("work"), &CredentialSource::Keychain)
        .await
        .expect("read");
    assert_eq!(secret.expose_secret(), CANARY);
}

#[tokio::test]
async fn a_file_removed_behind_kages_back_is_not_found() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = InsecureFileSecretStore::open(dir.path()).expect("open");
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
    std::fs::remove_file(dir.path().join(format!("{id}.credential"))).expect("remove");
    let error = store
        .fetch(id, &name("work"), &CredentialSource::Keychain)
        .await
        .expect_err("gone");
    assert_not_found(&error, "work", kage_secrets::INSECURE_FILE_STORE_NAME);
}

#[cfg(unix)]
#[tokio::test]
async fn files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let secrets = dir.path().join("nested").join("secrets");
    let store = InsecureFileSecretStore::open(&secrets).expect("open");
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
    let mode = |path: &std::path::Path| {
        std::fs::metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(&secrets), 0o700);
    assert_eq!(mode(&secrets.join(format!("{id}.credential"))), 0o600);
}

#[tokio::test]
async fn an_unusable_folder_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, "not a folder").expect("write");
    let error = InsecureFileSecretStore::open(blocker.join("secrets")).expect_err("cannot create");
    let message = message_without_canary(&error);
    assert!(
        message.contains("could not create the insecure test secret folder"),
        "{message}"
    );
}
