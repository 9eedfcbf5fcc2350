//! Leases: what `kage lease …` and `kage exec` print. Never a credential.

use std::io;

use comfy_table::Cell;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use kage_domain::Usage;
use kage_ports::{Lease, ReleaseReport};

use super::format::{NONE, local_time, relative, state_long, thousands};
use serde::Serialize;

use super::json::{self, LeaseJson, UsageJson};
use super::{Printer, table};

/// `kage lease acquire`: `ID SUBSCRIPTION` on stdout (or the JSON record).
pub(crate) fn acquired(
    printer: &Printer,
    lease: &Lease,
    now: Timestamp,
    zone: &TimeZone,
    as_json: bool,
) -> io::Result<()> {
    if as_json {
        printer.out(&json::document(&LeaseJson::new(lease)))?;
    } else {
        printer.line(format_args!("{} {}", lease.id, lease.subscription_name))?;
    }
    printer.hint(format_args!(
        "leased {} until {} ({}); keep it with `kage lease heartbeat {}`, end it with `kage lease release {}`",
        lease.subscription_name,
        local_time(lease.expires_at, now, zone),
        relative(lease.expires_at, now),
        lease.id,
        lease.id
    ));
    Ok(())
}

/// `kage lease heartbeat`.
pub(crate) fn heartbeat(
    printer: &Printer,
    lease: &Lease,
    now: Timestamp,
    zone: &TimeZone,
    as_json: bool,
) -> io::Result<()> {
    if as_json {
        return printer.out(&json::document(&LeaseJson::new(lease)));
    }
    printer.info(format_args!(
        "Lease {} on {} now expires at {} ({})",
        lease.id,
        lease.subscription_name,
        local_time(lease.expires_at, now, zone),
        relative(lease.expires_at, now)
    ));
    Ok(())
}

/// `kage lease release --json`: the lease as it ended, what was reported,
/// and the subscription's state change, as one document on stdout.
pub(crate) fn released_json(
    printer: &Printer,
    report: &ReleaseReport,
    outcome: &str,
    usage: &Usage,
) -> io::Result<()> {
    let data = ReleasedJson {
        lease: LeaseJson::new(&report.lease),
        outcome: outcome.to_owned(),
        usage: UsageJson::new(usage),
        was_expired: report.was_expired,
        transition: report
            .transition
            .as_ref()
            .map(|transition| StateChangeJson {
                from: transition.from.as_str(),
                to: transition.to.as_str(),
                until: transition.until.map(|at| at.to_string()),
                reason: transition.reason.clone(),
            }),
    };
    printer.out(&json::document(&data))
}

#[derive(Serialize)]
struct ReleasedJson {
    lease: LeaseJson,
    outcome: String,
    usage: UsageJson,
    /// The lease had expired without a heartbeat before this release.
    was_expired: bool,
    /// The subscription's state change this release caused, if any.
    transition: Option<StateChangeJson>,
}

#[derive(Serialize)]
struct StateChangeJson {
    from: &'static str,
    to: &'static str,
    until: Option<String>,
    reason: String,
}

/// `kage lease release` (and the end of `kage exec`).
pub(crate) fn released(
    printer: &Printer,
    report: &ReleaseReport,
    outcome: &str,
    usage: &Usage,
    now: Timestamp,
    zone: &TimeZone,
) {
    let usage_text = if usage.total_tokens() > 0 {
        format!("; {} tokens", thousands(usage.total_tokens()))
    } else {
        String::new()
    };
    printer.info(format_args!(
        "Released lease {} on {} ({outcome}{usage_text})",
        report.lease.id, report.lease.subscription_name
    ));
    if report.was_expired {
        printer.warn(format_args!(
            "lease {} had expired at {} without a heartbeat; its outcome and usage were recorded all the same",
            report.lease.id,
            local_time(report.lease.expires_at, now, zone)
        ));
    }
    if let Some(transition) = &report.transition {
        let state = kage_domain::SubscriptionState::from_parts(
            transition.to,
            transition.until,
            Some(transition.reason.clone()),
        );
        printer.info(format_args!(
            "{}: {} → {}",
            report.lease.subscription_name,
            transition.from,
            state_long(&state, now, zone)
        ));
    }
}

/// `kage lease list`.
pub(crate) fn list(
    printer: &Printer,
    leases: &[Lease],
    now: Timestamp,
    zone: &TimeZone,
    as_json: bool,
) -> io::Result<()> {
    if as_json {
        let leases: Vec<LeaseJson> = leases.iter().map(LeaseJson::new).collect();
        return printer.out(&json::document(&leases));
    }
    if leases.is_empty() {
        return printer.line("No live leases.");
    }
    let mut grid = table::new(
        &[
            "Lease",
            "Subscription",
            "Namespace",
            "Level",
            "Holder",
            "Acquired",
            "Expires",
        ],
        printer,
    );
    for lease in leases {
        grid.add_row(vec![
            Cell::new(lease.id.to_string()),
            Cell::new(lease.subscription_name.as_str()),
            Cell::new(lease.namespace.as_ref().map_or(NONE, |n| n.as_str())),
            Cell::new(lease.level.as_str()),
            Cell::new(super::format::printable(&lease.holder)),
            Cell::new(local_time(lease.acquired_at, now, zone)),
            Cell::new(format!(
                "{} ({})",
                local_time(lease.expires_at, now, zone),
                relative(lease.expires_at, now)
            )),
        ]);
    }
    printer.out(&table::render(&grid))
}
