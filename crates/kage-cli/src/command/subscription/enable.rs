//! `kage subscription enable NAME`: back in the pool at once, whatever its
//! state.

use clap::Args;
use kage_domain::SubscriptionName;

use crate::command::Context;
use crate::output;

#[derive(Args, Debug)]
pub(crate) struct EnableArgs {
    /// The subscription
    name: SubscriptionName,
}

impl EnableArgs {
    pub(crate) async fn run(self, context: &Context<'_>) -> anyhow::Result<()> {
        let opened = context.open().await?;
        let result = opened.pool.enable(&self.name).await?;
        output::subscription::state_changed(context.printer, self.name.as_str(), &result);
        Ok(())
    }
}
