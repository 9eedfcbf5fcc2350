//! `kage subscription list`: every subscription with its settings; with
//! `--all`, those removed from the pool too.

use clap::Args;

use crate::command::Context;
use crate::credential;
use crate::output;

const EXAMPLES: &str = "\
Examples:
  kage subscription list
  kage subscription list --names
  kage subscription list --json | jq -r '.[] | \"\\(.name) \\(.credential.store)\"'";

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub(crate) struct ListArgs {
    /// Print only the names, one per line (for scripts)
    #[arg(long, conflicts_with = "json")]
    names: bool,

    /// Print one JSON array of subscriptions (with "state" and "credential.store")
    #[arg(long)]
    json: bool,

    /// Also list the subscriptions removed from the pool, whose history is kept
    #[arg(long)]
    all: bool,
}

impl ListArgs {
    pub(crate) async fn run(self, context: &Context<'_>) -> anyhow::Result<()> {
        let opened = context.open().await?;
        let now = opened.pool.clock().now();
        let subscriptions: Vec<_> = opened
            .pool
            .list()
            .await?
            .into_iter()
            .map(|subscription| {
                let state = subscription.health.state.effective(now);
                (subscription, state)
            })
            .collect();
        let retired = if self.all {
            opened.pool.retired().await?
        } else {
            Vec::new()
        };
        let keychain = credential::keychain_label_for(
            &context.options,
            subscriptions
                .iter()
                .map(|(subscription, _)| &subscription.credential)
                .chain(
                    retired
                        .iter()
                        .map(|retired| &retired.subscription.credential),
                ),
        )
        .await;
        output::subscription::list(
            context.printer,
            &subscriptions,
            &retired,
            &keychain,
            self.names,
            self.json,
        )?;
        Ok(())
    }
}
