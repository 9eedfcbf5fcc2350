//! `kage lease heartbeat ID`: keep a lease alive for another TTL.

use std::time::Duration;

use clap::Args;
use kage_domain::LeaseId;

use crate::command::Context;
use crate::output;
use kage_app::time::parse_ttl;

#[derive(Args, Debug)]
pub(crate) struct HeartbeatArgs {
    /// The lease id `kage lease acquire` printed
    id: LeaseId,

    /// Extend it by this long (default: the config's lease_ttl)
    #[arg(long, value_name = "DURATION", value_parser = parse_ttl)]
    ttl: Option<Duration>,

    /// Print one JSON record {"type":"lease","data":…}
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
