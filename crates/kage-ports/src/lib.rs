//! Ports: what Kage's application services need from the outside world.
//!
//! - [`SubscriptionStore`]: the pool's persistent state (subscriptions,
//!   routes, leases, usage, state events), implemented by `kage-store-sql`.
//! - [`SecretStore`]: where credentials live, implemented by `kage-secrets`.
//! - [`Clock`]: the current time, the local zone, and waiting.
//!
//! With the `mocks` feature every trait has a mockall mock (`MockClock`, …).

mod clock;
mod secrets;
mod store;

pub use clock::{Clock, FixedClock, SystemClock};
pub use secrets::{SecretError, SecretStore};
pub use store::{
    AcquireLeaseRequest, AcquireOutcome, DailyUsage, KeyedUsage, Lease, LeaseError, PassedOver,
    ReadOffset, RecordedTransition, ReleaseLeaseRequest, ReleaseReport, RetiredSubscription,
    StoreError, SubscriptionStore, UsageBatch, UsageQuery, WAITER_REFRESH, Waiter,
};

#[cfg(feature = "mocks")]
pub use clock::MockClock;
#[cfg(feature = "mocks")]
pub use secrets::MockSecretStore;
#[cfg(feature = "mocks")]
pub use store::MockSubscriptionStore;

/// Re-exported so adapters and apps name the same secret type.
pub use secrecy::{ExposeSecret, SecretString};
