//! `kage subscription disable NAME [--reason TEXT]`: out of the pool until
//! enabled.

use clap::Args;
use kage_domain::SubscriptionName;

use crate::command::Context;
use crate::output;

#[derive(Args, Debug)]
pub(crate) struct DisableArgs {
    /// The subscription
    name: SubscriptionName,

    /// Why, for `kage subscription show` and `status`
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,
}

impl DisableArgs {
    pub(crate) async fn run(self, context: &Context<'_>) -> anyhow::Result<()> {
        let reason = crate::command::plain_text("--reason", self.reason)?;
        let opened = context.open().await?;
        let reason = reason.filter(|reason| !reason.trim().is_empty());
        let result = opened.pool.disable(&self.name, reason).await?;
        output::subscription::state_changed(context.printer, self.name.as_str(), &result);
        Ok(())
    }
}
