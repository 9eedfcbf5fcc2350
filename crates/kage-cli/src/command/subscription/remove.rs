//! `kage subscription remove NAME`: delete a subscription, its stored
//! credential and its mentions in saved routes.

use anyhow::Context as _;
use clap::Args;
use kage_domain::SubscriptionName;

use crate::command::Context;
use crate::output;

const EXAMPLES: &str = "\
Examples:
  kage subscription remove personal
  kage subscription remove work --force   # even with live leases";

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub(crate) struct RemoveArgs {
    /// The subscription to remove
    #[arg(add = clap_complete::ArgValueCandidates::new(crate::complete::subscription_names))]
    name: SubscriptionName,

    /// Remove it even while agents hold live leases on it
    #[arg(long)]
    force: bool,

    /// Print the result as one JSON object on stdout
    #[arg(long)]
    json: bool,
}

impl RemoveArgs {
    pub(crate) async fn run(self, context: &Context<'_>) -> anyhow::Result<()> {
        let opened = context.open().await?;
        let removed = opened
            .pool
            .remove_subscription(&self.name, self.force)
            .await
            .with_context(|| format!("could not remove subscription {}", self.name))?;
        output::subscription::removed(context.printer, &removed);
        if self.json {
            output::subscription::removed_json(context.printer, &removed)?;
        }
        let still_in_config: Vec<String> = opened
            .config
            .routing()
            .iter()
            .filter(|(_, entries)| {
                entries.contains(&kage_domain::RouteEntry::Subscription(self.name.clone()))
            })
            .map(|(target, _)| target.to_string())
            .collect();
        if !still_in_config.is_empty() {
            context.printer.warn(format_args!(
                "the config file still routes {} to {}; remove it there too, or `kage config check` will fail",
                still_in_config.join(" and "),
                self.name
            ));
        }
        Ok(())
    }
}
