//! Selection: which subscription an agent gets now.
//!
//! `design.md` fixes the order: routing restricts the candidates, health keeps
//! the effectively active ones, a limit on the requested model family drops
//! those, capacity drops the full ones, subscriptions approaching a limit go
//! last, fewer live leases go first (parallel work spreads over the pool),
//! and the strategy orders the rest. The result is deterministic for a given
//! input: the final tie-breaker is the unique subscription name.

use std::cmp::Ordering;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::{
    ModelFamily, Namespace, Priority, PriorityLevel, QuotaWindow, RouteEntry, RouteTarget,
    RoutingRules, StateKind, Strategy, Subscription, SubscriptionId, SubscriptionName,
    SubscriptionState, Tag,
};

/// One subscription as the store sees it at the moment of selection.
#[derive(Clone, PartialEq, Debug)]
pub struct PoolEntry {
    pub subscription: Subscription,
    /// Unexpired leases on it now.
    pub live_leases: u32,
    /// When its newest lease was granted.
    pub last_leased_at: Option<Timestamp>,
    /// Tokens spent in the last `usage_window` (what `least-used` compares
    /// when no current 5-hour utilization was reported).
    pub window_tokens: u64,
    /// When the first of its live leases expires, if it has any.
    pub earliest_lease_expiry: Option<Timestamp>,
}

impl PoolEntry {
    /// An entry with no leases and no usage.
    pub fn idle(subscription: Subscription) -> Self {
        Self {
            subscription,
            live_leases: 0,
            last_leased_at: None,
            window_tokens: 0,
            earliest_lease_expiry: None,
        }
    }
}

#[derive(Clone, PartialEq, Debug, Default)]
pub struct PoolSnapshot {
    pub entries: Vec<PoolEntry>,
}

/// What the agent asks for.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct SelectionRequest {
    pub namespace: Option<Namespace>,
    pub level: PriorityLevel,
    /// Only subscriptions carrying every one of these tags qualify.
    pub required_tags: Vec<Tag>,
    /// The model family the agent will use, when the request named a model:
    /// subscriptions with a limit on that family are passed over.
    pub model: Option<ModelFamily>,
}

#[derive(Clone, PartialEq, Debug)]
pub struct SelectionPolicy {
    pub strategy: Strategy,
    /// Utilization at or above this puts a subscription after all others.
    pub approaching_threshold: f64,
    /// A limit signal this recent also counts as approaching the limit.
    pub rate_limit_window: Duration,
    /// A utilization report older than this no longer counts (the five-hour
    /// window it described has moved on).
    pub utilization_ttl: Duration,
    /// `least-used` compares the 5-hour utilization reported within this
    /// long, else the tokens spent within it (config key `usage_window`).
    pub usage_window: Duration,
}

impl Default for SelectionPolicy {
    fn default() -> Self {
        Self {
            strategy: Strategy::Priority,
            approaching_threshold: 0.8,
            rate_limit_window: Duration::from_secs(60),
            utilization_ttl: Duration::from_secs(5 * 60 * 60),
            usage_window: Duration::from_secs(5 * 60 * 60),
        }
    }
}

/// Why a subscription was not chosen.
#[derive(Clone, PartialEq, Debug)]
pub enum PassOverReason {
    /// A routing rule for the request does not list it.
    NotRouted { rule: RouteTarget },
    /// It lacks tags the request requires.
    MissingTags { missing: Vec<Tag> },
    /// Its effective state is not `active`.
    NotActive { state: SubscriptionState },
    /// It reached its limit for the requested model family.
    ModelLimited {
        family: ModelFamily,
        until: Timestamp,
        reason: String,
    },
    /// It already has as many live leases as its cap.
    AtCapacity {
        live_leases: u32,
        max_concurrent: u32,
        frees_at: Option<Timestamp>,
    },
}

impl PassOverReason {
    /// Whether it was passed over for what it is now (limited, busy or
    /// disabled) rather than for not matching the request (routes, tags).
    pub fn is_limited(&self) -> bool {
        matches!(
            self,
            Self::NotActive { .. } | Self::AtCapacity { .. } | Self::ModelLimited { .. }
        )
    }
}

/// The outcome of [`select`].
#[derive(Clone, PartialEq, Debug)]
pub enum Selection {
    /// `index` points into the snapshot's entries.
    Chosen { index: usize, id: SubscriptionId },
    Unavailable {
        /// The earliest time a candidate could become available: a timed
        /// state ending or a lease expiring. `None` when nothing recovers on
        /// its own (everything disabled, unrouted or missing tags).
        earliest_recovery: Option<Timestamp>,
        /// Every subscription with the reason it was passed over.
        passed_over: Vec<(usize, PassOverReason)>,
    },
}

/// One line of [`explain`]: a subscription and its verdict.
#[derive(Clone, PartialEq, Debug)]
pub struct Ranked {
    pub index: usize,
    /// `Ok(rank)` (0 = would be chosen) or why it is out.
    pub verdict: Result<usize, PassOverReason>,
    /// Eligible but near a limit, so ranked after every other eligible one.
    pub approaching_limit: bool,
    /// For an eligible line after the first: which key put it behind the
    /// line ranked just before it.
    pub behind_on: Option<RankKey>,
}

/// The keys that order eligible subscriptions, in the order they apply.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RankKey {
    /// It is near a limit and the one before it is not.
    NearLimit,
    /// It holds more unexpired leases than the one before it.
    Leases,
    /// The strategy's key (priority, last lease, usage) or the name.
    Strategy,
}

/// The cheap result of checking one entry.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Check {
    Eligible { approaching: bool },
    NotRoutedByNamespace,
    NotRoutedByLevel,
    MissingTags,
    NotActive,
    ModelLimited,
    AtCapacity,
}

struct Context<'a> {
    namespace_rule: Option<&'a [RouteEntry]>,
    level_rule: Option<&'a [RouteEntry]>,
    request: &'a SelectionRequest,
    policy: &'a SelectionPolicy,
    now: Timestamp,
    limited_since: Timestamp,
    utilization_since: Timestamp,
    usage_since: Timestamp,
}

impl<'a> Context<'a> {
    fn new(
        rules: &'a RoutingRules,
        policy: &'a SelectionPolicy,
        request: &'a SelectionRequest,
        now: Timestamp,
    ) -> Self {
        let (namespace_rule, level_rule) =
            rules.applicable(request.namespace.as_ref(), request.level);
        Self {
            namespace_rule,
            level_rule,
            request,
            policy,
            now,
            limited_since: before(now, policy.rate_limit_window),
            utilization_since: before(now, policy.utilization_ttl),
            usage_since: before(now, policy.usage_window),
        }
    }

    /// Checks in the order of `design.md`, so the first failing one is the
    /// reason shown.
    fn check(&self, entry: &PoolEntry) -> Check {
        if !routed(self.namespace_rule, &entry.subscription) {
            return Check::NotRoutedByNamespace;
        }
        if !routed(self.level_rule, &entry.subscription) {
            return Check::NotRoutedByLevel;
        }
        if !self.has_required_tags(entry) {
            return Check::MissingTags;
        }
        match self.availability(entry) {
            Ok(approaching) => Check::Eligible { approaching },
            Err(check) => check,
        }
    }

    /// Whether routing rules and required tags let the request use `entry`:
    /// the costly part of [`Context::check`] (string comparisons).
    fn is_candidate(&self, entry: &PoolEntry) -> bool {
        routed(self.namespace_rule, &entry.subscription)
            && routed(self.level_rule, &entry.subscription)
            && self.has_required_tags(entry)
    }

    fn has_required_tags(&self, entry: &PoolEntry) -> bool {
        self.request
            .required_tags
            .iter()
            .all(|tag| carries(&entry.subscription, tag))
    }

    /// Health, model limit, then capacity: `Ok(approaching)` when `entry`
    /// could take a lease now. Only number and time comparisons, so cheap.
    fn availability(&self, entry: &PoolEntry) -> Result<bool, Check> {
        let subscription = &entry.subscription;
        if subscription.health.state.effective_kind(self.now) != StateKind::Active {
            return Err(Check::NotActive);
        }
        if self
            .request
            .model
            .is_some_and(|family| subscription.health.model_limit(family, self.now).is_some())
        {
            return Err(Check::ModelLimited);
        }
        if subscription
            .max_concurrent
            .is_some_and(|cap| entry.live_leases >= cap)
        {
            return Err(Check::AtCapacity);
        }
        Ok(self.is_approaching(entry))
    }

    fn is_approaching(&self, entry: &PoolEntry) -> bool {
        let health = &entry.subscription.health;
        let threshold = self.policy.approaching_threshold;
        // A window that covers every model (5-hour, weekly) near its limit;
        // a model-scoped one limits only its family.
        let high_utilization = health.last_utilization.is_some_and(|(utilization, at)| {
            at >= self.utilization_since && utilization >= threshold
        }) || health.quota.iter().any(|report| {
            matches!(report.window, QuotaWindow::FiveHour | QuotaWindow::SevenDay)
                && report.is_current(self.utilization_since, self.now)
                && report.utilization >= threshold
        });
        let recently_limited = health
            .last_limited_at
            .is_some_and(|at| at > self.limited_since);
        high_utilization || recently_limited
    }

    /// Why a checked entry is out; `None` when it is eligible.
    fn reason(&self, entry: &PoolEntry, check: Check) -> Option<PassOverReason> {
        let subscription = &entry.subscription;
        let reason = match check {
            Check::NotRoutedByNamespace => PassOverReason::NotRouted {
                rule: RouteTarget::Namespace(
                    self.request
                        .namespace
                        .clone()
                        .expect("a namespace rule implies a namespace"),
                ),
            },
            Check::NotRoutedByLevel => PassOverReason::NotRouted {
                rule: RouteTarget::Level(self.request.level),
            },
            Check::MissingTags => PassOverReason::MissingTags {
                missing: self
                    .request
                    .required_tags
                    .iter()
                    .filter(|tag| !subscription.has_tag(tag))
                    .cloned()
                    .collect(),
            },
            Check::NotActive => PassOverReason::NotActive {
                state: subscription.health.state.effective(self.now),
            },
            Check::ModelLimited => {
                let family = self.request.model.expect("a model limit implies a model");
                let limit = subscription
                    .health
                    .model_limit(family, self.now)
                    .expect("checked in force");
                PassOverReason::ModelLimited {
                    family,
                    until: limit.until,
                    reason: limit.reason.clone(),
                }
            }
            Check::AtCapacity => PassOverReason::AtCapacity {
                live_leases: entry.live_leases,
                max_concurrent: subscription.max_concurrent.unwrap_or(0),
                frees_at: entry.earliest_lease_expiry,
            },
            Check::Eligible { .. } => return None,
        };
        Some(reason)
    }

    /// What orders `entry` among the eligible ones, given whether it is near
    /// a limit.
    #[inline]
    fn rank<'e>(&self, entry: &'e PoolEntry, approaching: bool) -> Rank<'e> {
        Rank {
            approaching,
            leases: entry.live_leases,
            strategy: self.strategy_key(entry),
        }
    }

    /// The fields the strategy compares, read once: the 5-hour report and
    /// the tokens only under `least-used`.
    #[inline]
    fn strategy_key<'e>(&self, entry: &'e PoolEntry) -> StrategyKey<'e> {
        StrategyKey {
            priority: entry.subscription.priority,
            last_leased_at: entry.last_leased_at,
            consumed: match self.policy.strategy {
                Strategy::LeastUsed => self.consumed(entry),
                Strategy::Priority | Strategy::RoundRobin => Consumed::Tokens(0),
            },
            name: &entry.subscription.name,
        }
    }

    /// Orders two eligible entries: `Less` means `a` is preferred.
    #[inline]
    fn compare(&self, a: &Rank<'_>, b: &Rank<'_>) -> Ordering {
        self.compare_keyed(a, b).0
    }

    /// [`Context::compare`] with the key that decided it.
    #[inline]
    fn compare_keyed(&self, a: &Rank<'_>, b: &Rank<'_>) -> (Ordering, RankKey) {
        let near_limit = a.approaching.cmp(&b.approaching);
        if near_limit != Ordering::Equal {
            return (near_limit, RankKey::NearLimit);
        }
        // Spread: parallel work goes to the subscriptions with fewer leases.
        let leases = a.leases.cmp(&b.leases);
        if leases != Ordering::Equal {
            return (leases, RankKey::Leases);
        }
        (
            self.compare_strategy(&a.strategy, &b.strategy),
            RankKey::Strategy,
        )
    }

    /// Orders two eligible entries on the strategy's keys, reading each
    /// key only when the ones before it tie.
    #[inline]
    fn compare_strategy(&self, a: &impl StrategyFields, b: &impl StrategyFields) -> Ordering {
        // Higher priority first; least recently leased (never leased: first) first.
        let by_priority = || b.priority().cmp(&a.priority());
        let by_lease = || a.last_leased_at().cmp(&b.last_leased_at());
        match self.policy.strategy {
            Strategy::Priority => by_priority().then_with(by_lease),
            Strategy::RoundRobin => by_lease().then_with(by_priority),
            Strategy::LeastUsed => a
                .consumed(self)
                .cmp(&b.consumed(self))
                .then_with(by_priority)
                .then_with(by_lease),
        }
        .then_with(|| a.name().cmp(b.name()))
    }

    /// What `least-used` compares: the 5-hour utilization reported within
    /// `usage_window` (and not reset since) when there is one, else the
    /// tokens spent within it. A subscription without a current report sorts
    /// before every one with a report: Claude Code reports utilization when
    /// a window nears its limit, so no report means below that point.
    fn consumed(&self, entry: &PoolEntry) -> Consumed {
        entry
            .subscription
            .health
            .quota_report(QuotaWindow::FiveHour)
            .filter(|report| report.is_current(self.usage_since, self.now))
            .map_or(Consumed::Tokens(entry.window_tokens), |report| {
                Consumed::Utilization(Utilization(report.utilization))
            })
    }

    /// When a passed-over candidate could come back by itself.
    fn recovery_time(&self, entry: &PoolEntry, check: Check) -> Option<Timestamp> {
        match check {
            Check::NotActive => entry.subscription.health.state.until(),
            Check::ModelLimited => self.request.model.and_then(|family| {
                let limit = entry.subscription.health.model_limit(family, self.now)?;
                Some(limit.until)
            }),
            Check::AtCapacity => entry.earliest_lease_expiry,
            _ => None,
        }
    }
}

/// How much of its quota a subscription has used, for `least-used`:
/// smaller is less used.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Consumed {
    Tokens(u64),
    Utilization(Utilization),
}

/// The keys that order one eligible entry, in the order they apply (see
/// [`Context::compare_keyed`]).
#[derive(Clone, Copy)]
struct Rank<'e> {
    approaching: bool,
    leases: u32,
    strategy: StrategyKey<'e>,
}

/// What the strategy compares (see [`Context::compare_strategy`]), read
/// once.
#[derive(Clone, Copy)]
struct StrategyKey<'e> {
    priority: Priority,
    last_leased_at: Option<Timestamp>,
    /// `Tokens(0)` under a strategy other than `least-used`.
    consumed: Consumed,
    /// The final tie-breaker: names are unique, so the order is total.
    name: &'e SubscriptionName,
}

/// The fields [`Context::compare_strategy`] reads: from a [`StrategyKey`]
/// read before, or from an entry on demand (an entry compared with the
/// best so far is usually behind on the first field it reads).
trait StrategyFields {
    fn priority(&self) -> Priority;
    fn last_leased_at(&self) -> Option<Timestamp>;
    fn consumed(&self, context: &Context<'_>) -> Consumed;
    fn name(&self) -> &SubscriptionName;
}

impl StrategyFields for StrategyKey<'_> {
    fn priority(&self) -> Priority {
        self.priority
    }

    fn last_leased_at(&self) -> Option<Timestamp> {
        self.last_leased_at
    }

    fn consumed(&self, _: &Context<'_>) -> Consumed {
        self.consumed
    }

    fn name(&self) -> &SubscriptionName {
        self.name
    }
}

impl StrategyFields for PoolEntry {
    fn priority(&self) -> Priority {
        self.subscription.priority
    }

    fn last_leased_at(&self) -> Option<Timestamp> {
        self.last_leased_at
    }

    fn consumed(&self, context: &Context<'_>) -> Consumed {
        context.consumed(self)
    }

    fn name(&self) -> &SubscriptionName {
        &self.subscription.name
    }
}

/// A utilization with a total order (NaN sorts last).
#[derive(Clone, Copy, Debug)]
struct Utilization(f64);

impl PartialEq for Utilization {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Utilization {}

impl PartialOrd for Utilization {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Utilization {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Whether a rule, if there is one, lists `subscription`.
fn routed(rule: Option<&[RouteEntry]>, subscription: &Subscription) -> bool {
    rule.is_none_or(|entries| entries.iter().any(|entry| lists(entry, subscription)))
}

/// [`RouteEntry::matches`] for the hot loop: a subscription carries few
/// tags, so a scan with [`same_text`] beats a tree search of string
/// comparisons.
fn lists(entry: &RouteEntry, subscription: &Subscription) -> bool {
    match entry {
        RouteEntry::Subscription(name) => same_text(name.as_str(), subscription.name.as_str()),
        RouteEntry::Tag(tag) => carries(subscription, tag),
    }
}

fn carries(subscription: &Subscription, tag: &Tag) -> bool {
    subscription
        .tags
        .iter()
        .any(|own| same_text(own.as_str(), tag.as_str()))
}

/// String equality that compares the lengths, then the bytes from the end:
/// names in one pool often share a prefix (`team-01`, `team-02`) and differ
/// at the end, so a mismatch is usually found at the first byte compared.
fn same_text(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().rev().eq(b.bytes().rev())
}

fn before(now: Timestamp, duration: Duration) -> Timestamp {
    let duration = SignedDuration::try_from(duration).unwrap_or(SignedDuration::MAX);
    now.checked_sub(duration).unwrap_or(Timestamp::MIN)
}

/// Choose a subscription for `request`, or say why none is available.
///
/// One pass over the snapshot, no allocation when one is chosen.
pub fn select(
    snapshot: &PoolSnapshot,
    rules: &RoutingRules,
    policy: &SelectionPolicy,
    request: &SelectionRequest,
    now: Timestamp,
) -> Selection {
    let context = Context::new(rules, policy, request, now);
    // The best eligible entry so far, with its keys read once. Eligibility
    // is the conjunction of every check, so the checks may run in any order
    // here (their order matters only for the reasons, built below): an
    // entry pays for them only once its keys put it ahead of the best, and
    // for routing and tags (string comparisons) last.
    let mut best: Option<(usize, Rank<'_>)> = None;
    for (index, entry) in snapshot.entries.iter().enumerate() {
        let rank = match &best {
            // Against a best that is not near a limit, only an entry that
            // is not near one either and ahead on leases or the strategy can
            // win: compare those first (a field or two, no check at all for
            // most entries of a large pool).
            Some((_, leader)) if !leader.approaching => {
                let ahead = match entry.live_leases.cmp(&leader.leases) {
                    Ordering::Less => true,
                    Ordering::Equal => {
                        context.compare_strategy(entry, &leader.strategy) == Ordering::Less
                    }
                    Ordering::Greater => false,
                };
                if !ahead || context.availability(entry) != Ok(false) {
                    continue;
                }
                context.rank(entry, false)
            }
            _ => {
                let Ok(approaching) = context.availability(entry) else {
                    continue;
                };
                let rank = context.rank(entry, approaching);
                if best
                    .as_ref()
                    .is_some_and(|(_, leader)| context.compare(&rank, leader) != Ordering::Less)
                {
                    continue;
                }
                rank
            }
        };
        if context.is_candidate(entry) {
            best = Some((index, rank));
        }
    }
    if let Some((index, _)) = best {
        return Selection::Chosen {
            index,
            id: snapshot.entries[index].subscription.id,
        };
    }

    let mut earliest_recovery: Option<Timestamp> = None;
    let mut passed_over = Vec::with_capacity(snapshot.entries.len());
    for (index, entry) in snapshot.entries.iter().enumerate() {
        let check = context.check(entry);
        if let Some(at) = context.recovery_time(entry, check) {
            earliest_recovery = Some(earliest_recovery.map_or(at, |known| known.min(at)));
        }
        passed_over.extend(context.reason(entry, check).map(|reason| (index, reason)));
    }
    Selection::Unavailable {
        earliest_recovery,
        passed_over,
    }
}

/// Every subscription with its verdict, best first: the eligible ones in the
/// order [`select`] would prefer them, then the passed-over ones in snapshot
/// order. `explain(..)[0]` is what `select` chooses, when anything is eligible.
pub fn explain(
    snapshot: &PoolSnapshot,
    rules: &RoutingRules,
    policy: &SelectionPolicy,
    request: &SelectionRequest,
    now: Timestamp,
) -> Vec<Ranked> {
    let context = Context::new(rules, policy, request, now);
    let checks: Vec<(usize, Check)> = snapshot
        .entries
        .iter()
        .enumerate()
        .map(|(index, entry)| (index, context.check(entry)))
        .collect();
    // Each eligible entry's keys are read once, then sorted.
    let mut eligible: Vec<(usize, Rank<'_>)> = checks
        .iter()
        .filter_map(|&(index, check)| match check {
            Check::Eligible { approaching } => {
                Some((index, context.rank(&snapshot.entries[index], approaching)))
            }
            _ => None,
        })
        .collect();
    eligible.sort_by(|a, b| context.compare(&a.1, &b.1));
    let mut ranked: Vec<Ranked> = eligible
        .iter()
        .enumerate()
        .map(|(position, (index, rank))| {
            let behind_on = position
                .checked_sub(1)
                .map(|previous| context.compare_keyed(&eligible[previous].1, rank).1);
            Ranked {
                index: *index,
                verdict: Ok(position),
                approaching_limit: rank.approaching,
                behind_on,
            }
        })
        .collect();
    ranked.extend(checks.iter().filter_map(|(index, check)| {
        let reason = context.reason(&snapshot.entries[*index], *check)?;
        Some(Ranked {
            index: *index,
            verdict: Err(reason),
            approaching_limit: false,
            behind_on: None,
        })
    }));
    ranked
}

/// Whether an eligible entry counts as approaching its limit (for screens).
pub fn is_approaching_limit(entry: &PoolEntry, policy: &SelectionPolicy, now: Timestamp) -> bool {
    let request = SelectionRequest::default();
    let rules = RoutingRules::default();
    let context = Context::new(&rules, policy, &request, now);
    matches!(context.check(entry), Check::Eligible { approaching: true })
}
