//! `kage subscription status`: the pool at a glance, as in the seed.

use clap::Args;

use crate::command::Context;
use crate::output;

const EXAMPLES: &str = "\
Examples:
  kage subscription status
  kage subscription status --json | jq '.summary.active'";

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub(crate) struct StatusArgs {
    /// Print one JSON object {"subscriptions":[…],"summary":{…}}
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
