//! `kage completions SHELL`: shell completions on stdout.

use clap::Args;
use clap_complete::Shell;

use crate::command::Context;

#[derive(Args, Debug)]
#[command(after_help = "\
Examples:
  kage completions bash > ~/.local/share/bash-completion/completions/kage
  kage completions zsh > ~/.zfunc/_kage
  kage completions fish > ~/.config/fish/completions/kage.fish")]
pub(crate) struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    shell: Shell,
}

impl CompletionsArgs {
    pub(crate) fn run(self, context: &Context<'_>) -> anyhow::Result<()> {
        let mut command = crate::cli::command();
        let mut script = Vec::new();
        clap_complete::generate(self.shell, &mut command, "kage", &mut script);
        context.printer.out(&String::from_utf8_lossy(&script))?;
        Ok(())
    }
}
