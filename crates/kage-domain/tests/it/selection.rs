//! Selection cases (`design.md`, Selection): the order `explain` gives and
//! `select` follows for each strategy, the reasons a subscription is passed
//! over and their precedence, capacity caps, approaching-limit ordering, and
//! the earliest recovery when nothing is available.

use std::time::Duration;

use kage_domain::{
    PassOverReason, PoolEntry, PoolSnapshot, PriorityLevel, RouteTarget, RoutingRules, Selection,
    SelectionPolicy, SelectionRequest, Strategy, SubscriptionState, Timestamp, explain,
    is_approaching_limit, select,
};
use rstest::rstest;

use crate::support::{
    EntryExt, at, disabled, entry, exhausted, namespace, now, pool, rate_limited, tag, unhealthy,
};

fn policy(strategy: Strategy) -> SelectionPolicy {
    SelectionPolicy {
        strategy,
        ..SelectionPolicy::default()
    }
}

fn any_request() -> SelectionRequest {
    SelectionRequest::default()
}

fn request(
    namespace_name: Option<&str>,
    level: PriorityLevel,
    required: &[&str],
) -> SelectionRequest {
    SelectionRequest {
        namespace: namespace_name.map(namespace),
        level,
        required_tags: required.iter().map(|value| tag(value)).collect(),
        model: None,
    }
}

fn names_of(snapshot: &PoolSnapshot, indices: impl IntoIterator<Item = usize>) -> Vec<String> {
    indices
        .into_iter()
        .map(|index| snapshot.entries[index].subscription.name.to_string())
        .collect()
}

/// `explain` must rank the eligible entries as `ranked` (best first) and
/// list the others, in snapshot order, with `passed_over`'s reasons; `select`
/// must choose `ranked[0]`, or report exactly those reasons.
fn check(
    entries: Vec<PoolEntry>,
    rules: &RoutingRules,
    policy: &SelectionPolicy,
    request: &SelectionRequest,
    ranked: &[&str],
    passed_over: &[(&str, PassOverReason)],
) {
    let snapshot = pool(entries);
    let lines = explain(&snapshot, rules, policy, request, now());
    assert_eq!(
        lines.len(),
        snapshot.entries.len(),
        "explain lists every subscription"
    );

    let eligible: Vec<usize> = lines
        .iter()
        .filter(|line| line.verdict.is_ok())
        .map(|line| line.index)
        .collect();
    assert_eq!(
        names_of(&snapshot, eligible.iter().copied()),
        ranked,
        "ranking"
    );
    for (rank, line) in lines.iter().take(eligible.len()).enumerate() {
        assert_eq!(
            line.verdict,
            Ok(rank),
            "eligible lines come first, ranked 0, 1, 2 …"
        );
    }
    let out: Vec<(String, PassOverReason)> = lines
        .iter()
        .filter_map(|line| {
            let reason = line.verdict.clone().err()?;
            Some((
                snapshot.entries[line.index].subscription.name.to_string(),
                reason,
            ))
        })
        .collect();
    let expected_out: Vec<(String, PassOverReason)> = passed_over
        .iter()
        .map(|(name, reason)| ((*name).to_owned(), reason.clone()))
        .collect();
    assert_eq!(out, expected_out, "passed-over reasons");

    match select(&snapshot, rules, policy, request, now()) {
        Selection::Chosen { index, id } => {
            assert_eq!(
                names_of(&snapshot, [index]),
                ranked[..1],
                "select takes explain's first"
            );
            assert_eq!(id, snapshot.entries[index].subscription.id);
        }
        Selection::Unavailable {
            passed_over: reasons,
            ..
        } => {
            assert!(
                ranked.is_empty(),
                "select found nothing, explain ranked {ranked:?}"
            );
            let reasons: Vec<(String, PassOverReason)> = reasons
                .into_iter()
                .map(|(index, reason)| {
                    (
                        snapshot.entries[index].subscription.name.to_string(),
                        reason,
                    )
                })
                .collect();
            assert_eq!(reasons, expected_out, "select's reasons");
        }
    }
}

fn check_order(strategy: Strategy, entries: Vec<PoolEntry>, ranked: &[&str]) {
    check(
        entries,
        &RoutingRules::new(),
        &policy(strategy),
        &any_request(),
        ranked,
        &[],
    );
}

#[rstest]
#[case::highest_priority_first(
    vec![entry("a").priority(100), entry("b").priority(200), entry("c").priority(150)],
    &["b", "c", "a"]
)]
#[case::ties_to_the_least_recently_leased(
    vec![entry("a").leased_at(at(-10)), entry("b").leased_at(at(-100)), entry("c")],
    &["c", "b", "a"]
)]
#[case::priority_beats_recency(
    vec![entry("a").priority(100), entry("b").priority(101).leased_at(at(-1))],
    &["b", "a"]
)]
#[case::full_ties_by_name(vec![entry("c"), entry("a"), entry("b")], &["a", "b", "c"])]
#[case::usage_does_not_matter(
    vec![entry("a").tokens(1_000_000), entry("b").tokens(0).leased_at(at(-5))],
    &["a", "b"]
)]
fn priority_strategy(#[case] entries: Vec<PoolEntry>, #[case] ranked: &[&str]) {
    check_order(Strategy::Priority, entries, ranked);
}

#[rstest]
#[case::least_recently_leased_whatever_priority(
    vec![entry("a").priority(255).leased_at(at(-10)), entry("b").priority(0).leased_at(at(-100)), entry("c").leased_at(at(-50))],
    &["b", "c", "a"]
)]
#[case::never_leased_first(vec![entry("a").leased_at(at(-1_000)), entry("b")], &["b", "a"])]
#[case::ties_by_priority(vec![entry("d").priority(50), entry("e").priority(60)], &["e", "d"])]
#[case::full_ties_by_name(vec![entry("y"), entry("x")], &["x", "y"])]
fn round_robin_strategy(#[case] entries: Vec<PoolEntry>, #[case] ranked: &[&str]) {
    check_order(Strategy::RoundRobin, entries, ranked);
}

#[rstest]
#[case::fewest_tokens_first(
    vec![entry("a").tokens(500), entry("b").tokens(100).priority(50), entry("c").tokens(300).priority(200)],
    &["b", "c", "a"]
)]
#[case::ties_by_priority(vec![entry("a").tokens(100).priority(50), entry("b").tokens(100).priority(200)], &["b", "a"])]
#[case::then_least_recently_leased(
    vec![entry("a").tokens(7).leased_at(at(-1)), entry("b").tokens(7).leased_at(at(-2))],
    &["b", "a"]
)]
fn least_used_strategy(#[case] entries: Vec<PoolEntry>, #[case] ranked: &[&str]) {
    check_order(Strategy::LeastUsed, entries, ranked);
}

/// Whether `entry` counts as approaching its limit at `now` (default
/// threshold 0.8, window 60 s, utilization reports kept 5 h).
fn check_approaching(entry: PoolEntry, expected: bool) {
    let policy = SelectionPolicy::default();
    assert_eq!(is_approaching_limit(&entry, &policy, now()), expected);
    let snapshot = pool(vec![entry]);
    let lines = explain(
        &snapshot,
        &RoutingRules::new(),
        &policy,
        &any_request(),
        now(),
    );
    assert_eq!(lines[0].approaching_limit, expected);
}

#[rstest]
#[case::fresh(entry("a"), false)]
#[case::high_utilization(entry("a").utilization(0.91, at(-60)), true)]
#[case::at_the_threshold(entry("a").utilization(0.8, at(-60)), true)]
#[case::below_the_threshold(entry("a").utilization(0.79, at(-60)), false)]
#[case::over_one(entry("a").utilization(1.2, at(-60)), true)]
#[case::report_within_5_hours(entry("a").utilization(0.95, at(-5 * 3_600)), true)]
#[case::report_older_than_5_hours(entry("a").utilization(0.95, at(-5 * 3_600 - 1)), false)]
#[case::limited_within_the_window(entry("a").limited_at(at(-59)), true)]
#[case::limited_before_the_window(entry("a").limited_at(at(-60)), false)]
fn approaching_a_limit(#[case] entry: PoolEntry, #[case] expected: bool) {
    check_approaching(entry, expected);
}

#[rstest]
#[case::priority(Strategy::Priority)]
#[case::round_robin(Strategy::RoundRobin)]
#[case::least_used(Strategy::LeastUsed)]
fn approaching_ones_go_after_all_others(#[case] strategy: Strategy) {
    check_order(
        strategy,
        vec![
            entry("hot").priority(255).utilization(0.9, at(-10)),
            entry("cold").priority(10).leased_at(at(-1)).tokens(900),
            entry("burnt").priority(200).limited_at(at(-5)),
        ],
        // the approaching ones keep the strategy's order among themselves
        &["cold", "hot", "burnt"],
    );
}

#[test]
fn an_approaching_one_is_still_chosen_when_alone() {
    check_order(
        Strategy::Priority,
        vec![entry("hot").utilization(0.99, at(-1))],
        &["hot"],
    );
}

fn backend_only() -> RoutingRules {
    let mut rules = RoutingRules::new();
    rules.set(
        RouteTarget::Namespace(namespace("backend")),
        vec!["tag:backend".parse().expect("entry")],
    );
    rules.set(
        RouteTarget::Level(PriorityLevel::High),
        vec!["tag:premium".parse().expect("entry")],
    );
    rules
}

fn not_routed_by_namespace() -> PassOverReason {
    PassOverReason::NotRouted {
        rule: RouteTarget::Namespace(namespace("backend")),
    }
}

fn not_active(state: SubscriptionState) -> PassOverReason {
    PassOverReason::NotActive { state }
}

#[rstest]
#[case::unrouted_by_namespace(
    vec![entry("a").tags(&["backend"]), entry("b")],
    request(Some("backend"), PriorityLevel::Normal, &[]),
    &["a"],
    vec![("b", not_routed_by_namespace())]
)]
#[case::unrouted_by_level(
    vec![entry("a").tags(&["backend", "premium"]), entry("b").tags(&["backend"])],
    request(Some("backend"), PriorityLevel::High, &[]),
    &["a"],
    vec![("b", PassOverReason::NotRouted { rule: RouteTarget::Level(PriorityLevel::High) })]
)]
#[case::namespace_reason_before_level_reason(
    vec![entry("a").tags(&["premium"])],
    request(Some("backend"), PriorityLevel::High, &[]),
    &[],
    vec![("a", not_routed_by_namespace())]
)]
#[case::routing_reason_before_health(
    vec![entry("a").state(rate_limited(at(60)))],
    request(Some("backend"), PriorityLevel::Normal, &[]),
    &[],
    vec![("a", not_routed_by_namespace())]
)]
#[case::missing_tags_lists_the_missing(
    vec![entry("a").tags(&["premium"]), entry("b").tags(&["premium", "gpu"])],
    request(None, PriorityLevel::Normal, &["premium", "gpu"]),
    &["b"],
    vec![("a", PassOverReason::MissingTags { missing: vec![tag("gpu")] })]
)]
#[case::tags_reason_before_health(
    vec![entry("a").state(disabled())],
    request(None, PriorityLevel::Normal, &["gpu", "eu"]),
    &[],
    vec![("a", PassOverReason::MissingTags { missing: vec![tag("gpu"), tag("eu")] })]
)]
#[case::not_active_shows_the_state(
    vec![entry("a").state(rate_limited(at(60))), entry("b").state(disabled()), entry("c")],
    any_request(),
    &["c"],
    vec![("a", not_active(rate_limited(at(60)))), ("b", not_active(disabled()))]
)]
#[case::health_reason_before_capacity(
    vec![entry("a").state(exhausted(at(600))).cap(1, 1, Some(at(30)))],
    any_request(),
    &[],
    vec![("a", not_active(exhausted(at(600))))]
)]
#[case::at_capacity(
    vec![entry("a").cap(2, 2, Some(at(90))), entry("b").cap(2, 1, Some(at(5)))],
    any_request(),
    &["b"],
    vec![("a", PassOverReason::AtCapacity { live_leases: 2, max_concurrent: 2, frees_at: Some(at(90)) })]
)]
#[case::cap_zero_is_never_eligible(
    vec![entry("a").cap(0, 0, None)],
    any_request(),
    &[],
    vec![("a", PassOverReason::AtCapacity { live_leases: 0, max_concurrent: 0, frees_at: None })]
)]
#[case::no_cap_means_no_limit(
    vec![{ let mut busy = entry("a"); busy.live_leases = 1_000; busy }],
    any_request(),
    &["a"],
    vec![]
)]
#[case::approaching_and_full_is_full(
    vec![entry("a").utilization(0.95, at(-1)).cap(1, 1, Some(at(20)))],
    any_request(),
    &[],
    vec![("a", PassOverReason::AtCapacity { live_leases: 1, max_concurrent: 1, frees_at: Some(at(20)) })]
)]
#[case::expired_state_is_eligible(
    vec![entry("a").state(unhealthy(at(-1))), entry("b").state(unhealthy(now()))],
    any_request(),
    &["a", "b"],
    vec![]
)]
#[case::passed_over_in_snapshot_order(
    vec![entry("z").state(disabled()), entry("m"), entry("a").cap(1, 1, None)],
    any_request(),
    &["m"],
    vec![
        ("z", not_active(disabled())),
        ("a", PassOverReason::AtCapacity { live_leases: 1, max_concurrent: 1, frees_at: None }),
    ]
)]
fn passed_over_reasons(
    #[case] entries: Vec<PoolEntry>,
    #[case] request: SelectionRequest,
    #[case] ranked: &[&str],
    #[case] passed_over: Vec<(&str, PassOverReason)>,
) {
    check(
        entries,
        &backend_only(),
        &SelectionPolicy::default(),
        &request,
        ranked,
        &passed_over,
    );
}

/// Nothing is available: `select` must report `earliest`.
fn check_recovery(entries: Vec<PoolEntry>, request: SelectionRequest, earliest: Option<Timestamp>) {
    let snapshot = pool(entries);
    let count = snapshot.entries.len();
    match select(
        &snapshot,
        &backend_only(),
        &SelectionPolicy::default(),
        &request,
        now(),
    ) {
        Selection::Unavailable {
            earliest_recovery,
            passed_over,
        } => {
            assert_eq!(earliest_recovery, earliest);
            let indices: Vec<usize> = passed_over.iter().map(|(index, _)| *index).collect();
            assert_eq!(
                indices,
                (0..count).collect::<Vec<_>>(),
                "every subscription, in order"
            );
        }
        chosen @ Selection::Chosen { .. } => panic!("nothing should be available: {chosen:?}"),
    }
}

#[rstest]
#[case::empty_pool(vec![], any_request(), None)]
#[case::all_disabled(vec![entry("a").state(disabled()), entry("b").state(disabled())], any_request(), None)]
#[case::earliest_timed_state(
    vec![entry("a").state(exhausted(at(3_600))), entry("b").state(rate_limited(at(60))), entry("c").state(unhealthy(at(120)))],
    any_request(),
    Some(at(60))
)]
#[case::a_lease_expiring_sooner(
    vec![entry("a").state(unhealthy(at(30))), entry("b").cap(1, 1, Some(at(10)))],
    any_request(),
    Some(at(10))
)]
#[case::full_without_known_expiry(vec![entry("a").cap(1, 1, None), entry("b").state(disabled())], any_request(), None)]
#[case::unrouted_ones_do_not_count(
    vec![entry("a").state(rate_limited(at(5))), entry("b").tags(&["backend"]).state(rate_limited(at(100)))],
    request(Some("backend"), PriorityLevel::Normal, &[]),
    Some(at(100))
)]
#[case::untagged_ones_do_not_count(
    vec![entry("a").cap(1, 1, Some(at(5))), entry("b").tags(&["gpu"]).state(exhausted(at(700)))],
    request(None, PriorityLevel::Normal, &["gpu"]),
    Some(at(700))
)]
#[case::nothing_routed(
    vec![entry("a").state(rate_limited(at(5)))],
    request(Some("backend"), PriorityLevel::Normal, &[]),
    None
)]
fn unavailable_reports_the_earliest_recovery(
    #[case] entries: Vec<PoolEntry>,
    #[case] request: SelectionRequest,
    #[case] earliest: Option<Timestamp>,
) {
    check_recovery(entries, request, earliest);
}

#[test]
fn the_window_and_threshold_come_from_the_policy() {
    let policy = SelectionPolicy {
        strategy: Strategy::Priority,
        approaching_threshold: 0.5,
        rate_limit_window: Duration::from_secs(600),
        utilization_ttl: Duration::from_secs(60),
        usage_window: Duration::from_secs(5 * 3_600),
    };
    let now = now();
    assert!(is_approaching_limit(
        &entry("a").utilization(0.6, at(-30)),
        &policy,
        now
    ));
    assert!(!is_approaching_limit(
        &entry("a").utilization(0.6, at(-61)),
        &policy,
        now
    ));
    assert!(is_approaching_limit(
        &entry("a").limited_at(at(-599)),
        &policy,
        now
    ));
}
