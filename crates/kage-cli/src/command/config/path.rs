//! `kage config path`: the config file's path (which may not exist yet).

use clap::Args;

use crate::command::Context;
use crate::output;

const EXAMPLES: &str = "\
Examples:
  kage config path
  $EDITOR \"$(kage config path)\"
  kage config path --json | jq .exists";

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub(crate) struct PathArgs {
    /// Print one JSON object {"path","chosen_by","exists"}
    #[arg(long)]
    json: bool,
}

impl PathArgs {
    pub(crate) fn run(self, context: &Context<'_>) -> anyhow::Result<()> {
        let (path, rule) = match &context.options.config_file {
            Some(path) => (path.clone(), "--config".to_owned()),
            None => {
                let found = kage_config::config_path(&context.options.env)?;
                (found.path, found.rule.to_string())
            }
        };
        output::config::path(context.printer, &path, &rule, path.is_file(), self.json)?;
        Ok(())
    }
}
