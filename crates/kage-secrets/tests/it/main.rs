//! Integration tests of kage-secrets: the command and environment sources,
//! the in-memory and file keychains through the real dispatch code, store
//! selection, the credential shape check, and that no error ever shows a
//! secret. `keychain_real` (feature `keychain-tests`) runs against the OS
//! keychain; see `tests/run-keychain-tests.sh`.

// The command tests script misbehaving commands with `sh`.
#[cfg(unix)]
mod command;
mod dispatch;
mod env;
mod file;
#[cfg(all(feature = "keychain-tests", target_os = "linux"))]
mod keychain_real;
mod memory;
mod select;
mod shape;
mod story;

use kage_domain::{SubscriptionId, SubscriptionName};
use kage_secrets::SecretError;

/// An obviously fake credential that must never show up in any message.
pub(crate) const CANARY: &str = "sk-ant-oat01-CANARY-DO-NOT-LEAK-7f3a9c2e";
/// A second canary, for replace tests.
pub(crate) const CANARY_2: &str = "sk-ant-oat01-CANARY-DO-NOT-LEAK-SECOND-51d0";

pub(crate) fn new_id() -> SubscriptionId {
    SubscriptionId::from_uuid(uuid::Uuid::new_v4())
}

pub(crate) fn name(text: &str) -> SubscriptionName {
    SubscriptionName::new(text).expect("valid subscription name")
}

/// Every rendering of `error` (Display, the full chain, Debug), checked for
/// the canaries; returns the one-line message for further checks.
pub(crate) fn message_without_canary(error: &SecretError) -> String {
    let renderings = [
        error.to_string(),
        format!("{error:?}"),
        match error {
            SecretError::Unknown(inner) => format!("{inner:#}"),
            _ => String::new(),
        },
    ];
    for rendering in &renderings {
        for canary in [CANARY, CANARY_2, "CANARY-DO-NOT-LEAK"] {
            assert!(
                !rendering.contains(canary),
                "an error leaks a secret: {rendering}"
            );
        }
    }
    match error {
        SecretError::Unknown(inner) => format!("{inner:#}"),
        _ => error.to_string(),
    }
}
