//! Kage's application services: the use cases behind every command.
//!
//! [`Pool`] is generic over the ports (store, secrets, clock) and holds the
//! settings from the config file. Apps construct the adapters and a `Pool`;
//! everything a command does goes through one of its methods. Each operation
//! has its own error enum.

mod alerts;
mod errors;
pub mod launch;
mod leases;
mod pool;
mod reports;
mod routes;
mod subscriptions;

pub use alerts::{ALERT_LOOKBACK, record_quota_alerts};
pub use errors::{
    AcquireError, AddSubscriptionError, CredentialError, EditSubscriptionError, PoolError,
    RemoveSubscriptionError, RouteError,
};
pub use leases::{AcquireRequest, LeaseGrant, ReleaseRequest, SignalRecord, WaitNotice};
pub use pool::{Pool, PoolSettings};
pub use reports::{
    MetricsSnapshot, Period, PoolStatus, SubscriptionDetails, SubscriptionStatus, TopSnapshot,
    UsageOwner, UsageReport, UsageRequest, UsageRow,
};
pub use routes::{Explanation, ExplanationLine, RouteChange, RouteSource, RouteView};
pub use subscriptions::{
    AddSubscriptionRequest, CredentialInput, EditSubscriptionRequest, PurgeTargets,
    RemovedSubscription,
};
