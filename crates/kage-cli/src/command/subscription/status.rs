//! `kage subscription status`: the pool at a glance, as in the seed.

use clap::Args;

use crate::command::Context;
use crate::output;

#[derive(Args, Debug)]
pub(crate) struct StatusArgs {
    /// Print JSON Lines: one {"type":"subscription_status"} per subscription, then a {"type":"pool_summary"}
    #[arg(long)]
    json: bool,
}

impl StatusArgs {
    pub(crate) async fn run(self, context: &Context<'_>) -> anyhow::Result<()> {
        let opened = context.open().await?;
        let status = opened.pool.status().await?;
        output::status::print(context.printer, &status, self.json)?;
        Ok(())
    }
}
