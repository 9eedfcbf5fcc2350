//! `kage lease …`: leases for scripts, and the helpers `kage exec` shares.

pub(crate) mod acquire;
pub(crate) mod heartbeat;
pub(crate) mod list;
pub(crate) mod release;

use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use kage_core::{AcquireError, WaitNotice};
use kage_domain::PassOverReason;

use crate::output::format::{duration, local_time, relative};
use kage_app::exit::Unavailable;

pub(crate) use kage_app::holder;

fn comes_back(
    earliest: Option<Timestamp>,
    name: Option<&kage_domain::SubscriptionName>,
    passed_over: &[kage_ports::PassedOver],
    now: Timestamp,
    zone: &TimeZone,
) -> Option<String> {
    let at = earliest?;
    let who = name.map_or_else(|| "the first one".to_owned(), ToString::to_string);
    // Only at its cap: it is not "available again" at a time, a lease of it
    // ends by then at the latest (sooner if its holder releases it).
    let at_cap = passed_over.iter().find_map(|passed| match passed.reason {
        PassOverReason::AtCapacity {
            live_leases,
            max_concurrent,
            ..
        } if Some(&passed.name) == name => Some((live_leases, max_concurrent)),
        _ => None,
    });
    if let Some((live, cap)) = at_cap {
        return Some(format!(
            "{who} is at its cap ({live}/{cap} leases); one of them ends by {} ({}) at the latest",
            local_time(at, now, zone),
            relative(at, now)
        ));
    }
    Some(format!(
        "{who} is available again at {} ({})",
        local_time(at, now, zone),
        relative(at, now)
    ))
}

/// The error for "nothing available": what happened and when the first
/// subscription comes back (exit 75). Other errors pass through.
pub(crate) fn unavailable(
    error: AcquireError,
    waited: Option<Duration>,
    now: Timestamp,
    zone: &TimeZone,
) -> anyhow::Error {
    let AcquireError::Unavailable {
        earliest_recovery,
        earliest_name,
        passed_over,
        ..
    } = error
    else {
        return error.into();
    };
    let after = waited
        .filter(|waited| !waited.is_zero())
        .map(|waited| {
            format!(
                " after waiting {}",
                duration(jiff::SignedDuration::try_from(waited).unwrap_or_default())
            )
        })
        .unwrap_or_default();
    if passed_over.is_empty() {
        return Unavailable {
            message: format!(
                "no subscription is registered{after}; add one with `kage subscription add --name NAME`"
            ),
        }
        .into();
    }
    let what = if passed_over.iter().all(|passed| passed.reason.is_limited()) {
        "every subscription is limited, busy or disabled"
    } else {
        "no subscription available for this request"
    };
    let model_limits: Vec<String> = passed_over
        .iter()
        .filter_map(|passed| match &passed.reason {
            PassOverReason::ModelLimited { family, until, .. } => Some(format!(
                "{}: {family} limit until {}",
                passed.name,
                local_time(*until, now, zone)
            )),
            _ => None,
        })
        .collect();
    let what = if model_limits.is_empty() {
        what.to_owned()
    } else {
        format!("{what} ({})", model_limits.join(", "))
    };
    let message = match comes_back(
        earliest_recovery,
        earliest_name.as_ref(),
        &passed_over,
        now,
        zone,
    ) {
        Some(back) => format!(
            "{what}{after}; {back}; wait for it with --wait, or see `kage subscription status`"
        ),
        None => format!(
            "{what}{after}, and none comes back by itself; see `kage subscription explain` (with the same --namespace/--priority/--tags) and `kage subscription status`"
        ),
    };
    Unavailable { message }.into()
}

/// What to tell people while an acquire waits.
pub(crate) fn waiting_message(notice: &WaitNotice, now: Timestamp, zone: &TimeZone) -> String {
    match comes_back(
        notice.earliest_recovery,
        notice.earliest_name.as_ref(),
        &notice.passed_over,
        now,
        zone,
    ) {
        Some(back) => format!("no subscription available yet; {back}; waiting…"),
        None => format!(
            "no subscription available yet; looking again at {}…",
            local_time(notice.until, now, zone)
        ),
    }
}
