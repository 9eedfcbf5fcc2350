//! Acquiring (with waiting), releasing and reading credentials.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kage_core::{AcquireError, AcquireRequest, ReleaseRequest};
use kage_domain::{
    CredentialKind, LeaseId, Outcome, PassOverReason, PriorityLevel, SelectionRequest, StateKind,
    StateTransition, Subscription, SubscriptionState, Timestamp, Usage,
};
use kage_ports::{
    AcquireOutcome, Clock, Lease, MockSecretStore, MockSubscriptionStore, PassedOver,
    ReleaseReport, Waiter,
};

use crate::{name, pool, subscription, t};

pub(crate) fn lease_on(subscription: &Subscription) -> Lease {
    Lease {
        id: LeaseId::from_uuid(uuid::Uuid::new_v4()),
        subscription_id: subscription.id,
        subscription_name: subscription.name.clone(),
        kind: CredentialKind::OAuth,
        namespace: None,
        level: PriorityLevel::Normal,
        holder: "test".to_owned(),
        acquired_at: t("2026-11-25T12:00:00Z"),
        expires_at: t("2026-11-25T12:02:00Z"),
        released_at: None,
    }
}

fn rate_limited_until(name_text: &str, until: Timestamp) -> PassedOver {
    PassedOver {
        name: name(name_text),
        reason: PassOverReason::NotActive {
            state: SubscriptionState::RateLimited {
                until,
                reason: "429".to_owned(),
            },
        },
    }
}

fn request(max_wait: Option<Duration>) -> AcquireRequest {
    AcquireRequest {
        selection: SelectionRequest::default(),
        ttl: None,
        max_wait,
        holder: "test".to_owned(),
    }
}

#[tokio::test]
async fn acquire_waits_for_the_earliest_recovery_and_never_spins() {
    let personal = subscription("personal");
    let lease = lease_on(&personal);
    let recovery = t("2026-11-25T12:05:00Z");
    let calls: Arc<Mutex<Vec<Timestamp>>> = Arc::default();
    let seen = calls.clone();
    let mut store = MockSubscriptionStore::new();
    store
        .expect_load_routes()
        .returning(|| Ok(Default::default()));
    store
        .expect_acquire_lease()
        .times(2)
        .returning(move |_, now| {
            seen.lock().unwrap().push(now);
            if now < recovery {
                Ok(AcquireOutcome::Unavailable {
                    earliest_recovery: Some(recovery),
                    passed_over: vec![rate_limited_until("personal", recovery)],
                })
            } else {
                Ok(AcquireOutcome::Granted(lease.clone()))
            }
        });
    let saved: Arc<Mutex<Vec<(Waiter, Timestamp)>>> = Arc::default();
    let saves = saved.clone();
    store.expect_save_waiter().returning(move |waiter, now| {
        saves.lock().unwrap().push((waiter.clone(), now));
        Ok(())
    });
    let removed: Arc<Mutex<Vec<LeaseId>>> = Arc::default();
    let removes = removed.clone();
    store.expect_remove_waiter().returning(move |id| {
        removes.lock().unwrap().push(id);
        Ok(())
    });
    let pool = pool(store, MockSecretStore::new(), Default::default());
    let mut notices = Vec::new();

    let grant = pool
        .acquire(&request(Some(Duration::from_secs(600))), |notice| {
            notices.push(notice.clone())
        })
        .await
        .expect("granted after waiting");

    assert_eq!(
        *calls.lock().unwrap(),
        vec![t("2026-11-25T12:00:00Z"), recovery]
    );
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].until, recovery);
    assert_eq!(
        notices[0].earliest_name.as_ref().map(|n| n.as_str()),
        Some("personal")
    );
    assert_eq!(grant.waited, Duration::from_secs(300));

    // Other processes see the waiter, refreshed every 30 s until it is granted.
    let saved = saved.lock().unwrap();
    let times: Vec<Timestamp> = saved.iter().map(|(_, now)| *now).collect();
    let expected: Vec<Timestamp> = (0..10)
        .map(|step| {
            t("2026-11-25T12:00:00Z")
                .checked_add(jiff::SignedDuration::from_secs(30 * step))
                .unwrap()
        })
        .collect();
    assert_eq!(times, expected);
    for (waiter, now) in saved.iter() {
        assert_eq!(waiter.until, recovery);
        assert_eq!(waiter.since, t("2026-11-25T12:00:00Z"));
        assert_eq!(waiter.holder, "test");
        assert_eq!(
            waiter.earliest_name.as_ref().map(|n| n.as_str()),
            Some("personal")
        );
        assert_eq!(
            waiter.expires_at,
            now.checked_add(jiff::SignedDuration::from_secs(60))
                .unwrap(),
            "expires one refresh after the next one"
        );
    }
    let id = saved[0].0.id;
    assert!(saved.iter().all(|(waiter, _)| waiter.id == id));
    assert_eq!(*removed.lock().unwrap(), vec![id], "forgotten once granted");
}

#[tokio::test]
async fn acquire_gives_up_at_max_wait() {
    let recovery = t("2026-11-25T13:00:00Z");
    let mut store = MockSubscriptionStore::new();
    store
        .expect_load_routes()
        .returning(|| Ok(Default::default()));
    store
        .expect_acquire_lease()
        .times(2)
        .returning(move |_, _| {
            Ok(AcquireOutcome::Unavailable {
                earliest_recovery: Some(recovery),
                passed_over: vec![rate_limited_until("personal", recovery)],
            })
        });
    store.expect_save_waiter().returning(|_, _| Ok(()));
    store.expect_remove_waiter().times(1).returning(|_| Ok(()));
    let pool = pool(store, MockSecretStore::new(), Default::default());

    let error = pool
        .acquire(&request(Some(Duration::from_secs(60))), |_| {})
        .await
        .expect_err("still limited");

    match error {
        AcquireError::Unavailable {
            earliest_recovery,
            earliest_name,
            waited,
            ..
        } => {
            assert_eq!(earliest_recovery, Some(recovery));
            assert_eq!(earliest_name.unwrap().as_str(), "personal");
            assert!(waited);
        }
        other => panic!("unexpected {other}"),
    }
    assert_eq!(pool.clock().now(), t("2026-11-25T12:01:00Z"));
}

#[tokio::test]
async fn acquire_does_not_wait_when_nothing_recovers_by_itself() {
    let mut store = MockSubscriptionStore::new();
    store
        .expect_load_routes()
        .returning(|| Ok(Default::default()));
    store.expect_acquire_lease().times(1).returning(|_, _| {
        Ok(AcquireOutcome::Unavailable {
            earliest_recovery: None,
            passed_over: vec![PassedOver {
                name: name("personal"),
                reason: PassOverReason::NotActive {
                    state: SubscriptionState::Disabled {
                        reason: "by user".to_owned(),
                    },
                },
            }],
        })
    });
    let pool = pool(store, MockSecretStore::new(), Default::default());

    let error = pool
        .acquire(&request(Some(Duration::from_secs(600))), |_| {
            panic!("must not wait")
        })
        .await
        .expect_err("nothing recovers");

    assert!(
        error.to_string().contains("none comes back by itself"),
        "{error}"
    );
}

#[tokio::test]
async fn acquire_rechecks_capacity_every_second() {
    let personal = subscription("personal");
    let lease = lease_on(&personal);
    let expiry = t("2026-11-25T12:02:00Z");
    let mut store = MockSubscriptionStore::new();
    store
        .expect_load_routes()
        .returning(|| Ok(Default::default()));
    let mut first = true;
    store
        .expect_acquire_lease()
        .times(2)
        .returning(move |_, _| {
            if std::mem::take(&mut first) {
                Ok(AcquireOutcome::Unavailable {
                    earliest_recovery: Some(expiry),
                    passed_over: vec![PassedOver {
                        name: name("personal"),
                        reason: PassOverReason::AtCapacity {
                            live_leases: 1,
                            max_concurrent: 1,
                            frees_at: Some(expiry),
                        },
                    }],
                })
            } else {
                Ok(AcquireOutcome::Granted(lease.clone()))
            }
        });
    store.expect_save_waiter().returning(|_, _| Ok(()));
    store.expect_remove_waiter().times(1).returning(|_| Ok(()));
    let pool = pool(store, MockSecretStore::new(), Default::default());
    let mut until = None;

    pool.acquire(&request(Some(Duration::from_secs(600))), |notice| {
        until = Some(notice.until)
    })
    .await
    .expect("granted");

    assert_eq!(until, Some(t("2026-11-25T12:00:01Z")));
}

#[tokio::test]
async fn release_passes_the_state_policy_and_reports_the_transition() {
    let personal = subscription("personal");
    let lease = lease_on(&personal);
    let lease_id = lease.id;
    let mut store = MockSubscriptionStore::new();
    store
        .expect_release_lease()
        .withf(move |request, _| {
            request.lease_id == lease_id
                && request.usage.output_tokens == 42
                && request.policy.unhealthy_threshold == 3
        })
        .times(1)
        .returning(move |_, now| {
            Ok(ReleaseReport {
                lease: lease.clone(),
                transition: Some(StateTransition {
                    at: now,
                    from: StateKind::Active,
                    to: StateKind::Exhausted,
                    until: Some(t("2026-11-25T15:00:00Z")),
                    reason: "5-hour limit".to_owned(),
                }),
                was_expired: false,
            })
        });
    let pool = pool(store, MockSecretStore::new(), Default::default());

    let report = pool
        .release(ReleaseRequest {
            lease_id,
            outcome: Outcome::QuotaExhausted {
                resets_at: None,
                reason: "5-hour limit".to_owned(),
            },
            usage: Usage {
                output_tokens: 42,
                ..Usage::default()
            },
        })
        .await
        .expect("released");

    assert_eq!(report.transition.unwrap().to, StateKind::Exhausted);
}
