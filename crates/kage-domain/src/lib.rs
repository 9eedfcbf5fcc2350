//! Kage's domain: the pure model of a subscription pool.
//!
//! Everything here is a value or a pure function: validated names, the five
//! subscription states and their transitions, routing rules, the three
//! selection strategies, and the classification of what an agent reported into
//! an [`Outcome`]. Nothing here reads a clock, a file, a socket or the
//! environment; callers pass `now` and the policies in.

pub mod alert;
mod ids;
mod names;
mod nearest;
mod outcome;
mod policy;
mod redact;
pub mod reset_text;
mod routing;
mod selection;
pub mod signal;
mod state;
mod subscription;
mod transition;

pub use alert::{AlertThresholds, QuotaAlert};
pub use ids::{LeaseId, SubscriptionId};
pub use jiff::{SignedDuration, Timestamp};
pub use names::{
    CredentialKind, InvalidName, Namespace, Priority, PriorityLevel, SubscriptionName, Tag,
    plain_text,
};
pub use nearest::nearest;
pub use outcome::{ErrorKind, MAX_PER_RECORD, Outcome, Usage};
pub use policy::{
    MAX_DURATION, MIN_LEASE_TTL, StatePolicy, Strategy, UnknownStrategy, bounded_lease_ttl,
};
pub use redact::redact_url;
pub use routing::{RouteEntry, RouteTarget, RoutingRules, UnknownRouteTarget};
pub use selection::{
    PassOverReason, PoolEntry, PoolSnapshot, Ranked, Selection, SelectionPolicy, SelectionRequest,
    explain, is_approaching_limit, select,
};
pub use state::{Health, StateKind, SubscriptionState, UnknownStateKind};
pub use subscription::{CredentialSource, Subscription};
pub use transition::{StateTransition, TransitionResult, apply_outcome, disable, enable};
