//! `kage lease list`: the live leases.

use clap::Args;

use crate::command::Context;
use crate::output;

const EXAMPLES: &str = "\
Examples:
  kage lease list
  kage lease list --json | jq -r '.[] | .subscription'";

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub(crate) struct ListArgs {
    /// Print one JSON array of leases
    #[arg(long)]
    json: bool,
}

impl ListArgs {
    pub(crate) async fn run(self, context: &Context<'_>) -> anyhow::Result<()> {
        let opened = context.open().await?;
        let pool = &opened.pool;
        let mut leases = pool.live_leases().await?;
        // Oldest first; ties (same instant) by expiry, subscription, holder.
        leases.sort_by(|a, b| {
            (a.acquired_at, a.expires_at, &a.subscription_name, &a.holder).cmp(&(
                b.acquired_at,
                b.expires_at,
                &b.subscription_name,
                &b.holder,
            ))
        });
        let zone = pool.clock().time_zone();
        output::lease::list(
            context.printer,
            &leases,
            pool.clock().now(),
            &zone,
            self.json,
        )?;
        Ok(())
    }
}
