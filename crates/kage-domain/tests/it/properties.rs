//! Property tests of selection against an independent model written here:
//! the choice is always eligible (routed, tagged, effectively active, under
//! its cap) and the best by the strategy, reasons follow the order routing →
//! tags → health → capacity, the result does not depend on the snapshot's
//! order, `explain` agrees with `select` (in any order of the pool), the earliest recovery is the true
//! minimum, round-robin (or priority among equals) takes turns evenly, k
//! parallel acquires over k idle subscriptions get k different ones, and no
//! cap is ever exceeded.

use std::cmp::Reverse;

use kage_domain::{
    ModelFamily, ModelLimit, PassOverReason, PoolEntry, PoolSnapshot, Priority, PriorityLevel,
    QuotaReport, QuotaWindow, RouteEntry, RouteTarget, RoutingRules, Selection, SelectionPolicy,
    SelectionRequest, SignedDuration, Strategy, SubscriptionState, Timestamp, explain, select,
};
use proptest::prelude::{
    Just, ProptestConfig, TestCaseError, any, prop_assert, prop_assert_eq, prop_oneof, proptest,
};
use proptest::sample::{select as one_of, subsequence};
use proptest::strategy::Strategy as _;

use crate::support::{at, entry, name, namespace, now, tag};

const TAGS: [&str; 4] = ["backend", "frontend", "premium", "gpu"];
const NAMESPACES: [&str; 2] = ["backend", "frontend"];
const MAX_POOL: usize = 24;

fn sub_name(index: usize) -> String {
    format!("s{index:02}")
}

/// Everything about one entry except its name.
#[derive(Clone, Debug)]
struct Spec {
    priority: u8,
    tags: Vec<&'static str>,
    state: (u8, i64),
    cap: Option<u32>,
    live: u32,
    expiry: i64,
    leased: Option<i64>,
    tokens: u64,
    utilization: Option<(f64, i64)>,
    limited: Option<i64>,
    /// A 5-hour report: utilization, age in seconds, reset offset from now.
    five_hour: Option<(f64, i64, i64)>,
    /// An Opus limit ending this many seconds from now.
    opus_limit: Option<i64>,
}

fn spec() -> impl proptest::strategy::Strategy<Value = Spec> {
    let priority = prop_oneof![3 => one_of(vec![0u8, 50, 100, 100, 150, 255]), 1 => any::<u8>()];
    let tokens = prop_oneof![0..4u64, 0..2_000_000u64];
    (
        (
            priority,
            subsequence(TAGS.to_vec(), 0..=TAGS.len()),
            (0..8u8, -120..3_600i64),
        ),
        (proptest::option::weighted(0.3, 0..4u32), 0..5u32, 1..600i64),
        (proptest::option::of(-100_000..0i64), tokens),
        (
            proptest::option::weighted(0.3, (0.0..1.3f64, 0..40_000i64)),
            proptest::option::weighted(0.2, 0..300i64),
        ),
        (
            proptest::option::weighted(0.3, (0.0..1.3f64, 0..30_000i64, -600..20_000i64)),
            proptest::option::weighted(0.2, -600..90_000i64),
        ),
    )
        .prop_map(
            |(
                (priority, tags, state),
                (cap, live, expiry),
                (leased, tokens),
                (utilization, limited),
                (five_hour, opus_limit),
            )| Spec {
                priority,
                tags,
                state,
                cap,
                live,
                expiry,
                leased,
                tokens,
                utilization,
                limited,
                five_hour,
                opus_limit,
            },
        )
}

fn build(index: usize, spec: &Spec) -> PoolEntry {
    let mut built = entry(&sub_name(index));
    let subscription = &mut built.subscription;
    subscription.priority = Priority(spec.priority);
    subscription.tags = spec.tags.iter().map(|value| tag(value)).collect();
    let (kind, offset) = spec.state;
    let until = at(offset);
    subscription.health.state = match kind {
        4 => SubscriptionState::RateLimited {
            until,
            reason: "429".to_owned(),
        },
        5 => SubscriptionState::Exhausted {
            until,
            reason: "5-hour limit".to_owned(),
        },
        6 => SubscriptionState::Unhealthy {
            until,
            reason: "errors".to_owned(),
        },
        7 => SubscriptionState::Disabled {
            reason: "user".to_owned(),
        },
        _ => SubscriptionState::Active,
    };
    subscription.max_concurrent = spec.cap;
    subscription.health.last_utilization = spec.utilization.map(|(value, age)| (value, at(-age)));
    subscription.health.last_limited_at = spec.limited.map(|age| at(-age));
    built.live_leases = spec.live;
    built.earliest_lease_expiry = (spec.live > 0).then(|| at(spec.expiry));
    built.last_leased_at = spec.leased.map(at);
    built.window_tokens = spec.tokens;
    if let Some((utilization, age, reset)) = spec.five_hour {
        built.subscription.health.record_quota(QuotaReport {
            window: QuotaWindow::FiveHour,
            utilization,
            resets_at: Some(at(reset)),
            reported_at: at(-age),
        });
    }
    if let Some(until) = spec.opus_limit {
        built.subscription.health.model_limits.push(ModelLimit {
            family: ModelFamily::Opus,
            until: at(until),
            reason: "weekly Opus limit".to_owned(),
        });
    }
    built
}

fn route_entry() -> impl proptest::strategy::Strategy<Value = RouteEntry> {
    prop_oneof![
        (0..MAX_POOL + 2).prop_map(|index| RouteEntry::Subscription(name(&sub_name(index)))),
        one_of(TAGS.to_vec()).prop_map(|value| RouteEntry::Tag(tag(value))),
    ]
}

fn level() -> impl proptest::strategy::Strategy<Value = PriorityLevel> {
    one_of(PriorityLevel::ALL.to_vec())
}

/// One selection problem.
#[derive(Clone, Debug)]
struct Input {
    snapshot: PoolSnapshot,
    namespace_rules: Vec<(&'static str, Vec<RouteEntry>)>,
    level_rule: Option<(PriorityLevel, Vec<RouteEntry>)>,
    request: SelectionRequest,
    policy: SelectionPolicy,
}

impl Input {
    fn rules(&self) -> RoutingRules {
        let mut rules = RoutingRules::new();
        for (key, entries) in &self.namespace_rules {
            rules.set(RouteTarget::Namespace(namespace(key)), entries.clone());
        }
        if let Some((level, entries)) = &self.level_rule {
            rules.set(RouteTarget::Level(*level), entries.clone());
        }
        rules
    }

    fn select(&self) -> Selection {
        select(
            &self.snapshot,
            &self.rules(),
            &self.policy,
            &self.request,
            now(),
        )
    }
}

fn input() -> impl proptest::strategy::Strategy<Value = Input> {
    let rule = || proptest::option::weighted(0.5, proptest::collection::vec(route_entry(), 0..5));
    (
        proptest::collection::vec(spec(), 0..MAX_POOL),
        (
            rule(),
            rule(),
            proptest::option::weighted(
                0.5,
                (level(), proptest::collection::vec(route_entry(), 0..5)),
            ),
        ),
        (
            proptest::option::of(one_of(NAMESPACES.to_vec())),
            level(),
            subsequence(TAGS.to_vec(), 0..=2),
            proptest::option::weighted(0.4, one_of(vec![ModelFamily::Opus, ModelFamily::Sonnet])),
        ),
        (one_of(Strategy::ALL.to_vec()), one_of(vec![0.5, 0.8, 1.0])),
    )
        .prop_map(
            |(
                specs,
                (backend, frontend, level_rule),
                (request_namespace, request_level, required, model),
                (strategy, threshold),
            )| {
                let entries = specs
                    .iter()
                    .enumerate()
                    .map(|(index, spec)| build(index, spec))
                    .collect();
                let namespace_rules = [("backend", backend), ("frontend", frontend)]
                    .into_iter()
                    .filter_map(|(key, rule)| Some((key, rule?)))
                    .collect();
                Input {
                    snapshot: PoolSnapshot { entries },
                    namespace_rules,
                    level_rule,
                    request: SelectionRequest {
                        namespace: request_namespace.map(namespace),
                        level: request_level,
                        required_tags: required.into_iter().map(tag).collect(),
                        model,
                    },
                    policy: SelectionPolicy {
                        strategy,
                        approaching_threshold: threshold,
                        ..SelectionPolicy::default()
                    },
                }
            },
        )
}

// ---- the model -------------------------------------------------------------

fn listed(rule: &[RouteEntry], entry: &PoolEntry) -> bool {
    rule.iter().any(|route| match route {
        RouteEntry::Subscription(wanted) => entry.subscription.name == *wanted,
        RouteEntry::Tag(wanted) => entry.subscription.tags.contains(wanted),
    })
}

/// The first check `entry` fails, in `design.md`'s order, or `None`.
fn first_failure(input: &Input, entry: &PoolEntry) -> Option<&'static str> {
    let request = &input.request;
    let namespace_rule = input
        .namespace_rules
        .iter()
        .find(|(key, _)| {
            request
                .namespace
                .as_ref()
                .is_some_and(|wanted| wanted.as_str() == *key)
        })
        .map(|(_, rule)| rule);
    if namespace_rule.is_some_and(|rule| !listed(rule, entry)) {
        return Some("namespace");
    }
    let level_rule = input
        .level_rule
        .as_ref()
        .filter(|(level, _)| *level == request.level);
    if level_rule.is_some_and(|(_, rule)| !listed(rule, entry)) {
        return Some("level");
    }
    if !request
        .required_tags
        .iter()
        .all(|wanted| entry.subscription.tags.contains(wanted))
    {
        return Some("tags");
    }
    let active = match &entry.subscription.health.state {
        SubscriptionState::Active => true,
        SubscriptionState::Disabled { .. } => false,
        SubscriptionState::RateLimited { until, .. }
        | SubscriptionState::Exhausted { until, .. }
        | SubscriptionState::Unhealthy { until, .. } => *until <= now(),
    };
    if !active {
        return Some("health");
    }
    if request.model == Some(ModelFamily::Opus)
        && entry
            .subscription
            .health
            .model_limits
            .iter()
            .any(|limit| limit.until > now())
    {
        return Some("model");
    }
    if entry
        .subscription
        .max_concurrent
        .is_some_and(|cap| entry.live_leases >= cap)
    {
        return Some("capacity");
    }
    None
}

fn label(reason: &PassOverReason) -> &'static str {
    match reason {
        PassOverReason::NotRouted {
            rule: RouteTarget::Namespace(_),
        } => "namespace",
        PassOverReason::NotRouted {
            rule: RouteTarget::Level(_),
        } => "level",
        PassOverReason::MissingTags { .. } => "tags",
        PassOverReason::NotActive { .. } => "health",
        PassOverReason::ModelLimited { .. } => "model",
        PassOverReason::AtCapacity { .. } => "capacity",
    }
}

fn eligible(input: &Input) -> Vec<usize> {
    (0..input.snapshot.entries.len())
        .filter(|&index| first_failure(input, &input.snapshot.entries[index]).is_none())
        .collect()
}

fn approaching(input: &Input, entry: &PoolEntry) -> bool {
    let health = &entry.subscription.health;
    let ttl = SignedDuration::try_from(input.policy.utilization_ttl).expect("small");
    let window = SignedDuration::try_from(input.policy.rate_limit_window).expect("small");
    let threshold = input.policy.approaching_threshold;
    health
        .last_utilization
        .is_some_and(|(value, reported)| value >= threshold && reported >= now() - ttl)
        || current_five_hour(health, now() - ttl).is_some_and(|value| value >= threshold)
        || health
            .last_limited_at
            .is_some_and(|limited| limited > now() - window)
}

/// The 5-hour utilization reported at or after `since` for a window that
/// has not reset yet.
fn current_five_hour(health: &kage_domain::Health, since: Timestamp) -> Option<f64> {
    health
        .quota
        .iter()
        .find(|report| report.window == QuotaWindow::FiveHour)
        .filter(|report| {
            report.reported_at >= since && report.resets_at.is_none_or(|reset| reset > now())
        })
        .map(|report| report.utilization)
}

/// What least-used compares: `(0, tokens)` without a current 5-hour report,
/// `(1, utilization bits)` with one (positive floats order like their bits).
fn consumed(input: &Input, entry: &PoolEntry) -> (u8, u64) {
    let window = SignedDuration::try_from(input.policy.usage_window).expect("small");
    match current_five_hour(&entry.subscription.health, now() - window) {
        Some(utilization) => (1, utilization.to_bits()),
        None => (0, entry.window_tokens),
    }
}

/// The full preference key of an eligible entry: smaller is better.
type Key = (
    bool,
    u32,
    (u8, u64),
    Reverse<Priority>,
    Option<Timestamp>,
    Option<Timestamp>,
    Reverse<Priority>,
    String,
);

fn key(input: &Input, entry: &PoolEntry) -> Key {
    let priority = Reverse(entry.subscription.priority);
    let leased = entry.last_leased_at;
    let name = entry.subscription.name.to_string();
    let approaching = approaching(input, entry);
    let leases = entry.live_leases;
    let lowest = Reverse(Priority(255));
    match input.policy.strategy {
        Strategy::Priority => (
            approaching,
            leases,
            (0, 0),
            priority,
            leased,
            None,
            lowest,
            name,
        ),
        Strategy::RoundRobin => (
            approaching,
            leases,
            (0, 0),
            lowest,
            None,
            leased,
            priority,
            name,
        ),
        Strategy::LeastUsed => (
            approaching,
            leases,
            consumed(input, entry),
            priority,
            leased,
            None,
            lowest,
            name,
        ),
    }
}

fn best(input: &Input) -> Option<usize> {
    eligible(input)
        .into_iter()
        .min_by_key(|&index| key(input, &input.snapshot.entries[index]))
}

/// When a routed, tagged candidate could come back by itself.
fn earliest_recovery(input: &Input) -> Option<Timestamp> {
    input
        .snapshot
        .entries
        .iter()
        .filter_map(|entry| match first_failure(input, entry) {
            Some("health") => entry.subscription.health.state.until(),
            Some("model") => entry
                .subscription
                .health
                .model_limits
                .iter()
                .map(|limit| limit.until)
                .filter(|until| *until > now())
                .min(),
            Some("capacity") => entry.earliest_lease_expiry,
            _ => None,
        })
        .min()
}

fn chosen(selection: &Selection) -> Option<usize> {
    match selection {
        Selection::Chosen { index, .. } => Some(*index),
        Selection::Unavailable { .. } => None,
    }
}

// ---- the properties ----------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_choice_is_eligible_and_the_best(input in input()) {
        let selection = input.select();
        match &selection {
            Selection::Chosen { index, id } => {
                let entry = &input.snapshot.entries[*index];
                prop_assert_eq!(first_failure(&input, entry), None, "chose an ineligible entry");
                prop_assert_eq!(*id, entry.subscription.id);
                prop_assert_eq!(Some(*index), best(&input));
            }
            Selection::Unavailable { .. } => prop_assert!(eligible(&input).is_empty()),
        }
    }

    #[test]
    fn priority_picks_a_highest_priority_one(mut input in input()) {
        input.policy.strategy = Strategy::Priority;
        if let Some(index) = chosen(&input.select()) {
            let candidates = eligible(&input);
            let calm: Vec<usize> = candidates
                .iter()
                .copied()
                .filter(|&other| !approaching(&input, &input.snapshot.entries[other]))
                .collect();
            let class = if calm.is_empty() { candidates } else { calm };
            let fewest = class.iter().map(|&other| input.snapshot.entries[other].live_leases).min();
            let class: Vec<usize> = class
                .into_iter()
                .filter(|&other| Some(input.snapshot.entries[other].live_leases) == fewest)
                .collect();
            prop_assert_eq!(Some(input.snapshot.entries[index].live_leases), fewest);
            let highest = class.iter().map(|&other| input.snapshot.entries[other].subscription.priority).max();
            prop_assert_eq!(Some(input.snapshot.entries[index].subscription.priority), highest);
        }
    }

    #[test]
    fn least_used_picks_the_fewest_tokens(mut input in input()) {
        input.policy.strategy = Strategy::LeastUsed;
        for entry in &mut input.snapshot.entries {
            entry.live_leases = 0;
            entry.subscription.health.quota.clear();
        }
        if let Some(index) = chosen(&input.select()) {
            let chosen_entry = &input.snapshot.entries[index];
            let calm_minimum = eligible(&input)
                .into_iter()
                .map(|other| &input.snapshot.entries[other])
                .filter(|other| !approaching(&input, other))
                .map(|other| other.window_tokens)
                .min();
            if let Some(minimum) = calm_minimum {
                prop_assert!(!approaching(&input, chosen_entry));
                prop_assert_eq!(chosen_entry.window_tokens, minimum);
            }
        }
    }

    #[test]
    fn selection_is_deterministic_and_order_independent(input in input()) {
        let first = input.select();
        prop_assert_eq!(&first, &input.select());
        let id_of = |selection: &Selection| match selection {
            Selection::Chosen { id, .. } => Some(*id),
            Selection::Unavailable { .. } => None,
        };
        let mut reversed = input.clone();
        reversed.snapshot.entries.reverse();
        let second = reversed.select();
        prop_assert_eq!(id_of(&first), id_of(&second));
        if let (
            Selection::Unavailable { earliest_recovery: a, .. },
            Selection::Unavailable { earliest_recovery: b, .. },
        ) = (&first, &second)
        {
            prop_assert_eq!(a, b);
        }
    }

    /// `select` runs an entry's checks only once its keys put it ahead of
    /// the best so far, so what it checks depends on the order of the pool:
    /// in every order it picks what the full ranking of `explain` and the
    /// model put first.
    #[test]
    fn the_early_skipping_pass_picks_the_full_rankings_winner_in_any_order(
        (input, order) in input().prop_flat_map(|input| {
            let order: Vec<usize> = (0..input.snapshot.entries.len()).collect();
            (Just(input), Just(order).prop_shuffle())
        })
    ) {
        let mut shuffled = input.clone();
        shuffled.snapshot.entries =
            order.iter().map(|&index| input.snapshot.entries[index].clone()).collect();
        let lines = explain(
            &shuffled.snapshot,
            &shuffled.rules(),
            &shuffled.policy,
            &shuffled.request,
            now(),
        );
        let first = lines.first().filter(|line| line.verdict.is_ok()).map(|line| line.index);
        prop_assert_eq!(chosen(&shuffled.select()), first);
        prop_assert_eq!(first.map(|index| order[index]), best(&input));
    }

    #[test]
    fn explain_agrees_with_select_and_the_model(input in input()) {
        let lines = explain(&input.snapshot, &input.rules(), &input.policy, &input.request, now());
        prop_assert_eq!(lines.len(), input.snapshot.entries.len());
        let mut ranked: Vec<usize> = Vec::new();
        let mut passed_over: Vec<usize> = Vec::new();
        for line in &lines {
            let entry = &input.snapshot.entries[line.index];
            match &line.verdict {
                Ok(rank) => {
                    prop_assert!(passed_over.is_empty(), "eligible lines come first");
                    prop_assert_eq!(*rank, ranked.len());
                    prop_assert_eq!(line.approaching_limit, approaching(&input, entry));
                    ranked.push(line.index);
                }
                Err(reason) => {
                    prop_assert_eq!(Some(label(reason)), first_failure(&input, entry));
                    passed_over.push(line.index);
                }
            }
        }
        let mut expected = eligible(&input);
        expected.sort_by_key(|&index| key(&input, &input.snapshot.entries[index]));
        prop_assert_eq!(&ranked, &expected);
        prop_assert!(passed_over.is_sorted(), "passed-over lines keep snapshot order");
        prop_assert_eq!(ranked.first().copied(), chosen(&input.select()));
    }

    #[test]
    fn unavailable_reports_the_true_earliest_recovery(input in input()) {
        if let Selection::Unavailable { earliest_recovery: reported, passed_over } = input.select() {
            prop_assert_eq!(reported, earliest_recovery(&input));
            if let Some(at) = reported {
                prop_assert!(at > now(), "a recovery lies ahead");
            }
            prop_assert_eq!(passed_over.len(), input.snapshot.entries.len());
            for (index, reason) in &passed_over {
                prop_assert_eq!(Some(label(reason)), first_failure(&input, &input.snapshot.entries[*index]));
            }
        }
    }

    #[test]
    fn least_used_prefers_the_lowest_current_five_hour_report(mut input in input()) {
        input.policy.strategy = Strategy::LeastUsed;
        for entry in &mut input.snapshot.entries {
            entry.live_leases = 0;
        }
        if let Some(index) = chosen(&input.select()) {
            let window = SignedDuration::try_from(input.policy.usage_window).expect("small");
            let reported = |entry: &PoolEntry| current_five_hour(&entry.subscription.health, now() - window);
            let chosen_entry = &input.snapshot.entries[index];
            let calm: Vec<&PoolEntry> = eligible(&input)
                .into_iter()
                .map(|other| &input.snapshot.entries[other])
                .filter(|other| !approaching(&input, other))
                .collect();
            if !calm.is_empty() && calm.iter().all(|other| reported(other).is_some()) {
                let lowest = calm.iter().filter_map(|other| reported(other)).reduce(f64::min);
                prop_assert_eq!(reported(chosen_entry), lowest);
            }
        }
    }

    #[test]
    fn parallel_acquires_over_idle_subscriptions_all_differ(
        pool in proptest::collection::vec(
            (any::<u8>(), 0..2_000_000u64, proptest::option::of(-100_000..0i64), proptest::option::of(0.0..0.79f64), proptest::option::of(1..4u32)),
            1..16,
        ),
        strategy in one_of(Strategy::ALL.to_vec()),
    ) {
        let entries: Vec<PoolEntry> = pool
            .iter()
            .enumerate()
            .map(|(index, &(priority, tokens, leased, utilization, cap))| {
                let mut built = entry(&sub_name(index));
                built.subscription.priority = Priority(priority);
                built.subscription.max_concurrent = cap;
                built.window_tokens = tokens;
                built.last_leased_at = leased.map(at);
                if let Some(utilization) = utilization {
                    built.subscription.health.record_quota(QuotaReport {
                        window: QuotaWindow::FiveHour,
                        utilization,
                        resets_at: Some(at(3_600)),
                        reported_at: at(-60),
                    });
                }
                built
            })
            .collect();
        let k = entries.len();
        let mut snapshot = PoolSnapshot { entries };
        let policy = SelectionPolicy { strategy, ..SelectionPolicy::default() };
        let (rules, request) = (RoutingRules::new(), SelectionRequest::default());
        let mut chosen_ones = Vec::new();
        for _ in 0..k {
            let Selection::Chosen { index, .. } = select(&snapshot, &rules, &policy, &request, now()) else {
                return Err(TestCaseError::fail("an idle subscription was left"));
            };
            prop_assert!(!chosen_ones.contains(&index), "{strategy}: {index} chosen twice in {chosen_ones:?}");
            chosen_ones.push(index);
            let leased = &mut snapshot.entries[index];
            leased.live_leases += 1;
            leased.last_leased_at = Some(now());
            leased.earliest_lease_expiry = Some(at(120));
        }
    }

    #[test]
    fn no_cap_is_ever_exceeded(input in input(), acquires in 1..40usize) {
        let mut input = input;
        let rules = input.rules();
        for _ in 0..acquires {
            let before: Vec<usize> = eligible(&input);
            match select(&input.snapshot, &rules, &input.policy, &input.request, now()) {
                Selection::Chosen { index, .. } => {
                    let leased = &mut input.snapshot.entries[index];
                    if let Some(cap) = leased.subscription.max_concurrent {
                        prop_assert!(leased.live_leases < cap, "chose {index} at its cap");
                    }
                    leased.live_leases += 1;
                    leased.earliest_lease_expiry.get_or_insert(at(120));
                }
                Selection::Unavailable { .. } => {
                    prop_assert!(before.is_empty(), "unavailable with {before:?} eligible");
                    break;
                }
            }
        }
    }

    #[test]
    fn round_robin_takes_turns_evenly(
        priorities in proptest::collection::vec(any::<u8>(), 1..8),
        picks in 1..60usize,
    ) {
        check_turns(Strategy::RoundRobin, &priorities, picks)?;
    }

    #[test]
    fn equal_priorities_take_turns(count in 1..8usize, priority in any::<u8>(), picks in 1..60usize) {
        for strategy in [Strategy::Priority, Strategy::RoundRobin] {
            check_turns(strategy, &vec![priority; count], picks)?;
        }
    }
}

/// Pick `picks` times from idle subscriptions with `priorities`, marking
/// each chosen one as just leased and moving the clock a second on: the
/// pick counts differ by at most one.
fn check_turns(strategy: Strategy, priorities: &[u8], picks: usize) -> Result<(), TestCaseError> {
    let entries = priorities
        .iter()
        .enumerate()
        .map(|(index, &priority)| {
            let mut built = entry(&sub_name(index));
            built.subscription.priority = Priority(priority);
            built
        })
        .collect();
    let mut snapshot = PoolSnapshot { entries };
    let policy = SelectionPolicy {
        strategy,
        ..SelectionPolicy::default()
    };
    let rules = RoutingRules::new();
    let request = SelectionRequest::default();
    let mut counts = vec![0usize; priorities.len()];
    let mut clock = now();
    for _ in 0..picks {
        let Selection::Chosen { index, .. } = select(&snapshot, &rules, &policy, &request, clock)
        else {
            return Err(TestCaseError::fail("an idle pool always has a choice"));
        };
        counts[index] += 1;
        snapshot.entries[index].last_leased_at = Some(clock);
        clock += SignedDuration::from_secs(1);
    }
    let most = counts.iter().max().copied().unwrap_or(0);
    let least = counts.iter().min().copied().unwrap_or(0);
    prop_assert!(most - least <= 1, "{strategy} picks were {counts:?}");
    Ok(())
}
