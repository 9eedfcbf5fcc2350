//! Adding, editing and removing subscriptions.

use std::collections::BTreeSet;

use kage_core::{
    AddSubscriptionError, AddSubscriptionRequest, CredentialInput, EditSubscriptionRequest,
    RemoveSubscriptionError,
};
use kage_domain::{
    CredentialKind, CredentialSource, Namespace, Priority, RouteEntry, RouteTarget, RoutingRules,
};
use kage_ports::{MockSecretStore, MockSubscriptionStore, SecretString, StoreError};

use crate::{name, pool, subscription};

fn add_request(credential: CredentialInput) -> AddSubscriptionRequest {
    AddSubscriptionRequest {
        name: name("work-premium"),
        description: Some("Work account with higher limits".to_owned()),
        priority: Priority(150),
        tags: BTreeSet::new(),
        kind: CredentialKind::OAuth,
        credential,
        max_concurrent: Some(2),
    }
}

#[tokio::test]
async fn add_stores_the_keychain_credential_then_the_row() {
    let mut store = MockSubscriptionStore::new();
    let mut secrets = MockSecretStore::new();
    let mut sequence = mockall::Sequence::new();
    store.expect_subscription_by_name().returning(|_| Ok(None));
    secrets
        .expect_store()
        .withf(|_, name, source, _| {
            name.as_str() == "work-premium" && *source == CredentialSource::Keychain
        })
        .times(1)
        .in_sequence(&mut sequence)
        .returning(|_, _, _, _| Ok(()));
    store
        .expect_insert_subscription()
        .withf(|s| s.priority == Priority(150) && s.max_concurrent == Some(2))
        .times(1)
        .in_sequence(&mut sequence)
        .returning(|_| Ok(()));
    let pool = pool(store, secrets, Default::default());

    let added = pool
        .add_subscription(add_request(CredentialInput::Keychain(SecretString::from(
            "sk-ant-oat01-fake",
        ))))
        .await
        .expect("added");

    assert_eq!(added.name.as_str(), "work-premium");
    assert_eq!(added.credential, CredentialSource::Keychain);
}

#[tokio::test]
async fn add_deletes_the_credential_again_when_the_row_cannot_be_written() {
    let mut store = MockSubscriptionStore::new();
    let mut secrets = MockSecretStore::new();
    store.expect_subscription_by_name().returning(|_| Ok(None));
    secrets
        .expect_store()
        .times(1)
        .returning(|_, _, _, _| Ok(()));
    store
        .expect_insert_subscription()
        .returning(|s| Err(StoreError::NameTaken(s.name.clone())));
    secrets.expect_delete().times(1).returning(|_, _, _| Ok(()));
    let pool = pool(store, secrets, Default::default());

    let error = pool
        .add_subscription(add_request(CredentialInput::Keychain(SecretString::from(
            "x",
        ))))
        .await
        .expect_err("insert fails");

    assert!(
        matches!(error, AddSubscriptionError::Store(StoreError::NameTaken(_))),
        "{error}"
    );
}

#[tokio::test]
async fn add_with_a_taken_name_stores_no_credential() {
    let mut store = MockSubscriptionStore::new();
    let mut secrets = MockSecretStore::new();
    store
        .expect_subscription_by_name()
        .returning(|n| Ok(Some(crate::subscription(n.as_str()))));
    secrets.expect_store().never();
    let pool = pool(store, secrets, Default::default());

    let error = pool
        .add_subscription(add_request(CredentialInput::Keychain(SecretString::from(
            "x",
        ))))
        .await
        .expect_err("name taken");

    assert!(error.to_string().contains("already exists"), "{error}");
}

#[tokio::test]
async fn add_with_a_command_source_stores_only_the_reference() {
    let mut store = MockSubscriptionStore::new();
    let mut secrets = MockSecretStore::new();
    store.expect_subscription_by_name().returning(|_| Ok(None));
    secrets.expect_store().never();
    store
        .expect_insert_subscription()
        .withf(|s| s.credential == CredentialSource::Command("pass show claude/work".to_owned()))
        .times(1)
        .returning(|_| Ok(()));
    let pool = pool(store, secrets, Default::default());

    pool.add_subscription(add_request(CredentialInput::Command(
        "pass show claude/work".to_owned(),
    )))
    .await
    .expect("added");
}

#[tokio::test]
async fn remove_is_refused_while_leases_are_live_unless_forced() {
    let existing = subscription("personal");
    let id = existing.id;
    let lease = crate::leases::lease_on(&existing);
    let mut store = MockSubscriptionStore::new();
    let found = existing.clone();
    store
        .expect_subscription_by_name()
        .returning(move |_| Ok(Some(found.clone())));
    store
        .expect_live_leases()
        .returning(move |_| Ok(vec![lease.clone()]));
    // Retired, not deleted: its history stays.
    store.expect_delete_subscription().never();
    store
        .expect_retire_subscription()
        .withf(move |retired, _| *retired == id)
        .times(1)
        .returning(|_, _| Ok(()));
    let mut saved = RoutingRules::new();
    let backend = RouteTarget::Namespace(Namespace::new("backend").unwrap());
    saved.set(
        backend.clone(),
        vec![
            RouteEntry::Subscription(name("personal")),
            RouteEntry::Subscription(name("work-premium")),
        ],
    );
    store
        .expect_load_routes()
        .returning(move || Ok(saved.clone()));
    store
        .expect_save_route()
        .withf(move |target, entries| {
            *target == backend && entries == [RouteEntry::Subscription(name("work-premium"))]
        })
        .times(1)
        .returning(|_, _| Ok(()));
    let mut secrets = MockSecretStore::new();
    secrets.expect_delete().times(1).returning(|_, _, _| Ok(()));
    let pool = pool(store, secrets, Default::default());

    let refused = pool
        .remove_subscription(&name("personal"), false)
        .await
        .expect_err("live lease");
    assert!(
        matches!(
            refused,
            RemoveSubscriptionError::HasLiveLeases { live: 1, .. }
        ),
        "{refused}"
    );

    let removed = pool
        .remove_subscription(&name("personal"), true)
        .await
        .expect("forced");
    assert_eq!(removed.live_leases, 1);
    assert_eq!(removed.routes_updated, 1);
    assert_eq!(removed.purged, None);
}

#[tokio::test]
async fn rename_keeps_the_id_and_updates_saved_routes() {
    let existing = subscription("sub1");
    let id = existing.id;
    let mut store = MockSubscriptionStore::new();
    store
        .expect_subscription_by_name()
        .returning(move |_| Ok(Some(existing.clone())));
    store
        .expect_update_subscription()
        .withf(move |s| s.id == id && s.name.as_str() == "work-main" && s.tags.len() == 1)
        .times(1)
        .returning(|_| Ok(()));
    let mut saved = RoutingRules::new();
    saved.set(
        RouteTarget::Level(kage_domain::PriorityLevel::High),
        vec![RouteEntry::Subscription(name("sub1"))],
    );
    store
        .expect_load_routes()
        .returning(move || Ok(saved.clone()));
    store
        .expect_save_route()
        .withf(|_, entries| entries == [RouteEntry::Subscription(name("work-main"))])
        .times(1)
        .returning(|_, _| Ok(()));
    let pool = pool(store, MockSecretStore::new(), Default::default());

    let request = EditSubscriptionRequest {
        name: Some(name("work-main")),
        add_tags: [kage_domain::Tag::new("backend").unwrap()].into(),
        ..Default::default()
    };
    let edited = pool
        .edit_subscription(&name("sub1"), request)
        .await
        .expect("edited");

    assert_eq!(edited.id, id);
}

#[tokio::test]
async fn unknown_names_suggest_the_nearest_one() {
    let mut store = MockSubscriptionStore::new();
    store.expect_subscription_by_name().returning(|_| Ok(None));
    store
        .expect_list_subscriptions()
        .returning(|| Ok(vec![subscription("work-premium"), subscription("personal")]));
    let pool = pool(store, MockSecretStore::new(), Default::default());

    let error = pool
        .find(&name("work-premium2"))
        .await
        .expect_err("missing");

    assert_eq!(
        error.to_string(),
        "no subscription named work-premium2 (did you mean work-premium?); see `kage subscription list`"
    );
}
