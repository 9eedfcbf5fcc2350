//! Status and usage reports.

use kage_core::{Period, UsageRequest};
use kage_domain::{PoolEntry, PoolSnapshot, Priority, StateKind, SubscriptionState, Usage};
use kage_ports::{DailyUsage, MockSecretStore, MockSubscriptionStore};

use crate::{pool, subscription, t};

#[tokio::test]
async fn status_counts_effective_states_and_sums_today() {
    let mut premium = subscription("work-premium");
    premium.priority = Priority(150);
    let mut overflow = subscription("overflow");
    overflow.priority = Priority(50);
    overflow.health.state = SubscriptionState::RateLimited {
        until: t("2026-11-25T12:05:00Z"),
        reason: "429".to_owned(),
    };
    let mut recovered = subscription("personal");
    recovered.health.state = SubscriptionState::RateLimited {
        until: t("2026-11-25T11:00:00Z"),
        reason: "old".to_owned(),
    };
    let premium_id = premium.id;
    let removed_id = subscription("gone").id;
    let snapshot = PoolSnapshot {
        entries: vec![
            PoolEntry::idle(overflow),
            PoolEntry::idle(recovered),
            PoolEntry::idle(premium),
        ],
    };
    let mut store = MockSubscriptionStore::new();
    store
        .expect_pool_snapshot()
        .returning(move |_, _| Ok(snapshot.clone()));
    store
        .expect_daily_usage()
        .withf(|query| query.from == t("2026-11-25T00:00:00Z") && query.utc_offset_seconds == 0)
        .returning(move |_| {
            Ok(vec![
                DailyUsage {
                    subscription_id: premium_id,
                    day: "2026-11-25".parse().unwrap(),
                    usage: Usage {
                        input_tokens: 12_000,
                        output_tokens: 450,
                        ..Usage::default()
                    },
                    leases: 3,
                },
                // A subscription removed from the pool since: it counts in
                // the total, not as a subscription.
                DailyUsage {
                    subscription_id: removed_id,
                    day: "2026-11-25".parse().unwrap(),
                    usage: Usage {
                        output_tokens: 50,
                        ..Usage::default()
                    },
                    leases: 1,
                },
            ])
        });
    let pool = pool(store, MockSecretStore::new(), Default::default());

    let status = pool.status().await.expect("status");

    let names: Vec<&str> = status
        .subscriptions
        .iter()
        .map(|s| s.subscription.name.as_str())
        .collect();
    assert_eq!(names, ["work-premium", "personal", "overflow"]);
    assert_eq!(status.count(StateKind::Active), 2);
    assert_eq!(status.count(StateKind::RateLimited), 1);
    assert_eq!(status.total_today(), 12_500);
    assert_eq!(status.retired_today.total_tokens(), 50);
}

#[tokio::test]
async fn usage_covers_the_last_seven_local_days() {
    let personal = subscription("personal");
    let id = personal.id;
    // Removed from the pool: its usage still counts.
    let removed = subscription("personal");
    let removed_id = removed.id;
    let mut store = MockSubscriptionStore::new();
    store
        .expect_list_subscriptions()
        .returning(move || Ok(vec![personal.clone()]));
    store.expect_retired_subscriptions().returning(move || {
        Ok(vec![kage_ports::RetiredSubscription {
            subscription: removed.clone(),
            retired_at: t("2026-11-21T00:00:00Z"),
        }])
    });
    store
        .expect_daily_usage()
        .withf(|query| query.from == t("2026-11-19T00:00:00Z") && query.subscription.is_none())
        .returning(move |_| {
            Ok(vec![
                DailyUsage {
                    subscription_id: id,
                    day: "2026-11-20".parse().unwrap(),
                    usage: Usage {
                        output_tokens: 10,
                        ..Usage::default()
                    },
                    leases: 1,
                },
                DailyUsage {
                    subscription_id: id,
                    day: "2026-11-25".parse().unwrap(),
                    usage: Usage {
                        output_tokens: 5,
                        cost_micros_usd: Some(1_000),
                        ..Usage::default()
                    },
                    leases: 1,
                },
                DailyUsage {
                    subscription_id: removed_id,
                    day: "2026-11-20".parse().unwrap(),
                    usage: Usage {
                        output_tokens: 100,
                        ..Usage::default()
                    },
                    leases: 2,
                },
            ])
        });
    let pool = pool(store, MockSecretStore::new(), Default::default());

    let report = pool
        .usage(&UsageRequest {
            period: Period::Week,
            subscription: None,
        })
        .await
        .expect("usage");

    assert_eq!(report.from.to_string(), "2026-11-19");
    assert_eq!(report.to.to_string(), "2026-11-25");
    assert_eq!(report.rows.len(), 3);
    assert_eq!(report.grand_total().output_tokens, 115);
    assert_eq!(report.grand_total().cost_micros_usd, Some(1_000));
    let totals: Vec<(String, bool, u64)> = report
        .totals
        .iter()
        .map(|(owner, usage)| (owner.name.to_string(), owner.retired, usage.output_tokens))
        .collect();
    assert_eq!(
        totals,
        [
            ("personal".to_owned(), false, 15),
            ("personal".to_owned(), true, 100)
        ]
    );
}
