//! `[subscriptions.routing]`: parsing, errors, locations and the pool check.

use kage_config::{ConfigError, Location};
use kage_domain::{PriorityLevel, RouteEntry, RouteTarget, SubscriptionName};

use crate::{PATH, error_of, parse_ok};

const ROUTES: &str = "\
[subscriptions.routing]
backend = [\"backend-dedicated\", \"work-premium\"]
security = [
  \"tag:security\",
  \"sec-audited\",
]
high = [\"premium-1\"]
";

fn names(names: &[&str]) -> Vec<SubscriptionName> {
    names
        .iter()
        .map(|name| SubscriptionName::new(name).unwrap())
        .collect()
}

fn target(key: &str) -> RouteTarget {
    RouteTarget::from_key(key).unwrap()
}

fn location(line: usize, column: usize) -> Location {
    Location {
        path: PATH.into(),
        line,
        column,
    }
}

#[test]
fn keys_are_levels_or_namespaces() {
    let config = parse_ok(ROUTES);
    let targets: Vec<RouteTarget> = config.routing().iter().map(|(target, _)| target).collect();

    assert_eq!(
        targets,
        [
            target("backend"),
            target("security"),
            RouteTarget::Level(PriorityLevel::High)
        ]
    );
    assert!(matches!(targets[0], RouteTarget::Namespace(_)));
    assert_eq!(
        config.routing().get(&target("security")).unwrap(),
        [
            RouteEntry::Tag("security".parse().unwrap()),
            "sec-audited".parse().unwrap()
        ]
    );
}

#[test]
fn every_rule_and_entry_keeps_its_place() {
    let config = parse_ok(ROUTES);

    assert_eq!(
        config.route_location(&target("backend")),
        Some(&location(2, 1))
    );
    assert_eq!(
        config.route_location(&target("high")),
        Some(&location(7, 1))
    );
    assert_eq!(
        config.route_entry_location(&target("backend"), &"work-premium".parse().unwrap()),
        Some(&location(2, 33))
    );
    assert_eq!(
        config.route_entry_location(&target("security"), &"sec-audited".parse().unwrap()),
        Some(&location(5, 3))
    );
    assert_eq!(config.route_location(&target("frontend")), None);
    assert_eq!(
        config.route_entry_location(&target("backend"), &"personal".parse().unwrap()),
        None
    );
}

#[test]
fn the_pool_check_points_at_the_first_unknown_name() {
    let config = parse_ok(ROUTES);
    let pool = names(&[
        "backend-dedicated",
        "work-premium",
        "premium-1",
        "sec-audit",
    ]);

    let error = config.check_routing(&pool).unwrap_err();

    assert_eq!(
        error.to_string(),
        "config error: /home/u/.config/kage/config.toml:5:3: the route for namespace security names \"sec-audited\", which is not a registered subscription; did you mean `sec-audit`?"
    );
    assert!(matches!(
        error,
        ConfigError::UnknownRouteSubscription { ref target, ref name, .. }
            if *target == self::target("security") && name.as_str() == "sec-audited"
    ));
}

#[test]
fn the_pool_check_reports_names_in_file_order_and_accepts_tags() {
    let config = parse_ok(ROUTES);

    let error = config.check_routing(&names(&["personal"])).unwrap_err();
    assert_eq!(
        error.to_string(),
        "config error: /home/u/.config/kage/config.toml:2:12: the route for namespace backend names \"backend-dedicated\", which is not a registered subscription; add it with `kage subscription add --name backend-dedicated` or remove it from the config file"
    );

    let full = names(&[
        "backend-dedicated",
        "work-premium",
        "premium-1",
        "sec-audited",
    ]);
    config.check_routing(&full).unwrap();
}

#[test]
fn bad_routing_keys_and_entries_are_located() {
    assert_eq!(
        error_of("[subscriptions.routing]\nBackend = [\"a\"]\n"),
        "config error: /home/u/.config/kage/config.toml:2:1: invalid value for `subscriptions.routing.Backend`: invalid namespace \"Backend\": use 1 to 64 characters: lowercase letters, digits, '-', '_' or '.', starting with a letter or digit; a routing key is a priority level (high, normal, low, batch) or a namespace"
    );
    assert_eq!(
        error_of("[subscriptions.routing]\nbackend = [\"a\", \"tag:\"]\n"),
        "config error: /home/u/.config/kage/config.toml:2:17: invalid value for `subscriptions.routing.backend[1]`: invalid tag \"\": use 1 to 64 characters: lowercase letters, digits, '-', '_' or '.', starting with a letter or digit; write a subscription name or `tag:NAME`"
    );
    assert_eq!(
        error_of("[subscriptions.routing]\nbackend = []\n"),
        "config error: /home/u/.config/kage/config.toml:2:11: invalid value for `subscriptions.routing.backend`: the list is empty, so nothing could run there; name subscriptions or `tag:NAME`, or remove the key to allow every subscription"
    );
}

#[test]
fn routing_values_of_the_wrong_type_name_their_key() {
    assert_eq!(
        error_of("[subscriptions.routing]\nfrontend = [\"a\"]\nbackend = [\"a\", 3]\n"),
        "config error: /home/u/.config/kage/config.toml:3:17: wrong type for `subscriptions.routing.backend[1]`: expected a string, found integer `3`"
    );
    assert_eq!(
        error_of("[subscriptions.routing]\nbackend = \"backend-dedicated\"\n"),
        "config error: /home/u/.config/kage/config.toml:2:11: wrong type for `subscriptions.routing.backend`: expected an array of strings, found string \"backend-dedicated\""
    );
    assert_eq!(
        error_of("[subscriptions.routing]\n\"ml.ops\" = 1\n"),
        "config error: /home/u/.config/kage/config.toml:2:12: wrong type for `subscriptions.routing.\"ml.ops\"`: expected an array of strings, found integer `1`"
    );
    assert_eq!(
        error_of("[subscriptions]\nrouting = 5\n"),
        "config error: /home/u/.config/kage/config.toml:2:11: wrong type for `subscriptions.routing`: expected a table, found integer `5`"
    );
}
