//! `kage subscription enable NAME`: back in the pool at once, whatever its
//! state.

use clap::Args;
use kage_domain::SubscriptionName;

use crate::command::Context;
use crate::output;

const EXAMPLES: &str = "\
Examples:
  kage subscription enable personal";

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub(crate) struct EnableArgs {
    /// The subscription
    #[arg(add = clap_complete::ArgValueCandidates::new(crate::complete::subscription_names))]
    name: SubscriptionName,

    /// Print the result as one JSON object on stdout
    #[arg(long)]
    json: bool,
}

impl EnableArgs {
    pub(crate) async fn run(self, context: &Context<'_>) -> anyhow::Result<()> {
        let opened = context.open().await?;
        let result = opened.pool.enable(&self.name).await?;
        output::subscription::state_changed(context.printer, self.name.as_str(), &result);
        if self.json {
            output::subscription::state_changed_json(context.printer, self.name.as_str(), &result)?;
        }
        Ok(())
    }
}
