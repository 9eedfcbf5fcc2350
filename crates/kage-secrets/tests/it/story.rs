//! The keychain contract every backend passes: store, read, replace,
//! delete, a missing entry, and two subscriptions kept apart.

use kage_domain::CredentialSource;
use kage_secrets::{ExposeSecret, SecretError, SecretStore, SecretString};

use crate::{CANARY, CANARY_2, message_without_canary, name, new_id};

/// Run the story against `store`, whose keychain calls itself `store_name`.
pub(crate) async fn run_keychain_story(store: &impl SecretStore, store_name: &str) {
    let keychain = CredentialSource::Keychain;
    let work = (new_id(), name("story-work"));
    let personal = (new_id(), name("story-personal"));

    // Nothing there yet: NotFound naming the subscription, the store and the fix.
    let error = store
        .fetch(work.0, &work.1, &keychain)
        .await
        .expect_err("nothing stored yet");
    assert_not_found(&error, "story-work", store_name);

    // Store and read back.
    store
        .store(work.0, &work.1, &keychain, SecretString::from(CANARY))
        .await
        .expect("store");
    let secret = store.fetch(work.0, &work.1, &keychain).await.expect("read");
    assert_eq!(secret.expose_secret(), CANARY);

    // A second subscription does not see or change the first.
    store
        .store(
            personal.0,
            &personal.1,
            &keychain,
            SecretString::from(CANARY_2),
        )
        .await
        .expect("store second");
    assert_eq!(
        store
            .fetch(work.0, &work.1, &keychain)
            .await
            .expect("read")
            .expose_secret(),
        CANARY
    );
    assert_eq!(
        store
            .fetch(personal.0, &personal.1, &keychain)
            .await
            .expect("read")
            .expose_secret(),
        CANARY_2
    );

    // Replace.
    store
        .store(work.0, &work.1, &keychain, SecretString::from(CANARY_2))
        .await
        .expect("replace");
    let secret = store
        .fetch(work.0, &work.1, &keychain)
        .await
        .expect("read replaced");
    assert_eq!(secret.expose_secret(), CANARY_2);

    // The id is the account: a renamed subscription keeps its credential.
    let renamed = name("story-work-renamed");
    let secret = store
        .fetch(work.0, &renamed, &keychain)
        .await
        .expect("read after rename");
    assert_eq!(secret.expose_secret(), CANARY_2);

    // Delete; deleting again is a no-op; reading is NotFound.
    store
        .delete(work.0, &work.1, &keychain)
        .await
        .expect("delete");
    store
        .delete(work.0, &work.1, &keychain)
        .await
        .expect("delete again is a no-op");
    let error = store
        .fetch(work.0, &work.1, &keychain)
        .await
        .expect_err("deleted");
    assert_not_found(&error, "story-work", store_name);
    assert_eq!(
        store
            .fetch(personal.0, &personal.1, &keychain)
            .await
            .expect("other kept")
            .expose_secret(),
        CANARY_2
    );
    store
        .delete(personal.0, &personal.1, &keychain)
        .await
        .expect("clean up");
}

pub(crate) fn assert_not_found(error: &SecretError, subscription: &str, store_name: &str) {
    let SecretError::NotFound { store, .. } = error else {
        panic!("expected NotFound, got {error:?}");
    };
    assert_eq!(store, store_name);
    let message = message_without_canary(error);
    assert!(
        message.contains(&format!("no credential for subscription {subscription}")),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "kage subscription edit {subscription} --rotate-credential"
        )),
        "{message}"
    );
}
