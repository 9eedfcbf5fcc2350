//! Routing rules (`design.md`, Selection step 1): namespace rules, level
//! rules, both at once (intersection), `tag:NAME` entries, required tags,
//! validation of unknown names, and merging file rules over saved ones.

use kage_domain::{
    PoolSnapshot, PriorityLevel, RouteEntry, RouteTarget, RoutingRules, SelectionPolicy,
    SelectionRequest, UnknownRouteTarget, explain,
};
use rstest::rstest;

use crate::support::{EntryExt, entry, name, namespace, now, pool, subscription, tag};

use PriorityLevel::{Batch, High, Low, Normal};

fn entries(values: &[&str]) -> Vec<RouteEntry> {
    values
        .iter()
        .map(|value| value.parse().expect("a valid route entry"))
        .collect()
}

fn ns(value: &str) -> RouteTarget {
    RouteTarget::Namespace(namespace(value))
}

fn rules(list: &[(RouteTarget, &[&str])]) -> RoutingRules {
    let mut rules = RoutingRules::new();
    for (target, values) in list {
        rules.set(target.clone(), entries(values));
    }
    rules
}

#[rstest]
#[case::name("alpha", Some(RouteEntry::Subscription(name("alpha"))), "alpha")]
#[case::trimmed(" alpha ", Some(RouteEntry::Subscription(name("alpha"))), "alpha")]
#[case::tag("tag:security", Some(RouteEntry::Tag(tag("security"))), "tag:security")]
#[case::empty_tag("tag:", None, "")]
#[case::uppercase_tag("tag:Security", None, "")]
#[case::bad_name("bad name", None, "")]
#[case::empty("", None, "")]
fn route_entries_parse(
    #[case] input: &str,
    #[case] expected: Option<RouteEntry>,
    #[case] shown: &str,
) {
    let parsed = input.parse::<RouteEntry>().ok();
    assert_eq!(parsed, expected);
    if let Some(parsed) = parsed {
        assert_eq!(parsed.to_string(), shown);
    }
}

#[rstest]
#[case::high("high", Some(RouteTarget::Level(High)), "priority high")]
#[case::normal("normal", Some(RouteTarget::Level(Normal)), "priority normal")]
#[case::low("low", Some(RouteTarget::Level(Low)), "priority low")]
#[case::batch("batch", Some(RouteTarget::Level(Batch)), "priority batch")]
#[case::namespace("backend", Some(ns("backend")), "namespace backend")]
#[case::uppercase("Backend", None, "")]
#[case::empty("", None, "")]
fn config_keys_are_levels_or_namespaces(
    #[case] key: &str,
    #[case] expected: Option<RouteTarget>,
    #[case] shown: &str,
) {
    let target = RouteTarget::from_key(key).ok();
    assert_eq!(target, expected);
    if let Some(target) = target {
        assert_eq!(target.to_string(), shown);
    }
}

#[rstest]
#[case::by_name("alpha", &["backend"], true)]
#[case::other_name("beta", &["alpha"], false)]
#[case::by_tag("tag:backend", &["backend", "premium"], true)]
#[case::tag_missing("tag:security", &["backend"], false)]
#[case::name_is_not_a_tag("backend", &["backend"], false)]
fn route_entries_match_by_name_or_tag(
    #[case] route: &str,
    #[case] tags: &[&str],
    #[case] matches: bool,
) {
    let route: RouteEntry = route.parse().expect("a valid entry");
    let subscription = entry("alpha").tags(tags).subscription;
    assert_eq!(route.matches(&subscription), matches);
}

/// alpha [backend], beta [backend, premium], gamma [frontend, premium],
/// delta [security], epsilon [].
fn routing_pool() -> PoolSnapshot {
    pool(vec![
        entry("alpha").tags(&["backend"]),
        entry("beta").tags(&["backend", "premium"]),
        entry("gamma").tags(&["frontend", "premium"]),
        entry("delta").tags(&["security"]),
        entry("epsilon"),
    ])
}

fn routing_rules() -> RoutingRules {
    rules(&[
        (ns("backend"), &["tag:backend"]),
        (ns("frontend"), &["gamma", "epsilon"]),
        (ns("security"), &["tag:security", "alpha"]),
        (RouteTarget::Level(High), &["tag:premium"]),
        (RouteTarget::Level(Batch), &["epsilon", "delta"]),
    ])
}

/// The names `explain` finds eligible for a request against the routing
/// pool (all active and idle, so only routing and tags decide).
fn check(namespace_name: Option<&str>, level: PriorityLevel, required: &[&str], expected: &[&str]) {
    let snapshot = routing_pool();
    let request = SelectionRequest {
        namespace: namespace_name.map(namespace),
        level,
        required_tags: required.iter().map(|value| tag(value)).collect(),
        model: None,
    };
    let ranked = explain(
        &snapshot,
        &routing_rules(),
        &SelectionPolicy::default(),
        &request,
        now(),
    );
    let mut eligible: Vec<&str> = ranked
        .iter()
        .filter(|line| line.verdict.is_ok())
        .map(|line| snapshot.entries[line.index].subscription.name.as_str())
        .collect();
    eligible.sort_unstable();
    let mut expected = expected.to_vec();
    expected.sort_unstable();
    assert_eq!(eligible, expected);
}

#[rstest]
#[case::no_rule(None, Normal, &[], &["alpha", "beta", "gamma", "delta", "epsilon"])]
#[case::namespace_by_tag(Some("backend"), Normal, &[], &["alpha", "beta"])]
#[case::namespace_by_names(Some("frontend"), Normal, &[], &["gamma", "epsilon"])]
#[case::namespace_by_tag_and_name(Some("security"), Normal, &[], &["alpha", "delta"])]
#[case::namespace_without_rule(Some("ops"), Normal, &[], &["alpha", "beta", "gamma", "delta", "epsilon"])]
#[case::level_alone(None, High, &[], &["beta", "gamma"])]
#[case::level_by_names(None, Batch, &[], &["delta", "epsilon"])]
#[case::level_without_rule(None, Low, &[], &["alpha", "beta", "gamma", "delta", "epsilon"])]
#[case::both_intersect(Some("backend"), High, &[], &["beta"])]
#[case::both_intersect_names_and_tags(Some("frontend"), High, &[], &["gamma"])]
#[case::both_intersect_empty(Some("security"), High, &[], &[])]
#[case::namespace_and_unruled_level(Some("frontend"), Low, &[], &["gamma", "epsilon"])]
#[case::required_tag(None, Normal, &["premium"], &["beta", "gamma"])]
#[case::required_tags_all(None, Normal, &["backend", "premium"], &["beta"])]
#[case::required_tag_and_namespace(Some("backend"), Normal, &["premium"], &["beta"])]
#[case::required_tag_nobody_has(None, Normal, &["gpu"], &[])]
fn routing_restricts_the_candidates(
    #[case] namespace_name: Option<&str>,
    #[case] level: PriorityLevel,
    #[case] required: &[&str],
    #[case] expected: &[&str],
) {
    check(namespace_name, level, required, expected);
}

fn check_validate(rules: RoutingRules, expected: Result<(), UnknownRouteTarget>) {
    let subscriptions: Vec<_> = ["alpha", "beta"].into_iter().map(subscription).collect();
    assert_eq!(rules.validate(&subscriptions), expected);
}

#[rstest]
#[case::empty(RoutingRules::new(), Ok(()))]
#[case::known_names(rules(&[(ns("backend"), &["alpha", "beta"])]), Ok(()))]
#[case::unknown_tag(rules(&[(ns("backend"), &["tag:nobody-has-it"])]), Ok(()))]
#[case::unknown_name_in_namespace(
    rules(&[(ns("backend"), &["alpha", "zeta"])]),
    Err(UnknownRouteTarget { target: ns("backend"), name: name("zeta") })
)]
#[case::unknown_name_in_level(
    rules(&[(ns("backend"), &["alpha"]), (RouteTarget::Level(High), &["tag:x", "omega"])]),
    Err(UnknownRouteTarget { target: RouteTarget::Level(High), name: name("omega") })
)]
fn validation_refuses_unknown_names(
    #[case] rules: RoutingRules,
    #[case] expected: Result<(), UnknownRouteTarget>,
) {
    check_validate(rules, expected);
}

#[test]
fn an_unknown_name_error_names_the_rule_and_the_name() {
    let error = UnknownRouteTarget {
        target: ns("backend"),
        name: name("zeta"),
    };
    assert_eq!(
        error.to_string(),
        "the route for namespace backend names zeta, which is not a registered subscription"
    );
}

#[rstest]
#[case::override_replaces_and_adds(
    rules(&[(ns("backend"), &["alpha"]), (RouteTarget::Level(High), &["beta"])]),
    rules(&[(ns("backend"), &["gamma"]), (ns("frontend"), &["delta"])]),
    rules(&[(ns("backend"), &["gamma"]), (ns("frontend"), &["delta"]), (RouteTarget::Level(High), &["beta"])])
)]
#[case::no_overrides(
    rules(&[(ns("backend"), &["alpha"])]),
    RoutingRules::new(),
    rules(&[(ns("backend"), &["alpha"])])
)]
#[case::no_base(
    RoutingRules::new(),
    rules(&[(RouteTarget::Level(Batch), &["tag:cheap"])]),
    rules(&[(RouteTarget::Level(Batch), &["tag:cheap"])])
)]
#[case::level_overrides_level(
    rules(&[(RouteTarget::Level(High), &["alpha", "beta"])]),
    rules(&[(RouteTarget::Level(High), &["tag:premium"])]),
    rules(&[(RouteTarget::Level(High), &["tag:premium"])])
)]
fn file_rules_win_over_saved_rules(
    #[case] saved: RoutingRules,
    #[case] file: RoutingRules,
    #[case] expected: RoutingRules,
) {
    assert_eq!(saved.merged_with(&file), expected);
}

#[test]
fn rules_are_listed_namespaces_first_in_key_order() {
    let rules = rules(&[
        (RouteTarget::Level(Batch), &["epsilon"]),
        (ns("security"), &["tag:security"]),
        (RouteTarget::Level(High), &["beta"]),
        (ns("backend"), &["alpha"]),
    ]);
    let listed: Vec<String> = rules.iter().map(|(target, _)| target.to_string()).collect();
    assert_eq!(
        listed,
        [
            "namespace backend",
            "namespace security",
            "priority high",
            "priority batch"
        ]
    );
}

#[test]
fn rules_are_set_read_and_removed() {
    let mut rules = RoutingRules::new();
    assert!(rules.is_empty());
    rules.set(ns("backend"), entries(&["alpha"]));
    rules.set(ns("backend"), entries(&["beta", "tag:x"]));
    assert_eq!(
        rules.get(&ns("backend")),
        Some(entries(&["beta", "tag:x"]).as_slice())
    );
    assert_eq!(rules.get(&RouteTarget::Level(High)), None);
    assert!(!rules.is_empty());

    let backend = namespace("backend");
    let (namespace_rule, level_rule) = rules.applicable(Some(&backend), High);
    assert_eq!(namespace_rule, Some(entries(&["beta", "tag:x"]).as_slice()));
    assert_eq!(level_rule, None);
    assert_eq!(rules.applicable(None, High), (None, None));

    assert_eq!(
        rules.remove(&ns("backend")),
        Some(entries(&["beta", "tag:x"]))
    );
    assert_eq!(rules.remove(&ns("backend")), None);
    assert!(rules.is_empty());
}
