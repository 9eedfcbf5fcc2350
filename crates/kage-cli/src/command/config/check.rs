//! `kage config check`: load the config file and check its routes against
//! the pool; errors name file:line:column and exit 78.

use clap::Args;

use crate::command::Context;
use crate::output;

#[derive(Args, Debug)]
pub(crate) struct CheckArgs {
    /// Print one JSON record {"type":"config_check","data":{"file","routes","subscriptions"}}
    #[arg(long)]
    json: bool,
}

impl CheckArgs {
    pub(crate) async fn run(self, context: &Context<'_>) -> anyhow::Result<()> {
        let opened = context.open().await?;
        kage_app::pool::check_config_routes(&opened.pool, &opened.config).await?;
        let subscriptions = opened.pool.list().await?.len();
        let routes = opened.config.routing().iter().count();
        output::config::checked(
            context.printer,
            opened.config.file(),
            routes,
            subscriptions,
            self.json,
        )?;
        Ok(())
    }
}
