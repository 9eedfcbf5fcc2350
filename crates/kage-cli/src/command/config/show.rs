//! `kage config show [--resolved]`: the config file as written, or every
//! value as resolved with where it came from.

use anyhow::Context as _;
use clap::Args;

use crate::command::Context;
use crate::output;

const EXAMPLES: &str = "\
Examples:
  kage config show > ~/.config/kage/config.toml   # start from the commented example
  kage config show --resolved
  kage config show --resolved --json | jq '.[] | select(.key == \"subscriptions.lease_ttl\")'";

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub(crate) struct ShowArgs {
    /// Show every value as resolved (defaults, file, KAGE_* variables) with its source
    #[arg(long)]
    resolved: bool,

    /// With --resolved: print one JSON array of {"key","value","source"}
    #[arg(long, requires = "resolved")]
    json: bool,
}

impl ShowArgs {
    pub(crate) fn run(self, context: &Context<'_>) -> anyhow::Result<()> {
        let printer = context.printer;
        if self.resolved {
            let config = context.config()?;
            output::config::resolved(printer, &config.resolved_entries(), self.json)?;
            return Ok(());
        }
        let path = match &context.options.config_file {
            Some(path) => path.clone(),
            None => kage_config::config_path(&context.options.env)?.path,
        };
        if path.is_file() {
            // Check it first, so a broken file is reported, not shown as fine.
            context.config()?;
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("could not read {}", path.display()))?;
            output::config::text(printer, &text)?;
        } else {
            printer.info(format_args!(
                "{} does not exist, so the defaults apply; here they are as a commented file to start from:",
                path.display()
            ));
            output::config::text(printer, kage_config::EXAMPLE_CONFIG)?;
        }
        Ok(())
    }
}
