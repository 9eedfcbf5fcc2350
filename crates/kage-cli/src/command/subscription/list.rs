//! `kage subscription list`: every subscription with its settings; with
//! `--all`, those removed from the pool too.

use clap::Args;

use crate::command::Context;
use crate::output;

#[derive(Args, Debug)]
pub(crate) struct ListArgs {
    /// Print only the names, one per line (for scripts)
    #[arg(long, conflicts_with = "json")]
    names: bool,

    /// Print JSON Lines: one {"type":"subscription","data":…} per subscription
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
        output::subscription::list(
            context.printer,
            &subscriptions,
            &retired,
            self.names,
            self.json,
        )?;
        Ok(())
    }
}
