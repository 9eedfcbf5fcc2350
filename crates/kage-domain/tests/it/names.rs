//! Validated value types: names, tags, namespaces, priorities, levels,
//! credential kinds, strategies, state kinds and ids.

use std::str::FromStr;

use kage_domain::{
    CredentialKind, InvalidName, LeaseId, Namespace, Priority, PriorityLevel, StateKind, Strategy,
    SubscriptionId, SubscriptionName, Tag,
};
use rstest::rstest;

/// `T::from_str(input)`: `Some(shown)` when it must parse and display as
/// `shown`, `None` when it must be refused.
fn check<T>(input: &str, expected: Option<&str>)
where
    T: FromStr + std::fmt::Display,
    T::Err: std::fmt::Display,
{
    match (input.parse::<T>(), expected) {
        (Ok(value), Some(shown)) => assert_eq!(value.to_string(), shown, "{input:?}"),
        (Ok(value), None) => panic!("{input:?} should be refused, got {value}"),
        (Err(error), Some(_)) => panic!("{input:?} should parse: {error}"),
        (Err(error), None) => {
            let message = error.to_string();
            assert!(
                message.contains("use"),
                "the error says what to do: {message}"
            );
        }
    }
}

const LONGEST: &str = "a123456789012345678901234567890123456789012345678901234567890123";
const TOO_LONG: &str = "a1234567890123456789012345678901234567890123456789012345678901234";

#[rstest]
#[case::simple("work-premium", true)]
#[case::mixed_case("Work.Premium_2", true)]
#[case::digit_first("1st", true)]
#[case::one_char("a", true)]
#[case::longest(LONGEST, true)]
#[case::too_long(TOO_LONG, false)]
#[case::empty("", false)]
#[case::dash_first("-work", false)]
#[case::dot_first(".work", false)]
#[case::underscore_first("_work", false)]
#[case::space("work premium", false)]
#[case::slash("work/premium", false)]
#[case::colon("tag:x", false)]
#[case::non_ascii("prémium", false)]
fn subscription_names(#[case] input: &str, #[case] valid: bool) {
    check::<SubscriptionName>(input, valid.then_some(input));
}

#[rstest]
#[case::simple("backend", true)]
#[case::with_punctuation("eu-west_1.b", true)]
#[case::uppercase("Backend", false)]
#[case::empty("", false)]
#[case::space("back end", false)]
#[case::dash_first("-backend", false)]
#[case::too_long(TOO_LONG, false)]
fn tags_and_namespaces_are_lowercase_labels(#[case] input: &str, #[case] valid: bool) {
    check::<Tag>(input, valid.then_some(input));
    check::<Namespace>(input, valid.then_some(input));
}

#[test]
fn invalid_names_say_what_and_why() {
    let error = SubscriptionName::new("bad name").expect_err("a space is refused");
    assert_eq!(
        error,
        InvalidName {
            what: "subscription name",
            value: "bad name".to_owned(),
            rule: "use 1 to 64 characters: letters, digits, '-', '_' or '.', starting with a letter or digit",
        }
    );
    assert!(
        error
            .to_string()
            .starts_with("invalid subscription name \"bad name\": use 1 to 64")
    );
    let error = Tag::new("Security").expect_err("uppercase is refused");
    assert_eq!(error.what, "tag");
    assert!(error.rule.contains("lowercase"));
}

#[rstest]
#[case::zero("0", Some("0"))]
#[case::default_value("100", Some("100"))]
#[case::highest("255", Some("255"))]
#[case::padded(" 7 ", Some("7"))]
#[case::too_high("256", None)]
#[case::negative("-1", None)]
#[case::fraction("1.5", None)]
#[case::word("high", None)]
#[case::empty("", None)]
fn priorities_are_0_to_255(#[case] input: &str, #[case] expected: Option<&str>) {
    check::<Priority>(input, expected);
}

#[test]
fn priority_defaults_to_100_and_orders_by_value() {
    assert_eq!(Priority::default(), Priority(100));
    assert_eq!(Priority::DEFAULT.value(), 100);
    assert!(Priority(255) > Priority(0));
}

#[rstest]
#[case::high("high", Some("high"))]
#[case::normal("normal", Some("normal"))]
#[case::low("low", Some("low"))]
#[case::batch("batch", Some("batch"))]
#[case::uppercase("HIGH", None)]
#[case::unknown("urgent", None)]
#[case::empty("", None)]
fn priority_levels(#[case] input: &str, #[case] expected: Option<&str>) {
    check::<PriorityLevel>(input, expected);
}

#[test]
fn the_default_level_is_normal() {
    assert_eq!(PriorityLevel::default(), PriorityLevel::Normal);
}

#[rstest]
#[case::oauth("oauth", Some("oauth"))]
#[case::api_key("api-key", Some("api-key"))]
#[case::api_key_underscore("api_key", Some("api-key"))]
#[case::apikey("apikey", Some("api-key"))]
#[case::capitalised("OAuth", None)]
#[case::unknown("token", None)]
fn credential_kinds(#[case] input: &str, #[case] expected: Option<&str>) {
    check::<CredentialKind>(input, expected);
}

#[rstest]
#[case::oauth(CredentialKind::OAuth, "CLAUDE_CODE_OAUTH_TOKEN", "sk-ant-oat")]
#[case::api_key(CredentialKind::ApiKey, "ANTHROPIC_API_KEY", "sk-ant-api")]
fn credential_kinds_name_their_variable(
    #[case] kind: CredentialKind,
    #[case] variable: &str,
    #[case] prefix: &str,
) {
    assert_eq!(kind.env_var(), variable);
    assert_eq!(kind.expected_prefix(), prefix);
}

#[rstest]
#[case::priority("priority", Some("priority"))]
#[case::round_robin("round-robin", Some("round-robin"))]
#[case::least_used("least-used", Some("least-used"))]
#[case::underscore("round_robin", None)]
#[case::unknown("random", None)]
fn strategies(#[case] input: &str, #[case] expected: Option<&str>) {
    check::<Strategy>(input, expected);
}

#[test]
fn the_default_strategy_is_priority() {
    assert_eq!(Strategy::default(), Strategy::Priority);
}

#[rstest]
#[case::active("active", Some("active"))]
#[case::rate_limited("rate_limited", Some("rate_limited"))]
#[case::exhausted("exhausted", Some("exhausted"))]
#[case::disabled("disabled", Some("disabled"))]
#[case::unhealthy("unhealthy", Some("unhealthy"))]
#[case::dash("rate-limited", None)]
#[case::unknown("paused", None)]
fn state_kinds(#[case] input: &str, #[case] expected: Option<&str>) {
    check::<StateKind>(input, expected);
}

#[rstest]
#[case::lowercase("67e55044-10b1-426f-9247-bb680e5fe0c8", true)]
#[case::not_a_uuid("67e55044", false)]
#[case::empty("", false)]
fn ids_round_trip_as_uuids(#[case] input: &str, #[case] valid: bool) {
    assert_eq!(
        input
            .parse::<SubscriptionId>()
            .map(|id| id.to_string())
            .ok(),
        valid.then(|| input.to_owned())
    );
    assert_eq!(
        input.parse::<LeaseId>().map(|id| id.to_string()).ok(),
        valid.then(|| input.to_owned())
    );
}
