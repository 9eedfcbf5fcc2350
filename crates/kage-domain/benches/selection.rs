//! Benchmark of `select`: how long choosing a subscription takes for pools of
//! 10 to 10,000 subscriptions under a realistic rule set.
//!
//! Targets (`design.md`, performance): under 1 µs at 100 subscriptions and
//! under 100 µs at 10,000, so selection can run inside the storage
//! transaction. Run with `cargo bench -p kage-domain --bench selection`.
//!
//! Beside the strategies, `baseline` measures in the same run a plain pass
//! over the same pool: it reads every entry's state and priority and keeps
//! the highest-priority entry active now (no routing, caps, model limits,
//! spread or strategy). The strategies' figures read as a multiple of what
//! visiting each entry once costs on the same machine at the same moment.
//! `select` may come out below it: it reads an entry's lease count first
//! and the rest only for an entry that could beat the best so far.
//!
//! The pool is built by a fixed pseudo-random sequence (no `rand`), so every
//! run measures the same input: ~10% rate limited or exhausted, a few
//! disabled and unhealthy, some capped with live leases (some at their cap),
//! varied priorities, tags, usage and utilization reports.

use std::collections::BTreeSet;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use kage_domain::{
    Health, ModelFamily, ModelLimit, PoolEntry, PoolSnapshot, Priority, PriorityLevel, QuotaReport,
    QuotaWindow, RouteEntry, RouteTarget, RoutingRules, Selection, SelectionPolicy,
    SelectionRequest, SignedDuration, Strategy, Subscription, SubscriptionId, SubscriptionName,
    SubscriptionState, Tag, Timestamp, explain, select,
};
use uuid::Uuid;

const SIZES: [usize; 4] = [10, 100, 1_000, 10_000];

/// A tiny deterministic generator (SplitMix64).
struct Sequence(u64);

impl Sequence {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound`.
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    /// True with probability `percent` / 100.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn tag(name: &str) -> Tag {
    Tag::new(name).expect("a valid tag")
}

fn name(index: usize) -> SubscriptionName {
    SubscriptionName::new(&format!("sub-{index:05}")).expect("a valid name")
}

fn now() -> Timestamp {
    "2026-03-01T12:00:00Z".parse().expect("a valid timestamp")
}

fn secs(seconds: i64) -> SignedDuration {
    SignedDuration::from_secs(seconds)
}

fn pool(size: usize, now: Timestamp) -> PoolSnapshot {
    let mut rng = Sequence(size as u64);
    let tag_names = ["backend", "frontend", "security", "premium", "batch", "eu"];
    let tag_chances = [50, 30, 10, 30, 20, 25];
    let entries = (0..size)
        .map(|index| {
            let id = SubscriptionId::from_uuid(Uuid::from_u128(index as u128 + 1));
            let created = now - secs(86_400);
            let mut subscription = Subscription::new(id, name(index), created);
            subscription.priority = Priority([50, 100, 100, 100, 150, 200][rng.below(6) as usize]);
            subscription.tags = tag_names
                .iter()
                .zip(tag_chances)
                .filter(|&(_, chance)| rng.chance(chance))
                .map(|(tag_name, _)| tag(tag_name))
                .collect::<BTreeSet<_>>();
            let roll = rng.below(100);
            let until = now + secs(60 + rng.below(3_600) as i64);
            let state = match roll {
                0..=4 => SubscriptionState::RateLimited {
                    until,
                    reason: "rate limited (429)".into(),
                },
                5..=9 => SubscriptionState::Exhausted {
                    until,
                    reason: "5-hour limit".into(),
                },
                10..=12 => SubscriptionState::Disabled {
                    reason: "disabled by user".into(),
                },
                13..=14 => SubscriptionState::Unhealthy {
                    until,
                    reason: "3 consecutive server errors".into(),
                },
                // Expired limits: effectively active again.
                15..=19 => SubscriptionState::RateLimited {
                    until: now - secs(5),
                    reason: "old".into(),
                },
                _ => SubscriptionState::Active,
            };
            let last_utilization = rng.chance(15).then(|| {
                (
                    0.5 + rng.below(50) as f64 / 100.0,
                    now - secs(rng.below(7_200) as i64),
                )
            });
            let last_limited_at = rng.chance(10).then(|| now - secs(rng.below(600) as i64));
            subscription.health = Health {
                state,
                consecutive_errors: 0,
                unhealthy_relapses: 0,
                last_utilization,
                last_limited_at,
                ..Health::default()
            };
            if rng.chance(15) {
                subscription.health.record_quota(QuotaReport {
                    window: QuotaWindow::FiveHour,
                    utilization: rng.below(100) as f64 / 100.0,
                    resets_at: Some(now + secs(rng.below(18_000) as i64)),
                    reported_at: now - secs(rng.below(7_200) as i64),
                });
            }
            if rng.chance(5) {
                subscription.health.model_limits.push(ModelLimit {
                    family: ModelFamily::Opus,
                    until: now + secs(rng.below(86_400) as i64),
                    reason: "weekly Opus limit".into(),
                });
            }
            let mut entry = PoolEntry::idle(subscription);
            if rng.chance(20) {
                let cap = 1 + rng.below(4) as u32;
                entry.subscription.max_concurrent = Some(cap);
                entry.live_leases = rng.below(u64::from(cap) + 1) as u32;
            } else {
                entry.live_leases = rng.below(3) as u32;
            }
            if entry.live_leases > 0 {
                entry.earliest_lease_expiry = Some(now + secs(1 + rng.below(120) as i64));
            }
            entry.last_leased_at = rng.chance(80).then(|| now - secs(rng.below(86_400) as i64));
            entry.window_tokens = rng.below(2_000_000);
            entry
        })
        .collect();
    PoolSnapshot { entries }
}

fn rules(size: usize) -> RoutingRules {
    let mut rules = RoutingRules::new();
    let names = |indices: &[usize]| -> Vec<RouteEntry> {
        indices
            .iter()
            .filter(|&&index| index < size)
            .map(|&index| RouteEntry::Subscription(name(index)))
            .collect()
    };
    let namespace = |value: &str| RouteTarget::Namespace(value.parse().expect("a valid namespace"));
    let mut backend = names(&[0, 3, 7, 42, 99]);
    backend.push(RouteEntry::Tag(tag("backend")));
    backend.push(RouteEntry::Tag(tag("premium")));
    rules.set(namespace("backend"), backend);
    let mut frontend = names(&[1, 2, 5]);
    frontend.push(RouteEntry::Tag(tag("frontend")));
    rules.set(namespace("frontend"), frontend);
    rules.set(
        namespace("security"),
        vec![RouteEntry::Tag(tag("security"))],
    );
    let mut high = names(&[0, 1, 8]);
    high.push(RouteEntry::Tag(tag("premium")));
    high.push(RouteEntry::Tag(tag("backend")));
    rules.set(RouteTarget::Level(PriorityLevel::High), high);
    rules.set(
        RouteTarget::Level(PriorityLevel::Batch),
        vec![RouteEntry::Tag(tag("batch"))],
    );
    rules
}

fn policy(strategy: Strategy) -> SelectionPolicy {
    SelectionPolicy {
        strategy,
        ..SelectionPolicy::default()
    }
}

/// The request benchmarked: a backend task at high priority, so both a
/// namespace rule and a level rule apply.
fn request() -> SelectionRequest {
    SelectionRequest {
        namespace: Some("backend".parse().expect("a valid namespace")),
        level: PriorityLevel::High,
        required_tags: Vec::new(),
        model: Some(ModelFamily::Opus),
    }
}

/// The baseline: the highest-priority entry active at `now`, in one pass.
fn baseline(snapshot: &PoolSnapshot, now: Timestamp) -> Option<usize> {
    snapshot
        .entries
        .iter()
        .enumerate()
        .filter(|(_, entry)| {
            entry.subscription.health.state.effective_kind(now) == kage_domain::StateKind::Active
        })
        .max_by_key(|(_, entry)| entry.subscription.priority)
        .map(|(index, _)| index)
}

fn bench_select(c: &mut Criterion) {
    let now = now();
    let request = request();
    let mut group = c.benchmark_group("selection");
    for size in SIZES {
        let snapshot = pool(size, now);
        assert!(baseline(&snapshot, now).is_some());
        group.bench_with_input(
            BenchmarkId::new("baseline", size),
            &snapshot,
            |b, snapshot| b.iter(|| baseline(black_box(snapshot), now)),
        );
    }
    for strategy in Strategy::ALL {
        let policy = policy(strategy);
        for size in SIZES {
            let snapshot = pool(size, now);
            let rules = rules(size);
            let chosen = select(&snapshot, &rules, &policy, &request, now);
            assert!(
                matches!(chosen, Selection::Chosen { .. }),
                "the bench pool must have a choice"
            );
            group.bench_with_input(
                BenchmarkId::new(strategy.as_str(), size),
                &snapshot,
                |b, snapshot| {
                    b.iter(|| {
                        select(
                            black_box(snapshot),
                            &rules,
                            &policy,
                            black_box(&request),
                            now,
                        )
                    })
                },
            );
        }
    }

    // The "none available" path: every candidate of a request is out, so
    // select also builds the reasons and the earliest recovery.
    let policy = policy(Strategy::Priority);
    let impossible = SelectionRequest {
        required_tags: vec![tag("security"), tag("batch"), tag("eu"), tag("premium")],
        ..request.clone()
    };
    for size in SIZES {
        let mut snapshot = pool(size, now);
        for entry in &mut snapshot.entries {
            if entry.subscription.health.state.effective_kind(now) == kage_domain::StateKind::Active
            {
                entry.subscription.health.state = SubscriptionState::RateLimited {
                    until: now + secs(30),
                    reason: "429".into(),
                };
            }
        }
        let rules = rules(size);
        group.bench_with_input(
            BenchmarkId::new("unavailable", size),
            &snapshot,
            |b, snapshot| {
                b.iter(|| {
                    select(
                        black_box(snapshot),
                        &rules,
                        &policy,
                        black_box(&impossible),
                        now,
                    )
                })
            },
        );
    }

    // `explain` sorts every eligible entry: what `kage subscription select
    // --explain` style screens pay.
    for size in SIZES {
        let snapshot = pool(size, now);
        let rules = rules(size);
        group.bench_with_input(
            BenchmarkId::new("explain", size),
            &snapshot,
            |b, snapshot| {
                b.iter(|| {
                    explain(
                        black_box(snapshot),
                        &rules,
                        &policy,
                        black_box(&request),
                        now,
                    )
                })
            },
        );
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50);
    targets = bench_select
}
criterion_main!(benches);
