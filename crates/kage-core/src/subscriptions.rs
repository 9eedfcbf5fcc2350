//! Adding, editing, removing, enabling and disabling subscriptions.

use std::collections::BTreeSet;

use kage_domain::{
    CredentialKind, CredentialSource, Priority, RouteEntry, Subscription, SubscriptionId,
    SubscriptionName, Tag, TransitionResult,
};
use kage_ports::{Clock, RetiredSubscription, SecretStore, SecretString, SubscriptionStore};
use uuid::Uuid;

use crate::errors::{
    AddSubscriptionError, EditSubscriptionError, PoolError, RemoveSubscriptionError,
};
use crate::pool::Pool;

/// Where a new credential comes from.
pub enum CredentialInput {
    /// A secret typed or piped in; stored in the OS keychain.
    Keychain(SecretString),
    /// A command whose standard output is the credential.
    Command(String),
    /// An environment variable read at lease time.
    Env(String),
}

impl CredentialInput {
    fn source(&self) -> CredentialSource {
        match self {
            Self::Keychain(_) => CredentialSource::Keychain,
            Self::Command(command) => CredentialSource::Command(command.clone()),
            Self::Env(variable) => CredentialSource::Env(variable.clone()),
        }
    }
}

pub struct AddSubscriptionRequest {
    pub name: SubscriptionName,
    pub description: Option<String>,
    pub priority: Priority,
    pub tags: BTreeSet<Tag>,
    pub kind: CredentialKind,
    pub credential: CredentialInput,
    pub max_concurrent: Option<u32>,
}

/// What to change; `None` leaves a setting as it is.
#[derive(Default)]
pub struct EditSubscriptionRequest {
    pub name: Option<SubscriptionName>,
    pub description: Option<Option<String>>,
    pub priority: Option<Priority>,
    /// Replace every tag.
    pub tags: Option<BTreeSet<Tag>>,
    pub add_tags: BTreeSet<Tag>,
    pub remove_tags: BTreeSet<Tag>,
    pub kind: Option<CredentialKind>,
    pub max_concurrent: Option<Option<u32>>,
    /// A new credential or a new source for it.
    pub credential: Option<CredentialInput>,
}

impl EditSubscriptionRequest {
    fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.description.is_none()
            && self.priority.is_none()
            && self.tags.is_none()
            && self.add_tags.is_empty()
            && self.remove_tags.is_empty()
            && self.kind.is_none()
            && self.max_concurrent.is_none()
            && self.credential.is_none()
    }
}

/// What `remove` did.
#[derive(Clone, Debug)]
pub struct RemovedSubscription {
    /// The subscription in the pool by that name; for a purge of retired
    /// ones only, the newest of them.
    pub subscription: Subscription,
    /// Live leases on it: after a retirement they are still released with
    /// their usage but no longer renewed; after a purge they are gone.
    pub live_leases: usize,
    /// Saved routes that named it and were updated.
    pub routes_updated: usize,
    /// `None`: retired, its history kept. `Some(n)`: erased for good, with
    /// `n` subscriptions of that name retired earlier.
    pub purged: Option<usize>,
}

/// What `remove --purge` of a name would erase: the subscription in the
/// pool by that name, and those retired under it.
#[derive(Clone, Debug)]
pub struct PurgeTargets {
    pub name: SubscriptionName,
    pub live: Option<Subscription>,
    pub retired: Vec<RetiredSubscription>,
}

impl<S, K, C> Pool<S, K, C>
where
    S: SubscriptionStore,
    K: SecretStore,
    C: Clock,
{
    /// Register a subscription. A keychain credential is stored first; if
    /// the row cannot be written, the credential is deleted again.
    pub async fn add_subscription(
        &self,
        request: AddSubscriptionRequest,
    ) -> Result<Subscription, AddSubscriptionError> {
        let id = SubscriptionId::from_uuid(Uuid::new_v4());
        let mut subscription = Subscription::new(id, request.name, self.clock.now());
        subscription.description = request.description;
        subscription.priority = request.priority;
        subscription.tags = request.tags;
        subscription.kind = request.kind;
        subscription.credential = request.credential.source();
        subscription.max_concurrent = request.max_concurrent;

        if self
            .store
            .subscription_by_name(&subscription.name)
            .await?
            .is_some()
        {
            return Err(kage_ports::StoreError::NameTaken(subscription.name).into());
        }
        if let CredentialInput::Keychain(secret) = request.credential {
            self.secrets
                .store(id, &subscription.name, &subscription.credential, secret)
                .await
                .map_err(|source| AddSubscriptionError::Secret {
                    name: subscription.name.clone(),
                    source,
                })?;
        }
        if let Err(error) = self.store.insert_subscription(&subscription).await {
            if subscription.credential == CredentialSource::Keychain
                && let Err(cleanup) = self
                    .secrets
                    .delete(id, &subscription.name, &subscription.credential)
                    .await
            {
                tracing::warn!(subscription = %subscription.name, error = %cleanup, "could not delete the credential of a subscription that was not added");
            }
            return Err(error.into());
        }
        tracing::info!(subscription = %subscription.name, id = %id, "subscription added");
        Ok(subscription)
    }

    /// Change a subscription's settings or credential. A rename keeps the
    /// keychain entry (it is keyed by id) and updates saved routes.
    pub async fn edit_subscription(
        &self,
        name: &SubscriptionName,
        request: EditSubscriptionRequest,
    ) -> Result<Subscription, EditSubscriptionError> {
        if request.is_empty() {
            return Err(EditSubscriptionError::NothingToChange);
        }
        let before = self.find(name).await?;
        let mut subscription = before.clone();
        if let Some(new_name) = request.name {
            subscription.name = new_name;
        }
        if let Some(description) = request.description {
            subscription.description = description;
        }
        if let Some(priority) = request.priority {
            subscription.priority = priority;
        }
        if let Some(tags) = request.tags {
            subscription.tags = tags;
        }
        subscription.tags.extend(request.add_tags);
        subscription
            .tags
            .retain(|tag| !request.remove_tags.contains(tag));
        if let Some(kind) = request.kind {
            subscription.kind = kind;
        }
        if let Some(max_concurrent) = request.max_concurrent {
            subscription.max_concurrent = max_concurrent;
        }
        if let Some(credential) = request.credential {
            subscription.credential = credential.source();
            if let CredentialInput::Keychain(secret) = credential {
                self.secrets
                    .store(
                        subscription.id,
                        &subscription.name,
                        &CredentialSource::Keychain,
                        secret,
                    )
                    .await
                    .map_err(|source| EditSubscriptionError::Secret {
                        name: subscription.name.clone(),
                        source,
                    })?;
            }
        }
        self.store.update_subscription(&subscription).await?;
        if before.credential == CredentialSource::Keychain
            && subscription.credential != CredentialSource::Keychain
            && let Err(error) = self
                .secrets
                .delete(before.id, &before.name, &before.credential)
                .await
        {
            tracing::warn!(subscription = %subscription.name, %error, "could not delete the old keychain credential");
        }
        if subscription.name != before.name {
            self.rename_in_saved_routes(&before.name, Some(&subscription.name))
                .await?;
        }
        Ok(subscription)
    }

    /// Remove a subscription from the pool: it is retired (left out of
    /// selection, lists and lookups by name, which a new subscription may
    /// take), its usage, transitions and leases are kept, its unreleased
    /// leases can still be released. Its credential (when Kage stored it)
    /// and its mentions in saved routes are deleted. Refused while it holds
    /// live leases unless `force`.
    pub async fn remove_subscription(
        &self,
        name: &SubscriptionName,
        force: bool,
    ) -> Result<RemovedSubscription, RemoveSubscriptionError> {
        let subscription = match self.store.subscription_by_name(name).await? {
            Some(subscription) => subscription,
            None if self.retired_named(name).await?.is_empty() => {
                return Err(self.missing(name).await.into());
            }
            None => {
                return Err(RemoveSubscriptionError::AlreadyRemoved { name: name.clone() });
            }
        };
        let live = self.live_leases_on(&[subscription.id]).await?;
        if live > 0 && !force {
            return Err(RemoveSubscriptionError::HasLiveLeases {
                name: subscription.name,
                live,
            });
        }
        self.store
            .retire_subscription(subscription.id, self.clock.now())
            .await?;
        let routes_updated = self.forget(&subscription).await?;
        Ok(RemovedSubscription {
            subscription,
            live_leases: live,
            routes_updated,
            purged: None,
        })
    }

    /// The retired subscriptions, by name, oldest retirement first.
    pub async fn retired(&self) -> Result<Vec<RetiredSubscription>, PoolError> {
        Ok(self.store.retired_subscriptions().await?)
    }

    async fn retired_named(
        &self,
        name: &SubscriptionName,
    ) -> Result<Vec<RetiredSubscription>, PoolError> {
        let mut retired = self.retired().await?;
        retired.retain(|retired| &retired.subscription.name == name);
        Ok(retired)
    }

    /// What [`Self::purge`] would erase for `name`.
    ///
    /// # Errors
    /// No subscription, in the pool or retired, has that name.
    pub async fn purge_targets(&self, name: &SubscriptionName) -> Result<PurgeTargets, PoolError> {
        let live = self.store.subscription_by_name(name).await?;
        let retired = self.retired_named(name).await?;
        if live.is_none() && retired.is_empty() {
            return Err(self.missing(name).await);
        }
        Ok(PurgeTargets {
            name: name.clone(),
            live,
            retired,
        })
    }

    /// Erase for good the subscriptions of [`PurgeTargets`] with their
    /// leases, usage and transitions (and the credential and saved-route
    /// mentions of the one in the pool). Refused while any of them holds
    /// live leases unless `force`.
    pub async fn purge(
        &self,
        targets: PurgeTargets,
        force: bool,
    ) -> Result<RemovedSubscription, RemoveSubscriptionError> {
        let ids: Vec<SubscriptionId> = targets
            .live
            .iter()
            .map(|s| s.id)
            .chain(targets.retired.iter().map(|r| r.subscription.id))
            .collect();
        let live = self.live_leases_on(&ids).await?;
        if live > 0 && !force {
            return Err(RemoveSubscriptionError::HasLiveLeases {
                name: targets.name,
                live,
            });
        }
        for id in &ids {
            self.store.delete_subscription(*id).await?;
        }
        let routes_updated = match &targets.live {
            Some(subscription) => self.forget(subscription).await?,
            None => 0,
        };
        let retired_count = targets.retired.len();
        let subscription = match (targets.live, targets.retired.into_iter().last()) {
            (Some(subscription), _) => subscription,
            (None, Some(newest)) => newest.subscription,
            (None, None) => return Err(self.missing(&targets.name).await.into()),
        };
        Ok(RemovedSubscription {
            subscription,
            live_leases: live,
            routes_updated,
            purged: Some(retired_count),
        })
    }

    /// Live leases on any of `ids`.
    async fn live_leases_on(&self, ids: &[SubscriptionId]) -> Result<usize, PoolError> {
        Ok(self
            .store
            .live_leases(self.clock.now())
            .await?
            .into_iter()
            .filter(|lease| ids.contains(&lease.subscription_id))
            .count())
    }

    /// Delete a subscription's credential (when Kage stored it) and its
    /// mentions in saved routes; how many routes changed.
    async fn forget(&self, subscription: &Subscription) -> Result<usize, PoolError> {
        if let Err(error) = self
            .secrets
            .delete(
                subscription.id,
                &subscription.name,
                &subscription.credential,
            )
            .await
        {
            tracing::warn!(subscription = %subscription.name, %error, "subscription removed, but its keychain credential could not be deleted");
        }
        self.rename_in_saved_routes(&subscription.name, None).await
    }

    /// Replace (or with `None` drop) a name in every saved route; routes
    /// left empty are deleted. Returns how many routes changed.
    async fn rename_in_saved_routes(
        &self,
        old: &SubscriptionName,
        new: Option<&SubscriptionName>,
    ) -> Result<usize, PoolError> {
        let saved = self.store.load_routes().await?;
        let mut changed = 0;
        for (target, entries) in saved.iter() {
            let old_entry = RouteEntry::Subscription(old.clone());
            if !entries.contains(&old_entry) {
                continue;
            }
            changed += 1;
            let updated: Vec<RouteEntry> = entries
                .iter()
                .filter_map(|entry| match (entry == &old_entry, new) {
                    (true, Some(new)) => Some(RouteEntry::Subscription(new.clone())),
                    (true, None) => None,
                    (false, _) => Some(entry.clone()),
                })
                .collect();
            if updated.is_empty() {
                self.store.delete_route(&target).await?;
            } else {
                self.store.save_route(&target, &updated).await?;
            }
        }
        Ok(changed)
    }

    /// Take a subscription out of the pool until enabled.
    pub async fn disable(
        &self,
        name: &SubscriptionName,
        reason: Option<String>,
    ) -> Result<TransitionResult, PoolError> {
        let subscription = self.find(name).await?;
        let reason = reason.unwrap_or_else(|| "disabled by user".to_owned());
        Ok(self
            .store
            .set_disabled(subscription.id, Some(reason), self.clock.now())
            .await?)
    }

    /// Put a subscription back in the pool at once, whatever its state.
    pub async fn enable(&self, name: &SubscriptionName) -> Result<TransitionResult, PoolError> {
        let subscription = self.find(name).await?;
        Ok(self
            .store
            .set_disabled(subscription.id, None, self.clock.now())
            .await?)
    }
}
