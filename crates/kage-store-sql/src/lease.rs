//! The pure parts of acquire and release that both backends share.

use kage_domain::{PassOverReason, PoolSnapshot, Subscription, Timestamp};
use kage_ports::{AcquireLeaseRequest, AcquireOutcome, Lease, PassedOver};

use crate::codec::after;

/// "None available", naming every subscription with its reason.
/// Domain selection with exactly the inputs of the request.
pub(crate) fn select(
    snapshot: &PoolSnapshot,
    request: &AcquireLeaseRequest,
    now: Timestamp,
) -> kage_domain::Selection {
    kage_domain::select(
        snapshot,
        &request.rules,
        &request.policy,
        &request.selection,
        now,
    )
}

pub(crate) fn unavailable(
    snapshot: &PoolSnapshot,
    earliest_recovery: Option<Timestamp>,
    passed_over: Vec<(usize, PassOverReason)>,
) -> AcquireOutcome {
    let passed_over = passed_over
        .into_iter()
        .map(|(index, reason)| PassedOver {
            name: snapshot.entries[index].subscription.name.clone(),
            reason,
        })
        .collect();
    AcquireOutcome::Unavailable {
        earliest_recovery,
        passed_over,
    }
}

/// The lease an acquire grants on `subscription` at `now`.
pub(crate) fn new_lease(
    request: &AcquireLeaseRequest,
    subscription: &Subscription,
    now: Timestamp,
) -> Lease {
    Lease {
        id: request.lease_id,
        subscription_id: subscription.id,
        subscription_name: subscription.name.clone(),
        kind: subscription.kind,
        namespace: request.selection.namespace.clone(),
        level: request.selection.level,
        holder: request.holder.clone(),
        acquired_at: now,
        expires_at: after(now, request.ttl),
        released_at: None,
    }
}
