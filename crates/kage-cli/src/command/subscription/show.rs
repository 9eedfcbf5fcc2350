//! `kage subscription show NAME`: settings, state, leases, recent
//! transitions and usage of one subscription.

use clap::Args;
use kage_domain::SubscriptionName;

use crate::command::Context;
use crate::output;

#[derive(Args, Debug)]
pub(crate) struct ShowArgs {
    /// The subscription
    name: SubscriptionName,

    /// How many recent state transitions to show
    #[arg(long, value_name = "N", default_value_t = 10)]
    transitions: u32,

    /// Print one JSON record {"type":"subscription","data":…}
    #[arg(long)]
    json: bool,
}

impl ShowArgs {
    pub(crate) async fn run(self, context: &Context<'_>) -> anyhow::Result<()> {
        let opened = context.open().await?;
        let pool = &opened.pool;
        let details = pool.show(&self.name, self.transitions).await?;
        let now = pool.clock().now();
        let zone = pool.clock().time_zone();
        output::subscription::show(context.printer, &details, now, &zone, self.json)?;
        Ok(())
    }
}
