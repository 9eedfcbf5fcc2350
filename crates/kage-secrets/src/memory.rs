//! Test double: [`InMemoryKeychain`] and [`InMemorySecretStore`].
//!
//! **For tests only.** Keychain credentials live in a map inside the
//! process and vanish with it. Command and environment sources go through
//! the same dispatch code as the real store, so they really run commands and
//! read the environment (or a lookup given with
//! [`SourceDispatchingSecretStore::with_env_lookup`]).
//!
//! Faults can be injected to test callers' error paths: a locked or missing
//! keychain ([`InMemoryKeychain::set_fault`]) and an entry deleted behind
//! Kage's back ([`InMemoryKeychain::remove_behind_kage`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use kage_domain::SubscriptionId;
use secrecy::{ExposeSecret, SecretString};

use crate::dispatch::SourceDispatchingSecretStore;
use crate::keychain::{KeychainBackend, KeychainError};

/// A [`crate::SecretStore`] whose keychain is an in-memory map. Test double.
pub type InMemorySecretStore = SourceDispatchingSecretStore<InMemoryKeychain>;

impl InMemorySecretStore {
    /// An empty in-memory store reading the process environment.
    pub fn new() -> Self {
        Self::from_keychain(Arc::new(InMemoryKeychain::default()))
    }
}

impl Default for InMemorySecretStore {
    fn default() -> Self {
        Self::new()
    }
}

/// A fault an [`InMemoryKeychain`] reports on every call while it is set.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum KeychainFault {
    /// As if the keychain were locked.
    Locked,
    /// As if there were no keychain on this host.
    Unavailable,
}

/// The name an [`InMemoryKeychain`] reports.
pub const IN_MEMORY_KEYCHAIN_NAME: &str = "in-memory test keychain";

/// Keychain entries in a map. Test double.
#[derive(Default)]
pub struct InMemoryKeychain {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    entries: HashMap<SubscriptionId, SecretString>,
    fault: Option<KeychainFault>,
}

impl std::fmt::Debug for InMemoryKeychain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state();
        f.debug_struct("InMemoryKeychain")
            .field("entries", &state.entries.len())
            .field("fault", &state.fault)
            .finish()
    }
}

impl InMemoryKeychain {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `account` has an entry.
    pub fn contains(&self, account: SubscriptionId) -> bool {
        self.state().entries.contains_key(&account)
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.state().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Delete an entry as a user with a keychain tool would, bypassing any
    /// fault. Returns whether there was one.
    pub fn remove_behind_kage(&self, account: SubscriptionId) -> bool {
        self.state().entries.remove(&account).is_some()
    }

    /// Make every call fail with `fault` (or work again with `None`).
    pub fn set_fault(&self, fault: Option<KeychainFault>) {
        self.state().fault = fault;
    }

    fn check(state: &State) -> Result<(), KeychainError> {
        match state.fault {
            None => Ok(()),
            Some(KeychainFault::Locked) => Err(KeychainError::Locked {
                detail: "the in-memory test keychain is set to locked".to_owned(),
            }),
            Some(KeychainFault::Unavailable) => Err(KeychainError::Unavailable {
                detail: "the in-memory test keychain is set to unavailable".to_owned(),
            }),
        }
    }
}

impl KeychainBackend for InMemoryKeychain {
    fn probe(&self) -> Result<String, KeychainError> {
        let fault = self.state().fault;
        match fault {
            // A locked keychain still exists: only "unavailable" fails here.
            Some(KeychainFault::Unavailable) => Err(KeychainError::Unavailable {
                detail: "the in-memory test keychain is set to unavailable".to_owned(),
            }),
            Some(KeychainFault::Locked) | None => Ok(IN_MEMORY_KEYCHAIN_NAME.to_owned()),
        }
    }

    fn set(&self, account: SubscriptionId, secret: &SecretString) -> Result<(), KeychainError> {
        let mut state = self.state();
        Self::check(&state)?;
        state.entries.insert(
            account,
            SecretString::from(secret.expose_secret().to_owned()),
        );
        Ok(())
    }

    fn get(&self, account: SubscriptionId) -> Result<SecretString, KeychainError> {
        let state = self.state();
        Self::check(&state)?;
        state
            .entries
            .get(&account)
            .map(|secret| SecretString::from(secret.expose_secret().to_owned()))
            .ok_or(KeychainError::NotFound)
    }

    fn delete(&self, account: SubscriptionId) -> Result<(), KeychainError> {
        let mut state = self.state();
        Self::check(&state)?;
        state
            .entries
            .remove(&account)
            .map(drop)
            .ok_or(KeychainError::NotFound)
    }
}
