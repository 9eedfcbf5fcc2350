//! `kage config check`: load the config file and check its routes against
//! the pool; errors name file:line:column and exit 78.

use clap::Args;

use crate::command::Context;
use crate::output;

const EXAMPLES: &str = "\
Examples:
  kage config check
  KAGE_CONFIG=./team.toml kage config check --json";

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub(crate) struct CheckArgs {
    /// Print one JSON object {"file","routes","subscriptions"}
    #[arg(long)]
    json: bool,
}

impl CheckArgs {
    pub(crate) async fn run(self, context: &Context<'_>) -> anyhow::Result<()> {
        let opened = context.open().await?;
        kage_app::pool::check_config_routes(&opened.pool, &opened.config).await?;
        let subscriptions = opened.pool.list().await?.len();
        let routes = opened.config.routing().iter().count();
        // Without a file, say where it was looked for and which rule chose that.
        let looked_at = match &context.options.config_file {
            Some(path) => Some((path.clone(), "--config".to_owned())),
            None => kage_config::config_path(&context.options.env)
                .ok()
                .map(|found| (found.path, found.rule.to_string())),
        };
        output::config::checked(
            context.printer,
            opened.config.file(),
            looked_at
                .as_ref()
                .map(|(path, rule)| (path.as_path(), rule.as_str())),
            routes,
            subscriptions,
            self.json,
        )?;
        Ok(())
    }
}
