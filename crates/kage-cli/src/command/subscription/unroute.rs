//! `kage subscription unroute`: delete a saved route.

use clap::Args;

use super::TargetArgs;
use crate::command::Context;
use crate::output;

const EXAMPLES: &str = "\
Examples:
  kage subscription unroute --namespace backend
  kage subscription unroute --priority batch";

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub(crate) struct UnrouteArgs {
    #[command(flatten)]
    target: TargetArgs,

    /// Print the result as one JSON object on stdout
    #[arg(long)]
    json: bool,
}

impl UnrouteArgs {
    pub(crate) async fn run(self, context: &Context<'_>) -> anyhow::Result<()> {
        let opened = context.open().await?;
        let change = opened.pool.unroute(self.target.target()).await?;
        output::routes::unrouted(context.printer, &change);
        if self.json {
            output::routes::change_json(context.printer, &change)?;
        }
        Ok(())
    }
}
