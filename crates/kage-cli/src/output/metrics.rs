//! `kage metrics`: the pool's figures in the Prometheus text exposition
//! format (version 0.0.4), printed for a node-exporter textfile collector
//! or served by `kage metrics --listen`. Names follow Prometheus's
//! conventions: the unit last (`_tokens`, `_usd`, `_ratio`,
//! `_timestamp_seconds`), `_total` on counters.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;

use kage_core::MetricsSnapshot;
use kage_domain::{StateKind, Usage};

use super::Printer;
use super::format::usd_decimal;

/// A label value with `\`, `"` and line breaks escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

const TOKEN_KINDS: [&str; 4] = ["input", "output", "cache_write", "cache_read"];

fn token_values(usage: &Usage) -> [u64; 4] {
    [
        usage.input_tokens,
        usage.output_tokens,
        usage.cache_write_tokens,
        usage.cache_read_tokens,
    ]
}

pub(crate) fn render(snapshot: &MetricsSnapshot) -> String {
    let status = &snapshot.status;
    let mut out = String::new();
    let subscriptions: Vec<_> = status
        .subscriptions
        .iter()
        .map(|s| (escape(s.subscription.name.as_str()), s))
        .collect();

    family(
        &mut out,
        "kage_subscription_state",
        "gauge",
        "Whether the subscription is in this state now (1) or not (0).",
    );
    for (name, subscription) in &subscriptions {
        for kind in StateKind::ALL {
            let value = u8::from(subscription.state.kind() == kind);
            let _ = writeln!(
                out,
                "kage_subscription_state{{subscription=\"{name}\",state=\"{kind}\"}} {value}"
            );
        }
    }

    family(
        &mut out,
        "kage_subscription_state_until_timestamp_seconds",
        "gauge",
        "Unix time at which the subscription's rate_limited, exhausted or unhealthy state ends.",
    );
    for (name, subscription) in &subscriptions {
        if let Some(until) = subscription.state.until() {
            let _ = writeln!(
                out,
                "kage_subscription_state_until_timestamp_seconds{{subscription=\"{name}\"}} {}",
                until.as_second()
            );
        }
    }

    family(
        &mut out,
        "kage_subscription_priority",
        "gauge",
        "The subscription's priority, 0 (lowest) to 255 (highest).",
    );
    for (name, subscription) in &subscriptions {
        let _ = writeln!(
            out,
            "kage_subscription_priority{{subscription=\"{name}\"}} {}",
            subscription.subscription.priority
        );
    }

    family(
        &mut out,
        "kage_subscription_live_leases",
        "gauge",
        "Unexpired, unreleased leases on the subscription.",
    );
    for (name, subscription) in &subscriptions {
        let _ = writeln!(
            out,
            "kage_subscription_live_leases{{subscription=\"{name}\"}} {}",
            subscription.live_leases
        );
    }

    family(
        &mut out,
        "kage_subscription_approaching_limit",
        "gauge",
        "1 when the subscription is near a limit and is leased after the others.",
    );
    for (name, subscription) in &subscriptions {
        let _ = writeln!(
            out,
            "kage_subscription_approaching_limit{{subscription=\"{name}\"}} {}",
            u8::from(subscription.approaching_limit)
        );
    }

    family(
        &mut out,
        "kage_subscription_quota_utilization_ratio",
        "gauge",
        "The latest share of the subscription's quota window reported used (0 to 1, may exceed 1).",
    );
    for (name, subscription) in &subscriptions {
        if let Some((utilization, _)) = subscription.subscription.health.last_utilization {
            let _ = writeln!(
                out,
                "kage_subscription_quota_utilization_ratio{{subscription=\"{name}\"}} {utilization}"
            );
        }
    }

    family(
        &mut out,
        "kage_subscription_quota_utilization_reported_timestamp_seconds",
        "gauge",
        "Unix time at which the subscription's quota utilization was last reported.",
    );
    for (name, subscription) in &subscriptions {
        if let Some((_, at)) = subscription.subscription.health.last_utilization {
            let _ = writeln!(
                out,
                "kage_subscription_quota_utilization_reported_timestamp_seconds{{subscription=\"{name}\"}} {}",
                at.as_second()
            );
        }
    }

    family(
        &mut out,
        "kage_subscription_today_tokens",
        "gauge",
        "Tokens spent on the subscription since local midnight, by kind.",
    );
    for (name, subscription) in &subscriptions {
        for (kind, value) in TOKEN_KINDS.iter().zip(token_values(&subscription.today)) {
            let _ = writeln!(
                out,
                "kage_subscription_today_tokens{{subscription=\"{name}\",kind=\"{kind}\"}} {value}"
            );
        }
    }

    family(
        &mut out,
        "kage_subscription_today_cost_usd",
        "gauge",
        "Cost reported for the subscription since local midnight, in US dollars.",
    );
    for (name, subscription) in &subscriptions {
        let micros = subscription.today.cost_micros_usd.unwrap_or(0);
        let _ = writeln!(
            out,
            "kage_subscription_today_cost_usd{{subscription=\"{name}\"}} {}",
            usd_decimal(micros)
        );
    }

    family(
        &mut out,
        "kage_subscription_transitions_total",
        "counter",
        "State transitions of the subscription since it was added, by the state entered.",
    );
    let mut counts: BTreeMap<(&str, StateKind), u64> = BTreeMap::new();
    for (name, kind, count) in &snapshot.transitions {
        *counts.entry((name.as_str(), *kind)).or_default() += count;
    }
    for (name, subscription) in &subscriptions {
        for kind in StateKind::ALL {
            let count = counts
                .get(&(subscription.subscription.name.as_str(), kind))
                .copied()
                .unwrap_or(0);
            let _ = writeln!(
                out,
                "kage_subscription_transitions_total{{subscription=\"{name}\",to=\"{kind}\"}} {count}"
            );
        }
    }

    family(
        &mut out,
        "kage_pool_subscriptions",
        "gauge",
        "Subscriptions in the pool, by state.",
    );
    for kind in StateKind::ALL {
        let _ = writeln!(
            out,
            "kage_pool_subscriptions{{state=\"{kind}\"}} {}",
            status.count(kind)
        );
    }

    family(
        &mut out,
        "kage_pool_live_leases",
        "gauge",
        "Unexpired, unreleased leases in the whole pool.",
    );
    let live: u64 = status
        .subscriptions
        .iter()
        .map(|s| u64::from(s.live_leases))
        .sum();
    let _ = writeln!(out, "kage_pool_live_leases {live}");

    family(
        &mut out,
        "kage_pool_today_tokens",
        "gauge",
        "Tokens spent in the whole pool since local midnight, by kind (removed subscriptions' included).",
    );
    // Removed subscriptions' usage today counts too.
    let total = status.usage_today();
    for (kind, value) in TOKEN_KINDS.iter().zip(token_values(&total)) {
        let _ = writeln!(out, "kage_pool_today_tokens{{kind=\"{kind}\"}} {value}");
    }

    family(
        &mut out,
        "kage_pool_today_cost_usd",
        "gauge",
        "Cost reported in the whole pool since local midnight, in US dollars.",
    );
    let _ = writeln!(
        out,
        "kage_pool_today_cost_usd {}",
        usd_decimal(total.cost_micros_usd.unwrap_or(0))
    );
    out
}

pub(crate) fn print(printer: &Printer, snapshot: &MetricsSnapshot) -> io::Result<()> {
    printer.out(&render(snapshot))
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape("line\nbreak"), r"line\nbreak");
        assert_eq!(escape("plain-name"), "plain-name");
    }
}
