//! `kage lease release ID`: end a lease with its outcome and usage.

use clap::{Args, ValueEnum};
use kage_core::ReleaseRequest;
use kage_domain::{ErrorKind, LeaseId, Outcome, Usage};

use crate::command::Context;
use crate::output;
use kage_app::time::{When, parse_cost, parse_usage, parse_when};

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum OutcomeArg {
    /// The work went through
    Success,
    /// A burst / per-minute limit (HTTP 429): rate_limited until --resets-at, else the cooldown
    RateLimited,
    /// A window quota or credit is spent: exhausted until --resets-at, else the cooldown
    Exhausted,
    /// A server, timeout or network error; enough in a row make it unhealthy
    Error,
    /// HTTP 529: the service's trouble, the subscription is not marked
    Overloaded,
    /// The credential was refused (401/403): unhealthy at once
    Rejected,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ErrorKindArg {
    /// A 5xx other than 529
    Server,
    Timeout,
    Network,
    /// The work itself failed; does not count against the subscription
    Agent,
}

const EXAMPLES: &str = "\
Examples:
  kage lease release \"$lease\" --usage input=1200,output=340 --cost-usd 0.04
  kage lease release \"$lease\" --outcome rate-limited --resets-at 2m
  kage lease release \"$lease\" --outcome exhausted \\
      --resets-at 2025-06-02T15:00:00Z --reason \"5-hour limit\"";

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub(crate) struct ReleaseArgs {
    /// The lease id `kage lease acquire` printed
    id: LeaseId,

    /// What happened
    #[arg(long, value_enum, default_value_t = OutcomeArg::Success)]
    outcome: OutcomeArg,

    /// When a rate limit or quota ends: RFC 3339, Unix seconds, or a duration from now (5m)
    #[arg(long, value_name = "WHEN", value_parser = parse_when)]
    resets_at: Option<When>,

    /// Tokens the lease spent: input=N,output=N,cache-write=N,cache-read=N
    #[arg(long, value_name = "LIST", value_parser = parse_usage)]
    usage: Option<Usage>,

    /// What the lease cost, in US dollars (e.g. 0.42)
    #[arg(long, value_name = "USD", value_parser = parse_cost)]
    cost_usd: Option<u64>,

    /// The model used, for the record
    #[arg(long, value_name = "MODEL")]
    model: Option<String>,

    /// Why, in words (shown by `kage subscription show`)
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,

    /// With --outcome error: what kind of error
    #[arg(long, value_enum, default_value_t = ErrorKindArg::Server)]
    error_kind: ErrorKindArg,

    /// Print one JSON object {"lease","outcome","usage","was_expired","transition"}
    #[arg(long)]
    json: bool,
}

impl ReleaseArgs {
    pub(crate) async fn run(self, context: &Context<'_>) -> anyhow::Result<()> {
        /// How long a release retries a database that cannot take the write
        /// before it keeps the usage in the spool.
        const RELEASE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(5);
        let given_reason = crate::command::plain_text("--reason", self.reason.clone())?;
        let opened = context.open().await?;
        let pool = &opened.pool;
        let now = pool.clock().now();
        let zone = pool.clock().time_zone();
        let resets_at = self.resets_at.map(|when| when.resolve(now));
        let reason = |default: &str| {
            given_reason
                .clone()
                .filter(|reason| !reason.trim().is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        let outcome = match self.outcome {
            OutcomeArg::Success => Outcome::Success,
            OutcomeArg::RateLimited => Outcome::RateLimited {
                retry_at: resets_at,
                reason: reason("reported with `kage lease release`"),
            },
            OutcomeArg::Exhausted => Outcome::QuotaExhausted {
                resets_at,
                reason: reason("reported with `kage lease release`"),
            },
            OutcomeArg::Error => Outcome::Error {
                kind: match self.error_kind {
                    ErrorKindArg::Server => ErrorKind::Server,
                    ErrorKindArg::Timeout => ErrorKind::Timeout,
                    ErrorKindArg::Network => ErrorKind::Network,
                    ErrorKindArg::Agent => ErrorKind::Agent,
                },
                detail: reason(""),
            },
            OutcomeArg::Overloaded => Outcome::Overloaded,
            OutcomeArg::Rejected => Outcome::CredentialRejected {
                reason: reason("reported with `kage lease release`"),
            },
        };
        let mut usage = self.usage.unwrap_or_default();
        usage.cost_micros_usd = self.cost_usd;
        usage.model = self.model;
        let label = outcome.label();
        let report = kage_app::spool::release_with_retry(
            pool,
            ReleaseRequest {
                lease_id: self.id,
                outcome,
                usage: usage.clone(),
            },
            RELEASE_PATIENCE,
            opened.spool.as_ref(),
        )
        .await?;
        if self.json {
            output::lease::released_json(context.printer, &report, label, &usage)?;
        } else {
            output::lease::released(context.printer, &report, label, &usage, now, &zone);
        }
        Ok(())
    }
}
