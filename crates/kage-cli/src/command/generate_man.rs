//! `kage generate-man --out-dir DIR` (hidden): writes `kage.1` and one page
//! per subcommand (`kage-subscription-add.1` …). `cargo xtask man` calls it.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;

use crate::command::Context;

#[derive(Args, Debug)]
pub(crate) struct GenerateManArgs {
    /// Where to write the pages
    #[arg(long, value_name = "DIR")]
    out_dir: PathBuf,
}

fn write_page(command: &clap::Command, name: &str, dir: &Path) -> anyhow::Result<usize> {
    let command = command
        .clone()
        .name(name.to_owned())
        .bin_name(name.replace('-', " "));
    let mut page = Vec::new();
    clap_mangen::Man::new(command.clone())
        .render(&mut page)
        .with_context(|| format!("could not render the man page of {name}"))?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, page).with_context(|| format!("could not write {}", path.display()))?;
    let mut written = 1;
    for sub in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        written += write_page(sub, &format!("{name}-{}", sub.get_name()), dir)?;
    }
    Ok(written)
}

impl GenerateManArgs {
    pub(crate) fn run(self, context: &Context<'_>) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.out_dir)
            .with_context(|| format!("could not create {}", self.out_dir.display()))?;
        let mut command = crate::cli::command();
        command.build();
        let written = write_page(&command, "kage", &self.out_dir)?;
        context.printer.info(format_args!(
            "wrote {written} man pages to {}",
            self.out_dir.display()
        ));
        Ok(())
    }
}
