//! Identifiers: opaque UUIDs made by the caller (the domain makes no randomness).

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

/// The stable identity of a subscription; it survives renames and is the
/// keychain account name of its credential.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct SubscriptionId(Uuid);

/// The identity of one lease.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct LeaseId(Uuid);

macro_rules! uuid_id {
    ($name:ident) => {
        impl $name {
            pub fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(text).map(Self)
            }
        }
    };
}

uuid_id!(SubscriptionId);
uuid_id!(LeaseId);
