//! Subscriptions: the add/edit/remove confirmations, `list` and `show`.

use std::io;

use comfy_table::Cell;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use kage_core::{PurgeTargets, RemovedSubscription, SubscriptionDetails};
use kage_domain::{
    CredentialSource, QuotaReport, Subscription, SubscriptionState, TransitionResult, Usage,
};
use kage_ports::RetiredSubscription;

use super::format::{self, NONE, local_datetime, local_time, relative, state_color, state_long};
use super::json::{
    self, DetailsJson, LeaseJson, ListedSubscriptionJson, ModelLimitJson, QuotaReportJson,
    StateJson, SubscriptionJson, TransitionJson, UsageJson,
};
use super::{Printer, table};

/// `5h 10% (resets 12:30), 7d 70% (resets Thu 5 Jun 00:00), reported 2m
/// ago`: the latest report of each window, and when the newest came.
fn quota_text(quota: &[QuotaReport], now: Timestamp, zone: &TimeZone) -> Option<String> {
    let newest = quota.iter().map(|report| report.reported_at).max()?;
    let windows: Vec<String> = quota
        .iter()
        .map(|report| {
            let used = format!(
                "{} {:.0}%",
                report.window.short(),
                report.utilization * 100.0
            );
            match report.resets_at {
                Some(reset) => format!("{used} (resets {})", local_time(reset, now, zone)),
                None => used,
            }
        })
        .collect();
    Some(format!(
        "{}, reported {}",
        windows.join(", "),
        relative(newest, now)
    ))
}

/// `Secret Service`, `kernel keyring`, `command `pass show …``, `environment
/// variable KEY`: where the credential lives, `keychain` naming the keychain.
fn credential_text(subscription: &Subscription, keychain: &str) -> String {
    match subscription.credential {
        CredentialSource::Keychain => keychain.to_owned(),
        _ => format::printable(&subscription.credential.describe()).into_owned(),
    }
}

/// `credential in the Secret Service`, `credential from command `…``.
fn credential_phrase(subscription: &Subscription, keychain: &str) -> String {
    match subscription.credential {
        CredentialSource::Keychain => format!("credential in the {keychain}"),
        _ => format!(
            "credential from {}",
            credential_text(subscription, keychain)
        ),
    }
}

fn cap_text(subscription: &Subscription) -> String {
    subscription
        .max_concurrent
        .map_or_else(|| "no cap".to_owned(), |cap| cap.to_string())
}

/// After `add`: one line for people.
pub(crate) fn added(printer: &Printer, subscription: &Subscription, keychain: &str) {
    let tags = if subscription.tags.is_empty() {
        String::new()
    } else {
        format!(", tags {}", format::list(&subscription.tags))
    };
    printer.info(format_args!(
        "Added subscription {} ({}, priority {}{tags}; {})",
        subscription.name,
        subscription.kind,
        subscription.priority,
        credential_phrase(subscription, keychain),
    ));
}

/// After `edit`.
pub(crate) fn edited(
    printer: &Printer,
    before: &str,
    subscription: &Subscription,
    rotated: bool,
    keychain: &str,
) {
    let renamed = if before == subscription.name.as_str() {
        String::new()
    } else {
        format!(" (renamed from {before})")
    };
    let rotated = if rotated { "; credential replaced" } else { "" };
    printer.info(format_args!(
        "Updated subscription {}{renamed}: priority {}, tags {}, kind {}, max leases {}, {}{rotated}",
        subscription.name,
        subscription.priority,
        format::list(&subscription.tags),
        subscription.kind,
        cap_text(subscription),
        credential_phrase(subscription, keychain),
    ));
}

/// After `remove`.
pub(crate) fn removed(printer: &Printer, removed: &RemovedSubscription) {
    let mut extra = Vec::new();
    if removed.live_leases > 0 {
        extra.push(match removed.purged {
            None => format!(
                "{} live lease(s) can still be released, not renewed",
                removed.live_leases
            ),
            Some(_) => format!("{} live lease(s) dropped", removed.live_leases),
        });
    }
    if removed.routes_updated > 0 {
        extra.push(format!("{} saved route(s) updated", removed.routes_updated));
    }
    if let Some(earlier) = removed.purged.filter(|earlier| *earlier > 0) {
        extra.push(format!(
            "{earlier} subscription(s) removed earlier under that name erased too"
        ));
    }
    let extra = if extra.is_empty() {
        String::new()
    } else {
        format!(" ({})", extra.join(", "))
    };
    let name = &removed.subscription.name;
    match removed.purged {
        None => printer.info(format_args!(
            "Removed subscription {name} from the pool{extra}; its usage and history are kept (`kage subscription list --all`; `--purge` erases them)"
        )),
        Some(_) => printer.info(format_args!(
            "Erased subscription {name} with its leases, usage and history{extra}"
        )),
    }
}

/// The question `remove --purge` asks before erasing.
pub(crate) fn purge_question(printer: &Printer, targets: &PurgeTargets) {
    let what = match (&targets.live, targets.retired.len()) {
        (Some(_), 0) => format!("subscription {}", targets.name),
        (Some(_), retired) => format!(
            "subscription {} and {retired} removed earlier under that name",
            targets.name
        ),
        (None, 1) => format!("removed subscription {}", targets.name),
        (None, retired) => format!("{retired} removed subscriptions named {}", targets.name),
    };
    printer.prompt(format_args!(
        "Erase {what} with every lease, usage record and transition? This cannot be undone. [y/N] "
    ));
}

/// After `enable` / `disable`.
pub(crate) fn state_changed(printer: &Printer, name: &str, result: &TransitionResult) {
    match &result.transition {
        Some(transition) => printer.info(format_args!(
            "{name}: {} → {} ({})",
            transition.from,
            transition.to,
            format::printable(&transition.reason)
        )),
        None => printer.info(format_args!(
            "{name} is already {}",
            result.health.state.kind()
        )),
    }
}

/// `kage subscription list`; with `--all`, `retired` holds the subscriptions
/// removed from the pool, listed after the others.
pub(crate) fn list(
    printer: &Printer,
    subscriptions: &[(Subscription, SubscriptionState)],
    retired: &[RetiredSubscription],
    keychain: &str,
    names_only: bool,
    as_json: bool,
) -> io::Result<()> {
    if as_json {
        let listed: Vec<ListedSubscriptionJson> = subscriptions
            .iter()
            .map(|(subscription, state)| ListedSubscriptionJson {
                subscription: SubscriptionJson::new(subscription, keychain),
                state: StateJson::new(state),
                removed_at: None,
            })
            .chain(retired.iter().map(|retired| ListedSubscriptionJson {
                subscription: SubscriptionJson::new(&retired.subscription, keychain),
                state: StateJson::new(&retired.subscription.health.state),
                removed_at: Some(retired.retired_at.to_string()),
            }))
            .collect();
        return printer.out(&json::document(&listed));
    }
    if names_only {
        let mut out = String::new();
        let names = subscriptions
            .iter()
            .map(|(subscription, _)| &subscription.name)
            .chain(retired.iter().map(|retired| &retired.subscription.name));
        for name in names {
            out.push_str(name.as_str());
            out.push('\n');
        }
        return printer.out(&out);
    }
    if subscriptions.is_empty() && retired.is_empty() {
        return printer
            .line("No subscriptions yet; add one with `kage subscription add --name NAME`.");
    }
    let mut grid = table::new(
        &[
            "Name",
            "Priority",
            "Tags",
            "Kind",
            "Max Leases",
            "Credential",
            "State",
            "Description",
        ],
        printer,
    );
    let row = |subscription: &Subscription, state: Cell| {
        vec![
            Cell::new(subscription.name.as_str()),
            Cell::new(subscription.priority.to_string()),
            Cell::new(format::list(&subscription.tags)),
            Cell::new(subscription.kind.as_str()),
            Cell::new(
                subscription
                    .max_concurrent
                    .map_or_else(|| NONE.to_owned(), |cap| cap.to_string()),
            ),
            Cell::new(credential_text(subscription, keychain)),
            state,
            Cell::new(format::printable(
                subscription.description.as_deref().unwrap_or(NONE),
            )),
        ]
    };
    for (subscription, state) in subscriptions {
        let state = table::colored(state.kind().as_str(), state_color(state.kind()), printer);
        grid.add_row(row(subscription, state));
    }
    for retired in retired {
        let removed = format!("removed {}", retired.retired_at.strftime("%Y-%m-%d"));
        grid.add_row(row(&retired.subscription, Cell::new(removed)));
    }
    printer.out(&table::render(&grid))
}

fn usage_row(label: &str, usage: &Usage) -> Vec<Cell> {
    let mut row = vec![Cell::new(label)];
    row.extend(super::usage::usage_cells(usage));
    row
}

/// `kage subscription show`.
pub(crate) fn show(
    printer: &Printer,
    details: &SubscriptionDetails,
    keychain: &str,
    now: Timestamp,
    zone: &TimeZone,
    as_json: bool,
) -> io::Result<()> {
    let status = &details.status;
    let subscription = &status.subscription;
    if as_json {
        let data = DetailsJson {
            subscription: SubscriptionJson::new(subscription, keychain),
            state: StateJson::new(&status.state),
            approaching_limit: status.approaching_limit,
            model_limits: status
                .model_limits
                .iter()
                .map(ModelLimitJson::new)
                .collect(),
            quota: status.quota.iter().map(QuotaReportJson::new).collect(),
            leases: details.leases.iter().map(LeaseJson::new).collect(),
            transitions: details
                .transitions
                .iter()
                .map(TransitionJson::new)
                .collect(),
            usage_today: UsageJson::new(&status.today),
            usage_7_days: UsageJson::new(&details.last_7_days),
            usage_30_days: UsageJson::new(&details.last_30_days),
        };
        return printer.out(&json::document(&data));
    }

    let mut out = String::new();
    let field = |out: &mut String, label: &str, value: &str| {
        out.push_str(&format!("  {:<13} {value}\n", format!("{label}:")));
    };
    out.push_str(&format!("{}\n", subscription.name));
    field(
        &mut out,
        "Description",
        &format::printable(subscription.description.as_deref().unwrap_or(NONE)),
    );
    field(&mut out, "Priority", &subscription.priority.to_string());
    field(&mut out, "Tags", &format::list(&subscription.tags));
    field(
        &mut out,
        "Kind",
        &format!(
            "{} (agents get it as {})",
            subscription.kind,
            subscription.kind.env_var()
        ),
    );
    field(
        &mut out,
        "Credential",
        &credential_text(subscription, keychain),
    );
    field(&mut out, "Max leases", &cap_text(subscription));
    field(&mut out, "ID", &subscription.id.to_string());
    field(
        &mut out,
        "Added",
        &local_datetime(subscription.created_at, zone),
    );
    let mut state = state_long(&status.state, now, zone);
    if status.approaching_limit {
        state.push_str(" (near a limit: leased after the others)");
    }
    field(&mut out, "State", &state);
    if let Some(text) = quota_text(&status.quota, now, zone) {
        field(&mut out, "Quota", &text);
    }
    for limit in &status.model_limits {
        field(
            &mut out,
            "Model limit",
            &format!(
                "{} until {} ({})",
                limit.family,
                local_time(limit.until, now, zone),
                limit.reason
            ),
        );
    }
    if let Some((utilization, at)) = subscription.health.last_utilization {
        field(
            &mut out,
            "Utilization",
            &format!("{:.0}% reported {}", utilization * 100.0, relative(at, now)),
        );
    }
    if subscription.health.consecutive_errors > 0 {
        field(
            &mut out,
            "Errors",
            &format!("{} in a row", subscription.health.consecutive_errors),
        );
    }
    field(&mut out, "Live leases", &details.leases.len().to_string());

    out.push_str("\nUsage\n");
    let mut usage = table::new(
        &[
            "Period",
            "Input",
            "Output",
            "Cache Write",
            "Cache Read",
            "Total",
            "Cost",
        ],
        printer,
    );
    usage.add_row(usage_row("Today", &status.today));
    usage.add_row(usage_row("Last 7 days", &details.last_7_days));
    usage.add_row(usage_row("Last 30 days", &details.last_30_days));
    out.push_str(&table::render(&usage));

    if !details.leases.is_empty() {
        out.push_str("\nLive leases\n");
        let mut leases = table::new(
            &["Lease", "Namespace", "Level", "Holder", "Expires"],
            printer,
        );
        for lease in &details.leases {
            leases.add_row(vec![
                Cell::new(lease.id.to_string()),
                Cell::new(lease.namespace.as_ref().map_or(NONE, |n| n.as_str())),
                Cell::new(lease.level.as_str()),
                Cell::new(format::printable(&lease.holder)),
                Cell::new(format!(
                    "{} ({})",
                    local_time(lease.expires_at, now, zone),
                    relative(lease.expires_at, now)
                )),
            ]);
        }
        out.push_str(&table::render(&leases));
    }

    out.push_str("\nRecent transitions\n");
    if details.transitions.is_empty() {
        out.push_str("  none yet: it has been active since it was added\n");
    } else {
        let mut history = table::new(&["When", "From", "To", "Until", "Reason"], printer);
        for recorded in &details.transitions {
            let transition = &recorded.transition;
            history.add_row(vec![
                Cell::new(local_time(transition.at, now, zone)),
                Cell::new(transition.from.as_str()),
                table::colored(transition.to.as_str(), state_color(transition.to), printer),
                Cell::new(
                    transition
                        .until
                        .map_or_else(|| NONE.to_owned(), |until| local_time(until, now, zone)),
                ),
                Cell::new(format::printable(&transition.reason)),
            ]);
        }
        out.push_str(&table::render(&history));
    }
    printer.out(&out)
}

/// `add --json`, `edit --json`: the subscription as `list --json` shows it.
pub(crate) fn subscription_json(
    printer: &Printer,
    subscription: &Subscription,
    keychain: &str,
) -> io::Result<()> {
    printer.out(&json::document(&SubscriptionJson::new(
        subscription,
        keychain,
    )))
}

/// `remove --json`.
pub(crate) fn removed_json(printer: &Printer, removed: &RemovedSubscription) -> io::Result<()> {
    printer.out(&json::document(&json::RemovedJson {
        removed: removed.subscription.name.to_string(),
        id: removed.subscription.id.to_string(),
        purged: removed.purged.is_some(),
        earlier_erased: removed.purged.unwrap_or(0),
        live_leases: removed.live_leases,
        routes_updated: removed.routes_updated,
    }))
}

/// `enable --json`, `disable --json`.
pub(crate) fn state_changed_json(
    printer: &Printer,
    name: &str,
    result: &TransitionResult,
) -> io::Result<()> {
    printer.out(&json::document(&json::StateChangedJson {
        name: name.to_owned(),
        changed: result.transition.is_some(),
        state: StateJson::new(&result.health.state),
    }))
}
