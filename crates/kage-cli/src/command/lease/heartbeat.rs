//! `kage lease heartbeat ID`: keep a lease alive for another TTL.

use std::time::Duration;

use clap::Args;
use kage_domain::LeaseId;

use crate::command::Context;
use crate::output;
use kage_app::time::parse_ttl;

const EXAMPLES: &str = "\
Examples:
  kage lease heartbeat \"$lease\"
  kage lease heartbeat \"$lease\" --ttl 10m
  kage lease heartbeat \"$lease\" --json | jq -r .expires_at";

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub(crate) struct HeartbeatArgs {
    /// The lease id `kage lease acquire` printed
    id: LeaseId,

    /// Extend it by this long (default: the config's lease_ttl)
    #[arg(long, value_name = "DURATION", value_parser = parse_ttl)]
    ttl: Option<Duration>,

    /// Print the lease as one JSON object {"id","subscription","expires_at",…}
    #[arg(long)]
    json: bool,
}

impl HeartbeatArgs {
    pub(crate) async fn run(self, context: &Context<'_>) -> anyhow::Result<()> {
        let opened = context.open().await?;
        let pool = &opened.pool;
        let lease = pool.heartbeat(self.id, self.ttl).await?;
        let zone = pool.clock().time_zone();
        output::lease::heartbeat(
            context.printer,
            &lease,
            pool.clock().now(),
            &zone,
            self.json,
        )?;
        Ok(())
    }
}
