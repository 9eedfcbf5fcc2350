//! The output of `--json`: every command prints ONE JSON document (an object,
//! or an array for lists) that `jq .` and `json.load` read whole. Streams
//! (`kage-agent run --json`) are the only JSON Lines. The data types here are
//! the serializable counterparts of the core's read models, so the core's
//! types stay free of serde and the JSON stays stable when they change.
//!
//! Times are RFC 3339 in UTC; money is US dollars as a number; token counts
//! are integers.

use kage_core::{ExplanationLine, RouteView, SubscriptionStatus, UsageRow};
use kage_domain::{CredentialSource, ModelLimit, PassOverReason, QuotaReport, Subscription};
use kage_ports::{Lease, RecordedTransition};
use serde::Serialize;

pub(crate) use kage_app::json::{StateJson, UsageJson, document, time};

#[derive(Serialize)]
pub(crate) struct CredentialJson {
    /// `keychain`, `command` or `env`.
    pub(crate) source: &'static str,
    /// Where it lives: `Secret Service`, `kernel keyring`, `macOS Keychain`,
    /// `Windows Credential Manager`, `command` or `env`.
    pub(crate) store: String,
    /// The command or the variable; never the secret.
    pub(crate) reference: Option<String>,
    /// The variable an agent receives it in.
    pub(crate) variable: &'static str,
}

#[derive(Serialize)]
pub(crate) struct SubscriptionJson {
    pub(crate) name: String,
    pub(crate) id: String,
    pub(crate) description: Option<String>,
    pub(crate) priority: u8,
    pub(crate) tags: Vec<String>,
    pub(crate) kind: &'static str,
    pub(crate) credential: CredentialJson,
    pub(crate) max_concurrent: Option<u32>,
    pub(crate) created_at: String,
}

impl SubscriptionJson {
    /// `keychain` names the keychain that keeps keychain credentials here.
    pub(crate) fn new(subscription: &Subscription, keychain: &str) -> Self {
        let reference = match &subscription.credential {
            CredentialSource::Keychain => None,
            CredentialSource::Command(command) => Some(command.clone()),
            CredentialSource::Env(variable) => Some(variable.clone()),
        };
        Self {
            name: subscription.name.to_string(),
            id: subscription.id.to_string(),
            description: subscription.description.clone(),
            priority: subscription.priority.value(),
            tags: subscription.tags.iter().map(ToString::to_string).collect(),
            kind: subscription.kind.as_str(),
            credential: CredentialJson {
                source: subscription.credential.kind_str(),
                store: crate::credential::store_label(&subscription.credential, keychain),
                reference,
                variable: subscription.kind.env_var(),
            },
            max_concurrent: subscription.max_concurrent,
            created_at: time(subscription.created_at),
        }
    }
}

/// `kage subscription list --json`: settings plus the effective state.
#[derive(Serialize)]
pub(crate) struct ListedSubscriptionJson {
    #[serde(flatten)]
    pub(crate) subscription: SubscriptionJson,
    pub(crate) state: StateJson,
    /// When it was removed from the pool (`list --all`); absent while in it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) removed_at: Option<String>,
}

/// One row of `kage subscription status --json`.
#[derive(Serialize)]
pub(crate) struct StatusJson {
    pub(crate) name: String,
    pub(crate) priority: u8,
    #[serde(flatten)]
    pub(crate) state: StateJson,
    pub(crate) live_leases: u32,
    pub(crate) approaching_limit: bool,
    pub(crate) today: UsageJson,
    /// Limits on one model family in force now.
    pub(crate) model_limits: Vec<ModelLimitJson>,
    /// The latest utilization reported per quota window (not yet reset).
    pub(crate) quota: Vec<QuotaReportJson>,
}

#[derive(Serialize)]
pub(crate) struct ModelLimitJson {
    /// `opus`, `sonnet`, `haiku`.
    pub(crate) family: &'static str,
    pub(crate) until: String,
    pub(crate) reason: String,
}

impl ModelLimitJson {
    pub(crate) fn new(limit: &ModelLimit) -> Self {
        Self {
            family: limit.family.as_str(),
            until: time(limit.until),
            reason: limit.reason.clone(),
        }
    }
}

#[derive(Serialize)]
pub(crate) struct QuotaReportJson {
    /// `five_hour`, `seven_day`, `seven_day_opus`, …
    pub(crate) window: &'static str,
    /// 0..1; may exceed 1.
    pub(crate) utilization: f64,
    pub(crate) resets_at: Option<String>,
    pub(crate) reported_at: String,
}

impl QuotaReportJson {
    pub(crate) fn new(report: &QuotaReport) -> Self {
        Self {
            window: report.window.as_str(),
            utilization: report.utilization,
            resets_at: report.resets_at.map(time),
            reported_at: time(report.reported_at),
        }
    }
}

impl StatusJson {
    pub(crate) fn new(status: &SubscriptionStatus) -> Self {
        Self {
            name: status.subscription.name.to_string(),
            priority: status.subscription.priority.value(),
            state: StateJson::new(&status.state),
            live_leases: status.live_leases,
            approaching_limit: status.approaching_limit,
            today: UsageJson::new(&status.today),
            model_limits: status
                .model_limits
                .iter()
                .map(ModelLimitJson::new)
                .collect(),
            quota: status.quota.iter().map(QuotaReportJson::new).collect(),
        }
    }
}

/// The last record of `kage subscription status --json`.
#[derive(Serialize)]
pub(crate) struct PoolSummaryJson {
    pub(crate) now: String,
    pub(crate) subscriptions: usize,
    pub(crate) active: usize,
    pub(crate) rate_limited: usize,
    pub(crate) exhausted: usize,
    pub(crate) unhealthy: usize,
    pub(crate) disabled: usize,
    pub(crate) live_leases: u64,
    /// The whole pool's, removed subscriptions' included.
    pub(crate) tokens_today: u64,
    /// The part of `tokens_today` spent on subscriptions since removed.
    pub(crate) removed_tokens_today: u64,
    /// When the first limited subscription comes back.
    pub(crate) next_recovery: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct TransitionJson {
    pub(crate) at: String,
    pub(crate) from: &'static str,
    pub(crate) to: &'static str,
    pub(crate) until: Option<String>,
    pub(crate) reason: String,
    pub(crate) lease_id: Option<String>,
}

impl TransitionJson {
    pub(crate) fn new(recorded: &RecordedTransition) -> Self {
        let transition = &recorded.transition;
        Self {
            at: time(transition.at),
            from: transition.from.as_str(),
            to: transition.to.as_str(),
            until: transition.until.map(time),
            reason: transition.reason.clone(),
            lease_id: recorded.lease_id.map(|id| id.to_string()),
        }
    }
}

#[derive(Serialize)]
pub(crate) struct LeaseJson {
    pub(crate) id: String,
    pub(crate) subscription: String,
    pub(crate) kind: &'static str,
    /// The variable the credential goes in (never the credential).
    pub(crate) credential_variable: &'static str,
    pub(crate) namespace: Option<String>,
    pub(crate) level: &'static str,
    pub(crate) holder: String,
    pub(crate) acquired_at: String,
    pub(crate) expires_at: String,
    pub(crate) released_at: Option<String>,
}

impl LeaseJson {
    pub(crate) fn new(lease: &Lease) -> Self {
        Self {
            id: lease.id.to_string(),
            subscription: lease.subscription_name.to_string(),
            kind: lease.kind.as_str(),
            credential_variable: lease.kind.env_var(),
            namespace: lease.namespace.as_ref().map(ToString::to_string),
            level: lease.level.as_str(),
            holder: lease.holder.clone(),
            acquired_at: time(lease.acquired_at),
            expires_at: time(lease.expires_at),
            released_at: lease.released_at.map(time),
        }
    }
}

/// `kage subscription show --json`.
#[derive(Serialize)]
pub(crate) struct DetailsJson {
    #[serde(flatten)]
    pub(crate) subscription: SubscriptionJson,
    pub(crate) state: StateJson,
    pub(crate) approaching_limit: bool,
    /// Limits on one model family in force now.
    pub(crate) model_limits: Vec<ModelLimitJson>,
    /// The latest utilization reported per quota window (not yet reset).
    pub(crate) quota: Vec<QuotaReportJson>,
    pub(crate) leases: Vec<LeaseJson>,
    pub(crate) transitions: Vec<TransitionJson>,
    pub(crate) usage_today: UsageJson,
    pub(crate) usage_7_days: UsageJson,
    pub(crate) usage_30_days: UsageJson,
}

#[derive(Serialize)]
pub(crate) struct RouteJson {
    /// `namespace` or `priority`.
    pub(crate) target_kind: &'static str,
    pub(crate) target: String,
    pub(crate) entries: Vec<String>,
    /// `saved` or `config file`.
    pub(crate) source: &'static str,
    /// A saved rule hidden by the config file's rule for the same target.
    pub(crate) overridden: bool,
}

impl RouteJson {
    pub(crate) fn new(view: &RouteView) -> Self {
        Self {
            target_kind: view.target.kind_str(),
            target: view.target.value_str().to_owned(),
            entries: view.entries.iter().map(ToString::to_string).collect(),
            source: view.source.as_str(),
            overridden: view.overridden,
        }
    }
}

#[derive(Serialize)]
pub(crate) struct ExplainLineJson {
    pub(crate) name: String,
    /// 0 = would be leased; absent when passed over.
    pub(crate) rank: Option<usize>,
    pub(crate) chosen: bool,
    pub(crate) priority: u8,
    #[serde(flatten)]
    pub(crate) state: StateJson,
    pub(crate) live_leases: u32,
    pub(crate) window_tokens: u64,
    pub(crate) approaching_limit: bool,
    /// `chosen`, `ranked_lower`, `not_routed`, `missing_tags`, `not_active`,
    /// `model_limited`, `at_capacity`.
    pub(crate) verdict: &'static str,
    /// The verdict in words (`reason` is the state's).
    pub(crate) why: String,
}

impl ExplainLineJson {
    pub(crate) fn new(line: &ExplanationLine, reason: String) -> Self {
        let verdict = match &line.verdict {
            Ok(0) => "chosen",
            Ok(_) => "ranked_lower",
            Err(PassOverReason::NotRouted { .. }) => "not_routed",
            Err(PassOverReason::MissingTags { .. }) => "missing_tags",
            Err(PassOverReason::NotActive { .. }) => "not_active",
            Err(PassOverReason::AtCapacity { .. }) => "at_capacity",
            Err(PassOverReason::ModelLimited { .. }) => "model_limited",
        };
        Self {
            name: line.name.to_string(),
            rank: line.verdict.as_ref().ok().copied(),
            chosen: line.verdict == Ok(0),
            priority: line.priority.value(),
            state: StateJson::new(&line.state),
            live_leases: line.live_leases,
            window_tokens: line.window_tokens,
            approaching_limit: line.approaching_limit,
            verdict,
            why: reason,
        }
    }
}

#[derive(Serialize)]
pub(crate) struct UsageRowJson {
    pub(crate) day: String,
    pub(crate) subscription: String,
    /// Present (true) for a subscription removed from the pool.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) removed: bool,
    #[serde(flatten)]
    pub(crate) usage: UsageJson,
    pub(crate) leases: u64,
}

impl UsageRowJson {
    pub(crate) fn new(row: &UsageRow) -> Self {
        Self {
            day: row.day.to_string(),
            subscription: row.subscription.name.to_string(),
            removed: row.subscription.retired,
            usage: UsageJson::new(&row.usage),
            leases: row.leases,
        }
    }
}

/// `usage --json`: the period, one entry per subscription and day, and the
/// totals (per subscription, then the pool's with `subscription: null`).
#[derive(Serialize)]
pub(crate) struct UsageReportJson {
    pub(crate) period: &'static str,
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) days: Vec<UsageRowJson>,
    pub(crate) totals: Vec<UsageTotalJson>,
}

#[derive(Serialize)]
pub(crate) struct UsageTotalJson {
    /// A subscription's name, or absent for the whole pool.
    pub(crate) subscription: Option<String>,
    /// Present (true) for a subscription removed from the pool.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) removed: bool,
    pub(crate) period: &'static str,
    pub(crate) from: String,
    pub(crate) to: String,
    #[serde(flatten)]
    pub(crate) usage: UsageJson,
}

#[derive(Serialize)]
pub(crate) struct ResolvedJson {
    pub(crate) key: String,
    pub(crate) value: String,
    pub(crate) source: String,
}

/// `remove --json`: what was removed (retired, its history kept) or, with
/// `--purge`, erased, and what went with it.
#[derive(Serialize)]
pub(crate) struct RemovedJson {
    pub(crate) removed: String,
    pub(crate) id: String,
    /// Erased for good (`--purge`), not only retired.
    pub(crate) purged: bool,
    /// Subscriptions of that name retired earlier and erased with it.
    pub(crate) earlier_erased: usize,
    /// Live leases on it: still releasable after a removal, gone after a purge.
    pub(crate) live_leases: usize,
    pub(crate) routes_updated: usize,
}

/// `enable --json` / `disable --json`: the state now, and whether it changed.
#[derive(Serialize)]
pub(crate) struct StateChangedJson {
    pub(crate) name: String,
    pub(crate) changed: bool,
    pub(crate) state: StateJson,
}

/// `route --json` / `unroute --json`: the saved rule, and the config file's
/// rule for the same target when it has one (it wins).
#[derive(Serialize)]
pub(crate) struct RouteChangeJson {
    pub(crate) target_kind: &'static str,
    pub(crate) target: String,
    pub(crate) entries: Vec<String>,
    pub(crate) config_rule: Option<Vec<String>>,
}

impl RouteChangeJson {
    pub(crate) fn new(change: &kage_core::RouteChange) -> Self {
        Self {
            target_kind: change.target.kind_str(),
            target: change.target.value_str().to_owned(),
            entries: change.entries.iter().map(ToString::to_string).collect(),
            config_rule: change
                .config_rule
                .as_ref()
                .map(|rule| rule.iter().map(ToString::to_string).collect()),
        }
    }
}

/// `kage statusline --json`: the leased subscription (none outside a lease),
/// the quota windows Claude Code reported, and the line the status line
/// shows (the user's own status line after Kage's part).
#[derive(Serialize)]
pub(crate) struct StatuslineJson {
    pub(crate) subscription: Option<String>,
    pub(crate) lease_id: Option<String>,
    pub(crate) five_hour: Option<WindowJson>,
    pub(crate) seven_day: Option<WindowJson>,
    pub(crate) line: String,
}

/// One quota window: percent used (0–100, past 100 over the limit) and when
/// it resets, if Claude Code said.
#[derive(Serialize)]
pub(crate) struct WindowJson {
    pub(crate) used_percentage: f64,
    pub(crate) resets_at: Option<String>,
}

impl WindowJson {
    pub(crate) fn new(window: &crate::session::status_input::QuotaWindow) -> Self {
        Self {
            used_percentage: window.used_percentage,
            resets_at: window.resets_at.map(time),
        }
    }
}

/// `kage backup --json`: the pool database, the copy written, its size.
#[derive(Serialize)]
pub(crate) struct BackupJson {
    pub(crate) database: String,
    pub(crate) backup: String,
    pub(crate) bytes: u64,
}

/// `kage usage import --json`: what was found and what was new.
#[derive(Serialize)]
pub(crate) struct UsageImportJson {
    pub(crate) subscription: String,
    /// Assistant messages with usage found (in the `--since` range).
    pub(crate) messages: u64,
    /// Of those, recorded by this import.
    pub(crate) recorded: u64,
    /// Of those, recorded before (by `kage claude`, `kage-agent` or an
    /// earlier import).
    pub(crate) already_recorded: u64,
    pub(crate) skipped_before_since: u64,
    /// Files whose read offset was saved.
    pub(crate) files_read_to_end: u64,
}
