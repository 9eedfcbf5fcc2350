//! `kage completions SHELL`: shell completions on stdout. By default the
//! dynamic script (see `crate::complete`): commands, flags and the pool's
//! subscription names at every Tab; `--static` for the older script that
//! knows commands and flags only.

use clap::Args;
use clap_complete::Shell;

use crate::command::Context;

#[derive(Args, Debug)]
#[command(after_help = "\
Examples:
  echo 'source <(kage completions bash)' >> ~/.bashrc
  echo 'source <(kage completions zsh)' >> ~/.zshrc
  kage completions fish > ~/.config/fish/completions/kage.fish
  kage completions bash --static > ~/.local/share/bash-completion/completions/kage

The dynamic script calls `kage` at every Tab (COMPLETE=SHELL kage), so subscription
names come from the pool; source it anew when kage is upgraded.")]
pub(crate) struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    shell: Shell,

    /// Print a fixed script: commands and flags, but no subscription names
    #[arg(long = "static")]
    static_script: bool,
}

impl CompletionsArgs {
    pub(crate) fn run(self, context: &Context<'_>) -> anyhow::Result<()> {
        let script = if self.static_script {
            let mut command = crate::cli::command();
            let mut script = Vec::new();
            clap_complete::generate(self.shell, &mut command, "kage", &mut script);
            script
        } else {
            crate::complete::registration(&self.shell.to_string())?
        };
        context.printer.out(&String::from_utf8_lossy(&script))?;
        Ok(())
    }
}
