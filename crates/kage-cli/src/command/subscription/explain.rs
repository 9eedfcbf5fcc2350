//! `kage subscription explain`: which subscription a request would be
//! leased now, and why every other one was passed over.

use clap::Args;
use kage_domain::{Namespace, RouteTarget, SelectionRequest, Tag};

use crate::command::{Context, LevelArg};
use crate::output;

const EXAMPLES: &str = "\
Examples:
  kage subscription explain
  kage subscription explain --namespace backend --priority high
  kage subscription explain --tags security --json | jq '.[0].name'";

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub(crate) struct ExplainArgs {
    /// The request's namespace
    #[arg(long, value_name = "NS")]
    namespace: Option<Namespace>,

    /// The request's priority level
    #[arg(long, value_enum, value_name = "LEVEL", default_value_t = LevelArg::Normal, allow_negative_numbers = true)]
    priority: LevelArg,

    /// Tags every candidate must carry (comma-separated)
    #[arg(long, value_name = "TAGS", value_delimiter = ',')]
    tags: Vec<Tag>,

    /// Print one JSON array of candidates, best first
    #[arg(long)]
    json: bool,
}

impl ExplainArgs {
    pub(crate) async fn run(self, context: &Context<'_>) -> anyhow::Result<()> {
        let opened = context.open().await?;
        let pool = &opened.pool;
        let request = SelectionRequest {
            namespace: self.namespace,
            level: self.priority.into(),
            required_tags: self.tags,
        };
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
