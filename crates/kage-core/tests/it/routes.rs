//! Saving, listing and explaining routes.

use kage_core::{PoolSettings, RouteError, RouteSource};
use kage_domain::{Namespace, PriorityLevel, RouteEntry, RouteTarget, RoutingRules, Tag};
use kage_ports::{MockSecretStore, MockSubscriptionStore};

use crate::{name, pool, subscription};

fn backend() -> RouteTarget {
    RouteTarget::Namespace(Namespace::new("backend").unwrap())
}

#[tokio::test]
async fn a_route_naming_an_unknown_subscription_is_refused_and_not_saved() {
    let mut store = MockSubscriptionStore::new();
    store
        .expect_list_subscriptions()
        .returning(|| Ok(vec![subscription("work-premium")]));
    store.expect_save_route().never();
    let pool = pool(store, MockSecretStore::new(), Default::default());

    let error = pool
        .route(
            backend(),
            vec![
                RouteEntry::Subscription(name("backend-dedicated")),
                RouteEntry::Subscription(name("work-premium")),
            ],
        )
        .await
        .expect_err("unknown name");

    assert!(matches!(error, RouteError::UnknownSubscription(_)));
    assert!(error.to_string().contains("backend-dedicated"), "{error}");
}

#[tokio::test]
async fn tag_entries_need_no_subscription_yet() {
    let mut store = MockSubscriptionStore::new();
    store.expect_list_subscriptions().returning(|| Ok(vec![]));
    store.expect_save_route().times(1).returning(|_, _| Ok(()));
    let pool = pool(store, MockSecretStore::new(), Default::default());

    let change = pool
        .route(
            backend(),
            vec![RouteEntry::Tag(Tag::new("security").unwrap())],
        )
        .await
        .expect("saved");

    assert_eq!(change.config_rule, None);
}

#[tokio::test]
async fn routes_shows_both_sources_and_flags_the_config_override() {
    let mut saved = RoutingRules::new();
    saved.set(backend(), vec![RouteEntry::Subscription(name("personal"))]);
    saved.set(
        RouteTarget::Level(PriorityLevel::Batch),
        vec![RouteEntry::Subscription(name("batch-1"))],
    );
    let mut store = MockSubscriptionStore::new();
    store
        .expect_load_routes()
        .returning(move || Ok(saved.clone()));
    let mut config_routes = RoutingRules::new();
    config_routes.set(
        backend(),
        vec![RouteEntry::Subscription(name("work-premium"))],
    );
    let settings = PoolSettings {
        config_routes,
        ..Default::default()
    };
    let pool = pool(store, MockSecretStore::new(), settings);

    let views = pool.routes().await.expect("routes");
    let summary: Vec<(String, RouteSource, bool)> = views
        .iter()
        .map(|v| (v.target.to_string(), v.source, v.overridden))
        .collect();

    assert_eq!(
        summary,
        vec![
            (
                "namespace backend".to_owned(),
                RouteSource::ConfigFile,
                false
            ),
            ("namespace backend".to_owned(), RouteSource::Saved, true),
            ("priority batch".to_owned(), RouteSource::Saved, false),
        ]
    );
    let effective = pool.effective_rules().await.expect("rules");
    assert_eq!(
        effective.get(&backend()),
        Some(&[RouteEntry::Subscription(name("work-premium"))][..])
    );
}
