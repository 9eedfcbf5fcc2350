//! The contract of `SubscriptionStore`: one generic story per concern, run
//! against every backend by `contract_tests!`.

use std::collections::BTreeSet;

use jiff::Timestamp;
use jiff::civil::Date;
use kage_domain::{
    CredentialKind, CredentialSource, ErrorKind, Health, LeaseId, ModelFamily, Namespace, Outcome,
    PassOverReason, Priority, PriorityLevel, QuotaAlert, QuotaReading, QuotaWindow, RouteEntry,
    RouteTarget, RoutingRules, StateKind, StatePolicy, Strategy, SubscriptionName,
    SubscriptionState, Tag, Usage,
};
use kage_ports::{
    AcquireOutcome, KeyedUsage, LeaseError, ReadOffset, StoreError, SubscriptionStore, UsageBatch,
    UsageQuery, Waiter,
};
use uuid::Uuid;

use crate::support::*;

/// Generate one `#[tokio::test]` per contract story, run by `$harness`
/// (`with_sqlite` or `with_postgres`).
macro_rules! contract_tests {
    ($harness:path) => {
        $crate::contract::contract_tests!(@each $harness,
            subscriptions_round_trip,
            names_are_unique_and_updates_keep_the_health,
            deleting_a_subscription_deletes_its_history,
            a_retired_subscription_keeps_its_history_and_frees_its_name,
            credentials_never_reach_the_database,
            routes_are_saved_replaced_and_deleted,
            a_retried_acquire_gets_the_same_lease,
            caps_hold_and_expired_leases_stop_counting_at_once,
            selection_follows_priority_turns_routes_and_tags,
            heartbeats_extend_live_leases_only,
            release_records_usage_outcome_and_transition_once,
            an_expired_lease_still_records_its_release,
            none_available_reports_the_earliest_recovery,
            outcomes_and_disable_drive_the_state_machine,
            the_snapshot_counts_live_leases_and_recent_usage,
            daily_usage_cuts_days_by_offset_and_is_exact_at_the_edges,
            daily_usage_is_exact_for_any_offset_old_or_new,
            times_are_kept_to_the_millisecond,
            quota_alerts_are_recorded_once_per_window_period_and_threshold,
            waiters_are_saved_refreshed_listed_and_expire,
            a_lease_with_a_huge_ttl_never_breaks_a_read,
            an_absurd_token_count_never_blocks_later_releases,
            quota_reports_and_model_limits_persist_and_steer_selection,
            the_snapshot_counts_usage_over_the_usage_window,
            parallel_acquires_spread_over_idle_subscriptions,
            an_unreadable_credential_marks_unhealthy_and_selection_moves_on,
            keyed_usage_is_recorded_once_and_a_release_adds_only_the_rest,
            transcript_offsets_are_saved_with_the_usage,
        );
    };
    (@each $harness:path, $($story:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $story() {
                $harness(|store| async move { crate::contract::$story(&store).await }).await;
            }
        )*
    };
}

pub(crate) use contract_tests;

fn name(text: &str) -> SubscriptionName {
    SubscriptionName::new(text).unwrap()
}

fn tag(text: &str) -> Tag {
    Tag::new(text).unwrap()
}

fn day(text: &str) -> Date {
    text.parse().unwrap()
}

fn query_all(from: &str, to: &str, offset_hours: i32) -> UsageQuery {
    UsageQuery {
        from: t(from),
        to: t(to),
        utc_offset_seconds: offset_hours * 3600,
        subscription: None,
    }
}

pub(crate) async fn subscriptions_round_trip<S: SubscriptionStore>(store: &S) {
    let mut full = subscription("work-premium");
    full.description = Some("the team's Max plan".to_owned());
    full.priority = Priority(200);
    full.tags = BTreeSet::from([tag("backend"), tag("security")]);
    full.kind = CredentialKind::ApiKey;
    full.credential = CredentialSource::Command("pass show claude/work".to_owned());
    full.max_concurrent = Some(3);
    full.health = Health {
        state: SubscriptionState::RateLimited {
            until: t("2025-06-02T10:05:00Z"),
            reason: "burst limit".to_owned(),
        },
        consecutive_errors: 2,
        unhealthy_relapses: 1,
        last_utilization: Some((0.85, t("2025-06-02T09:00:00Z"))),
        last_limited_at: Some(t("2025-06-02T10:00:00Z")),
        quota: vec![kage_domain::QuotaReport {
            window: QuotaWindow::SevenDaySonnet,
            utilization: 1.02,
            resets_at: None,
            reported_at: t("2025-06-02T09:30:00Z"),
        }],
        model_limits: vec![kage_domain::ModelLimit {
            family: ModelFamily::Sonnet,
            until: t("2025-06-05T10:00:00Z"),
            reason: "weekly Sonnet limit; \"quoted\"".to_owned(),
        }],
    };
    let mut by_env = subscription("ci-key");
    by_env.credential = CredentialSource::Env("ANTHROPIC_KEY_CI".to_owned());
    let keychain = subscription("alpha");

    for subscription in [&full, &by_env, &keychain] {
        store.insert_subscription(subscription).await.unwrap();
    }
    let listed = store.list_subscriptions().await.unwrap();
    assert_eq!(
        listed,
        vec![keychain.clone(), by_env.clone(), full.clone()],
        "listed by name"
    );
    assert_eq!(
        store
            .subscription_by_name(&name("work-premium"))
            .await
            .unwrap(),
        Some(full)
    );
    assert_eq!(
        store.subscription_by_name(&name("nope")).await.unwrap(),
        None
    );
}

pub(crate) async fn names_are_unique_and_updates_keep_the_health<S: SubscriptionStore>(store: &S) {
    let a = subscription("a");
    let mut b = subscription("b");
    store.insert_subscription(&a).await.unwrap();
    store.insert_subscription(&b).await.unwrap();

    let clash = subscription("a");
    match store.insert_subscription(&clash).await {
        Err(StoreError::NameTaken(taken)) => assert_eq!(taken, name("a")),
        other => panic!("expected NameTaken, got {other:?}"),
    }
    let mut renamed = b.clone();
    renamed.name = name("a");
    assert!(matches!(
        store.update_subscription(&renamed).await,
        Err(StoreError::NameTaken(_))
    ));

    store
        .set_disabled(
            b.id,
            Some("maintenance".to_owned()),
            t("2025-06-02T10:00:00Z"),
        )
        .await
        .unwrap();
    b.name = name("b2");
    b.description = Some("renamed".to_owned());
    b.priority = Priority(7);
    b.tags = BTreeSet::from([tag("frontend")]);
    b.kind = CredentialKind::ApiKey;
    b.credential = CredentialSource::Env("KEY_B".to_owned());
    b.max_concurrent = Some(1);
    // The health in the struct is ignored: an update saves settings only.
    b.health = Health::default();
    store.update_subscription(&b).await.unwrap();
    let stored = store
        .subscription_by_name(&name("b2"))
        .await
        .unwrap()
        .expect("renamed");
    assert_eq!(stored.description.as_deref(), Some("renamed"));
    assert_eq!(stored.priority, Priority(7));
    assert_eq!(stored.tags, BTreeSet::from([tag("frontend")]));
    assert_eq!(stored.kind, CredentialKind::ApiKey);
    assert_eq!(stored.credential, CredentialSource::Env("KEY_B".to_owned()));
    assert_eq!(stored.max_concurrent, Some(1));
    assert_eq!(
        stored.health.state,
        SubscriptionState::Disabled {
            reason: "maintenance".to_owned()
        }
    );
    assert_eq!(store.subscription_by_name(&name("b")).await.unwrap(), None);

    let ghost = subscription("ghost");
    match store.update_subscription(&ghost).await {
        Err(StoreError::SubscriptionNotFound(id)) => assert_eq!(id, ghost.id),
        other => panic!("expected SubscriptionNotFound, got {other:?}"),
    }
}

pub(crate) async fn deleting_a_subscription_deletes_its_history<S: SubscriptionStore>(store: &S) {
    let now = t("2025-06-02T10:00:00Z");
    let doomed = subscription("doomed");
    let kept = subscription("kept");
    store.insert_subscription(&doomed).await.unwrap();
    store.insert_subscription(&kept).await.unwrap();
    let mut request = acquire(secs(60));
    request.selection.required_tags = vec![];
    let lease = granted(store, &request, now).await;
    assert_eq!(
        lease.subscription_id, doomed.id,
        "doomed comes first by name"
    );
    let quota = Outcome::QuotaExhausted {
        resets_at: None,
        reason: "5-hour limit".to_owned(),
    };
    store
        .release_lease(&release(lease.id, quota, tokens(10, 5)), plus(now, 1))
        .await
        .unwrap();
    let live = granted(store, &acquire(secs(60)), plus(now, 2)).await;
    assert_eq!(live.subscription_id, kept.id);
    let live_on_doomed = {
        store
            .set_disabled(kept.id, Some("off".to_owned()), plus(now, 2))
            .await
            .unwrap();
        store
            .set_disabled(doomed.id, None, plus(now, 2))
            .await
            .unwrap();
        granted(store, &acquire(secs(60)), plus(now, 3)).await
    };
    assert_eq!(live_on_doomed.subscription_id, doomed.id);

    store.delete_subscription(doomed.id).await.unwrap();
    assert_eq!(store.list_subscriptions().await.unwrap().len(), 1);
    assert!(store.transitions(doomed.id, 10).await.unwrap().is_empty());
    let usage = store
        .daily_usage(&query_all(
            "2025-06-01T00:00:00Z",
            "2025-06-03T00:00:00Z",
            0,
        ))
        .await
        .unwrap();
    assert!(
        usage.iter().all(|line| line.subscription_id != doomed.id),
        "{usage:?}"
    );
    let live_leases = store.live_leases(plus(now, 4)).await.unwrap();
    assert_eq!(
        live_leases.iter().map(|lease| lease.id).collect::<Vec<_>>(),
        vec![live.id]
    );
    let counts = store.transition_counts().await.unwrap();
    assert!(
        counts.iter().all(|(id, _, _)| *id != doomed.id),
        "{counts:?}"
    );
    match store
        .release_lease(
            &release(live_on_doomed.id, Outcome::Success, Usage::default()),
            plus(now, 5),
        )
        .await
    {
        Err(LeaseError::NotFound(id)) => assert_eq!(id, live_on_doomed.id),
        other => panic!("expected NotFound, got {other:?}"),
    }
    match store.delete_subscription(doomed.id).await {
        Err(StoreError::SubscriptionNotFound(id)) => assert_eq!(id, doomed.id),
        other => panic!("expected SubscriptionNotFound, got {other:?}"),
    }
}

/// Usage of every subscription in a day of `query_all`, summed per id.
async fn usage_by_id<S: SubscriptionStore>(
    store: &S,
) -> std::collections::BTreeMap<kage_domain::SubscriptionId, u64> {
    let mut sums = std::collections::BTreeMap::new();
    for line in store
        .daily_usage(&query_all(
            "2025-06-01T00:00:00Z",
            "2025-06-03T00:00:00Z",
            0,
        ))
        .await
        .unwrap()
    {
        *sums.entry(line.subscription_id).or_default() += line.usage.total_tokens();
    }
    sums
}

pub(crate) async fn a_retired_subscription_keeps_its_history_and_frees_its_name<
    S: SubscriptionStore,
>(
    store: &S,
) {
    let now = t("2025-06-02T10:00:00Z");
    let old = subscription("work");
    let other = subscription("other");
    store.insert_subscription(&old).await.unwrap();
    store.insert_subscription(&other).await.unwrap();
    let used = granted(store, &acquire(secs(60)), now).await;
    assert_eq!(used.subscription_id, other.id, "other comes first by name");
    store
        .set_disabled(other.id, Some("busy".to_owned()), now)
        .await
        .unwrap();
    let spent = granted(store, &acquire(secs(60)), plus(now, 1)).await;
    assert_eq!(spent.subscription_id, old.id);
    let quota = Outcome::QuotaExhausted {
        resets_at: Some(plus(now, 60)),
        reason: "5-hour limit".to_owned(),
    };
    store
        .release_lease(&release(spent.id, quota, tokens(100, 50)), plus(now, 2))
        .await
        .unwrap();
    let pending = granted(store, &acquire(secs(600)), plus(now, 70)).await;
    assert_eq!(pending.subscription_id, old.id);
    store
        .set_disabled(other.id, None, plus(now, 71))
        .await
        .unwrap();

    store
        .retire_subscription(old.id, plus(now, 80))
        .await
        .unwrap();

    // Out of the lists, lookups by name and selection...
    assert_eq!(
        store.list_subscriptions().await.unwrap(),
        vec![other.clone()]
    );
    assert_eq!(
        store.subscription_by_name(&name("work")).await.unwrap(),
        None
    );
    let snapshot = store.pool_snapshot(secs(60), plus(now, 81)).await.unwrap();
    assert_eq!(
        snapshot
            .entries
            .iter()
            .map(|entry| entry.subscription.id)
            .collect::<Vec<_>>(),
        vec![other.id]
    );
    store
        .set_disabled(other.id, Some("busy".to_owned()), plus(now, 82))
        .await
        .unwrap();
    match store
        .acquire_lease(&acquire(secs(60)), plus(now, 83))
        .await
        .unwrap()
    {
        AcquireOutcome::Unavailable { passed_over, .. } => {
            assert_eq!(
                passed_over
                    .iter()
                    .map(|p| p.name.clone())
                    .collect::<Vec<_>>(),
                vec![name("other")],
                "the retired one is not even passed over"
            );
        }
        AcquireOutcome::Granted(lease) => panic!("granted {lease:?} on a retired subscription"),
    }
    store
        .set_disabled(other.id, None, plus(now, 84))
        .await
        .unwrap();
    // ...listed as retired, its history kept.
    let retired = store.retired_subscriptions().await.unwrap();
    assert_eq!(retired.len(), 1);
    assert_eq!(retired[0].subscription.id, old.id);
    assert_eq!(retired[0].subscription.name, name("work"));
    assert_eq!(retired[0].retired_at, plus(now, 80));
    assert_eq!(
        retired[0].subscription.health.state.kind(),
        StateKind::Exhausted
    );
    let history = store.transitions(old.id, 10).await.unwrap();
    assert_eq!(history.len(), 1, "{history:?}");
    assert!(
        store
            .transition_counts()
            .await
            .unwrap()
            .iter()
            .any(|(id, _, _)| *id == old.id)
    );
    assert_eq!(usage_by_id(store).await.get(&old.id), Some(&150));

    // Its pending lease: live, not renewable, releasable with its usage.
    let live = store.live_leases(plus(now, 85)).await.unwrap();
    let on_old = live
        .iter()
        .find(|lease| lease.id == pending.id)
        .expect("still live");
    assert_eq!(on_old.subscription_name, name("work"));
    match store
        .heartbeat_lease(pending.id, secs(60), plus(now, 86))
        .await
    {
        Err(LeaseError::SubscriptionRetired {
            id,
            name: retired_name,
        }) => {
            assert_eq!(id, pending.id);
            assert_eq!(retired_name, name("work"));
        }
        other => panic!("expected SubscriptionRetired, got {other:?}"),
    }
    let report = store
        .release_lease(
            &release(pending.id, Outcome::Success, tokens(10, 0)),
            plus(now, 87),
        )
        .await
        .unwrap();
    assert_eq!(report.lease.subscription_name, name("work"));
    assert_eq!(usage_by_id(store).await.get(&old.id), Some(&160));

    // Its name is free; it cannot be retired or edited again.
    let new = subscription("work");
    store.insert_subscription(&new).await.unwrap();
    assert_eq!(
        store.subscription_by_name(&name("work")).await.unwrap(),
        Some(new.clone())
    );
    assert_eq!(
        store.list_subscriptions().await.unwrap(),
        vec![other.clone(), new.clone()]
    );
    match store.retire_subscription(old.id, plus(now, 90)).await {
        Err(StoreError::SubscriptionNotFound(id)) => assert_eq!(id, old.id),
        other => panic!("expected SubscriptionNotFound, got {other:?}"),
    }
    let mut edited = retired[0].subscription.clone();
    edited.description = Some("back?".to_owned());
    assert!(matches!(
        store.update_subscription(&edited).await,
        Err(StoreError::SubscriptionNotFound(_))
    ));
    let mut renamed = other.clone();
    renamed.name = name("work");
    assert!(matches!(
        store.update_subscription(&renamed).await,
        Err(StoreError::NameTaken(_))
    ));

    // Retired twice under one name; erasing one keeps the other's history.
    store
        .retire_subscription(new.id, plus(now, 91))
        .await
        .unwrap();
    let retired = store.retired_subscriptions().await.unwrap();
    assert_eq!(
        retired
            .iter()
            .map(|r| r.subscription.id)
            .collect::<Vec<_>>(),
        vec![old.id, new.id],
        "by name, then retirement time"
    );
    store.delete_subscription(old.id).await.unwrap();
    assert!(store.transitions(old.id, 10).await.unwrap().is_empty());
    assert_eq!(usage_by_id(store).await.get(&old.id), None);
    assert_eq!(
        store
            .retired_subscriptions()
            .await
            .unwrap()
            .iter()
            .map(|r| r.subscription.id)
            .collect::<Vec<_>>(),
        vec![new.id]
    );
}

pub(crate) async fn credentials_never_reach_the_database<S: SubscriptionStore>(store: &S) {
    let mut leaky = subscription("leaky");
    leaky.credential = CredentialSource::Env("sk-ant-oat01-SECRETVALUE".to_owned());
    let error = store
        .insert_subscription(&leaky)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("leaky") && error.contains("looks like a credential"),
        "{error}"
    );
    assert!(!error.contains("SECRETVALUE"), "{error}");
    assert!(store.list_subscriptions().await.unwrap().is_empty());

    let mut fine = subscription("fine");
    store.insert_subscription(&fine).await.unwrap();
    fine.credential = CredentialSource::Command("echo sk-ant-api03-SECRETVALUE".to_owned());
    let error = store
        .update_subscription(&fine)
        .await
        .unwrap_err()
        .to_string();
    assert!(!error.contains("SECRETVALUE"), "{error}");
    let stored = store
        .subscription_by_name(&name("fine"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.credential, CredentialSource::Keychain);
}

pub(crate) async fn routes_are_saved_replaced_and_deleted<S: SubscriptionStore>(store: &S) {
    let backend = RouteTarget::Namespace(Namespace::new("backend").unwrap());
    let high = RouteTarget::Level(PriorityLevel::High);
    let entries: Vec<RouteEntry> = vec![
        "work-premium".parse().unwrap(),
        "tag:security".parse().unwrap(),
    ];
    assert!(store.load_routes().await.unwrap().is_empty());
    store.save_route(&backend, &entries).await.unwrap();
    store
        .save_route(&high, &["premium-1".parse().unwrap()])
        .await
        .unwrap();
    let mut expected = RoutingRules::new();
    expected.set(backend.clone(), entries);
    expected.set(high.clone(), vec!["premium-1".parse().unwrap()]);
    assert_eq!(store.load_routes().await.unwrap(), expected);

    store
        .save_route(&backend, &["other".parse().unwrap()])
        .await
        .unwrap();
    expected.set(backend.clone(), vec!["other".parse().unwrap()]);
    assert_eq!(store.load_routes().await.unwrap(), expected);

    assert!(store.delete_route(&high).await.unwrap());
    assert!(!store.delete_route(&high).await.unwrap());
    expected.remove(&high);
    assert_eq!(store.load_routes().await.unwrap(), expected);
}

pub(crate) async fn a_retried_acquire_gets_the_same_lease<S: SubscriptionStore>(store: &S) {
    let now = t("2025-06-02T10:00:00Z");
    let mut work = subscription("work");
    work.kind = CredentialKind::ApiKey;
    store.insert_subscription(&work).await.unwrap();
    let mut request = acquire(secs(120));
    request.selection.namespace = Some(Namespace::new("backend").unwrap());
    request.selection.level = PriorityLevel::High;
    request.holder = "kage-agent@box:42".to_owned();
    let lease = granted(store, &request, now).await;
    assert_eq!(lease.id, request.lease_id);
    assert_eq!(lease.subscription_id, work.id);
    assert_eq!(lease.subscription_name, name("work"));
    assert_eq!(lease.kind, CredentialKind::ApiKey);
    assert_eq!(lease.namespace, Some(Namespace::new("backend").unwrap()));
    assert_eq!(lease.level, PriorityLevel::High);
    assert_eq!(lease.holder, "kage-agent@box:42");
    assert_eq!(lease.acquired_at, now);
    assert_eq!(lease.expires_at, plus(now, 120));
    assert_eq!(lease.released_at, None);

    let again = granted(store, &request, plus(now, 5)).await;
    assert_eq!(again, lease, "a retried acquire returns the first grant");
    assert_eq!(
        store.live_leases(plus(now, 6)).await.unwrap(),
        vec![lease.clone()]
    );

    let second = granted(store, &acquire(secs(120)), plus(now, 7)).await;
    assert_ne!(second.id, lease.id);
    assert_eq!(
        store.live_leases(plus(now, 8)).await.unwrap(),
        vec![lease, second]
    );
}

pub(crate) async fn caps_hold_and_expired_leases_stop_counting_at_once<S: SubscriptionStore>(
    store: &S,
) {
    let now = t("2025-06-02T10:00:00Z");
    let mut capped = subscription("capped");
    capped.max_concurrent = Some(2);
    store.insert_subscription(&capped).await.unwrap();
    let first = granted(store, &acquire(secs(30)), now).await;
    let second = granted(store, &acquire(secs(60)), plus(now, 1)).await;
    match store
        .acquire_lease(&acquire(secs(60)), plus(now, 2))
        .await
        .unwrap()
    {
        AcquireOutcome::Unavailable {
            earliest_recovery,
            passed_over,
        } => {
            assert_eq!(earliest_recovery, Some(first.expires_at));
            assert_eq!(passed_over.len(), 1);
            assert_eq!(passed_over[0].name, name("capped"));
            assert_eq!(
                passed_over[0].reason,
                PassOverReason::AtCapacity {
                    live_leases: 2,
                    max_concurrent: 2,
                    frees_at: Some(first.expires_at)
                }
            );
        }
        other => panic!("expected Unavailable at the cap, got {other:?}"),
    }
    // The first lease expires at +30s without a heartbeat: from that very
    // instant it no longer counts, with no sweeper.
    let third = granted(store, &acquire(secs(60)), first.expires_at).await;
    let live: Vec<LeaseId> = store
        .live_leases(first.expires_at)
        .await
        .unwrap()
        .iter()
        .map(|lease| lease.id)
        .collect();
    assert_eq!(live, vec![second.id, third.id]);
    assert!(matches!(
        store
            .acquire_lease(&acquire(secs(60)), first.expires_at)
            .await
            .unwrap(),
        AcquireOutcome::Unavailable { .. }
    ));
}

pub(crate) async fn selection_follows_priority_turns_routes_and_tags<S: SubscriptionStore>(
    store: &S,
) {
    let now = t("2025-06-02T10:00:00Z");
    let mut high = subscription("high");
    high.priority = Priority(200);
    let x = subscription("x");
    let y = subscription("y");
    let mut gpu = subscription("gpu");
    gpu.priority = Priority(50);
    gpu.tags = BTreeSet::from([tag("gpu")]);
    for subscription in [&high, &x, &y, &gpu] {
        store.insert_subscription(subscription).await.unwrap();
    }
    // Highest priority first.
    assert_eq!(
        granted(store, &acquire(secs(60)), now)
            .await
            .subscription_id,
        high.id
    );
    store
        .set_disabled(high.id, Some("saving it".to_owned()), now)
        .await
        .unwrap();
    // Equal priorities take turns: the least recently leased goes first
    // (each lease has expired by the next step, so no lease count differs).
    let mut turns = Vec::new();
    for step in 1..=4 {
        turns.push(
            granted(store, &acquire(secs(1)), plus(now, step))
                .await
                .subscription_name,
        );
    }
    assert_eq!(turns, vec![name("x"), name("y"), name("x"), name("y")]);
    // Round-robin ignores priority: gpu has never been leased.
    let mut round_robin = acquire(secs(60));
    round_robin.policy.strategy = Strategy::RoundRobin;
    assert_eq!(
        granted(store, &round_robin, plus(now, 5))
            .await
            .subscription_id,
        gpu.id
    );
    // Required tags.
    let mut tagged = acquire(secs(60));
    tagged.selection.required_tags = vec![tag("gpu")];
    assert_eq!(
        granted(store, &tagged, plus(now, 6)).await.subscription_id,
        gpu.id
    );
    // A namespace rule restricts the candidates.
    let frontend = Namespace::new("frontend").unwrap();
    let mut routed = acquire(secs(60));
    routed.selection.namespace = Some(frontend.clone());
    routed.rules.set(
        RouteTarget::Namespace(frontend.clone()),
        vec!["y".parse().unwrap()],
    );
    assert_eq!(
        granted(store, &routed, plus(now, 7)).await.subscription_id,
        y.id
    );
    // Nothing fits: every subscription is named with its reason, and
    // nothing recovers by itself.
    let mut impossible = acquire(secs(60));
    impossible.selection.required_tags = vec![tag("quantum")];
    match store
        .acquire_lease(&impossible, plus(now, 8))
        .await
        .unwrap()
    {
        AcquireOutcome::Unavailable {
            earliest_recovery,
            passed_over,
        } => {
            assert_eq!(earliest_recovery, None);
            let names: Vec<String> = passed_over.iter().map(|p| p.name.to_string()).collect();
            assert_eq!(names, vec!["gpu", "high", "x", "y"]);
            assert!(passed_over.iter().all(|p| matches!(
                &p.reason,
                PassOverReason::MissingTags { missing } if *missing == vec![tag("quantum")]
            )));
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(
        store
            .live_leases(plus(now, 9))
            .await
            .unwrap()
            .iter()
            .all(|l| l.id != impossible.lease_id)
    );
}

pub(crate) async fn heartbeats_extend_live_leases_only<S: SubscriptionStore>(store: &S) {
    let now = t("2025-06-02T10:00:00Z");
    store
        .insert_subscription(&subscription("work"))
        .await
        .unwrap();
    let lease = granted(store, &acquire(secs(60)), now).await;
    let renewed = store
        .heartbeat_lease(lease.id, secs(60), plus(now, 30))
        .await
        .unwrap();
    assert_eq!(renewed.expires_at, plus(now, 90));
    assert_eq!(renewed.acquired_at, now);
    assert_eq!(
        store.live_leases(plus(now, 80)).await.unwrap(),
        vec![renewed.clone()]
    );

    let unknown = LeaseId::from_uuid(Uuid::new_v4());
    match store
        .heartbeat_lease(unknown, secs(60), plus(now, 31))
        .await
    {
        Err(LeaseError::NotFound(id)) => assert_eq!(id, unknown),
        other => panic!("expected NotFound, got {other:?}"),
    }
    match store
        .heartbeat_lease(lease.id, secs(60), plus(now, 90))
        .await
    {
        Err(LeaseError::Expired { id, expired_at }) => {
            assert_eq!(id, lease.id);
            assert_eq!(expired_at, plus(now, 90));
        }
        other => panic!("expected Expired, got {other:?}"),
    }
    assert!(
        store.live_leases(plus(now, 90)).await.unwrap().is_empty(),
        "an expired lease is not revived"
    );

    let other = granted(store, &acquire(secs(60)), plus(now, 100)).await;
    store
        .release_lease(
            &release(other.id, Outcome::Success, Usage::default()),
            plus(now, 101),
        )
        .await
        .unwrap();
    match store
        .heartbeat_lease(other.id, secs(60), plus(now, 102))
        .await
    {
        Err(LeaseError::AlreadyReleased(id)) => assert_eq!(id, other.id),
        other => panic!("expected AlreadyReleased, got {other:?}"),
    }
}

pub(crate) async fn release_records_usage_outcome_and_transition_once<S: SubscriptionStore>(
    store: &S,
) {
    let now = t("2025-06-02T10:00:00Z");
    let work = subscription("work");
    store.insert_subscription(&work).await.unwrap();
    let lease = granted(store, &acquire(secs(60)), now).await;
    let usage = Usage {
        input_tokens: 1000,
        output_tokens: 200,
        cache_write_tokens: 30,
        cache_read_tokens: 4000,
        cost_micros_usd: Some(12_345),
        model: Some("claude-sonnet-4".to_owned()),
    };
    let limited = Outcome::RateLimited {
        retry_at: Some(plus(now, 130)),
        reason: "429 from the API".to_owned(),
    };
    let report = store
        .release_lease(
            &release(lease.id, limited.clone(), usage.clone()),
            plus(now, 10),
        )
        .await
        .unwrap();
    assert!(!report.was_expired);
    assert_eq!(report.lease.released_at, Some(plus(now, 10)));
    assert_eq!(report.lease.id, lease.id);
    let transition = report.transition.expect("active to rate_limited");
    assert_eq!(
        (transition.from, transition.to),
        (StateKind::Active, StateKind::RateLimited)
    );
    assert_eq!(transition.until, Some(plus(now, 130)));

    let stored = store
        .subscription_by_name(&name("work"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.health.state,
        SubscriptionState::RateLimited {
            until: plus(now, 130),
            reason: "429 from the API".to_owned()
        }
    );
    assert_eq!(stored.health.last_limited_at, Some(plus(now, 10)));
    let history = store.transitions(work.id, 10).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].transition, transition);
    assert_eq!(history[0].lease_id, Some(lease.id));
    assert_eq!(
        store.transition_counts().await.unwrap(),
        vec![(work.id, StateKind::RateLimited, 1)]
    );
    let today = query_all("2025-06-02T00:00:00Z", "2025-06-03T00:00:00Z", 0);
    let expected_usage = Usage {
        model: None,
        ..usage
    };
    let lines = store.daily_usage(&today).await.unwrap();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].subscription_id, work.id);
    assert_eq!(lines[0].day, day("2025-06-02"));
    assert_eq!(lines[0].usage, expected_usage);
    assert_eq!(lines[0].leases, 1);

    // A release retried after a timeout records nothing.
    match store
        .release_lease(&release(lease.id, limited, tokens(999, 999)), plus(now, 11))
        .await
    {
        Err(LeaseError::AlreadyReleased(id)) => assert_eq!(id, lease.id),
        other => panic!("expected AlreadyReleased, got {other:?}"),
    }
    let lines = store.daily_usage(&today).await.unwrap();
    assert_eq!(
        (lines[0].usage.clone(), lines[0].leases),
        (expected_usage, 1)
    );
    assert_eq!(store.transitions(work.id, 10).await.unwrap().len(), 1);
    assert!(store.live_leases(plus(now, 12)).await.unwrap().is_empty());

    let unknown = LeaseId::from_uuid(Uuid::new_v4());
    match store
        .release_lease(
            &release(unknown, Outcome::Success, tokens(1, 1)),
            plus(now, 13),
        )
        .await
    {
        Err(LeaseError::NotFound(id)) => {
            assert_eq!(id, unknown);
            assert!(
                LeaseError::NotFound(id)
                    .to_string()
                    .contains(&unknown.to_string())
            );
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert_eq!(store.daily_usage(&today).await.unwrap()[0].leases, 1);
}

pub(crate) async fn an_expired_lease_still_records_its_release<S: SubscriptionStore>(store: &S) {
    let now = t("2025-06-02T10:00:00Z");
    let work = subscription("work");
    store.insert_subscription(&work).await.unwrap();
    let lease = granted(store, &acquire(secs(10)), now).await;
    let report = store
        .release_lease(
            &release(lease.id, Outcome::Success, tokens(70, 7)),
            plus(now, 60),
        )
        .await
        .unwrap();
    assert!(report.was_expired);
    assert_eq!(report.transition, None);
    let lines = store
        .daily_usage(&query_all(
            "2025-06-02T00:00:00Z",
            "2025-06-03T00:00:00Z",
            0,
        ))
        .await
        .unwrap();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].usage.total_tokens(), 77);
    assert_eq!(
        lines[0].usage.cost_micros_usd, None,
        "no release reported a cost"
    );
    assert!(matches!(
        store
            .release_lease(
                &release(lease.id, Outcome::Success, tokens(1, 1)),
                plus(now, 61)
            )
            .await,
        Err(LeaseError::AlreadyReleased(_))
    ));
}

pub(crate) async fn none_available_reports_the_earliest_recovery<S: SubscriptionStore>(store: &S) {
    let now = t("2025-06-02T10:00:00Z");
    let policy = StatePolicy::default();
    let a = subscription("a");
    let b = subscription("b");
    store.insert_subscription(&a).await.unwrap();
    store.insert_subscription(&b).await.unwrap();
    let limited = Outcome::RateLimited {
        retry_at: Some(plus(now, 300)),
        reason: "burst".to_owned(),
    };
    let exhausted = Outcome::QuotaExhausted {
        resets_at: Some(plus(now, 3600)),
        reason: "5-hour limit".to_owned(),
    };
    store
        .record_outcome(a.id, &limited, None, &policy, now)
        .await
        .unwrap();
    store
        .record_outcome(b.id, &exhausted, None, &policy, now)
        .await
        .unwrap();
    match store
        .acquire_lease(&acquire(secs(60)), plus(now, 1))
        .await
        .unwrap()
    {
        AcquireOutcome::Unavailable {
            earliest_recovery,
            passed_over,
        } => {
            assert_eq!(earliest_recovery, Some(plus(now, 300)));
            assert_eq!(passed_over.len(), 2);
            assert!(matches!(
                &passed_over[0].reason,
                PassOverReason::NotActive {
                    state: SubscriptionState::RateLimited { .. }
                }
            ));
            assert!(matches!(
                &passed_over[1].reason,
                PassOverReason::NotActive {
                    state: SubscriptionState::Exhausted { .. }
                }
            ));
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    // Recovery needs no daemon: at the until time `a` is active again.
    assert_eq!(
        granted(store, &acquire(secs(60)), plus(now, 300))
            .await
            .subscription_id,
        a.id
    );

    store
        .set_disabled(a.id, Some("off".to_owned()), plus(now, 301))
        .await
        .unwrap();
    store
        .set_disabled(b.id, Some("off".to_owned()), plus(now, 301))
        .await
        .unwrap();
    match store
        .acquire_lease(&acquire(secs(60)), plus(now, 302))
        .await
        .unwrap()
    {
        AcquireOutcome::Unavailable {
            earliest_recovery, ..
        } => assert_eq!(earliest_recovery, None),
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

pub(crate) async fn outcomes_and_disable_drive_the_state_machine<S: SubscriptionStore>(store: &S) {
    let now = t("2025-06-02T10:00:00Z");
    let policy = StatePolicy::default();
    let work = subscription("work");
    store.insert_subscription(&work).await.unwrap();
    let error = Outcome::Error {
        kind: ErrorKind::Server,
        detail: "502".to_owned(),
    };
    let lease_id = LeaseId::from_uuid(Uuid::new_v4());
    for step in 0..2 {
        let result = store
            .record_outcome(work.id, &error, Some(lease_id), &policy, plus(now, step))
            .await
            .unwrap();
        assert_eq!(result.transition, None);
        assert_eq!(
            result.health.consecutive_errors,
            u32::try_from(step + 1).unwrap()
        );
    }
    let third = store
        .record_outcome(work.id, &error, Some(lease_id), &policy, plus(now, 2))
        .await
        .unwrap();
    let to_unhealthy = third.transition.expect("unhealthy after three errors");
    assert_eq!(to_unhealthy.to, StateKind::Unhealthy);
    let stored = store
        .subscription_by_name(&name("work"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.health, third.health);
    assert_eq!(stored.health.consecutive_errors, 3);
    assert_eq!(stored.health.unhealthy_relapses, 1);

    let disabled = store
        .set_disabled(work.id, Some("maintenance".to_owned()), plus(now, 3))
        .await
        .unwrap();
    assert_eq!(
        disabled.transition.as_ref().map(|t| t.to),
        Some(StateKind::Disabled)
    );
    let enabled = store
        .set_disabled(work.id, None, plus(now, 4))
        .await
        .unwrap();
    assert_eq!(
        enabled.transition.as_ref().map(|t| (t.from, t.to)),
        Some((StateKind::Disabled, StateKind::Active))
    );
    let stored = store
        .subscription_by_name(&name("work"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.health.state, SubscriptionState::Active);
    assert_eq!(stored.health.consecutive_errors, 0);

    let history = store.transitions(work.id, 10).await.unwrap();
    let kinds: Vec<StateKind> = history.iter().map(|r| r.transition.to).collect();
    assert_eq!(
        kinds,
        vec![StateKind::Active, StateKind::Disabled, StateKind::Unhealthy],
        "newest first"
    );
    assert_eq!(history[2].lease_id, Some(lease_id));
    assert_eq!(history[0].lease_id, None);
    assert_eq!(store.transitions(work.id, 1).await.unwrap().len(), 1);
    let mut counts = store.transition_counts().await.unwrap();
    counts.sort_by_key(|(_, state, _)| *state);
    assert_eq!(
        counts,
        vec![
            (work.id, StateKind::Active, 1),
            (work.id, StateKind::Disabled, 1),
            (work.id, StateKind::Unhealthy, 1)
        ]
    );

    let warning = Outcome::ApproachingLimit {
        window: None,
        utilization: 0.91,
        resets_at: None,
    };
    store
        .record_outcome(work.id, &warning, None, &policy, plus(now, 5))
        .await
        .unwrap();
    let stored = store
        .subscription_by_name(&name("work"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.health.last_utilization, Some((0.91, plus(now, 5))));

    let ghost = subscription("ghost");
    assert!(matches!(
        store.record_outcome(ghost.id, &error, None, &policy, now).await,
        Err(StoreError::SubscriptionNotFound(id)) if id == ghost.id
    ));
    assert!(matches!(
        store.set_disabled(ghost.id, None, now).await,
        Err(StoreError::SubscriptionNotFound(id)) if id == ghost.id
    ));
}

pub(crate) async fn the_snapshot_counts_live_leases_and_recent_usage<S: SubscriptionStore>(
    store: &S,
) {
    let t0 = t("2025-06-02T10:00:00Z");
    let work = subscription("work");
    let idle = subscription("idle");
    store.insert_subscription(&work).await.unwrap();
    store.insert_subscription(&idle).await.unwrap();
    let mut on_work = acquire(secs(60));
    on_work.rules.set(
        RouteTarget::Level(PriorityLevel::Normal),
        vec!["work".parse().unwrap()],
    );
    let first = granted(store, &on_work, t0).await;
    on_work.lease_id = LeaseId::from_uuid(Uuid::new_v4());
    on_work.ttl = secs(30);
    let second = granted(store, &on_work, plus(t0, 1)).await;
    store
        .release_lease(
            &release(first.id, Outcome::Success, tokens(60, 40)),
            plus(t0, 10),
        )
        .await
        .unwrap();

    let snapshot = store.pool_snapshot(secs(60), plus(t0, 20)).await.unwrap();
    let names: Vec<String> = snapshot
        .entries
        .iter()
        .map(|e| e.subscription.name.to_string())
        .collect();
    assert_eq!(names, vec!["idle", "work"]);
    let entry = &snapshot.entries[1];
    assert_eq!(entry.live_leases, 1);
    assert_eq!(entry.last_leased_at, Some(plus(t0, 1)));
    assert_eq!(entry.earliest_lease_expiry, Some(second.expires_at));
    assert_eq!(entry.window_tokens, 100);
    let idle_entry = &snapshot.entries[0];
    assert_eq!(
        (
            idle_entry.live_leases,
            idle_entry.last_leased_at,
            idle_entry.window_tokens
        ),
        (0, None, 0)
    );

    let later = store.pool_snapshot(secs(60), plus(t0, 80)).await.unwrap();
    let entry = &later.entries[1];
    assert_eq!(entry.live_leases, 0, "the second lease expired at +31s");
    assert_eq!(entry.earliest_lease_expiry, None);
    assert_eq!(
        entry.window_tokens, 0,
        "the usage at +10s is out of [+20s, +80s)"
    );
    assert_eq!(entry.last_leased_at, Some(plus(t0, 1)));
}

pub(crate) async fn daily_usage_cuts_days_by_offset_and_is_exact_at_the_edges<
    S: SubscriptionStore,
>(
    store: &S,
) {
    let a = subscription("a");
    let b = subscription("b");
    store.insert_subscription(&a).await.unwrap();
    store.insert_subscription(&b).await.unwrap();
    let only = |id| {
        let mut request = acquire(secs(600));
        request.rules.set(
            RouteTarget::Level(PriorityLevel::Normal),
            vec![if id == a.id { "a" } else { "b" }.parse().unwrap()],
        );
        request
    };
    let spend = async |id, at: &str, usage: Usage| {
        let at = t(at);
        let lease = granted(store, &only(id), at).await;
        store
            .release_lease(&release(lease.id, Outcome::Success, usage), at)
            .await
            .unwrap();
    };
    let costed = |input| Usage {
        input_tokens: input,
        cost_micros_usd: Some(input * 10),
        ..Usage::default()
    };
    spend(a.id, "2025-06-01T23:30:00Z", tokens(100, 0)).await;
    spend(a.id, "2025-06-02T00:30:00Z", tokens(10, 0)).await;
    spend(a.id, "2025-06-02T10:15:00Z", costed(1)).await;
    spend(a.id, "2025-06-02T10:45:00Z", costed(2)).await;
    spend(b.id, "2025-06-02T12:00:00Z", tokens(5000, 0)).await;

    let input_by_day =
        |lines: &[kage_ports::DailyUsage]| -> Vec<(String, String, u64, Option<u64>, u64)> {
            lines
                .iter()
                .map(|line| {
                    let who = if line.subscription_id == a.id {
                        "a"
                    } else {
                        "b"
                    };
                    (
                        line.day.to_string(),
                        who.to_owned(),
                        line.usage.input_tokens,
                        line.usage.cost_micros_usd,
                        line.leases,
                    )
                })
                .collect()
        };
    let utc = store
        .daily_usage(&query_all(
            "2025-06-01T00:00:00Z",
            "2025-06-03T00:00:00Z",
            0,
        ))
        .await
        .unwrap();
    let day2_a = ("2025-06-02".to_owned(), "a".to_owned(), 13, Some(30), 3);
    let day2_b = ("2025-06-02".to_owned(), "b".to_owned(), 5000, None, 1);
    let mut expected = vec![("2025-06-01".to_owned(), "a".to_owned(), 100, None, 1)];
    // Lines of one day come by subscription id.
    if a.id < b.id {
        expected.extend([day2_a.clone(), day2_b.clone()]);
    } else {
        expected.extend([day2_b.clone(), day2_a.clone()]);
    }
    assert_eq!(
        input_by_day(&utc),
        expected,
        "UTC days, by day then subscription id"
    );

    // At UTC+2 the 23:30 UTC release falls on the 2nd, local time.
    let plus_two = store
        .daily_usage(&query_all(
            "2025-06-01T22:00:00Z",
            "2025-06-02T22:00:00Z",
            2,
        ))
        .await
        .unwrap();
    let a_lines: Vec<_> = input_by_day(&plus_two)
        .into_iter()
        .filter(|l| l.1 == "a")
        .collect();
    assert_eq!(
        a_lines,
        vec![("2025-06-02".to_owned(), "a".to_owned(), 113, Some(30), 4)]
    );
    // At UTC-1 the 00:30 UTC release falls on the 1st.
    let minus_one = store
        .daily_usage(&query_all(
            "2025-06-01T01:00:00Z",
            "2025-06-03T01:00:00Z",
            -1,
        ))
        .await
        .unwrap();
    let a_lines: Vec<_> = input_by_day(&minus_one)
        .into_iter()
        .filter(|l| l.1 == "a")
        .collect();
    assert_eq!(
        a_lines,
        vec![
            ("2025-06-01".to_owned(), "a".to_owned(), 110, None, 2),
            ("2025-06-02".to_owned(), "a".to_owned(), 3, Some(30), 2),
        ]
    );

    // Mid-hour edges are exact: [10:30, 10:50) holds only the 10:45 release,
    // [10:00, 10:30) only the 10:15 one.
    let mut edge = query_all("2025-06-02T10:30:00Z", "2025-06-02T10:50:00Z", 0);
    edge.subscription = Some(a.id);
    assert_eq!(
        input_by_day(&store.daily_usage(&edge).await.unwrap()),
        vec![("2025-06-02".to_owned(), "a".to_owned(), 2, Some(20), 1)]
    );
    let edge = query_all("2025-06-02T10:00:00Z", "2025-06-02T10:30:00Z", 0);
    assert_eq!(
        input_by_day(&store.daily_usage(&edge).await.unwrap()),
        vec![("2025-06-02".to_owned(), "a".to_owned(), 1, Some(10), 1)]
    );
    // A range with whole hours in the middle and partial ones at both ends.
    let mixed = query_all("2025-06-01T23:45:00Z", "2025-06-02T10:20:00Z", 0);
    assert_eq!(
        input_by_day(&store.daily_usage(&mixed).await.unwrap()),
        vec![("2025-06-02".to_owned(), "a".to_owned(), 11, Some(10), 2)]
    );
    // A day cut at `to`: read from the day's row when nothing lies after
    // `to` that day (12:30: the last release was at 12:00)...
    let until_now = query_all("2025-06-02T00:00:00Z", "2025-06-02T12:30:00Z", 0);
    let mut expected_day2 = vec![day2_a.clone(), day2_b.clone()];
    expected_day2.sort_by_key(|line| if line.1 == "a" { a.id } else { b.id });
    assert_eq!(
        input_by_day(&store.daily_usage(&until_now).await.unwrap()),
        expected_day2
    );
    // ...and from its hours and records when something does (b at 12:00).
    let before_noon = query_all("2025-06-02T00:00:00Z", "2025-06-02T11:00:00Z", 0);
    assert_eq!(
        input_by_day(&store.daily_usage(&before_noon).await.unwrap()),
        vec![day2_a.clone()]
    );
    // One subscription only.
    let mut only_b = query_all("2025-06-01T00:00:00Z", "2025-06-03T00:00:00Z", 0);
    only_b.subscription = Some(b.id);
    assert_eq!(
        input_by_day(&store.daily_usage(&only_b).await.unwrap()),
        vec![day2_b]
    );
    // Nothing outside the range.
    let empty = query_all("2025-06-03T00:00:00Z", "2025-06-04T00:00:00Z", 0);
    assert!(store.daily_usage(&empty).await.unwrap().is_empty());
}

pub(crate) async fn daily_usage_is_exact_for_any_offset_old_or_new<S: SubscriptionStore>(
    store: &S,
) {
    let work = subscription("work");
    store.insert_subscription(&work).await.unwrap();
    let spend = async |at: &str, input: u64| {
        let at = t(at);
        let lease = granted(store, &acquire(secs(600)), at).await;
        store
            .release_lease(&release(lease.id, Outcome::Success, tokens(input, 0)), at)
            .await
            .unwrap();
    };
    // India, UTC+5:30: local midnight is 18:30 UTC.
    spend("2025-06-01T18:15:00Z", 1).await; // 23:45 on the 1st, local
    spend("2025-06-01T18:45:00Z", 10).await; // 00:15 on the 2nd
    spend("2025-06-02T12:00:00Z", 100).await; // 17:30 on the 2nd
    let india = UsageQuery {
        from: t("2025-05-31T18:30:00Z"),
        to: t("2025-06-02T18:30:00Z"),
        utc_offset_seconds: 5 * 3600 + 1800,
        subscription: None,
    };
    let by_day = |lines: Vec<kage_ports::DailyUsage>| -> Vec<(Date, u64, u64)> {
        lines
            .iter()
            .map(|line| (line.day, line.usage.input_tokens, line.leases))
            .collect()
    };
    // The first query in a new offset fills its daily rollup from the records.
    assert_eq!(
        by_day(store.daily_usage(&india).await.unwrap()),
        vec![(day("2025-06-01"), 1, 1), (day("2025-06-02"), 110, 2)]
    );
    // Usage after that is kept in it as it arrives.
    spend("2025-06-02T13:00:00Z", 1000).await;
    assert_eq!(
        by_day(store.daily_usage(&india).await.unwrap()),
        vec![(day("2025-06-01"), 1, 1), (day("2025-06-02"), 1110, 3)]
    );
    // Queries in five other offsets push India out of the rollup...
    for hours in 1..=5 {
        let other = UsageQuery {
            from: t("2025-05-30T00:00:00Z"),
            to: t("2025-06-04T00:00:00Z"),
            utc_offset_seconds: hours * 3600,
            subscription: None,
        };
        let total: u64 = store
            .daily_usage(&other)
            .await
            .unwrap()
            .iter()
            .map(|l| l.usage.input_tokens)
            .sum();
        assert_eq!(total, 1111, "UTC+{hours}");
    }
    spend("2025-06-02T14:00:00Z", 10_000).await;
    // ...and coming back fills it again, counting nothing twice.
    assert_eq!(
        by_day(store.daily_usage(&india).await.unwrap()),
        vec![(day("2025-06-01"), 1, 1), (day("2025-06-02"), 11_110, 4)]
    );
    // A range cut mid-day in that offset.
    let part = UsageQuery {
        from: t("2025-06-01T18:40:00Z"),
        ..india
    };
    assert_eq!(
        by_day(store.daily_usage(&part).await.unwrap()),
        vec![(day("2025-06-02"), 11_110, 4)]
    );
}

pub(crate) async fn times_are_kept_to_the_millisecond<S: SubscriptionStore>(store: &S) {
    let now = t("2025-06-02T10:00:00.123456789Z");
    store
        .insert_subscription(&subscription("work"))
        .await
        .unwrap();
    let lease = granted(store, &acquire(secs(60)), now).await;
    assert_eq!(lease.acquired_at, t("2025-06-02T10:00:00.123Z"));
    assert_eq!(store.live_leases(now).await.unwrap(), vec![lease]);
}

fn alert(
    subscription: &kage_domain::Subscription,
    window: &str,
    period: &str,
    permille: u16,
    at: &str,
) -> QuotaAlert {
    QuotaAlert {
        subscription_id: subscription.id,
        subscription_name: subscription.name.clone(),
        window: window.to_owned(),
        period: t(period),
        threshold_permille: permille,
        utilization: f64::from(permille) / 1000.0 + 0.01,
        resets_at: Some(t(period)),
        at: t(at),
    }
}

fn keys(alerts: &[QuotaAlert]) -> Vec<(String, String, u16)> {
    alerts
        .iter()
        .map(|alert| {
            (
                alert.subscription_name.to_string(),
                alert.window.clone(),
                alert.threshold_permille,
            )
        })
        .collect()
}

pub(crate) async fn quota_alerts_are_recorded_once_per_window_period_and_threshold<
    S: SubscriptionStore,
>(
    store: &S,
) {
    let work = subscription("work");
    let home = subscription("home");
    store.insert_subscription(&work).await.unwrap();
    store.insert_subscription(&home).await.unwrap();
    let reset = "2026-12-06T15:00:00Z";
    let at = "2026-12-06T11:00:00Z";

    let first = vec![
        alert(&work, "five_hour", reset, 500, at),
        alert(&work, "five_hour", reset, 800, at),
    ];
    let recorded = store.record_quota_alerts(&first).await.unwrap();
    assert_eq!(recorded, first, "both are new");
    assert_eq!(
        store.record_quota_alerts(&first).await.unwrap(),
        vec![],
        "a second report of the same window records nothing"
    );

    let higher = vec![
        alert(&work, "five_hour", reset, 500, "2026-12-06T12:00:00Z"),
        alert(&work, "five_hour", reset, 800, "2026-12-06T12:00:00Z"),
        alert(&work, "five_hour", reset, 950, "2026-12-06T12:00:00Z"),
        alert(
            &work,
            "seven_day",
            "2026-12-10T00:00:00Z",
            500,
            "2026-12-06T12:00:00Z",
        ),
        alert(&home, "five_hour", reset, 500, "2026-12-06T12:00:00Z"),
    ];
    let recorded = store.record_quota_alerts(&higher).await.unwrap();
    assert_eq!(
        keys(&recorded),
        vec![
            ("work".to_owned(), "five_hour".to_owned(), 950),
            ("work".to_owned(), "seven_day".to_owned(), 500),
            ("home".to_owned(), "five_hour".to_owned(), 500),
        ],
        "only the new threshold, the other window and the other subscription"
    );

    // The next period of the window alerts again.
    let next = vec![alert(
        &work,
        "five_hour",
        "2026-12-06T20:00:00Z",
        500,
        "2026-12-06T16:00:00Z",
    )];
    assert_eq!(store.record_quota_alerts(&next).await.unwrap(), next);

    // Several writers at once (each on its own connection): exactly one records it.
    let racing = vec![alert(
        &home,
        "five_hour",
        reset,
        800,
        "2026-12-06T13:00:00Z",
    )];
    let (a, b, c, d) = tokio::join!(
        store.record_quota_alerts(&racing),
        store.record_quota_alerts(&racing),
        store.record_quota_alerts(&racing),
        store.record_quota_alerts(&racing),
    );
    let winners: usize = [a, b, c, d].into_iter().map(|r| r.unwrap().len()).sum();
    assert_eq!(
        winners, 1,
        "exactly one concurrent writer records the alert"
    );

    let all = store.quota_alerts(t("2026-12-06T00:00:00Z")).await.unwrap();
    assert_eq!(all.len(), 7);
    assert_eq!(all[0].at, t(at), "oldest first");
    assert_eq!(all[0].resets_at, Some(t(reset)));
    assert!((all[0].utilization - 0.51).abs() < 1e-9);
    let recent = store.quota_alerts(t("2026-12-06T13:00:00Z")).await.unwrap();
    assert_eq!(
        keys(&recent),
        vec![
            ("home".to_owned(), "five_hour".to_owned(), 800),
            ("work".to_owned(), "five_hour".to_owned(), 500),
        ]
    );

    store.delete_subscription(work.id).await.unwrap();
    let left = store.quota_alerts(t("2026-12-06T00:00:00Z")).await.unwrap();
    assert!(
        left.iter()
            .all(|alert| alert.subscription_name.as_str() == "home")
    );
    assert_eq!(left.len(), 2, "a deleted subscription's alerts go with it");
}

pub(crate) async fn waiters_are_saved_refreshed_listed_and_expire<S: SubscriptionStore>(store: &S) {
    let now = t("2026-12-06T11:00:00Z");
    let first = Waiter {
        id: LeaseId::from_uuid(Uuid::new_v4()),
        holder: "kage-agent@build-1:4242 task-3".to_owned(),
        request: "namespace backend, high".to_owned(),
        since: now,
        until: plus(now, 30),
        deadline: Some(plus(now, 1800)),
        earliest_recovery: Some(plus(now, 600)),
        earliest_name: Some(name("work")),
        expires_at: plus(now, 60),
    };
    let second = Waiter {
        id: LeaseId::from_uuid(Uuid::new_v4()),
        holder: "kage-exec@laptop:77".to_owned(),
        request: "normal".to_owned(),
        since: plus(now, 5),
        until: plus(now, 35),
        deadline: None,
        earliest_recovery: None,
        earliest_name: None,
        expires_at: plus(now, 65),
    };
    store.save_waiter(&first, now).await.unwrap();
    store.save_waiter(&second, plus(now, 5)).await.unwrap();
    assert_eq!(
        store.waiters(plus(now, 10)).await.unwrap(),
        vec![first.clone(), second.clone()],
        "oldest first, every field kept"
    );

    // Refreshed: the same row with a later look and expiry.
    let mut refreshed = first.clone();
    refreshed.until = plus(now, 60);
    refreshed.expires_at = plus(now, 120);
    store.save_waiter(&refreshed, plus(now, 30)).await.unwrap();
    assert_eq!(
        store.waiters(plus(now, 30)).await.unwrap(),
        vec![refreshed.clone(), second.clone()]
    );

    // `second` stopped refreshing: gone once its expiry passed.
    assert_eq!(
        store.waiters(plus(now, 70)).await.unwrap(),
        vec![refreshed.clone()]
    );
    store.remove_waiter(refreshed.id).await.unwrap();
    assert_eq!(store.waiters(plus(now, 70)).await.unwrap(), vec![]);
    store.remove_waiter(refreshed.id).await.unwrap();
}

/// A lease acquired with the largest TTL (as an older Kage allowed:
/// `--ttl 100000000h`) is stored at the end of time, and every read and
/// write of the pool keeps working (issue 14, item 1).
pub(crate) async fn a_lease_with_a_huge_ttl_never_breaks_a_read<S: SubscriptionStore>(store: &S) {
    let now = t("2025-06-02T10:00:00Z");
    let mut work = subscription("work");
    work.max_concurrent = Some(2);
    store.insert_subscription(&work).await.unwrap();
    let huge = std::time::Duration::from_secs(100_000_000 * 3600);
    let lease = granted(store, &acquire(huge), now).await;
    let live = store.live_leases(plus(now, 1)).await.unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].expires_at, lease.expires_at);
    assert!(live[0].expires_at > t("9999-01-01T00:00:00Z"));
    store.pool_snapshot(secs(3600), plus(now, 2)).await.unwrap();
    store.list_subscriptions().await.unwrap();
    let second = granted(store, &acquire(secs(60)), plus(now, 3)).await;
    match store
        .acquire_lease(&acquire(secs(60)), plus(now, 4))
        .await
        .unwrap()
    {
        AcquireOutcome::Granted(lease) => panic!("the cap of 2 was exceeded by {lease:?}"),
        AcquireOutcome::Unavailable { .. } => {}
    }
    store
        .heartbeat_lease(lease.id, huge, plus(now, 5))
        .await
        .unwrap();
    for id in [lease.id, second.id] {
        store
            .release_lease(&release(id, Outcome::Success, tokens(1, 1)), plus(now, 6))
            .await
            .unwrap();
    }
    assert!(store.live_leases(plus(now, 7)).await.unwrap().is_empty());
}

/// A release carrying the largest token counts (as `--usage
/// input=9223372036854775807` did before counts were bounded) is stored cut
/// to 10^12 per kind, and every later release on the subscription still
/// lands (issue 14, item 2).
pub(crate) async fn an_absurd_token_count_never_blocks_later_releases<S: SubscriptionStore>(
    store: &S,
) {
    let now = t("2025-06-02T10:00:00Z");
    store
        .insert_subscription(&subscription("work"))
        .await
        .unwrap();
    let absurd = Usage {
        input_tokens: u64::MAX,
        output_tokens: u64::MAX,
        cost_micros_usd: Some(u64::MAX),
        ..Usage::default()
    };
    for (second, usage) in [(0, absurd.clone()), (10, absurd), (20, tokens(5, 7))] {
        let lease = granted(store, &acquire(secs(60)), plus(now, second)).await;
        store
            .release_lease(
                &release(lease.id, Outcome::Success, usage),
                plus(now, second + 1),
            )
            .await
            .unwrap();
    }
    assert!(store.live_leases(plus(now, 30)).await.unwrap().is_empty());
    let lines = store
        .daily_usage(&query_all(
            "2025-06-02T00:00:00Z",
            "2025-06-03T00:00:00Z",
            0,
        ))
        .await
        .unwrap();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let bound = kage_domain::MAX_PER_RECORD;
    assert_eq!(lines[0].usage.input_tokens, 2 * bound + 5);
    assert_eq!(lines[0].usage.output_tokens, 2 * bound + 7);
    assert_eq!(lines[0].usage.cost_micros_usd, Some(2 * bound));
    assert_eq!(lines[0].leases, 3);
    store
        .pool_snapshot(secs(3600), plus(now, 31))
        .await
        .unwrap();
}

pub(crate) async fn quota_reports_and_model_limits_persist_and_steer_selection<
    S: SubscriptionStore,
>(
    store: &S,
) {
    let t0 = t("2025-06-02T10:00:00Z");
    let policy = StatePolicy::default();
    let work = subscription("work");
    store.insert_subscription(&work).await.unwrap();
    store
        .record_outcome(
            work.id,
            &Outcome::QuotaReported {
                readings: vec![QuotaReading {
                    window: QuotaWindow::FiveHour,
                    utilization: 0.42,
                    resets_at: Some(plus(t0, 7_200)),
                }],
            },
            None,
            &policy,
            t0,
        )
        .await
        .unwrap();
    store
        .record_outcome(
            work.id,
            &Outcome::ApproachingLimit {
                window: Some(QuotaWindow::SevenDay),
                utilization: 0.85,
                resets_at: None,
            },
            None,
            &policy,
            plus(t0, 1),
        )
        .await
        .unwrap();

    // A model limit arrives with a release.
    let mut on_work = acquire(secs(60));
    let lease = granted(store, &on_work, plus(t0, 2)).await;
    let opus_limit = Outcome::ModelLimitReached {
        family: ModelFamily::Opus,
        resets_at: Some(plus(t0, 86_400)),
        reason: "weekly Opus limit".to_owned(),
    };
    let report = store
        .release_lease(
            &release(lease.id, opus_limit, Usage::default()),
            plus(t0, 3),
        )
        .await
        .unwrap();
    assert_eq!(report.transition, None, "the state stays active");

    let stored = store
        .subscription_by_name(&name("work"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.health.state, SubscriptionState::Active);
    let five_hour = stored.health.quota_report(QuotaWindow::FiveHour).unwrap();
    assert_eq!(
        (
            five_hour.utilization,
            five_hour.resets_at,
            five_hour.reported_at
        ),
        (0.42, Some(plus(t0, 7_200)), t0)
    );
    let seven_day = stored.health.quota_report(QuotaWindow::SevenDay).unwrap();
    assert_eq!(
        (
            seven_day.utilization,
            seven_day.resets_at,
            seven_day.reported_at
        ),
        (0.85, None, plus(t0, 1))
    );
    let limit = stored
        .health
        .model_limit(ModelFamily::Opus, plus(t0, 4))
        .expect("the Opus limit is kept");
    assert_eq!(limit.until, plus(t0, 86_400));
    assert_eq!(limit.reason, "weekly Opus limit");

    // An Opus request passes it over until the reset; a Sonnet one gets it.
    on_work.lease_id = LeaseId::from_uuid(Uuid::new_v4());
    on_work.selection.model = Some(ModelFamily::Opus);
    match store.acquire_lease(&on_work, plus(t0, 5)).await.unwrap() {
        AcquireOutcome::Unavailable {
            earliest_recovery,
            passed_over,
        } => {
            assert_eq!(earliest_recovery, Some(plus(t0, 86_400)));
            assert!(matches!(
                &passed_over[0].reason,
                PassOverReason::ModelLimited {
                    family: ModelFamily::Opus,
                    ..
                }
            ));
        }
        other => panic!("expected the Opus request to be refused, got {other:?}"),
    }
    on_work.selection.model = Some(ModelFamily::Sonnet);
    let sonnet = granted(store, &on_work, plus(t0, 6)).await;
    assert_eq!(sonnet.subscription_id, work.id);

    // Past the reset the limit is gone, and the next write drops it.
    let after_reset = plus(t0, 86_401);
    let snapshot = store.pool_snapshot(secs(60), after_reset).await.unwrap();
    assert!(
        snapshot.entries[0]
            .subscription
            .health
            .model_limit(ModelFamily::Opus, after_reset)
            .is_none()
    );
    let result = store
        .record_outcome(work.id, &Outcome::Success, None, &policy, after_reset)
        .await
        .unwrap();
    assert!(result.health.model_limits.is_empty());
    let stored = store
        .subscription_by_name(&name("work"))
        .await
        .unwrap()
        .unwrap();
    assert!(stored.health.model_limits.is_empty());
    assert_eq!(stored.health.quota.len(), 2, "reports stay until replaced");
}

pub(crate) async fn the_snapshot_counts_usage_over_the_usage_window<S: SubscriptionStore>(
    store: &S,
) {
    let t0 = t("2025-06-02T10:00:00Z");
    let busy = subscription("busy");
    let quiet = subscription("quiet");
    store.insert_subscription(&busy).await.unwrap();
    store.insert_subscription(&quiet).await.unwrap();
    let mut request = acquire(secs(60));
    request.policy.strategy = Strategy::LeastUsed;
    request.rules.set(
        RouteTarget::Level(PriorityLevel::Normal),
        vec!["busy".parse().unwrap()],
    );
    let lease = granted(store, &request, t0).await;
    store
        .release_lease(
            &release(lease.id, Outcome::Success, tokens(900, 100)),
            plus(t0, 10),
        )
        .await
        .unwrap();

    // Two hours later: out of the one-minute rate-limit window, inside the
    // five-hour usage window.
    let later = plus(t0, 7_200);
    let snapshot = store.pool_snapshot(secs(5 * 3_600), later).await.unwrap();
    let busy_entry = snapshot
        .entries
        .iter()
        .find(|entry| entry.subscription.id == busy.id)
        .unwrap();
    assert_eq!(busy_entry.window_tokens, 1_000);
    let minute = store.pool_snapshot(secs(60), later).await.unwrap();
    assert!(minute.entries.iter().all(|entry| entry.window_tokens == 0));

    // least-used over the five-hour window picks the quiet one.
    let mut least_used = acquire(secs(60));
    least_used.policy.strategy = Strategy::LeastUsed;
    assert_eq!(
        granted(store, &least_used, later).await.subscription_id,
        quiet.id
    );
}

pub(crate) async fn parallel_acquires_spread_over_idle_subscriptions<S: SubscriptionStore>(
    store: &S,
) {
    let t0 = t("2025-06-02T10:00:00Z");
    for (name, priority) in [("a", 200), ("b", 150), ("c", 100)] {
        let mut entry = subscription(name);
        entry.priority = Priority(priority);
        store.insert_subscription(&entry).await.unwrap();
    }
    for (round, strategy) in [
        Strategy::Priority,
        Strategy::LeastUsed,
        Strategy::RoundRobin,
    ]
    .into_iter()
    .enumerate()
    {
        let now = plus(t0, 600 * i64::try_from(round).unwrap());
        let request = || {
            let mut request = acquire(secs(60));
            request.policy.strategy = strategy;
            request
        };
        let (one, two, three) = (request(), request(), request());
        // Three agents at once, as `kage-agent run -j 3` starts them.
        let (first, second, third) = tokio::join!(
            granted(store, &one, now),
            granted(store, &two, now),
            granted(store, &three, now),
        );
        let names: BTreeSet<String> = [&first, &second, &third]
            .iter()
            .map(|lease| lease.subscription_name.to_string())
            .collect();
        assert_eq!(names.len(), 3, "{strategy:?}: {names:?}");
        // A fourth one shares: no cap, so spread only orders.
        let fourth = granted(store, &request(), now).await;
        assert!(names.contains(fourth.subscription_name.as_str()));
        for (index, lease) in [first, second, third, fourth].into_iter().enumerate() {
            let used = tokens(1_000 * (u64::try_from(index).unwrap() + 1), 0);
            store
                .release_lease(&release(lease.id, Outcome::Success, used), plus(now, 5))
                .await
                .unwrap();
        }
    }
}

pub(crate) async fn an_unreadable_credential_marks_unhealthy_and_selection_moves_on<
    S: SubscriptionStore,
>(
    store: &S,
) {
    let now = t("2025-06-02T10:00:00Z");
    let mut broken = subscription("broken");
    broken.priority = Priority(200);
    store.insert_subscription(&broken).await.unwrap();
    store
        .insert_subscription(&subscription("good"))
        .await
        .unwrap();
    let lease = granted(store, &acquire(secs(60)), now).await;
    assert_eq!(lease.subscription_id, broken.id);
    // What `Pool::acquire_with_credential` does when the read fails.
    let unreadable = Outcome::CredentialUnreadable {
        detail: "command `false` failed (exit status 1)".to_owned(),
    };
    store
        .release_lease(&release(lease.id, unreadable, Usage::default()), now)
        .await
        .unwrap();
    let stored = store
        .subscription_by_name(&name("broken"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.health.state.kind(), StateKind::Unhealthy);
    assert_eq!(
        stored.health.state.reason(),
        Some("credential unreadable: command `false` failed (exit status 1)")
    );
    let next = granted(store, &acquire(secs(60)), plus(now, 1)).await;
    assert_eq!(next.subscription_name.as_str(), "good");
}

fn keyed(key: &str, at: Timestamp, input: u64, output: u64) -> KeyedUsage {
    KeyedUsage {
        key: key.to_owned(),
        usage: Usage {
            model: Some("claude-sonnet-5".to_owned()),
            ..tokens(input, output)
        },
        at,
    }
}

fn batch(
    subscription: &kage_domain::Subscription,
    lease: Option<LeaseId>,
    records: Vec<KeyedUsage>,
) -> UsageBatch {
    UsageBatch {
        subscription_id: subscription.id,
        lease_id: lease,
        records,
        offsets: Vec::new(),
    }
}

pub(crate) async fn keyed_usage_is_recorded_once_and_a_release_adds_only_the_rest<
    S: SubscriptionStore,
>(
    store: &S,
) {
    let now = t("2025-06-02T10:00:00Z");
    let work = subscription("work");
    let home = subscription("home");
    store.insert_subscription(&work).await.unwrap();
    let lease = granted(store, &acquire(secs(600)), now).await;
    assert_eq!(lease.subscription_id, work.id);
    store.insert_subscription(&home).await.unwrap();

    // Two messages in two hours of the same day, then both again (a replay,
    // an import of the same transcript), and one repeated within a batch.
    let first = vec![
        keyed("claude:m1:r1", plus(now, 5), 100, 10),
        keyed("claude:m2:r2", plus(now, 3600), 200, 20),
        keyed("claude:m1:r1", plus(now, 6), 100, 10),
    ];
    let recorded = store
        .record_usage(
            &batch(&work, Some(lease.id), first.clone()),
            plus(now, 3601),
        )
        .await
        .unwrap();
    assert_eq!(recorded, 2);
    let again = store
        .record_usage(&batch(&work, Some(lease.id), first), plus(now, 3602))
        .await
        .unwrap();
    assert_eq!(again, 0, "a repeated key is a no-op");
    // The same key on another subscription or without a lease is no new record either.
    let elsewhere = store
        .record_usage(
            &batch(
                &home,
                None,
                vec![keyed("claude:m2:r2", plus(now, 7), 999, 9)],
            ),
            plus(now, 3603),
        )
        .await
        .unwrap();
    assert_eq!(elsewhere, 0);

    let today = query_all("2025-06-02T00:00:00Z", "2025-06-03T00:00:00Z", 0);
    let lines = store.daily_usage(&today).await.unwrap();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(
        (
            lines[0].usage.input_tokens,
            lines[0].usage.output_tokens,
            lines[0].leases
        ),
        (300, 30, 1),
        "two records of one lease count as one lease"
    );

    // The release reports the lease's whole usage (an agent's result): only
    // what the messages do not hold is added, and the lease still counts once.
    let total = Usage {
        cost_micros_usd: Some(500),
        ..tokens(350, 30)
    };
    store
        .release_lease(&release(lease.id, Outcome::Success, total), plus(now, 3700))
        .await
        .unwrap();
    let lines = store.daily_usage(&today).await.unwrap();
    assert_eq!(
        (
            lines[0].usage.input_tokens,
            lines[0].usage.output_tokens,
            lines[0].usage.cost_micros_usd,
            lines[0].leases
        ),
        (350, 30, Some(500), 1)
    );
    // A release reporting less than the messages adds nothing.
    store
        .set_disabled(home.id, Some("not this one".to_owned()), plus(now, 3800))
        .await
        .unwrap();
    let small = granted(store, &acquire(secs(600)), plus(now, 3800)).await;
    assert_eq!(small.subscription_id, work.id);
    store
        .record_usage(
            &batch(
                &work,
                Some(small.id),
                vec![keyed("claude:m3:r3", plus(now, 3801), 40, 4)],
            ),
            plus(now, 3802),
        )
        .await
        .unwrap();
    store
        .release_lease(
            &release(small.id, Outcome::Success, tokens(1, 1)),
            plus(now, 3803),
        )
        .await
        .unwrap();
    // Usage without a lease (an import) counts no lease.
    store
        .record_usage(
            &batch(
                &home,
                None,
                vec![keyed("claude:m4:r4", plus(now, 3900), 7, 0)],
            ),
            plus(now, 3901),
        )
        .await
        .unwrap();
    let lines = store.daily_usage(&today).await.unwrap();
    let line_of = |id| {
        lines
            .iter()
            .find(|line| line.subscription_id == id)
            .unwrap()
    };
    assert_eq!(
        (line_of(work.id).usage.input_tokens, line_of(work.id).leases),
        (390, 2)
    );
    assert_eq!(
        (line_of(home.id).usage.input_tokens, line_of(home.id).leases),
        (7, 0)
    );
    // Whole-day and partial-hour reads agree (rollups and raw records alike).
    let around = query_all("2025-06-02T10:00:01Z", "2025-06-02T12:30:00Z", 0);
    let lines = store.daily_usage(&around).await.unwrap();
    let work_line = lines
        .iter()
        .find(|line| line.subscription_id == work.id)
        .unwrap();
    assert_eq!((work_line.usage.input_tokens, work_line.leases), (390, 2));

    // A release without keyed records still records its usage as before.
    let plain = granted(store, &acquire(secs(600)), plus(now, 4000)).await;
    assert_eq!(plain.subscription_id, work.id);
    store
        .release_lease(
            &release(plain.id, Outcome::Success, tokens(5, 5)),
            plus(now, 4001),
        )
        .await
        .unwrap();
    let lines = store.daily_usage(&today).await.unwrap();
    let line_of = |id| {
        lines
            .iter()
            .find(|line| line.subscription_id == id)
            .unwrap()
    };
    assert_eq!(
        (line_of(work.id).usage.input_tokens, line_of(work.id).leases),
        (395, 3)
    );

    // An erased subscription's usage is refused, saying which.
    let gone = subscription("gone");
    match store
        .record_usage(
            &batch(&gone, None, vec![keyed("claude:x:y", now, 1, 1)]),
            now,
        )
        .await
    {
        Err(StoreError::SubscriptionNotFound(id)) => assert_eq!(id, gone.id),
        other => panic!("expected SubscriptionNotFound, got {other:?}"),
    }
}

pub(crate) async fn transcript_offsets_are_saved_with_the_usage<S: SubscriptionStore>(store: &S) {
    let now = t("2025-06-02T10:00:00Z");
    let work = subscription("work");
    store.insert_subscription(&work).await.unwrap();
    assert!(store.read_offsets().await.unwrap().is_empty());
    let offset = |path: &str, offset: u64| ReadOffset {
        path: path.to_owned(),
        offset,
    };
    let mut first = batch(&work, None, vec![keyed("claude:a:b", now, 1, 1)]);
    first.offsets = vec![offset("/p/b.jsonl", 10), offset("/p/a.jsonl", 20)];
    store.record_usage(&first, now).await.unwrap();
    let mut next = batch(&work, None, Vec::new());
    next.offsets = vec![offset("/p/a.jsonl", 35)];
    assert_eq!(store.record_usage(&next, plus(now, 1)).await.unwrap(), 0);
    assert_eq!(
        store.read_offsets().await.unwrap(),
        vec![offset("/p/a.jsonl", 35), offset("/p/b.jsonl", 10)]
    );
}
