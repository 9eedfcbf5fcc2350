//! `kage subscription show NAME`: settings, state, leases, recent
//! transitions and usage of one subscription.

use clap::Args;
use kage_domain::SubscriptionName;

use crate::command::Context;
use crate::credential;
use crate::output;

const EXAMPLES: &str = "\
Examples:
  kage subscription show personal
  kage subscription show work --transitions 30
  kage subscription show work --json | jq .state";

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub(crate) struct ShowArgs {
    /// The subscription
    #[arg(add = clap_complete::ArgValueCandidates::new(crate::complete::subscription_names))]
    name: SubscriptionName,

    /// How many recent state transitions to show
    #[arg(
        long,
        value_name = "N",
        allow_negative_numbers = true,
        default_value_t = 10
    )]
    transitions: u32,

    /// Print one JSON object: settings, state, leases, transitions, usage
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
        let keychain = credential::keychain_label_for(
            &context.options,
            std::iter::once(&details.status.subscription.credential),
        )
        .await;
        output::subscription::show(context.printer, &details, &keychain, now, &zone, self.json)?;
        Ok(())
    }
}
