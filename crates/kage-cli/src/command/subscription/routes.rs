//! `kage subscription routes`: every rule, saved or from the config file,
//! with conflicts flagged (the config file wins).

use clap::Args;

use crate::command::Context;
use crate::output;

const EXAMPLES: &str = "\
Examples:
  kage subscription routes
  kage subscription routes --json | jq '.[] | select(.overridden)'";

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub(crate) struct RoutesArgs {
    /// Print one JSON array of routing rules
    #[arg(long)]
    json: bool,
}

impl RoutesArgs {
    pub(crate) async fn run(self, context: &Context<'_>) -> anyhow::Result<()> {
        let opened = context.open().await?;
        let views = opened.pool.routes().await?;
        let config = &opened.config;
        let location = |target: &kage_domain::RouteTarget| {
            config.route_location(target).map(ToString::to_string)
        };
        output::routes::list(context.printer, &views, &location, self.json)?;
        if let Err(error) = kage_app::pool::check_config_routes(&opened.pool, config).await {
            context.printer.warn(kage_app::exit::error_line(&error));
        }
        Ok(())
    }
}
