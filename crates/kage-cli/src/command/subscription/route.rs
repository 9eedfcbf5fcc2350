//! `kage subscription route`: send a namespace or a priority level to some
//! subscriptions (by name or `tag:NAME`).

use clap::Args;
use kage_core::RouteError;
use kage_domain::RouteEntry;

use super::TargetArgs;
use crate::command::{Context, nearest};
use crate::exit::UsageError;
use crate::output;

const EXAMPLES: &str = "\
Examples:
  kage subscription route --namespace backend --subscriptions \"backend-dedicated,work-premium\"
  kage subscription route --priority high --subscriptions \"premium-1,premium-2\"
  kage subscription route --priority batch --subscriptions \"batch-1,batch-2,batch-3\"
  kage subscription route --namespace security --subscriptions tag:security

A request under a routed namespace (or level) may only use the listed
subscriptions; with both a namespace and a level rule, only those in both.
Rules in the config file's [subscriptions.routing] win over saved ones.";

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub(crate) struct RouteArgs {
    #[command(flatten)]
    target: TargetArgs,

    /// Comma-separated subscription names, or tag:NAME for every subscription with that tag
    #[arg(long, value_name = "LIST", value_delimiter = ',', required = true)]
    subscriptions: Vec<RouteEntry>,

    /// Print the result as one JSON object on stdout
    #[arg(long)]
    json: bool,
}

impl RouteArgs {
    pub(crate) async fn run(self, context: &Context<'_>) -> anyhow::Result<()> {
        let opened = context.open().await?;
        let pool = &opened.pool;
        let change = match pool.route(self.target.target(), self.subscriptions).await {
            Ok(change) => change,
            Err(RouteError::UnknownSubscription(unknown)) => {
                let known = pool.list().await?;
                let fix = match nearest(unknown.name.as_str(), known.iter().map(|s| &s.name)) {
                    Some(name) => format!("did you mean {name}? see `kage subscription list`"),
                    None => format!(
                        "add it first with `kage subscription add --name {}`, or see `kage subscription list`",
                        unknown.name
                    ),
                };
                // A route to a subscription that does not exist: a usage error (exit 2).
                return Err(UsageError(format!("{unknown}; {fix}")).into());
            }
            Err(error) => return Err(error.into()),
        };
        output::routes::routed(context.printer, &change);
        if self.json {
            output::routes::change_json(context.printer, &change)?;
        }
        Ok(())
    }
}
