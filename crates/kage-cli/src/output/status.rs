//! `kage subscription status`: the seed's overview, then when each limited
//! subscription comes back.

use std::io;

use comfy_table::Cell;
use kage_core::PoolStatus;
use kage_domain::StateKind;
use serde::Serialize;

use super::format::{self, local_time, relative, state_color, state_short, thousands, tokens};
use super::json::{self, PoolSummaryJson, StatusJson};
use super::{Printer, table};

pub(crate) fn print(printer: &Printer, status: &PoolStatus, as_json: bool) -> io::Result<()> {
    if as_json {
        return printer.out(&render_json(status));
    }
    printer.out(&render(status, printer))
}

/// `status --json`: `{"subscriptions": […], "summary": {…}}`.
#[derive(Serialize)]
struct PoolStatusJson {
    subscriptions: Vec<StatusJson>,
    summary: PoolSummaryJson,
}

fn render_json(status: &PoolStatus) -> String {
    let summary = PoolSummaryJson {
        now: status.now.to_string(),
        subscriptions: status.subscriptions.len(),
        active: status.count(StateKind::Active),
        rate_limited: status.count(StateKind::RateLimited),
        exhausted: status.count(StateKind::Exhausted),
        unhealthy: status.count(StateKind::Unhealthy),
        disabled: status.count(StateKind::Disabled),
        live_leases: status
            .subscriptions
            .iter()
            .map(|s| u64::from(s.live_leases))
            .sum(),
        tokens_today: status.total_today(),
        removed_tokens_today: status.retired_today.total_tokens(),
        next_recovery: status
            .subscriptions
            .iter()
            .filter_map(|s| s.state.until())
            .min()
            .map(|at| at.to_string()),
    };
    json::document(&PoolStatusJson {
        subscriptions: status.subscriptions.iter().map(StatusJson::new).collect(),
        summary,
    })
}

/// Pad a header so a column is at least `width` wide, as in the seed.
fn header(text: &str, width: usize) -> String {
    format!("{text:<width$}")
}

fn render(status: &PoolStatus, printer: &Printer) -> String {
    let mut out = String::new();
    out.push_str("Subscription Pool Status\n");
    out.push_str("========================\n\n");
    let total = status.subscriptions.len();
    out.push_str(&format!(
        "Active:       {}/{}\n",
        status.count(StateKind::Active),
        total
    ));
    out.push_str(&format!(
        "Rate Limited: {}\n",
        status.count(StateKind::RateLimited)
    ));
    for (label, kind) in [
        ("Exhausted:    ", StateKind::Exhausted),
        ("Unhealthy:    ", StateKind::Unhealthy),
        ("Disabled:     ", StateKind::Disabled),
    ] {
        let count = status.count(kind);
        if count > 0 {
            out.push_str(&format!("{label}{count}\n"));
        }
    }
    let removed = status.retired_today.total_tokens();
    let removed = if removed > 0 {
        format!(" ({} on removed subscriptions)", thousands(removed))
    } else {
        String::new()
    };
    out.push_str(&format!(
        "Total Usage:  {} tokens today{removed}\n\n",
        thousands(status.total_today())
    ));

    if status.subscriptions.is_empty() {
        out.push_str("No subscriptions yet; add one with `kage subscription add --name NAME`.\n");
        return out;
    }

    let names = [
        header("Name", 16),
        header("Status", 8),
        header("Priority", 8),
        header("Today Usage", 11),
    ];
    let mut grid = table::new(&names.each_ref().map(String::as_str), printer);
    for subscription in &status.subscriptions {
        let kind = subscription.state.kind();
        grid.add_row(vec![
            Cell::new(subscription.subscription.name.as_str()),
            table::colored(state_short(kind), state_color(kind), printer),
            Cell::new(subscription.subscription.priority.to_string()),
            Cell::new(tokens(subscription.today.total_tokens())),
        ]);
    }
    out.push_str(&table::render(&grid));

    let width = status
        .subscriptions
        .iter()
        .map(|s| s.subscription.name.as_str().len())
        .max()
        .unwrap_or(0);
    let mut away: Vec<String> = Vec::new();
    let mut timed: Vec<_> = status
        .subscriptions
        .iter()
        .filter_map(|s| s.state.until().map(|until| (until, s)))
        .collect();
    timed.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| a.1.subscription.name.cmp(&b.1.subscription.name))
    });
    for (until, subscription) in timed {
        let reason = super::format::printable(subscription.state.reason().unwrap_or_default());
        let reason = if reason.is_empty() {
            subscription.state.kind().as_str().to_owned()
        } else {
            format!("{}: {reason}", subscription.state.kind().as_str())
        };
        away.push(format!(
            "  {:<width$}  back at {} ({}) — {reason}\n",
            subscription.subscription.name.as_str(),
            local_time(until, status.now, &status.time_zone),
            relative(until, status.now),
        ));
    }
    for subscription in status
        .subscriptions
        .iter()
        .filter(|s| s.state.kind() == StateKind::Disabled)
    {
        let name = subscription.subscription.name.as_str();
        let reason =
            super::format::printable(subscription.state.reason().unwrap_or("disabled by user"));
        away.push(format!(
            "  {name:<width$}  disabled ({reason}) — back with `kage subscription enable {name}`\n"
        ));
    }
    if !away.is_empty() {
        out.push_str("\nOut of the pool:\n");
        for line in away {
            out.push_str(&line);
        }
    }

    let near: Vec<&str> = status
        .subscriptions
        .iter()
        .filter(|s| s.approaching_limit && s.state.kind() == StateKind::Active)
        .map(|s| s.subscription.name.as_str())
        .collect();
    if !near.is_empty() {
        out.push_str(&format!(
            "\nNear a limit (leased after the others): {}\n",
            format::list(near)
        ));
    }
    out
}
