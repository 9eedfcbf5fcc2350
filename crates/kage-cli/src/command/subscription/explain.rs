//! `kage subscription explain`: which subscription a request would be
//! leased now, and why every other one was passed over.

use clap::Args;
use kage_domain::RouteTarget;

use crate::command::{Context, SelectionArgs};
use crate::output;

const EXAMPLES: &str = "\
Examples:
  kage subscription explain
  kage subscription explain --namespace backend --priority high
  kage subscription explain --tags security --json | jq '.[0].name'";

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub(crate) struct ExplainArgs {
    #[command(flatten)]
    selection: SelectionArgs,

    /// Print one JSON array of candidates, best first
    #[arg(long)]
    json: bool,
}

impl ExplainArgs {
    pub(crate) async fn run(self, context: &Context<'_>) -> anyhow::Result<()> {
        let opened = context.open().await?;
        let pool = &opened.pool;
        let request = self.selection.request();
        let explanation = pool.explain(request).await?;
        let rules = pool.effective_rules().await?;
        let rule = |target: &RouteTarget| {
            rules
                .get(target)
                .map_or_else(|| "nothing".to_owned(), output::format::list)
        };
        let now = pool.clock().now();
        let zone = pool.clock().time_zone();
        output::explain::print(
            context.printer,
            &explanation,
            opened.config.strategy().as_str(),
            &rule,
            now,
            &zone,
            self.json,
        )?;
        Ok(())
    }
}
