//! `kage subscription disable NAME [--reason TEXT]`: out of the pool until
//! enabled.

use clap::Args;
use kage_domain::SubscriptionName;

use crate::command::Context;
use crate::output;

const EXAMPLES: &str = "\
Examples:
  kage subscription disable personal
  kage subscription disable work --reason \"shared with the team this week\"";

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub(crate) struct DisableArgs {
    /// The subscription
    #[arg(add = clap_complete::ArgValueCandidates::new(crate::complete::subscription_names))]
    name: SubscriptionName,

    /// Why, for `kage subscription show` and `status`
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,

    /// Print the result as one JSON object on stdout
    #[arg(long)]
    json: bool,
}

impl DisableArgs {
    pub(crate) async fn run(self, context: &Context<'_>) -> anyhow::Result<()> {
        let reason = crate::command::plain_text("--reason", self.reason)?;
        let opened = context.open().await?;
        let reason = reason.filter(|reason| !reason.trim().is_empty());
        let result = opened.pool.disable(&self.name, reason).await?;
        output::subscription::state_changed(context.printer, self.name.as_str(), &result);
        if self.json {
            output::subscription::state_changed_json(context.printer, self.name.as_str(), &result)?;
        }
        Ok(())
    }
}
