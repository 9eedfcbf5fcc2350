//! `kage subscription routes`: every rule, saved or from the config file,
//! with conflicts flagged (the config file wins).

use clap::Args;

use crate::command::Context;
use crate::output;

#[derive(Args, Debug)]
pub(crate) struct RoutesArgs {
    /// Print JSON Lines: one {"type":"route","data":…} per rule
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
            context.printer.warn(format_args!("{error:#}"));
        }
        Ok(())
    }
}
